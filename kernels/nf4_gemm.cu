/* nf4_gemm.cu - NF4 weight-only Linear: y fp16 [M, N] = x fp16 [M, K] * W^T + bias,
 * W in bitsandbytes NF4 (quant.h section 2, block 64), dequantized on the fly
 * inside the main loop straight into fp16 mma.sync m16n8k16 B fragments; fp32
 * accumulation; no dequantized copy of W ever exists, nothing is allocated.
 *
 * How the nibbles feed the fragments. The k index inside one mma is only a
 * label: A and B need the same permutation of k, nothing else. For a k-tile of
 * 64 (one NF4 block per weight row, as K % 64 == 0) lane (g, t) of a warp takes,
 * in step s = 0..3, the physical k pairs (8t + 2s, 8t + 2s + 1) for its b0 / a0 /
 * a1 registers and (32 + 8t + 2s, +1) for b1 / a2 / a3. Then:
 *   - B: the lane reads two 32-bit words of the row's 32 packed bytes, bytes
 *     4t..4t+3 and 16+4t..16+4t+3; byte s of a word holds exactly the pair of
 *     step s (high nibble = even k, the low half of the fp16x2 register);
 *     w = h(code[idx] * absmax) through a 16-entry fp32 table in shared memory.
 *   - A: the lane reads 16 bytes (8 halves) at k = 8t and at 32 + 8t of rows g
 *     and g + 8; 32-bit word s of each is the step-s register.
 * So each k-tile costs one 16-byte shared load per A register quadruple and two
 * 32-bit loads per n8 block, and the B tile in shared memory is the packed
 * nibbles themselves (4 bits per weight), staged with cp.async like A.
 * Shared layouts are XOR-swizzled so these loads are bank-conflict-free.
 *
 * Tiled kernel (M > 16): BM x BN x 64 per stage, 4 stages; configurations
 *   0: 128 x 128, 8 warps (2 x 4), warp 64 x 32     1: 64 x 64, 4 warps (2 x 2), warp 32 x 32
 * GEMV kernel (M <= 16): one m16 row block, 16 output columns per block of 8
 * warps that split the k-tiles, loads straight from global (the weights are
 * read once, 4.5 bits each), fixed-order reduction across the warps. */
#include "qs_quant_dev.cuh"

extern "C" {
#include "quant.h"
}

