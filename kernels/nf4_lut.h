/* nf4_lut.h - the NF4 wgmma kernel's dequantization by byte permutes (nf4_gemm_sm90.cu),
 * in C and CUDA alike, so that the CPU tests check it against the reference's table
 * (tests/test_nf4_lut.c) on machines without a GPU.
 *
 * A block's 16 weights h(code[i] * absmax) (quant.h section 2) are kept as two tables
 * in registers: lo[j] holds the low bytes of entries 4 j .. 4 j + 3, hi[j] their high
 * bytes. One byte permute (prmt: byte k of the result is byte s_k of the pair {a, b},
 * s_k the k-th nibble of the selector; a nibble with bit 3 set instead copies the sign
 * bit of byte s_k & 7 into all 8 bits) then looks up four entries at once. */
#ifndef QS_NF4_LUT_H
#define QS_NF4_LUT_H

#include <stdint.h>

#if defined(__CUDACC__)
#define QS_NF4_FN __host__ __device__ __forceinline__
#else
#define QS_NF4_FN static inline
#endif

/* PTX prmt.b32 in its default mode (the host version follows the PTX ISA text). */
QS_NF4_FN uint32_t qs_prmt(uint32_t a, uint32_t b, uint32_t sel) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
#else
  const uint64_t ab = (uint64_t)a | ((uint64_t)b << 32);
  uint32_t d = 0;
  for (int k = 0; k < 4; k++) {
    const uint32_t s = (sel >> (4 * k)) & 15u;
    uint32_t v = (uint32_t)(ab >> (8 * (s & 7u))) & 0xffu;
    if (s & 8u) v = (v & 0x80u) ? 0xffu : 0u;
    d |= v << (8 * k);
  }
  return d;
#endif
}

/* The tables from the block's 16 fp16 weights as 8 pairs: p[j] = bits of entry 2 j in
 * the low half, entry 2 j + 1 in the high half. */
QS_NF4_FN void qs_nf4_lut_split(const uint32_t p[8], uint32_t lo[4], uint32_t hi[4]) {
  for (int j = 0; j < 4; j++) {
    lo[j] = qs_prmt(p[2 * j], p[2 * j + 1], 0x6420u);
    hi[j] = qs_prmt(p[2 * j], p[2 * j + 1], 0x7531u);
  }
}

/* Four weights from the low 16 bits r of two packed bytes (element 2 j in the high
 * nibble of byte j) to two half2 words (elements 0, 1 and 2, 3). Nibble k of r
 * indexes byte k of the lookups; its bit 3 picks the table half through a byte mask
 * made by the permute's sign replication from w (the word r came from) and w << 4:
 * msel copies the sign bit of the byte holding each nibble's bit 3. */
QS_NF4_FN void qs_nf4_lookup4(uint32_t r, uint32_t w, uint32_t w4, uint32_t msel, const uint32_t lo[4],
                              const uint32_t hi[4], uint32_t o[2]) {
  const uint32_t sel = r & 0x7777u;
  const uint32_t m = qs_prmt(w, w4, msel);
  const uint32_t l0 = qs_prmt(lo[0], lo[1], sel), l1 = qs_prmt(lo[2], lo[3], sel);
  const uint32_t h0 = qs_prmt(hi[0], hi[1], sel), h1 = qs_prmt(hi[2], hi[3], sel);
  const uint32_t L = (l0 & ~m) | (l1 & m), H = (h0 & ~m) | (h1 & m);
  o[0] = qs_prmt(L, H, 0x4051u);
  o[1] = qs_prmt(L, H, 0x6273u);
}

/* Eight weights (4 packed bytes w) to 8 fp16: o[j] = entries (high, low nibble of byte j). */
QS_NF4_FN void qs_nf4_lookup8(uint32_t w, const uint32_t lo[4], const uint32_t hi[4], uint32_t o[4]) {
  const uint32_t w4 = w << 4;
  qs_nf4_lookup4(w, w, w4, 0x9D8Cu, lo, hi, o);             /* nibbles 0-3: bytes 0, 1 */
  qs_nf4_lookup4(w >> 16, w, w4, 0xBFAEu, lo, hi, o + 2);   /* nibbles 4-7: bytes 2, 3 */
}

#endif
