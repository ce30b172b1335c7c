/* tp.c - tensor-parallel roles, architecture checks, group helpers, MPI binding. */
#define _POSIX_C_SOURCE 200809L
#include "tp.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "qs_common.h"

/* ---- roles ---------------------------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && !memcmp(s + n - k, suffix, k);
}

/* name = "<base>.weight" or "<base>.bias": *kind 1 for weight, 2 for bias; length of base */
static size_t split_name(const char *name, int *kind) {
  size_t n = strlen(name);
  *kind = 0;
  if (ends_with(name, n, ".weight")) {
    *kind = 1;
    return n - 7;
  }
  if (ends_with(name, n, ".bias")) {
    *kind = 2;
    return n - 5;
  }
  return n;
}

static int is_block_tensor(const char *name) { return strstr(name, "encoder.layer.") != NULL; }

static int base_is_rows(const char *b, size_t n) {
  return ends_with(b, n, ".attention.attention.query") || ends_with(b, n, ".attention.attention.key") ||
         ends_with(b, n, ".attention.attention.value") || ends_with(b, n, ".intermediate.dense") ||
         ends_with(b, n, ".mlp.fc1");
}

static int base_is_cols(const char *b, size_t n) {
  /* ".output.dense" covers both the attention output dense and ViT/BEiT's FC2 */
  return ends_with(b, n, ".output.dense") || ends_with(b, n, ".mlp.fc2");
}

qs_tp_role qs_tp_role_of(const char *name) {
  if (!is_block_tensor(name)) return QS_TP_REPLICATED;
  int kind;
  size_t n = split_name(name, &kind);
  if (!kind) return QS_TP_REPLICATED;
  if (base_is_rows(name, n)) return QS_TP_ROWS;
  if (kind == 1 && base_is_cols(name, n)) return QS_TP_COLS;
  return QS_TP_REPLICATED;
}

int qs_tp_is_cols_bias(const char *name) {
  if (!is_block_tensor(name)) return 0;
  int kind;
  size_t n = split_name(name, &kind);
  return kind == 2 && base_is_cols(name, n);
}

float *qs_tp_shard_copy(const float *src, int64_t N, int64_t K, qs_tp_role role, int r, int k, int64_t *rows,
                        int64_t *cols) {
  const int64_t Nl = role == QS_TP_ROWS ? N / k : N, Kl = role == QS_TP_COLS ? K / k : K;
  float *d = malloc(sizeof(float) * (size_t)Nl * (size_t)Kl + 1);
  if (!d) return NULL;
  if (role == QS_TP_ROWS) {
    memcpy(d, src + (size_t)r * Nl * K, sizeof(float) * (size_t)Nl * (size_t)K);
  } else if (role == QS_TP_COLS) {
    for (int64_t n = 0; n < N; n++) memcpy(d + n * Kl, src + n * K + (int64_t)r * Kl, sizeof(float) * (size_t)Kl);
  } else {
    memcpy(d, src, sizeof(float) * (size_t)N * (size_t)K);
  }
  *rows = Nl;
  *cols = Kl;
  return d;
}

int qs_tp_check_arch(const qs_arch *a, int k) {
  if (k < 1) return qs_fail(QS_EINVAL, "tp %d: must be at least 1", k);
  if (k == 1) return QS_OK;
  if (a->heads < 1 || a->heads % k != 0)
    return qs_fail(QS_EUNSUPPORTED, "tp %d: %s has %d attention heads, not divisible by %d", k, a->name, a->heads, k);
  qs_tensor_spec *specs = NULL;
  int n = 0;
  QS_TRY(qs_arch_specs(a, &specs, &n));
  int rc = QS_OK;
  for (int i = 0; i < n && rc == QS_OK; i++) {
    const qs_tensor_spec *s = &specs[i];
    qs_tp_role role = qs_tp_role_of(s->name);
    if (s->quantized && (s->ndim != 2 || role == QS_TP_REPLICATED) && is_block_tensor(s->name)) {
      rc = qs_fail(QS_EUNSUPPORTED, "tp %d: %s: %s has no tensor-parallel split", k, a->name, s->name);
    } else if (role == QS_TP_ROWS && s->shape[0] % k != 0) {
      rc = qs_fail(QS_EUNSUPPORTED, "tp %d: %s: %s has %lld output features, not divisible by %d", k, a->name,
                   s->name, (long long)s->shape[0], k);
    } else if (role == QS_TP_COLS && (s->ndim != 2 || s->shape[1] % k != 0)) {
      rc = qs_fail(QS_EUNSUPPORTED, "tp %d: %s: %s has %lld input features, not divisible by %d", k, a->name,
                   s->name, (long long)(s->ndim == 2 ? s->shape[1] : 0), k);
    }
  }
  free(specs);
  return rc;
}

