/* quant.h - the CPU quantization reference: fp16 and bf16 GEMMs, NF4, LLM.int8,
 * fp8 e4m3 and int8 with dynamic per-token scales (int8dyn).
 *
 * This file is the exact definition the CUDA kernels are tested against bit for
 * bit. Every rounding step is written down below; a kernel that computes the
 * same quantities must perform the same steps in the same order. All matrices
 * are row-major. A weight matrix has the nn.Linear layout [N, K] (N outputs,
 * K inputs), and a linear layer computes y[M, N] = x[M, K] * W^T + bias.
 *
 * Notation: h(v) is round-to-nearest-even of the fp32 value v to fp16 and back
 * (qs_round_half, = __half2float(__float2half_rn(v))). b(v) is the same to
 * bfloat16 (qs_round_bf16, = __bfloat162float(__float2bfloat16_rn(v))).
 * e(v) is round-to-nearest-even to fp8 e4m3 in the OCP "FN" variant with
 * saturation (qs_round_e4m3, = the value of __nv_cvt_float_to_fp8(v,
 * __NV_SATFINITE, __NV_E4M3)): 1 sign, 4 exponent bits (bias 7), 3 mantissa
 * bits, no infinities, NaN 0x7f / 0xff, largest finite 448 (0x7e), smallest
 * normal 2^-6, subnormals m * 2^-9 (m = 1..7); |v| > 448 and +-inf give +-448,
 * a NaN gives 0x7f (qs_half.h writes the encoders and decoders out).
 * "fp32 a op b" is one IEEE single-precision operation, rounded to nearest
 * even. No other rounding happens anywhere.
 *
 * ---------------------------------------------------------------------------
 * 1. fp16 GEMM (the fp16 forward, the NF4 path, the int8 outlier path)
 *
 *   xh = h(x), wh = h(w), bh = h(bias).
 *   For every (m, n) there are 8 fp32 partial sums P[0..7], all starting at
 *   +0.0f. For k = 0, 1, ..., K-1 in increasing order:
 *       P[k mod 8] = fp32 P[k mod 8] + (xh[m,k] * wh[n,k])
 *   The product of two fp16 values is exact in fp32 (22 significant bits, and
 *   |p| in [2^-48, 65504^2]), so a fused multiply-add gives the same bits as a
 *   multiply followed by an add. Every partial sum is a multiple of 2^-48, so
 *   it is either 0 or an fp32 normal: flushing subnormals (-ftz) changes nothing.
 *   The partial sums are then combined pairwise, exactly in this tree:
 *       S = ((P0 + P1) + (P2 + P3)) + ((P4 + P5) + (P6 + P7))
 *   With a bias: S = fp32 S + bh[n]. Finally y[m,n] = h(S).
 *   A kernel that splits K over threads or warps must keep this assignment of
 *   k to lanes and this combination tree (e.g. a k-tile of width 8r keeps 8
 *   per-lane sums, each walked in increasing k).
 *
 * ---------------------------------------------------------------------------
 * 2. NF4 (bitsandbytes 4-bit NormalFloat, weight only)
 *
 *   The matrix [rows, cols] is flattened row-major into n = rows*cols values
 *   and cut into blocks of `block` consecutive values; the last block holds
 *   the remaining n mod block values when block does not divide n.
 *   absmax[b] = max |w| over the block (fp32, exact).
 *   v = fp32 w / absmax[b] (one correctly rounded division; |v| <= 1).
 *   idx = the index of the nearest codebook value to v; on an exact tie the
 *   lower index. Equivalently idx = number of i in 0..14 with v > T[i], where
 *   T[i] = qs_nf4_threshold[i] is the largest fp32 <= the exact midpoint
 *   (code[i] + code[i+1]) / 2. A block whose absmax is 0 gets idx 7 (code 0.0).
 *   Packing: element 2j goes into the HIGH nibble of byte j, element 2j+1 into
 *   the low nibble (bitsandbytes' order). When n is odd the last low nibble
 *   is 0. Non-finite weights are refused (QS_EINVAL).
 *
 *   Double quantization (optional, second level over the absmax values):
 *   offset = (float)(sum over b of (double)absmax[b], in b order, / nblocks).
 *   d[b]   = fp32 absmax[b] - offset.
 *   The d values are grouped by QS_NF4_DQ_GROUP (256) consecutive blocks, the
 *   last group possibly partial. scale[g] = fp32 (max over the group of |d|) / 127.
 *   code[b] = rintf(fp32 d[b] / scale[g]) (ties to even), clamped to [-127, 127];
 *   code 0 when scale[g] == 0.
 *   Reconstructed absmax: a[b] = fp32 (fp32 (float)code[b] * scale[g]) + offset,
 *   two separately rounded operations (no fused multiply-add; in CUDA
 *   __fadd_rn(__fmul_rn((float)c, s), offset)).
 *   bitsandbytes quantizes the second level with its 8-bit dynamic map;
 *   qsweep uses this linear int8 absmax scheme instead. The 4-bit indices are
 *   always chosen with the exact fp32 absmax, as bitsandbytes does.
 *
 *   Dequantization: w' = fp32 code[idx] * a[b] (a = absmax, or the
 *   reconstructed absmax with double quantization).
 *   NF4 linear: y = fp16 GEMM (section 1) of x with w' (so the GEMM sees
 *   h(fp32 code[idx] * a[b]), an fp32 product then one rounding to fp16, as
 *   the GPU's on-the-fly fp16 weight fragments).
 *
 * ---------------------------------------------------------------------------
 * 3. int8 (LLM.int8, bitsandbytes)
 *
 *   Weights (host side): s_w[n] = max_k |w[n,k]| (fp32, exact);
 *   q[n,k] = rintf(fp32 (fp32 w * 127.0f) / s_w[n]), clamped to [-127, 127];
 *   q = 0 for a row whose s_w is 0. Non-finite weights are refused.
 *
 *   Forward, for an activation x [M, K] (the GPU's activations are fp16):
 *   - xh = h(x).
 *   - Outlier columns: column k is an outlier when |xh[m,k]| >= threshold for
 *     some row m (threshold <= 0 disables the decomposition; a NaN is never an
 *     outlier, an inf is one when enabled).
 *   - s_x[m] = max |xh[m,k]| over the non-outlier columns, where the maximum
 *     propagates NaN (NaN > inf > every finite value): on the GPU the maximum of
 *     the fp16 magnitude bits (bits & 0x7fff) as unsigned integers. 0 when the
 *     row has no non-outlier column.
 *   - xq[m,k] = rintf(fp32 (xh * 127.0f) / s_x[m]) clamped to [-127, 127]
 *     (xh * 127 is exact in fp32, so only the division rounds; in CUDA
 *     __float2int_rn(__fdiv_rn(xh * 127.0f, s_x))); a NaN quotient gives 0,
 *     as __float2int_rn does; xq = 0 in outlier columns and in rows with s_x == 0.
 *   - acc[m,n] = sum over k of xq[m,k] * q[n,k], exact in int32 (K is limited
 *     to QS_INT8_MAX_K so that it cannot overflow).
 *   - d = fp32 ((fp32 ((fp32 (float)acc * s_x[m]) * s_w[n])) * QS_INT8_DEQ),
 *     evaluated left to right, QS_INT8_DEQ = 1.0f/16129.0f (= bitsandbytes'
 *     MM_DEQUANT_CONST 6.200012e-05f, the same float); (float)acc rounds to
 *     nearest even (__int2float_rn). A row with s_x == 0 has acc 0 and d = 0.
 *   - Outlier part o[m,n]: the fp16 GEMM of section 1 without bias (its result
 *     rounded to fp16) over the gathered outlier columns, taken in increasing
 *     column order (the j-th outlier column goes to lane j mod 8), with the
 *     dequantized weights wo[n,k] = h(fp32 (fp32 (float)q[n,k] * s_w[n]) / 127.0f)
 *     (bitsandbytes keeps only the int8 weights). o = +0.0f when there are no
 *     outlier columns.
 *   - y[m,n] = h(fp32 (fp32 d + o) + h(bias[n])), or h(fp32 d + o) without a bias.
 *
 * ---------------------------------------------------------------------------
 * 4. bf16 GEMM (the bf16 forward)
 *
 *   Section 1 with b() in place of every h(): xb = b(x), wb = b(w), bb = b(bias);
 *   the same 8 lane sums P[k mod 8] = fp32 P[k mod 8] + fp32 (xb[m,k] * wb[n,k]),
 *   the same tree, S = fp32 S + bb[n] with a bias, y[m,n] = b(S).
 *   A product of two bf16 values has at most 16 significant bits, so it is exact
 *   in fp32 (and an FMA gives the same bits) whenever it is 0 or its magnitude
 *   lies in [2^-126, FLT_MAX]; bf16 keeps fp32's exponent range, so products of
 *   tiny values can fall below it, and there the reference's rounded product
 *   (no FMA, no flush to zero) is the definition.
 *   The bf16 forward is the fp16 forward with b() for h() everywhere: weights,
 *   activations and every operator's output are bf16, products are summed in fp32.
 *
 * ---------------------------------------------------------------------------
 * 5. fp8 (e4m3 weights per output channel, e4m3 activations per token)
 *
 *   Weights (host side): a[n] = max_k |w[n,k]| (fp32, exact);
 *   s_w[n] = fp32 a[n] / 448.0f; q[n,k] = e4m3 code of fp32 w[n,k] / s_w[n]
 *   (one correctly rounded division, then e(); the saturation catches a
 *   quotient a hair above 448). q = 0 (code 0x00) for a row whose s_w is 0.
 *   Non-finite weights are refused (QS_EINVAL). Stored: N*K code bytes and N
 *   fp32 scales.
 *
 *   Forward, for an activation x [M, K] (the rest of the model is fp16):
 *   - xh = h(x).
 *   - s_x[m] = fp32 (max_k |xh[m,k]|) / 448.0f, the maximum propagating NaN as
 *     in section 3; xq[m,k] = e(fp32 xh[m,k] / s_x[m]); xq = 0 in a row whose
 *     s_x is 0.
 *   - acc[m,n]: the 8 lane sums and the tree of section 1 over the decoded
 *     values, P[k mod 8] = fp32 P[k mod 8] + (xq[m,k] * q[n,k]). The product of
 *     two e4m3 values has at most 8 significant bits and |p| in [2^-18, 448^2]:
 *     exact in fp32, so an FMA gives the same bits, and every partial sum is a
 *     multiple of 2^-18 (0 or an fp32 normal: flushing subnormals changes nothing).
 *   - d = fp32 (fp32 acc * s_x[m]) * s_w[n], left to right.
 *   - y[m,n] = h(fp32 d + h(bias[n])), or h(d) without a bias.
 *   (Hopper's fp8 tensor cores do not sum in this order, and their accumulator
 *   is reported to keep fewer mantissa bits than fp32; a tensor-core kernel
 *   meets this reference within a tolerance, not bit for bit, unless it adds
 *   its partial products in fp32 in the order above.)
 *
 * ---------------------------------------------------------------------------
 * 6. int8dyn (int8 weights per channel, int8 activations per token, dynamic)
 *
 *   torchao's W8A8 dynamic scheme: section 3 with the outlier decomposition
 *   off (threshold 0), i.e. the same weights (s_w[n] = absmax, q = rintf((w *
 *   127) / s_w)), s_x[m] = the NaN-propagating max |xh[m,k]| over every column,
 *   xq = rintf((xh * 127) / s_x) clamped to [-127, 127], exact int32 acc,
 *   d = fp32 ((fp32 ((fp32 (float)acc * s_x[m]) * s_w[n])) * QS_INT8_DEQ),
 *   o = +0.0f, y[m,n] = h(fp32 (fp32 d + o) + h(bias[n])), or h(fp32 d + o)
 *   without a bias (the + o turns a -0.0 into +0.0). (torchao divides by the
 *   scale absmax / 127 instead of multiplying by 127 and dividing by absmax;
 *   the quotients can differ in the last place, and so, rarely, a code by one.)
 *
 * Under nvcc --use_fast_math the divisions above must be __fdiv_rn and the
 * multiply/add chains must be kept from contracting into FMAs (__fmul_rn,
 * __fadd_rn) except in the fp16 GEMM, where an FMA is exact (see section 1).
 */