namespace {

constexpr int BK = 64;
constexpr int STAGES = 4;

/* The NF4 codebook, the same float literals as qs_nf4_code (src/quant/quant.c); the
 * test compares the kernels against the reference, which catches any drift. */
__constant__ float c_nf4[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/* The absmax each k-tile's block of row n dequantizes with. */
struct Nf4Scale {
  const float *absmax;
  const int8_t *aq;
  const float *ascale;
  float aoff;
};

template <int BM, int BN, int WM, int WN>
struct Nf4Cfg {
  static constexpr int THREADS = WM * WN * 32;
  static constexpr int WTM = BM / WM, WTN = BN / WN;
  static constexpr int MT = WTM / 16, NT = WTN / 8;
  static constexpr int A_BYTES = BM * BK * 2;
  static constexpr int B_BYTES = BN * BK / 2;
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES + BN * 8; /* + absmax word + dq scale per row */
  static constexpr int SMEM = STAGES * STAGE_BYTES;
};

/* A tile: rows of 8 chunks of 16 bytes; chunk c of row r at c ^ ((r & 1) << 2). */
__device__ __forceinline__ uint32_t a_off(int r, int c) { return (uint32_t)(r * 128 + ((c ^ ((r & 1) << 2)) << 4)); }
/* B tile: rows of 2 chunks; chunk c of row r at c ^ ((r >> 2) & 1). */
__device__ __forceinline__ uint32_t b_off(int r, int c) { return (uint32_t)(r * 32 + ((c ^ ((r >> 2) & 1)) << 4)); }

__device__ __forceinline__ void dequant_word(uint32_t w, float a, const float *lut, uint32_t out[4]) {
#pragma unroll
  for (int s = 0; s < 4; s++) {
    const uint32_t byte = (w >> (8 * s)) & 0xffu;
    out[s] = qsq::pack_h2(__fmul_rn(lut[byte >> 4], a), __fmul_rn(lut[byte & 15u], a));
  }
}

template <int BM, int BN, int WM, int WN>
__global__ void __launch_bounds__(WM *WN * 32) nf4_gemm_kernel(const __half *__restrict__ x,
                                                               const uint8_t *__restrict__ packed, Nf4Scale sc,
                                                               const __half *__restrict__ bias, int M, int N, int K,
                                                               int gelu, int kts, float *__restrict__ part,
                                                               __half *__restrict__ y) {
  using C = Nf4Cfg<BM, BN, WM, WN>;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ float lut[16];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  const int g = lane >> 2, t4 = lane & 3;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  /* split-K: k-tiles [kbeg, kbeg + KT); part != NULL: fp32 partial sums to slab blockIdx.z */
  const int kbeg = blockIdx.z * kts;
  const int KT = min(K / BK - kbeg, kts);
  const int KB = K / 64; /* absmax blocks per row */
  const bool dq = sc.absmax == nullptr;
  if (tid < 16) lut[tid] = c_nf4[tid];

  auto load_stage = [&](int st, int kt) {
    uint8_t *sA = smem + st * C::STAGE_BYTES;
    uint8_t *sB = sA + C::A_BYTES;
    uint32_t *sS = (uint32_t *)(sB + C::B_BYTES); /* [BN] absmax bits or dq code word, [BN] dq scale */
    kt += kbeg;
    const int k0 = kt * BK;
#pragma unroll
    for (int i = tid; i < BM * 8; i += C::THREADS) {
      const int r = i >> 3, c = i & 7;
      const int gm = m0 + r;
      const bool ok = gm < M;
      qsq::cp_async16(sA + a_off(r, c), ok ? (const void *)(x + (size_t)gm * K + k0 + c * 8) : (const void *)x,
                      ok ? 16 : 0);
    }
#pragma unroll
    for (int i = tid; i < BN * 2; i += C::THREADS) {
      const int r = i >> 1, c = i & 1;
      const int gn = n0 + r;
      const bool ok = gn < N;
      qsq::cp_async16(sB + b_off(r, c),
                      ok ? (const void *)(packed + ((size_t)gn * K + k0) / 2 + c * 16) : (const void *)packed,
                      ok ? 16 : 0);
    }
    for (int r = tid; r < BN; r += C::THREADS) {
      const int gn = n0 + r;
      const bool ok = gn < N;
      const size_t b = (size_t)(ok ? gn : 0) * KB + kt;
      if (!dq) {
        qsq::cp_async4(sS + r, sc.absmax + b, ok ? 4 : 0);
      } else {
        qsq::cp_async4(sS + r, sc.aq + (b & ~(size_t)3), ok ? 4 : 0);
        qsq::cp_async4(sS + BN + r, sc.ascale + b / QS_NF4_DQ_GROUP, ok ? 4 : 0);
      }
    }
  };

  float acc[C::MT][C::NT][4];
#pragma unroll
  for (int i = 0; i < C::MT; i++)
#pragma unroll
    for (int j = 0; j < C::NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

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
    const uint8_t *sB = sA + C::A_BYTES;
    const uint32_t *sS = (const uint32_t *)(sB + C::B_BYTES);

    /* B fragments of this k-tile: [nt][step][b0/b1] */
    uint32_t bfr[C::NT][2][4];
#pragma unroll
    for (int nt = 0; nt < C::NT; nt++) {
      const int rl = wn * C::WTN + nt * 8 + g;
      float a;
      if (!dq) {
        a = __uint_as_float(sS[rl]);
      } else {
        const size_t b = (size_t)(n0 + rl) * KB + kbeg + kt;
        const int code = (int)(int8_t)(sS[rl] >> (8 * (b & 3)));
        a = __fadd_rn(__fmul_rn((float)code, __uint_as_float(sS[BN + rl])), sc.aoff);
      }
      const uint32_t *rowB = (const uint32_t *)(sB + rl * 32);
      const int sw = ((rl >> 2) & 1) << 2;
      dequant_word(rowB[t4 ^ sw], a, lut, bfr[nt][0]);
      dequant_word(rowB[(4 + t4) ^ sw], a, lut, bfr[nt][1]);
    }
#pragma unroll
    for (int mt = 0; mt < C::MT; mt++) {
      const int rl = wm * C::WTM + mt * 16 + g;
      const uint4 lo0 = *(const uint4 *)(sA + a_off(rl, t4));
      const uint4 lo1 = *(const uint4 *)(sA + a_off(rl, 4 + t4));
      const uint4 hi0 = *(const uint4 *)(sA + a_off(rl + 8, t4));
      const uint4 hi1 = *(const uint4 *)(sA + a_off(rl + 8, 4 + t4));
      const uint32_t L0[4] = {lo0.x, lo0.y, lo0.z, lo0.w}, L1[4] = {lo1.x, lo1.y, lo1.z, lo1.w};
      const uint32_t H0[4] = {hi0.x, hi0.y, hi0.z, hi0.w}, H1[4] = {hi1.x, hi1.y, hi1.z, hi1.w};
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const uint32_t af[4] = {L0[s], H0[s], L1[s], H1[s]};
#pragma unroll
        for (int nt = 0; nt < C::NT; nt++) qsq::mma_f16(acc[mt][nt], af, bfr[nt][0][s], bfr[nt][1][s]);
      }
    }
  }
  qsq::cp_async_wait<0>();

#pragma unroll
  for (int mt = 0; mt < C::MT; mt++)
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      const int gm = m0 + wm * C::WTM + mt * 16 + g + hh * 8;
      if (gm >= M) continue;
#pragma unroll
      for (int nt = 0; nt < C::NT; nt++) {
        const int gn = n0 + wn * C::WTN + nt * 8 + 2 * t4;
        if (gn >= N) continue;
        float v0 = acc[mt][nt][hh * 2], v1 = acc[mt][nt][hh * 2 + 1];
        if (part) {
          *reinterpret_cast<float2 *>(part + (size_t)blockIdx.z * M * N + (size_t)gm * N + gn) = make_float2(v0, v1);
          continue;
        }
        if (bias) {
          v0 = __fadd_rn(v0, __half2float(bias[gn]));
          v1 = __fadd_rn(v1, __half2float(bias[gn + 1]));
        }
        if (gelu) {
          v0 = qsq::gelu_h(qsq::rh(v0));
          v1 = qsq::gelu_h(qsq::rh(v1));
        }
        *reinterpret_cast<__half2 *>(y + (size_t)gm * N + gn) = __floats2half2_rn(v0, v1);
      }
    }
}

