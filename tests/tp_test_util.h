/* tp_test_util.h - helpers shared by the tensor-parallel tests (test_tp_unit,
 * test_tp_mpi, test_gpu_tp). Include after defining _POSIX_C_SOURCE 200809L. */
#ifndef QS_TP_TEST_UTIL_H
#define QS_TP_TEST_UTIL_H

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ||y - ref|| / ||ref|| (||y - ref|| when ref is 0); INFINITY where y holds a NaN */
static inline double tp_rel_l2(const float *y, const float *ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)y[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  if (isnan(num)) return INFINITY;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The tiny fixtures' directory names, sorted (the same order on every rank), at most
 * cap; each name is malloc'd. */
static inline int tp_sorted_fixtures(const char *root, char **names, int cap) {
  DIR *d = opendir(root);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) && n < cap)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (d) closedir(d);
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (strcmp(names[i], names[j]) > 0) {
        char *t = names[i];
        names[i] = names[j];
        names[j] = t;
      }
  return n;
}

#endif