#ifndef QS_QUANT_H
#define QS_QUANT_H

#include <stdint.h>

/* ---- fp16 GEMM ------------------------------------------------------------ */

/* y[M,N] = h(x[M,K] * w[N,K]^T + bias[N]) with the accumulation of section 1.
 * bias may be NULL. y must not alias x, w or bias. Returns QS_OK or QS_E*. */
int qs_gemm_f16_ref(const float *x, const float *w, const float *bias,
                    int64_t M, int64_t N, int64_t K, float *y);

/* ---- bf16 GEMM ------------------------------------------------------------ */

/* y[M,N] = b(x[M,K] * w[N,K]^T + bias[N]) with the accumulation of section 4. */
int qs_gemm_bf16_ref(const float *x, const float *w, const float *bias,
                     int64_t M, int64_t N, int64_t K, float *y);

/* ---- NF4 ------------------------------------------------------------------- */

#define QS_NF4_BLOCK_DEFAULT 64
#define QS_NF4_DQ_GROUP 256

/* The 16 NF4 codebook values (DESIGN.md) and the 15 decision thresholds:
 * idx = #{ i : v > qs_nf4_threshold[i] } (section 2). */
extern const float qs_nf4_code[16];
extern const float qs_nf4_threshold[15];

typedef struct {
  int64_t rows, cols;   /* logical shape (for a linear layer: [N, K]) */
  int64_t n;            /* rows * cols */
  int block;            /* values per absmax block */
  int64_t nblocks;      /* ceil(n / block) */
  uint8_t *packed;      /* ceil(n / 2) bytes of 4-bit indices, high nibble first */
  /* The absmax each block dequantizes with: the exact fp32 absmax without
   * double quantization (then this array is the stored form); with double
   * quantization the values reconstructed from absmax_q / absmax_scale /
   * absmax_offset (then it is a convenience copy, not part of the footprint). */
  float *absmax;        /* [nblocks] */
  int double_quant;     /* 1: the stored form of the absmax is the three fields below */
  int64_t ngroups;      /* ceil(nblocks / QS_NF4_DQ_GROUP); 0 without double quantization */
  int8_t *absmax_q;     /* [nblocks] second-level codes, NULL without double quantization */
  float *absmax_scale;  /* [ngroups] */
  float absmax_offset;  /* mean of the fp32 absmax values */
} qs_nf4_matrix;

