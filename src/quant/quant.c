/* quant.c - the CPU quantization reference (see quant.h for the exact semantics). */
#include "quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qs_common.h"
#include "qs_half.h"

/* Every rounding step is specified (quant.h): never fuse a multiply and an add.
 * GCC does not contract in ISO C mode (-std=c11); clang needs to be told. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Work (M*N*K multiply-adds) above which the GEMMs run on several threads. */
#define QS_GEMM_PAR_WORK (1LL << 22)
/* Cache blocking of the GEMM loops (rows of x, rows of w). */
#define QS_GEMM_MB 32
#define QS_GEMM_NB 64

const float qs_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/* Largest fp32 <= the exact midpoint (code[i] + code[i+1]) / 2 (the midpoints
 * are exact in double; tests/test_quant.c re-derives these). For an fp32 v,
 * v > T[i] holds exactly when v is above the true midpoint. */
const float qs_nf4_threshold[15] = {
    -0x1.b239b2p-1f, -0x1.38a4e2p-1f, -0x1.d709p-2f,   -0x1.5bd4eep-2f, -0x1.e079dap-3f,
    -0x1.1a7178p-3f, -0x1.74f0e2p-5f, 0x1.45f5fep-5f,  0x1.ec90c4p-4f,  0x1.a0cfcp-3f,
    0x1.2b05a8p-2f,  0x1.8ea7f2p-2f,  0x1.00da06p-1f,  0x1.491b5ep-1f,  0x1.b913b2p-1f};

/* ---- fp16 GEMM core ---------------------------------------------------------- */

/* 8 lanes of fp32: lane j holds the partial sum P[j] of quant.h section 1.
 * GCC/clang vector extension; on plain x86-64 it lowers to pairs of SSE ops,
 * and the kernels are also compiled for AVX2, chosen at run time (the
 * arithmetic is lane-wise, so every clone gives the same bits). */
typedef float qs_v8f __attribute__((vector_size(32)));
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(QS_NO_KERNEL_CLONES)
#define QS_KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define QS_KERNEL_CLONES
#endif

static inline void qs_ld8(qs_v8f *v, const float *p) { memcpy(v, p, sizeof *v); }
/* The fixed combination tree of the 8 lane sums. */
static inline float qs_sum8(const qs_v8f *a) {
  const qs_v8f v = *a;
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

/* Dot products of rows x0, x1 (length K) with w rows w, w+K, w+2K, w+3K. */
QS_KERNEL_CLONES
static void qs_dot_2x4(const float *restrict x0, const float *restrict x1, const float *restrict w,
                       int64_t K, float *restrict o0, float *restrict o1) {
  const float *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
  qs_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    qs_v8f xa, xb, v0, v1, v2, v3;
    qs_ld8(&xa, x0 + k), qs_ld8(&xb, x1 + k);
    qs_ld8(&v0, w0 + k), qs_ld8(&v1, w1 + k), qs_ld8(&v2, w2 + k), qs_ld8(&v3, w3 + k);
    a0 += xa * v0, a1 += xa * v1, a2 += xa * v2, a3 += xa * v3;
    b0 += xb * v0, b1 += xb * v1, b2 += xb * v2, b3 += xb * v3;
  }
  for (int j = 0; k + j < K; j++) {
    float xa = x0[k + j], xb = x1[k + j];
    a0[j] += xa * w0[k + j], a1[j] += xa * w1[k + j], a2[j] += xa * w2[k + j], a3[j] += xa * w3[k + j];
    b0[j] += xb * w0[k + j], b1[j] += xb * w1[k + j], b2[j] += xb * w2[k + j], b3[j] += xb * w3[k + j];
  }
  o0[0] = qs_sum8(&a0), o0[1] = qs_sum8(&a1), o0[2] = qs_sum8(&a2), o0[3] = qs_sum8(&a3);
  o1[0] = qs_sum8(&b0), o1[1] = qs_sum8(&b1), o1[2] = qs_sum8(&b2), o1[3] = qs_sum8(&b3);
}

