// The exact-render sets of a size (docs/dype-effect.md sections 2.3-2.5): R_same, the exact renders of the units'
// own scenes (the "real" row: scored like a render, and the spectrum each render's hf_dev is measured against), and
// R_ind, exact renders of independent grammar scenes sample_scene(9 000 000 + i), the set SWD compares with.
// Filled unit by unit (add_real_unit), so the work can be spread between renders.
#pragma once
#include <vector>

#include "experiment.hpp"
#include "image.hpp"
#include "radial_spectrum.hpp"
#include "render_record.hpp"
#include "sliced_wasserstein.hpp"

namespace genplug::dype_effect {

struct RealSets {
  std::vector<RenderRecord> same;                // R_same, one per unit (hf_dev = mf_dev = 0)
  std::vector<std::vector<double>> independent;  // R_ind's projections, as many as units
  std::vector<mini::Image> grid;                 // R_same's first units, grid-scaled
  std::vector<double> seconds;                   // per unit: both exact renders and their scores
};

// Slots for `units` units.
RealSets empty_real_sets(std::size_t units);

// Fills unit `unit`'s slots: R_same's record and grid picture, R_ind's projections. Different units may be
// filled from different threads.
void add_real_unit(RealSets& sets, const Size& size, const Unit& unit, const mini::SlicedDirections& directions);

// The spectrum of the exact render of `unit` at `size` (what add_real_unit stores in same[i].raps).
mini::RadialSpectrum exact_spectrum(const Size& size, const Unit& unit);

}  // namespace genplug::dype_effect
