/* qs_cuda_dev.cuh - device helpers shared by the kernels: fp32 / fp16 element
 * access (all arithmetic in fp32), warp reductions, launch checks. */
#ifndef QS_CUDA_DEV_CUH
#define QS_CUDA_DEV_CUH

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

/* v rounded to the storage type T (identity for fp32). */
template <typename T> __device__ __forceinline__ float rnd(float v);
template <> __device__ __forceinline__ float rnd<float>(float v) { return v; }
template <> __device__ __forceinline__ float rnd<__half>(float v) { return __half2float(__float2half_rn(v)); }

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
