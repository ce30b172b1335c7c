/* test_quant_hopper.c - the references of the precisions bf16, fp8 (e4m3) and
 * int8dyn (quant.h sections 4-6): the bf16 and e4m3 encoders and decoders bit for
 * bit (ties, subnormals, saturation, NaN), the Linears on hand-computed cases,
 * bit-exact agreement with plain re-implementations of the written definitions,
 * and error bounds against fp32 on random data. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "precision.h"
#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"
#include "qs_test_rng.h"
#include "quant.h"

static void gemm_double(const float *x, const float *w, const float *bias, int64_t M, int64_t N, int64_t K,
                        double *y) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      double s = bias ? bias[n] : 0.0;
      for (int64_t k = 0; k < K; k++) s += (double)x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
}

static double rel_l2(const float *a, const double *ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return sqrt(num / den);
}

/* ---- e4m3 ---------------------------------------------------------------------- */

/* The value of an e4m3 code from its definition (double, no bit tricks). */
static double e4m3_value(int c) {
  int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
  double v = e == 0 ? m * ldexp(1.0, -9) : (1.0 + m / 8.0) * ldexp(1.0, e - 7);
  return s ? -v : v;
}

/* Nearest finite e4m3 code by exhaustive search; on a tie the even code (mantissa
 * bit 0 clear); beyond 448 the largest; NaN 0x7f. */
static uint8_t e4m3_nearest(float f) {
  if (isnan(f)) return 0x7f;
  double v = fabs((double)f);
  int best = 0;
  double bd = INFINITY;
  for (int c = 0; c <= 0x7e; c++) {
    double d = fabs(e4m3_value(c) - v);
    if (d < bd || (d == bd && (c & 1) == 0)) {
      bd = d;
      best = c;
    }
  }
  if (v > 448.0) best = 0x7e;
  return (uint8_t)((signbit(f) ? 0x80 : 0) | best);
}

