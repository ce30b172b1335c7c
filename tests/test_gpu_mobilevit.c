/* test_gpu_mobilevit.c - MobileViT's CUDA kernels against the CPU reference (cpu_conv.h),
 * fp32, fp16 and bf16 (bf16 on compute capability 8.0 and newer): k x k convolution as
 * im2col + GEMM with BatchNorm folded into the weights (stem, conv_kxk, fusion shapes,
 * rows in pixel and in unfold order), 1x1 convolution, depthwise convolution with fused
 * input / output activations, unfold / fold with and without the bilinear resize, the
 * fold-fused concat, average pooling, the NCHW -> NHWC input copy, SiLU and the residual
 * add. Prints max abs / rel error and first mismatches. bf16 tolerances are fp16's
 * times 8 (3 fewer mantissa bits; tol16), exact results stay exact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_conv.h"
#include "cpu_ops.h"
#include "cuda_internal.h"
#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"

static uint64_t g_counter;
static void fill(float *x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; i++) {
    double u = (double)(qs_rng_bits(4242, g_counter++) >> 11) * (1.0 / 9007199254740992.0);
    x[i] = (float)(lo + (hi - lo) * u);
  }
}
/* x rounded to the storage type rnd (qs_half.h: QS_ROUND_NONE, _F16, _BF16) */
static void round_if(int rnd, float *x, int64_t n) {
  if (rnd)
    for (int64_t i = 0; i < n; i++) x[i] = qs_round_to(rnd, x[i]);
}
static int rnd_of(qs_dtype dt) {
  return dt == QS_DT_F16 ? QS_ROUND_F16 : dt == QS_DT_BF16 ? QS_ROUND_BF16 : QS_ROUND_NONE;
}
/* a 16-bit tolerance: fp16's, times 8 for bf16 */
static double tol16(qs_dtype dt, double f16_tol) { return dt == QS_DT_BF16 ? 8.0 * f16_tol : f16_tol; }
static float *hbuf(int64_t n) { return calloc((size_t)n + 1, sizeof(float)); }

/* Device buffer of n values in dt from host floats (NULL: poisoned with NaN). */
static void *dev(qs_dtype dt, const float *h, int64_t n) {
  void *d = NULL;
  const size_t es = qs_dtype_size(dt);
  if (cudaMalloc(&d, (size_t)n * es + 256) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    exit(1);
  }
  void *st = malloc((size_t)n * es + 16);
  for (int64_t i = 0; i < n; i++) {
    const float v = h ? h[i] : NAN;
    if (dt == QS_DT_F16) ((uint16_t *)st)[i] = qs_float_to_half(v);
    else if (dt == QS_DT_BF16) ((uint16_t *)st)[i] = qs_float_to_bf16(v);
    else ((float *)st)[i] = v;
  }
  cudaMemcpy(d, st, (size_t)n * es, cudaMemcpyHostToDevice);
  free(st);
  return d;
}
static void back(qs_dtype dt, const void *d, float *h, int64_t n) {
  const size_t es = qs_dtype_size(dt);
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
    const double e = fabs((double)got[i] - ref[i]), r = e / (fabs(ref[i]) + 1e-30);
    if (!(e <= atol + rtol * fabs(ref[i]))) {
      if (bad < 5) fprintf(stderr, "  %s: [%lld] got %.8g ref %.8g\n", what, (long long)i, got[i], ref[i]);
      bad++;
    }
    if (e > max_abs || isnan(e)) max_abs = e;
    if (r > max_rel && fabs(ref[i]) > atol) max_rel = r;
  }
  printf("%-58s n %8lld  max abs %.3e  max rel %.3e  mismatches %d\n", what, (long long)n, max_abs, max_rel, bad);
  CHECK_MSG(bad == 0, "%s: %d of %lld values outside atol %g + rtol %g", what, bad, (long long)n, atol, rtol);
}

