/* qs_quant_cuda.h - the quantized Linear kernels (LLM.int8 and NF4) of the CUDA
 * backend, as extern "C" launchers on device pointers and a cudaStream_t.
 *
 * Arithmetic: exactly that of src/quant/quant.h (sections 1-3); the comments below say
 * where a kernel is bit-exact with qs_int8_linear_ref / qs_nf4_linear_ref and
 * where it is within fp16 accumulation tolerance.
 *
 * Every launcher checks its preconditions, launches on the given stream without
 * any host synchronisation, allocation or device-to-host copy (so every call is
 * capturable into a CUDA graph), checks cudaGetLastError and returns QS_OK or a
 * QS_E* status with a message recorded by qs_fail. fp16 tensors are IEEE binary16
 * passed as void * / uint16_t *. All matrices are row-major; a weight matrix has
 * the nn.Linear layout [N, K]. Device pointers must be 16-byte aligned unless
 * said otherwise (cudaMalloc and a 256-byte arena give that).
 *
 * ---------------------------------------------------------------------------
 * LLM.int8 forward of one Linear (y[M,N] = x[M,K] W[N,K]^T + bias), three steps:
 *
 *   qs_int8_quant_launch   x fp16 -> xq int8, s_x, the outlier column set
 *                          (count + increasing list, on the device only) and the
 *                          gathered outlier activations xo [M, n_out] (fp16).
 *   qs_int8_outlier_launch the outlier fp16 GEMM into obuf, only when the
 *                          device-side count exceeds QS_INT8_FUSED_OUTLIERS; it
 *                          reads the count and returns at once otherwise.
 *   qs_int8_gemm_launch    int8 x int8 -> int32 on tensor cores, epilogue:
 *                          dequantize with s_x and s_w, add the outlier part
 *                          (computed in the epilogue itself for up to
 *                          QS_INT8_FUSED_OUTLIERS columns, else read from obuf),
 *                          + bias, optional exact-erf GELU, fp16 out.
 *
 * The outlier count is known only on the device; no step ever copies it to the
 * host: kernels read it and branch. Launch the three in this order on one stream;
 * qs_int8_quant_outlier_launch does the first two in one kernel (the CUDA plan's way).
 * ------------------------------------------------------------------------- */
#ifndef QS_QUANT_CUDA_H
#define QS_QUANT_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Outlier columns up to this count are multiplied inside the int8 GEMM's
 * epilogue (no extra pass, no M x N buffer traffic); more go through obuf. */
#define QS_INT8_FUSED_OUTLIERS 64

/* The activation-side buffers of one int8 Linear (all device memory, given by
 * the plan; they may be shared by every Linear of the same M and max K that
 * runs in sequence on one stream). */
typedef struct {
  int8_t *xq;      /* [M, K] quantized activations (0 in outlier columns) */
  float *sx;       /* [M] per-token scale s_x (the fp16 absmax, as fp32) */
  int *n_out;      /* [1] number of outlier columns */
  int *cols;       /* [K] the outlier columns in increasing order (first n_out valid) */
  uint16_t *xo;    /* [M * K] capacity: fp16 outlier activations, dense [M, n_out] */
  uint32_t *state; /* [qs_int8_state_words(K)]: grid barrier and column tags */
} qs_int8_act;

/* 32-bit words of qs_int8_act.state for inputs of up to K columns. */
size_t qs_int8_state_words(int K);
/* Initialise state once after allocating it (a memset on the stream; the state
 * then stays valid across any number of calls and graph replays). */
int qs_int8_state_init(uint32_t *state, int K, cudaStream_t s);

/* Quantize the activations x fp16 [M, K] (section 3 of quant.h): outlier
 * columns (|x| >= threshold in any row; threshold <= 0 disables them), s_x over
 * the non-outlier columns (NaN-propagating fp16 magnitude), xq, n_out, cols, xo.
 * One cooperative kernel (a persistent grid with one grid-wide barrier).
 * Preconditions: M >= 1; 8 <= K, K % 8 == 0; x 16-byte aligned. The state must
 * not be used by two launches that can run concurrently. Bit-exact with the
 * reference (xq, s_x and the column set). */
