/* nf4_gemm_sm90.cu - the NF4 weight-only Linear on Hopper: y fp16 [M, N] = x fp16
 * [M, K] * W^T (+ bias, optional GELU), W NF4 [N, K] (quant.h section 2, block 64,
 * K % 64 == 0, so each row's block k covers exactly the k-tile k), with fp16 wgmma
 * (m64nBNk16, fp32 accumulation).
 *
 * Each weight tile is dequantized once, into shared memory, and never exists in
 * device memory. A persistent grid (one CTA per SM) walks the TM x BN output tiles,
 * n fastest. Warpgroup 0 is the producer: its thread 0 issues the TMA loads of the
 * activation tile (TM rows x 64 halves, 128-byte swizzle) and of the packed nibbles
 * of the weight tile (BN rows x 32 bytes) into a ring of STAGES slots. Warpgroups 1
 * and 2 are the consumers (TM / 2 rows each, in m64 halves): together they turn a
 * slot's nibbles into fp16, w = h(code[idx] * absmax) as quant.h and nf4_gemm.cu
 * (from a per-block table of the 16 products in registers, looked up four at a time
 * by byte permutes), written in the 128-byte swizzled layout the wgmma descriptor
 * reads, meet at a named barrier after a proxy fence, and issue the slot's wgmma;
 * the dequantization of the next slot runs while the tensor cores work on this one.
 * A slot is released once the wgmma that read it has completed. The 256 x 128 tile
 * dequantizes half as many weights per product as 128 x 256.
 *
 * Arithmetic: fp32 accumulation in the tensor cores' order (not the reference's 8
 * lanes), then + h(bias) in fp32, rounded to fp16; with GELU, y = h(gelu(h(v))): the
 * same epilogue as nf4_gemm.cu's tiled kernel, within its stated tolerance of the
 * reference. */
#include "nf4_lut.h"
#include "qs_quant_dev.cuh"
#include "qs_sm90.cuh"

#include <cudaTypedefs.h>

extern "C" {
#include "quant.h"
}

namespace {

constexpr int BK = 64;  /* halves of K per stage: 128 bytes, one swizzle span; one NF4 block per row */
constexpr int THREADS = 384;

/* the NF4 codebook, the literals of qs_nf4_code (the test compares with the reference) */
__device__ constexpr float c_nf4_sm90[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/* TM x BN output tiles: 128 x 256, 128 x 128, or 256 x 128 (each consumer warpgroup
 * 128 rows, two m64 halves: half the dequantization per product of 128 x 256) */
template <int TM, int BN>
struct Nf4Sm90Cfg {
  static constexpr int STAGES = TM * 2 + BN >= 512 ? 4 : 6;
  static constexpr int NH = TM / 128;          /* m64 halves per consumer warpgroup */
  static constexpr int A_BYTES = TM * BK * 2;  /* 16 or 32 KB */
  static constexpr int B_BYTES = BN * BK * 2;  /* fp16 weights */
  static constexpr int R_BYTES = BN * BK / 2;  /* packed nibbles */
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES + R_BYTES;
  static constexpr int SMEM = STAGES * STAGE_BYTES + 1024 + 2 * STAGES * 8 + 64;
};

template <int BN>
__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 2], uint64_t da, uint64_t db, int scale_d);
template <>
__device__ __forceinline__ void wgmma_tile<256>(float (&d)[128], uint64_t da, uint64_t db, int scale_d) {
  sm90::wgmma_f16_n256(d, da, db, scale_d);
}
template <>
__device__ __forceinline__ void wgmma_tile<128>(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
  sm90::wgmma_f16_n128(d, da, db, scale_d);
}

