/* cuda_internal.h - the CUDA backend's plan, shared by its host files: cuda_linear.c
 * (the plan's tensors and Linear layers, which every family's description and
 * recording use), cuda_setup.c (the plan's life, the transformer families'
 * description), cuda_mobilevit.c (MobileViT), cuda_record.c (the forward as launches)
 * and cuda_backend.c (the forward, the timed loop, the vtable). Host C11 only. */
#ifndef QS_CUDA_INTERNAL_H
#define QS_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "backend.h"
#include "cuda_plan.h"
#include "model.h"
#include "precision.h"
#include "qs_quant_cuda.h"
#include "tp.h"

#define QS_GEMM_WS_LIMIT ((size_t)32 << 20) /* most workspace one GEMM may ask for */
#define QS_MAX_PARAMS (12 * QS_MAX_LAYERS + 32)
#define QS_MAX_LINEARS (4 * QS_MAX_LAYERS + 4)
#define QS_MAX_BLOBS (3 * QS_MAX_LINEARS)

/* How a Linear's weights are stored and multiplied (qs_cuda_linear_run):
 *   DENSE  weights in the compute dtype, cuBLASLt;
 *   INT8   LLM.int8: int8 weights + fp32 row scales (blobs), activations quantized per
 *          token at run time (qs_int8_quant), int8 tensor-core GEMM with the dequant,
 *          outlier, bias (and GELU) epilogue; split-K for small M;
 *   NF4    4-bit NF4 weights + absmax (blobs), dequantized inside the GEMM; tensor-core
 *          kernel (split-K for small M) when K % 64 == 0 and block 64, else the generic
 *          kernel of the flattened layout. */
typedef enum { QS_LIN_DENSE = 0, QS_LIN_INT8 = 1, QS_LIN_NF4 = 2, QS_LIN_FP8 = 3 } qs_lin_kind;

/* Bytes made on the host at plan time (quantized weights), uploaded into the weight
 * part of the arena. */
typedef struct {
  void *host; /* owned by the plan until it is freed */
  size_t bytes;
  void *d;
} qs_blob;

/* A device tensor made from up to three host fp32 parts laid end to end (NULL part:
 * zeros), stored in the compute dtype. */
typedef struct {
  const float *src[3];
  int64_t n[3];
  int64_t total;
  int derived; /* computed from the weights (BEiT bias tables): counted as workspace */
  void *d;
} qs_param;

typedef struct {
  qs_lin_kind kind;
  int w, b; /* param ids (b = -1: no bias; w = -1 for INT8 / NF4) */
  int M, N, K;
  qs_gemm gemm;
  /* INT8: q0 = int8 [N, K], q1 = fp32 s_w [N]. NF4: q0 = packed nibbles, q1 = fp32
   * absmax or (dq) int8 codes, q2 = (dq) fp32 group scales. Blob ids, -1 if none. */
  int q0, q1, q2;
  float aoff;  /* NF4 double quantization offset */
  int tiled;   /* NF4: the tensor-core kernel takes this shape */
  int splits;  /* K slices (1: no split-K) */
  /* tensor parallelism: 1 for a column-split Linear (attention output, FC2): its GEMM
   * runs without bias, then the all-reduce over the group and the bias rb once */
  int reduce;
  int rb; /* param id of the bias added after the all-reduce (-1: none) */
} qs_linear;

#define QS_TP_MAX_AR (2 * QS_MAX_LAYERS + 32) /* all-reduces of one forward, at most */

/* Tensor parallelism of a plan: the group (a copy; its ctx outlives the plan, as the
 * runner's group does), the NCCL communicator, and the events of one instrumented
 * forward (bench: allreduce_share). */
struct qs_cuda_tp {
  qs_tp_group g;
#ifdef QS_HAVE_NCCL
  ncclComm_t comm;
#endif
  int owned;   /* comm made for this plan alone (group key 0): destroyed with it */
  int timing;  /* record an event pair around each all-reduce ... */
  int nev;     /* ... pairs recorded so far */
  int nmade;   /* events created */
  cudaEvent_t ev[2 * QS_TP_MAX_AR];
};

