/* coordinator.h - the scheduler of `qsweep run`: the cost model, the order cells are
 * handed out in, and the MPI loop (rank 0 coordinates, writes, and runs cells too). */
#ifndef QS_COORDINATOR_H
#define QS_COORDINATOR_H

#include <stdint.h>

#include "arch.h"
#include "backend.h"
#include "precision.h"

/* ---- cost model (sweep/README.md, "Cost model") --------------------------------
 * Unit: estimated microseconds on the reference GPU (H100 SXM). One forward costs
 *   max(batch * GFLOPs * us_per_gflop[prec], weight MB / 3 MB/us) + 20 + 10 * layers
 * with us_per_gflop = fp32 20 (50 TFLOP/s, no TF32), fp16 2.5 (400 TFLOP/s),
 * int8 4 (LLM.int8: quantize + outlier GEMM), nf4 3.5 (dequantize on the fly) and
 * weight bytes per parameter 4, 2, ~1.06, ~0.56. A cell costs its warm-up and timed
 * iterations (or warmup_s + min_time_s if longer), one fp32 reference forward, and
 * its setup (upload at 10 GB/s, plus ~1 ns a weight to round to fp16 or ~2 ns to
 * quantize on the host). A tp = k cell costs what one of its k ranks does: the
 * forward / k plus ~20 us a layer for its two all-reduces (1 when the model does not
 * split by k: reported at once). The estimate only has to order cells; it is never
 * reported as a measurement. */
double qs_forward_cost_us(const qs_arch *a, qs_precision p, int batch);
double qs_cell_setup_cost_us(const qs_arch *a, qs_precision p);
double qs_cell_cost(const qs_arch *a, qs_precision p, int batch, int tp, const qs_bench_opts *o);

/* ---- the schedule (no MPI; unit-testable) ----------------------------------------
 * Cells in decreasing cost (LPT), with model affinity: a rank that ran a model's
 * cell gets that model's largest remaining cell while the remaining work per rank
 * is at least twice the largest remaining cell (so affinity cannot stretch the
 * tail) or that cell is at least half the largest; otherwise the largest cell. */
typedef struct qs_sched qs_sched;
/* costs[n], model[n]; skip[n] (may be NULL) marks cells not to run (--resume). */
qs_sched *qs_sched_create(int n, const double *costs, const int *model, const unsigned char *skip, int world);
void qs_sched_free(qs_sched *s);
/* The first cell of `rank` (deterministic: the rank-th largest), or -1. */
int qs_sched_initial(qs_sched *s, int rank);
/* The next cell for a rank whose cached model is last_model (-1: none), or -1 when
 * every cell has been handed out. Marks it taken. */
int qs_sched_next(qs_sched *s, int last_model);
/* The cost of the largest cell not handed out yet, or -1 when none is left. */
double qs_sched_peek_cost(qs_sched *s);
int qs_sched_remaining(const qs_sched *s);
double qs_sched_remaining_cost(const qs_sched *s);
/* Seconds left for the progress line: elapsed time scaled by the estimated cost still to
 * run over the cost done. 0 once every cell is done (cost sums in another order can leave
 * a rounding residue), NaN before any cost is done. */
double qs_eta_s(double elapsed_s, double total_cost, double done_cost, int done, int total);

/* ---- the MPI run ----------------------------------------------------------------- */
struct qs_spec;
struct qs_results;
struct qs_cell_ctx;

typedef enum {
  QS_RANK0_THREAD = 0, /* rank 0 runs cells on a helper thread; its main thread coordinates */
  QS_RANK0_INLINE,     /* rank 0 runs cells itself and serves requests between them */
  QS_RANK0_COORD       /* with more than one rank, rank 0 only coordinates and writes */
} qs_rank0_mode;

typedef struct {
  const struct qs_spec *spec;
  const unsigned char *skip;   /* [n_cells]: already ok in the file (--resume) */
  struct qs_results *out;      /* rank 0: the open results file */
  struct qs_cell_ctx *cell;    /* this rank's cell runner */
  qs_rank0_mode rank0_mode;
  int quiet;
  /* filled on rank 0 */
  int n_run, n_ok, n_failed, n_oom, n_unsupported;
  int write_errors;
  double makespan_s;           /* first hand-out to last result */
  double writer_lag_s;         /* last result to last row durable */
} qs_coord_run;

/* Every rank calls it; returns when the sweep is done (QS_OK) or a write failed.
 * Tensor-parallel cells are gang-scheduled on k ranks of one node (coordinator.c,
 * sweep/README.md). The environment variable QSWEEP_TEST_RANKS_PER_NODE=n (a test
 * switch) makes ranks [i*n, (i+1)*n) count as one node. */
int qs_coord_run_sweep(qs_coord_run *r, int rank, int world);

/* Every rank calls it (collective): the most ranks of one node that run cells under
 * mode, the widest tensor-parallel group the sweep could form (rank 0's answer; 0 on
 * the others). Nodes as qs_coord_run_sweep sees them. */
int qs_coord_max_node(int rank, int world, qs_rank0_mode mode);

/* Can a tp > 1 cell of architecture a run? 0 if so; 1 if not, with the reason in why:
 * the backend runs no tp cells (tp_capable 0), no node has tp ranks that run cells
 * (max_node; coord_only: rank 0 runs none), or the model does not split tp ways.
 * The coordinator reports such a cell "unsupported" at once; --dry-run lists it so. */
int qs_tp_unrunnable(const qs_arch *a, int tp, int tp_capable, const char *backend, int max_node, int coord_only,
                     char *why, size_t cap);

#endif
