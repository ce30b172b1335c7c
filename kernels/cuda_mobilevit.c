/* cuda_mobilevit.c - MobileViT (HF MobileViTForImageClassification) on the CUDA
 * backend, fp32, fp16 and bf16, on the plan, arena, CUDA graph and timed loop of the
 * transformer families (cuda_setup.c, cuda_record.c, cuda_backend.c), through the
 * plan's tensors and Linears (cuda_linear.c).
 *
 * The forward is described once at plan time as a list of ops on named activation
 * buffers (mirroring the CPU reference, cpu_mobilevit.c); qs_mv_record walks the list.
 * Every width and kernel size is read from the tensor shapes, so any config the HF
 * class accepts runs.
 *
 * Layout: feature maps are NHWC ([B*H*W, C] row-major), so a 1x1 convolution is a
 * cuBLASLt GEMM on the map itself, a k x k convolution (groups 1) is im2col + GEMM
 * (reduction index (ky*k + kx)*Cin + ci, padded to a multiple of 8), and the depthwise
 * 3x3 is a direct kernel.
 *
 * BatchNorm (eval, running statistics) is folded into the convolution at plan time:
 * w' = w * a, bias = beta - mean * a with a = gamma / sqrt(var + eps); the bias rides
 * in the GEMM epilogue (or the depthwise kernel). The CPU reference keeps BN unfolded,
 * so fp16 differs from it by the rounding of w * a (well inside the fp16 tolerance).
 *
 * Fusions: the SiLU of an expand 1x1 is applied by the depthwise kernel as it loads
 * its input, the depthwise's own BN + SiLU in its epilogue; the SiLU of conv_projection
 * by the concat, the SiLU of conv_1x1_exp by the average pool. When the map is a
 * multiple of the patch size, conv_kxk's im2col writes its rows in unfold order, so
 * conv_1x1 (a per-pixel GEMM) writes the transformer's token sequences directly, and
 * the concat reads the transformer side in that order: no unfold or fold pass. Otherwise
 * (HF's bilinear resize) unfold and fold each are one kernel fused with the resize.
 *
 * Transformer layers use the transformer families' pieces: fused q|k|v GEMM, fused
 * attention (4 heads of d/4), fused residual + LayerNorm, and every Linear through
 * qs_cuda_add_linear / qs_cuda_linear_run, so quantized Linear kinds apply to them too,
 * and so does tensor parallelism (tp > 1): those Linears hold this rank's shards and the
 * column-split ones all-reduce inside qs_cuda_linear_run; the attention runs this rank's
 * heads; the convolutions are replicated. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "qs_common.h"

#define MV_BN_EPS 1e-5f /* HF's MobileViTConvLayer fixes BatchNorm2d eps */

/* activation buffers; IN / OUT are the plan's fp32 input and output */
typedef enum {
  MV_E, MV_D, MV_F0, MV_F1, MV_COLS, MV_T, MV_U, MV_SX, MV_SH, MV_QKV, MV_ATT, MV_O, MV_MID, MV_CAT, MV_POOLED,
  MV_LOGITS, MV_NBUF, MV_IN = 100, MV_OUT = 101
} mv_buf;

typedef enum {
  OP_NCHW, OP_IM2COL, OP_GEMM, OP_ACT, OP_DW, OP_ADD, OP_UNFOLD, OP_FOLD, OP_CONCAT, OP_LN, OP_ATTN, OP_POOL, OP_OUT
} mv_op_kind;

typedef struct {
  mv_op_kind kind;
  int src, src2, dst;    /* buffers (-1: none) */
  int lin;               /* OP_GEMM: linear id */
  int w, b;              /* OP_DW: weights, bias; OP_LN: gamma, beta (param ids) */
  int B, H, W, C, C2;    /* input geometry (NHWC) */
  int k, stride, pad, Kp, perm, Hn, Wn;
  int M, heads, hd;      /* OP_LN: M rows of width C; OP_ATTN: B sequences of H tokens */
  qs_cuda_act act, act2; /* OP_DW: act_in, act_out; OP_ACT / OP_CONCAT / OP_POOL: act */
  int64_t n;
} mv_op;

struct qs_mv_plan {
  mv_op *ops;
  int nops, cap;
  size_t need[MV_NBUF]; /* bytes per buffer (the largest use) */
  void *buf[MV_NBUF];
  float **host; /* folded / permuted weights the params point into */
  int nhost, hostcap;
};

