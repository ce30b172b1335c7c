/* activation.cu - elementwise activations in place, and the residual add (fp32 math,
 * stored in dt: fp32, fp16 or bf16). */
#include <stdint.h>

#include "qs_cuda_dev.cuh"

namespace {

__device__ __forceinline__ float gelu_f(float v) {
  return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); /* exact erf GELU, as HF "gelu" */
}

template <typename T>
__global__ void gelu_kernel(T *x, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = qs::ld(x + i);
    qs::st(x + i, gelu_f(v));
  }
}

/* the same on 16-byte vectors (n a multiple of the vector width): the scalar kernel's
 * 2-byte accesses left it at a third of the memory bandwidth */
template <typename T>
__global__ void gelu_vec_kernel(T *x, int64_t nv) {
  constexpr int V = qs::vec16<T>::n;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nv; i += (int64_t)gridDim.x * blockDim.x) {
    float f[V];
    qs::vec16<T>::load(x + i * V, f);
#pragma unroll
    for (int j = 0; j < V; j++) f[j] = gelu_f(f[j]);
    qs::vec16<T>::store(x + i * V, f);
  }
}

template <typename T>
__global__ void act_kernel(T *x, int64_t n, int a) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    qs::st(x + i, qs::act(a, qs::ld(x + i)));
}

template <typename T>
__global__ void add_kernel(T *y, const T *x, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    qs::st(y + i, qs::ld(y + i) + qs::ld(x + i));
}

/* the same on 16-byte vectors (n a multiple of the vector width) */
template <typename T>
__global__ void act_vec_kernel(T *x, int64_t nv, int a) {
  constexpr int V = qs::vec16<T>::n;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nv; i += (int64_t)gridDim.x * blockDim.x) {
    float f[V];
    qs::vec16<T>::load(x + i * V, f);
#pragma unroll
    for (int j = 0; j < V; j++) f[j] = qs::act(a, f[j]);
    qs::vec16<T>::store(x + i * V, f);
  }
}

template <typename T>
__global__ void add_vec_kernel(T *y, const T *x, int64_t nv) {
  constexpr int V = qs::vec16<T>::n;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nv; i += (int64_t)gridDim.x * blockDim.x) {
    float f[V], g[V];
    qs::vec16<T>::load(y + i * V, f);
    qs::vec16<T>::load(x + i * V, g);
#pragma unroll
    for (int j = 0; j < V; j++) f[j] += g[j];
    qs::vec16<T>::store(y + i * V, f);
  }
}

template <typename T>
bool vec_ok(const void *a, const void *b, int64_t n) {
  return n % qs::vec16<T>::n == 0 && (uintptr_t)a % 16 == 0 && (uintptr_t)b % 16 == 0;
}

template <typename T>
void act_run(T *x, int64_t n, int a, cudaStream_t s) {
  const int threads = 256;
  if (vec_ok<T>(x, x, n)) {
    const int64_t nv = n / qs::vec16<T>::n;
    act_vec_kernel<T><<<qs::grid_for(nv, threads), threads, 0, s>>>(x, nv, a);
  } else {
    act_kernel<T><<<qs::grid_for(n, threads), threads, 0, s>>>(x, n, a);
  }
}

template <typename T>
void add_run(T *y, const T *x, int64_t n, cudaStream_t s) {
  const int threads = 256;
  if (vec_ok<T>(y, x, n)) {
    const int64_t nv = n / qs::vec16<T>::n;
    add_vec_kernel<T><<<qs::grid_for(nv, threads), threads, 0, s>>>(y, x, nv);
  } else {
    add_kernel<T><<<qs::grid_for(n, threads), threads, 0, s>>>(y, x, n);
  }
}

}  // namespace

extern "C" int qs_gelu_launch(qs_dtype dt, void *x, int64_t n, cudaStream_t s) {
  QS_REQUIRE(x && n > 0, "gelu: empty input");
  const int threads = 256;
  if (dt == QS_DT_F16) {
    if (vec_ok<__half>(x, x, n))
      gelu_vec_kernel<__half><<<qs::grid_for(n / 8, threads), threads, 0, s>>>((__half *)x, n / 8);
    else
      gelu_kernel<__half><<<qs::grid_for(n, threads), threads, 0, s>>>((__half *)x, n);
  } else if (dt == QS_DT_BF16) {
    if (vec_ok<__nv_bfloat16>(x, x, n))
      gelu_vec_kernel<__nv_bfloat16><<<qs::grid_for(n / 8, threads), threads, 0, s>>>((__nv_bfloat16 *)x, n / 8);
    else
      gelu_kernel<__nv_bfloat16><<<qs::grid_for(n, threads), threads, 0, s>>>((__nv_bfloat16 *)x, n);
  } else {
    if (vec_ok<float>(x, x, n))
      gelu_vec_kernel<float><<<qs::grid_for(n / 4, threads), threads, 0, s>>>((float *)x, n / 4);
    else
      gelu_kernel<float><<<qs::grid_for(n, threads), threads, 0, s>>>((float *)x, n);
  }
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_act_launch(qs_dtype dt, qs_cuda_act act, void *x, int64_t n, cudaStream_t s) {
  QS_REQUIRE(x && n > 0, "act: empty input");
  if (act == QS_CUDA_ACT_NONE) return QS_OK;
  if (dt == QS_DT_F16) act_run<__half>((__half *)x, n, (int)act, s);
  else if (dt == QS_DT_BF16) act_run<__nv_bfloat16>((__nv_bfloat16 *)x, n, (int)act, s);
  else act_run<float>((float *)x, n, (int)act, s);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_add_launch(qs_dtype dt, void *y, const void *x, int64_t n, cudaStream_t s) {
  QS_REQUIRE(y && x && n > 0, "add: empty input");
  if (dt == QS_DT_F16) add_run<__half>((__half *)y, (const __half *)x, n, s);
  else if (dt == QS_DT_BF16) add_run<__nv_bfloat16>((__nv_bfloat16 *)y, (const __nv_bfloat16 *)x, n, s);
  else add_run<float>((float *)y, (const float *)x, n, s);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
