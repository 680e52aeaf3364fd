#include "config.hpp"
#include "number_text.hpp"

#include <cmath>
#include <functional>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include <genplug/plugin.hpp>
#include <genplug/internal/bounded_json.hpp>

namespace genplug::flowmatch {

namespace {

using nlohmann::json;

// Image tokens at most in base_image_tokens and max_image_tokens: far past any image, and exact as a double.
constexpr uint64_t kMaxImageTokens = uint64_t(1) << 40;

const std::vector<std::pair<ScheduleKind, const char*>> kSchedules = {
    {ScheduleKind::flux, "flux"}, {ScheduleKind::none, "none"}, {ScheduleKind::custom, "custom"}};
const std::vector<std::pair<Spacing, const char*>> kSpacings = {{Spacing::bfl, "bfl"},
                                                                {Spacing::diffusers, "diffusers"}};
const std::vector<std::pair<Precision, const char*>> kPrecisions = {{Precision::float32, "float32"},
                                                                    {Precision::float64, "float64"}};
const std::vector<std::pair<SamplerKind, const char*>> kSamplers = {{SamplerKind::euler, "euler"},
                                                                    {SamplerKind::heun, "heun"},
                                                                    {SamplerKind::dpmpp_2m, "dpmpp-2m"},
                                                                    {SamplerKind::euler_ancestral,
                                                                     "euler-ancestral"}};

template <class E>
std::vector<std::string> names_of(const std::vector<std::pair<E, const char*>>& table) {
  std::vector<std::string> names;
  for (const auto& [value, name] : table) names.emplace_back(name);
  return names;
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

[[noreturn]] void fail(const std::string& field, const std::string& problem) {
  throw ConfigError("config." + field + ": " + problem);
}

const char* type_name(const json& v) { return v.type_name(); }

double read_number(const json& v, const std::string& field) {
  if (!v.is_number()) fail(field, std::string("must be a number, got ") + type_name(v));
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(field, "must be finite");
  return d;
}

// JSON Schema's "integer": any number with no fractional part.
uint64_t read_integer(const json& v, const std::string& field, uint64_t minimum, uint64_t maximum) {
  if (!v.is_number()) fail(field, std::string("must be an integer, got ") + type_name(v));
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) fail(field, "must be an integer, got " + number_text(d));
    if (d < double(minimum) || d > double(maximum))
      fail(field, "must be between " + std::to_string(minimum) + " and " + std::to_string(maximum) + ", got " +
                      number_text(d));
    return static_cast<uint64_t>(d);
  }
  if (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)
    fail(field, "must be at least " + std::to_string(minimum) + ", got " + std::to_string(v.get<int64_t>()));
  const uint64_t u = v.get<uint64_t>();
  if (u < minimum || u > maximum)
    fail(field, "must be between " + std::to_string(minimum) + " and " + std::to_string(maximum) + ", got " +
                    std::to_string(u));
  return u;
}

template <class E>
E read_enum(const json& v, const std::string& field, const std::vector<std::pair<E, const char*>>& table) {
  if (!v.is_string()) fail(field, std::string("must be a string, got ") + type_name(v));
  const std::string s = v.get<std::string>();
  for (const auto& [value, name] : table)
    if (s == name) return value;
  fail(field, "unknown value '" + s + "' (expected one of: " + join(names_of(table)) + ")");
}

// Custom sigma list: numbers in [0, 1], strictly decreasing, ending at 0.
std::vector<double> read_sigma_list(const json& v) {
  if (!v.is_array()) fail("sigmas", std::string("must be an array of numbers, got ") + type_name(v));
  if (v.size() < 2) fail("sigmas", "needs at least 2 values (one step), got " + std::to_string(v.size()));
  if (v.size() > kMaxSteps + 1) fail("sigmas", "holds more than " + std::to_string(kMaxSteps) + " steps");
  std::vector<double> sigmas;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string field = "sigmas[" + std::to_string(i) + "]";
    const double s = read_number(v[i], field);
    if (s < 0.0 || s > 1.0) fail(field, "must be within [0, 1], got " + number_text(s));
    if (i > 0 && !(s < sigmas.back()))
      fail(field, "must be below sigmas[" + std::to_string(i - 1) + "] = " + number_text(sigmas.back()) +
                      " (the list must decrease strictly), got " + number_text(s));
    sigmas.push_back(s);
  }
  if (sigmas.back() != 0.0)
    fail("sigmas[" + std::to_string(sigmas.size() - 1) + "]", "the list must end at 0, got " +
                                                                  number_text(sigmas.back()));
  return sigmas;
}

