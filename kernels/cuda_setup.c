/* cuda_setup.c - a CUDA plan's life: describe, lay out, upload, the first forward and
 * the graph capture; the NCCL communicator of a tensor-parallel plan; free.
 *
 * A plan owns one stream, one cuBLASLt handle and one device arena laid out once:
 *   [weights in the compute dtype][derived tables][activations][cuBLASLt workspace].
 * Nothing is allocated after plan_create. The transformer families (ViT, DeiT, DINO,
 * DINOv2, BEiT) are described here, MobileViT in cuda_mobilevit.c, both on the tensors
 * and Linears of cuda_linear.c; cuda_record.c records the forward. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_ops.h"
#include "cuda_internal.h"
#include "qs_common.h"
#include "qs_half.h"
#include "tp.h"

/* ---- host-side model description of the transformer families ------------------------ */

#define PARAM_OR_FAIL(id, expr) \
  do {                          \
    if (((id) = (expr)) < 0) return QS_EINVAL; \
  } while (0)

static float *own(qs_cuda_plan *P, size_t nfloats) {
  if (P->nowned >= (int)QS_ARRAY_LEN(P->owned)) {
    qs_fail(QS_EINTERNAL, "%s: too many host tables", P->a->name);
    return NULL;
  }
  float *f = qs_calloc(nfloats, sizeof(float));
  if (f) P->owned[P->nowned++] = f;
  return f;
}

/* BEiT relative position bias [Hl, N, ldb] gathered from a table [(2g-1)^2 + 3, H]: the
 * heads [tp_r * Hl, (tp_r + 1) * Hl) this rank runs (all H without tensor parallelism). */
static int beit_bias(qs_cuda_plan *P, const float *table) {
  const int g = P->g, N = P->N, H = P->H, span = 2 * g - 1, nrel = span * span + 3, ldb = P->ldb;
  if (g != P->a->pos_grid) { /* another resolution: the table resized as HF (and the CPU reference) */
    float *rt = own(P, (size_t)nrel * H);
    if (!rt || qs_cpu_resize_rel_table(table, H, P->a->pos_grid, g, rt) != QS_OK) return -1;
    table = rt;
  }
  const int Hl = P->Hl, h0 = P->tp_r * P->Hl;
  float *bias = own(P, (size_t)Hl * N * ldb);
  if (!bias) return -1;
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
      for (int h = 0; h < Hl; h++) bias[((size_t)h * N + i) * ldb + j] = table[(size_t)idx * H + h0 + h];
    }
  return qs_cuda_add_param3(P, bias, (int64_t)Hl * N * ldb, NULL, 0, NULL, 0, 1);
}

/* Another resolution than the table's (DINOv2; ViT and DeiT as HF's
 * interpolate_pos_encoding): the patch grid of the table resized bicubically, the CLS
 * (and distillation) rows kept, from the fp32 table as the CPU reference does. */
static const float *position_table(qs_cuda_plan *P, const float *tab) {
  if (P->g == P->a->pos_grid) return tab;
  float *pos = own(P, (size_t)P->N * P->D);
  if (!pos || qs_cpu_resize_pos_table(tab, P->D, P->extra, P->a->pos_grid, P->g, pos) != QS_OK) return NULL;
  return pos;
}

