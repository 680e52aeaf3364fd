// How tiled decode lays tiles along one axis and blends them (no torch; used by Autoencoder::decode_tiled).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace genplug::flux {

// Tiles along one axis of `size` latent pixels: the first at 0, then every (tile - overlap), the last flush
// with the end (so it may overlap its neighbour by more). Each tile also owns a part of the axis, split in
// the middle of each overlap, so the owned parts partition [0, size) (used for GroupNorm statistics).
struct AxisTiles {
  int64_t size, tile;
  std::vector<int64_t> starts;

  // Requires 1 <= tile <= size and 0 <= overlap < tile.
  AxisTiles(int64_t size_, int64_t tile_, int64_t overlap) : size(size_), tile(tile_), starts{0} {
    while (starts.back() + tile < size) starts.push_back(std::min(starts.back() + tile - overlap, size - tile));
  }
  // Owned part of tile i, relative to its start.
  int64_t own_begin(size_t i) const { return i == 0 ? 0 : boundary(i) - starts[i]; }
  int64_t own_end(size_t i) const { return i + 1 == starts.size() ? tile : boundary(i + 1) - starts[i]; }

 private:
  int64_t boundary(size_t i) const { return (starts[i] + starts[i - 1] + tile) / 2; }  // middle of the overlap
};

// Blend weight of each of a tile's `length` pixels along one axis: 1 inside, rising linearly as
// k/(ramp+1), k = 1..ramp, over the `ramp` pixels at a side with a neighbour (and falling alike at the other),
// never 0. Two tiles overlapping by exactly `ramp` pixels get weights summing to 1 there.
inline std::vector<float> blend_ramp(int64_t length, int64_t ramp, bool neighbour_before, bool neighbour_after) {
  std::vector<float> w(static_cast<size_t>(length), 1.0f);
  ramp = std::min(ramp, length);
  for (int64_t k = 0; k < ramp; ++k) {
    const float rising = static_cast<float>(k + 1) / static_cast<float>(ramp + 1);
    if (neighbour_before) w[k] = std::min(w[k], rising);
    if (neighbour_after) w[length - 1 - k] = std::min(w[length - 1 - k], rising);
  }
  return w;
}

}  // namespace genplug::flux
