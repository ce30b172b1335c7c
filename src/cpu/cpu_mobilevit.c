/* cpu_mobilevit.c - the CPU reference forward of MobileViT
 * (HF MobileViTForImageClassification, modeling_mobilevit.py).
 *
 * Feature maps are NHWC (cpu_conv.h). Every width and kernel size is read from
 * the tensor shapes (mobilevit.c lists them), so any config the HF class
 * accepts runs. BatchNorm uses the running statistics, unfolded (applied
 * after the convolution, as PyTorch's eval mode does).
 *
 * Precision: as the transformer families. For every precision but fp32 the
 * computation is fp16 (bf16 under bf16): each operator's output is rounded to
 * fp16 (bf16), convolutions take fp16 (bf16) inputs and weights with fp32
 * accumulation, and the transformer Linears go through qs_cpu_linear (where
 * int8 / int8dyn / fp8 / nf4 happen). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_conv.h"
#include "cpu_internal.h"
#include "qs_common.h"

#define MV_BN_EPS 1e-5f /* HF's MobileViTConvLayer fixes BatchNorm2d eps */

typedef struct {
  float *d;
  int B, H, W, C;
} fmap;

typedef struct {
  qs_cpu_plan *p;
  const qs_arch *a;
  int rnd; /* storage type (qs_half.h): QS_ROUND_NONE, QS_ROUND_F16 or QS_ROUND_BF16 */
} mv_ctx;

static void fmap_free(fmap *m) {
  free(m->d);
  m->d = NULL;
}

static int fmap_alloc(const mv_ctx *c, fmap *m, int B, int H, int W, int C) {
  m->B = B, m->H = H, m->W = W, m->C = C;
  m->d = malloc(sizeof(float) * (size_t)B * H * W * C + 1);
  return m->d ? QS_OK : qs_fail(QS_ENOMEM, "%s: out of host memory for activations", c->a->name);
}

/* the spec of tensor `name`, or NULL with an error */
static const qs_tensor_spec *spec_of(const mv_ctx *c, const char *name) {
  int i = qs_cpu_find(c->p, name);
  if (i < 0) {
    qs_fail(QS_EINVAL, "%s: %s: tensor missing", c->a->name, name);
    return NULL;
  }
  return &c->p->m->specs[i];
}

/* MobileViTConvLayer: conv (no bias, padding (k-1)/2) -> [BatchNorm] -> [activation].
 * Consumes nothing; *y is allocated. */
static int conv_layer(const mv_ctx *c, const char *base, const fmap *x, int stride, int bn, int act, fmap *y) {
  char name[256];
  snprintf(name, sizeof name, "%s.convolution.weight", base);
  const qs_tensor_spec *s = spec_of(c, name);
  if (!s) return QS_EINVAL;
  const float *w = qs_cpu_w(c->p, "%s", name);
  if (!w) return QS_EINVAL;
  const int cout = (int)s->shape[0], cig = (int)s->shape[1], k = (int)s->shape[2];
  if (s->ndim != 4 || cig < 1 || x->C % cig != 0 || s->shape[3] != k)
    return qs_fail(QS_EINTERNAL, "%s: %s: shape does not fit %d input channels", c->a->name, name, x->C);
  const int groups = x->C / cig, pad = (k - 1) / 2;
  const int Ho = qs_cpu_conv_out(x->H, k, stride, pad), Wo = qs_cpu_conv_out(x->W, k, stride, pad);
  if (Ho < 1 || Wo < 1)
    return qs_fail(QS_EINVAL, "%s: %s: the %dx%d feature map is too small (input too small)", c->a->name, base,
                   x->H, x->W);
  QS_TRY(fmap_alloc(c, y, x->B, Ho, Wo, cout));
  const int64_t npix = (int64_t)x->B * Ho * Wo;
  int rc = qs_cpu_conv2d(x->d, x->B, x->H, x->W, x->C, w, cout, k, stride, pad, groups, c->rnd, y->d);
  if (rc == QS_OK && bn) {
    const float *g = qs_cpu_w(c->p, "%s.normalization.weight", base);
    const float *b = qs_cpu_w(c->p, "%s.normalization.bias", base);
    const float *mean = qs_cpu_w(c->p, "%s.normalization.running_mean", base);
    const float *var = qs_cpu_w(c->p, "%s.normalization.running_var", base);
    if (!g || !b || !mean || !var) rc = QS_EINVAL;
    else rc = qs_cpu_batchnorm(y->d, npix, cout, g, b, mean, var, MV_BN_EPS, c->rnd);
  }
  if (rc == QS_OK && act) {
    qs_cpu_act(y->d, npix * cout, c->a->act);
    qs_cpu_round(c->p, y->d, npix * cout);
  }
  if (rc != QS_OK) fmap_free(y);
  return rc;
}

