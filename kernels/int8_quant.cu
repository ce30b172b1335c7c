/* int8_quant.cu - LLM.int8 activation quantization in one kernel: outlier
 * column detection, per-token absmax over the non-outlier columns, int8
 * quantization, and the gathering of the outlier activations (quant.h section 3).
 *
 * The outlier set is a property of the whole matrix, so the kernel runs a
 * persistent grid (launched cooperatively, so all blocks are resident) in two
 * phases split by one grid-wide barrier:
 *   1. each warp scans rows and tags every column holding |x| >= threshold with
 *      the barrier's generation number (tags from earlier calls never match, so
 *      the tag array is never cleared and no memset node is needed), and in the
 *      same pass quantizes the row as if there were no outlier column;
 *   2. each block turns the tags into a bit mask and prefix ranks in shared
 *      memory; block 0 publishes n_out and the increasing column list; with no
 *      outlier column the kernel is done (x was read once); otherwise each warp
 *      takes rows again: s_x = max of the fp16 magnitude bits over non-outlier
 *      columns (NaN > inf > finite, as the reference), then xq, and the outlier
 *      values go to xo[m, rank(k)].
 * With the threshold disabled there is no phase 1 and no barrier.
 *
 * The division of the reference, rintf(fl((x * 127) / s_x)), is computed as
 * rint(x * 127 * RN(1/s_x)) whenever that product is farther than 1e-3 from a
 * half-integer (its error is below 2e-5 for |q| <= 127, so the rounded integer is
 * the same); otherwise with the correctly rounded __fdiv_rn. */
#include "int8_outlier_dev.cuh"
#include "qs_quant_dev.cuh"

extern "C" {
#include "qs_half.h"
}

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;

/* state: [0] arrivals, [1] generation, [2..3] unused, [4 .. 4+K) column tags */
__device__ __forceinline__ void grid_barrier(uint32_t *state, uint32_t gen0) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    const uint32_t arrived = atomicAdd(state, 1u);
    if (arrived == gridDim.x - 1) {
      atomicExch(state, 0u);
      __threadfence();
      atomicAdd(state + 1, 1u);
    } else {
      while (((volatile uint32_t *)state)[1] == gen0) __nanosleep(32);
    }
    __threadfence();
  }
  __syncthreads();
}

/* q = rintf(fl(a / s)) clamped to [-127, 127], a = xh * 127 (exact), rs = RN(1/s). */
__device__ __forceinline__ int quant127(float xh, float s, float rs) {
  const float a = __fmul_rn(xh, 127.0f);
  const float q1 = __fmul_rn(a, rs);
  const float fr = q1 - floorf(q1);
  int q;
  if (fabsf(fr - 0.5f) < 1e-3f) q = __float2int_rn(__fdiv_rn(a, s));
  else q = __float2int_rn(q1);
  return min(127, max(-127, q));
}

/* xq and s_x of row m given mx, the row's maximum fp16 magnitude bits over the
 * columns that are not outliers; ob_mask (shared memory bit mask of the outlier
 * columns) or NULL when none is. Outlier columns get 0. */
__device__ __forceinline__ void quant_row(const uint4 *__restrict__ xr, int K8, int lane, uint32_t mx,
                                          const uint32_t *ob_mask, int m, float *__restrict__ sx,
                                          int8_t *__restrict__ xq_row) {
  const float s = __half2float(__ushort_as_half((unsigned short)mx));
  if (lane == 0) sx[m] = s;
  const float rs = __frcp_rn(s);
  const bool zero_row = !(s != 0.0f); /* s == 0: every xq of the row is 0 */
  uint2 *qr = (uint2 *)xq_row;
  for (int c = lane; c < K8; c += 32) {
    const uint4 v = __ldg(xr + c);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    const uint32_t ob = ob_mask ? (ob_mask[(c * 8) >> 5] >> ((c * 8) & 31)) & 0xffu : 0u;
    uint32_t packed[2] = {0u, 0u};
#pragma unroll
    for (int j = 0; j < 8; j++) {
      const unsigned short hb = (unsigned short)(w[j >> 1] >> ((j & 1) * 16));
      const float xh = __half2float(__ushort_as_half(hb));
      int q = 0;
      if (!((ob >> j) & 1u) && !zero_row) q = quant127(xh, s, rs);
      packed[j >> 2] |= ((uint32_t)q & 0xffu) << ((j & 3) * 8);
    }
    qr[c] = make_uint2(packed[0], packed[1]);
  }
}

