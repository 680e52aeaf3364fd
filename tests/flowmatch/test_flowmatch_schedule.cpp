// Sigma schedules against the references (golden schedule/schedules.json), through the plugin's C ABI.
//
// Which comparison is which:
//  - precision float32 (the default) replays the references' own float32 arithmetic, so its values must be
//    EQUAL to the golden ones, bit for bit (BFL get_schedule, BFL time_shift with pinned mu, and the
//    diffusers/DyPE pipeline with spacing "diffusers"); a BFL set made on another torch CPU kernel than the
//    plugin's AVX2 one equals that kernel's replay instead (torch_schedule_replay.hpp);
//  - precision float64 is the closed form e^mu / (e^mu + 1/t - 1), t = 1 - i/N: it must agree with the same
//    formula evaluated here to 1e-12 relative, and with the float32 golden values to float32 rounding.
#define BOOST_TEST_MODULE flowmatch_schedule
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowmatch_plugin.hpp"
#include "golden.hpp"
#include "torch_schedule_replay.hpp"

using namespace genplug;
using namespace genplug::test;
using nlohmann::json;
namespace tt = boost::test_tools;

namespace {

const json& schedules() {
  static const json j = read_json(golden("schedule/schedules.json"));
  return j;
}

std::vector<double> sigmas_of(const std::string& config, uint32_t steps, uint64_t tokens) {
  SchedulerProxy s = make_scheduler(config);
  CallContext ctx;
  return s.sigmas(steps, tokens, ctx);
}

std::vector<double> golden_sigmas(const json& entry) { return entry.at("sigmas").get<std::vector<double>>(); }

// The torch kernel a BFL-spaced golden entry came from (torch_schedule_replay.hpp), its sigmas shifted by the
// entry's mu (none: unshifted); required to be one.
const flowmatch::TorchLinspaceKernel& kernel_of(const json& e) {
  double mu = 0;
  const auto* kernel = torch_kernel_of(golden_sigmas(e), e.at("num_steps"), entry_mu(e, mu));
  BOOST_TEST_REQUIRE(kernel, "no torch kernel's linspace gives the set's sigmas: " << e.dump());
  return *kernel;
}

// The plugin's sigmas for such an entry: the golden values, or AVX2's replay where the set came from another kernel.
std::vector<double> expected_bfl_sigmas(const json& e) {
  double mu = 0;
  const std::vector<double> expected = plugin_sigmas_for(golden_sigmas(e), e.at("num_steps"), entry_mu(e, mu));
  BOOST_TEST_REQUIRE(!expected.empty(), "no torch kernel's linspace gives the set's sigmas: " << e.dump());
  return expected;
}

// Config of a bfl_get_schedule entry: its shift parameters, token endpoints left at the plugin's defaults.
json bfl_config(const json& e) {
  if (!e.at("shift").get<bool>()) return {{"schedule", "none"}};
  return {{"schedule", "flux"}, {"base_shift", e.at("base_shift")}, {"max_shift", e.at("max_shift")}};
}

std::string describe(const json& e) {
  json d = e;
  d.erase("sigmas");
  if (d.contains("timesteps")) d.erase("timesteps");
  if (d.contains("dype_t_bf16_pipeline")) d.erase("dype_t_bf16_pipeline");
  if (d.contains("how")) d.erase("how");
  return d.dump();
}

// (1/t - 1) first, as the references group it: exactly 0 at t = 1 however small e^mu is.
double closed_form(double mu, double t) { return t == 0 ? 0.0 : std::exp(mu) / (std::exp(mu) + (1.0 / t - 1.0)); }

// A float32 evaluation of sigma = E / (E + x), x = 1/t - 1, E = e^mu, at a float32 time t taken as exact: how far
// it can be from the exact sigma at that t, relative to sigma, to first order in u = 2^-24 (the next order is
// about the first's square: 2e-12 at mu = -3, below 1e-12 above it). Roundings: E (u), 1/t (u), 1/t - 1 (u),
// E + x (u), and E / (E + x) as one division (numpy) or a reciprocal and a product (torch): 2u. With
// d ln sigma = (1 - sigma)(d ln E - d ln x) + the last three, and 1/t's rounding reaching ln x multiplied by
// (1/t) / x = 1 / (1 - t), where (1 - sigma) / (1 - t) = 1 / (tE + 1 - t):
//   |d sigma / sigma| <= u (2 (1 - sigma) + 1 / (tE + 1 - t) + 3).
// Large where E is small and t near 1 (a negative mu: 11 ulp at mu = -3, 1 000 steps, in torch).
double shift_rounding_bound(double mu, double t) {
  if (t == 0) return 0.0;
  const double u = std::ldexp(1.0, -24), e = std::exp(mu);
  return u * (2.0 * (1.0 - closed_form(mu, t)) + 1.0 / (t * e + (1.0 - t)) + 3.0);
}

// The float32 times a family's references shift: its unshifted schedule, which the bit-exact tests hold to the
// references' own (torch.linspace(1, 0, N + 1); float32 of np.linspace(1, 1/N, N) and a terminal 0).
std::vector<double> float32_times(const std::string& spacing, uint32_t steps) {
  const json config = {{"schedule", "none"}, {"spacing", spacing}};
  return sigmas_of(config.dump(), steps, 1);
}

// How far a family's float32 sigma_i can be from the exact sigma at t_i = 1 - i/N: the float32 time's own
// distance (computed) plus the shift's rounding at that time (bounded above).
std::vector<double> float32_reach(const std::vector<double>& times, const double* mu) {
  std::vector<double> reach(times.size());
  const size_t n = times.size() - 1;
  for (size_t i = 0; i < times.size(); ++i) {
    const double t = double(n - i) / double(n);
    if (!mu) {
      reach[i] = std::abs(times[i] - t);
      continue;
    }
    const double at_float32_time = closed_form(*mu, times[i]);
    reach[i] = std::abs(at_float32_time - closed_form(*mu, t)) + shift_rounding_bound(*mu, times[i]) * at_float32_time;
  }
  return reach;
}

}  // namespace