typedef struct {
  qs_cuda_plan *P;
  struct qs_mv_plan *mv;
  qs_cuda_act act; /* the config's activation */
  int cur;         /* MV_F0 or MV_F1: the current feature map */
  int H, W, C;     /* its geometry */
} mv_ctx;

static int other(int f) { return f == MV_F0 ? MV_F1 : MV_F0; }

void qs_bn_fold(const float *w, int cout, int64_t per_out, const float *gamma, const float *beta, const float *mean,
                const float *var, float eps, float *w_out, float *bias_out) {
  for (int co = 0; co < cout; co++) {
    const float invstd = 1.0f / sqrtf(var[co] + eps), a = invstd * gamma[co];
    for (int64_t j = 0; j < per_out; j++) w_out[co * per_out + j] = w[co * per_out + j] * a;
    bias_out[co] = beta[co] - mean[co] * a;
  }
}

void qs_mv_free(struct qs_mv_plan *mv) {
  if (!mv) return;
  for (int i = 0; i < mv->nhost; i++) free(mv->host[i]);
  free(mv->host);
  free(mv->ops);
  free(mv);
}

static float *host_alloc(mv_ctx *c, size_t nfloats) {
  struct qs_mv_plan *mv = c->mv;
  if (mv->nhost == mv->hostcap) {
    int cap = mv->hostcap ? 2 * mv->hostcap : 64;
    float **h = realloc(mv->host, sizeof(float *) * (size_t)cap);
    if (!h) return NULL;
    mv->host = h;
    mv->hostcap = cap;
  }
  float *f = qs_calloc(nfloats ? nfloats : 1, sizeof(float));
  if (f) mv->host[mv->nhost++] = f;
  return f;
}

static mv_op *op_add(mv_ctx *c, mv_op_kind kind, int src, int dst) {
  struct qs_mv_plan *mv = c->mv;
  if (mv->nops == mv->cap) {
    int cap = mv->cap ? 2 * mv->cap : 128;
    mv_op *o = realloc(mv->ops, sizeof(mv_op) * (size_t)cap);
    if (!o) {
      qs_fail(QS_ENOMEM, "%s: out of host memory for the op list", c->P->a->name);
      return NULL;
    }
    mv->ops = o;
    mv->cap = cap;
  }
  mv_op *o = &mv->ops[mv->nops++];
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->src = src, o->src2 = -1, o->dst = dst;
  o->lin = o->w = o->b = -1;
  return o;
}

/* buffer `b` must hold n values of the compute dtype */
static void need(mv_ctx *c, int b, int64_t n) {
  const size_t bytes = (size_t)n * c->P->es;
  if (b >= 0 && b < MV_NBUF && bytes > c->mv->need[b]) c->mv->need[b] = bytes;
}

/* tensor `name` with its spec (NULL, with an error, if missing) */
static const float *tensor(mv_ctx *c, const qs_tensor_spec **spec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const float *tensor(mv_ctx *c, const qs_tensor_spec **spec, const char *fmt, ...) {
  char name[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  const qs_model *m = c->P->m;
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->specs[i].name, name) && m->t[i].data) {
      if (spec) *spec = &m->specs[i];
      return m->t[i].data;
    }
  qs_fail(QS_EINVAL, "%s: %s: tensor missing", c->P->a->name, name);
  return NULL;
}

/* A per-channel vector "<base>.<what>" of length n as a param. */
static int vec_param(mv_ctx *c, int n, const char *base, const char *what) {
  const qs_tensor_spec *s = NULL;
  const float *v = tensor(c, &s, "%s.%s", base, what);
  if (!v) return -1;
  if (qs_spec_numel(s) != n) {
    qs_fail(QS_EINVAL, "%s: %s.%s: %lld values, expected %d", c->P->a->name, base, what,
            (long long)qs_spec_numel(s), n);
    return -1;
  }
  return qs_cuda_add_param3(c->P, v, n, NULL, 0, NULL, 0, 0);
}

/* MobileViTConvLayer "<base>": conv (no bias, padding (k-1)/2) -> [BN] -> [act] from buffer
 * src (the current geometry h x w x cin) into dst. act_in: the producer's activation,
 * fused into a depthwise convolution's loads (must be NONE otherwise). The output's
 * activation is applied unless defer_act (the consumer fuses it). perm: im2col rows in
 * sequence order of the output map. Sets *ho, *wo, *cout. */