/* Quantize w [rows, cols] to NF4 (section 2). block >= 1 (64 is bitsandbytes'
 * default); double_quant 0 or 1. On success *out owns its arrays (qs_nf4_free);
 * on failure *out is left empty. */
int qs_nf4_quantize(const float *w, int64_t rows, int64_t cols, int block,
                    int double_quant, qs_nf4_matrix *out);
/* The 4-bit index of flattened element i. */
static inline int qs_nf4_index(const qs_nf4_matrix *m, int64_t i) {
  uint8_t b = m->packed[i >> 1];
  return (i & 1) ? (b & 0x0f) : (b >> 4);
}
/* w [rows, cols] = fp32 code[idx] * absmax[block] (fp32 values, not yet fp16). */
void qs_nf4_dequantize(const qs_nf4_matrix *m, float *w);
/* y[M, N] = fp16 GEMM of x[M, K] with the dequantized W [N, K] (section 2);
 * bias [N] or NULL. */
int qs_nf4_linear_ref(const float *x, const qs_nf4_matrix *W, const float *bias,
                      int64_t M, float *y);
/* Bytes the packed weights occupy: ceil(n/2) nibble bytes + 4 * nblocks
 * (fp32 absmax), or with double quantization nblocks (int8 codes) +
 * 4 * ngroups (fp32 scales) + 4 (fp32 offset). */