/* ---- GEMV: M <= 16 ---------------------------------------------------------- */
constexpr int GV_WARPS = 8;
constexpr int GV_BN = 16;

__global__ void __launch_bounds__(GV_WARPS * 32) nf4_gemv_kernel(const __half *__restrict__ x,
                                                                 const uint8_t *__restrict__ packed, Nf4Scale sc,
                                                                 const __half *__restrict__ bias, int M, int N, int K,
                                                                 int gelu, __half *__restrict__ y) {
  __shared__ float lut[16];
  __shared__ float red[GV_WARPS][2][4][32];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int n0 = blockIdx.x * GV_BN;
  const int KT = K / BK, KB = K / 64;
  const bool dq = sc.absmax == nullptr;
  if (tid < 16) lut[tid] = c_nf4[tid];
  __syncthreads();
  float acc[2][4];
#pragma unroll
  for (int nt = 0; nt < 2; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) acc[nt][e] = 0.0f;
  const uint4 z4 = make_uint4(0, 0, 0, 0);
  const bool r0ok = g < M, r1ok = g + 8 < M;
  const __half *xr0 = x + (size_t)(r0ok ? g : 0) * K, *xr1 = x + (size_t)(r1ok ? g + 8 : 0) * K;

#pragma unroll 2
  for (int kt = warp; kt < KT; kt += GV_WARPS) {
    const int k0 = kt * BK;
    const uint4 lo0 = r0ok ? __ldg((const uint4 *)(xr0 + k0 + 8 * t4)) : z4;
    const uint4 lo1 = r0ok ? __ldg((const uint4 *)(xr0 + k0 + 32 + 8 * t4)) : z4;
    const uint4 hi0 = r1ok ? __ldg((const uint4 *)(xr1 + k0 + 8 * t4)) : z4;
    const uint4 hi1 = r1ok ? __ldg((const uint4 *)(xr1 + k0 + 32 + 8 * t4)) : z4;
    uint32_t w[2][2];
    float a[2];
#pragma unroll
    for (int nt = 0; nt < 2; nt++) {
      const int gn = n0 + nt * 8 + g;
      const bool ok = gn < N;
      const size_t rowb = ((size_t)(ok ? gn : 0) * K + k0) / 2;
      w[nt][0] = ok ? __ldg((const uint32_t *)(packed + rowb) + t4) : 0u;
      w[nt][1] = ok ? __ldg((const uint32_t *)(packed + rowb) + 4 + t4) : 0u;
      const size_t b = (size_t)(ok ? gn : 0) * KB + kt;
      if (!dq) a[nt] = __ldg(sc.absmax + b);
      else a[nt] = __fadd_rn(__fmul_rn((float)__ldg(sc.aq + b), __ldg(sc.ascale + b / QS_NF4_DQ_GROUP)), sc.aoff);
    }
    uint32_t bfr[2][2][4];
#pragma unroll
    for (int nt = 0; nt < 2; nt++) {
      dequant_word(w[nt][0], a[nt], lut, bfr[nt][0]);
      dequant_word(w[nt][1], a[nt], lut, bfr[nt][1]);
    }
    const uint32_t L0[4] = {lo0.x, lo0.y, lo0.z, lo0.w}, L1[4] = {lo1.x, lo1.y, lo1.z, lo1.w};
    const uint32_t H0[4] = {hi0.x, hi0.y, hi0.z, hi0.w}, H1[4] = {hi1.x, hi1.y, hi1.z, hi1.w};
#pragma unroll
    for (int s = 0; s < 4; s++) {
      const uint32_t af[4] = {L0[s], H0[s], L1[s], H1[s]};
#pragma unroll
      for (int nt = 0; nt < 2; nt++) qsq::mma_f16(acc[nt], af, bfr[nt][0][s], bfr[nt][1][s]);
    }
  }
#pragma unroll
  for (int nt = 0; nt < 2; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) red[warp][nt][e][lane] = acc[nt][e];
  __syncthreads();
  if (warp < 2) { /* warp nt finishes n8 block nt */
    const int nt = warp;
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
      const int gm = g + hh * 8;
      const int gn = n0 + nt * 8 + 2 * t4;
      if (gm >= M || gn >= N) continue;
      float v[2];
#pragma unroll
      for (int e = 0; e < 2; e++) {
        float s = 0.0f;
#pragma unroll
        for (int w8 = 0; w8 < GV_WARPS; w8++) s += red[w8][nt][hh * 2 + e][lane];
        if (bias) s = __fadd_rn(s, __half2float(bias[gn + e]));
        if (gelu) s = qsq::gelu_h(qsq::rh(s));
        v[e] = s;
      }
      *reinterpret_cast<__half2 *>(y + (size_t)gm * N + gn) = __floats2half2_rn(v[0], v[1]);
    }
  }
}

