/* cpu_backend.c - the CPU reference backend's plan (the weights as a precision sees
 * them: fp16- or bf16-rounded copies, quantized layers, tensor-parallel shards) and what the
 * family forwards share: tensor lookups, the Linear in every precision, the pre-norm
 * transformer block. The forwards are in cpu_forward.c (qs_cpu_forward and the
 * transformer families) and cpu_mobilevit.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "qs_common.h"
#include "qs_half.h"
#include "quant.h"

/* ---- plan -------------------------------------------------------------------- */

int qs_cpu_plan_create(const qs_model *m, const qs_prec_opts *po, qs_cpu_plan **out) {
  return qs_cpu_plan_create_tp(m, po, NULL, out);
}

int qs_cpu_plan_create_tp(const qs_model *m, const qs_prec_opts *po, const qs_tp_group *g, qs_cpu_plan **out) {
  const int k = g ? g->size : 1;
  if (k > 1) {
    if (g->rank < 0 || g->rank >= k || !g->allreduce_sum)
      return qs_fail(QS_EINVAL, "%s: tp rank %d of %d: not a valid group", m->arch.name, g->rank, k);
    QS_TRY(qs_tp_check_arch(&m->arch, k));
  }
  qs_cpu_plan *p = qs_calloc(1, sizeof *p);
  if (!p) return QS_ENOMEM;
  p->m = m;
  p->p = *po;
  p->tp.size = 1;
  p->w = qs_calloc((size_t)m->n, sizeof *p->w);
  p->q = qs_calloc((size_t)m->n, sizeof *p->q);
  if (!p->w || !p->q) {
    qs_cpu_plan_free(p);
    return QS_ENOMEM;
  }
  if (k > 1) {
    p->tp = *g;
    p->shape = qs_calloc((size_t)m->n, sizeof *p->shape);
    p->numel = qs_calloc((size_t)m->n, sizeof *p->numel);
    p->stats = qs_calloc(1, sizeof *p->stats);
    if (!p->shape || !p->numel || !p->stats) {
      qs_cpu_plan_free(p);
      return QS_ENOMEM;
    }
  }
  for (int i = 0; i < m->n; i++) {
    const qs_tensor_spec *s = &m->specs[i];
    float *src = m->t[i].data;
    if (!src) continue;
    int64_t n = qs_spec_numel(s);
    int64_t rows = s->shape[0], cols = s->ndim == 2 ? s->shape[1] : 1;
    float *own = NULL; /* this rank's shard (tp > 1) */
    if (k > 1) {
      qs_tp_role role = qs_tp_role_of(s->name);
      if (role != QS_TP_REPLICATED) {
        if (!(own = qs_tp_shard_copy(src, rows, cols, role, g->rank, k, &rows, &cols))) {
          qs_cpu_plan_free(p);
          return qs_fail(QS_ENOMEM, "%s: out of host memory", m->arch.name);
        }
        src = own;
        n = rows * cols;
      }
      p->shape[i][0] = rows;
      p->shape[i][1] = cols;
      p->numel[i] = n;
    }
    if (po->prec != QS_PREC_FP32 && po->prec != QS_PREC_FP16 && po->prec != QS_PREC_BF16 && s->quantized) {
      if (po->prec == QS_PREC_INT8) {
        qs_int8_matrix *q = qs_calloc(1, sizeof *q);
        if (!q || qs_int8_quantize_weight(src, rows, cols, q) != QS_OK) {
          free(q);
          free(own);
          qs_cpu_plan_free(p);
          return qs_fail(QS_ENOMEM, "%s: %s: int8 quantization failed", m->arch.name, s->name);
        }
        p->q[i] = q;
        free(own);
        continue;
      }
      if (po->prec == QS_PREC_FP8) {
        qs_fp8_matrix *q = qs_calloc(1, sizeof *q);
        if (!q || qs_fp8_quantize_weight(src, rows, cols, q) != QS_OK) {
          free(q);
          free(own);
          qs_cpu_plan_free(p);
          return qs_fail(QS_EINVAL, "%s: %s: fp8 quantization failed: %s", m->arch.name, s->name, qs_last_error());
        }
        p->q[i] = q;
        free(own);
        continue;
      }
      if (po->prec == QS_PREC_INT8DYN) {
        qs_int8_matrix *q = qs_calloc(1, sizeof *q);
        if (!q || qs_int8_quantize_weight(src, rows, cols, q) != QS_OK) {
          free(q);
          free(own);
          qs_cpu_plan_free(p);
          return qs_fail(QS_EINVAL, "%s: %s: int8dyn quantization failed: %s", m->arch.name, s->name,
                         qs_last_error());
        }
        p->q[i] = q;
        free(own);
        continue;
      }
      if (po->prec == QS_PREC_NF4) {
        qs_nf4_matrix *q = qs_calloc(1, sizeof *q);
        if (!q || qs_nf4_quantize(src, rows, cols, po->nf4_block, po->nf4_double_quant, q) != QS_OK) {
          free(q);
          free(own);
          qs_cpu_plan_free(p);
          return qs_fail(QS_EINVAL, "%s: %s: nf4 quantization failed: %s", m->arch.name, s->name, qs_last_error());
        }
        p->q[i] = q;
        free(own);
        continue;
      }
    }
    const int rnd = qs_precision_storage(po->prec);
    if (po->prec == QS_PREC_FP32) {
      p->w[i] = own ? own : src;
    } else if (own) {
      for (int64_t j = 0; j < n; j++) own[j] = qs_round_to(rnd, own[j]);
      p->w[i] = own;
    } else {
      /* every other precision computes in fp16 (bf16 under bf16): keep a rounded copy */
      float *c = malloc((size_t)n * sizeof(float) + 1);
      if (!c) {
        qs_cpu_plan_free(p);
        return qs_fail(QS_ENOMEM, "%s: out of host memory", m->arch.name);
      }
      for (int64_t j = 0; j < n; j++) c[j] = qs_round_to(rnd, src[j]);
      p->w[i] = c;
    }
  }
  *out = p;
  return QS_OK;
}

