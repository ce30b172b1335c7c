/* test_quant.c - the CPU quantization reference: fp16 GEMM, NF4, LLM.int8.
 * Known answers on hand-computed matrices, properties on random data, and
 * bit-exact agreement with straightforward re-implementations of the
 * semantics written in quant.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"
#include "qs_test_rng.h"
#include "quant.h"

/* ---- spec re-implementations (simple loops, no blocking, no threads) ---------- */

/* quant.h section 1, for inputs that already hold fp16 values. */
static float spec_dot_f16(const float *xh, const float *wh, int64_t K) {
  float P[8] = {0};
  for (int64_t k = 0; k < K; k++) P[k % 8] = P[k % 8] + xh[k] * wh[k];
  return ((P[0] + P[1]) + (P[2] + P[3])) + ((P[4] + P[5]) + (P[6] + P[7]));
}
static void spec_gemm_f16(const float *x, const float *w, const float *bias, int64_t M,
                          int64_t N, int64_t K, float *y) {
  float *xh = malloc((size_t)(M * K) * sizeof(float)), *wh = malloc((size_t)(N * K) * sizeof(float));
  for (int64_t i = 0; i < M * K; i++) xh[i] = qs_round_half(x[i]);
  for (int64_t i = 0; i < N * K; i++) wh[i] = qs_round_half(w[i]);
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      float s = spec_dot_f16(xh + m * K, wh + n * K, K);
      if (bias) s = s + qs_round_half(bias[n]);
      y[m * N + n] = qs_round_half(s);
    }
  free(xh);
  free(wh);
}

/* quant.h section 3. */
static void spec_int8_linear(const float *x, int64_t M, const qs_int8_matrix *W, const float *bias,
                             float thr, float *y) {
  int64_t N = W->N, K = W->K;
  float *xh = malloc((size_t)(M * K) * sizeof(float));
  int *out = calloc((size_t)K, sizeof(int));
  for (int64_t i = 0; i < M * K; i++) xh[i] = qs_round_half(x[i]);
  if (thr > 0)
    for (int64_t m = 0; m < M; m++)
      for (int64_t k = 0; k < K; k++)
        if (fabsf(xh[m * K + k]) >= thr) out[k] = 1;
  int64_t nout = 0;
  for (int64_t k = 0; k < K; k++) nout += out[k];
  for (int64_t m = 0; m < M; m++) {
    const float *xr = xh + m * K;
    float sx = 0.0f;
    for (int64_t k = 0; k < K; k++)
      if (!out[k]) {
        float a = fabsf(xr[k]);
        if (isnan(a) || a > sx || isnan(sx)) sx = isnan(sx) ? sx : a;
      }
    for (int64_t n = 0; n < N; n++) {
      int32_t acc = 0;
      for (int64_t k = 0; k < K; k++) {
        if (out[k] || sx == 0.0f) continue;
        float qf = (xr[k] * 127.0f) / sx;
        int q = isnan(qf) ? 0 : (int)fmaxf(-127.0f, fminf(127.0f, rintf(qf)));
        acc += q * W->q[n * K + k];
      }
      float d = (float)acc * sx * W->scale[n] * (1.0f / 16129.0f);
      float o = 0.0f;
      if (nout) {
        float P[8] = {0};
        int64_t j = 0;
        for (int64_t k = 0; k < K; k++) {
          if (!out[k]) continue;
          float p = (float)W->q[n * K + k] * W->scale[n];
          float wo = qs_round_half(p / 127.0f);
          P[j % 8] = P[j % 8] + xr[k] * wo;
          j++;
        }
        o = qs_round_half(((P[0] + P[1]) + (P[2] + P[3])) + ((P[4] + P[5]) + (P[6] + P[7])));
      }
      float v = d + o;
      if (bias) v = v + qs_round_half(bias[n]);
      y[m * N + n] = qs_round_half(v);
    }
  }
  free(xh);
  free(out);
}