// Fields that the chosen schedule or sampler would ignore are errors, so a config never says more than
// it does. Returns why `field` does not apply, or "" when it does.
std::string why_not_applicable(const std::string& field, const FlowmatchConfig& c) {
  const ScheduleSettings& s = c.schedule;
  const bool computed = s.kind != ScheduleKind::custom;
  if (field == "spacing") {
    if (!computed) return "only used by the schedules 'flux' and 'none'";
    if (s.precision == Precision::float64) return "only used with precision 'float32' (in float64 both spacings are the same closed form)";
  }
  if (field == "precision" && !computed) return "only used by the schedules 'flux' and 'none'";
  if (field == "mu" && s.kind != ScheduleKind::flux) return "only used by the schedule 'flux'";
  if (field == "base_shift" || field == "max_shift" || field == "base_image_tokens" || field == "max_image_tokens") {
    if (s.kind != ScheduleKind::flux) return "only used by the schedule 'flux'";
    if (s.mu) return "not used when config.mu pins the shift";
  }
  if (field == "sigmas" && s.kind != ScheduleKind::custom) return "only used by the schedule 'custom'";
  if (field == "eta" && c.sampler.kind != SamplerKind::euler_ancestral) return "only used by the sampler 'euler-ancestral'";
  return "";
}

using FieldReader = std::function<void(const json&, FlowmatchConfig&)>;

const std::map<std::string, FieldReader>& field_readers() {
  static const std::map<std::string, FieldReader> readers = {
      {"schedule", [](const json& v, FlowmatchConfig& c) { c.schedule.kind = read_enum(v, "schedule", kSchedules); }},
      {"spacing", [](const json& v, FlowmatchConfig& c) { c.schedule.spacing = read_enum(v, "spacing", kSpacings); }},
      {"precision",
       [](const json& v, FlowmatchConfig& c) { c.schedule.precision = read_enum(v, "precision", kPrecisions); }},
      {"mu", [](const json& v, FlowmatchConfig& c) { c.schedule.mu = read_number(v, "mu"); }},
      {"base_shift", [](const json& v, FlowmatchConfig& c) { c.schedule.base_shift = read_number(v, "base_shift"); }},
      {"max_shift", [](const json& v, FlowmatchConfig& c) { c.schedule.max_shift = read_number(v, "max_shift"); }},
      {"base_image_tokens",
       [](const json& v, FlowmatchConfig& c) {
         c.schedule.base_image_tokens = read_integer(v, "base_image_tokens", 1, kMaxImageTokens);
       }},
      {"max_image_tokens",
       [](const json& v, FlowmatchConfig& c) {
         c.schedule.max_image_tokens = read_integer(v, "max_image_tokens", 1, kMaxImageTokens);
       }},
      {"sigmas", [](const json& v, FlowmatchConfig& c) { c.schedule.custom_sigmas = read_sigma_list(v); }},
      {"steps",
       [](const json& v, FlowmatchConfig& c) {
         c.schedule.steps = static_cast<uint32_t>(read_integer(v, "steps", 1, kMaxSteps));
       }},
      {"sampler", [](const json& v, FlowmatchConfig& c) { c.sampler.kind = read_enum(v, "sampler", kSamplers); }},
      {"eta",
       [](const json& v, FlowmatchConfig& c) {
         const double eta = read_number(v, "eta");
         if (eta < 0.0 || eta > 1.0) fail("eta", "must be within [0, 1], got " + number_text(eta));
         c.sampler.eta = eta;
       }},
  };
  return readers;
}

void check_cross_field_rules(const json& object, const FlowmatchConfig& c) {
  for (const auto& [field, value] : object.items()) {
    const std::string why = why_not_applicable(field, c);
    if (!why.empty()) fail(field, why);
  }
  const ScheduleSettings& s = c.schedule;
  if (s.kind == ScheduleKind::custom) {
    if (!object.contains("sigmas")) fail("sigmas", "required by the schedule 'custom'");
    const size_t list_steps = s.custom_sigmas.size() - 1;
    if (s.steps && *s.steps != list_steps)
      fail("steps", "is " + std::to_string(*s.steps) + " but config.sigmas holds " + std::to_string(list_steps) +
                        " steps");
  }
  // A pinned mu is the shift at every size: one the shift cannot represent could never give a schedule.
  if (s.kind == ScheduleKind::flux && s.mu)
    if (const std::string range = mu_outside_range(*s.mu, s.precision); !range.empty())
      fail("mu", "is " + number_text(*s.mu) + ", outside what the time shift can represent (" + range + ")");
  if (s.kind == ScheduleKind::flux && !s.mu && s.base_image_tokens == s.max_image_tokens)
    fail("max_image_tokens", "must differ from config.base_image_tokens (both are " +
                                 std::to_string(s.max_image_tokens) + "): mu is the line through both points");
}

json enum_property(const std::string& description, const std::vector<std::string>& values, const std::string& def) {
  return {{"description", description}, {"type", "string"}, {"enum", values}, {"default", def}};
}