static int describe_transformer(qs_cuda_plan *P) {
  const qs_arch *a = P->a;
  const char *pre = a->prefix;
  const int D = P->D, M = P->B * P->N;
  char base[256], q[300], k[300], v[300], n1[300];

  snprintf(base, sizeof base, "%sembeddings.patch_embeddings.projection", pre);
  if ((P->lin_patch = qs_cuda_add_linear(P, P->B * P->np, D, P->KP, base)) < 0) return qs_last_code();
  const float *cls = qs_cuda_tensor(P, D, 0, "%sembeddings.cls_token", pre);
  if (!cls) return QS_EINVAL;
  P->cls = qs_cuda_add_param(P, cls, D);
  P->dist = -1;
  if (a->family == QS_FAM_DEIT) {
    const float *dist = qs_cuda_tensor(P, D, 0, "%sembeddings.distillation_token", pre);
    if (!dist) return QS_EINVAL;
    P->dist = qs_cuda_add_param(P, dist, D);
  }
  P->pos = -1;
  if (a->abs_pos) {
    const int rows = a->pos_grid * a->pos_grid + P->extra;
    const float *tab = qs_cuda_tensor(P, (int64_t)rows * D, 0, "%sembeddings.position_embeddings", pre);
    const float *use = tab ? position_table(P, tab) : NULL;
    if (!use) return QS_EINVAL;
    P->pos = qs_cuda_add_param(P, use, (int64_t)P->N * D);
  }
  int shared_rel = -1;
  if (a->family == QS_FAM_BEIT && a->rel_pos_shared && !a->rel_pos_per_layer) {
    const int nrel = (2 * a->pos_grid - 1) * (2 * a->pos_grid - 1) + 3; /* the checkpoint's grid */
    const float *t = qs_cuda_tensor(P, (int64_t)nrel * P->H, 0, "%sencoder.relative_position_bias.relative_position_bias_table", pre);
    if (!t || (shared_rel = beit_bias(P, t)) < 0) return QS_EINVAL;
  }
  for (int l = 0; l < P->L; l++) {
    qs_layer *ly = &P->layers[l];
    snprintf(base, sizeof base, "%sencoder.layer.%d", pre, l);
    const int dv2 = a->family == QS_FAM_DINOV2;
    snprintf(n1, sizeof n1, "%s.%s", base, dv2 ? "norm1" : "layernorm_before");
    PARAM_OR_FAIL(ly->ln1_g, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.weight", n1), D));
    PARAM_OR_FAIL(ly->ln1_b, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.bias", n1), D));
    snprintf(n1, sizeof n1, "%s.%s", base, dv2 ? "norm2" : "layernorm_after");
    PARAM_OR_FAIL(ly->ln2_g, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.weight", n1), D));
    PARAM_OR_FAIL(ly->ln2_b, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.bias", n1), D));
    ly->ls1 = ly->ls2 = ly->rel = -1;
    if (dv2) {
      PARAM_OR_FAIL(ly->ls1, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.layer_scale1.lambda1", base), D));
      PARAM_OR_FAIL(ly->ls2, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.layer_scale2.lambda1", base), D));
    } else if (a->family == QS_FAM_BEIT && a->layerscale) {
      PARAM_OR_FAIL(ly->ls1, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.lambda_1", base), D));
      PARAM_OR_FAIL(ly->ls2, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.lambda_2", base), D));
    }
    if (a->family == QS_FAM_BEIT) {
      if (a->rel_pos_per_layer) {
        const int nrel = (2 * a->pos_grid - 1) * (2 * a->pos_grid - 1) + 3; /* the checkpoint's grid */
        const float *t = qs_cuda_tensor(P, (int64_t)nrel * P->H, 0,
                                "%s.attention.attention.relative_position_bias.relative_position_bias_table", base);
        if (!t || (ly->rel = beit_bias(P, t)) < 0) return QS_EINVAL;
      } else {
        ly->rel = shared_rel;
      }
    }
    snprintf(q, sizeof q, "%s.attention.attention.query", base);
    snprintf(k, sizeof k, "%s.attention.attention.key", base);
    snprintf(v, sizeof v, "%s.attention.attention.value", base);
    if ((ly->qkv = qs_cuda_add_qkv(P, M, D, q, k, v)) < 0) return qs_last_code();
    snprintf(n1, sizeof n1, "%s.attention.output.dense", base);
    if ((ly->o = qs_cuda_add_linear(P, M, D, D, n1)) < 0) return qs_last_code();
    snprintf(n1, sizeof n1, "%s.%s", base, dv2 ? "mlp.fc1" : "intermediate.dense");
    if ((ly->fc1 = qs_cuda_add_linear(P, M, P->mlp, D, n1)) < 0) return qs_last_code();
    snprintf(n1, sizeof n1, "%s.%s", base, dv2 ? "mlp.fc2" : "output.dense");
    if ((ly->fc2 = qs_cuda_add_linear(P, M, D, P->mlp, n1)) < 0) return qs_last_code();
  }
  /* final norm and heads, as the CPU reference */
  snprintf(n1, sizeof n1, "%s%s", pre, a->family == QS_FAM_BEIT ? "pooler.layernorm" : "layernorm");
  PARAM_OR_FAIL(P->lnf_g, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.weight", n1), D));
  PARAM_OR_FAIL(P->lnf_b, qs_cuda_add_param(P, qs_cuda_tensor(P, D, 0, "%s.bias", n1), D));
  P->head1 = P->head2 = -1;
  const int K = a->num_labels;
  switch (a->output) {
    case QS_OUT_CLS: break;
    case QS_OUT_POOLER:
      if (a->family != QS_FAM_BEIT && (P->head1 = qs_cuda_add_linear(P, P->B, D, D, "pooler.dense")) < 0) return qs_last_code();
      break;
    case QS_OUT_LOGITS:
      if ((P->head1 = qs_cuda_add_linear(P, P->B, K, D, "classifier")) < 0) return qs_last_code();
      break;
    case QS_OUT_DEIT_AVG:
      if ((P->head1 = qs_cuda_add_linear(P, P->B, K, D, "cls_classifier")) < 0) return qs_last_code();
      if ((P->head2 = qs_cuda_add_linear(P, P->B, K, D, "distillation_classifier")) < 0) return qs_last_code();
      break;
  }
  return QS_OK;
}

/* ---- device layout ------------------------------------------------------------ */

#define ALLOC(ptr, bytes)                                                                         \
  do {                                                                                            \
    if (!((ptr) = qs_arena_alloc(A, (bytes))))                                                    \
      return qs_fail(QS_EINTERNAL, "%s: arena: %zu bytes do not fit the plan's layout", P->a->name, \
                     (size_t)(bytes));                                                            \
  } while (0)

/* the transformer families' activations */
static int layout_transformer(qs_cuda_plan *P, qs_arena *A) {
  const size_t es = P->es, M = (size_t)P->B * P->N, D = P->D, B = P->B;
  ALLOC(P->cols, es * B * P->np * P->KP);
  ALLOC(P->pe, es * B * P->np * D);
  ALLOC(P->x, es * M * D);
  ALLOC(P->h, es * M * D);
  ALLOC(P->qkv, es * M * 3 * D);
  ALLOC(P->att, es * M * D);
  ALLOC(P->o, es * M * D);
  ALLOC(P->mid, es * M * P->mlp);
  ALLOC(P->pooled, es * B * D);
  ALLOC(P->pooled2, es * B * D);
  ALLOC(P->logits, es * B * P->out_dim);
  ALLOC(P->logits2, es * B * P->out_dim);
  return QS_OK;
}

static int layout(qs_cuda_plan *P, qs_arena *A) {
  const size_t es = P->es, B = P->B;
  for (int pass = 0; pass < 2; pass++) /* weights first, then derived tables */
    for (int i = 0; i < P->nparams; i++)
      if (P->params[i].derived == pass) ALLOC(P->params[i].d, (size_t)P->params[i].total * es);
  for (int i = 0; i < P->nblobs; i++) ALLOC(P->blobs[i].d, P->blobs[i].bytes);
  size_t wbytes = 0;
  for (int i = 0; i < P->nparams; i++)
    if (!P->params[i].derived) wbytes += (size_t)P->params[i].total * es;
  for (int i = 0; i < P->nblobs; i++) wbytes += P->blobs[i].bytes; /* the real packed bytes */
  P->weight_bytes = wbytes;
  ALLOC(P->in32, sizeof(float) * B * P->C * P->S * P->S);
  QS_TRY(P->mv ? qs_mv_layout(P, A) : layout_transformer(P, A));
  if (P->quant == QS_LIN_FP8 && P->qM > 0) { /* codes and scales, shared by every fp8 Linear */
    ALLOC(P->i8.xq, (size_t)P->qM * (size_t)P->qK);
    ALLOC(P->i8.sx, sizeof(float) * (size_t)P->qM);
  }
  if (P->quant == QS_LIN_INT8 && P->qM > 0) { /* one set for every int8 Linear (they run in sequence) */
    const size_t qm = (size_t)P->qM, qk = (size_t)P->qK;
    ALLOC(P->i8.xq, qm * qk);
    ALLOC(P->i8.sx, sizeof(float) * qm);
    ALLOC(P->i8.n_out, sizeof(int));
    ALLOC(P->i8.cols, sizeof(int) * qk);
    ALLOC(P->i8.xo, 2 * qm * qk);
    ALLOC(P->i8.state, 4 * qs_int8_state_words(P->qK));
    if (P->need_obuf) ALLOC(P->obuf, 2 * qm * (size_t)P->qN);
  }
  if (P->qws_bytes) ALLOC(P->qws, P->qws_bytes);
  ALLOC(P->out32, sizeof(float) * B * P->out_dim);
  if (P->ws_bytes) ALLOC(P->ws, P->ws_bytes);
  return QS_OK;
}

static int upload(qs_cuda_plan *P) {
  int64_t maxn = 0;
  for (int i = 0; i < P->nparams; i++)
    for (int j = 0; j < 3; j++) maxn = P->params[i].n[j] > maxn ? P->params[i].n[j] : maxn;
  void *stage = qs_malloc((size_t)maxn * P->es + 16);
  if (!stage) return QS_ENOMEM;
  int rc = QS_OK;
  for (int i = 0; i < P->nparams && rc == QS_OK; i++) {
    const qs_param *p = &P->params[i];
    char *dst = p->d;
    for (int j = 0; j < 3 && rc == QS_OK; j++) {
      const int64_t n = p->n[j];
      if (n == 0) continue;
      const float *s = p->src[j];
      if (P->dt == QS_DT_F16) {
        uint16_t *h = stage;
        for (int64_t e = 0; e < n; e++) h[e] = s ? qs_float_to_half(s[e]) : 0;
      } else if (P->dt == QS_DT_BF16) { /* round to nearest even: the CPU reference's b() */
        uint16_t *h = stage;
        for (int64_t e = 0; e < n; e++) h[e] = s ? qs_float_to_bf16(s[e]) : 0;
      } else if (s) {
        memcpy(stage, s, (size_t)n * sizeof(float));
      } else {
        memset(stage, 0, (size_t)n * sizeof(float));
      }
      cudaError_t e = cudaMemcpy(dst, stage, (size_t)n * P->es, cudaMemcpyHostToDevice);
      if (e != cudaSuccess) rc = qs_cuda_fail(e, "cudaMemcpy(weights)", __FILE__, __LINE__);
      dst += (size_t)n * P->es;
    }
  }
  free(stage);
  for (int i = 0; i < P->nblobs && rc == QS_OK; i++) {
    cudaError_t e = cudaMemcpy(P->blobs[i].d, P->blobs[i].host, P->blobs[i].bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) rc = qs_cuda_fail(e, "cudaMemcpy(quantized weights)", __FILE__, __LINE__);
  }
  if (rc == QS_OK && P->i8.state) rc = qs_int8_state_init(P->i8.state, P->qK, P->stream);
  return rc;
}

/* ---- plan lifetime ------------------------------------------------------------------ */

static void tp_free(qs_cuda_plan *P);

static void plan_free(qs_cuda_plan *P) {
  if (!P) return;
  if (P->device >= 0) cudaSetDevice(P->device);
  if (P->stream) cudaStreamSynchronize(P->stream);
  if (P->exec) cudaGraphExecDestroy(P->exec);
  if (P->graph) cudaGraphDestroy(P->graph);
  tp_free(P); /* after the graph, which holds NCCL work of the communicator */
  qs_cuda_free_shards(P);
  for (int i = 0; i < P->nlins; i++) qs_gemm_destroy(&P->lins[i].gemm);
  qs_arena_destroy(&P->arena);
  if (P->lt) cublasLtDestroy(P->lt);
  if (P->stream) cudaStreamDestroy(P->stream);
  for (int i = 0; i < P->nowned; i++) free(P->owned[i]);
  for (int i = 0; i < P->nblobs; i++) free(P->blobs[i].host);
  qs_mv_free(P->mv);
  (void)cudaGetLastError();
  free(P);
}

/* Everything of a plan that involves this process alone: describe, lay out, upload.
 * *free0: the device's free memory before it. */
static int plan_prepare(qs_cuda_plan *P, size_t *free0) {
  size_t total = 0;
  CUDA_CHECK(cudaSetDevice(P->device));
  CUDA_CHECK(cudaFree(NULL)); /* the context exists before the memory baseline */
  CUDA_CHECK(cudaMemGetInfo(free0, &total));
  CUDA_CHECK(cudaStreamCreateWithFlags(&P->stream, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasLtCreate(&P->lt));
  QS_TRY(P->a->family == QS_FAM_MOBILEVIT ? qs_mv_describe(P) : describe_transformer(P));

  /* GEMM algorithms: one heuristic query per distinct shape */
  P->ws_bytes = 0;
  for (int i = 0; i < P->nlins; i++) {
    qs_linear *l = &P->lins[i];
    if (l->kind != QS_LIN_DENSE) continue; /* int8 / nf4: their own kernels */
    const qs_gemm *like = NULL;
    for (int j = 0; j < i && !like; j++) {
      const qs_gemm *o = &P->lins[j].gemm;
      if (o->M == l->M && o->N == l->N && o->K == l->K && o->has_bias == (l->b >= 0)) like = o;
    }
    QS_TRY(qs_gemm_init(&l->gemm, P->lt, P->dt, l->M, l->N, l->K, l->b >= 0, QS_GEMM_WS_LIMIT, like));
    if (l->gemm.ws_bytes > P->ws_bytes) P->ws_bytes = l->gemm.ws_bytes;
  }

  qs_arena measure;
  qs_arena_measure(&measure);
  QS_TRY(layout(P, &measure));
  P->total_bytes = measure.used;
  QS_TRY(qs_arena_create(&P->arena, P->total_bytes));
  QS_TRY(layout(P, &P->arena));
  QS_TRY(upload(P));
  for (int i = 0; i < P->nblobs; i++) { /* on the device now */
    free(P->blobs[i].host);
    P->blobs[i].host = NULL;
  }
  qs_cuda_free_shards(P); /* likewise (the params that point into them are uploaded) */
  for (int i = 0; i < P->nlins; i++)
    if (P->lins[i].kind == QS_LIN_DENSE) QS_TRY(qs_gemm_set_bias(&P->lins[i].gemm, qs_cuda_dptr(P, P->lins[i].b)));
  return QS_OK;
}

/* A status agreed over the tensor-parallel group (the status itself without one). */
static int agree(const qs_cuda_plan *P, int rc) { return P->tp ? qs_tp_agree(&P->tp->g, rc) : rc; }

static int first_forward(qs_cuda_plan *P) {
  CUDA_CHECK(cudaMemsetAsync(P->in32, 0, sizeof(float) * (size_t)P->B * P->C * P->S * P->S, P->stream));
  QS_TRY(qs_cuda_record(P));
  CUDA_CHECK(cudaStreamSynchronize(P->stream));
  return QS_OK;
}

static int graph_forward(qs_cuda_plan *P) {
  QS_TRY(qs_cuda_launch(P, 1));
  CUDA_CHECK(cudaStreamSynchronize(P->stream));
  return QS_OK;
}

/* A first plain forward (loads the modules, surfaces errors), then the graph. Under
 * tensor parallelism every step runs collectives, so each is agreed over the group
 * before the next (no rank enters an all-reduce that another has given up on). */
static int plan_finish(qs_cuda_plan *P, size_t free0) {
  size_t free1 = 0, total = 0;
  QS_TRY(agree(P, first_forward(P)));
  if (P->use_graph) {
    QS_TRY(agree(P, qs_cuda_capture(P)));
    QS_TRY(agree(P, graph_forward(P)));
  }
  CUDA_CHECK(cudaMemGetInfo(&free1, &total));
  P->device_bytes = (double)free0 - (double)free1;
  return QS_OK;
}

static int plan_build(qs_cuda_plan *P) {
  size_t free0 = 0;
  QS_TRY(plan_prepare(P, &free0));
  return plan_finish(P, free0);
}

/* The checks of plan_create that depend on the arguments alone (the same answer on every
 * rank of a tensor-parallel group). */
static int plan_check(const qs_model *m, const qs_prec_opts *po, int batch) {
  const qs_arch *a = &m->arch;
  /* Refused here, before anything is uploaded, so such a cell is recorded unsupported
   * and never runs in another precision: a precision without kernels, and fp8 (quant.h
   * section 5: the sm_90a wgmma kernel) off compute capability 9.0 or without a build
   * for it (bf16's device check is device_check). int8dyn (section 6) is the int8 path
   * with the outlier threshold at 0. */
  if (po->prec == QS_PREC_FP8) {
#if QS_HAVE_SM90A
    if (!qs_int8_sm90_available()) {
      int dev = 0, major = 0, minor = 0;
      cudaGetDevice(&dev);
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
      return qs_fail(QS_EUNSUPPORTED,
                     "%s: cuda: fp8: needs compute capability 9.0 (its kernels are e4m3 wgmma); the device has %d.%d",
                     a->name, major, minor);
    }
#else
    return qs_fail(QS_EUNSUPPORTED,
                   "%s: cuda: fp8: needs compute capability 9.0 and a build with its sm_90a kernels "
                   "(CMAKE_CUDA_ARCHITECTURES including 90); this build has none",
                   a->name);
#endif
  } else if (po->prec != QS_PREC_FP32 && po->prec != QS_PREC_FP16 && po->prec != QS_PREC_INT8 &&
             po->prec != QS_PREC_NF4 && po->prec != QS_PREC_INT8DYN && po->prec != QS_PREC_BF16)
    return qs_fail(QS_EUNSUPPORTED, "%s: cuda: %s: no CUDA kernels for this precision in this build", a->name,
                   qs_precision_name(po->prec));
  if (po->prec == QS_PREC_NF4 && po->nf4_block < 1)
    return qs_fail(QS_EINVAL, "%s: nf4 block %d must be at least 1", a->name, po->nf4_block);
  if (batch < 1) return qs_fail(QS_EINVAL, "batch: %d must be at least 1", batch);
  if (a->layers < 1 || a->layers > QS_MAX_LAYERS || a->hidden % a->heads != 0 || a->input_size < a->patch_size)
    return qs_fail(QS_EINVAL, "%s: architecture not runnable (layers %d, hidden %d, heads %d)", a->name, a->layers,
                   a->hidden, a->heads);
  return QS_OK;
}

/* The checks of the plan's device: bf16 needs compute capability 8.0 (bf16 tensor cores,
 * mma.sync .bf16 in the attention); an older device refuses the plan with the reason. */
static int device_check(const qs_cuda_plan *P) {
  if (P->dt != QS_DT_BF16) return QS_OK;
  int major = 0, minor = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, P->device));
  CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, P->device));
  if (major < 8)
    return qs_fail(QS_EUNSUPPORTED, "%s: cuda: bf16 needs compute capability 8.0 or newer, device %d has %d.%d",
                   P->a->name, P->device, major, minor);
  return QS_OK;
}

static void plan_init(qs_cuda_plan *P, const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o) {
  const qs_arch *a = &m->arch;
  P->m = m;
  P->a = a;
  /* int8 / nf4: every layer the precision does not quantize runs in fp16 (as the CPU
   * reference); bf16: every layer in bf16 (quant.h section 4) */
  P->dt = po->prec == QS_PREC_FP32 ? QS_DT_F32 : po->prec == QS_PREC_BF16 ? QS_DT_BF16 : QS_DT_F16;
  P->po = *po;
  /* int8dyn: LLM.int8's kernels without the outlier decomposition (quant.h section 6) */
  if (po->prec == QS_PREC_INT8DYN) P->po.int8_threshold = 0.0f;
  P->quant = po->prec == QS_PREC_INT8 || po->prec == QS_PREC_INT8DYN ? QS_LIN_INT8
             : po->prec == QS_PREC_NF4                               ? QS_LIN_NF4
             : po->prec == QS_PREC_FP8                               ? QS_LIN_FP8
                                                                     : 0;
  P->es = qs_dtype_size(P->dt);
  P->device = o && o->device >= 0 ? o->device : 0;
  P->use_graph = o ? o->use_graph : 1;
  P->B = batch;
  P->D = a->hidden;
  P->H = a->heads;
  P->hd = a->hidden / a->heads;
  P->mlp = a->mlp;
  P->L = a->layers;
  P->C = a->num_channels;
  P->S = a->input_size;
  P->P = a->patch_size;
  P->g = P->S / P->P;
  P->np = P->g * P->g;
  P->extra = 1 + (a->family == QS_FAM_DEIT);
  P->N = P->np + P->extra;
  P->KP = P->C * P->P * P->P;
  P->out_dim = qs_arch_out_dim(a);
  P->ldb = (P->N + 63) / 64 * 64;
  P->tp_k = 1;
  P->tp_r = 0;
  P->Hl = P->H;
}

int qs_cuda_plan_create(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o, void **out) {
  *out = NULL;
  const qs_arch *a = &m->arch;
  QS_TRY(plan_check(m, po, batch));
  qs_cuda_plan *P = qs_calloc(1, sizeof *P);
  if (!P) return QS_ENOMEM;
  plan_init(P, m, po, batch, o);
  int rc = device_check(P);
  if (rc == QS_OK) rc = plan_build(P);
  if (rc != QS_OK) {
    qs_error_prefix("%s: cuda %s b%d", a->name, qs_precision_name(po->prec), batch);
    plan_free(P);
    return rc;
  }
  *out = P;
  return QS_OK;
}

void qs_cuda_plan_destroy(void *plan) { plan_free(plan); }

/* ---- tensor parallelism (NCCL) -------------------------------------------------------
 * plan_create_tp shards the encoder Linears as the CPU reference does (tp.h): q|k|v and
 * FC1 by output features, the attention output dense and FC2 by input features, whose
 * GEMMs run without bias; after each of those two, one ncclAllReduce (sum, in place, in
 * the compute dtype: ncclFloat for fp32 plans, ncclBfloat16 for bf16 ones, ncclHalf
 * otherwise) on the plan's stream, then the bias once (qs_bias_add_launch), then the
 * residual + LayerNorm of the dense path (tp_reduce, cuda_linear.c). The collectives
 * are issued by qs_cuda_record, so they are captured into the plan's CUDA graph like
 * every other launch (NCCL supports stream capture).
 *
 * The communicator: tp rank 0 makes an ncclUniqueId, the group's control plane
 * broadcasts it, every rank calls ncclCommInitRank on its own device. It is cached for
 * the process lifetime by the group key (the same ranks run the same group in every
 * cell), and reused only when every rank of the group has it cached. Cached
 * communicators are never destroyed: ncclCommDestroy at exit would run after MPI is
 * finalized and the CUDA contexts are being torn down; the process exit releases them.
 * A group without a key (0) gets a communicator of its own, destroyed with the plan.
 * plan_create_tp is called from one thread at a time (the cell runner), so the cache
 * takes no lock. NVLink multicast (NVLS) is left as the environment configures it. */

static void tp_free(qs_cuda_plan *P) {
  struct qs_cuda_tp *t = P->tp;
  if (!t) return;
  for (int i = 0; i < t->nmade; i++) cudaEventDestroy(t->ev[i]);
#ifdef QS_HAVE_NCCL
  if (t->owned && t->comm) ncclCommDestroy(t->comm);
#endif
  free(t);
  P->tp = NULL;
}

#ifdef QS_HAVE_NCCL
typedef struct {
  uint64_t key;
  int size, rank, device;
  ncclComm_t comm;
} tp_comm_entry;

#define QS_TP_MAX_COMMS 32
static tp_comm_entry g_tp_comms[QS_TP_MAX_COMMS];
static int g_tp_ncomms;

static tp_comm_entry *tp_comm_find(const qs_tp_group *g, int device) {
  if (!g->key) return NULL;
  for (int i = 0; i < g_tp_ncomms; i++) {
    tp_comm_entry *e = &g_tp_comms[i];
    if (e->key == g->key && e->size == g->size && e->rank == g->rank && e->device == device) return e;
  }
  return NULL;
}

/* Collective over the group: P->tp->comm, cached or made. Every failure is agreed. */
static int tp_comm_get(qs_cuda_plan *P) {
  struct qs_cuda_tp *t = P->tp;
  const qs_tp_group *g = &t->g;
  tp_comm_entry *e = tp_comm_find(g, P->device);
  double miss = e ? 0.0 : 1.0; /* reuse only when every rank has one */
  QS_TRY(g->ctl_max(g->ctx, &miss, 1));
  if (miss == 0.0) {
    t->comm = e->comm;
    return QS_OK;
  }
  if (e) { /* a stale one (another rank lost its): abort it, a new one follows */
    ncclCommAbort(e->comm);
    *e = g_tp_comms[--g_tp_ncomms];
  }
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  int rc = QS_OK;
  if (g->rank == 0) {
    ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) rc = qs_nccl_fail(r, "ncclGetUniqueId(&id)", __FILE__, __LINE__);
  }
  QS_TRY(qs_tp_agree(g, rc));
  QS_TRY(g->ctl_bcast(g->ctx, &id, sizeof id, 0));
  ncclComm_t comm = NULL;
  cudaError_t ce = cudaSetDevice(P->device);
  if (ce != cudaSuccess) {
    rc = qs_cuda_fail(ce, "cudaSetDevice(device)", __FILE__, __LINE__);
  } else {
    ncclResult_t r = ncclCommInitRank(&comm, g->size, id, g->rank);
    if (r != ncclSuccess) {
      rc = qs_nccl_fail(r, "ncclCommInitRank(&comm, size, id, rank)", __FILE__, __LINE__);
      comm = NULL;
    }
  }
  rc = qs_tp_agree(g, rc);
  if (rc != QS_OK) {
    if (comm) ncclCommAbort(comm);
    return rc;
  }
  t->comm = comm;
  if (g->key && g_tp_ncomms < QS_TP_MAX_COMMS) {
    tp_comm_entry *n = &g_tp_comms[g_tp_ncomms++];
    n->key = g->key, n->size = g->size, n->rank = g->rank, n->device = P->device, n->comm = comm;
  } else {
    t->owned = 1;
  }
  return QS_OK;
}
#endif

#ifdef QS_HAVE_NCCL
/* After a failed first forward the communicator may be broken: abort it and take it out
 * of the cache (the next plan of the group makes a new one; tp_comm_get agrees on that). */
static void tp_comm_forget(qs_cuda_plan *P) {
  struct qs_cuda_tp *t = P->tp;
  if (!t || !t->comm) return;
  if (P->stream) (void)cudaStreamSynchronize(P->stream);
  if (P->exec) cudaGraphExecDestroy(P->exec);
  if (P->graph) cudaGraphDestroy(P->graph);
  P->exec = NULL;
  P->graph = NULL;
  tp_comm_entry *e = tp_comm_find(&t->g, P->device);
  if (e && e->comm == t->comm) *e = g_tp_comms[--g_tp_ncomms];
  ncclCommAbort(t->comm);
  t->comm = NULL;
  t->owned = 0;
  (void)cudaGetLastError();
}

/* tp rank g->rank of g->size: the deterministic checks return at once (the same on every
 * rank); from then on every step is agreed over the group (tp.h, qs_tp_agree). */
int qs_cuda_plan_create_tp(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o,
                           const qs_tp_group *g, void **out) {
  if (!g || g->size <= 1) return qs_cuda_plan_create(m, po, batch, o, out);
  *out = NULL;
  const qs_arch *a = &m->arch;
  if (g->rank < 0 || g->rank >= g->size || !g->ctl_max || !g->ctl_bcast)
    return qs_fail(QS_EINVAL, "%s: tp rank %d of %d: not a valid group", a->name, g->rank, g->size);
  QS_TRY(plan_check(m, po, batch));
  QS_TRY(qs_tp_check_arch(a, g->size));
  size_t free0 = 0;
  int rc = QS_OK;
  qs_cuda_plan *P = qs_calloc(1, sizeof *P);
  if (P) {
    plan_init(P, m, po, batch, o);
    P->tp_k = g->size;
    P->tp_r = g->rank;
    P->Hl = P->H / g->size;
    if (!(P->tp = qs_calloc(1, sizeof *P->tp))) rc = QS_ENOMEM;
    if (rc == QS_OK) rc = device_check(P);
    if (rc == QS_OK) {
      P->tp->g = *g;
      rc = plan_prepare(P, &free0);
    }
  } else {
    rc = QS_ENOMEM;
  }
  rc = qs_tp_agree(g, rc);
  if (rc == QS_OK) rc = tp_comm_get(P);
  if (rc == QS_OK && (rc = plan_finish(P, free0)) != QS_OK) tp_comm_forget(P);
  if (rc != QS_OK) {
    qs_error_prefix("%s: cuda %s b%d tp %d", a->name, qs_precision_name(po->prec), batch, g->size);
    plan_free(P);
    return rc;
  }
  *out = P;
  return QS_OK;
}
#endif
