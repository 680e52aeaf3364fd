// genplug plugins — lists the plugins found on the search path, and the libraries that were rejected; --json
// adds each plugin's config schema and the ABI minor its library was built against.
#include <genplug/host/printable.hpp>
#include <iomanip>
#include <iostream>

#include "command.hpp"

namespace genplug::cli::plugins_command {
namespace {

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
      std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return;
    }
    std::cout << std::left << std::setw(28) << "ID" << std::setw(11) << "KIND" << std::setw(10) << "VERSION"
              << "LIBRARY\n";
    for (const auto& p : catalog.plugins())
      std::cout << std::setw(28) << host::printable(p.id) << std::setw(11) << p.kind << std::setw(10)
                << host::printable(p.version) << host::printable(p.library.string()) << "\n";
    if (catalog.plugins().empty()) std::cout << "(no plugins found; set GENPLUG_PLUGIN_PATH or --plugin-path)\n";
    for (const auto& r : catalog.rejections()) std::cout << "rejected: " << host::printable(r) << "\n";
  });
}

RegisterCommand reg("plugins", "List the plugins found on the search path", setup);

}  // namespace
}  // namespace genplug::cli::plugins_command