static void test_e4m3_known(void) {
  /* decoding */
  CHECK(qs_e4m3_to_float(0x00) == 0.0f && !signbit(qs_e4m3_to_float(0x00)));
  CHECK(qs_e4m3_to_float(0x80) == 0.0f && signbit(qs_e4m3_to_float(0x80)));
  CHECK(qs_e4m3_to_float(0x01) == 0x1p-9f);             /* smallest subnormal */
  CHECK(qs_e4m3_to_float(0x07) == 7 * 0x1p-9f);         /* largest subnormal */
  CHECK(qs_e4m3_to_float(0x08) == 0x1p-6f);             /* smallest normal */
  CHECK(qs_e4m3_to_float(0x38) == 1.0f);
  CHECK(qs_e4m3_to_float(0x3c) == 1.5f);
  CHECK(qs_e4m3_to_float(0x77) == 240.0f);
  CHECK(qs_e4m3_to_float(0x78) == 256.0f);
  CHECK(qs_e4m3_to_float(0x7e) == 448.0f);              /* largest finite */
  CHECK(qs_e4m3_to_float(0xfe) == -448.0f);
  CHECK(isnan(qs_e4m3_to_float(0x7f)) && isnan(qs_e4m3_to_float(0xff)));
  CHECK(qs_e4m3_to_float(0x78 | 0x80) == -256.0f);
  /* every code against its definition; every finite code round-trips */
  int bad = 0;
  for (int c = 0; c < 256; c++) {
    if ((c & 0x7f) == 0x7f) continue;
    if ((double)qs_e4m3_to_float((uint8_t)c) != e4m3_value(c)) bad++;
    if (qs_float_to_e4m3(qs_e4m3_to_float((uint8_t)c)) != c) bad++;
  }
  CHECK_MSG(bad == 0, "%d codes decode or round-trip wrongly", bad);

  /* encoding: ties to even, subnormals, saturation, NaN */
  CHECK(qs_float_to_e4m3(1.0f) == 0x38);
  CHECK(qs_float_to_e4m3(1.0625f) == 0x38);            /* 1 | 1.125: tie -> even 1.0 */
  CHECK(qs_float_to_e4m3(1.0625001f) == 0x39);         /* just above the tie */
  CHECK(qs_float_to_e4m3(1.1875f) == 0x3a);            /* 1.125 | 1.25: tie -> even 1.25 */
  CHECK(qs_float_to_e4m3(248.0f) == 0x78);             /* 240 | 256: tie -> even 256 */
  CHECK(qs_float_to_e4m3(-248.0f) == 0xf8);
  CHECK(qs_float_to_e4m3(336.0f) == 0x7a);             /* 320 | 352: tie -> even 320 */
  CHECK(qs_float_to_e4m3(0x1p-10f) == 0x00);           /* half the smallest subnormal: tie -> 0 */
  CHECK(qs_float_to_e4m3(-0x1p-10f) == 0x80);
  CHECK(qs_float_to_e4m3(0x1.000002p-10f) == 0x01);
  CHECK(qs_float_to_e4m3(3 * 0x1p-10f) == 0x02);       /* 1 | 2 (x 2^-9): tie -> 2 */
  CHECK(qs_float_to_e4m3(5 * 0x1p-10f) == 0x02);       /* 2 | 3: tie -> 2 */
  CHECK(qs_float_to_e4m3(15 * 0x1p-10f) == 0x08);      /* 7 x 2^-9 | 2^-6: tie -> 2^-6 */
  CHECK(qs_float_to_e4m3(0x1p-30f) == 0x00);
  CHECK(qs_float_to_e4m3(FLT_TRUE_MIN) == 0x00);       /* an fp32 subnormal */
  CHECK(qs_float_to_e4m3(448.0f) == 0x7e);
  CHECK(qs_float_to_e4m3(463.99f) == 0x7e);
  CHECK(qs_float_to_e4m3(464.0f) == 0x7e);             /* would round to 480: saturates */
  CHECK(qs_float_to_e4m3(1e30f) == 0x7e);
  CHECK(qs_float_to_e4m3(-1e30f) == 0xfe);
  CHECK(qs_float_to_e4m3(INFINITY) == 0x7e);
  CHECK(qs_float_to_e4m3(-INFINITY) == 0xfe);
  CHECK(qs_float_to_e4m3(NAN) == 0x7f);
  CHECK(qs_float_to_e4m3(-NAN) == 0x7f);
  CHECK(qs_round_e4m3(0.3f) == 0.3125f);

  /* random floats over the whole range (and the exact midpoints) against the search */
  int mism = 0;
  for (int i = 0; i < 200000; i++) {
    float f;
    if (i % 4 == 0) { /* a midpoint of two neighbouring finite codes */
      int c = (int)(rng_next() % 0x7e);
      f = (float)((e4m3_value(c) + e4m3_value(c + 1)) / 2);
      if (rng_next() & 1) f = -f;
    } else {
      f = ldexpf(rng_uniform(), (int)(rng_next() % 40) - 20);
    }
    if (qs_float_to_e4m3(f) != e4m3_nearest(f)) {
      if (mism++ < 5) fprintf(stderr, "e4m3(%a) = 0x%02x, nearest 0x%02x\n", (double)f, qs_float_to_e4m3(f), e4m3_nearest(f));
    }
  }
  CHECK_MSG(mism == 0, "%d of 200000 e4m3 encodings differ from the nearest code", mism);
}

/* ---- bf16 ------------------------------------------------------------------------ */