int g_force_cfg = -1;

template <int BM, int BN, int WM, int WN>
int launch_tiled(const uint16_t *x, const uint8_t *packed, Nf4Scale sc, const uint16_t *bias, int M, int N, int K,
                 int gelu, uint16_t *y, cudaStream_t s, int splits = 1, float *part = nullptr) {
  using C = Nf4Cfg<BM, BN, WM, WN>;
  static int attr_set = 0;
  if (!attr_set) {
    QSQ_CUDA(cudaFuncSetAttribute(nf4_gemm_kernel<BM, BN, WM, WN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  C::SMEM),
             "nf4 gemm");
    attr_set = 1;
  }
  const int KT = K / BK, kts = (KT + splits - 1) / splits;
  splits = (KT + kts - 1) / kts;
  dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM), (unsigned)splits);
  nf4_gemm_kernel<BM, BN, WM, WN><<<grid, C::THREADS, C::SMEM, s>>>((const __half *)x, packed, sc,
                                                                     (const __half *)bias, M, N, K, gelu, kts, part,
                                                                     (__half *)y);
  QSQ_CUDA(cudaGetLastError(), "nf4 gemm");
  return QS_OK;
}

/* The split-K reduction: the splits' fp32 slabs summed in split order (fixed, so
 * every run gives the same bits), + h(bias), fp16 (and GELU) as the tiled epilogue. */
