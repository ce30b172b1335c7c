/* quant_gemm_bench.c - Linear-layer throughput of the quantized kernels against
 * cuBLASLt fp32 (no TF32), fp16 and int8 IMMA, for the four encoder Linears of
 * ViT-B/16, ViT-L/16 and ViT-H/14 at batch 1, 8, 32 and 128, each as achieved
 * TFLOP/s (TOP/s for the int8 paths) and as a share of the ceiling of its precision
 * measured once at the start.
 *
 * Shapes (nn.Linear layout W [N, K]; M = tokens x batch):
 *   ViT-B/16: D 768,  MLP 3072, 197 tokens    qkv  [3D, D]   proj [D, D]
 *   ViT-L/16: D 1024, MLP 4096, 197 tokens    fc1  [MLP, D]  fc2  [D, MLP]
 *   ViT-H/14: D 1280, MLP 5120, 257 tokens
 *
 * Paths, each y[M, N] = x[M, K] W[N, K]^T + bias:
 *   fp32  cuBLASLt, CUBLAS_COMPUTE_32F on fp32 data (no TF32), bias epilogue
 *   fp16  cuBLASLt, fp16 data, fp32 accumulation, bias epilogue
 *   int8  qs_int8_quant + qs_int8_outlier + qs_int8_gemm (fp16 in, fp16 out),
 *         x without outliers ("int8") and with 4 outlier columns ("int8o")
 *   i8mm  qs_int8_gemm alone (quantization excluded), the heuristic's tile configuration
 *   i8wg  qs_int8_gemm alone, forced to configuration 3 (the Hopper wgmma path, sm_90a
 *         builds on compute capability 9.0; "n/a" where the launcher refuses it as
 *         unsupported, which is reported but is no failure)
 *   i8c0, i8c1, i8c2 (--configs) qs_int8_gemm alone, forced to mma.sync configuration 0, 1, 2;
 *         i8w256, i8w128 (--configs) forced to the wgmma kernel's 128x256 / 128x128 tiles (4, 5),
 *         i8wpp (--configs) to its ping-pong schedule (6)
 *   imma  cuBLASLt int8 x int8 -> int32 (CUBLAS_COMPUTE_32I), GEMM only, no
 *         dequantization: what the library's IMMA costs before an epilogue
 *   nf4   qs_nf4_gemm (fp16 in, fp16 out, double-quantized absmax off), its heuristic;
 *         n4wg forced to configuration 3 (its wgmma kernel; n/a where refused as
 *         unsupported); n4c0, n4c1, n4w256, n4w128, n4tall (--configs) forced to 0, 1, 4, 5,
 *         6 (n4tall: its 256 x 128 tiles)
 *   quant, quanto, outl (--configs) the quantization kernel alone (no outliers, 4
 *         outlier columns) and the outlier launch alone (it exits early)
 * The weights of every format are the quantization of one fp16 matrix (int8 per
 * row, NF4 block 64), the fp32 data the same values widened: all paths compute the
 * same Linear, so their outputs can be compared.
 *
 * Timing: each path's launches are captured R times into one CUDA graph over R
 * rotating (identical) weight copies, at least 8 launches and enough copies to
 * span >= 128 MB (more than the L2), so the weights come from device memory;
 * launches longer than about 1 ms are captured fewer times (at least 2, a
 * replay of about 8 ms or the 2 launches). Replayed twice to warm up, then 11
 * times (--quick: 5) timed with events; the median replay / R is reported.
 * Ceilings, measured once: device-to-device copy bandwidth (a cudaMemcpyAsync node,
 * read + write bytes; a copy engine, below what a copy kernel reaches), cuBLASLt
 * fp16 and int8 throughput at 8192^3 and fp32 at 4096^3 (no bias).
 * The default run (3 models x 4 Linears x 4 batches, every path) takes about 40 s on
 * an H200 (35 s measured before the n4wg rows; --quick about 12 s); progress goes to
 * stderr.
 *
 * Correctness, on the timed data (random inputs, never zeros), after each
 * path's timing with its output buffer first filled with NaN: the fp16 output of
 * every qsweep int8 GEMM (int8, i8mm, i8wg, i8c*, i8w*) is compared bit for bit with the
 * reference built on the host from cuBLASLt IMMA's exact int32 accumulators, the
 * device's s_x and quant.h's epilogue (d = acc * s_x * s_w / 16129 + h(bias),
 * rounded to fp16): #wrong counts the differences. relL2 is ||y - y_fp16|| /
 * ||y_fp16|| against cuBLASLt fp16; the int8 paths must stay below 2e-2, the NF4
 * paths below 0.15 (a sanity bound: NF4 of these weights gives about 0.09). Rows
 * checked: all for M <= 2304, else about 1024 rows at an odd stride plus the last
 * 128. The exit status is 1 when any check or launch failed.
 *
 * Usage: quant_gemm_bench [--models B,L,H] [--batches 1,8,32,128] [--quick]
 *                         [--configs] [--csv FILE]                           */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "qs_common.h"
#include "qs_half.h"
#include "qs_quant_cuda.h"
#include "quant.h"

/* where the bench is, for the messages of a fatal error */
static char g_where[192] = "setup";

#define CU(stmt)                                                                                         \
  do {                                                                                                   \
    cudaError_t e_ = (stmt);                                                                             \
    if (e_ != cudaSuccess) {                                                                             \
      fprintf(stderr, "quant_gemm_bench: %s:%d [%s]: %s: %s\n", __FILE__, __LINE__, g_where, #stmt,     \
              cudaGetErrorString(e_));                                                                   \
      exit(1);                                                                                           \
    }                                                                                                    \
  } while (0)
#define LT(stmt)                                                                                         \
  do {                                                                                                   \
    cublasStatus_t s_ = (stmt);                                                                          \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                   \
      fprintf(stderr, "quant_gemm_bench: %s:%d [%s]: %s: cublas status %d\n", __FILE__, __LINE__, g_where, \
              #stmt, (int)s_);                                                                           \
      exit(1);                                                                                           \
    }                                                                                                    \
  } while (0)
#define QS(stmt)                                                                                         \
  do {                                                                                                   \
    int r_ = (stmt);                                                                                     \
    if (r_ != QS_OK) {                                                                                   \
      fprintf(stderr, "quant_gemm_bench: %s:%d [%s]: %s: %s\n", __FILE__, __LINE__, g_where, #stmt,     \
              qs_last_error());                                                                          \
      exit(1);                                                                                           \
    }                                                                                                    \
  } while (0)

/* Tile configuration overrides of the kernels (-1: their heuristic). */
void qs_int8_gemm_force_config(int cfg);
void qs_nf4_gemm_force_config(int cfg);

