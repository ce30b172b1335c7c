/* test_gpu_kernels.c - every CUDA kernel family against a CPU reference, in fp32,
 * fp16 and bf16 (bf16 on devices of compute capability 8.0 and newer): LayerNorm
 * (+ residual, layer scale), attention (with and without the BEiT bias, several head
 * sizes and lengths), GELU, im2col, tokens + positions, pooling and heads, and the
 * cuBLASLt GEMM. Prints max abs / rel error and first mismatches.
 *
 * Tolerances: the 16-bit errors measured here are a few roundings to the storage type
 * (a flipped last bit where the GPU sums in another order, the attention's probabilities
 * rounded before P V), so bf16's are fp16's times 8: 3 fewer mantissa bits (8 against 11),
 * each rounding 8x coarser (tol16). Exact results (copies, im2col, the token sequence, the
 * average of two heads) stay exact in bf16: the same fp32 value rounded to nearest even. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "cuda_plan.h"
#include "model.h"
#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"
#include "quant.h"

static uint64_t g_counter;
static void fill(float *x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; i++) {
    double u = (double)(qs_rng_bits(777, g_counter++) >> 11) * (1.0 / 9007199254740992.0);
    x[i] = (float)(lo + (hi - lo) * u);
  }
}
/* v rounded to dt (fp16, bf16; fp32: v) */
static float round1(qs_dtype dt, float v) {
  return dt == QS_DT_F16 ? qs_round_half(v) : dt == QS_DT_BF16 ? qs_round_bf16(v) : v;
}
static void round_dt(qs_dtype dt, float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = round1(dt, x[i]);
}
/* a 16-bit tolerance: fp16's, times 8 for bf16 (see the top) */
static double tol16(qs_dtype dt, double f16_tol) { return dt == QS_DT_BF16 ? 8.0 * f16_tol : f16_tol; }

/* Device buffer of n values in dt, initialised from host floats (NULL: poisoned). */
static void *dev(qs_dtype dt, const float *h, int64_t n) {
  void *d = NULL;
  size_t es = qs_dtype_size(dt);
  if (cudaMalloc(&d, (size_t)n * es + 16) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    exit(1);
  }
  void *st = malloc((size_t)n * es + 16);
  for (int64_t i = 0; i < n; i++) {
    float v = h ? h[i] : NAN;
    if (dt == QS_DT_F16) ((uint16_t *)st)[i] = qs_float_to_half(v);
    else if (dt == QS_DT_BF16) ((uint16_t *)st)[i] = qs_float_to_bf16(v);
    else ((float *)st)[i] = v;
  }
  cudaMemcpy(d, st, (size_t)n * es, cudaMemcpyHostToDevice);
  free(st);
  return d;
}
static void back(qs_dtype dt, const void *d, float *h, int64_t n) {
  size_t es = qs_dtype_size(dt);
  void *st = malloc((size_t)n * es + 16);
  cudaDeviceSynchronize();
  cudaMemcpy(st, d, (size_t)n * es, cudaMemcpyDeviceToHost);
  for (int64_t i = 0; i < n; i++)
    h[i] = dt == QS_DT_F16    ? qs_half_to_float(((uint16_t *)st)[i])
           : dt == QS_DT_BF16 ? qs_bf16_to_float(((uint16_t *)st)[i])
                              : ((float *)st)[i];
  free(st);
}

/* |got - ref| <= atol + rtol * |ref| everywhere; prints the error summary. */
static void compare(const char *what, const float *got, const float *ref, int64_t n, double atol, double rtol) {
  double max_abs = 0, max_rel = 0;
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - ref[i]), r = e / (fabs(ref[i]) + 1e-30);
    if (!(e <= atol + rtol * fabs(ref[i]))) {
      if (bad < 5) fprintf(stderr, "  %s: [%lld] got %.8g ref %.8g\n", what, (long long)i, got[i], ref[i]);
      bad++;
    }
    if (e > max_abs || isnan(e)) max_abs = e;
    if (r > max_rel && fabs(ref[i]) > atol) max_rel = r;
  }
  printf("%-44s n %8lld  max abs %.3e  max rel %.3e  mismatches %d\n", what, (long long)n, max_abs, max_rel, bad);
  CHECK_MSG(bad == 0, "%s: %d of %lld values outside atol %g + rtol %g", what, bad, (long long)n, atol, rtol);
}

