/* test_nf4_lut.c - the NF4 wgmma kernel's byte-permute dequantization (kernels/nf4_lut.h)
 * on the CPU, against the reference:
 *   - every 16-bit pattern of packed nibbles, in the low and the high half of a word,
 *     through a table of 16 distinct fp16 words, gives the entries the nibbles index
 *     (element 2 j from the high nibble of byte j, in the low half of o[j]);
 *   - NF4 matrices quantized by qs_nf4_quantize (block 64, with and without double
 *     quantization, absmax from tiny to huge, zero rows) dequantize bit for bit as
 *     h(qs_nf4_dequantize) when each block's table is h(code[i] * absmax);
 *   - the permute itself on the PTX ISA's cases (byte moves, sign replication).
 * The GPU test (test_gpu_quant) runs the same code with the hardware's prmt. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nf4_lut.h"
#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"
#include "qs_test_rng.h"
#include "quant.h"

/* the reference for one word: o[j] = T[high nibble of byte j] | T[low nibble] << 16 */
static void want8(uint32_t w, const uint16_t T[16], uint32_t o[4]) {
  for (int j = 0; j < 4; j++) {
    const uint32_t b = (w >> (8 * j)) & 0xffu;
    o[j] = (uint32_t)T[b >> 4] | ((uint32_t)T[b & 15u] << 16);
  }
}

static void tables(const uint16_t T[16], uint32_t lo[4], uint32_t hi[4]) {
  uint32_t p[8];
  for (int j = 0; j < 8; j++) p[j] = (uint32_t)T[2 * j] | ((uint32_t)T[2 * j + 1] << 16);
  qs_nf4_lut_split(p, lo, hi);
}

static void test_prmt(void) {
  /* byte moves: selector 0x3210 is a, 0x7654 is b, 0x0123 reverses a */
  CHECK(qs_prmt(0x44332211u, 0x88776655u, 0x3210u) == 0x44332211u);
  CHECK(qs_prmt(0x44332211u, 0x88776655u, 0x7654u) == 0x88776655u);
  CHECK(qs_prmt(0x44332211u, 0x88776655u, 0x0123u) == 0x11223344u);
  CHECK(qs_prmt(0x44332211u, 0x88776655u, 0x6420u) == 0x77553311u);
  /* bit 3 of a nibble: the sign of the byte, replicated (0x88 has it, 0x11 not) */
  CHECK(qs_prmt(0x44332211u, 0x88776655u, 0x8F08u) == 0x00FF1100u);
}

static void test_exhaustive(void) {
  /* 16 distinct words whose low and high bytes all differ, so a wrong entry shows */
  uint16_t T[16];
  for (int i = 0; i < 16; i++) {
    const unsigned u = (unsigned)i;
    T[i] = (uint16_t)(0x1000u * u + 0x0100u * (15u - u) + 0x11u * u);
  }
  uint32_t lo[4], hi[4];
  tables(T, lo, hi);
  long bad = 0;
  for (uint32_t r = 0; r < 65536u; r++) {
    /* the pattern in the low half (high half fixed), then in the high half */
    const uint32_t ws[2] = {r | (0x5A3Cu << 16), (r << 16) | 0xC3A5u};
    for (int k = 0; k < 2; k++) {
      uint32_t got[4], want[4];
      qs_nf4_lookup8(ws[k], lo, hi, got);
      want8(ws[k], T, want);
      if (memcmp(got, want, sizeof got)) {
        if (bad < 3) fprintf(stderr, "word %08x: got %08x %08x %08x %08x\n", ws[k], got[0], got[1], got[2], got[3]);
        bad++;
      }
    }
  }
  CHECK_MSG(bad == 0, "%ld of 131072 words looked up wrong", bad);
}

static void test_matrix(int double_quant) {
  enum { N = 16, K = 256 };
  static float w[N * K], ref[N * K];
  rng_seed(7 + (uint64_t)double_quant);
  for (int n = 0; n < N; n++) {
    /* rows from 1e-6 to 1e4 in scale, one all zero */
    const float scale = n == 5 ? 0.0f : 1e-6f * powf(10.0f, (float)(n % 11));
    for (int k = 0; k < K; k++) w[n * K + k] = scale * rng_uniform();
  }
  qs_nf4_matrix m;
  CHECK(qs_nf4_quantize(w, N, K, 64, double_quant, &m) == QS_OK);
  if (!m.packed) return;
  qs_nf4_dequantize(&m, ref);
  long bad = 0;
  for (int64_t b = 0; b < m.nblocks; b++) {
    uint16_t T[16];
    for (int i = 0; i < 16; i++) T[i] = qs_float_to_half(qs_nf4_code[i] * m.absmax[b]);
    uint32_t lo[4], hi[4];
    tables(T, lo, hi);
    for (int c = 0; c < 8; c++) { /* 4 packed bytes, 8 weights at a time */
      const int64_t e0 = b * 64 + 8 * c;
      uint32_t wd;
      memcpy(&wd, m.packed + e0 / 2, 4);
      uint32_t o[4];
      qs_nf4_lookup8(wd, lo, hi, o);
      for (int j = 0; j < 8; j++) {
        const uint16_t got = (uint16_t)(o[j / 2] >> (16 * (j & 1)));
        if (got != qs_float_to_half(ref[e0 + j])) bad++;
      }
    }
  }
  CHECK_MSG(bad == 0, "double_quant %d: %ld of %d weights differ from h(qs_nf4_dequantize)", double_quant, bad,
            N * K);
  qs_nf4_free(&m);
}

int main(void) {
  test_prmt();
  test_exhaustive();
  test_matrix(0);
  test_matrix(1);
  return qs_test_finish("test_nf4_lut");
}
