/* coordinator.h - the MPI loop of `qsweep run`: rank 0 coordinates, writes, and runs
 * cells too. It hands cells out in the order of the schedule (schedule.h), by the
 * estimates of the cost model (cost.h). */
#ifndef QS_COORDINATOR_H
#define QS_COORDINATOR_H

#include <stdint.h>

#include "arch.h"
#include "backend.h"
#include "cost.h"
#include "precision.h"
#include "schedule.h"

/* Seconds left for the progress line: elapsed time scaled by the estimated cost still to
 * run over the cost done. 0 once every cell is done (cost sums in another order can leave
 * a rounding residue), NaN before any cost is done. */
double qs_eta_s(double elapsed_s, double total_cost, double done_cost, int done, int total);

/* ---- the MPI run ----------------------------------------------------------------- */
struct qs_spec;
struct qs_results;
struct qs_cell_ctx;
struct qs_worker;

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
  struct qs_worker *worker;    /* this rank's worker process (worker.h): tp = 1 cells run there;
                                * NULL: every cell runs in the rank (--no-worker) */
  double cell_timeout_s;       /* the time limit setting (cost.h): < 0 from the estimate, 0 none */
  double slowdown;             /* the backend's, for that estimate (qs_backend_slowdown) */
  const char *inject_crash;    /* test switches: tp = 1 cells whose key contains them crash or */
  const char *inject_hang;     /* hang for real in their worker (backend.h, fault) */
  qs_rank0_mode rank0_mode;
  int quiet;
  /* filled on rank 0 */
  int n_run, n_ok, n_failed, n_oom, n_unsupported, n_timeout;
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