static const char *dts(qs_dtype dt) { return dt == QS_DT_F16 ? "fp16" : dt == QS_DT_BF16 ? "bf16" : "fp32"; }

static void test_layernorm(qs_dtype dt, int M, int D, int with_res, int with_ls) {
  float *x = malloc(sizeof(float) * M * D), *r = malloc(sizeof(float) * M * D), *ls = malloc(sizeof(float) * D);
  float *g = malloc(sizeof(float) * D), *b = malloc(sizeof(float) * D), *y = malloc(sizeof(float) * M * D);
  float *gx = malloc(sizeof(float) * M * D), *gy = malloc(sizeof(float) * M * D);
  fill(x, (int64_t)M * D, -3, 3);
  fill(r, (int64_t)M * D, -1, 1);
  fill(ls, D, 0.05f, 0.2f);
  fill(g, D, 0.5f, 1.5f);
  fill(b, D, -0.2f, 0.2f);
  round_dt(dt, x, (int64_t)M * D), round_dt(dt, r, (int64_t)M * D), round_dt(dt, ls, D), round_dt(dt, g, D),
      round_dt(dt, b, D);
  void *dx = dev(dt, x, (int64_t)M * D), *dr = dev(dt, r, (int64_t)M * D), *dls = dev(dt, ls, D);
  void *dg = dev(dt, g, D), *db = dev(dt, b, D), *dy = dev(dt, NULL, (int64_t)M * D);
  int rc = qs_layernorm_launch(dt, dx, with_res ? dr : NULL, with_ls ? dls : NULL, dg, db, dy, M, D, 1e-6f, 0);
  CHECK_MSG(rc == QS_OK, "layernorm launch: %s", qs_last_error());
  /* reference: the CPU block's residual_add then qs_cpu_layernorm */
  if (with_res)
    for (int64_t i = 0; i < (int64_t)M * D; i++) {
      float v = with_ls ? ls[i % D] * r[i] : r[i];
      v = round1(dt, v);
      x[i] = round1(dt, x[i] + v);
    }
  qs_cpu_layernorm(x, g, b, M, D, 1e-6f, y);
  round_dt(dt, y, (int64_t)M * D);
  back(dt, dx, gx, (int64_t)M * D);
  back(dt, dy, gy, (int64_t)M * D);
  char name[96];
  const double atol = dt != QS_DT_F32 ? tol16(dt, 4e-3) : 2e-5, rtol = dt != QS_DT_F32 ? tol16(dt, 4e-3) : 2e-5;
  if (with_res) {
    snprintf(name, sizeof name, "layernorm %s residual M%d D%d ls%d", dts(dt), M, D, with_ls);
    compare(name, gx, x, (int64_t)M * D, 1e-6, dt != QS_DT_F32 ? tol16(dt, 1e-3) : 1e-6);
  }
  snprintf(name, sizeof name, "layernorm %s M%d D%d res%d ls%d", dts(dt), M, D, with_res, with_ls);
  compare(name, gy, y, (int64_t)M * D, atol, rtol);
  cudaFree(dx), cudaFree(dr), cudaFree(dls), cudaFree(dg), cudaFree(db), cudaFree(dy);
  free(x), free(r), free(ls), free(g), free(b), free(y), free(gx), free(gy);
}

