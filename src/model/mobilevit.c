/* mobilevit.c - MobileViT (HF MobileViTForImageClassification): tensor list and
 * FLOPs. The forward is in cpu_mobilevit.c; it takes every width from the
 * tensor shapes listed here, so this file is the one place that knows the
 * architecture's geometry.
 *
 * Layout (HF modeling_mobilevit.py, output_stride 32):
 *   conv_stem                3x3 stride 2, C -> n0
 *   encoder.layer.0          1 inverted residual (IR) n0 -> n1, stride 1
 *   encoder.layer.1          3 IRs n1 -> n2, strides 2, 1, 1
 *   encoder.layer.{2,3,4}    IR stride 2 n[k] -> n[k+1], then the MobileViT block
 *                            with 2, 4, 3 transformer layers of width hidden_sizes[k-2]
 *   conv_1x1_exp             1x1 n5 -> n6, then global mean and the classifier. */
#include <math.h>
#include <stdio.h>

#include "arch.h"
#include "qs_common.h"
#include "specs.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

static const int mv_layers[3] = {2, 4, 3}; /* transformer layers of stages 2, 3, 4 (fixed in HF) */

/* HF make_divisible(value, 8) */
static int make_divisible8(int v) {
  int nv = (int)((v + 4) / 8) * 8;
  if (nv < 8) nv = 8;
  if (nv < 0.9 * v) nv += 8;
  return nv;
}

/* Expanded width of an inverted residual: make_divisible(int(round(cin * expand_ratio)), 8).
 * Python's round() ties to even, as nearbyint() in the default rounding mode. */
static int mv_expanded(const qs_arch *a, int cin) {
  return make_divisible8((int)nearbyint((double)cin * (double)a->mv_expand));
}

/* FFN width: int(hidden_size * mlp_ratio) */
static int mv_mlp(const qs_arch *a, int d) { return (int)((double)d * a->mv_mlp_ratio); }

/* Synthetic conv weights are fan-in scaled, N(0, 1/fan_in), where HF initialises every
 * conv with std = initializer_range: through a dozen conv + identity-BatchNorm layers
 * that shrinks the activations to ~1e-7 by stage 2 (zero in fp16), unlike any trained
 * MobileViT, and no precision could be measured on it. Checkpoints are unaffected. */
static void conv_layer(qs_spec_list *l, const qs_arch *a, const char *base, int cin, int cout, int k, int groups,
                       int bn) {
  (void)a;
  const float std = (float)sqrt(1.0 / ((double)(cin / groups) * k * k));
  qs_specs_add(l, QS_INIT_NORMAL, std, 4, SHAPE(cout, cin / groups, k, k), "%s.convolution.weight",
               base);
  if (!bn) return;
  qs_specs_add(l, QS_INIT_CONST, 1.0f, 1, SHAPE(cout), "%s.normalization.weight", base);
  qs_specs_add(l, QS_INIT_CONST, 0.0f, 1, SHAPE(cout), "%s.normalization.bias", base);
  qs_specs_add(l, QS_INIT_CONST, 0.0f, 1, SHAPE(cout), "%s.normalization.running_mean", base);
  if (!l->failed) l->v[l->n - 1].buffer = 1;
  qs_specs_add(l, QS_INIT_CONST, 1.0f, 1, SHAPE(cout), "%s.normalization.running_var", base);
  if (!l->failed) l->v[l->n - 1].buffer = 1;
}

static void inverted_residual(qs_spec_list *l, const qs_arch *a, const char *base, int cin, int cout) {
  char b[QS_SPEC_NAME_MAX];
  const int e = mv_expanded(a, cin);
  snprintf(b, sizeof b, "%s.expand_1x1", base);
  conv_layer(l, a, b, cin, e, 1, 1, 1);
  snprintf(b, sizeof b, "%s.conv_3x3", base);
  conv_layer(l, a, b, e, e, 3, e, 1);
  snprintf(b, sizeof b, "%s.reduce_1x1", base);
  conv_layer(l, a, b, e, cout, 1, 1, 1);
}

static void linear(qs_spec_list *l, const qs_arch *a, int out, int in, int bias, int quantized, const char *base) {
  qs_specs_add(l, QS_INIT_NORMAL, a->initializer_range, 2, SHAPE(out, in), "%s.weight", base);
  if (!l->failed) l->v[l->n - 1].quantized = (uint8_t)quantized;
  if (bias) qs_specs_add(l, QS_INIT_CONST, 0.0f, 1, SHAPE(out), "%s.bias", base);
}

