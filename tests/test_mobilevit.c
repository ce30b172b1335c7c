/* test_mobilevit.c - MobileViT: tensor list and parameter counts of the zoo
 * models, the convolutional operators against naive NCHW references, the
 * unfold/fold pair, and the CPU forward (finite, deterministic, batch-consistent,
 * fp16 close to fp32). The comparison with HF transformers itself is done with
 * checkpoints exported by `qsweep export-weights` (see the golden tests). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "cpu_backend.h"
#include "cpu_conv.h"
#include "model.h"
#include "precision.h"
#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"
#include "zoo.h"

/* deterministic values in [-1, 1) */
static void fill(float *x, int64_t n, uint64_t seed) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)((double)(qs_rng_bits(seed, (uint64_t)i) >> 11) * 0x1p-52 - 1.0);
}

static int64_t spec_total(const qs_arch *a, int *ntensors, int *nbuffers, int *nquant) {
  qs_tensor_spec *s = NULL;
  int n = 0;
  if (qs_arch_specs(a, &s, &n) != QS_OK) return -1;
  int64_t quant_params = 0;
  *ntensors = n;
  *nbuffers = *nquant = 0;
  for (int i = 0; i < n; i++) {
    *nbuffers += s[i].buffer;
    *nquant += s[i].quantized;
    if (s[i].quantized) quant_params += qs_spec_numel(&s[i]);
  }
  free(s);
  return quant_params;
}

static void test_param_counts(const qs_zoo *z) {
  /* exact counts of HF MobileViTForImageClassification.parameters() (BatchNorm
   * running statistics are buffers and not counted) */
  static const struct {
    const char *name;
    int64_t params;
    int64_t quant; /* weights of the transformer Linears */
  } want[] = {
      /* small: per layer 4 d^2 + 2 d * 2d; d = 144 (x2), 192 (x4), 240 (x3) */
      {"mobilevit-small-edge", 5578632, 2 * 8 * 144 * 144 + 4 * 8 * 192 * 192 + 3 * 8 * 240 * 240},
      {"mobilevit-xxs-edge", 1272024, 2 * 8 * 64 * 64 + 4 * 8 * 80 * 80 + 3 * 8 * 96 * 96},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    qs_arch a;
    int rc = qs_zoo_resolve(z, want[i].name, &a);
    CHECK_MSG(rc == QS_OK, "%s: %s", want[i].name, qs_last_error());
    if (rc != QS_OK) continue;
    CHECK(a.family == QS_FAM_MOBILEVIT);
    int64_t p = qs_arch_param_count(&a);
    CHECK_MSG(p == want[i].params, "%s: %lld parameters, expected %lld", want[i].name, (long long)p,
              (long long)want[i].params);
    int nt = 0, nb = 0, nq = 0;
    int64_t qp = spec_total(&a, &nt, &nb, &nq);
    CHECK_MSG(nt == 315, "%s: %d tensors", want[i].name, nt);
    CHECK_MSG(nb == 2 * 32, "%s: %d buffers (32 BatchNorms)", want[i].name, nb);
    CHECK_MSG(nq == 9 * 6, "%s: %d quantized weights", want[i].name, nq);
    CHECK_MSG(qp == want[i].quant, "%s: %lld quantized parameters", want[i].name, (long long)qp);
    double g = qs_arch_gflops(&a);
    CHECK_MSG(g > 0.5 && g < 5.0, "%s: %g GFLOPs", want[i].name, g);
  }
  /* even kernels cannot run (HF's same-size padding needs an odd kernel) */
  qs_arch a;
  if (qs_zoo_resolve(z, "mobilevit-xxs-edge", &a) == QS_OK) {
    a.mv_conv_kernel = 4;
    CHECK(qs_arch_param_count(&a) < 0);
  }
}

/* naive NCHW convolution in double: x [B, Cin, H, W], w [Cout, Cin/g, k, k] -> y [B, Cout, Ho, Wo] */
static void conv_naive(const float *x, int B, int H, int W, int Cin, const float *w, int Cout, int k, int s, int pad,
                       int g, double *y) {
  const int Ho = (H + 2 * pad - k) / s + 1, Wo = (W + 2 * pad - k) / s + 1, cig = Cin / g, cog = Cout / g;
  for (int b = 0; b < B; b++)
    for (int co = 0; co < Cout; co++)
      for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
          double acc = 0.0;
          for (int ci = 0; ci < cig; ci++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++) {
                int iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += (double)x[(((size_t)b * Cin + (co / cog) * cig + ci) * H + iy) * W + ix] *
                       w[(((size_t)co * cig + ci) * k + ky) * k + kx];
              }
          y[(((size_t)b * Cout + co) * Ho + oy) * Wo + ox] = acc;
        }
}

