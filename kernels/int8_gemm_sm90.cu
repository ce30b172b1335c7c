/* int8_gemm_sm90.cu - the LLM.int8 GEMM on Hopper: xq int8 [M, K] x wq int8 [N, K]^T
 * -> int32 with wgmma (m64nBNk32 s8), operands brought in by the bulk tensor copy
 * engine (TMA, 128-byte swizzle), and the epilogue of int8_gemm.cu (quant.h section
 * 3, bit-exact): d = ((float)acc * s_x[m]) * s_w[n] * (1/16129), + the outlier part,
 * + h(bias[n]), rounded to fp16, optionally GELU; or the raw int32 accumulators.
 *
 * A persistent grid (one CTA per SM) walks the BM x BN output tiles, n fastest, so
 * neighbouring CTAs share their activation rows in L2. Each CTA has three
 * warpgroups: warpgroup 0 is the producer (one thread issues the TMA loads of a
 * STAGES-deep ring of k-tiles, 128 bytes of K each, and waits for free slots on the
 * ring's "empty" barriers); warpgroups 1 and 2 are the consumers, 64 rows of the
 * tile each, accumulating in registers, releasing a slot once the wgmma that read it
 * has completed. The producer runs ahead into the next tile while the consumers
 * run the epilogue, so the epilogue's stores overlap the next tile's loads.
 *
 * The outlier part: whenever there is an outlier column the epilogue reads it from
 * obuf, which qs_int8_quant_outlier_launch (or qs_int8_outlier_launch) fills for any
 * count on this path (the reference's 8 lanes and tree, int8_outlier_dev.cuh); with no
 * outlier column it costs one load of the count. */
#include "qs_quant_dev.cuh"
#include "qs_sm90.cuh"

#include <cudaTypedefs.h>

#include <type_traits>

extern "C" {
#include "quant.h"
}

namespace {

constexpr int BM = 128;     /* rows of a tile: two consumer warpgroups of 64 */
constexpr int BK = 128;     /* bytes (= int8 elements) of K per stage: one swizzle span */
constexpr int THREADS = 384;

template <int BN>
struct Sm90Cfg {
  static constexpr int STAGES = BN == 256 ? 4 : 6;
  static constexpr int A_BYTES = BM * BK;
  static constexpr int B_BYTES = BN * BK;
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
  /* the epilogue's parameters of the current tile, a copy per consumer warpgroup:
   * s_w (BN floats), h(bias) (BN halves), s_x of its 64 rows (floats) */
  static constexpr int PAR_WG = BN * 6 + 64 * 4;
  static constexpr int PAR_BYTES = 2 * PAR_WG;
  /* 1 KB of slack for aligning the ring to the swizzle's 1024 bytes, then the barriers */
  static constexpr int SMEM = STAGES * STAGE_BYTES + PAR_BYTES + 1024 + 2 * STAGES * 8;
  static constexpr int NREG = BN / 2; /* int32 accumulators per consumer thread */
};

template <int BN>
__device__ __forceinline__ void wgmma_tile(int (&d)[BN / 2], uint64_t da, uint64_t db, int scale_d);
template <>
__device__ __forceinline__ void wgmma_tile<256>(int (&d)[128], uint64_t da, uint64_t db, int scale_d) {
  sm90::wgmma_s8_n256(d, da, db, scale_d);
}
template <>
__device__ __forceinline__ void wgmma_tile<128>(int (&d)[64], uint64_t da, uint64_t db, int scale_d) {
  sm90::wgmma_s8_n128(d, da, db, scale_d);
}
/* fp8 e4m3 operands, fp32 accumulators */
__device__ __forceinline__ void wgmma_tile_f8(float (&d)[128], uint64_t da, uint64_t db, int scale_d) {
  sm90::wgmma_e4m3_n256(d, da, db, scale_d);
}
__device__ __forceinline__ void wgmma_tile_f8(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
  sm90::wgmma_e4m3_n128(d, da, db, scale_d);
}
template <int BN>
__device__ __forceinline__ void wgmma_any(int (&d)[BN / 2], uint64_t da, uint64_t db, int scale_d) {
  wgmma_tile<BN>(d, da, db, scale_d);
}
template <int BN>
__device__ __forceinline__ void wgmma_any(float (&d)[BN / 2], uint64_t da, uint64_t db, int scale_d) {
  wgmma_tile_f8(d, da, db, scale_d);
}

/* The fp16 epilogue of one consumer thread: rows r0 and r0 + 8 (gm0, gm0 + 8) of
 * the tile, columns 8 j + 2 t4 + {0, 1}: acc[4 j + 2 h + e]. psw / pb are the
 * tile's s_w and h(bias) in shared memory (pb zeros without a bias: adding +0.0
 * to fp32 d + o, never -0.0, changes no bit). out: there are outlier columns, whose
 * part comes from obuf. Every load is unconditional and in bounds, so the compiler
 * can issue them ahead of the arithmetic; only the stores are predicated. */
template <int BN, int MODE>
__device__ __forceinline__ void epilogue_f16(const int (&acc)[BN / 2], const float (&sxm)[2], int gm0, int n0, int t4,
                                             int M, int N, const float *psw, const __half *pb, bool out,
                                             const __half *__restrict__ obuf, __half *__restrict__ y) {
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int gm = gm0 + 8 * h;
    const bool rok = gm < M;
    __half *yr = y + (size_t)gm * N;
    /* without outlier columns every lane rereads obuf[0] (one cached word) and
     * discards it: a load either way keeps a single copy of this code */
    const __half *orow = obuf + (out && rok ? (size_t)gm * N : 0);
    const int ostr = out ? 1 : 0;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
      const int cn = 8 * j + 2 * t4, gn = n0 + cn;
      const float2 swp = *reinterpret_cast<const float2 *>(psw + cn);
      const float2 bb = __half22float2(*reinterpret_cast<const __half2 *>(pb + cn));
      float2 oo = __half22float2(*reinterpret_cast<const __half2 *>(orow + ostr * (gn < N ? gn : 0)));
      if (!out) oo = make_float2(0.0f, 0.0f);
      float out[2];
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const float d = __fmul_rn(__fmul_rn(__fmul_rn(__int2float_rn(acc[4 * j + 2 * h + e]), sxm[h]), e ? swp.y : swp.x),
                                  QS_INT8_DEQ);
        float v = __fadd_rn(__fadd_rn(d, e ? oo.y : oo.x), e ? bb.y : bb.x);
        v = qsq::rh(v);
        if (MODE == QS_INT8_OUT_F16_GELU) v = qsq::gelu_h(v);
        out[e] = v;
      }
      if (rok && gn < N) *reinterpret_cast<__half2 *>(yr + gn) = __floats2half2_rn(out[0], out[1]);
      /* loads run at most 2 column pairs ahead (hoisting all 64 spills registers) */
      if ((j & 1) == 1) asm volatile("" ::: "memory");
    }
  }
}