static const char *dts(qs_dtype dt) { return dt == QS_DT_F16 ? "fp16" : dt == QS_DT_BF16 ? "bf16" : "fp32"; }
/* 16-bit tolerances allow for the rounding of the folded weights w * a */
static double atol_of(qs_dtype dt) { return dt != QS_DT_F32 ? tol16(dt, 3e-3) : 2e-5; }
static double rtol_of(qs_dtype dt) { return dt != QS_DT_F32 ? tol16(dt, 1.5e-2) : 1e-4; }

typedef struct {
  float *g, *b, *mean, *var;
} bn_params;
static void bn_make(bn_params *p, int C) {
  p->g = hbuf(C), p->b = hbuf(C), p->mean = hbuf(C), p->var = hbuf(C);
  fill(p->g, C, 0.5f, 1.5f);
  fill(p->b, C, -0.3f, 0.3f);
  fill(p->mean, C, -0.2f, 0.2f);
  fill(p->var, C, 0.4f, 1.6f);
}
static void bn_free(bn_params *p) { free(p->g), free(p->b), free(p->mean), free(p->var); }

/* CPU: conv -> BN -> act (rounded as cpu_mobilevit.c's conv_layer) */
static void cpu_conv_bn_act(const float *x, int B, int H, int W, int Cin, const float *w, int Cout, int k, int stride,
                            int groups, const bn_params *bn, int act, int rnd, float *y) {
  const int pad = (k - 1) / 2, Ho = qs_cpu_conv_out(H, k, stride, pad), Wo = qs_cpu_conv_out(W, k, stride, pad);
  const int64_t npix = (int64_t)B * Ho * Wo;
  CHECK(qs_cpu_conv2d(x, B, H, W, Cin, w, Cout, k, stride, pad, groups, rnd, y) == QS_OK);
  CHECK(qs_cpu_batchnorm(y, npix, Cout, bn->g, bn->b, bn->mean, bn->var, 1e-5f, rnd) == QS_OK);
  if (act) {
    qs_cpu_act(y, npix * Cout, QS_ACT_SILU);
    round_if(rnd, y, npix * Cout);
  }
}

/* k x k convolution (groups 1) as the plan runs it: folded weights permuted to
 * [Cout, Kp] in (ky, kx, ci) order, im2col (perm: rows in unfold order), GEMM + bias, SiLU. */
