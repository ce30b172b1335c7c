/* int8_gemm.cu - LLM.int8 GEMM: xq int8 [M, K] x wq int8 [N, K]^T -> int32 on
 * tensor cores (mma.sync m16n8k32 s8), with the whole dequantization in the
 * epilogue (quant.h section 3):
 *   d = ((float)acc * s_x[m]) * s_w[n] * (1/16129)   (three rounded products)
 *   y = h((d + o) + h(bias[n]))                       (then optionally h(gelu(y)))
 * where o is the outlier part. For up to QS_INT8_FUSED_OUTLIERS outlier columns
 * the epilogue computes o itself from xo (written by the quantization kernel)
 * and the int8 weight columns, dequantized to fp16 as the reference does, with
 * the reference's 8-lane fp32 accumulation and combination tree; so y is
 * bit-exact. Beyond that, o comes from obuf (int8_outlier.cu).
 *
 * On a compute capability 9.0 device built with sm_90a, qs_int8_gemm_launch hands
 * every shape (N even, obuf given) to the wgmma kernel of int8_gemm_sm90.cu (same
 * epilogue, same bits); this file's mma.sync kernels take the rest.
 *
 * Tiles: BM x BN x 64 bytes of K per stage, 4-stage cp.async pipeline, XOR-
 * swizzled shared memory (16-byte chunks, conflict-free ldmatrix), warp tiles of
 * 64x32 or 32x32 (int32 accumulators in registers). Configurations:
 *   0: 128 x 128, 8 warps (2 x 4)    1: 128 x 64, 4 warps (2 x 2)
 *   2:  64 x  64, 4 warps (2 x 2) */
#include "qs_quant_dev.cuh"

extern "C" {
#include "quant.h"
}