/* The fp8 epilogue (quant.h section 5): d = fp32 (fp32 acc * s_x[m]) * s_w[n],
 * y = h(fp32 d + h(bias[n])) or h(d) without a bias, optionally GELU; the same
 * fragment layout and staging as epilogue_f16. */
template <int BN, int MODE>
__device__ __forceinline__ void epilogue_fp8(const float (&acc)[BN / 2], const float (&sxm)[2], int gm0, int n0,
                                             int t4, int M, int N, const float *psw, const __half *pb, bool has_bias,
                                             __half *__restrict__ y) {
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int gm = gm0 + 8 * h;
    const bool rok = gm < M;
    __half *yr = y + (size_t)gm * N;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
      const int cn = 8 * j + 2 * t4, gn = n0 + cn;
      const float2 swp = *reinterpret_cast<const float2 *>(psw + cn);
      const float2 bb = __half22float2(*reinterpret_cast<const __half2 *>(pb + cn));
      float out[2];
#pragma unroll
      for (int e = 0; e < 2; e++) {
        float v = __fmul_rn(__fmul_rn(acc[4 * j + 2 * h + e], sxm[h]), e ? swp.y : swp.x);
        if (has_bias) v = __fadd_rn(v, e ? bb.y : bb.x);
        v = qsq::rh(v);
        if (MODE == QS_INT8_OUT_F16_GELU) v = qsq::gelu_h(v);
        out[e] = v;
      }
      if (rok && gn < N) *reinterpret_cast<__half2 *>(yr + gn) = __floats2half2_rn(out[0], out[1]);
      if ((j & 1) == 1) asm volatile("" ::: "memory");
    }
  }
}

/* The producer thread of both schedules: the TMA loads of the CTA's tiles (n fastest,
 * BM x TBN, KT k-tiles of BK bytes each) into the STAGES-slot ring, in order, each slot
 * once its "empty" barrier says the consumers are done with it. */
