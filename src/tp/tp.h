/* tp.h - tensor parallelism (the sweep's `tp` axis): the group interface every
 * backend shards over, the Megatron split of the encoder Linears, and the MPI
 * binding of a group.
 *
 * A cell with tp = k runs one model over k ranks of one node. Per pre-norm block:
 *   - q, k, v and FC1 are split by output features (rows of HF's [out, in] weight,
 *     and their biases): tp rank r holds rows [r*N/k, (r+1)*N/k), i.e. attention
 *     heads [r*H/k, (r+1)*H/k) and the same slice of the MLP's hidden features;
 *   - the attention output dense and FC2 are split by input features (columns);
 *     each rank computes a partial [M, D] without bias, one all-reduce (sum) over
 *     the group makes the full sum, and the (replicated) bias is added once, after it;
 *   - everything else is replicated: patch embedding, norms, layer scales, position
 *     tables, heads; in MobileViT the convolutions, while its transformer layers are
 *     sharded as above.
 * Two all-reduces per block. Quantization is per shard: an int8 row scale of a
 * column-sharded weight is the absmax over the shard's columns, NF4 blocks run
 * over the shard's row-major values.
 *
 * The group: a backend sees only qs_tp_group. The data plane (allreduce_sum) sums
 * floats in the backend's own memory (host memory for the CPU backend over MPI;
 * a CUDA backend sums device buffers with NCCL and uses the control plane only to
 * set NCCL up). The control plane (ctl_max, ctl_bcast) moves a few host values:
 * status agreement, loop control, the latency samples, an ncclUniqueId. Every
 * function is collective over the group and returns QS_OK or a QS_E* code. */
#ifndef QS_TP_H
#define QS_TP_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"

typedef struct qs_tp_group {
  int rank, size; /* this rank's tp rank, and k */
  /* identifies the rank set: the same on every member and for every cell the same ranks
   * run together (a hash of their world ranks; 0: unknown). For state a backend keeps
   * per group across cells, e.g. an NCCL communicator. */
  uint64_t key;
  /* in place: buf[n] = sum over the group of buf[n] (floats in the backend's memory) */
  int (*allreduce_sum)(void *ctx, float *buf, int64_t n);
  /* in place, host memory: buf[n] = elementwise max over the group */
  int (*ctl_max)(void *ctx, double *buf, int n);
  /* host memory: buf[bytes] of tp rank root to every rank */
  int (*ctl_bcast)(void *ctx, void *buf, size_t bytes, int root);
  void *ctx;
} qs_tp_group;

/* How a tensor is split. */
typedef enum {
  QS_TP_REPLICATED = 0, /* every rank holds all of it */
  QS_TP_ROWS,           /* output features: q, k, v, FC1 weights and their biases */
  QS_TP_COLS            /* input features: attention output dense and FC2 weights */
} qs_tp_role;

/* The role of a tensor by its name (HF naming of ViT / DeiT / BEiT / DINOv2 /
 * MobileViT encoder blocks). The bias of a QS_TP_COLS Linear is QS_TP_REPLICATED. */
qs_tp_role qs_tp_role_of(const char *name);
/* 1 if `name` is the bias of a column-split Linear (added once, after the all-reduce). */
int qs_tp_is_cols_bias(const char *name);

/* This rank's shard of a tensor of shape [N, K] (K = 1 for a vector) split by `role` over
 * k ranks, into a new malloc'd buffer: rows [r*N/k, (r+1)*N/k) for QS_TP_ROWS, columns
 * [r*K/k, (r+1)*K/k) of every row for QS_TP_COLS. *rows, *cols: the shard's shape.
 * NULL when out of memory. The divisibility is the caller's (qs_tp_check_arch). */
float *qs_tp_shard_copy(const float *src, int64_t N, int64_t K, qs_tp_role role, int r, int k, int64_t *rows,
                        int64_t *cols);

/* Whether an architecture splits over k ranks: QS_OK, or QS_EUNSUPPORTED with a
 * message naming what is not divisible (heads, an MLP width) or a quantized Linear
 * without a split. Needs only the architecture (no weights); k = 1 is always QS_OK. */
int qs_tp_check_arch(const qs_arch *a, int k);

/* ---- collective helpers on a group ------------------------------------------- */

/* Agree on a status: every rank passes its own rc (message in its qs_last_error()).
 * Returns QS_OK when every rank passed QS_OK; otherwise, on every rank, the code of
 * the lowest failing tp rank with its message ("tp rank R: ..." on the others). */
int qs_tp_agree(const qs_tp_group *g, int rc);
/* Loop control: returns 1 or 0 as tp rank 0 decided (its `want`), on every rank;
 * a negative QS_E* on a group error. Every rank waits for every other (a barrier). */
int qs_tp_continue(const qs_tp_group *g, int want);

/* ---- the MPI binding ----------------------------------------------------------- */

typedef struct {
  MPI_Comm comm;
} qs_tp_mpi;

/* A group over comm (tp rank = rank in comm; MPI_SUM on MPI_FLOAT in place for the
 * data plane). store must outlive g. Its collectives are the non-blocking kind
 * (MPI_Iallreduce / MPI_Ibcast, then MPI_Wait), as rank 0's funneled group operations
 * are: MPI never matches a blocking collective with a non-blocking one, so any other
 * implementation joining such a group must use them too. */
void qs_tp_group_mpi(MPI_Comm comm, qs_tp_mpi *store, qs_tp_group *g);

#endif