static cublasLtHandle_t g_lt;
static void *g_ws;
static const size_t g_ws_bytes = 64u << 20;
static cudaStream_t g_s;
static int g_reps = 11;   /* timed graph replays */
static int g_sweep;       /* --configs */
static char g_launch_msg[512];
static int g_tg_stage; /* where the last time_graph failed: 0 no failure, 1 first launch, 2 later */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "quant_gemm_bench [%s]: out of host memory (%zu bytes)\n", g_where, n);
    exit(1);
  }
  return p;
}
static void *xcalloc(size_t n, size_t el) {
  void *p = calloc(n ? n : 1, el ? el : 1);
  if (!p) {
    fprintf(stderr, "quant_gemm_bench [%s]: out of host memory (%zu x %zu bytes)\n", g_where, n, el);
    exit(1);
  }
  return p;
}

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
  CU(cudaMalloc(&p, n ? n : 16));
  return p;
}
static void *dup_dev(const void *h, size_t n) {
  void *d = dalloc(n);
  CU(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
  return d;
}
static void fill_f16(uint16_t *h, size_t n, float amp) {
  for (size_t i = 0; i < n; i++) h[i] = qs_float_to_half(funi(-amp, amp));
}
static void widen(const uint16_t *h, float *f, size_t n) {
  for (size_t i = 0; i < n; i++) f[i] = qs_half_to_float(h[i]);
}
/* n device copies of the host bytes h */
static void **replicate(const void *h, size_t bytes, int n) {
  void **v = xcalloc((size_t)n, sizeof *v);
  v[0] = dup_dev(h, bytes);
  for (int r = 1; r < n; r++) {
    v[r] = dalloc(bytes);
    CU(cudaMemcpy(v[r], v[0], bytes, cudaMemcpyDeviceToDevice));
  }
  return v;
}
static void free_copies(void **v, int n) {
  if (!v) return;
  for (int r = 0; r < n; r++) CU(cudaFree(v[r]));
  free(v);
}

/* ---- cuBLASLt ------------------------------------------------------------------ */
typedef struct {
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
  int kind; /* 0 fp32, 1 fp16, 2 int8 -> int32 */
  int ok;
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
  LT(cublasLtMatrixLayoutCreate(&g->la, ab, (uint64_t)K, (uint64_t)N, K));
  LT(cublasLtMatrixLayoutCreate(&g->lb, ab, (uint64_t)K, (uint64_t)M, K));
  LT(cublasLtMatrixLayoutCreate(&g->lc, c, (uint64_t)N, (uint64_t)M, N));
  cublasLtMatmulPreference_t pref;
  LT(cublasLtMatmulPreferenceCreate(&pref));
  LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &g_ws_bytes,
                                          sizeof g_ws_bytes));
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(g_lt, g->op, g->la, g->lb, g->lc, g->lc, pref, 1, &res, &found);
  LT(cublasLtMatmulPreferenceDestroy(pref));
  if (s != CUBLAS_STATUS_SUCCESS || found < 1) {
    fprintf(stderr, "warning [%s]: cuBLASLt has no algorithm for kind %d M %d N %d K %d (status %d, found %d)\n",
            g_where, kind, M, N, K, (int)s, found);
    LT(cublasLtMatrixLayoutDestroy(g->la));
    LT(cublasLtMatrixLayoutDestroy(g->lb));
    LT(cublasLtMatrixLayoutDestroy(g->lc));
    LT(cublasLtMatmulDescDestroy(g->op));
    memset(g, 0, sizeof *g);
    return -1;
  }
  g->algo = res.algo;
  g->ok = 1;
  return 0;
}
static int lt_run(const lt_gemm *g, const void *x, const void *w, void *y, cudaStream_t s) {
  const float af = 1.0f, bf = 0.0f;
  const int32_t ai = 1, bi = 0;
  const void *alpha = g->kind == 2 ? (const void *)&ai : (const void *)&af;
  const void *beta = g->kind == 2 ? (const void *)&bi : (const void *)&bf;
  const cublasStatus_t st = cublasLtMatmul(g_lt, g->op, alpha, w, g->la, x, g->lb, beta, y, g->lc, y, g->lc,
                                           &g->algo, g_ws, g_ws_bytes, s);
  if (st != CUBLAS_STATUS_SUCCESS) {
    snprintf(g_launch_msg, sizeof g_launch_msg, "cublasLtMatmul: status %d", (int)st);
    return -1;
  }
  return 0;
}
static void lt_destroy(lt_gemm *g) {
  if (!g->ok) return;
  LT(cublasLtMatrixLayoutDestroy(g->la));
  LT(cublasLtMatrixLayoutDestroy(g->lb));
  LT(cublasLtMatrixLayoutDestroy(g->lc));
  LT(cublasLtMatmulDescDestroy(g->op));
  memset(g, 0, sizeof *g);
}

/* ---- timing ----------------------------------------------------------------------- */
/* One launch of a path (i: which weight copy); QS_OK or an error with g_launch_msg set. */
typedef int (*launch_fn)(void *ctx, int i, cudaStream_t s);

static int qs_rc(int rc) {
  if (rc != QS_OK) snprintf(g_launch_msg, sizeof g_launch_msg, "%s", qs_last_error());
  return rc;
}

static int cmp_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}
/* Median seconds of one launch: R launches (i = 0..R-1) per graph replay, fewer when
 * one launch is long. NaN when a launch or the capture fails (message in err). */
static double time_graph(launch_fn fn, void *ctx, int R, int *R_used, char *err, size_t errn) {
  err[0] = 0;
  g_tg_stage = 0;
  if (R_used) *R_used = 0;
  if (fn(ctx, 0, g_s) != QS_OK) { /* eager warm-up outside the capture */
    snprintf(err, errn, "launch: %s", g_launch_msg);
    (void)cudaGetLastError();
    g_tg_stage = 1;
    return NAN;
  }
  g_tg_stage = 2;
  cudaEvent_t e0, e1;
  CU(cudaEventCreate(&e0));
  CU(cudaEventCreate(&e1));
  CU(cudaStreamSynchronize(g_s));
  CU(cudaEventRecord(e0, g_s));
  if (fn(ctx, 0, g_s) != QS_OK) {
    snprintf(err, errn, "launch: %s", g_launch_msg);
    (void)cudaGetLastError();
    CU(cudaStreamSynchronize(g_s));
    CU(cudaEventDestroy(e0));
    CU(cudaEventDestroy(e1));
    return NAN;
  }
  CU(cudaEventRecord(e1, g_s));
  CU(cudaEventSynchronize(e1));
  float t1 = 0;
  CU(cudaEventElapsedTime(&t1, e0, e1));
  if (R > 2 && (double)t1 * R > 8.0) { /* a replay of about 8 ms is enough; at least 2 launches */
    const int r = (int)ceil(8.0 / (double)t1);
    R = r < 2 ? 2 : r < R ? r : R;
  }
  cudaGraph_t graph = NULL;
  cudaGraphExec_t exec = NULL;
  CU(cudaStreamBeginCapture(g_s, cudaStreamCaptureModeGlobal));
  int bad = 0;
  for (int i = 0; i < R && !bad; i++) bad = fn(ctx, i, g_s) != QS_OK;
  const cudaError_t ce = cudaStreamEndCapture(g_s, &graph);
  if (bad || ce != cudaSuccess) {
    snprintf(err, errn, "capture: %s", bad ? g_launch_msg : cudaGetErrorString(ce));
    (void)cudaGetLastError();
    if (graph) CU(cudaGraphDestroy(graph));
    CU(cudaEventDestroy(e0));
    CU(cudaEventDestroy(e1));
    return NAN;
  }
  CU(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < 2; i++) CU(cudaGraphLaunch(exec, g_s));
  float t[64];
  const int reps = g_reps < 1 ? 1 : g_reps > 64 ? 64 : g_reps;
  for (int r = 0; r < reps; r++) {
    CU(cudaEventRecord(e0, g_s));
    CU(cudaGraphLaunch(exec, g_s));
    CU(cudaEventRecord(e1, g_s));
    CU(cudaEventSynchronize(e1));
    CU(cudaEventElapsedTime(&t[r], e0, e1));
  }
  qsort(t, (size_t)reps, sizeof(float), cmp_f);
  CU(cudaEventDestroy(e0));
  CU(cudaEventDestroy(e1));
  CU(cudaGraphExecDestroy(exec));
  CU(cudaGraphDestroy(graph));
  if (R_used) *R_used = R;
  g_tg_stage = 0;
  return (double)t[reps / 2] * 1e-3 / R;
}

/* ---- ceilings ---------------------------------------------------------------------- */
static double g_bw = NAN, g_tf16 = NAN, g_ti8 = NAN, g_tf32 = NAN;

typedef struct {
  lt_gemm g;
  const void *x, *w;
  void *y;
} lt_ctx;
static int f_lt(void *c, int i, cudaStream_t s) {
  lt_ctx *x = c;
  (void)i;
  return lt_run(&x->g, x->x, x->w, x->y, s);
}
static int f_copy(void *c, int i, cudaStream_t s) {
  void **b = c;
  (void)i;
  const cudaError_t e = cudaMemcpyAsync(b[1], b[0], (size_t)1 << 30, cudaMemcpyDeviceToDevice, s);
  if (e != cudaSuccess) {
    snprintf(g_launch_msg, sizeof g_launch_msg, "cudaMemcpyAsync: %s", cudaGetErrorString(e));
    return -1;
  }
  return 0;
}
static void measure_ceilings(void) {
  char err[600];
  snprintf(g_where, sizeof g_where, "ceiling: copy");
  void *b[2] = {dalloc((size_t)1 << 30), dalloc((size_t)1 << 30)};
  CU(cudaMemset(b[0], 1, (size_t)1 << 30));
  CU(cudaDeviceSynchronize());
  g_bw = 2.0 * (double)((size_t)1 << 30) / time_graph(f_copy, b, 4, NULL, err, sizeof err);
  if (err[0]) fprintf(stderr, "warning: copy ceiling: %s\n", err);
  CU(cudaFree(b[0]));
  CU(cudaFree(b[1]));
  const int kinds[3] = {1, 2, 0};
  for (int t = 0; t < 3; t++) {
    const int kind = kinds[t], S = kind == 0 ? 4096 : 8192;
    snprintf(g_where, sizeof g_where, "ceiling: %s %d^3", kind == 0 ? "fp32" : kind == 1 ? "fp16" : "int8", S);
    const size_t n = (size_t)S * S, el = kind == 0 ? 4 : kind == 1 ? 2 : 1, oel = kind == 1 ? 2 : 4;
    unsigned char *h = xmalloc(n * el);
    void *xw[2];
    for (int j = 0; j < 2; j++) {
      if (kind == 1) {
        fill_f16((uint16_t *)h, n, 1.0f);
      } else if (kind == 0) {
        float *f = (float *)h;
        for (size_t i = 0; i < n; i++) f[i] = funi(-1.0f, 1.0f);
      } else {
        for (size_t i = 0; i < n; i++) h[i] = (unsigned char)(int8_t)((int)(rnd32() % 255) - 127);
      }
      xw[j] = dup_dev(h, n * el);
    }
    free(h);
    lt_ctx c;
    memset(&c, 0, sizeof c);
    c.x = xw[0];
    c.w = xw[1];
    c.y = dalloc(n * oel);
    CU(cudaDeviceSynchronize());
    if (lt_init(&c.g, kind, S, S, S, NULL) == 0) {
      const double sec = time_graph(f_lt, &c, 3, NULL, err, sizeof err);
      if (err[0]) fprintf(stderr, "warning: %s: %s\n", g_where, err);
      const double rate = 2.0 * S * (double)S * S / sec;
      if (kind == 0) g_tf32 = rate;
      else if (kind == 1) g_tf16 = rate;
      else g_ti8 = rate;
      lt_destroy(&c.g);
    }
    CU(cudaFree(xw[0]));
    CU(cudaFree(xw[1]));
    CU(cudaFree(c.y));
  }
}