static void gemm_double(const float *x, const float *w, const float *bias, int64_t M, int64_t N,
                        int64_t K, double *y) {
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

/* ---- fp16 GEMM ----------------------------------------------------------------- */

static void test_gemm_known(void) {
  const float x[3] = {1, 2, 3};
  const float w[6] = {4, 5, 6, 1, 0, -1};
  const float b[2] = {0.5f, 0.25f};
  float y[2];
  CHECK(qs_gemm_f16_ref(x, w, b, 1, 2, 3, y) == QS_OK);
  CHECK(y[0] == 32.5f && y[1] == -1.75f);
  CHECK(qs_gemm_f16_ref(x, w, NULL, 1, 2, 3, y) == QS_OK);
  CHECK(y[0] == 32.0f && y[1] == -2.0f);

  /* inputs are rounded to fp16 first: 1 + 2^-12 becomes 1 */
  const float xr[1] = {1.0f + 0x1p-12f}, wr[1] = {3.0f};
  CHECK(qs_gemm_f16_ref(xr, wr, NULL, 1, 1, 1, y) == QS_OK && y[0] == 3.0f);
  /* the result is rounded to fp16: 2049 -> 2048 (tie to even) */
  const float xs[2] = {2048.0f, 1.0f}, ws[2] = {1.0f, 1.0f};
  CHECK(qs_gemm_f16_ref(xs, ws, NULL, 1, 1, 2, y) == QS_OK && y[0] == 2048.0f);

  /* Lanes: k and k+8 share a partial sum. B = 65504^2 is ~2^32, where the fp32
   * spacing is 512, so B + 1 == B. Sequential k order gives 0; lanes give 1. */
  float xl[9] = {0}, wl[9] = {0};
  xl[0] = 65504.0f, wl[0] = 65504.0f;
  xl[1] = 1.0f, wl[1] = 1.0f;
  xl[8] = -65504.0f, wl[8] = 65504.0f;
  CHECK(qs_gemm_f16_ref(xl, wl, NULL, 1, 1, 9, y) == QS_OK);
  CHECK_MSG(y[0] == 1.0f, "lane order: got %g", (double)y[0]);
  /* Combination tree ((P0+P1)+(P2+P3))+... : P0=B, P1=1, P2=-B gives (B+1)+(-B) = 0,
   * whereas a butterfly ((P0+P4)+(P2+P6))+((P1+P5)+(P3+P7)) would give 1. */
  float xt[3] = {65504.0f, 1.0f, -65504.0f}, wt[3] = {65504.0f, 1.0f, 65504.0f};
  CHECK(qs_gemm_f16_ref(xt, wt, NULL, 1, 1, 3, y) == QS_OK);
  CHECK_MSG(y[0] == 0.0f, "combination tree: got %g", (double)y[0]);
  /* The bias is added to the combined sum in fp32, then one rounding to fp16. */
  float bt[1] = {1.0f};
  CHECK(qs_gemm_f16_ref(xt, wt, bt, 1, 1, 3, y) == QS_OK && y[0] == 1.0f);

  /* bad input */
  CHECK(qs_gemm_f16_ref(x, w, NULL, 0, 2, 3, y) == QS_EINVAL);
  CHECK(strstr(qs_last_error(), "shape") != NULL);
  CHECK(qs_gemm_f16_ref(NULL, w, NULL, 1, 2, 3, y) == QS_EINVAL);
}

static void test_gemm_random(void) {
  /* sizes that exercise the 4-wide and 1-wide tails, partial M blocks, K % 8 != 0,
   * and (the largest) the threaded path */
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {37, 29, 300}, {33, 67, 9}, {100, 203, 333}};
  for (size_t s = 0; s < QS_ARRAY_LEN(shapes); s++) {
    int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    float *x = malloc((size_t)(M * K) * sizeof(float)), *w = malloc((size_t)(N * K) * sizeof(float));
    float *b = malloc((size_t)N * sizeof(float));
    float *y = malloc((size_t)(M * N) * sizeof(float)), *ys = malloc((size_t)(M * N) * sizeof(float));
    double *yd = malloc((size_t)(M * N) * sizeof(double)), *ydh = malloc((size_t)(M * N) * sizeof(double));
    float *xh = malloc((size_t)(M * K) * sizeof(float)), *wh = malloc((size_t)(N * K) * sizeof(float));
    float *bh = malloc((size_t)N * sizeof(float));
    fill_uniform(x, M * K, 2.0f);
    fill_uniform(w, N * K, 0.5f);
    fill_uniform(b, N, 1.0f);
    for (int64_t i = 0; i < M * K; i++) xh[i] = qs_round_half(x[i]);
    for (int64_t i = 0; i < N * K; i++) wh[i] = qs_round_half(w[i]);
    for (int64_t i = 0; i < N; i++) bh[i] = qs_round_half(b[i]);
    CHECK(qs_gemm_f16_ref(x, w, b, M, N, K, y) == QS_OK);
    spec_gemm_f16(x, w, b, M, N, K, ys);
    int64_t first = -1;
    CHECK_MSG(same_bits(y, ys, M * N, &first), "shape %lldx%lldx%lld: element %lld: %.9g vs spec %.9g",
              (long long)M, (long long)N, (long long)K, (long long)first,
              first >= 0 ? (double)y[first] : 0.0, first >= 0 ? (double)ys[first] : 0.0);
    /* accuracy: against the exact product of the fp16 inputs, fp32 accumulation
     * error plus one fp16 rounding; against the fp32 inputs, plus input rounding */
    gemm_double(xh, wh, bh, M, N, K, ydh);
    gemm_double(x, w, b, M, N, K, yd);
    int ok_h = 1, ok_f = 1;
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        double sabs = fabs(bh[n]);
        for (int64_t k = 0; k < K; k++) sabs += fabs((double)xh[m * K + k] * wh[n * K + k]);
        double e = fabs(y[m * N + n] - ydh[m * N + n]);
        double tol = 0x1p-11 * fabs(ydh[m * N + n]) + (double)(K / 8 + 4) * 0x1p-24 * sabs + 0x1p-24;
        if (e > tol) ok_h = 0;
        double ef = fabs(y[m * N + n] - yd[m * N + n]);
        if (ef > tol + 3.0 * 0x1p-11 * sabs) ok_f = 0;
      }
    CHECK_MSG(ok_h, "fp16 GEMM vs double (fp16 inputs) out of tolerance for K=%lld", (long long)K);
    CHECK_MSG(ok_f, "fp16 GEMM vs double (fp32 inputs) out of tolerance for K=%lld", (long long)K);
    free(x), free(w), free(b), free(y), free(ys), free(yd), free(ydh), free(xh), free(wh), free(bh);
  }
}

