// The plugin's configuration: the typed settings, their JSON Schema, and the parser that checks every
// field (and the rules between fields the schema cannot say) and names the offending one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace genplug::flowmatch {

// The most steps a schedule may have, from config.steps, config.sigmas or the host.
inline constexpr uint32_t kMaxSteps = 1000000;

enum class ScheduleKind { flux, none, custom };
enum class Spacing { bfl, diffusers };
enum class Precision { float32, float64 };
enum class SamplerKind { euler, heun, dpmpp_2m, euler_ancestral };

struct ScheduleSettings {
  ScheduleKind kind = ScheduleKind::flux;
  Spacing spacing = Spacing::bfl;          // whose float32 rounding to reproduce
  Precision precision = Precision::float32;
  std::optional<double> mu;                // pinned shift (DyPE: 1.15), else from the token count
  double base_shift = 0.5;
  double max_shift = 1.15;
  uint64_t base_image_tokens = 256;
  uint64_t max_image_tokens = 4096;
  std::vector<double> custom_sigmas;       // schedule "custom" only
  std::optional<uint32_t> steps;           // used when the host asks for 0 steps
};

struct SamplerSettings {
  SamplerKind kind = SamplerKind::euler;
  double eta = 1.0;  // euler-ancestral only: 0 = deterministic Euler, 1 = full re-noising
};

struct FlowmatchConfig {
  ScheduleSettings schedule;
  SamplerSettings sampler;
};

// Parses and checks a config object (JSON text). Throws genplug::ConfigError naming the field
// ("config.sigmas[2]: ...").
FlowmatchConfig parse_config(const std::string& json_text);

// The JSON Schema of the config object (the descriptor's config_schema).
const std::string& config_schema_text();

const char* to_string(ScheduleKind kind);
const char* to_string(SamplerKind kind);

// "" where the time shift e^mu / (e^mu + 1/t - 1) can be computed at `mu` in `precision`; else the range it can
// be computed in ("-87.3 < mu < 88.7 in float32 precision"), for the message. (Here, not in schedule.hpp: the
// config refuses a pinned mu outside it, and the config fuzz target links the config alone.)
std::string mu_outside_range(double mu, Precision precision);

}  // namespace genplug::flowmatch