/* Dot products of row x0 with w rows w, w+K, ..., w+(nw-1)K, nw <= 4. */
QS_KERNEL_CLONES
static void qs_dot_1xn(const float *restrict x0, const float *restrict w, int nw, int64_t K,
                       float *restrict o0) {
  qs_v8f a[4] = {{0}, {0}, {0}, {0}};
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    qs_v8f xa, v;
    qs_ld8(&xa, x0 + k);
    for (int i = 0; i < nw; i++) {
      qs_ld8(&v, w + i * K + k);
      a[i] += xa * v;
    }
  }
  for (int j = 0; k + j < K; j++)
    for (int i = 0; i < nw; i++) a[i][j] += x0[k + j] * w[i * K + k + j];
  for (int i = 0; i < nw; i++) o0[i] = qs_sum8(&a[i]);
}

/* What happens to a lane-tree sum S of output (m, n): the fp8 scales (sections 5),
 * the rounded bias, the rounding to the output type. */
typedef struct {
  int round;          /* QS_ROUND_F16 or QS_ROUND_BF16 */
  const float *bias;  /* [N], already rounded to the output type, or NULL */
  const float *sx;    /* [M] fp8 activation scales, or NULL (then sw unused) */
  const float *sw;    /* [N] fp8 weight scales */
  float *acc;         /* [M, N] the sums S before anything else, or NULL */
} qs_epilogue;

static inline void qs_store_out(float *yr, const float *s, const qs_epilogue *e, int64_t m,
                                int64_t N, int64_t n, int cnt) {
  for (int i = 0; i < cnt; i++) {
    float v = s[i];
    if (e->acc) e->acc[m * N + n + i] = v;
    if (e->sx) {
      v = v * e->sx[m]; /* separate statements: left to right, no FMA */
      v = v * e->sw[n + i];
    }
    if (e->bias) v = v + e->bias[n + i];
    yr[n + i] = qs_round_to(e->round, v);
  }
}

/* y = epilogue(xh * wh^T) for inputs that already hold the storage type's values. */
static void qs_gemm_core(const float *xh, const float *wh, const qs_epilogue *ep,
                         int64_t M, int64_t N, int64_t K, float *y) {
  int64_t mblocks = (M + QS_GEMM_MB - 1) / QS_GEMM_MB;
  int par = (double)M * (double)N * (double)K >= (double)QS_GEMM_PAR_WORK && mblocks > 1;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (par)
#endif
  for (int64_t mb = 0; mb < mblocks; mb++) {
    int64_t m0 = mb * QS_GEMM_MB, m1 = m0 + QS_GEMM_MB < M ? m0 + QS_GEMM_MB : M;
    for (int64_t n0 = 0; n0 < N; n0 += QS_GEMM_NB) {
      int64_t n1 = n0 + QS_GEMM_NB < N ? n0 + QS_GEMM_NB : N;
      int64_t m = m0;
      for (; m + 2 <= m1; m += 2) {
        const float *x0 = xh + m * K, *x1 = x0 + K;
        float *y0 = y + m * N, *y1 = y0 + N;
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4) {
          float s0[4], s1[4];
          qs_dot_2x4(x0, x1, wh + n * K, K, s0, s1);
          qs_store_out(y0, s0, ep, m, N, n, 4);
          qs_store_out(y1, s1, ep, m + 1, N, n, 4);
        }
        if (n < n1) {
          float s0[4], s1[4];
          qs_dot_1xn(x0, wh + n * K, (int)(n1 - n), K, s0);
          qs_dot_1xn(x1, wh + n * K, (int)(n1 - n), K, s1);
          qs_store_out(y0, s0, ep, m, N, n, (int)(n1 - n));
          qs_store_out(y1, s1, ep, m + 1, N, n, (int)(n1 - n));
        }
      }
      if (m < m1) {
        const float *x0 = xh + m * K;
        float *y0 = y + m * N;
        for (int64_t n = n0; n < n1; n += 4) {
          int cnt = n1 - n < 4 ? (int)(n1 - n) : 4;
          float s0[4];
          qs_dot_1xn(x0, wh + n * K, cnt, K, s0);
          qs_store_out(y0, s0, ep, m, N, n, cnt);
        }
      }
    }
  }
}

