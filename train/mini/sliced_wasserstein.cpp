#include "sliced_wasserstein.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "rng.hpp"

namespace genplug::mini {
namespace {

// Box-Muller: two independent N(0,1) from u1 in (0,1] and u2 in [0,1): sqrt(-2 ln u1) (cos, sin)(2 pi u2).
void normal_pair(SplitMix64& rng, double& first, double& second) {
  constexpr double two_pi = 6.283185307179586;
  const double u1 = 1.0 - rng.unit(), u2 = rng.unit();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  first = radius * std::cos(two_pi * u2);
  second = radius * std::sin(two_pi * u2);
}

}  // namespace

std::vector<double> sliced_direction(std::size_t dimension, std::uint32_t k) {
  if (dimension == 0 || dimension > 0xFFFFFFFFu)
    throw std::invalid_argument("sliced_direction: dimension " + std::to_string(dimension) + " outside [1, 2^32)");
  SplitMix64 rng((static_cast<std::uint64_t>(dimension) << 32) | k);
  std::vector<double> theta(dimension);
  for (std::size_t j = 0; j < dimension; j += 2) {
    double first, second;
    normal_pair(rng, first, second);
    theta[j] = first;
    if (j + 1 < dimension) theta[j + 1] = second;
  }
  double squared_norm = 0;
  for (double t : theta) squared_norm += t * t;
  const double norm = std::sqrt(squared_norm);
  for (double& t : theta) t /= norm;
  return theta;
}

SlicedDirections sliced_directions(std::size_t dimension, int count) {
  if (count < 1) throw std::invalid_argument("sliced_directions: count " + std::to_string(count) + " < 1");
  SlicedDirections set{dimension, {}};
  for (int k = 0; k < count; ++k) set.directions.push_back(sliced_direction(dimension, static_cast<std::uint32_t>(k)));
  return set;
}

std::vector<double> project(const SlicedDirections& directions, const std::vector<float>& x) {
  if (x.size() != directions.dimension)
    throw std::invalid_argument("project: a vector of " + std::to_string(x.size()) + " values for directions in R^" +
                                std::to_string(directions.dimension));
  std::vector<double> projections;
  projections.reserve(directions.directions.size());
  for (const std::vector<double>& theta : directions.directions) {
    double dot = 0;
    for (std::size_t j = 0; j < x.size(); ++j) dot += theta[j] * x[j];
    projections.push_back(dot);
  }
  return projections;
}

double wasserstein1_sorted(std::vector<double> a, std::vector<double> b) {
  if (a.empty() || a.size() != b.size())
    throw std::invalid_argument("wasserstein1_sorted: samples of " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " values (need equal, non-zero sizes)");
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(a[i] - b[i]);
  return sum / static_cast<double>(a.size());
}

double sliced_wasserstein(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  if (a.empty() || a.size() != b.size())
    throw std::invalid_argument("sliced_wasserstein: sets of " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " pictures (need equal, non-zero sizes)");
  const std::size_t directions = a.front().size();
  const auto has_k_projections = [directions](const std::vector<double>& p) { return p.size() == directions; };
  if (directions == 0 || !std::all_of(a.begin(), a.end(), has_k_projections) ||
      !std::all_of(b.begin(), b.end(), has_k_projections))
    throw std::invalid_argument("sliced_wasserstein: every picture needs the same number (>= 1) of projections");
  double sum = 0;
  std::vector<double> column_a(a.size()), column_b(b.size());
  for (std::size_t k = 0; k < directions; ++k) {
    for (std::size_t i = 0; i < a.size(); ++i) column_a[i] = a[i][k], column_b[i] = b[i][k];
    sum += wasserstein1_sorted(column_a, column_b);
  }
  return sum / static_cast<double>(directions);
}

}  // namespace genplug::mini
