/* fp8_quant.cu - fp8 e4m3 activation quantization per token (quant.h section 5):
 * s_x[m] = fp32 (max_k |xh[m,k]|) / 448 (the maximum of the fp16 magnitude bits,
 * NaN > inf > every finite value, as section 3), xq[m,k] = e(fp32 xh / s_x) (one
 * correctly rounded division, then the nearest e4m3 code with saturation to +-448,
 * NaN to 0x7f: __NV_SATFINITE, __NV_E4M3), xq = 0 in a row whose s_x is 0.
 *
 * One warp a row. A row of at most 32 CPL 16-byte chunks is read once into
 * registers (its loads in flight together); longer rows are read twice. */
#include <cuda_fp8.h>

#include "qs_quant_dev.cuh"

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;

/* 8 fp16 values (one 16-byte chunk) to 8 e4m3 codes */
__device__ __forceinline__ uint2 quant_chunk(const uint4 v, float s, bool zero_row) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
  uint32_t packed[2] = {0u, 0u};
#pragma unroll
  for (int j = 0; j < 8; j++) {
    const unsigned short hb = (unsigned short)(w[j >> 1] >> ((j & 1) * 16));
    const float xh = __half2float(__ushort_as_half(hb));
    const uint32_t q = zero_row ? 0u : (uint32_t)__nv_cvt_float_to_fp8(__fdiv_rn(xh, s), __NV_SATFINITE, __NV_E4M3);
    packed[j >> 2] |= (q & 0xffu) << ((j & 3) * 8);
  }
  return make_uint2(packed[0], packed[1]);
}

__device__ __forceinline__ uint32_t chunk_max(const uint4 v) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
  uint32_t mx = 0;
#pragma unroll
  for (int j = 0; j < 8; j++) mx = max(mx, (w[j >> 1] >> ((j & 1) * 16)) & 0x7fffu);
  return mx;
}

template <int CPL>
__global__ void __launch_bounds__(kThreads) fp8_quant_kernel(const uint4 *__restrict__ x, int M, int K,
                                                             uint8_t *__restrict__ xq, float *__restrict__ sx) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int K8 = K >> 3;
  const int gw = blockIdx.x * kWarps + warp, nw = gridDim.x * kWarps;
  for (int m = gw; m < M; m += nw) {
    const uint4 *xr = x + (size_t)m * K8;
    uint2 *qr = (uint2 *)(xq + (size_t)m * K);
    uint32_t mx = 0;
    if constexpr (CPL > 0) {
      uint4 v[CPL];
#pragma unroll
      for (int i = 0; i < CPL; i++) {
        const int c = lane + 32 * i;
        v[i] = c < K8 ? __ldg(xr + c) : make_uint4(0u, 0u, 0u, 0u);
        mx = max(mx, chunk_max(v[i]));
      }
      mx = __reduce_max_sync(0xffffffffu, mx);
      const float s = __fdiv_rn(__half2float(__ushort_as_half((unsigned short)mx)), 448.0f);
      if (lane == 0) sx[m] = s;
      const bool zero_row = s == 0.0f;
#pragma unroll
      for (int i = 0; i < CPL; i++) {
        const int c = lane + 32 * i;
        if (c < K8) qr[c] = quant_chunk(v[i], s, zero_row);
      }
    } else {
      for (int c = lane; c < K8; c += 32) mx = max(mx, chunk_max(__ldg(xr + c)));
      mx = __reduce_max_sync(0xffffffffu, mx);
      const float s = __fdiv_rn(__half2float(__ushort_as_half((unsigned short)mx)), 448.0f);
      if (lane == 0) sx[m] = s;
      const bool zero_row = s == 0.0f;
      for (int c = lane; c < K8; c += 32) qr[c] = quant_chunk(__ldg(xr + c), s, zero_row);
    }
  }
}

typedef void (*quant_fn)(const uint4 *, int, int, uint8_t *, float *);
constexpr int kCpl[] = {1, 2, 3, 4, 6, 8, 12, 16, 20, 24};
constexpr int kNCpl = (int)(sizeof kCpl / sizeof kCpl[0]);
const quant_fn kFns[kNCpl + 1] = {fp8_quant_kernel<1>,  fp8_quant_kernel<2>,  fp8_quant_kernel<3>, fp8_quant_kernel<4>,
                                  fp8_quant_kernel<6>,  fp8_quant_kernel<8>,  fp8_quant_kernel<12>,
                                  fp8_quant_kernel<16>, fp8_quant_kernel<20>, fp8_quant_kernel<24>,
                                  fp8_quant_kernel<0>};

}  // namespace

extern "C" int qs_fp8_quant_launch(const uint16_t *x, int M, int K, uint8_t *xq, float *sx, cudaStream_t s) {
  QSQ_REQUIRE(x && xq && sx, "fp8 quant: argument: NULL pointer");
  QSQ_REQUIRE(M >= 1 && K >= 8 && K % 8 == 0, "fp8 quant: shape: M %d K %d (need K %% 8 == 0)", M, K);
  QSQ_REQUIRE(((uintptr_t)x & 15) == 0 && ((uintptr_t)xq & 7) == 0,
              "fp8 quant: alignment: x must be 16-byte and xq 8-byte aligned");
  const int per_lane = (K / 8 + 31) / 32;
  int ci = kNCpl;
  for (int i = 0; i < kNCpl; i++)
    if (kCpl[i] >= per_lane) {
      ci = i;
      break;
    }
  int blocks = (M + kWarps - 1) / kWarps;
  if (blocks > 65535) blocks = 65535;
  kFns[ci]<<<blocks, kThreads, 0, s>>>((const uint4 *)x, M, K, xq, sx);
  QSQ_CUDA(cudaGetLastError(), "fp8 quant");
  return QS_OK;
}