int qs_int8_quant_launch(const uint16_t *x, int M, int K, float threshold, const qs_int8_act *a,
                         cudaStream_t s);

/* The outlier part for more than QS_INT8_FUSED_OUTLIERS outlier columns:
 * obuf fp16 [M, N] = the fp16 GEMM of section 1 (8 lanes, same combination tree,
 * rounded to fp16, no bias) of xo [M, n_out] with the dequantized weight columns
 * h((q[n, c] * s_w[n]) / 127). Bit-exact with the reference's outlier part.
 * Reads n_out on the device and does nothing when n_out <= QS_INT8_FUSED_OUTLIERS
 * (n_out == 0 where qs_int8_gemm_uses_sm90: that kernel reads every outlier part
 * from obuf), so it may always be launched (obuf may then be NULL only if the caller knows
 * the count can never exceed the fused limit: pass obuf = NULL to skip the launch). */
int qs_int8_outlier_launch(const qs_int8_act *a, const int8_t *wq, const float *sw, int M, int N, int K,
                           uint16_t *obuf, cudaStream_t s);

/* qs_int8_quant_launch, then in the same kernel what qs_int8_outlier_launch(a, wq, sw,
 * M, N, K, obuf) would do (the outlier part into obuf when the device-side count calls
 * for it, after a second grid-wide barrier): one launch a Linear instead of two, and
 * nothing beyond the quantization when there is no outlier column. obuf NULL: exactly
 * qs_int8_quant_launch. Bit-exact with the two launches. */
int qs_int8_quant_outlier_launch(const uint16_t *x, int M, int K, float threshold, const qs_int8_act *a,
                                 const int8_t *wq, const float *sw, int N, uint16_t *obuf, cudaStream_t s);

/* Epilogue modes of qs_int8_gemm_launch. */
enum {
  QS_INT8_OUT_F16 = 0,      /* y fp16 = dequantized + outliers (+ bias) */
  QS_INT8_OUT_F16_GELU = 1, /* the same, then y = h(gelu(y)) (exact erf, as qs_gelu_launch) */
  QS_INT8_OUT_ACC = 2       /* y int32 [M, N] = the raw accumulators (testing) */
};

/* y [M, N] = int8 Linear: acc = xq * wq^T (int32, exact), then per quant.h
 * d = ((float)acc * s_x[m]) * s_w[n] * (1/16129), + outlier part, + h(bias[n]),
 * rounded to fp16 (and GELU). wq int8 [N, K] and sw fp32 [N] are the weights of
 * qs_int8_quantize_weight; bias fp16 [N] or NULL; obuf as given to
 * qs_int8_outlier_launch (read only when n_out > QS_INT8_FUSED_OUTLIERS).
 * mma.sync m16n8k32 s8 tensor-core kernel, 4-stage cp.async pipeline.
 * Preconditions: M, N >= 1; K >= 16, K % 16 == 0, K <= QS_INT8_MAX_K; xq, wq 16-byte
 * aligned; for the fp16 modes N % 2 == 0. Bit-exact with the reference when
 * n_out <= QS_INT8_FUSED_OUTLIERS or obuf came from qs_int8_outlier_launch. */
int qs_int8_gemm_launch(const qs_int8_act *a, const int8_t *wq, const float *sw, const uint16_t *bias,
                        const uint16_t *obuf, int M, int N, int K, int mode, void *y, cudaStream_t s);

/* Hopper (compute capability 9.0, built for sm_90a): the same GEMM and epilogue with
 * wgmma and TMA (int8_gemm_sm90.cu), bit-exact with qs_int8_gemm_launch's other
 * kernels. qs_int8_gemm_launch uses it by itself for every M (even N, and obuf given)
 * where available (on an H200 it beats the mma.sync tiles at batch 1 as well: ViT-B's
 * four Linears at M 197 take 33.9 us against 76.9), and qs_int8_splitk_choose then
 * answers 1; call it directly only to pick the tile width: bn 256 (128 x 256
 * tiles), 128 (128 x 128), QS_SM90_PINGPONG (each consumer warpgroup on its own
 * 128 x 128 tiles, one's epilogue under the other's main loop) or 0 (chosen from
 * the shape). Preconditions of
 * qs_int8_gemm_launch, N even, sw 8-byte and bias 4-byte aligned.
 * qs_int8_sm90_available: 1 if the current device can run it. */
