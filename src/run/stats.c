/* stats.c - latency statistics: order statistics, moments and the median's CI. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double qs_stats_percentile_sorted(const double *v, int n, double p) {
  if (n <= 0) return NAN;
  if (p <= 0) return v[0];
  if (p >= 1) return v[n - 1];
  double pos = p * (n - 1);
  int i = (int)floor(pos);
  double f = pos - i;
  if (i + 1 >= n) return v[n - 1];
  return v[i] + f * (v[i + 1] - v[i]);
}

int qs_stats_median_ci_ranks(int n, int *j, int *k) {
  /* Coverage of [x(j), x(n+1-j)] is 1 - 2 P(B <= j - 1) for B ~ binomial(n, 1/2);
   * take the largest j with P(B <= j - 1) <= 0.025. n < 6 cannot reach 95% even
   * with [min, max]. The cdf is summed term by term in log space (no overflow for
   * large n; the tiny leading terms underflow harmlessly to 0). */
  *j = *k = 0;
  if (n < 6) return 0;
  const double lp = -n * log(2.0);
  double cdf = 0.0, lc = 0.0; /* lc = log C(n, i) */
  int best = 1;
  for (int i = 0; i < n / 2; i++) {
    if (i > 0) lc += log((double)(n - i + 1)) - log((double)i);
    cdf += exp(lc + lp); /* cdf = P(B <= i) */
    if (cdf <= 0.025) best = i + 1; /* j - 1 = i */
    else break;
  }
  *j = best;
  *k = n + 1 - best;
  return 1;
}

void qs_stats_compute(const double *x, int n, qs_stats *s) {
  s->n = n;
  s->min = s->max = s->mean = s->median = s->p90 = s->p99 = s->stdev = NAN;
  s->ci_lo = s->ci_hi = NAN;
  if (n <= 0 || !x) return;
  for (int i = 0; i < n; i++)
    if (!isfinite(x[i])) return;
  double *v = malloc(sizeof(double) * (size_t)n);
  if (!v) return;
  memcpy(v, x, sizeof(double) * (size_t)n);
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  double sum = 0.0;
  for (int i = 0; i < n; i++) sum += v[i];
  double mean = sum / n, ss = 0.0;
  for (int i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
  s->min = v[0];
  s->max = v[n - 1];
  s->mean = mean;
  s->stdev = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
  s->median = qs_stats_percentile_sorted(v, n, 0.5);
  s->p90 = qs_stats_percentile_sorted(v, n, 0.90);
  s->p99 = qs_stats_percentile_sorted(v, n, 0.99);
  int j, k;
  if (qs_stats_median_ci_ranks(n, &j, &k)) {
    s->ci_lo = v[j - 1];
    s->ci_hi = v[k - 1];
  }
  free(v);
}