static int conv_layer(mv_ctx *c, const char *base, int src, int h, int w, int cin, int stride, int bn, int act,
                      qs_cuda_act act_in, int defer_act, int perm, int dst, int *ho, int *wo, int *cout) {
  qs_cuda_plan *P = c->P;
  const qs_tensor_spec *s = NULL;
  const float *wt = tensor(c, &s, "%s.convolution.weight", base);
  if (!wt) return QS_EINVAL;
  if (s->ndim != 4 || s->shape[2] != s->shape[3] || s->shape[1] < 1 || cin % s->shape[1] != 0)
    return qs_fail(QS_EINVAL, "%s: %s: weight shape does not fit %d input channels", P->a->name, base, cin);
  const int co = (int)s->shape[0], cig = (int)s->shape[1], k = (int)s->shape[2];
  const int groups = cin / cig, pad = (k - 1) / 2;
  const int Ho = (h + 2 * pad - k) / stride + 1, Wo = (w + 2 * pad - k) / stride + 1;
  if (Ho < 1 || Wo < 1)
    return qs_fail(QS_EINVAL, "%s: %s: the %dx%d feature map is too small (input too small)", P->a->name, base, h, w);
  const int depthwise = groups == cin && co == cin && groups > 1;
  if (groups != 1 && !depthwise)
    return qs_fail(QS_EUNSUPPORTED, "%s: %s: grouped convolution (%d groups) is not implemented on cuda",
                   P->a->name, base, groups);
  if (act_in != QS_CUDA_ACT_NONE && !depthwise)
    return qs_fail(QS_EINTERNAL, "%s: %s: an input activation is fused only into depthwise convolutions",
                   P->a->name, base);
  const qs_cuda_act out_act = act ? c->act : QS_CUDA_ACT_NONE;
  const int64_t per_out = (int64_t)cig * k * k, rows = (int64_t)P->B * Ho * Wo;

  /* BatchNorm folded into the weights and a bias, in PyTorch's [co, cig, k, k] order */
  const float *wf = wt, *bias = NULL;
  if (bn) {
    const float *g = tensor(c, NULL, "%s.normalization.weight", base);
    const float *b = tensor(c, NULL, "%s.normalization.bias", base);
    const float *mean = tensor(c, NULL, "%s.normalization.running_mean", base);
    const float *var = tensor(c, NULL, "%s.normalization.running_var", base);
    float *wbuf = host_alloc(c, (size_t)co * per_out), *bbuf = host_alloc(c, (size_t)co);
    if (!g || !b || !mean || !var) return QS_EINVAL;
    if (!wbuf || !bbuf) return qs_fail(QS_ENOMEM, "%s: out of host memory", P->a->name);
    qs_bn_fold(wt, co, per_out, g, b, mean, var, MV_BN_EPS, wbuf, bbuf);
    wf = wbuf;
    bias = bbuf;
  }
  const int bid = bias ? qs_cuda_add_param3(P, bias, co, NULL, 0, NULL, 0, 0) : -1;
  if (bias && bid < 0) return QS_EINVAL;
  mv_op *o;

  if (depthwise) { /* weights tap-major [k*k, C] */
    float *wtap = host_alloc(c, (size_t)co * k * k);
    if (!wtap) return qs_fail(QS_ENOMEM, "%s: out of host memory", P->a->name);
    for (int ch = 0; ch < co; ch++)
      for (int t = 0; t < k * k; t++) wtap[(int64_t)t * co + ch] = wf[(int64_t)ch * k * k + t];
    if (!(o = op_add(c, OP_DW, src, dst))) return QS_ENOMEM;
    if ((o->w = qs_cuda_add_param3(P, wtap, (int64_t)co * k * k, NULL, 0, NULL, 0, 0)) < 0) return QS_EINVAL;
    o->b = bid;
    o->B = P->B, o->H = h, o->W = w, o->C = cin, o->k = k, o->stride = stride, o->pad = pad;
    o->act = act_in;
    o->act2 = defer_act ? QS_CUDA_ACT_NONE : out_act;
  } else if (k == 1 && stride == 1) { /* the map is the GEMM's left operand */
    const int wid = qs_cuda_add_param3(P, wf, (int64_t)co * cin, NULL, 0, NULL, 0, 0);
    if (!(o = op_add(c, OP_GEMM, src, dst))) return QS_ENOMEM;
    if ((o->lin = qs_cuda_add_gemm(P, (int)rows, co, cin, wid, bid)) < 0) return QS_EINVAL;
  } else { /* im2col (columns (ky*k + kx)*Cin + ci, padded to a multiple of 8) + GEMM */
    const int K = k * k * cin, Kp = (K + 7) / 8 * 8;
    float *wp = host_alloc(c, (size_t)co * Kp);
    if (!wp) return qs_fail(QS_ENOMEM, "%s: out of host memory", P->a->name);
    for (int o2 = 0; o2 < co; o2++)
      for (int ci = 0; ci < cin; ci++)
        for (int t = 0; t < k * k; t++) wp[(int64_t)o2 * Kp + (int64_t)t * cin + ci] = wf[((int64_t)o2 * cin + ci) * k * k + t];
    if (!(o = op_add(c, OP_IM2COL, src, MV_COLS))) return QS_ENOMEM;
    o->B = P->B, o->H = h, o->W = w, o->C = cin, o->k = k, o->stride = stride, o->pad = pad, o->Kp = Kp;
    o->perm = perm;
    need(c, MV_COLS, rows * Kp);
    const int wid = qs_cuda_add_param3(P, wp, (int64_t)co * Kp, NULL, 0, NULL, 0, 0);
    if (!(o = op_add(c, OP_GEMM, MV_COLS, dst))) return QS_ENOMEM;
    if ((o->lin = qs_cuda_add_gemm(P, (int)rows, co, Kp, wid, bid)) < 0) return QS_EINVAL;
  }
  need(c, dst, rows * co);
  if (!depthwise && !defer_act && out_act != QS_CUDA_ACT_NONE) {
    if (!(o = op_add(c, OP_ACT, dst, dst))) return QS_ENOMEM;
    o->act = out_act;
    o->n = rows * co;
  }
  *ho = Ho, *wo = Wo, *cout = co;
  return QS_OK;
}