static void test_conv(void) {
  static const struct {
    int B, H, W, Cin, Cout, k, s, pad, g;
  } cases[] = {
      {2, 9, 7, 5, 7, 3, 1, 1, 1},   /* 3x3 same */
      {1, 9, 8, 3, 16, 3, 2, 1, 1},  /* the stem: 3x3 stride 2 */
      {2, 6, 6, 12, 20, 1, 1, 0, 1}, /* 1x1 (a GEMM) */
      {1, 7, 7, 6, 5, 1, 2, 0, 1},   /* 1x1 stride 2 (im2col) */
      {2, 10, 9, 6, 6, 3, 2, 1, 6},  /* depthwise stride 2 */
      {1, 8, 8, 9, 9, 3, 1, 1, 9},   /* depthwise stride 1 */
      {1, 8, 9, 6, 4, 3, 1, 1, 2},   /* grouped */
      {1, 11, 11, 4, 6, 5, 1, 2, 1}, /* 5x5 */
      {1, 5000, 1, 3, 4, 3, 1, 1, 1}, /* more pixels than one im2col chunk */
  };
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    const int B = cases[t].B, H = cases[t].H, W = cases[t].W, Ci = cases[t].Cin, Co = cases[t].Cout;
    const int k = cases[t].k, s = cases[t].s, pad = cases[t].pad, g = cases[t].g;
    const int Ho = qs_cpu_conv_out(H, k, s, pad), Wo = qs_cpu_conv_out(W, k, s, pad);
    const size_t nx = (size_t)B * Ci * H * W, nw = (size_t)Co * (Ci / g) * k * k, ny = (size_t)B * Co * Ho * Wo;
    float *x = malloc(nx * sizeof *x), *xh = malloc(nx * sizeof *xh), *w = malloc(nw * sizeof *w);
    float *wh = malloc(nw * sizeof *wh), *y = malloc(ny * sizeof *y);
    double *ref = malloc(ny * sizeof *ref), *refh = malloc(ny * sizeof *refh);
    fill(x, (int64_t)nx, 11 + t);
    fill(w, (int64_t)nw, 23 + t);
    for (size_t i = 0; i < nx; i++) xh[i] = qs_round_half(x[i]);
    for (size_t i = 0; i < nw; i++) wh[i] = qs_round_half(w[i]);
    conv_naive(x, B, H, W, Ci, w, Co, k, s, pad, g, ref);
    conv_naive(xh, B, H, W, Ci, wh, Co, k, s, pad, g, refh);
    /* NCHW -> NHWC */
    float *xn = malloc(nx * sizeof *xn);
    for (int b = 0; b < B; b++)
      for (int c = 0; c < Ci; c++)
        for (int i = 0; i < H * W; i++) xn[((size_t)b * H * W + i) * Ci + c] = x[((size_t)b * Ci + c) * H * W + i];
    const double bound = 1e-6 * (Ci / g) * k * k; /* fp32 accumulation of |terms| <= 1 */
    for (int f16 = 0; f16 <= 1; f16++) {
      int rc = qs_cpu_conv2d(xn, B, H, W, Ci, w, Co, k, s, pad, g, f16, y);
      CHECK(rc == QS_OK);
      double worst = 0.0;
      int rounded = 1;
      for (int b = 0; b < B; b++)
        for (int c = 0; c < Co; c++)
          for (int i = 0; i < Ho * Wo; i++) {
            double v = y[((size_t)b * Ho * Wo + i) * Co + c], r = (f16 ? refh : ref)[((size_t)b * Co + c) * Ho * Wo + i];
            /* fp16: one rounding of the output (2^-11 relative) after fp32 accumulation */
            double err = fabs(v - r) - (f16 ? fabs(r) * 0x1p-11 + 0x1p-25 : 0.0);
            if (err > worst) worst = err;
            if (f16 && qs_round_half((float)v) != (float)v) rounded = 0;
          }
      CHECK_MSG(worst <= bound, "conv case %zu (f16 %d): error %.3g > %.3g", t, f16, worst, bound);
      if (f16) CHECK_MSG(rounded, "conv case %zu: fp16 output not rounded to fp16", t);
    }
    free(x), free(xh), free(w), free(wh), free(y), free(ref), free(refh), free(xn);
  }
  /* invalid geometry is refused */
  float dummy[64] = {0};
  CHECK(qs_cpu_conv2d(dummy, 1, 2, 2, 3, dummy, 4, 3, 1, 0, 1, 0, dummy) != QS_OK); /* map smaller than kernel */
  CHECK(qs_cpu_conv2d(dummy, 1, 4, 4, 3, dummy, 4, 1, 1, 0, 2, 0, dummy) != QS_OK); /* 3 % 2 groups */
}

