#include "sampling_run.hpp"
#include "number_text.hpp"

#include <cmath>
#include <string>

namespace genplug::flowmatch {

namespace {

void check_status(genplug_status status, const char* what) {
  if (status == GENPLUG_OK) return;
  if (status == GENPLUG_E_CANCELLED) throw Cancelled();
  throw Error(status, std::string("host tensor operation ") + what + " failed (status " + std::to_string(status) + ")");
}

const genplug_tensor_ops_t& checked_ops(const genplug_tensor_ops_t* ops) {
  if (!ops) throw InvalidArgument("request.ops: NULL");
  if (!GENPLUG_HAS_FIELD(ops, genplug_tensor_ops_t, normal))
    throw InvalidArgument("request.ops: struct_size " + std::to_string(ops->struct_size) + " is too small");
  if (!ops->linear_combination || !ops->alloc_like || !ops->release)
    throw InvalidArgument("request.ops: linear_combination, alloc_like and release are required");
  return *ops;
}

std::vector<double> checked_sigmas(const genplug_sample_request_t& r) {
  if (r.sigma_count < 2)
    throw InvalidArgument("request.sigma_count: needs at least 2 sigmas (one step), got " + std::to_string(r.sigma_count));
  std::vector<double> s(r.sigmas, r.sigmas + r.sigma_count);
  for (size_t i = 0; i < s.size(); ++i) {
    const std::string field = "request.sigmas[" + std::to_string(i) + "]";
    if (!std::isfinite(s[i]) || s[i] < 0.0 || s[i] > 1.0)
      throw InvalidArgument(field + ": must be within [0, 1], got " + number_text(s[i]));
    if (i > 0 && s[i] > s[i - 1])
      throw InvalidArgument(field + ": must not exceed the previous sigma " + number_text(s[i - 1]) +
                            " (a schedule never increases), got " + number_text(s[i]));
  }
  return s;
}

}  // namespace

void TensorOps::combine(Tensor out, std::initializer_list<std::pair<Tensor, double>> terms) const {
  Tensor inputs[4];
  double coeffs[4];
  if (terms.size() > 4) throw Error(GENPLUG_E_INTERNAL, "combine: at most 4 terms");
  uint32_t n = 0;
  for (const auto& [tensor, coeff] : terms) {
    inputs[n] = tensor;
    coeffs[n] = coeff;
    ++n;
  }
  check_status(ops_.linear_combination(&ops_, out, n, inputs, coeffs), "linear_combination");
}

void TensorOps::require_normal() const {
  if (!ops_.normal) throw Error(GENPLUG_E_UNSUPPORTED, "this sampler needs the host's normal() tensor operation");
}

void TensorOps::normal(Tensor out, uint64_t seed, uint64_t stream) const {
  require_normal();
  check_status(ops_.normal(&ops_, out, seed, stream), "normal");
}

Tensor TensorOps::alloc_like(Tensor like) const {
  Tensor out = nullptr;
  check_status(ops_.alloc_like(&ops_, like, &out), "alloc_like");
  if (!out) throw Error(GENPLUG_E_FAILED, "host tensor operation alloc_like returned no tensor");
  return out;
}

void TensorOps::release(Tensor t) const noexcept {
  if (t) ops_.release(&ops_, t);
}

SamplingRun::SamplingRun(const genplug_sample_request_t& request, Context& ctx, uint64_t planned_evaluations)
    : sigmas_(checked_sigmas(request)),
      latent_(request.latent),
      ops_(checked_ops(request.ops)),
      velocity_fn_(request.velocity),
      velocity_user_(request.velocity_user),
      seed_(request.seed),
      ctx_(ctx),
      planned_(planned_evaluations) {
  if (!latent_) throw InvalidArgument("request.latent: NULL");
  if (!velocity_fn_) throw InvalidArgument("request.velocity: NULL");
}

void SamplingRun::velocity(Tensor x, double sigma, Tensor out) {
  ctx_.check_cancelled();
  const genplug_status status = velocity_fn_(velocity_user_, x, sigma, out);
  ++evaluations_;
  if (status == GENPLUG_E_CANCELLED) throw Cancelled();
  if (status != GENPLUG_OK)
    throw Error(status, "the host's velocity callback failed at sigma " + number_text(sigma) + " (status " +
                            std::to_string(status) + ")");
  if (ctx_.progress(evaluations_, planned_, "sampling")) throw Cancelled();
}

}  // namespace genplug::flowmatch