/* ---- models, paths, results ----------------------------------------------------------- */
typedef struct {
  const char *name, *arch;
  int D, F, T;
} model_t;
static const model_t g_models[3] = {{"ViT-B", "ViT-B/16", 768, 3072, 197},
                                    {"ViT-L", "ViT-L/16", 1024, 4096, 197},
                                    {"ViT-H", "ViT-H/14", 1280, 5120, 257}};
static const char *g_lin[4] = {"qkv", "proj", "fc1", "fc2"};
static int lin_N(const model_t *m, int l) { return l == 0 ? 3 * m->D : l == 1 ? m->D : l == 2 ? m->F : m->D; }
static int lin_K(const model_t *m, int l) { return l == 3 ? m->F : m->D; }

enum { C_NONE = -1, C_FP32 = 0, C_FP16 = 1, C_INT8 = 2 };
enum {
  P_FP32, P_FP16, P_INT8, P_INT8O, P_I8MM, P_I8WG, P_I8C0, P_I8C1, P_I8C2, P_I8W256, P_I8W128, P_I8WPP, P_IMMA, P_NF4,
  P_N4WG, P_N4C0, P_N4C1, P_N4W256, P_N4W128, P_N4T, P_QUANT, P_QUANTO, P_OUTL, NPATH
};
static const struct {
  const char *name;
  int ceil;    /* which ceiling (C_NONE: not a GEMM, no rate) */
  int sweep;   /* only with --configs */
  int checked; /* 1: bit-exact against the IMMA-based reference and relL2 < 2e-2 required; 2: relL2 < 0.15 */
} g_path[NPATH] = {
    {"fp32", C_FP32, 0, 0}, {"fp16", C_FP16, 0, 0}, {"int8", C_INT8, 0, 1},  {"int8o", C_INT8, 0, 0},
    {"i8mm", C_INT8, 0, 1}, {"i8wg", C_INT8, 0, 1}, {"i8c0", C_INT8, 1, 1},  {"i8c1", C_INT8, 1, 1},
    {"i8c2", C_INT8, 1, 1}, {"i8w256", C_INT8, 1, 1}, {"i8w128", C_INT8, 1, 1}, {"i8wpp", C_INT8, 1, 1},
    {"imma", C_INT8, 0, 0},
    {"nf4", C_FP16, 0, 2},    {"n4wg", C_FP16, 0, 2},   {"n4c0", C_FP16, 1, 2},   {"n4c1", C_FP16, 1, 2},
    {"n4w256", C_FP16, 1, 2}, {"n4w128", C_FP16, 1, 2}, {"n4tall", C_FP16, 1, 2}, {"quant", C_NONE, 1, 0},  {"quanto", C_NONE, 1, 0},
    {"outl", C_NONE, 1, 0}};
#define NF4_ERR_MAX 0.15
static double ceiling_of(int c) { return c == C_FP32 ? g_tf32 : c == C_FP16 ? g_tf16 : c == C_INT8 ? g_ti8 : NAN; }
static int path_on(int p) { return !g_path[p].sweep || g_sweep; }

typedef struct {
  double t;           /* seconds per launch, NaN: not run or failed */
  int R;              /* launches per graph replay */
  long long wrong;    /* -1: not compared */
  long long checked;  /* outputs compared */
  double err;         /* rel L2 against fp16, NaN: not computed */
  int failed;         /* launch or capture failed */
  int na;             /* a wgmma configuration the launcher refuses as unsupported here */
} pres;
typedef struct {
  int mi, batch, li, M, N, K;
  pres p[NPATH];
} row_t;

/* failures, for the exit status and the closing lines */
static long long g_wrong_total, g_checked_total;
static int g_err_bad, g_launch_bad, g_ref_bad, g_na, g_nf4_bad;
static double g_nf4_max = 0;
static char g_na_msg[512];
static double g_err_max = 0;

/* ---- one Linear: weights (all batches), activations (per batch) ------------------------- */
typedef struct {
  int N, K;
  int n32, n16, n8, nn; /* weight copies per format */
  void **w32, **w16, **wq, **sw, **nf4p, **nf4a;
  qs_nf4_weight *nw;
  void *b32, *b16;
  float *h_sw;   /* s_w of the int8 weights */
  float *h_bias; /* the fp16 bias as floats */
} lin_w;

static void lin_setup(lin_w *L, int N, int K) {
  memset(L, 0, sizeof *L);
  L->N = N, L->K = K;
  const size_t nk = (size_t)N * K;
  uint16_t *h16 = xmalloc(nk * 2);
  fill_f16(h16, nk, 0.05f);
  float *hf = xmalloc(nk * 4);
  widen(h16, hf, nk);
  qs_int8_matrix q;
  memset(&q, 0, sizeof q);
  QS(qs_int8_quantize_weight(hf, N, K, &q));
  qs_nf4_matrix m;
  memset(&m, 0, sizeof m);
  QS(qs_nf4_quantize(hf, N, K, QS_NF4_BLOCK_DEFAULT, 0, &m));
  if (m.nblocks != (int64_t)(nk / 64)) {
    fprintf(stderr, "quant_gemm_bench [%s]: NF4 of [%d, %d]: %lld blocks, expected %zu\n", g_where, N, K,
            (long long)m.nblocks, nk / 64);
    exit(1);
  }
  /* copies per format: together >= 128 MB (beyond the L2), at most 160 */
  const double nf4_bytes = (double)nk / 2 + (double)nk / 64 * 4;
#define NCOPY(bytes) (int)fmin(160.0, fmax(1.0, ceil(128e6 / (bytes))))
  L->n32 = NCOPY(4.0 * nk), L->n16 = NCOPY(2.0 * nk), L->n8 = NCOPY(1.0 * nk), L->nn = NCOPY(nf4_bytes);
#undef NCOPY
  L->w32 = replicate(hf, nk * 4, L->n32);
  L->w16 = replicate(h16, nk * 2, L->n16);
  L->wq = replicate(q.q, nk, L->n8);
  L->sw = replicate(q.scale, (size_t)N * 4, L->n8);
  L->nf4p = replicate(m.packed, nk / 2, L->nn);
  L->nf4a = replicate(m.absmax, nk / 64 * 4, L->nn);
  L->nw = xcalloc((size_t)L->nn, sizeof(qs_nf4_weight));
  for (int r = 0; r < L->nn; r++) {
    L->nw[r].packed = L->nf4p[r];
    L->nw[r].absmax = L->nf4a[r];
  }
  uint16_t *hb = xmalloc((size_t)N * 2);
  fill_f16(hb, (size_t)N, 0.5f);
  L->h_bias = xmalloc((size_t)N * 4);
  widen(hb, L->h_bias, (size_t)N);
  L->b16 = dup_dev(hb, (size_t)N * 2);
  L->b32 = dup_dev(L->h_bias, (size_t)N * 4);
  L->h_sw = xmalloc((size_t)N * 4);
  memcpy(L->h_sw, q.scale, (size_t)N * 4);
  free(hb);
  free(h16);
  free(hf);
  qs_int8_free(&q);
  qs_nf4_free(&m);
  CU(cudaDeviceSynchronize()); /* the uploads and device copies are done before any stream work */
}
static void lin_free(lin_w *L) {
  free_copies(L->w32, L->n32);
  free_copies(L->w16, L->n16);
  free_copies(L->wq, L->n8);
  free_copies(L->sw, L->n8);
  free_copies(L->nf4p, L->nn);
  free_copies(L->nf4a, L->nn);
  free(L->nw);
  CU(cudaFree(L->b32));
  CU(cudaFree(L->b16));
  free(L->h_sw);
  free(L->h_bias);
  memset(L, 0, sizeof *L);
}

