// Runs of tokens (layers/token_runs.hpp): the blocks do their per-token work (the MLPs, the output projections,
// the gates) over runs of tokens to bound its memory at large sizes. The forward must not depend on the run:
// every value is the same sum of the same products, only which rows a matrix product computes at once changes.
//
// Bound: a product's row can come from a different kernel path for a different number of rows (OpenBLAS's small
// matrix kernels), which may sum its K terms in another order: at most ~K u sum|x_k w_k| per value (K <= 320
// here, u = 6e-8), a few 1e-6 of the largest output after the tiny model's four blocks. 1e-5 allows for that and
// still catches a run that is skipped, repeated or misplaced (those change the output at O(1)). One run is checked
// against BFL's forward by test_flux_transformer (golden), and narrow weights against f32 by
// test_flux_weight_dtype; here the runs are checked against one run.
#define BOOST_TEST_MODULE flux_token_runs
#include <boost/test/unit_test.hpp>

#include <utility>
#include <vector>

#include <genplug/flux/presets.hpp>
#include <genplug/flux/q8_0_tensors.hpp>
#include <genplug/flux/rotary.hpp>
#include <genplug/flux/transformer.hpp>

#include "layers/token_runs.hpp"
#include "random_forward_inputs.hpp"

using namespace genplug::flux;
using genplug::flux::layers::over_token_runs;

namespace {

// A batch of two, so that a run of tokens is a strided view of the batch.
struct Inputs : genplug::test::RandomForwardInputs {
  Inputs(const FluxConfig& c, int64_t rows, int64_t cols, int64_t text)
      : RandomForwardInputs(c, rows, cols, text, 2, 7) {}
  torch::Tensor run(FluxTransformer& m, int64_t token_run) const {
    m.set_token_run(token_run);
    return RandomForwardInputs::run(m);
  }
};

TensorMap q8_0_weights(const TensorMap& f32) {
  TensorMap out;
  for (const auto& [name, w] : f32) {
    if (w.dim() == 2 && w.size(1) % kQ8BlockValues == 0)
      put_q8_0(out, name, quantize_q8_0(w));
    else
      out.emplace(name, w);
  }
  return out;
}

// The calls over_token_runs() makes for `tokens` tokens in runs of `run`, and whether its result holds each
// run's rows where they belong (outside autograd recording unless `recording`).
std::vector<std::pair<int64_t, int64_t>> runs_of(int64_t tokens, int64_t run, bool* placed = nullptr,
                                                 bool recording = false) {
  torch::AutoGradMode mode(recording);
  const torch::Tensor x = torch::zeros({2, tokens, 3});
  const torch::Tensor ids = torch::arange(tokens, torch::kFloat32).view({1, tokens, 1}).expand({2, tokens, 3});
  std::vector<std::pair<int64_t, int64_t>> calls;
  const torch::Tensor out = over_token_runs(x, run, [&](int64_t begin, int64_t count) {
    calls.emplace_back(begin, count);
    return ids.narrow(1, begin, count) + 0;
  });
  if (placed) *placed = torch::equal(out, ids);
  return calls;
}

using Runs = std::vector<std::pair<int64_t, int64_t>>;

}  // namespace

BOOST_AUTO_TEST_CASE(runs_are_evened_out_and_every_token_lands_in_its_place) {
  bool placed = false;
  BOOST_TEST((runs_of(5000, 2048, &placed) == Runs{{0, 1667}, {1667, 1667}, {3334, 1666}}));
  BOOST_TEST(placed);
  BOOST_TEST((runs_of(29, 3, &placed) == Runs{{0, 3}, {3, 3}, {6, 3}, {9, 3}, {12, 3}, {15, 3}, {18, 3}, {21, 3},
                                              {24, 3}, {27, 2}}));
  BOOST_TEST(placed);
  BOOST_TEST((runs_of(7, 1, &placed).size() == 7));
  BOOST_TEST(placed);
  // One call over every token: no run given, or a run that covers them.
  BOOST_TEST((runs_of(100, 0) == Runs{{0, 100}}));
  BOOST_TEST((runs_of(100, -5) == Runs{{0, 100}}));
  BOOST_TEST((runs_of(100, 100) == Runs{{0, 100}}));
}

// Under autograd recording the saved tensors would keep every run's intermediates: one run, whatever is asked.
BOOST_AUTO_TEST_CASE(a_recorded_forward_takes_one_run) {
  BOOST_TEST((runs_of(100, 7, nullptr, /*recording=*/true) == Runs{{0, 100}}));
}

BOOST_AUTO_TEST_CASE(the_forward_does_not_depend_on_the_run_for_any_weight_kind) {
  const FluxConfig c = flux_preset("tiny");
  const Inputs in(c, 4, 6, 5);  // 29 tokens: ragged runs in both streams and in the joint one
  const TensorMap f32 = random_flux_weights(c, 11, torch::kFloat32);
  const TensorMap bf16 = random_flux_weights(c, 11, torch::kBFloat16);
  struct Kind {
    const char* name;
    FluxTransformer model;
  };
  std::vector<Kind> kinds;
  kinds.push_back({"f32", FluxTransformer(f32, c)});
  kinds.push_back({"bf16 kept, f32 compute", FluxTransformer(bf16, c, torch::kFloat32, torch::kCPU, torch::kBFloat16)});
  kinds.push_back({"int8 per row", FluxTransformer(f32, c, torch::kFloat32, torch::kCPU, torch::kInt8)});
  kinds.push_back({"Q8_0", FluxTransformer(q8_0_weights(f32), c)});
  for (Kind& k : kinds) {
    const torch::Tensor whole = in.run(k.model, 0);
    const double scale = whole.abs().max().item<double>();
    BOOST_TEST_REQUIRE(scale > 0);
    for (int64_t run : {1, 3, 7, 15, 28}) {
      const torch::Tensor runs = in.run(k.model, run);
      const double err = (runs - whole).abs().max().item<double>() / scale;
      BOOST_TEST_MESSAGE(k.name << ", runs of " << run << " tokens: " << err << " from one run");
      BOOST_TEST(err < 1e-5, k.name << ", runs of " << run << ": " << err);
    }
  }
}
