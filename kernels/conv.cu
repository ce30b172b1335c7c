/* conv.cu - MobileViT's convolutions around the GEMM: the NCHW -> NHWC input copy,
 * im2col for k x k convolutions (optionally emitting rows in unfold order, so the
 * 1x1 convolution and the transformer that follow need no separate unfold), and the
 * direct depthwise convolution with its bias (BatchNorm folded in at plan time) and
 * activation fused, plus the producer's activation applied on load. Where channel
 * counts allow, im2col copies and the depthwise kernel work on 16-byte vectors.
 *
 * Feature maps are NHWC; see qs_cuda.h for "sequence order". */
#include <stdint.h>

#include "qs_cuda_dev.cuh"

namespace {

#define QS_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

constexpr int kThreads = 256;

/* Pixel (b*H + y)*W + x of row r of an H x W map in sequence order (patch P). */
__device__ __forceinline__ int64_t seq_row_to_pixel(int64_t r, int H, int W, int P) {
  const int nh = H / P, nw = W / P, N = nh * nw;
  const int64_t sq = r / N;
  const int t = (int)(r % N);
  const int64_t b = sq / (P * P);
  const int py = (int)(sq % (P * P)) / P, px = (int)(sq % P);
  const int y = (t / nw) * P + py, x = (t % nw) * P + px;
  return (b * H + y) * W + x;
}

template <typename T>
__global__ void nchw_to_nhwc_kernel(const float *x, T *y, int C, int HW, int64_t n) {
  QS_GRID_STRIDE(i, n) { /* i walks the output: (b, p, c) */
    const int c = (int)(i % C);
    const int64_t bp = i / C, b = bp / HW, p = bp % HW;
    qs::st(y + i, x[(b * C + c) * HW + p]);
  }
}

template <typename T>
__global__ void im2col_nhwc_kernel(const T *x, T *cols, int H, int W, int C, int k, int stride, int pad, int Ho,
                                   int Wo, int Kp, int perm, int64_t n) {
  QS_GRID_STRIDE(i, n) {
    const int64_t r = i / Kp;
    const int col = (int)(i % Kp);
    T v = T(0.0f);
    if (col < k * k * C) {
      const int64_t pix = perm > 0 ? seq_row_to_pixel(r, Ho, Wo, perm) : r;
      const int64_t b = pix / ((int64_t)Ho * Wo);
      const int oy = (int)(pix / Wo % Ho), ox = (int)(pix % Wo);
      const int tap = col / C, c = col % C;
      const int iy = oy * stride - pad + tap / k, ix = ox * stride - pad + tap % k;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = x[((b * H + iy) * W + ix) * C + c];
    }
    cols[i] = v;
  }
}

/* The same in 16-byte units (C and Kp whole units, so it is dtype-agnostic): Cv units
 * per pixel, Kpv per row, k*k*Cv of them taps. */
__global__ void im2col_nhwc_vec_kernel(const uint4 *x, uint4 *cols, int H, int W, int Cv, int k, int stride, int pad,
                                       int Ho, int Wo, int Kpv, int perm, int64_t n) {
  QS_GRID_STRIDE(i, n) {
    const int64_t r = i / Kpv;
    const int col = (int)(i % Kpv);
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (col < k * k * Cv) {
      const int64_t pix = perm > 0 ? seq_row_to_pixel(r, Ho, Wo, perm) : r;
      const int64_t b = pix / ((int64_t)Ho * Wo);
      const int oy = (int)(pix / Wo % Ho), ox = (int)(pix % Wo);
      const int tap = col / Cv, c = col % Cv;
      const int iy = oy * stride - pad + tap / k, ix = ox * stride - pad + tap % k;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = x[((b * H + iy) * W + ix) * Cv + c];
    }
    cols[i] = v;
  }
}

/* Depthwise on 16-byte vectors of channels (C a multiple of the vector width). */
template <typename T>
__global__ void dwconv_vec_kernel(const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ bias,
                                  T *__restrict__ y, int H, int W, int C, int k, int stride, int pad, int Ho, int Wo,
                                  int act_in, int act_out, int64_t n) {
  constexpr int V = qs::vec16<T>::n;
  const int Cv = C / V;
  QS_GRID_STRIDE(i, n) {
    const int c = (int)(i % Cv) * V;
    const int64_t pix = i / Cv, b = pix / ((int64_t)Ho * Wo);
    const int oy = (int)(pix / Wo % Ho), ox = (int)(pix % Wo);
    float acc[V], v[V], wv[V];
#pragma unroll
    for (int j = 0; j < V; j++) acc[j] = 0.0f;
    for (int ky = 0; ky < k; ky++) {
      const int iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= H) continue;
      for (int kx = 0; kx < k; kx++) {
        const int ix = ox * stride - pad + kx;
        if (ix < 0 || ix >= W) continue;
        qs::vec16<T>::load(x + ((b * H + iy) * W + ix) * C + c, v);
        qs::vec16<T>::load(w + (int64_t)(ky * k + kx) * C + c, wv);
#pragma unroll
        for (int j = 0; j < V; j++) {
          const float xv = act_in ? qs::rnd<T>(qs::act(act_in, v[j])) : v[j];
          acc[j] = fmaf(xv, wv[j], acc[j]);
        }
      }
    }
    if (bias) {
      qs::vec16<T>::load(bias + c, wv);
#pragma unroll
      for (int j = 0; j < V; j++) acc[j] += wv[j];
    }
#pragma unroll
    for (int j = 0; j < V; j++) acc[j] = qs::act(act_out, acc[j]);
    qs::vec16<T>::store(y + pix * C + c, acc);
  }
}