int64_t qs_nf4_bytes(int64_t rows, int64_t cols, int block, int double_quant);
void qs_nf4_free(qs_nf4_matrix *m);

/* ---- int8 (LLM.int8) -------------------------------------------------------- */

#define QS_INT8_THRESHOLD_DEFAULT 6.0f
#define QS_INT8_DEQ (1.0f / 16129.0f)
/* 127 * 127 * K must fit in int32. */
#define QS_INT8_MAX_K ((int64_t)(INT32_MAX / (127 * 127)))

typedef struct {
  int64_t N, K;
  int8_t *q;     /* [N, K] */
  float *scale;  /* s_w [N]: the fp32 absmax of each output row */
} qs_int8_matrix;

/* Quantize w [N, K] per output row (section 3). */
int qs_int8_quantize_weight(const float *w, int64_t N, int64_t K, qs_int8_matrix *out);
/* The LLM.int8 forward of section 3: y [M, N] (fp16 values in floats).
 * Optional outputs (NULL to skip): acc_out [M, N] the raw int32 accumulators;
 * outlier_cols_out [K] 1 for an outlier column, else 0; n_outliers their count. */
int qs_int8_linear_ref(const float *x, int64_t M, const qs_int8_matrix *W,
                       const float *bias, float threshold, float *y,
                       int32_t *acc_out, int *outlier_cols_out, int *n_outliers);
