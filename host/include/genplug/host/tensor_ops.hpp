// genplug host — the tensor operations the host lends to scheduler plugins (scheduler.h), over DLPack memory.
// Two backends, no tensor library: the model's own operations (model.h, GENPLUG_EXT_MODEL_TENSOR_OPS) when it
// lends them — the latent then never leaves the model's device — and plain CPU loops (cpu_tensor_math.hpp)
// for CPU float32/float64/float16/bfloat16 tensors otherwise.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <genplug/genplug.h>
#include <genplug/host.hpp>

namespace genplug::host {

class HostTensorOps {
 public:
  // Without a model: CPU tensors only. With `model` and its `model_ops` (may be NULL: CPU loops), the model's
  // arithmetic serves every call; `model_ops` and `model` must outlive this object.
  HostTensorOps();
  HostTensorOps(genplug_model_t* model, const genplug_model_tensor_ops_t* model_ops);
  ~HostTensorOps();
  HostTensorOps(const HostTensorOps&) = delete;
  HostTensorOps& operator=(const HostTensorOps&) = delete;

  // Receives what the model's tensor operations log.
  void on_log(CallContext::LogFn log);
  // The C table to put in a genplug_sample_request_t; valid while this object lives.
  const genplug_tensor_ops_t* table() const;

  // A handle viewing `t`'s memory (not owned: `t` must outlive the handle). Release with release().
  genplug_tensor_handle view(const DLTensor& t);
  void release(genplug_tensor_handle h);
  // A new handle (release it) holding sum over i of coeffs[i] * inputs[i], made and computed by the same
  // operations the scheduler gets (the model's when it lends them). Throws HostError(runtime) with the reason.
  genplug_tensor_handle combine(const std::vector<genplug_tensor_handle>& inputs, const std::vector<double>& coeffs);
  // A DLTensor describing a handle's memory; valid until the handle is released or adopts another tensor.
  const DLTensor& dl(genplug_tensor_handle h) const;
  // Makes `t` (a model output: the velocity) the memory of handle `dst` without a copy when it matches the
  // handle's shape, dtype and device and is compact; otherwise copies it in (counted by copies()). Throws
  // HostError for a tensor of another number of elements.
  void adopt(genplug_tensor_handle dst, ManagedTensor t);
  // Tensor copies made by adopt() (zero on every path the project ships: predict returns compact tensors
  // in the latent's dtype and device).
  int64_t copies() const;
  // Number of handles not yet released (the scheduler must give back what it takes). Handles still live
  // when this object dies are freed then. The table's release() ignores handles it did not lend.
  int64_t live_handles() const;
  // The first failed call of the table, "op: STATUS: why" ("" if none). The table returns a status only, so a
  // scheduler can say that an operation failed but not why: the host adds this to the job's error.
  std::string first_failure() const;
  // From now on the table serves only the calling thread (scheduler.h: its members are [thread: caller], the
  // thread running sample()): a call from another fails with GENPLUG_E_INVALID_ARGUMENT, a release there is
  // ignored, and each is counted.
  void serve_only_this_thread();
  // Table calls refused because they came from another thread.
  int64_t foreign_thread_calls() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Copies a float DLTensor in CPU memory (float32/64/16, bfloat16, any strides) to a float32 vector, row-major.
// Throws HostError for a tensor on another device or of another dtype.
std::vector<float> to_cpu_float(const DLTensor& t);

}  // namespace genplug::host
