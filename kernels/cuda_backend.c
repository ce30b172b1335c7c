/* cuda_backend.c - the CUDA backend: the native forward of the transformer families
 * (ViT, DeiT, DINO, DINOv2, BEiT) in fp32 and fp16, captured in a CUDA graph, and
 * the timed loop.
 *
 * MobileViT's forward is in cuda_mobilevit.c, on the same plan, arena, graph and loop.
 *
 * A plan owns one stream, one cuBLASLt handle and one device arena laid out once:
 *   [weights in the compute dtype][derived tables][activations][cuBLASLt workspace].
 * Nothing is allocated after plan_create. The forward is recorded by one function
 * (record) that issues every launch on the plan's stream: plain launches run it
 * directly, the graph is a capture of it.
 *
 * Per block (pre-norm), with x the residual stream and h = LN1(x) from the step before:
 *   qkv = h Wqkv^T + b   (q, k, v fused into one GEMM, [M, 3D])
 *   att = attention(qkv, rel-pos bias)        (fused, online softmax)
 *   o   = att Wo^T + b
 *   x  += ls1 * o;  h = LN2(x)               (one kernel)
 *   mid = gelu(h W1^T + b)                    (bias in the GEMM epilogue, erf GELU kernel)
 *   o   = mid W2^T + b
 *   x  += ls2 * o;  h = LN1'(x)              (next block's LN1, or the final LN)
 * Precision semantics follow the CPU reference: fp16 storage of weights and
 * activations, fp32 accumulation and statistics.
 *
 * Tensor parallelism (plan_create_tp, built with NCCL): the same forward on this rank's
 * shards (heads H / k, MLP width mlp / k), with an NCCL all-reduce after the attention
 * output GEMM and after FC2, then their bias; see "tensor parallelism" below. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_ops.h"
#include "cuda_internal.h"
#include "qs_common.h"
#include "qs_half.h"
#include "quant.h"
#include "tp.h"

#define QS_EVENT_CHUNK 32
#define QS_ENERGY_MIN_S 0.25 /* shortest timed loop whose energy is reported */
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

/* ---- host-side model description --------------------------------------------- */