__global__ void __launch_bounds__(256) nf4_splitk_reduce_kernel(const float *__restrict__ part, int splits,
                                                                const __half *__restrict__ bias, int M, int N,
                                                                int gelu, __half *__restrict__ y) {
  const size_t MN = (size_t)M * N;
  const size_t e0 = 2 * ((size_t)blockIdx.x * blockDim.x + threadIdx.x);
  if (e0 >= MN) return;
  const int n = (int)(e0 % (size_t)N);
  float2 v = __ldg(reinterpret_cast<const float2 *>(part + e0));
  for (int z = 1; z < splits; z++) {
    const float2 u = __ldg(reinterpret_cast<const float2 *>(part + z * MN + e0));
    v.x = __fadd_rn(v.x, u.x);
    v.y = __fadd_rn(v.y, u.y);
  }
  if (bias) {
    v.x = __fadd_rn(v.x, __half2float(bias[n]));
    v.y = __fadd_rn(v.y, __half2float(bias[n + 1]));
  }
  if (gelu) {
    v.x = qsq::gelu_h(qsq::rh(v.x));
    v.y = qsq::gelu_h(qsq::rh(v.y));
  }
  *reinterpret_cast<__half2 *>(y + e0) = __floats2half2_rn(v.x, v.y);
}

/* ---- any K, any block size: the reference's own order ------------------------
 * quant.h's flattened layout (blocks of `block` consecutive values of the whole
 * matrix, straddling rows when block does not divide K), dequantized tile by tile
 * into shared memory as fp32 h(code * absmax), and the fp16 GEMM of section 1:
 * 8 fp32 lanes per output (k mod 8, increasing k), the reference's tree, + h(bias),
 * h(). Bit-exact with qs_nf4_linear_ref. CTA: 64 rows x 32 columns, 256 threads,
 * each thread one column and 8 rows. */
constexpr int GN_TM = 64, GN_TN = 32, GN_KC = 64, GN_LD = GN_KC + 4;

/* One k-tile's operands in registers: GN_XL activations and GN_WL weight nibbles of
 * this thread (element i = tid + 256 j of the tile), loaded with no use in between so
 * that all the loads of a tile are in flight at once; decoded when stored to shared
 * memory. The next tile's loads are issued before the current tile's products. */
constexpr int GN_XL = GN_TM * GN_KC / 256, GN_WL = GN_TN * GN_KC / 256;
struct GnRegs {
  float x[GN_XL];
  uint32_t byte[GN_WL]; /* the packed byte, 0x100 | byte for the low nibble, ~0u outside W */
  float a[GN_WL];       /* the block's absmax (without double quantization) or ascale */
  int aq[GN_WL];        /* the block's 8-bit absmax code (double quantization) */
};

__device__ __forceinline__ void gn_load(GnRegs &R, const __half *__restrict__ x, const uint8_t *__restrict__ packed,
                                        const Nf4Scale &sc, bool dq, int block, int m0, int n0, int k0, int M, int N,
                                        int K, int tid) {
#pragma unroll
  for (int j = 0; j < GN_XL; j++) {
    const int i = tid + 256 * j, r = i / GN_KC, c = i - r * GN_KC, gm = m0 + r, gk = k0 + c;
    R.x[j] = (gm < M && gk < K) ? __half2float(x[(size_t)gm * K + gk]) : 0.0f;
  }
#pragma unroll
  for (int j = 0; j < GN_WL; j++) {
    const int i = tid + 256 * j, r = i / GN_KC, c = i - r * GN_KC, gn = n0 + r, gk = k0 + c;
    R.byte[j] = ~0u;
    R.a[j] = 0.0f;
    R.aq[j] = 0;
    if (gn < N && gk < K) {
      const size_t e = (size_t)gn * K + gk, b = e / (size_t)block;
      R.byte[j] = (uint32_t)packed[e >> 1] | ((e & 1) ? 0x100u : 0u);
      if (dq) {
        R.aq[j] = sc.aq[b];
        R.a[j] = sc.ascale[b / QS_NF4_DQ_GROUP];
      } else {
        R.a[j] = sc.absmax[b];
      }
    }
  }
}

