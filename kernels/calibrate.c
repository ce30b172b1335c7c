/* calibrate.c - the GPU's ceilings (calibrate.h): device-to-device copy bandwidth and
 * dense GEMM throughput per precision through cuBLASLt, each timed with CUDA events
 * around every repetition, the median repetition reported (and the fastest).
 *
 *   copy_d2d   cudaMemcpyAsync device to device of copy_bytes; bytes = read + written
 *   gemm_fp32  A, B, D fp32, CUBLAS_COMPUTE_32F (true fp32: never 32F_FAST_TF32)
 *   gemm_fp16  A, B, D fp16, CUBLAS_COMPUTE_32F (fp32 accumulation, as the plans' GEMMs)
 *   gemm_bf16  A, B, D bf16, CUBLAS_COMPUTE_32F
 *   gemm_int8  A, B int8, D int32, CUBLAS_COMPUTE_32I (IMMA tensor cores), A transposed
 *   gemm_fp8   A, B e4m3, D bf16, CUBLAS_COMPUTE_32F, A transposed, no fast accumulation;
 *              compute capability >= 8.9 only (else "unsupported")
 * Every GEMM is M = N = K = gemm_size on operands of pseudo-random values (never zeros),
 * with the heuristic's first algorithm and up to 32 MiB of workspace. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "qs_common.h"
#include "qs_cuda.h"

#define CALIB_WS_BYTES ((size_t)32 << 20)

typedef struct {
  cudaStream_t s;
  cudaEvent_t *ev; /* 2 per repetition */
  int reps, warmup;
  double *ms;      /* [reps] */
} calib_timer;

static void entry_fail(qs_calib_entry *e, int code) {
  snprintf(e->status, sizeof e->status, "%s", code == QS_EUNSUPPORTED ? "unsupported" : "failed");
  qs_strlcpy(e->message, qs_last_error(), sizeof e->message);
  e->value = e->best = e->median_ms = e->min_ms = NAN;
  qs_clear_error();
}

/* The timed repetitions' times (ms) into t->ms; median and fastest into e, and the rates
 * as work / time (work: bytes or FLOPs; scale: to GB/s or TFLOP/s). */
static void entry_rates(qs_calib_entry *e, calib_timer *t, double work, double scale) {
  double med = qs_calib_median(t->ms, t->reps);
  e->median_ms = med;
  e->min_ms = t->ms[0];
  e->value = work / (med * 1e-3) * scale;
  e->best = work / (t->ms[0] * 1e-3) * scale;
  snprintf(e->status, sizeof e->status, "ok");
  e->message[0] = '\0';
}

static int time_events(calib_timer *t) {
  CUDA_CHECK(cudaEventSynchronize(t->ev[2 * t->reps - 1]));
  for (int i = 0; i < t->reps; i++) {
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t->ev[2 * i], t->ev[2 * i + 1]));
    t->ms[i] = ms;
  }
  return QS_OK;
}

static int measure_copy(calib_timer *t, size_t bytes, qs_calib_entry *e) {
  void *src = NULL, *dst = NULL;
  int rc = QS_OK;
  cudaError_t ce = cudaMalloc(&src, bytes);
  if (ce == cudaSuccess) ce = cudaMalloc(&dst, bytes);
  if (ce != cudaSuccess) {
    rc = qs_cuda_fail(ce, "cudaMalloc (2 copy buffers)", __FILE__, __LINE__);
    goto out;
  }
  if ((rc = qs_calib_fill_launch(QS_CALIB_I8, src, (int64_t)bytes, 7u, t->s)) != QS_OK) goto out;
  for (int i = 0; i < t->warmup && rc == QS_OK; i++) {
    ce = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, t->s);
    if (ce != cudaSuccess) rc = qs_cuda_fail(ce, "cudaMemcpyAsync", __FILE__, __LINE__);
  }
  for (int i = 0; i < t->reps && rc == QS_OK; i++) {
    ce = cudaEventRecord(t->ev[2 * i], t->s);
    if (ce == cudaSuccess) ce = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, t->s);
    if (ce == cudaSuccess) ce = cudaEventRecord(t->ev[2 * i + 1], t->s);
    if (ce != cudaSuccess) rc = qs_cuda_fail(ce, "cudaMemcpyAsync (timed)", __FILE__, __LINE__);
  }
  if (rc == QS_OK) rc = time_events(t);
  if (rc == QS_OK) entry_rates(e, t, e->bytes, 1e-9);