/* Host tensor of exactly n values; NULL (with an error) if missing or mis-sized. */
static const float *tensor(const qs_cuda_plan *P, int64_t n, int optional, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const float *tensor(const qs_cuda_plan *P, int64_t n, int optional, const char *fmt, ...) {
  char name[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  for (int i = 0; i < P->m->n; i++) {
    if (strcmp(P->m->specs[i].name, name) != 0) continue;
    if (!P->m->t[i].data) break;
    if (qs_spec_numel(&P->m->specs[i]) != n) {
      qs_fail(QS_EINVAL, "%s: %s: %lld values, expected %lld", P->a->name, name,
              (long long)qs_spec_numel(&P->m->specs[i]), (long long)n);
      return NULL;
    }
    return P->m->t[i].data;
  }
  if (!optional) qs_fail(QS_EINVAL, "%s: %s: tensor missing", P->a->name, name);
  return NULL;
}

int qs_cuda_add_param3(qs_cuda_plan *P, const float *a, int64_t na, const float *b, int64_t nb, const float *c,
                      int64_t nc, int derived) {
  if (P->nparams >= QS_MAX_PARAMS) {
    qs_fail(QS_EINTERNAL, "%s: too many tensors for the CUDA plan", P->a->name);
    return -1;
  }
  qs_param *p = &P->params[P->nparams];
  memset(p, 0, sizeof *p);
  p->src[0] = a, p->src[1] = b, p->src[2] = c;
  p->n[0] = na, p->n[1] = nb, p->n[2] = nc;
  p->total = na + nb + nc;
  p->derived = derived;
  return P->nparams++;
}
static int add_param(qs_cuda_plan *P, const float *src, int64_t n) {
  return src ? qs_cuda_add_param3(P, src, n, NULL, 0, NULL, 0, 0) : -1;
}
#define PARAM_OR_FAIL(id, expr) \
  do {                          \
    if (((id) = (expr)) < 0) return QS_EINVAL; \
  } while (0)

/* ---- quantized Linears (int8, nf4) ---------------------------------------------
 * At plan time each quantized Linear's fp32 weight is quantized on the host by the CPU
 * reference (src/quant.h), so the device holds exactly the reference's codes and scales;
 * the packed bytes are blobs in the weight part of the arena. */

/* 1 if "<base>.weight" is one of the layers the precision quantizes (spec flag). */
static int spec_quantized(const qs_cuda_plan *P, const char *base) {
  char name[320];
  snprintf(name, sizeof name, "%s.weight", base);
  for (int i = 0; i < P->m->n; i++)
    if (!strcmp(P->m->specs[i].name, name)) return P->m->specs[i].quantized != 0;
  return 0;
}

/* Takes ownership of host (freed with the plan, also on failure). */
static int add_blob(qs_cuda_plan *P, void *host, size_t bytes) {
  if (!host) {
    qs_fail(QS_ENOMEM, "%s: out of host memory for quantized weights", P->a->name);
    return -1;
  }
  if (P->nblobs >= QS_MAX_BLOBS) {
    free(host);
    qs_fail(QS_EINTERNAL, "%s: too many quantized tensors for the CUDA plan", P->a->name);
    return -1;
  }
  P->blobs[P->nblobs].host = host;
  P->blobs[P->nblobs].bytes = bytes;
  P->blobs[P->nblobs].d = NULL;
  return P->nblobs++;
}
static void *dup_bytes(const void *src, size_t n) {
  void *d = qs_malloc(n ? n : 1);
  if (d && n) memcpy(d, src, n);
  return d;
}

/* Quantize the Linear whose weight is the rows of parts w[0..nparts) ([rows, K] each,
 * stacked: the fused q|k|v) into l. int8: per-row scales do not see the stacking, so
 * the stacked matrix is quantized at once. nf4: every part is quantized on its own,
 * exactly as the CPU reference quantizes q, k and v; stacked, the flattened blocks are
 * the same when rows * K is a multiple of the block (K % 8 == 0 with block 64, true
 * of every zoo model), and with double quantization (one offset and group layout per
 * part) the reconstructed fp32 absmax values are stored instead of the codes. */
static int quantize_linear(qs_cuda_plan *P, qs_linear *l, const float *const *w, int nparts, int64_t rows) {
  const int64_t N = rows * nparts, K = l->K;
  l->q0 = l->q1 = l->q2 = -1;
  l->splits = 1;
  if (P->quant == QS_LIN_INT8) {
    if (K % 16 != 0 || N % 2 != 0 || K > QS_INT8_MAX_K)
      return qs_fail(QS_EUNSUPPORTED, "%s: int8 Linear [%lld, %lld]: the int8 kernels need K %% 16 == 0 and N even",
                     P->a->name, (long long)N, (long long)K);
    float *st = NULL;
    const float *src = w[0];
    if (nparts > 1) {
      if (!(st = qs_malloc(sizeof(float) * (size_t)N * (size_t)K))) return QS_ENOMEM;
      for (int i = 0; i < nparts; i++) memcpy(st + (size_t)i * rows * K, w[i], sizeof(float) * (size_t)rows * K);
      src = st;
    }
    qs_int8_matrix q;
    memset(&q, 0, sizeof q);
    int rc = qs_int8_quantize_weight(src, N, K, &q);
    free(st);
    if (rc != QS_OK) return rc;
    l->q0 = add_blob(P, q.q, (size_t)N * K);
    q.q = NULL;
    l->q1 = add_blob(P, q.scale, sizeof(float) * (size_t)N);
    q.scale = NULL;
    qs_int8_free(&q);
    if (l->q0 < 0 || l->q1 < 0) return QS_EINTERNAL;
    l->kind = QS_LIN_INT8;
    l->splits = qs_int8_splitk_choose(l->M, (int)N, (int)K);
    return QS_OK;
  }
  const int block = P->po.nf4_block, dq = P->po.nf4_double_quant;
  const int64_t per = rows * K;
  if (nparts > 1 && (per % block != 0 || per % 2 != 0))
    return qs_fail(QS_EUNSUPPORTED, "%s: nf4 fused q|k|v: [%lld, %lld] is not a whole number of %d-blocks",
                   P->a->name, (long long)rows, (long long)K, block);
  qs_nf4_matrix m[3];
  memset(m, 0, sizeof m);
  int rc = QS_OK;
  for (int i = 0; i < nparts && rc == QS_OK; i++) rc = qs_nf4_quantize(w[i], rows, K, block, dq, &m[i]);
  if (rc == QS_OK) {
    if (nparts == 1) {
      l->q0 = add_blob(P, dup_bytes(m[0].packed, (size_t)(m[0].n + 1) / 2), (size_t)(m[0].n + 1) / 2);
      if (!dq) {
        l->q1 = add_blob(P, dup_bytes(m[0].absmax, sizeof(float) * (size_t)m[0].nblocks), sizeof(float) * (size_t)m[0].nblocks);
      } else {
        l->q1 = add_blob(P, dup_bytes(m[0].absmax_q, (size_t)m[0].nblocks), (size_t)m[0].nblocks);
        l->q2 = add_blob(P, dup_bytes(m[0].absmax_scale, sizeof(float) * (size_t)m[0].ngroups),
                         sizeof(float) * (size_t)m[0].ngroups);
        l->aoff = m[0].absmax_offset;
        if (l->q2 < 0) rc = QS_EINTERNAL;
      }
    } else {
      const size_t pb = (size_t)per / 2, nb = (size_t)m[0].nblocks;
      uint8_t *pk = qs_malloc(pb * nparts);
      float *am = qs_malloc(sizeof(float) * nb * nparts);
      if (pk && am)
        for (int i = 0; i < nparts; i++) {
          memcpy(pk + i * pb, m[i].packed, pb);
          memcpy(am + i * nb, m[i].absmax, sizeof(float) * nb);
        }
      l->q0 = add_blob(P, pk, pb * nparts);
      l->q1 = add_blob(P, am, sizeof(float) * nb * nparts);
    }
    if (l->q0 < 0 || l->q1 < 0) rc = QS_EINTERNAL;
  }
  for (int i = 0; i < nparts; i++) qs_nf4_free(&m[i]);
  if (rc != QS_OK) return rc;
  l->kind = QS_LIN_NF4;
  l->tiled = block == 64 && K % 64 == 0 && N % 2 == 0;
  l->splits = l->tiled ? qs_nf4_splitk_choose(l->M, (int)N, (int)K) : 1;
  return QS_OK;
}

/* Largest shapes of the quantized Linears (their shared activation buffers) and the
 * split-K workspace. */
static void note_quantized(qs_cuda_plan *P, const qs_linear *l) {
  if (l->M > P->qM) P->qM = l->M;
  if (l->N > P->qN) P->qN = l->N;
  if (l->K > P->qK) P->qK = l->K;
  if (l->splits > 1) {
    const size_t b = (size_t)l->splits * l->M * l->N * 4;
    if (b > P->qws_bytes) P->qws_bytes = b;
  } else if (l->kind == QS_LIN_INT8) {
    P->need_obuf = 1;
  }
}

/* ---- tensor-parallel shards ----------------------------------------------------
 * This rank's slice of a split tensor, cut on the host by qs_tp_shard_copy exactly as
 * the CPU reference cuts it (tp.h), and kept until the upload. */

/* Keeps f (freed with the plan or after the upload); NULL (with an error) if f is NULL. */
static float *keep_shard(qs_cuda_plan *P, float *f) {
  if (!f) {
    qs_fail(QS_ENOMEM, "%s: out of host memory for tensor-parallel shards", P->a->name);
    return NULL;
  }
  if (P->nshards == P->shardcap) {
    const int cap = P->shardcap ? 2 * P->shardcap : 64;
    float **n = realloc(P->shards, sizeof(float *) * (size_t)cap);
    if (!n) {
      free(f);
      qs_fail(QS_ENOMEM, "%s: out of host memory for tensor-parallel shards", P->a->name);
      return NULL;
    }
    P->shards = n;
    P->shardcap = cap;
  }
  P->shards[P->nshards++] = f;
  return f;
}

static void free_shards(qs_cuda_plan *P) {
  for (int i = 0; i < P->nshards; i++) free(P->shards[i]);
  free(P->shards);
  P->shards = NULL;
  P->nshards = P->shardcap = 0;
}

/* The held part of the tensor `name` (full data src, [N, K], K = 1 for a vector) split by
 * `role` (QS_TP_REPLICATED: src itself). */
static const float *shard_of(qs_cuda_plan *P, const float *src, int64_t N, int64_t K, qs_tp_role role) {
  if (!src || P->tp_k <= 1 || role == QS_TP_REPLICATED) return src;
  int64_t rows, cols;
  return keep_shard(P, qs_tp_shard_copy(src, N, K, role, P->tp_r, P->tp_k, &rows, &cols));
}

/* A Linear "<base>.weight" [N, K] (+ "<base>.bias" [N]) applied to M rows. */
int qs_cuda_add_linear(qs_cuda_plan *P, int M, int N, int K, const char *base) {
  const float *w = tensor(P, (int64_t)N * K, 0, "%s.weight", base);
  const float *b = tensor(P, N, 1, "%s.bias", base);
  if (!w || P->nlins >= QS_MAX_LINEARS) {
    if (w) qs_fail(QS_EINTERNAL, "%s: too many Linear layers for the CUDA plan", P->a->name);
    return -1;
  }
  int reduce = 0;
  const float *rbias = NULL;
  if (P->tp_k > 1) {
    char name[320];
    snprintf(name, sizeof name, "%s.weight", base);
    const qs_tp_role role = qs_tp_role_of(name);
    if (role == QS_TP_ROWS) { /* output features: this rank's rows of W and b */
      if (N % P->tp_k) {
        qs_fail(QS_EUNSUPPORTED, "%s: %s: %d outputs do not split over %d ranks", P->a->name, base, N, P->tp_k);
        return -1;
      }
      if (!(w = shard_of(P, w, N, K, QS_TP_ROWS))) return -1;
      if (b && !(b = shard_of(P, b, N, 1, QS_TP_ROWS))) return -1;
      N /= P->tp_k;
    } else if (role == QS_TP_COLS) { /* input features: partial products, bias after the reduce */
      if (K % P->tp_k) {
        qs_fail(QS_EUNSUPPORTED, "%s: %s: %d inputs do not split over %d ranks", P->a->name, base, K, P->tp_k);
        return -1;
      }
      if (!(w = shard_of(P, w, N, K, QS_TP_COLS))) return -1;
      K /= P->tp_k;
      reduce = 1;
      rbias = b;
      b = NULL;
    }
  }
  qs_linear *l = &P->lins[P->nlins];
  memset(l, 0, sizeof *l);
  l->kind = QS_LIN_DENSE;
  l->M = M, l->N = N, l->K = K;
  l->q0 = l->q1 = l->q2 = -1;
  l->splits = 1;
  l->reduce = reduce;
  l->rb = -1;
  if (rbias && (l->rb = add_param(P, rbias, N)) < 0) return -1;
  if (P->quant && spec_quantized(P, base)) {
    l->w = -1;
    if (quantize_linear(P, l, &w, 1, N) != QS_OK) return -1;
    note_quantized(P, l);
  } else if ((l->w = add_param(P, w, (int64_t)N * K)) < 0) {
    return -1;
  }
  l->b = b ? add_param(P, b, N) : -1;
  return P->nlins++;
}

/* q, k, v fused: weight [3D, D], bias [3D] (BEiT has no k bias: zeros). */
int qs_cuda_add_qkv(qs_cuda_plan *P, int M, int D, const char *q, const char *k, const char *v) {
  const int64_t DD = (int64_t)D * D;
  const float *wq = tensor(P, DD, 0, "%s.weight", q), *wk = tensor(P, DD, 0, "%s.weight", k),
              *wv = tensor(P, DD, 0, "%s.weight", v);
  if (!wq || !wk || !wv) return -1;
  const float *bq = tensor(P, D, 1, "%s.bias", q), *bk = tensor(P, D, 1, "%s.bias", k),
              *bv = tensor(P, D, 1, "%s.bias", v);
  if (P->nlins >= QS_MAX_LINEARS) {
    qs_fail(QS_EINTERNAL, "%s: too many Linear layers for the CUDA plan", P->a->name);
    return -1;
  }
  int R = D; /* rows of each of q, k, v this rank holds */
  int64_t RD = DD;
  if (P->tp_k > 1) { /* output features: this rank's heads of each, fused q | k | v */
    if (D % P->tp_k) {
      qs_fail(QS_EUNSUPPORTED, "%s: %s: width %d does not split over %d ranks", P->a->name, q, D, P->tp_k);
      return -1;
    }
    if (!(wq = shard_of(P, wq, D, D, QS_TP_ROWS)) || !(wk = shard_of(P, wk, D, D, QS_TP_ROWS)) ||
        !(wv = shard_of(P, wv, D, D, QS_TP_ROWS)))
      return -1;
    if ((bq && !(bq = shard_of(P, bq, D, 1, QS_TP_ROWS))) || (bk && !(bk = shard_of(P, bk, D, 1, QS_TP_ROWS))) ||
        (bv && !(bv = shard_of(P, bv, D, 1, QS_TP_ROWS))))
      return -1;
    R = D / P->tp_k;
    RD = (int64_t)R * D;
  }
  qs_linear *l = &P->lins[P->nlins];
  memset(l, 0, sizeof *l);
  l->kind = QS_LIN_DENSE;
  l->M = M, l->N = 3 * R, l->K = D;
  l->q0 = l->q1 = l->q2 = -1;
  l->splits = 1;
  l->rb = -1;
  if (P->quant && spec_quantized(P, q)) {
    const float *parts[3] = {wq, wk, wv};
    l->w = -1;
    if (quantize_linear(P, l, parts, 3, R) != QS_OK) return -1;
    note_quantized(P, l);
  } else if ((l->w = qs_cuda_add_param3(P, wq, RD, wk, RD, wv, RD, 0)) < 0) {
    return -1;
  }
  l->b = -1;
  if ((bq || bk || bv) && (l->b = qs_cuda_add_param3(P, bq, R, bk, R, bv, R, 0)) < 0) return -1;
  return P->nlins++;
}

int qs_cuda_add_gemm(qs_cuda_plan *P, int M, int N, int K, int w, int b) {
  if (w < 0 || P->nlins >= QS_MAX_LINEARS) {
    if (w >= 0) qs_fail(QS_EINTERNAL, "%s: too many GEMMs for the CUDA plan", P->a->name);
    return -1;
  }
  qs_linear *l = &P->lins[P->nlins];
  memset(l, 0, sizeof *l);
  l->kind = QS_LIN_DENSE;
  l->M = M, l->N = N, l->K = K;
  l->w = w, l->b = b;
  l->q0 = l->q1 = l->q2 = -1;
  l->splits = 1;
  l->rb = -1;
  return P->nlins++;
}

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

/* DINOv2 at another resolution: the patch grid of the table resized bicubically
 * (CLS kept), from the fp32 table as the CPU reference does. */
static const float *position_table(qs_cuda_plan *P, const float *tab) {
  const int G = P->a->pos_grid, g = P->g, D = P->D, np = P->np;
  if (g == G) return tab;
  float *grid_in = qs_malloc(sizeof(float) * (size_t)D * G * G);
  float *grid_out = qs_malloc(sizeof(float) * (size_t)D * np);
  float *pos = own(P, (size_t)P->N * D);
  if (!grid_in || !grid_out || !pos) {
    free(grid_in);
    free(grid_out);
    return NULL;
  }
  for (int t = 0; t < G * G; t++)
    for (int d = 0; d < D; d++) grid_in[(size_t)d * G * G + t] = tab[(size_t)(1 + t) * D + d];
  qs_cpu_bicubic(grid_in, D, G, G, grid_out, g, g);
  memcpy(pos, tab, sizeof(float) * D);
  for (int t = 0; t < np; t++)
    for (int d = 0; d < D; d++) pos[(size_t)(1 + t) * D + d] = grid_out[(size_t)d * np + t];
  free(grid_in);
  free(grid_out);
  return pos;
}

static int describe_transformer(qs_cuda_plan *P) {
  const qs_arch *a = P->a;
  const char *pre = a->prefix;
  const int D = P->D, M = P->B * P->N;
  char base[256], q[300], k[300], v[300], n1[300];

  snprintf(base, sizeof base, "%sembeddings.patch_embeddings.projection", pre);
  if ((P->lin_patch = qs_cuda_add_linear(P, P->B * P->np, D, P->KP, base)) < 0) return qs_last_code();
  const float *cls = tensor(P, D, 0, "%sembeddings.cls_token", pre);
  if (!cls) return QS_EINVAL;
  P->cls = add_param(P, cls, D);
  P->dist = -1;
  if (a->family == QS_FAM_DEIT) {
    const float *dist = tensor(P, D, 0, "%sembeddings.distillation_token", pre);
    if (!dist) return QS_EINVAL;
    P->dist = add_param(P, dist, D);
  }
  P->pos = -1;
  if (a->abs_pos) {
    const int rows = a->pos_grid * a->pos_grid + P->extra;
    const float *tab = tensor(P, (int64_t)rows * D, 0, "%sembeddings.position_embeddings", pre);
    const float *use = tab ? position_table(P, tab) : NULL;
    if (!use) return QS_EINVAL;
    P->pos = add_param(P, use, (int64_t)P->N * D);
  }
  int shared_rel = -1;
  if (a->family == QS_FAM_BEIT && a->rel_pos_shared && !a->rel_pos_per_layer) {
    const int nrel = (2 * P->g - 1) * (2 * P->g - 1) + 3;
    const float *t = tensor(P, (int64_t)nrel * P->H, 0, "%sencoder.relative_position_bias.relative_position_bias_table", pre);
    if (!t || (shared_rel = beit_bias(P, t)) < 0) return QS_EINVAL;
  }
  for (int l = 0; l < P->L; l++) {
    qs_layer *ly = &P->layers[l];
    snprintf(base, sizeof base, "%sencoder.layer.%d", pre, l);
    const int dv2 = a->family == QS_FAM_DINOV2;
    snprintf(n1, sizeof n1, "%s.%s", base, dv2 ? "norm1" : "layernorm_before");
    PARAM_OR_FAIL(ly->ln1_g, add_param(P, tensor(P, D, 0, "%s.weight", n1), D));
    PARAM_OR_FAIL(ly->ln1_b, add_param(P, tensor(P, D, 0, "%s.bias", n1), D));
    snprintf(n1, sizeof n1, "%s.%s", base, dv2 ? "norm2" : "layernorm_after");
    PARAM_OR_FAIL(ly->ln2_g, add_param(P, tensor(P, D, 0, "%s.weight", n1), D));
    PARAM_OR_FAIL(ly->ln2_b, add_param(P, tensor(P, D, 0, "%s.bias", n1), D));
    ly->ls1 = ly->ls2 = ly->rel = -1;
    if (dv2) {
      PARAM_OR_FAIL(ly->ls1, add_param(P, tensor(P, D, 0, "%s.layer_scale1.lambda1", base), D));
      PARAM_OR_FAIL(ly->ls2, add_param(P, tensor(P, D, 0, "%s.layer_scale2.lambda1", base), D));
    } else if (a->family == QS_FAM_BEIT && a->layerscale) {
      PARAM_OR_FAIL(ly->ls1, add_param(P, tensor(P, D, 0, "%s.lambda_1", base), D));
      PARAM_OR_FAIL(ly->ls2, add_param(P, tensor(P, D, 0, "%s.lambda_2", base), D));
    }
    if (a->family == QS_FAM_BEIT) {
      if (a->rel_pos_per_layer) {
        const int nrel = (2 * P->g - 1) * (2 * P->g - 1) + 3;
        const float *t = tensor(P, (int64_t)nrel * P->H, 0,
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
  PARAM_OR_FAIL(P->lnf_g, add_param(P, tensor(P, D, 0, "%s.weight", n1), D));
  PARAM_OR_FAIL(P->lnf_b, add_param(P, tensor(P, D, 0, "%s.bias", n1), D));
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

/* ---- the forward ------------------------------------------------------------------ */

void *qs_cuda_dptr(const qs_cuda_plan *P, int param) { return param >= 0 ? P->params[param].d : NULL; }

static void *blob(const qs_cuda_plan *P, int id) { return id >= 0 ? P->blobs[id].d : NULL; }

/* y = x W^T + b (then GELU if gelu) for one Linear, dispatched on how its weights are
 * stored. Launches only: no host synchronisation, capturable. */
static int linear_gemm(const qs_cuda_plan *P, int id, const void *x, void *y, int gelu) {
  const qs_linear *l = &P->lins[id];
  const cudaStream_t s = P->stream;
  const uint16_t *bias = qs_cuda_dptr(P, l->b);
  switch (l->kind) {
    case QS_LIN_DENSE:
      QS_TRY(qs_gemm_run(&l->gemm, P->lt, x, qs_cuda_dptr(P, l->w), y, P->ws, P->ws_bytes, s));
      return gelu ? qs_gelu_launch(P->dt, y, (int64_t)l->M * l->N, s) : QS_OK;
    case QS_LIN_INT8: {
      const int8_t *wq = blob(P, l->q0);
      const float *sw = blob(P, l->q1);
      QS_TRY(qs_int8_quant_launch(x, l->M, l->K, P->po.int8_threshold, &P->i8, s));
      if (l->splits > 1)
        return qs_int8_gemm_splitk_launch(&P->i8, wq, sw, bias, l->M, l->N, l->K, gelu, l->splits, P->qws, y, s);
      QS_TRY(qs_int8_outlier_launch(&P->i8, wq, sw, l->M, l->N, l->K, P->obuf, s));
      return qs_int8_gemm_launch(&P->i8, wq, sw, bias, P->obuf, l->M, l->N, l->K,
                                 gelu ? QS_INT8_OUT_F16_GELU : QS_INT8_OUT_F16, y, s);
    }
    case QS_LIN_NF4: {
      qs_nf4_weight w;
      memset(&w, 0, sizeof w);
      w.packed = blob(P, l->q0);
      if (l->q2 < 0) {
        w.absmax = blob(P, l->q1);
      } else {
        w.absmax_q = blob(P, l->q1);
        w.absmax_scale = blob(P, l->q2);
        w.absmax_offset = l->aoff;
      }
      if (!l->tiled) return qs_nf4_gemm_generic_launch(x, &w, P->po.nf4_block, bias, l->M, l->N, l->K, gelu, y, s);
      if (l->splits > 1) return qs_nf4_gemm_splitk_launch(x, &w, bias, l->M, l->N, l->K, gelu, l->splits, P->qws, y, s);
      return qs_nf4_gemm_launch(x, &w, bias, l->M, l->N, l->K, gelu, y, s);
    }
  }
  return qs_fail(QS_EINTERNAL, "%s: Linear kind %d has no GEMM", P->a->name, (int)l->kind);
}

static int tp_reduce(const qs_cuda_plan *P, const qs_linear *l, void *y);

/* linear_gemm, then for a column-split Linear the all-reduce and its bias */
static int linear_run(const qs_cuda_plan *P, int id, const void *x, void *y, int gelu) {
  if (!P->lins[id].reduce) return linear_gemm(P, id, x, y, gelu);
  if (gelu) return qs_fail(QS_EINTERNAL, "%s: an activation before the all-reduce", P->a->name);
  QS_TRY(linear_gemm(P, id, x, y, 0));
  return tp_reduce(P, &P->lins[id], y);
}

int qs_cuda_linear_run(const qs_cuda_plan *P, int id, const void *x, void *y) { return linear_run(P, id, x, y, 0); }
int qs_cuda_linear_run_gelu(const qs_cuda_plan *P, int id, const void *x, void *y) {
  return linear_run(P, id, x, y, 1);
}

/* Issue the whole forward on the plan's stream (in32 -> out32). */
static int record(const qs_cuda_plan *P) {
  const qs_dtype dt = P->dt;
  const cudaStream_t s = P->stream;
  const int B = P->B, N = P->N, D = P->D, M = B * N;
  const float eps = P->a->ln_eps;
  const int beit = P->a->family == QS_FAM_BEIT;
  if (P->mv) return qs_mv_record(P);

  QS_TRY(qs_im2col_launch(dt, P->in32, P->cols, B, P->C, P->S, P->P, s));
  QS_TRY(qs_cuda_linear_run(P, P->lin_patch, P->cols, P->pe));
  QS_TRY(qs_tokens_launch(dt, P->pe, qs_cuda_dptr(P, P->cls), qs_cuda_dptr(P, P->dist), qs_cuda_dptr(P, P->pos), P->x, B, N, D, s));
  QS_TRY(qs_layernorm_launch(dt, P->x, NULL, NULL, qs_cuda_dptr(P, P->layers[0].ln1_g), qs_cuda_dptr(P, P->layers[0].ln1_b), P->h, M,
                             D, eps, s));
  for (int l = 0; l < P->L; l++) {
    const qs_layer *ly = &P->layers[l];
    QS_TRY(qs_cuda_linear_run(P, ly->qkv, P->h, P->qkv));
    QS_TRY(qs_attention_launch(dt, P->qkv, qs_cuda_dptr(P, ly->rel), P->ldb, P->att, B, N, P->Hl, P->hd, s));
    QS_TRY(qs_cuda_linear_run(P, ly->o, P->att, P->o));
    QS_TRY(qs_layernorm_launch(dt, P->x, P->o, qs_cuda_dptr(P, ly->ls1), qs_cuda_dptr(P, ly->ln2_g), qs_cuda_dptr(P, ly->ln2_b), P->h, M, D,
                               eps, s));
    QS_TRY(qs_cuda_linear_run_gelu(P, ly->fc1, P->h, P->mid)); /* GELU in the quantized epilogues */
    QS_TRY(qs_cuda_linear_run(P, ly->fc2, P->mid, P->o));
    /* residual, then the next LayerNorm: the next block's LN1, the final LN, or
     * none (BEiT's mean pooling normalises after pooling) */
    const void *ng = NULL, *nb = NULL;
    if (l + 1 < P->L) ng = qs_cuda_dptr(P, P->layers[l + 1].ln1_g), nb = qs_cuda_dptr(P, P->layers[l + 1].ln1_b);
    else if (!beit) ng = qs_cuda_dptr(P, P->lnf_g), nb = qs_cuda_dptr(P, P->lnf_b);
    QS_TRY(qs_layernorm_launch(dt, P->x, P->o, qs_cuda_dptr(P, ly->ls2), ng, nb, ng ? P->h : NULL, M, D, eps, s));
  }

  const void *result = NULL;
  if (beit) {
    QS_TRY(qs_mean_tokens_launch(dt, P->x, P->pooled, B, N, D, 1, s));
    QS_TRY(qs_layernorm_launch(dt, P->pooled, NULL, NULL, qs_cuda_dptr(P, P->lnf_g), qs_cuda_dptr(P, P->lnf_b), P->pooled2, B, D, eps,
                               s));
    if (P->a->output == QS_OUT_POOLER) {
      result = P->pooled2;
    } else {
      QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled2, P->logits));
      result = P->logits;
    }
  } else {
    QS_TRY(qs_gather_row_launch(dt, P->h, P->pooled, B, N, D, 0, s));
    switch (P->a->output) {
      case QS_OUT_CLS: result = P->pooled; break;
      case QS_OUT_POOLER:
        QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled, P->logits));
        QS_TRY(qs_tanh_launch(dt, P->logits, (int64_t)B * P->out_dim, s));
        result = P->logits;
        break;
      case QS_OUT_LOGITS:
        QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled, P->logits));
        result = P->logits;
        break;
      case QS_OUT_DEIT_AVG:
        QS_TRY(qs_gather_row_launch(dt, P->h, P->pooled2, B, N, D, 1, s));
        QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled, P->logits));
        QS_TRY(qs_cuda_linear_run(P, P->head2, P->pooled2, P->logits2));
        QS_TRY(qs_average2_launch(dt, P->logits, P->logits2, P->logits, (int64_t)B * P->out_dim, s));
        result = P->logits;
        break;
    }
  }
  return qs_to_f32_launch(dt, result, P->out32, (int64_t)B * P->out_dim, s);
}

