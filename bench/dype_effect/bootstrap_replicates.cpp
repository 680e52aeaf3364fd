#include "bootstrap_replicates.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "sliced_wasserstein.hpp"

namespace genplug::dype_effect {
namespace {

// For every direction k, the picture indices sorted by their k-th projection.
std::vector<std::vector<int>> sorted_orders(const std::vector<std::vector<double>>& projections) {
  const std::size_t directions = projections.front().size();
  std::vector<std::vector<int>> orders(directions, std::vector<int>(projections.size()));
  for (std::size_t k = 0; k < directions; ++k) {
    std::vector<int>& order = orders[k];
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return projections[a][k] < projections[b][k]; });
  }
  return orders;
}

std::vector<int> multiplicities(const std::vector<int>& indices, std::size_t count) {
  std::vector<int> m(count, 0);
  for (int i : indices) ++m.at(std::size_t(i));
  return m;
}

// (1/n) sum_i |a_(i) - b_(i)| where a_(.) lists picture order[j] of `a` multiplicity times, in sorted order.
double w1_with_multiplicities(const std::vector<std::vector<double>>& a, const std::vector<int>& a_order,
                              const std::vector<int>& a_count, const std::vector<std::vector<double>>& b,
                              const std::vector<int>& b_order, const std::vector<int>& b_count, std::size_t k,
                              std::size_t n) {
  std::size_t ia = 0, ib = 0;
  int left_a = 0, left_b = 0;
  double sum = 0;
  for (std::size_t done = 0; done < n;) {
    while (left_a == 0) left_a = a_count[a_order[ia++]];
    while (left_b == 0) left_b = b_count[b_order[ib++]];
    const int take = std::min(left_a, left_b);
    sum += take * std::abs(a[a_order[ia - 1]][k] - b[b_order[ib - 1]][k]);
    left_a -= take, left_b -= take, done += std::size_t(take);
  }
  return sum / double(n);
}

}  // namespace

Resampling make_resampling(int units, int resamples) {
  Resampling r;
  r.units = units;
  r.unit_indices = mini::bootstrap_resamples(units, resamples, mini::bootstrap_seed);
  r.independent_indices = mini::bootstrap_resamples(units, resamples, independent_resample_seed);
  return r;
}

Replicates replicate(const mini::UnitStatistic& statistic, const Resampling& resampling) {
  Replicates r;
  r.full = statistic(mini::every_unit(resampling.units));
  r.resampled.reserve(resampling.unit_indices.size());
  for (const std::vector<int>& units : resampling.unit_indices) r.resampled.push_back(statistic(units));
  return r;
}

Replicates replicate_swd(const std::vector<std::vector<double>>& generated,
                         const std::vector<std::vector<double>>& independent, const Resampling& resampling) {
  if (generated.size() != std::size_t(resampling.units) || independent.size() != generated.size())
    throw std::invalid_argument("replicate_swd: " + std::to_string(generated.size()) + " generated and " +
                                std::to_string(independent.size()) + " independent pictures for " +
                                std::to_string(resampling.units) + " units");
  Replicates r;
  r.full = mini::sliced_wasserstein(generated, independent);
  const std::vector<std::vector<int>> g_order = sorted_orders(generated), i_order = sorted_orders(independent);
  const std::size_t n = generated.size(), directions = generated.front().size();
  r.resampled.reserve(resampling.unit_indices.size());
  for (std::size_t s = 0; s < resampling.unit_indices.size(); ++s) {
    const std::vector<int> g_count = multiplicities(resampling.unit_indices[s], n);
    const std::vector<int> i_count = multiplicities(resampling.independent_indices[s], n);
    double sum = 0;
    for (std::size_t k = 0; k < directions; ++k)
      sum += w1_with_multiplicities(generated, g_order[k], g_count, independent, i_order[k], i_count, k, n);
    r.resampled.push_back(sum / double(directions));
  }
  return r;
}

Comparison compare(const Replicates& a, const Replicates& b, double confidence) {
  Comparison c;
  std::vector<double> deltas;
  for (std::size_t i = 0; i < a.resampled.size() && i < b.resampled.size(); ++i) {
    const double d = a.resampled[i] - b.resampled[i];
    if (std::isfinite(d)) deltas.push_back(d);
  }
  c.resamples_used = int(deltas.size());
  const double delta = a.full - b.full;
  if (!std::isfinite(delta) || deltas.empty()) return c;
  c.delta = delta;
  c.lo = mini::quantile_type7(deltas, (1.0 - confidence) / 2);
  c.hi = mini::quantile_type7(deltas, (1.0 + confidence) / 2);
  return c;
}

}  // namespace genplug::dype_effect