out:
  if (rc != QS_OK) entry_fail(e, rc);
  cudaStreamSynchronize(t->s);
  cudaFree(src);
  cudaFree(dst);
  (void)cudaGetLastError();
  return rc;
}

typedef struct {
  const char *prec;
  qs_calib_type in;          /* A and B */
  cudaDataType_t ab, d;      /* cuBLASLt types of A/B and of C/D */
  cublasComputeType_t compute;
  cudaDataType_t scale;
  int trans_a;               /* A transposed (int8 and fp8 need the "TN" layout) */
  size_t ab_es, d_es;        /* element sizes */
  int min_cc;                /* 10 * major + minor */
  const char *method;
} gemm_kind;

static const gemm_kind k_gemms[] = {
    {"fp32", QS_CALIB_F32, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 0, 4, 4, 0,
     "cublasLtMatmul, A/B/D fp32, CUBLAS_COMPUTE_32F (no TF32)"},
    {"fp16", QS_CALIB_F16, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 0, 2, 2, 0,
     "cublasLtMatmul, A/B/D fp16, CUBLAS_COMPUTE_32F (fp32 accumulation)"},
    {"bf16", QS_CALIB_BF16, CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F, 0, 2, 2, 80,
     "cublasLtMatmul, A/B/D bf16, CUBLAS_COMPUTE_32F"},
    {"int8", QS_CALIB_I8, CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I, CUDA_R_32I, 1, 1, 4, 80,
     "cublasLtMatmul, A/B int8, D int32, CUBLAS_COMPUTE_32I (IMMA), A transposed; rate in tera-ops/s"},
    {"fp8", QS_CALIB_E4M3, CUDA_R_8F_E4M3, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F, 1, 1, 2, 89,
     "cublasLtMatmul, A/B fp8 e4m3, D bf16, CUBLAS_COMPUTE_32F, A transposed, no fast accumulation"},
};