/* The absmax the block (row n, k-tile kt) dequantizes with (0 past the last row). */
__device__ __forceinline__ float block_absmax(const float *__restrict__ absmax, const int8_t *__restrict__ aq,
                                              const float *__restrict__ ascale, float aoff, int n, int N, int KB,
                                              int kt) {
  if (n >= N) return 0.0f;
  const size_t b = (size_t)n * KB + kt;
  if (absmax) return __ldg(absmax + b);
  return __fadd_rn(__fmul_rn((float)__ldg(aq + b), __ldg(ascale + b / QS_NF4_DQ_GROUP)), aoff);
}

/* The block's 16 weights, h(code[i] * absmax) (quant.h), as the two byte tables of
 * nf4_lut.h in registers (no shared-memory lookups: those, two a weight, kept the
 * dequantization behind the tensor cores). */
__device__ __forceinline__ void block_table(float a, uint32_t (&lo)[4], uint32_t (&hi)[4]) {
  uint32_t p[8];
#pragma unroll
  for (int j = 0; j < 8; j++) p[j] = qsq::pack_h2(c_nf4_sm90[2 * j] * a, c_nf4_sm90[2 * j + 1] * a);
  qs_nf4_lut_split(p, lo, hi);
}

/* Eight weights (4 packed bytes, element 2j in the high nibble of byte j) to 8 fp16. */
__device__ __forceinline__ uint4 dequant8(uint32_t w, const uint32_t (&lo)[4], const uint32_t (&hi)[4]) {
  uint32_t o[4];
  qs_nf4_lookup8(w, lo, hi, o);
  return make_uint4(o[0], o[1], o[2], o[3]);
}