/* ---- collective helpers ------------------------------------------------------------ */

#define AGREE_MSG 1024

int qs_tp_agree(const qs_tp_group *g, int rc) {
  if (!g || g->size <= 1) return rc;
  /* the lowest failing tp rank r contributes size - r, so the max names it */
  double v = rc != QS_OK ? (double)(g->size - g->rank) : 0.0;
  int grc = g->ctl_max(g->ctx, &v, 1);
  if (grc != QS_OK) return grc;
  if (v == 0.0) return QS_OK;
  const int root = g->size - (int)v;
  struct {
    int32_t code;
    char msg[AGREE_MSG];
  } m;
  memset(&m, 0, sizeof m);
  if (g->rank == root) {
    m.code = rc;
    qs_strlcpy(m.msg, qs_last_error(), sizeof m.msg);
  }
  grc = g->ctl_bcast(g->ctx, &m, sizeof m, root);
  if (grc != QS_OK) return grc;
  if (g->rank == root) return rc;
  m.msg[AGREE_MSG - 1] = '\0';
  return qs_fail(m.code != QS_OK ? m.code : QS_EINTERNAL, "tp rank %d: %s", root, m.msg[0] ? m.msg : "failed");
}

int qs_tp_continue(const qs_tp_group *g, int want) {
  if (!g || g->size <= 1) return want ? 1 : 0;
  double v = g->rank == 0 && want ? 1.0 : 0.0;
  int rc = g->ctl_max(g->ctx, &v, 1);
  if (rc != QS_OK) return rc;
  return v > 0.0 ? 1 : 0;
}

/* ---- MPI ---------------------------------------------------------------------------- */

/* Non-blocking collectives completed at once: MPI matches a non-blocking collective
 * only with non-blocking ones, and rank 0's cell thread (coordinator.c) funnels its
 * group operations through MPI_Iallreduce / MPI_Ibcast on the main thread. Every
 * member of a group must therefore use the same kind: these. */
static int wait_req(MPI_Request *req) { return MPI_Wait(req, MPI_STATUS_IGNORE); }

static int mpi_sum(void *ctx, float *buf, int64_t n) {
  MPI_Comm comm = ((qs_tp_mpi *)ctx)->comm;
  while (n > 0) {
    int c = n > INT_MAX ? INT_MAX : (int)n;
    MPI_Request req;
    if (MPI_Iallreduce(MPI_IN_PLACE, buf, c, MPI_FLOAT, MPI_SUM, comm, &req) != MPI_SUCCESS || wait_req(&req) != MPI_SUCCESS)
      return qs_fail(QS_EDEVICE, "tp: MPI_Allreduce failed");
    buf += c;
    n -= c;
  }
  return QS_OK;
}

static int mpi_max(void *ctx, double *buf, int n) {
  if (n < 1) return QS_OK;
  MPI_Request req;
  if (MPI_Iallreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_MAX, ((qs_tp_mpi *)ctx)->comm, &req) != MPI_SUCCESS ||
      wait_req(&req) != MPI_SUCCESS)
    return qs_fail(QS_EDEVICE, "tp: MPI_Allreduce (max) failed");
  return QS_OK;
}

static int mpi_bcast(void *ctx, void *buf, size_t bytes, int root) {
  if (bytes > INT_MAX) return qs_fail(QS_EINVAL, "tp: broadcast of %zu bytes is too large", bytes);
  MPI_Request req;
  if (MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, ((qs_tp_mpi *)ctx)->comm, &req) != MPI_SUCCESS ||
      wait_req(&req) != MPI_SUCCESS)
    return qs_fail(QS_EDEVICE, "tp: MPI_Bcast failed");
  return QS_OK;
}

void qs_tp_group_mpi(MPI_Comm comm, qs_tp_mpi *store, qs_tp_group *g) {
  memset(g, 0, sizeof *g);
  store->comm = comm;
  MPI_Comm_rank(comm, &g->rank);
  MPI_Comm_size(comm, &g->size);
  g->allreduce_sum = mpi_sum;
  g->ctl_max = mpi_max;
  g->ctl_bcast = mpi_bcast;
  g->ctx = store;
}
