/* attention.cu - fused multi-head attention: softmax(q k^T / sqrt(hd) + bias) v with
 * an online softmax over key tiles, so no N x N score matrix is ever stored.
 *
 * fp16 and bf16: flash-style on tensor cores (mma.sync m16n8k16 .f16 or .bf16, fp32
 *   accumulation; one kernel template, the storage type T picks the instruction). A block
 *   of 4 warps owns 64 queries of one (image, head); each warp 16 query rows. Key and
 *   value tiles of 64 tokens are double-buffered in shared memory with cp.async; the
 *   probabilities are rounded to T and fed back to the tensor cores as the A
 *   operand (the accumulator layout of Q K^T is the A-fragment layout of P V; the two
 *   16-bit types share every fragment layout).
 *   Even head sizes below 64 that are not a multiple of 16 (MobileViT's 20, 24, 36,
 *   60) load with plain 4-byte loads into tiles zero-padded to the next multiple of 16.
 * fp32: CUDA cores. A block of 4 warps owns 32 queries; per 32-key tile each lane
 *   scores one key, the warp updates the running max / sum, and the probabilities
 *   go through shared memory into the P V product (lane = output feature). The same
 *   kernel, loading and storing fp16 (bf16), serves the fp16 (bf16) head sizes no
 *   tensor-core tile covers (odd, or between 64 and 128 and not built), with fp32
 *   arithmetic throughout.
 *
 * qkv: [B, N, 3*H*hd]; out: [B, N, H*hd]; bias: optional [H, N, ldb]. */
#include <math.h>
#include <stdint.h>

#include "qs_cuda_dev.cuh"

namespace {

constexpr float kLog2e = 1.4426950408889634f;

/* ---- fp16 / bf16 tensor-core kernel ---------------------------------------------- */

constexpr int kBQ = 64, kBK = 64, kWarps = 4;

__device__ __forceinline__ uint32_t smem_addr(const void *p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* c += a b on the tensor cores, a and b of storage type T (fp16 or bf16), c fp32 */
template <typename T>
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__half>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
/* (lo, hi) rounded to T, packed lo in the low 16 bits (an mma operand pair) */
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&h);
}
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&h);
}

/* Copy `rows` token rows (hd 16-bit values each, row stride `stride` values) starting at
 * token `tok0` into smem [rows][LD]; tokens >= N are zero-filled. */
template <int HD, int LD, typename T>
__device__ __forceinline__ void load_tile(T *dst, const T *src, size_t stride, int tok0, int rows, int N) {
  constexpr int kChunks = HD / 8; /* 16-byte chunks per row */
  for (int c = threadIdx.x; c < rows * kChunks; c += kWarps * 32) {
    const int r = c / kChunks, cc = c % kChunks, tok = tok0 + r;
    const bool valid = tok < N;
    const T *s = src + (size_t)(valid ? tok : 0) * stride + cc * 8;
    cp_async16(dst + r * LD + cc * 8, s, valid);
  }
}
/* The same for rows of hd < HD values (hd even): plain 4-byte loads of value pairs,
 * columns hd..HD-1 zero-filled (all-zero bits: +0 in fp16 and bf16), so the padded head
 * dimension adds nothing to q k^T and its output columns are never stored. */
template <int HD, int LD, typename T>
__device__ __forceinline__ void load_tile_padded(T *dst, const T *src, size_t stride, int tok0, int rows, int N,
                                                 int hd) {
  constexpr int kPairs = HD / 2;
  for (int c = threadIdx.x; c < rows * kPairs; c += kWarps * 32) {
    const int r = c / kPairs, e = (c % kPairs) * 2, tok = tok0 + r;
    uint32_t v = 0u;
    if (tok < N && e < hd) v = *reinterpret_cast<const uint32_t *>(src + (size_t)tok * stride + e);
    *reinterpret_cast<uint32_t *>(dst + r * LD + e) = v;
  }
}

/* T: __half or __nv_bfloat16. HD: the head size the tensor-core tiles are built for; hd:
 * the real head size (== HD, or when PAD an even hd < HD, zero-padded in shared memory). */