/* ---- NF4 ------------------------------------------------------------------------ */

static void test_nf4_tables(void) {
  for (int i = 0; i < 15; i++) {
    double mid = ((double)qs_nf4_code[i] + (double)qs_nf4_code[i + 1]) / 2.0;
    float t = qs_nf4_threshold[i];
    CHECK_MSG((double)t <= mid && (double)nextafterf(t, INFINITY) > mid, "threshold %d", i);
  }
  CHECK(qs_nf4_code[7] == 0.0f && qs_nf4_code[0] == -1.0f && qs_nf4_code[15] == 1.0f);
}

static void test_nf4_known(void) {
  /* block 4: block 0 absmax 2, v = {0.5, -1, 0.25, 0} -> {12, 0, 10, 7};
   *          block 1 absmax 4, v = {0.025, 1, -1, 0.75} -> {7, 15, 0, 14} */
  const float w[8] = {1, -2, 0.5f, 0, 0.1f, 4, -4, 3};
  qs_nf4_matrix m;
  CHECK(qs_nf4_quantize(w, 2, 4, 4, 0, &m) == QS_OK);
  CHECK(m.nblocks == 2 && m.n == 8 && m.block == 4 && !m.double_quant && m.absmax_q == NULL);
  CHECK(m.absmax[0] == 2.0f && m.absmax[1] == 4.0f);
  const int idx[8] = {12, 0, 10, 7, 7, 15, 0, 14};
  for (int i = 0; i < 8; i++) CHECK_MSG(qs_nf4_index(&m, i) == idx[i], "index %d: %d", i, qs_nf4_index(&m, i));
  CHECK(m.packed[0] == 0xC0 && m.packed[1] == 0xA7 && m.packed[2] == 0x7F && m.packed[3] == 0x0E);
  float d[8];
  qs_nf4_dequantize(&m, d);
  const float dexp[8] = {0.44070982933044434f * 2, -2, 0.24611230194568634f * 2, 0,
                         0, 4, -4, 0.7229568362236023f * 4};
  CHECK(same_bits(d, dexp, 8, NULL));
  CHECK(qs_nf4_bytes(2, 4, 4, 0) == 4 + 8);
  qs_nf4_free(&m);
  CHECK(m.packed == NULL && m.absmax == NULL);

  /* partial last block and odd n: blocks {3,-3} {0,0} {0.5}; the pad nibble is 0 */
  const float w2[5] = {3, -3, 0, 0, 0.5f};
  CHECK(qs_nf4_quantize(w2, 1, 5, 2, 0, &m) == QS_OK);
  CHECK(m.nblocks == 3);
  CHECK(m.absmax[0] == 3.0f && m.absmax[1] == 0.0f && m.absmax[2] == 0.5f);
  CHECK(m.packed[0] == 0xF0 && m.packed[1] == 0x77 && m.packed[2] == 0xF0);
  qs_nf4_dequantize(&m, d);
  const float d2[5] = {3, -3, 0, 0, 0.5f};
  CHECK(same_bits(d, d2, 5, NULL));
  CHECK(qs_nf4_bytes(1, 5, 2, 0) == 3 + 12);
  qs_nf4_free(&m);

  /* ties go to the lower index; just above a midpoint goes up. T[2] and T[7] are
   * exact midpoints. */
  for (int t = 0; t < 2; t++) {
    int i = t ? 7 : 2;
    float mid = qs_nf4_threshold[i];
    const float w3[4] = {mid, 1.0f, nextafterf(mid, INFINITY), nextafterf(mid, -INFINITY)};
    CHECK(qs_nf4_quantize(w3, 1, 4, 4, 0, &m) == QS_OK);
    CHECK(m.absmax[0] == 1.0f);
    CHECK_MSG(qs_nf4_index(&m, 0) == i && qs_nf4_index(&m, 1) == 15 && qs_nf4_index(&m, 2) == i + 1 &&
                  qs_nf4_index(&m, 3) == i,
              "tie at threshold %d: %d %d %d", i, qs_nf4_index(&m, 0), qs_nf4_index(&m, 2),
              qs_nf4_index(&m, 3));
    qs_nf4_free(&m);
  }

  /* double quantization by hand: absmax {1, 2, 3} -> offset 2, d {-1, 0, 1},
   * scale 1/127 (fp32), codes {-127, 0, 127} */
  const float w4[3] = {1, -2, 3};
  CHECK(qs_nf4_quantize(w4, 1, 3, 1, 1, &m) == QS_OK);
  CHECK(m.double_quant == 1 && m.ngroups == 1);
  CHECK(m.absmax_offset == 2.0f);
  CHECK(m.absmax_scale[0] == 1.0f / 127.0f);
  CHECK(m.absmax_q[0] == -127 && m.absmax_q[1] == 0 && m.absmax_q[2] == 127);
  for (int b = 0; b < 3; b++) {
    float p = (float)m.absmax_q[b] * m.absmax_scale[0];
    float a = p + m.absmax_offset;
    CHECK(qs_f32_bits(m.absmax[b]) == qs_f32_bits(a));
    CHECK_CLOSE(m.absmax[b], (double)(b + 1), 1e-6, 0);
  }
  CHECK(qs_nf4_index(&m, 0) == 15 && qs_nf4_index(&m, 1) == 0 && qs_nf4_index(&m, 2) == 15);
  CHECK(qs_nf4_bytes(1, 3, 1, 1) == 2 + 3 + 4 + 4);
  qs_nf4_free(&m);

  /* bad input */
  float wbad[4] = {1, 2, NAN, 4};
  CHECK(qs_nf4_quantize(wbad, 2, 2, 64, 0, &m) == QS_EINVAL && m.packed == NULL);
  CHECK(strstr(qs_last_error(), "[1, 0]") != NULL);
  CHECK(qs_nf4_quantize(w, 2, 4, 0, 0, &m) == QS_EINVAL);
  CHECK(qs_nf4_quantize(w, 0, 4, 64, 0, &m) == QS_EINVAL);
}

