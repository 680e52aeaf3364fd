#include "scene_sampler.hpp"

#include <numeric>

#include "rng.hpp"

namespace genplug::mini {
namespace {

// The first `count` cells of a random permutation of the 9 (partial Fisher-Yates shuffle).
std::vector<Position> distinct_positions(SplitMix64& rng, int count) {
  std::array<int, position_count> cells;
  std::iota(cells.begin(), cells.end(), 0);
  std::vector<Position> out;
  for (int i = 0; i < count; ++i) {
    const int j = i + static_cast<int>(rng.below(position_count - i));
    std::swap(cells[i], cells[j]);
    out.push_back(Position(cells[i]));
  }
  return out;
}

Background sample_background(SplitMix64& rng) {
  Background b;
  b.pattern = Pattern(rng.below(pattern_count));
  b.first = BackgroundColour(rng.below(background_colour_count));
  b.second = b.first;
  if (b.pattern != Pattern::plain) {  // any other colour: skip over `first`
    const int other = static_cast<int>(rng.below(background_colour_count - 1));
    b.second = BackgroundColour(other >= static_cast<int>(b.first) ? other + 1 : other);
  }
  return b;
}

}  // namespace

Scene sample_scene(std::uint64_t seed) {
  SplitMix64 rng(seed);
  const int count = 1 + static_cast<int>(rng.below(max_objects));
  Scene scene;
  for (Position position : distinct_positions(rng, count)) {
    const Colour colour = Colour(rng.below(colour_count));
    const Kind kind = Kind(rng.below(kind_count));
    scene.objects.push_back(SceneObject{colour, kind, position});
  }
  scene.background = sample_background(rng);
  return canonical(std::move(scene));
}

}  // namespace genplug::mini