static void qs_round_array(int mode, const float *src, float *dst, int64_t n) {
  int par = n >= (1LL << 20);
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int64_t i = 0; i < n; i++) dst[i] = qs_round_to(mode, src[i]);
}
static void qs_round_half_array(const float *src, float *dst, int64_t n) {
  qs_round_array(QS_ROUND_F16, src, dst, n);
}

/* The fp16 GEMM of section 1 on inputs that already hold fp16 values. */
static void qs_gemm_f16_core(const float *xh, const float *wh, const float *bh,
                             int64_t M, int64_t N, int64_t K, float *y) {
  const qs_epilogue ep = {QS_ROUND_F16, bh, NULL, NULL, NULL};
  qs_gemm_core(xh, wh, &ep, M, N, K, y);
}

static int qs_check_dims(const char *fn, int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0 || K <= 0)
    return qs_fail(QS_EINVAL, "%s: shape: M=%lld N=%lld K=%lld must all be positive", fn,
                   (long long)M, (long long)N, (long long)K);
  if (M > INT64_MAX / K || N > INT64_MAX / K || M > INT64_MAX / N ||
      (uint64_t)(M * K) > SIZE_MAX / sizeof(float) || (uint64_t)(N * K) > SIZE_MAX / sizeof(float) ||
      (uint64_t)(M * N) > SIZE_MAX / sizeof(float))
    return qs_fail(QS_EINVAL, "%s: shape: M=%lld N=%lld K=%lld is too large", fn, (long long)M,
                   (long long)N, (long long)K);
  return QS_OK;
}

/* The GEMM of section 1 (mode QS_ROUND_F16) or 4 (QS_ROUND_BF16) where w already
 * holds values of the storage type (saves one copy). */
static int qs_gemm_lp_wh(int mode, const float *x, const float *wh, const float *bias, int64_t M,
                         int64_t N, int64_t K, float *y) {
  float *xh = qs_malloc((size_t)(M * K) * sizeof(float));
  float *bh = bias ? qs_malloc((size_t)N * sizeof(float)) : NULL;
  if (!xh || (bias && !bh)) {
    free(xh);
    free(bh);
    return QS_ENOMEM;
  }
  qs_round_array(mode, x, xh, M * K);
  if (bias) qs_round_array(mode, bias, bh, N);
  const qs_epilogue ep = {mode, bh, NULL, NULL, NULL};
  qs_gemm_core(xh, wh, &ep, M, N, K, y);
  free(xh);
  free(bh);
  return QS_OK;
}
static int qs_gemm_f16_wh(const float *x, const float *wh, const float *bias, int64_t M,
                          int64_t N, int64_t K, float *y) {
  return qs_gemm_lp_wh(QS_ROUND_F16, x, wh, bias, M, N, K, y);
}

static int qs_gemm_lp_ref(const char *fn, int mode, const float *x, const float *w,
                          const float *bias, int64_t M, int64_t N, int64_t K, float *y) {
  if (!x || !w || !y) return qs_fail(QS_EINVAL, "%s: argument: NULL matrix", fn);
  QS_TRY(qs_check_dims(fn, M, N, K));
  float *wh = qs_malloc((size_t)(N * K) * sizeof(float));
  if (!wh) return QS_ENOMEM;
  qs_round_array(mode, w, wh, N * K);
  int rc = qs_gemm_lp_wh(mode, x, wh, bias, M, N, K, y);
  free(wh);
  return rc;
}

int qs_gemm_f16_ref(const float *x, const float *w, const float *bias, int64_t M, int64_t N,
                    int64_t K, float *y) {
  return qs_gemm_lp_ref("qs_gemm_f16_ref", QS_ROUND_F16, x, w, bias, M, N, K, y);
}

int qs_gemm_bf16_ref(const float *x, const float *w, const float *bias, int64_t M, int64_t N,
                     int64_t K, float *y) {
  return qs_gemm_lp_ref("qs_gemm_bf16_ref", QS_ROUND_BF16, x, w, bias, M, N, K, y);
}

/* ---- NF4 ---------------------------------------------------------------------- */

static inline int qs_nf4_nearest(float v) {
  int idx = 0;
  for (int i = 0; i < 15; i++) idx += v > qs_nf4_threshold[i];
  return idx;
}