static double nf4_max_gap(void) {
  double g = 0;
  for (int i = 0; i < 15; i++)
    if (qs_nf4_code[i + 1] - qs_nf4_code[i] > g) g = qs_nf4_code[i + 1] - qs_nf4_code[i];
  return g;
}

/* Check every index of m against the nearest-code definition; returns failures. */
static int64_t nf4_nearest_failures(const float *w, const qs_nf4_matrix *m) {
  int64_t bad = 0;
  for (int64_t i = 0; i < m->n; i++) {
    int64_t b = i / m->block;
    /* the indices are chosen with the exact fp32 absmax, before double quantization */
    float amax = 0;
    for (int64_t j = b * m->block; j < (b + 1) * m->block && j < m->n; j++)
      if (fabsf(w[j]) > amax) amax = fabsf(w[j]);
    int idx = qs_nf4_index(m, i);
    if (amax == 0.0f) {
      bad += idx != 7;
      continue;
    }
    float v = w[i] / amax;
    double dc = fabs((double)v - qs_nf4_code[idx]);
    for (int j = 0; j < 16; j++) {
      double dj = fabs((double)v - qs_nf4_code[j]);
      if (dj < dc || (dj == dc && j < idx)) {
        bad++;
        break;
      }
    }
  }
  return bad;
}