template <int STAGES, int TBN, int A_BYTES, int STAGE_BYTES>
__device__ __forceinline__ void produce(uint8_t *ring, uint64_t *full, uint64_t *empty, const CUtensorMap *tmA,
                                        const CUtensorMap *tmB, int tiles, int tiles_n, int KT) {
  sm90::tma_prefetch_desc(tmA);
  sm90::tma_prefetch_desc(tmB);
  int stage = 0;
  uint32_t phase = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int m0 = (tile / tiles_n) * BM, n0 = (tile % tiles_n) * TBN;
    for (int kt = 0; kt < KT; kt++) {
      sm90::mbar_wait(&empty[stage], phase ^ 1);
      uint8_t *sA = ring + stage * STAGE_BYTES;
      sm90::mbar_arrive_expect_tx(&full[stage], STAGE_BYTES);
      sm90::tma_load_2d(sA, tmA, kt * BK, m0, &full[stage]);
      sm90::tma_load_2d(sA + A_BYTES, tmB, kt * BK, n0, &full[stage]);
      if (++stage == STAGES) stage = 0, phase ^= 1;
    }
  }
}

/* The raw accumulators of one consumer thread's rows gm0 and gm0 + 8 (the fragment
 * layout of epilogue_f16) as 32-bit words: int32 sums, or the fp32 sums' bits (fp8). */
__device__ __forceinline__ int acc_bits(int a) { return a; }
__device__ __forceinline__ int acc_bits(float a) { return __float_as_int(a); }
template <int BN, typename Acc>
__device__ __forceinline__ void store_acc(const Acc (&acc)[BN / 2], int gm0, int n0, int t4, int M, int N,
                                          int32_t *__restrict__ y) {
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int gm = gm0 + h * 8;
    if (gm >= M) continue;
    int32_t *yi = y + (size_t)gm * N;
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
      const int gn = n0 + 8 * j + 2 * t4;
      const int a0 = acc_bits(acc[4 * j + 2 * h]), a1 = acc_bits(acc[4 * j + 2 * h + 1]);
      if (gn + 1 < N) {
        *reinterpret_cast<int2 *>(yi + gn) = make_int2(a0, a1);
      } else if (gn < N) {
        yi[gn] = a0;
      }
    }
  }
}

/* MODE: QS_INT8_OUT_F16, QS_INT8_OUT_F16_GELU or QS_INT8_OUT_ACC, a template
 * parameter so each instance carries only its own epilogue (the epilogue is unrolled
 * over the accumulator registers: its code is large, and instruction fetch is what
 * a bigger one costs). */
