/* embed.cu - the patch embedding's im2col and the token sequence with positions. */
#include "qs_cuda_dev.cuh"

namespace {

template <typename T>
__global__ void im2col_kernel(const float *img, T *cols, int B, int C, int S, int P) {
  const int g = S / P, KP = C * P * P;
  const int64_t n = (int64_t)B * g * g * KP;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int k = (int)(i % KP);
    const int64_t patch = i / KP;
    const int px = (int)(patch % g), py = (int)((patch / g) % g), b = (int)(patch / ((int64_t)g * g));
    const int kx = k % P, ky = (k / P) % P, c = k / (P * P);
    qs::st(cols + i, img[(((int64_t)b * C + c) * S + py * P + ky) * S + px * P + kx]);
  }
}

template <typename T>
__global__ void tokens_kernel(const T *pe, const T *cls, const T *dist, const T *pos, T *x, int B, int N, int D) {
  const int extra = dist ? 2 : 1;
  const int64_t n = (int64_t)B * N * D;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int d = (int)(i % D), tok = (int)((i / D) % N);
    const int64_t b = i / ((int64_t)N * D);
    float v;
    if (tok == 0) v = qs::ld(cls + d);
    else if (tok == 1 && dist) v = qs::ld(dist + d);
    else v = qs::ld(pe + (b * (N - extra) + (tok - extra)) * D + d);
    if (pos) v += qs::ld(pos + (int64_t)tok * D + d);
    qs::st(x + i, v);
  }
}

}  // namespace

extern "C" int qs_im2col_launch(qs_dtype dt, const float *img, void *cols, int B, int C, int S, int P,
                                cudaStream_t s) {
  QS_REQUIRE(img && cols && B > 0 && C > 0 && P > 0 && S >= P,
             "im2col: image side %d is smaller than the patch %d", S, P);
  const int threads = 256;
  const int64_t n = (int64_t)B * (S / P) * (S / P) * C * P * P;
  if (dt == QS_DT_F16) im2col_kernel<__half><<<qs::grid_for(n, threads), threads, 0, s>>>(img, (__half *)cols, B, C, S, P);
  else if (dt == QS_DT_BF16)
    im2col_kernel<__nv_bfloat16><<<qs::grid_for(n, threads), threads, 0, s>>>(img, (__nv_bfloat16 *)cols, B, C, S, P);
  else im2col_kernel<float><<<qs::grid_for(n, threads), threads, 0, s>>>(img, (float *)cols, B, C, S, P);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_tokens_launch(qs_dtype dt, const void *pe, const void *cls, const void *dist, const void *pos,
                                void *x, int B, int N, int D, cudaStream_t s) {
  QS_REQUIRE(pe && cls && x && B > 0 && D > 0 && N > (dist ? 2 : 1), "tokens: bad arguments (N %d, D %d)", N, D);
  const int threads = 256;
  const int64_t n = (int64_t)B * N * D;
  if (dt == QS_DT_F16)
    tokens_kernel<__half><<<qs::grid_for(n, threads), threads, 0, s>>>(
        (const __half *)pe, (const __half *)cls, (const __half *)dist, (const __half *)pos, (__half *)x, B, N, D);
  else if (dt == QS_DT_BF16)
    tokens_kernel<__nv_bfloat16><<<qs::grid_for(n, threads), threads, 0, s>>>(
        (const __nv_bfloat16 *)pe, (const __nv_bfloat16 *)cls, (const __nv_bfloat16 *)dist,
        (const __nv_bfloat16 *)pos, (__nv_bfloat16 *)x, B, N, D);
  else
    tokens_kernel<float><<<qs::grid_for(n, threads), threads, 0, s>>>(
        (const float *)pe, (const float *)cls, (const float *)dist, (const float *)pos, (float *)x, B, N, D);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
