/* test_gpu_quant.c - the quantized CUDA kernels (kernels/int8_*.cu, nf4_gemm.cu)
 * against the CPU reference of src/quant/quant.h.
 *
 * int8: the int32 accumulators, s_x, the outlier column set (count and list)
 * and the gathered outlier activations equal the reference exactly; the fp16
 * output is expected bit-exact (the epilogue and the outlier GEMM follow the
 * reference's rounding steps and 8-lane order) and is checked to be within 1 ulp
 * of fp16 (the stated tolerance), with the number of inexact elements printed.
 * With GELU, within 2 fp16 ulp of gelu (double erf) applied on the host to the
 * reference (the device's erff differs in the last bits).
 * Cases: no outliers, planted outlier columns (values of 20), threshold 0, more
 * outlier columns than the fused epilogue takes, ViT-B / ViT-H shapes, odd M, and
 * a captured CUDA graph replayed on inputs with different outlier sets; on a
 * compute capability 9.0 device the same checks for the wgmma kernel of
 * int8_gemm_sm90.cu at both tile widths and in its ping-pong schedule.
 *
 * NF4: relative L2 error against qs_nf4_linear_ref <= 1e-3 (fp32 accumulation
 * in another order plus one fp16 rounding), with and without double
 * quantization, tiled and GEMV kernels; and the launcher allocates no device
 * memory. Exit 77 without a GPU. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "qs_common.h"
#include "qs_half.h"
#include "qs_quant_cuda.h"
#include "qs_test.h"
#include "quant.h"

void qs_int8_gemm_force_config(int cfg);
void qs_nf4_gemm_force_config(int cfg);

#define CU(stmt)                                                                       \
  do {                                                                                 \
    cudaError_t e_ = (stmt);                                                           \
    if (e_ != cudaSuccess) {                                                           \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #stmt, cudaGetErrorString(e_)); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)
#define QS(stmt)                                                                       \
  do {                                                                                 \
    int r_ = (stmt);                                                                   \
    if (r_ != QS_OK) {                                                                 \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #stmt, qs_last_error());  \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* [0, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static float uni(float a, float b) { return a + (b - a) * (float)urand(); }

static void *dmalloc(size_t n) {
  void *p = NULL;
  CU(cudaMalloc(&p, n ? n : 1));
  return p;
}
static void *up(const void *h, size_t n) {
  void *d = dmalloc(n);
  CU(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
  return d;
}
static uint16_t *to_half(const float *x, size_t n) {
  uint16_t *h = malloc(n * 2);
  for (size_t i = 0; i < n; i++) h[i] = qs_float_to_half(x[i]);
  return h;
}
/* distance in fp16 ulps (same-sign ordering of the bit patterns) */
static int ulp16(float a, float b) {
  int ia = qs_float_to_half(a), ib = qs_float_to_half(b);
  if (ia & 0x8000) ia = -(ia & 0x7fff);
  if (ib & 0x8000) ib = -(ib & 0x7fff);
  return abs(ia - ib);
}

/* ---- int8 -------------------------------------------------------------------- */

typedef struct {
  qs_int8_act a;
  uint16_t *obuf;
  int M, K, N;
} dev_act;

static void act_alloc(dev_act *d, int M, int K, int N) {
  d->M = M;
  d->K = K;
  d->N = N;
  d->a.xq = dmalloc((size_t)M * K);
  d->a.sx = dmalloc((size_t)M * 4);
  d->a.n_out = dmalloc(4);
  d->a.cols = dmalloc((size_t)K * 4);
  d->a.xo = dmalloc((size_t)M * K * 2);
  d->a.state = dmalloc(qs_int8_state_words(K) * 4);
  d->obuf = dmalloc((size_t)M * N * 2);
  QS(qs_int8_state_init(d->a.state, K, 0));
}
static void act_free(dev_act *d) {
  cudaFree(d->a.xq);
  cudaFree(d->a.sx);
  cudaFree(d->a.n_out);
  cudaFree(d->a.cols);
  cudaFree(d->a.xo);
  cudaFree(d->a.state);
  cudaFree(d->obuf);
}

/* x [M, K] in [-amp, amp], rows m % 5 == 1 get 20 (or -20) in the planted columns */
static void make_x(float *x, int M, int K, float amp, const int *plant, int nplant) {
  for (size_t i = 0; i < (size_t)M * K; i++) x[i] = qs_round_half(uni(-amp, amp));
  for (int p = 0; p < nplant; p++)
    for (int m = 1; m < M; m += 5) x[(size_t)m * K + plant[p]] = (m & 2) ? -20.0f : 20.0f;
}

static void run_int8_path(dev_act *d, const uint16_t *dx, const int8_t *dwq, const float *dsw, const uint16_t *dbias,
                          float thr, int mode, void *dy, cudaStream_t s) {
  QS(qs_int8_quant_launch(dx, d->M, d->K, thr, &d->a, s));
  QS(qs_int8_outlier_launch(&d->a, dwq, dsw, d->M, d->N, d->K, d->obuf, s));
  QS(qs_int8_gemm_launch(&d->a, dwq, dsw, dbias, d->obuf, d->M, d->N, d->K, mode, dy, s));
}