__global__ void __launch_bounds__(256) nf4_generic_kernel(const __half *__restrict__ x,
                                                          const uint8_t *__restrict__ packed, Nf4Scale sc, int block,
                                                          const __half *__restrict__ bias, int M, int N, int K,
                                                          int gelu, __half *__restrict__ y) {
  __shared__ __align__(16) float xs[GN_TM][GN_LD];
  __shared__ __align__(16) float wsm[GN_TN][GN_LD];
  __shared__ float code[16];
  const int tid = threadIdx.x, tn = tid & 31, tm = tid >> 5;
  const int m0 = blockIdx.y * GN_TM, n0 = blockIdx.x * GN_TN;
  const bool dq = sc.absmax == nullptr;
  if (tid < 16) code[tid] = c_nf4[tid];
  float P[8][8];
#pragma unroll
  for (int r = 0; r < 8; r++)
#pragma unroll
    for (int l = 0; l < 8; l++) P[r][l] = 0.0f;
  GnRegs R;
  gn_load(R, x, packed, sc, dq, block, m0, n0, 0, M, N, K, tid);
  for (int k0 = 0; k0 < K; k0 += GN_KC) {
#pragma unroll
    for (int j = 0; j < GN_XL; j++) {
      const int i = tid + 256 * j, r = i / GN_KC;
      xs[r][i - r * GN_KC] = R.x[j];
    }
    __syncthreads(); /* also publishes code[] before its first use */
#pragma unroll
    for (int j = 0; j < GN_WL; j++) {
      const int i = tid + 256 * j, r = i / GN_KC;
      float w = 0.0f;
      if (R.byte[j] != ~0u) {
        const int idx = (R.byte[j] & 0x100u) ? (int)(R.byte[j] & 15u) : (int)((R.byte[j] >> 4) & 15u);
        const float a = dq ? __fadd_rn(__fmul_rn((float)R.aq[j], R.a[j]), sc.aoff) : R.a[j];
        w = qsq::rh(__fmul_rn(code[idx], a));
      }
      wsm[r][i - r * GN_KC] = w;
    }
    __syncthreads();
    if (k0 + GN_KC < K) gn_load(R, x, packed, sc, dq, block, m0, n0, k0 + GN_KC, M, N, K, tid);
#pragma unroll 2
    for (int kk = 0; kk < GN_KC; kk += 8) {
      const float4 w0 = *reinterpret_cast<const float4 *>(&wsm[tn][kk]);
      const float4 w1 = *reinterpret_cast<const float4 *>(&wsm[tn][kk + 4]);
      const float wv[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
      for (int r = 0; r < 8; r++) {
        const float4 a0 = *reinterpret_cast<const float4 *>(&xs[tm * 8 + r][kk]);
        const float4 a1 = *reinterpret_cast<const float4 *>(&xs[tm * 8 + r][kk + 4]);
        const float xv[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
#pragma unroll
        for (int l = 0; l < 8; l++) P[r][l] = fmaf(xv[l], wv[l], P[r][l]);
      }
    }
    __syncthreads();
  }
  const int gn = n0 + tn;
  if (gn >= N) return;
  const float bh = bias ? __half2float(bias[gn]) : 0.0f;
#pragma unroll
  for (int r = 0; r < 8; r++) {
    const int gm = m0 + tm * 8 + r;
    if (gm >= M) continue;
    float S = __fadd_rn(__fadd_rn(__fadd_rn(P[r][0], P[r][1]), __fadd_rn(P[r][2], P[r][3])),
                        __fadd_rn(__fadd_rn(P[r][4], P[r][5]), __fadd_rn(P[r][6], P[r][7])));
    if (bias) S = __fadd_rn(S, bh);
    float v = qsq::rh(S);
    if (gelu) v = qsq::gelu_h(v);
    y[(size_t)gm * N + gn] = __float2half_rn(v);
  }
}

}  // namespace

extern "C" int qs_nf4_splitk_choose(int M, int N, int K) {
  static int sms = 0;
  if (!sms) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      sms = 132;
  }
  if (M <= 16 || K % 64 != 0) return 1;
  const long t0 = (long)((M + 127) / 128) * ((N + 127) / 128);
  if (t0 >= 2L * sms) return 1; /* the 128 x 128 configuration fills the chip */
  const long tiles = (long)((M + 63) / 64) * ((N + 63) / 64);
  const int KT = K / BK;
  if (M > 1024 || tiles >= sms || KT < 4) return 1;
  int s = (int)((2L * sms + tiles - 1) / tiles);
  if (s > KT / 2) s = KT / 2;
  if (s > 16) s = 16;
  return s < 2 ? 1 : s;
}