/* MobileViTInvertedResidual: replaces *x by the block's output */
static int inverted_residual(const mv_ctx *c, const char *base, fmap *x, int stride) {
  char b[192];
  fmap e = {0}, d = {0}, r = {0};
  snprintf(b, sizeof b, "%s.expand_1x1", base);
  int rc = conv_layer(c, b, x, 1, 1, 1, &e);
  snprintf(b, sizeof b, "%s.conv_3x3", base);
  if (rc == QS_OK) rc = conv_layer(c, b, &e, stride, 1, 1, &d);
  fmap_free(&e);
  snprintf(b, sizeof b, "%s.reduce_1x1", base);
  if (rc == QS_OK) rc = conv_layer(c, b, &d, 1, 1, 0, &r);
  fmap_free(&d);
  if (rc != QS_OK) return rc;
  if (stride == 1 && r.C == x->C && r.H == x->H && r.W == x->W) {
    const int64_t n = (int64_t)r.B * r.H * r.W * r.C;
    for (int64_t i = 0; i < n; i++) r.d[i] += x->d[i];
    qs_cpu_round(c->p, r.d, n);
  }
  fmap_free(x);
  *x = r;
  return QS_OK;
}

/* MobileViTLayer (stages 2-4): replaces *x by the block's output */
static int mobilevit_layer(const mv_ctx *c, const char *base, int nlayers, fmap *x) {
  const qs_arch *a = c->a;
  const int P = a->mv_patch;
  char b[160];
  fmap t = {0}, u = {0}, rs = {0}, cat = {0}, out = {0};
  float *seq = NULL;
  int rc;

  snprintf(b, sizeof b, "%s.downsampling_layer", base);
  QS_TRY(inverted_residual(c, b, x, 2));
  snprintf(b, sizeof b, "%s.conv_kxk", base);
  if ((rc = conv_layer(c, b, x, 1, 1, 1, &t)) != QS_OK) goto done;
  snprintf(b, sizeof b, "%s.conv_1x1", base);
  if ((rc = conv_layer(c, b, &t, 1, 0, 0, &u)) != QS_OK) goto done;
  fmap_free(&t);

  /* unfolding: resize up to a multiple of the patch size when needed */
  const int B = x->B, H = x->H, W = x->W, d = u.C;
  const int nh = (H + P - 1) / P * P, nw = (W + P - 1) / P * P;
  const int resize = nh != H || nw != W;
  if (resize) {
    if ((rc = fmap_alloc(c, &rs, B, nh, nw, d)) != QS_OK) goto done;
    qs_cpu_bilinear(u.d, B, H, W, d, rs.d, nh, nw, c->rnd);
  }
  fmap *src = resize ? &rs : &u;
  const int S = B * P * P, N = (nh / P) * (nw / P);
  seq = malloc(sizeof(float) * (size_t)S * N * d + 1);
  if (!seq) {
    rc = qs_fail(QS_ENOMEM, "%s: out of host memory for activations", a->name);
    goto done;
  }
  qs_cpu_unfold(src->d, B, nh, nw, d, P, seq);

  for (int l = 0; l < nlayers; l++) {
    char lb[200], wn[300];
    qs_block_names nm;
    snprintf(lb, sizeof lb, "%s.transformer.layer.%d", base, l);
    qs_block_names_vit(&nm, lb);
    snprintf(wn, sizeof wn, "%s.weight", nm.fc1);
    const qs_tensor_spec *fs = spec_of(c, wn);
    if (!fs) {
      rc = QS_EINVAL;
      goto done;
    }
    if ((rc = qs_cpu_block(c->p, &nm, seq, S, N, d, a->heads, (int)fs->shape[0], a->ln_eps, a->act, NULL)) != QS_OK)
      goto done;
  }
  {
    const float *g = qs_cpu_w(c->p, "%s.layernorm.weight", base), *bb = qs_cpu_w(c->p, "%s.layernorm.bias", base);
    if (!g || !bb) {
      rc = QS_EINVAL;
      goto done;
    }
    qs_cpu_layernorm(seq, g, bb, (int64_t)S * N, d, a->ln_eps, seq);
    qs_cpu_round(c->p, seq, (int64_t)S * N * d);
  }

  /* folding, and the resize back to the original map */
  qs_cpu_fold(seq, B, nh, nw, d, P, src->d);
  if (resize) qs_cpu_bilinear(rs.d, B, nh, nw, d, u.d, H, W, c->rnd);

  snprintf(b, sizeof b, "%s.conv_projection", base);
  if ((rc = conv_layer(c, b, &u, 1, 1, 1, &t)) != QS_OK) goto done;
  /* concat [input after downsampling, projection] on channels */
  if ((rc = fmap_alloc(c, &cat, B, H, W, x->C + t.C)) != QS_OK) goto done;
  for (int64_t px = 0; px < (int64_t)B * H * W; px++) {
    memcpy(cat.d + px * cat.C, x->d + px * x->C, sizeof(float) * (size_t)x->C);
    memcpy(cat.d + px * cat.C + x->C, t.d + px * t.C, sizeof(float) * (size_t)t.C);
  }
  snprintf(b, sizeof b, "%s.fusion", base);
  if ((rc = conv_layer(c, b, &cat, 1, 1, 1, &out)) != QS_OK) goto done;
  fmap_free(x);
  *x = out;
  out.d = NULL;
done:
  fmap_free(&t);
  fmap_free(&u);
  fmap_free(&rs);
  fmap_free(&cat);
  fmap_free(&out);
  free(seq);
  return rc;
}

