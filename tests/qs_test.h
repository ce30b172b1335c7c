/* qs_test.h - a tiny test harness: CHECK macros that count, print the first
 * failures with file:line, and a closing line "N passed, N failed". */
#ifndef QS_TEST_H
#define QS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int qs_t_pass, qs_t_fail;

#define QS_SKIP_CODE 77

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (cond) {                                                           \
      qs_t_pass++;                                                        \
    } else {                                                              \
      qs_t_fail++;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                     \
  } while (0)

#define CHECK_MSG(cond, ...)                                              \
  do {                                                                    \
    if (cond) {                                                           \
      qs_t_pass++;                                                        \
    } else {                                                              \
      qs_t_fail++;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                       \
      fputc('\n', stderr);                                                \
    }                                                                     \
  } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                     \
  do {                                                                    \
    double qa_ = (double)(a), qb_ = (double)(b);                          \
    if (fabs(qa_ - qb_) <= (atol) + (rtol) * fabs(qb_)) {                 \
      qs_t_pass++;                                                        \
    } else {                                                              \
      qs_t_fail++;                                                        \
      fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g (atol %g rtol %g)\n", \
              __FILE__, __LINE__, #a, qa_, #b, qb_, (double)(atol), (double)(rtol)); \
    }                                                                     \
  } while (0)

static inline int qs_test_finish(const char *name) {
  printf("%s: %d passed, %d failed\n", name, qs_t_pass, qs_t_fail);
  return qs_t_fail ? 1 : 0;
}


/* 1 if `msg` is the CUDA backend's refusal of a quantized Linear whose shape its kernels
 * do not take (README, "Correctness"): int8 and fp8 need K % 16 == 0 (K >= 16) and N even; a fused
 * nf4 q|k|v needs each part a whole, even number of blocks. The shape is read back from
 * the message and the constraint checked, so refusing a shape the kernels do take is not
 * such a refusal. */
static inline int qs_test_shape_refusal(const char *msg) {
  const char *s;
  long long a, b;
  int blk;
  if ((s = strstr(msg, "int8 Linear [")) && strstr(s, "the int8 kernels need") &&
      sscanf(s, "int8 Linear [%lld, %lld]", &a, &b) == 2)
    return b % 16 != 0 || b < 16 || a % 2 != 0;
  if ((s = strstr(msg, "fp8 Linear [")) && strstr(s, "the fp8 kernels need") &&
      sscanf(s, "fp8 Linear [%lld, %lld]", &a, &b) == 2)
    return b % 16 != 0 || b < 16 || a % 2 != 0;
  if ((s = strstr(msg, "nf4 fused q|k|v: [")) &&
      sscanf(s, "nf4 fused q|k|v: [%lld, %lld] is not a whole number of %d-blocks", &a, &b, &blk) == 3)
    return blk > 0 && ((a * b) % blk != 0 || (a * b) % 2 != 0);
  return 0;
}

#endif