double qs_cpu_plan_allreduce_s(const qs_cpu_plan *p) { return p->stats ? p->stats->allreduce_s : 0.0; }

void qs_cpu_plan_reset_allreduce(qs_cpu_plan *p) {
  if (p->stats) memset(p->stats, 0, sizeof *p->stats);
}

/* [rows, cols] and values of tensor i as this rank holds it */
static void held_shape(const qs_cpu_plan *p, int i, int64_t *rows, int64_t *cols, int64_t *numel) {
  const qs_tensor_spec *s = &p->m->specs[i];
  if (p->shape) {
    *rows = p->shape[i][0];
    *cols = p->shape[i][1];
    *numel = p->numel[i];
  } else {
    *rows = s->shape[0];
    *cols = s->ndim == 2 ? s->shape[1] : 1;
    *numel = qs_spec_numel(s);
  }
}

void qs_cpu_plan_free(qs_cpu_plan *p) {
  if (!p) return;
  for (int i = 0; p->w && i < p->m->n; i++)
    if (p->w[i] && p->w[i] != p->m->t[i].data) free(p->w[i]);
  for (int i = 0; p->q && i < p->m->n; i++) {
    if (!p->q[i]) continue;
    if (p->p.prec == QS_PREC_INT8 || p->p.prec == QS_PREC_INT8DYN) qs_int8_free(p->q[i]);
    if (p->p.prec == QS_PREC_NF4) qs_nf4_free(p->q[i]);
    if (p->p.prec == QS_PREC_FP8) qs_fp8_free(p->q[i]);
    free(p->q[i]);
  }
  free(p->w);
  free(p->q);
  free(p->shape);
  free(p->numel);
  free(p->stats);
  free(p);
}