template <typename T, int HD, bool PAD>
__global__ void __launch_bounds__(kWarps * 32)
    attention_f16_kernel(const T *__restrict__ qkv, const T *__restrict__ bias, int ldb, T *__restrict__ out, int N,
                         int H, int hd, float scale) {
  constexpr int LD = HD + 8; /* padded row: conflict-free fragment loads and ldmatrix */
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *Qs = reinterpret_cast<T *>(smem_raw); /* [kBQ][LD] */
  T *Ks = Qs + kBQ * LD;                   /* [2][kBK][LD] */
  T *Vs = Ks + 2 * kBK * LD;               /* [2][kBK][LD] */

  const int q0 = blockIdx.x * kBQ, h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  if (!PAD) hd = HD;
  const size_t stride = (size_t)3 * H * hd;
  const T *qbase = qkv + (size_t)b * N * stride + (size_t)h * hd;
  const T *kbase = qbase + (size_t)H * hd, *vbase = qbase + (size_t)2 * H * hd;
  const int nkt = (N + kBK - 1) / kBK;

  if (PAD) {
    load_tile_padded<HD, LD>(Qs, qbase, stride, q0, kBQ, N, hd);
    load_tile_padded<HD, LD>(Ks, kbase, stride, 0, kBK, N, hd);
    load_tile_padded<HD, LD>(Vs, vbase, stride, 0, kBK, N, hd);
  } else {
    load_tile<HD, LD>(Qs, qbase, stride, q0, kBQ, N);
    load_tile<HD, LD>(Ks, kbase, stride, 0, kBK, N);
    load_tile<HD, LD>(Vs, vbase, stride, 0, kBK, N);
  }
  cp_async_commit();

  uint32_t qa[HD / 16][4];
  float o[HD / 8][4];
#pragma unroll
  for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};
  const float sl = scale * kLog2e;
  const int qr0 = q0 + warp * 16 + g; /* this thread's two query rows: qr0, qr0 + 8 */
  const T *brow[2] = {nullptr, nullptr};
  if (bias) {
    brow[0] = bias + ((size_t)h * N + min(qr0, N - 1)) * ldb;
    brow[1] = bias + ((size_t)h * N + min(qr0 + 8, N - 1)) * ldb;
  }

  for (int kt = 0; kt < nkt; kt++) {
    const int st = kt & 1;
    if (kt + 1 < nkt) {
      if (PAD) {
        load_tile_padded<HD, LD>(Ks + (st ^ 1) * kBK * LD, kbase, stride, (kt + 1) * kBK, kBK, N, hd);
        load_tile_padded<HD, LD>(Vs + (st ^ 1) * kBK * LD, vbase, stride, (kt + 1) * kBK, kBK, N, hd);
      } else {
        load_tile<HD, LD>(Ks + (st ^ 1) * kBK * LD, kbase, stride, (kt + 1) * kBK, kBK, N);
        load_tile<HD, LD>(Vs + (st ^ 1) * kBK * LD, vbase, stride, (kt + 1) * kBK, kBK, N);
      }
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (kt == 0) {
      const T *qw = Qs + (warp * 16) * LD;
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++) {
        qa[kk][0] = *reinterpret_cast<const uint32_t *>(qw + g * LD + kk * 16 + 2 * t);
        qa[kk][1] = *reinterpret_cast<const uint32_t *>(qw + (g + 8) * LD + kk * 16 + 2 * t);
        qa[kk][2] = *reinterpret_cast<const uint32_t *>(qw + g * LD + kk * 16 + 2 * t + 8);
        qa[kk][3] = *reinterpret_cast<const uint32_t *>(qw + (g + 8) * LD + kk * 16 + 2 * t + 8);
      }
    }
    const T *ks = Ks + st * kBK * LD, *vs = Vs + st * kBK * LD;

    /* S = Q K^T: 16 rows x 64 keys per warp */
    float s[kBK / 8][4];
#pragma unroll
    for (int j = 0; j < kBK / 8; j++) {
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++) {
        const T *kr = ks + (j * 8 + g) * LD + kk * 16 + 2 * t;
        mma16816<T>(s[j], qa[kk], *reinterpret_cast<const uint32_t *>(kr), *reinterpret_cast<const uint32_t *>(kr + 8));
      }
    }
    /* scale, bias, mask; running max per row (rows g and g + 8) */
    const int key0 = kt * kBK;
    float mx[2] = {mrow[0], mrow[1]};
