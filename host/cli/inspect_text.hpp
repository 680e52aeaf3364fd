// genplug inspect — an inspector plugin's JSON report as text for people. Generic: it knows the conventional
// fields of genplug.inspector/1 reports (docs/abi.md, "Inspector plugins") and no model format.
#pragma once
#include <ostream>

#include <nlohmann/json.hpp>

namespace genplug::cli {

// Prints, each when present: path, format, inspector, summary, files; tensor count and bytes; dtypes;
// metadata; notes (the inspector's own lines, as they are); components (kind, layout, prefix, tensor count,
// config, parameters, config_error); the tensor table (name, dtype, shape, file).
void print_inspect_report(const nlohmann::json& report, std::ostream& os);

}  // namespace genplug::cli
