// What a sampler sees of one sample() call: the validated schedule, the host's tensor operations behind
// a checked, exception-raising wrapper, scratch tensors that are always given back (RAII), and the
// velocity callback with cancellation, progress and an evaluation count.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include <genplug/plugin.hpp>

namespace genplug::flowmatch {

using Tensor = genplug_tensor_handle;

// The host's tensor operations; every failure becomes a genplug::Error with the host's status.
class TensorOps {
 public:
  explicit TensorOps(const genplug_tensor_ops_t& ops) : ops_(ops) {}

  // out = sum of coefficient * tensor (out may be one of the inputs).
  void combine(Tensor out, std::initializer_list<std::pair<Tensor, double>> terms) const;
  void normal(Tensor out, uint64_t seed, uint64_t stream) const;
  // Throws GENPLUG_E_UNSUPPORTED where the host has no normal(): before a sampler that needs it evaluates.
  void require_normal() const;
  Tensor alloc_like(Tensor like) const;
  void release(Tensor t) const noexcept;

 private:
  const genplug_tensor_ops_t& ops_;
};

// A scratch tensor from alloc_like, released when it goes out of scope, on every path.
class ScratchTensor {
 public:
  ScratchTensor(const TensorOps& ops, Tensor like) : ops_(&ops), t_(ops.alloc_like(like)) {}
  ~ScratchTensor() { ops_->release(t_); }
  ScratchTensor(const ScratchTensor&) = delete;
  ScratchTensor& operator=(const ScratchTensor&) = delete;
  Tensor get() const { return t_; }
  // Exchanges the tensors two scratch slots hold (multistep samplers rotate their history).
  friend void swap(ScratchTensor& a, ScratchTensor& b) noexcept { std::swap(a.t_, b.t_); }

 private:
  const TensorOps* ops_;
  Tensor t_;
};

class SamplingRun {
 public:
  // Validates the request (sigmas finite, within [0, 1], never increasing, at least one step; the ops
  // table complete). Equal neighbours are zero-length steps: every sampler leaves the latent exactly as it is
  // there, yet still makes that step's evaluations, as BFL's denoise loop does (evaluation_count stays a
  // function of the step count). `planned_evaluations` is the sampler's evaluation_count, the progress total.
  SamplingRun(const genplug_sample_request_t& request, Context& ctx, uint64_t planned_evaluations);

  const std::vector<double>& sigmas() const { return sigmas_; }
  size_t steps() const { return sigmas_.size() - 1; }
  Tensor latent() const { return latent_; }
  uint64_t seed() const { return seed_; }
  const TensorOps& ops() const { return ops_; }

  // The model's velocity at (x, sigma) into `out`. Throws genplug::Cancelled when the host asked to stop
  // (before the call through ctx, or through the callback's status); reports progress after each call.
  void velocity(Tensor x, double sigma, Tensor out);
  uint64_t evaluations() const { return evaluations_; }

  // Throws genplug::Cancelled when the host asked to stop.
  void check_cancelled() const { ctx_.check_cancelled(); }

 private:
  std::vector<double> sigmas_;
  Tensor latent_;
  TensorOps ops_;
  genplug_velocity_fn velocity_fn_;
  void* velocity_user_;
  uint64_t seed_;
  Context& ctx_;
  uint64_t planned_;
  uint64_t evaluations_ = 0;
};

}  // namespace genplug::flowmatch