#pragma unroll
    for (int j = 0; j < kBK / 8; j++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = key0 + j * 8 + 2 * t + (e & 1), r = e >> 1;
        float v = s[j][e] * sl;
        if (bias) v += qs::ld(brow[r] + key) * kLog2e;
        v = key < N ? v : -INFINITY;
        s[j][e] = v;
        mx[r] = fmaxf(mx[r], v);
      }
    }
    float alpha[2], rs[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      alpha[r] = exp2f(mrow[r] - mx[r]); /* mrow = -inf on the first tile: 0 */
      mrow[r] = mx[r];
    }
    /* P = exp2(S - max) as fp16 (bf16) A fragments, 16 keys per k-step */
    uint32_t pa[kBK / 16][4];
#pragma unroll
    for (int j = 0; j < kBK / 8; j++) {
      float p0 = exp2f(s[j][0] - mx[0]), p1 = exp2f(s[j][1] - mx[0]);
      float p2 = exp2f(s[j][2] - mx[1]), p3 = exp2f(s[j][3] - mx[1]);
      rs[0] += p0 + p1;
      rs[1] += p2 + p3;
      pa[j / 2][(j & 1) * 2 + 0] = pack2<T>(p0, p1);
      pa[j / 2][(j & 1) * 2 + 1] = pack2<T>(p2, p3);
    }
    lrow[0] = lrow[0] * alpha[0] + rs[0];
    lrow[1] = lrow[1] * alpha[1] + rs[1];
#pragma unroll
    for (int i = 0; i < HD / 8; i++) {
      o[i][0] *= alpha[0];
      o[i][1] *= alpha[0];
      o[i][2] *= alpha[1];
      o[i][3] *= alpha[1];
    }
    /* O += P V: V fragments through ldmatrix.trans (keys are the k dimension) */
#pragma unroll
    for (int kk = 0; kk < kBK / 16; kk++) {
#pragma unroll
      for (int np = 0; np < HD / 16; np++) {
        const int mi = lane / 8, rr = lane % 8;
        uint32_t vb[4];
        ldmatrix_x4_trans(vb, vs + (kk * 16 + (mi & 1) * 8 + rr) * LD + np * 16 + (mi >> 1) * 8);
        mma16816<T>(o[2 * np], pa[kk], vb[0], vb[1]);
        mma16816<T>(o[2 * np + 1], pa[kk], vb[2], vb[3]);
      }
    }
    __syncthreads(); /* the next iteration refills this stage */
  }

#pragma unroll
  for (int r = 0; r < 2; r++) {
    lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 1);
    lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 2);
  }
  const size_t D = (size_t)H * hd;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int q = qr0 + r * 8;
    if (q >= N) continue;
    const float inv = 1.0f / lrow[r];
    T *orow = out + ((size_t)b * N + q) * D + (size_t)h * hd;
#pragma unroll
    for (int i = 0; i < HD / 8; i++)
      if (!PAD || i * 8 + 2 * t < hd) /* hd even: a pair is all in or all out */
        *reinterpret_cast<uint32_t *>(orow + i * 8 + 2 * t) = pack2<T>(o[i][2 * r] * inv, o[i][2 * r + 1] * inv);
  }
}

/* hd == HD, or (PAD) an even hd < HD */
template <typename T, int HD, bool PAD = false>
int launch_f16(const T *qkv, const T *bias, int ldb, T *out, int B, int N, int H, cudaStream_t s, int hd = HD) {
  constexpr int LD = HD + 8;
  const size_t smem = (size_t)(kBQ + 4 * kBK) * LD * sizeof(T);
  CUDA_CHECK(cudaFuncSetAttribute(attention_f16_kernel<T, HD, PAD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)smem));
  dim3 grid((unsigned)((N + kBQ - 1) / kBQ), (unsigned)H, (unsigned)B);
  attention_f16_kernel<T, HD, PAD><<<grid, kWarps * 32, smem, s>>>(qkv, bias, ldb, out, N, H, hd,
                                                                   1.0f / sqrtf((float)hd));
  QS_LAUNCH_CHECK();
  return QS_OK;
}

/* ---- CUDA-core kernel (fp32, and fp16 / bf16 of any head size) --------------------- */

constexpr int kFQ = 32, kFK = 32, kFRows = kFQ / kWarps; /* 8 query rows per warp */

/* DC = ceil(hd / 32) output features per lane; T = storage type (float, __half or
 * __nv_bfloat16). */