static void test_bf16_known(void) {
  CHECK(qs_float_to_bf16(1.0f) == 0x3f80);
  CHECK(qs_float_to_bf16(-2.0f) == 0xc000);
  CHECK(qs_float_to_bf16(1.0f + 0x1p-8f) == 0x3f80);          /* tie -> even */
  CHECK(qs_float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
  CHECK(qs_float_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);      /* 0x3f81 | 0x3f82: tie -> even */
  CHECK(qs_float_to_bf16(qs_bits_f32(0x00018000u)) == 0x0002); /* subnormal tie -> even (up) */
  CHECK(qs_float_to_bf16(qs_bits_f32(0x00008000u)) == 0x0000); /* subnormal tie -> even (down) */
  CHECK(qs_float_to_bf16(qs_bits_f32(0x00008001u)) == 0x0001);
  CHECK(qs_float_to_bf16(FLT_TRUE_MIN) == 0x0000);
  CHECK(qs_float_to_bf16(qs_bits_f32(0x7f7f7fffu)) == 0x7f7f);  /* largest finite bf16 */
  CHECK(qs_float_to_bf16(FLT_MAX) == 0x7f80);                   /* rounds past it: inf */
  CHECK(qs_float_to_bf16(-FLT_MAX) == 0xff80);
  CHECK(qs_float_to_bf16(INFINITY) == 0x7f80 && qs_float_to_bf16(-INFINITY) == 0xff80);
  CHECK(qs_float_to_bf16(qs_bits_f32(0x7fc00000u)) == 0x7fc0);  /* quiet NaN */
  CHECK(qs_float_to_bf16(qs_bits_f32(0x7f800001u)) == 0x7fc0);  /* signalling NaN: quieted, not inf */
  CHECK(qs_float_to_bf16(qs_bits_f32(0xffff0000u)) == 0xffff);  /* payload and sign kept */
  CHECK(qs_bf16_to_float(0x3f80) == 1.0f && qs_bf16_to_float(0xc000) == -2.0f);
  CHECK(qs_bf16_to_float(0x0001) == 0x1p-133f);
  CHECK(isnan(qs_bf16_to_float(0x7fc1)) && isinf(qs_bf16_to_float(0xff80)));
  CHECK(qs_round_bf16(3.14159265f) == 3.140625f);
  CHECK(qs_round_to(QS_ROUND_BF16, 1.00390625f) == 1.0f);
  CHECK(qs_round_to(QS_ROUND_F16, 1.00390625f) == 1.00390625f);
  CHECK(qs_round_to(QS_ROUND_NONE, 1.0000001f) == 1.0000001f);
  /* random finite floats below the top binade: the nearer neighbour, ties to even */
  int mism = 0;
  for (int i = 0; i < 200000; i++) {
    uint32_t u = (uint32_t)rng_next();
    if ((u & 0x7f800000u) == 0x7f800000u || (u & 0x7fff0000u) == 0x7f7f0000u) continue;
    float f = qs_bits_f32(u);
    uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u; /* truncated, and one step away from 0 */
    double dlo = fabs((double)f - (double)qs_bits_f32(lo)), dhi = fabs((double)qs_bits_f32(hi) - (double)f);
    uint16_t want = (uint16_t)((dlo < dhi || (dlo == dhi && !((lo >> 16) & 1u))) ? lo >> 16 : hi >> 16);
    if (qs_float_to_bf16(f) != want) mism++;
  }
  CHECK_MSG(mism == 0, "%d bf16 encodings differ from the nearest value", mism);
}

/* ---- the Linears, re-implemented from the text of quant.h ------------------------ */

static float spec_lanes(const float *a, const float *b, int64_t K) {
  float P[8] = {0};
  for (int64_t k = 0; k < K; k++) P[k % 8] = P[k % 8] + a[k] * b[k];
  return ((P[0] + P[1]) + (P[2] + P[3])) + ((P[4] + P[5]) + (P[6] + P[7]));
}

/* section 4 */
static void spec_gemm_bf16(const float *x, const float *w, const float *bias, int64_t M, int64_t N, int64_t K,
                           float *y) {
  float *xb = malloc((size_t)(M * K) * sizeof(float)), *wb = malloc((size_t)(N * K) * sizeof(float));
  for (int64_t i = 0; i < M * K; i++) xb[i] = qs_round_bf16(x[i]);
  for (int64_t i = 0; i < N * K; i++) wb[i] = qs_round_bf16(w[i]);
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      float s = spec_lanes(xb + m * K, wb + n * K, K);
      if (bias) s = s + qs_round_bf16(bias[n]);
      y[m * N + n] = qs_round_bf16(s);
    }
  free(xb);
  free(wb);
}