/* The register-resident forms, for rows of at most 32 CPL 16-byte chunks: the row is
 * read once into registers (all its loads in flight together), and its maximum,
 * outlier tags and codes come from there. */
template <int CPL>
__device__ __forceinline__ void load_row(const uint4 *__restrict__ xr, int K8, int lane, uint4 (&v)[CPL]) {
#pragma unroll
  for (int i = 0; i < CPL; i++) {
    const int c = lane + 32 * i;
    v[i] = c < K8 ? __ldg(xr + c) : make_uint4(0u, 0u, 0u, 0u);
  }
}

/* quant_row of the row in v (no outlier column) */
template <int CPL>
__device__ __forceinline__ void quant_row_regs(const uint4 (&v)[CPL], int K8, int lane, uint32_t mx, int m,
                                               float *__restrict__ sx, int8_t *__restrict__ xq_row) {
  const float s = __half2float(__ushort_as_half((unsigned short)mx));
  if (lane == 0) sx[m] = s;
  const float rs = __frcp_rn(s);
  const bool zero_row = !(s != 0.0f); /* s == 0: every xq of the row is 0 */
  uint2 *qr = (uint2 *)xq_row;
#pragma unroll
  for (int i = 0; i < CPL; i++) {
    const int c = lane + 32 * i;
    if (c >= K8) break;
    const uint32_t w[4] = {v[i].x, v[i].y, v[i].z, v[i].w};
    uint32_t packed[2] = {0u, 0u};
#pragma unroll
    for (int j = 0; j < 8; j++) {
      const unsigned short hb = (unsigned short)(w[j >> 1] >> ((j & 1) * 16));
      const float xh = __half2float(__ushort_as_half(hb));
      const int q = zero_row ? 0 : quant127(xh, s, rs);
      packed[j >> 2] |= ((uint32_t)q & 0xffu) << ((j & 3) * 8);
    }
    qr[c] = make_uint2(packed[0], packed[1]);
  }
}

/* Every row of this warp's share: s_x over all columns and the codes, as if no
 * column were an outlier; with tag, the outlier columns tagged with gen0 as well. */
template <int CPL>
__device__ __forceinline__ void rows_regs(const uint4 *__restrict__ x, int M, int K, int gw, int nw, int lane,
                                          bool tag, uint32_t tlo, uint32_t *__restrict__ tags, uint32_t gen0,
                                          int8_t *__restrict__ xq, float *__restrict__ sx) {
  const int K8 = K >> 3;
  for (int m = gw; m < M; m += nw) {
    uint4 v[CPL];
    load_row<CPL>(x + (size_t)m * K8, K8, lane, v);
    uint32_t mx = 0;
#pragma unroll
    for (int i = 0; i < CPL; i++) {
      const uint32_t w[4] = {v[i].x, v[i].y, v[i].z, v[i].w};
#pragma unroll
      for (int j = 0; j < 8; j++) {
        const uint32_t mag = (w[j >> 1] >> ((j & 1) * 16)) & 0x7fffu;
        if (tag && mag >= tlo && mag <= 0x7c00u) tags[(lane + 32 * i) * 8 + j] = gen0;
        mx = max(mx, mag); /* chunks past the row are zeros: no effect */
      }
    }
    quant_row_regs<CPL>(v, K8, lane, __reduce_max_sync(0xffffffffu, mx), m, sx, xq + (size_t)m * K);
  }
}

/* Resident blocks an SM keeps of each instance, as before the outlier tiles joined the
 * kernel (phase 1 is latency-bound: it wants every warp it can get); the tiles' rare
 * path may spill to make room. */
constexpr int min_blocks(int cpl) { return cpl >= 1 && cpl <= 4 ? 5 : cpl == 0 ? 5 : cpl <= 8 ? 4 : cpl <= 12 ? 3 : 2; }

