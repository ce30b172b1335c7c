/* cpu_internal.h - the CPU plan and the pieces the family forwards share (cpu_backend.c),
 * and MobileViT's forward (cpu_mobilevit.c). */
#ifndef QS_CPU_INTERNAL_H
#define QS_CPU_INTERNAL_H

#include <stdint.h>

#include "cpu_backend.h"
#include "cpu_ops.h"
#include "tp.h"

/* What a tensor-parallel plan counts while it runs (mutable behind a const plan). */
typedef struct {
  double allreduce_s; /* seconds inside the group's all-reduce */
  int64_t n_allreduce;
} qs_cpu_tp_stats;

struct qs_cpu_plan {
  const qs_model *m;
  qs_prec_opts p;
  float **w;   /* per tensor: the weights as this precision sees them (fp16/bf16-rounded copies, or m's) */
  void **q;    /* per tensor: quantized form (qs_int8_matrix: int8, int8dyn; qs_nf4_matrix; qs_fp8_matrix) or NULL */
  /* tensor parallelism (tp.h); tp.size == 1 (and the rest NULL) for an unsharded plan */
  qs_tp_group tp;
  int64_t (*shape)[2];    /* per tensor, tp > 1: [rows, cols] of this rank's 2-D shard (else the spec's) */
  int64_t *numel;         /* per tensor, tp > 1: values this rank holds */
  qs_cpu_tp_stats *stats; /* tp > 1 */
};

/* Index of a tensor by name, -1 if absent. */
int qs_cpu_find(const qs_cpu_plan *p, const char *name);
/* Tensor as this precision sees it; NULL (with an error) if missing. */
const float *qs_cpu_w(const qs_cpu_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* y[M,N] = x[M,K] W^T + b for the Linear "<base>.weight" / "<base>.bias" (bias optional),
 * in the plan's precision (quantized for encoder Linears under int8 / nf4). */
int qs_cpu_linear(const qs_cpu_plan *p, const char *base, const float *x, int64_t M, int64_t K, int64_t N, float *y);
/* The type the plan's unquantized layers compute in: QS_ROUND_NONE (fp32),
 * QS_ROUND_F16 or QS_ROUND_BF16 (qs_half.h). */
int qs_cpu_storage(const qs_cpu_plan *p);
/* Round to the compute dtype (fp16 unless fp32; bf16 under bf16). */
void qs_cpu_round(const qs_cpu_plan *p, float *x, int64_t n);
/* y[M,N] = x[M,K] w[N,K]^T + bias in the compute dtype: fp32 (qs_cpu_gemm_nt), the
 * fp16 GEMM of quant.h section 1, or the bf16 GEMM of section 4. */
int qs_cpu_gemm(const qs_cpu_plan *p, const float *x, const float *w, const float *bias, int64_t M, int64_t N,
                int64_t K, float *y);
/* Names of one pre-norm transformer block's tensors (ViT naming unless dinov2). */
typedef struct {
  char ln1[256], ln2[256], q[256], k[256], v[256], o[256], fc1[256], fc2[256];
  char ls1[256], ls2[256]; /* layer-scale vectors ("" if none) */
} qs_block_names;
void qs_block_names_vit(qs_block_names *n, const char *layer_base); /* ViT/DeiT/BEiT/MobileViT */
void qs_block_names_dinov2(qs_block_names *n, const char *layer_base);
/* y[M, D] = LayerNorm of x with "<base>.weight" / "<base>.bias", rounded to the compute dtype. */
int qs_cpu_layernorm_named(const qs_cpu_plan *p, const char *base, const float *x, int64_t M, int64_t D, float eps,
                           float *y);
/* One block in place on x [B, N, D]; rel_bias: optional [H, N, N]. */
int qs_cpu_block(const qs_cpu_plan *p, const qs_block_names *nm, float *x, int B, int N, int D, int H, int mlp,
                 float eps, qs_act act, const float *rel_bias);

/* MobileViT forward (cpu_mobilevit.c). */
int qs_cpu_forward_mobilevit(qs_cpu_plan *p, int batch, const float *input, float *out);

#endif
