/* cpu_conv.c - convolutional operators of the CPU reference (see cpu_conv.h). */
#define _POSIX_C_SOURCE 200809L
#include "cpu_conv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "qs_common.h"
#include "qs_half.h"
#include "quant.h"

/* rows of im2col per GEMM (bounds the column buffer) */
#define QS_CONV_CHUNK_ROWS 4096

int qs_cpu_conv_out(int h, int k, int stride, int pad) { return (h + 2 * pad - k) / stride + 1; }

static void round_copy(int rnd, const float *x, float *y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) y[i] = qs_round_to(rnd, x[i]);
}

/* y = x w^T in the storage type rnd: fp32, or quant.h's fp16 / bf16 GEMM */
static int gemm_rnd(int rnd, const float *x, const float *w, int64_t M, int64_t N, int64_t K, float *y) {
  if (rnd == QS_ROUND_F16) return qs_gemm_f16_ref(x, w, NULL, M, N, K, y);
  if (rnd == QS_ROUND_BF16) return qs_gemm_bf16_ref(x, w, NULL, M, N, K, y);
  qs_cpu_gemm_nt(x, w, NULL, M, N, K, y);
  return QS_OK;
}

/* groups == 1: im2col over a chunk of output pixels, then one GEMM per chunk.
 * The weights are permuted to (ky, kx, ci) order so each tap copies a run of Cin. */
static int conv_gemm(const float *x, int B, int H, int W, int Cin, const float *w, int Cout, int k, int stride, int pad,
                     int rnd, float *y) {
  const int Ho = qs_cpu_conv_out(H, k, stride, pad), Wo = qs_cpu_conv_out(W, k, stride, pad);
  const int64_t K = (int64_t)Cin * k * k, rows = (int64_t)B * Ho * Wo;
  float *wp = malloc(sizeof(float) * (size_t)(Cout * K));
  if (!wp) return qs_fail(QS_ENOMEM, "conv2d: out of host memory");
  for (int co = 0; co < Cout; co++)
    for (int ci = 0; ci < Cin; ci++)
      for (int t = 0; t < k * k; t++) wp[co * K + (int64_t)t * Cin + ci] = w[(co * (int64_t)Cin + ci) * k * k + t];

  int rc = QS_OK;
  if (k == 1 && stride == 1 && pad == 0) { /* a 1x1 convolution is the GEMM itself */
    rc = gemm_rnd(rnd, x, wp, rows, Cout, K, y);
    free(wp);
    return rc;
  }
  const int64_t chunk = rows < QS_CONV_CHUNK_ROWS ? rows : QS_CONV_CHUNK_ROWS;
  float *col = malloc(sizeof(float) * (size_t)(chunk * K));
  if (!col) {
    free(wp);
    return qs_fail(QS_ENOMEM, "conv2d: out of host memory");
  }
  for (int64_t r0 = 0; r0 < rows && rc == QS_OK; r0 += chunk) {
    const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
#pragma omp parallel for schedule(static) if ((r1 - r0) * K > 65536)
    for (int64_t r = r0; r < r1; r++) {
      const int64_t b = r / ((int64_t)Ho * Wo);
      const int oy = (int)(r / Wo % Ho), ox = (int)(r % Wo);
      float *cr = col + (r - r0) * K;
      for (int ky = 0; ky < k; ky++) {
        const int iy = oy * stride - pad + ky;
        for (int kx = 0; kx < k; kx++) {
          const int ix = ox * stride - pad + kx;
          float *dst = cr + (int64_t)(ky * k + kx) * Cin;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) memset(dst, 0, sizeof(float) * (size_t)Cin);
          else memcpy(dst, x + (((b * H) + iy) * (int64_t)W + ix) * Cin, sizeof(float) * (size_t)Cin);
        }
      }
    }
    rc = gemm_rnd(rnd, col, wp, r1 - r0, Cout, K, y + r0 * Cout);
  }
  free(col);
  free(wp);
  return rc;
}

/* depthwise (groups == Cin == Cout), weights transposed to wt[k*k, C]: per output
 * pixel, taps in (ky, kx) order, all channels at once */
static void conv_depthwise(const float *x, int B, int H, int W, int C, const float *wt, int k, int stride, int pad,
                           float *y) {
  const int Ho = qs_cpu_conv_out(H, k, stride, pad), Wo = qs_cpu_conv_out(W, k, stride, pad);
  const int64_t rows = (int64_t)B * Ho * Wo;
#pragma omp parallel for schedule(static) if (rows * C * k * k > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t b = r / ((int64_t)Ho * Wo);
    const int oy = (int)(r / Wo % Ho), ox = (int)(r % Wo);
    float *yr = y + r * C;
    for (int c = 0; c < C; c++) yr[c] = 0.0f;
    for (int ky = 0; ky < k; ky++) {
      const int iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= H) continue;
      for (int kx = 0; kx < k; kx++) {
        const int ix = ox * stride - pad + kx;
        if (ix < 0 || ix >= W) continue;
        const float *xr = x + (((b * H) + iy) * (int64_t)W + ix) * C;
        const float *wr = wt + (int64_t)(ky * k + kx) * C;
        for (int c = 0; c < C; c++) yr[c] += xr[c] * wr[c];
      }
    }
  }
}