void qs_cpu_plan_qweight_bytes(const qs_cpu_plan *p, size_t *bytes, size_t *fp32_bytes) {
  size_t b = 0, f = 0;
  for (int i = 0; i < p->m->n; i++) {
    const qs_tensor_spec *s = &p->m->specs[i];
    if (!s->quantized || !p->m->t[i].data) continue;
    int64_t rows, cols, numel;
    held_shape(p, i, &rows, &cols, &numel);
    size_t n = (size_t)numel;
    f += 4 * n;
    b += (size_t)qs_prec_qweight_bytes(&p->p, rows, cols);
  }
  *bytes = b;
  *fp32_bytes = f;
}

size_t qs_cpu_plan_weight_bytes(const qs_cpu_plan *p) {
  size_t qb, qf, other = 0;
  qs_cpu_plan_qweight_bytes(p, &qb, &qf);
  size_t elem = (size_t)qs_prec_other_elem_bytes(p->p.prec);
  for (int i = 0; i < p->m->n; i++) {
    const qs_tensor_spec *s = &p->m->specs[i];
    if (s->quantized || !p->m->t[i].data) continue;
    int64_t rows, cols, numel;
    held_shape(p, i, &rows, &cols, &numel);
    other += elem * (size_t)numel;
  }
  return qb + other;
}

/* ---- helpers ------------------------------------------------------------------- */

int qs_cpu_find(const qs_cpu_plan *p, const char *name) {
  for (int i = 0; i < p->m->n; i++)
    if (strcmp(p->m->specs[i].name, name) == 0) return i;
  return -1;
}

