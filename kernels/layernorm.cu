/* layernorm.cu - LayerNorm with fp32 statistics, optionally fused with the residual
 * add (and layer scale) that precedes it in a pre-norm block. One warp per row.
 *
 * Rows up to 32 * kMaxVpl features are held in registers: every load of the row is
 * issued before the first use and the row is read from memory once (the looped
 * form that re-reads it was latency-bound: ~18 us per call at 197 x 768). Wider
 * rows take the looped form. */
#include "qs_cuda_dev.cuh"

namespace {

/* VPL = values per lane held in registers (D <= 32 * VPL). */
template <typename T, int VPL>
__global__ void layernorm_reg_kernel(T *__restrict__ x, const T *__restrict__ r, const T *__restrict__ ls,
                                     const T *__restrict__ g, const T *__restrict__ b, T *__restrict__ y, int M,
                                     int D, float eps) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;
  T *xr = x + (size_t)row * D;
  float v[VPL];
  float sum = 0.0f;
  if (r) {
    const T *rr = r + (size_t)row * D;
#pragma unroll
    for (int i = 0; i < VPL; i++) {
      const int d = lane + 32 * i;
      float nx = 0.0f;
      if (d < D) {
        float t = qs::ld(rr + d);
        if (ls) t = qs::rnd<T>(qs::ld(ls + d) * t);
        nx = qs::rnd<T>(qs::ld(xr + d) + t);
      }
      v[i] = nx;
    }
#pragma unroll
    for (int i = 0; i < VPL; i++) {
      const int d = lane + 32 * i;
      if (d < D) qs::st(xr + d, v[i]);
      sum += v[i];
    }
  } else {
#pragma unroll
    for (int i = 0; i < VPL; i++) {
      const int d = lane + 32 * i;
      v[i] = d < D ? qs::ld(xr + d) : 0.0f;
      sum += v[i];
    }
  }
  if (!y) return;
  const float mean = qs::warp_sum(sum) / (float)D;
  float var = 0.0f;
#pragma unroll
  for (int i = 0; i < VPL; i++) {
    const float t = lane + 32 * i < D ? v[i] - mean : 0.0f;
    var += t * t;
  }
  const float inv = rsqrtf(qs::warp_sum(var) / (float)D + eps);
  T *yr = y + (size_t)row * D;
#pragma unroll
  for (int i = 0; i < VPL; i++) {
    const int d = lane + 32 * i;
    if (d < D) qs::st(yr + d, (v[i] - mean) * inv * qs::ld(g + d) + qs::ld(b + d));
  }
}

/* Any width: the row is read from memory in each pass. */
template <typename T>
__global__ void layernorm_loop_kernel(T *x, const T *r, const T *ls, const T *g, const T *b, T *y, int M, int D,
                                      float eps) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;
  T *xr = x + (size_t)row * D;
  float sum = 0.0f;
  if (r) {
    const T *rr = r + (size_t)row * D;
    for (int d = lane; d < D; d += 32) {
      float v = qs::ld(rr + d);
      if (ls) v = qs::rnd<T>(qs::ld(ls + d) * v);
      float nx = qs::rnd<T>(qs::ld(xr + d) + v);
      qs::st(xr + d, nx);
      sum += nx;
    }
  } else {
    for (int d = lane; d < D; d += 32) sum += qs::ld(xr + d);
  }
  if (!y) return;
  const float mean = qs::warp_sum(sum) / (float)D;
  float var = 0.0f;
  for (int d = lane; d < D; d += 32) {
    float t = qs::ld(xr + d) - mean;
    var += t * t;
  }
  const float inv = rsqrtf(qs::warp_sum(var) / (float)D + eps);
  T *yr = y + (size_t)row * D;
  for (int d = lane; d < D; d += 32) qs::st(yr + d, (qs::ld(xr + d) - mean) * inv * qs::ld(g + d) + qs::ld(b + d));
}

constexpr int kMaxVpl = 64;

template <typename T>
int launch(void *x, const void *r, const void *ls, const void *g, const void *b, void *y, int M, int D, float eps,
           cudaStream_t s) {
  /* one warp per block for few rows spreads them over the multiprocessors */
  const int rows_per_block = M < 1024 ? 1 : 4;
  dim3 grid((unsigned)((M + rows_per_block - 1) / rows_per_block)), block(32 * rows_per_block);
  T *xx = (T *)x, *yy = (T *)y;
  const T *rr = (const T *)r, *ll = (const T *)ls, *gg = (const T *)g, *bb = (const T *)b;
  const int vpl = (D + 31) / 32;
  if (vpl <= 8) layernorm_reg_kernel<T, 8><<<grid, block, 0, s>>>(xx, rr, ll, gg, bb, yy, M, D, eps);
  else if (vpl <= 16) layernorm_reg_kernel<T, 16><<<grid, block, 0, s>>>(xx, rr, ll, gg, bb, yy, M, D, eps);
  else if (vpl <= 24) layernorm_reg_kernel<T, 24><<<grid, block, 0, s>>>(xx, rr, ll, gg, bb, yy, M, D, eps);
  else if (vpl <= 32) layernorm_reg_kernel<T, 32><<<grid, block, 0, s>>>(xx, rr, ll, gg, bb, yy, M, D, eps);
  else if (vpl <= 40) layernorm_reg_kernel<T, 40><<<grid, block, 0, s>>>(xx, rr, ll, gg, bb, yy, M, D, eps);
  else if (vpl <= kMaxVpl) layernorm_reg_kernel<T, kMaxVpl><<<grid, block, 0, s>>>(xx, rr, ll, gg, bb, yy, M, D, eps);
  else layernorm_loop_kernel<T><<<grid, block, 0, s>>>(xx, rr, ll, gg, bb, yy, M, D, eps);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

}  // namespace

extern "C" int qs_layernorm_launch(qs_dtype dt, void *x, const void *r, const void *ls, const void *g, const void *b,
                                   void *y, int M, int D, float eps, cudaStream_t s) {
  QS_REQUIRE(x && M > 0 && D > 0, "layernorm: x NULL or shape [%d, %d] empty", M, D);
  QS_REQUIRE(!y || (g && b), "layernorm: output without gamma / beta");
  QS_REQUIRE(r || y, "layernorm: nothing to do (no residual, no output)");
  QS_REQUIRE(y != x && (!r || r != x), "layernorm: y and r must not alias x");
  if (dt == QS_DT_F16) return launch<__half>(x, r, ls, g, b, y, M, D, eps, s);
  if (dt == QS_DT_BF16) return launch<__nv_bfloat16>(x, r, ls, g, b, y, M, D, eps, s);
  return launch<float>(x, r, ls, g, b, y, M, D, eps, s);
}
