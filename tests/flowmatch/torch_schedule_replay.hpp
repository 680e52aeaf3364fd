// Which of torch 1.13's CPU kernels made a golden BFL schedule, and what the plugin must give for it.
//
// torch picks its linspace kernel by the CPU (AVX2, AVX-512, or the scalar dispatch), and from 9 or 15 steps on the
// kernels' last bits differ (schedule_math.hpp). The plugin replays the AVX2 kernel's, which made the shipped set;
// a set made where torch ran another kernel holds that kernel's times. So a set's schedule must equal one kernel's
// replay bit for bit, and the plugin equals the set where that kernel is AVX2's, else AVX2's replay.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "schedule_math.hpp"

namespace genplug::test {

// AVX2's first: it is the one taken where kernels agree (below 9 steps all do).
inline constexpr const flowmatch::TorchLinspaceKernel* kTorchKernels[] = {
    &flowmatch::kTorchAvx2, &flowmatch::kTorchAvx512, &flowmatch::kTorchScalar};

// A golden entry's mu, in `storage`; none (unshifted) for a null one.
inline const double* entry_mu(const nlohmann::json& entry, double& storage) {
  if (entry.at("mu").is_null()) return nullptr;
  storage = entry.at("mu").get<double>();
  return &storage;
}

inline const flowmatch::TorchLinspaceKernel* torch_kernel_of(const std::vector<double>& golden, uint32_t steps,
                                                             const double* mu) {
  for (const auto* kernel : kTorchKernels)
    if (flowmatch::bfl_schedule_f32(steps, mu, *kernel) == golden) return kernel;
  return nullptr;
}

// The plugin's expected sigmas for `golden`; empty where no kernel's replay gives the set's values.
inline std::vector<double> plugin_sigmas_for(const std::vector<double>& golden, uint32_t steps, const double* mu) {
  const flowmatch::TorchLinspaceKernel* kernel = torch_kernel_of(golden, steps, mu);
  if (!kernel) return {};
  return kernel == &flowmatch::kTorchAvx2 ? golden : flowmatch::bfl_schedule_f32(steps, mu);
}

}  // namespace genplug::test
