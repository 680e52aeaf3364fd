#include <genplug/flux/openblas_buffers.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <torch/torch.h>

#include <genplug/flux/blas_threads.hpp>
#include <genplug/internal/cpu_memory.hpp>

#include "worker_threads.hpp"

namespace genplug::flux {
namespace {

// OpenBLAS's BUFFER_SIZE on x86-64 (32 << 22), and the pages it maps besides (12 KiB in 0.3.21's mmap calls).
constexpr uint64_t kBufferBytes = (uint64_t(128) << 20) + (uint64_t(1) << 20);

std::string mib(uint64_t bytes) { return std::to_string((bytes + (uint64_t(1) << 20) - 1) >> 20) + " MiB"; }

// 256^3: over OpenBLAS's threshold for its pool, and past its small-matrix kernels, which need no buffer.
void product() {
  const torch::Tensor a = torch::ones({256, 256});
  (void)torch::mm(a, a);
}

std::mutex mapping;
bool mapped = false;

}  // namespace

uint64_t openblas_buffer_bytes(int callers) {
  const uint64_t n = uint64_t(std::max(callers, 1));
  return n * kBufferBytes + (n - 1) * internal::thread_stack_bytes();
}

std::string openblas_buffer_refusal(std::optional<uint64_t> left) {
  if (!left || *left >= openblas_buffer_bytes(1)) return "";
  return "ulimit -v leaves " + mib(*left) + " of address space, and OpenBLAS maps a " + mib(kBufferBytes) +
         " work buffer at its first product (0.3.21 retries one it cannot map for ever): raise ulimit -v";
}

std::string map_openblas_buffers() {
  const int pool = openblas_threads();
  if (pool <= 0) return "";  // another BLAS
  const std::lock_guard<std::mutex> lock(mapping);
  if (mapped) return "";
  if (std::string why = openblas_buffer_refusal(internal::address_space_left()); !why.empty()) return why;
  torch::NoGradGuard no_grad;
  product();
  // The other callers' buffers only where they fit: a job that needs them (the blocked attention, at large sizes)
  // is held to the address space by the host's memory check.
  const std::optional<uint64_t> left = internal::address_space_left();
  if (pool > 1 && (!left || *left >= openblas_buffer_bytes(pool) + (uint64_t(16) << 20))) {
    const SerialBlas serial;  // each caller's product on its own thread, with a buffer each
    std::atomic<int> arrived{0};
    run_on_threads(pool, [&] {
      ++arrived;  // together, so that their products overlap; not for ever where fewer threads started
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      while (arrived.load() < pool && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      for (int i = 0; i < 4; ++i) product();
    });
  }
  mapped = true;
  return "";
}

}  // namespace genplug::flux