/* section 5 */
static void spec_fp8_linear(const float *x, const float *w, const float *bias, int64_t M, int64_t N, int64_t K,
                            float *y) {
  float *xq = malloc((size_t)(M * K) * sizeof(float)), *wq = malloc((size_t)(N * K) * sizeof(float));
  float *sw = malloc((size_t)N * sizeof(float)), *sx = malloc((size_t)M * sizeof(float));
  for (int64_t n = 0; n < N; n++) {
    float a = 0.0f;
    for (int64_t k = 0; k < K; k++) a = fmaxf(a, fabsf(w[n * K + k]));
    sw[n] = a / 448.0f;
    for (int64_t k = 0; k < K; k++) wq[n * K + k] = sw[n] == 0.0f ? 0.0f : qs_round_e4m3(w[n * K + k] / sw[n]);
  }
  for (int64_t m = 0; m < M; m++) {
    float a = 0.0f;
    for (int64_t k = 0; k < K; k++) a = fmaxf(a, fabsf(qs_round_half(x[m * K + k])));
    sx[m] = a / 448.0f;
    for (int64_t k = 0; k < K; k++)
      xq[m * K + k] = sx[m] == 0.0f ? 0.0f : qs_round_e4m3(qs_round_half(x[m * K + k]) / sx[m]);
  }
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      float acc = spec_lanes(xq + m * K, wq + n * K, K);
      float d = acc * sx[m];
      d = d * sw[n];
      if (bias) d = d + qs_round_half(bias[n]);
      y[m * N + n] = qs_round_half(d);
    }
  free(xq), free(wq), free(sw), free(sx);
}

/* section 6 */
static void spec_int8dyn_linear(const float *x, const float *w, const float *bias, int64_t M, int64_t N, int64_t K,
                                float *y) {
  int32_t *xq = malloc((size_t)(M * K) * sizeof(int32_t)), *wq = malloc((size_t)(N * K) * sizeof(int32_t));
  float *sw = malloc((size_t)N * sizeof(float)), *sx = malloc((size_t)M * sizeof(float));
  for (int64_t n = 0; n < N; n++) {
    float a = 0.0f;
    for (int64_t k = 0; k < K; k++) a = fmaxf(a, fabsf(w[n * K + k]));
    sw[n] = a;
    for (int64_t k = 0; k < K; k++) wq[n * K + k] = a == 0.0f ? 0 : (int32_t)rintf((w[n * K + k] * 127.0f) / a);
  }
  for (int64_t m = 0; m < M; m++) {
    float a = 0.0f;
    for (int64_t k = 0; k < K; k++) a = fmaxf(a, fabsf(qs_round_half(x[m * K + k])));
    sx[m] = a;
    for (int64_t k = 0; k < K; k++)
      xq[m * K + k] = a == 0.0f ? 0 : (int32_t)rintf((qs_round_half(x[m * K + k]) * 127.0f) / a);
  }
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      int32_t acc = 0;
      for (int64_t k = 0; k < K; k++) acc += xq[m * K + k] * wq[n * K + k];
      float d = (float)acc * sx[m];
      d = d * sw[n];
      d = d * QS_INT8_DEQ;
      float v = d + 0.0f;
      if (bias) v = v + qs_round_half(bias[n]);
      y[m * N + n] = qs_round_half(v);
    }
  free(xq), free(wq), free(sw), free(sx);
}

/* ---- known answers ------------------------------------------------------------------ */

