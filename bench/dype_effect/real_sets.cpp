#include "real_sets.hpp"

#include <algorithm>
#include <chrono>

#include "scene_render.hpp"
#include "scene_sampler.hpp"
#include "thumbnail.hpp"

namespace genplug::dype_effect {

mini::RadialSpectrum exact_spectrum(const Size& size, const Unit& unit) {
  return mini::radial_spectrum(mini::render_scene(unit.scene, size.width, size.height));
}

RealSets empty_real_sets(std::size_t units) {
  RealSets sets;
  sets.same.resize(units);
  sets.independent.resize(units);
  sets.grid.resize(std::min<std::size_t>(units, grid_units));
  sets.seconds.resize(units);
  return sets;
}

void add_real_unit(RealSets& sets, const Size& size, const Unit& unit, const mini::SlicedDirections& directions) {
  const auto start = std::chrono::steady_clock::now();
  const std::size_t i = std::size_t(unit.index);
  const mini::Image exact = mini::render_scene(unit.scene, size.width, size.height);
  sets.same.at(i) = score_picture(exact, unit, mini::radial_spectrum(exact), directions);
  if (i < sets.grid.size()) sets.grid[i] = grid_picture(exact);
  const mini::Scene independent = mini::sample_scene(independent_scene_seed_base + std::uint64_t(unit.index));
  sets.independent.at(i) =
      mini::project(directions, mini::thumbnail(mini::render_scene(independent, size.width, size.height)).planar);
  sets.seconds.at(i) = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace genplug::dype_effect