template <typename T>
__global__ void dwconv_kernel(const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ bias,
                              T *__restrict__ y, int H, int W, int C, int k, int stride, int pad, int Ho, int Wo,
                              int act_in, int act_out, int64_t n) {
  QS_GRID_STRIDE(i, n) {
    const int c = (int)(i % C);
    const int64_t pix = i / C, b = pix / ((int64_t)Ho * Wo);
    const int oy = (int)(pix / Wo % Ho), ox = (int)(pix % Wo);
    float acc = 0.0f;
    for (int ky = 0; ky < k; ky++) {
      const int iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= H) continue;
      for (int kx = 0; kx < k; kx++) {
        const int ix = ox * stride - pad + kx;
        if (ix < 0 || ix >= W) continue;
        float v = qs::ld(x + ((b * H + iy) * W + ix) * C + c);
        if (act_in) v = qs::rnd<T>(qs::act(act_in, v));
        acc = fmaf(v, qs::ld(w + (int64_t)(ky * k + kx) * C + c), acc);
      }
    }
    if (bias) acc += qs::ld(bias + c);
    qs::st(y + i, qs::act(act_out, acc));
  }
}

}  // namespace

extern "C" int qs_nchw_to_nhwc_launch(qs_dtype dt, const float *x, void *y, int B, int C, int H, int W,
                                      cudaStream_t s) {
  QS_REQUIRE(x && y && B > 0 && C > 0 && H > 0 && W > 0, "nchw_to_nhwc: bad shape [%d, %d, %d, %d]", B, C, H, W);
  const int64_t n = (int64_t)B * C * H * W;
  if (dt == QS_DT_F16)
    nchw_to_nhwc_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(x, (__half *)y, C, H * W, n);
  else if (dt == QS_DT_BF16)
    nchw_to_nhwc_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(x, (__nv_bfloat16 *)y, C,
                                                                                        H * W, n);
  else nchw_to_nhwc_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(x, (float *)y, C, H * W, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_im2col_nhwc_launch(qs_dtype dt, const void *x, void *cols, int B, int H, int W, int C, int k,
                                     int stride, int pad, int Kp, int perm, cudaStream_t s) {
  QS_REQUIRE(x && cols && B > 0 && H > 0 && W > 0 && C > 0 && k > 0 && stride > 0 && pad >= 0,
             "im2col_nhwc: bad geometry (B %d, %dx%d, C %d, k %d, stride %d, pad %d)", B, H, W, C, k, stride, pad);
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  QS_REQUIRE(Ho > 0 && Wo > 0, "im2col_nhwc: a %dx%d map is smaller than the kernel %d", H, W, k);
  QS_REQUIRE(Kp >= k * k * C, "im2col_nhwc: row width %d < k*k*C = %d", Kp, k * k * C);
  QS_REQUIRE(perm >= 0 && (perm == 0 || (Ho % perm == 0 && Wo % perm == 0)),
             "im2col_nhwc: a %dx%d map is not a multiple of the patch %d", Ho, Wo, perm);
  const int es = (int)qs_dtype_size(dt);
  if ((C * es) % 16 == 0 && (Kp * es) % 16 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)cols % 16 == 0) {
    const int Cv = C * es / 16, Kpv = Kp * es / 16;
    const int64_t nv = (int64_t)B * Ho * Wo * Kpv;
    im2col_nhwc_vec_kernel<<<qs::grid_for(nv, kThreads), kThreads, 0, s>>>((const uint4 *)x, (uint4 *)cols, H, W, Cv,
                                                                            k, stride, pad, Ho, Wo, Kpv, perm, nv);
    QS_LAUNCH_CHECK();
    return QS_OK;
  }
  const int64_t n = (int64_t)B * Ho * Wo * Kp;
  if (dt == QS_DT_F16)
    im2col_nhwc_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __half *)x, (__half *)cols, H, W, C, k, stride, pad, Ho, Wo, Kp, perm, n);
  else if (dt == QS_DT_BF16)
    im2col_nhwc_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)x, (__nv_bfloat16 *)cols, H, W, C, k, stride, pad, Ho, Wo, Kp, perm, n);
  else
    im2col_nhwc_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const float *)x, (float *)cols, H, W, C, k, stride, pad, Ho, Wo, Kp, perm, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_dwconv_launch(qs_dtype dt, const void *x, const void *w, const void *bias, void *y, int B, int H,
                                int W, int C, int k, int stride, int pad, qs_cuda_act act_in, qs_cuda_act act_out,
                                cudaStream_t s) {
  QS_REQUIRE(x && w && y && B > 0 && H > 0 && W > 0 && C > 0 && k > 0 && stride > 0 && pad >= 0,
             "dwconv: bad geometry (B %d, %dx%d, C %d, k %d, stride %d, pad %d)", B, H, W, C, k, stride, pad);
  const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  QS_REQUIRE(Ho > 0 && Wo > 0, "dwconv: a %dx%d map is smaller than the kernel %d", H, W, k);
  const int64_t n = (int64_t)B * Ho * Wo * C;
  const int V = 16 / (int)qs_dtype_size(dt);
  const bool vec = C % V == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)w % 16 == 0 && (uintptr_t)y % 16 == 0 &&
                   (uintptr_t)bias % 16 == 0;
  if (vec && dt == QS_DT_F16)
    dwconv_vec_kernel<__half><<<qs::grid_for(n / V, kThreads), kThreads, 0, s>>>(
        (const __half *)x, (const __half *)w, (const __half *)bias, (__half *)y, H, W, C, k, stride, pad, Ho, Wo,
        (int)act_in, (int)act_out, n / V);
  else if (vec && dt == QS_DT_BF16)
    dwconv_vec_kernel<__nv_bfloat16><<<qs::grid_for(n / V, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)x, (const __nv_bfloat16 *)w, (const __nv_bfloat16 *)bias, (__nv_bfloat16 *)y, H, W,
        C, k, stride, pad, Ho, Wo, (int)act_in, (int)act_out, n / V);
  else if (vec)
    dwconv_vec_kernel<float><<<qs::grid_for(n / V, kThreads), kThreads, 0, s>>>(
        (const float *)x, (const float *)w, (const float *)bias, (float *)y, H, W, C, k, stride, pad, Ho, Wo,
        (int)act_in, (int)act_out, n / V);
  else if (dt == QS_DT_F16)
    dwconv_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __half *)x, (const __half *)w, (const __half *)bias, (__half *)y, H, W, C, k, stride, pad, Ho, Wo,
        (int)act_in, (int)act_out, n);
  else if (dt == QS_DT_BF16)
    dwconv_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)x, (const __nv_bfloat16 *)w, (const __nv_bfloat16 *)bias, (__nv_bfloat16 *)y, H, W, C,
        k, stride, pad, Ho, Wo, (int)act_in, (int)act_out, n);
  else
    dwconv_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const float *)x, (const float *)w, (const float *)bias, (float *)y, H, W, C, k, stride, pad, Ho, Wo,
        (int)act_in, (int)act_out, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