template <int BN, int MODE, int F8>
__global__ void __launch_bounds__(THREADS, 1)
    int8_gemm_sm90_kernel(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmB,
                          const float *__restrict__ sx, const float *__restrict__ sw, const __half *__restrict__ bias,
                          const int *__restrict__ n_out_p, const __half *__restrict__ obuf, int M, int N, int K,
                          void *__restrict__ y) {
  using C = Sm90Cfg<BN>;
  extern __shared__ uint8_t smem_raw[];
  uint8_t *ring = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
  uint8_t *par = ring + C::STAGES * C::STAGE_BYTES;
  uint64_t *full = (uint64_t *)(par + C::PAR_BYTES);
  uint64_t *empty = full + C::STAGES;

  const int wg = threadIdx.x >> 7, tid = threadIdx.x & 127;
  const int tiles_n = (N + BN - 1) / BN, tiles = tiles_n * ((M + BM - 1) / BM);
  const int KT = (K + BK - 1) / BK;

  if (threadIdx.x == 0) {
    for (int s = 0; s < C::STAGES; s++) {
      sm90::mbar_init(&full[s], 1);
      sm90::mbar_init(&empty[s], 2); /* one arrival per consumer warpgroup */
    }
    sm90::mbar_fence_init();
  }
  __syncthreads();

  if (wg == 0) { /* producer */
    sm90::regs_dec<40>();
    if (tid == 0)
      produce<C::STAGES, BN, C::A_BYTES, C::STAGE_BYTES>(ring, full, empty, &tmA, &tmB, tiles, tiles_n, KT);
    return;
  }

  /* consumers */
  sm90::regs_inc<232>();
  const int c = wg - 1;
  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  int stage = 0;
  uint32_t phase = 0;
  const int nout = MODE == QS_INT8_OUT_ACC || F8 ? 0 : *n_out_p;
  using Acc = typename std::conditional<F8 != 0, float, int>::type;
  Acc acc[C::NREG];
#pragma unroll
  for (int i = 0; i < C::NREG; i++) acc[i] = 0;

  float *psw = (float *)(par + c * C::PAR_WG);
  __half *pb = (__half *)(par + c * C::PAR_WG + BN * 4);
  float *psx = (float *)(par + c * C::PAR_WG + BN * 6);

  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int m0 = (tile / tiles_n) * BM, n0 = (tile % tiles_n) * BN;
    const int gm0 = m0 + c * 64 + warp * 16 + g;
    if (MODE != QS_INT8_OUT_ACC) {
      /* this tile's s_w, bias and s_x into shared memory, in flight during the main
       * loop (the warpgroup's previous epilogue has finished reading them once all
       * its threads pass the barrier) */
      sm90::named_sync(1 + c, 128);
#pragma unroll
      for (int i = tid; i < BN; i += 128) sm90::cp_async4(psw + i, sw + (n0 + i < N ? n0 + i : 0), n0 + i < N);
#pragma unroll
      for (int i = 2 * tid; i < BN; i += 256)
        sm90::cp_async4(pb + i, bias + (n0 + i < N ? n0 + i : 0), bias != nullptr && n0 + i < N);
      if (tid < 64) {
        const int gm = m0 + c * 64 + tid;
        sm90::cp_async4(psx + tid, sx + (gm < M ? gm : 0), gm < M);
      }
      sm90::cp_async_commit();
    }
    int prev = -1;
    for (int kt = 0; kt < KT; kt++) {
      sm90::mbar_wait(&full[stage], phase);
      const uint8_t *sA = ring + stage * C::STAGE_BYTES + c * 64 * BK;
      const uint8_t *sB = ring + stage * C::STAGE_BYTES + C::A_BYTES;
      sm90::wg_fence();
#pragma unroll
      for (int ks = 0; ks < BK / 32; ks++)
        wgmma_any<BN>(acc, sm90::desc_sw128(sA + ks * 32), sm90::desc_sw128(sB + ks * 32), (kt | ks) != 0);
      sm90::wg_commit();
      sm90::wg_wait<1>(); /* the previous k-tile's wgmma has read its slot */
      if (prev >= 0 && tid == 0) sm90::mbar_arrive(&empty[prev]);
      prev = stage;
      if (++stage == C::STAGES) stage = 0, phase ^= 1;
    }
    sm90::wg_wait<0>();
#pragma unroll
    for (int i = 0; i < C::NREG; i++) sm90::reg_fence(acc[i]);
    if (prev >= 0 && tid == 0) sm90::mbar_arrive(&empty[prev]);

    /* epilogue: thread (warp, g, t4) holds rows r0 = 16 warp + g and r0 + 8 of this
     * warpgroup's 64, columns 8 j + 2 t4 + {0, 1}: acc[4 j + 2 h + e] */
    if (MODE == QS_INT8_OUT_ACC) {
      store_acc<BN>(acc, gm0, n0, t4, M, N, (int32_t *)y);
      continue;
    }
    sm90::cp_async_wait_all();
    sm90::named_sync(1 + c, 128); /* every thread's parameter copies have landed */
    const float sxm[2] = {psx[warp * 16 + g], psx[warp * 16 + g + 8]};
    if constexpr (F8 != 0)
      epilogue_fp8<BN, MODE>(acc, sxm, gm0, n0, t4, M, N, psw, pb, bias != nullptr, (__half *)y);
    else
      epilogue_f16<BN, MODE>(acc, sxm, gm0, n0, t4, M, N, psw, pb, nout > 0, obuf, (__half *)y);
  }
}

/* The ping-pong variant: each consumer warpgroup owns whole 128 x 128 output tiles
 * (two m64 halves, 128 accumulators a thread), the CTA's tiles alternating between
 * the two warpgroups, so one warpgroup's epilogue runs while the other's main loop
 * keeps the tensor cores busy (the cooperative kernel above idles them for its whole
 * epilogue). The producer fills the ring with the CTA's tiles in order, KT k-tiles
 * each; local tile L's k-tile kt is ring position L * KT + kt, consumed by warpgroup
 * L % 2 alone; the main loops take turns (named barriers 3 and 4). The same
 * epilogues as the cooperative kernel (bit-exact). */
constexpr int PP_BN = 128;
constexpr int PP_STAGES = 6;
constexpr int PP_STAGE_BYTES = BM * BK + PP_BN * BK;
constexpr int PP_PAR_WG = PP_BN * 6 + BM * 4; /* s_w, h(bias) of the tile's columns, s_x of its 128 rows */
constexpr int PP_SMEM = PP_STAGES * PP_STAGE_BYTES + 2 * PP_PAR_WG + 1024 + 2 * PP_STAGES * 8;