/* One forward on the device: graph replay or plain launches. */
static int launch(const qs_cuda_plan *P, int use_graph) {
  if (use_graph && P->exec) {
    CUDA_CHECK(cudaGraphLaunch(P->exec, P->stream));
    return QS_OK;
  }
  return record(P);
}

static int capture(qs_cuda_plan *P) {
  CUDA_CHECK(cudaStreamBeginCapture(P->stream, cudaStreamCaptureModeRelaxed));
  int rc = record(P);
  cudaGraph_t g = NULL;
  cudaError_t e = cudaStreamEndCapture(P->stream, &g);
  if (rc != QS_OK) {
    if (g) cudaGraphDestroy(g);
    (void)cudaGetLastError();
    return rc;
  }
  if (e != cudaSuccess) return qs_cuda_fail(e, "cudaStreamEndCapture(stream, &graph)", __FILE__, __LINE__);
  P->graph = g;
  CUDA_CHECK(cudaGraphInstantiate(&P->exec, P->graph, 0));
  CUDA_CHECK(cudaGraphUpload(P->exec, P->stream));
  return QS_OK;
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
  free_shards(P);
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
  free_shards(P); /* likewise (the params that point into them are uploaded) */
  for (int i = 0; i < P->nlins; i++)
    if (P->lins[i].kind == QS_LIN_DENSE) QS_TRY(qs_gemm_set_bias(&P->lins[i].gemm, qs_cuda_dptr(P, P->lins[i].b)));
  return QS_OK;
}

