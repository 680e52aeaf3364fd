// Distribution distance between two equal-size sets of pictures (docs/dype-effect.md section 2.4): the sliced
// Wasserstein distance, SWD = mean over K random unit directions theta_k of the 1-D Wasserstein-1 distance
// between the sets' projections <theta_k, x>. Pictures enter as vectors x in R^D (a thumbnail's planar values).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace genplug::mini {

inline constexpr int sliced_direction_count = 256;

// Unit direction k in R^D: D standard normals from SplitMix64 seeded by D * 2^32 + k (Box-Muller, both outputs
// of each pair used in turn), divided by their norm, so N(0, I_D) / ||.||: uniform on the sphere. The same for
// every set compared at one D, on every platform. D and k must be below 2^32.
std::vector<double> sliced_direction(std::size_t dimension, std::uint32_t k);

// Directions 0 .. count-1 in R^D.
struct SlicedDirections {
  std::size_t dimension = 0;
  std::vector<std::vector<double>> directions;
};
SlicedDirections sliced_directions(std::size_t dimension, int count = sliced_direction_count);

// The projections <theta_k, x>, k < K, of one picture; x must have D entries (else std::invalid_argument).
std::vector<double> project(const SlicedDirections& directions, const std::vector<float>& x);

// W1 of two equal-size samples of the line: (1/n) sum_i |a_(i) - b_(i)| over the sorted values (the optimal
// pairing on a line matches order statistics). Sizes must be equal and non-zero (else std::invalid_argument).
double wasserstein1_sorted(std::vector<double> a, std::vector<double> b);

// SWD = mean_k W1({p_k : p in a}, {p_k : p in b}), where a and b hold one projection vector (length K) per
// picture. Both sets must be non-empty, of equal size, and every vector of the same length K >= 1.
double sliced_wasserstein(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b);

}  // namespace genplug::mini