template <int MODE, int F8>
__global__ void __launch_bounds__(THREADS, 1)
    int8_gemm_sm90_pp_kernel(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmB,
                             const float *__restrict__ sx, const float *__restrict__ sw,
                             const __half *__restrict__ bias, const int *__restrict__ n_out_p,
                             const __half *__restrict__ obuf, int M, int N, int K, void *__restrict__ y) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t *ring = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
  uint8_t *par = ring + PP_STAGES * PP_STAGE_BYTES;
  uint64_t *full = (uint64_t *)(par + 2 * PP_PAR_WG);
  uint64_t *empty = full + PP_STAGES;

  const int wg = threadIdx.x >> 7, tid = threadIdx.x & 127;
  const int tiles_n = (N + PP_BN - 1) / PP_BN, tiles = tiles_n * ((M + BM - 1) / BM);
  const int KT = (K + BK - 1) / BK;

  if (threadIdx.x == 0) {
    for (int s = 0; s < PP_STAGES; s++) {
      sm90::mbar_init(&full[s], 1);
      sm90::mbar_init(&empty[s], 1); /* the one consumer warpgroup of the slot's tile */
    }
    sm90::mbar_fence_init();
  }
  __syncthreads();

  if (wg == 0) { /* producer */
    sm90::regs_dec<40>();
    if (tid == 0)
      produce<PP_STAGES, PP_BN, BM * BK, PP_STAGE_BYTES>(ring, full, empty, &tmA, &tmB, tiles, tiles_n, KT);
    return;
  }

  sm90::regs_inc<232>();
  const int c = wg - 1;
  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int nout = MODE == QS_INT8_OUT_ACC || F8 ? 0 : *n_out_p;
  using Acc = typename std::conditional<F8 != 0, float, int>::type;
  Acc acc0[PP_BN / 2], acc1[PP_BN / 2];
  float *psw = (float *)(par + c * PP_PAR_WG);
  __half *pb = (__half *)(par + c * PP_PAR_WG + PP_BN * 4);
  float *psx = (float *)(par + c * PP_PAR_WG + PP_BN * 6);

  /* local tile L = 2 i + c of this CTA: ring position L * KT */
  int L = c;
  for (int tile = blockIdx.x + c * gridDim.x; tile < tiles; tile += 2 * gridDim.x, L += 2) {
    const int m0 = (tile / tiles_n) * BM, n0 = (tile % tiles_n) * PP_BN;
    if (MODE != QS_INT8_OUT_ACC) {
      sm90::named_sync(1 + c, 128);
#pragma unroll
      for (int i = tid; i < PP_BN; i += 128) sm90::cp_async4(psw + i, sw + (n0 + i < N ? n0 + i : 0), n0 + i < N);
#pragma unroll
      for (int i = 2 * tid; i < PP_BN; i += 256)
        sm90::cp_async4(pb + i, bias + (n0 + i < N ? n0 + i : 0), bias != nullptr && n0 + i < N);
      {
        const int gm = m0 + tid;
        sm90::cp_async4(psx + tid, sx + (gm < M ? gm : 0), gm < M);
      }
      sm90::cp_async_commit();
    }
    /* the main loops take turns: this one starts once the other warpgroup's main
     * loop of the previous tile has waited for all its k-tiles (barrier 3: warpgroup
     * 0 is done, 4: warpgroup 1), so every wait below is within one phase of its
     * slot's barrier (a parity wait cannot tell phase k from phase k + 2) */
    if (L > 0) sm90::named_sync(c == 0 ? 4 : 3, 256);
    const long pos0 = (long)L * KT;
    int stage = (int)(pos0 % PP_STAGES);
    uint32_t phase = (uint32_t)((pos0 / PP_STAGES) & 1);
    int prev = -1;
    for (int kt = 0; kt < KT; kt++) {
      sm90::mbar_wait(&full[stage], phase);
      const uint8_t *sA = ring + stage * PP_STAGE_BYTES;
      const uint8_t *sB = sA + BM * BK;
      sm90::wg_fence();
#pragma unroll
      for (int ks = 0; ks < BK / 32; ks++) {
        wgmma_any<PP_BN>(acc0, sm90::desc_sw128(sA + ks * 32), sm90::desc_sw128(sB + ks * 32), (kt | ks) != 0);
        wgmma_any<PP_BN>(acc1, sm90::desc_sw128(sA + 64 * BK + ks * 32), sm90::desc_sw128(sB + ks * 32),
                         (kt | ks) != 0);
      }
      sm90::wg_commit();
      if (kt == KT - 1 && tile + gridDim.x < tiles) /* the other warpgroup's next tile may start */
        sm90::named_arrive(c == 0 ? 3 : 4, 256);
      sm90::wg_wait<1>();
      if (prev >= 0 && tid == 0) sm90::mbar_arrive(&empty[prev]);
      prev = stage;
      if (++stage == PP_STAGES) stage = 0, phase ^= 1;
    }
    sm90::wg_wait<0>();
#pragma unroll
    for (int i = 0; i < PP_BN / 2; i++) sm90::reg_fence(acc0[i]), sm90::reg_fence(acc1[i]);
    if (prev >= 0 && tid == 0) sm90::mbar_arrive(&empty[prev]);

    const int gm0 = m0 + warp * 16 + g;
    if (MODE == QS_INT8_OUT_ACC) {
      store_acc<PP_BN>(acc0, gm0, n0, t4, M, N, (int32_t *)y);
      store_acc<PP_BN>(acc1, gm0 + 64, n0, t4, M, N, (int32_t *)y);
      continue;
    }
    sm90::cp_async_wait_all();
    sm90::named_sync(1 + c, 128);
    const float sx0[2] = {psx[warp * 16 + g], psx[warp * 16 + g + 8]};
    const float sx1[2] = {psx[64 + warp * 16 + g], psx[64 + warp * 16 + g + 8]};
    if constexpr (F8 != 0) {
      epilogue_fp8<PP_BN, MODE>(acc0, sx0, gm0, n0, t4, M, N, psw, pb, bias != nullptr, (__half *)y);
      epilogue_fp8<PP_BN, MODE>(acc1, sx1, gm0 + 64, n0, t4, M, N, psw, pb, bias != nullptr, (__half *)y);
    } else {
      epilogue_f16<PP_BN, MODE>(acc0, sx0, gm0, n0, t4, M, N, psw, pb, nout > 0, obuf, (__half *)y);
      epilogue_f16<PP_BN, MODE>(acc1, sx1, gm0 + 64, n0, t4, M, N, psw, pb, nout > 0, obuf, (__half *)y);
    }
  }
}

