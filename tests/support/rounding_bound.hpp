// The bound on |ours - reference| when a float32 network is checked against a reference implementation's float32
// output (the golden sets): the rounding analysed, the network's share of it measured.
//
// Model (probabilistic rounding-error analysis, Higham & Mary 2019): each float32 operation returns its exact
// result times (1 + d), |d| <= u = 2^-24, the d independent with mean 0. An output's error is then a sum over the
// operations of d times what that operation's result does to the output. Two implementations of one function share
// those weights (the same weights, the same intermediate values to first order); they differ in the operations,
// chiefly in the order of their sums. A sum of K terms errs by about sqrt(log2 K) u |terms| in pairwise order and
// by sqrt(K) u |terms| in sequential order, so whatever orders two implementations take, one's error is at most
// F = sqrt(K / log2 K) times the other's, K the longest reduction of the network on the set's shapes.
//
// What the model leaves open is how much the network amplifies its roundings (a matter of its weights), so that is
// measured: the same computation of ours in float64 (u = 2^-53, a billionth of float32's: exact here) against ours
// in float32 gives e, our error relative to the output's largest magnitude. The reference's error is then at most
// F e, and |ours - reference| <= e + F e; e counts as at least u, the output's own rounding.
//
// Where the reference rounds an input more than we do, not in another order but in kind (BFL builds its rotary
// tables in float32: 3u |angle| against our u), that input's share is measured too: the float64 forward of the
// reference's own input against ours in float64 (d), and the bound is e + F e + d.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>

#include <torch/torch.h>

namespace genplug::test {

struct RoundingBound {
  double error;              // max |ours - reference| / max |reference|
  double own;                // max |ours - ours in float64| / max |ours in float64|
  int64_t longest_reduction; // K
  double inputs = 0;         // d: max |ours in float64 - ours in float64 on the reference's inputs|, relative
  double factor() const {
    const double k = double(std::max<int64_t>(longest_reduction, 2));
    return std::sqrt(k / std::log2(k));
  }
  double bound() const { return (1 + factor()) * std::max(own, 0x1p-24) + inputs; }
  bool holds() const { return error <= bound(); }
};

inline std::ostream& operator<<(std::ostream& out, const RoundingBound& b) {
  out << "relative error " << b.error << ", bound " << b.bound() << " = (1 + " << b.factor() << ") x "
      << std::max(b.own, 0x1p-24);
  if (b.inputs > 0) out << " + " << b.inputs;
  return out << " (ours in float32 against float64" << (b.inputs > 0 ? ", + the reference's inputs" : "")
             << "; longest reduction " << b.longest_reduction << ")";
}

namespace rounding_detail {
inline double max_relative(const torch::Tensor& a, const torch::Tensor& reference) {
  const torch::Tensor x = a.detach().to(torch::kCPU, torch::kFloat64);
  const torch::Tensor r = reference.detach().to(torch::kCPU, torch::kFloat64);
  if (x.sizes() != r.sizes()) return INFINITY;
  const double diff = (x - r).abs().max().item<double>();
  return std::isnan(diff) ? INFINITY : diff / std::max(r.abs().max().item<double>(), 1e-30);
}
}  // namespace rounding_detail

// `ours` (float32), the same computation in float64, the reference's output, and the longest reduction K; optionally
// the float64 computation on the inputs as the reference rounded them.
inline RoundingBound rounding_bound(const torch::Tensor& ours, const torch::Tensor& ours_float64,
                                    const torch::Tensor& reference, int64_t longest_reduction,
                                    const torch::Tensor& float64_on_reference_inputs = {}) {
  const double inputs = float64_on_reference_inputs.defined()
                            ? rounding_detail::max_relative(float64_on_reference_inputs, ours_float64)
                            : 0.0;
  return {rounding_detail::max_relative(ours, reference), rounding_detail::max_relative(ours, ours_float64),
          longest_reduction, inputs};
}

}  // namespace genplug::test