static void test_fp8_known(void) {
  /* row 0: absmax 3.5, s_w = 3.5/448 = 2^-7 (exact); w / s_w = {112, -224, 56, 448}, all
   * e4m3 values. row 1: all zero: s_w 0, codes 0. row 2: {0.3, 0, 0, 0}: 0.3 / (0.3/448)
   * rounds to 448 (or saturates to it). */
  const float w[12] = {0.875f, -1.75f, 0.4375f, 3.5f, 0, 0, 0, 0, 0.3f, 0, 0, 0};
  qs_fp8_matrix W;
  CHECK(qs_fp8_quantize_weight(w, 3, 4, &W) == QS_OK);
  CHECK(W.N == 3 && W.K == 4);
  CHECK(W.scale[0] == 0x1p-7f && W.scale[1] == 0.0f && W.scale[2] == 0.3f / 448.0f);
  const uint8_t qexp[12] = {0x6e, 0xf6, 0x66, 0x7e, 0, 0, 0, 0, 0x7e, 0, 0, 0};
  CHECK_MSG(memcmp(W.q, qexp, 12) == 0, "codes %02x %02x %02x %02x / %02x", W.q[0], W.q[1], W.q[2], W.q[3], W.q[8]);
  CHECK(qs_e4m3_to_float(0x6e) == 112.0f && qs_e4m3_to_float(0xf6) == -224.0f && qs_e4m3_to_float(0x66) == 56.0f);
  CHECK(qs_fp8_bytes(3, 4) == 12 + 12);
  CHECK(qs_fp8_bytes(3072, 768) == 3072LL * 768 + 4 * 3072);
  CHECK(qs_fp8_bytes(0, 4) == -1);

  /* x row 0 = {0.875, 1.75, 2.625, 3.5}: s_x = 2^-7, x / s_x = {112, 224, 336, 448}
   * exactly; 336 is the tie 320 | 352 -> 320 (even mantissa).
   * acc = 112*112 - 224*224 + 320*56 + 448*448 = 180992; d = 180992 * 2^-14 = 11.046875;
   * y = h(11.046875 + h(0.1)) = h(11.14685...) = 11.1484375 (fp32 answer 11.125 + 0.1).
   * x row 1 = 0: s_x 0, acc 0, y = h(bias). */
  const float x[8] = {0.875f, 1.75f, 2.625f, 3.5f, 0, 0, 0, 0};
  const float bias[3] = {0.1f, -1, 0};
  float y[6], acc[6], sx[2];
  CHECK(qs_fp8_linear_ref(x, 2, &W, bias, y, acc, sx) == QS_OK);
  CHECK(sx[0] == 0x1p-7f && sx[1] == 0.0f);
  CHECK_MSG(acc[0] == 180992.0f, "acc[0] = %.9g", (double)acc[0]);
  CHECK(acc[1] == 0.0f && acc[3] == 0.0f && acc[4] == 0.0f && acc[5] == 0.0f);
  CHECK(acc[2] == 112.0f * 448.0f);
  CHECK_MSG(y[0] == 11.1484375f, "y[0] = %.9g", (double)y[0]);
  float d2 = 50176.0f * 0x1p-7f;
  d2 = d2 * W.scale[2];
  CHECK(qs_f32_bits(y[2]) == qs_f32_bits(qs_round_half(d2 + 0.0f)));
  CHECK_CLOSE(y[2], 0.875 * 0.3, 1e-3, 0);
  CHECK(y[1] == -1.0f); /* zero weight row: the bias */
  CHECK(y[3] == qs_round_half(0.1f) && y[4] == -1.0f && y[5] == 0.0f);
  /* without a bias: y = h(d) */
  CHECK(qs_fp8_linear_ref(x, 2, &W, NULL, y, NULL, NULL) == QS_OK);
  CHECK(y[0] == 11.046875f && y[1] == 0.0f);
  /* activations beyond 448 quantize by their scale: 1000/s, -500/s, 250/s = 448, -224, 112 */
  const float xb[4] = {1000, -500, 0, 250};
  CHECK(qs_fp8_linear_ref(xb, 1, &W, NULL, y, acc, sx) == QS_OK);
  CHECK(sx[0] == 1000.0f / 448.0f);
  CHECK_CLOSE(y[0], 1000 * 0.875 + 500 * 1.75 + 250 * 3.5, 0, 0.03);
  /* a NaN activation gives a NaN output in its row */
  const float xn[4] = {1, NAN, 0, 0};
  CHECK(qs_fp8_linear_ref(xn, 1, &W, NULL, y, NULL, NULL) == QS_OK);
  CHECK(isnan(y[0]));
  qs_fp8_free(&W);
  CHECK(W.q == NULL && W.scale == NULL);
  /* non-finite weights are refused */
  const float wn[4] = {0, INFINITY, 0, 0};
  CHECK(qs_fp8_quantize_weight(wn, 2, 2, &W) == QS_EINVAL && W.q == NULL);
  CHECK(strstr(qs_last_error(), "non-finite") != NULL);
  qs_clear_error();
}