namespace {

constexpr int BK = 64;
constexpr int STAGES = 4;
constexpr int CAP = QS_INT8_FUSED_OUTLIERS;
constexpr int OSTR = CAP + 2; /* fp16 stride of the outlier tiles: rows land in distinct banks */

__device__ __forceinline__ uint32_t swz(int row, int chunk) {
  return (uint32_t)(row * BK + ((chunk ^ ((row >> 1) & 3)) << 4));
}

template <int BM, int BN, int WM, int WN>
struct Int8Cfg {
  static constexpr int THREADS = WM * WN * 32;
  static constexpr int WTM = BM / WM, WTN = BN / WN;
  static constexpr int MT = WTM / 16, NT = WTN / 8;
  static constexpr int STAGE_BYTES = (BM + BN) * BK;
  static constexpr int PIPE_BYTES = STAGES * STAGE_BYTES;
  static constexpr int EPI_BYTES = (BM + BN) * OSTR * 2;
  static constexpr int SMEM = PIPE_BYTES > EPI_BYTES ? PIPE_BYTES : EPI_BYTES;
  static_assert(NT % 2 == 0, "NT must be even (ldmatrix x4 loads two n8 blocks)");
};

template <int BM, int BN, int WM, int WN>
__global__ void __launch_bounds__(WM *WN * 32) int8_gemm_kernel(
    const int8_t *__restrict__ xq, const int8_t *__restrict__ wq, const float *__restrict__ sx,
    const float *__restrict__ sw, const __half *__restrict__ bias, const int *__restrict__ n_out_p,
    const int *__restrict__ cols, const __half *__restrict__ xo, const __half *__restrict__ obuf, int M, int N, int K,
    int mode, int kts, void *__restrict__ y) {
  using C = Int8Cfg<BM, BN, WM, WN>;
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  const int g = lane >> 2, t4 = lane & 3;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  /* split-K: this CTA's k-tiles [kbeg, kbeg + KT) (kts = all k-tiles without a split) */
  const int kbeg = blockIdx.z * kts;
  const int KT = min((K + BK - 1) / BK - kbeg, kts);

  auto load_stage = [&](int st, int kt) {
    uint8_t *sA = smem + st * C::STAGE_BYTES;
    uint8_t *sB = sA + BM * BK;
    const int k0 = (kbeg + kt) * BK;
#pragma unroll
    for (int i = tid; i < BM * 4; i += C::THREADS) {
      const int r = i >> 2, c = i & 3;
      const int gm = m0 + r, gk = k0 + c * 16;
      const bool ok = gm < M && gk < K;
      qsq::cp_async16(sA + swz(r, c), ok ? (const void *)(xq + (size_t)gm * K + gk) : (const void *)xq, ok ? 16 : 0);
    }
#pragma unroll
    for (int i = tid; i < BN * 4; i += C::THREADS) {
      const int r = i >> 2, c = i & 3;
      const int gn = n0 + r, gk = k0 + c * 16;
      const bool ok = gn < N && gk < K;
      qsq::cp_async16(sB + swz(r, c), ok ? (const void *)(wq + (size_t)gn * K + gk) : (const void *)wq, ok ? 16 : 0);
    }
  };

  int acc[C::MT][C::NT][4];
#pragma unroll
  for (int i = 0; i < C::MT; i++)
#pragma unroll
    for (int j = 0; j < C::NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0;

#pragma unroll
  for (int st = 0; st < STAGES - 1; st++) {
    if (st < KT) load_stage(st, st);
    qsq::cp_async_commit();
  }

  for (int kt = 0; kt < KT; kt++) {
    qsq::cp_async_wait<STAGES - 2>();
    __syncthreads();
    {
      const int nk = kt + STAGES - 1;
      if (nk < KT) load_stage(nk % STAGES, nk);
      qsq::cp_async_commit();
    }
    const uint8_t *sA = smem + (kt % STAGES) * C::STAGE_BYTES;
    const uint8_t *sB = sA + BM * BK;
#pragma unroll
    for (int ks = 0; ks < 2; ks++) {
      uint32_t af[C::MT][4], bf[C::NT][2];
#pragma unroll
      for (int mt = 0; mt < C::MT; mt++) {
        const int row = wm * C::WTM + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        qsq::ldmatrix_x4(af[mt], sA + swz(row, 2 * ks + (lane >> 4)));
      }
#pragma unroll
      for (int n2 = 0; n2 < C::NT / 2; n2++) {
        const int row = wn * C::WTN + n2 * 16 + (lane & 7) + (lane >> 4) * 8;
        uint32_t r[4];
        qsq::ldmatrix_x4(r, sB + swz(row, 2 * ks + ((lane >> 3) & 1)));
        bf[2 * n2][0] = r[0];
        bf[2 * n2][1] = r[1];
        bf[2 * n2 + 1][0] = r[2];
        bf[2 * n2 + 1][1] = r[3];
      }
#pragma unroll
      for (int mt = 0; mt < C::MT; mt++)
#pragma unroll
        for (int nt = 0; nt < C::NT; nt++) qsq::mma_s8(acc[mt][nt], af[mt], bf[nt]);
    }
  }
  qsq::cp_async_wait<0>();

  if (mode == QS_INT8_OUT_ACC) {
    int32_t *yi = (int32_t *)y + (size_t)blockIdx.z * M * N; /* split s writes slab s */
#pragma unroll
    for (int mt = 0; mt < C::MT; mt++)
#pragma unroll
      for (int nt = 0; nt < C::NT; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int gm = m0 + wm * C::WTM + mt * 16 + g + (e >> 1) * 8;
          const int gn = n0 + wn * C::WTN + nt * 8 + 2 * t4 + (e & 1);
          if (gm < M && gn < N) yi[(size_t)gm * N + gn] = acc[mt][nt][e];
        }
    return;
  }

  const int nout = *n_out_p;
  const bool fused = nout > 0 && nout <= CAP;
  __half *sXo = (__half *)smem;    /* [BM][OSTR] */
  __half *sWo = sXo + BM * OSTR;   /* [BN][OSTR] */
  if (fused) {
    __syncthreads(); /* every warp is done with the pipeline buffers */
    for (int i = tid; i < BM * nout; i += C::THREADS) {
      const int r = i / nout, j = i - r * nout;
      const int gm = m0 + r;
      sXo[r * OSTR + j] = gm < M ? xo[(size_t)gm * nout + j] : __float2half_rn(0.0f);
    }
    for (int i = tid; i < BN * nout; i += C::THREADS) {
      const int r = i / nout, j = i - r * nout;
      const int gn = n0 + r;
      float w = 0.0f;
      if (gn < N) {
        const float q = (float)wq[(size_t)gn * K + cols[j]];
        w = __fdiv_rn(__fmul_rn(q, sw[gn]), 127.0f);
      }
      sWo[r * OSTR + j] = __float2half_rn(w);
    }
    __syncthreads();
  }

  __half *yh = (__half *)y;
#pragma unroll
  for (int mt = 0; mt < C::MT; mt++) {
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      const int rl = wm * C::WTM + mt * 16 + g + hh * 8;
      const int gm = m0 + rl;
      if (gm >= M) continue;
      const float sxm = sx[gm];
#pragma unroll
      for (int nt = 0; nt < C::NT; nt++) {
        const int nl = wn * C::WTN + nt * 8 + 2 * t4;
        const int gn = n0 + nl;
        if (gn >= N) continue; /* N is even: gn + 1 < N too */
        float out[2];
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int n = gn + e;
          float o = 0.0f;
          if (fused) {
            float P[8];
#pragma unroll
            for (int l = 0; l < 8; l++) P[l] = 0.0f;
            const __half *xr = sXo + rl * OSTR;
            const __half *wr = sWo + (nl + e) * OSTR;
            for (int j0 = 0; j0 < nout; j0 += 8) {
#pragma unroll
              for (int l = 0; l < 8; l++)
                if (j0 + l < nout) P[l] = fmaf(__half2float(xr[j0 + l]), __half2float(wr[j0 + l]), P[l]);
            }
            const float S = __fadd_rn(__fadd_rn(__fadd_rn(P[0], P[1]), __fadd_rn(P[2], P[3])),
                                      __fadd_rn(__fadd_rn(P[4], P[5]), __fadd_rn(P[6], P[7])));
            o = qsq::rh(S);
          } else if (nout > CAP) {
            o = __half2float(obuf[(size_t)gm * N + n]);
          }
          const float d = __fmul_rn(__fmul_rn(__fmul_rn(__int2float_rn(acc[mt][nt][hh * 2 + e]), sxm), sw[n]),
                                    QS_INT8_DEQ);
          float v = __fadd_rn(d, o);
          if (bias) v = __fadd_rn(v, __half2float(bias[n]));
          v = qsq::rh(v);
          if (mode == QS_INT8_OUT_F16_GELU) v = qsq::gelu_h(v);
          out[e] = v;
        }
        *reinterpret_cast<__half2 *>(yh + (size_t)gm * N + gn) = __floats2half2_rn(out[0], out[1]);
      }
    }
  }
}

