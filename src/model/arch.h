/* arch.h - a model's architecture: the HF config.json fields that define it,
 * parsed into one struct, plus the derived counts (tokens, parameters, FLOPs).
 *
 * The zoo (sweep/models.json) holds, for each seed model, the same fields an HF
 * config.json holds, so one parser serves both. */
#ifndef QS_ARCH_H
#define QS_ARCH_H

#include <stdint.h>

#define QS_NAME_MAX 128
#define QS_PATH_MAX 1024
#define QS_MAX_LAYERS 64
#define QS_MV_STAGES 5

typedef enum {
  QS_FAM_VIT = 0,  /* ViTModel / ViTForImageClassification (also DeiT-tiny, DINO) */
  QS_FAM_DEIT,     /* DeiTForImageClassificationWithTeacher (distillation token) */
  QS_FAM_DINOV2,   /* Dinov2Model */
  QS_FAM_BEIT,     /* BeitModel / BeitForImageClassification */
  QS_FAM_MOBILEVIT /* MobileViTForImageClassification */
} qs_family;

/* What the forward returns per image. */
typedef enum {
  QS_OUT_LOGITS = 0, /* classifier on the pooled representation: [num_labels] */
  QS_OUT_POOLER,     /* ViT in21k: tanh(dense(LN(h)[0])); BEiT/DINOv2: their pooler: [D] */
  QS_OUT_CLS,        /* LN(h)[0] (DINO without head): [D] */
  QS_OUT_DEIT_AVG    /* (cls_head(h0) + dist_head(h1)) / 2: [num_labels] */
} qs_output_kind;

typedef enum { QS_ACT_GELU = 0, QS_ACT_SILU, QS_ACT_GELU_TANH, QS_ACT_RELU } qs_act;

typedef struct {
  /* identity */
  char name[QS_NAME_MAX];      /* project name, e.g. vit-base-224-production */
  char hf_name[QS_NAME_MAX];   /* HF checkpoint, e.g. google/vit-base-patch16-224 */
  char category[QS_NAME_MAX];  /* seed category */
  char hf_class[QS_NAME_MAX];  /* HF architectures[0], e.g. ViTForImageClassification */
  char model_type[32];         /* HF model_type: vit, deit, dinov2, beit, mobilevit */
  char dir[QS_PATH_MAX];       /* checkpoint directory ("" = synthetic weights) */
  char prefix[32];             /* tensor-name prefix of the encoder ("vit.", "deit.", "beit.", "mobilevit.", "") */
  qs_family family;
  qs_output_kind output;

  /* shared transformer fields */
  int image_size, patch_size, num_channels;
  int input_size;                  /* resolution the forward runs at (DINOv2: 224 though trained at 518) */
  int hidden, layers, heads, mlp;  /* D, L, H, intermediate size */
  float ln_eps;
  float initializer_range;
  qs_act act;
  int qkv_bias;                    /* 1: q, k and v have biases (BEiT: q and v only) */
  int num_labels;                  /* classifier width (0: no classifier) */
  int has_pooler;                  /* ViT pooler dense / BEiT pooler LN present */
  int pooler_in_config;            /* ViTModel: config.json names add_pooling_layer (else the weights decide) */

  /* DINOv2 */
  int layerscale;                  /* DINOv2 / BEiT layer scale vectors present */
  float layerscale_value;          /* init value of the layer scale */
  int pos_grid;                    /* position grid side the table was trained at (DINOv2: 37) */

  /* BEiT */
  int abs_pos;                     /* learned absolute position embeddings (not BEiT) */
  int rel_pos_shared;              /* one relative position bias table for all layers */
  int rel_pos_per_layer;           /* one table per layer */
  int mean_pooling;                /* BEiT: pooled = LN(mean(h[1:])) */

  /* MobileViT */
  int mv_hidden[3];                /* transformer width d for stages 2, 3, 4 */
  int mv_neck[7];                  /* neck_hidden_sizes */
  float mv_expand;                 /* expand ratio */
  int mv_conv_kernel;              /* 3 */
  double mv_mlp_ratio;             /* HF mlp_ratio: a transformer FFN is int(d * mlp_ratio) wide */
  int mv_patch;                    /* unfold patch size (2) */
} qs_arch;

/* Parse an HF config.json text (or a zoo entry's "config" object, as JSON text).
 * `origin` names the file for error messages. */
struct cJSON;
int qs_arch_from_json(const struct cJSON *cfg, const char *origin, qs_arch *a);
int qs_arch_from_config_file(const char *path, qs_arch *a);
/* Write an HF-compatible config.json for the architecture. */
int qs_arch_write_config(const qs_arch *a, const char *path);

/* Derived quantities. */
int qs_arch_grid(const qs_arch *a);          /* patches per side */
int qs_arch_tokens(const qs_arch *a);        /* sequence length incl. CLS (and DIST) */
int qs_arch_out_dim(const qs_arch *a);       /* width of the forward's output per image */
int qs_arch_input_size(const qs_arch *a);    /* image side in pixels */
/* Run at another input side than image_size (config.json's qsweep_input_size, the CLI's
 * --image-size): at least the patch size, the grid is size / patch_size as HF's
 * stride-patch convolution takes it (MobileViT: a multiple of 32); ViT, DeiT and DINOv2
 * resize their position table to the new grid, BEiT its relative position tables. `what`
 * names the source in the error. */
int qs_arch_set_input_size(qs_arch *a, int size, const char *what);
const char *qs_family_name(qs_family f);
const char *qs_output_name(qs_output_kind o);

/* Parameter count (every tensor the forward uses) and forward FLOPs per image
 * (2 per multiply-add, GEMMs, attention and convolutions). */
int64_t qs_arch_param_count(const qs_arch *a);
double qs_arch_gflops(const qs_arch *a);
/* Activation elements one forward of one image reads and writes (an estimate for the
 * roofline, not a measurement): every op's input read and output written once, fused
 * epilogues not credited, attention without an n x n matrix, heads left out. qlin_in (if
 * not NULL) gets the elements entering the Linears a quantized precision quantizes (the
 * encoder blocks'), which an activation-quantizing precision reads and writes once more
 * as bytes. 0 where the architecture is not valid. */
double qs_arch_act_elems(const qs_arch *a, double *qlin_in);
/* One transformer block's share of it over n tokens of width d and MLP width m
 * (qlin_in accumulates; MobileViT's blocks use it too). */
double qs_block_act_elems(double n, double d, double m, double *qlin_in);

/* The tensors of the model (caller frees *specs). */
#include "specs.h"
int qs_arch_specs(const qs_arch *a, qs_tensor_spec **specs, int *n);

/* The transformer families' tensor list (vit.c). */
void qs_vit_specs(const qs_arch *a, qs_spec_list *l);

/* MobileViT parts (mobilevit.c). */
int qs_mobilevit_specs(const qs_arch *a, qs_spec_list *l);
double qs_mobilevit_gflops(const qs_arch *a);
double qs_mobilevit_act_elems(const qs_arch *a, double *qlin_in);

#endif
