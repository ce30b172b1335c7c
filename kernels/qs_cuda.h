/* qs_cuda.h - the CUDA backend's C interface: status helpers, check macros, and
 * the extern "C" launchers of the kernels (one op family per kernels/<op>.cu).
 *
 * Every launcher checks its preconditions, launches on the given stream, checks
 * cudaGetLastError and returns QS_OK or a QS_E* status with a message recorded
 * by qs_fail. Tensors are row-major; `dt` says whether activations are fp32 or
 * fp16 (IEEE binary16); statistics and accumulations are always fp32. */
#ifndef QS_CUDA_H
#define QS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { QS_DT_F32 = 0, QS_DT_F16 = 1 } qs_dtype;
static inline size_t qs_dtype_size(qs_dtype dt) { return dt == QS_DT_F16 ? 2 : 4; }

/* Record "FILE:LINE: STATEMENT: error text" with qs_fail; return QS_EOOM for an
 * allocation failure, else QS_EDEVICE. */
int qs_cuda_fail(cudaError_t e, const char *stmt, const char *file, int line);
int qs_cublas_fail(cublasStatus_t s, const char *stmt, const char *file, int line);

#define CUDA_CHECK(stmt)                                                  \
  do {                                                                    \
    cudaError_t qs_ce_ = (stmt);                                          \
    if (qs_ce_ != cudaSuccess) return qs_cuda_fail(qs_ce_, #stmt, __FILE__, __LINE__); \
  } while (0)
#define CUBLAS_CHECK(stmt)                                                \
  do {                                                                    \
    cublasStatus_t qs_cs_ = (stmt);                                       \
    if (qs_cs_ != CUBLAS_STATUS_SUCCESS) return qs_cublas_fail(qs_cs_, #stmt, __FILE__, __LINE__); \
  } while (0)

/* Number of CUDA devices; 0 when there is no driver or device (never aborts). */
int qs_cuda_device_count(void);

/* ---- layernorm.cu ------------------------------------------------------------
 * Per row m of x [M, D]: if r: x[m] = x[m] + (ls ? ls * r[m] : r[m]) (stored, the
 * scaled term rounded to dt first); then if y: y[m] = LN(x[m]) * g + b, with
 * biased variance and fp32 statistics. g, b, ls: [D] in dt. y and r must not alias x. */
int qs_layernorm_launch(qs_dtype dt, void *x, const void *r, const void *ls, const void *g, const void *b, void *y,
                        int M, int D, float eps, cudaStream_t s);

/* ---- attention.cu ------------------------------------------------------------
 * qkv [B, N, 3*H*hd] (q | k | v per token, head j at columns j*hd) -> out [B, N, H*hd]:
 * softmax(q k^T / sqrt(hd) + bias) v per (image, head), online softmax, nothing of
 * size N x N in memory. bias: optional [H, N, ldb] in dt (ldb >= N, a multiple of 8).
 * fp16 runs on tensor cores (hd a multiple of 16, <= 128), fp32 on CUDA cores (hd <= 128). */
int qs_attention_launch(qs_dtype dt, const void *qkv, const void *bias, int ldb, void *out, int B, int N, int H,
                        int hd, cudaStream_t s);

/* ---- activation.cu -------------------------------------------------------------
 * x[i] = gelu(x[i]) in place, the exact erf form (HF "gelu"), over n elements. */
int qs_gelu_launch(qs_dtype dt, void *x, int64_t n, cudaStream_t s);

/* ---- embed.cu ------------------------------------------------------------------
 * Patches of img [B, C, S, S] (fp32) -> cols [B * (S/P)^2, C*P*P] in dt, each patch
 * ordered (c, ky, kx), patches row-major (y, x). */
int qs_im2col_launch(qs_dtype dt, const float *img, void *cols, int B, int C, int S, int P, cudaStream_t s);
/* Token sequence x [B, N, D] = [cls, (dist), pe[b]] (+ pos [N, D] if not NULL), where
 * pe [B, N - extra, D] holds the patch embeddings and extra is 1 or 2 (dist given). */
int qs_tokens_launch(qs_dtype dt, const void *pe, const void *cls, const void *dist, const void *pos, void *x, int B,
                     int N, int D, cudaStream_t s);

/* ---- heads.cu ------------------------------------------------------------------
 * out [B, D] = x[b, row, :] of x [B, N, D]. */
int qs_gather_row_launch(qs_dtype dt, const void *x, void *out, int B, int N, int D, int row, cudaStream_t s);
/* out [B, D] = mean over tokens first..N-1 of x [B, N, D] (fp32 sums). */
int qs_mean_tokens_launch(qs_dtype dt, const void *x, void *out, int B, int N, int D, int first, cudaStream_t s);
/* x = tanh(x) in place over n elements. */
int qs_tanh_launch(qs_dtype dt, void *x, int64_t n, cudaStream_t s);
/* y = (a + b) / 2 over n elements. */
int qs_average2_launch(qs_dtype dt, const void *a, const void *b, void *y, int64_t n, cudaStream_t s);
/* y (fp32) = x (dt) over n elements. */
int qs_to_f32_launch(qs_dtype dt, const void *x, float *y, int64_t n, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
