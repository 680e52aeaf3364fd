// The bound on |ours - reference| when a float32 network is checked against a reference implementation's float32
// output (the golden sets): the rounding analysed, the network's share of it measured.
//
// Model (probabilistic rounding-error analysis, Higham & Mary 2019): each float32 operation returns its exact
// result times (1 + d), |d| <= u = 2^-24, the d independent with mean 0. An output's error is then a sum over the
// operations of d times what that operation's result does to the output. Two implementations of one function share
// those weights (the same function, the same intermediate values to first order); they differ in the operations,
// chiefly in the order of their sums. A sum of K terms of one sign errs by about u |sum| sqrt(K / 3) in sequential
// order and u |sum| sqrt(2) in pairwise order, so whatever orders two implementations take, one's error scale is
// within F = sqrt(K / 6) of the other's, K the longest reduction of the network on the set's shapes.
//
// What the model leaves open is how much the network amplifies its roundings (a matter of its weights), so that is
// measured: the same computation of ours in float64 (u = 2^-53, 2^-29 of float32's: exact here) against ours in
// float32 gives e, our error relative to the output's largest magnitude. The reference's error is then about F e at
// most, and |ours - reference| <= e + F e. The analysis gives scales, and e is one realisation of ours (it moved by
// up to 2x with the thread count and the CPU's kernels on the sets so far), so the bound takes twice that:
// 2 (1 + F) e, with e at least u, the output's own rounding. That checks the code both runs share.
//
// Code only the float32 run takes (hand-written float32 kernels, a device's) would raise e with any mistake it makes,
// and the bound with it. So the same analysis is held the other way too: the reference's error r against our float64
// output is measured as well, and our e must be within 2 F r (r at least u) — our float32 error no larger than
// a float32 implementation's can be, where the reference's is r. r holds the reference's other inputs too (below),
// so where they count (FLUX's timestep embedding) this side is looser by up to 2 F times their share.
//
// Where the reference rounds an input otherwise than the analysis covers, that input's share is measured in float64
// and added (`inputs`): BFL builds its rotary tables in float32 (3u |angle| against our u): the float64 output on
// its tables against ours; both embed the timestep in float32, through exp and cos of libraries that may round
// otherwise: twice the float64 output on our float32 embedding against the one on the exact embedding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>

#include <torch/torch.h>

#include "tensor_error.hpp"

namespace genplug::test {

struct RoundingBound {
  double error;               // max |ours - reference| / max |reference|
  double own;                 // e: max |ours - ours in float64| / max |ours in float64|
  double reference_own;       // r: max |reference - ours in float64| / max |ours in float64|
  int64_t longest_reduction;  // K
  double inputs = 0;          // the shares of inputs the reference rounds otherwise, relative (float64)
  double factor() const { return std::sqrt(double(std::max<int64_t>(longest_reduction, 6)) / 6.0); }
  double bound() const { return 2 * (1 + factor()) * std::max(own, 0x1p-24) + inputs; }
  double own_bound() const { return 2 * factor() * std::max(reference_own, 0x1p-24); }
  // A float64 run that failed (NaN, another shape) gives no bound: it fails too.
  bool holds() const {
    return std::isfinite(own) && std::isfinite(inputs) && error <= bound() && own <= own_bound();
  }
};

inline std::ostream& operator<<(std::ostream& out, const RoundingBound& b) {
  out << "relative error " << b.error << ", bound " << b.bound() << " = 2 (1 + " << b.factor() << ") x e "
      << std::max(b.own, 0x1p-24);
  if (b.inputs > 0) out << " + " << b.inputs << " (inputs)";
  return out << "; e within 2 F r = " << b.own_bound() << " (the reference's r " << b.reference_own
             << "; longest reduction " << b.longest_reduction << ")";
}

// `ours` (float32), the same computation in float64, the reference's output, the longest reduction K, and the
// shares of inputs the reference rounds otherwise.
inline RoundingBound rounding_bound(const torch::Tensor& ours, const torch::Tensor& ours_float64,
                                    const torch::Tensor& reference, int64_t longest_reduction, double inputs = 0) {
  return {relative_error(ours, reference), relative_error(ours, ours_float64), relative_error(reference, ours_float64),
          longest_reduction, inputs};
}

}  // namespace genplug::test