/* A status agreed over the tensor-parallel group (the status itself without one). */
static int agree(const qs_cuda_plan *P, int rc) { return P->tp ? qs_tp_agree(&P->tp->g, rc) : rc; }

static int first_forward(qs_cuda_plan *P) {
  CUDA_CHECK(cudaMemsetAsync(P->in32, 0, sizeof(float) * (size_t)P->B * P->C * P->S * P->S, P->stream));
  QS_TRY(record(P));
  CUDA_CHECK(cudaStreamSynchronize(P->stream));
  return QS_OK;
}

static int graph_forward(qs_cuda_plan *P) {
  QS_TRY(launch(P, 1));
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
    QS_TRY(agree(P, capture(P)));
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
  if (po->prec != QS_PREC_FP32 && po->prec != QS_PREC_FP16 && po->prec != QS_PREC_INT8 && po->prec != QS_PREC_NF4)
    return qs_fail(QS_EUNSUPPORTED, "%s: cuda: precision %s is not implemented in the CUDA backend", a->name,
                   qs_precision_name(po->prec));
  if (po->prec == QS_PREC_NF4 && po->nf4_block < 1)
    return qs_fail(QS_EINVAL, "%s: nf4 block %d must be at least 1", a->name, po->nf4_block);
  if (batch < 1) return qs_fail(QS_EINVAL, "batch: %d must be at least 1", batch);
  if (a->layers < 1 || a->layers > QS_MAX_LAYERS || a->hidden % a->heads != 0 || a->input_size % a->patch_size != 0)
    return qs_fail(QS_EINVAL, "%s: architecture not runnable (layers %d, hidden %d, heads %d)", a->name, a->layers,
                   a->hidden, a->heads);
  return QS_OK;
}