static void test_int8dyn_known(void) {
  /* w row 0 = {1, -2, 0.5, 4}: s_w 4, q = rint({31.75, -63.5, 15.875, 127}) = {32, -64, 16, 127} */
  const float w[8] = {1, -2, 0.5f, 4, 0, 0, 0, 0};
  qs_int8_matrix W;
  CHECK(qs_int8_quantize_weight(w, 2, 4, &W) == QS_OK);
  const int8_t qexp[8] = {32, -64, 16, 127, 0, 0, 0, 0};
  CHECK(memcmp(W.q, qexp, 8) == 0);
  CHECK(qs_int8dyn_bytes(2, 4) == 8 + 8);
  /* x = {1, 2, 3, 20}: no outlier split, s_x = 20: xq = rint({6.35, 12.7, 19.05, 127}) = {6, 13, 19, 127}
   * acc = 6*32 - 13*64 + 19*16 + 127*127 = 192 - 832 + 304 + 16129 = 15793 */
  const float x[4] = {1, 2, 3, 20};
  const float bias[2] = {0.5f, 0};
  float y[2], y8[2];
  int32_t acc[2];
  CHECK(qs_int8dyn_linear_ref(x, 1, &W, bias, y, acc) == QS_OK);
  CHECK_MSG(acc[0] == 15793 && acc[1] == 0, "acc %d %d", acc[0], acc[1]);
  float d = (float)15793 * 20.0f;
  d = d * 4.0f;
  d = d * QS_INT8_DEQ;
  CHECK(qs_f32_bits(y[0]) == qs_f32_bits(qs_round_half((d + 0.0f) + qs_round_half(0.5f))));
  CHECK_CLOSE(y[0], 1 - 4 + 1.5 + 80 + 0.5, 0.3, 0);
  CHECK(y[1] == 0.0f && !signbit(y[1]));
  /* LLM.int8 with its default threshold splits column 3 out: a different answer */
  int nout = 0;
  CHECK(qs_int8_linear_ref(x, 1, &W, bias, QS_INT8_THRESHOLD_DEFAULT, y8, NULL, NULL, &nout) == QS_OK);
  CHECK(nout == 1 && y8[0] != y[0]);
  /* and without it, the same bits */
  CHECK(qs_int8_linear_ref(x, 1, &W, bias, 0.0f, y8, NULL, NULL, &nout) == QS_OK);
  CHECK(nout == 0 && qs_f32_bits(y8[0]) == qs_f32_bits(y[0]) && qs_f32_bits(y8[1]) == qs_f32_bits(y[1]));
  /* a zero row of x: s_x 0, y = h(bias) */
  const float xz[4] = {0, 0, 0, 0};
  CHECK(qs_int8dyn_linear_ref(xz, 1, &W, bias, y, acc) == QS_OK);
  CHECK(acc[0] == 0 && y[0] == 0.5f);
  qs_int8_free(&W);
}

