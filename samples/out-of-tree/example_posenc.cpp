// org.example.linear-pi: a third-party posenc plugin. Plain RoPE frequencies divided by the scale
// s = target / base on every axis the model flags spatial (position interpolation), amplitude 1.
// Config: {"strength": number in [0, 1]} blends plain RoPE (0) and full interpolation (1, the default).
#include <algorithm>
#include <cmath>
#include <string>

#include <genplug/plugin.hpp>
#include <nlohmann/json.hpp>

namespace {

class LinearPi final : public genplug::Posenc {
 public:
  explicit LinearPi(double strength) : strength_(strength) {}

  void compute(const genplug_posenc_query_t& q, genplug_spectrum_t& out, genplug::Context&) override {
    const genplug_rotary_layout_t& l = *q.layout;
    check(q);
    uint64_t needed = 0;  // a sum of uint32_t dims: no wrap-around that would pass the capacity check
    for (uint32_t a = 0; a < l.axis_count; ++a) needed += l.axis_dims[a] / 2;
    if (out.freq_capacity < needed || out.amplitude_capacity < l.axis_count)
      throw genplug::Error(GENPLUG_E_BUFFER_TOO_SMALL, "linear-pi: " + std::to_string(needed) + " freqs needed");
    const bool has_flags = GENPLUG_HAS_FIELD(&l, genplug_rotary_layout_t, axis_flags) && l.axis_flags;
    double* f = out.freqs;
    for (uint32_t a = 0; a < l.axis_count; ++a) {
      const bool spatial = has_flags ? (l.axis_flags[a] & GENPLUG_AXIS_SPATIAL) != 0 : a > 0;
      const double s = std::max(1.0, double(q.target_extent[a]) / double(l.base_extent[a]));
      const double divide = spatial ? 1.0 + strength_ * (s - 1.0) : 1.0;
      for (uint32_t j = 0; j < l.axis_dims[a] / 2; ++j)
        *f++ = std::pow(l.theta, -2.0 * j / l.axis_dims[a]) / divide;
      out.amplitude[a] = 1.0;
    }
  }

 private:
  // posenc.h: an odd axis dim, a zero extent (the scale divides by the base one) or t outside [0, 1] is
  // GENPLUG_E_INVALID_ARGUMENT, which genplug::InvalidArgument becomes at the ABI.
  static void check(const genplug_posenc_query_t& q) {
    const genplug_rotary_layout_t& l = *q.layout;
    if (!(q.t >= 0.0 && q.t <= 1.0)) throw genplug::InvalidArgument("linear-pi: t must be in [0, 1]");  // NaN too
    for (uint32_t a = 0; a < l.axis_count; ++a) {
      const std::string axis = "linear-pi: axis " + std::to_string(a);
      if (l.axis_dims[a] % 2 != 0) throw genplug::InvalidArgument(axis + ": odd dim " + std::to_string(l.axis_dims[a]));
      if (l.base_extent[a] == 0 || q.target_extent[a] == 0) throw genplug::InvalidArgument(axis + ": zero extent");
    }
  }

  double strength_;
};

void register_plugins(genplug::Registry& r) {
  genplug::PluginInfo info{"org.example.linear-pi", "Linear PI (example)", "Example Inc.", "1.0.0",
                           "Position interpolation blended with plain RoPE", {},
                           R"({"type": "object", "additionalProperties": false,
                               "properties": {"strength": {"type": "number", "minimum": 0, "maximum": 1}}})"};
  r.add_posenc(info, [](const std::string& config, genplug::Context&) {
    const auto j = nlohmann::json::parse(config, nullptr, false);
    if (!j.is_object()) throw genplug::ConfigError("config: not a JSON object");
    for (const auto& item : j.items())  // a plugin checks its own config: not every host applies the schema
      if (item.key() != "strength") throw genplug::ConfigError("config." + item.key() + ": unknown field");
    // j.value() would throw nlohmann's own error for a string (an internal error at the ABI): say which field.
    if (j.contains("strength") && !j.at("strength").is_number())
      throw genplug::ConfigError("config.strength: must be a number in [0, 1]");
    const double strength = j.value("strength", 1.0);
    if (!(strength >= 0.0 && strength <= 1.0)) throw genplug::ConfigError("config.strength: must be in [0, 1]");
    return std::make_unique<LinearPi>(strength);
  });
}

}  // namespace

GENPLUG_EXPORT_ENTRY(register_plugins)