/* x [M, K] uniform in [-2, 2) (no outliers at threshold 6), its fp32 copy, and a copy
 * with 4 outlier columns: 20 in every 5th row of columns 3, 100, 250, 600 */
typedef struct {
  int M, K;
  void *x32, *x16, *x16o;
} act_in;
static void act_in_setup(act_in *a, int M, int K) {
  a->M = M, a->K = K;
  const size_t mk = (size_t)M * K;
  uint16_t *h = xmalloc(mk * 2);
  fill_f16(h, mk, 2.0f);
  a->x16 = dup_dev(h, mk * 2);
  float *f = xmalloc(mk * 4);
  widen(h, f, mk);
  a->x32 = dup_dev(f, mk * 4);
  free(f);
  const int oc[4] = {3 % K, 100 % K, 250 % K, 600 % K};
  for (int m = 0; m < M; m += 5)
    for (int j = 0; j < 4; j++) h[(size_t)m * K + oc[j]] = qs_float_to_half(20.0f);
  a->x16o = dup_dev(h, mk * 2);
  free(h);
}
static void act_in_free(act_in *a) {
  CU(cudaFree(a->x32));
  CU(cudaFree(a->x16));
  CU(cudaFree(a->x16o));
  memset(a, 0, sizeof *a);
}

/* outputs and the int8 activation buffers, shared by the 4 Linears of one batch */
typedef struct {
  int M, Nmax, Kmax;
  void *y, *y32;
  uint16_t *obuf;
  qs_int8_act act;
} scratch_t;
static void scratch_setup(scratch_t *S, int M, int Nmax, int Kmax) {
  memset(S, 0, sizeof *S);
  S->M = M, S->Nmax = Nmax, S->Kmax = Kmax;
  S->y = dalloc((size_t)M * Nmax * 2);
  S->y32 = dalloc((size_t)M * Nmax * 4);
  S->obuf = dalloc((size_t)M * Nmax * 2);
  S->act.xq = dalloc((size_t)M * Kmax);
  S->act.sx = dalloc((size_t)M * 4);
  S->act.n_out = dalloc(4);
  S->act.cols = dalloc((size_t)Kmax * 4);
  S->act.xo = dalloc((size_t)M * Kmax * 2);
  S->act.state = dalloc(qs_int8_state_words(Kmax) * 4);
  QS(qs_int8_state_init(S->act.state, Kmax, g_s));
  CU(cudaStreamSynchronize(g_s));
}
static void scratch_free(scratch_t *S) {
  CU(cudaFree(S->y));
  CU(cudaFree(S->y32));
  CU(cudaFree(S->obuf));
  CU(cudaFree(S->act.xq));
  CU(cudaFree(S->act.sx));
  CU(cudaFree(S->act.n_out));
  CU(cudaFree(S->act.cols));
  CU(cudaFree(S->act.xo));
  CU(cudaFree(S->act.state));
  memset(S, 0, sizeof *S);
}

/* ---- the paths' launches ------------------------------------------------------------------ */
typedef struct {
  int M, N, K;
  const lin_w *L;
  const act_in *X;
  scratch_t *S;
  const void *xin; /* x16 or x16o for the int8 paths */
  lt_gemm g;       /* the cuBLASLt plan of the path being timed */
} shape_ctx;

static int f_fp32(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  return lt_run(&x->g, x->X->x32, x->L->w32[i % x->L->n32], x->S->y32, s);
}
static int f_fp16(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  return lt_run(&x->g, x->X->x16, x->L->w16[i % x->L->n16], x->S->y, s);
}
static int f_imma(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  return lt_run(&x->g, x->S->act.xq, x->L->wq[i % x->L->n8], x->S->y32, s);
}
static int f_int8(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  const int r = i % x->L->n8;
  const qs_int8_act *a = &x->S->act;
  /* as the CUDA plan runs it: one launch quantizes and, with outlier columns, fills obuf */
  int rc = qs_rc(qs_int8_quant_outlier_launch(x->xin, x->M, x->K, QS_INT8_THRESHOLD_DEFAULT, a, x->L->wq[r],
                                              x->L->sw[r], x->N, x->S->obuf, s));
  if (rc == QS_OK)
    rc = qs_rc(qs_int8_gemm_launch(a, x->L->wq[r], x->L->sw[r], x->L->b16, x->S->obuf, x->M, x->N, x->K,
                                   QS_INT8_OUT_F16, x->S->y, s));
  return rc;
}
static int f_i8mm(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  const int r = i % x->L->n8;
  return qs_rc(qs_int8_gemm_launch(&x->S->act, x->L->wq[r], x->L->sw[r], x->L->b16, x->S->obuf, x->M, x->N, x->K,
                                   QS_INT8_OUT_F16, x->S->y, s));
}
static int f_quant(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  (void)i;
  return qs_rc(qs_int8_quant_launch(x->xin, x->M, x->K, QS_INT8_THRESHOLD_DEFAULT, &x->S->act, s));
}
static int f_outl(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  const int r = i % x->L->n8;
  return qs_rc(qs_int8_outlier_launch(&x->S->act, x->L->wq[r], x->L->sw[r], x->M, x->N, x->K, x->S->obuf, s));
}
static int f_nf4(void *c, int i, cudaStream_t s) {
  shape_ctx *x = c;
  return qs_rc(qs_nf4_gemm_launch(x->X->x16, &x->L->nw[i % x->L->nn], x->L->b16, x->M, x->N, x->K, 0, x->S->y, s));
}

/* ---- correctness on the timed data ---------------------------------------------------------- */
typedef struct {
  int stride, ns, tail0, nt, n; /* rows 0, stride, ..., (ns-1)*stride, then tail0 .. tail0+nt-1 */
} rowsel;
static void rowsel_init(rowsel *r, int M) {
  memset(r, 0, sizeof *r);
  if (M <= 2304) {
    r->stride = 1, r->ns = M;
  } else {
    int s = (M + 1023) / 1024;
    if (s % 2 == 0) s++; /* odd: the checked rows fall on every residue of the tiles */
    r->stride = s, r->ns = (M + s - 1) / s;
    r->nt = 128, r->tail0 = M - 128;
  }
  r->n = r->ns + r->nt;
}
static int rowsel_row(const rowsel *r, int i) { return i < r->ns ? i * r->stride : r->tail0 + (i - r->ns); }
static void fetch_rows(void *dst, const void *src, size_t row_bytes, const rowsel *r) {
  CU(cudaStreamSynchronize(g_s));
  CU(cudaMemcpy2D(dst, row_bytes, src, row_bytes * (size_t)r->stride, row_bytes, (size_t)r->ns,
                  cudaMemcpyDeviceToHost));
  if (r->nt)
    CU(cudaMemcpy((char *)dst + row_bytes * (size_t)r->ns, (const char *)src + row_bytes * (size_t)r->tail0,
                  row_bytes * (size_t)r->nt, cudaMemcpyDeviceToHost));
}

typedef struct {
  rowsel rs;
  size_t cnt;      /* rs.n * N */
  float *ref16;    /* cuBLASLt fp16 output (as floats) */
  int have16;
  uint16_t *ref8;  /* the int8 output from the IMMA accumulators */
  int have8;
  uint16_t *hbuf;
  float *fbuf;
  int32_t *ibuf;
  float *hsx;
} check_t;

static double rel_l2(const float *y, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = (double)y[i] - (double)ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  return den > 0 ? sqrt(num / den) : NAN; /* NaN outputs give NaN */
}
static double rel_l2_h(const uint16_t *y, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    const double v = qs_half_to_float(y[i]), d = v - (double)ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  return den > 0 ? sqrt(num / den) : NAN;
}