static void test_attention(qs_dtype dt, int B, int N, int H, int hd, int with_bias) {
  const int D = H * hd, ldb = (N + 63) / 64 * 64;
  const int64_t nqkv = (int64_t)B * N * 3 * D, nout = (int64_t)B * N * D;
  float *qkv = malloc(sizeof(float) * nqkv), *bias = calloc((size_t)H * N * ldb, sizeof(float));
  float *q = malloc(sizeof(float) * nout), *k = malloc(sizeof(float) * nout), *v = malloc(sizeof(float) * nout);
  float *ref = malloc(sizeof(float) * nout), *got = malloc(sizeof(float) * nout), *dense = malloc(sizeof(float) * H * N * N);
  fill(qkv, nqkv, -2, 2);
  for (int h = 0; h < H; h++)
    for (int i = 0; i < N; i++) fill(bias + ((size_t)h * N + i) * ldb, N, -1, 1);
  round_dt(dt, qkv, nqkv), round_dt(dt, bias, (int64_t)H * N * ldb);
  for (int64_t t = 0; t < (int64_t)B * N; t++)
    for (int d = 0; d < D; d++) {
      q[t * D + d] = qkv[t * 3 * D + d];
      k[t * D + d] = qkv[t * 3 * D + D + d];
      v[t * D + d] = qkv[t * 3 * D + 2 * D + d];
    }
  for (int h = 0; h < H; h++)
    for (int i = 0; i < N; i++) memcpy(dense + ((size_t)h * N + i) * N, bias + ((size_t)h * N + i) * ldb, sizeof(float) * N);
  qs_cpu_attention(q, k, v, with_bias ? dense : NULL, B, N, H, hd, ref);
  round_dt(dt, ref, nout);
  void *dq = dev(dt, qkv, nqkv), *db = dev(dt, bias, (int64_t)H * N * ldb), *dout = dev(dt, NULL, nout);
  int rc = qs_attention_launch(dt, dq, with_bias ? db : NULL, ldb, dout, B, N, H, hd, 0);
  CHECK_MSG(rc == QS_OK, "attention launch: %s", qs_last_error());
  back(dt, dout, got, nout);
  char name[96];
  snprintf(name, sizeof name, "attention %s B%d N%d H%d hd%d bias%d", dts(dt), B, N, H, hd, with_bias);
  const double atol = dt != QS_DT_F32 ? tol16(dt, 4e-3) : 1e-5, rtol = dt != QS_DT_F32 ? tol16(dt, 1e-2) : 1e-4;
  compare(name, got, ref, nout, atol, rtol);
  cudaFree(dq), cudaFree(db), cudaFree(dout);
  free(qkv), free(bias), free(q), free(k), free(v), free(ref), free(got), free(dense);
}

static void test_gelu(qs_dtype dt) {
  const int64_t n = 100003;
  float *x = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
  fill(x, n, -8, 8);
  round_dt(dt, x, n);
  void *d = dev(dt, x, n);
  CHECK(qs_gelu_launch(dt, d, n, 0) == QS_OK);
  qs_cpu_act(x, n, QS_ACT_GELU);
  round_dt(dt, x, n);
  back(dt, d, got, n);
  char name[32];
  snprintf(name, sizeof name, "gelu %s", dts(dt));
  const double atol = dt != QS_DT_F32 ? tol16(dt, 1e-3) : 1e-6, rtol = dt != QS_DT_F32 ? tol16(dt, 1e-3) : 1e-5;
  compare(name, got, x, n, atol, rtol);
  cudaFree(d), free(x), free(got);
}

