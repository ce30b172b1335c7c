/* quant_gemm_bench.c - Linear-layer timings of the quantized kernels against
 * cuBLASLt fp32 (no TF32) and fp16, for the ViT-B/L/H encoder Linear shapes at
 * batch 1 (M = 197 tokens) and batch 32 (M = 6304).
 *
 * Paths, each y[M, N] = x[M, K] W[N, K]^T + bias:
 *   fp32  cuBLASLt, CUBLAS_COMPUTE_32F on fp32 data, bias epilogue
 *   fp16  cuBLASLt, fp16 data, fp32 accumulation, bias epilogue
 *   int8  qs_int8_quant + qs_int8_outlier + qs_int8_gemm (fp16 in, fp16 out),
 *         x without outliers ("int8") and with 4 outlier columns ("int8o")
 *   i8mm  qs_int8_gemm alone (quantization excluded), for the split of costs
 *   imma  cuBLASLt int8 x int8 -> int32 (CUBLAS_COMPUTE_32I), GEMM only, no
 *         dequantization: what the library's IMMA would cost before an epilogue
 *   nf4   qs_nf4_gemm (fp16 in, fp16 out, double-quantized absmax off)
 * Timing: each path's launches are captured R times into one CUDA graph, R
 * rotating weight copies (at least 8 launches per graph) so that the weights of every path come from device
 * memory (copies together >= 128 MB, more than the L2), replayed to warm
 * up twice and 11 times timed with events; the median replay / R is reported.
 * Ceilings measured once: device-to-device copy bandwidth (read + write bytes),
 * cuBLASLt fp16, int8 and fp32 throughput at 8192^3 (4096^3 for fp32). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "qs_common.h"
#include "qs_half.h"
#include "qs_quant_cuda.h"

#define CU(stmt)                                                                       \
  do {                                                                                 \
    cudaError_t e_ = (stmt);                                                           \
    if (e_ != cudaSuccess) {                                                           \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #stmt, cudaGetErrorString(e_)); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)
#define LT(stmt)                                                                       \
  do {                                                                                 \
    cublasStatus_t s_ = (stmt);                                                        \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                 \
      fprintf(stderr, "%s:%d: %s: cublas status %d\n", __FILE__, __LINE__, #stmt, (int)s_); \
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

void qs_int8_gemm_force_config(int cfg);
void qs_nf4_gemm_force_config(int cfg);

static cublasLtHandle_t g_lt;
static void *g_ws;
static const size_t g_ws_bytes = 64u << 20;
static cudaStream_t g_s;

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}
static float funi(float a, float b) { return a + (b - a) * (float)(rnd32() & 0xffffff) / 16777216.0f; }

static void *dalloc(size_t n) {
  void *p = NULL;
  CU(cudaMalloc(&p, n));
  return p;
}
/* device buffer of n bytes filled from a host generator */
enum { FILL_F32, FILL_F16, FILL_I8, FILL_U8, FILL_POS32 };
static void *dfill(size_t n, int kind, float amp) {
  unsigned char *h = malloc(n);
  if (kind == FILL_F32 || kind == FILL_POS32) {
    float *f = (float *)h;
    for (size_t i = 0; i < n / 4; i++) f[i] = kind == FILL_F32 ? funi(-amp, amp) : funi(0.5f * amp, amp);
  } else if (kind == FILL_F16) {
    uint16_t *f = (uint16_t *)h;
    for (size_t i = 0; i < n / 2; i++) f[i] = qs_float_to_half(funi(-amp, amp));
  } else if (kind == FILL_I8) {
    for (size_t i = 0; i < n; i++) h[i] = (unsigned char)(int8_t)((int)(rnd32() % 255) - 127);
  } else {
    for (size_t i = 0; i < n; i++) h[i] = (unsigned char)rnd32();
  }
  void *d = dalloc(n);
  CU(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
  free(h);
  return d;
}

/* ---- cuBLASLt ------------------------------------------------------------------ */
typedef struct {
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
  int kind; /* 0 fp32, 1 fp16, 2 int8 -> int32 */
} lt_gemm;

static int lt_init(lt_gemm *g, int kind, int M, int N, int K, const void *bias) {
  memset(g, 0, sizeof *g);
  g->kind = kind;
  cudaDataType_t ab = kind == 0 ? CUDA_R_32F : kind == 1 ? CUDA_R_16F : CUDA_R_8I;
  cudaDataType_t c = kind == 0 ? CUDA_R_32F : kind == 1 ? CUDA_R_16F : CUDA_R_32I;
  cublasComputeType_t ct = kind == 2 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F;
  cudaDataType_t st = kind == 2 ? CUDA_R_32I : CUDA_R_32F;
  LT(cublasLtMatmulDescCreate(&g->op, ct, st));
  cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
  LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
  if (bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &c, sizeof c));
    LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  }
  LT(cublasLtMatrixLayoutCreate(&g->la, ab, K, N, K));
  LT(cublasLtMatrixLayoutCreate(&g->lb, ab, K, M, K));
  LT(cublasLtMatrixLayoutCreate(&g->lc, c, N, M, N));
  cublasLtMatmulPreference_t pref;
  LT(cublasLtMatmulPreferenceCreate(&pref));
  LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &g_ws_bytes,
                                          sizeof g_ws_bytes));
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(g_lt, g->op, g->la, g->lb, g->lc, g->lc, pref, 1, &res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS || found < 1) return -1;
  g->algo = res.algo;
  return 0;
}
static void lt_run(const lt_gemm *g, const void *x, const void *w, void *y, cudaStream_t s) {
  const float af = 1.0f, bf = 0.0f;
  const int32_t ai = 1, bi = 0;
  const void *alpha = g->kind == 2 ? (const void *)&ai : (const void *)&af;
  const void *beta = g->kind == 2 ? (const void *)&bi : (const void *)&bf;
  LT(cublasLtMatmul(g_lt, g->op, alpha, w, g->la, x, g->lb, beta, y, g->lc, y, g->lc, &g->algo, g_ws, g_ws_bytes,
                    s));
}
static void lt_destroy(lt_gemm *g) {
  cublasLtMatrixLayoutDestroy(g->la);
  cublasLtMatrixLayoutDestroy(g->lb);
  cublasLtMatrixLayoutDestroy(g->lc);
  cublasLtMatmulDescDestroy(g->op);
}

