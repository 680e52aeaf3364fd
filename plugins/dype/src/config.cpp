// genplug DyPE — config parsing. Every rule lives here once; the schema (config_schema.cpp) documents the
// same rules for hosts that validate before create.
#include "genplug/dype/config.hpp"

#include <cmath>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include <genplug/plugin.hpp>
#include <genplug/internal/bounded_json.hpp>

namespace genplug::dype {
namespace {

using nlohmann::json;

const std::set<std::string>& known_fields() {
  static const std::set<std::string> fields = {
      "method", "lambda_s", "lambda_t", "beta_0", "beta_1", "gamma_0", "gamma_1", "mscale_coefficient",
      "mscale_offset", "isotropic", "base_resolution", "base_extent", "t_rounding", "dynamic_start_sigma",
      "dynamic_end_sigma"};
  return fields;
}

std::string field(const std::string& name) { return "config." + name; }

std::string shown(const json& v) {
  std::string text = v.dump();  // numbers in the shortest text that reads back as the same double (0.7, 1e+300)
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// A value read from the config as a double, as it was most likely written: 16, not 16.0; 0.7, not
// 0.69999999999999996 (the shortest text that reads back as the same double).
std::string number_text(double v) {
  if (v == std::trunc(v) && std::fabs(v) < 1e15) return json(static_cast<int64_t>(v)).dump();
  return json(v).dump();
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "value";
  }
}

ConfigError wrong(const std::string& name, const std::string& rule, const json& got) {
  return ConfigError(field(name) + ": " + rule + ", got " + shown(got));
}

// A number field checked by `ok` (rule text for the message). Absent: `fallback`.
double number_field(const json& c, const std::string& name, double fallback, const char* rule,
                    const std::function<bool(double)>& ok) {
  auto it = c.find(name);
  if (it == c.end()) return fallback;
  if (!it->is_number()) throw ConfigError(field(name) + ": must be a number, got " + type_name(*it) + " " + shown(*it));
  const double v = it->get<double>();
  if (!std::isfinite(v) || !ok(v)) throw wrong(name, rule, *it);
  return v;
}

// A positive integer field (tokens or pixels); 1024.0 counts as an integer, as in JSON Schema.
std::optional<uint32_t> count_field(const json& c, const std::string& name) {
  constexpr double kMax = 1000000.0;
  auto it = c.find(name);
  if (it == c.end()) return std::nullopt;
  const bool integral = it->is_number_integer() || (it->is_number_float() && std::isfinite(it->get<double>()) &&
                                                     std::floor(it->get<double>()) == it->get<double>());
  if (!integral)
    throw ConfigError(field(name) + ": must be an integer, got " + type_name(*it) + " " + shown(*it));
  const double v = it->is_number_unsigned() ? double(it->get<uint64_t>()) : it->get<double>();
  if (v < 1.0 || v > kMax) throw wrong(name, "must be an integer in [1, 1000000]", *it);
  return static_cast<uint32_t>(v);
}

Method method_field(const json& c) {
  auto it = c.find("method");
  if (it == c.end()) return Method::dy_yarn;
  std::string allowed;
  for (const auto& s : method_spellings()) allowed += (allowed.empty() ? "" : ", ") + s;
  if (!it->is_string())
    throw ConfigError(field("method") + ": must be a string (one of " + allowed + "), got " + type_name(*it) + " " +
                      shown(*it));
  auto m = parse_method(it->get<std::string>());
  if (!m) throw ConfigError(field("method") + ": unknown method " + shown(*it) + " (one of " + allowed + ")");
  return *m;
}

void check_threshold_order(const YarnThresholds& th) {
  auto order = [](const char* smaller, double a, const char* larger, double b, bool strict) {
    if (strict ? a < b : a <= b) return;
    throw ConfigError(field(smaller) + ": must be " + (strict ? "< " : "<= ") + field(larger) + " (" +
                      number_text(b) + "), got " + number_text(a));
  };
  order("beta_1", th.beta_1, "beta_0", th.beta_0, true);
  order("gamma_1", th.gamma_1, "gamma_0", th.gamma_0, true);
  order("beta_0", th.beta_0, "gamma_1", th.gamma_1, false);
}

// The window's two sigmas, each in [0, 1], end <= start. Parsed for every method, used by the dynamic ones.
DynamicWindow window_fields(const json& c) {
  auto unit = [](double v) { return v >= 0.0 && v <= 1.0; };
  DynamicWindow w;
  w.start_sigma = number_field(c, "dynamic_start_sigma", w.start_sigma, "must be in [0, 1]", unit);
  w.end_sigma = number_field(c, "dynamic_end_sigma", w.end_sigma, "must be in [0, 1]", unit);
  if (w.end_sigma > w.start_sigma)  // shortest round-trip text, so 0.7 reads as 0.7
    throw ConfigError(field("dynamic_end_sigma") + ": must be <= " + field("dynamic_start_sigma") + " (" +
                      json(w.start_sigma).dump() + "), got " + json(w.end_sigma).dump());
  return w;
}

}  // namespace

MethodConfig parse_config(const std::string& json_text) {
  // Nesting bounded while parsing: messages print values (shown). A DyPE config is one flat object.
  json c;
  std::optional<std::string> duplicate;
  try {
    c = genplug::internal::parse_bounded_json(json_text.empty() ? std::string("{}") : json_text, duplicate);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number no double holds (1e400)
    throw ConfigError(std::string("config: not valid JSON: ") + genplug::internal::json_error_text(e));
  } catch (const genplug::internal::JsonTooDeep& e) {
    throw ConfigError(std::string("config: ") + e.what());
  }
  if (duplicate) throw ConfigError("config: " + genplug::internal::duplicate_key_text(*duplicate));
  if (!c.is_object()) throw ConfigError(std::string("config: must be a JSON object, got ") + type_name(c));
  for (const auto& item : c.items())
    if (!known_fields().count(item.key()))
      throw ConfigError(field(item.key()) + ": unknown field (known: method, lambda_s, lambda_t, beta_0, beta_1, "
                                            "gamma_0, gamma_1, mscale_coefficient, mscale_offset, isotropic, "
                                            "base_resolution, base_extent, t_rounding, dynamic_start_sigma, "
                                            "dynamic_end_sigma)");

  MethodConfig m = MethodConfig::defaults(method_field(c));
  auto non_negative = [](double v) { return v >= 0.0; };
  auto positive = [](double v) { return v > 0.0; };
  m.lambda_s = number_field(c, "lambda_s", m.lambda_s, "must be >= 0", non_negative);
  m.lambda_t = number_field(c, "lambda_t", m.lambda_t, "must be >= 0", non_negative);
  m.window = window_fields(c);
  m.thresholds.beta_0 = number_field(c, "beta_0", m.thresholds.beta_0, "must be > 0", positive);
  m.thresholds.beta_1 = number_field(c, "beta_1", m.thresholds.beta_1, "must be > 0", positive);
  m.thresholds.gamma_0 = number_field(c, "gamma_0", m.thresholds.gamma_0, "must be > 0", positive);
  m.thresholds.gamma_1 = number_field(c, "gamma_1", m.thresholds.gamma_1, "must be > 0", positive);
  check_threshold_order(m.thresholds);
  // The amplitude multiplies cos and sin, so an axis's attention logits scale by its square: bounded at 10 each
  // (the official 0.1 and 1 give 1.28 at 16x), so that no config reaches an infinite amplitude (1e300 did:
  // NaN velocities found only at the job).
  m.mscale_coefficient = number_field(c, "mscale_coefficient", m.mscale_coefficient, "must be in [0, 10]",
                                      [](double v) { return v >= 0.0 && v <= 10.0; });
  m.mscale_offset = number_field(c, "mscale_offset", m.mscale_offset, "must be in (0, 10]",
                                 [](double v) { return v > 0.0 && v <= 10.0; });
  if (auto it = c.find("isotropic"); it != c.end()) {
    if (!it->is_boolean())
      throw ConfigError(field("isotropic") + ": must be a boolean, got " + type_name(*it) + " " + shown(*it));
    m.isotropic = it->get<bool>();
  }
  m.base_resolution = count_field(c, "base_resolution");
  m.base_extent = count_field(c, "base_extent");
  if (auto it = c.find("t_rounding"); it != c.end()) {
    const bool exact = *it == "exact", bf16 = *it == "bf16-pipeline";
    if (!exact && !bf16) throw wrong("t_rounding", "must be \"exact\" or \"bf16-pipeline\"", *it);
    m.t_rounding = bf16 ? TimeRounding::bf16_pipeline : TimeRounding::exact;
  }
  if (m.base_resolution && m.base_extent)
    throw ConfigError("config.base_extent: set either base_extent (tokens) or base_resolution (pixels), not both");
  return m;
}

std::string config_to_json(const MethodConfig& m) {
  json j = {{"method", method_name(m.method)},
            {"lambda_s", m.lambda_s},
            {"lambda_t", m.lambda_t},
            {"beta_0", m.thresholds.beta_0},
            {"beta_1", m.thresholds.beta_1},
            {"gamma_0", m.thresholds.gamma_0},
            {"gamma_1", m.thresholds.gamma_1},
            {"mscale_coefficient", m.mscale_coefficient},
            {"mscale_offset", m.mscale_offset},
            {"isotropic", m.isotropic},
            {"t_rounding", time_rounding_name(m.t_rounding)},
            {"dynamic_start_sigma", m.window.start_sigma},
            {"dynamic_end_sigma", m.window.end_sigma}};
  if (m.base_resolution) j["base_resolution"] = *m.base_resolution;
  if (m.base_extent) j["base_extent"] = *m.base_extent;
  return j.dump();
}

}  // namespace genplug::dype