static void test_embed(qs_dtype dt) {
  const int B = 2, C = 3, S = 32, P = 8, g = S / P, np = g * g, KP = C * P * P, D = 24;
  const int64_t nimg = (int64_t)B * C * S * S, ncol = (int64_t)B * np * KP;
  float *img = malloc(sizeof(float) * nimg), *cols = malloc(sizeof(float) * ncol), *got = malloc(sizeof(float) * ncol);
  fill(img, nimg, -1, 1);
  for (int b = 0; b < B; b++)
    for (int py = 0; py < g; py++)
      for (int px = 0; px < g; px++)
        for (int c = 0; c < C; c++)
          for (int ky = 0; ky < P; ky++)
            for (int kx = 0; kx < P; kx++)
              cols[((int64_t)b * np + py * g + px) * KP + (c * P + ky) * P + kx] =
                  img[(((int64_t)b * C + c) * S + py * P + ky) * S + px * P + kx];
  round_dt(dt, cols, ncol);
  float *dimg = dev(QS_DT_F32, img, nimg);
  void *dcols = dev(dt, NULL, ncol);
  CHECK(qs_im2col_launch(dt, dimg, dcols, B, C, S, P, 0) == QS_OK);
  back(dt, dcols, got, ncol);
  char name[32];
  snprintf(name, sizeof name, "im2col %s", dts(dt));
  compare(name, got, cols, ncol, 0, 0);
  for (int extra = 1; extra <= 2; extra++) {
    const int N = np + extra;
    float *pe = malloc(sizeof(float) * B * np * D), *cls = malloc(sizeof(float) * D), *dist = malloc(sizeof(float) * D);
    float *pos = malloc(sizeof(float) * N * D), *x = malloc(sizeof(float) * B * N * D), *gx = malloc(sizeof(float) * B * N * D);
    fill(pe, (int64_t)B * np * D, -1, 1), fill(cls, D, -1, 1), fill(dist, D, -1, 1), fill(pos, (int64_t)N * D, -1, 1);
    round_dt(dt, pe, (int64_t)B * np * D), round_dt(dt, cls, D), round_dt(dt, dist, D);
    round_dt(dt, pos, (int64_t)N * D);
    for (int b = 0; b < B; b++)
      for (int t = 0; t < N; t++)
        for (int d = 0; d < D; d++) {
          float s = t == 0 ? cls[d] : (t == 1 && extra == 2) ? dist[d] : pe[((int64_t)b * np + t - extra) * D + d];
          x[((int64_t)b * N + t) * D + d] = s + pos[(int64_t)t * D + d];
        }
    round_dt(dt, x, (int64_t)B * N * D);
    void *dpe = dev(dt, pe, (int64_t)B * np * D), *dcls = dev(dt, cls, D), *ddist = dev(dt, dist, D);
    void *dpos = dev(dt, pos, (int64_t)N * D), *dx = dev(dt, NULL, (int64_t)B * N * D);
    CHECK(qs_tokens_launch(dt, dpe, dcls, extra == 2 ? ddist : NULL, dpos, dx, B, N, D, 0) == QS_OK);
    back(dt, dx, gx, (int64_t)B * N * D);
    compare(extra == 2 ? "tokens + dist + positions" : "tokens + positions", gx, x, (int64_t)B * N * D, 0, 0);
    cudaFree(dpe), cudaFree(dcls), cudaFree(ddist), cudaFree(dpos), cudaFree(dx);
    free(pe), free(cls), free(dist), free(pos), free(x), free(gx);
  }
  cudaFree(dimg), cudaFree(dcols), free(img), free(cols), free(got);
}