/* launch fn once (copy 0) into a NaN-filled y (fp16 output) and fetch the checked rows */
static int run_fetch_f16(shape_ctx *c, check_t *ck, launch_fn fn) {
  CU(cudaMemsetAsync(c->S->y, 0xff, (size_t)c->M * c->N * 2, g_s));
  if (fn(c, 0, g_s) != QS_OK) {
    (void)cudaGetLastError();
    return -1;
  }
  fetch_rows(ck->hbuf, c->S->y, (size_t)c->N * 2, &ck->rs);
  return 0;
}
/* the qsweep int8 GEMM's output against the references */
static void check_int8_out(shape_ctx *c, check_t *ck, launch_fn fn, pres *p, const char *name) {
  if (run_fetch_f16(c, ck, fn) != 0) {
    fprintf(stderr, "error [%s]: %s check launch: %s\n", g_where, name, g_launch_msg);
    p->failed = 1;
    return;
  }
  if (ck->have16) p->err = rel_l2_h(ck->hbuf, ck->ref16, ck->cnt);
  if (ck->have8) {
    long long w = 0;
    int shown = 0;
    for (size_t i = 0; i < ck->cnt; i++) {
      const uint16_t a = ck->hbuf[i], b = ck->ref8[i];
      if (a == b || ((a & 0x7fff) == 0 && (b & 0x7fff) == 0)) continue;
      if (w == 0 || shown < 3) {
        const int m = rowsel_row(&ck->rs, (int)(i / (size_t)c->N)), n = (int)(i % (size_t)c->N);
        fprintf(stderr, "wrong [%s] %s: y[%d, %d] = %a (0x%04x), reference %a (0x%04x)\n", g_where, name, m, n,
                (double)qs_half_to_float(a), a, (double)qs_half_to_float(b), b);
        shown++;
      }
      w++;
    }
    p->wrong = w;
    p->checked = (long long)ck->cnt;
  }
}

/* ---- one shape: every path ----------------------------------------------------------------- */
static void lt_path(shape_ctx *c, int kind, const void *bias, launch_fn fn, int R, pres *p, const char *name) {
  char err[600];
  if (lt_init(&c->g, kind, c->M, c->N, c->K, bias) != 0) {
    p->failed = 1;
    return;
  }
  p->t = time_graph(fn, c, R, &p->R, err, sizeof err);
  if (err[0]) fprintf(stderr, "error [%s]: %s: %s\n", g_where, name, err), p->failed = 1;
}
static void plain_path(shape_ctx *c, launch_fn fn, int R, pres *p, const char *name) {
  char err[600];
  p->t = time_graph(fn, c, R, &p->R, err, sizeof err);
  if (err[0]) fprintf(stderr, "error [%s]: %s: %s\n", g_where, name, err), p->failed = 1;
}
/* a forced wgmma configuration: refused as unsupported at its first launch is n/a, no failure */
static void wgmma_path(shape_ctx *c, launch_fn fn, int R, pres *p, const char *name) {
  char err[600];
  p->t = time_graph(fn, c, R, &p->R, err, sizeof err);
  if (!err[0]) return;
  if (g_tg_stage == 1 && strstr(g_launch_msg, "unsupported")) {
    p->na = 1;
    if (!g_na++) {
      snprintf(g_na_msg, sizeof g_na_msg, "%s", g_launch_msg);
      fprintf(stderr, "note [%s]: %s: not available here (%s); shown as n/a\n", g_where, name, g_launch_msg);
    }
    return;
  }
  fprintf(stderr, "error [%s]: %s: %s\n", g_where, name, err);
  p->failed = 1;
}

static void bench_shape(row_t *row, const lin_w *L, const act_in *X, scratch_t *S, const char *where) {
  const int M = row->M, N = row->N, K = row->K;
  shape_ctx c;
  memset(&c, 0, sizeof c);
  c.M = M, c.N = N, c.K = K;
  c.L = L, c.X = X, c.S = S;
  c.xin = X->x16;
  for (int p = 0; p < NPATH; p++) {
    row->p[p].t = NAN;
    row->p[p].err = NAN;
    row->p[p].wrong = -1;
  }
  check_t ck;
  memset(&ck, 0, sizeof ck);
  rowsel_init(&ck.rs, M);
  ck.cnt = (size_t)ck.rs.n * N;
  ck.ref16 = xmalloc(ck.cnt * 4);
  ck.ref8 = xmalloc(ck.cnt * 2);
  ck.hbuf = xmalloc(ck.cnt * 2);
  ck.fbuf = xmalloc(ck.cnt * 4);
  ck.ibuf = xmalloc(ck.cnt * 4);
  ck.hsx = xmalloc((size_t)M * 4);
#define NREP(n) ((n) < 8 ? 8 : (n))
#define WHERE(path) snprintf(g_where, sizeof g_where, "%s %s", where, path)
  qs_int8_gemm_force_config(-1);
  qs_nf4_gemm_force_config(-1);

  /* fp16: the reference of relL2 */
  WHERE("fp16");
  lt_path(&c, 1, L->b16, f_fp16, NREP(L->n16), &row->p[P_FP16], "fp16");
  if (c.g.ok) {
    if (run_fetch_f16(&c, &ck, f_fp16) == 0) {
      widen(ck.hbuf, ck.ref16, ck.cnt);
      double s2 = 0;
      int finite = 1;
      for (size_t i = 0; i < ck.cnt; i++) {
        finite &= isfinite(ck.ref16[i]) != 0;
        s2 += (double)ck.ref16[i] * ck.ref16[i];
      }
      ck.have16 = finite && s2 > 0;
      if (!ck.have16) fprintf(stderr, "error [%s]: fp16 output is %s\n", g_where, finite ? "all zero" : "not finite");
    } else {
      fprintf(stderr, "error [%s]: fp16 check launch: %s\n", g_where, g_launch_msg);
    }
    if (!ck.have16) g_ref_bad++;
    lt_destroy(&c.g);
  } else {
    g_ref_bad++;
  }

  /* fp32 */
  WHERE("fp32");
  lt_path(&c, 0, L->b32, f_fp32, NREP(L->n32), &row->p[P_FP32], "fp32");
  if (c.g.ok) {
    CU(cudaMemsetAsync(S->y32, 0xff, (size_t)M * N * 4, g_s));
    if (f_fp32(&c, 0, g_s) == QS_OK) {
      fetch_rows(ck.fbuf, S->y32, (size_t)N * 4, &ck.rs);
      if (ck.have16) row->p[P_FP32].err = rel_l2(ck.fbuf, ck.ref16, ck.cnt);
    } else {
      fprintf(stderr, "error [%s]: fp32 check launch: %s\n", g_where, g_launch_msg);
      row->p[P_FP32].failed = 1;
    }
    lt_destroy(&c.g);
  }

  /* int8 on x without outliers: the quantization the later int8 GEMMs reuse */
  WHERE("int8");
  plain_path(&c, f_int8, NREP(L->n8), &row->p[P_INT8], "int8");
  int nout = -1;
  CU(cudaStreamSynchronize(g_s));
  CU(cudaMemcpy(&nout, S->act.n_out, 4, cudaMemcpyDeviceToHost));
  if (nout != 0) fprintf(stderr, "warning [%s]: %d outlier columns in x, expected none\n", g_where, nout);

  /* imma, and from its exact accumulators the reference of the int8 outputs */
  WHERE("imma");
  lt_path(&c, 2, NULL, f_imma, NREP(L->n8), &row->p[P_IMMA], "imma");
  if (c.g.ok) {
    CU(cudaMemsetAsync(S->y32, 0xff, (size_t)M * N * 4, g_s));
    if (row->p[P_INT8].failed || nout != 0) {
      fprintf(stderr, "warning [%s]: no int8 reference (%s)\n", g_where,
              nout != 0 ? "outliers in x" : "the quantization failed");
    } else if (f_imma(&c, 0, g_s) == QS_OK) {
      fetch_rows(ck.ibuf, S->y32, (size_t)N * 4, &ck.rs);
      CU(cudaMemcpy(ck.hsx, S->act.sx, (size_t)M * 4, cudaMemcpyDeviceToHost));
      for (int i = 0; i < ck.rs.n; i++) {
        const float sxm = ck.hsx[rowsel_row(&ck.rs, i)];
        const int32_t *acc = ck.ibuf + (size_t)i * N;
        uint16_t *o = ck.ref8 + (size_t)i * N;
        float *f = ck.fbuf + (size_t)i * N;
        for (int n = 0; n < N; n++) {
          /* quant.h section 3, no outlier columns (o = +0) */
          float d = (float)acc[n];
          d = d * sxm;
          d = d * L->h_sw[n];
          d = d * QS_INT8_DEQ;
          float v = d + 0.0f;
          v = v + L->h_bias[n];
          o[n] = qs_float_to_half(v);
          f[n] = qs_half_to_float(o[n]);
        }
      }
      ck.have8 = 1;
      if (ck.have16) row->p[P_IMMA].err = rel_l2(ck.fbuf, ck.ref16, ck.cnt); /* the reference vs fp16 */
    } else {
      fprintf(stderr, "error [%s]: imma check launch: %s\n", g_where, g_launch_msg);
    }
    lt_destroy(&c.g);
  }
  if (!ck.have8) g_ref_bad++;
  WHERE("int8 check");
  if (!row->p[P_INT8].failed) check_int8_out(&c, &ck, f_int8, &row->p[P_INT8], "int8");

  /* the int8 GEMM alone: heuristic, wgmma (3), and with --configs the mma.sync tiles */
  static const int cfg_path[8][2] = {{-1, P_I8MM}, {3, P_I8WG},   {0, P_I8C0},   {1, P_I8C1},
                                     {2, P_I8C2},  {4, P_I8W256}, {5, P_I8W128}, {6, P_I8WPP}};
  for (int k = 0; k < 8; k++) {
    const int cfg = cfg_path[k][0], p = cfg_path[k][1];
    if (!path_on(p)) continue;
    WHERE(g_path[p].name);
    qs_int8_gemm_force_config(cfg);
    if (cfg >= 3) wgmma_path(&c, f_i8mm, NREP(L->n8), &row->p[p], g_path[p].name);
    else plain_path(&c, f_i8mm, NREP(L->n8), &row->p[p], g_path[p].name);
    if (!row->p[p].failed && !row->p[p].na) check_int8_out(&c, &ck, f_i8mm, &row->p[p], g_path[p].name);
    qs_int8_gemm_force_config(-1);
  }
  if (g_sweep) {
    WHERE("quant");
    plain_path(&c, f_quant, 16, &row->p[P_QUANT], "quant");
    WHERE("outl");
    plain_path(&c, f_outl, 16, &row->p[P_OUTL], "outl");
  }

  /* int8 with 4 outlier columns */
  c.xin = X->x16o;
  WHERE("int8o");
  plain_path(&c, f_int8, NREP(L->n8), &row->p[P_INT8O], "int8o");
  CU(cudaStreamSynchronize(g_s));
  CU(cudaMemcpy(&nout, S->act.n_out, 4, cudaMemcpyDeviceToHost));
  if (nout != 4) fprintf(stderr, "warning [%s]: %d outlier columns, expected 4\n", g_where, nout);
  if (g_sweep) {
    WHERE("quanto");
    plain_path(&c, f_quant, 16, &row->p[P_QUANTO], "quanto");
  }

  /* nf4 (relL2 only: NF4 is another rounding of the weights) */
  static const int nf4_path[7][2] = {{-1, P_NF4},     {3, P_N4WG},     {0, P_N4C0}, {1, P_N4C1},
                                     {4, P_N4W256}, {5, P_N4W128}, {6, P_N4T}};
  for (int k = 0; k < 7; k++) {
    const int cfg = nf4_path[k][0], p = nf4_path[k][1];
    if (!path_on(p)) continue;
    WHERE(g_path[p].name);
    qs_nf4_gemm_force_config(cfg);
    if (cfg >= 3) wgmma_path(&c, f_nf4, NREP(L->nn), &row->p[p], g_path[p].name);
    else plain_path(&c, f_nf4, NREP(L->nn), &row->p[p], g_path[p].name);
    if (!row->p[p].failed && !row->p[p].na) {
      if (run_fetch_f16(&c, &ck, f_nf4) == 0) {
        if (ck.have16) row->p[p].err = rel_l2_h(ck.hbuf, ck.ref16, ck.cnt);
      } else {
        fprintf(stderr, "error [%s]: nf4 check launch: %s\n", g_where, g_launch_msg);
        row->p[p].failed = 1;
      }
    }
    qs_nf4_gemm_force_config(-1);
  }
#undef NREP
#undef WHERE
  CU(cudaStreamSynchronize(g_s));

  for (int p = 0; p < NPATH; p++) {
    const pres *r = &row->p[p];
    if (!path_on(p)) continue;
    if (r->failed) g_launch_bad++;
    if (g_path[p].checked == 2 && !r->failed && !r->na && ck.have16) {
      if (!(r->err <= NF4_ERR_MAX)) g_nf4_bad++;
      g_nf4_max = isnan(r->err) ? INFINITY : fmax(g_nf4_max, r->err);
    }
    if (g_path[p].checked == 1 && !r->failed && !r->na) {
      if (r->wrong > 0) g_wrong_total += r->wrong;
      if (r->wrong >= 0) g_checked_total += r->checked;
      if (ck.have16) {
        if (!(r->err <= 2e-2)) g_err_bad++;
        if (r->err > g_err_max || isnan(r->err)) g_err_max = isnan(r->err) ? INFINITY : fmax(g_err_max, r->err);
      }
    }
  }
  free(ck.ref16), free(ck.ref8), free(ck.hbuf), free(ck.fbuf), free(ck.ibuf), free(ck.hsx);
}

