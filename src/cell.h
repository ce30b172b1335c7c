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
 * oom or unsupported, with the message. r->samples_ms is owned by r. */
void qs_cell_run(qs_cell_ctx *c, const qs_arch *a, uint64_t weight_seed, const qs_prec_opts *po, int batch, int tp,
                 const qs_bench_opts *bo, qs_cell_result *r);

/* Status of an error code: QS_EUNSUPPORTED -> unsupported, QS_EOOM -> oom, else failed. */
const char *qs_cell_status_of(int code);

/* Wire format of a result (for MPI): explicit little tables of strings, int32s and
 * doubles, then the samples; no pointers travel. */
int qs_cell_result_pack(const qs_cell_result *r, unsigned char **buf, size_t *len);
int qs_cell_result_unpack(const unsigned char *buf, size_t len, qs_cell_result *r);

/* Bits per weight of the quantized layers in precision po (from the tensor specs and
 * quant.h's packed sizes): 32, 16, ~8.1 (int8), ~4.5 (nf4). NaN if unknown. */
double qs_qweight_bits(const qs_arch *a, const qs_prec_opts *po);

#endif