static void test_heads(qs_dtype dt) {
  const int B = 3, N = 50, D = 40;
  const int64_t n = (int64_t)B * N * D;
  float *x = malloc(sizeof(float) * n), *ref = malloc(sizeof(float) * B * D), *got = malloc(sizeof(float) * B * D);
  fill(x, n, -2, 2);
  round_dt(dt, x, n);
  void *dx = dev(dt, x, n), *dout = dev(dt, NULL, (int64_t)B * D), *dout2 = dev(dt, NULL, (int64_t)B * D);
  float *d32 = dev(QS_DT_F32, NULL, (int64_t)B * D);
  const double tol = dt != QS_DT_F32 ? tol16(dt, 1e-3) : 1e-6;
  for (int row = 0; row < 2; row++) {
    CHECK(qs_gather_row_launch(dt, dx, dout, B, N, D, row, 0) == QS_OK);
    for (int b = 0; b < B; b++) memcpy(ref + b * D, x + ((int64_t)b * N + row) * D, sizeof(float) * D);
    back(dt, dout, got, (int64_t)B * D);
    compare(row ? "gather DIST row" : "gather CLS row", got, ref, (int64_t)B * D, 0, 0);
  }
  CHECK(qs_mean_tokens_launch(dt, dx, dout, B, N, D, 1, 0) == QS_OK);
  for (int b = 0; b < B; b++)
    for (int d = 0; d < D; d++) {
      double s = 0;
      for (int t = 1; t < N; t++) s += x[((int64_t)b * N + t) * D + d];
      ref[b * D + d] = (float)(s / (N - 1));
    }
  round_dt(dt, ref, (int64_t)B * D);
  back(dt, dout, got, (int64_t)B * D);
  compare("mean pooling over patch tokens", got, ref, (int64_t)B * D, tol, tol);
  /* pooler tanh on the pooled values, then average with the gathered CLS, then fp32 */
  float *pooled = malloc(sizeof(float) * B * D), *cls = malloc(sizeof(float) * B * D);
  memcpy(pooled, got, sizeof(float) * B * D);
  CHECK(qs_tanh_launch(dt, dout, (int64_t)B * D, 0) == QS_OK);
  for (int i = 0; i < B * D; i++) ref[i] = tanhf(pooled[i]);
  round_dt(dt, ref, (int64_t)B * D);
  back(dt, dout, got, (int64_t)B * D);
  compare("pooler tanh", got, ref, (int64_t)B * D, tol, tol);
  memcpy(pooled, got, sizeof(float) * B * D);
  CHECK(qs_gather_row_launch(dt, dx, dout2, B, N, D, 0, 0) == QS_OK);
  for (int b = 0; b < B; b++) memcpy(cls + b * D, x + (int64_t)b * N * D, sizeof(float) * D);
  CHECK(qs_average2_launch(dt, dout, dout2, dout, (int64_t)B * D, 0) == QS_OK);
  for (int i = 0; i < B * D; i++) ref[i] = (pooled[i] + cls[i]) * 0.5f;
  round_dt(dt, ref, (int64_t)B * D);
  CHECK(qs_to_f32_launch(dt, dout, d32, (int64_t)B * D, 0) == QS_OK);
  back(QS_DT_F32, d32, got, (int64_t)B * D);
  compare("DeiT average of two heads, fp32 output", got, ref, (int64_t)B * D, 0, 0);
  cudaFree(dx), cudaFree(dout), cudaFree(dout2), cudaFree(d32);
  free(x), free(ref), free(got), free(pooled), free(cls);
}

static void test_gemm(qs_dtype dt, int M, int N, int K, int with_bias) {
  float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
  float *ref = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
  fill(x, (int64_t)M * K, -1, 1), fill(w, (int64_t)N * K, -0.1f, 0.1f), fill(b, N, -1, 1);
  if (dt != QS_DT_F32) {
    round_dt(dt, x, (int64_t)M * K), round_dt(dt, w, (int64_t)N * K), round_dt(dt, b, N);
    if (dt == QS_DT_F16) CHECK(qs_gemm_f16_ref(x, w, with_bias ? b : NULL, M, N, K, ref) == QS_OK);
    else CHECK(qs_gemm_bf16_ref(x, w, with_bias ? b : NULL, M, N, K, ref) == QS_OK);
  } else {
    qs_cpu_gemm_nt(x, w, with_bias ? b : NULL, M, N, K, ref);
  }
  cublasLtHandle_t lt;
  cublasLtCreate(&lt);
  qs_gemm g;
  int rc = qs_gemm_init(&g, lt, dt, M, N, K, with_bias, (size_t)32 << 20, NULL);
  CHECK_MSG(rc == QS_OK, "gemm init: %s", qs_last_error());
  void *dx = dev(dt, x, (int64_t)M * K), *dw = dev(dt, w, (int64_t)N * K), *db = dev(dt, b, N);
  void *dy = dev(dt, NULL, (int64_t)M * N), *ws = NULL;
  if (g.ws_bytes) cudaMalloc(&ws, g.ws_bytes);
  if (rc == QS_OK) {
    CHECK(qs_gemm_set_bias(&g, db) == QS_OK);
    rc = qs_gemm_run(&g, lt, dx, dw, dy, ws, g.ws_bytes, 0);
    CHECK_MSG(rc == QS_OK, "gemm run: %s", qs_last_error());
  }
  back(dt, dy, got, (int64_t)M * N);
  char name[96];
  snprintf(name, sizeof name, "gemm %s M%d N%d K%d bias%d", dts(dt), M, N, K, with_bias);
  const double tol = dt != QS_DT_F32 ? tol16(dt, 2e-3) : 1e-5;
  compare(name, got, ref, (int64_t)M * N, tol, tol);
  qs_gemm_destroy(&g);
  cublasLtDestroy(lt);
  cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy), cudaFree(ws);
  free(x), free(w), free(b), free(ref), free(got);
}

