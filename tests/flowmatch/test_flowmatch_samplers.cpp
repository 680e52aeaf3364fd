// The samplers, loaded through the plugin's C ABI and driven by a test host (vector_ops.hpp) over an
// analytic flow with a known exact solution (gaussian_flow.hpp).
#define BOOST_TEST_MODULE flowmatch_samplers
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "flowmatch_plugin.hpp"
#include "gaussian_flow.hpp"
#include "slope_fit.hpp"
#include "vector_ops.hpp"

using namespace genplug;
using namespace genplug::test;

namespace {

// For calls that take a context and are expected to succeed (evaluation counts).
genplug::CallContext ctx_;

// A flow with a spread of means and scales (some data narrower, some wider than the noise).
GaussianFlow test_flow(size_t n) {
  GaussianFlow f;
  for (size_t j = 0; j < n; ++j) {
    f.mean.push_back(-1.5 + 3.0 * double(j) / double(n - 1));
    f.scale.push_back(0.2 + 1.6 * double((j * 7) % n) / double(n - 1));
  }
  return f;
}

std::vector<double> test_noise(size_t n) {
  std::vector<double> z(n);
  for (size_t j = 0; j < n; ++j) z[j] = VectorOps::noise_value(12345, 0, j);
  return z;
}

// max |a - b|, or NaN for a NaN in either or vectors of two sizes: then no check of it holds, neither a bound
// (<=) nor a difference (>), where std::max would drop the NaN.
double max_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return std::nan("");
  double m = 0;
  for (size_t j = 0; j < a.size(); ++j) {
    const double d = std::abs(a[j] - b[j]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

std::string config_for(const std::string& sampler, const std::string& schedule_fields) {
  return "{\"sampler\":\"" + sampler + "\"" + (schedule_fields.empty() ? "" : "," + schedule_fields) + "}";
}

struct RunResult {
  genplug_status status;
  std::string error;
  std::vector<double> latent;
  uint64_t calls;
  std::vector<double> sigmas_seen;
  size_t live_after;
  uint64_t bad_releases;
};

// One sample() call through the proxy's raw C instance.
RunResult run_sampler(const SchedulerProxy& s, const std::vector<double>& sigmas, const GaussianFlow& flow,
                      std::vector<double> x, uint64_t seed = 0, VelocityProbe probe = {},
                      std::atomic<bool>* cancel_flag = nullptr, uint64_t fail_alloc_from = 0) {
  VectorOps ops;
  ops.fail_allocation_from(fail_alloc_from);
  VectorTensor latent{std::move(x)};
  probe.flow = &flow;
  CallContext ctx;
  if (cancel_flag) ctx.cancel_flag(cancel_flag);
  genplug_sample_request_t r = make_request(sigmas, latent, ops, probe, seed);
  genplug_status st = s.raw()->sample(s.raw(), &r, ctx.get());
  return {st, ctx.error(), latent.data, probe.calls, probe.sigmas_seen, ops.live(), ops.bad_releases()};
}

const std::vector<std::string> kDeterministic = {"euler", "heun", "dpmpp-2m"};
const std::vector<std::string> kAll = {"euler", "heun", "dpmpp-2m", "euler-ancestral"};

}  // namespace

// A family of schedules indexed by step count: the plugin's own (ending at sigma 0), or a grid inside
// (0, 1) built here, uniform in sigma or in lambda = log((1 - s) / s).
struct Grid {
  std::string name;
  std::string plugin_schedule;  // config fields, or "" for a grid built here
  bool uniform_in_lambda = false;
  double first = 0.98, last = 0.02;

  std::vector<double> sigmas(const SchedulerProxy& s, uint32_t n) const {
    if (!plugin_schedule.empty()) {
      CallContext ctx;
      return s.sigmas(n, 4096, ctx);
    }
    std::vector<double> out(n + 1);
    const double l0 = std::log((1 - first) / first), l1 = std::log((1 - last) / last);
    for (uint32_t i = 0; i <= n; ++i) {
      const double f = double(i) / n;
      out[i] = uniform_in_lambda ? 1.0 / (1.0 + std::exp(l0 + (l1 - l0) * f)) : first + (last - first) * f;
    }
    out.front() = first;
    out.back() = last;
    return out;
  }
};

// Convergence order: final error against the exact solution over step counts 32..2048; the fitted
// log-log slope must match the sampler's theoretical order. The tolerance comes from the fit (4 standard
// errors of the slope, at least 0.1) and must stay below 0.5 so that orders 1 and 2 cannot be confused.
//
// DPM-Solver++(2M) is second order in lambda, which is infinite at sigma 0 and 1: on schedules that reach
// them the end steps do not shrink in lambda and its error falls like log(N)/N^2 (observed slope ~1.75).
// Its order is therefore measured on grids inside (0, 1); on the full schedules it must still be
// distinguishably above first order (by more than the fit's tolerance) and not above second.
BOOST_AUTO_TEST_CASE(convergence_order_matches_theory) {
  const std::vector<Grid> grids = {
      {"none (uniform, to 0)", "\"schedule\":\"none\",\"precision\":\"float64\""},
      {"flux mu 1.15 (to 0)", "\"schedule\":\"flux\",\"mu\":1.15,\"precision\":\"float64\""},
      {"uniform in sigma, 0.98 to 0.02", "", false},
      {"uniform in lambda, 0.98 to 0.02", "", true}};
  struct Case {
    std::string sampler;
    double order;
  };
  const std::vector<Case> cases = {{"euler", 1.0}, {"heun", 2.0}, {"dpmpp-2m", 2.0}};
  const GaussianFlow flow = test_flow(16);
  const std::vector<double> x_start = test_noise(16);
  const std::vector<double> step_counts = {32, 64, 128, 256, 512, 1024, 2048};
  for (const Grid& grid : grids) {
    for (const Case& c : cases) {
      SchedulerProxy s = make_scheduler(config_for(c.sampler, grid.plugin_schedule));
      std::vector<double> errors;
      for (double n : step_counts) {
        const std::vector<double> sigmas = grid.sigmas(s, uint32_t(n));
        const std::vector<double> exact = flow.solve(x_start, sigmas.front(), sigmas.back());
        RunResult r = run_sampler(s, sigmas, flow, x_start);
        BOOST_REQUIRE_MESSAGE(r.status == GENPLUG_OK, r.error);
        errors.push_back(max_abs_difference(r.latent, exact));
      }
      const SlopeFit fit = fit_log_log(step_counts, errors);
      const double order = -fit.slope;
      const double tolerance = std::max(4.0 * fit.standard_error, 0.1);
      BOOST_TEST_MESSAGE(c.sampler << " on " << grid.name << ": error " << errors.front() << " .. " << errors.back()
                                   << ", order " << order << " +- " << fit.standard_error);
      BOOST_TEST_CONTEXT(c.sampler << " on " << grid.name) {
        BOOST_TEST(tolerance < 0.5, "the fit is too loose to tell orders apart");
        if (c.sampler == "dpmpp-2m" && !grid.plugin_schedule.empty()) {
          BOOST_TEST(order - 1.0 > tolerance, "order " << order << " is not distinguishable from first order");
          BOOST_TEST(order <= c.order + tolerance);
        } else
          BOOST_TEST(std::abs(order - c.order) <= tolerance, "order " << order << ", expected " << c.order << " +- " << tolerance);
      }
    }
  }
}

// A one-step Euler run is exactly x - v(x, 1) = the model's x0 prediction: a value check independent of
// the fit.
BOOST_AUTO_TEST_CASE(euler_single_step_is_the_x0_prediction) {
  const GaussianFlow flow = test_flow(8);
  const std::vector<double> x1 = test_noise(8);
  SchedulerProxy s = make_scheduler("{}");
  RunResult r = run_sampler(s, {1.0, 0.0}, flow, x1);
  BOOST_REQUIRE_EQUAL(r.status, GENPLUG_OK);
  for (size_t j = 0; j < x1.size(); ++j) BOOST_TEST(r.latent[j] == x1[j] - flow.velocity(j, x1[j], 1.0));
}

// evaluation_count equals the velocity calls sample() makes, for full and partial schedules, and the
// model is asked at the step's start sigma (and Heun's at the step end as well).
BOOST_AUTO_TEST_CASE(evaluation_count_matches_calls) {
  const GaussianFlow flow = test_flow(4);
  const std::vector<std::vector<double>> schedules = {
      {1.0, 0.0}, {1.0, 0.5, 0.0}, {1.0, 0.75, 0.5, 0.25, 0.0}, {0.9, 0.6, 0.3}, {1.0, 0.4}};
  for (const auto& sampler : kAll) {
    SchedulerProxy s = make_scheduler(config_for(sampler, ""));
    for (const auto& sigmas : schedules) {
      RunResult r = run_sampler(s, sigmas, flow, test_noise(4), 7);
      BOOST_REQUIRE_EQUAL(r.status, GENPLUG_OK);
      BOOST_TEST(r.calls == s.evaluation_count(uint32_t(sigmas.size()), ctx_), sampler << " with " << sigmas.size() << " sigmas");
      BOOST_TEST(r.sigmas_seen.front() == sigmas.front());
      BOOST_TEST(r.live_after == 0u);
      BOOST_TEST(r.bad_releases == 0u);
      const size_t steps = sigmas.size() - 1;
      if (sampler == "heun") {
        BOOST_TEST(r.calls == 2 * steps - 1);
      } else {
        BOOST_TEST(r.calls == steps);
        BOOST_TEST(r.sigmas_seen == std::vector<double>(sigmas.begin(), sigmas.end() - 1));
      }
    }
    // No step (fewer than 2 sigmas) is a count it cannot sample: INVALID_ARGUMENT with a message (scheduler.h),
    // and 0 through ABI 1.0's evaluation_count, whose only failure signal that is. It had returned OK and 0.
    for (uint32_t count : {0u, 1u}) {
      BOOST_CHECK_EXCEPTION(s.evaluation_count(count, ctx_), genplug::PluginError, [](const genplug::PluginError& e) {
        BOOST_TEST(e.code() == GENPLUG_E_INVALID_ARGUMENT);
        BOOST_TEST(std::string(e.what()).find("needs at least 2 sigmas") != std::string::npos, e.what());
        return true;
      });
      BOOST_TEST(s.raw()->evaluation_count(s.raw(), count) == 0u);
    }
  }
}

// Zero-length steps (equal neighbours, as BFL's float32 schedule has at large mu) leave the latent exactly
// as it was and still cost the step's evaluations: the run over [1, 1, 1, s...] equals the run over [1, s...]
// bit for bit, with evaluation_count(of the longer schedule) calls, for every sampler.
BOOST_AUTO_TEST_CASE(zero_length_steps_are_exact_no_ops_that_cost_their_evaluations) {
  const GaussianFlow flow = test_flow(4);
  const std::vector<double> plain = {1.0, 0.6, 0.6, 0.3, 0.0};
  const std::vector<double> plateau = {1.0, 1.0, 1.0, 0.6, 0.6, 0.3, 0.0};
  const std::vector<double> reference = {1.0, 0.6, 0.3, 0.0};
  for (const auto& sampler : kAll) {
    SchedulerProxy s = make_scheduler(config_for(sampler, ""));
    const RunResult want = run_sampler(s, reference, flow, test_noise(4), 7);
    BOOST_REQUIRE_EQUAL(want.status, GENPLUG_OK);
    for (const auto& sigmas : {plain, plateau}) {
      const RunResult got = run_sampler(s, sigmas, flow, test_noise(4), 7);
      BOOST_TEST_CONTEXT(sampler << " over " << sigmas.size() << " sigmas") {
        BOOST_REQUIRE_EQUAL(got.status, GENPLUG_OK);
        BOOST_TEST(got.calls == s.evaluation_count(uint32_t(sigmas.size()), ctx_));
        BOOST_TEST(got.live_after == 0u);
        if (sampler != "euler-ancestral")  // its noise stream is indexed by step, so steps shift it
          BOOST_TEST(got.latent == want.latent, boost::test_tools::per_element());
        for (double v : got.latent) BOOST_TEST(std::isfinite(v));
      }
    }
  }
}

// The callback's GENPLUG_E_CANCELLED stops the run at once: no further call, every scratch tensor given
// back, and the instance works again afterwards.
BOOST_AUTO_TEST_CASE(cancellation_from_the_callback) {
  const GaussianFlow flow = test_flow(4);
  const std::vector<double> sigmas = {1.0, 0.8, 0.6, 0.4, 0.2, 0.0};
  for (const auto& sampler : kAll) {
    SchedulerProxy s = make_scheduler(config_for(sampler, ""));
    for (uint64_t k = 1; k <= 4; ++k) {
      VelocityProbe probe;
      probe.cancel_on_call = k;
      RunResult r = run_sampler(s, sigmas, flow, test_noise(4), 1, probe);
      BOOST_TEST(r.status == GENPLUG_E_CANCELLED, sampler << " cancelled on call " << k);
      BOOST_TEST(r.calls == k, sampler << ": " << r.calls << " calls after cancelling on call " << k);
      BOOST_TEST(r.live_after == 0u);
      BOOST_TEST(r.bad_releases == 0u);
    }
    RunResult again = run_sampler(s, sigmas, flow, test_noise(4), 1);
    BOOST_TEST(again.status == GENPLUG_OK);
  }
}

// The context's cancel flag (raised by another thread in a real host; here during call k) is honoured
// before the next evaluation.
BOOST_AUTO_TEST_CASE(cancellation_from_the_context) {
  const GaussianFlow flow = test_flow(4);
  const std::vector<double> sigmas = {1.0, 0.8, 0.6, 0.4, 0.2, 0.0};
  for (const auto& sampler : kAll) {
    SchedulerProxy s = make_scheduler(config_for(sampler, ""));
    for (uint64_t k = 1; k <= 3; ++k) {
      std::atomic<bool> flag{false};
      VelocityProbe probe;
      probe.raise_flag_on_call = k;
      probe.flag = &flag;
      RunResult r = run_sampler(s, sigmas, flow, test_noise(4), 1, probe, &flag);
      BOOST_TEST(r.status == GENPLUG_E_CANCELLED, sampler);
      BOOST_TEST(r.calls == k, sampler << ": " << r.calls << " calls after the flag rose on call " << k);
      BOOST_TEST(r.live_after == 0u);
    }
    std::atomic<bool> already{true};
    RunResult r = run_sampler(s, sigmas, flow, test_noise(4), 1, {}, &already);
    BOOST_TEST(r.status == GENPLUG_E_CANCELLED);
    BOOST_TEST(r.calls == 0u);
    BOOST_TEST(r.live_after == 0u);
  }
}

// Progress: one report per evaluation against the announced total; a progress stop cancels at once.
BOOST_AUTO_TEST_CASE(progress_reports_every_evaluation_and_can_stop) {
  const GaussianFlow flow = test_flow(4);
  const std::vector<double> sigmas = {1.0, 0.8, 0.6, 0.4, 0.2, 0.0};
  for (const auto& sampler : kAll) {
    SchedulerProxy s = make_scheduler(config_for(sampler, ""));
    const uint64_t total = s.evaluation_count(uint32_t(sigmas.size()), ctx_);
    for (uint64_t stop_at : {uint64_t(0), uint64_t(2)}) {
      VectorOps ops;
      VectorTensor latent{test_noise(4)};
      VelocityProbe probe;
      probe.flow = &flow;
      std::vector<std::pair<uint64_t, uint64_t>> reports;
      CallContext ctx;
      ctx.on_progress([&](uint64_t done, uint64_t of, const std::string& stage) {
        reports.emplace_back(done, of);
        BOOST_TEST(stage == "sampling");
        return stop_at != 0 && done >= stop_at;
      });
      genplug_sample_request_t r = make_request(sigmas, latent, ops, probe, 3);
      const genplug_status st = s.raw()->sample(s.raw(), &r, ctx.get());
      BOOST_TEST_CONTEXT(sampler << ", stop at " << stop_at) {
        BOOST_TEST(st == (stop_at ? GENPLUG_E_CANCELLED : GENPLUG_OK));
        const uint64_t expected_calls = stop_at ? stop_at : total;
        BOOST_TEST(probe.calls == expected_calls);
        BOOST_REQUIRE_EQUAL(reports.size(), expected_calls);
        for (size_t i = 0; i < reports.size(); ++i) {
          BOOST_TEST(reports[i].first == i + 1);
          BOOST_TEST(reports[i].second == total);
        }
        BOOST_TEST(ops.live() == 0u);
      }
    }
  }
}

// Host failures (the model, an allocation) come back with their own status, and nothing leaks.
BOOST_AUTO_TEST_CASE(host_failures_propagate_and_release_everything) {
  const GaussianFlow flow = test_flow(4);
  const std::vector<double> sigmas = {1.0, 0.5, 0.25, 0.0};
  for (const auto& sampler : kAll) {
    SchedulerProxy s = make_scheduler(config_for(sampler, ""));
    VelocityProbe failing;
    failing.fail_on_call = 2;
    RunResult r = run_sampler(s, sigmas, flow, test_noise(4), 1, failing);
    BOOST_TEST(r.status == GENPLUG_E_DEVICE, sampler);
    BOOST_TEST(r.error.find("velocity") != std::string::npos, r.error);
    BOOST_TEST(r.live_after == 0u);
    for (uint64_t n = 1; n <= 3; ++n) {
      RunResult oom = run_sampler(s, sigmas, flow, test_noise(4), 1, {}, nullptr, n);
      if (oom.status == GENPLUG_OK) continue;  // this sampler needs fewer than n scratch tensors
      BOOST_TEST(oom.status == GENPLUG_E_OUT_OF_MEMORY, sampler << " alloc failing from #" << n);
      BOOST_TEST(oom.calls == 0u);
      BOOST_TEST(oom.live_after == 0u);
      BOOST_TEST(oom.bad_releases == 0u);
    }
  }
}

// A malformed schedule is refused before any evaluation, naming what is wrong.
BOOST_AUTO_TEST_CASE(bad_requests_are_refused) {
  const GaussianFlow flow = test_flow(2);
  SchedulerProxy s = make_scheduler("{}");
  const std::vector<std::pair<std::vector<double>, std::string>> bad = {
      {{1.0}, "request.sigma_count"},
      {{0.5, 0.7, 0.0}, "request.sigmas[1]"},
      {{1.0, 1.0, 1.0, 0.0, 0.5}, "request.sigmas[4]"},
      {{1.5, 0.5, 0.0}, "request.sigmas[0]"},
      {{1.0, 0.5, -0.1}, "request.sigmas[2]"},
      {{1.0, std::nan(""), 0.0}, "request.sigmas[1]"}};
  for (const auto& [sigmas, field] : bad) {
    RunResult r = run_sampler(s, sigmas, flow, test_noise(2));
    BOOST_TEST(r.status == GENPLUG_E_INVALID_ARGUMENT, field);
    BOOST_TEST(r.error.find(field) != std::string::npos, r.error << " (expected to name " << field << ")");
    BOOST_TEST(r.calls == 0u);
  }
}

// euler-ancestral: the same seed gives the same result, another seed another one; the noise comes from the
// host's normal() once per re-noised step; eta = 0 is Euler.
BOOST_AUTO_TEST_CASE(euler_ancestral_is_seeded) {
  const GaussianFlow flow = test_flow(32);
  const std::vector<double> sigmas = {1.0, 0.8, 0.6, 0.4, 0.2, 0.0};
  SchedulerProxy s = make_scheduler("{\"sampler\":\"euler-ancestral\",\"eta\":1.0}");
  RunResult a = run_sampler(s, sigmas, flow, test_noise(32), 42);
  RunResult b = run_sampler(s, sigmas, flow, test_noise(32), 42);
  RunResult c = run_sampler(s, sigmas, flow, test_noise(32), 43);
  BOOST_REQUIRE(a.status == GENPLUG_OK && b.status == GENPLUG_OK && c.status == GENPLUG_OK);
  BOOST_TEST(a.latent == b.latent);
  BOOST_TEST(max_abs_difference(a.latent, c.latent) > 1e-3);

  SchedulerProxy euler = make_scheduler("{\"sampler\":\"euler\"}");
  RunResult e = run_sampler(euler, sigmas, flow, test_noise(32), 42);
  BOOST_TEST(max_abs_difference(a.latent, e.latent) > 1e-3);  // the noise does something

  SchedulerProxy eta0 = make_scheduler("{\"sampler\":\"euler-ancestral\",\"eta\":0}");
  RunResult z = run_sampler(eta0, sigmas, flow, test_noise(32), 42);
  BOOST_TEST(max_abs_difference(z.latent, e.latent) <= 1e-12);
}

BOOST_AUTO_TEST_CASE(euler_ancestral_draws_noise_per_step_from_the_host) {
  const GaussianFlow flow = test_flow(4);
  const std::vector<double> sigmas = {1.0, 0.75, 0.5, 0.25, 0.0};
  for (const std::string& config : {std::string("{\"sampler\":\"euler-ancestral\"}"),
                                    std::string("{\"sampler\":\"euler-ancestral\",\"eta\":0}")}) {
    SchedulerProxy s = make_scheduler(config);
    VectorOps ops;
    VectorTensor latent{test_noise(4)};
    VelocityProbe probe;
    probe.flow = &flow;
    CallContext ctx;
    genplug_sample_request_t r = make_request(sigmas, latent, ops, probe, 9);
    BOOST_REQUIRE_EQUAL(s.raw()->sample(s.raw(), &r, ctx.get()), GENPLUG_OK);
    const bool renoising = config.find("\"eta\":0") == std::string::npos;
    // Every step but the last (to sigma 0) re-noises.
    BOOST_TEST(ops.normal_calls() == (renoising ? sigmas.size() - 2 : 0u), config);
  }
}

// Without the host's normal(), euler-ancestral refuses before its first evaluation where a step re-noises (it had
// evaluated once first), and runs where none does: eta 0, or one step to sigma 0.
BOOST_AUTO_TEST_CASE(euler_ancestral_without_normal_is_refused_before_it_evaluates) {
  const GaussianFlow flow = test_flow(4);
  struct Case {
    std::string config;
    std::vector<double> sigmas;
    bool refused;
  };
  for (const Case& c : {Case{R"({"sampler":"euler-ancestral"})", {1.0, 0.5, 0.0}, true},
                        Case{R"({"sampler":"euler-ancestral","eta":0})", {1.0, 0.5, 0.0}, false},
                        Case{R"({"sampler":"euler-ancestral"})", {1.0, 0.0}, false}}) {
    SchedulerProxy s = make_scheduler(c.config);
    VectorOps ops;
    ops.drop_normal();
    VectorTensor latent{test_noise(4)};
    VelocityProbe probe;
    probe.flow = &flow;
    CallContext ctx;
    genplug_sample_request_t r = make_request(c.sigmas, latent, ops, probe, 9);
    BOOST_TEST_CONTEXT(c.config << " over " << c.sigmas.size() << " sigmas") {
      BOOST_TEST(s.raw()->sample(s.raw(), &r, ctx.get()) == (c.refused ? GENPLUG_E_UNSUPPORTED : GENPLUG_OK));
      BOOST_TEST(probe.calls == (c.refused ? 0u : c.sigmas.size() - 1));
      BOOST_TEST((!c.refused || ctx.error().find("normal() tensor operation") != std::string::npos), ctx.error());
      BOOST_TEST(ops.live() == 0u);
    }
  }
}

// Mean and variance after euler-ancestral on Gaussian data N(m, c2) (one element, start N(mean0, var0)):
// the velocity is affine in x, so each documented update x <- k (x + (s_down - s) v) + r n maps the moments
// exactly. This is the sampler's expected output distribution at a finite step count.
std::pair<double, double> ancestral_moments(const std::vector<double>& sigmas, double m, double c2, double eta,
                                            double mean, double var) {
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const double s = sigmas[i], s_next = sigmas[i + 1];
    const double g = (s - (1 - s) * c2) / ((1 - s) * (1 - s) * c2 + s * s);  // v = -m + g (x - (1 - s) m)
    const double s_down = s_next == 0 ? 0.0 : s_next * (1 + (s_next / s - 1) * eta);
    const double k = s_next == 0 ? 1.0 : (1 - s_next) / (1 - s_down);
    const double r2 = s_next == 0 ? 0.0 : s_next * s_next - s_down * s_down * k * k;
    const double dt = s_down - s;
    mean = k * (mean + dt * (-m + g * (mean - (1 - s) * m)));
    var = k * k * (1 + dt * g) * (1 + dt * g) * var + r2;
  }
  return {mean, var};
}

// The re-noising keeps the marginals. (1) The expected output distribution (ancestral_moments) tends to the
// data's N(m, c2) at first order in the step count (fitted slope, as above). (2) Many independent elements
// sampled by the plugin have that expected mean and variance within 5 standard errors of the sample moments.
BOOST_AUTO_TEST_CASE(euler_ancestral_samples_the_data_distribution) {
  const double m = 0.7, c2 = 0.25;
  SchedulerProxy s = make_scheduler("{\"sampler\":\"euler-ancestral\",\"schedule\":\"none\",\"precision\":\"float64\"}");
  CallContext ctx;

  std::vector<double> step_counts = {100, 200, 400, 800, 1600}, distances;
  for (double steps : step_counts) {
    const auto [mean, var] = ancestral_moments(s.sigmas(uint32_t(steps), 0, ctx), m, c2, 1.0, 0.0, 1.0);
    distances.push_back(std::abs(mean - m) + std::abs(var - c2));
  }
  const SlopeFit fit = fit_log_log(step_counts, distances);
  const double tolerance = std::max(4.0 * fit.standard_error, 0.1);
  BOOST_TEST_MESSAGE("euler-ancestral: distance to the data distribution " << distances.front() << " .. "
                                                                            << distances.back() << ", order "
                                                                            << -fit.slope);
  BOOST_TEST(std::abs(-fit.slope - 1.0) <= tolerance);

  const size_t n = 20000;
  GaussianFlow flow;
  flow.mean.assign(n, m);
  flow.scale.assign(n, std::sqrt(c2));
  std::vector<double> x1(n);
  for (size_t j = 0; j < n; ++j) x1[j] = VectorOps::noise_value(777, 99, j);
  // Standardised to sample mean 0 and variance 1, so the start adds no sampling error of its own.
  double m1 = 0, v1 = 0;
  for (double v : x1) m1 += v / double(n);
  for (double v : x1) v1 += (v - m1) * (v - m1) / double(n - 1);
  for (double& v : x1) v = (v - m1) / std::sqrt(v1);

  for (uint32_t steps : {4u, 28u, 200u}) {
    const std::vector<double> sigmas = s.sigmas(steps, 0, ctx);
    RunResult r = run_sampler(s, sigmas, flow, x1, 5 + steps);
    BOOST_REQUIRE_EQUAL(r.status, GENPLUG_OK);
    double mean = 0, var = 0;
    for (double v : r.latent) mean += v / double(n);
    for (double v : r.latent) var += (v - mean) * (v - mean) / double(n - 1);
    const auto [expected_mean, expected_var] = ancestral_moments(sigmas, m, c2, 1.0, 0.0, 1.0);
    const double se_mean = std::sqrt(expected_var / double(n));
    const double se_var = expected_var * std::sqrt(2.0 / double(n - 1));
    BOOST_TEST_MESSAGE("euler-ancestral, " << steps << " steps: mean " << mean << " (expected " << expected_mean
                                           << "), variance " << var << " (expected " << expected_var << ")");
    BOOST_TEST(std::abs(mean - expected_mean) <= 5 * se_mean, steps << " steps");
    BOOST_TEST(std::abs(var - expected_var) <= 5 * se_var, steps << " steps");
  }
}
