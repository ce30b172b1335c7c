/* qs_quant_dev.cuh - device helpers of the quantized GEMM kernels (int8_*.cu,
 * nf4_gemm.cu): cp.async, ldmatrix and mma.sync wrappers, the fp16 rounding
 * and GELU of the epilogues, and the launchers' error reporting. */
#ifndef QS_QUANT_DEV_CUH
#define QS_QUANT_DEV_CUH

#include <cuda_fp16.h>
#include <stdint.h>

extern "C" {
#include "qs_common.h"
}
#include "qs_quant_cuda.h"

namespace qsq {

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16-byte global -> shared copy; bytes beyond src_bytes (0 or 16) are zero-filled. */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(src_bytes));
}
/* 4-byte copy (src_bytes 0 or 4). */
__device__ __forceinline__ void cp_async4(void *dst, const void *src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

/* d += a * b: m16n8k32, int8 x int8 -> int32 (exact). */
__device__ __forceinline__ void mma_s8(int d[4], const uint32_t a[4], const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* d += a * b: m16n8k16, fp16 x fp16 -> fp32. */
__device__ __forceinline__ void mma_f16(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* h(v): round to fp16 and back. */
__device__ __forceinline__ float rh(float v) { return __half2float(__float2half_rn(v)); }
/* The exact-erf GELU of activation.cu, on an fp16 value, rounded to fp16. */
__device__ __forceinline__ float gelu_h(float v) { return rh(0.5f * v * (1.0f + erff(v * 0.70710678118654752f))); }

__device__ __forceinline__ uint32_t pack_h2(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&h);
}

}  // namespace qsq

#define QSQ_REQUIRE(cond, ...)                                   \
  do {                                                           \
    if (!(cond)) return qs_fail(QS_EINVAL, __VA_ARGS__);         \
  } while (0)
#define QSQ_CUDA(stmt, what)                                                             \
  do {                                                                                   \
    cudaError_t qsq_e_ = (stmt);                                                         \
    if (qsq_e_ != cudaSuccess)                                                           \
      return qs_fail(qsq_e_ == cudaErrorMemoryAllocation ? QS_EOOM : QS_EDEVICE, "%s: %s: %s", what, #stmt, \
                     cudaGetErrorString(qsq_e_));                                        \
  } while (0)

#endif
