/* qs_cuda.h - the CUDA backend's C interface: status helpers, check macros, and
 * the extern "C" launchers of the kernels (one op family per kernels/<op>.cu).
 *
 * Every launcher checks its preconditions, launches on the given stream, checks
 * cudaGetLastError and returns QS_OK or a QS_E* status with a message recorded
 * by qs_fail. Tensors are row-major; `dt` says whether activations are fp32, fp16
 * (IEEE binary16) or bf16 (bfloat16); statistics and accumulations are always fp32. */
#ifndef QS_CUDA_H
#define QS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { QS_DT_F32 = 0, QS_DT_F16 = 1, QS_DT_BF16 = 2 } qs_dtype;
static inline size_t qs_dtype_size(qs_dtype dt) { return dt == QS_DT_F32 ? 4 : 2; }

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

#ifdef QS_HAVE_NCCL
#include <nccl.h>
/* Record "FILE:LINE: STATEMENT: NCCL error text" with qs_fail; return QS_EDEVICE. */
int qs_nccl_fail(ncclResult_t r, const char *stmt, const char *file, int line);
#define NCCL_CHECK(stmt)                                                  \
  do {                                                                    \
    ncclResult_t qs_nr_ = (stmt);                                         \
    if (qs_nr_ != ncclSuccess) return qs_nccl_fail(qs_nr_, #stmt, __FILE__, __LINE__); \
  } while (0)
#endif

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
 * fp16 and bf16 run on tensor cores for hd 16, 32, 48, 64, 80, 96, 128 and for other even
 * hd < 64 (MobileViT's 4 heads of width d/4: 20, 24, 36, 60, ..., zero-padded to a multiple
 * of 16 in shared memory); their remaining head sizes and fp32 run on CUDA cores with fp32
 * arithmetic (hd <= 128). */
int qs_attention_launch(qs_dtype dt, const void *qkv, const void *bias, int ldb, void *out, int B, int N, int H,
                        int hd, cudaStream_t s);

/* ---- activation.cu -------------------------------------------------------------
 * x[i] = gelu(x[i]) in place, the exact erf form (HF "gelu"), over n elements. */
int qs_gelu_launch(qs_dtype dt, void *x, int64_t n, cudaStream_t s);
/* Activations the convolution kernels apply on load or on store. */
typedef enum { QS_CUDA_ACT_NONE = 0, QS_CUDA_ACT_SILU = 1, QS_CUDA_ACT_GELU = 2 } qs_cuda_act;
/* x[i] = act(x[i]) in place over n elements (SiLU: x / (1 + e^-x); GELU: erf form). */
int qs_act_launch(qs_dtype dt, qs_cuda_act act, void *x, int64_t n, cudaStream_t s);
/* y[i] = y[i] + x[i] over n elements (a residual add, rounded to dt once). */
int qs_add_launch(qs_dtype dt, void *y, const void *x, int64_t n, cudaStream_t s);

/* ---- tp.cu (tensor parallelism) ------------------------------------------------
 * y[m, n] = y[m, n] + bias[n] over y [M, N], summed in fp32 and rounded to dt once: the
 * bias of a column-split Linear, added after the all-reduce of the partial products. */
int qs_bias_add_launch(qs_dtype dt, void *y, const void *bias, int M, int N, cudaStream_t s);

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

/* ---- conv.cu (MobileViT) -----------------------------------------------------------
 * Feature maps are NHWC: [B, H, W, C], channels fastest, so a pixel's channels are one
 * row and a 1x1 convolution is a GEMM. "Sequence order" (perm = P > 0) lists the rows of
 * an H x W map (H, W multiples of P) as MobileViT's unfolding does: row
 * ((b*P*P + py*P + px) * (H/P)*(W/P) + i*(W/P) + j) is pixel (b, i*P + py, j*P + px).
 *
 * y [B, H, W, C] (dt) = x [B, C, H, W] (fp32). */
int qs_nchw_to_nhwc_launch(qs_dtype dt, const float *x, void *y, int B, int C, int H, int W, cudaStream_t s);
/* Patches of x [B, H, W, C] for a k x k convolution (zero padding pad, stride):
 * cols [B*Ho*Wo, Kp], column (ky*k + kx)*C + c, zeros from k*k*C to Kp (Kp >= k*k*C).
 * Rows in pixel order, or in sequence order of the Ho x Wo map when perm > 0. */
int qs_im2col_nhwc_launch(qs_dtype dt, const void *x, void *cols, int B, int H, int W, int C, int k, int stride,
                          int pad, int Kp, int perm, cudaStream_t s);
/* Depthwise k x k convolution of x [B, H, W, C] with w [k*k, C] (tap-major) and bias [C]:
 * y [B, Ho, Wo, C] = act_out(sum_taps act_in(x) * w + bias); act_in is applied to each
 * loaded value and rounded to dt (the producer's activation, fused here). */
int qs_dwconv_launch(qs_dtype dt, const void *x, const void *w, const void *bias, void *y, int B, int H, int W, int C,
                     int k, int stride, int pad, qs_cuda_act act_in, qs_cuda_act act_out, cudaStream_t s);

/* ---- unfold.cu (MobileViT) --------------------------------------------------------
 * seq (sequence order of an Hn x Wn map, patch P) = x [B, H, W, C] resized to Hn x Wn
 * with PyTorch's bilinear (align_corners = False; a copy when the sizes agree). */
int qs_unfold_resize_launch(qs_dtype dt, const void *x, void *seq, int B, int H, int W, int C, int P, int Hn, int Wn,
                            cudaStream_t s);
/* y [B, H, W, C] = the Hn x Wn map folded from seq (sequence order, patch P), resized
 * bilinearly to H x W (a copy when the sizes agree). */
int qs_fold_resize_launch(qs_dtype dt, const void *seq, void *y, int B, int Hn, int Wn, int C, int P, int H, int W,
                          cudaStream_t s);
/* y [B, H, W, Ca + Ct] = [a, act(t)] on channels; a is NHWC, t [B*H*W, Ct] is in pixel
 * order, or in sequence order when perm > 0 (the fold fused into the concat). */
int qs_concat_launch(qs_dtype dt, const void *a, const void *t, void *y, int B, int H, int W, int Ca, int Ct, int perm,
                     qs_cuda_act act, cudaStream_t s);

/* ---- pool.cu ----------------------------------------------------------------------
 * y [B, C] = mean over H*W of act(x) for x [B, H*W, C] (act rounded to dt, fp32 sums). */
int qs_avgpool_launch(qs_dtype dt, const void *x, void *y, int B, int HW, int C, qs_cuda_act act, cudaStream_t s);

/* ---- calibrate.cu (qsweep calibrate) -------------------------------------------------
 * p [n] of type t = pseudo-random values in [-1, 1) (int8: [-127, 127]) from seed. */
typedef enum { QS_CALIB_F32 = 0, QS_CALIB_F16, QS_CALIB_BF16, QS_CALIB_I8, QS_CALIB_E4M3 } qs_calib_type;
int qs_calib_fill_launch(qs_calib_type t, void *p, int64_t n, uint32_t seed, cudaStream_t s);

/* ---- fault.cu ---------------------------------------------------------------------
 * Device faults on purpose (the backend's .fault, a test switch run only in a cell's
 * worker process). The first launches one thread that stores to an unmapped address: the
 * next synchronisation returns cudaErrorIllegalAddress, sticky for the process's context.
 * The second launches a kernel that spins forever: the synchronisation never returns. */
int qs_fault_illegal_address_launch(cudaStream_t s);
int qs_fault_spin_launch(cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