/* Bytes of the quantized weights: N*K int8 + 4*N fp32 scales. */
int64_t qs_int8_bytes(int64_t N, int64_t K);
void qs_int8_free(qs_int8_matrix *m);

/* ---- int8dyn (int8 with dynamic per-token scales) ----------------------------- */

/* The forward of section 6 (weights from qs_int8_quantize_weight): y [M, N];
 * acc_out [M, N] the raw int32 accumulators, or NULL. */
int qs_int8dyn_linear_ref(const float *x, int64_t M, const qs_int8_matrix *W,
                          const float *bias, float *y, int32_t *acc_out);
/* Bytes of the quantized weights: N*K int8 + 4*N fp32 scales. */
int64_t qs_int8dyn_bytes(int64_t N, int64_t K);

/* ---- fp8 e4m3 ---------------------------------------------------------------- */

typedef struct {
  int64_t N, K;
  uint8_t *q;    /* [N, K] e4m3 codes */
  float *scale;  /* s_w [N] = absmax / 448 */
} qs_fp8_matrix;

/* Quantize w [N, K] per output row (section 5). */
int qs_fp8_quantize_weight(const float *w, int64_t N, int64_t K, qs_fp8_matrix *out);
/* The fp8 forward of section 5: y [M, N] (fp16 values in floats). Optional
 * outputs (NULL to skip): acc_out [M, N] the fp32 sums of products before the
 * scales, sx_out [M] the activation scales s_x. */
int qs_fp8_linear_ref(const float *x, int64_t M, const qs_fp8_matrix *W,
                      const float *bias, float *y, float *acc_out, float *sx_out);
/* Bytes of the quantized weights: N*K e4m3 codes + 4*N fp32 scales. */
int64_t qs_fp8_bytes(int64_t N, int64_t K);
void qs_fp8_free(qs_fp8_matrix *m);

#endif