int qs_cpu_forward_mobilevit(qs_cpu_plan *p, int batch, const float *input, float *out) {
  const qs_arch *a = &p->m->arch;
  const mv_ctx c = {p, a, qs_cpu_storage(p)};
  const char *pre = a->prefix;
  const int C = a->num_channels, S = a->input_size;
  static const int nlayers[3] = {2, 4, 3};
  char b[96]; /* prefix < 32 bytes */
  fmap x = {0}, y = {0};
  float *pooled = NULL;
  int rc;

  /* NCHW input -> NHWC */
  QS_TRY(fmap_alloc(&c, &x, batch, S, S, C));
  for (int bi = 0; bi < batch; bi++)
    for (int ch = 0; ch < C; ch++)
      for (int64_t i = 0; i < (int64_t)S * S; i++)
        x.d[((int64_t)bi * S * S + i) * C + ch] = input[((int64_t)bi * C + ch) * S * S + i];
  qs_cpu_round(p, x.d, (int64_t)batch * S * S * C);

  snprintf(b, sizeof b, "%sconv_stem", pre);
  if ((rc = conv_layer(&c, b, &x, 2, 1, 1, &y)) != QS_OK) goto done;
  fmap_free(&x);
  x = y;
  y.d = NULL;
  snprintf(b, sizeof b, "%sencoder.layer.0.layer.0", pre);
  if ((rc = inverted_residual(&c, b, &x, 1)) != QS_OK) goto done;
  for (int j = 0; j < 3; j++) {
    snprintf(b, sizeof b, "%sencoder.layer.1.layer.%d", pre, j);
    if ((rc = inverted_residual(&c, b, &x, j == 0 ? 2 : 1)) != QS_OK) goto done;
  }
  for (int k = 2; k <= 4; k++) {
    snprintf(b, sizeof b, "%sencoder.layer.%d", pre, k);
    if ((rc = mobilevit_layer(&c, b, nlayers[k - 2], &x)) != QS_OK) goto done;
  }
  snprintf(b, sizeof b, "%sconv_1x1_exp", pre);
  if ((rc = conv_layer(&c, b, &x, 1, 1, 1, &y)) != QS_OK) goto done;
  pooled = malloc(sizeof(float) * (size_t)batch * y.C);
  if (!pooled) {
    rc = qs_fail(QS_ENOMEM, "%s: out of host memory", a->name);
    goto done;
  }
  if ((rc = qs_cpu_global_avgpool(y.d, y.B, y.H, y.W, y.C, pooled, c.rnd)) != QS_OK) goto done;
  rc = qs_cpu_linear(p, "classifier", pooled, batch, y.C, a->num_labels, out);
done:
  fmap_free(&x);
  fmap_free(&y);
  free(pooled);
  return rc;
}
