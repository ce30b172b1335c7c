/* qs_test_rng.h - the quantization tests' deterministic inputs: a splitmix64 stream
 * (each test program seeds its own), uniform fills, and a bitwise float compare. */
#ifndef QS_TEST_RNG_H
#define QS_TEST_RNG_H

#include <stdint.h>

#include "qs_half.h"

static inline uint64_t *qs_t_rng_state(void) {
  static uint64_t s = 0x9e3779b97f4a7c15ULL;
  return &s;
}
static inline void rng_seed(uint64_t s) { *qs_t_rng_state() = s; }
static inline uint64_t rng_next(void) {
  uint64_t z = (*qs_t_rng_state() += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
/* uniform in [-1, 1) */
static inline float rng_uniform(void) { return (float)((double)(rng_next() >> 11) * 0x1p-53 * 2.0 - 1.0); }
static inline void fill_uniform(float *a, int64_t n, float scale) {
  for (int64_t i = 0; i < n; i++) a[i] = scale * rng_uniform();
}
/* 1 if a and b hold the same bits; else 0 and *first (if given) the first index that differs */
static inline int same_bits(const float *a, const float *b, int64_t n, int64_t *first) {
  for (int64_t i = 0; i < n; i++)
    if (qs_f32_bits(a[i]) != qs_f32_bits(b[i])) {
      if (first) *first = i;
      return 0;
    }
  return 1;
}

#endif