static void plan_init(qs_cuda_plan *P, const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o) {
  const qs_arch *a = &m->arch;
  P->m = m;
  P->a = a;
  /* int8 / nf4: every layer the precision does not quantize runs in fp16 (as the CPU reference) */
  P->dt = po->prec == QS_PREC_FP32 ? QS_DT_F32 : QS_DT_F16;
  P->po = *po;
  P->quant = po->prec == QS_PREC_INT8 ? QS_LIN_INT8 : po->prec == QS_PREC_NF4 ? QS_LIN_NF4 : 0;
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

static int cuda_plan_create(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o, void **out) {
  *out = NULL;
  const qs_arch *a = &m->arch;
  QS_TRY(plan_check(m, po, batch));
  qs_cuda_plan *P = qs_calloc(1, sizeof *P);
  if (!P) return QS_ENOMEM;
  plan_init(P, m, po, batch, o);
  int rc = plan_build(P);
  if (rc != QS_OK) {
    qs_error_prefix("%s: cuda %s b%d", a->name, qs_precision_name(po->prec), batch);
    plan_free(P);
    return rc;
  }
  *out = P;
  return QS_OK;
}

static void cuda_plan_destroy(void *plan) { plan_free(plan); }

static int cuda_forward(void *plan, const float *input, float *output) {
  qs_cuda_plan *P = plan;
  CUDA_CHECK(cudaSetDevice(P->device));
  if (input)
    CUDA_CHECK(cudaMemcpyAsync(P->in32, input, sizeof(float) * (size_t)P->B * P->C * P->S * P->S,
                               cudaMemcpyHostToDevice, P->stream));
  QS_TRY(launch(P, P->use_graph));
  CUDA_CHECK(cudaMemcpyAsync(output, P->out32, sizeof(float) * (size_t)P->B * P->out_dim, cudaMemcpyDeviceToHost,
                             P->stream));
  CUDA_CHECK(cudaStreamSynchronize(P->stream));
  return QS_OK;
}

/* ---- tensor parallelism (NCCL) -------------------------------------------------------
 * plan_create_tp shards the encoder Linears as the CPU reference does (tp.h): q|k|v and
 * FC1 by output features, the attention output dense and FC2 by input features, whose
 * GEMMs run without bias; after each of those two, one ncclAllReduce (sum, in place, in
 * the compute dtype: ncclFloat for fp32 plans, ncclHalf otherwise) on the plan's stream,
 * then the bias once (qs_bias_add_launch), then the residual + LayerNorm of the dense
 * path. The collectives are issued by record(), so they are captured into the plan's
 * CUDA graph like every other launch (NCCL supports stream capture).
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

static int tp_reduce(const qs_cuda_plan *P, const qs_linear *l, void *y) {
#ifdef QS_HAVE_NCCL
  struct qs_cuda_tp *t = P->tp;
  if (!t || !t->comm) return qs_fail(QS_EINTERNAL, "%s: a column-split Linear without a communicator", P->a->name);
  const int timed = t->timing && t->nev < QS_TP_MAX_AR && 2 * t->nev + 1 < t->nmade;
  if (timed) CUDA_CHECK(cudaEventRecord(t->ev[2 * t->nev], P->stream));
  NCCL_CHECK(ncclAllReduce(y, y, (size_t)l->M * (size_t)l->N, P->dt == QS_DT_F16 ? ncclHalf : ncclFloat, ncclSum,
                           t->comm, P->stream));
  if (timed) {
    CUDA_CHECK(cudaEventRecord(t->ev[2 * t->nev + 1], P->stream));
    t->nev++;
  }
  return l->rb >= 0 ? qs_bias_add_launch(P->dt, y, qs_cuda_dptr(P, l->rb), l->M, l->N, P->stream) : QS_OK;
#else
  (void)l;
  (void)y;
  return qs_fail(QS_EUNSUPPORTED, "%s: tensor parallelism needs NCCL (not in this build)", P->a->name);
#endif
}

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
static int cuda_plan_create_tp(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o,
                               const qs_tp_group *g, void **out) {
  if (!g || g->size <= 1) return cuda_plan_create(m, po, batch, o, out);
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

/* ---- the timed loop ----------------------------------------------------------------- */

static int bench_loop(qs_cuda_plan *P, const qs_bench_opts *o, int use_graph, cudaEvent_t *ev, qs_bench_measure *m) {
  /* warm-up: at least `warmup` iterations and at least warmup_s seconds */
  double t0 = qs_now_s();
  for (int i = 0; i < o->warmup || qs_now_s() - t0 < o->warmup_s; i++) {
    QS_TRY(launch(P, use_graph));
    CUDA_CHECK(cudaStreamSynchronize(P->stream));
  }
  qs_nvml_dev *nv = qs_nvml_device(P->device);
  m->sm_clock_start_mhz = qs_nvml_sm_clock_mhz(nv);
  const double e0 = qs_nvml_energy_mj(nv);

  /* timed: at least `iterations` and at least min_time_s; event pairs in chunks so
   * that iterations run back to back */
  int cap = o->iterations > 0 ? o->iterations : 1, n = 0;
  m->samples_ms = qs_malloc(sizeof(double) * (size_t)cap);
  if (!m->samples_ms) return QS_ENOMEM;
  t0 = qs_now_s();
  const int max_samples = 1 << 22;
  while ((n < o->iterations || qs_now_s() - t0 < o->min_time_s) && n < max_samples) {
    int k = QS_EVENT_CHUNK;
    if (o->iterations - n > 0 && o->iterations - n < k) k = o->iterations - n;
    for (int j = 0; j < k; j++) {
      CUDA_CHECK(cudaEventRecord(ev[2 * j], P->stream));
      QS_TRY(launch(P, use_graph));
      CUDA_CHECK(cudaEventRecord(ev[2 * j + 1], P->stream));
    }
    CUDA_CHECK(cudaEventSynchronize(ev[2 * k - 1]));
    if (n + k > cap) {
      while (n + k > cap) cap *= 2;
      double *s = realloc(m->samples_ms, sizeof(double) * (size_t)cap);
      if (!s) return qs_fail(QS_ENOMEM, "bench: out of host memory for %d samples", cap);
      m->samples_ms = s;
    }
    for (int j = 0; j < k; j++) {
      float ms = 0.0f;
      CUDA_CHECK(cudaEventElapsedTime(&ms, ev[2 * j], ev[2 * j + 1]));
      m->samples_ms[n++] = ms;
    }
  }
  m->n_samples = n;
  const double e1 = qs_nvml_energy_mj(nv), loop_s = qs_now_s() - t0;
  m->sm_clock_end_mhz = qs_nvml_sm_clock_mhz(nv);
  /* The driver refreshes the energy counter every few tens of ms: over a shorter
   * loop the difference is not a measurement (NaN; min_time_s makes loops longer). */
  m->energy_j = (isnan(e0) || isnan(e1) || loop_s < QS_ENERGY_MIN_S) ? NAN : (e1 - e0) * 1e-3;
  return QS_OK;
}

/* allreduce_share of a tensor-parallel plan: one more forward of plain launches (every
 * rank runs it: it all-reduces), with an event pair around each ncclAllReduce; the
 * summed all-reduce time over that forward's time. ev: a pair for the whole forward. */
static int tp_share(qs_cuda_plan *P, cudaEvent_t *ev, double *share) {
  struct qs_cuda_tp *t = P->tp;
  int rc = QS_OK;
  *share = NAN;
  while (t->nmade < 2 * QS_TP_MAX_AR && rc == QS_OK) {
    cudaError_t e = cudaEventCreate(&t->ev[t->nmade]);
    if (e != cudaSuccess) rc = qs_cuda_fail(e, "cudaEventCreate(&ev[i])", __FILE__, __LINE__);
    else t->nmade++;
  }
  /* the forward runs whatever happened above: the other ranks all-reduce with this one */
  t->timing = 1;
  t->nev = 0;
  cudaError_t e0 = cudaEventRecord(ev[0], P->stream);
  int frc = record(P);
  cudaError_t e1 = cudaEventRecord(ev[1], P->stream);
  t->timing = 0;
  QS_TRY(frc);
  if (e0 != cudaSuccess) return qs_cuda_fail(e0, "cudaEventRecord(start)", __FILE__, __LINE__);
  if (e1 != cudaSuccess) return qs_cuda_fail(e1, "cudaEventRecord(end)", __FILE__, __LINE__);
  CUDA_CHECK(cudaEventSynchronize(ev[1]));
  QS_TRY(rc);
  float total = 0.0f;
  double in_ar = 0.0;
  CUDA_CHECK(cudaEventElapsedTime(&total, ev[0], ev[1]));
  for (int i = 0; i < t->nev; i++) {
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t->ev[2 * i], t->ev[2 * i + 1]));
    in_ar += ms;
  }
  if (total > 0.0f && t->nev > 0) *share = in_ar / total;
  return QS_OK;
}