template <int CPL>
__global__ void __launch_bounds__(kThreads, min_blocks(CPL)) int8_quant_kernel(const uint4 *__restrict__ x, int M, int K,
                                                              uint32_t tlo, int use_out, int8_t *__restrict__ xq,
                                                              float *__restrict__ sx, int *__restrict__ n_out,
                                                              int *__restrict__ cols, __half *__restrict__ xo,
                                                              uint32_t *__restrict__ state,
                                                              const int8_t *__restrict__ wq,
                                                              const float *__restrict__ sw, int N, int min_out,
                                                              __half *__restrict__ obuf) {
  extern __shared__ uint32_t qsm[];
  __shared__ uint32_t s_total;
  const int nwords = (K + 31) >> 5;
  uint32_t *mask = qsm, *rank = qsm + nwords;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int K8 = K >> 3;
  const int gw = blockIdx.x * kWarps + warp, nw = gridDim.x * kWarps;
  uint32_t *tags = state + 4;
  const uint32_t gen0 = ((volatile uint32_t *)state)[1];

  if constexpr (CPL > 0) {
    if (!use_out) {
      /* no outlier decomposition: one read of each row, into registers */
      rows_regs<CPL>(x, M, K, gw, nw, lane, false, tlo, tags, gen0, xq, sx);
      if (blockIdx.x == 0 && threadIdx.x == 0) *n_out = 0;
      return;
    }
    rows_regs<CPL>(x, M, K, gw, nw, lane, true, tlo, tags, gen0, xq, sx);
  } else if (use_out) {
    /* phase 1: tag outlier columns (|xh| >= threshold <=> tlo <= mag <= 0x7c00) and, in
     * the same read of each row, quantize it as if no column were an outlier (s_x the
     * maximum over the whole row); when the barrier shows no outlier column anywhere,
     * that is the answer and the kernel ends: one pass over x. */
    for (int m = gw; m < M; m += nw) {
      const uint4 *xr = x + (size_t)m * K8;
      uint32_t mx = 0;
      for (int c = lane; c < K8; c += 32) {
        const uint4 v = __ldg(xr + c);
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int j = 0; j < 8; j++) {
          const uint32_t mag = (w[j >> 1] >> ((j & 1) * 16)) & 0x7fffu;
          if (mag >= tlo && mag <= 0x7c00u) tags[c * 8 + j] = gen0;
          mx = max(mx, mag);
        }
      }
      quant_row(xr, K8, lane, __reduce_max_sync(0xffffffffu, mx), NULL, m, sx, xq + (size_t)m * K);
    }
  }
  if (use_out) {
    grid_barrier(state, gen0);
    /* phase 2a: the bit mask of outlier columns and the prefix ranks of its words */
    for (int w = warp; w < nwords; w += kWarps) {
      const int k = w * 32 + lane;
      const bool o = k < K && __ldcg(tags + k) == gen0;
      const uint32_t b = __ballot_sync(0xffffffffu, o);
      if (lane == 0) mask[w] = b;
    }
  } else {
    for (int w = threadIdx.x; w < nwords; w += kThreads) mask[w] = 0;
  }
  __syncthreads();
  if (warp == 0) {
    uint32_t carry = 0;
    for (int w0 = 0; w0 < nwords; w0 += 32) {
      const int w = w0 + lane;
      const uint32_t c = w < nwords ? (uint32_t)__popc(mask[w]) : 0u;
      uint32_t inc = c;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const uint32_t t = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += t;
      }
      if (w < nwords) rank[w] = carry + inc - c;
      carry += __shfl_sync(0xffffffffu, inc, 31);
    }
    if (lane == 0) s_total = carry;
  }
  __syncthreads();
  const int nout = (int)s_total;
  if (blockIdx.x == 0) {
    if (threadIdx.x == 0) *n_out = nout;
    if (nout > 0)
      for (int k = threadIdx.x; k < K; k += kThreads) {
        const uint32_t mw = mask[k >> 5], bit = 1u << (k & 31);
        if (mw & bit) cols[rank[k >> 5] + __popc(mw & (bit - 1u))] = k;
      }
  }

  if (use_out && nout == 0) return; /* phase 1's quantization stands */
  /* phase 2b: per row s_x, xq and the outlier values */
  for (int m = gw; m < M; m += nw) {
    const uint4 *xr = x + (size_t)m * K8;
    uint32_t mx = 0;
    for (int c = lane; c < K8; c += 32) {
      const uint4 v = __ldg(xr + c);
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
      const uint32_t ob = (mask[(c * 8) >> 5] >> ((c * 8) & 31)) & 0xffu;
#pragma unroll
      for (int j = 0; j < 8; j++) {
        const uint32_t mag = (w[j >> 1] >> ((j & 1) * 16)) & 0x7fffu;
        if (!((ob >> j) & 1u)) mx = max(mx, mag);
      }
    }
    mx = __reduce_max_sync(0xffffffffu, mx);
    const float s = __half2float(__ushort_as_half((unsigned short)mx));
    if (lane == 0) sx[m] = s;
    const float rs = __frcp_rn(s);
    const bool zero_row = !(s != 0.0f); /* s == 0: every xq of the row is 0 */
    uint2 *qr = (uint2 *)(xq + (size_t)m * K);
    for (int c = lane; c < K8; c += 32) {
      const uint4 v = __ldg(xr + c);
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
      const uint32_t ob = (mask[(c * 8) >> 5] >> ((c * 8) & 31)) & 0xffu;
      uint32_t packed[2] = {0u, 0u};
#pragma unroll
      for (int j = 0; j < 8; j++) {
        const unsigned short hb = (unsigned short)(w[j >> 1] >> ((j & 1) * 16));
        const float xh = __half2float(__ushort_as_half(hb));
        int q = 0;
        if (!((ob >> j) & 1u) && !zero_row) q = quant127(xh, s, rs);
        packed[j >> 2] |= ((uint32_t)q & 0xffu) << ((j & 3) * 8);
      }
      qr[c] = make_uint2(packed[0], packed[1]);
      if (ob) {
        const int k0 = c * 8;
        const uint32_t mw = mask[k0 >> 5];
        const uint32_t base = rank[k0 >> 5];
#pragma unroll
        for (int j = 0; j < 8; j++)
          if ((ob >> j) & 1u) {
            const int kb = (k0 + j) & 31;
            const uint32_t r = base + __popc(mw & ((1u << kb) - 1u));
            const unsigned short hb = (unsigned short)(w[j >> 1] >> ((j & 1) * 16));
            xo[(size_t)m * nout + r] = __ushort_as_half(hb);
          }
      }
    }
  }
  /* phase 3 (obuf given, more than min_out outlier columns): after a second barrier
   * (xo and cols complete), the outlier part's tiles into obuf, the work of
   * qs_int8_outlier_launch without its launch */
  if (obuf != nullptr && nout > min_out) {
    grid_barrier(state, gen0 + 1u);
    qsq::outlier_tiles(xo, nout, cols, wq, sw, M, N, K, obuf);
  }
}