/* ---- output ----------------------------------------------------------------------------------- */
static FILE *g_csv;
static char g_gpu[256];

static const char *fnum(char *b, size_t n, double v, const char *fmt) {
  if (isnan(v)) snprintf(b, n, "-");
  else snprintf(b, n, fmt, v);
  return b;
}
static const char *cnum(char *b, size_t n, double v, const char *fmt) {
  if (isnan(v)) b[0] = 0;
  else snprintf(b, n, fmt, v);
  return b;
}

/* one table row: a Linear (N, K > 0) or the sum of a model's 4 Linears (N = K = 0) */
static void emit(const char *model, const char *lin, int batch, int M, int N, int K, int path, double t, int R,
                 double flops, double t16, long long wrong, long long checked, double err, const char *status) {
  const int na = !strcmp(status, "n/a");
  const int ci = g_path[path].ceil;
  const double rate = ci == C_NONE ? NAN : flops / t * 1e-12, ceil_v = ceiling_of(ci) * 1e-12;
  const double pct = 100.0 * rate / ceil_v, x16 = ci == C_NONE ? NAN : t16 / t;
  const char *unit = ci == C_NONE ? "-" : ci == C_INT8 ? "TOP/s" : "TFLOP/s";
  char sN[16], sK[16], st[32], sr[32], sp[32], sx[32], sw[32], se[32];
  if (N > 0) snprintf(sN, sizeof sN, "%d", N), snprintf(sK, sizeof sK, "%d", K);
  else snprintf(sN, sizeof sN, "-"), snprintf(sK, sizeof sK, "-");
  if (wrong >= 0) snprintf(sw, sizeof sw, "%lld", wrong);
  else snprintf(sw, sizeof sw, "-");
  if (path == P_FP16 && N > 0) snprintf(se, sizeof se, "ref");
  else fnum(se, sizeof se, err, "%.2e");
  if (na) snprintf(st, sizeof st, "n/a"), snprintf(sr, sizeof sr, "n/a");
  else fnum(st, sizeof st, t * 1e6, "%.1f"), fnum(sr, sizeof sr, rate, "%.2f");
  printf("%-6s %-5s %5d %6d %6s %6s  %-6s %10s %9s %-7s %6s %6s %7s %9s\n", model, lin, batch, M, sN, sK,
         g_path[path].name, st, sr, unit,
         fnum(sp, sizeof sp, pct, "%.1f"), fnum(sx, sizeof sx, x16, "%.2f"), sw, se);
  if (g_csv) {
    char ct[32], cr[32], cc[32], cp[32], cx[32], ce[32];
    fprintf(g_csv, "\"%s\",%s,%s,%d,%d,%s,%s,%s,%s,%d,%s,%s,%s,%s,%s,", g_gpu, model, lin, batch, M,
            N > 0 ? sN : "", N > 0 ? sK : "", g_path[path].name, cnum(ct, sizeof ct, t * 1e6, "%.3f"), R,
            cnum(cr, sizeof cr, rate, "%.4f"), ci == C_NONE ? "" : unit, cnum(cc, sizeof cc, ci == C_NONE ? NAN : ceil_v, "%.3f"),
            cnum(cp, sizeof cp, pct, "%.2f"), cnum(cx, sizeof cx, x16, "%.4f"));
    if (wrong >= 0) fprintf(g_csv, "%lld,%lld,", wrong, checked);
    else fprintf(g_csv, ",,");
    fprintf(g_csv, "%s,%s\n", cnum(ce, sizeof ce, err, "%.4e"), status);
  }
}