static void layernorm(qs_spec_list *l, int d, const char *base) {
  qs_specs_add(l, QS_INIT_CONST, 1.0f, 1, SHAPE(d), "%s.weight", base);
  qs_specs_add(l, QS_INIT_CONST, 0.0f, 1, SHAPE(d), "%s.bias", base);
}

static void transformer_layer(qs_spec_list *l, const qs_arch *a, const char *base, int d) {
  char b[QS_SPEC_NAME_MAX];
  static const char *qkv[3] = {"query", "key", "value"};
  const int m = mv_mlp(a, d);
  for (int j = 0; j < 3; j++) {
    snprintf(b, sizeof b, "%s.attention.attention.%s", base, qkv[j]);
    linear(l, a, d, d, a->qkv_bias, 1, b);
  }
  snprintf(b, sizeof b, "%s.attention.output.dense", base);
  linear(l, a, d, d, 1, 1, b);
  snprintf(b, sizeof b, "%s.intermediate.dense", base);
  linear(l, a, m, d, 1, 1, b);
  snprintf(b, sizeof b, "%s.output.dense", base);
  linear(l, a, d, m, 1, 1, b);
  snprintf(b, sizeof b, "%s.layernorm_before", base);
  layernorm(l, d, b);
  snprintf(b, sizeof b, "%s.layernorm_after", base);
  layernorm(l, d, b);
}

static int check_arch(const qs_arch *a) {
  if (a->mv_conv_kernel % 2 == 0)
    return qs_fail(QS_EUNSUPPORTED,
                   "%s: conv_kernel_size: %d is even; MobileViT's same-size convolutions need an odd kernel",
                   a->name, a->mv_conv_kernel);
  if (a->num_labels < 1) return qs_fail(QS_EINVAL, "%s: num_labels: MobileViT needs a classifier", a->name);
  for (int i = 0; i < 3; i++) {
    if (a->mv_hidden[i] % a->heads != 0)
      return qs_fail(QS_EINVAL, "%s: hidden_sizes[%d]: %d is not divisible by num_attention_heads %d", a->name, i,
                     a->mv_hidden[i], a->heads);
    if (mv_mlp(a, a->mv_hidden[i]) < 1)
      return qs_fail(QS_EINVAL, "%s: mlp_ratio: gives an empty feed-forward layer for width %d", a->name,
                     a->mv_hidden[i]);
  }
  return QS_OK;
}

int qs_mobilevit_specs(const qs_arch *a, qs_spec_list *l) {
  QS_TRY(check_arch(a));
  const char *p = a->prefix;
  const int *n = a->mv_neck;
  const int K = a->mv_conv_kernel;
  char b[96], s[64]; /* prefix < 32 bytes: the longest base name fits */

  snprintf(b, sizeof b, "%sconv_stem", p);
  conv_layer(l, a, b, a->num_channels, n[0], 3, 1, 1);
  snprintf(b, sizeof b, "%sencoder.layer.0.layer.0", p);
  inverted_residual(l, a, b, n[0], n[1]);
  for (int j = 0; j < 3; j++) {
    snprintf(b, sizeof b, "%sencoder.layer.1.layer.%d", p, j);
    inverted_residual(l, a, b, j == 0 ? n[1] : n[2], n[2]);
  }
  for (int k = 2; k <= 4; k++) {
    const int c = n[k + 1], d = a->mv_hidden[k - 2];
    snprintf(s, sizeof s, "%sencoder.layer.%d", p, k);
    snprintf(b, sizeof b, "%s.downsampling_layer", s);
    inverted_residual(l, a, b, n[k], c);
    snprintf(b, sizeof b, "%s.conv_kxk", s);
    conv_layer(l, a, b, c, c, K, 1, 1);
    snprintf(b, sizeof b, "%s.conv_1x1", s);
    conv_layer(l, a, b, c, d, 1, 1, 0);
    for (int t = 0; t < mv_layers[k - 2]; t++) {
      snprintf(b, sizeof b, "%s.transformer.layer.%d", s, t);
      transformer_layer(l, a, b, d);
    }
    snprintf(b, sizeof b, "%s.layernorm", s);
    layernorm(l, d, b);
    snprintf(b, sizeof b, "%s.conv_projection", s);
    conv_layer(l, a, b, d, c, 1, 1, 1);
    snprintf(b, sizeof b, "%s.fusion", s);
    conv_layer(l, a, b, 2 * c, c, K, 1, 1);
  }
  snprintf(b, sizeof b, "%sconv_1x1_exp", p);
  conv_layer(l, a, b, n[5], n[6], 1, 1, 1);
  linear(l, a, a->num_labels, n[6], 1, 0, "classifier");
  return QS_OK;
}