typedef struct {
  int ln1_g, ln1_b, ln2_g, ln2_b, ls1, ls2, rel; /* param ids, -1 if absent */
  int qkv, o, fc1, fc2;                          /* linear ids */
} qs_layer;

typedef struct {
  const qs_model *m;
  const qs_arch *a;
  qs_dtype dt;
  size_t es;
  int device, use_graph;
  int B, N, D, H, hd, mlp, L, C, S, P, g, np, extra, KP, out_dim, ldb;
  cudaStream_t stream;
  cublasLtHandle_t lt;
  qs_arena arena;
  qs_param params[QS_MAX_PARAMS];
  int nparams;
  qs_linear lins[QS_MAX_LINEARS];
  int nlins;
  /* int8 / nf4: the precision's options, quantized weights, activation buffers */
  qs_prec_opts po;
  int quant; /* QS_LIN_INT8 / QS_LIN_NF4 / QS_LIN_FP8 for the quantized Linears, 0 in fp32 / fp16 */
  qs_blob blobs[QS_MAX_BLOBS];
  int nblobs;
  int qM, qN, qK;    /* largest M, N, K of the quantized Linears */
  size_t qws_bytes;  /* split-K partial sums (int32 / fp32) */
  int need_obuf;     /* an int8 Linear without split-K (outliers beyond the fused limit) */
  qs_int8_act i8;    /* shared by every int8 Linear (they run in sequence) */
  void *obuf, *qws;
  qs_layer layers[QS_MAX_LAYERS];
  int lin_patch, cls, dist, pos, lnf_g, lnf_b, head1, head2;
  float *owned[QS_MAX_LAYERS + 2]; /* host buffers the params point into */
  int nowned;
  struct qs_mv_plan *mv; /* MobileViT's part of the plan (cuda_mobilevit.c), NULL otherwise */
  /* activations (compute dtype unless noted) */
  float *in32;      /* (B, C, S, S) fp32 */
  void *cols;       /* (B*np, KP) */
  void *pe;         /* (B*np, D) */
  void *x, *h;      /* (B*N, D) residual stream, normalised copy */
  void *qkv;        /* (B*N, 3D) */
  void *att, *o;    /* (B*N, D) */
  void *mid;        /* (B*N, mlp) */
  void *pooled, *pooled2; /* (B, D) */
  void *logits, *logits2; /* (B, out_dim) */
  float *out32;     /* (B, out_dim) fp32 */
  void *ws;
  size_t ws_bytes, weight_bytes, total_bytes;
  double device_bytes;
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  /* tensor parallelism (plan_create_tp): tp rank tp_r of tp_k (tp_k 1: unsharded; tp
   * NULL). Hl: the heads this rank runs (H / tp_k). host shards: this rank's slices of
   * the split tensors, freed once uploaded. */
  int tp_k, tp_r, Hl;
  struct qs_cuda_tp *tp;
  float **shards;
  int nshards, shardcap;
} qs_cuda_plan;

/* ---- the plan's registries (cuda_linear.c) -------------------------------------------
 * What a family's description and recording use. Each returns an id, or -1 with an
 * error recorded. */
/* Host tensor of exactly n values; NULL (with an error) if missing or mis-sized
 * (missing and optional: NULL without one). */
