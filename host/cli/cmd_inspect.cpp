// genplug inspect FILE — what a weights file (or folder) holds, as told by the inspector plugins
// (genplug.inspector/1): every inspector on the search path probes the file, the most certain one describes it.
// The CLI knows no model format: the report's text form is inspect_text.cpp's generic rendering of its JSON.
#include <filesystem>
#include <iostream>
#include <optional>
#include <genplug/internal/bounded_json.hpp>

#include "command.hpp"
#include "inspect_text.hpp"
#include "mapped_file_fault.hpp"
#include "standard_output.hpp"

namespace genplug::cli::inspect_command {
namespace {

using nlohmann::json;

struct Choice {
  InspectorProxy inspector;
  uint32_t score = 0;
};

// A probe that failed: its message, and whether the plugin ran out of memory (a file it could not map).
struct ProbeFailure {
  std::string what;
  bool out_of_memory = false;
};

// The inspector with the highest probe score (> 0) for `path`; ties go to the first found. Probe failures of
// single inspectors are collected in `failures`, not fatal: another inspector may know the file.
std::optional<Choice> choose_inspector(const host::PluginCatalog& catalog, const std::string& path,
                                       std::vector<std::string>& tried, std::vector<ProbeFailure>& failures) {
  std::optional<Choice> best;
  for (const auto& p : catalog.plugins()) {
    if (p.kind != "inspector") continue;
    tried.push_back(p.id);
    CallContext ctx;
    try {
      InspectorProxy inspector = catalog.create_inspector(p.id, json::object(), ctx);
      const uint32_t score = inspector.probe(path, ctx);
      if (score > 0 && (!best || score > best->score)) best = Choice{std::move(inspector), score};
    } catch (const PluginError& e) {
      failures.push_back({e.what(), e.code() == GENPLUG_E_OUT_OF_MEMORY});
    } catch (const std::exception& e) {
      failures.push_back({e.what()});
    }
  }
  return best;
}

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// The report of the chosen inspector; throws HostError (runtime, exit 5) when no inspector knows the file.
json inspect(const host::PluginCatalog& catalog, const std::string& path) {
  std::error_code ec;
  if (path.empty()) throw host::HostError(host::ErrorKind::usage, "FILE: an empty path names no file");
  // The reason where there is one: a symlink loop or a folder without permission is not "no such file".
  if (!std::filesystem::exists(path, ec))
    throw host::HostError(host::ErrorKind::runtime, path + ": " + (ec ? ec.message() : "no such file or folder"));
  std::vector<std::string> tried;
  std::vector<ProbeFailure> failures;
  std::optional<Choice> choice = choose_inspector(catalog, path, tried, failures);
  if (tried.empty())
    throw host::HostError(host::ErrorKind::plugin,
                          "no inspector plugin found (set GENPLUG_PLUGIN_PATH or --plugin-path; `genplug plugins` "
                          "lists what is installed" + catalog.rejections_text() + ")");
  if (!choice && !failures.empty()) {
    // Out of memory is retryable (exit 75) where it happened, whichever inspector it was.
    for (const auto& f : failures)
      if (f.out_of_memory) throw host::HostError(host::ErrorKind::retryable, f.what);
    throw host::HostError(host::ErrorKind::runtime, failures.front().what);
  }
  if (!choice)
    throw host::HostError(host::ErrorKind::runtime, path + ": no inspector recognises this " +
                                                        (std::filesystem::is_directory(path, ec) ? "folder" : "file") +
                                                        " (tried: " + joined(tried) + catalog.rejections_text() + ")");
  CallContext ctx;
  const std::string text = choice->inspector.inspect(path, ctx);  // PluginError: exit 5
  json report = internal::parse_bounded_json_or_discarded(text);
  if (!report.is_object() || !report.contains("format") || !report.contains("summary")) {
    const std::string what =
        report.is_discarded() ? "text that is not JSON" : "JSON without \"format\" and \"summary\"";
    throw host::HostError(host::ErrorKind::runtime, choice->inspector.id() + ": inspect returned " + what);
  }
  report["inspector"] = {{"id", choice->inspector.id()}, {"score", choice->score}};
  return report;
}

void setup(CLI::App& cmd, Globals& g) {
  static std::string path;
  static bool as_json = false;
  static bool summary = false;
  cmd.add_option("FILE", path, "A weights file or folder (.safetensors, *.safetensors.index.json, a folder of shards, "
                               "or whatever an installed inspector plugin reads)")
      ->required()
      ->type_name("PATH");
  cmd.add_flag("--json", as_json, "Print the inspector's JSON report instead of text");
  cmd.add_flag("--summary", summary, "Leave out the per-tensor list");
  cmd.callback([&g] {
    // A checkpoint cut short while the inspector maps it (a copy still in progress): said, exit 75, not "Bus error".
    install_mapped_file_fault_handler();
    json report = inspect(g.catalog(), path);
    if (summary) report.erase("tensors");
    if (as_json)
      product() << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    else
      print_inspect_report(report, product());
  });
}

RegisterCommand reg("inspect", "Describe a weights file through the installed inspector plugins", setup);

}  // namespace
}  // namespace genplug::cli::inspect_command