static void test_conv_gemm(qs_dtype dt, int B, int H, int W, int Cin, int Cout, int k, int stride, int perm) {
  const int rnd = rnd_of(dt), pad = (k - 1) / 2;
  const int Ho = qs_cpu_conv_out(H, k, stride, pad), Wo = qs_cpu_conv_out(W, k, stride, pad);
  const int K = k * k * Cin, Kp = (K + 7) / 8 * 8;
  const int64_t nx = (int64_t)B * H * W * Cin, nw = (int64_t)Cout * K, rows = (int64_t)B * Ho * Wo, ny = rows * Cout;
  float *x = hbuf(nx), *w = hbuf(nw), *wf = hbuf(nw), *bias = hbuf(Cout), *wp = hbuf((int64_t)Cout * Kp);
  float *ref = hbuf(ny), *ref2 = hbuf(ny), *got = hbuf(ny);
  bn_params bn;
  bn_make(&bn, Cout);
  fill(x, nx, -1, 1);
  fill(w, nw, -1.0f / sqrtf((float)K), 1.0f / sqrtf((float)K));
  round_if(rnd, x, nx);
  cpu_conv_bn_act(x, B, H, W, Cin, w, Cout, k, stride, 1, &bn, 1, rnd, ref);
  if (perm) { /* the reference in sequence order */
    qs_cpu_unfold(ref, B, Ho, Wo, Cout, perm, ref2);
    memcpy(ref, ref2, sizeof(float) * (size_t)ny);
  }
  qs_bn_fold(w, Cout, (int64_t)Cin * k * k, bn.g, bn.b, bn.mean, bn.var, 1e-5f, wf, bias);
  for (int co = 0; co < Cout; co++)
    for (int ci = 0; ci < Cin; ci++)
      for (int t = 0; t < k * k; t++) wp[(int64_t)co * Kp + t * Cin + ci] = wf[((int64_t)co * Cin + ci) * k * k + t];

  void *dx = dev(dt, x, nx), *dw = dev(dt, wp, (int64_t)Cout * Kp), *db = dev(dt, bias, Cout);
  void *dcols = dev(dt, NULL, rows * Kp), *dy = dev(dt, NULL, ny), *ws = NULL;
  const void *a = dx;
  int rc = QS_OK;
  if (k > 1 || stride > 1) {
    rc = qs_im2col_nhwc_launch(dt, dx, dcols, B, H, W, Cin, k, stride, pad, Kp, perm, 0);
    CHECK_MSG(rc == QS_OK, "im2col_nhwc: %s", qs_last_error());
    a = dcols;
  }
  cublasLtHandle_t lt;
  CHECK(cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS);
  qs_gemm g;
  rc = qs_gemm_init(&g, lt, dt, (int)rows, Cout, (k > 1 || stride > 1) ? Kp : Cin, 1, (size_t)32 << 20, NULL);
  CHECK_MSG(rc == QS_OK, "gemm init: %s", qs_last_error());
  if (rc == QS_OK) {
    if (g.ws_bytes) cudaMalloc(&ws, g.ws_bytes);
    CHECK(qs_gemm_set_bias(&g, db) == QS_OK);
    rc = qs_gemm_run(&g, lt, a, dw, dy, ws, g.ws_bytes, 0);
    CHECK_MSG(rc == QS_OK, "gemm run: %s", qs_last_error());
    CHECK(qs_act_launch(dt, QS_CUDA_ACT_SILU, dy, ny, 0) == QS_OK);
    qs_gemm_destroy(&g);
  }
  back(dt, dy, got, ny);
  char name[128];
  snprintf(name, sizeof name, "conv %dx%d s%d %d->%d %dx%d +BN fold+SiLU%s %s", k, k, stride, Cin, Cout, H, W,
           perm ? " unfold-order" : "", dts(dt));
  compare(name, got, ref, ny, atol_of(dt), rtol_of(dt));
  cublasLtDestroy(lt);
  cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dcols), cudaFree(dy), cudaFree(ws);
  free(x), free(w), free(wf), free(bias), free(wp), free(ref), free(ref2), free(got);
  bn_free(&bn);
}

/* depthwise k x k with BN folded, SiLU on load (the expand's) and on store */
static void test_dwconv(qs_dtype dt, int B, int H, int W, int C, int k, int stride) {
  const int rnd = rnd_of(dt), pad = (k - 1) / 2;
  const int Ho = qs_cpu_conv_out(H, k, stride, pad), Wo = qs_cpu_conv_out(W, k, stride, pad);
  const int64_t nx = (int64_t)B * H * W * C, ny = (int64_t)B * Ho * Wo * C;
  float *x = hbuf(nx), *xa = hbuf(nx), *w = hbuf((int64_t)C * k * k), *wf = hbuf((int64_t)C * k * k);
  float *wt = hbuf((int64_t)C * k * k), *bias = hbuf(C), *ref = hbuf(ny), *got = hbuf(ny);
  bn_params bn;
  bn_make(&bn, C);
  fill(x, nx, -3, 3);
  fill(w, (int64_t)C * k * k, -0.5f, 0.5f);
  round_if(rnd, x, nx);
  memcpy(xa, x, sizeof(float) * (size_t)nx);
  qs_cpu_act(xa, nx, QS_ACT_SILU);
  round_if(rnd, xa, nx);
  cpu_conv_bn_act(xa, B, H, W, C, w, C, k, stride, C, &bn, 1, rnd, ref);
  qs_bn_fold(w, C, (int64_t)k * k, bn.g, bn.b, bn.mean, bn.var, 1e-5f, wf, bias);
  for (int c = 0; c < C; c++)
    for (int t = 0; t < k * k; t++) wt[(int64_t)t * C + c] = wf[(int64_t)c * k * k + t];
  void *dx = dev(dt, x, nx), *dw = dev(dt, wt, (int64_t)C * k * k), *db = dev(dt, bias, C), *dy = dev(dt, NULL, ny);
  int rc = qs_dwconv_launch(dt, dx, dw, db, dy, B, H, W, C, k, stride, pad, QS_CUDA_ACT_SILU, QS_CUDA_ACT_SILU, 0);
  CHECK_MSG(rc == QS_OK, "dwconv: %s", qs_last_error());
  back(dt, dy, got, ny);
  char name[128];
  snprintf(name, sizeof name, "depthwise %dx%d s%d C%d %dx%d SiLU in/out +BN fold %s", k, k, stride, C, H, W, dts(dt));
  compare(name, got, ref, ny, atol_of(dt), rtol_of(dt));
  cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dy);
  free(x), free(xa), free(w), free(wf), free(wt), free(bias), free(ref), free(got);
  bn_free(&bn);
}