template <int TM, int BN, int GELU>
__global__ void __launch_bounds__(THREADS, 1)
    nf4_gemm_sm90_kernel(const __grid_constant__ CUtensorMap tmA, const __grid_constant__ CUtensorMap tmR,
                         const float *__restrict__ absmax, const int8_t *__restrict__ aq,
                         const float *__restrict__ ascale, float aoff, const __half *__restrict__ bias, int M, int N,
                         int K, __half *__restrict__ y) {
  using C = Nf4Sm90Cfg<TM, BN>;
  constexpr int BM = TM;
  extern __shared__ uint8_t smem_raw[];
  uint8_t *ring = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
  uint64_t *full = (uint64_t *)(ring + C::STAGES * C::STAGE_BYTES);
  uint64_t *empty = full + C::STAGES;

  const int wg = threadIdx.x >> 7, tid = threadIdx.x & 127;
  const int tiles_n = (N + BN - 1) / BN, tiles = tiles_n * ((M + BM - 1) / BM);
  const int KT = K / BK;
  /* this CTA's sequence of (tile, k-tile) stages */
  const int my_tiles = blockIdx.x < tiles ? (tiles - blockIdx.x + gridDim.x - 1) / gridDim.x : 0;
  const int Q = my_tiles * KT;

  if (threadIdx.x == 0) {
    for (int s = 0; s < C::STAGES; s++) {
      sm90::mbar_init(&full[s], 1);  /* the producer's arrival; the bytes of A and the nibbles */
      sm90::mbar_init(&empty[s], 2); /* one arrival per consumer warpgroup */
    }
    sm90::mbar_fence_init();
  }
  __syncthreads();

  if (wg == 0) { /* producer: one thread issues the copies of the ring */
    sm90::regs_dec<40>();
    if (tid == 0) {
      sm90::tma_prefetch_desc(&tmA);
      sm90::tma_prefetch_desc(&tmR);
      for (int q = 0; q < Q; q++) {
        const int slot = q % C::STAGES;
        const uint32_t par = (uint32_t)(q / C::STAGES) & 1u;
        const int tile = blockIdx.x + (q / KT) * gridDim.x, kt = q % KT;
        const int m0 = (tile / tiles_n) * BM, n0 = (tile % tiles_n) * BN;
        sm90::mbar_wait(&empty[slot], par ^ 1u);
        uint8_t *st = ring + slot * C::STAGE_BYTES;
        sm90::mbar_arrive_expect_tx(&full[slot], C::A_BYTES + C::R_BYTES);
        sm90::tma_load_2d(st, &tmA, kt * BK, m0, &full[slot]);
        sm90::tma_load_2d(st + C::A_BYTES + C::B_BYTES, &tmR, kt * (BK / 2), n0, &full[slot]);
      }
    }
    return;
  }

  /* consumers: both warpgroups dequantize the stage's weight tile (thread ct takes
   * CH 16-byte chunks of row ct / TPR), wait for each other at a named barrier, then
   * each runs the stage's wgmma on its 64 rows; the dequantization of stage q + 1
   * runs while the tensor cores work on stage q */
  sm90::regs_inc<232>();
  const int c = wg - 1, ct = threadIdx.x - 128;
  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  constexpr int TPR = 256 / BN;   /* threads per weight row */
  constexpr int CH = 8 / TPR;     /* 16-byte chunks (8 weights) a thread writes per stage */
  const int drow = ct / TPR, dch = (ct % TPR) * CH;
  const int KB = K / 64;
  float acc[C::NH][BN / 2];
#pragma unroll
  for (int hh = 0; hh < C::NH; hh++)
#pragma unroll
    for (int i = 0; i < BN / 2; i++) acc[hh][i] = 0.0f;

  float anext = 0.0f;
  if (Q > 0) anext = block_absmax(absmax, aq, ascale, aoff, (blockIdx.x % tiles_n) * BN + drow, N, KB, 0);
  int q = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int m0 = (tile / tiles_n) * BM, n0 = (tile % tiles_n) * BN;
    int prev = -1;
    for (int kt = 0; kt < KT; kt++, q++) {
      const int slot = q % C::STAGES;
      const uint32_t par = (uint32_t)(q / C::STAGES) & 1u;
      const float a = anext;
      if (q + 1 < Q) { /* the next stage's absmax, loaded while this one is dequantized */
        const int t1 = blockIdx.x + ((q + 1) / KT) * gridDim.x;
        anext = block_absmax(absmax, aq, ascale, aoff, (t1 % tiles_n) * BN + drow, N, KB, (q + 1) % KT);
      }
      uint8_t *st = ring + slot * C::STAGE_BYTES;
      uint8_t *sB = st + C::A_BYTES;
      const uint8_t *sR = sB + C::B_BYTES;
      sm90::mbar_wait(&full[slot], par);
      {
        uint32_t pw[CH];
        const uint8_t *src = sR + drow * 32 + dch * 4;
#pragma unroll
        for (int i = 0; i < CH / 4; i++) {
          const uint4 p = *reinterpret_cast<const uint4 *>(src + 16 * i);
          pw[4 * i] = p.x, pw[4 * i + 1] = p.y, pw[4 * i + 2] = p.z, pw[4 * i + 3] = p.w;
        }
        uint32_t lo[4], hi[4];
        block_table(a, lo, hi);
        uint8_t *row = sB + drow * 128;
#pragma unroll
        for (int i = 0; i < CH; i++) /* 16-byte chunk dch + i of the row, at the 128-byte swizzle's place */
          *reinterpret_cast<uint4 *>(row + (((dch + i) ^ (drow & 7)) << 4)) = dequant8(pw[i], lo, hi);
      }
      asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
      sm90::named_sync(1, 256); /* the whole weight tile is in place */
      const uint8_t *sA = st + c * C::NH * 64 * 128;
      sm90::wg_fence();
#pragma unroll
      for (int ks = 0; ks < BK / 16; ks++)
#pragma unroll
        for (int hh = 0; hh < C::NH; hh++)
          wgmma_tile<BN>(acc[hh], sm90::desc_sw128(sA + hh * 64 * 128 + ks * 32), sm90::desc_sw128(sB + ks * 32),
                         (kt | ks) != 0);
      sm90::wg_commit();
      sm90::wg_wait<1>(); /* the previous stage's wgmma has read its slot */
      if (prev >= 0 && tid == 0) sm90::mbar_arrive(&empty[prev]);
      prev = slot;
    }
    sm90::wg_wait<0>();
#pragma unroll
    for (int hh = 0; hh < C::NH; hh++)
#pragma unroll
      for (int i = 0; i < BN / 2; i++) sm90::reg_fence(acc[hh][i]);
    if (prev >= 0 && tid == 0) sm90::mbar_arrive(&empty[prev]);

#pragma unroll
    for (int h = 0; h < 2 * C::NH; h++) {
      const int gm = m0 + (c * C::NH + (h >> 1)) * 64 + warp * 16 + g + (h & 1) * 8;
      if (gm >= M) continue;
      __half *yr = y + (size_t)gm * N;
#pragma unroll
      for (int j = 0; j < BN / 8; j++) {
        const int gn = n0 + 8 * j + 2 * t4;
        if (gn >= N) continue; /* N even */
        float v0 = acc[h >> 1][4 * j + 2 * (h & 1)], v1 = acc[h >> 1][4 * j + 2 * (h & 1) + 1];
        if (bias) {
          const float2 b2 = __half22float2(__ldg(reinterpret_cast<const __half2 *>(bias + gn)));
          v0 = __fadd_rn(v0, b2.x);
          v1 = __fadd_rn(v1, b2.y);
        }
        if (GELU) {
          v0 = qsq::gelu_h(qsq::rh(v0));
          v1 = qsq::gelu_h(qsq::rh(v1));
        }
        *reinterpret_cast<__half2 *>(yr + gn) = __floats2half2_rn(v0, v1);
      }
    }
  }
}