BOOST_AUTO_TEST_CASE(bfl_get_schedule_is_bit_exact) {
  const json& cases = schedules().at("bfl_get_schedule");
  BOOST_REQUIRE(!cases.empty());
  for (const json& e : cases) {
    const auto got = sigmas_of(bfl_config(e).dump(), e.at("num_steps"), e.at("image_seq_len"));
    BOOST_TEST_CONTEXT(describe(e)) { BOOST_TEST(got == expected_bfl_sigmas(e), tt::per_element()); }
  }
}

// The same schedules with mu pinned to the value the reference used: the token line is not involved.
BOOST_AUTO_TEST_CASE(bfl_schedule_with_pinned_mu_is_bit_exact) {
  for (const char* family : {"bfl_get_schedule", "bfl_time_shift_fixed_mu"}) {
    for (const json& e : schedules().at(family)) {
      if (e.at("mu").is_null()) continue;
      const json config = {{"schedule", "flux"}, {"mu", e.at("mu")}};
      const uint64_t tokens = e.value("image_seq_len", 1);  // ignored when mu is pinned
      const auto got = sigmas_of(config.dump(), e.at("num_steps"), tokens);
      BOOST_TEST_CONTEXT(family << " " << describe(e)) { BOOST_TEST(got == expected_bfl_sigmas(e), tt::per_element()); }
    }
  }
}

// BFL spacing's times are torch.linspace's float32 values at every step count, not only the golden set's: the
// references' AVX2 kernel rounds start + step*i once (a fused multiply-add) and its arange lanes twice, which
// differ at 9, 13 and most counts above 70; the AVX-512 kernel's (16 lanes) and the scalar dispatch's (unfused)
// times, which another set may hold, are replayed too (torch_linspace_<kernel>.json, from make_torch_linspace.py
// on python3-torch; not golden data, so the same whatever GENPLUG_GOLDEN_DIR names).
BOOST_AUTO_TEST_CASE(bfl_spacing_times_are_torch_linspace) {
  for (const auto* kernel : kTorchKernels) {
    const std::string file = std::string("tests/flowmatch/torch_linspace_") + kernel->name + ".json";
    const json data = read_json(std::filesystem::path(GENPLUG_SOURCE_DIR) / file);
    BOOST_REQUIRE(!data.at("linspace").empty());
    for (const json& e : data.at("linspace")) {
      const uint32_t n = e.at("num_steps");
      const auto times = e.at("times").get<std::vector<double>>();
      BOOST_TEST_CONTEXT(kernel->name << ", " << n << " steps") {
        BOOST_TEST(flowmatch::bfl_schedule_f32(n, nullptr, *kernel) == times, tt::per_element());
        if (kernel == &flowmatch::kTorchAvx2) BOOST_TEST(float32_times("bfl", n) == times, tt::per_element());
      }
    }
  }
}

