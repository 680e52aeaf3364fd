// Paired bootstrap intervals for differences between two configurations rendered on the same units
// (docs/dype-effect.md section 3). Unit i of config A and unit i of config B share prompt and noise seed, so a
// resample draws unit indices once and both configs' statistics are recomputed on that same index vector.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace genplug::mini {

inline constexpr int bootstrap_resample_count = 2000;
inline constexpr std::uint64_t bootstrap_seed = 0x5EED;
inline constexpr double bootstrap_confidence = 0.95;

// `resample_count` vectors of `unit_count` indices in [0, unit_count), drawn with replacement from one
// SplitMix64 stream seeded by `seed` (rejection sampling, so uniform), resample by resample, in order.
std::vector<std::vector<int>> bootstrap_resamples(int unit_count, int resample_count = bootstrap_resample_count,
                                                  std::uint64_t seed = bootstrap_seed);

// Type-7 quantile (R's default, numpy's "linear"): with x sorted and h = (n - 1) p,
// Q(p) = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]). Needs n >= 1, p in [0, 1], no NaN.
double quantile_type7(std::vector<double> values, double p);

// A statistic of a sample of units given by their indices (repeats allowed), e.g. a mean or a ratio of sums.
using UnitStatistic = std::function<double(const std::vector<int>& units)>;

// mean_{i in units} values[i].
UnitStatistic mean_over_units(std::vector<double> values);
// sum_{i in units} numerators[i] / sum_{i in units} denominators[i] (equal lengths, else std::invalid_argument).
UnitStatistic ratio_of_sums_over_units(std::vector<double> numerators, std::vector<double> denominators);

// 0, 1, ..., n - 1: the full sample.
std::vector<int> every_unit(int unit_count);

// delta = a(all) - b(all) on the full sample; [lo, hi] = type-7 quantiles (1 - c)/2 and (1 + c)/2 of
// delta*_r = a(units_r) - b(units_r) over the resamples, each evaluated on the same index vector for both.
struct PairedDelta {
  double delta = 0;
  double lo = 0;
  double hi = 0;
};

// The full sample is 0 .. n-1 with n the resamples' common length (resamples must be non-empty and of one length).
PairedDelta paired_bootstrap_delta(const UnitStatistic& a, const UnitStatistic& b,
                                   const std::vector<std::vector<int>>& resamples,
                                   double confidence = bootstrap_confidence);

// The same for the difference of means of per-unit values (a[i], b[i] of unit i; lengths = the resamples').
PairedDelta paired_bootstrap_mean_delta(const std::vector<double>& a, const std::vector<double>& b,
                                        const std::vector<std::vector<int>>& resamples,
                                        double confidence = bootstrap_confidence);

}  // namespace genplug::mini