static void test_nf4_random(void) {
  const double gap = nf4_max_gap();
  /* 100k values uniform in [-1, 1] with every block's absmax forced to 1, plus
   * values within a few ulps of every midpoint */
  int64_t rows = 1563, cols = 64, n = rows * cols;
  float *w = malloc((size_t)n * sizeof(float)), *d = malloc((size_t)n * sizeof(float));
  fill_uniform(w, n, 1.0f);
  for (int64_t r = 0; r < rows; r++) w[r * cols] = (r & 1) ? -1.0f : 1.0f;
  int64_t p = 1;
  for (int i = 0; i < 15 && p < n; i++) {
    float t = qs_nf4_threshold[i];
    for (int u = 0; u < 4; u++) {
      if (p % cols == 0) p++;
      w[p++] = t;
      t = nextafterf(t, INFINITY);
    }
    t = qs_nf4_threshold[i];
    for (int u = 0; u < 3; u++) {
      t = nextafterf(t, -INFINITY);
      if (p % cols == 0) p++;
      w[p++] = t;
    }
  }
  qs_nf4_matrix m;
  CHECK(qs_nf4_quantize(w, rows, cols, 64, 0, &m) == QS_OK);
  CHECK_MSG(nf4_nearest_failures(w, &m) == 0, "nearest-code property violated");
  qs_nf4_free(&m);

  /* weights of varying scale, block 64 and a partial last block (n % 64 != 0):
   * |w - deq| <= absmax * gap / 2 (+ fp32 rounding) */
  const int blocks[3] = {64, 128, 37};
  for (int dq = 0; dq < 2; dq++)
    for (int bi = 0; bi < 3; bi++) {
      rows = 300, cols = 101, n = rows * cols;
      for (int64_t r = 0; r < rows; r++) fill_uniform(w + r * cols, cols, 0.02f * (float)(1 + r % 17));
      w[5] = 0.0f;
      int block = blocks[bi];
      CHECK(qs_nf4_quantize(w, rows, cols, block, dq, &m) == QS_OK);
      int64_t nb = (n + block - 1) / block;
      CHECK(m.nblocks == nb);
      CHECK(qs_nf4_bytes(rows, cols, block, dq) ==
            (n + 1) / 2 + (dq ? nb + 4 * ((nb + 255) / 256) + 4 : 4 * nb));
      CHECK(nf4_nearest_failures(w, &m) == 0);
      qs_nf4_dequantize(&m, d);
      int ok = 1, ok_amax = 1;
      for (int64_t b = 0; b < nb; b++) {
        float amax = 0;
        for (int64_t j = b * block; j < (b + 1) * block && j < n; j++)
          if (fabsf(w[j]) > amax) amax = fabsf(w[j]);
        double aerr = 0;
        if (dq) {
          double s = m.absmax_scale[b / QS_NF4_DQ_GROUP];
          aerr = fabs((double)m.absmax[b] - amax);
          if (aerr > 0.5 * s * (1 + 1e-5) + 0x1p-23 * (amax + fabs(m.absmax_offset))) ok_amax = 0;
        } else if (m.absmax[b] != amax) {
          ok_amax = 0;
        }
        for (int64_t j = b * block; j < (b + 1) * block && j < n; j++) {
          double e = fabs((double)w[j] - d[j]);
          if (e > amax * gap / 2 * (1 + 1e-6) + aerr + 0x1p-24 * amax) ok = 0;
        }
      }
      CHECK_MSG(ok_amax, "absmax (double_quant %d, block %d)", dq, block);
      CHECK_MSG(ok, "NF4 round trip bound (double_quant %d, block %d)", dq, block);
      if (dq) CHECK(m.ngroups == (nb + 255) / 256 && (block == 128 || m.ngroups >= 2));
      qs_nf4_free(&m);
    }
  free(w);
  free(d);
}

static void test_nf4_linear(void) {
  int64_t M = 13, N = 21, K = 70;
  float *x = malloc((size_t)(M * K) * sizeof(float)), *w = malloc((size_t)(N * K) * sizeof(float));
  float *b = malloc((size_t)N * sizeof(float)), *d = malloc((size_t)(N * K) * sizeof(float));
  float *y = malloc((size_t)(M * N) * sizeof(float)), *ys = malloc((size_t)(M * N) * sizeof(float));
  double *yd = malloc((size_t)(M * N) * sizeof(double));
  fill_uniform(x, M * K, 1.0f);
  fill_uniform(w, N * K, 0.1f);
  fill_uniform(b, N, 0.1f);
  for (int dq = 0; dq < 2; dq++) {
    qs_nf4_matrix m;
    CHECK(qs_nf4_quantize(w, N, K, 64, dq, &m) == QS_OK);
    CHECK(qs_nf4_linear_ref(x, &m, b, M, y) == QS_OK);
    /* exactly the fp16 GEMM of the fp32-dequantized weights */
    qs_nf4_dequantize(&m, d);
    spec_gemm_f16(x, d, b, M, N, K, ys);
    CHECK(same_bits(y, ys, M * N, NULL));
    CHECK(qs_nf4_linear_ref(x, &m, NULL, M, y) == QS_OK);
    spec_gemm_f16(x, d, NULL, M, N, K, ys);
    CHECK(same_bits(y, ys, M * N, NULL));
    /* and close to the fp32 layer (4-bit weights: a few percent) */
    gemm_double(x, w, NULL, M, N, K, yd);
    double e = rel_l2(y, yd, M * N);
    CHECK_MSG(e < 0.15, "nf4 linear rel L2 %g", e);
    qs_nf4_free(&m);
  }
  free(x), free(w), free(b), free(d), free(y), free(ys), free(yd);
}

