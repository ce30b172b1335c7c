/* gemm.c - Linear layers through cuBLASLt, one descriptor set per call site.
 *
 * Row-major y[M, N] = x[M, K] W[N, K]^T is, in cuBLASLt's column-major terms,
 * y^T (N x M, ld N) = op_T(W: K x N, ld K) * x^T (K x M, ld K): A = W transposed,
 * B = x, D = y, m = N, n = M, k = K. The bias (length N = rows of D) goes in the
 * epilogue. */
#include <string.h>

#include "cuda_plan.h"
#include "qs_common.h"

int qs_gemm_init(qs_gemm *g, cublasLtHandle_t h, qs_dtype dt, int M, int N, int K, int has_bias, size_t ws_limit,
                 const qs_gemm *like) {
  memset(g, 0, sizeof *g);
  g->M = M;
  g->N = N;
  g->K = K;
  g->dt = dt;
  g->has_bias = has_bias;
  if (M <= 0 || N <= 0 || K <= 0) return qs_fail(QS_EINVAL, "gemm: shape M %d N %d K %d is empty", M, N, K);
  const cudaDataType_t ty = dt == QS_DT_F16 ? CUDA_R_16F : dt == QS_DT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  /* fp32: true fp32 (COMPUTE_32F, never 32F_FAST_TF32); fp16 and bf16: fp32 accumulation
   * and scale (the bias, of the data type, is added in fp32 before D's one rounding) */
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&g->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
  const cublasLtEpilogue_t epi = has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (has_bias)
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &ty, sizeof ty));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g->la, ty, K, N, K));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g->lb, ty, K, M, K));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g->lc, ty, N, M, N));

  if (like) { /* same shape and epilogue: reuse its algorithm */
    g->algo = like->algo;
    g->ws_bytes = like->ws_bytes;
    return QS_OK;
  }
  cublasLtMatmulPreference_t pref;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_limit,
                                                           sizeof ws_limit);
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulAlgoGetHeuristic(h, g->op, g->la, g->lb, g->lc, g->lc, pref, 1, &res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  CUBLAS_CHECK(st);
  if (found < 1)
    return qs_fail(QS_EUNSUPPORTED, "gemm: cuBLASLt has no algorithm for %s M %d N %d K %d",
                   dt == QS_DT_F16 ? "fp16" : dt == QS_DT_BF16 ? "bf16" : "fp32", M, N, K);
  g->algo = res.algo;
  g->ws_bytes = res.workspaceSize;
  return QS_OK;
}

int qs_gemm_set_bias(qs_gemm *g, const void *bias) {
  if (!g->has_bias) return QS_OK;
  if (!bias) return qs_fail(QS_EINTERNAL, "gemm: bias epilogue without a bias");
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  return QS_OK;
}

int qs_gemm_run(const qs_gemm *g, cublasLtHandle_t h, const void *x, const void *w, void *y, void *ws,
                size_t ws_bytes, cudaStream_t s) {
  const float alpha = 1.0f, beta = 0.0f;
  if (ws_bytes < g->ws_bytes)
    return qs_fail(QS_EINTERNAL, "gemm: workspace %zu bytes < %zu needed", ws_bytes, g->ws_bytes);
  CUBLAS_CHECK(cublasLtMatmul(h, g->op, &alpha, w, g->la, x, g->lb, &beta, y, g->lc, y, g->lc, &g->algo, ws,
                              g->ws_bytes, s));
  return QS_OK;
}

void qs_gemm_destroy(qs_gemm *g) {
  if (g->la) cublasLtMatrixLayoutDestroy(g->la);
  if (g->lb) cublasLtMatrixLayoutDestroy(g->lb);
  if (g->lc) cublasLtMatrixLayoutDestroy(g->lc);
  if (g->op) cublasLtMatmulDescDestroy(g->op);
  memset(g, 0, sizeof *g);
}