PFN_cuTensorMapEncodeTiled_v12000 g_encode = NULL;

int get_encoder(void) {
  if (g_encode) return QS_OK;
  void *fn = NULL;
  cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
  QSQ_CUDA(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q),
           "nf4 gemm sm90: cuTensorMapEncodeTiled");
  if (!fn || q != cudaDriverEntryPointSuccess)
    return qs_fail(QS_EUNSUPPORTED, "nf4 gemm sm90: the driver has no cuTensorMapEncodeTiled");
  g_encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
  return QS_OK;
}

/* 2-D map of a row-major matrix [rows, cols] of `esize`-byte elements, box [box_rows][box_cols]. */
int make_map(CUtensorMap *map, const void *p, CUtensorMapDataType dt, int esize, int rows, int cols, int box_rows,
             int box_cols, CUtensorMapSwizzle sw) {
  const cuuint64_t dims[2] = {(cuuint64_t)cols, (cuuint64_t)rows};
  const cuuint64_t strides[1] = {(cuuint64_t)cols * (cuuint64_t)esize};
  const cuuint32_t box[2] = {(cuuint32_t)box_cols, (cuuint32_t)box_rows};
  const cuuint32_t estr[2] = {1, 1};
  const CUresult r = g_encode(map, dt, 2, (void *)p, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, sw,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return qs_fail(QS_EDEVICE, "nf4 gemm sm90: cuTensorMapEncodeTiled [%d, %d] box [%d, %d]: CUresult %d", rows, cols,
                   box_rows, box_cols, (int)r);
  return QS_OK;
}

template <int TM, int BN, int GELU>
int launch(const qs_nf4_weight *w, const uint16_t *x, const uint16_t *bias, int M, int N, int K, uint16_t *y, int sms,
           cudaStream_t s) {
  using C = Nf4Sm90Cfg<TM, BN>;
  static int attr_set = 0;
  if (!attr_set) {
    QSQ_CUDA(cudaFuncSetAttribute(nf4_gemm_sm90_kernel<TM, BN, GELU>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  C::SMEM),
             "nf4 gemm sm90");
    attr_set = 1;
  }
  CUtensorMap mA, mR;
  QS_TRY(make_map(&mA, x, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, M, K, TM, BK, CU_TENSOR_MAP_SWIZZLE_128B));
  QS_TRY(make_map(&mR, w->packed, CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, N, K / 2, BN, BK / 2, CU_TENSOR_MAP_SWIZZLE_NONE));
  const long tiles = (long)((N + BN - 1) / BN) * ((M + TM - 1) / TM);
  const unsigned grid = (unsigned)(tiles < sms ? tiles : sms);
  nf4_gemm_sm90_kernel<TM, BN, GELU><<<grid, THREADS, C::SMEM, s>>>(
      mA, mR, w->absmax, w->absmax ? nullptr : w->absmax_q, w->absmax_scale, w->absmax_offset, (const __half *)bias,
      M, N, K, (__half *)y);
  QSQ_CUDA(cudaGetLastError(), "nf4 gemm sm90");
  return QS_OK;
}

}  // namespace

