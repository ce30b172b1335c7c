/* cpu_ops.h - fp32 reference operators of the CPU backend.
 * Layouts are row-major; Linear weights are HF's [out, in]. Summation orders are
 * fixed (independent of thread count), so results are identical run to run. */
#ifndef QS_CPU_OPS_H
#define QS_CPU_OPS_H

#include <stdint.h>

#include "arch.h"

/* y[M,N] = x[M,K] w[N,K]^T (+ b[N]). Each output is summed as 8 interleaved
 * partial sums over k (k mod 8), the tail, then pairwise. */
void qs_cpu_gemm_nt(const float *x, const float *w, const float *b, int64_t M, int64_t N, int64_t K, float *y);
/* y[M,D] = LayerNorm(x) with biased variance (statistics in double). y may alias x. */
void qs_cpu_layernorm(const float *x, const float *g, const float *b, int64_t M, int64_t D, float eps, float *y);
void qs_cpu_act(float *x, int64_t n, qs_act act); /* in place */
/* Multi-head attention over one batch of tokens.
 * q, k, v: [B, N, H*hd] (token-major); out: [B, N, H*hd].
 * bias: optional [H, N, N] added to the scaled scores before softmax. */
void qs_cpu_attention(const float *q, const float *k, const float *v, const float *bias, int B, int N, int H,
                      int hd, float *out);
/* PyTorch's bicubic resize (A = -0.75, align_corners=False, clamped taps) of
 * src [C, hin, win] to dst [C, hout, wout], fp32 arithmetic as PyTorch's CPU kernel. */
void qs_cpu_bicubic(const float *src, int C, int hin, int win, float *dst, int hout, int wout);
/* A ViT-family position table at another grid: tab [extra + G*G, D] (the leading CLS /
 * distillation rows, then the patch grid), out [extra + g*g, D]: the leading rows kept,
 * the grid resized with qs_cpu_bicubic (HF's interpolate_pos_encoding). QS_OK or QS_ENOMEM. */
int qs_cpu_resize_pos_table(const float *tab, int D, int extra, int G, int g, float *out);
/* BEiT's relative position table [(2G-1)^2 + 3, H] of a G x G grid resized to g x g
 * (out: [(2g-1)^2 + 3, H]), bilinearly as HF's BeitRelativePositionBias. */
int qs_cpu_resize_rel_table(const float *tab, int H, int G, int g, float *out);

#endif
