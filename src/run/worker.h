/* worker.h - a rank's cells in a child process, so that a device fault, a crash or a
 * hang costs one cell and not the rank or the sweep.
 *
 * Each rank of `qsweep run` starts one worker: the qsweep binary itself, executed
 * afresh (posix_spawn of /proc/self/exe, `qsweep worker`), not a fork of the rank. A
 * fork of an MPI process after MPI_Init copies the library's state (its threads are
 * not copied, its registered memory and sockets are) and a CUDA context does not
 * survive fork; an executed image starts clean: it never calls MPI and builds its own
 * CUDA context. The two talk over a socketpair (the worker's end is its fd 3):
 *
 *   worker -> rank   once, when it is up: u32 "QSWR", u32 the request's size (the same
 *                    binary answered); the time limit of a cell starts after this, so
 *                    loading the CUDA libraries on a busy node never counts against it
 *   rank -> worker   one request per cell: u64 length, then a worker_req (worker.c: the
 *                    architecture, weight seed, precision options, batch, bench options
 *                    and the fault to inject: plain structs, the same binary on both ends)
 *   worker -> rank   u64 length, u8 flags (1: the device context is lost and the worker
 *                    exits after this reply), then the packed result (cell.h wire format)
 *
 * The worker runs the cell with the ordinary cell runner (cell.h) and keeps its own
 * weights cache, so a model's cells on one rank still build the weights once. The rank
 * waits for the reply with the cell's time limit (cost.h, qs_cell_time_limit_s):
 *   - past the limit: SIGKILL, the row's status is `timeout`;
 *   - the worker died (a signal, or an exit without a reply): `failed`, with "worker
 *     killed by SIGSEGV (Segmentation fault)" or "worker exited with status N";
 *   - a reply whose cell failed with a sticky device error (the backend's context_lost):
 *     the row as the worker wrote it (`failed`, the CUDA error text), then the worker exits;
 * and the next cell starts a fresh worker (its weights cache rebuilt). The row of a cell
 * that killed its worker is written by the rank (identity, status, message, duration;
 * nothing measured).
 *
 * A worker whose rank dies (kill -9 of the job, MPI_Abort) sees its socket hang up and
 * exits, in the middle of a cell too (a watchdog thread: a kernel that spins forever
 * does not keep it alive). Tensor-parallel cells (tp > 1) are not isolated: their ranks
 * communicate over MPI or NCCL communicators that live in the rank processes, so they
 * run in the rank as before, without a time limit. */
#ifndef QS_WORKER_H
#define QS_WORKER_H

#include <stdint.h>

#include "arch.h"
#include "backend.h"
#include "cell.h"
#include "precision.h"
#include "results.h"

typedef struct qs_worker qs_worker;

/* A handle for this rank's worker process, which starts at the first cell. The worker
 * runs backend `backend` on device `device` and writes rows as rank `rank`. */
int qs_worker_create(const char *backend, int device, int rank, qs_worker **out);
/* Cells whose key contains pattern fail with "injected failure" in the worker (the
 * --inject-failure test switch, as qs_cell_ctx_set_inject); takes effect at the next start. */
void qs_worker_set_inject(qs_worker *w, const char *pattern);
/* Ends the process (closing its socket; SIGKILL if it does not exit within 5 s) and frees. */
void qs_worker_free(qs_worker *w);

/* Run one tp = 1 cell in the worker, with a time limit (seconds; 0: none) and a fault to
 * inject there (QS_FAULT_NONE for a real cell). r is always filled: the worker's row, or
 * the rank's row for a cell that killed its worker (ctx gives the row's identity: this
 * rank, host and device). Never fails as a whole. */
void qs_worker_run(qs_worker *w, qs_cell_ctx *ctx, const qs_arch *a, uint64_t weight_seed, const qs_prec_opts *po,
                   int batch, const qs_bench_opts *bo, qs_fault_kind fault, double limit_s, qs_cell_result *r);

/* Workers started so far (1 + restarts), for the run summary. */
int qs_worker_starts(const qs_worker *w);

/* `qsweep worker --fd N --backend B --device D --rank R`: the worker process's main,
 * started by qs_worker_run only. Returns the exit status. */
int qs_worker_main(int argc, char **argv);

#endif
