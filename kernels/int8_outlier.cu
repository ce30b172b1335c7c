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
 * CUDA cores, 32 x 32 output tile per block of 256 threads, 2 x 2 outputs per
 * thread, each with the reference's 8 fp32 lane sums (the j-th outlier column
 * goes to lane j mod 8) and its combination tree: bit-exact with the reference. */
#include "qs_quant_dev.cuh"

namespace {

constexpr int TILE = 32;

__global__ void __launch_bounds__(256) int8_outlier_kernel(const __half *__restrict__ xo, const int *__restrict__ n_out_p,
                                                           const int *__restrict__ cols, const int8_t *__restrict__ wq,
                                                           const float *__restrict__ sw, int M, int N, int K,
                                                           int min_out, __half *__restrict__ obuf) {
  const int nout = *n_out_p;
  if (nout <= min_out) return;
  __shared__ float xs[TILE][TILE + 1], ws[TILE][TILE + 1];
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const int tiles_n = (N + TILE - 1) / TILE, tiles = tiles_n * ((M + TILE - 1) / TILE);
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
  const int m0 = (tile / tiles_n) * TILE, n0 = (tile % tiles_n) * TILE;
  float P[2][2][8];
#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int b = 0; b < 2; b++)
#pragma unroll
      for (int l = 0; l < 8; l++) P[a][b][l] = 0.0f;

  for (int j0 = 0; j0 < nout; j0 += TILE) {
    for (int i = tid; i < TILE * TILE; i += 256) {
      const int r = i / TILE, l = i % TILE, j = j0 + l;
      const int gm = m0 + r, gn = n0 + r;
      xs[r][l] = (gm < M && j < nout) ? __half2float(xo[(size_t)gm * nout + j]) : 0.0f;
      float w = 0.0f;
      if (gn < N && j < nout) {
        const float q = (float)wq[(size_t)gn * K + cols[j]];
        w = qsq::rh(__fdiv_rn(__fmul_rn(q, sw[gn]), 127.0f));
      }
      ws[r][l] = w;
    }
    __syncthreads();
#pragma unroll
    for (int l = 0; l < TILE; l++) {
      if (j0 + l < nout) {
#pragma unroll
        for (int a = 0; a < 2; a++)
#pragma unroll
          for (int b = 0; b < 2; b++)
            P[a][b][l & 7] = fmaf(xs[ty * 2 + a][l], ws[tx * 2 + b][l], P[a][b][l & 7]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int a = 0; a < 2; a++) {
    const int gm = m0 + ty * 2 + a;
    if (gm >= M) continue;
#pragma unroll
    for (int b = 0; b < 2; b++) {
      const int gn = n0 + tx * 2 + b;
      if (gn >= N) continue;
      const float *p = P[a][b];
      const float S = __fadd_rn(__fadd_rn(__fadd_rn(p[0], p[1]), __fadd_rn(p[2], p[3])),
                                __fadd_rn(__fadd_rn(p[4], p[5]), __fadd_rn(p[6], p[7])));
      obuf[(size_t)gm * N + gn] = __float2half_rn(S);
    }
  }
  }
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