/* Smallest fp16 magnitude bits whose value is >= thr (0x7c00 = inf when none is). */
uint32_t threshold_bits(float thr) {
  uint32_t u = qs_float_to_half(thr) & 0x7fffu; /* thr > 0: round to nearest, then step up if below */
  if (u < 0x7c00u && qs_half_to_float((uint16_t)u) < thr) u++;
  return u > 0x7c00u ? 0x7c00u : u;
}

/* The register-resident instance for rows of K8 16-byte chunks (0: the looping one,
 * for rows longer than 24 chunks a lane, K > 6144). */
typedef void (*quant_fn)(const uint4 *, int, int, uint32_t, int, int8_t *, float *, int *, int *, __half *, uint32_t *,
                         const int8_t *, const float *, int, int, __half *);
constexpr int kCpl[] = {1, 2, 3, 4, 6, 8, 12, 16, 20, 24};
constexpr int kNCpl = (int)(sizeof kCpl / sizeof kCpl[0]);
const quant_fn kQuantFns[kNCpl + 1] = {int8_quant_kernel<1>,  int8_quant_kernel<2>,  int8_quant_kernel<3>,
                                       int8_quant_kernel<4>,  int8_quant_kernel<6>,  int8_quant_kernel<8>,
                                       int8_quant_kernel<12>, int8_quant_kernel<16>, int8_quant_kernel<20>,
                                       int8_quant_kernel<24>, int8_quant_kernel<0>};
int cpl_index(int K) {
  const int per_lane = (K / 8 + 31) / 32;
  for (int i = 0; i < kNCpl; i++)
    if (kCpl[i] >= per_lane) return i;
  return kNCpl;
}

}  // namespace

extern "C" size_t qs_int8_state_words(int K) { return 4 + (size_t)(K > 0 ? K : 0); }