/* ---- timing ----------------------------------------------------------------------- */
typedef void (*launch_fn)(void *ctx, int i, cudaStream_t s);

static int cmp_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}
/* median seconds of one launch: R launches (i = 0..R-1) per graph replay */
static double time_graph(launch_fn fn, void *ctx, int R) {
  fn(ctx, 0, g_s); /* eager warm-up outside the capture */
  CU(cudaStreamSynchronize(g_s));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CU(cudaStreamBeginCapture(g_s, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < R; i++) fn(ctx, i, g_s);
  CU(cudaStreamEndCapture(g_s, &graph));
  CU(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t e0, e1;
  CU(cudaEventCreate(&e0));
  CU(cudaEventCreate(&e1));
  for (int i = 0; i < 2; i++) CU(cudaGraphLaunch(exec, g_s));
  enum { REPS = 11 };
  float t[REPS];
  for (int r = 0; r < REPS; r++) {
    CU(cudaEventRecord(e0, g_s));
    CU(cudaGraphLaunch(exec, g_s));
    CU(cudaEventRecord(e1, g_s));
    CU(cudaEventSynchronize(e1));
    CU(cudaEventElapsedTime(&t[r], e0, e1));
  }
  qsort(t, REPS, sizeof(float), cmp_f);
  CU(cudaEventDestroy(e0));
  CU(cudaEventDestroy(e1));
  CU(cudaGraphExecDestroy(exec));
  CU(cudaGraphDestroy(graph));
  return t[REPS / 2] * 1e-3 / R;
}

/* ---- the paths ------------------------------------------------------------------------ */
typedef struct {
  int M, N, K;
  int n32, n16, n8, nn; /* distinct weight copies per format */
  void *x32, *x16, *x16o, *y, *y32;
  void **w32, **w16, **wq, **sw, **nf4p, **nf4a;
  void *b32, *b16;
  lt_gemm g32, g16, gi8;
  qs_int8_act act;
  uint16_t *obuf;
  qs_nf4_weight *nw;
  const void *xin;
} shape_ctx;

static void f_fp32(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  lt_run(&x->g32, x->x32, x->w32[i % x->n32], x->y32, s);
}
static void f_fp16(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  lt_run(&x->g16, x->x16, x->w16[i % x->n16], x->y, s);
}
static void f_imma(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  lt_run(&x->gi8, x->act.xq, x->wq[i % x->n8], x->y32, s);
}
static void f_int8(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  const int r = i % x->n8;
  QS(qs_int8_quant_launch(x->xin, x->M, x->K, 6.0f, &x->act, s));
  QS(qs_int8_outlier_launch(&x->act, x->wq[r], x->sw[r], x->M, x->N, x->K, x->obuf, s));
  QS(qs_int8_gemm_launch(&x->act, x->wq[r], x->sw[r], x->b16, x->obuf, x->M, x->N, x->K, QS_INT8_OUT_F16, x->y, s));
}
static void f_i8mm(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  const int r = i % x->n8;
  QS(qs_int8_gemm_launch(&x->act, x->wq[r], x->sw[r], x->b16, x->obuf, x->M, x->N, x->K, QS_INT8_OUT_F16, x->y, s));
}
static void f_quant(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  (void)i;
  QS(qs_int8_quant_launch(x->xin, x->M, x->K, 6.0f, &x->act, s));
}
static void f_outl(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  const int r = i % x->n8;
  QS(qs_int8_outlier_launch(&x->act, x->wq[r], x->sw[r], x->M, x->N, x->K, x->obuf, s));
}
static void f_nf4(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  QS(qs_nf4_gemm_launch(x->x16, &x->nw[i % x->nn], x->b16, x->M, x->N, x->K, 0, x->y, s));
}

/* ---- ceilings ---------------------------------------------------------------------- */
static double g_bw, g_tf16, g_ti8, g_tf32;

static void f_copy(void *c, int i, cudaStream_t s) {
  void **b = c;
  (void)i;
  CU(cudaMemcpyAsync(b[1], b[0], (size_t)1 << 30, cudaMemcpyDeviceToDevice, s));
}
static void measure_ceilings(void) {
  void *b[2] = {dalloc((size_t)1 << 30), dalloc((size_t)1 << 30)};
  CU(cudaMemset(b[0], 1, (size_t)1 << 30));
  g_bw = 2.0 * (double)((size_t)1 << 30) / time_graph(f_copy, b, 4);
  cudaFree(b[0]);
  cudaFree(b[1]);
  const int kinds[3] = {1, 2, 0};
  for (int t = 0; t < 3; t++) {
    const int kind = kinds[t], S = kind == 0 ? 4096 : 8192;
    shape_ctx c;
    memset(&c, 0, sizeof c);
    c.M = c.N = c.K = S;
    c.n32 = c.n16 = c.n8 = c.nn = 1;
    const size_t el = kind == 0 ? 4 : kind == 1 ? 2 : 1, oel = kind == 1 ? 2 : 4;
    void *x = dfill((size_t)S * S * el, kind == 0 ? FILL_F32 : kind == 1 ? FILL_F16 : FILL_I8, 1.0f);
    void *w = dfill((size_t)S * S * el, kind == 0 ? FILL_F32 : kind == 1 ? FILL_F16 : FILL_I8, 1.0f);
    void *y = dalloc((size_t)S * S * oel);
    lt_gemm g;
    if (lt_init(&g, kind, S, S, S, NULL) == 0) {
      void *wv[1] = {w};
      c.w32 = c.w16 = c.wq = wv;
      c.x32 = c.x16 = x;
      c.act.xq = x;
      c.y = c.y32 = y;
      c.g32 = c.g16 = c.gi8 = g;
      const double sec = time_graph(kind == 0 ? f_fp32 : kind == 1 ? f_fp16 : f_imma, &c, 3);
      const double rate = 2.0 * S * (double)S * S / sec;
      if (kind == 0) g_tf32 = rate;
      else if (kind == 1) g_tf16 = rate;
      else g_ti8 = rate;
      lt_destroy(&g);
    }
    cudaFree(x);
    cudaFree(w);
    cudaFree(y);
  }
}

/* ---- one Linear shape ------------------------------------------------------------------- */
typedef struct {
  const char *model, *layer;
  int M, N, K;
  double t[7]; /* fp32 fp16 int8 int8o i8mm imma nf4 */
  double ti[3], tn[2]; /* --configs: int8 gemm and nf4 per tile configuration */
  double tq[3]; /* --configs: quant alone (no outliers, 4 outliers), outlier launch alone (early exit) */
} row_t;
static int g_sweep;

static void bench_shape(row_t *row) {
  const int M = row->M, N = row->N, K = row->K;
  shape_ctx c;
  memset(&c, 0, sizeof c);
  c.M = M, c.N = N, c.K = K;
  /* distinct weight copies per format: together >= 128 MB (beyond the L2), at most 160 */
  const double nf4_bytes = (double)N * K / 2 + (double)N * K / 64 * 4;
#define NCOPY(bytes) (int)fmin(160.0, fmax(1.0, ceil(128e6 / (bytes))))
  c.n32 = NCOPY(4.0 * N * K), c.n16 = NCOPY(2.0 * N * K), c.n8 = NCOPY(1.0 * N * K), c.nn = NCOPY(nf4_bytes);
#define NREP(n) ((n) < 8 ? 8 : (n))
  c.x32 = dfill((size_t)M * K * 4, FILL_F32, 2.0f);
  c.x16 = dfill((size_t)M * K * 2, FILL_F16, 2.0f);
  /* x with 4 outlier columns: 20 in every 5th row of columns 3, 100, 250, 600 */
  {
    uint16_t *h = malloc((size_t)M * K * 2);
    CU(cudaMemcpy(h, c.x16, (size_t)M * K * 2, cudaMemcpyDeviceToHost));
    const int oc[4] = {3 % K, 100 % K, 250 % K, 600 % K};
    for (int m = 0; m < M; m += 5)
      for (int j = 0; j < 4; j++) h[(size_t)m * K + oc[j]] = qs_float_to_half(20.0f);
    c.x16o = dalloc((size_t)M * K * 2);
    CU(cudaMemcpy(c.x16o, h, (size_t)M * K * 2, cudaMemcpyHostToDevice));
    free(h);
  }
  c.y = dalloc((size_t)M * N * 2);
  c.y32 = dalloc((size_t)M * N * 4);
  c.b32 = dfill((size_t)N * 4, FILL_F32, 0.5f);
  c.b16 = dfill((size_t)N * 2, FILL_F16, 0.5f);
  c.w32 = calloc(c.n32, sizeof(void *));
  c.w16 = calloc(c.n16, sizeof(void *));
  c.wq = calloc(c.n8, sizeof(void *));
  c.sw = calloc(c.n8, sizeof(void *));
  c.nf4p = calloc(c.nn, sizeof(void *));
  c.nf4a = calloc(c.nn, sizeof(void *));
  c.nw = calloc(c.nn, sizeof(qs_nf4_weight));
  for (int r = 0; r < c.n32; r++) c.w32[r] = dfill((size_t)N * K * 4, FILL_F32, 0.05f);
  for (int r = 0; r < c.n16; r++) c.w16[r] = dfill((size_t)N * K * 2, FILL_F16, 0.05f);
  for (int r = 0; r < c.n8; r++) {
    c.wq[r] = dfill((size_t)N * K, FILL_I8, 0);
    c.sw[r] = dfill((size_t)N * 4, FILL_POS32, 0.1f);
  }
  for (int r = 0; r < c.nn; r++) {
    c.nf4p[r] = dfill((size_t)N * K / 2, FILL_U8, 0);
    c.nf4a[r] = dfill((size_t)N * K / 64 * 4, FILL_POS32, 0.1f);
    c.nw[r].packed = c.nf4p[r];
    c.nw[r].absmax = c.nf4a[r];
  }
  c.act.xq = dalloc((size_t)M * K);
  c.act.sx = dalloc((size_t)M * 4);
  c.act.n_out = dalloc(4);
  c.act.cols = dalloc((size_t)K * 4);
  c.act.xo = dalloc((size_t)M * K * 2);
  c.act.state = dalloc(qs_int8_state_words(K) * 4);
  QS(qs_int8_state_init(c.act.state, K, g_s));
  c.obuf = dalloc((size_t)M * N * 2);
  for (int i = 0; i < 7; i++) row->t[i] = NAN;
  if (lt_init(&c.g32, 0, M, N, K, c.b32) == 0) row->t[0] = time_graph(f_fp32, &c, NREP(c.n32)), lt_destroy(&c.g32);
  if (lt_init(&c.g16, 1, M, N, K, c.b16) == 0) row->t[1] = time_graph(f_fp16, &c, NREP(c.n16)), lt_destroy(&c.g16);
  c.xin = c.x16;
  row->t[2] = time_graph(f_int8, &c, NREP(c.n8));
  row->t[4] = time_graph(f_i8mm, &c, NREP(c.n8)); /* xq of the outlier-free x */
  if (g_sweep)
    for (int k = 0; k < 3; k++) {
      qs_int8_gemm_force_config(k);
      row->ti[k] = time_graph(f_i8mm, &c, NREP(c.n8));
      qs_int8_gemm_force_config(-1);
    }
  if (lt_init(&c.gi8, 2, M, N, K, NULL) == 0) row->t[5] = time_graph(f_imma, &c, NREP(c.n8)), lt_destroy(&c.gi8);
  if (g_sweep) {
    row->tq[0] = time_graph(f_quant, &c, 16);
    row->tq[2] = time_graph(f_outl, &c, 16);
  }
  c.xin = c.x16o;
  row->t[3] = time_graph(f_int8, &c, NREP(c.n8));
  if (g_sweep) row->tq[1] = time_graph(f_quant, &c, 16);
  row->t[6] = time_graph(f_nf4, &c, NREP(c.nn));
  if (g_sweep)
    for (int k = 0; k < 2; k++) {
      qs_nf4_gemm_force_config(k);
      row->tn[k] = time_graph(f_nf4, &c, NREP(c.nn));
      qs_nf4_gemm_force_config(-1);
    }
  int nout = -1;
  CU(cudaMemcpy(&nout, c.act.n_out, 4, cudaMemcpyDeviceToHost));
  if (nout != 4) fprintf(stderr, "warning: %s %s M %d: %d outlier columns, expected 4\n", row->model, row->layer, M, nout);

  for (int r = 0; r < c.n32; r++) cudaFree(c.w32[r]);
  for (int r = 0; r < c.n16; r++) cudaFree(c.w16[r]);
  for (int r = 0; r < c.n8; r++) cudaFree(c.wq[r]), cudaFree(c.sw[r]);
  for (int r = 0; r < c.nn; r++) cudaFree(c.nf4p[r]), cudaFree(c.nf4a[r]);
  free(c.w32), free(c.w16), free(c.wq), free(c.sw), free(c.nf4p), free(c.nf4a), free(c.nw);
  cudaFree(c.x32), cudaFree(c.x16), cudaFree(c.x16o), cudaFree(c.y), cudaFree(c.y32), cudaFree(c.b32);
  cudaFree(c.b16), cudaFree(c.act.xq), cudaFree(c.act.sx), cudaFree(c.act.n_out), cudaFree(c.act.cols);
  cudaFree(c.act.xo), cudaFree(c.act.state), cudaFree(c.obuf);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--configs")) g_sweep = 1;
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
    printf("quant_gemm_bench: no CUDA device\n");
    return 77;
  }
  struct cudaDeviceProp p;
  CU(cudaGetDeviceProperties(&p, 0));
  CU(cudaStreamCreateWithFlags(&g_s, cudaStreamNonBlocking));
  LT(cublasLtCreate(&g_lt));
  g_ws = dalloc(g_ws_bytes);
  measure_ceilings();

  static const struct {
    const char *name;
    int D, F;
  } models[3] = {{"ViT-B", 768, 3072}, {"ViT-L", 1024, 4096}, {"ViT-H", 1280, 5120}};
  static const char *layers[4] = {"qkv", "proj", "fc1", "fc2"};
  row_t rows[24];
  int nr = 0;
  for (int b = 0; b < 2; b++)
    for (int mi = 0; mi < 3; mi++)
      for (int l = 0; l < 4; l++) {
        const int D = models[mi].D, F = models[mi].F;
        row_t *r = &rows[nr++];
        memset(r, 0, sizeof *r);
        r->model = models[mi].name;
        r->layer = layers[l];
        r->M = b ? 197 * 32 : 197;
        r->N = l == 0 ? 3 * D : l == 1 ? D : l == 2 ? F : D;
        r->K = l == 3 ? F : D;
        bench_shape(r);
        fprintf(stderr, "done %s %s M %d\n", r->model, r->layer, r->M);
      }

  if (g_sweep) {
    printf("\ntile configurations (us): int8 gemm cfg0 cfg1 cfg2 | nf4 cfg0 cfg1 (cfg2 = GEMV only for M <= 16) | quant, quant 4 outl, outlier kernel (exit)\n");
    for (int i = 0; i < nr; i++) {
      const row_t *r = &rows[i];
      printf("%-5s %-4s M %5d N %5d K %5d: %8.1f %8.1f %8.1f | %8.1f %8.1f | %6.1f %6.1f %6.1f\n", r->model, r->layer,
             r->M, r->N, r->K, r->ti[0] * 1e6, r->ti[1] * 1e6, r->ti[2] * 1e6, r->tn[0] * 1e6, r->tn[1] * 1e6,
             r->tq[0] * 1e6, r->tq[1] * 1e6, r->tq[2] * 1e6);
    }
  }

  printf("\nGPU: %s, %d SMs, L2 %d MB\n", p.name, p.multiProcessorCount, p.l2CacheSize >> 20);
  printf("ceilings (measured): copy %.0f GB/s; cuBLASLt fp16 %.0f TFLOP/s, int8 %.0f TOP/s (8192^3), fp32 %.1f "
         "TFLOP/s (4096^3, no TF32)\n",
         g_bw * 1e-9, g_tf16 * 1e-12, g_ti8 * 1e-12, g_tf32 * 1e-12);
  printf("times in us per Linear (median of graph replays, weights from device memory); int8 = quant + outlier + "
         "gemm (fp16 in/out), int8o = with 4 outlier columns, i8mm = int8 gemm alone, imma = cuBLASLt int8->int32 "
         "GEMM only; speed-ups are fp32/int8, fp16/int8, fp32/nf4; TF = int8 path TOP/s; nf4 GB/s = weight bytes / time\n");
  printf("%-5s %-4s %5s %5s %5s | %8s %8s %8s %8s %8s %8s %8s | %6s %6s %6s | %6s %7s\n", "model", "lin", "M", "N",
         "K", "fp32", "fp16", "int8", "int8o", "i8mm", "imma", "nf4", "x32/i8", "x16/i8", "x32/n4", "i8 TF",
         "nf4GB/s");
  for (int i = 0; i < nr; i++) {
    const row_t *r = &rows[i];
    const double fl = 2.0 * r->M * (double)r->N * r->K;
    const double nb = (double)r->N * r->K / 2 + (double)r->N * r->K / 64 * 4;
    printf("%-5s %-4s %5d %5d %5d | %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f | %6.2f %6.2f %6.2f | %6.0f %7.0f\n",
           r->model, r->layer, r->M, r->N, r->K, r->t[0] * 1e6, r->t[1] * 1e6, r->t[2] * 1e6, r->t[3] * 1e6,
           r->t[4] * 1e6, r->t[5] * 1e6, r->t[6] * 1e6, r->t[0] / r->t[2], r->t[1] / r->t[2], r->t[0] / r->t[6],
           fl / r->t[2] * 1e-12, nb / r->t[6] * 1e-9);
  }
  int b1_i8 = 1, b1_n4 = 1, b32_i8 = 1;
  for (int i = 0; i < nr; i++) {
    const row_t *r = &rows[i];
    if (r->M == 197) {
      b1_i8 &= r->t[2] < r->t[0] && r->t[3] < r->t[0];
      b1_n4 &= r->t[6] < r->t[0];
    } else {
      b32_i8 &= r->t[2] < r->t[1];
    }
  }
  printf("targets: batch 1 int8 < fp32 on every shape: %s; batch 1 nf4 < fp32: %s; batch 32 int8 < fp16: %s\n",
         b1_i8 ? "yes" : "NO", b1_n4 ? "yes" : "NO", b32_i8 ? "yes" : "NO");
  cudaFree(g_ws);
  cublasLtDestroy(g_lt);
  return 0;
}
