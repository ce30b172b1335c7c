/* calibrate.cu - the operands of the calibration GEMMs (kernels/calibrate.c): uniform
 * pseudo-random values in [-1, 1) (int8: [-127, 127]) from a hash of the index, so that
 * no measurement runs on zeros (tensor cores draw less power on them and clock higher). */
#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "qs_cuda_dev.cuh"

namespace {

__device__ __forceinline__ float unit_hash(uint64_t i, uint32_t seed) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

template <typename T>
__device__ __forceinline__ T from_unit(float u);
template <> __device__ __forceinline__ float from_unit<float>(float u) { return u; }
template <> __device__ __forceinline__ __half from_unit<__half>(float u) { return __float2half_rn(u); }
template <> __device__ __forceinline__ __nv_bfloat16 from_unit<__nv_bfloat16>(float u) { return __float2bfloat16_rn(u); }
template <> __device__ __forceinline__ int8_t from_unit<int8_t>(float u) { return (int8_t)__float2int_rn(u * 127.0f); }
template <> __device__ __forceinline__ __nv_fp8_e4m3 from_unit<__nv_fp8_e4m3>(float u) { return __nv_fp8_e4m3(u); }

template <typename T>
__global__ void fill_kernel(T *p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    p[i] = from_unit<T>(unit_hash((uint64_t)i, seed));
}

template <typename T>
int fill(void *p, int64_t n, uint32_t seed, cudaStream_t s) {
  fill_kernel<T><<<qs::grid_for(n, 256), 256, 0, s>>>(static_cast<T *>(p), n, seed);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

}  // namespace

extern "C" int qs_calib_fill_launch(qs_calib_type t, void *p, int64_t n, uint32_t seed, cudaStream_t s) {
  QS_REQUIRE(p && n > 0, "calib fill: %lld elements at %p", (long long)n, p);
  switch (t) {
    case QS_CALIB_F32: return fill<float>(p, n, seed, s);
    case QS_CALIB_F16: return fill<__half>(p, n, seed, s);
    case QS_CALIB_BF16: return fill<__nv_bfloat16>(p, n, seed, s);
    case QS_CALIB_I8: return fill<int8_t>(p, n, seed, s);
    case QS_CALIB_E4M3: return fill<__nv_fp8_e4m3>(p, n, seed, s);
  }
  return qs_fail(QS_EINVAL, "calib fill: unknown type %d", (int)t);
}