/* ---- int8 ----------------------------------------------------------------------- */

static void test_int8_known(void) {
  /* row 0: s 1, w*127 = {127, -63.5, 31.75, 0} -> {127, -64, 32, 0}
   * row 1: s 2, {127, 127, -63.5, 31.75} -> {127, 127, -64, 32}
   * row 2: s 127, {127, 62.5, -0.5, 1.5} -> {127, 62, 0, 2}  (ties to even) */
  const float w[12] = {1, -0.5f, 0.25f, 0, 2, 2, -1, 0.5f, 127, 62.5f, -0.5f, 1.5f};
  qs_int8_matrix W;
  CHECK(qs_int8_quantize_weight(w, 3, 4, &W) == QS_OK);
  const int8_t qexp[12] = {127, -64, 32, 0, 127, 127, -64, 32, 127, 62, 0, 2};
  CHECK(W.N == 3 && W.K == 4 && memcmp(W.q, qexp, 12) == 0);
  CHECK(W.scale[0] == 1.0f && W.scale[1] == 2.0f && W.scale[2] == 127.0f);
  CHECK(qs_int8_bytes(3, 4) == 12 + 12);
  CHECK(qs_int8_bytes(3072, 768) == 3072LL * 768 + 4 * 3072);

  /* x row 0 = {1, 2, -1, 0.5}: s_x 2, xq = {64 (63.5 -> even), 127, -64, 32};
   * x row 1 = 0: s_x 0, acc 0 */
  const float x[8] = {1, 2, -1, 0.5f, 0, 0, 0, 0};
  const float bias[3] = {0.1f, 0, -1};
  float y[6];
  int32_t acc[6];
  int oc[4] = {9, 9, 9, 9}, no = -1;
  CHECK(qs_int8_linear_ref(x, 2, &W, bias, 6.0f, y, acc, oc, &no) == QS_OK);
  const int32_t aexp[6] = {-2048, 29377, 16066, 0, 0, 0};
  CHECK(memcmp(acc, aexp, sizeof aexp) == 0);
  CHECK(no == 0 && oc[0] == 0 && oc[1] == 0 && oc[2] == 0 && oc[3] == 0);
  const float sx = 2.0f;
  for (int n = 0; n < 3; n++) {
    float dd = (float)aexp[n] * sx * W.scale[n] * (1.0f / 16129.0f);
    float v = dd + 0.0f;
    v = v + qs_round_half(bias[n]);
    CHECK(qs_f32_bits(y[n]) == qs_f32_bits(qs_round_half(v)));
    CHECK(y[3 + n] == qs_round_half(bias[n]));
  }
  CHECK_CLOSE(y[0], -2048.0 * 2 / 16129 + 0.1, 1e-3, 0);
  CHECK_CLOSE(y[1], 29377.0 * 2 * 2 / 16129, 1e-3, 1e-3);
  CHECK_CLOSE(y[2], 16066.0 * 2 * 127 / 16129 - 1, 1e-2, 1e-3);

  /* one outlier: x[0][1] = 20 >= 6. Column 1 leaves the int8 product; s_x over
   * {1, -1, 0.5} = 1 -> xq = {127, 0, -127, 64 (63.5 -> even)};
   * outlier part: 20 * h(q[n][1] * s_w / 127) in fp16. */
  const float xo[8] = {1, 20, -1, 0.5f, 0, 0, 0, 0};
  CHECK(qs_int8_linear_ref(xo, 2, &W, NULL, 6.0f, y, acc, oc, &no) == QS_OK);
  CHECK(no == 1 && oc[0] == 0 && oc[1] == 1 && oc[2] == 0 && oc[3] == 0);
  const int32_t aexp2[3] = {127 * 127 - 127 * 32, 127 * 127 + 127 * 64 + 64 * 32, 127 * 127 - 0 + 64 * 2};
  CHECK(acc[0] == aexp2[0] && acc[1] == aexp2[1] && acc[2] == aexp2[2]);
  for (int n = 0; n < 3; n++) {
    float dd = (float)aexp2[n] * 1.0f * W.scale[n] * (1.0f / 16129.0f);
    float p = (float)W.q[n * 4 + 1] * W.scale[n];
    float o = qs_round_half(20.0f * qs_round_half(p / 127.0f));
    CHECK_MSG(qs_f32_bits(y[n]) == qs_f32_bits(qs_round_half(dd + o)), "outlier KAT n=%d: %g", n, (double)y[n]);
  }
  CHECK_CLOSE(y[1], 2 * 1 + 2 * 20 + -1 * -1 + 0.5 * 0.5, 0.05, 0);
  /* threshold 0 disables the decomposition */
  CHECK(qs_int8_linear_ref(xo, 2, &W, NULL, 0.0f, y, acc, oc, &no) == QS_OK);
  CHECK(no == 0 && oc[1] == 0);
  qs_int8_free(&W);
  CHECK(W.q == NULL && W.scale == NULL);

  /* a zero weight row and a weight NaN */
  const float wz[4] = {0, 0, 0, 0};
  CHECK(qs_int8_quantize_weight(wz, 1, 4, &W) == QS_OK);
  CHECK(W.scale[0] == 0.0f && W.q[0] == 0 && W.q[3] == 0);
  qs_int8_free(&W);
  const float wn[4] = {0, INFINITY, 0, 0};
  CHECK(qs_int8_quantize_weight(wn, 2, 2, &W) == QS_EINVAL && W.q == NULL);
  CHECK(strstr(qs_last_error(), "non-finite") != NULL);
}