/* MobileViTInvertedResidual on the current map: expand 1x1 (BN, its SiLU fused into the
 * depthwise loads) -> depthwise (BN + SiLU) -> reduce 1x1 (BN) [+ input]. */
static int inverted_residual(mv_ctx *c, const char *base, int stride) {
  char b[192];
  int h, w, e, h2, w2, e2, cout;
  const int in = c->cur, out = other(c->cur);
  snprintf(b, sizeof b, "%s.expand_1x1", base);
  QS_TRY(conv_layer(c, b, in, c->H, c->W, c->C, 1, 1, 1, QS_CUDA_ACT_NONE, 1, 0, MV_E, &h, &w, &e));
  snprintf(b, sizeof b, "%s.conv_3x3", base);
  QS_TRY(conv_layer(c, b, MV_E, h, w, e, stride, 1, 1, c->act, 0, 0, MV_D, &h2, &w2, &e2));
  snprintf(b, sizeof b, "%s.reduce_1x1", base);
  QS_TRY(conv_layer(c, b, MV_D, h2, w2, e2, 1, 1, 0, QS_CUDA_ACT_NONE, 0, 0, out, &h, &w, &cout));
  if (stride == 1 && cout == c->C && h == c->H && w == c->W) {
    mv_op *o = op_add(c, OP_ADD, in, out);
    if (!o) return QS_ENOMEM;
    o->n = (int64_t)c->P->B * h * w * cout;
  }
  c->cur = out, c->H = h, c->W = w, c->C = cout;
  return QS_OK;
}

/* LayerNorm op: x (+= r), then y = LN(x) with "<gamma>.weight" / ".bias" (y -1: none) */
static int ln_op(mv_ctx *c, int r, const char *norm, int y, int M, int D) {
  mv_op *o = op_add(c, OP_LN, MV_SX, y);
  if (!o) return QS_ENOMEM;
  o->src2 = r;
  o->M = M, o->C = D;
  if (norm) {
    if ((o->w = vec_param(c, D, norm, "weight")) < 0 || (o->b = vec_param(c, D, norm, "bias")) < 0) return QS_EINVAL;
  }
  return QS_OK;
}

static int gemm_op(mv_ctx *c, int lin, int src, int dst) {
  if (lin < 0) return qs_last_code(); /* the Linear's own failure (e.g. unsupported shape) */
  mv_op *o = op_add(c, OP_GEMM, src, dst);
  if (!o) return QS_ENOMEM;
  o->lin = lin;
  need(c, dst, (int64_t)c->P->lins[lin].M * c->P->lins[lin].N);
  return QS_OK;
}