static void test_batchnorm_bilinear(void) {
  /* BatchNorm: y = (x - mean) / sqrt(var + eps) * g + b */
  float x[2 * 3] = {1.0f, -2.0f, 0.5f, 3.0f, 0.0f, -1.0f};
  const float g[3] = {1.0f, 2.0f, -0.5f}, b[3] = {0.0f, 0.1f, 0.2f}, mean[3] = {0.5f, -1.0f, 0.0f};
  const float var[3] = {1.0f, 4.0f, 0.25f};
  float x0[6];
  memcpy(x0, x, sizeof x);
  CHECK(qs_cpu_batchnorm(x, 2, 3, g, b, mean, var, 1e-5f, 0) == QS_OK);
  for (int i = 0; i < 6; i++) {
    int c = i % 3;
    double r = (x0[i] - mean[c]) / sqrt((double)var[c] + 1e-5) * g[c] + b[c];
    CHECK_CLOSE(x[i], r, 1e-6, 1e-6);
  }
  /* bilinear, align_corners = False: [0, 1] -> [0, 0.25, 0.75, 1] along each axis */
  const float src[4] = {0.0f, 1.0f, 2.0f, 3.0f}; /* [1, 2, 2, 1]: rows (0, 1) and (2, 3) */
  float dst[16];
  qs_cpu_bilinear(src, 1, 2, 2, 1, dst, 4, 4, 0);
  static const float ax[4] = {0.0f, 0.25f, 0.75f, 1.0f};
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) CHECK_CLOSE(dst[i * 4 + j], 2.0f * ax[i] + ax[j], 1e-7, 0);
  /* a same-size resize is the identity; 4 -> 2 averages pairs */
  float id[2 * 3 * 5 * 4], id2[2 * 3 * 5 * 4];
  fill(id, 120, 5);
  qs_cpu_bilinear(id, 2, 3, 5, 4, id2, 3, 5, 0);
  CHECK(memcmp(id, id2, sizeof id) == 0);
  const float row[4] = {1.0f, 3.0f, 5.0f, 9.0f};
  float half[2];
  qs_cpu_bilinear(row, 1, 1, 4, 1, half, 1, 2, 0);
  CHECK_CLOSE(half[0], 2.0f, 1e-7, 0);
  CHECK_CLOSE(half[1], 7.0f, 1e-7, 0);
}

static void test_unfold_fold(void) {
  const int B = 2, H = 6, W = 8, C = 3, P = 2;
  const int n = B * H * W * C;
  float *x = malloc(sizeof(float) * n), *seq = malloc(sizeof(float) * n), *back = malloc(sizeof(float) * n);
  fill(x, n, 99);
  qs_cpu_unfold(x, B, H, W, C, P, seq);
  /* seq[b*P*P + py*P + px, i*(W/P) + j, c] = x[b, i*P + py, j*P + px, c] */
  const int N = (H / P) * (W / P);
  int ok = 1;
  for (int b = 0; b < B; b++)
    for (int y = 0; y < H; y++)
      for (int xx = 0; xx < W; xx++)
        for (int c = 0; c < C; c++) {
          int s = b * P * P + (y % P) * P + xx % P, tok = (y / P) * (W / P) + xx / P;
          ok &= seq[((size_t)s * N + tok) * C + c] == x[(((size_t)b * H + y) * W + xx) * C + c];
        }
  CHECK(ok);
  qs_cpu_fold(seq, B, H, W, C, P, back);
  CHECK(memcmp(x, back, sizeof(float) * n) == 0);
  /* patch size 3 */
  qs_cpu_unfold(x, B, H, 6, C, 3, seq);
  qs_cpu_fold(seq, B, H, 6, C, 3, back);
  CHECK(memcmp(x, back, sizeof(float) * B * H * 6 * C) == 0);
  free(x), free(seq), free(back);
}