const float *qs_cpu_w(const qs_cpu_plan *p, const char *fmt, ...) {
  char name[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  int i = qs_cpu_find(p, name);
  if (i < 0 || !p->w[i]) {
    qs_fail(QS_EINVAL, "%s: %s: tensor missing", p->m->arch.name, name);
    return NULL;
  }
  return p->w[i];
}

int qs_cpu_storage(const qs_cpu_plan *p) { return qs_precision_storage(p->p.prec); }

void qs_cpu_round(const qs_cpu_plan *p, float *x, int64_t n) {
  const int rnd = qs_cpu_storage(p);
  if (rnd == QS_ROUND_NONE) return;
  for (int64_t i = 0; i < n; i++) x[i] = qs_round_to(rnd, x[i]);
}

int qs_cpu_gemm(const qs_cpu_plan *p, const float *x, const float *w, const float *bias, int64_t M, int64_t N,
                int64_t K, float *y) {
  switch (qs_cpu_storage(p)) {
    case QS_ROUND_NONE: qs_cpu_gemm_nt(x, w, bias, M, N, K, y); return QS_OK;
    case QS_ROUND_BF16: return qs_gemm_bf16_ref(x, w, bias, M, N, K, y);
    default: return qs_gemm_f16_ref(x, w, bias, M, N, K, y);
  }
}

/* qs_cpu_linear; use_bias 0 leaves the bias out (a column-split Linear adds it after the all-reduce) */
static int linear_ex(const qs_cpu_plan *p, const char *base, const float *x, int64_t M, int64_t K, int64_t N, float *y,
                     int use_bias) {
  char name[512];
  snprintf(name, sizeof name, "%s.weight", base);
  int wi = qs_cpu_find(p, name);
  if (wi < 0) return qs_fail(QS_EINVAL, "%s: %s: tensor missing", p->m->arch.name, name);
  const qs_tensor_spec *s = &p->m->specs[wi];
  int64_t rows, cols, numel;
  held_shape(p, wi, &rows, &cols, &numel);
  if (s->ndim != 2 || rows != N || cols != K)
    return qs_fail(QS_EINTERNAL, "%s: %s: shape is not [%lld, %lld]", p->m->arch.name, name, (long long)N, (long long)K);
  snprintf(name, sizeof name, "%s.bias", base);
  int bi = use_bias ? qs_cpu_find(p, name) : -1;
  const float *bias = bi >= 0 ? p->w[bi] : NULL;
  switch (p->p.prec) {
    case QS_PREC_FP32: qs_cpu_gemm_nt(x, p->w[wi], bias, M, N, K, y); return QS_OK;
    case QS_PREC_FP16: return qs_gemm_f16_ref(x, p->w[wi], bias, M, N, K, y);
    case QS_PREC_INT8:
      if (p->q[wi])
        return qs_int8_linear_ref(x, M, p->q[wi], bias, p->p.int8_threshold, y, NULL, NULL, NULL);
      return qs_gemm_f16_ref(x, p->w[wi], bias, M, N, K, y);
    case QS_PREC_NF4:
      if (p->q[wi]) return qs_nf4_linear_ref(x, p->q[wi], bias, M, y);
      return qs_gemm_f16_ref(x, p->w[wi], bias, M, N, K, y);
    case QS_PREC_BF16: return qs_gemm_bf16_ref(x, p->w[wi], bias, M, N, K, y);
    case QS_PREC_FP8:
      if (p->q[wi]) return qs_fp8_linear_ref(x, M, p->q[wi], bias, y, NULL, NULL);
      return qs_gemm_f16_ref(x, p->w[wi], bias, M, N, K, y);
    case QS_PREC_INT8DYN:
      if (p->q[wi]) return qs_int8dyn_linear_ref(x, M, p->q[wi], bias, y, NULL);
      return qs_gemm_f16_ref(x, p->w[wi], bias, M, N, K, y);
    default: return qs_fail(QS_EUNSUPPORTED, "precision not supported by the cpu backend");
  }
}

int qs_cpu_linear(const qs_cpu_plan *p, const char *base, const float *x, int64_t M, int64_t K, int64_t N, float *y) {
  return linear_ex(p, base, x, M, K, N, y, 1);
}

void qs_block_names_vit(qs_block_names *n, const char *b) {
  snprintf(n->ln1, sizeof n->ln1, "%s.layernorm_before", b);
  snprintf(n->ln2, sizeof n->ln2, "%s.layernorm_after", b);
  snprintf(n->q, sizeof n->q, "%s.attention.attention.query", b);
  snprintf(n->k, sizeof n->k, "%s.attention.attention.key", b);
  snprintf(n->v, sizeof n->v, "%s.attention.attention.value", b);
  snprintf(n->o, sizeof n->o, "%s.attention.output.dense", b);
  snprintf(n->fc1, sizeof n->fc1, "%s.intermediate.dense", b);
  snprintf(n->fc2, sizeof n->fc2, "%s.output.dense", b);
  n->ls1[0] = n->ls2[0] = '\0';
}

void qs_block_names_dinov2(qs_block_names *n, const char *b) {
  qs_block_names_vit(n, b);
  snprintf(n->ln1, sizeof n->ln1, "%s.norm1", b);
  snprintf(n->ln2, sizeof n->ln2, "%s.norm2", b);
  snprintf(n->fc1, sizeof n->fc1, "%s.mlp.fc1", b);
  snprintf(n->fc2, sizeof n->fc2, "%s.mlp.fc2", b);
  snprintf(n->ls1, sizeof n->ls1, "%s.layer_scale1.lambda1", b);
  snprintf(n->ls2, sizeof n->ls2, "%s.layer_scale2.lambda1", b);
}

int qs_cpu_layernorm_named(const qs_cpu_plan *p, const char *base, const float *x, int64_t M, int64_t D, float eps,
                           float *y) {
  const float *g = qs_cpu_w(p, "%s.weight", base);
  const float *b = qs_cpu_w(p, "%s.bias", base);
  if (!g || !b) return QS_EINVAL;
  qs_cpu_layernorm(x, g, b, M, D, eps, y);
  qs_cpu_round(p, y, M * D);
  return QS_OK;
}

/* x += ls * y (ls optional), rounded to the compute dtype */
static void residual_add(const qs_cpu_plan *p, float *x, const float *y, const float *ls, int64_t M, int64_t D) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t d = 0; d < D; d++) {
      float v = ls ? ls[d] * y[m * D + d] : y[m * D + d];
      if (ls) v = qs_round_to(qs_cpu_storage(p), v);
      x[m * D + d] += v;
    }
  qs_cpu_round(p, x, M * D);
}

