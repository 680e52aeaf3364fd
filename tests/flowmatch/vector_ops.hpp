// A test host's tensor operations (genplug_tensor_ops_t) on std::vector<double>, with the bookkeeping the
// tests check: live scratch tensors, alloc/normal call counts, and an injectable alloc failure.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <vector>

#include <genplug/scheduler.h>

namespace genplug::test {

struct VectorTensor {
  std::vector<double> data;
};

class VectorOps {
 public:
  VectorOps() {
    table_.struct_size = sizeof(table_);
    table_.host_data = this;
    table_.linear_combination = &linear_combination;
    table_.alloc_like = &alloc_like;
    table_.release = &release;
    table_.normal = &normal;
  }
  ~VectorOps() {
    for (VectorTensor* t : live_) delete t;
  }
  VectorOps(const VectorOps&) = delete;
  VectorOps& operator=(const VectorOps&) = delete;

  const genplug_tensor_ops_t* table() const { return &table_; }
  // A host-owned tensor (the latent) as a handle; not counted as scratch.
  static genplug_tensor_handle handle(VectorTensor& t) { return reinterpret_cast<genplug_tensor_handle>(&t); }
  static VectorTensor& tensor(genplug_tensor_handle h) { return *reinterpret_cast<VectorTensor*>(h); }

  size_t live() const { return live_.size(); }
  uint64_t allocations() const { return allocations_; }
  uint64_t normal_calls() const { return normal_calls_; }
  uint64_t bad_releases() const { return bad_releases_; }
  // A host without normal() (NULL: the samplers that need it refuse).
  void drop_normal() { table_.normal = nullptr; }
  // alloc_like fails with GENPLUG_E_OUT_OF_MEMORY from the n-th call on (1-based; 0 = never).
  void fail_allocation_from(uint64_t n) { fail_from_ = n; }

  // The noise normal(seed, stream) gives: splitmix64 of (seed, stream, index), Box-Muller.
  static double noise_value(uint64_t seed, uint64_t stream, uint64_t index) {
    const double u1 = uniform(seed, stream, 2 * index), u2 = uniform(seed, stream, 2 * index + 1);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
  }

 private:
  static VectorOps& self(const genplug_tensor_ops_t* ops) { return *static_cast<VectorOps*>(ops->host_data); }

  static uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  // In (0, 1].
  static double uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    const uint64_t bits = splitmix(splitmix(splitmix(seed) ^ stream) ^ i);
    return (static_cast<double>(bits >> 11) + 1.0) * 0x1.0p-53;
  }

  static genplug_status linear_combination(const genplug_tensor_ops_t*, genplug_tensor_handle out, uint32_t count,
                                           const genplug_tensor_handle* inputs, const double* coeffs) {
    if (!out || (count && (!inputs || !coeffs))) return GENPLUG_E_INVALID_ARGUMENT;
    std::vector<double> acc(tensor(out).data.size(), 0.0);  // aside first: out may be an input
    for (uint32_t i = 0; i < count; ++i) {
      const std::vector<double>& in = tensor(inputs[i]).data;
      if (in.size() != acc.size()) return GENPLUG_E_INVALID_ARGUMENT;
      for (size_t j = 0; j < acc.size(); ++j) acc[j] += coeffs[i] * in[j];
    }
    tensor(out).data = std::move(acc);
    return GENPLUG_OK;
  }
  static genplug_status alloc_like(const genplug_tensor_ops_t* ops, genplug_tensor_handle like,
                                   genplug_tensor_handle* out) {
    VectorOps& s = self(ops);
    if (!like || !out) return GENPLUG_E_INVALID_ARGUMENT;
    *out = nullptr;
    ++s.allocations_;
    if (s.fail_from_ && s.allocations_ >= s.fail_from_) return GENPLUG_E_OUT_OF_MEMORY;
    // Contents are unspecified: NaN makes a sampler that reads before writing fail loudly.
    auto* t = new VectorTensor{std::vector<double>(tensor(like).data.size(), std::numeric_limits<double>::quiet_NaN())};
    s.live_.insert(t);
    *out = handle(*t);
    return GENPLUG_OK;
  }
  static void release(const genplug_tensor_ops_t* ops, genplug_tensor_handle h) {
    VectorOps& s = self(ops);
    auto* t = &tensor(h);
    if (!s.live_.erase(t)) {
      ++s.bad_releases_;  // not ours, or released twice
      return;
    }
    delete t;
  }
  static genplug_status normal(const genplug_tensor_ops_t* ops, genplug_tensor_handle out, uint64_t seed,
                               uint64_t stream) {
    if (!out) return GENPLUG_E_INVALID_ARGUMENT;
    ++self(ops).normal_calls_;
    std::vector<double>& d = tensor(out).data;
    for (size_t j = 0; j < d.size(); ++j) d[j] = noise_value(seed, stream, j);
    return GENPLUG_OK;
  }

  genplug_tensor_ops_t table_{};
  std::set<VectorTensor*> live_;
  uint64_t allocations_ = 0, normal_calls_ = 0, bad_releases_ = 0, fail_from_ = 0;
};

}  // namespace genplug::test
