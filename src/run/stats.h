/* stats.h - latency statistics of one cell's timed iterations. */
#ifndef QS_STATS_H
#define QS_STATS_H

typedef struct {
  int n;
  double min, max, mean, median, p90, p99, stdev; /* stdev: sample (n - 1); 0 for n == 1 */
  double ci_lo, ci_hi; /* 95% confidence interval of the median (NaN for n < 6) */
} qs_stats;

/* Statistics of x[0..n-1] (not modified). Percentiles interpolate linearly between
 * order statistics (position p * (n - 1), numpy's default). The CI of the median is
 * distribution-free: the order statistics x(j) <= median <= x(k) with the
 * narrowest symmetric rank pair whose binomial(n, 1/2) coverage is >= 95%.
 * n == 0 (or non-finite samples) gives NaN everywhere. */
void qs_stats_compute(const double *x, int n, qs_stats *s);
/* Percentile p in [0, 1] of sorted values (linear interpolation). */
double qs_stats_percentile_sorted(const double *sorted, int n, double p);
/* 1-based ranks (j, k) of the 95% CI of the median for n samples; 0 if n < 6. */
int qs_stats_median_ci_ranks(int n, int *j, int *k);

#endif