int main(void) {
  if (qs_cuda_device_count() == 0) {
    printf("test_gpu_kernels: no CUDA device, skipped\n");
    return QS_SKIP_CODE;
  }
  struct cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  printf("device: %s\n", prop.name);
  for (int t = 0; t < 3; t++) {
    const qs_dtype dt = t == 0 ? QS_DT_F32 : t == 1 ? QS_DT_F16 : QS_DT_BF16;
    if (dt == QS_DT_BF16 && prop.major < 8) { /* the plan refuses bf16 there (cuda_setup.c) */
      printf("bf16: compute capability %d.%d < 8.0, bf16 kernels skipped\n", prop.major, prop.minor);
      continue;
    }
    test_layernorm(dt, 197, 768, 0, 0);
    test_layernorm(dt, 197, 768, 1, 0);
    test_layernorm(dt, 33, 1280, 1, 1);
    test_layernorm(dt, 5, 64, 1, 1);
    test_layernorm(dt, 7, 2500, 1, 1); /* wider than the register path: the looped kernel */
    test_attention(dt, 1, 197, 12, 64, 0);
    test_attention(dt, 2, 197, 3, 64, 1);
    test_attention(dt, 1, 257, 2, 80, 0);
    test_attention(dt, 2, 50, 4, 32, 0);
    test_attention(dt, 1, 17, 2, 32, 1);
    test_attention(dt, 1, 577, 2, 64, 0);
    test_attention(dt, 1, 130, 2, 128, 1);
    /* MobileViT: 4 heads of d/4 (tensor cores at 16 and 48, CUDA cores otherwise in fp16) */
    test_attention(dt, 4, 256, 4, 16, 0);
    test_attention(dt, 4, 64, 4, 48, 0);
    test_attention(dt, 4, 256, 4, 36, 0);
    test_attention(dt, 8, 64, 4, 20, 1);
    test_attention(dt, 4, 16, 4, 24, 0);
    test_attention(dt, 4, 16, 4, 60, 0);
    test_attention(dt, 8, 9, 4, 4, 0);
    test_gelu(dt);
    test_embed(dt);
    test_heads(dt);
    test_gemm(dt, 197, 2304, 768, 1);
    test_gemm(dt, 2, 1000, 768, 1);
    test_gemm(dt, 50, 96, 40, 0);
  }
  /* the launchers refuse bad shapes with a message, not a crash */
  CHECK(qs_attention_launch(QS_DT_F16, (void *)256, NULL, 0, (void *)256, 1, 10, 1, 160, 0) == QS_EUNSUPPORTED);
  /* a side below the patch (a side that is no multiple of it runs, as HF's convolution) */
  CHECK(qs_im2col_launch(QS_DT_F32, (float *)256, (void *)256, 1, 3, 6, 8, 0) == QS_EINVAL);
  return qs_test_finish("test_gpu_kernels");
}
