/* int8_outlier.cu - the LLM.int8 outlier part for many outlier columns:
 * obuf fp16 [M, N] = fp16 GEMM (quant.h section 1, no bias) of the gathered
 * outlier activations xo [M, n_out] with the dequantized int8 weight columns
 * wo[n, j] = h((q[n, cols[j]] * s_w[n]) / 127).
 *
 * The count n_out exists only on the device. The kernel reads it first and every
 * block returns at once when n_out <= QS_INT8_FUSED_OUTLIERS (the mma.sync GEMM's
 * epilogue then computes the outlier part itself) or, when the GEMM of this shape is
 * the sm_90a one (which reads every outlier part from obuf), when n_out == 0; so the launch is always
 * made, the host never waits for the count, and a captured graph stays valid
 * whatever the count of a later replay.
 *
 * The tiles: int8_outlier_dev.cuh (CUDA cores, the reference's 8 lanes and tree,
 * bit-exact). qs_int8_quant_outlier_launch runs the same tiles inside the
 * quantization kernel instead, so a Linear needs no launch of this kernel. */
#include "int8_outlier_dev.cuh"

namespace {

constexpr int TILE = qsq::kOutlierTile;

__global__ void __launch_bounds__(256) int8_outlier_kernel(const __half *__restrict__ xo, const int *__restrict__ n_out_p,
                                                           const int *__restrict__ cols, const int8_t *__restrict__ wq,
                                                           const float *__restrict__ sw, int M, int N, int K,
                                                           int min_out, __half *__restrict__ obuf) {
  const int nout = *n_out_p;
  if (nout <= min_out) return;
  qsq::outlier_tiles(xo, nout, cols, wq, sw, M, N, K, obuf);
}

}  // namespace

extern "C" int qs_int8_outlier_launch(const qs_int8_act *a, const int8_t *wq, const float *sw, int M, int N, int K,
                                      uint16_t *obuf, cudaStream_t s) {
  if (!obuf) return QS_OK; /* the caller guarantees n_out <= QS_INT8_FUSED_OUTLIERS */
  QSQ_REQUIRE(a && a->n_out && a->cols && a->xo && wq && sw, "int8 outlier: argument: NULL pointer");
  QSQ_REQUIRE(M >= 1 && N >= 1 && K >= 1, "int8 outlier: shape: M %d N %d K %d", M, N, K);
  /* a grid-stride grid of about two blocks per SM: cheap to launch when it exits at once */
  static int sms = 0;
  if (!sms) {
    int dev = 0;
    QSQ_CUDA(cudaGetDevice(&dev), "int8 outlier");
    QSQ_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "int8 outlier");
  }
  const long tiles = (long)((N + TILE - 1) / TILE) * ((M + TILE - 1) / TILE);
  const unsigned grid = (unsigned)(tiles < 2L * sms ? tiles : 2L * sms);
  /* the sm_90a GEMM takes every outlier part from obuf, the others only beyond the fused limit */
  const int min_out = qs_int8_gemm_uses_sm90(M, N, K, obuf) ? 0 : QS_INT8_FUSED_OUTLIERS;
  int8_outlier_kernel<<<grid, 256, 0, s>>>((const __half *)a->xo, a->n_out, a->cols, wq, sw, M, N, K, min_out,
                                           (__half *)obuf);
  QSQ_CUDA(cudaGetLastError(), "int8 outlier");
  return QS_OK;
}