/* ---- FLOPs ------------------------------------------------------------------- */

static int conv_out(int h, int k, int stride) { return (h + 2 * ((k - 1) / 2) - k) / stride + 1; }

/* 2 * MACs of a convolution producing an ho x wo map */
static double conv_flops(int ho, int cin, int cout, int k, int groups) {
  return 2.0 * (double)ho * ho * cout * ((double)cin / groups) * k * k;
}

static double ir_flops(const qs_arch *a, int h_in, int cin, int cout, int stride, int *h_out) {
  const int e = mv_expanded(a, cin);
  const int ho = conv_out(h_in, 3, stride);
  *h_out = ho;
  return conv_flops(h_in, cin, e, 1, 1) + conv_flops(ho, e, e, 3, e) + conv_flops(ho, e, cout, 1, 1);
}

/* ---- activation traffic (qs_arch_act_elems) ------------------------------------ */

/* input h_in x h_in x cin read, ho x ho x cout written */
static double conv_elems(int h_in, int ho, int cin, int cout) { return (double)h_in * h_in * cin + (double)ho * ho * cout; }

static double ir_elems(const qs_arch *a, int h_in, int cin, int cout, int stride, int *h_out) {
  const int e = mv_expanded(a, cin);
  const int ho = conv_out(h_in, 3, stride);
  *h_out = ho;
  return conv_elems(h_in, h_in, cin, e) + conv_elems(h_in, ho, e, e) + conv_elems(ho, ho, e, cout);
}

double qs_mobilevit_act_elems(const qs_arch *a, double *qlin_in) {
  if (check_arch(a) != QS_OK) return 0.0;
  const int *n = a->mv_neck;
  const int P = a->mv_patch;
  int h0 = a->input_size, h = conv_out(a->input_size, 3, 2);
  double f = conv_elems(h0, h, a->num_channels, n[0]);
  f += ir_elems(a, h, n[0], n[1], 1, &h);
  for (int j = 0; j < 3; j++) f += ir_elems(a, h, j == 0 ? n[1] : n[2], n[2], j == 0 ? 2 : 1, &h);
  for (int k = 2; k <= 4; k++) {
    const int c = n[k + 1];
    const int d = a->mv_hidden[k - 2];
    const double m = mv_mlp(a, d);
    f += ir_elems(a, h, n[k], c, 2, &h);
    f += conv_elems(h, h, c, c) + conv_elems(h, h, c, d);
    const double side = ceil((double)h / P), tokens = side * side * P * P; /* all P*P sequences */
    for (int l = 0; l < mv_layers[k - 2]; l++) f += qs_block_act_elems(tokens, d, m, qlin_in);
    f += 2.0 * tokens * d; /* the layernorm after the blocks */
    f += conv_elems(h, h, d, c) + conv_elems(h, h, 2 * c, c);
  }
  f += conv_elems(h, h, n[5], n[6]);
  return f;
}

double qs_mobilevit_gflops(const qs_arch *a) {
  if (check_arch(a) != QS_OK) return 0.0;
  const int *n = a->mv_neck;
  const int K = a->mv_conv_kernel, P = a->mv_patch;
  int h = conv_out(a->input_size, 3, 2);
  double f = conv_flops(h, a->num_channels, n[0], 3, 1);
  f += ir_flops(a, h, n[0], n[1], 1, &h);
  for (int j = 0; j < 3; j++) f += ir_flops(a, h, j == 0 ? n[1] : n[2], n[2], j == 0 ? 2 : 1, &h);
  for (int k = 2; k <= 4; k++) {
    const int c = n[k + 1];
    const double d = a->mv_hidden[k - 2], m = mv_mlp(a, a->mv_hidden[k - 2]);
    f += ir_flops(a, h, n[k], c, 2, &h);
    f += conv_flops(h, c, c, K, 1) + conv_flops(h, c, (int)d, 1, 1);
    /* P*P sequences of (ceil(h/P))^2 tokens (the map is resized up to a multiple of P) */
    const double side = ceil((double)h / P), tokens = side * side, seqs = (double)P * P;
    const double lin = 2.0 * tokens * d * (4.0 * d + 2.0 * m);
    const double att = 4.0 * tokens * tokens * d;
    f += seqs * mv_layers[k - 2] * (lin + att);
    f += conv_flops(h, (int)d, c, 1, 1) + conv_flops(h, 2 * c, c, K, 1);
  }
  f += conv_flops(h, n[5], n[6], 1, 1);
  f += 2.0 * n[6] * a->num_labels;
  return f * 1e-9;
}
