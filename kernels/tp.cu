/* tp.cu - tensor parallelism: the bias of a column-split Linear, added once after the
 * all-reduce of the ranks' partial products (fp32 sum, rounded to dt once, as the CPU
 * reference's reduce_add_bias). */
#include <stdint.h>

#include "qs_cuda_dev.cuh"

namespace {

template <typename T>
__global__ void bias_add_kernel(T *y, const T *bias, int64_t n, int N) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    qs::st(y + i, __fadd_rn(qs::ld(y + i), qs::ld(bias + i % N)));
}

}  // namespace

extern "C" int qs_bias_add_launch(qs_dtype dt, void *y, const void *bias, int M, int N, cudaStream_t s) {
  QS_REQUIRE(y && bias && M > 0 && N > 0, "bias add: empty input");
  const int threads = 256;
  const int64_t n = (int64_t)M * N;
  if (dt == QS_DT_F16)
    bias_add_kernel<__half><<<qs::grid_for(n, threads), threads, 0, s>>>((__half *)y, (const __half *)bias, n, N);
  else if (dt == QS_DT_BF16)
    bias_add_kernel<__nv_bfloat16><<<qs::grid_for(n, threads), threads, 0, s>>>(
        (__nv_bfloat16 *)y, (const __nv_bfloat16 *)bias, n, N);
  else
    bias_add_kernel<float><<<qs::grid_for(n, threads), threads, 0, s>>>((float *)y, (const float *)bias, n, N);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