// The DyPE pipeline's schedule (diffusers FlowMatchEulerDiscreteScheduler fed np.linspace(1, 1/N, N),
// mu pinned) is reached with spacing "diffusers".
BOOST_AUTO_TEST_CASE(dype_pipeline_diffusers_is_bit_exact) {
  const json& cases = schedules().at("dype_pipeline_diffusers");
  BOOST_REQUIRE(!cases.empty());
  for (const json& e : cases) {
    const json config = {{"schedule", "flux"}, {"mu", e.at("mu")}, {"spacing", "diffusers"}};
    const auto got = sigmas_of(config.dump(), e.at("num_steps"), e.at("image_seq_len"));
    BOOST_TEST_CONTEXT(describe(e)) { BOOST_TEST(got == golden_sigmas(e), tt::per_element()); }
    // diffusers' timesteps are these float32 sigmas times 1000, in float32.
    const auto timesteps = e.at("timesteps").get<std::vector<double>>();
    for (size_t i = 0; i < timesteps.size(); ++i)
      BOOST_TEST(double(float(got[i]) * 1000.0f) == timesteps[i], "timestep " << i << " of " << describe(e));
  }
}

// The two spacing families shift the same grid t = 1 - i/n and differ only in float32 rounding: BFL spacing stays
// within both families' float32 reach (float32_reach) of diffusers' references, and where the set's lists differ
// at all (the shipped set: 28 steps, index 3), only the test above tells the families apart.
BOOST_AUTO_TEST_CASE(spacing_families_differ_only_in_float32_rounding) {
  size_t differing = 0, cases = 0;
  for (const json& e : schedules().at("dype_pipeline_diffusers")) {
    const json config = {{"schedule", "flux"}, {"mu", e.at("mu")}};
    const uint32_t n = e.at("num_steps");
    const auto bfl = sigmas_of(config.dump(), n, e.at("image_seq_len"));
    const auto ref = golden_sigmas(e);
    BOOST_TEST_REQUIRE(bfl.size() == ref.size(), describe(e));
    const double mu = e.at("mu");
    const auto reach_bfl = float32_reach(float32_times("bfl", n), &mu);
    const auto reach_diffusers = float32_reach(float32_times("diffusers", n), &mu);
    for (size_t i = 0; i < bfl.size(); ++i) {
      const double bound = reach_bfl[i] + reach_diffusers[i];
      BOOST_TEST(std::abs(bfl[i] - ref[i]) <= bound, "index " << i << " of " << describe(e) << ": bound " << bound);
    }
    differing += bfl != ref;
    ++cases;
  }
  BOOST_WARN_MESSAGE(differing > 0, differing << " of " << cases << " diffusers-spaced cases differ from BFL spacing "
                                   "in float32 (none: the bit-exact test cannot tell the families apart on this set)");
}

// Float64 closed form: 1e-12 relative against the formula; the float32 references within their float32 reach.
BOOST_AUTO_TEST_CASE(float64_closed_form) {
  for (const json& e : schedules().at("bfl_get_schedule")) {
    const bool shift = e.at("shift").get<bool>();
    json config = bfl_config(e);
    config["precision"] = "float64";
    const uint32_t n = e.at("num_steps");
    const auto got = sigmas_of(config.dump(), n, e.at("image_seq_len"));
    const auto ref = golden_sigmas(e);
    BOOST_REQUIRE_EQUAL(got.size(), ref.size());
    const double mu = shift ? e.at("mu").get<double>() : 0.0;
    // The reference's own float32 times: its torch kernel's.
    const auto reach = float32_reach(flowmatch::bfl_schedule_f32(n, nullptr, kernel_of(e)), shift ? &mu : nullptr);
    double worst = 0;  // of the reach used
    for (size_t i = 0; i < got.size(); ++i) {
      const double t = double(n - i) / n;  // 1 - i/N, exact at both ends (as the plugin's float64)
      const double expected = shift ? closed_form(mu, t) : t;
      BOOST_TEST(std::abs(got[i] - expected) <= 1e-12 * std::abs(expected), "index " << i << " of " << describe(e));
      const double bound = reach[i] + 1e-12 * std::abs(expected);
      BOOST_TEST(std::abs(got[i] - ref[i]) <= bound, "index " << i << " of " << describe(e) << ": bound " << bound);
      if (bound > 0) worst = std::max(worst, std::abs(got[i] - ref[i]) / bound);
    }
    BOOST_TEST_MESSAGE(describe(e) << ": float64 vs the float32 reference, at most " << worst << " of the bound");
  }
}