/* MobileViTLayer (stages 2-4) on the current map */
static int mobilevit_layer(mv_ctx *c, const char *base, int nlayers) {
  qs_cuda_plan *P = c->P;
  const qs_arch *a = P->a;
  const int B = P->B, Pt = a->mv_patch;
  char b[192], n1[256], q[256], k[256], v[256];
  int h, w, ct, d, cp;

  snprintf(b, sizeof b, "%s.downsampling_layer", base);
  QS_TRY(inverted_residual(c, b, 2));
  const int H = c->H, W = c->W, C = c->C;
  const int nh = (H + Pt - 1) / Pt * Pt, nw = (W + Pt - 1) / Pt * Pt, resize = nh != H || nw != W;
  const int perm = resize ? 0 : Pt; /* rows in unfold order from conv_kxk on */
  snprintf(b, sizeof b, "%s.conv_kxk", base);
  QS_TRY(conv_layer(c, b, c->cur, H, W, C, 1, 1, 1, QS_CUDA_ACT_NONE, 0, perm, MV_T, &h, &w, &ct));
  snprintf(b, sizeof b, "%s.conv_1x1", base);
  QS_TRY(conv_layer(c, b, MV_T, H, W, ct, 1, 0, 0, QS_CUDA_ACT_NONE, 0, 0, resize ? MV_U : MV_SX, &h, &w, &d));
  const int S = B * Pt * Pt, N = (nh / Pt) * (nw / Pt), M = S * N;
  if (d % a->heads != 0)
    return qs_fail(QS_EINVAL, "%s: %s: width %d is not divisible by %d heads", a->name, base, d, a->heads);
  if (resize) {
    mv_op *o = op_add(c, OP_UNFOLD, MV_U, MV_SX);
    if (!o) return QS_ENOMEM;
    o->B = B, o->H = H, o->W = W, o->C = d, o->perm = Pt, o->Hn = nh, o->Wn = nw;
  }
  need(c, MV_SX, (int64_t)M * d);
  need(c, MV_SH, (int64_t)M * d);

  /* pre-norm transformer layers on S sequences of N tokens (SX residual, SH normalised) */
  snprintf(n1, sizeof n1, "%s.transformer.layer.0.layernorm_before", base);
  QS_TRY(ln_op(c, -1, n1, MV_SH, M, d));
  for (int l = 0; l < nlayers; l++) {
    char lb[224];
    snprintf(lb, sizeof lb, "%s.transformer.layer.%d", base, l);
    snprintf(q, sizeof q, "%s.attention.attention.query", lb);
    snprintf(k, sizeof k, "%s.attention.attention.key", lb);
    snprintf(v, sizeof v, "%s.attention.attention.value", lb);
    QS_TRY(gemm_op(c, qs_cuda_add_qkv(P, M, d, q, k, v), MV_SH, MV_QKV));
    mv_op *o = op_add(c, OP_ATTN, MV_QKV, MV_ATT);
    if (!o) return QS_ENOMEM;
    o->B = S, o->H = N, o->heads = a->heads / P->tp_k, o->hd = d / a->heads; /* this rank's heads */
    need(c, MV_ATT, (int64_t)M * d);
    snprintf(n1, sizeof n1, "%s.attention.output.dense", lb);
    QS_TRY(gemm_op(c, qs_cuda_add_linear(P, M, d, d, n1), MV_ATT, MV_O));
    snprintf(n1, sizeof n1, "%s.layernorm_after", lb);
    QS_TRY(ln_op(c, MV_O, n1, MV_SH, M, d));
    const qs_tensor_spec *fs = NULL;
    if (!tensor(c, &fs, "%s.intermediate.dense.weight", lb)) return QS_EINVAL;
    const int mlp = (int)fs->shape[0];
    snprintf(n1, sizeof n1, "%s.intermediate.dense", lb);
    const int fc1 = qs_cuda_add_linear(P, M, mlp, d, n1);
    QS_TRY(gemm_op(c, fc1, MV_SH, MV_MID));
    if (!(o = op_add(c, OP_ACT, MV_MID, MV_MID))) return QS_ENOMEM;
    o->act = c->act;
    o->n = (int64_t)M * P->lins[fc1].N; /* mlp, or this rank's mlp / tp_k */
    snprintf(n1, sizeof n1, "%s.output.dense", lb);
    QS_TRY(gemm_op(c, qs_cuda_add_linear(P, M, d, mlp, n1), MV_MID, MV_O));
    /* residual, then the next layer's LN1 or the stage's final LayerNorm */
    if (l + 1 < nlayers) snprintf(n1, sizeof n1, "%s.transformer.layer.%d.layernorm_before", base, l + 1);
    else snprintf(n1, sizeof n1, "%s.layernorm", base);
    QS_TRY(ln_op(c, MV_O, n1, MV_SH, M, d));
  }

  /* fold (with the resize back) and conv_projection; its SiLU goes into the concat */
  int proj_src = MV_SH;
  if (resize) {
    mv_op *o = op_add(c, OP_FOLD, MV_SH, MV_U);
    if (!o) return QS_ENOMEM;
    o->B = B, o->H = H, o->W = W, o->C = d, o->perm = Pt, o->Hn = nh, o->Wn = nw;
    need(c, MV_U, (int64_t)B * H * W * d);
    proj_src = MV_U;
  }
  snprintf(b, sizeof b, "%s.conv_projection", base);
  QS_TRY(conv_layer(c, b, proj_src, H, W, d, 1, 1, 1, QS_CUDA_ACT_NONE, 1, 0, MV_T, &h, &w, &cp));
  mv_op *o = op_add(c, OP_CONCAT, c->cur, MV_CAT);
  if (!o) return QS_ENOMEM;
  o->src2 = MV_T;
  o->B = B, o->H = H, o->W = W, o->C = C, o->C2 = cp, o->perm = perm, o->act = c->act;
  need(c, MV_CAT, (int64_t)B * H * W * (C + cp));
  snprintf(b, sizeof b, "%s.fusion", base);
  QS_TRY(conv_layer(c, b, MV_CAT, H, W, C + cp, 1, 1, 1, QS_CUDA_ACT_NONE, 0, 0, other(c->cur), &h, &w, &ct));
  c->cur = other(c->cur), c->C = ct;
  return QS_OK;
}

