"""The median of repeated paired measurements with a distribution-free confidence interval, for benchmarks on
shared machines whose speed moves between runs (docs/performance.md): each round runs each program once, a ratio
per round cancels most of what the machine did to both, and the median of the ratios with its interval says what a run
resolved. Used by bench/posenc/bench_dype_sampling.sh and bench/flux_forward/compare_eager.sh."""
import math


def median_interval(sorted_values, coverage=0.95):
    """Distribution-free interval of the median: order statistics k and n + 1 - k, k the largest with
    P(Binomial(n, 1/2) < k) <= (1 - coverage) / 2 (None when n is too small for the coverage: 95 % needs 6)."""
    n = len(sorted_values)
    below, k = 0.0, 0
    while k < n:
        below += math.comb(n, k) / 2 ** n  # P(fewer than k + 1 of n below the median)
        if below > (1 - coverage) / 2:
            break
        k += 1
    return [sorted_values[k - 1], sorted_values[n - k]] if k >= 1 else None
