/* int8_outlier_dev.cuh - the LLM.int8 outlier part's tiles (quant.h section 3):
 * obuf fp16 [M, N] = fp16 GEMM (section 1, no bias) of the gathered outlier
 * activations xo [M, n_out] with the dequantized int8 weight columns
 * wo[n, j] = h((q[n, cols[j]] * s_w[n]) / 127), 32 x 32 output tiles walked by a
 * grid-stride loop, 256 threads a block, 2 x 2 outputs a thread, each with the
 * reference's 8 fp32 lane sums (the j-th outlier column goes to lane j mod 8) and its
 * combination tree: bit-exact with the reference. Used by int8_outlier.cu's kernel
 * and by the activation quantization kernel, which runs it after a grid barrier; so
 * xo and cols are read through L2 (__ldcg): they may have been written by this
 * very launch. */
#ifndef QS_INT8_OUTLIER_DEV_CUH
#define QS_INT8_OUTLIER_DEV_CUH

#include "qs_quant_dev.cuh"

namespace qsq {

constexpr int kOutlierTile = 32;

__device__ __forceinline__ void outlier_tiles(const __half *__restrict__ xo, int nout, const int *__restrict__ cols,
                                              const int8_t *__restrict__ wq, const float *__restrict__ sw, int M,
                                              int N, int K, __half *__restrict__ obuf) {
  constexpr int TILE = kOutlierTile;
  __shared__ float xs[TILE][TILE + 1], ws[TILE][TILE + 1];
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const int tiles_n = (N + TILE - 1) / TILE, tiles = tiles_n * ((M + TILE - 1) / TILE);
  const unsigned short *xo_bits = reinterpret_cast<const unsigned short *>(xo);
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
        xs[r][l] = (gm < M && j < nout) ? __half2float(__ushort_as_half(__ldcg(xo_bits + (size_t)gm * nout + j)))
                                        : 0.0f;
        float w = 0.0f;
        if (gn < N && j < nout) {
          const float q = (float)wq[(size_t)gn * K + __ldcg(cols + j)];
          w = rh(__fdiv_rn(__fmul_rn(q, sw[gn]), 127.0f));
        }
        ws[r][l] = w;
      }
      __syncthreads();
      /* 8 at a time (the lane l & 7 a constant): these tiles also run inside the quantization kernel, whose
       * register count (its occupancy) they must not raise */
#pragma unroll 8
      for (int l = 0; l < TILE; l++) {
        if (j0 + l < nout) {
#pragma unroll
          for (int a = 0; a < 2; a++)
#pragma unroll
            for (int b = 0; b < 2; b++) P[a][b][l & 7] = fmaf(xs[ty * 2 + a][l], ws[tx * 2 + b][l], P[a][b][l & 7]);
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

}  // namespace qsq

#endif