/* The timed loop of a tensor-parallel plan: the warm-up / iteration rules of bench_loop,
 * with tp rank 0 deciding every warm-up and timed iteration for the group
 * (qs_tp_continue, which also lines the ranks up before each); one sample per iteration
 * (events around that forward on this rank; the runner takes the max over the group). */
static int bench_loop_tp(qs_cuda_plan *P, const qs_bench_opts *o, int use_graph, cudaEvent_t *ev,
                         qs_bench_measure *m) {
  const qs_tp_group *g = &P->tp->g;
  double t0 = qs_now_s();
  for (int i = 0;; i++) {
    const int go = qs_tp_continue(g, i < o->warmup || qs_now_s() - t0 < o->warmup_s);
    if (go < 0) return go;
    if (!go) break;
    QS_TRY(launch(P, use_graph));
    CUDA_CHECK(cudaStreamSynchronize(P->stream));
  }
  qs_nvml_dev *nv = qs_nvml_device(P->device);
  m->sm_clock_start_mhz = qs_nvml_sm_clock_mhz(nv);
  const double e0 = qs_nvml_energy_mj(nv);
  int cap = o->iterations > 16 ? o->iterations : 16, n = 0;
  m->samples_ms = qs_malloc(sizeof(double) * (size_t)cap);
  if (!m->samples_ms) return QS_ENOMEM;
  const int max_samples = 1 << 22;
  t0 = qs_now_s();
  for (;;) {
    int want = (n < o->iterations || qs_now_s() - t0 < o->min_time_s) && n < max_samples;
    const int go = qs_tp_continue(g, want);
    if (go < 0) return go;
    if (!go) break;
    if (n == cap) { /* n and cap are the same on every rank */
      double *s = realloc(m->samples_ms, sizeof(double) * (size_t)cap * 2);
      if (!s) return qs_fail(QS_ENOMEM, "bench: out of host memory for %d samples", cap * 2);
      m->samples_ms = s;
      cap *= 2;
    }
    CUDA_CHECK(cudaEventRecord(ev[0], P->stream));
    QS_TRY(launch(P, use_graph));
    CUDA_CHECK(cudaEventRecord(ev[1], P->stream));
    CUDA_CHECK(cudaEventSynchronize(ev[1]));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    m->samples_ms[n++] = ms;
  }
  m->n_samples = n;
  const double e1 = qs_nvml_energy_mj(nv), loop_s = qs_now_s() - t0;
  m->sm_clock_end_mhz = qs_nvml_sm_clock_mhz(nv);
  m->energy_j = (isnan(e0) || isnan(e1) || loop_s < QS_ENERGY_MIN_S) ? NAN : (e1 - e0) * 1e-3;
  return tp_share(P, ev, &m->allreduce_share);
}