static void print_header(const struct cudaDeviceProp *p, int dev, const int *msel, int nm, const int *batches, int nb) {
  int clk = 0, rt = 0, drv = 0;
  CU(cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, dev));
  CU(cudaRuntimeGetVersion(&rt));
  CU(cudaDriverGetVersion(&drv));
  printf("# quant_gemm_bench: ViT encoder Linears y[M,N] = x[M,K] W[N,K]^T + bias, M = tokens x batch\n");
  printf("# GPU %d: %s, %d SMs, SM clock %d MHz (max), %.1f GiB, L2 %d MiB, cc %d.%d; CUDA runtime %d.%d, driver "
         "%d.%d, cuBLASLt %zu\n",
         dev, p->name, p->multiProcessorCount, clk / 1000, (double)p->totalGlobalMem / (1024.0 * 1024 * 1024),
         p->l2CacheSize >> 20, p->major, p->minor, rt / 1000, rt % 1000 / 10, drv / 1000, drv % 1000 / 10,
         cublasLtGetVersion());
  printf("# ceilings (measured once, cuBLASLt, no bias): fp32 %.1f TFLOP/s (4096^3, COMPUTE_32F, no TF32); fp16 "
         "%.1f TFLOP/s (8192^3, fp32 accumulation); int8 %.1f TOP/s (8192^3, int8 -> int32); copy %.0f GB/s "
         "(cudaMemcpyAsync of 1 GiB device to device, copy engine, read + write)\n",
         g_tf32 * 1e-12, g_tf16 * 1e-12, g_ti8 * 1e-12, g_bw * 1e-9);
  printf("# models:");
  for (int i = 0; i < nm; i++) {
    const model_t *m = &g_models[msel[i]];
    printf("%s %s (D %d, MLP %d, %d tokens)", i ? ";" : "", m->arch, m->D, m->F, m->T);
  }
  printf("; batches");
  for (int i = 0; i < nb; i++) printf("%s%d", i ? "," : " ", batches[i]);
  printf("\n# Linears: qkv [3D, D], proj (attention out) [D, D], fc1 [MLP, D], fc2 [D, MLP] as W [N, K]; all4 = "
         "the model's 4 Linears together\n");
  printf("# paths: fp32, fp16 cuBLASLt (bias epilogue); int8 = qsweep quant + outlier + int8 GEMM (fp16 in/out; "
         "int8o: x with 4 outlier columns); i8mm = the int8 GEMM alone (heuristic tiles), i8wg = forced to config 3 "
         "(wgmma; n/a where refused as unsupported)%s; imma = cuBLASLt int8 -> int32 GEMM only; nf4 = qsweep NF4 "
         "GEMM (heuristic), n4wg = forced to config 3 (wgmma)%s\n",
         g_sweep ? ", i8c0..2 = forced to mma.sync configs 0..2, i8w256 / i8w128 = wgmma tiles 128x256 / 128x128 "
                   "(configs 4, 5), i8wpp = its ping-pong schedule (6)" : "",
         g_sweep ? " (n4c0, n4c1, n4w256, n4w128, n4tall: configs 0, 1, 4, 5, 6); quant, quanto, outl = the quantization (no / 4 outlier columns) and "
                   "outlier kernels alone" : "");
  printf("# timing: median of %d graph replays of R launches over weight copies >= 128 MB (R in the CSV), per "
         "launch\n",
         g_reps);
  printf("# rate = 2*M*N*K / time; %%ceil = rate / the ceiling of its precision (fp32: fp32; fp16, nf4: fp16; "
         "int8 paths: int8); x16 = fp16 time / time (>1: faster than fp16)\n");
  printf("# #wrong = fp16 outputs differing from the IMMA-accumulator reference (quant.h, bit-exact expected) "
         "over the checked rows; relL2 = ||y - y_fp16|| / ||y_fp16|| (int8 paths: < 2e-2 required; nf4 paths: < 0.15)\n");
  printf("#\n");
  printf("%-6s %-5s %5s %6s %6s %6s  %-6s %10s %9s %-7s %6s %6s %7s %9s\n", "#model", "lin", "batch", "M", "N",
         "K", "path", "time", "rate", "unit", "%ceil", "x16", "#wrong", "relL2");
  printf("%-6s %-5s %5s %6s %6s %6s  %-6s %10s %9s %-7s %6s %6s %7s %9s\n", "#", "", "", "", "", "", "", "(us)",
         "(T/s)", "", "(%)", "(x)", "", "(fp16)");
  if (g_csv)
    fprintf(g_csv, "gpu,model,linear,batch,M,N,K,path,time_us,launches_per_replay,rate,rate_unit,ceiling,"
                   "pct_of_ceiling,speedup_vs_fp16,wrong,checked,rel_l2_vs_fp16,status\n");
}

static void usage(FILE *f) {
  fprintf(f, "usage: quant_gemm_bench [--models B,L,H] [--batches 1,8,32,128] [--quick] [--configs] [--csv FILE]\n"
             "  --models LIST   ViT models (B, L, H or ViT-B, ...; default all three)\n"
             "  --batches LIST  batch sizes, 1..1024 (default 1,8,32,128; --quick: 1,32)\n"
             "  --quick         batches 1,32 unless given, 5 timed replays instead of 11\n"
             "  --configs       also the int8 and NF4 GEMMs forced to configs 0, 1 (and int8 2: mma.sync) and\n"
             "                  4, 5 (wgmma 128x256, 128x128), the quantization and outlier kernels alone\n"
             "  --csv FILE      the same rows as CSV\n"
             "Exit status: 0, 1 when a check or a launch failed, 2 bad arguments, 77 no CUDA device.\n");
}