static void test_int8_random(void) {
  int64_t M = 16, N = 32, K = 64;
  float *x = malloc((size_t)(M * K) * sizeof(float)), *w = malloc((size_t)(N * K) * sizeof(float));
  float *b = malloc((size_t)N * sizeof(float));
  float *y = malloc((size_t)(M * N) * sizeof(float)), *y0 = malloc((size_t)(M * N) * sizeof(float));
  float *ys = malloc((size_t)(M * N) * sizeof(float));
  int32_t *acc = malloc((size_t)(M * N) * sizeof(int32_t));
  double *yd = malloc((size_t)(M * N) * sizeof(double));
  int *oc = malloc((size_t)K * sizeof(int));
  fill_uniform(x, M * K, 1.0f);
  fill_uniform(w, N * K, 0.1f);
  fill_uniform(b, N, 0.1f);

  qs_int8_matrix W;
  CHECK(qs_int8_quantize_weight(w, N, K, &W) == QS_OK);
  /* weight round trip: |w - q s / 127| <= s / 254 (+ fp32 rounding) */
  int ok = 1;
  for (int64_t n = 0; n < N; n++) {
    float s = 0;
    for (int64_t k = 0; k < K; k++) s = fmaxf(s, fabsf(w[n * K + k]));
    if (W.scale[n] != s) ok = 0;
    for (int64_t k = 0; k < K; k++)
      if (fabs(w[n * K + k] - (double)W.q[n * K + k] * s / 127.0) > s / 254.0 * (1 + 1e-5)) ok = 0;
  }
  CHECK_MSG(ok, "int8 weight round trip bound");

  /* outliers: x = 20 in columns 5 and 40 (a few rows), everything else in [-1, 1] */
  x[3 * K + 5] = 20.0f;
  x[7 * K + 5] = -20.0f;
  x[0 * K + 40] = 20.0f;
  x[11 * K + 40] = 19.0f;
  x[2 * K + 17] = -5.0f; /* large but under the threshold */
  gemm_double(x, w, b, M, N, K, yd);
  int no = -1;
  CHECK(qs_int8_linear_ref(x, M, &W, b, 6.0f, y, acc, oc, &no) == QS_OK);
  CHECK(no == 2);
  int cols_ok = 1;
  for (int64_t k = 0; k < K; k++) cols_ok &= oc[k] == (k == 5 || k == 40);
  CHECK_MSG(cols_ok, "outlier columns must be exactly {5, 40}");
  spec_int8_linear(x, M, &W, b, 6.0f, ys);
  CHECK_MSG(same_bits(y, ys, M * N, NULL), "int8 with outliers vs spec");
  CHECK(qs_int8_linear_ref(x, M, &W, b, 0.0f, y0, NULL, oc, &no) == QS_OK);
  CHECK(no == 0);
  spec_int8_linear(x, M, &W, b, 0.0f, ys);
  CHECK_MSG(same_bits(y0, ys, M * N, NULL), "int8 without outliers vs spec");
  double e_dec = rel_l2(y, yd, M * N), e_plain = rel_l2(y0, yd, M * N);
  printf("int8 rel L2 vs fp32: decomposed %.3e, plain %.3e\n", e_dec, e_plain);
  CHECK_MSG(e_dec < e_plain, "decomposition must help: %g vs %g", e_dec, e_plain);
  CHECK(e_dec < 0.02);

  /* a NaN activation is not hidden: its row comes out NaN */
  x[4 * K + 9] = NAN;
  for (int t = 0; t < 2; t++) {
    CHECK(qs_int8_linear_ref(x, M, &W, b, t ? 6.0f : 0.0f, y, NULL, NULL, NULL) == QS_OK);
    int row_nan = 1, others = 1;
    for (int64_t n = 0; n < N; n++) row_nan &= isnan(y[4 * N + n]);
    for (int64_t n = 0; n < N; n++) others &= isfinite(y[5 * N + n]);
    CHECK(row_nan && others);
  }
  qs_int8_free(&W);

  /* bigger, threaded, with partial tiles and outliers, vs the spec bit for bit */
  M = 70, N = 131, K = 515;
  float *x2 = malloc((size_t)(M * K) * sizeof(float)), *w2 = malloc((size_t)(N * K) * sizeof(float));
  float *y2 = malloc((size_t)(M * N) * sizeof(float)), *ys2 = malloc((size_t)(M * N) * sizeof(float));
  fill_uniform(x2, M * K, 3.0f);
  fill_uniform(w2, N * K, 0.05f);
  for (int i = 0; i < 40; i++) x2[(int64_t)(rng_next() % (uint64_t)(M * K))] = 8.0f * rng_uniform();
  CHECK(qs_int8_quantize_weight(w2, N, K, &W) == QS_OK);
  CHECK(qs_int8_linear_ref(x2, M, &W, NULL, 6.0f, y2, NULL, NULL, &no) == QS_OK);
  spec_int8_linear(x2, M, &W, NULL, 6.0f, ys2);
  CHECK_MSG(no > 0 && same_bits(y2, ys2, M * N, NULL), "large int8 vs spec (%d outliers)", no);
  qs_int8_free(&W);

  free(x), free(w), free(b), free(y), free(y0), free(ys), free(acc), free(yd), free(oc);
  free(x2), free(w2), free(y2), free(ys2);
}