int qs_mv_describe(qs_cuda_plan *P) {
  const qs_arch *a = P->a;
  const char *pre = a->prefix;
  static const int nlayers[3] = {2, 4, 3}; /* transformer layers of stages 2, 3, 4 (fixed in HF) */
  char b[96];
  mv_ctx c;
  memset(&c, 0, sizeof c);
  c.P = P;
  if (!(c.mv = P->mv = qs_calloc(1, sizeof *c.mv))) return QS_ENOMEM;
  switch (a->act) {
    case QS_ACT_SILU: c.act = QS_CUDA_ACT_SILU; break;
    case QS_ACT_GELU: c.act = QS_CUDA_ACT_GELU; break;
    default: return qs_fail(QS_EUNSUPPORTED, "%s: cuda: MobileViT activation %d is not implemented", a->name, (int)a->act);
  }
  const int B = P->B, S = P->S;
  int h, w, co;

  /* NCHW fp32 input -> NHWC in dt, then the 3x3 stride-2 stem */
  mv_op *o = op_add(&c, OP_NCHW, MV_IN, MV_E);
  if (!o) return QS_ENOMEM;
  o->B = B, o->C = P->C, o->H = S, o->W = S;
  need(&c, MV_E, (int64_t)B * S * S * P->C);
  c.cur = MV_F0;
  snprintf(b, sizeof b, "%sconv_stem", pre);
  QS_TRY(conv_layer(&c, b, MV_E, S, S, P->C, 2, 1, 1, QS_CUDA_ACT_NONE, 0, 0, MV_F0, &h, &w, &co));
  c.H = h, c.W = w, c.C = co;
  snprintf(b, sizeof b, "%sencoder.layer.0.layer.0", pre);
  QS_TRY(inverted_residual(&c, b, 1));
  for (int j = 0; j < 3; j++) {
    snprintf(b, sizeof b, "%sencoder.layer.1.layer.%d", pre, j);
    QS_TRY(inverted_residual(&c, b, j == 0 ? 2 : 1));
  }
  for (int k = 2; k <= 4; k++) {
    snprintf(b, sizeof b, "%sencoder.layer.%d", pre, k);
    QS_TRY(mobilevit_layer(&c, b, nlayers[k - 2]));
  }
  /* conv_1x1_exp (its SiLU fused into the pool), mean over H, W, classifier */
  snprintf(b, sizeof b, "%sconv_1x1_exp", pre);
  QS_TRY(conv_layer(&c, b, c.cur, c.H, c.W, c.C, 1, 1, 1, QS_CUDA_ACT_NONE, 1, 0, MV_E, &h, &w, &co));
  if (!(o = op_add(&c, OP_POOL, MV_E, MV_POOLED))) return QS_ENOMEM;
  o->B = B, o->H = h * w, o->C = co, o->act = c.act;
  need(&c, MV_POOLED, (int64_t)B * co);
  QS_TRY(gemm_op(&c, qs_cuda_add_linear(P, B, a->num_labels, co, "classifier"), MV_POOLED, MV_LOGITS));
  if (!(o = op_add(&c, OP_OUT, MV_LOGITS, MV_OUT))) return QS_ENOMEM;
  o->n = (int64_t)B * a->num_labels;
  P->out_dim = a->num_labels;
  return QS_OK;
}

