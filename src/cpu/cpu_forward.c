/* cpu_forward.c - the CPU reference forward: qs_cpu_forward, and the transformer
 * families (ViT, DeiT, DINO, DINOv2, BEiT); MobileViT is in cpu_mobilevit.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "qs_common.h"
#include "quant.h"

/* ---- transformer families --------------------------------------------------- */

/* BEiT relative position bias [H, N, N] from a table [(2g-1)^2 + 3, H]. */
static void beit_rel_bias(const float *table, int g, int H, float *bias) {
  const int N = g * g + 1, span = 2 * g - 1, nrel = span * span + 3;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      int idx;
      if (i == 0 && j == 0) idx = nrel - 1;
      else if (i == 0) idx = nrel - 3; /* CLS as query */
      else if (j == 0) idx = nrel - 2; /* CLS as key */
      else {
        int yi = (i - 1) / g, xi = (i - 1) % g, yj = (j - 1) / g, xj = (j - 1) % g;
        idx = (yi - yj + g - 1) * span + (xi - xj + g - 1);
      }
      for (int h = 0; h < H; h++) bias[((size_t)h * N + i) * N + j] = table[(size_t)idx * H + h];
    }
}

static int forward_transformer(qs_cpu_plan *p, int B, const float *input, float *out) {
  const qs_model *m = p->m;
  const qs_arch *a = &m->arch;
  const char *pre = a->prefix;
  const int D = a->hidden, H = a->heads, P = a->patch_size, C = a->num_channels, S = a->input_size;
  const int g = S / P, np = g * g, extra = 1 + (a->family == QS_FAM_DEIT), N = np + extra;
  const int64_t KP = (int64_t)C * P * P;
  int rc = QS_OK;

  float *x = malloc(sizeof(float) * (size_t)B * N * D);
  float *cols = malloc(sizeof(float) * (size_t)B * np * KP);
  float *pe = malloc(sizeof(float) * (size_t)B * (np + 2) * D);
  float *rel = NULL, *pos = NULL;
  if (!x || !cols || !pe) {
    rc = qs_fail(QS_ENOMEM, "%s: out of host memory", a->name);
    goto done;
  }
  /* patch embedding as a GEMM: each patch vector ordered (c, ky, kx) */
  for (int b = 0; b < B; b++)
    for (int py = 0; py < g; py++)
      for (int px = 0; px < g; px++) {
        float *col = cols + ((size_t)b * np + (size_t)py * g + px) * KP;
        for (int c = 0; c < C; c++)
          for (int ky = 0; ky < P; ky++)
            for (int kx = 0; kx < P; kx++)
              col[((size_t)c * P + ky) * P + kx] = input[(((size_t)b * C + c) * S + py * P + ky) * S + px * P + kx];
      }
  qs_cpu_round(p, cols, (int64_t)B * np * KP);
  {
    char base[256];
    snprintf(base, sizeof base, "%sembeddings.patch_embeddings.projection", pre);
    /* the conv weight [D, C, P, P] is the Linear weight [D, C*P*P] */
    char wname[300];
    snprintf(wname, sizeof wname, "%s.weight", base);
    const float *w = qs_cpu_w(p, "%s", wname), *bias = qs_cpu_w(p, "%s.bias", base);
    if (!w || !bias) {
      rc = QS_EINVAL;
      goto done;
    }
    if ((rc = qs_cpu_gemm(p, cols, w, bias, (int64_t)B * np, D, KP, pe)) != QS_OK) goto done;
  }
  /* tokens: [CLS] ([DIST]) patches, then absolute positions */
  {
    const float *cls = qs_cpu_w(p, "%sembeddings.cls_token", pre);
    const float *dist = a->family == QS_FAM_DEIT ? qs_cpu_w(p, "%sembeddings.distillation_token", pre) : NULL;
    if (!cls || (a->family == QS_FAM_DEIT && !dist)) {
      rc = QS_EINVAL;
      goto done;
    }
    for (int b = 0; b < B; b++) {
      float *xb = x + (size_t)b * N * D;
      memcpy(xb, cls, sizeof(float) * D);
      if (dist) memcpy(xb + D, dist, sizeof(float) * D);
      memcpy(xb + (size_t)extra * D, pe + (size_t)b * np * D, sizeof(float) * (size_t)np * D);
    }
  }
  if (a->abs_pos) {
    const float *tab = qs_cpu_w(p, "%sembeddings.position_embeddings", pre);
    if (!tab) {
      rc = QS_EINVAL;
      goto done;
    }
    const float *use = tab;
    if (g != a->pos_grid) {
      /* another resolution than the table's (DINOv2; ViT and DeiT as HF's
       * interpolate_pos_encoding): bicubic resize of the patch grid, the CLS (and
       * distillation) rows kept */
      pos = malloc(sizeof(float) * (size_t)N * D);
      /* resize from the fp32 table (PyTorch interpolates in fp32), then round */
      char pname[256];
      snprintf(pname, sizeof pname, "%sembeddings.position_embeddings", pre);
      if (!pos || qs_cpu_resize_pos_table(qs_model_find(m, pname), D, extra, a->pos_grid, g, pos) != QS_OK) {
        rc = qs_fail(QS_ENOMEM, "%s: out of host memory", a->name);
        goto done;
      }
      qs_cpu_round(p, pos, (int64_t)N * D);
      use = pos;
    }
    for (int b = 0; b < B; b++)
      for (int64_t i = 0; i < (int64_t)N * D; i++) x[(size_t)b * N * D + i] += use[i];
  }
  qs_cpu_round(p, x, (int64_t)B * N * D);

  if (a->family == QS_FAM_BEIT) {
    rel = malloc(sizeof(float) * (size_t)H * N * N);
    if (!rel) {
      rc = qs_fail(QS_ENOMEM, "%s: out of host memory", a->name);
      goto done;
    }
  }
  for (int l = 0; l < a->layers && rc == QS_OK; l++) {
    char base[160];
    qs_block_names nm;
    snprintf(base, sizeof base, "%sencoder.layer.%d", pre, l);
    if (a->family == QS_FAM_DINOV2) qs_block_names_dinov2(&nm, base);
    else qs_block_names_vit(&nm, base);
    if (a->family == QS_FAM_BEIT && a->layerscale) {
      snprintf(nm.ls1, sizeof nm.ls1, "%s.lambda_1", base);
      snprintf(nm.ls2, sizeof nm.ls2, "%s.lambda_2", base);
    }
    const float *bias = NULL;
    if (a->family == QS_FAM_BEIT && (a->rel_pos_per_layer || a->rel_pos_shared)) {
      const float *table = a->rel_pos_per_layer
          ? qs_cpu_w(p, "%s.attention.attention.relative_position_bias.relative_position_bias_table", base)
          : qs_cpu_w(p, "%sencoder.relative_position_bias.relative_position_bias_table", pre);
      if (!table) {
        rc = QS_EINVAL;
        break;
      }
      if (g != a->pos_grid) { /* another resolution: the table resized as HF does */
        const size_t nr = (size_t)(2 * g - 1) * (2 * g - 1) + 3;
        float *rt = malloc(sizeof(float) * nr * H);
        if (!rt || qs_cpu_resize_rel_table(table, H, a->pos_grid, g, rt) != QS_OK) {
          free(rt);
          rc = rt ? QS_EINVAL : QS_ENOMEM;
          break;
        }
        beit_rel_bias(rt, g, H, rel);
        free(rt);
      } else {
        beit_rel_bias(table, g, H, rel);
      }
      bias = rel;
    }
    rc = qs_cpu_block(p, &nm, x, B, N, D, H, a->mlp, a->ln_eps, a->act, bias);
  }
  if (rc != QS_OK) goto done;

  /* heads */
  {
    float *pooled = pe; /* reuse: [B, D] (pe holds B*np*D >= 2*B*D) */
    float *tmp = pe + (size_t)B * D;
    if (a->family == QS_FAM_BEIT) {
      for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
          double s = 0.0;
          for (int t = 1; t < N; t++) s += x[((size_t)b * N + t) * D + d];
          pooled[(size_t)b * D + d] = (float)(s / (N - 1));
        }
      qs_cpu_round(p, pooled, (int64_t)B * D);
      char ln[256];
      snprintf(ln, sizeof ln, "%spooler.layernorm", pre);
      if ((rc = qs_cpu_layernorm_named(p, ln, pooled, B, D, a->ln_eps, pooled)) != QS_OK) goto done;
      if (a->output == QS_OUT_POOLER) {
        memcpy(out, pooled, sizeof(float) * (size_t)B * D);
      } else {
        rc = qs_cpu_linear(p, "classifier", pooled, B, D, a->num_labels, out);
      }
      goto done;
    }
    char ln[256];
    snprintf(ln, sizeof ln, "%slayernorm", pre);
    if ((rc = qs_cpu_layernorm_named(p, ln, x, (int64_t)B * N, D, a->ln_eps, x)) != QS_OK) goto done;
    for (int b = 0; b < B; b++) memcpy(pooled + (size_t)b * D, x + (size_t)b * N * D, sizeof(float) * D);
    switch (a->output) {
      case QS_OUT_CLS: memcpy(out, pooled, sizeof(float) * (size_t)B * D); break;
      case QS_OUT_POOLER:
        rc = qs_cpu_linear(p, "pooler.dense", pooled, B, D, D, out);
        for (int64_t i = 0; rc == QS_OK && i < (int64_t)B * D; i++) out[i] = tanhf(out[i]);
        qs_cpu_round(p, out, (int64_t)B * D);
        break;
      case QS_OUT_LOGITS: rc = qs_cpu_linear(p, "classifier", pooled, B, D, a->num_labels, out); break;
      case QS_OUT_DEIT_AVG: {
        float *dist_tok = tmp; /* [B, D] */
        float *l2 = malloc(sizeof(float) * (size_t)B * a->num_labels);
        if (!l2) {
          rc = qs_fail(QS_ENOMEM, "%s: out of host memory", a->name);
          break;
        }
        for (int b = 0; b < B; b++) memcpy(dist_tok + (size_t)b * D, x + ((size_t)b * N + 1) * D, sizeof(float) * D);
        rc = qs_cpu_linear(p, "cls_classifier", pooled, B, D, a->num_labels, out);
        if (rc == QS_OK) rc = qs_cpu_linear(p, "distillation_classifier", dist_tok, B, D, a->num_labels, l2);
        for (int64_t i = 0; rc == QS_OK && i < (int64_t)B * a->num_labels; i++) out[i] = (out[i] + l2[i]) * 0.5f;
        qs_cpu_round(p, out, (int64_t)B * a->num_labels);
        free(l2);
        break;
      }
    }
  }
done:
  free(x);
  free(cols);
  free(pe);
  free(rel);
  free(pos);
  return rc;
}

int qs_cpu_forward(qs_cpu_plan *p, int batch, const float *input, float *out) {
  if (batch < 1) return qs_fail(QS_EINVAL, "batch: must be at least 1");
  if (p->m->arch.family == QS_FAM_MOBILEVIT) return qs_cpu_forward_mobilevit(p, batch, input, out);
  return forward_transformer(p, batch, input, out);
}