static int cuda_bench(void *plan, const float *input, const qs_bench_opts *opts, qs_bench_measure *m) {
  qs_cuda_plan *P = plan;
  qs_bench_opts o;
  if (opts) {
    o = *opts;
  } else {
    memset(&o, 0, sizeof o);
    o.warmup = 10;
    o.iterations = 50;
    o.use_graph = 1;
  }
  memset(m, 0, sizeof *m);
  m->energy_j = m->sm_clock_start_mhz = m->sm_clock_end_mhz = NAN;
  m->weight_bytes = (double)P->weight_bytes;
  m->workspace_bytes = (double)(P->total_bytes - P->weight_bytes);
  m->device_bytes = P->device_bytes;
  CUDA_CHECK(cudaSetDevice(P->device));
  if (input)
    CUDA_CHECK(cudaMemcpy(P->in32, input, sizeof(float) * (size_t)P->B * P->C * P->S * P->S, cudaMemcpyHostToDevice));
  const int use_graph = o.use_graph && P->exec;
  if (o.use_graph && !P->exec) return qs_fail(QS_EINVAL, "bench: use_graph set but the plan was made without a graph");
  cudaEvent_t ev[2 * QS_EVENT_CHUNK];
  int made = 0, rc = QS_OK;
  for (; made < 2 * QS_EVENT_CHUNK; made++) {
    cudaError_t e = cudaEventCreate(&ev[made]);
    if (e != cudaSuccess) {
      rc = qs_cuda_fail(e, "cudaEventCreate(&ev[i])", __FILE__, __LINE__);
      break;
    }
  }
  if (rc == QS_OK) rc = P->tp ? bench_loop_tp(P, &o, use_graph, ev, m) : bench_loop(P, &o, use_graph, ev, m);
  for (int i = 0; i < made; i++) cudaEventDestroy(ev[i]);
  if (rc != QS_OK) {
    free(m->samples_ms);
    m->samples_ms = NULL;
    m->n_samples = 0;
  }
  return rc;
}

/* ---- the vtable ------------------------------------------------------------------------ */

static int cuda_available(char *why, size_t cap) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why && cap) snprintf(why, cap, "no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    (void)cudaGetLastError();
    return QS_EUNSUPPORTED;
  }
  return QS_OK;
}

static void cuda_device_name(int device, char *buf, size_t cap) {
  struct cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device < 0 ? 0 : device) == cudaSuccess) {
    snprintf(buf, cap, "%s", prop.name);
  } else {
    (void)cudaGetLastError();
    snprintf(buf, cap, "cuda: unknown device %d", device);
  }
}

const qs_backend qs_backend_cuda = {
    .name = "cuda",
    .available = cuda_available,
    .device_name = cuda_device_name,
    .plan_create = cuda_plan_create,
    .forward = cuda_forward,
    .bench = cuda_bench,
    .plan_destroy = cuda_plan_destroy,
#ifdef QS_HAVE_NCCL
    .plan_create_tp = cuda_plan_create_tp,
#endif
};
