/* backend.h - the one interface every backend implements (CPU reference, CUDA,
 * and the labelled `sim` backend used to test the coordinator at scale), and the
 * one cell runner that drives them. */
#ifndef QS_BACKEND_H
#define QS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "precision.h"
#include "results.h"

/* How a cell is timed. */
typedef struct {
  int warmup;           /* warm-up iterations (default 10) */
  double warmup_s;      /* ... or at least this long (default 0) */
  int iterations;       /* timed iterations (default 50) */
  double min_time_s;    /* ... and at least this long (default 0) */
  int use_graph;        /* CUDA: replay a captured graph (default 1) */
  int device;           /* CUDA device ordinal for this rank (-1: none) */
  uint64_t input_seed;  /* fixed input (default 1) */
} qs_bench_opts;

void qs_bench_opts_default(qs_bench_opts *o);

/* What a backend's timed loop measures (the runner turns it into statistics). */
typedef struct {
  double *samples_ms;   /* [n_samples], malloc'd by the backend, owned by the caller */
  int n_samples;
  double weight_bytes;     /* bytes the weights occupy on the device */
  double workspace_bytes;  /* allocator high-water mark beyond the weights */
  double device_bytes;     /* device-level usage delta (NaN if unknown) */
  double energy_j;         /* energy over the timed loop (NaN if no counter) */
  double sm_clock_start_mhz, sm_clock_end_mhz; /* NaN if unknown */
  /* tensor-parallel plans only (read by the runner only when tp > 1): time inside the
   * group's all-reduce / total forward time over the timed loop, on this rank */
  double allreduce_share;
} qs_bench_measure;

struct qs_tp_group; /* tp.h */

/* Faults a backend can inject for real (qsweep run --inject-crash / --inject-hang). */
typedef enum { QS_FAULT_NONE = 0, QS_FAULT_CRASH = 1, QS_FAULT_HANG = 2 } qs_fault_kind;

typedef struct qs_backend {
  const char *name; /* "cpu", "cuda", "sim" */
  /* 0 if usable here; else a reason in why */
  int (*available)(char *why, size_t cap);
  /* device name for provenance ("cpu: <model name>", "NVIDIA H100 80GB HBM3") */
  void (*device_name)(int device, char *buf, size_t cap);
  /* Prepare a model in one precision at one batch size: upload, quantize, plan.
   * QS_EUNSUPPORTED / QS_EOOM are cell statuses, not fatal. */
  int (*plan_create)(const qs_model *m, const qs_prec_opts *p, int batch, const qs_bench_opts *o, void **plan);
  /* One synchronous forward: input [batch, C, S, S] -> output [batch, out_dim] on the host. */
  int (*forward)(void *plan, const float *input, float *output);
  /* The timed loop on the plan's input. */
  int (*bench)(void *plan, const float *input, const qs_bench_opts *o, qs_bench_measure *m);
  void (*plan_destroy)(void *plan);
  /* 1: plan_create reads only m->arch, never the weights, and forward is not
   * available (the sim backend); the runner then skips weights and fidelity.
   * 0 (the default of a designated initializer) for real backends. */
  int no_weights;
  /* Tensor parallelism (tp.h), NULL where the backend has none (its tp > 1 cells are
   * then "unsupported"). Like plan_create, for tp rank g->rank of the k = g->size ranks
   * of one node that run the cell together; QS_EUNSUPPORTED when the model does not
   * split by k. forward / bench / plan_destroy then work on the returned plan, and
   * every rank of the group calls them together (they communicate over g). Each rank's
   * forward returns the whole output. bench must run the same number of iterations on
   * every rank (tp rank 0 decides each one: qs_tp_continue), one sample per iteration,
   * and fill allreduce_share; the runner then takes the per-iteration max over the group. */
  int (*plan_create_tp)(const qs_model *m, const qs_prec_opts *p, int batch, const qs_bench_opts *o,
                        const struct qs_tp_group *g, void **plan);
  /* Fault injection, a test switch run only in a cell's worker process (worker.h): make
   * this process fault for real on the device. QS_FAULT_CRASH: the cpu and sim backends
   * raise SIGSEGV with its default action restored (the process dies of the signal,
   * sanitizers or not); cuda launches a kernel that stores to an unmapped device address
   * and returns the sticky error that the synchronisation reports. QS_FAULT_HANG: never
   * returns (cpu, sim: the thread sleeps forever; cuda: a kernel that spins forever).
   * NULL: the backend has none (the cell then fails saying so). */
  int (*fault)(qs_fault_kind kind, int device);
  /* 1 if a sticky error has left this process's device context unusable (after a CUDA
   * illegal address or launch failure every later call fails): the worker process then
   * exits after its reply and the rank starts a fresh one. NULL: never. */
  int (*context_lost)(int device);
  /* At most how many times the cost model's estimate (cost.h: reference-GPU
   * microseconds) a cell takes on this backend: the scale of the default time limit
   * (qs_cell_time_limit_s). NULL: 1. */
  double (*slowdown)(void);
} qs_backend;

/* The host fault of the cpu and sim backends (their .fault): SIGSEGV with the default
 * action, or sleep forever. */
int qs_fault_host(qs_fault_kind kind, int device);
/* be->slowdown(), or 1 */
double qs_backend_slowdown(const qs_backend *be);

/* Registry: "cpu", "sim", and "cuda" where built. NULL (with an error) if unknown. */
const qs_backend *qs_backend_get(const char *name);
/* Does the backend run tensor-parallel (tp > 1) cells? */
int qs_backend_tp_capable(const qs_backend *be);
/* The default backend: cuda where built and a GPU is visible, else cpu; why says
 * which and why (e.g. "cpu (no CUDA backend in this build)"). */
const qs_backend *qs_backend_default(char *why, size_t cap);
extern const qs_backend qs_backend_cpu;
extern const qs_backend qs_backend_sim; /* sleeps for a cell's estimated cost: never a measurement */
/* CUDA devices visible to this process (honours CUDA_VISIBLE_DEVICES); 0 without
 * a CUDA backend or a GPU. Implemented by the CUDA backend; backend_nocuda.c
 * returns 0 in builds without it. */
int qs_cuda_device_count(void);
/* NVIDIA driver, CUDA runtime and NCCL versions for the run metadata ("" where unknown;
 * all "" without a CUDA backend). */
void qs_cuda_versions(char *driver, char *cuda, char *nccl, size_t cap);
#ifdef QS_HAVE_CUDA
extern const qs_backend qs_backend_cuda; /* kernels/cuda_backend.c */
#endif

#endif