int g_force_cfg = -1; /* bench / test override of the tile configuration */

template <int BM, int BN, int WM, int WN>
int launch_cfg(const qs_int8_act *a, const int8_t *wq, const float *sw, const uint16_t *bias, const uint16_t *obuf,
               int M, int N, int K, int mode, void *y, cudaStream_t s, int splits = 1) {
  using C = Int8Cfg<BM, BN, WM, WN>;
  static int attr_set = 0; /* per device would be stricter; the attribute is per function */
  if (!attr_set) {
    QSQ_CUDA(cudaFuncSetAttribute(int8_gemm_kernel<BM, BN, WM, WN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  C::SMEM),
             "int8 gemm");
    attr_set = 1;
  }
  const int KT = (K + BK - 1) / BK, kts = (KT + splits - 1) / splits;
  splits = (KT + kts - 1) / kts; /* no empty split */
  dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM), (unsigned)splits);
  int8_gemm_kernel<BM, BN, WM, WN><<<grid, C::THREADS, C::SMEM, s>>>(
      a->xq, wq, a->sx, sw, (const __half *)bias, a->n_out, a->cols, (const __half *)a->xo, (const __half *)obuf, M,
      N, K, mode, kts, y);
  QSQ_CUDA(cudaGetLastError(), "int8 gemm");
  return QS_OK;
}

/* The split-K epilogue: acc = the sum of the splits' int32 slabs (exact in any
 * order), then the whole of quant.h section 3 for two adjacent outputs per
 * thread: d, the outlier part for any number of outlier columns (8 lanes in
 * increasing column order, the reference's tree, rounded to fp16), + h(bias),
 * rounding, optional GELU. No obuf: the outlier part is computed here. */