static void test_bf16_gemm_known(void) {
  /* 1 x 9 . 9: lanes 0..7 get one product each, lane 0 a second (k = 8).
   * x[0] = 1 + 2^-8 rounds to bf16 1.0 (a tie, to even): S = (3 + 1) + 7 = 11. */
  const float x[9] = {1.0f + 0x1p-8f, 1, 1, 1, 1, 1, 1, 1, 2};
  const float w[9] = {3, 1, 1, 1, 1, 1, 1, 1, 0.5f};
  float y, yh;
  CHECK(qs_gemm_bf16_ref(x, w, NULL, 1, 1, 9, &y) == QS_OK);
  CHECK(y == 11.0f);
  CHECK(qs_gemm_f16_ref(x, w, NULL, 1, 1, 9, &yh) == QS_OK);
  CHECK(yh != 11.0f); /* fp16 keeps x[0] */
  /* b(257) = 256 (tie, to even); S = 11 + 256 = 267 -> b: 266 | 268, tie -> 268 */
  const float b = 257.0f;
  CHECK(qs_gemm_bf16_ref(x, w, &b, 1, 1, 9, &y) == QS_OK);
  CHECK(y == 268.0f);
  CHECK(qs_gemm_bf16_ref(x, w, NULL, 0, 1, 9, &y) == QS_EINVAL);
  qs_clear_error();
}

/* ---- random data: bit-exact with the re-implementations, bounds against fp32 -------- */

static void test_random(void) {
  /* shapes that exercise the kernels' edges: M odd, N not a multiple of 4, K of 8 */
  const int64_t shapes[3][3] = {{7, 13, 37}, {33, 70, 200}, {64, 256, 768}};
  for (int si = 0; si < 3; si++) {
    const int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
    float *x = malloc((size_t)(M * K) * sizeof(float)), *w = malloc((size_t)(N * K) * sizeof(float));
    float *b = malloc((size_t)N * sizeof(float));
    float *y = malloc((size_t)(M * N) * sizeof(float)), *ys = malloc((size_t)(M * N) * sizeof(float));
    double *yd = malloc((size_t)(M * N) * sizeof(double));
    fill_uniform(x, M * K, 2.0f);
    fill_uniform(w, N * K, 0.05f);
    fill_uniform(b, N, 0.05f);
    x[3] = 9.0f; /* one activation above LLM.int8's threshold */
    gemm_double(x, w, b, M, N, K, yd);
    int64_t first = -1;

    CHECK(qs_gemm_bf16_ref(x, w, b, M, N, K, y) == QS_OK);
    spec_gemm_bf16(x, w, b, M, N, K, ys);
    CHECK_MSG(same_bits(y, ys, M * N, &first), "bf16 %lldx%lldx%lld: differs at %lld: %a vs %a", (long long)M,
              (long long)N, (long long)K, (long long)first, (double)y[first], (double)ys[first]);
    int allbf = 1;
    for (int64_t i = 0; i < M * N; i++) allbf &= qs_round_bf16(y[i]) == y[i];
    CHECK(allbf);
    double ebf = rel_l2(y, yd, M * N);

    qs_fp8_matrix F;
    CHECK(qs_fp8_quantize_weight(w, N, K, &F) == QS_OK);
    CHECK(qs_fp8_linear_ref(x, M, &F, b, y, NULL, NULL) == QS_OK);
    spec_fp8_linear(x, w, b, M, N, K, ys);
    CHECK_MSG(same_bits(y, ys, M * N, &first), "fp8 %lldx%lldx%lld: differs at %lld: %a vs %a", (long long)M,
              (long long)N, (long long)K, (long long)first, (double)y[first], (double)ys[first]);
    double e8 = rel_l2(y, yd, M * N);
    qs_fp8_free(&F);

    qs_int8_matrix Q;
    CHECK(qs_int8_quantize_weight(w, N, K, &Q) == QS_OK);
    CHECK(qs_int8dyn_linear_ref(x, M, &Q, b, y, NULL) == QS_OK);
    spec_int8dyn_linear(x, w, b, M, N, K, ys);
    CHECK_MSG(same_bits(y, ys, M * N, &first), "int8dyn %lldx%lldx%lld: differs at %lld: %a vs %a", (long long)M,
              (long long)N, (long long)K, (long long)first, (double)y[first], (double)ys[first]);
    double ei = rel_l2(y, yd, M * N);
    qs_int8_free(&Q);

    printf("%lldx%lldx%lld: rel L2 vs fp32: bf16 %.3e  fp8 %.3e  int8dyn %.3e\n", (long long)M, (long long)N,
           (long long)K, ebf, e8, ei);
    /* measured: bf16 2.8e-3..3.1e-3, fp8 3.6e-2..4.0e-2, int8dyn 6.0e-3..8.9e-3 */
    CHECK_MSG(ebf < 1e-2, "bf16 rel L2 %.3e", ebf);
    CHECK_MSG(e8 < 6e-2, "fp8 rel L2 %.3e", e8);
    CHECK_MSG(ei < 2e-2, "int8dyn rel L2 %.3e", ei);
    free(x), free(w), free(b), free(y), free(ys), free(yd);
  }
}

