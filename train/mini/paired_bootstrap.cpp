#include "paired_bootstrap.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "rng.hpp"

namespace genplug::mini {

std::vector<std::vector<int>> bootstrap_resamples(int unit_count, int resample_count, std::uint64_t seed) {
  if (unit_count < 1 || resample_count < 1)
    throw std::invalid_argument("bootstrap_resamples: " + std::to_string(resample_count) + " resamples of " +
                                std::to_string(unit_count) + " units (need >= 1 each)");
  SplitMix64 rng(seed);
  std::vector<std::vector<int>> resamples(resample_count, std::vector<int>(unit_count));
  for (std::vector<int>& units : resamples)
    for (int& unit : units) unit = static_cast<int>(rng.below(static_cast<std::uint32_t>(unit_count)));
  return resamples;
}

double quantile_type7(std::vector<double> values, double p) {
  if (values.empty() || !(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument("quantile_type7: p = " + std::to_string(p) + " of " + std::to_string(values.size()) +
                                " values (need p in [0, 1] and >= 1 value)");
  if (std::any_of(values.begin(), values.end(), [](double v) { return std::isnan(v); }))
    throw std::domain_error("quantile_type7: NaN among the values");
  std::sort(values.begin(), values.end());
  const double h = (values.size() - 1) * p;
  const std::size_t below = static_cast<std::size_t>(std::floor(h));
  if (below + 1 >= values.size()) return values.back();
  return values[below] + (h - below) * (values[below + 1] - values[below]);
}

UnitStatistic mean_over_units(std::vector<double> values) {
  return [values = std::move(values)](const std::vector<int>& units) {
    double sum = 0;
    for (int i : units) sum += values.at(i);
    return sum / static_cast<double>(units.size());
  };
}

UnitStatistic ratio_of_sums_over_units(std::vector<double> numerators, std::vector<double> denominators) {
  if (numerators.size() != denominators.size())
    throw std::invalid_argument("ratio_of_sums_over_units: " + std::to_string(numerators.size()) + " numerators, " +
                                std::to_string(denominators.size()) + " denominators");
  return [numerators = std::move(numerators), denominators = std::move(denominators)](const std::vector<int>& units) {
    double top = 0, bottom = 0;
    for (int i : units) top += numerators.at(i), bottom += denominators.at(i);
    return top / bottom;
  };
}

std::vector<int> every_unit(int unit_count) {
  std::vector<int> units(std::max(unit_count, 0));
  std::iota(units.begin(), units.end(), 0);
  return units;
}

PairedDelta paired_bootstrap_delta(const UnitStatistic& a, const UnitStatistic& b,
                                   const std::vector<std::vector<int>>& resamples, double confidence) {
  if (resamples.empty()) throw std::invalid_argument("paired_bootstrap_delta: no resamples");
  if (!(confidence > 0.0 && confidence < 1.0))
    throw std::invalid_argument("paired_bootstrap_delta: confidence " + std::to_string(confidence) +
                                " outside (0, 1)");
  const std::size_t n = resamples.front().size();
  std::vector<double> deltas;
  deltas.reserve(resamples.size());
  for (const std::vector<int>& units : resamples) {
    if (units.size() != n) throw std::invalid_argument("paired_bootstrap_delta: resamples of different lengths");
    deltas.push_back(a(units) - b(units));
  }
  const std::vector<int> all = every_unit(static_cast<int>(n));
  return {a(all) - b(all), quantile_type7(deltas, (1.0 - confidence) / 2), quantile_type7(deltas, (1.0 + confidence) / 2)};
}

PairedDelta paired_bootstrap_mean_delta(const std::vector<double>& a, const std::vector<double>& b,
                                        const std::vector<std::vector<int>>& resamples, double confidence) {
  if (a.size() != b.size() || (!resamples.empty() && resamples.front().size() != a.size()))
    throw std::invalid_argument("paired_bootstrap_mean_delta: " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " values for resamples of " +
                                std::to_string(resamples.empty() ? 0 : resamples.front().size()) + " units");
  return paired_bootstrap_delta(mean_over_units(a), mean_over_units(b), resamples, confidence);
}

}  // namespace genplug::mini