extern "C" int qs_nf4_gemm_splitk_launch(const uint16_t *x, const qs_nf4_weight *w, const uint16_t *bias, int M, int N,
                                         int K, int gelu, int splits, float *ws, uint16_t *y, cudaStream_t s) {
  QSQ_REQUIRE(x && w && w->packed && y && ws, "nf4 gemm split-K: argument: NULL pointer");
  QSQ_REQUIRE(w->absmax || (w->absmax_q && w->absmax_scale), "nf4 gemm split-K: argument: no absmax");
  QSQ_REQUIRE(M >= 1 && N >= 2 && K >= 64 && K % 64 == 0 && N % 2 == 0 && splits >= 1 && splits <= 64,
              "nf4 gemm split-K: shape: M %d N %d K %d splits %d", M, N, K, splits);
  QSQ_REQUIRE(((uintptr_t)x & 15) == 0 && ((uintptr_t)w->packed & 15) == 0 && ((uintptr_t)ws & 7) == 0 &&
                  ((uintptr_t)y & 3) == 0 && (w->absmax || ((uintptr_t)w->absmax_q & 3) == 0),
              "nf4 gemm split-K: alignment");
  Nf4Scale sc = {w->absmax, w->absmax ? nullptr : w->absmax_q, w->absmax_scale, w->absmax_offset};
  const int KT = K / BK, kts = (KT + splits - 1) / splits, used = (KT + kts - 1) / kts;
  {
    const int rc = launch_tiled<64, 64, 2, 2>(x, w->packed, sc, bias, M, N, K, 0, y, s, splits, ws);
    if (rc != QS_OK) return rc;
  }
  const size_t pairs = (size_t)M * N / 2;
  nf4_splitk_reduce_kernel<<<(unsigned)((pairs + 255) / 256), 256, 0, s>>>(ws, used, (const __half *)bias, M, N, gelu,
                                                                          (__half *)y);
  QSQ_CUDA(cudaGetLastError(), "nf4 split-K reduce");
  return QS_OK;
}

extern "C" int qs_nf4_gemm_generic_launch(const uint16_t *x, const qs_nf4_weight *w, int block,
                                          const uint16_t *bias, int M, int N, int K, int gelu, uint16_t *y,
                                          cudaStream_t s) {
  QSQ_REQUIRE(x && w && w->packed && y, "nf4 gemm (generic): argument: NULL pointer");
  QSQ_REQUIRE(w->absmax || (w->absmax_q && w->absmax_scale), "nf4 gemm (generic): argument: no absmax");
  QSQ_REQUIRE(M >= 1 && N >= 1 && K >= 1 && block >= 1, "nf4 gemm (generic): shape: M %d N %d K %d block %d", M, N,
              K, block);
  Nf4Scale sc = {w->absmax, w->absmax ? nullptr : w->absmax_q, w->absmax_scale, w->absmax_offset};
  dim3 grid((unsigned)((N + GN_TN - 1) / GN_TN), (unsigned)((M + GN_TM - 1) / GN_TM));
  nf4_generic_kernel<<<grid, 256, 0, s>>>((const __half *)x, w->packed, sc, block, (const __half *)bias, M, N, K, gelu,
                                         (__half *)y);
  QSQ_CUDA(cudaGetLastError(), "nf4 gemm (generic)");
  return QS_OK;
}