__global__ void __launch_bounds__(256) int8_splitk_epilogue_kernel(
    const int32_t *__restrict__ part, int splits, const float *__restrict__ sx, const float *__restrict__ sw,
    const __half *__restrict__ bias, const int *__restrict__ n_out_p, const int *__restrict__ cols,
    const __half *__restrict__ xo, const int8_t *__restrict__ wq, int M, int N, int K, int gelu,
    __half *__restrict__ y) {
  const size_t MN = (size_t)M * N;
  const size_t e0 = 2 * ((size_t)blockIdx.x * blockDim.x + threadIdx.x);
  if (e0 >= MN) return;
  const int m = (int)(e0 / (size_t)N), n0 = (int)(e0 - (size_t)m * N); /* N even: n0 + 1 < N */
  int acc[2] = {0, 0};
  for (int z = 0; z < splits; z++) {
    const int2 v = __ldg(reinterpret_cast<const int2 *>(part + z * MN + e0));
    acc[0] += v.x;
    acc[1] += v.y;
  }
  const int nout = *n_out_p;
  const float sxm = sx[m];
  float out[2];
#pragma unroll
  for (int e = 0; e < 2; e++) {
    const int n = n0 + e;
    float o = 0.0f;
    if (nout > 0) {
      float P[8];
#pragma unroll
      for (int l = 0; l < 8; l++) P[l] = 0.0f;
      const __half *xr = xo + (size_t)m * nout;
      const int8_t *wr = wq + (size_t)n * K;
      const float swn = sw[n];
      for (int j0 = 0; j0 < nout; j0 += 8) {
#pragma unroll
        for (int l = 0; l < 8; l++)
          if (j0 + l < nout) {
            const float w = qsq::rh(__fdiv_rn(__fmul_rn((float)wr[cols[j0 + l]], swn), 127.0f));
            P[l] = fmaf(__half2float(xr[j0 + l]), w, P[l]);
          }
      }
      o = qsq::rh(__fadd_rn(__fadd_rn(__fadd_rn(P[0], P[1]), __fadd_rn(P[2], P[3])),
                            __fadd_rn(__fadd_rn(P[4], P[5]), __fadd_rn(P[6], P[7]))));
    }
    const float d = __fmul_rn(__fmul_rn(__fmul_rn(__int2float_rn(acc[e]), sxm), sw[n]), QS_INT8_DEQ);
    float v = __fadd_rn(d, o);
    if (bias) v = __fadd_rn(v, __half2float(bias[n]));
    v = qsq::rh(v);
    if (gelu) v = qsq::gelu_h(v);
    out[e] = v;
  }
  *reinterpret_cast<__half2 *>(y + e0) = __floats2half2_rn(out[0], out[1]);
}

}  // namespace

/* 1 if the heuristic hands this shape to the sm_90a kernel (given an obuf) */
static int sm90_default(int M, int N) {
#if QS_HAVE_SM90A
  return g_force_cfg < 0 && M >= QS_INT8_SM90_MIN_M && N % 2 == 0 && qs_int8_sm90_available();
#else
  (void)M, (void)N;
  return 0;
#endif
}

extern "C" int qs_int8_splitk_choose(int M, int N, int K) {
  static int sms = 0;
  if (!sms) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      sms = 132;
  }
  if (sm90_default(M, N)) return 1; /* the sm_90a kernel takes the shape whole */
  const long tiles = (long)((M + 63) / 64) * ((N + 63) / 64);
  const int KT = (K + BK - 1) / BK;
  if (M > 1024 || tiles >= sms || KT < 4) return 1;
  int s = (int)((2L * sms + tiles - 1) / tiles); /* about two CTAs per SM */
  if (s > KT / 2) s = KT / 2;                       /* at least two k-tiles each */
  if (s > 16) s = 16;
  return s < 2 ? 1 : s;
}

extern "C" int qs_int8_gemm_splitk_launch(const qs_int8_act *a, const int8_t *wq, const float *sw,
                                          const uint16_t *bias, int M, int N, int K, int gelu, int splits,
                                          int32_t *ws, void *y, cudaStream_t s) {
  QSQ_REQUIRE(a && a->xq && a->sx && a->n_out && a->cols && a->xo && wq && sw && y && ws,
              "int8 gemm split-K: argument: NULL pointer");
  QSQ_REQUIRE(M >= 1 && N >= 2 && N % 2 == 0 && K >= 16 && K % 16 == 0 && (int64_t)K <= QS_INT8_MAX_K,
              "int8 gemm split-K: shape: M %d N %d K %d (need K %% 16 == 0, N even)", M, N, K);
  QSQ_REQUIRE(splits >= 1 && splits <= 64, "int8 gemm split-K: splits %d", splits);
  QSQ_REQUIRE(((uintptr_t)a->xq & 15) == 0 && ((uintptr_t)wq & 15) == 0 && ((uintptr_t)ws & 7) == 0,
              "int8 gemm split-K: alignment");
  const int KT = (K + BK - 1) / BK, kts = (KT + splits - 1) / splits;
  const int used = (KT + kts - 1) / kts;
  {
    const int rc = launch_cfg<64, 64, 2, 2>(a, wq, sw, NULL, NULL, M, N, K, QS_INT8_OUT_ACC, ws, s, splits);
    if (rc != QS_OK) return rc;
  }
  const size_t pairs = (size_t)M * N / 2;
  int8_splitk_epilogue_kernel<<<(unsigned)((pairs + 255) / 256), 256, 0, s>>>(
      ws, used, a->sx, sw, (const __half *)bias, a->n_out, a->cols, (const __half *)a->xo, wq, M, N, K, gelu,
      (__half *)y);
  QSQ_CUDA(cudaGetLastError(), "int8 split-K epilogue");
  return QS_OK;
}