/* unfold (with the resize to Hn x Wn) and fold (with the resize back) */
static void test_unfold_fold(qs_dtype dt, int B, int H, int W, int C, int P) {
  const int rnd = rnd_of(dt), Hn = (H + P - 1) / P * P, Wn = (W + P - 1) / P * P;
  const int64_t nx = (int64_t)B * H * W * C, ns = (int64_t)B * Hn * Wn * C;
  float *x = hbuf(nx), *rs = hbuf(ns), *ref = hbuf(ns), *got = hbuf(ns), *seq = hbuf(ns), *map = hbuf(ns);
  float *ref2 = hbuf(nx), *got2 = hbuf(nx);
  fill(x, nx, -2, 2);
  round_if(rnd, x, nx);
  if (Hn != H || Wn != W) qs_cpu_bilinear(x, B, H, W, C, rs, Hn, Wn, rnd);
  else memcpy(rs, x, sizeof(float) * (size_t)nx);
  qs_cpu_unfold(rs, B, Hn, Wn, C, P, ref);
  void *dx = dev(dt, x, nx), *ds = dev(dt, NULL, ns);
  int rc = qs_unfold_resize_launch(dt, dx, ds, B, H, W, C, P, Hn, Wn, 0);
  CHECK_MSG(rc == QS_OK, "unfold: %s", qs_last_error());
  back(dt, ds, got, ns);
  char name[128];
  snprintf(name, sizeof name, "unfold %dx%d -> %dx%d C%d P%d %s", H, W, Hn, Wn, C, P, dts(dt));
  compare(name, got, ref, ns, rnd ? tol16(dt, 1e-3) : 1e-6, rnd ? tol16(dt, 1e-3) : 1e-6);

  fill(seq, ns, -2, 2);
  round_if(rnd, seq, ns);
  qs_cpu_fold(seq, B, Hn, Wn, C, P, map);
  if (Hn != H || Wn != W) qs_cpu_bilinear(map, B, Hn, Wn, C, ref2, H, W, rnd);
  else memcpy(ref2, map, sizeof(float) * (size_t)nx);
  void *dq = dev(dt, seq, ns), *dy = dev(dt, NULL, nx);
  rc = qs_fold_resize_launch(dt, dq, dy, B, Hn, Wn, C, P, H, W, 0);
  CHECK_MSG(rc == QS_OK, "fold: %s", qs_last_error());
  back(dt, dy, got2, nx);
  snprintf(name, sizeof name, "fold %dx%d -> %dx%d C%d P%d %s", Hn, Wn, H, W, C, P, dts(dt));
  compare(name, got2, ref2, nx, rnd ? tol16(dt, 1e-3) : 1e-6, rnd ? tol16(dt, 1e-3) : 1e-6);
  cudaFree(dx), cudaFree(ds), cudaFree(dq), cudaFree(dy);
  free(x), free(rs), free(ref), free(got), free(seq), free(map), free(ref2), free(got2);
}