extern "C" int qs_int8_state_init(uint32_t *state, int K, cudaStream_t s) {
  QSQ_REQUIRE(state && K > 0, "int8 quant: state: NULL or K %d", K);
  QSQ_CUDA(cudaMemsetAsync(state, 0xff, qs_int8_state_words(K) * 4, s), "int8 quant");
  QSQ_CUDA(cudaMemsetAsync(state, 0, 16, s), "int8 quant");
  return QS_OK;
}

extern "C" int qs_int8_quant_outlier_launch(const uint16_t *x, int M, int K, float threshold, const qs_int8_act *a,
                                            const int8_t *wq, const float *sw, int N, uint16_t *obuf, cudaStream_t s) {
  QSQ_REQUIRE(x && a && a->xq && a->sx && a->n_out && a->cols && a->xo && a->state,
              "int8 quant: argument: NULL pointer");
  QSQ_REQUIRE(!obuf || (wq && sw && N >= 1), "int8 quant: argument: obuf needs wq, sw and N >= 1");
  QSQ_REQUIRE(M >= 1 && K >= 8 && K % 8 == 0, "int8 quant: shape: M %d K %d (need K %% 8 == 0)", M, K);
  QSQ_REQUIRE(((uintptr_t)x & 15) == 0 && ((uintptr_t)a->xq & 7) == 0,
              "int8 quant: alignment: x must be 16-byte and xq 8-byte aligned");
  const int use_out = threshold > 0.0f; /* NaN threshold: disabled too */
  if (!use_out) obuf = NULL;            /* never an outlier column */
  /* the sm_90a GEMM takes every outlier part from obuf, the others only beyond the fused limit */
  const int min_out = obuf && !qs_int8_gemm_uses_sm90(M, N, K, obuf) ? QS_INT8_FUSED_OUTLIERS : 0;
  const uint32_t tlo = use_out ? threshold_bits(threshold) : 0x7fffu;
  const int nwords = (K + 31) / 32;
  const size_t smem = (size_t)nwords * 2 * sizeof(uint32_t);
  QSQ_REQUIRE(smem <= 48 * 1024, "int8 quant: shape: K %d too large", K);
  const int ci = cpl_index(K);
  const quant_fn fn = kQuantFns[ci];
  int blocks = (M + kWarps - 1) / kWarps;
  if (use_out) {
    /* cooperative: at most the blocks that are resident at once */
    static int cached_dev[kNCpl + 1], cached_max[kNCpl + 1], cached_nw[kNCpl + 1], cached_init = 0;
    if (!cached_init) {
      for (int i = 0; i <= kNCpl; i++) cached_dev[i] = -1;
      cached_init = 1;
    }
    int dev = 0;
    QSQ_CUDA(cudaGetDevice(&dev), "int8 quant");
    if (dev != cached_dev[ci] || nwords != cached_nw[ci]) {
      int sms = 0, per_sm = 0;
      QSQ_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "int8 quant");
      QSQ_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, kThreads, smem), "int8 quant");
      cached_max[ci] = sms * (per_sm < 1 ? 1 : per_sm);
      cached_dev[ci] = dev;
      cached_nw[ci] = nwords;
    }
    if (blocks > cached_max[ci]) blocks = cached_max[ci];
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeCooperative;
    attr[0].val.cooperative = 1;
    cfg.gridDim = dim3((unsigned)blocks);
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    QSQ_CUDA(cudaLaunchKernelEx(&cfg, fn, (const uint4 *)x, M, K, tlo, use_out, a->xq, a->sx, a->n_out, a->cols,
                                (__half *)a->xo, a->state, wq, sw, N, min_out, (__half *)obuf),
             "int8 quant");
  } else {
    if (blocks > 65535) blocks = 65535;
    fn<<<blocks, kThreads, smem, s>>>((const uint4 *)x, M, K, tlo, use_out, a->xq, a->sx, a->n_out, a->cols,
                                      (__half *)a->xo, a->state, (const int8_t *)NULL, (const float *)NULL, 0, 0,
                                      (__half *)NULL);
  }
  QSQ_CUDA(cudaGetLastError(), "int8 quant");
  return QS_OK;
}

extern "C" int qs_int8_quant_launch(const uint16_t *x, int M, int K, float threshold, const qs_int8_act *a,
                                    cudaStream_t s) {
  return qs_int8_quant_outlier_launch(x, M, K, threshold, a, NULL, NULL, 0, NULL, s);
}