static int qs_check_finite(const char *fn, const float *w, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows * cols; i++)
    if (!isfinite(w[i]))
      return qs_fail(QS_EINVAL, "%s: weights: non-finite value %g at [%lld, %lld]", fn,
                     (double)w[i], (long long)(i / cols), (long long)(i % cols));
  return QS_OK;
}

void qs_nf4_free(qs_nf4_matrix *m) {
  if (!m) return;
  free(m->packed);
  free(m->absmax);
  free(m->absmax_q);
  free(m->absmax_scale);
  memset(m, 0, sizeof *m);
}

int64_t qs_nf4_bytes(int64_t rows, int64_t cols, int block, int double_quant) {
  if (rows <= 0 || cols <= 0 || block <= 0 || rows > INT64_MAX / cols) return -1;
  int64_t n = rows * cols;
  int64_t nblocks = (n + block - 1) / block;
  int64_t bytes = (n + 1) / 2;
  if (double_quant) {
    int64_t ngroups = (nblocks + QS_NF4_DQ_GROUP - 1) / QS_NF4_DQ_GROUP;
    bytes += nblocks + 4 * ngroups + 4;
  } else {
    bytes += 4 * nblocks;
  }
  return bytes;
}

int qs_nf4_quantize(const float *w, int64_t rows, int64_t cols, int block, int double_quant,
                    qs_nf4_matrix *out) {
  if (!out) return qs_fail(QS_EINVAL, "qs_nf4_quantize: argument: NULL output");
  memset(out, 0, sizeof *out);
  if (!w) return qs_fail(QS_EINVAL, "qs_nf4_quantize: argument: NULL weights");
  if (rows <= 0 || cols <= 0 || rows > INT64_MAX / cols ||
      (uint64_t)(rows * cols) > SIZE_MAX / sizeof(float))
    return qs_fail(QS_EINVAL, "qs_nf4_quantize: shape: [%lld, %lld] is invalid", (long long)rows,
                   (long long)cols);
  if (block <= 0)
    return qs_fail(QS_EINVAL, "qs_nf4_quantize: block: %d must be positive", block);
  QS_TRY(qs_check_finite("qs_nf4_quantize", w, rows, cols));

  int64_t n = rows * cols;
  int64_t nblocks = (n + block - 1) / block;
  out->rows = rows;
  out->cols = cols;
  out->n = n;
  out->block = block;
  out->nblocks = nblocks;
  out->double_quant = double_quant ? 1 : 0;
  out->packed = qs_calloc((size_t)((n + 1) / 2), 1);
  out->absmax = qs_malloc((size_t)nblocks * sizeof(float));
  if (!out->packed || !out->absmax) {
    qs_nf4_free(out);
    return QS_ENOMEM;
  }

  int par = n >= (1LL << 18);
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int64_t b = 0; b < nblocks; b++) {
    int64_t i0 = b * block, i1 = i0 + block < n ? i0 + block : n;
    float amax = 0.0f;
    for (int64_t i = i0; i < i1; i++) {
      float a = fabsf(w[i]);
      if (a > amax) amax = a;
    }
    out->absmax[b] = amax;
  }
  /* Indices, packed by byte (blocks of odd size share bytes, so work per byte). */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int64_t j = 0; j < (n + 1) / 2; j++) {
    uint8_t byte = 0;
    for (int h = 0; h < 2; h++) {
      int64_t i = 2 * j + h;
      int idx = 0;
      if (i < n) {
        float amax = out->absmax[i / block];
        idx = amax > 0.0f ? qs_nf4_nearest(w[i] / amax) : 7;
      }
      byte = (uint8_t)(byte | (h == 0 ? idx << 4 : idx));
    }
    out->packed[j] = byte;
  }

  if (out->double_quant) {
    int64_t ngroups = (nblocks + QS_NF4_DQ_GROUP - 1) / QS_NF4_DQ_GROUP;
    out->ngroups = ngroups;
    out->absmax_q = qs_malloc((size_t)nblocks);
    out->absmax_scale = qs_malloc((size_t)ngroups * sizeof(float));
    if (!out->absmax_q || !out->absmax_scale) {
      qs_nf4_free(out);
      return QS_ENOMEM;
    }
    double sum = 0.0;
    for (int64_t b = 0; b < nblocks; b++) sum += (double)out->absmax[b];
    float offset = (float)(sum / (double)nblocks);
    out->absmax_offset = offset;
    for (int64_t g = 0; g < ngroups; g++) {
      int64_t b0 = g * QS_NF4_DQ_GROUP;
      int64_t b1 = b0 + QS_NF4_DQ_GROUP < nblocks ? b0 + QS_NF4_DQ_GROUP : nblocks;
      float dmax = 0.0f;
      for (int64_t b = b0; b < b1; b++) {
        float d = fabsf(out->absmax[b] - offset);
        if (d > dmax) dmax = d;
      }
      float scale = dmax / 127.0f;
      out->absmax_scale[g] = scale;
      for (int64_t b = b0; b < b1; b++) {
        float d = out->absmax[b] - offset;
        float c = scale > 0.0f ? rintf(d / scale) : 0.0f;
        if (c > 127.0f) c = 127.0f;
        if (c < -127.0f) c = -127.0f;
        out->absmax_q[b] = (int8_t)c;
      }
      /* the absmax the dequantizer uses from now on */
      for (int64_t b = b0; b < b1; b++) {
        float prod = (float)out->absmax_q[b] * scale; /* rounded on its own: no FMA */
        out->absmax[b] = prod + offset;
      }
    }
  }
  return QS_OK;
}