/* The all-reduce after a column-split Linear: y[M, D] = sum over the group of the
 * partial products, then the (replicated) bias of "<base>.bias" once. Under fp16
 * (bf16) compute the sum is rounded to fp16 (bf16) before the bias, and again after
 * it, as the unsplit GEMM rounds its biased result (quant.h sections 1 and 4). */
static int reduce_add_bias(const qs_cpu_plan *p, const char *base, float *y, int64_t M, int64_t D) {
  const double t0 = qs_now_s();
  int rc = p->tp.allreduce_sum(p->tp.ctx, y, M * D);
  p->stats->allreduce_s += qs_now_s() - t0;
  p->stats->n_allreduce++;
  if (rc != QS_OK) return rc;
  char name[512];
  snprintf(name, sizeof name, "%s.bias", base);
  int bi = qs_cpu_find(p, name);
  const float *b = bi >= 0 ? p->w[bi] : NULL;
  if (p->p.prec == QS_PREC_FP32) {
    if (b)
      for (int64_t m = 0; m < M; m++)
        for (int64_t d = 0; d < D; d++) y[m * D + d] += b[d];
    return QS_OK;
  }
  qs_cpu_round(p, y, M * D);
  if (b)
    for (int64_t m = 0; m < M; m++)
      for (int64_t d = 0; d < D; d++) y[m * D + d] = qs_round_to(qs_cpu_storage(p), y[m * D + d] + b[d]);
  return QS_OK;
}

/* qs_cpu_block on tp rank r of k: heads [r*H/k, (r+1)*H/k) and the same slice of the
 * MLP's hidden features; two all-reduces (tp.h). */
static int block_tp(const qs_cpu_plan *p, const qs_block_names *nm, float *x, int B, int N, int D, int H, int mlp,
                    float eps, qs_act act, const float *rel_bias) {
  const int k = p->tp.size, r = p->tp.rank;
  if (H % k || mlp % k || D % H)
    return qs_fail(QS_EUNSUPPORTED, "%s: tp %d: %d heads / MLP width %d do not split", p->m->arch.name, k, H, mlp);
  const int Hl = H / k, hd = D / H, Dl = Hl * hd, ml = mlp / k;
  const int64_t M = (int64_t)B * N;
  float *buf = malloc(sizeof(float) * (size_t)M * ((size_t)D + 4 * (size_t)Dl + (size_t)ml));
  if (!buf) return qs_fail(QS_ENOMEM, "%s: out of host memory for activations", p->m->arch.name);
  float *h = buf, *q = h + M * D, *kk = q + M * Dl, *v = kk + M * Dl, *att = v + M * Dl, *mid = att + M * Dl;
  int rc = QS_OK;
  const float *ls1 = NULL, *ls2 = NULL;
  if (nm->ls1[0] && !(ls1 = qs_cpu_w(p, "%s", nm->ls1))) rc = QS_EINVAL;
  if (rc == QS_OK && nm->ls2[0] && !(ls2 = qs_cpu_w(p, "%s", nm->ls2))) rc = QS_EINVAL;
  if (rc == QS_OK) rc = qs_cpu_layernorm_named(p, nm->ln1, x, M, D, eps, h);
  if (rc == QS_OK) rc = linear_ex(p, nm->q, h, M, D, Dl, q, 1);
  if (rc == QS_OK) rc = linear_ex(p, nm->k, h, M, D, Dl, kk, 1);
  if (rc == QS_OK) rc = linear_ex(p, nm->v, h, M, D, Dl, v, 1);
  if (rc == QS_OK) {
    qs_cpu_attention(q, kk, v, rel_bias ? rel_bias + (size_t)r * Hl * N * N : NULL, B, N, Hl, hd, att);
    qs_cpu_round(p, att, M * Dl);
    rc = linear_ex(p, nm->o, att, M, Dl, D, h, 0);
  }
  if (rc == QS_OK) rc = reduce_add_bias(p, nm->o, h, M, D);
  if (rc == QS_OK) {
    residual_add(p, x, h, ls1, M, D);
    rc = qs_cpu_layernorm_named(p, nm->ln2, x, M, D, eps, h);
  }
  if (rc == QS_OK) rc = linear_ex(p, nm->fc1, h, M, D, ml, mid, 1);
  if (rc == QS_OK) {
    qs_cpu_act(mid, M * ml, act);
    qs_cpu_round(p, mid, M * ml);
    rc = linear_ex(p, nm->fc2, mid, M, ml, D, h, 0);
  }
  if (rc == QS_OK) rc = reduce_add_bias(p, nm->fc2, h, M, D);
  if (rc == QS_OK) residual_add(p, x, h, ls2, M, D);
  free(buf);
  return rc;
}

