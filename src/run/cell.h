/* cell.h - the cell runner: one (model, precision, batch, tp) through a backend into
 * a qs_cell_result. One runner serves `qsweep bench` and every rank of `qsweep run`. */
#ifndef QS_CELL_H
#define QS_CELL_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "backend.h"
#include "precision.h"
#include "results.h"

/* Per-rank state: the backend, the device, and the host model of the last cell (weights
 * are built once per rank per model) with its fp32 reference outputs per batch size. */
typedef struct qs_cell_ctx qs_cell_ctx;

int qs_cell_ctx_create(const qs_backend *be, int device, int rank, qs_cell_ctx **out);
void qs_cell_ctx_free(qs_cell_ctx *c);
/* Cells whose key contains pattern fail with "injected failure" (a test switch). */
void qs_cell_ctx_set_inject(qs_cell_ctx *c, const char *pattern);
const char *qs_cell_ctx_device(const qs_cell_ctx *c); /* the backend's device name */

/* Run one cell. Never fails as a whole: r is always filled, its status is ok, failed,
 * oom or unsupported, with the message. r->samples_ms is owned by r.
 * tp > 1 needs a group (qs_cell_run_group): here it is "unsupported". */
void qs_cell_run(qs_cell_ctx *c, const qs_arch *a, uint64_t weight_seed, const qs_prec_opts *po, int batch, int tp,
                 const qs_bench_opts *bo, qs_cell_result *r);

struct qs_tp_group;
/* Run one cell with tp = g->size on tp rank g->rank: every rank of the group calls it
 * together (it communicates over g). Every rank builds the fp32 model; tp rank 0 alone
 * computes the fp32 reference (unsplit) and the fidelity of the group's output against
 * it. The status is agreed over the group (a failure on any rank fails the cell, naming
 * that rank). Latency: per-iteration max over the group (each iteration's slowest rank);
 * allreduce_share, weights and memory: tp rank 0's (per-rank footprint). Only tp rank
 * 0's r is a row; the others' r carry the same status. g NULL or g->size 1: qs_cell_run. */
void qs_cell_run_group(qs_cell_ctx *c, const qs_arch *a, uint64_t weight_seed, const qs_prec_opts *po, int batch,
                       const struct qs_tp_group *g, const qs_bench_opts *bo, qs_cell_result *r);
/* A row for a cell that is not run (no measurement), with status code and message:
 * e.g. a tp cell no node has enough ranks for. */
void qs_cell_report(qs_cell_ctx *c, const qs_arch *a, const qs_prec_opts *po, int batch, int tp,
                    const qs_bench_opts *bo, int code, const char *msg, qs_cell_result *r);
/* 1 if the backend runs tp > 1 cells (it has plan_create_tp and real weights). */
int qs_cell_ctx_tp_capable(const qs_cell_ctx *c);
const char *qs_cell_ctx_backend(const qs_cell_ctx *c);

/* Status of an error code: QS_EUNSUPPORTED -> unsupported, QS_EOOM -> oom, QS_ETIMEOUT ->
 * timeout (a worker process killed at its cell's time limit, worker.h), else failed. */
const char *qs_cell_status_of(int code);

/* Wire format of a result (for MPI): explicit little tables of strings, int32s and
 * doubles, then the samples; no pointers travel. */
int qs_cell_result_pack(const qs_cell_result *r, unsigned char **buf, size_t *len);
int qs_cell_result_unpack(const unsigned char *buf, size_t len, qs_cell_result *r);

/* Bits per weight of the quantized layers in precision po (from the tensor specs and
 * quant.h's packed sizes): 32, 16, ~8.1 (int8), ~4.5 (nf4). NaN if unknown. */
double qs_qweight_bits(const qs_arch *a, const qs_prec_opts *po);

#endif