/* Throughput on one ViT-Base MLP layer (informational). */
static void bench_vit_base(void) {
  int64_t M = 197, N = 3072, K = 768;
  float *x = malloc((size_t)(M * K) * sizeof(float)), *w = malloc((size_t)(N * K) * sizeof(float));
  float *y = malloc((size_t)(M * N) * sizeof(float));
  fill_uniform(x, M * K, 1.0f);
  fill_uniform(w, N * K, 0.05f);
  double t0 = qs_now_s();
  CHECK(qs_gemm_f16_ref(x, w, NULL, M, N, K, y) == QS_OK);
  double t1 = qs_now_s();
  qs_int8_matrix W;
  CHECK(qs_int8_quantize_weight(w, N, K, &W) == QS_OK);
  double t2 = qs_now_s();
  CHECK(qs_int8_linear_ref(x, M, &W, NULL, 6.0f, y, NULL, NULL, NULL) == QS_OK);
  double t3 = qs_now_s();
  qs_nf4_matrix Q;
  CHECK(qs_nf4_quantize(w, N, K, 64, 1, &Q) == QS_OK);
  double t4 = qs_now_s();
  CHECK(qs_nf4_linear_ref(x, &Q, NULL, M, y) == QS_OK);
  double t5 = qs_now_s();
  double gf = 2.0 * M * N * K * 1e-9;
  printf("ViT-Base FC1 (197x3072x768): fp16 %.1f GFLOP/s, int8 %.1f GOP/s, nf4 %.1f GFLOP/s\n",
         gf / (t1 - t0), gf / (t3 - t2), gf / (t5 - t4));
  qs_int8_free(&W);
  qs_nf4_free(&Q);
  free(x), free(w), free(y);
}

int main(void) {
  test_gemm_known();
  test_gemm_random();
  test_nf4_tables();
  test_nf4_known();
  test_nf4_random();
  test_nf4_linear();
  test_int8_known();
  test_int8_random();
  bench_vit_base();
  return qs_test_finish("test_quant");
}
