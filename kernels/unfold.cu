/* unfold.cu - MobileViT's unfolding of a feature map into P*P token sequences and
 * the folding back, each fused with the bilinear resize HF applies when the map is
 * not a multiple of the patch size, and the channel concat that follows the fold
 * (reading its second operand in sequence order, so the fold costs no pass of its own
 * when no resize is needed).
 *
 * Bilinear: PyTorch's upsample_bilinear2d, align_corners = False, no antialias, fp32
 * arithmetic in the order of the CPU reference (qs_cpu_bilinear). */
#include "qs_cuda_dev.cuh"

namespace {

#define QS_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

constexpr int kThreads = 256;

/* Source indices and weights along one axis (PyTorch's compute_indices_weights_linear). */
__device__ __forceinline__ void bilinear_axis(int in, int out, int o, int &i0, int &i1, float &l0, float &l1) {
  const float scale = __fdiv_rn((float)in, (float)out);
  float src = __fsub_rn(__fmul_rn(scale, (float)o + 0.5f), 0.5f);
  if (src < 0.0f) src = 0.0f;
  int i = (int)floorf(src);
  if (i > in - 1) i = in - 1;
  float lam = src - (float)i;
  lam = fminf(fmaxf(lam, 0.0f), 1.0f);
  i0 = i;
  i1 = i + (i < in - 1 ? 1 : 0);
  l1 = lam;
  l0 = 1.0f - lam;
}

/* Row of pixel (b, y, x) of an H x W map in sequence order (patch P). */
__device__ __forceinline__ int64_t pixel_to_seq_row(int64_t b, int y, int x, int H, int W, int P) {
  const int nw = W / P, N = (H / P) * nw;
  const int64_t sq = b * P * P + (y % P) * P + (x % P);
  return sq * N + (int64_t)(y / P) * nw + x / P;
}

/* Value (b, y, x, c) of an H x W map given by row(b, y, x). */
template <typename T, typename RowOf>
__device__ __forceinline__ float bilinear_at(const T *src, int C, int H, int W, int Ho, int Wo, int64_t b, int oy,
                                             int ox, int c, RowOf row) {
  int y0, y1, x0, x1;
  float hl0, hl1, wl0, wl1;
  bilinear_axis(H, Ho, oy, y0, y1, hl0, hl1);
  bilinear_axis(W, Wo, ox, x0, x1, wl0, wl1);
  const float a00 = qs::ld(src + row(b, y0, x0) * C + c), a01 = qs::ld(src + row(b, y0, x1) * C + c);
  const float a10 = qs::ld(src + row(b, y1, x0) * C + c), a11 = qs::ld(src + row(b, y1, x1) * C + c);
  const float t0 = __fadd_rn(__fmul_rn(a00, wl0), __fmul_rn(a01, wl1));
  const float t1 = __fadd_rn(__fmul_rn(a10, wl0), __fmul_rn(a11, wl1));
  return __fadd_rn(__fmul_rn(t0, hl0), __fmul_rn(t1, hl1));
}

/* seq (sequence order of the Hn x Wn map) from x [B, H, W, C] */
template <typename T>
__global__ void unfold_resize_kernel(const T *x, T *seq, int H, int W, int C, int P, int Hn, int Wn, int64_t n) {
  QS_GRID_STRIDE(i, n) {
    const int c = (int)(i % C);
    const int64_t r = i / C;
    const int nh = Hn / P, nw = Wn / P, N = nh * nw;
    const int64_t sq = r / N, b = sq / (P * P);
    const int t = (int)(r % N), py = (int)(sq % (P * P)) / P, px = (int)(sq % P);
    const int y = (t / nw) * P + py, xx = (t % nw) * P + px;
    if (Hn == H && Wn == W) {
      seq[i] = x[((b * H + y) * W + xx) * C + c];
    } else {
      auto row = [H, W](int64_t bb, int yy, int xq) { return (bb * H + yy) * W + xq; };
      qs::st(seq + i, bilinear_at(x, C, H, W, Hn, Wn, b, y, xx, c, row));
    }
  }
}

/* y [B, H, W, C] from seq (sequence order of the Hn x Wn map) */
template <typename T>
__global__ void fold_resize_kernel(const T *seq, T *y, int Hn, int Wn, int C, int P, int H, int W, int64_t n) {
  QS_GRID_STRIDE(i, n) {
    const int c = (int)(i % C);
    const int64_t pix = i / C, b = pix / ((int64_t)H * W);
    const int oy = (int)(pix / W % H), ox = (int)(pix % W);
    auto row = [Hn, Wn, P](int64_t bb, int yy, int xq) { return pixel_to_seq_row(bb, yy, xq, Hn, Wn, P); };
    if (Hn == H && Wn == W) y[i] = seq[row(b, oy, ox) * C + c];
    else qs::st(y + i, bilinear_at(seq, C, Hn, Wn, H, W, b, oy, ox, c, row));
  }
}

template <typename T>
__global__ void concat_kernel(const T *a, const T *t, T *y, int H, int W, int Ca, int Ct, int perm, int act,
                              int64_t n) {
  const int Cy = Ca + Ct;
  QS_GRID_STRIDE(i, n) {
    const int ch = (int)(i % Cy);
    const int64_t pix = i / Cy;
    if (ch < Ca) {
      y[i] = a[pix * Ca + ch];
    } else {
      int64_t r = pix;
      if (perm > 0) {
        const int64_t b = pix / ((int64_t)H * W);
        r = pixel_to_seq_row(b, (int)(pix / W % H), (int)(pix % W), H, W, perm);
      }
      qs::st(y + i, qs::act(act, qs::ld(t + r * Ct + ch - Ca)));
    }
  }
}

}  // namespace