static int forward(const qs_model *m, qs_precision prec, int batch, const float *in, float *out) {
  qs_prec_opts po;
  qs_prec_opts_default(&po, prec);
  qs_cpu_plan *p = NULL;
  int rc = qs_cpu_plan_create(m, &po, &p);
  if (rc == QS_OK) rc = qs_cpu_forward(p, batch, in, out);
  qs_cpu_plan_free(p);
  return rc;
}

static double rel_l2(const float *a, const float *b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; i++) {
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return sqrt(num / den);
}

static int argmax(const float *v, int n) {
  int k = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[k]) k = i;
  return k;
}

static void test_forward(const qs_zoo *z) {
  qs_arch a;
  if (qs_zoo_resolve(z, "mobilevit-xxs-edge", &a) != QS_OK) {
    CHECK_MSG(0, "zoo: %s", qs_last_error());
    return;
  }
  a.input_size = 128; /* keeps the test quick; the maps stay divisible by the patch size */
  qs_model m;
  if (qs_model_synthetic(&a, 1234, &m) != QS_OK) {
    CHECK_MSG(0, "synthetic: %s", qs_last_error());
    return;
  }
  /* The synthetic convolutions are fan-in scaled already (mobilevit.c); randomise
   * the BatchNorm statistics and give the classifier unit gain so that the fp16
   * comparison exercises every path. */
  for (int i = 0; i < m.n; i++) {
    const qs_tensor_spec *s = m.t[i].spec;
    int64_t n = qs_spec_numel(s);
    const char *nm = s->name;
    size_t L = strlen(nm);
    if (L > 12 && !strcmp(nm + L - 12, "running_mean")) {
      fill(m.t[i].data, n, 500 + i);
      for (int64_t j = 0; j < n; j++) m.t[i].data[j] *= 0.1f;
    } else if (L > 11 && !strcmp(nm + L - 11, "running_var")) {
      fill(m.t[i].data, n, 700 + i);
      for (int64_t j = 0; j < n; j++) m.t[i].data[j] = 1.0f + 0.5f * m.t[i].data[j];
    } else if (!strcmp(nm, "classifier.weight")) {
      for (int64_t j = 0; j < n; j++) m.t[i].data[j] *= (float)(1.0 / (0.02 * sqrt((double)s->shape[1])));
    }
  }
  const int B = 2, S = a.input_size, K = a.num_labels;
  const int64_t nin = (int64_t)B * 3 * S * S;
  float *in = malloc(sizeof(float) * nin);
  float *y1 = malloc(sizeof(float) * B * K), *y2 = malloc(sizeof(float) * B * K), *y3 = malloc(sizeof(float) * K);
  float *yh = malloc(sizeof(float) * B * K);
  qs_make_input(1, B, 3, S, in);

  CHECK(forward(&m, QS_PREC_FP32, B, in, y1) == QS_OK);
  CHECK(forward(&m, QS_PREC_FP32, B, in, y2) == QS_OK);
  int finite = 1;
  double mag = 0.0;
  for (int i = 0; i < B * K; i++) {
    finite &= isfinite(y1[i]) != 0;
    mag = fmax(mag, fabs(y1[i]));
  }
  CHECK(finite);
  CHECK_MSG(mag > 1e-3 && mag < 1e3, "logit magnitude %g", mag);
  CHECK(memcmp(y1, y2, sizeof(float) * B * K) == 0);
  CHECK(memcmp(y1, y1 + K, sizeof(float) * K) != 0);
  /* the second image alone gives the same logits as within the batch */
  CHECK(forward(&m, QS_PREC_FP32, 1, in + nin / B, y3) == QS_OK);
  CHECK_MSG(rel_l2(y3, y1 + K, K) < 1e-6, "batch consistency: rel L2 %g", rel_l2(y3, y1 + K, K));

  /* fp16 within 1e-2 relative L2 of fp32 (about 1e-3 is typical), same top-1 */
  CHECK(forward(&m, QS_PREC_FP16, B, in, yh) == QS_OK);
  double e16 = rel_l2(yh, y1, B * K);
  printf("fp16 vs fp32: rel L2 %.3g\n", e16);
  CHECK_MSG(e16 < 1e-2, "fp16 vs fp32: rel L2 %g", e16);
  for (int b = 0; b < B; b++) CHECK(argmax(yh + b * K, K) == argmax(y1 + b * K, K));
  for (int i = 0; i < B * K; i++)
    if (qs_round_half(yh[i]) != yh[i]) {
      CHECK_MSG(0, "fp16 output %d is not an fp16 value", i);
      break;
    }
  /* int8 and nf4 run the transformer Linears quantized: finite and close */
  CHECK(forward(&m, QS_PREC_INT8, B, in, yh) == QS_OK);
  printf("int8 vs fp32: rel L2 %.3g\n", rel_l2(yh, y1, B * K));
  CHECK_MSG(rel_l2(yh, y1, B * K) < 0.1, "int8 vs fp32: rel L2 %g", rel_l2(yh, y1, B * K));
  CHECK(forward(&m, QS_PREC_NF4, B, in, yh) == QS_OK);
  printf("nf4 vs fp32: rel L2 %.3g\n", rel_l2(yh, y1, B * K));
  CHECK_MSG(rel_l2(yh, y1, B * K) < 0.5, "nf4 vs fp32: rel L2 %g", rel_l2(yh, y1, B * K));
  /* bf16 everywhere (convolutions included): bf16 outputs, within 3e-2 of fp32 (measured 8e-3) */
  CHECK(forward(&m, QS_PREC_BF16, B, in, yh) == QS_OK);
  double ebf = rel_l2(yh, y1, B * K);
  printf("bf16 vs fp32: rel L2 %.3g\n", ebf);
  CHECK_MSG(ebf < 3e-2 && ebf > e16, "bf16 vs fp32: rel L2 %g (fp16 %g)", ebf, e16);
  for (int i = 0; i < B * K; i++)
    if (qs_round_bf16(yh[i]) != yh[i]) {
      CHECK_MSG(0, "bf16 output %d is not a bf16 value", i);
      break;
    }
  /* int8dyn and fp8 quantize the transformer Linears (rest fp16) */
  CHECK(forward(&m, QS_PREC_INT8DYN, B, in, yh) == QS_OK);
  printf("int8dyn vs fp32: rel L2 %.3g\n", rel_l2(yh, y1, B * K));
  CHECK_MSG(rel_l2(yh, y1, B * K) < 0.05, "int8dyn vs fp32: rel L2 %g", rel_l2(yh, y1, B * K));
  CHECK(forward(&m, QS_PREC_FP8, B, in, yh) == QS_OK);
  printf("fp8 vs fp32: rel L2 %.3g\n", rel_l2(yh, y1, B * K));
  CHECK_MSG(rel_l2(yh, y1, B * K) < 0.12, "fp8 vs fp32: rel L2 %g", rel_l2(yh, y1, B * K));

  /* 96: the 3x3 stage-4 map is resized to 4x4 for the patches and back */
  qs_model m2 = m;
  m2.arch.input_size = 96;
  float *in2 = malloc(sizeof(float) * 3 * 96 * 96);
  qs_make_input(2, 1, 3, 96, in2);
  CHECK(forward(&m2, QS_PREC_FP32, 1, in2, y3) == QS_OK);
  finite = 1;
  for (int i = 0; i < K; i++) finite &= isfinite(y3[i]) != 0;
  CHECK(finite);

  free(in), free(in2), free(y1), free(y2), free(y3), free(yh);
  qs_model_free(&m);
}

int main(void) {
  qs_zoo z;
  if (qs_zoo_load(NULL, &z) != QS_OK) {
    fprintf(stderr, "zoo: %s\n", qs_last_error());
    return 1;
  }
  test_param_counts(&z);
  test_conv();
  test_batchnorm_bilinear();
  test_unfold_fold();
  test_forward(&z);
  qs_zoo_free(&z);
  return qs_test_finish("test_mobilevit");
}
