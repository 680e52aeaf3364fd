// Random scenes of the grammar, the same for a seed on every platform (SplitMix64, no std:: distributions).
#pragma once
#include <cstdint>

#include "scene.hpp"

namespace genplug::mini {

// A valid, canonical scene drawn uniformly: 1-3 objects (count uniform), distinct cells, colour and kind
// uniform and independent (two objects may share a colour or a kind); pattern uniform, colours uniform and
// the two of a pattern distinct.
Scene sample_scene(std::uint64_t seed);

}  // namespace genplug::mini
