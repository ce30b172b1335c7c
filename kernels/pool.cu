/* pool.cu - global average pooling of an NHWC map, with the producer's activation
 * applied on load (MobileViT's conv_1x1_exp -> mean over H, W). */
#include "qs_cuda_dev.cuh"

namespace {

constexpr int kThreads = 128;

/* grid (ceil(C / kThreads), B): one thread per (image, channel) sums the H*W pixels;
 * neighbouring threads read neighbouring channels. */
template <typename T>
__global__ void avgpool_kernel(const T *x, T *y, int HW, int C, int act) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t b = blockIdx.y;
  if (c >= C) return;
  const T *xb = x + b * HW * C + c;
  float s = 0.0f;
  for (int p = 0; p < HW; p++) {
    float v = qs::ld(xb + (int64_t)p * C);
    if (act) v = qs::rnd<T>(qs::act(act, v));
    s += v;
  }
  qs::st(y + b * C + c, s / (float)HW);
}

}  // namespace

extern "C" int qs_avgpool_launch(qs_dtype dt, const void *x, void *y, int B, int HW, int C, qs_cuda_act act,
                                 cudaStream_t s) {
  QS_REQUIRE(x && y && B > 0 && HW > 0 && C > 0 && B <= 65535, "avgpool: bad shape [%d, %d, %d]", B, HW, C);
  dim3 grid((unsigned)((C + kThreads - 1) / kThreads), (unsigned)B);
  if (dt == QS_DT_F16)
    avgpool_kernel<__half><<<grid, kThreads, 0, s>>>((const __half *)x, (__half *)y, HW, C, (int)act);
  else if (dt == QS_DT_BF16)
    avgpool_kernel<__nv_bfloat16><<<grid, kThreads, 0, s>>>((const __nv_bfloat16 *)x, (__nv_bfloat16 *)y, HW, C,
                                                            (int)act);
  else avgpool_kernel<float><<<grid, kThreads, 0, s>>>((const float *)x, (float *)y, HW, C, (int)act);
  QS_LAUNCH_CHECK();
  return QS_OK;
}