/* bn: 256 (128 x 256 tiles), 128 (128 x 128), QS_NF4_SM90_TALL (256 x 128), or 0
 * (chosen from the shape). */
extern "C" int qs_nf4_gemm_sm90_launch(const uint16_t *x, const qs_nf4_weight *w, const uint16_t *bias, int M, int N,
                                       int K, int gelu, int bn, uint16_t *y, cudaStream_t s) {
  QSQ_REQUIRE(qs_int8_sm90_available(), "nf4 gemm sm90: unsupported: needs a compute capability 9.0 device");
  QSQ_REQUIRE(x && w && w->packed && y && (w->absmax || (w->absmax_q && w->absmax_scale)),
              "nf4 gemm sm90: argument: NULL pointer");
  QSQ_REQUIRE(M >= 1 && N >= 2 && N % 2 == 0 && K >= 64 && K % 64 == 0,
              "nf4 gemm sm90: shape: M %d N %d K %d (need K %% 64 == 0, N even)", M, N, K);
  QSQ_REQUIRE(bn == 0 || bn == 128 || bn == 256 || bn == QS_NF4_SM90_TALL, "nf4 gemm sm90: argument: tile width %d",
              bn);
  QSQ_REQUIRE(((uintptr_t)x & 15) == 0 && ((uintptr_t)w->packed & 15) == 0 && ((uintptr_t)bias & 3) == 0 &&
                  ((uintptr_t)y & 3) == 0,
              "nf4 gemm sm90: alignment: x, packed 16-byte; bias, y 4-byte");
  QS_TRY(get_encoder());
  static int sms = 0;
  if (!sms) {
    int dev = 0;
    QSQ_CUDA(cudaGetDevice(&dev), "nf4 gemm sm90");
    QSQ_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "nf4 gemm sm90");
  }
  if (bn == 0) {
    /* 128 x 256 wherever its tiles fill the chip (on an H200 it was as fast or faster
     * than 128 x 128 on 15 of the 16 ViT-B/H Linears at batch 32 and 128, and within 1.5%
     * on the last: bench/README.md); else the width with the fewer waves of work. The
     * 256 x 128 tile (half the dequantization per product) only when asked for: its
     * speed is not measured yet. */
    const long mt = (M + 127) / 128;
    const long t256 = mt * ((N + 255) / 256);
    const long w256 = (t256 + sms - 1) / sms, w128 = (mt * ((N + 127) / 128) + sms - 1) / sms;
    bn = t256 >= sms || (double)w256 <= 0.56 * (double)w128 ? 256 : 128;
  }
  if (bn == QS_NF4_SM90_TALL)
    return gelu ? launch<256, 128, 1>(w, x, bias, M, N, K, y, sms, s)
                : launch<256, 128, 0>(w, x, bias, M, N, K, y, sms, s);
  if (bn == 256)
    return gelu ? launch<128, 256, 1>(w, x, bias, M, N, K, y, sms, s)
                : launch<128, 256, 0>(w, x, bias, M, N, K, y, sms, s);
  return gelu ? launch<128, 128, 1>(w, x, bias, M, N, K, y, sms, s) : launch<128, 128, 0>(w, x, bias, M, N, K, y, sms, s);
}