void qs_nf4_dequantize(const qs_nf4_matrix *m, float *w) {
  int par = m->n >= (1LL << 18);
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int64_t i = 0; i < m->n; i++) w[i] = qs_nf4_code[qs_nf4_index(m, i)] * m->absmax[i / m->block];
}

int qs_nf4_linear_ref(const float *x, const qs_nf4_matrix *W, const float *bias, int64_t M,
                      float *y) {
  if (!x || !W || !W->packed || !y)
    return qs_fail(QS_EINVAL, "qs_nf4_linear_ref: argument: NULL matrix");
  int64_t N = W->rows, K = W->cols;
  QS_TRY(qs_check_dims("qs_nf4_linear_ref", M, N, K));
  float *wh = qs_malloc((size_t)(N * K) * sizeof(float));
  if (!wh) return QS_ENOMEM;
  qs_nf4_dequantize(W, wh);
  qs_round_half_array(wh, wh, N * K);
  int rc = qs_gemm_f16_wh(x, wh, bias, M, N, K, y);
  free(wh);
  return rc;
}

/* ---- int8 ----------------------------------------------------------------------- */

void qs_int8_free(qs_int8_matrix *m) {
  if (!m) return;
  free(m->q);
  free(m->scale);
  memset(m, 0, sizeof *m);
}

int64_t qs_int8_bytes(int64_t N, int64_t K) {
  if (N <= 0 || K <= 0 || N > INT64_MAX / (K + 4)) return -1;
  return N * K + 4 * N;
}

/* max_k |wr[k]| of one weight row (fp32, exact; the weights are finite: checked first) */
static float row_absmax(const float *wr, int64_t K) {
  float s = 0.0f;
  for (int64_t k = 0; k < K; k++) {
    const float a = fabsf(wr[k]);
    if (a > s) s = a;
  }
  return s;
}

/* The checks and allocations every per-row weight quantizer starts with (int8, fp8):
 * w [N, K] finite, *q N*K bytes, *scale N floats; on failure both freed, NULL. */
static int rowwise_alloc(const char *who, const float *w, int64_t N, int64_t K, void **q, float **scale) {
  *q = NULL;
  *scale = NULL;
  if (!w) return qs_fail(QS_EINVAL, "%s: argument: NULL weights", who);
  if (N <= 0 || K <= 0 || N > INT64_MAX / K || (uint64_t)(N * K) > SIZE_MAX / sizeof(float))
    return qs_fail(QS_EINVAL, "%s: shape: [%lld, %lld] is invalid", who, (long long)N, (long long)K);
  QS_TRY(qs_check_finite(who, w, N, K));
  *q = qs_malloc((size_t)(N * K));
  *scale = qs_malloc((size_t)N * sizeof(float));
  if (!*q || !*scale) {
    free(*q);
    free(*scale);
    *q = NULL;
    *scale = NULL;
    return QS_ENOMEM;
  }
  return QS_OK;
}