/* Compare one int8 forward with the reference; returns the max ulp difference. */
static void int8_case(int M, int N, int K, float thr, const int *plant, int nplant, int with_bias, int gelu,
                      int cfg) {
  const size_t MK = (size_t)M * K, NK = (size_t)N * K, MN = (size_t)M * N;
  float *x = malloc(MK * 4), *w = malloc(NK * 4), *bias = malloc((size_t)N * 4), *y = malloc(MN * 4);
  int32_t *acc = malloc(MN * 4);
  int *ocols = malloc((size_t)K * sizeof(int));
  int nout = 0;
  make_x(x, M, K, 2.5f, plant, nplant);
  for (size_t i = 0; i < NK; i++) w[i] = uni(-0.08f, 0.08f);
  for (int n = 0; n < N; n++) bias[n] = qs_round_half(uni(-0.5f, 0.5f));
  qs_int8_matrix W;
  QS(qs_int8_quantize_weight(w, N, K, &W));
  QS(qs_int8_linear_ref(x, M, &W, with_bias ? bias : NULL, thr, y, acc, ocols, &nout));

  uint16_t *xh = to_half(x, MK), *bh = to_half(bias, N);
  uint16_t *dx = up(xh, MK * 2), *dbias = up(bh, (size_t)N * 2);
  int8_t *dwq = up(W.q, NK);
  float *dsw = up(W.scale, (size_t)N * 4);
  int32_t *dacc = dmalloc(MN * 4);
  uint16_t *dy = dmalloc(MN * 2);
  CU(cudaMemset(dacc, 0x5a, MN * 4)); /* poison */
  CU(cudaMemset(dy, 0xff, MN * 2));
  dev_act d;
  act_alloc(&d, M, K, N);
  qs_int8_gemm_force_config(cfg);

  run_int8_path(&d, dx, dwq, dsw, with_bias ? dbias : NULL, thr, QS_INT8_OUT_ACC, dacc, 0);
  QS(qs_int8_gemm_launch(&d.a, dwq, dsw, with_bias ? dbias : NULL, d.obuf, M, N, K,
                         gelu ? QS_INT8_OUT_F16_GELU : QS_INT8_OUT_F16, dy, 0));
  CU(cudaDeviceSynchronize());

  int32_t *gacc = malloc(MN * 4);
  uint16_t *gy = malloc(MN * 2);
  float *gsx = malloc((size_t)M * 4);
  int *gcols = malloc((size_t)K * sizeof(int));
  uint16_t *gxo = malloc(MK * 2);
  int gnout = -1;
  CU(cudaMemcpy(gacc, dacc, MN * 4, cudaMemcpyDeviceToHost));
  CU(cudaMemcpy(gy, dy, MN * 2, cudaMemcpyDeviceToHost));
  CU(cudaMemcpy(gsx, d.a.sx, (size_t)M * 4, cudaMemcpyDeviceToHost));
  CU(cudaMemcpy(&gnout, d.a.n_out, 4, cudaMemcpyDeviceToHost));
  CU(cudaMemcpy(gcols, d.a.cols, (size_t)K * sizeof(int), cudaMemcpyDeviceToHost));
  {
    /* the plan's one-launch path (qs_int8_quant_outlier_launch: the outlier part's tiles
     * inside the quantization kernel) gives the same bits as the two launches */
    uint16_t *dy2 = dmalloc(MN * 2), *gy2 = malloc(MN * 2);
    CU(cudaMemset(dy2, 0xff, MN * 2));
    CU(cudaMemset(d.obuf, 0xff, MN * 2)); /* poison: the fused path must fill what it uses */
    QS(qs_int8_quant_outlier_launch(dx, M, K, thr, &d.a, dwq, dsw, N, d.obuf, 0));
    QS(qs_int8_gemm_launch(&d.a, dwq, dsw, with_bias ? dbias : NULL, d.obuf, M, N, K,
                           gelu ? QS_INT8_OUT_F16_GELU : QS_INT8_OUT_F16, dy2, 0));
    CU(cudaDeviceSynchronize());
    CU(cudaMemcpy(gy2, dy2, MN * 2, cudaMemcpyDeviceToHost));
    CHECK_MSG(memcmp(gy, gy2, MN * 2) == 0, "int8 M %d N %d K %d thr %g outliers %d cfg %d: the one-launch path differs",
              M, N, K, thr, nout, cfg);
    free(gy2);
    cudaFree(dy2);
  }
  CU(cudaMemcpy(gxo, d.a.xo, MK * 2, cudaMemcpyDeviceToHost));

  /* outlier set */
  CHECK_MSG(gnout == nout, "M %d N %d K %d thr %g: n_out %d, reference %d", M, N, K, thr, gnout, nout);
  int list_ok = gnout == nout, j = 0;
  for (int k = 0; k < K && list_ok; k++)
    if (ocols[k]) list_ok = j < gnout && gcols[j++] == k;
  CHECK_MSG(list_ok, "M %d N %d K %d: outlier column list differs", M, N, K);
  /* s_x and xo */
  long sx_bad = 0, xo_bad = 0;
  for (int m = 0; m < M; m++) {
    uint16_t mag = 0;
    for (int k = 0; k < K; k++)
      if (!ocols[k]) {
        uint16_t a = qs_float_to_half(x[(size_t)m * K + k]) & 0x7fff;
        if (a > mag) mag = a;
      }
    if (qs_f32_bits(qs_half_to_float(mag)) != qs_f32_bits(gsx[m])) sx_bad++;
    if (list_ok)
      for (int jj = 0; jj < nout; jj++)
        if (gxo[(size_t)m * nout + jj] != xh[(size_t)m * K + gcols[jj]]) xo_bad++;
  }
  CHECK_MSG(sx_bad == 0, "M %d N %d K %d: %ld s_x values differ", M, N, K, sx_bad);
  CHECK_MSG(xo_bad == 0, "M %d N %d K %d: %ld gathered outlier values differ", M, N, K, xo_bad);
  /* accumulators, exact */
  long acc_bad = 0;
  for (size_t i = 0; i < MN; i++) acc_bad += gacc[i] != acc[i];
  CHECK_MSG(acc_bad == 0, "M %d N %d K %d thr %g: %ld of %zu int32 accumulators differ", M, N, K, thr, acc_bad, MN);
  /* fp16 output */
  int maxu = 0;
  long inexact = 0;
  for (size_t i = 0; i < MN; i++) {
    float ref = y[i];
    if (gelu) ref = qs_round_half((float)(0.5 * ref * (1.0 + erf(ref * 0.70710678118654752))));
    const float got = qs_half_to_float(gy[i]);
    const int u = (got != got) ? 1 << 20 : ulp16(got, ref);
    if (u) inexact++;
    if (u > maxu) maxu = u;
  }
  /* GELU: the device's erff (as in activation.cu) against double erf on the host: 2 ulp */
  CHECK_MSG(maxu <= (gelu ? 2 : 1), "M %d N %d K %d: fp16 output off by %d ulp", M, N, K, maxu);
  /* split-K (3 slices): the slabs sum to the reference's int32 accumulators exactly, and
   * y is the same bits as the unsplit kernel's */
  if (N % 2 == 0 && K >= 64) {
    const int KT = (K + 63) / 64, kts = (KT + 2) / 3, used = (KT + kts - 1) / kts;
    int32_t *dws = dmalloc(3 * MN * 4);
    uint16_t *dy2 = dmalloc(MN * 2);
    CU(cudaMemset(dy2, 0xff, MN * 2));
    QS(qs_int8_quant_launch(dx, M, K, thr, &d.a, 0));
    QS(qs_int8_gemm_splitk_launch(&d.a, dwq, dsw, with_bias ? dbias : NULL, M, N, K, gelu, 3, dws, dy2, 0));
    CU(cudaDeviceSynchronize());
    int32_t *gws = malloc(3 * MN * 4);
    uint16_t *gy2 = malloc(MN * 2);
    CU(cudaMemcpy(gws, dws, (size_t)used * MN * 4, cudaMemcpyDeviceToHost));
    CU(cudaMemcpy(gy2, dy2, MN * 2, cudaMemcpyDeviceToHost));
    long sbad = 0, ybad = 0;
    for (size_t i = 0; i < MN; i++) {
      int32_t a = 0;
      for (int z = 0; z < used; z++) a += gws[z * MN + i];
      sbad += a != acc[i];
      ybad += gy2[i] != gy[i];
    }
    CHECK_MSG(sbad == 0, "M %d N %d K %d: split-K: %ld int32 sums differ", M, N, K, sbad);
    CHECK_MSG(ybad == 0, "M %d N %d K %d: split-K: %ld outputs differ from the unsplit kernel", M, N, K, ybad);
    printf("int8 split-K x%d: int32 exact %s, y == unsplit %s\n", used, sbad ? "NO" : "yes", ybad ? "NO" : "yes");
    cudaFree(dws), cudaFree(dy2);
    free(gws), free(gy2);
  }
  printf("int8 M %5d N %5d K %5d thr %4.1f outliers %3d bias %d gelu %d cfg %2d: acc exact %s, s_x/cols exact %s, "
         "y max %d ulp (%ld of %zu inexact)\n",
         M, N, K, thr, nout, with_bias, gelu, cfg, acc_bad ? "NO" : "yes", (sx_bad || !list_ok) ? "NO" : "yes", maxu,
         inexact, MN);

  act_free(&d);
  cudaFree(dx);
  cudaFree(dbias);
  cudaFree(dwq);
  cudaFree(dsw);
  cudaFree(dacc);
  cudaFree(dy);
  qs_int8_free(&W);
  free(x), free(w), free(bias), free(y), free(acc), free(ocols), free(xh), free(bh);
  free(gacc), free(gy), free(gsx), free(gcols), free(gxo);
  qs_int8_gemm_force_config(-1);
}

