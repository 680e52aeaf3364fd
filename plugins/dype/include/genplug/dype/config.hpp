// genplug DyPE — the plugin's JSON configuration: parsing with field-naming errors, and its JSON Schema.
#pragma once
#include <string>

#include "method.hpp"

namespace genplug::dype {

// Parses a config object ("{}" = every default of dy-yarn). Fields absent take the official default of
// the chosen method. Throws genplug::ConfigError naming the field: "config.lambda_s: must be >= 0, got -1".
MethodConfig parse_config(const std::string& json_text);

// The effective configuration as a JSON object (every field, defaults filled in).
std::string config_to_json(const MethodConfig& config);

// The JSON Schema of the config (draft 2020-12 subset the host validates), documenting each field.
const std::string& config_schema();

}  // namespace genplug::dype