/* Kernel override for the benchmark and the tests: -1 the heuristic; 0, 1 the tiled
 * mma.sync kernels, 2 the GEMV (M <= 16); 3 the sm_90a wgmma kernel with its own
 * tile, 4, 5 and 6 that kernel with 128 x 256, 128 x 128 and 256 x 128 tiles
 * (refused as unsupported where the build lacks it). */
extern "C" void qs_nf4_gemm_force_config(int cfg) { g_force_cfg = cfg; }

extern "C" int qs_nf4_gemm_launch(const uint16_t *x, const qs_nf4_weight *w, const uint16_t *bias, int M, int N, int K,
                                  int gelu, uint16_t *y, cudaStream_t s) {
  QSQ_REQUIRE(x && w && w->packed && y, "nf4 gemm: argument: NULL pointer");
  QSQ_REQUIRE(w->absmax || (w->absmax_q && w->absmax_scale), "nf4 gemm: argument: no absmax");
  QSQ_REQUIRE(M >= 1 && N >= 1 && K >= 64 && K % 64 == 0 && N % 2 == 0,
              "nf4 gemm: shape: M %d N %d K %d (need K %% 64 == 0, N even)", M, N, K);
  QSQ_REQUIRE(((uintptr_t)x & 15) == 0 && ((uintptr_t)w->packed & 15) == 0 && ((uintptr_t)y & 3) == 0 &&
                  (w->absmax || ((uintptr_t)w->absmax_q & 3) == 0),
              "nf4 gemm: alignment: x, packed 16-byte; absmax_q 4-byte");
  Nf4Scale sc = {w->absmax, w->absmax ? nullptr : w->absmax_q, w->absmax_scale, w->absmax_offset};
  int cfg = g_force_cfg;
#if QS_HAVE_SM90A
  /* Hopper: dequantize each weight tile once into shared memory, fp16 wgmma (nf4_gemm_sm90.cu) */
  if (cfg >= 3 || (cfg < 0 && M >= QS_NF4_SM90_MIN_M && qs_int8_sm90_available()))
    return qs_nf4_gemm_sm90_launch(x, w, bias, M, N, K, gelu,
                                   cfg == 4 ? 256 : cfg == 5 ? 128 : cfg == 6 ? QS_NF4_SM90_TALL : 0, y, s);
#endif
  if (cfg >= 3) return qs_fail(QS_EUNSUPPORTED, "nf4 gemm: unsupported: configuration %d is not in this build", cfg);
  if (cfg < 0) {
    static int sms = 0;
    if (!sms) {
      int dev = 0;
      QSQ_CUDA(cudaGetDevice(&dev), "nf4 gemm");
      QSQ_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "nf4 gemm");
    }
    const long t0 = (long)((M + 127) / 128) * ((N + 127) / 128);
    cfg = M <= 16 ? 2 : t0 >= 2L * sms ? 0 : 1;
  }
  if (cfg == 2 && M <= 16) {
    nf4_gemv_kernel<<<(unsigned)((N + GV_BN - 1) / GV_BN), GV_WARPS * 32, 0, s>>>(
        (const __half *)x, w->packed, sc, (const __half *)bias, M, N, K, gelu, (__half *)y);
    QSQ_CUDA(cudaGetLastError(), "nf4 gemv");
    return QS_OK;
  }
  if (cfg == 0) return launch_tiled<128, 128, 2, 4>(x, w->packed, sc, (const uint16_t *)bias, M, N, K, gelu, y, s);
  return launch_tiled<64, 64, 2, 2>(x, w->packed, sc, (const uint16_t *)bias, M, N, K, gelu, y, s);
}
