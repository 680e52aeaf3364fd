#include "sampler.hpp"

#include <genplug/plugin.hpp>

namespace genplug::flowmatch {

std::unique_ptr<Sampler> make_sampler(const SamplerSettings& settings) {
  switch (settings.kind) {
    case SamplerKind::euler: return make_euler_sampler();
    case SamplerKind::heun: return make_heun_sampler();
    case SamplerKind::dpmpp_2m: return make_dpmpp_2m_sampler();
    case SamplerKind::euler_ancestral: return make_euler_ancestral_sampler(settings.eta);
  }
  throw Error(GENPLUG_E_INTERNAL, "unknown sampler kind");
}

}  // namespace genplug::flowmatch
