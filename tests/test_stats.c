/* test_stats.c - latency statistics against hand-computed values. */
#include <math.h>
#include <stdlib.h>

#include "qs_test.h"
#include "stats.h"

int main(void) {
  qs_stats s;
  /* 1..10 shuffled: median 5.5, p90 = 9.1 (position 8.1), p99 = 9.91, mean 5.5,
   * sample stdev sqrt(110/12) = 3.0276503540974917 */
  const double a[10] = {7, 3, 10, 1, 5, 9, 2, 8, 6, 4};
  qs_stats_compute(a, 10, &s);
  CHECK(s.n == 10);
  CHECK_CLOSE(s.min, 1, 0, 0);
  CHECK_CLOSE(s.max, 10, 0, 0);
  CHECK_CLOSE(s.median, 5.5, 1e-12, 0);
  CHECK_CLOSE(s.mean, 5.5, 1e-12, 0);
  CHECK_CLOSE(s.p90, 9.1, 1e-12, 0);
  CHECK_CLOSE(s.p99, 9.91, 1e-12, 0);
  CHECK_CLOSE(s.stdev, 3.0276503540974917, 1e-12, 0);
  /* n = 10: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024 -> [x(2), x(9)] */
  CHECK_CLOSE(s.ci_lo, 2, 0, 0);
  CHECK_CLOSE(s.ci_hi, 9, 0, 0);
  CHECK(a[0] == 7); /* input untouched */

  /* odd n: the middle value */
  const double b[5] = {5, 1, 4, 2, 3};
  qs_stats_compute(b, 5, &s);
  CHECK_CLOSE(s.median, 3, 0, 0);
  CHECK(isnan(s.ci_lo) && isnan(s.ci_hi)); /* n < 6: no 95% interval exists */

  /* the published ranks: n = 6 -> (1, 6); n = 100 -> (40, 61); n = 50 -> (18, 33) */
  int j, k;
  CHECK(qs_stats_median_ci_ranks(6, &j, &k) && j == 1 && k == 6);
  CHECK(qs_stats_median_ci_ranks(100, &j, &k) && j == 40 && k == 61);
  CHECK(qs_stats_median_ci_ranks(50, &j, &k) && j == 18 && k == 33);
  CHECK(!qs_stats_median_ci_ranks(5, &j, &k));
  /* large n stays finite and symmetric around the middle */
  CHECK(qs_stats_median_ci_ranks(100000, &j, &k) && j > 49600 && j < 49700 && k == 100001 - j);

  /* one sample: stdev 0, everything equal */
  const double c[1] = {2.5};
  qs_stats_compute(c, 1, &s);
  CHECK(s.median == 2.5 && s.p99 == 2.5 && s.stdev == 0 && s.min == 2.5 && s.max == 2.5);

  /* empty or non-finite: NaN everywhere */
  qs_stats_compute(NULL, 0, &s);
  CHECK(isnan(s.median) && isnan(s.mean) && isnan(s.stdev));
  const double d[3] = {1, NAN, 2};
  qs_stats_compute(d, 3, &s);
  CHECK(isnan(s.median) && isnan(s.min));

  /* percentile helper at the ends */
  const double e[4] = {1, 2, 3, 4};
  CHECK_CLOSE(qs_stats_percentile_sorted(e, 4, 0.0), 1, 0, 0);
  CHECK_CLOSE(qs_stats_percentile_sorted(e, 4, 1.0), 4, 0, 0);
  CHECK_CLOSE(qs_stats_percentile_sorted(e, 4, 0.5), 2.5, 1e-12, 0);
  return qs_test_finish("test_stats");
}
