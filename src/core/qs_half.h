/* qs_half.h - IEEE binary16, bfloat16 and fp8 e4m3 conversions (round to nearest
 * even), bit-exact with the GPU's __float2half_rn / __half2float,
 * __float2bfloat16_rn and __nv_cvt_float_to_fp8(.., __NV_SATFINITE, __NV_E4M3). */
#ifndef QS_HALF_H
#define QS_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t qs_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float qs_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float qs_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return qs_bits_f32(sign | 0x7f800000u | (man << 13)); /* inf / nan */
  if (exp == 0) {
    if (man == 0) return qs_bits_f32(sign);
    /* subnormal: value = man * 2^-24 */
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return qs_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t qs_float_to_half(float f) {
  uint32_t x = qs_f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) /* inf or nan */
    return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
  if (ax < 0x38800000u) {
    /* result is subnormal or zero: round ax * 2^24 to an integer, ties to even */
    if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25: rounds to 0 */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24 */
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)(sign | r);
  }
  uint32_t r = ax - 0x38000000u; /* rebias exponent 127 -> 15 */
  uint32_t lsb = (r >> 13) & 1u;
  r += 0xfffu + lsb;
  return (uint16_t)(sign | (r >> 13));
}

/* Round a float to the nearest fp16 value and back. */
static inline float qs_round_half(float f) { return qs_half_to_float(qs_float_to_half(f)); }

/* bfloat16: the upper 16 bits of an fp32. Rounding to nearest even on the bits
 * (as __float2bfloat16_rn): a value that rounds past the largest finite bf16
 * becomes inf, subnormals round like normals (bf16 keeps fp32's exponent), a
 * NaN stays a NaN of the same sign with its top 7 payload bits and the quiet
 * bit set. */
static inline float qs_bf16_to_float(uint16_t b) { return qs_bits_f32((uint32_t)b << 16); }
static inline uint16_t qs_float_to_bf16(float f) {
  uint32_t x = qs_f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet nan */
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

/* Round a float to the nearest bf16 value and back: b(v) of quant.h. */
static inline float qs_round_bf16(float f) { return qs_bf16_to_float(qs_float_to_bf16(f)); }

/* The storage type a forward rounds its activations and weights to. */
enum { QS_ROUND_NONE = 0, QS_ROUND_F16 = 1, QS_ROUND_BF16 = 2 };
static inline float qs_round_to(int mode, float f) {
  return mode == QS_ROUND_F16 ? qs_round_half(f) : mode == QS_ROUND_BF16 ? qs_round_bf16(f) : f;
}

/* fp8 e4m3 in the OCP "FN" variant (NVIDIA's __nv_fp8_e4m3): 1 sign bit, 4
 * exponent bits (bias 7), 3 mantissa bits; no infinities; 0x7f and 0xff are
 * NaN; the largest finite value is 448 (0x7e); subnormals are m * 2^-9. */
#define QS_E4M3_MAX 448.0f
static inline float qs_e4m3_to_float(uint8_t b) {
  uint32_t sign = (uint32_t)(b & 0x80u) << 24;
  uint32_t exp = (b >> 3) & 0xfu, man = b & 0x7u;
  if (exp == 0xf && man == 0x7) return qs_bits_f32(0x7fc00000u | sign); /* nan */
  if (exp == 0) {
    float v = (float)man * 0x1p-9f; /* subnormal (or zero) */
    return sign ? -v : v;
  }
  return qs_bits_f32(sign | ((exp + 120u) << 23) | (man << 20));
}
/* Round to nearest even, saturating: |v| beyond 448 (inf included) gives +-448
 * (as __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3)); a NaN gives 0x7f. */
static inline uint8_t qs_float_to_e4m3(float f) {
  uint32_t x = qs_f32_bits(f);
  uint32_t sign = (x >> 24) & 0x80u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return 0x7fu; /* nan */
  if (ax < 0x3c800000u) {
    /* below 2^-6, the smallest normal: round |v| * 2^9 (exact) to an integer, ties to
     * even; 8 is the code of 2^-6 itself (exponent field 1, mantissa 0) */
    uint32_t e = ax >> 23;
    uint32_t shift = 141u - e;             /* |v| * 2^9 = m * 2^-shift, shift >= 21 */
    if (shift > 31u) return (uint8_t)sign; /* |v| < 2^-17: below half of 2^-9 */
    uint32_t m = (ax & 0x7fffffu) | 0x800000u; /* |v| = m * 2^(e - 150) (e >= 110: normal) */
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint8_t)(sign | r);
  }
  if (ax >= 0x43e00000u) return (uint8_t)(sign | 0x7eu); /* >= 448, inf: saturate */
  uint32_t r = ax - 0x3c000000u; /* rebias exponent 127 -> 7 */
  uint32_t lsb = (r >> 20) & 1u;
  r = (r + 0x7ffffu + lsb) >> 20; /* below 448, so at most 448 itself (0x7e) */
  return (uint8_t)(sign | r);
}
/* e(v) of quant.h: the e4m3 value nearest to v, as a float. */
static inline float qs_round_e4m3(float f) { return qs_e4m3_to_float(qs_float_to_e4m3(f)); }

#endif