const float *qs_cuda_tensor(const qs_cuda_plan *P, int64_t n, int optional, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A device tensor of one host part; -1 without a part (src NULL: the lookup that gave it
 * recorded why). */
int qs_cuda_add_param(qs_cuda_plan *P, const float *src, int64_t n);
/* A device tensor of up to three host fp32 parts laid end to end (NULL part: zeros);
 * the host data must outlive the plan's upload. */
int qs_cuda_add_param3(qs_cuda_plan *P, const float *a, int64_t na, const float *b, int64_t nb, const float *c,
                       int64_t nc, int derived);
/* The Linear "<base>.weight" [N, K] (+ "<base>.bias" [N]) applied to M rows; every
 * Linear of a checkpoint goes through here, so its storage kind is chosen in one place.
 * Under tensor parallelism (tp_k > 1) N and K are the full sizes and the Linear holds
 * this rank's shard by qs_tp_role_of: a row-split one computes N / tp_k outputs, a
 * column-split one reads K / tp_k inputs and all-reduces its output (qs_linear.reduce). */
int qs_cuda_add_linear(qs_cuda_plan *P, int M, int N, int K, const char *base);
/* q, k, v Linears of width D fused into one [3D, D] Linear applied to M rows (under
 * tensor parallelism this rank's rows of each: [3D / tp_k, D], q | k | v). */
int qs_cuda_add_qkv(qs_cuda_plan *P, int M, int D, const char *q, const char *k, const char *v);
/* A dense GEMM y[M, N] = x[M, K] W[N, K]^T (+ b) on weights the plan derived itself
 * (param ids w, b; b = -1: none): MobileViT's convolutions with BatchNorm folded in. */
int qs_cuda_add_gemm(qs_cuda_plan *P, int M, int N, int K, int w, int b);
/* Device pointer of a param (NULL for -1). */
void *qs_cuda_dptr(const qs_cuda_plan *P, int param);
/* y = x W^T + b for Linear / GEMM `id`, dispatched on how its weights are stored. */
int qs_cuda_linear_run(const qs_cuda_plan *P, int id, const void *x, void *y);
/* The same, then y = gelu(y) (exact erf, fp16): fused into the quantized epilogues. */
int qs_cuda_linear_run_gelu(const qs_cuda_plan *P, int id, const void *x, void *y);
/* Frees the host shards of a tensor-parallel plan (once uploaded, or with the plan). */
void qs_cuda_free_shards(qs_cuda_plan *P);

/* ---- the forward as launches (cuda_record.c) ------------------------------------------ */
/* Issue the whole forward on the plan's stream (in32 -> out32). */
int qs_cuda_record(const qs_cuda_plan *P);
/* One forward on the device: graph replay or plain launches. */
int qs_cuda_launch(const qs_cuda_plan *P, int use_graph);
/* Capture qs_cuda_record into the plan's graph, instantiated and uploaded. */
int qs_cuda_capture(qs_cuda_plan *P);

/* ---- a plan's life (cuda_setup.c): the vtable's plan_create, plan_destroy and
 * plan_create_tp (backend.h) ---------------------------------------------------------- */
int qs_cuda_plan_create(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o, void **out);
void qs_cuda_plan_destroy(void *plan);
#ifdef QS_HAVE_NCCL
int qs_cuda_plan_create_tp(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o,
                           const qs_tp_group *g, void **out);
#endif

/* ---- MobileViT (cuda_mobilevit.c) ----------------------------------------------------- */
/* Tensors, folded weights, GEMMs and the op list; sets P->mv. */
int qs_mv_describe(qs_cuda_plan *P);
/* Activations (after the params, before the workspace). */
int qs_mv_layout(qs_cuda_plan *P, qs_arena *A);
/* Issue the forward on P->stream (P->in32 -> P->out32). */
int qs_mv_record(const qs_cuda_plan *P);
void qs_mv_free(struct qs_mv_plan *mv);

/* Eval BatchNorm folded into a bias-free convolution with `per_out` weights per output
 * channel: w'[co, :] = w[co, :] * a[co], bias[co] = beta[co] - mean[co] * a[co], where
 * a = gamma / sqrt(var + eps) in fp32 (as the CPU reference computes a and c). */
void qs_bn_fold(const float *w, int cout, int64_t per_out, const float *gamma, const float *beta, const float *mean,
                const float *var, float eps, float *w_out, float *bias_out);

#endif
