/* cpu_conv.h - convolutional operators of the CPU reference (MobileViT).
 *
 * Feature maps are NHWC ([B, H, W, C], channels fastest), so a 1x1 convolution
 * is a plain GEMM and a pixel's channels are contiguous. Convolution weights
 * keep PyTorch's layout [Cout, Cin/groups, k, k].
 *
 * Precision: rnd is a storage type of qs_half.h. With rnd = QS_ROUND_NONE (0)
 * everything is fp32. With QS_ROUND_F16 (1) or QS_ROUND_BF16 (2) a convolution has
 * fp16 (bf16) semantics: inputs and weights are rounded to fp16 (bf16), products
 * are summed in fp32 and the output is rounded to fp16 (bf16) (the GEMM path
 * follows quant.h section 1 (4)). The other operators compute in fp32 and round
 * their output to the storage type. */
#ifndef QS_CPU_CONV_H
#define QS_CPU_CONV_H

#include <stdint.h>

/* Output side of a convolution: (h + 2 pad - k) / stride + 1. */
int qs_cpu_conv_out(int h, int k, int stride, int pad);

/* y[B, Ho, Wo, Cout] = conv2d(x[B, H, W, Cin], w) with zero padding `pad`, no bias.
 * Cin and Cout must be multiples of groups. Returns QS_OK or QS_ENOMEM / QS_EINVAL.
 * groups == 1 is an im2col GEMM (qs_cpu_gemm_nt, or quant.h's fp16 / bf16 GEMM) whose
 * reduction index is (ky * k + kx) * Cin + ci, so a GPU kernel walking K in that
 * order reproduces the fp16 result bit for bit. Depthwise and other grouped
 * convolutions sum taps in (ci, ky, kx) order in one fp32 accumulator. */
int qs_cpu_conv2d(const float *x, int B, int H, int W, int Cin, const float *w, int Cout, int k, int stride, int pad,
                  int groups, int rnd, float *y);

/* In place on x[npix, C]: eval BatchNorm with running statistics, as PyTorch's CPU
 * kernel: a = g / sqrt(var + eps), c = b - mean * a, y = x * a + c (fp32). QS_OK or QS_ENOMEM. */
int qs_cpu_batchnorm(float *x, int64_t npix, int C, const float *g, const float *b, const float *mean,
                     const float *var, float eps, int rnd);

/* PyTorch's bilinear resize (align_corners = False, no antialias) of
 * x[B, H, W, C] to y[B, Ho, Wo, C], fp32 arithmetic. */
void qs_cpu_bilinear(const float *x, int B, int H, int W, int C, float *y, int Ho, int Wo, int rnd);

/* MobileViT's unfolding of x[B, H, W, C] (H, W multiples of P) into B*P*P sequences
 * of (H/P)*(W/P) tokens: seq[b*P*P + py*P + px, i*(W/P) + j, c] = x[b, i*P + py, j*P + px, c].
 * qs_cpu_fold is its inverse. */
void qs_cpu_unfold(const float *x, int B, int H, int W, int C, int P, float *seq);
void qs_cpu_fold(const float *seq, int B, int H, int W, int C, int P, float *x);

/* y[B, C] = mean of x[B, H, W, C] over H and W (summed in double). QS_OK or QS_ENOMEM. */
int qs_cpu_global_avgpool(const float *x, int B, int H, int W, int C, float *y, int rnd);

#endif
