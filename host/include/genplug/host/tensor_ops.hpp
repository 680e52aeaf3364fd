// genplug host — the tensor operations the host lends to scheduler plugins (scheduler.h), over DLPack
// memory. Backed by libtorch so latents may live on any device the model uses; no torch type leaks here.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <genplug/genplug.h>

namespace genplug::host {

class HostTensorOps {
 public:
  HostTensorOps();
  ~HostTensorOps();
  HostTensorOps(const HostTensorOps&) = delete;
  HostTensorOps& operator=(const HostTensorOps&) = delete;

  // The C table to put in a genplug_sample_request_t; valid while this object lives.
  const genplug_tensor_ops_t* table() const;

  // A handle viewing `t`'s memory (not owned: `t` must outlive the handle). Release with release().
  genplug_tensor_handle view(const DLTensor& t);
  // A new zeroed tensor shaped like `t`. Release with release().
  genplug_tensor_handle alloc_like(const DLTensor& t);
  void release(genplug_tensor_handle h);
  // A DLTensor describing a handle's memory; valid while the handle lives.
  const DLTensor& dl(genplug_tensor_handle h) const;
  // dst = src (converting dtype/device as needed). Shapes must have the same number of elements.
  void copy(const DLTensor& src, genplug_tensor_handle dst);
  // Number of handles not yet released (the scheduler must give back what it takes). Handles still live
  // when this object dies are freed then. The table's release() ignores handles it did not lend.
  int64_t live_handles() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Copies any float DLTensor (CPU or device) to a float32 CPU vector, row-major.
std::vector<float> to_cpu_float(const DLTensor& t);

}  // namespace genplug::host