/* any other grouping: direct loops */
static void conv_grouped(const float *x, int B, int H, int W, int Cin, const float *w, int Cout, int k, int stride,
                         int pad, int groups, float *y) {
  const int Ho = qs_cpu_conv_out(H, k, stride, pad), Wo = qs_cpu_conv_out(W, k, stride, pad);
  const int cig = Cin / groups, cog = Cout / groups;
  const int64_t rows = (int64_t)B * Ho * Wo;
#pragma omp parallel for schedule(static) if (rows * Cout * cig * k * k > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t b = r / ((int64_t)Ho * Wo);
    const int oy = (int)(r / Wo % Ho), ox = (int)(r % Wo);
    for (int co = 0; co < Cout; co++) {
      const int g = co / cog;
      float acc = 0.0f;
      for (int ci = 0; ci < cig; ci++)
        for (int ky = 0; ky < k; ky++) {
          const int iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < k; kx++) {
            const int ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= W) continue;
            acc += x[(((b * H) + iy) * (int64_t)W + ix) * Cin + g * cig + ci] *
                   w[(((int64_t)co * cig + ci) * k + ky) * k + kx];
          }
        }
      y[r * Cout + co] = acc;
    }
  }
}

int qs_cpu_conv2d(const float *x, int B, int H, int W, int Cin, const float *w, int Cout, int k, int stride, int pad,
                  int groups, int rnd, float *y) {
  if (B < 1 || H < 1 || W < 1 || Cin < 1 || Cout < 1 || k < 1 || stride < 1 || pad < 0 || groups < 1 ||
      Cin % groups != 0 || Cout % groups != 0)
    return qs_fail(QS_EINVAL, "conv2d: invalid geometry (B %d, %dx%d, Cin %d, Cout %d, k %d, stride %d, groups %d)",
                   B, H, W, Cin, Cout, k, stride, groups);
  const int Ho = qs_cpu_conv_out(H, k, stride, pad), Wo = qs_cpu_conv_out(W, k, stride, pad);
  if (Ho < 1 || Wo < 1) return qs_fail(QS_EINVAL, "conv2d: a %dx%d map is smaller than the kernel %d", H, W, k);
  if (groups == 1) return conv_gemm(x, B, H, W, Cin, w, Cout, k, stride, pad, rnd, y);

  /* fp16 (bf16) semantics for the direct paths: rounded copies of input and weights */
  const int64_t nx = (int64_t)B * H * W * Cin, nw = (int64_t)Cout * (Cin / groups) * k * k;
  float *xr = NULL, *wr = NULL;
  if (rnd) {
    xr = malloc(sizeof(float) * (size_t)nx);
    wr = malloc(sizeof(float) * (size_t)nw);
    if (!xr || !wr) {
      free(xr);
      free(wr);
      return qs_fail(QS_ENOMEM, "conv2d: out of host memory");
    }
    round_copy(rnd, x, xr, nx);
    round_copy(rnd, w, wr, nw);
    x = xr;
    w = wr;
  }
  int rc = QS_OK;
  if (groups == Cin && Cout == Cin) {
    float *wt = malloc(sizeof(float) * (size_t)nw);
    if (!wt) {
      rc = qs_fail(QS_ENOMEM, "conv2d: out of host memory");
    } else {
      for (int c = 0; c < Cin; c++)
        for (int t = 0; t < k * k; t++) wt[(int64_t)t * Cin + c] = w[(int64_t)c * k * k + t];
      conv_depthwise(x, B, H, W, Cin, wt, k, stride, pad, y);
      free(wt);
    }
  } else {
    conv_grouped(x, B, H, W, Cin, w, Cout, k, stride, pad, groups, y);
  }
  if (rc == QS_OK && rnd) round_copy(rnd, y, y, (int64_t)B * Ho * Wo * Cout);
  free(xr);
  free(wr);
  return rc;
}

int qs_cpu_batchnorm(float *x, int64_t npix, int C, const float *g, const float *b, const float *mean,
                     const float *var, float eps, int rnd) {
  float *alpha = malloc(sizeof(float) * 2 * (size_t)C);
  if (!alpha) return qs_fail(QS_ENOMEM, "batchnorm: out of host memory");
  float *beta = alpha + C;
  for (int c = 0; c < C; c++) {
    float invstd = 1.0f / sqrtf(var[c] + eps);
    alpha[c] = invstd * g[c];
    beta[c] = b[c] - mean[c] * alpha[c];
  }
#pragma omp parallel for schedule(static) if (npix * C > 65536)
  for (int64_t p = 0; p < npix; p++) {
    float *xr = x + p * C;
    for (int c = 0; c < C; c++) xr[c] = xr[c] * alpha[c] + beta[c];
    if (rnd)
      for (int c = 0; c < C; c++) xr[c] = qs_round_to(rnd, xr[c]);
  }
  free(alpha);
  return QS_OK;
}