extern "C" int qs_int8_gemm_uses_sm90(int M, int N, int K, const uint16_t *obuf) {
  (void)K;
#if QS_HAVE_SM90A
  if (g_force_cfg >= 3) return 1;
#endif
  return obuf && sm90_default(M, N);
}

/* Tile configuration override for the benchmark and the tests: -1 the heuristic;
 * 0, 1, 2 the mma.sync tiles above; 3 the sm_90a wgmma kernel with its own tile
 * choice, 4 and 5 that kernel with 128 x 256 and 128 x 128 tiles, 6 with its
 * ping-pong schedule. */
extern "C" void qs_int8_gemm_force_config(int cfg) { g_force_cfg = cfg; }

extern "C" int qs_int8_gemm_launch(const qs_int8_act *a, const int8_t *wq, const float *sw, const uint16_t *bias,
                                   const uint16_t *obuf, int M, int N, int K, int mode, void *y, cudaStream_t s) {
  QSQ_REQUIRE(a && a->xq && a->sx && a->n_out && a->cols && a->xo && wq && sw && y, "int8 gemm: argument: NULL pointer");
  QSQ_REQUIRE(M >= 1 && N >= 1 && K >= 16 && K % 16 == 0 && (int64_t)K <= QS_INT8_MAX_K,
              "int8 gemm: shape: M %d N %d K %d (need K %% 16 == 0)", M, N, K);
  QSQ_REQUIRE(mode == QS_INT8_OUT_ACC || N % 2 == 0, "int8 gemm: shape: N %d must be even", N);
  QSQ_REQUIRE(mode >= 0 && mode <= 2, "int8 gemm: argument: mode %d", mode);
  QSQ_REQUIRE(((uintptr_t)a->xq & 15) == 0 && ((uintptr_t)wq & 15) == 0, "int8 gemm: alignment: xq, wq not 16-byte aligned");
  int cfg = g_force_cfg;
#if QS_HAVE_SM90A
  /* Hopper: the wgmma + TMA kernel wherever the work fills the chip (int8_gemm_sm90.cu) */
  if (qs_int8_gemm_uses_sm90(M, N, K, obuf))
    return qs_int8_gemm_sm90_launch(a, wq, sw, bias, obuf, M, N, K, mode, y,
                                    cfg == 4 ? 256 : cfg == 5 ? 128 : cfg == 6 ? QS_SM90_PINGPONG : 0, s);
#else
  if (cfg >= 3) return qs_fail(QS_EUNSUPPORTED, "int8 gemm: unsupported: configuration %d needs the sm_90a build", cfg);
#endif
  if (cfg < 0) {
    static int sms = 0;
    if (!sms) {
      int dev = 0;
      QSQ_CUDA(cudaGetDevice(&dev), "int8 gemm");
      QSQ_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "int8 gemm");
    }
    const long t0 = (long)((M + 127) / 128) * ((N + 127) / 128);
    const long t1 = (long)((M + 127) / 128) * ((N + 63) / 64);
    cfg = t0 >= 3L * sms ? 0 : t1 >= 2L * sms ? 1 : 2;
  }
  switch (cfg) {
    case 0: return launch_cfg<128, 128, 2, 4>(a, wq, sw, bias, obuf, M, N, K, mode, y, s);
    case 1: return launch_cfg<128, 64, 2, 2>(a, wq, sw, bias, obuf, M, N, K, mode, y, s);
    default: return launch_cfg<64, 64, 2, 2>(a, wq, sw, bias, obuf, M, N, K, mode, y, s);
  }
}