/* concat [a, SiLU(t)] with t in sequence order (perm) or pixel order */
static void test_concat(qs_dtype dt, int B, int H, int W, int Ca, int Ct, int perm) {
  const int rnd = rnd_of(dt);
  const int64_t npix = (int64_t)B * H * W, ny = npix * (Ca + Ct);
  float *a = hbuf(npix * Ca), *t = hbuf(npix * Ct), *tp = hbuf(npix * Ct), *ref = hbuf(ny), *got = hbuf(ny);
  fill(a, npix * Ca, -2, 2);
  fill(t, npix * Ct, -4, 4);
  round_if(rnd, a, npix * Ca);
  round_if(rnd, t, npix * Ct);
  if (perm) qs_cpu_fold(t, B, H, W, Ct, perm, tp);
  else memcpy(tp, t, sizeof(float) * (size_t)(npix * Ct));
  qs_cpu_act(tp, npix * Ct, QS_ACT_SILU);
  round_if(rnd, tp, npix * Ct);
  for (int64_t p = 0; p < npix; p++) {
    memcpy(ref + p * (Ca + Ct), a + p * Ca, sizeof(float) * (size_t)Ca);
    memcpy(ref + p * (Ca + Ct) + Ca, tp + p * Ct, sizeof(float) * (size_t)Ct);
  }
  void *da = dev(dt, a, npix * Ca), *dt_ = dev(dt, t, npix * Ct), *dy = dev(dt, NULL, ny);
  int rc = qs_concat_launch(dt, da, dt_, dy, B, H, W, Ca, Ct, perm, QS_CUDA_ACT_SILU, 0);
  CHECK_MSG(rc == QS_OK, "concat: %s", qs_last_error());
  back(dt, dy, got, ny);
  char name[128];
  snprintf(name, sizeof name, "concat %d+%d %dx%d SiLU%s %s", Ca, Ct, H, W, perm ? " fold-fused" : "", dts(dt));
  compare(name, got, ref, ny, rnd ? tol16(dt, 1e-3) : 1e-6, rnd ? tol16(dt, 2e-3) : 1e-5);
  cudaFree(da), cudaFree(dt_), cudaFree(dy);
  free(a), free(t), free(tp), free(ref), free(got);
}

