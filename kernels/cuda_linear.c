/* cuda_linear.c - the CUDA plan's tensors and Linear layers: what a family's description
 * and recording use (cuda_internal.h, "the plan's registries").
 *
 * While a family describes its forward (the transformer families in cuda_setup.c,
 * MobileViT in cuda_mobilevit.c), every tensor it uses becomes a param (uploaded in the
 * compute dtype) and every Linear an entry here: dense, or int8 / nf4 with its weights
 * quantized on the host by the CPU reference, and under tensor parallelism this rank's
 * shard. While a family records (cuda_record.c, cuda_mobilevit.c), qs_cuda_linear_run
 * issues a Linear's GEMM by how its weights are stored, then for a column-split Linear
 * the all-reduce and its bias. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "qs_common.h"
#include "quant.h"
#include "tp.h"

/* ---- host-side model description --------------------------------------------- */

/* Host tensor of exactly n values; NULL (with an error) if missing or mis-sized. */
const float *qs_cuda_tensor(const qs_cuda_plan *P, int64_t n, int optional, const char *fmt, ...) {
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
int qs_cuda_add_param(qs_cuda_plan *P, const float *src, int64_t n) {
  return src ? qs_cuda_add_param3(P, src, n, NULL, 0, NULL, 0, 0) : -1;
}

/* ---- quantized Linears (int8, nf4) ---------------------------------------------
 * At plan time each quantized Linear's fp32 weight is quantized on the host by the CPU
 * reference (src/quant/quant.h), so the device holds exactly the reference's codes and scales;
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
  if (P->quant == QS_LIN_FP8) {
    if (K % 16 != 0 || N % 2 != 0)
      return qs_fail(QS_EUNSUPPORTED, "%s: fp8 Linear [%lld, %lld]: the fp8 kernels need K %% 16 == 0 and N even",
                     P->a->name, (long long)N, (long long)K);
    float *st = NULL;
    const float *src = w[0];
    if (nparts > 1) { /* per-row scales: the stacked q|k|v quantizes as its parts */
      if (!(st = qs_malloc(sizeof(float) * (size_t)N * (size_t)K))) return QS_ENOMEM;
      for (int i = 0; i < nparts; i++) memcpy(st + (size_t)i * rows * K, w[i], sizeof(float) * (size_t)rows * K);
      src = st;
    }
    qs_fp8_matrix q;
    memset(&q, 0, sizeof q);
    int rc = qs_fp8_quantize_weight(src, N, K, &q);
    free(st);
    if (rc != QS_OK) return rc;
    l->q0 = add_blob(P, q.q, (size_t)N * K);
    q.q = NULL;
    l->q1 = add_blob(P, q.scale, sizeof(float) * (size_t)N);
    q.scale = NULL;
    qs_fp8_free(&q);
    if (l->q0 < 0 || l->q1 < 0) return QS_EINTERNAL;
    l->kind = QS_LIN_FP8;
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

void qs_cuda_free_shards(qs_cuda_plan *P) {
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
  const float *w = qs_cuda_tensor(P, (int64_t)N * K, 0, "%s.weight", base);
  const float *b = qs_cuda_tensor(P, N, 1, "%s.bias", base);
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
  if (rbias && (l->rb = qs_cuda_add_param(P, rbias, N)) < 0) return -1;
  if (P->quant && spec_quantized(P, base)) {
    l->w = -1;
    if (quantize_linear(P, l, &w, 1, N) != QS_OK) return -1;
    note_quantized(P, l);
  } else if ((l->w = qs_cuda_add_param(P, w, (int64_t)N * K)) < 0) {
    return -1;
  }
  l->b = b ? qs_cuda_add_param(P, b, N) : -1;
  return P->nlins++;
}

/* q, k, v fused: weight [3D, D], bias [3D] (BEiT has no k bias: zeros). */
int qs_cuda_add_qkv(qs_cuda_plan *P, int M, int D, const char *q, const char *k, const char *v) {
  const int64_t DD = (int64_t)D * D;
  const float *wq = qs_cuda_tensor(P, DD, 0, "%s.weight", q), *wk = qs_cuda_tensor(P, DD, 0, "%s.weight", k),
              *wv = qs_cuda_tensor(P, DD, 0, "%s.weight", v);
  if (!wq || !wk || !wv) return -1;
  const float *bq = qs_cuda_tensor(P, D, 1, "%s.bias", q), *bk = qs_cuda_tensor(P, D, 1, "%s.bias", k),
              *bv = qs_cuda_tensor(P, D, 1, "%s.bias", v);
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

/* ---- running a Linear (while a family records) -------------------------------- */

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
      if (l->splits > 1) {
        QS_TRY(qs_int8_quant_launch(x, l->M, l->K, P->po.int8_threshold, &P->i8, s));
        return qs_int8_gemm_splitk_launch(&P->i8, wq, sw, bias, l->M, l->N, l->K, gelu, l->splits, P->qws, y, s);
      }
      /* the quantization kernel also fills obuf when there are outlier columns */
      QS_TRY(qs_int8_quant_outlier_launch(x, l->M, l->K, P->po.int8_threshold, &P->i8, wq, sw, l->N, P->obuf, s));
      return qs_int8_gemm_launch(&P->i8, wq, sw, bias, P->obuf, l->M, l->N, l->K,
                                 gelu ? QS_INT8_OUT_F16_GELU : QS_INT8_OUT_F16, y, s);
    }
    case QS_LIN_FP8: {
#if QS_HAVE_SM90A
      QS_TRY(qs_fp8_quant_launch(x, l->M, l->K, (uint8_t *)P->i8.xq, P->i8.sx, s));
      return qs_fp8_gemm_sm90_launch((const uint8_t *)P->i8.xq, P->i8.sx, blob(P, l->q0), blob(P, l->q1), bias, l->M,
                                     l->N, l->K, gelu ? QS_INT8_OUT_F16_GELU : QS_INT8_OUT_F16, y, 0, s);
#else
      return qs_fail(QS_EUNSUPPORTED, "%s: fp8: this build has no sm_90a kernels", P->a->name);
#endif
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

/* ---- tensor parallelism: the all-reduce after a column-split Linear -------------------
 * (cuda_setup.c, "tensor parallelism", has the group and its communicator) */

static int tp_reduce(const qs_cuda_plan *P, const qs_linear *l, void *y) {
#ifdef QS_HAVE_NCCL
  struct qs_cuda_tp *t = P->tp;
  if (!t || !t->comm) return qs_fail(QS_EINTERNAL, "%s: a column-split Linear without a communicator", P->a->name);
  const int timed = t->timing && t->nev < QS_TP_MAX_AR && 2 * t->nev + 1 < t->nmade;
  if (timed) CUDA_CHECK(cudaEventRecord(t->ev[2 * t->nev], P->stream));
  const ncclDataType_t nt = P->dt == QS_DT_F16 ? ncclHalf : P->dt == QS_DT_BF16 ? ncclBfloat16 : ncclFloat;
  NCCL_CHECK(ncclAllReduce(y, y, (size_t)l->M * (size_t)l->N, nt, ncclSum, t->comm, P->stream));
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
