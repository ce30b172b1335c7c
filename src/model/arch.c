/* arch.c - HF config.json <-> qs_arch, and the counts derived from it. */
#define _POSIX_C_SOURCE 200809L
#include "arch.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qs_common.h"
#include "specs.h"

#define QS_CONFIG_MAX_BYTES (16u << 20) /* a config.json is a few kB; 16 MB is generous */

const char *qs_family_name(qs_family f) {
  switch (f) {
    case QS_FAM_VIT: return "vit";
    case QS_FAM_DEIT: return "deit";
    case QS_FAM_DINOV2: return "dinov2";
    case QS_FAM_BEIT: return "beit";
    case QS_FAM_MOBILEVIT: return "mobilevit";
  }
  return "?";
}

const char *qs_output_name(qs_output_kind o) {
  switch (o) {
    case QS_OUT_LOGITS: return "logits";
    case QS_OUT_POOLER: return "pooler";
    case QS_OUT_CLS: return "cls";
    case QS_OUT_DEIT_AVG: return "logits";
  }
  return "?";
}

/* ---- small typed getters that name the field on error ---------------------- */

static int get_int(const cJSON *o, const char *origin, const char *key, int required, int def, int lo,
                   int hi, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) {
    if (required) return qs_fail(QS_EINVAL, "%s: %s: missing", origin, key);
    *out = def;
    return QS_OK;
  }
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
    return qs_fail(QS_EINVAL, "%s: %s: expected an integer", origin, key);
  if (v->valuedouble < lo || v->valuedouble > hi)
    return qs_fail(QS_EINVAL, "%s: %s: %.17g is out of range [%d, %d]", origin, key, v->valuedouble, lo, hi);
  *out = (int)v->valuedouble;
  return QS_OK;
}

/* a number kept in double (a width computed from it must match Python's float arithmetic) */
static int get_double(const cJSON *o, const char *origin, const char *key, int required, double def, double lo,
                      double hi, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) {
    if (required) return qs_fail(QS_EINVAL, "%s: %s: missing", origin, key);
    *out = def;
    return QS_OK;
  }
  if (!cJSON_IsNumber(v)) return qs_fail(QS_EINVAL, "%s: %s: expected a number", origin, key);
  if (!(v->valuedouble >= lo && v->valuedouble <= hi))
    return qs_fail(QS_EINVAL, "%s: %s: %g is out of range [%g, %g]", origin, key, v->valuedouble, lo, hi);
  *out = v->valuedouble;
  return QS_OK;
}

static int get_float(const cJSON *o, const char *origin, const char *key, int required, float def,
                     double lo, double hi, float *out) {
  double d = def;
  QS_TRY(get_double(o, origin, key, required, def, lo, hi, &d));
  *out = (float)d;
  return QS_OK;
}

static int get_bool(const cJSON *o, const char *origin, const char *key, int def, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) {
    *out = def;
    return QS_OK;
  }
  if (!cJSON_IsBool(v)) return qs_fail(QS_EINVAL, "%s: %s: expected true or false", origin, key);
  *out = cJSON_IsTrue(v) ? 1 : 0;
  return QS_OK;
}

static int get_str(const cJSON *o, const char *origin, const char *key, int required, const char *def,
                   char *out, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) {
    if (required) return qs_fail(QS_EINVAL, "%s: %s: missing", origin, key);
    qs_strlcpy(out, def, cap);
    return QS_OK;
  }
  if (!cJSON_IsString(v)) return qs_fail(QS_EINVAL, "%s: %s: expected a string", origin, key);
  if (qs_strlcpy(out, v->valuestring, cap) != 0)
    return qs_fail(QS_EINVAL, "%s: %s: longer than %zu bytes", origin, key, cap - 1);
  return QS_OK;
}

static int get_int_array(const cJSON *o, const char *origin, const char *key, int n, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) return qs_fail(QS_EINVAL, "%s: %s: missing", origin, key);
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n)
    return qs_fail(QS_EINVAL, "%s: %s: expected an array of %d integers", origin, key, n);
  for (int i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(v, i);
    if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 1 ||
        e->valuedouble > 65536)
      return qs_fail(QS_EINVAL, "%s: %s[%d]: expected a positive integer", origin, key, i);
    out[i] = (int)e->valuedouble;
  }
  return QS_OK;
}