/* The three launches captured once into a graph and replayed on inputs with
 * different outlier sets (none, 3 columns, 90 columns): no host sync inside. */
static void int8_graph_case(int M, int N, int K) {
  const size_t MK = (size_t)M * K, NK = (size_t)N * K, MN = (size_t)M * N;
  float *x = malloc(MK * 4), *w = malloc(NK * 4), *y = malloc(MN * 4);
  for (size_t i = 0; i < NK; i++) w[i] = uni(-0.08f, 0.08f);
  qs_int8_matrix W;
  QS(qs_int8_quantize_weight(w, N, K, &W));
  uint16_t *dx = dmalloc(MK * 2), *dy = dmalloc(MN * 2);
  int8_t *dwq = up(W.q, NK);
  float *dsw = up(W.scale, (size_t)N * 4);
  dev_act d;
  act_alloc(&d, M, K, N);
  cudaStream_t s;
  CU(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  /* first call outside the capture (lazy module loading, attributes) */
  run_int8_path(&d, dx, dwq, dsw, NULL, 6.0f, QS_INT8_OUT_F16, dy, s);
  CU(cudaStreamSynchronize(s));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CU(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  run_int8_path(&d, dx, dwq, dsw, NULL, 6.0f, QS_INT8_OUT_F16, dy, s);
  CU(cudaStreamEndCapture(s, &graph));
  CU(cudaGraphInstantiate(&exec, graph, 0));
  int plant[90];
  for (int i = 0; i < 90; i++) plant[i] = (i * 37 + 11) % K;
  const int counts[4] = {0, 3, 90, 2};
  uint16_t *gy = malloc(MN * 2);
  for (int r = 0; r < 4; r++) {
    make_x(x, M, K, 2.5f, plant, counts[r]);
    uint16_t *xh = to_half(x, MK);
    CU(cudaMemcpyAsync(dx, xh, MK * 2, cudaMemcpyHostToDevice, s));
    CU(cudaGraphLaunch(exec, s));
    CU(cudaMemcpyAsync(gy, dy, MN * 2, cudaMemcpyDeviceToHost, s));
    CU(cudaStreamSynchronize(s));
    int nout = 0;
    QS(qs_int8_linear_ref(x, M, &W, NULL, 6.0f, y, NULL, NULL, &nout));
    int maxu = 0;
    for (size_t i = 0; i < MN; i++) {
      int u = ulp16(qs_half_to_float(gy[i]), y[i]);
      if (u > maxu) maxu = u;
    }
    CHECK_MSG(maxu <= 1, "graph replay %d (%d outliers): off by %d ulp", r, nout, maxu);
    printf("int8 graph replay %d: M %d N %d K %d, %d outlier columns: y max %d ulp\n", r, M, N, K, nout, maxu);
    free(xh);
  }
  CU(cudaGraphExecDestroy(exec));
  CU(cudaGraphDestroy(graph));
  CU(cudaStreamDestroy(s));
  act_free(&d);
  cudaFree(dx), cudaFree(dy), cudaFree(dwq), cudaFree(dsw);
  qs_int8_free(&W);
  free(x), free(w), free(y), free(gy);
}

/* ---- NF4 --------------------------------------------------------------------- */

typedef struct {
  qs_nf4_weight w;
  void *bufs[4];
} dev_nf4;

static void nf4_upload(const qs_nf4_matrix *m, dev_nf4 *d) {
  memset(d, 0, sizeof *d);
  d->bufs[0] = up(m->packed, (size_t)(m->n + 1) / 2);
  d->w.packed = d->bufs[0];
  if (!m->double_quant) {
    d->bufs[1] = up(m->absmax, (size_t)m->nblocks * 4);
    d->w.absmax = d->bufs[1];
  } else {
    d->bufs[2] = up(m->absmax_q, (size_t)m->nblocks);
    d->bufs[3] = up(m->absmax_scale, (size_t)m->ngroups * 4);
    d->w.absmax_q = d->bufs[2];
    d->w.absmax_scale = d->bufs[3];
    d->w.absmax_offset = m->absmax_offset;
  }
}
static void nf4_free_dev(dev_nf4 *d) {
  for (int i = 0; i < 4; i++) cudaFree(d->bufs[i]);
}

static void nf4_case(int M, int N, int K, int dq, int with_bias, int gelu, int cfg, int check_alloc) {
  const size_t MK = (size_t)M * K, NK = (size_t)N * K, MN = (size_t)M * N;
  float *x = malloc(MK * 4), *w = malloc(NK * 4), *bias = malloc((size_t)N * 4), *y = malloc(MN * 4);
  for (size_t i = 0; i < MK; i++) x[i] = qs_round_half(uni(-2.0f, 2.0f));
  for (size_t i = 0; i < NK; i++) w[i] = uni(-0.1f, 0.1f) * (1.0f + 3.0f * (float)((i / 64) % 3));
  for (int n = 0; n < N; n++) bias[n] = qs_round_half(uni(-0.5f, 0.5f));
  qs_nf4_matrix W;
  QS(qs_nf4_quantize(w, N, K, 64, dq, &W));
  QS(qs_nf4_linear_ref(x, &W, with_bias ? bias : NULL, M, y));
  uint16_t *xh = to_half(x, MK), *bh = to_half(bias, N);
  uint16_t *dx = up(xh, MK * 2), *dbias = up(bh, (size_t)N * 2), *dy = dmalloc(MN * 2);
  CU(cudaMemset(dy, 0xff, MN * 2));
  dev_nf4 dw;
  nf4_upload(&W, &dw);
  qs_nf4_gemm_force_config(cfg);
  QS(qs_nf4_gemm_launch(dx, &dw.w, with_bias ? dbias : NULL, M, N, K, gelu, dy, 0));
  CU(cudaDeviceSynchronize());
  if (check_alloc) {
    size_t f0 = 0, f1 = 0, tot = 0;
    CU(cudaMemGetInfo(&f0, &tot));
    for (int i = 0; i < 5; i++) QS(qs_nf4_gemm_launch(dx, &dw.w, with_bias ? dbias : NULL, M, N, K, gelu, dy, 0));
    CU(cudaDeviceSynchronize());
    CU(cudaMemGetInfo(&f1, &tot));
    CHECK_MSG(f0 == f1, "nf4 launcher changed free device memory: %zu -> %zu", f0, f1);
  }
  uint16_t *gy = malloc(MN * 2);
  CU(cudaMemcpy(gy, dy, MN * 2, cudaMemcpyDeviceToHost));
  double num = 0, den = 0;
  long bad = 0;
  for (size_t i = 0; i < MN; i++) {
    double ref = y[i];
    if (gelu) ref = qs_round_half((float)(0.5 * ref * (1.0 + erf(ref * 0.70710678118654752))));
    const double got = qs_half_to_float(gy[i]);
    if (got != got) bad++;
    num += (got - ref) * (got - ref);
    den += ref * ref;
  }
  const double rel = sqrt(num / (den > 0 ? den : 1));
  CHECK_MSG(bad == 0 && rel <= 1e-3, "nf4 M %d N %d K %d dq %d: rel L2 %.3g, %ld NaN", M, N, K, dq, rel, bad);
  if (M > 16 && N % 2 == 0) { /* split-K (3 slices): the same tolerance */
    float *dws = dmalloc(3 * MN * 4);
    QS(qs_nf4_gemm_splitk_launch(dx, &dw.w, with_bias ? dbias : NULL, M, N, K, gelu, 3, dws, dy, 0));
    CU(cudaDeviceSynchronize());
    CU(cudaMemcpy(gy, dy, MN * 2, cudaMemcpyDeviceToHost));
    double n2 = 0;
    for (size_t i = 0; i < MN; i++) {
      double ref = y[i];
      if (gelu) ref = qs_round_half((float)(0.5 * ref * (1.0 + erf(ref * 0.70710678118654752))));
      const double got = qs_half_to_float(gy[i]);
      n2 += (got == got) ? (got - ref) * (got - ref) : 1e30;
    }
    const double r2 = sqrt(n2 / (den > 0 ? den : 1));
    CHECK_MSG(r2 <= 1e-3, "nf4 split-K M %d N %d K %d: rel L2 %.3g", M, N, K, r2);
    printf("nf4  split-K x3: rel L2 %.3g\n", r2);
    cudaFree(dws);
  }
  printf("nf4  M %5d N %5d K %5d dq %d bias %d gelu %d cfg %2d: rel L2 %.3g%s\n", M, N, K, dq, with_bias, gelu, cfg,
         rel, check_alloc ? " (no device allocation: ok)" : "");
  qs_nf4_gemm_force_config(-1);
  nf4_free_dev(&dw);
  cudaFree(dx), cudaFree(dbias), cudaFree(dy);
  qs_nf4_free(&W);
  free(x), free(w), free(bias), free(y), free(xh), free(bh), free(gy);
}

/* The generic NF4 kernel (any K, blocks straddling rows): bit-exact with the reference. */
static void nf4_generic_case(int M, int N, int K, int block, int dq, int with_bias) {
  const size_t MK = (size_t)M * K, NK = (size_t)N * K, MN = (size_t)M * N;
  float *x = malloc(MK * 4), *w = malloc(NK * 4), *bias = malloc((size_t)N * 4), *y = malloc(MN * 4);
  for (size_t i = 0; i < MK; i++) x[i] = qs_round_half(uni(-2.0f, 2.0f));
  for (size_t i = 0; i < NK; i++) w[i] = uni(-0.1f, 0.1f) * (1.0f + 3.0f * (float)((i / 64) % 3));
  for (int n = 0; n < N; n++) bias[n] = qs_round_half(uni(-0.5f, 0.5f));
  qs_nf4_matrix W;
  QS(qs_nf4_quantize(w, N, K, block, dq, &W));
  QS(qs_nf4_linear_ref(x, &W, with_bias ? bias : NULL, M, y));
  uint16_t *xh = to_half(x, MK), *bh = to_half(bias, N);
  uint16_t *dx = up(xh, MK * 2), *dbias = up(bh, (size_t)N * 2), *dy = dmalloc(MN * 2);
  CU(cudaMemset(dy, 0xff, MN * 2));
  dev_nf4 dw;
  nf4_upload(&W, &dw);
  QS(qs_nf4_gemm_generic_launch(dx, &dw.w, block, with_bias ? dbias : NULL, M, N, K, 0, dy, 0));
  CU(cudaDeviceSynchronize());
  uint16_t *gy = malloc(MN * 2);
  CU(cudaMemcpy(gy, dy, MN * 2, cudaMemcpyDeviceToHost));
  long bad = 0;
  for (size_t i = 0; i < MN; i++) bad += gy[i] != qs_float_to_half(y[i]);
  CHECK_MSG(bad == 0, "nf4 generic M %d N %d K %d block %d dq %d: %ld of %zu outputs differ", M, N, K, block, dq, bad,
            MN);
  printf("nf4  generic M %5d N %5d K %5d block %d dq %d bias %d: bit-exact %s\n", M, N, K, block, dq, with_bias,
         bad ? "NO" : "yes");
  nf4_free_dev(&dw);
  cudaFree(dx), cudaFree(dbias), cudaFree(dy);
  qs_nf4_free(&W);
  free(x), free(w), free(bias), free(y), free(xh), free(bh), free(gy);
}

/* ---- fp8 e4m3 ------------------------------------------------------------------ */

static double rel_l2d(const float *a, const float *b, size_t n, double *max_abs, double *max_ref) {
  double num = 0, den = 0;
  *max_abs = 0, *max_ref = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = (double)a[i] - (double)b[i];
    num += d * d, den += (double)b[i] * b[i];
    if (d != d) *max_abs = INFINITY;
    else if (fabs(d) > *max_abs) *max_abs = fabs(d);
    if (fabs(b[i]) > *max_ref) *max_ref = fabs(b[i]);
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The fp8 path (quant.h section 5): the activation codes and scales bit for bit; the
 * tensor cores' sums and y within a tolerance of the reference, and no y further than
 * 1% of the largest |y| from it. Row 3 is all zeros (s_x = 0). Hopper's e4m3 wgmma
 * does not keep full fp32 sums: on an H200 the sums' relative L2 against the exact
 * fp32 ones measured 3.8e-4 at K 768, 9.7e-4 at K 3072 and 1.6e-3 at K 6400 (y alike),
 * growing about as K^0.7; the bound, 1e-3 max(1, (K / 768)^0.75), leaves 2-3x of margin
 * (a wrong scale, layout or code gives errors of order 1). */
static void fp8_case(int M, int N, int K, int with_bias, int gelu, int bn) {
  const size_t MK = (size_t)M * K, NK = (size_t)N * K, MN = (size_t)M * N;
  float *x = malloc(MK * 4), *w = malloc(NK * 4), *bias = malloc((size_t)N * 4), *y = malloc(MN * 4);
  float *acc = malloc(MN * 4), *sx = malloc((size_t)M * 4), *gacc = malloc(MN * 4), *gys = malloc(MN * 4);
  float *gsx = malloc((size_t)M * 4);
  uint8_t *gxq = malloc(MK);
  uint16_t *gy = malloc(MN * 2);
  make_x(x, M, K, 2.5f, NULL, 0);
  if (M > 3) memset(x + 3 * (size_t)K, 0, (size_t)K * 4);
  for (size_t i = 0; i < NK; i++) w[i] = uni(-0.08f, 0.08f);
  for (int n = 0; n < N; n++) bias[n] = qs_round_half(uni(-0.5f, 0.5f));
  qs_fp8_matrix W;
  QS(qs_fp8_quantize_weight(w, N, K, &W));
  QS(qs_fp8_linear_ref(x, M, &W, with_bias ? bias : NULL, y, acc, sx));

  uint16_t *xh = to_half(x, MK), *bh = to_half(bias, N);
  uint16_t *dx = up(xh, MK * 2), *dbias = up(bh, (size_t)N * 2);
  uint8_t *dwq = up(W.q, NK), *dxq = dmalloc(MK);
  float *dsw = up(W.scale, (size_t)N * 4), *dsx = dmalloc((size_t)M * 4);
  void *dacc = dmalloc(MN * 4);
  uint16_t *dy = dmalloc(MN * 2);
  CU(cudaMemset(dxq, 0x5a, MK)); /* poison */
  CU(cudaMemset(dy, 0xff, MN * 2));
  QS(qs_fp8_quant_launch(dx, M, K, dxq, dsx, 0));
  QS(qs_fp8_gemm_sm90_launch(dxq, dsx, dwq, dsw, with_bias ? dbias : NULL, M, N, K, QS_INT8_OUT_ACC, dacc, bn, 0));
  QS(qs_fp8_gemm_sm90_launch(dxq, dsx, dwq, dsw, with_bias ? dbias : NULL, M, N, K,
                             gelu ? QS_INT8_OUT_F16_GELU : QS_INT8_OUT_F16, dy, bn, 0));
  CU(cudaDeviceSynchronize());
  CU(cudaMemcpy(gxq, dxq, MK, cudaMemcpyDeviceToHost));
  CU(cudaMemcpy(gsx, dsx, (size_t)M * 4, cudaMemcpyDeviceToHost));
  CU(cudaMemcpy(gacc, dacc, MN * 4, cudaMemcpyDeviceToHost));
  CU(cudaMemcpy(gy, dy, MN * 2, cudaMemcpyDeviceToHost));
  /* codes and scales: exact */
  long sx_bad = 0, q_bad = 0;
  for (int m = 0; m < M; m++) {
    sx_bad += memcmp(&gsx[m], &sx[m], 4) != 0;
    for (int k = 0; k < K; k++) {
      const float xv = qs_round_half(x[(size_t)m * K + k]);
      const uint8_t want = sx[m] == 0.0f ? 0 : qs_float_to_e4m3(xv / sx[m]);
      q_bad += gxq[(size_t)m * K + k] != want;
    }
  }
  CHECK_MSG(sx_bad == 0 && q_bad == 0, "fp8 M %d K %d: %ld of %d s_x and %ld of %zu codes differ", M, K, sx_bad, M,
            q_bad, MK);
  if (gelu)
    for (size_t i = 0; i < MN; i++) y[i] = qs_round_half((float)(0.5 * y[i] * (1.0 + erf(y[i] * 0.70710678118654752))));
  for (size_t i = 0; i < MN; i++) gys[i] = qs_half_to_float(gy[i]);
  double amax, aref, ymax, yref;
  const double ea = rel_l2d(gacc, acc, MN, &amax, &aref), ey = rel_l2d(gys, y, MN, &ymax, &yref);
  printf("fp8 M %-5d N %-5d K %-5d bn %-3d bias %d gelu %d: codes exact, sums rel L2 %.2e, y rel L2 %.2e, max |dy| "
         "%.3g (max |y| %.3g)\n",
         M, N, K, bn, with_bias, gelu, ea, ey, ymax, yref);
  const double bound = 1e-3 * fmax(1.0, pow(K / 768.0, 0.75));
  CHECK_MSG(ea <= bound, "fp8 M %d N %d K %d: the sums' relative L2 %.3e > %.1e", M, N, K, ea, bound);
  CHECK_MSG(ey <= bound && ymax <= 0.01 * yref,
            "fp8 M %d N %d K %d: y relative L2 %.3e (%.1e), max |dy| %.3g (%.3g)", M, N, K, ey, bound, ymax,
            0.01 * yref);
  cudaFree(dx), cudaFree(dbias), cudaFree(dwq), cudaFree(dxq), cudaFree(dsw), cudaFree(dsx), cudaFree(dacc);
  cudaFree(dy);
  qs_fp8_free(&W);
  free(x), free(w), free(bias), free(y), free(acc), free(sx), free(gacc), free(gys), free(gsx), free(gxq), free(gy);
  free(xh), free(bh);
}

int main(void) {
  setenv("CUDA_MODULE_LOADING", "EAGER", 0); /* so the allocation check sees no lazy module load */
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
    printf("test_gpu_quant: no CUDA device, skipped\n");
    return QS_SKIP_CODE;
  }
  struct cudaDeviceProp prop;
  CU(cudaGetDeviceProperties(&prop, 0));
  printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);

  const int few[3] = {5, 300, 701};
  int many[80];
  for (int i = 0; i < 80; i++) many[i] = (i * 53 + 7) % 768;
  /* ViT-B, batch 1: qkv / fc1 / fc2, no outliers, planted outliers, threshold 0 */
  int8_case(197, 2304, 768, 6.0f, NULL, 0, 1, 0, -1);
  int8_case(197, 3072, 768, 6.0f, few, 3, 1, 1, -1);
  int8_case(197, 768, 3072, 6.0f, few, 3, 1, 0, -1);
  int8_case(197, 768, 768, 0.0f, few, 3, 1, 0, -1);
  int8_case(197, 768, 768, 6.0f, many, 80, 0, 0, -1); /* > fused limit: int8_outlier.cu */
  /* odd M and each tile configuration */
  int8_case(37, 768, 768, 6.0f, few, 3, 1, 0, 0);
  int8_case(131, 1024, 1024, 6.0f, few, 2, 1, 0, 1);
  int8_case(1, 768, 768, 6.0f, NULL, 0, 1, 0, 2);
  int8_case(3, 200, 144, 6.0f, NULL, 0, 1, 0, 2); /* K % 64 != 0, N not a tile multiple */
  /* ViT-H batch 1, ViT-B batch 32 */
  int8_case(197, 5120, 1280, 6.0f, few, 3, 1, 0, -1);
  int8_case(197, 1280, 5120, 6.0f, NULL, 0, 1, 0, -1);
  int8_case(197 * 32, 3072, 768, 6.0f, few, 3, 1, 0, -1);
  int8_case(197 * 32, 768, 768, 0.0f, NULL, 0, 1, 0, -1);
  /* rows longer than the register-resident quantization takes (K > 6144: the looping
   * kernel), with and without outlier columns; a short row (K 8: one chunk) */
  int8_case(70, 256, 6400, 6.0f, few, 3, 1, 0, -1);
  int8_case(70, 256, 6400, 0.0f, NULL, 0, 1, 0, -1);
  int8_case(70, 256, 16, 6.0f, NULL, 0, 1, 0, -1);
  int8_graph_case(197, 768, 768);
  /* the sm_90a wgmma kernel (configuration 3: its own tile width; 4: 128 x 256, 5: 128 x 128):
   * M not a multiple of 128, N not a multiple of the tile, K not a multiple of 128 bytes,
   * fused and buffered outlier parts, threshold 0, GELU, and more tiles than SMs */
  if (qs_int8_sm90_available()) {
    int8_case(197 * 8, 2304, 768, 6.0f, NULL, 0, 1, 0, 3);
    int8_case(197 * 8, 3072, 768, 6.0f, few, 3, 1, 1, 4);
    int8_case(197 * 8, 768, 3072, 6.0f, few, 3, 1, 0, 5);
    int8_case(1000, 768, 768, 6.0f, many, 80, 0, 0, 4); /* > fused limit: obuf */
    int8_case(1000, 768, 768, 0.0f, few, 3, 1, 0, 5);
    int8_case(700, 200, 144, 6.0f, NULL, 0, 1, 0, 4);   /* a partial tile in N and in K */
    const int few2[2] = {5, 200};
    int8_case(130, 392, 272, 6.0f, few2, 2, 1, 1, 5);
    int8_case(257 * 8, 5120, 1280, 6.0f, few, 3, 1, 1, 3);
    int8_case(197 * 32, 768, 3072, 6.0f, NULL, 0, 1, 0, 4);
    /* configuration 6: the ping-pong schedule (each warpgroup on its own 128 x 128
     * tiles; an odd tile count leaves the last CTA's second warpgroup idle) */
    int8_case(197 * 8, 3072, 768, 6.0f, few, 3, 1, 1, 6);
    int8_case(1000, 768, 768, 6.0f, many, 80, 0, 0, 6);
    int8_case(700, 200, 144, 6.0f, NULL, 0, 1, 0, 6);
    int8_case(130, 392, 272, 6.0f, few2, 2, 1, 1, 6);
    int8_case(197 * 32, 768, 3072, 0.0f, few, 3, 1, 0, 6);
    int8_case(197 * 32, 3072, 768, 6.0f, NULL, 0, 1, 1, 6);
    /* fp8: ViT-B's shapes at batch 1 and 32, partial tiles, each tile width, no bias, M 1 */
    fp8_case(197, 2304, 768, 1, 0, 0);
    fp8_case(197 * 32, 3072, 768, 1, 1, 0);
    fp8_case(197 * 8, 768, 3072, 1, 0, 256);
    fp8_case(130, 392, 272, 0, 1, 128);
    fp8_case(1, 768, 768, 1, 0, 0);
    fp8_case(700, 200, 6400, 1, 0, 128); /* rows past the register-resident quantization */
    fp8_case(197 * 32, 3072, 768, 1, 1, QS_SM90_PINGPONG);
    fp8_case(130, 392, 272, 0, 1, QS_SM90_PINGPONG);
    fp8_case(197 * 8, 768, 3072, 1, 0, QS_SM90_PINGPONG);
  } else {
    printf("int8 and fp8 sm_90a kernels: not available on this device, their cases skipped\n");
  }

  nf4_case(197, 2304, 768, 0, 1, 0, -1, 1);
  nf4_case(197, 768, 3072, 1, 1, 0, -1, 0);
  nf4_case(197, 5120, 1280, 0, 1, 1, -1, 0);
  nf4_case(197, 1280, 5120, 1, 1, 0, 0, 0);
  nf4_case(131, 768, 768, 0, 0, 0, 1, 0);
  nf4_case(1, 768, 768, 0, 1, 0, -1, 1);
  nf4_case(7, 3072, 768, 1, 1, 0, -1, 0);
  nf4_case(16, 768, 3072, 0, 1, 1, -1, 0);
  nf4_case(197 * 32, 3072, 768, 1, 1, 0, -1, 1);
  /* the sm_90a wgmma kernel (3: its own tile, 4: 128 x 256, 5: 128 x 128, 6: 256 x 128): M and N
   * not multiples of the tile, double quantization, GELU, more tiles than SMs */
  if (qs_int8_sm90_available()) {
    nf4_case(197 * 8, 2304, 768, 0, 1, 0, 3, 1);
    nf4_case(197 * 8, 3072, 768, 1, 1, 1, 4, 0);
    nf4_case(197 * 8, 768, 3072, 0, 1, 0, 5, 0);
    nf4_case(700, 200, 192, 1, 0, 0, 4, 0);
    nf4_case(130, 392, 320, 0, 1, 1, 5, 0);
    nf4_case(257 * 8, 5120, 1280, 0, 1, 1, 3, 0);
    nf4_case(197 * 32, 768, 3072, 1, 1, 0, 4, 0);
    /* 6: 256 x 128 tiles (two m64 halves a warpgroup) */
    nf4_case(197 * 8, 3072, 768, 1, 1, 1, 6, 1);
    nf4_case(700, 200, 192, 1, 0, 0, 6, 0);
    nf4_case(130, 392, 320, 0, 1, 1, 6, 0);
    nf4_case(197 * 32, 768, 3072, 0, 1, 0, 6, 0);
    nf4_case(257 * 8, 5120, 1280, 1, 1, 1, 6, 0);
  } else {
    printf("nf4 sm_90a kernel: not available on this device, its cases skipped\n");
  }
  /* MobileViT's widths (K % 64 != 0: blocks straddle rows), odd N, another block size */
  nf4_generic_case(1024, 432, 144, 64, 0, 1);
  nf4_generic_case(256, 240, 480, 64, 1, 1);
  nf4_generic_case(64, 161, 80, 64, 0, 0);
  nf4_generic_case(70, 96, 96, 32, 1, 1);
  return qs_test_finish("test_gpu_quant");
}
