// genplug DyPE — the position-encoding methods and their parameters (official defaults).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace genplug::dype {

enum class Method {
  rope,            // plain rotary encoding
  pi,              // position interpolation: f / s
  dy_pi,           // dynamic PI: f / s^kappa(t)                              (paper Eq. 14)
  ntk,             // NTK-aware base change: theta * s^(d/(d-2))
  dy_ntk,          // dynamic NTK: theta * (s^(d/(d-2)))^kappa(t)            (paper Eq. 15, official code)
  yarn,            // official 3-band NTK-by-parts blend, amplitude mscale(s)
  dy_yarn,         // official HEAD / paper v2: thresholds multiplied by kappa(t) = t^2
  dy_yarn_legacy,  // Oct-2025 release (ComfyUI-DyPE and other ports): thresholds raised to kappa(t) = 2 t^2
};

// Canonical name ("dy-yarn").
const char* method_name(Method method);
// Canonical names and aliases ("base" = rope, the official script's name for it).
std::optional<Method> parse_method(std::string_view name);
// Every accepted spelling, canonical names first (for the schema enum and messages).
const std::vector<std::string>& method_spellings();
const std::vector<Method>& all_methods();

bool is_dynamic(Method method);      // depends on t
bool is_yarn_family(Method method);  // yarn, dy-yarn, dy-yarn-legacy: blend + amplitude

// The YaRN rotation thresholds (rotations per base extent): the beta pair blends PI -> NTK, the gamma pair
// NTK -> base. Ordered beta_1 < beta_0 <= gamma_1 < gamma_0.
struct YarnThresholds {
  double beta_0 = 1.25;
  double beta_1 = 0.75;
  double gamma_0 = 16.0;
  double gamma_1 = 2.0;
};

// How the query's t reaches the schedule. The official FLUX pipeline hands DyPE a bfloat16 t:
// timestep = float32(sigma) * 1000 (float32), cast to bfloat16, divided by 1000 in bfloat16.
enum class TimeRounding {
  exact,          // t as given (the paper's intent; the golden cases)
  bf16_pipeline,  // t as the official bf16 pipeline quantises it
};
const char* time_rounding_name(TimeRounding rounding);  // "exact", "bf16-pipeline"

// Where the dynamic phase runs, in schedule time t: full strength at t >= start_sigma, released at
// t <= end_sigma, linear in between (spectrum.hpp schedule_position). Defaults leave u = t.
struct DynamicWindow {
  double start_sigma = 1.0, end_sigma = 0.0;
};

// Everything that decides a spectrum apart from the query. Defaults are the official ones for dy-yarn.
struct MethodConfig {
  Method method = Method::dy_yarn;
  // kappa(t) = lambda_s * u(t)^lambda_t, u = schedule_position(window, t) (u = t by default).
  // Official: dy-yarn 1, 2 (HEAD); dy-ntk, dy-yarn-legacy 2, 2.
  double lambda_s = 1.0;
  double lambda_t = 2.0;
  DynamicWindow window;  // dynamic methods only, like the lambdas
  YarnThresholds thresholds;
  // Amplitude of a scaled axis for the YaRN family: mscale_coefficient * ln(s) + mscale_offset.
  double mscale_coefficient = 0.1;
  double mscale_offset = 1.0;
  // One scale for every spatial axis: the largest target/base ratio (ComfyUI's default mode).
  bool isotropic = false;
  // Base extent override for every spatial axis, in tokens; or in pixels (divided by the layout's
  // pixels_per_token, floored, as the official 1024 // 16). At most one is set; neither = the layout's.
  std::optional<uint32_t> base_extent;
  std::optional<uint32_t> base_resolution;
  TimeRounding t_rounding = TimeRounding::exact;

  // The official configuration of `method` (lambda_s depends on the method).
  static MethodConfig defaults(Method method);
};

// Official lambda_s of a method: 1 for dy-yarn, 2 otherwise (unused by static methods).
double default_lambda_s(Method method);

}  // namespace genplug::dype
