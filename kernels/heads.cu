/* heads.cu - pooling and output heads: CLS / DIST gather, mean over tokens, the
 * pooler's tanh, the DeiT average of two heads, and the fp32 output copy. */
#include "qs_cuda_dev.cuh"

namespace {

#define QS_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

template <typename T>
__global__ void gather_row_kernel(const T *x, T *out, int B, int N, int D, int row) {
  QS_GRID_STRIDE(i, (int64_t)B * D) {
    const int64_t b = i / D;
    out[i] = x[(b * N + row) * D + i % D];
  }
}

template <typename T>
__global__ void mean_tokens_kernel(const T *x, T *out, int B, int N, int D, int first) {
  QS_GRID_STRIDE(i, (int64_t)B * D) {
    const int64_t b = i / D, d = i % D;
    float s = 0.0f;
    for (int t = first; t < N; t++) s += qs::ld(x + (b * N + t) * D + d);
    qs::st(out + i, s / (float)(N - first));
  }
}

template <typename T>
__global__ void tanh_kernel(T *x, int64_t n) {
  QS_GRID_STRIDE(i, n) qs::st(x + i, (float)tanh((double)qs::ld(x + i))); /* fast-math tanhf is approximate */
}

template <typename T>
__global__ void average2_kernel(const T *a, const T *b, T *y, int64_t n) {
  QS_GRID_STRIDE(i, n) qs::st(y + i, (qs::ld(a + i) + qs::ld(b + i)) * 0.5f);
}

template <typename T>
__global__ void to_f32_kernel(const T *x, float *y, int64_t n) {
  QS_GRID_STRIDE(i, n) y[i] = qs::ld(x + i);
}

constexpr int kThreads = 256;

}  // namespace


extern "C" int qs_gather_row_launch(qs_dtype dt, const void *x, void *out, int B, int N, int D, int row,
                                    cudaStream_t s) {
  QS_REQUIRE(x && out && B > 0 && D > 0 && row >= 0 && row < N, "gather_row: row %d outside [0, %d)", row, N);
  const int64_t n = (int64_t)B * D;
  if (dt == QS_DT_F16)
    gather_row_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __half *)x, (__half *)out, B, N, D, row);
  else if (dt == QS_DT_BF16)
    gather_row_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)x, (__nv_bfloat16 *)out, B, N, D, row);
  else
    gather_row_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const float *)x, (float *)out, B, N, D, row);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_mean_tokens_launch(qs_dtype dt, const void *x, void *out, int B, int N, int D, int first,
                                     cudaStream_t s) {
  QS_REQUIRE(x && out && B > 0 && D > 0 && first >= 0 && first < N, "mean_tokens: first %d outside [0, %d)", first, N);
  const int64_t n = (int64_t)B * D;
  if (dt == QS_DT_F16)
    mean_tokens_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __half *)x, (__half *)out, B, N, D, first);
  else if (dt == QS_DT_BF16)
    mean_tokens_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)x, (__nv_bfloat16 *)out, B, N, D, first);
  else
    mean_tokens_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const float *)x, (float *)out, B, N, D, first);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_tanh_launch(qs_dtype dt, void *x, int64_t n, cudaStream_t s) {
  QS_REQUIRE(x && n > 0, "tanh: empty input");
  if (dt == QS_DT_F16) tanh_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((__half *)x, n);
  else if (dt == QS_DT_BF16)
    tanh_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((__nv_bfloat16 *)x, n);
  else tanh_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((float *)x, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_average2_launch(qs_dtype dt, const void *a, const void *b, void *y, int64_t n, cudaStream_t s) {
  QS_REQUIRE(a && b && y && n > 0, "average2: empty input");
  if (dt == QS_DT_F16)
    average2_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __half *)a, (const __half *)b, (__half *)y, n);
  else if (dt == QS_DT_BF16)
    average2_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>(
        (const __nv_bfloat16 *)a, (const __nv_bfloat16 *)b, (__nv_bfloat16 *)y, n);
  else
    average2_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const float *)a, (const float *)b, (float *)y, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_to_f32_launch(qs_dtype dt, const void *x, float *y, int64_t n, cudaStream_t s) {
  QS_REQUIRE(x && y && n > 0, "to_f32: empty input");
  if (dt == QS_DT_F16) to_f32_kernel<__half><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __half *)x, y, n);
  else if (dt == QS_DT_BF16)
    to_f32_kernel<__nv_bfloat16><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const __nv_bfloat16 *)x, y, n);
  else to_f32_kernel<float><<<qs::grid_for(n, kThreads), kThreads, 0, s>>>((const float *)x, y, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