int qs_int8_quantize_weight(const float *w, int64_t N, int64_t K, qs_int8_matrix *out) {
  if (!out) return qs_fail(QS_EINVAL, "qs_int8_quantize_weight: argument: NULL output");
  memset(out, 0, sizeof *out);
  void *q;
  QS_TRY(rowwise_alloc("qs_int8_quantize_weight", w, N, K, &q, &out->scale));
  out->q = q;
  out->N = N;
  out->K = K;
  int par = N * K >= (1LL << 18);
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int64_t n = 0; n < N; n++) {
    const float *wr = w + n * K;
    const float s = row_absmax(wr, K);
    out->scale[n] = s;
    for (int64_t k = 0; k < K; k++) {
      float c = s > 0.0f ? rintf((wr[k] * 127.0f) / s) : 0.0f;
      if (c > 127.0f) c = 127.0f;
      if (c < -127.0f) c = -127.0f;
      out->q[n * K + k] = (int8_t)c;
    }
  }
  return QS_OK;
}

/* Four int32 dot products of one activation row with four weight rows
 * (integer sums are exact: any order and any clone gives the same result). */
QS_KERNEL_CLONES
static void qs_idot_1x4(const int16_t *restrict xr, const int16_t *restrict w0,
                        const int16_t *restrict w1, const int16_t *restrict w2,
                        const int16_t *restrict w3, int64_t K, int32_t out[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int64_t k = 0; k < K; k++) {
    int32_t xv = xr[k];
    a0 += xv * w0[k];
    a1 += xv * w1[k];
    a2 += xv * w2[k];
    a3 += xv * w3[k];
  }
  out[0] = a0;
  out[1] = a1;
  out[2] = a2;
  out[3] = a3;
}

QS_KERNEL_CLONES
static int32_t qs_idot_1x1(const int16_t *restrict xr, const int16_t *restrict w0, int64_t K) {
  int32_t a0 = 0;
  for (int64_t k = 0; k < K; k++) a0 += (int32_t)xr[k] * w0[k];
  return a0;
}

/* NaN-propagating magnitude of an fp16 value held in a float: larger for NaN
 * than for inf, and monotone in |v| otherwise (fp16 magnitude bits). */
static inline uint16_t qs_half_mag(float v) { return (uint16_t)(qs_float_to_half(v) & 0x7fffu); }

/* rintf(q) clamped to [-127, 127]; NaN gives 0 (as __float2int_rn). */
static inline int16_t qs_q127(float v) {
  if (v != v) return 0;
  float c = rintf(v);
  if (c > 127.0f) c = 127.0f;
  if (c < -127.0f) c = -127.0f;
  return (int16_t)c;
}