/* One GEMM precision: descriptors, heuristic, warm-up, timed repetitions. */
static int measure_gemm(calib_timer *t, cublasLtHandle_t lt, const gemm_kind *g, int n, void *a, void *b, void *d,
                        void *ws, qs_calib_entry *e) {
  int rc = QS_OK;
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  cublasStatus_t st;
  const int64_t elems = (int64_t)n * n;
#define LT(call)                                                   \
  do {                                                             \
    if ((st = (call)) != CUBLAS_STATUS_SUCCESS) {                  \
      rc = qs_cublas_fail(st, #call, __FILE__, __LINE__);          \
      goto out;                                                    \
    }                                                              \
  } while (0)
  if ((rc = qs_calib_fill_launch(g->in, a, elems, 11u, t->s)) != QS_OK) goto out;
  if ((rc = qs_calib_fill_launch(g->in, b, elems, 13u, t->s)) != QS_OK) goto out;
  LT(cublasLtMatmulDescCreate(&op, g->compute, g->scale));
  const cublasOperation_t opa = g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, opb = CUBLAS_OP_N;
  LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
  LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
  /* square: every layout n x n with leading dimension n */
  LT(cublasLtMatrixLayoutCreate(&la, g->ab, n, n, n));
  LT(cublasLtMatrixLayoutCreate(&lb, g->ab, n, n, n));
  LT(cublasLtMatrixLayoutCreate(&ld, g->d, n, n, n));
  LT(cublasLtMatmulPreferenceCreate(&pref));
  size_t ws_limit = CALIB_WS_BYTES;
  LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_limit, sizeof ws_limit));
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  LT(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, ld, ld, pref, 1, &res, &found));
  if (found < 1) {
    rc = qs_fail(QS_EUNSUPPORTED, "cuBLASLt has no algorithm for a %s GEMM of %d x %d x %d", g->prec, n, n, n);
    goto out;
  }
  const float alpha_f = 1.0f, beta_f = 0.0f;
  const int32_t alpha_i = 1, beta_i = 0;
  const void *alpha = g->scale == CUDA_R_32I ? (const void *)&alpha_i : (const void *)&alpha_f;
  const void *beta = g->scale == CUDA_R_32I ? (const void *)&beta_i : (const void *)&beta_f;
  for (int i = 0; i < t->warmup; i++)
    LT(cublasLtMatmul(lt, op, alpha, a, la, b, lb, beta, d, ld, d, ld, &res.algo, ws, res.workspaceSize, t->s));
  for (int i = 0; i < t->reps; i++) {
    cudaError_t ce = cudaEventRecord(t->ev[2 * i], t->s);
    if (ce != cudaSuccess) {
      rc = qs_cuda_fail(ce, "cudaEventRecord", __FILE__, __LINE__);
      goto out;
    }
    LT(cublasLtMatmul(lt, op, alpha, a, la, b, lb, beta, d, ld, d, ld, &res.algo, ws, res.workspaceSize, t->s));
    ce = cudaEventRecord(t->ev[2 * i + 1], t->s);
    if (ce != cudaSuccess) {
      rc = qs_cuda_fail(ce, "cudaEventRecord", __FILE__, __LINE__);
      goto out;
    }
  }
  if ((rc = time_events(t)) != QS_OK) goto out;
  entry_rates(e, t, 2.0 * (double)n * n * n, 1e-12);
#undef LT
out:
  if (rc != QS_OK) entry_fail(e, rc);
  cudaStreamSynchronize(t->s);
  (void)cudaGetLastError();
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (ld) cublasLtMatrixLayoutDestroy(ld);
  if (lb) cublasLtMatrixLayoutDestroy(lb);
  if (la) cublasLtMatrixLayoutDestroy(la);
  if (op) cublasLtMatmulDescDestroy(op);
  return rc;
}

static qs_calib_entry *new_entry(qs_calibration *c, const char *name, const char *kind, const char *prec,
                                 const char *unit, const qs_calib_opts *o) {
  qs_calib_entry *e = &c->e[c->n_entries++];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  snprintf(e->kind, sizeof e->kind, "%s", kind);
  snprintf(e->precision, sizeof e->precision, "%s", prec);
  snprintf(e->unit, sizeof e->unit, "%s", unit);
  e->warmup = o->warmup;
  e->reps = o->reps;
  e->value = e->best = e->median_ms = e->min_ms = NAN;
  return e;
}

