// genplug plugins — lists the plugins found on the search path, and the libraries that were rejected; --json
// adds each plugin's config schema and the ABI minor its library was built against.
#include <algorithm>
#include <iostream>
#include <string>

#include <genplug/host/printable.hpp>

#include "command.hpp"
#include "standard_output.hpp"

namespace genplug::cli::plugins_command {
namespace {

// The columns printable text takes: one per UTF-8 character, whose continuation bytes take none (setw counts
// bytes: an id with an accent had pushed its row's later columns left). Wide characters count one too.
std::size_t columns(const std::string& text) {
  return std::size_t(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// `text` and the spaces that bring it to `width` columns and two more.
std::string cell(const std::string& text, std::size_t width) {
  return text + std::string(width + 2 - std::min(width, columns(text)), ' ');
}

void setup(CLI::App& cmd, Globals& g) {
  static bool as_json = false;
  cmd.add_flag("--json", as_json, "Print JSON instead of a table");
  cmd.callback([&g] {
    Globals quiet_globals = g;
    quiet_globals.quiet = true;  // rejections are listed below, not as warnings
    host::PluginCatalog catalog = quiet_globals.catalog();
    if (as_json) {
      nlohmann::json out = {{"plugins", nlohmann::json::array()}, {"rejected", catalog.rejections()}};
      for (const auto& p : catalog.plugins())
        out["plugins"].push_back({{"id", p.id}, {"kind", p.kind}, {"version", p.version}, {"name", p.name},
                                  {"vendor", p.vendor}, {"features", p.features}, {"library", p.library.string()},
                                  {"description", p.description},
                                  {"abi", std::to_string(GENPLUG_ABI_MAJOR) + "." + std::to_string(p.abi_minor)},
                                  {"config_schema", p.schema}});
      // Library paths need not be UTF-8: U+FFFD stands in for what JSON cannot carry.
      product() << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return;
    }
    // Columns as wide as their longest entry and two spaces: a long id or version had run into the next column.
    std::size_t id_width = 2, kind_width = 4, version_width = 7;
    for (const auto& p : catalog.plugins()) {
      id_width = std::max(id_width, columns(host::printable(p.id)));
      kind_width = std::max(kind_width, columns(host::printable(p.kind)));
      version_width = std::max(version_width, columns(host::printable(p.version)));
    }
    auto row = [&](const std::string& id, const std::string& kind, const std::string& version,
                   const std::string& library) {
      product() << cell(id, id_width) << cell(kind, kind_width) << cell(version, version_width) << library << "\n";
    };
    row("ID", "KIND", "VERSION", "LIBRARY");
    for (const auto& p : catalog.plugins())
      row(host::printable(p.id), host::printable(p.kind), host::printable(p.version),
          host::printable(p.library.string()));
    if (catalog.plugins().empty()) product() << "(no plugins found; set GENPLUG_PLUGIN_PATH or --plugin-path)\n";
    for (const auto& r : catalog.rejections()) product() << "rejected: " << host::printable(r) << "\n";
  });
}

RegisterCommand reg("plugins", "List the plugins found on the search path", setup);

}  // namespace
}  // namespace genplug::cli::plugins_command
