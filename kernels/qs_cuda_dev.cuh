/* qs_cuda_dev.cuh - device helpers shared by the kernels: fp32 / fp16 / bf16 element
 * access (all arithmetic in fp32), warp reductions, launch checks. */
#ifndef QS_CUDA_DEV_CUH
#define QS_CUDA_DEV_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

extern "C" {
#include "qs_common.h"
}
#include "qs_cuda.h"

namespace qs {

__device__ __forceinline__ float ld(const float *p) { return *p; }
__device__ __forceinline__ float ld(const __half *p) { return __half2float(*p); }
__device__ __forceinline__ void st(float *p, float v) { *p = v; }
__device__ __forceinline__ void st(__half *p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ float ld(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ void st(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

/* v rounded to the storage type T (identity for fp32). */
template <typename T> __device__ __forceinline__ float rnd(float v);
template <> __device__ __forceinline__ float rnd<float>(float v) { return v; }
template <> __device__ __forceinline__ float rnd<__half>(float v) { return __half2float(__float2half_rn(v)); }
template <> __device__ __forceinline__ float rnd<__nv_bfloat16>(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

/* 16-byte vectors: kVec<T> values as fp32 (p 16-byte aligned). */
template <typename T> struct vec16;
template <> struct vec16<float> {
  static constexpr int n = 4;
  static __device__ __forceinline__ void load(const float *p, float *f) {
    const float4 v = *reinterpret_cast<const float4 *>(p);
    f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
  }
  static __device__ __forceinline__ void store(float *p, const float *f) {
    *reinterpret_cast<float4 *>(p) = make_float4(f[0], f[1], f[2], f[3]);
  }
};
template <> struct vec16<__half> {
  static constexpr int n = 8;
  static __device__ __forceinline__ void load(const __half *p, float *f) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    const __half2 *h = reinterpret_cast<const __half2 *>(&u);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const float2 v = __half22float2(h[j]);
      f[2 * j] = v.x, f[2 * j + 1] = v.y;
    }
  }
  static __device__ __forceinline__ void store(__half *p, const float *f) {
    uint4 u;
    __half2 *h = reinterpret_cast<__half2 *>(&u);
#pragma unroll
    for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(f[2 * j], f[2 * j + 1]);
    *reinterpret_cast<uint4 *>(p) = u;
  }
};
template <> struct vec16<__nv_bfloat16> {
  static constexpr int n = 8;
  static __device__ __forceinline__ void load(const __nv_bfloat16 *p, float *f) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const float2 v = __bfloat1622float2(h[j]);
      f[2 * j] = v.x, f[2 * j + 1] = v.y;
    }
  }
  static __device__ __forceinline__ void store(__nv_bfloat16 *p, const float *f) {
    uint4 u;
    __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&u);
#pragma unroll
    for (int j = 0; j < 4; j++) h[j] = __floats2bfloat162_rn(f[2 * j], f[2 * j + 1]);
    *reinterpret_cast<uint4 *>(p) = u;
  }
};

/* The activation of a qs_cuda_act code, in fp32. */
__device__ __forceinline__ float act(int a, float v) {
  if (a == QS_CUDA_ACT_SILU) return v / (1.0f + __expf(-v));
  if (a == QS_CUDA_ACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* Grid for n elements at `threads` per block, capped for grid-stride loops. */
static inline unsigned grid_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b > 65535LL * 8) b = 65535LL * 8;
  return (unsigned)(b < 1 ? 1 : b);
}

}  // namespace qs

/* After a launch: record a launch error with the launcher's name. */
#define QS_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())
#define QS_REQUIRE(cond, ...)                      \
  do {                                             \
    if (!(cond)) return qs_fail(QS_EINVAL, __VA_ARGS__); \
  } while (0)

#endif