PFN_cuTensorMapEncodeTiled_v12000 g_encode = NULL;

int get_encoder(void) {
  if (g_encode) return QS_OK;
  void *fn = NULL;
  cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
  QSQ_CUDA(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q),
           "int8 gemm sm90: cuTensorMapEncodeTiled");
  if (!fn || q != cudaDriverEntryPointSuccess)
    return qs_fail(QS_EUNSUPPORTED, "int8 gemm sm90: the driver has no cuTensorMapEncodeTiled");
  g_encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
  return QS_OK;
}

/* Tensor map of an int8 matrix [rows, K] (row stride K bytes), box [box_rows][BK]. */
int make_map(CUtensorMap *map, const int8_t *p, int rows, int K, int box_rows) {
  const cuuint64_t dims[2] = {(cuuint64_t)K, (cuuint64_t)rows};
  const cuuint64_t strides[1] = {(cuuint64_t)K};
  const cuuint32_t box[2] = {(cuuint32_t)BK, (cuuint32_t)box_rows};
  const cuuint32_t estr[2] = {1, 1};
  const CUresult r = g_encode(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, (void *)p, dims, strides, box, estr,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return qs_fail(QS_EDEVICE, "int8 gemm sm90: cuTensorMapEncodeTiled [%d, %d] box %d: CUresult %d", rows, K,
                   box_rows, (int)r);
  return QS_OK;
}

/* The operands of one launch: the activation codes xq [M, K] with s_x, the weight
 * codes wq [N, K] with s_w (int8, or e4m3 bytes when F8), bias, and for int8 the
 * outlier count and part. */
struct Sm90Args {
  const void *xq, *wq;
  const float *sx, *sw;
  const uint16_t *bias, *obuf;
  const int *n_out;
};

template <int BN, int MODE, int F8>
int launch_mode(const CUtensorMap &mA, const CUtensorMap &mB, const Sm90Args &g, int M, int N, int K, void *y, int sms,
                cudaStream_t s) {
  using C = Sm90Cfg<BN>;
  static int attr_set = 0;
  if (!attr_set) {
    QSQ_CUDA(cudaFuncSetAttribute(int8_gemm_sm90_kernel<BN, MODE, F8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  C::SMEM),
             F8 ? "fp8 gemm sm90" : "int8 gemm sm90");
    attr_set = 1;
  }
  const long tiles = (long)((N + BN - 1) / BN) * ((M + BM - 1) / BM);
  const unsigned grid = (unsigned)(tiles < sms ? tiles : sms);
  int8_gemm_sm90_kernel<BN, MODE, F8><<<grid, THREADS, C::SMEM, s>>>(
      mA, mB, g.sx, g.sw, (const __half *)g.bias, g.n_out, (const __half *)g.obuf, M, N, K, y);
  QSQ_CUDA(cudaGetLastError(), F8 ? "fp8 gemm sm90" : "int8 gemm sm90");
  return QS_OK;
}

template <int MODE, int F8>
int launch_pp_mode(const CUtensorMap &mA, const CUtensorMap &mB, const Sm90Args &g, int M, int N, int K, void *y,
                   int sms, cudaStream_t s) {
  static int attr_set = 0;
  if (!attr_set) {
    QSQ_CUDA(cudaFuncSetAttribute(int8_gemm_sm90_pp_kernel<MODE, F8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  PP_SMEM),
             F8 ? "fp8 gemm sm90" : "int8 gemm sm90");
    attr_set = 1;
  }
  /* two tiles a CTA at a time, one per consumer warpgroup */
  const long tiles = (long)((N + PP_BN - 1) / PP_BN) * ((M + BM - 1) / BM);
  const long ctas = (tiles + 1) / 2;
  const unsigned grid = (unsigned)(ctas < sms ? ctas : sms);
  int8_gemm_sm90_pp_kernel<MODE, F8><<<grid, THREADS, PP_SMEM, s>>>(
      mA, mB, g.sx, g.sw, (const __half *)g.bias, g.n_out, (const __half *)g.obuf, M, N, K, y);
  QSQ_CUDA(cudaGetLastError(), F8 ? "fp8 gemm sm90" : "int8 gemm sm90");
  return QS_OK;
}

template <int F8>
int launch_pp(const Sm90Args &g, int M, int N, int K, int mode, void *y, int sms, cudaStream_t s) {
  CUtensorMap mA, mB;
  QS_TRY(make_map(&mA, (const int8_t *)g.xq, M, K, BM));
  QS_TRY(make_map(&mB, (const int8_t *)g.wq, N, K, PP_BN));
  switch (mode) {
    case QS_INT8_OUT_F16: return launch_pp_mode<QS_INT8_OUT_F16, F8>(mA, mB, g, M, N, K, y, sms, s);
    case QS_INT8_OUT_F16_GELU: return launch_pp_mode<QS_INT8_OUT_F16_GELU, F8>(mA, mB, g, M, N, K, y, sms, s);
    default: return launch_pp_mode<QS_INT8_OUT_ACC, F8>(mA, mB, g, M, N, K, y, sms, s);
  }
}

template <int BN, int F8>
int launch_bn(const Sm90Args &g, int M, int N, int K, int mode, void *y, int sms, cudaStream_t s) {
  CUtensorMap mA, mB;
  QS_TRY(make_map(&mA, (const int8_t *)g.xq, M, K, BM));
  QS_TRY(make_map(&mB, (const int8_t *)g.wq, N, K, BN));
  switch (mode) {
    case QS_INT8_OUT_F16: return launch_mode<BN, QS_INT8_OUT_F16, F8>(mA, mB, g, M, N, K, y, sms, s);
    case QS_INT8_OUT_F16_GELU: return launch_mode<BN, QS_INT8_OUT_F16_GELU, F8>(mA, mB, g, M, N, K, y, sms, s);
    default: return launch_mode<BN, QS_INT8_OUT_ACC, F8>(mA, mB, g, M, N, K, y, sms, s);
  }
}

int sm_count(void) {
  static int sms = 0;
  if (!sms) {
    int dev = 0;
    QSQ_CUDA(cudaGetDevice(&dev), "gemm sm90");
    QSQ_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "gemm sm90");
  }
  return sms;
}