template <typename T, int DC>
__global__ void __launch_bounds__(kWarps * 32)
    attention_f32_kernel(const T *__restrict__ qkv, const T *__restrict__ bias, int ldb,
                         T *__restrict__ out, int N, int H, int hd, float scale) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int LDK = hd + 1; /* K rows padded: lane j reads row j */
  float *Qs = reinterpret_cast<float *>(smem_raw); /* [kFQ][hd] */
  float *Ks = Qs + kFQ * hd;                       /* [kFK][hd + 1] */
  float *Vs = Ks + kFK * LDK;                      /* [kFK][hd] */
  float *Ps = Vs + kFK * hd;                       /* [kWarps][kFRows][kFK] */

  const int q0 = blockIdx.x * kFQ, h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const size_t stride = (size_t)3 * H * hd;
  const T *qbase = qkv + (size_t)b * N * stride + (size_t)h * hd;
  const T *kbase = qbase + (size_t)H * hd, *vbase = qbase + (size_t)2 * H * hd;

  for (int i = threadIdx.x; i < kFQ * hd; i += blockDim.x) {
    const int r = i / hd, d = i % hd, tok = q0 + r;
    Qs[i] = tok < N ? qs::ld(qbase + (size_t)tok * stride + d) : 0.0f;
  }
  float o[kFRows][DC], mrow[kFRows], lrow[kFRows];
#pragma unroll
  for (int r = 0; r < kFRows; r++) {
    mrow[r] = -INFINITY;
    lrow[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < DC; c++) o[r][c] = 0.0f;
  }
  float *pw = Ps + warp * kFRows * kFK;
  const float sl = scale * kLog2e;

  for (int k0 = 0; k0 < N; k0 += kFK) {
    __syncthreads(); /* previous tile fully used (and Q stored on the first pass) */
    for (int i = threadIdx.x; i < kFK * hd; i += blockDim.x) {
      const int r = i / hd, d = i % hd, tok = k0 + r;
      const bool ok = tok < N;
      Ks[r * LDK + d] = ok ? qs::ld(kbase + (size_t)tok * stride + d) : 0.0f;
      Vs[r * hd + d] = ok ? qs::ld(vbase + (size_t)tok * stride + d) : 0.0f;
    }
    __syncthreads();
    const int key = k0 + lane;
    float sc[kFRows];
#pragma unroll
    for (int r = 0; r < kFRows; r++) sc[r] = 0.0f;
    for (int d = 0; d < hd; d++) {
      const float kv = Ks[lane * LDK + d];
#pragma unroll
      for (int r = 0; r < kFRows; r++) sc[r] = fmaf(Qs[(warp * kFRows + r) * hd + d], kv, sc[r]);
    }
#pragma unroll
    for (int r = 0; r < kFRows; r++) {
      const int q = min(q0 + warp * kFRows + r, N - 1);
      float v = sc[r] * sl;
      if (bias && key < N) v += qs::ld(bias + ((size_t)h * N + q) * ldb + key) * kLog2e;
      v = key < N ? v : -INFINITY;
      float mx = v;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      mx = fmaxf(mx, mrow[r]);
      const float alpha = exp2f(mrow[r] - mx);
      const float p = exp2f(v - mx);
      mrow[r] = mx;
      lrow[r] = lrow[r] * alpha + qs::warp_sum(p);
#pragma unroll
      for (int c = 0; c < DC; c++) o[r][c] *= alpha;
      pw[r * kFK + lane] = p;
    }
    __syncwarp();
    const int nk = min(kFK, N - k0);
    for (int j = 0; j < nk; j++) {
#pragma unroll
      for (int c = 0; c < DC; c++) {
        const int d = lane + 32 * c;
        const float vv = d < hd ? Vs[j * hd + d] : 0.0f;
#pragma unroll
        for (int r = 0; r < kFRows; r++) o[r][c] = fmaf(pw[r * kFK + j], vv, o[r][c]);
      }
    }
    __syncwarp();
  }
  const size_t D = (size_t)H * hd;
#pragma unroll
  for (int r = 0; r < kFRows; r++) {
    const int q = q0 + warp * kFRows + r;
    if (q >= N) continue;
    const float inv = 1.0f / lrow[r];
    T *orow = out + ((size_t)b * N + q) * D + (size_t)h * hd;
#pragma unroll
    for (int c = 0; c < DC; c++) {
      const int d = lane + 32 * c;
      if (d < hd) qs::st(orow + d, o[r][c] * inv);
    }
  }
}

