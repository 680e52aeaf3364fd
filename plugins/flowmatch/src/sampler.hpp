// A sampling algorithm: integrates the flow from sigmas[0] to the last sigma through a SamplingRun.
#pragma once

#include <cstdint>
#include <memory>

#include "config.hpp"
#include "sampling_run.hpp"

namespace genplug::flowmatch {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // Exactly the number of velocity calls run() makes for a schedule of `sigma_count` values.
  virtual uint64_t evaluation_count(uint32_t sigma_count) const = 0;
  // Advances run.latent() in place over run.sigmas().
  virtual void run(SamplingRun& run) const = 0;
};

std::unique_ptr<Sampler> make_euler_sampler();
std::unique_ptr<Sampler> make_heun_sampler();
std::unique_ptr<Sampler> make_dpmpp_2m_sampler();
std::unique_ptr<Sampler> make_euler_ancestral_sampler(double eta);

std::unique_ptr<Sampler> make_sampler(const SamplerSettings& settings);

}  // namespace genplug::flowmatch