int qs_cpu_block(const qs_cpu_plan *p, const qs_block_names *nm, float *x, int B, int N, int D, int H, int mlp,
                 float eps, qs_act act, const float *rel_bias) {
  const int64_t M = (int64_t)B * N;
  if (p->tp.size > 1) return block_tp(p, nm, x, B, N, D, H, mlp, eps, act, rel_bias);
  float *buf = malloc(sizeof(float) * (size_t)M * (5 * (size_t)D + (size_t)mlp));
  if (!buf) return qs_fail(QS_ENOMEM, "%s: out of host memory for activations", p->m->arch.name);
  float *h = buf, *q = h + M * D, *k = q + M * D, *v = k + M * D, *att = v + M * D, *mid = att + M * D;
  int rc = QS_OK;
  const float *ls1 = NULL, *ls2 = NULL;
  if (nm->ls1[0] && !(ls1 = qs_cpu_w(p, "%s", nm->ls1))) rc = QS_EINVAL;
  if (rc == QS_OK && nm->ls2[0] && !(ls2 = qs_cpu_w(p, "%s", nm->ls2))) rc = QS_EINVAL;
  if (rc == QS_OK) rc = qs_cpu_layernorm_named(p, nm->ln1, x, M, D, eps, h);
  if (rc == QS_OK) rc = qs_cpu_linear(p, nm->q, h, M, D, D, q);
  if (rc == QS_OK) rc = qs_cpu_linear(p, nm->k, h, M, D, D, k);
  if (rc == QS_OK) rc = qs_cpu_linear(p, nm->v, h, M, D, D, v);
  if (rc == QS_OK) {
    qs_cpu_attention(q, k, v, rel_bias, B, N, H, D / H, att);
    qs_cpu_round(p, att, M * D);
    rc = qs_cpu_linear(p, nm->o, att, M, D, D, h);
  }
  if (rc == QS_OK) {
    residual_add(p, x, h, ls1, M, D);
    rc = qs_cpu_layernorm_named(p, nm->ln2, x, M, D, eps, h);
  }
  if (rc == QS_OK) rc = qs_cpu_linear(p, nm->fc1, h, M, D, mlp, mid);
  if (rc == QS_OK) {
    qs_cpu_act(mid, M * mlp, act);
    qs_cpu_round(p, mid, M * mlp);
    rc = qs_cpu_linear(p, nm->fc2, mid, M, mlp, D, h);
  }
  if (rc == QS_OK) residual_add(p, x, h, ls2, M, D);
  free(buf);
  return rc;
}