/* bn 0: with a 128 x 128 tile for every consumer warpgroup of a full grid, the
 * ping-pong schedule (its epilogues hide under the other warpgroup's main loop);
 * otherwise the cooperative tile width with the fewer full waves of work (time ~
 * waves x tile time; a 128-wide tile costs a little over half a 256-wide one) */
int choose_bn(int M, int N, int sms) {
  const long mt = (M + BM - 1) / BM;
  if (mt * ((N + PP_BN - 1) / PP_BN) >= 2L * sms) return QS_SM90_PINGPONG;
  const long w256 = (mt * ((N + 255) / 256) + sms - 1) / sms, w128 = (mt * ((N + 127) / 128) + sms - 1) / sms;
  return (double)w256 <= 0.56 * (double)w128 ? 256 : 128;
}

template <int F8>
int launch_any(const Sm90Args &g, int M, int N, int K, int mode, void *y, int bn, cudaStream_t s) {
  QS_TRY(get_encoder());
  const int sms = sm_count();
  if (sms <= 0) return QS_EDEVICE;
  if (bn == 0) bn = choose_bn(M, N, sms);
  if (bn == QS_SM90_PINGPONG) return launch_pp<F8>(g, M, N, K, mode, y, sms, s);
  if (bn == 256) return launch_bn<256, F8>(g, M, N, K, mode, y, sms, s);
  return launch_bn<128, F8>(g, M, N, K, mode, y, sms, s);
}

}  // namespace