int main(int argc, char **argv) {
  int msel[3] = {0, 1, 2}, nm = 3;
  int batches[16] = {1, 8, 32, 128}, nb = 4, batches_given = 0, quick = 0;
  const char *csv = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--configs")) {
      g_sweep = 1;
    } else if (!strcmp(a, "--quick")) {
      quick = 1;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if ((!strcmp(a, "--csv") || !strcmp(a, "--models") || !strcmp(a, "--batches")) && i + 1 < argc) {
      const char *v = argv[++i];
      if (!strcmp(a, "--csv")) {
        csv = v;
      } else if (!strcmp(a, "--models")) {
        nm = 0;
        int seen[3] = {0, 0, 0};
        char buf[256];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
          const char *s = t;
          if (!strncmp(s, "ViT-", 4) || !strncmp(s, "vit-", 4)) s += 4;
          const int c = toupper((unsigned char)s[0]);
          const int mi = (s[0] && (s[1] == 0 || s[1] == '/')) ? (c == 'B' ? 0 : c == 'L' ? 1 : c == 'H' ? 2 : -1) : -1;
          if (mi < 0) {
            fprintf(stderr, "quant_gemm_bench: --models: unknown model '%s' (B, L or H)\n", t);
            return 2;
          }
          if (!seen[mi]) seen[mi] = 1, msel[nm++] = mi;
        }
        if (nm == 0) {
          fprintf(stderr, "quant_gemm_bench: --models: empty list\n");
          return 2;
        }
      } else {
        nb = 0;
        batches_given = 1;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
          char *end = NULL;
          errno = 0;
          const long b = strtol(t, &end, 10);
          if (errno || end == t || *end || b < 1 || b > 1024 || nb >= 16) {
            fprintf(stderr, "quant_gemm_bench: --batches: '%s' is not a batch size in 1..1024 (at most 16)\n", t);
            return 2;
          }
          batches[nb++] = (int)b;
        }
        if (nb == 0) {
          fprintf(stderr, "quant_gemm_bench: --batches: empty list\n");
          return 2;
        }
      }
    } else {
      fprintf(stderr, "quant_gemm_bench: unknown or incomplete argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (quick) {
    g_reps = 5;
    if (!batches_given) batches[0] = 1, batches[1] = 32, nb = 2;
  }

  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1) {
    printf("quant_gemm_bench: no CUDA device\n");
    return 77;
  }
  const double t_start = now_s();
  int dev = 0;
  CU(cudaGetDevice(&dev));
  struct cudaDeviceProp prop;
  CU(cudaGetDeviceProperties(&prop, dev));
  snprintf(g_gpu, sizeof g_gpu, "%s", prop.name);
  for (char *q = g_gpu; *q; q++)
    if (*q == '"' || *q == ',') *q = ' ';
  if (csv) {
    g_csv = fopen(csv, "w");
    if (!g_csv) {
      fprintf(stderr, "quant_gemm_bench: --csv %s: %s\n", csv, strerror(errno));
      return 2;
    }
  }
  CU(cudaStreamCreateWithFlags(&g_s, cudaStreamNonBlocking));
  LT(cublasLtCreate(&g_lt));
  g_ws = dalloc(g_ws_bytes);
  fprintf(stderr, "quant_gemm_bench: %s; measuring the ceilings\n", prop.name);
  measure_ceilings();
  fprintf(stderr, "ceilings: fp32 %.1f TFLOP/s, fp16 %.1f TFLOP/s, int8 %.1f TOP/s, copy %.0f GB/s (%.1f s)\n",
          g_tf32 * 1e-12, g_tf16 * 1e-12, g_ti8 * 1e-12, g_bw * 1e-9, now_s() - t_start);
  print_header(&prop, dev, msel, nm, batches, nb);
  fflush(stdout);

  row_t *rows = xcalloc((size_t)nm * nb * 4, sizeof(row_t));
  int nr = 0;
  const int total = nm * nb * 4;
  for (int im = 0; im < nm; im++) {
    const model_t *m = &g_models[msel[im]];
    lin_w L[4];
    const double tw = now_s();
    for (int l = 0; l < 4; l++) {
      snprintf(g_where, sizeof g_where, "%s %s weights", m->name, g_lin[l]);
      lin_setup(&L[l], lin_N(m, l), lin_K(m, l));
    }
    fprintf(stderr, "%s: weights ready (%.1f s)\n", m->name, now_s() - tw);
    for (int ib = 0; ib < nb; ib++) {
      const int batch = batches[ib], M = m->T * batch;
      snprintf(g_where, sizeof g_where, "%s batch %d inputs", m->name, batch);
      act_in XD, XF;
      act_in_setup(&XD, M, m->D);
      act_in_setup(&XF, M, m->F);
      scratch_t S;
      scratch_setup(&S, M, m->F > 3 * m->D ? m->F : 3 * m->D, m->F);
      CU(cudaDeviceSynchronize());
      row_t *first = &rows[nr];
      for (int l = 0; l < 4; l++) {
        const double t0 = now_s();
        row_t *r = &rows[nr++];
        r->mi = msel[im], r->batch = batch, r->li = l, r->M = M, r->N = lin_N(m, l), r->K = lin_K(m, l);
        char where[96];
        snprintf(where, sizeof where, "%s %s batch %d (M %d N %d K %d)", m->name, g_lin[l], batch, M, r->N, r->K);
        bench_shape(r, &L[l], l == 3 ? &XF : &XD, &S, where);
        const double flops = 2.0 * M * (double)r->N * r->K;
        for (int p = 0; p < NPATH; p++)
          if (path_on(p))
            emit(m->name, g_lin[l], batch, M, r->N, r->K, p, r->p[p].t, r->p[p].R, flops, r->p[P_FP16].t,
                 g_path[p].checked ? r->p[p].wrong : -1, r->p[p].checked, r->p[p].err,
                 r->p[p].na ? "n/a" : r->p[p].failed ? "failed" : !g_path[p].checked ? "ok"
                 : g_path[p].checked == 2 ? (r->p[p].err > NF4_ERR_MAX || isnan(r->p[p].err) ? "wrong" : "ok")
                 : r->p[p].wrong > 0 || !(r->p[p].err <= 2e-2) ? "wrong" : "ok");
        fflush(stdout);
        fprintf(stderr, "[%3d/%d] %s: %.2f s (elapsed %.1f s)\n", nr, total, where, now_s() - t0, now_s() - t_start);
      }
      /* the model's 4 Linears together */
      double t4[NPATH], fl4 = 0;
      int na4[NPATH], bad4[NPATH];
      for (int p = 0; p < NPATH; p++) t4[p] = 0, na4[p] = bad4[p] = 0;
      for (int l = 0; l < 4; l++) {
        fl4 += 2.0 * M * (double)first[l].N * first[l].K;
        for (int p = 0; p < NPATH; p++) {
          t4[p] += first[l].p[p].t; /* NaN if any is */
          na4[p] |= first[l].p[p].na;
          bad4[p] |= first[l].p[p].failed;
        }
      }
      for (int p = 0; p < NPATH; p++) {
        if (!path_on(p) || g_path[p].ceil == C_NONE) continue;
        long long w = -1, ch = 0;
        if (g_path[p].checked == 1)
          for (int l = 0; l < 4; l++)
            if (first[l].p[p].wrong >= 0) w = (w < 0 ? 0 : w) + first[l].p[p].wrong, ch += first[l].p[p].checked;
        emit(m->name, "all4", batch, M, 0, 0, p, t4[p], 0, fl4, t4[P_FP16], w, ch, NAN,
             bad4[p] ? "failed" : na4[p] ? "n/a" : w > 0 ? "wrong" : "ok");
      }
      char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32];
      printf("# %s batch %d (M %d), 4 Linears: fp32 %s, fp16 %s, int8 %s, i8wg %s, nf4 %s, n4wg %s; "
             "int8/fp16 %s, nf4/fp16 %s (fp16 time / time, >1: faster than fp16)\n",
             m->name, batch, M, fnum(a, sizeof a, t4[P_FP32] * 1e6, "%.1f us"),
             fnum(b, sizeof b, t4[P_FP16] * 1e6, "%.1f us"), fnum(c, sizeof c, t4[P_INT8] * 1e6, "%.1f us"),
             na4[P_I8WG] ? "n/a" : fnum(d, sizeof d, t4[P_I8WG] * 1e6, "%.1f us"),
             fnum(e, sizeof e, t4[P_NF4] * 1e6, "%.1f us"),
             na4[P_N4WG] ? "n/a" : fnum(h, sizeof h, t4[P_N4WG] * 1e6, "%.1f us"),
             fnum(f, sizeof f, t4[P_FP16] / t4[P_INT8], "%.2fx"),
             fnum(g, sizeof g, t4[P_FP16] / t4[P_NF4], "%.2fx"));
      fflush(stdout);
      if (g_csv) fflush(g_csv);
      scratch_free(&S);
      act_in_free(&XD);
      act_in_free(&XF);
    }
    for (int l = 0; l < 4; l++) lin_free(&L[l]);
  }

  /* the issue's targets, where their batches were run */
  int have1 = 0, have32 = 0, b1_i8 = 1, b1_n4 = 1, b32_i8 = 1;
  for (int i = 0; i < nr; i++) {
    const row_t *r = &rows[i];
    if (r->batch == 1) {
      have1 = 1;
      b1_i8 &= r->p[P_INT8].t < r->p[P_FP32].t && r->p[P_INT8O].t < r->p[P_FP32].t;
      b1_n4 &= r->p[P_NF4].t < r->p[P_FP32].t;
    } else if (r->batch == 32) {
      have32 = 1;
      b32_i8 &= r->p[P_INT8].t < r->p[P_FP16].t;
    }
  }
  if (have1)
    printf("# targets: batch 1 int8 < fp32 on every shape: %s; batch 1 nf4 < fp32: %s\n", b1_i8 ? "yes" : "NO",
           b1_n4 ? "yes" : "NO");
  if (have32) printf("# targets: batch 32 int8 < fp16 on every shape: %s\n", b32_i8 ? "yes" : "NO");
  const int ok = g_wrong_total == 0 && g_err_bad == 0 && g_launch_bad == 0 && g_ref_bad == 0 && g_nf4_bad == 0;
  if (g_na) printf("# wgmma configurations not available here (%d rows n/a, no failure): %s\n", g_na, g_na_msg);
  printf("# check: #wrong %lld of %lld compared int8 outputs (int8, i8mm, i8wg%s vs the IMMA-based reference)%s; "
         "int8 relL2 vs fp16 max %.2e (limit 2e-02, %d over); nf4 relL2 max %.2e (bound %.2f, %d over); failed "
         "launches %d; shapes without a reference %d: %s\n",
         g_wrong_total, g_checked_total, g_sweep ? ", i8c0..2, i8w256, i8w128, i8wpp" : "", g_checked_total ? "" : " (none compared)",
         g_err_max, g_err_bad, g_nf4_max, NF4_ERR_MAX, g_nf4_bad, g_launch_bad, g_ref_bad, ok ? "OK" : "FAIL");
  printf("# runtime %.1f s\n", now_s() - t_start);
  fprintf(stderr, "quant_gemm_bench: %s in %.1f s\n", ok ? "OK" : "FAIL", now_s() - t_start);
  free(rows);
  CU(cudaFree(g_ws));
  LT(cublasLtDestroy(g_lt));
  CU(cudaStreamDestroy(g_s));
  if (g_csv && fclose(g_csv) != 0) {
    fprintf(stderr, "quant_gemm_bench: --csv %s: %s\n", csv, strerror(errno));
    return 1;
  }
  return ok ? 0 : 1;
}
