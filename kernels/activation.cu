/* activation.cu - elementwise activations in place (fp32 math, stored in dt). */
#include "qs_cuda_dev.cuh"

namespace {

template <typename T>
__global__ void gelu_kernel(T *x, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = qs::ld(x + i);
    qs::st(x + i, 0.5f * v * (1.0f + erff(v * 0.70710678118654752f))); /* exact erf GELU, as HF "gelu" */
  }
}

}  // namespace

extern "C" int qs_gelu_launch(qs_dtype dt, void *x, int64_t n, cudaStream_t s) {
  QS_REQUIRE(x && n > 0, "gelu: empty input");
  const int threads = 256;
  if (dt == QS_DT_F16) gelu_kernel<__half><<<qs::grid_for(n, threads), threads, 0, s>>>((__half *)x, n);
  else gelu_kernel<float><<<qs::grid_for(n, threads), threads, 0, s>>>((float *)x, n);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