#define QS_INT8_SM90_MIN_M 1
/* bn of the ping-pong schedule (int8 and fp8 sm_90a kernels) */
#define QS_SM90_PINGPONG 1
/* bn of the NF4 wgmma kernel's 256 x 128 tiles */
#define QS_NF4_SM90_TALL 2
/* the NF4 wgmma kernel (nf4_gemm_sm90.cu) from this many rows */
#define QS_NF4_SM90_MIN_M 512
int qs_int8_sm90_available(void);
/* 1 if qs_int8_gemm_launch takes the sm_90a kernel for this shape and obuf (it needs
 * obuf: that kernel reads every outlier part from it, so qs_int8_outlier_launch then
 * fills obuf for any outlier count; give both launchers the same obuf). */
int qs_int8_gemm_uses_sm90(int M, int N, int K, const uint16_t *obuf);
int qs_int8_gemm_sm90_launch(const qs_int8_act *a, const int8_t *wq, const float *sw, const uint16_t *bias,
                             const uint16_t *obuf, int M, int N, int K, int mode, void *y, int bn, cudaStream_t s);

/* fp8 e4m3 (quant.h section 5). qs_fp8_quant_launch: xq [M, K] e4m3 codes and s_x [M]
 * of the activations x fp16 [M, K], per token, bit-exact with the reference
 * (fp8_quant.cu; M >= 1, K % 8 == 0, x 16-byte and xq 8-byte aligned).
 * qs_fp8_gemm_sm90_launch: y fp16 [M, N] = fp8 Linear of xq / s_x with the weight
 * codes wq [N, K] and s_w [N] (+ h(bias), then GELU in mode QS_INT8_OUT_F16_GELU;
 * QS_INT8_OUT_ACC writes the fp32 sums as 32-bit words): the sm_90a kernel of
 * int8_gemm_sm90.cu with e4m3 wgmma and fp32 accumulation, which sums in the tensor
 * cores' order, so y meets the reference within a tolerance, not bit for bit.
 * Compute capability 9.0 only; K % 16 == 0, N even; bn as for int8. */
int qs_fp8_quant_launch(const uint16_t *x, int M, int K, uint8_t *xq, float *sx, cudaStream_t s);
int qs_fp8_gemm_sm90_launch(const uint8_t *xq, const float *sx, const uint8_t *wq, const float *sw,
                            const uint16_t *bias, int M, int N, int K, int mode, void *y, int bn, cudaStream_t s);

/* Split-K for small M (latency-bound at batch 1: too few CTAs for the chip).
 * qs_int8_splitk_choose: the number of K slices for this shape (1: use
 * qs_int8_gemm_launch). qs_int8_gemm_splitk_launch: each slice's CTAs write the
 * exact int32 partial accumulators of their k-range to ws [splits, M, N]; a
 * second kernel sums them (exact in any order) and applies the whole epilogue of
 * qs_int8_gemm_launch, the outlier part included for any outlier count (so no
 * qs_int8_outlier_launch and no obuf are needed). Bit-exact with the reference.
 * gelu: 0 or 1. Preconditions as qs_int8_gemm_launch, N even, ws 8-byte aligned
 * with room for splits * M * N int32. */
int qs_int8_splitk_choose(int M, int N, int K);
int qs_int8_gemm_splitk_launch(const qs_int8_act *a, const int8_t *wq, const float *sw, const uint16_t *bias, int M,
                               int N, int K, int gelu, int splits, int32_t *ws, void *y, cudaStream_t s);