json build_schema() {
  json p;
  p["schedule"] = enum_property(
      "flux: linspace(1, 0, steps+1) with the exponential time shift e^mu/(e^mu + 1/t - 1); none: no shift "
      "(FLUX.1-schnell); custom: the list in config.sigmas",
      names_of(kSchedules), "flux");
  p["spacing"] = enum_property(
      "Whose float32 rounding to reproduce: bfl = flux.sampling.get_schedule (torch.linspace(1, 0, N+1)), "
      "diffusers = FlowMatchEulerDiscreteScheduler with sigmas np.linspace(1, 1/N, N) (the DyPE pipeline). "
      "Float32 precision only; flux and none schedules only",
      names_of(kSpacings), "bfl");
  p["precision"] = enum_property(
      "float32: the references' float32 arithmetic, bit for bit; float64: the closed form in float64",
      names_of(kPrecisions), "float32");
  p["mu"] = {{"description",
              "Pins the shift mu at every resolution (DyPE uses 1.15); without it mu is linear in the image-token "
              "count. Schedule flux only"},
             {"type", "number"}};
  p["base_shift"] = {{"description", "mu at base_image_tokens"}, {"type", "number"}, {"default", 0.5}};
  p["max_shift"] = {{"description", "mu at max_image_tokens"}, {"type", "number"}, {"default", 1.15}};
  p["base_image_tokens"] = {{"description", "Token count where mu = base_shift"},
                            {"type", "integer"},
                            {"minimum", 1},
                            {"maximum", kMaxImageTokens},
                            {"default", 256}};
  p["max_image_tokens"] = {{"description", "Token count where mu = max_shift (must differ from base_image_tokens)"},
                           {"type", "integer"},
                           {"minimum", 1},
                           {"maximum", kMaxImageTokens},
                           {"default", 4096}};
  p["sigmas"] = {{"description", "Schedule custom: strictly decreasing values within [0, 1] ending at 0"},
                 {"type", "array"},
                 {"items", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
                 {"minItems", 2},
                 {"maxItems", uint64_t(kMaxSteps) + 1}};
  p["steps"] = {{"description", "Step count used when the host asks for 0 steps"},
                {"type", "integer"},
                {"minimum", 1},
                {"maximum", kMaxSteps}};
  p["sampler"] = enum_property(
      "euler: x += (s_next - s) v (FLUX's own); heun: second order; dpmpp-2m: DPM-Solver++(2M) on x0 = x - s v; "
      "euler-ancestral: Euler with flow-matching re-noising",
      names_of(kSamplers), "euler");
  p["eta"] = {{"description", "euler-ancestral only: re-noising strength, 0 = Euler, 1 = full ancestral"},
              {"type", "number"},
              {"minimum", 0},
              {"maximum", 1},
              {"default", 1.0}};
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"title", "org.genplug.flowmatch configuration"},
          {"description",
           "Flow-matching schedule and sampler. A field the chosen schedule or sampler would ignore is an error."},
          {"type", "object"},
          {"properties", p},
          {"additionalProperties", false}};
}

}  // namespace

FlowmatchConfig parse_config(const std::string& json_text) {
  // Nesting bounded while parsing (a flowmatch config is one object with one list).
  json object;
  std::optional<std::string> duplicate;
  try {
    object = genplug::internal::parse_bounded_json(json_text, duplicate);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number no double holds (1e400)
    throw ConfigError(std::string("config: not valid JSON: ") + genplug::internal::json_error_text(e));
  } catch (const genplug::internal::JsonTooDeep& e) {
    throw ConfigError(std::string("config: ") + e.what());
  }
  if (duplicate) throw ConfigError("config: " + genplug::internal::duplicate_key_text(*duplicate));
  if (!object.is_object()) throw ConfigError(std::string("config: must be a JSON object, got ") + object.type_name());
  FlowmatchConfig config;
  const auto& readers = field_readers();
  // Unknown fields first, then each known field on its own, then the rules between fields.
  for (const auto& [field, value] : object.items()) {
    if (!readers.count(field)) {
      std::vector<std::string> known;
      for (const auto& [name, reader] : readers) known.push_back(name);
      fail(field, "unknown field (known: " + join(known) + ")");
    }
  }
  for (const auto& [field, reader] : readers)
    if (object.contains(field)) reader(object.at(field), config);
  check_cross_field_rules(object, config);
  return config;
}

const std::string& config_schema_text() {
  static const std::string text = build_schema().dump(2);
  return text;
}

const char* to_string(ScheduleKind kind) {
  for (const auto& [value, name] : kSchedules)
    if (value == kind) return name;
  return "?";
}

const char* to_string(SamplerKind kind) {
  for (const auto& [value, name] : kSamplers)
    if (value == kind) return name;
  return "?";
}

// e^mu must stay finite as a float32 and e^-mu as a float64; in float32 precision e^mu must also be a normal
// float (below 1.2e-38, mu < -87.3, its reciprocal overflows and sigma(1) = e / e is NaN).
std::string mu_outside_range(double mu, Precision precision) {
  const float e = static_cast<float>(std::exp(mu));
  const bool float32 = precision == Precision::float32;
  if (std::isfinite(e) && std::isfinite(std::exp(-mu)) && (!float32 || std::isnormal(e))) return "";
  return float32 ? "-87.3 < mu < 88.7 in float32 precision" : "-709 < mu < 88.7";
}

}  // namespace genplug::flowmatch