/* 1 if the device is compute capability 9.0 (the sm_90a code runs there only). */
extern "C" int qs_int8_sm90_available(void) {
  static int cached_dev = -1, avail = 0;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 0;
  if (dev != cached_dev) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
      return 0;
    avail = major == 9 && minor == 0;
    cached_dev = dev;
  }
  return avail;
}

/* bn: 256, 128, or 0 (choose: the tile width with the fewer full waves of work). */
extern "C" int qs_int8_gemm_sm90_launch(const qs_int8_act *a, const int8_t *wq, const float *sw, const uint16_t *bias,
                                        const uint16_t *obuf, int M, int N, int K, int mode, void *y, int bn,
                                        cudaStream_t s) {
  QSQ_REQUIRE(qs_int8_sm90_available(), "int8 gemm sm90: unsupported: needs a compute capability 9.0 device");
  QSQ_REQUIRE(M >= 1 && N >= 2 && N % 2 == 0 && K >= 16 && K % 16 == 0 && (int64_t)K <= QS_INT8_MAX_K,
              "int8 gemm sm90: shape: M %d N %d K %d (need K %% 16 == 0, N even)", M, N, K);
  QSQ_REQUIRE(bn == 0 || bn == 128 || bn == 256 || bn == QS_SM90_PINGPONG, "int8 gemm sm90: argument: tile width %d",
              bn);
  QSQ_REQUIRE(mode >= 0 && mode <= 2, "int8 gemm sm90: argument: mode %d", mode);
  QSQ_REQUIRE(obuf || mode == QS_INT8_OUT_ACC, "int8 gemm sm90: argument: obuf is required (the outlier part)");
  QSQ_REQUIRE(((uintptr_t)a->xq & 15) == 0 && ((uintptr_t)wq & 15) == 0 && ((uintptr_t)sw & 7) == 0 &&
                  ((uintptr_t)bias & 3) == 0,
              "int8 gemm sm90: alignment: xq, wq 16-byte, sw 8-byte, bias 4-byte");
  const Sm90Args g = {a->xq, wq, a->sx, sw, bias, obuf, a->n_out};
  return launch_any<0>(g, M, N, K, mode, y, bn, s);
}

extern "C" int qs_fp8_gemm_sm90_launch(const uint8_t *xq, const float *sx, const uint8_t *wq, const float *sw,
                                       const uint16_t *bias, int M, int N, int K, int mode, void *y, int bn,
                                       cudaStream_t s) {
  QSQ_REQUIRE(qs_int8_sm90_available(), "fp8 gemm sm90: unsupported: needs a compute capability 9.0 device");
  QSQ_REQUIRE(xq && sx && wq && sw && y, "fp8 gemm sm90: argument: NULL pointer");
  QSQ_REQUIRE(M >= 1 && N >= 2 && N % 2 == 0 && K >= 16 && K % 16 == 0,
              "fp8 gemm sm90: shape: M %d N %d K %d (need K %% 16 == 0, N even)", M, N, K);
  QSQ_REQUIRE(bn == 0 || bn == 128 || bn == 256 || bn == QS_SM90_PINGPONG, "fp8 gemm sm90: argument: tile width %d",
              bn);
  QSQ_REQUIRE(mode >= 0 && mode <= 2, "fp8 gemm sm90: argument: mode %d", mode);
  QSQ_REQUIRE(((uintptr_t)xq & 15) == 0 && ((uintptr_t)wq & 15) == 0 && ((uintptr_t)sw & 7) == 0 &&
                  ((uintptr_t)bias & 3) == 0,
              "fp8 gemm sm90: alignment: xq, wq 16-byte, sw 8-byte, bias 4-byte");
  const Sm90Args g = {xq, wq, sx, sw, bias, NULL, NULL};
  return launch_any<1>(g, M, N, K, mode, y, bn, s);
}