/* ---------------------------------------------------------------------------
 * NF4 weight-only Linear: y fp16 [M, N] = x fp16 [M, K] * W^T (+ bias), W NF4
 * [N, K] in quant.h's layout (flattened row-major, blocks of 64 consecutive
 * values, element 2j in the high nibble of byte j), dequantized on the fly
 * inside the GEMM's main loop straight into fp16 tensor-core fragments
 * (w = h(code[idx] * absmax)); fp32 accumulation on mma.sync m16n8k16; no
 * dequantized weight copy and no allocation. The accumulation order differs
 * from qs_nf4_linear_ref's 8 lanes: agreement is to fp32 rounding of the sums
 * plus one fp16 rounding of the output. */
typedef struct {
  const uint8_t *packed; /* [N * K / 2] nibbles, high first */
  /* Plain absmax: absmax fp32 [N * K / 64]; absmax_q must be NULL. */
  const float *absmax;
  /* Double quantization (absmax NULL): absmax_q int8 [N*K/64] (4-byte aligned),
   * absmax_scale fp32 [ceil(nblocks / 256)], absmax_offset; the block's absmax is
   * __fadd_rn(__fmul_rn((float)q, scale), offset) as in quant.h. */
  const int8_t *absmax_q;
  const float *absmax_scale;
  float absmax_offset;
} qs_nf4_weight;

/* Preconditions: M, N >= 1; K % 64 == 0 (block 64, so no block straddles a row);
 * N % 2 == 0; x, packed 16-byte aligned. gelu: 0 or 1 (y = h(gelu(h(acc + bias)))).
 * M <= 16 takes the split-K GEMV kernel (bandwidth-bound on the 4.5-bit weights),
 * larger M the tiled tensor-core kernel. */
int qs_nf4_gemm_launch(const uint16_t *x, const qs_nf4_weight *w, const uint16_t *bias, int M, int N, int K,
                       int gelu, uint16_t *y, cudaStream_t s);

/* Hopper (compute capability 9.0, sm_90a build): each weight tile dequantized once
 * into shared memory (w = h(code * absmax), 128-byte swizzled) by the consumer
 * warpgroups, a stage ahead of their fp16 wgmma with fp32 accumulation, the epilogue
 * of qs_nf4_gemm_launch; the same tolerance against the reference.
 * qs_nf4_gemm_launch uses it by itself for M >= QS_NF4_SM90_MIN_M where available;
 * bn 256 (128 x 256 tiles), 128 (128 x 128), QS_NF4_SM90_TALL (256 x 128: never
 * chosen by itself until its speed is measured) or 0 (256 or 128, from the shape).
 * Preconditions of qs_nf4_gemm_launch (K % 64 == 0, block 64, N even). */
int qs_nf4_gemm_sm90_launch(const uint16_t *x, const qs_nf4_weight *w, const uint16_t *bias, int M, int N, int K,
                            int gelu, int bn, uint16_t *y, cudaStream_t s);

/* Split-K NF4 for small M: qs_nf4_splitk_choose gives the K slices (1: use
 * qs_nf4_gemm_launch); qs_nf4_gemm_splitk_launch writes fp32 partial sums to ws
 * [splits, M, N] and reduces them in slice order (deterministic), then + bias,
 * fp16, GELU as qs_nf4_gemm_launch. Preconditions of the tiled kernel. */
int qs_nf4_splitk_choose(int M, int N, int K);
int qs_nf4_gemm_splitk_launch(const uint16_t *x, const qs_nf4_weight *w, const uint16_t *bias, int M, int N, int K,
                              int gelu, int splits, float *ws, uint16_t *y, cudaStream_t s);

/* NF4 Linear for any K and block size (quant.h's flattened layout: blocks may
 * straddle rows): shared-memory tiles of h(code * absmax), the reference's 8-lane
 * fp32 accumulation and tree: bit-exact with qs_nf4_linear_ref (then GELU if
 * gelu). For the shapes the tensor-core kernels do not take (K % 64 != 0, e.g.
 * MobileViT's widths 80, 144, 240). */
int qs_nf4_gemm_generic_launch(const uint16_t *x, const qs_nf4_weight *w, int block, const uint16_t *bias, int M,
                               int N, int K, int gelu, uint16_t *y, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
