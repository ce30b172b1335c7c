/* vit.c - the tensor list of the transformer families (ViT, DeiT, DINO, DINOv2, BEiT);
 * MobileViT's is in mobilevit.c. */
#include <stdint.h>
#include <stdio.h>

#include "arch.h"
#include "specs.h"

/* shorthand builders */
#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static void add_linear(qs_spec_list *l, float std, int64_t out, int64_t in, int bias, int quantized,
                       const char *base) {
  qs_specs_add(l, QS_INIT_TRUNC_NORMAL, std, 2, SHAPE(out, in), "%s.weight", base);
  if (!l->failed) l->v[l->n - 1].quantized = (uint8_t)quantized;
  if (bias) qs_specs_add(l, QS_INIT_CONST, 0.0f, 1, SHAPE(out), "%s.bias", base);
}

static void add_ln(qs_spec_list *l, int64_t d, const char *base) {
  qs_specs_add(l, QS_INIT_CONST, 1.0f, 1, SHAPE(d), "%s.weight", base);
  qs_specs_add(l, QS_INIT_CONST, 0.0f, 1, SHAPE(d), "%s.bias", base);
}

void qs_vit_specs(const qs_arch *a, qs_spec_list *l) {
  const char *p = a->prefix;
  const float std = a->initializer_range;
  const int64_t D = a->hidden, M = a->mlp, C = a->num_channels, P = a->patch_size;
  const int64_t grid = a->pos_grid;
  char b[QS_SPEC_NAME_MAX + 64];

  qs_specs_add(l, QS_INIT_TRUNC_NORMAL, std, 3, SHAPE(1, 1, D), "%sembeddings.cls_token", p);
  if (a->family == QS_FAM_DEIT)
    qs_specs_add(l, QS_INIT_TRUNC_NORMAL, std, 3, SHAPE(1, 1, D), "%sembeddings.distillation_token", p);
  if (a->family == QS_FAM_DINOV2) {
    qs_specs_add(l, QS_INIT_CONST, 0.0f, 2, SHAPE(1, D), "%sembeddings.mask_token", p);
    if (!l->failed) l->v[l->n - 1].optional = 1;
  }
  if (a->abs_pos) {
    int64_t n = grid * grid + 1 + (a->family == QS_FAM_DEIT ? 1 : 0);
    qs_specs_add(l, QS_INIT_TRUNC_NORMAL, std, 3, SHAPE(1, n, D), "%sembeddings.position_embeddings", p);
  }
  qs_specs_add(l, QS_INIT_TRUNC_NORMAL, std, 4, SHAPE(D, C, P, P),
               "%sembeddings.patch_embeddings.projection.weight", p);
  qs_specs_add(l, QS_INIT_CONST, 0.0f, 1, SHAPE(D), "%sembeddings.patch_embeddings.projection.bias", p);

  const int64_t n_rel = (2 * grid - 1) * (2 * grid - 1) + 3;
  if (a->family == QS_FAM_BEIT && a->rel_pos_shared)
    qs_specs_add(l, QS_INIT_TRUNC_NORMAL, std, 2, SHAPE(n_rel, a->heads),
                 "%sencoder.relative_position_bias.relative_position_bias_table", p);

  for (int i = 0; i < a->layers; i++) {
    if (a->family == QS_FAM_DINOV2) {
      snprintf(b, sizeof b, "%sencoder.layer.%d.norm1", p, i);
      add_ln(l, D, b);
    } else {
      snprintf(b, sizeof b, "%sencoder.layer.%d.layernorm_before", p, i);
      add_ln(l, D, b);
    }
    static const char *qkv[3] = {"query", "key", "value"};
    for (int j = 0; j < 3; j++) {
      int bias = a->qkv_bias && !(a->family == QS_FAM_BEIT && j == 1);
      snprintf(b, sizeof b, "%sencoder.layer.%d.attention.attention.%s", p, i, qkv[j]);
      add_linear(l, std, D, D, bias, 1, b);
    }
    if (a->family == QS_FAM_BEIT && a->rel_pos_per_layer)
      qs_specs_add(l, QS_INIT_TRUNC_NORMAL, std, 2, SHAPE(n_rel, a->heads),
                   "%sencoder.layer.%d.attention.attention.relative_position_bias.relative_position_bias_table",
                   p, i);
    snprintf(b, sizeof b, "%sencoder.layer.%d.attention.output.dense", p, i);
    add_linear(l, std, D, D, 1, 1, b);
    if (a->family == QS_FAM_DINOV2) {
      qs_specs_add(l, QS_INIT_CONST, a->layerscale_value, 1, SHAPE(D), "%sencoder.layer.%d.layer_scale1.lambda1", p, i);
      snprintf(b, sizeof b, "%sencoder.layer.%d.norm2", p, i);
      add_ln(l, D, b);
      snprintf(b, sizeof b, "%sencoder.layer.%d.mlp.fc1", p, i);
      add_linear(l, std, M, D, 1, 1, b);
      snprintf(b, sizeof b, "%sencoder.layer.%d.mlp.fc2", p, i);
      add_linear(l, std, D, M, 1, 1, b);
      qs_specs_add(l, QS_INIT_CONST, a->layerscale_value, 1, SHAPE(D), "%sencoder.layer.%d.layer_scale2.lambda1", p, i);
    } else {
      snprintf(b, sizeof b, "%sencoder.layer.%d.layernorm_after", p, i);
      add_ln(l, D, b);
      snprintf(b, sizeof b, "%sencoder.layer.%d.intermediate.dense", p, i);
      add_linear(l, std, M, D, 1, 1, b);
      snprintf(b, sizeof b, "%sencoder.layer.%d.output.dense", p, i);
      add_linear(l, std, D, M, 1, 1, b);
      if (a->family == QS_FAM_BEIT && a->layerscale) {
        qs_specs_add(l, QS_INIT_CONST, a->layerscale_value, 1, SHAPE(D), "%sencoder.layer.%d.lambda_1", p, i);
        qs_specs_add(l, QS_INIT_CONST, a->layerscale_value, 1, SHAPE(D), "%sencoder.layer.%d.lambda_2", p, i);
      }
    }
  }

  /* final norm and heads */
  if (a->family == QS_FAM_BEIT) {
    snprintf(b, sizeof b, "%spooler.layernorm", p);
    add_ln(l, D, b);
  } else {
    snprintf(b, sizeof b, "%slayernorm", p);
    add_ln(l, D, b);
  }
  if (a->family == QS_FAM_VIT && a->output == QS_OUT_POOLER) add_linear(l, std, D, D, 1, 0, "pooler.dense");
  if (a->output == QS_OUT_LOGITS) add_linear(l, std, a->num_labels, D, 1, 0, "classifier");
  if (a->output == QS_OUT_DEIT_AVG) {
    add_linear(l, std, a->num_labels, D, 1, 0, "cls_classifier");
    add_linear(l, std, a->num_labels, D, 1, 0, "distillation_classifier");
  }
}
