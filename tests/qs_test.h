/* qs_test.h - a tiny test harness: CHECK macros that count, print the first
 * failures with file:line, and a closing line "N passed, N failed". */
#ifndef QS_TEST_H
#define QS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
