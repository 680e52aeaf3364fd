#include <genplug/flux/openblas_buffers.hpp>

#include <mutex>

#include <torch/torch.h>

#include <genplug/flux/blas_threads.hpp>
#include <genplug/internal/cpu_memory.hpp>

namespace genplug::flux {
namespace {

// OpenBLAS's BUFFER_SIZE on x86-64 (32 << 22), and the pages it maps besides (12 KiB in 0.3.21's mmap calls).
constexpr uint64_t kBufferBytes = (uint64_t(128) << 20) + (uint64_t(1) << 20);
// What the first product maps before the buffer: its tensors, a malloc arena where the caller is no main thread
// (64 MiB), a first OpenMP thread's stack.
constexpr uint64_t kFirstProductBytes = uint64_t(80) << 20;

std::string mib(uint64_t bytes) { return std::to_string((bytes + (uint64_t(1) << 20) - 1) >> 20) + " MiB"; }

std::mutex mapping;
bool mapped = false;

}  // namespace

uint64_t openblas_first_product_bytes() { return kBufferBytes + kFirstProductBytes; }

std::string openblas_buffer_refusal(std::optional<uint64_t> left) {
  if (!left || *left >= openblas_first_product_bytes()) return "";
  return "ulimit -v leaves " + mib(*left) + " of address space, and OpenBLAS's first product maps about " +
         mib(openblas_first_product_bytes()) + " (a " + mib(kBufferBytes) +
         " work buffer; 0.3.21 retries one it cannot map for ever): raise ulimit -v";
}

std::string map_openblas_buffers() {
  if (openblas_threads() <= 0) return "";  // another BLAS
  const std::lock_guard<std::mutex> lock(mapping);
  if (mapped) return "";
  if (std::string why = openblas_buffer_refusal(internal::address_space_left()); !why.empty()) return why;
  torch::NoGradGuard no_grad;
  // 256^3: past OpenBLAS's small-matrix kernels, which need no buffer, and over its threshold for its pool.
  const torch::Tensor a = torch::ones({256, 256});
  (void)torch::mm(a, a);
  mapped = true;
  return "";
}

}  // namespace genplug::flux