int qs_cuda_calibrate(int device, const qs_calib_opts *o, qs_calibration *c) {
  calib_timer t;
  memset(&t, 0, sizeof t);
  cublasLtHandle_t lt = NULL;
  void *a = NULL, *b = NULL, *d = NULL, *ws = NULL;
  int rc = QS_OK, made = 0;
  struct cudaDeviceProp prop;
  CUDA_CHECK(cudaSetDevice(device));
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  const int cc = 10 * prop.major + prop.minor;
  t.reps = o->reps;
  t.warmup = o->warmup;
  if (!(t.ms = qs_malloc(sizeof(double) * (size_t)o->reps)) ||
      !(t.ev = qs_calloc((size_t)(2 * o->reps), sizeof(cudaEvent_t)))) {
    free(t.ms);
    return QS_ENOMEM;
  }
  cudaError_t ce = cudaStreamCreateWithFlags(&t.s, cudaStreamNonBlocking);
  while (ce == cudaSuccess && made < 2 * o->reps) {
    ce = cudaEventCreate(&t.ev[made]);
    if (ce == cudaSuccess) made++;
  }
  size_t free_b = 0, total_b = 0;
  if (ce == cudaSuccess) ce = cudaMemGetInfo(&free_b, &total_b);
  if (ce != cudaSuccess) {
    rc = qs_cuda_fail(ce, "cudaStreamCreate / cudaEventCreate / cudaMemGetInfo", __FILE__, __LINE__);
    goto out;
  }

  /* copy bandwidth: at most an eighth of the free memory per buffer */
  size_t bytes = o->copy_bytes;
  if (bytes > free_b / 8) bytes = free_b / 8 / 4096 * 4096;
  qs_calib_entry *e = new_entry(c, "copy_d2d", "bandwidth", "", "GB/s", o);
  e->bytes = 2.0 * (double)bytes;
  snprintf(e->method, sizeof e->method,
           "cudaMemcpyAsync device to device of %zu bytes, CUDA events per repetition; bytes = read + written",
           bytes);
  (void)measure_copy(&t, bytes, e);

  /* the GEMMs: one set of buffers, as large as the widest type needs */
  const int n = o->gemm_size;
  const size_t elems = (size_t)n * n;
  ce = cudaMalloc(&a, elems * 4);
  if (ce == cudaSuccess) ce = cudaMalloc(&b, elems * 4);
  if (ce == cudaSuccess) ce = cudaMalloc(&d, elems * 4);
  if (ce == cudaSuccess) ce = cudaMalloc(&ws, CALIB_WS_BYTES);
  int buf_rc = ce == cudaSuccess ? QS_OK : qs_cuda_fail(ce, "cudaMalloc (GEMM operands)", __FILE__, __LINE__);
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  if (buf_rc == QS_OK && (st = cublasLtCreate(&lt)) != CUBLAS_STATUS_SUCCESS)
    buf_rc = qs_cublas_fail(st, "cublasLtCreate", __FILE__, __LINE__);
  char why[QS_MSG_MAX];
  qs_strlcpy(why, buf_rc == QS_OK ? "" : qs_last_error(), sizeof why);
  for (size_t i = 0; i < QS_ARRAY_LEN(k_gemms); i++) {
    const gemm_kind *g = &k_gemms[i];
    char name[32];
    snprintf(name, sizeof name, "gemm_%s", g->prec);
    e = new_entry(c, name, "gemm", g->prec, "TFLOP/s", o);
    e->m = e->n = e->k = n;
    e->bytes = (2.0 * (double)g->ab_es + (double)g->d_es) * (double)elems;
    snprintf(e->method, sizeof e->method, "%s; M = N = K = %d, CUDA events per repetition; FLOPs = 2 M N K",
             g->method, n);
    if (cc < g->min_cc) {
      qs_fail(QS_EUNSUPPORTED, "compute capability %d.%d: %s GEMMs need %d.%d or newer", prop.major, prop.minor,
              g->prec, g->min_cc / 10, g->min_cc % 10);
      entry_fail(e, QS_EUNSUPPORTED);
      continue;
    }
    if (buf_rc != QS_OK) {
      qs_fail(buf_rc, "%s", why);
      entry_fail(e, buf_rc);
      continue;
    }
    (void)measure_gemm(&t, lt, g, n, a, b, d, ws, e);
  }
out:
  if (lt) cublasLtDestroy(lt);
  cudaFree(a);
  cudaFree(b);
  cudaFree(d);
  cudaFree(ws);
  for (int i = 0; i < made; i++) cudaEventDestroy(t.ev[i]);
  if (t.s) cudaStreamDestroy(t.s);
  (void)cudaGetLastError();
  free(t.ev);
  free(t.ms);
  return rc;
}