/* ---- the precision table ---------------------------------------------------------- */

static void test_precision_table(void) {
  const char *names[] = {"bf16", "fp8", "int8dyn"};
  const qs_precision want[] = {QS_PREC_BF16, QS_PREC_FP8, QS_PREC_INT8DYN};
  for (int i = 0; i < 3; i++) {
    qs_precision p = QS_PREC_FP32;
    CHECK(qs_precision_parse(names[i], &p) == QS_OK && p == want[i]);
    CHECK(strcmp(qs_precision_name(p), names[i]) == 0);
  }
  const char *typos[] = {"BF16", "bf-16", "fp8e4m3", "e4m3", "int8-dyn", "int8_dyn", "fp 8", ""};
  for (size_t i = 0; i < sizeof typos / sizeof *typos; i++) {
    qs_precision p;
    CHECK_MSG(qs_precision_parse(typos[i], &p) == QS_EINVAL, "\"%s\" accepted", typos[i]);
  }
  CHECK(strstr(qs_last_error(), "int8dyn") != NULL && strstr(qs_last_error(), "fp8") != NULL);
  qs_clear_error();
  CHECK(qs_precision_storage(QS_PREC_BF16) == QS_ROUND_BF16);
  CHECK(qs_precision_storage(QS_PREC_FP8) == QS_ROUND_F16 && qs_precision_storage(QS_PREC_INT8DYN) == QS_ROUND_F16);
  CHECK(qs_precision_storage(QS_PREC_FP32) == QS_ROUND_NONE);
  qs_prec_opts o;
  qs_prec_opts_default(&o, QS_PREC_BF16);
  CHECK(qs_prec_qweight_bytes(&o, 3072, 768) == 2LL * 3072 * 768);
  qs_prec_opts_default(&o, QS_PREC_FP8);
  CHECK(qs_prec_qweight_bytes(&o, 3072, 768) == 3072LL * 768 + 4 * 3072);
  qs_prec_opts_default(&o, QS_PREC_INT8DYN);
  CHECK(qs_prec_qweight_bytes(&o, 3072, 768) == 3072LL * 768 + 4 * 3072);
  CHECK(qs_prec_other_elem_bytes(QS_PREC_BF16) == 2 && qs_prec_other_elem_bytes(QS_PREC_FP8) == 2);
}

int main(void) {
  rng_seed(0x2545f4914f6cdd1dULL); /* this program's stream */
  test_e4m3_known();
  test_bf16_known();
  test_fp8_known();
  test_int8dyn_known();
  test_bf16_gemm_known();
  test_random();
  test_precision_table();
  return qs_test_finish("test_quant_hopper");
}