int qs_int8_linear_ref(const float *x, int64_t M, const qs_int8_matrix *W, const float *bias,
                       float threshold, float *y, int32_t *acc_out, int *outlier_cols_out,
                       int *n_outliers) {
  if (!x || !W || !W->q || !W->scale || !y)
    return qs_fail(QS_EINVAL, "qs_int8_linear_ref: argument: NULL matrix");
  int64_t N = W->N, K = W->K;
  QS_TRY(qs_check_dims("qs_int8_linear_ref", M, N, K));
  if (K > QS_INT8_MAX_K)
    return qs_fail(QS_EINVAL, "qs_int8_linear_ref: shape: K=%lld exceeds %lld (int32 accumulators)",
                   (long long)K, (long long)QS_INT8_MAX_K);

  int rc = QS_OK;
  float *xh = qs_malloc((size_t)(M * K) * sizeof(float));
  int16_t *xq = qs_malloc((size_t)(M * K) * sizeof(int16_t));
  int16_t *wq = qs_malloc((size_t)(N * K) * sizeof(int16_t));
  float *sx = qs_malloc((size_t)M * sizeof(float));
  unsigned char *is_out = qs_calloc((size_t)K, 1);
  int64_t *ocols = qs_malloc((size_t)K * sizeof(int64_t));
  float *o = NULL, *xo = NULL, *wo = NULL;
  if (!xh || !xq || !wq || !sx || !is_out || !ocols) {
    rc = QS_ENOMEM;
    goto done;
  }
  qs_round_half_array(x, xh, M * K);
  for (int64_t i = 0; i < N * K; i++) wq[i] = W->q[i];

  /* outlier columns */
  int64_t nout = 0;
  if (threshold > 0.0f) {
    for (int64_t m = 0; m < M; m++) {
      const float *xr = xh + m * K;
      for (int64_t k = 0; k < K; k++)
        if (fabsf(xr[k]) >= threshold) is_out[k] = 1;
    }
    for (int64_t k = 0; k < K; k++)
      if (is_out[k]) ocols[nout++] = k;
  }
  if (outlier_cols_out)
    for (int64_t k = 0; k < K; k++) outlier_cols_out[k] = is_out[k];
  if (n_outliers) *n_outliers = (int)nout;

  /* per-row absmax over the non-outlier columns, and the int8 activations */
  for (int64_t m = 0; m < M; m++) {
    const float *xr = xh + m * K;
    uint16_t mag = 0;
    for (int64_t k = 0; k < K; k++) {
      if (is_out[k]) continue;
      uint16_t a = qs_half_mag(xr[k]);
      if (a > mag) mag = a;
    }
    float s = qs_half_to_float(mag);
    sx[m] = s;
    int16_t *qr = xq + m * K;
    for (int64_t k = 0; k < K; k++)
      qr[k] = (is_out[k] || s == 0.0f) ? 0 : qs_q127((xr[k] * 127.0f) / s);
  }

  /* outlier part: fp16 GEMM over the gathered columns */
  if (nout > 0) {
    o = qs_malloc((size_t)(M * N) * sizeof(float));
    xo = qs_malloc((size_t)(M * nout) * sizeof(float));
    wo = qs_malloc((size_t)(N * nout) * sizeof(float));
    if (!o || !xo || !wo) {
      rc = QS_ENOMEM;
      goto done;
    }
    for (int64_t m = 0; m < M; m++)
      for (int64_t j = 0; j < nout; j++) xo[m * nout + j] = xh[m * K + ocols[j]];
    for (int64_t n = 0; n < N; n++) {
      float s = W->scale[n];
      for (int64_t j = 0; j < nout; j++) {
        float p = (float)W->q[n * K + ocols[j]] * s;
        wo[n * nout + j] = qs_round_half(p / 127.0f);
      }
    }
    qs_gemm_f16_core(xo, wo, NULL, M, N, nout, o);
  }

  /* int8 GEMM, dequantization, outlier part, bias */
  int64_t mblocks = (M + QS_GEMM_MB - 1) / QS_GEMM_MB;
  int par = (double)M * (double)N * (double)K >= (double)QS_GEMM_PAR_WORK && mblocks > 1;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (par)
#endif
  for (int64_t mb = 0; mb < mblocks; mb++) {
    int64_t m0 = mb * QS_GEMM_MB, m1 = m0 + QS_GEMM_MB < M ? m0 + QS_GEMM_MB : M;
    for (int64_t n0 = 0; n0 < N; n0 += QS_GEMM_NB) {
      int64_t n1 = n0 + QS_GEMM_NB < N ? n0 + QS_GEMM_NB : N;
      for (int64_t m = m0; m < m1; m++) {
        const int16_t *qr = xq + m * K;
        int32_t accs[QS_GEMM_NB];
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4)
          qs_idot_1x4(qr, wq + n * K, wq + (n + 1) * K, wq + (n + 2) * K, wq + (n + 3) * K, K,
                      accs + (n - n0));
        for (; n < n1; n++) accs[n - n0] = qs_idot_1x1(qr, wq + n * K, K);
        for (n = n0; n < n1; n++) {
          int32_t acc = accs[n - n0];
          if (acc_out) acc_out[m * N + n] = acc;
          float d = (float)acc * sx[m] * W->scale[n] * QS_INT8_DEQ; /* left to right */
          float v = d + (o ? o[m * N + n] : 0.0f); /* a separate statement: no FMA */
          if (bias) v = v + qs_round_half(bias[n]);
          y[m * N + n] = qs_round_half(v);
        }
      }
    }
  }