// The reach holds beyond the golden set's shifts and step counts: the plugin's float32 schedules (which replay the
// references' operations) against its float64 closed form, at a negative mu (where 1 / (tE + 1 - t) grows: torch's
// own values reach 11 ulp at mu = -3 and 1 000 steps), FLUX's and a large one, in both spacings.
BOOST_AUTO_TEST_CASE(float32_schedules_stay_within_their_reach_at_any_shift) {
  for (const double mu : {-3.0, 1.15, 11.55})
    for (const uint32_t n : {9u, 28u, 1000u})
      for (const char* spacing : {"bfl", "diffusers"}) {
        const json f32 = {{"schedule", "flux"}, {"mu", mu}, {"spacing", spacing}};
        const json f64 = {{"schedule", "flux"}, {"mu", mu}, {"precision", "float64"}};
        const auto got = sigmas_of(f32.dump(), n, 1), exact = sigmas_of(f64.dump(), n, 1);
        const auto reach = float32_reach(float32_times(spacing, n), &mu);
        BOOST_TEST_REQUIRE(got.size() == exact.size());
        for (size_t i = 0; i < got.size(); ++i)
          BOOST_TEST(std::abs(got[i] - exact[i]) <= reach[i] + 1e-12 * exact[i],
                     spacing << " spacing, mu " << mu << ", " << n << " steps, index " << i);
      }
}

BOOST_AUTO_TEST_CASE(mu_follows_the_token_line) {
  // mu is linear through (base_image_tokens, base_shift) and (max_image_tokens, max_shift): with other
  // endpoints, the golden mu of each entry is reached at the token count that line maps it from.
  for (const json& e : schedules().at("bfl_get_schedule")) {
    if (!e.at("shift").get<bool>()) continue;
    const double base = e.at("base_shift"), max = e.at("max_shift");
    const json moved = {{"schedule", "flux"}, {"base_shift", base}, {"max_shift", max},
                        {"base_image_tokens", 512}, {"max_image_tokens", 8192}, {"precision", "float64"}};
    const json pinned = {{"schedule", "flux"}, {"mu", e.at("mu")}, {"precision", "float64"}};
    const double tokens = e.at("image_seq_len").get<double>();
    const double mapped = 512 + (tokens - 256) * (8192 - 512) / (4096 - 256);  // same mu on the moved line
    if (mapped != std::floor(mapped) || mapped < 0) continue;
    const auto a = sigmas_of(moved.dump(), e.at("num_steps"), uint64_t(mapped));
    const auto b = sigmas_of(pinned.dump(), e.at("num_steps"), 0);
    for (size_t i = 0; i < a.size(); ++i) BOOST_TEST(std::abs(a[i] - b[i]) <= 1e-12, describe(e) << " index " << i);
  }
}

BOOST_AUTO_TEST_CASE(custom_schedule_and_step_rules) {
  const std::vector<double> list = {1.0, 0.7, 0.3, 0.1, 0.0};
  const json config = {{"schedule", "custom"}, {"sigmas", list}};
  BOOST_TEST(sigmas_of(config.dump(), 4, 4096) == list, tt::per_element());
  BOOST_TEST(sigmas_of(config.dump(), 0, 4096) == list, tt::per_element());
  SchedulerProxy s = make_scheduler(config.dump());
  CallContext ctx;
  BOOST_CHECK_EXCEPTION(s.sigmas(28, 4096, ctx), PluginError, [](const PluginError& e) {
    return e.code() == GENPLUG_E_INVALID_ARGUMENT && std::string(e.what()).find("steps") != std::string::npos;
  });
  // steps 0 needs config.steps; with it, 0 means that many.
  SchedulerProxy plain = make_scheduler("{}");
  BOOST_CHECK_EXCEPTION(plain.sigmas(0, 4096, ctx), PluginError, [](const PluginError& e) {
    return e.code() == GENPLUG_E_INVALID_ARGUMENT && std::string(e.what()).find("steps") != std::string::npos;
  });
  BOOST_TEST(sigmas_of("{\"steps\":6}", 0, 4096) == sigmas_of("{}", 6, 4096), tt::per_element());
}