template <typename T, int DC>
int launch_f32(const T *qkv, const T *bias, int ldb, T *out, int B, int N, int H, int hd, cudaStream_t s) {
  const size_t smem = sizeof(float) * ((size_t)kFQ * hd + (size_t)kFK * (hd + 1) + (size_t)kFK * hd + kWarps * kFRows * kFK);
  CUDA_CHECK(cudaFuncSetAttribute(attention_f32_kernel<T, DC>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  dim3 grid((unsigned)((N + kFQ - 1) / kFQ), (unsigned)H, (unsigned)B);
  attention_f32_kernel<T, DC><<<grid, kWarps * 32, smem, s>>>(qkv, bias, ldb, out, N, H, hd, 1.0f / sqrtf((float)hd));
  QS_LAUNCH_CHECK();
  return QS_OK;
}

/* Any head size <= 128 on CUDA cores. */
template <typename T>
int launch_general(const T *qkv, const T *bias, int ldb, T *out, int B, int N, int H, int hd, cudaStream_t s) {
  switch ((hd + 31) / 32) {
    case 1: return launch_f32<T, 1>(qkv, bias, ldb, out, B, N, H, hd, s);
    case 2: return launch_f32<T, 2>(qkv, bias, ldb, out, B, N, H, hd, s);
    case 3: return launch_f32<T, 3>(qkv, bias, ldb, out, B, N, H, hd, s);
    case 4: return launch_f32<T, 4>(qkv, bias, ldb, out, B, N, H, hd, s);
    default: return qs_fail(QS_EUNSUPPORTED, "attention: head size %d > 128", hd);
  }
}

/* fp16 / bf16 (T): the tensor-core kernel where a tile covers hd, else CUDA cores. */
template <typename T>
int launch_16bit(const T *q, const T *bb, int ldb, T *o, int B, int N, int H, int hd, cudaStream_t s) {
  switch (hd) {
    case 16: return launch_f16<T, 16>(q, bb, ldb, o, B, N, H, s);
    case 32: return launch_f16<T, 32>(q, bb, ldb, o, B, N, H, s);
    case 48: return launch_f16<T, 48>(q, bb, ldb, o, B, N, H, s);
    case 64: return launch_f16<T, 64>(q, bb, ldb, o, B, N, H, s);
    case 80: return launch_f16<T, 80>(q, bb, ldb, o, B, N, H, s);
    case 96: return launch_f16<T, 96>(q, bb, ldb, o, B, N, H, s);
    case 128: return launch_f16<T, 128>(q, bb, ldb, o, B, N, H, s);
    default: break;
  }
  /* other even head sizes up to 64 (MobileViT's 20, 24, 36, 60, ...): zero-padded tiles */
  if (hd % 2 == 0 && hd < 64) {
    if (hd < 16) return launch_f16<T, 16, true>(q, bb, ldb, o, B, N, H, s, hd);
    if (hd < 32) return launch_f16<T, 32, true>(q, bb, ldb, o, B, N, H, s, hd);
    if (hd < 48) return launch_f16<T, 48, true>(q, bb, ldb, o, B, N, H, s, hd);
    return launch_f16<T, 64, true>(q, bb, ldb, o, B, N, H, s, hd);
  }
  return launch_general<T>(q, bb, ldb, o, B, N, H, hd, s);
}

}  // namespace

extern "C" int qs_attention_launch(qs_dtype dt, const void *qkv, const void *bias, int ldb, void *out, int B, int N,
                                   int H, int hd, cudaStream_t s) {
  QS_REQUIRE(qkv && out && B > 0 && N > 0 && H > 0 && hd > 0, "attention: bad arguments (B %d, N %d, H %d, hd %d)", B,
             N, H, hd);
  QS_REQUIRE(!bias || (ldb >= ((N + 63) / 64) * 64 && ldb % 64 == 0),
             "attention: bias row stride %d must be a multiple of 64 and >= N rounded up to 64 (N %d)", ldb, N);
  QS_REQUIRE(((uintptr_t)qkv % 16) == 0 && ((uintptr_t)out % 16) == 0, "attention: qkv / out not 16-byte aligned");
  if (dt == QS_DT_F16)
    return launch_16bit<__half>((const __half *)qkv, (const __half *)bias, ldb, (__half *)out, B, N, H, hd, s);
  if (dt == QS_DT_BF16)
    return launch_16bit<__nv_bfloat16>((const __nv_bfloat16 *)qkv, (const __nv_bfloat16 *)bias, ldb,
                                       (__nv_bfloat16 *)out, B, N, H, hd, s);
  return launch_general<float>((const float *)qkv, (const float *)bias, ldb, (float *)out, B, N, H, hd, s);
}