/* SiLU then the mean over H*W; NCHW -> NHWC; SiLU in place; residual add */
static void test_misc(qs_dtype dt) {
  const int rnd = rnd_of(dt), B = 2, HW = 64, C = 320, S = 9, Ci = 3;
  const int64_t n = (int64_t)B * HW * C;
  float *x = hbuf(n), *xa = hbuf(n), *ref = hbuf(n), *got = hbuf(n);
  fill(x, n, -4, 4);
  round_if(rnd, x, n);
  memcpy(xa, x, sizeof(float) * (size_t)n);
  qs_cpu_act(xa, n, QS_ACT_SILU);
  round_if(rnd, xa, n);
  CHECK(qs_cpu_global_avgpool(xa, B, 8, 8, C, ref, rnd) == QS_OK);
  void *dx = dev(dt, x, n), *dy = dev(dt, NULL, n);
  CHECK(qs_avgpool_launch(dt, dx, dy, B, HW, C, QS_CUDA_ACT_SILU, 0) == QS_OK);
  back(dt, dy, got, (int64_t)B * C);
  char name[96];
  snprintf(name, sizeof name, "avgpool SiLU 8x8 C%d %s", C, dts(dt));
  compare(name, got, ref, (int64_t)B * C, rnd ? tol16(dt, 1e-3) : 1e-6, rnd ? tol16(dt, 2e-3) : 1e-5);

  CHECK(qs_act_launch(dt, QS_CUDA_ACT_SILU, dx, n, 0) == QS_OK);
  back(dt, dx, got, n);
  snprintf(name, sizeof name, "silu %s", dts(dt));
  compare(name, got, xa, n, rnd ? tol16(dt, 1e-3) : 1e-6, rnd ? tol16(dt, 1e-3) : 1e-5);

  float *r = hbuf(n);
  fill(r, n, -1, 1);
  round_if(rnd, r, n);
  void *dr = dev(dt, r, n);
  for (int64_t i = 0; i < n; i++) ref[i] = got[i] + r[i]; /* on the device's SiLU values */
  CHECK(qs_add_launch(dt, dx, dr, n, 0) == QS_OK);
  back(dt, dx, got, n);
  round_if(rnd, ref, n);
  snprintf(name, sizeof name, "residual add %s", dts(dt));
  compare(name, got, ref, n, 0, 0);

  const int64_t ni = (int64_t)B * Ci * S * S;
  float *img = hbuf(ni), *nhwc = hbuf(ni), *gi = hbuf(ni);
  fill(img, ni, -1, 1);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < Ci; c++)
      for (int p = 0; p < S * S; p++) nhwc[((int64_t)b * S * S + p) * Ci + c] = img[((int64_t)b * Ci + c) * S * S + p];
  round_if(rnd, nhwc, ni);
  float *dimg = NULL;
  cudaMalloc((void **)&dimg, sizeof(float) * (size_t)ni);
  cudaMemcpy(dimg, img, sizeof(float) * (size_t)ni, cudaMemcpyHostToDevice);
  void *dn = dev(dt, NULL, ni);
  CHECK(qs_nchw_to_nhwc_launch(dt, dimg, dn, B, Ci, S, S, 0) == QS_OK);
  back(dt, dn, gi, ni);
  snprintf(name, sizeof name, "nchw -> nhwc %s", dts(dt));
  compare(name, gi, nhwc, ni, 0, 0);
  cudaFree(dx), cudaFree(dy), cudaFree(dr), cudaFree(dimg), cudaFree(dn);
  free(x), free(xa), free(ref), free(got), free(r), free(img), free(nhwc), free(gi);
}

int main(void) {
  if (qs_cuda_device_count() == 0) {
    printf("test_gpu_mobilevit: no CUDA device, skipped\n");
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
    test_conv_gemm(dt, 2, 32, 32, 3, 16, 3, 2, 0);  /* stem */
    test_conv_gemm(dt, 1, 16, 16, 64, 64, 3, 1, 2); /* conv_kxk, rows in unfold order */
    test_conv_gemm(dt, 2, 6, 6, 48, 24, 3, 1, 0);   /* fusion 2c -> c */
    test_conv_gemm(dt, 1, 3, 3, 16, 8, 3, 1, 0);    /* a map smaller than the patch multiple */
    test_conv_gemm(dt, 2, 8, 8, 32, 64, 1, 1, 0);   /* 1x1 */
    test_dwconv(dt, 2, 16, 16, 32, 3, 1);
    test_dwconv(dt, 1, 17, 15, 24, 3, 2);
    test_dwconv(dt, 1, 8, 8, 40, 5, 1);
    test_unfold_fold(dt, 2, 4, 6, 8, 2); /* no resize */
    test_unfold_fold(dt, 2, 3, 5, 8, 2); /* bilinear up and back */
    test_unfold_fold(dt, 1, 7, 7, 16, 4);
    test_concat(dt, 2, 4, 6, 16, 8, 2);
    test_concat(dt, 1, 3, 3, 8, 8, 0);
    test_misc(dt);
  }
  /* bad geometry is refused with a message */
  CHECK(qs_im2col_nhwc_launch(QS_DT_F32, (void *)256, (void *)256, 1, 5, 5, 3, 3, 1, 1, 16, 0, 0) == QS_EINVAL);
  CHECK(qs_im2col_nhwc_launch(QS_DT_F32, (void *)256, (void *)256, 1, 5, 5, 3, 3, 1, 1, 32, 2, 0) == QS_EINVAL);
  CHECK(qs_unfold_resize_launch(QS_DT_F16, (void *)256, (void *)256, 1, 3, 3, 8, 2, 3, 3, 0) == QS_EINVAL);
  return qs_test_finish("test_gpu_mobilevit");
}