int qs_mv_layout(qs_cuda_plan *P, qs_arena *A) {
  struct qs_mv_plan *mv = P->mv;
  for (int i = 0; i < MV_NBUF; i++) {
    mv->buf[i] = NULL;
    if (mv->need[i] && !(mv->buf[i] = qs_arena_alloc(A, mv->need[i])))
      return qs_fail(QS_EINTERNAL, "%s: arena: %zu bytes do not fit the plan's layout", P->a->name, mv->need[i]);
  }
  return QS_OK;
}

static void *bufp(const qs_cuda_plan *P, int b) {
  if (b == MV_IN) return P->in32;
  if (b == MV_OUT) return P->out32;
  return b >= 0 && b < MV_NBUF ? P->mv->buf[b] : NULL;
}

int qs_mv_record(const qs_cuda_plan *P) {
  const struct qs_mv_plan *mv = P->mv;
  const qs_dtype dt = P->dt;
  const cudaStream_t s = P->stream;
  const float eps = P->a->ln_eps;
  for (int i = 0; i < mv->nops; i++) {
    const mv_op *o = &mv->ops[i];
    void *x = bufp(P, o->src), *x2 = bufp(P, o->src2), *y = bufp(P, o->dst);
    switch (o->kind) {
      case OP_NCHW: QS_TRY(qs_nchw_to_nhwc_launch(dt, x, y, o->B, o->C, o->H, o->W, s)); break;
      case OP_IM2COL:
        QS_TRY(qs_im2col_nhwc_launch(dt, x, y, o->B, o->H, o->W, o->C, o->k, o->stride, o->pad, o->Kp, o->perm, s));
        break;
      case OP_GEMM: QS_TRY(qs_cuda_linear_run(P, o->lin, x, y)); break;
      case OP_ACT: QS_TRY(qs_act_launch(dt, o->act, y, o->n, s)); break;
      case OP_DW:
        QS_TRY(qs_dwconv_launch(dt, x, qs_cuda_dptr(P, o->w), qs_cuda_dptr(P, o->b), y, o->B, o->H, o->W, o->C, o->k,
                                o->stride, o->pad, o->act, o->act2, s));
        break;
      case OP_ADD: QS_TRY(qs_add_launch(dt, y, x, o->n, s)); break;
      case OP_UNFOLD:
        QS_TRY(qs_unfold_resize_launch(dt, x, y, o->B, o->H, o->W, o->C, o->perm, o->Hn, o->Wn, s));
        break;
      case OP_FOLD: QS_TRY(qs_fold_resize_launch(dt, x, y, o->B, o->Hn, o->Wn, o->C, o->perm, o->H, o->W, s)); break;
      case OP_CONCAT:
        QS_TRY(qs_concat_launch(dt, x, x2, y, o->B, o->H, o->W, o->C, o->C2, o->perm, o->act, s));
        break;
      case OP_LN:
        QS_TRY(qs_layernorm_launch(dt, x, x2, NULL, qs_cuda_dptr(P, o->w), qs_cuda_dptr(P, o->b), y, o->M, o->C, eps,
                                   s));
        break;
      case OP_ATTN: QS_TRY(qs_attention_launch(dt, x, NULL, 0, y, o->B, o->H, o->heads, o->hd, s)); break;
      case OP_POOL: QS_TRY(qs_avgpool_launch(dt, x, y, o->B, o->H, o->C, o->act, s)); break;
      case OP_OUT: QS_TRY(qs_to_f32_launch(dt, x, y, o->n, s)); break;
    }
  }
  return QS_OK;
}