/* source index and weights along one axis, as PyTorch's compute_indices_weights_linear */
static void bilinear_axis(int in, int out, int o, int *i0, int *i1, float *l0, float *l1) {
  const float scale = (float)in / (float)out;
  float src = scale * ((float)o + 0.5f) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  int i = (int)floorf(src);
  if (i > in - 1) i = in - 1;
  float lam = src - (float)i;
  if (lam < 0.0f) lam = 0.0f;
  if (lam > 1.0f) lam = 1.0f;
  *i0 = i;
  *i1 = i + (i < in - 1 ? 1 : 0);
  *l1 = lam;
  *l0 = 1.0f - lam;
}

void qs_cpu_bilinear(const float *x, int B, int H, int W, int C, float *y, int Ho, int Wo, int rnd) {
#pragma omp parallel for schedule(static) if ((int64_t)B * Ho * Wo * C > 65536)
  for (int64_t r = 0; r < (int64_t)B * Ho; r++) {
    const int64_t b = r / Ho;
    const int oy = (int)(r % Ho);
    int y0, y1;
    float hl0, hl1;
    bilinear_axis(H, Ho, oy, &y0, &y1, &hl0, &hl1);
    const float *row0 = x + ((b * H) + y0) * (int64_t)W * C, *row1 = x + ((b * H) + y1) * (int64_t)W * C;
    for (int ox = 0; ox < Wo; ox++) {
      int x0, x1;
      float wl0, wl1;
      bilinear_axis(W, Wo, ox, &x0, &x1, &wl0, &wl1);
      float *yr = y + (r * Wo + ox) * C;
      for (int c = 0; c < C; c++) {
        float t0 = row0[(int64_t)x0 * C + c] * wl0 + row0[(int64_t)x1 * C + c] * wl1;
        float t1 = row1[(int64_t)x0 * C + c] * wl0 + row1[(int64_t)x1 * C + c] * wl1;
        float v = t0 * hl0 + t1 * hl1;
        yr[c] = qs_round_to(rnd, v);
      }
    }
  }
}

void qs_cpu_unfold(const float *x, int B, int H, int W, int C, int P, float *seq) {
  const int nh = H / P, nw = W / P;
  const int64_t N = (int64_t)nh * nw;
  for (int b = 0; b < B; b++)
    for (int py = 0; py < P; py++)
      for (int px = 0; px < P; px++) {
        float *s = seq + ((int64_t)b * P * P + py * P + px) * N * C;
        for (int i = 0; i < nh; i++)
          for (int j = 0; j < nw; j++)
            memcpy(s + ((int64_t)i * nw + j) * C, x + ((((int64_t)b * H) + i * P + py) * W + j * P + px) * C,
                   sizeof(float) * (size_t)C);
      }
}

void qs_cpu_fold(const float *seq, int B, int H, int W, int C, int P, float *x) {
  const int nh = H / P, nw = W / P;
  const int64_t N = (int64_t)nh * nw;
  for (int b = 0; b < B; b++)
    for (int py = 0; py < P; py++)
      for (int px = 0; px < P; px++) {
        const float *s = seq + ((int64_t)b * P * P + py * P + px) * N * C;
        for (int i = 0; i < nh; i++)
          for (int j = 0; j < nw; j++)
            memcpy(x + ((((int64_t)b * H) + i * P + py) * W + j * P + px) * C, s + ((int64_t)i * nw + j) * C,
                   sizeof(float) * (size_t)C);
      }
}

int qs_cpu_global_avgpool(const float *x, int B, int H, int W, int C, float *y, int rnd) {
  const int64_t hw = (int64_t)H * W;
  double *acc = malloc(sizeof(double) * (size_t)C);
  if (!acc) return qs_fail(QS_ENOMEM, "avgpool: out of host memory");
  for (int b = 0; b < B; b++) {
    for (int c = 0; c < C; c++) acc[c] = 0.0;
    for (int64_t p = 0; p < hw; p++) {
      const float *xr = x + ((int64_t)b * hw + p) * C;
      for (int c = 0; c < C; c++) acc[c] += xr[c];
    }
    for (int c = 0; c < C; c++) {
      float v = (float)(acc[c] / (double)hw);
      y[(int64_t)b * C + c] = qs_round_to(rnd, v);
    }
  }
  free(acc);
  return QS_OK;
}