done:
  free(xh);
  free(xq);
  free(wq);
  free(sx);
  free(is_out);
  free(ocols);
  free(o);
  free(xo);
  free(wo);
  return rc;
}

/* ---- int8dyn ------------------------------------------------------------------- */

int64_t qs_int8dyn_bytes(int64_t N, int64_t K) { return qs_int8_bytes(N, K); }

int qs_int8dyn_linear_ref(const float *x, int64_t M, const qs_int8_matrix *W, const float *bias,
                          float *y, int32_t *acc_out) {
  /* section 6 is section 3 without outlier columns */
  return qs_int8_linear_ref(x, M, W, bias, 0.0f, y, acc_out, NULL, NULL);
}

/* ---- fp8 e4m3 -------------------------------------------------------------------- */

void qs_fp8_free(qs_fp8_matrix *m) {
  if (!m) return;
  free(m->q);
  free(m->scale);
  memset(m, 0, sizeof *m);
}

int64_t qs_fp8_bytes(int64_t N, int64_t K) { return qs_int8_bytes(N, K); /* one byte a weight + a scale a row */ }

int qs_fp8_quantize_weight(const float *w, int64_t N, int64_t K, qs_fp8_matrix *out) {
  if (!out) return qs_fail(QS_EINVAL, "qs_fp8_quantize_weight: argument: NULL output");
  memset(out, 0, sizeof *out);
  void *q;
  QS_TRY(rowwise_alloc("qs_fp8_quantize_weight", w, N, K, &q, &out->scale));
  out->q = q;
  out->N = N;
  out->K = K;
  int par = N * K >= (1LL << 18);
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
  for (int64_t n = 0; n < N; n++) {
    const float *wr = w + n * K;
    float s = row_absmax(wr, K) / QS_E4M3_MAX;
    out->scale[n] = s;
    for (int64_t k = 0; k < K; k++) out->q[n * K + k] = s > 0.0f ? qs_float_to_e4m3(wr[k] / s) : 0;
  }
  return QS_OK;
}

int qs_fp8_linear_ref(const float *x, int64_t M, const qs_fp8_matrix *W, const float *bias,
                      float *y, float *acc_out, float *sx_out) {
  if (!x || !W || !W->q || !W->scale || !y)
    return qs_fail(QS_EINVAL, "qs_fp8_linear_ref: argument: NULL matrix");
  int64_t N = W->N, K = W->K;
  QS_TRY(qs_check_dims("qs_fp8_linear_ref", M, N, K));
  int rc = QS_OK;
  float *xq = qs_malloc((size_t)(M * K) * sizeof(float));   /* e(xh / s_x), decoded */
  float *wq = qs_malloc((size_t)(N * K) * sizeof(float));   /* the codes, decoded */
  float *sx = qs_malloc((size_t)M * sizeof(float));
  float *bh = bias ? qs_malloc((size_t)N * sizeof(float)) : NULL;
  if (!xq || !wq || !sx || (bias && !bh)) {
    rc = QS_ENOMEM;
    goto done;
  }
  qs_round_half_array(x, xq, M * K); /* xh, quantized in place below */
  if (bias) qs_round_half_array(bias, bh, N);
  for (int64_t i = 0; i < N * K; i++) wq[i] = qs_e4m3_to_float(W->q[i]);
  for (int64_t m = 0; m < M; m++) {
    float *xr = xq + m * K;
    uint16_t mag = 0; /* NaN-propagating max of |xh| (section 3) */
    for (int64_t k = 0; k < K; k++) {
      uint16_t a = qs_half_mag(xr[k]);
      if (a > mag) mag = a;
    }
    float s = qs_half_to_float(mag) / QS_E4M3_MAX;
    sx[m] = s;
    for (int64_t k = 0; k < K; k++) xr[k] = s == 0.0f ? 0.0f : qs_round_e4m3(xr[k] / s);
  }
  if (sx_out) memcpy(sx_out, sx, (size_t)M * sizeof(float));
  const qs_epilogue ep = {QS_ROUND_F16, bh, sx, W->scale, acc_out};
  qs_gemm_core(xq, wq, &ep, M, N, K, y);
done:
  free(xq);
  free(wq);
  free(sx);
  free(bh);
  return rc;
}
