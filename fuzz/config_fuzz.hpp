// The two ways a plugin's config parser is reached, for the config fuzz targets:
//   * direct: the input bytes as the config text, as any host may pass them to the factory's create();
//   * host:   as genplug's host does: the text parsed as JSON with nesting limited (as in a manifest),
//             validated against the plugin's own JSON Schema (host/src/json_schema.cpp), dumped, parsed.
// The parser may throw only genplug::ConfigError; anything else is a finding. A config that the parser accepts
// but the plugin's schema refuses (the host would never let it through) is a finding too.
#pragma once
#include <cstdint>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include <genplug/host/json_schema.hpp>
#include <genplug/plugin.hpp>

#include "fuzz_support.hpp"

namespace genplug::fuzz {

// What the host's manifest reader allows (host/src/manifest.cpp kMaxManifestDepth).
constexpr int kHostMaxDepth = 64;

inline bool parse_like_host(const std::string& text, nlohmann::json& out) {
  bool too_deep = false;
  auto limit = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) &&
        depth > kHostMaxDepth)
      return !(too_deep = true);
    return true;
  };
  out = nlohmann::json::parse(text, limit, /*allow_exceptions=*/false);
  return !too_deep && !out.is_discarded();
}

// `parse(text)` returns the parsed config or throws; `check(config)` runs what the plugin does next with it.
template <class Parse, class Check>
void fuzz_config(const char* target, const host::JsonSchema& schema, const uint8_t* data, std::size_t size,
                 Parse parse, Check check) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bool accepted = false;
  try {
    const auto parsed = parse(text);
    accepted = true;
    check(parsed);
  } catch (const ConfigError&) {
  } catch (const std::exception& e) {
    finding(target, std::string("direct: unexpected exception: ") + e.what(), data, size);
  }

  nlohmann::json config;
  if (!parse_like_host(text, config)) return;
  if (!config.is_object()) return;  // the host refuses it before the schema ("expected a JSON object")
  const auto problems = schema.validate(config, "config");
  (void)schema.with_defaults(config);
  if (!problems.empty()) {
    if (accepted)
      finding(target, "the parser accepts a config its schema refuses: " + host::to_string(problems.front()), data,
              size);
    return;
  }
  try {
    check(parse(config.dump()));
  } catch (const ConfigError&) {
  } catch (const std::exception& e) {
    finding(target, std::string("host: unexpected exception: ") + e.what(), data, size);
  }
}

}  // namespace genplug::fuzz