// A pinned mu whose float32 e^mu is no longer a normal float (mu < -87.3) is refused at create (it is the shift at
// every size): sigma(1) = e / e would be NaN. A mu from the token line is refused by sigmas() for the sizes that
// give one outside (12 288² at the defaults). Just inside the bound, every sigma is finite; float64 precision
// goes down to -709.
BOOST_AUTO_TEST_CASE(mu_is_refused_where_the_float32_shift_is_not_finite) {
  for (const char* config : {R"({"mu":-88})", R"({"mu":-100})", R"({"mu":-700})", R"({"mu":88.8})"})
    BOOST_CHECK_EXCEPTION(make_scheduler(config), PluginError, [](const PluginError& e) {
      return e.code() == GENPLUG_E_CONFIG && std::string(e.what()).find("config.mu: is ") != std::string::npos &&
             std::string(e.what()).find("outside what the time shift can represent") != std::string::npos;
    });
  CallContext ctx;
  SchedulerProxy from_tokens = make_scheduler("{}");
  BOOST_CHECK_EXCEPTION(from_tokens.sigmas(4, 589824, ctx), PluginError, [](const PluginError& e) {
    return e.code() == GENPLUG_E_INVALID_ARGUMENT &&
           std::string(e.what()).find("589824 tokens give mu = 100.297, outside what the time shift can represent") !=
               std::string::npos;
  });
  for (const char* config : {R"({"mu":-87.3})", R"({"mu":88.7})", R"({"mu":-700,"precision":"float64"})"}) {
    const std::vector<double> sigmas = sigmas_of(config, 4, 4096);
    BOOST_TEST((sigmas.front() > 0.99 && sigmas.front() <= 1.0), config);
    for (double sigma : sigmas) BOOST_TEST(std::isfinite(sigma), config);
  }
  // Near the top of the range torch's float32 (1 / e) * e is 1 + 1 ulp at t = 1: held at 1, which samplers take,
  // in both float32 spacings (515 000 tokens on the default token line give mu ~ 88.3).
  for (const char* config : {R"({"mu":88.72})", R"({"mu":88.3,"spacing":"diffusers"})", R"({})"})
    for (uint32_t steps : {1u, 3u, 28u}) {
      const std::vector<double> sigmas = sigmas_of(config, steps, 515000);
      for (double sigma : sigmas)
        BOOST_TEST((sigma >= 0.0 && sigma <= 1.0), config << ", " << steps << " steps: " << sigma);
    }
}

// The raw C call reports the needed size when the buffer is short or absent.
BOOST_AUTO_TEST_CASE(sigmas_buffer_too_small) {
  SchedulerProxy s = make_scheduler("{}");
  CallContext ctx;
  double buffer[3];
  uint32_t count = 0;
  BOOST_TEST(s.raw()->sigmas(s.raw(), 4, 4096, buffer, 3, &count, ctx.get()) == GENPLUG_E_BUFFER_TOO_SMALL);
  BOOST_TEST(count == 5u);
  BOOST_TEST(ctx.error() == "scheduler.sigmas: buffer holds 3 values, 5 needed");
  // No buffer (a host asking for the count) holds nothing, whatever capacity it passes.
  count = 0;
  BOOST_TEST(s.raw()->sigmas(s.raw(), 4, 4096, nullptr, 100, &count, ctx.get()) == GENPLUG_E_BUFFER_TOO_SMALL);
  BOOST_TEST(count == 5u);
  BOOST_TEST(ctx.error() == "scheduler.sigmas: buffer holds 0 values, 5 needed");
}