extern "C" int qs_unfold_resize_launch(qs_dtype dt, const void *x, void *seq, int B, int H, int W, int C, int P,
                                       int Hn, int Wn, cudaStream_t s) {
  QS_REQUIRE(x && seq && B > 0 && H > 0 && W > 0 && C > 0 && P > 0 && Hn > 0 && Wn > 0 && Hn % P == 0 && Wn % P == 0,
             "unfold: bad geometry (B %d, %dx%d -> %dx%d, C %d, patch %d)", B, H, W, Hn, Wn, C, P);
  const int64_t n = (int64_t)B * Hn * Wn * C;
  if (dt == QS_DT_F16)
    unfold_resize_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __half *)x, (__half *)seq, H,
                                                                                 W, C, P, Hn, Wn, n);
  else if (dt == QS_DT_BF16)
    unfold_resize_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)x, (__nv_bfloat16 *)seq, H, W, C, P, Hn, Wn, n);
  else
    unfold_resize_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const float *)x, (float *)seq, H, W,
                                                                                C, P, Hn, Wn, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_fold_resize_launch(qs_dtype dt, const void *seq, void *y, int B, int Hn, int Wn, int C, int P, int H,
                                     int W, cudaStream_t s) {
  QS_REQUIRE(seq && y && B > 0 && H > 0 && W > 0 && C > 0 && P > 0 && Hn > 0 && Wn > 0 && Hn % P == 0 && Wn % P == 0,
             "fold: bad geometry (B %d, %dx%d -> %dx%d, C %d, patch %d)", B, Hn, Wn, H, W, C, P);
  const int64_t n = (int64_t)B * H * W * C;
  if (dt == QS_DT_F16)
    fold_resize_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __half *)seq, (__half *)y, Hn,
                                                                               Wn, C, P, H, W, n);
  else if (dt == QS_DT_BF16)
    fold_resize_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)seq, (__nv_bfloat16 *)y, Hn, Wn, C, P, H, W, n);
  else
    fold_resize_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const float *)seq, (float *)y, Hn, Wn,
                                                                              C, P, H, W, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_concat_launch(qs_dtype dt, const void *a, const void *t, void *y, int B, int H, int W, int Ca,
                                int Ct, int perm, qs_cuda_act act, cudaStream_t s) {
  QS_REQUIRE(a && t && y && B > 0 && H > 0 && W > 0 && Ca > 0 && Ct > 0 && perm >= 0,
             "concat: bad geometry (B %d, %dx%d, C %d + %d)", B, H, W, Ca, Ct);
  QS_REQUIRE(perm == 0 || (H % perm == 0 && W % perm == 0), "concat: a %dx%d map is not a multiple of the patch %d",
             H, W, perm);
  const int64_t n = (int64_t)B * H * W * (Ca + Ct);
  if (dt == QS_DT_F16)
    concat_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __half *)a, (const __half *)t,
                                                                          (__half *)y, H, W, Ca, Ct, perm, (int)act, n);
  else if (dt == QS_DT_BF16)
    concat_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)a, (const __nv_bfloat16 *)t, (__nv_bfloat16 *)y, H, W, Ca, Ct, perm, (int)act, n);
  else
    concat_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const float *)a, (const float *)t,
                                                                         (float *)y, H, W, Ca, Ct, perm, (int)act, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