static int parse_act(const char *s, const char *origin, qs_act *act) {
  if (!strcmp(s, "gelu")) *act = QS_ACT_GELU;
  else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *act = QS_ACT_SILU;
  else if (!strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_new")) *act = QS_ACT_GELU_TANH;
  else if (!strcmp(s, "relu")) *act = QS_ACT_RELU;
  else return qs_fail(QS_EINVAL, "%s: hidden_act: unsupported activation \"%s\"", origin, s);
  return QS_OK;
}

static const char *act_name(qs_act a) {
  switch (a) {
    case QS_ACT_GELU: return "gelu";
    case QS_ACT_SILU: return "silu";
    case QS_ACT_GELU_TANH: return "gelu_pytorch_tanh";
    case QS_ACT_RELU: return "relu";
  }
  return "gelu";
}

/* Number of labels: HF writes id2label; configs written by hand may give num_labels. */
static int get_num_labels(const cJSON *cfg, const char *origin, int *out) {
  const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(cfg, "id2label");
  if (id2label && cJSON_IsObject(id2label)) {
    *out = cJSON_GetArraySize(id2label);
    return QS_OK;
  }
  return get_int(cfg, origin, "num_labels", 0, 2, 0, 1 << 20, out);
}

int qs_arch_from_json(const cJSON *cfg, const char *origin, qs_arch *a) {
  memset(a, 0, sizeof *a);
  if (!cJSON_IsObject(cfg)) return qs_fail(QS_EINVAL, "%s: expected a JSON object", origin);
  QS_TRY(get_str(cfg, origin, "model_type", 1, "", a->model_type, sizeof a->model_type));
  const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
  if (archs && cJSON_IsArray(archs) && cJSON_GetArraySize(archs) > 0 &&
      cJSON_IsString(cJSON_GetArrayItem(archs, 0))) {
    if (qs_strlcpy(a->hf_class, cJSON_GetArrayItem(archs, 0)->valuestring, sizeof a->hf_class) != 0)
      return qs_fail(QS_EINVAL, "%s: architectures[0]: too long", origin);
  }
  char act[32];
  QS_TRY(get_str(cfg, origin, "hidden_act", 0, "gelu", act, sizeof act));
  QS_TRY(parse_act(act, origin, &a->act));
  QS_TRY(get_int(cfg, origin, "num_channels", 0, 3, 1, 64, &a->num_channels));
  QS_TRY(get_int(cfg, origin, "image_size", 1, 0, 1, 8192, &a->image_size));
  QS_TRY(get_float(cfg, origin, "initializer_range", 0, 0.02f, 0.0, 10.0, &a->initializer_range));
  QS_TRY(get_bool(cfg, origin, "qkv_bias", 1, &a->qkv_bias));
  QS_TRY(get_num_labels(cfg, origin, &a->num_labels));

  const char *mt = a->model_type;
  if (!strcmp(mt, "vit") || !strcmp(mt, "deit") || !strcmp(mt, "dinov2") || !strcmp(mt, "beit")) {
    QS_TRY(get_int(cfg, origin, "hidden_size", 1, 0, 1, 1 << 16, &a->hidden));
    QS_TRY(get_int(cfg, origin, "num_hidden_layers", 1, 0, 1, QS_MAX_LAYERS, &a->layers));
    QS_TRY(get_int(cfg, origin, "num_attention_heads", 1, 0, 1, 1024, &a->heads));
    QS_TRY(get_int(cfg, origin, "patch_size", 1, 0, 1, 1024, &a->patch_size));
    QS_TRY(get_float(cfg, origin, "layer_norm_eps", 0, 1e-12f, 0.0, 1.0, &a->ln_eps));
    if (a->hidden % a->heads != 0)
      return qs_fail(QS_EINVAL, "%s: num_attention_heads: %d does not divide hidden_size %d", origin,
                     a->heads, a->hidden);
    if (a->image_size % a->patch_size != 0)
      return qs_fail(QS_EINVAL, "%s: patch_size: %d does not divide image_size %d", origin, a->patch_size,
                     a->image_size);
    if (!strcmp(mt, "dinov2")) {
      float ratio;
      int swiglu;
      QS_TRY(get_float(cfg, origin, "mlp_ratio", 0, 4.0f, 0.01, 64.0, &ratio));
      QS_TRY(get_bool(cfg, origin, "use_swiglu_ffn", 0, &swiglu));
      if (swiglu) return qs_fail(QS_EINVAL, "%s: use_swiglu_ffn: SwiGLU DINOv2 is not supported", origin);
      a->mlp = (int)(a->hidden * ratio);
      a->family = QS_FAM_DINOV2;
      a->layerscale = 1;
      QS_TRY(get_float(cfg, origin, "layerscale_value", 0, 1.0f, -1e6, 1e6, &a->layerscale_value));
      a->abs_pos = 1;
      a->pos_grid = a->image_size / a->patch_size;
      a->output = QS_OUT_CLS;
      a->has_pooler = 0;
    } else {
      QS_TRY(get_int(cfg, origin, "intermediate_size", 1, 0, 1, 1 << 20, &a->mlp));
    }
    if (!strcmp(mt, "vit")) {
      a->family = QS_FAM_VIT;
      a->abs_pos = 1;
      a->pos_grid = a->image_size / a->patch_size;
    } else if (!strcmp(mt, "deit")) {
      a->family = QS_FAM_DEIT;
      a->abs_pos = 1;
      a->pos_grid = a->image_size / a->patch_size;
    } else if (!strcmp(mt, "beit")) {
      a->family = QS_FAM_BEIT;
      a->qkv_bias = 1; /* BEiT: q and v biases, never a k bias (handled by the specs) */
      QS_TRY(get_bool(cfg, origin, "use_absolute_position_embeddings", 0, &a->abs_pos));
      QS_TRY(get_bool(cfg, origin, "use_relative_position_bias", 0, &a->rel_pos_per_layer));
      QS_TRY(get_bool(cfg, origin, "use_shared_relative_position_bias", 0, &a->rel_pos_shared));
      QS_TRY(get_bool(cfg, origin, "use_mean_pooling", 1, &a->mean_pooling));
      QS_TRY(get_float(cfg, origin, "layer_scale_init_value", 0, 0.1f, -1e6, 1e6, &a->layerscale_value));
      a->layerscale = a->layerscale_value > 0.0f;
      a->pos_grid = a->image_size / a->patch_size;
      if (a->abs_pos) return qs_fail(QS_EINVAL, "%s: use_absolute_position_embeddings: not supported for BEiT", origin);
      if (!a->mean_pooling) return qs_fail(QS_EINVAL, "%s: use_mean_pooling: only mean pooling is supported for BEiT", origin);
    }
  } else if (!strcmp(mt, "mobilevit")) {
    a->family = QS_FAM_MOBILEVIT;
    QS_TRY(get_int(cfg, origin, "patch_size", 0, 2, 1, 64, &a->mv_patch));
    a->patch_size = a->mv_patch;
    QS_TRY(get_int_array(cfg, origin, "hidden_sizes", 3, a->mv_hidden));
    QS_TRY(get_int_array(cfg, origin, "neck_hidden_sizes", 7, a->mv_neck));
    QS_TRY(get_int(cfg, origin, "num_attention_heads", 0, 4, 1, 1024, &a->heads));
    QS_TRY(get_double(cfg, origin, "mlp_ratio", 0, 2.0, 0.1, 64.0, &a->mv_mlp_ratio));
    QS_TRY(get_float(cfg, origin, "expand_ratio", 0, 4.0f, 0.1, 64.0, &a->mv_expand));
    QS_TRY(get_int(cfg, origin, "conv_kernel_size", 0, 3, 1, 15, &a->mv_conv_kernel));
    QS_TRY(get_float(cfg, origin, "layer_norm_eps", 0, 1e-5f, 0.0, 1.0, &a->ln_eps));
    int output_stride;
    QS_TRY(get_int(cfg, origin, "output_stride", 0, 32, 8, 32, &output_stride));
    if (output_stride != 32)
      return qs_fail(QS_EINVAL, "%s: output_stride: only 32 (classification) is supported", origin);
    for (int i = 0; i < 3; i++)
      if (a->mv_hidden[i] % a->heads != 0)
        return qs_fail(QS_EINVAL, "%s: hidden_sizes[%d]: %d is not divisible by num_attention_heads %d",
                       origin, i, a->mv_hidden[i], a->heads);
    if (a->image_size % 32 != 0)
      return qs_fail(QS_EINVAL, "%s: image_size: %d must be a multiple of 32 for MobileViT", origin,
                     a->image_size);
    a->hidden = a->mv_hidden[2];
    a->output = QS_OUT_LOGITS;
    a->layers = 2 + 4 + 3;
  } else {
    return qs_fail(QS_EINVAL, "%s: model_type: unsupported \"%s\" (vit, deit, dinov2, beit, mobilevit)",
                   origin, mt);
  }

  /* The head follows the HF class the checkpoint was saved from. */
  const char *cls = a->hf_class;
  if (a->family == QS_FAM_VIT) {
    if (!strcmp(cls, "ViTForImageClassification")) {
      a->output = QS_OUT_LOGITS;
      qs_strlcpy(a->prefix, "vit.", sizeof a->prefix);
    } else {
      /* ViTModel: in21k checkpoints carry a pooler; DINO does not. The weights decide, as
       * in HF (qs_model_head_from_weights); the key add_pooling_layer, where present
       * (zoo entries, exported checkpoints), says so too and must agree with them. */
      QS_TRY(get_bool(cfg, origin, "add_pooling_layer", 0, &a->has_pooler));
      a->pooler_in_config = cJSON_GetObjectItemCaseSensitive(cfg, "add_pooling_layer") != NULL;
      a->output = a->has_pooler ? QS_OUT_POOLER : QS_OUT_CLS;
      a->num_labels = 0;
      if (!cls[0]) qs_strlcpy(a->hf_class, "ViTModel", sizeof a->hf_class);
    }
  } else if (a->family == QS_FAM_DEIT) {
    if (cls[0] && strcmp(cls, "DeiTForImageClassificationWithTeacher") != 0)
      return qs_fail(QS_EINVAL, "%s: architectures: %s is not supported for deit "
                     "(DeiTForImageClassificationWithTeacher)", origin, cls);
    qs_strlcpy(a->hf_class, "DeiTForImageClassificationWithTeacher", sizeof a->hf_class);
    a->output = QS_OUT_DEIT_AVG;
    qs_strlcpy(a->prefix, "deit.", sizeof a->prefix);
  } else if (a->family == QS_FAM_DINOV2) {
    qs_strlcpy(a->hf_class, "Dinov2Model", sizeof a->hf_class);
    a->num_labels = 0;
  } else if (a->family == QS_FAM_BEIT) {
    if (!strcmp(cls, "BeitForImageClassification")) {
      a->output = QS_OUT_LOGITS;
      qs_strlcpy(a->prefix, "beit.", sizeof a->prefix);
    } else {
      a->output = QS_OUT_POOLER;
      a->num_labels = 0;
      qs_strlcpy(a->hf_class, "BeitModel", sizeof a->hf_class);
    }
    a->has_pooler = 1;
  } else if (a->family == QS_FAM_MOBILEVIT) {
    qs_strlcpy(a->hf_class, "MobileViTForImageClassification", sizeof a->hf_class);
    qs_strlcpy(a->prefix, "mobilevit.", sizeof a->prefix);
    if (a->num_labels < 1) return qs_fail(QS_EINVAL, "%s: num_labels: MobileViT needs a classifier", origin);
  }
  if ((a->output == QS_OUT_LOGITS || a->output == QS_OUT_DEIT_AVG) && a->num_labels < 1)
    return qs_fail(QS_EINVAL, "%s: id2label: a classifier needs at least one label", origin);

  /* the run's input resolution (qsweep key; defaults to the checkpoint's image_size) */
  int input_size;
  QS_TRY(get_int(cfg, origin, "qsweep_input_size", 0, a->image_size, 1, 8192, &input_size));
  char what[QS_PATH_MAX + 32];
  snprintf(what, sizeof what, "%s: qsweep_input_size", origin);
  QS_TRY(qs_arch_set_input_size(a, input_size, what));
  return QS_OK;
}

int qs_arch_set_input_size(qs_arch *a, int size, const char *what) {
  if (size < 1 || size > 8192) return qs_fail(QS_EINVAL, "%s: %d is out of range [1, 8192]", what, size);
  /* a side that is no multiple of the patch leaves its last size % patch rows and
   * columns of pixels unread, as HF's stride-patch convolution does (grid: size / patch);
   * ViT and DeiT interpolate their position table as HF's interpolate_pos_encoding,
   * DINOv2 as its own, BEiT its relative position tables as HF's BeitRelativePositionBias */
  if (a->family != QS_FAM_MOBILEVIT && size < a->patch_size)
    return qs_fail(QS_EINVAL, "%s: %d is smaller than patch_size %d", what, size, a->patch_size);
  if (a->family == QS_FAM_MOBILEVIT && size % 32 != 0)
    return qs_fail(QS_EINVAL, "%s: %d must be a multiple of 32", what, size);
  a->input_size = size;
  return QS_OK;
}

int qs_arch_from_config_file(const char *path, qs_arch *a) {
  char *text;
  size_t len;
  QS_TRY(qs_read_file(path, QS_CONFIG_MAX_BYTES, &text, &len));
  cJSON *cfg = cJSON_ParseWithLength(text, len);
  if (!cfg) {
    const char *where = cJSON_GetErrorPtr();
    long off = where ? (long)(where - text) : -1;
    free(text);
    return qs_fail(QS_EINVAL, "%s: malformed JSON near byte %ld", path, off);
  }
  int rc = qs_arch_from_json(cfg, path, a);
  cJSON_Delete(cfg);
  free(text);
  return rc;
}

int qs_arch_grid(const qs_arch *a) {
  if (a->family == QS_FAM_MOBILEVIT) return 0;
  return a->input_size / a->patch_size;
}

int qs_arch_tokens(const qs_arch *a) {
  if (a->family == QS_FAM_MOBILEVIT) {
    /* longest transformer sequence: stage 2 map (input/8)^2 / 4 patches' pixels */
    int map = a->input_size / 8;
    return (map / a->mv_patch) * (map / a->mv_patch);
  }
  int g = qs_arch_grid(a);
  return g * g + 1 + (a->family == QS_FAM_DEIT ? 1 : 0);
}

int qs_arch_out_dim(const qs_arch *a) {
  if (a->output == QS_OUT_LOGITS || a->output == QS_OUT_DEIT_AVG) return a->num_labels;
  return a->hidden;
}

int qs_arch_input_size(const qs_arch *a) { return a->input_size; }

int qs_arch_specs(const qs_arch *a, qs_tensor_spec **specs, int *n) {
  qs_spec_list l = {0};
  if (a->family == QS_FAM_MOBILEVIT) {
    int rc = qs_mobilevit_specs(a, &l);
    if (rc != QS_OK) {
      free(l.v);
      return rc;
    }
  } else {
    qs_vit_specs(a, &l);
  }
  if (l.failed) {
    free(l.v);
    return qs_fail(QS_ENOMEM, "%s: out of memory listing tensors", a->name);
  }
  *specs = l.v;
  *n = l.n;
  return QS_OK;
}

int64_t qs_arch_param_count(const qs_arch *a) {
  qs_tensor_spec *specs = NULL;
  int n = 0;
  if (qs_arch_specs(a, &specs, &n) != QS_OK) return -1;
  int64_t total = 0;
  for (int i = 0; i < n; i++)
    if (!specs[i].buffer) total += qs_spec_numel(&specs[i]);
  free(specs);
  return total;
}

/* FLOPs of one transformer block over n tokens of width d, mlp width m, h heads. */
static double block_flops(double n, double d, double m) {
  double lin = 2.0 * n * d * (4.0 * d + 2.0 * m); /* q k v o, fc1 fc2 */
  double att = 2.0 * 2.0 * n * n * d;             /* Q K^T and P V */
  return lin + att;
}

double qs_arch_gflops(const qs_arch *a) {
  if (a->family == QS_FAM_MOBILEVIT) return qs_mobilevit_gflops(a);
  double n = qs_arch_tokens(a), d = a->hidden, m = a->mlp;
  double g = qs_arch_grid(a);
  double patch = 2.0 * g * g * d * (a->num_channels * a->patch_size * a->patch_size);
  double f = patch + a->layers * block_flops(n, d, m);
  if (a->has_pooler && a->family == QS_FAM_VIT) f += 2.0 * d * d;
  if (a->output == QS_OUT_LOGITS) f += 2.0 * d * a->num_labels;
  if (a->output == QS_OUT_DEIT_AVG) f += 4.0 * d * a->num_labels;
  return f * 1e-9;
}

/* Elements one transformer block reads and writes over n tokens of width d, mlp width m
 * (arch.h, qs_arch_act_elems): two residual + layernorm steps (read x and r, write x and
 * the normed y: 4 n d each), q|k|v (in n d, out 3 n d), attention (in 3 n d, out n d, no
 * n x n matrix), the attention output (in n d, out n d), FC1 (in n d, out n m), GELU (in
 * and out n m), FC2 (in n m, out n d). *qin += the inputs of the quantizable Linears. */
double qs_block_act_elems(double n, double d, double m, double *qin) {
  if (qin) *qin += n * (3.0 * d + m);
  return n * (20.0 * d + 4.0 * m);
}

double qs_arch_act_elems(const qs_arch *a, double *qlin_in) {
  if (qlin_in) *qlin_in = 0;
  if (a->family == QS_FAM_MOBILEVIT) return qs_mobilevit_act_elems(a, qlin_in);
  double n = qs_arch_tokens(a), d = a->hidden, m = a->mlp;
  double g = qs_arch_grid(a), s = qs_arch_input_size(a);
  /* the image read, its patches written and read (im2col), the patch embeddings written
   * and read, the token sequence written */
  double f = a->num_channels * s * s * 3.0 + g * g * d * 2.0 + n * d;
  for (int l = 0; l < a->layers; l++) f += qs_block_act_elems(n, d, m, qlin_in);
  f += 2.0 * n * d; /* the final layernorm */
  return f;
}

/* ---- config.json writer ---------------------------------------------------- */

/* A float field in the shortest form that reads back to the same float, always with
 * a decimal point or exponent (HF's config classes check that floats are floats). */
static void add_float(cJSON *o, const char *key, double v) {
  char buf[64];
  for (int prec = 6; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if ((float)strtod(buf, NULL) == (float)v) break;
  }
  if (!strpbrk(buf, ".eEni")) strncat(buf, ".0", sizeof buf - strlen(buf) - 1);
  cJSON_AddRawToObject(o, key, buf);
}

static void add_labels(cJSON *cfg, int n) {
  cJSON *id2label = cJSON_AddObjectToObject(cfg, "id2label");
  cJSON *label2id = cJSON_AddObjectToObject(cfg, "label2id");
  for (int i = 0; i < n; i++) {
    char k[32], v[32];
    snprintf(k, sizeof k, "%d", i);
    snprintf(v, sizeof v, "LABEL_%d", i);
    cJSON_AddStringToObject(id2label, k, v);
    cJSON_AddNumberToObject(label2id, v, i);
  }
}

int qs_arch_write_config(const qs_arch *a, const char *path) {
  cJSON *cfg = cJSON_CreateObject();
  if (!cfg) return qs_fail(QS_ENOMEM, "%s: out of memory building config.json", path);
  cJSON *archs = cJSON_AddArrayToObject(cfg, "architectures");
  cJSON_AddItemToArray(archs, cJSON_CreateString(a->hf_class));
  cJSON_AddStringToObject(cfg, "model_type", a->model_type);
  cJSON_AddStringToObject(cfg, "hidden_act", act_name(a->act));
  cJSON_AddNumberToObject(cfg, "image_size", a->image_size);
  cJSON_AddNumberToObject(cfg, "num_channels", a->num_channels);
  add_float(cfg, "initializer_range", a->initializer_range);
  add_float(cfg, "layer_norm_eps", a->ln_eps);
  cJSON_AddBoolToObject(cfg, "qkv_bias", a->qkv_bias);
  add_float(cfg, "hidden_dropout_prob", 0.0);
  add_float(cfg, "attention_probs_dropout_prob", 0.0);
  cJSON_AddStringToObject(cfg, "torch_dtype", "float32");
  if (a->input_size != a->image_size) cJSON_AddNumberToObject(cfg, "qsweep_input_size", a->input_size);
  if (a->family == QS_FAM_MOBILEVIT) {
    cJSON_AddNumberToObject(cfg, "patch_size", a->mv_patch);
    cJSON_AddItemToObject(cfg, "hidden_sizes", cJSON_CreateIntArray(a->mv_hidden, 3));
    cJSON_AddItemToObject(cfg, "neck_hidden_sizes", cJSON_CreateIntArray(a->mv_neck, 7));
    cJSON_AddNumberToObject(cfg, "num_attention_heads", a->heads);
    add_float(cfg, "mlp_ratio", a->mv_mlp_ratio);
    add_float(cfg, "expand_ratio", a->mv_expand);
    cJSON_AddNumberToObject(cfg, "conv_kernel_size", a->mv_conv_kernel);
    cJSON_AddNumberToObject(cfg, "output_stride", 32);
    add_float(cfg, "classifier_dropout_prob", 0.0);
  } else {
    cJSON_AddNumberToObject(cfg, "hidden_size", a->hidden);
    cJSON_AddNumberToObject(cfg, "num_hidden_layers", a->layers);
    cJSON_AddNumberToObject(cfg, "num_attention_heads", a->heads);
    cJSON_AddNumberToObject(cfg, "patch_size", a->patch_size);
    if (a->family == QS_FAM_DINOV2) {
      /* Dinov2Config types mlp_ratio as an int */
      if (a->mlp % a->hidden == 0) cJSON_AddNumberToObject(cfg, "mlp_ratio", a->mlp / a->hidden);
      else add_float(cfg, "mlp_ratio", (double)a->mlp / a->hidden);
      add_float(cfg, "layerscale_value", a->layerscale_value);
      cJSON_AddBoolToObject(cfg, "use_swiglu_ffn", 0);
      add_float(cfg, "drop_path_rate", 0.0);
    } else {
      cJSON_AddNumberToObject(cfg, "intermediate_size", a->mlp);
    }
    if (a->family == QS_FAM_VIT && strcmp(a->hf_class, "ViTModel") == 0)
      cJSON_AddBoolToObject(cfg, "add_pooling_layer", a->has_pooler);
    if (a->family == QS_FAM_BEIT) {
      cJSON_AddBoolToObject(cfg, "use_absolute_position_embeddings", 0);
      cJSON_AddBoolToObject(cfg, "use_relative_position_bias", a->rel_pos_per_layer);
      cJSON_AddBoolToObject(cfg, "use_shared_relative_position_bias", a->rel_pos_shared);
      cJSON_AddBoolToObject(cfg, "use_mean_pooling", 1);
      cJSON_AddBoolToObject(cfg, "use_mask_token", 0);
      add_float(cfg, "layer_scale_init_value", a->layerscale ? a->layerscale_value : 0.0);
      add_float(cfg, "drop_path_rate", 0.0);
    }
  }
  if (a->num_labels > 0) add_labels(cfg, a->num_labels);
  char *text = cJSON_Print(cfg);
  cJSON_Delete(cfg);
  if (!text) return qs_fail(QS_ENOMEM, "%s: out of memory printing config.json", path);
  FILE *f = fopen(path, "w");
  if (!f) {
    free(text);
    return qs_fail(QS_EIO, "%s: cannot create", path);
  }
  int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  ok = (fclose(f) == 0) && ok;
  free(text);
  return ok ? QS_OK : qs_fail(QS_EIO, "%s: write failed", path);
}
