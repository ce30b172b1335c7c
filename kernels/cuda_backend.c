/* cuda_backend.c - the CUDA backend: the native forward of the transformer families
 * (ViT, DeiT, DINO, DINOv2, BEiT) and MobileViT in fp32, fp16, int8 and nf4, captured
 * in a CUDA graph, and the timed loop. This file holds the forward, the timed loop and
 * the vtable; the rest of the host side, by job:
 *   cuda_linear.c     the plan's tensors and Linear layers (dense, int8, nf4, sharded);
 *   cuda_setup.c      a plan's life: the transformer families' description, the arena
 *                     layout, upload, first forward and graph capture, the NCCL
 *                     communicator of a tensor-parallel plan, free;
 *   cuda_mobilevit.c  MobileViT's description (an op list) and its recording;
 *   cuda_record.c     the forward as launches: recording, graph replay, capture.
 * cuda_internal.h is the plan they share.
 *
 * Tensor parallelism (plan_create_tp, built with NCCL): the same forward on this rank's
 * shards (heads H / k, MLP width mlp / k), with an NCCL all-reduce after the attention
 * output GEMM and after FC2, then their bias; cuda_setup.c, "tensor parallelism". */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cuda_internal.h"
#include "qs_common.h"
#include "tp.h"

#define QS_EVENT_CHUNK 32
#define QS_ENERGY_MIN_S 0.25 /* shortest timed loop whose energy is reported */

static int cuda_forward(void *plan, const float *input, float *output) {
  qs_cuda_plan *P = plan;
  CUDA_CHECK(cudaSetDevice(P->device));
  if (input)
    CUDA_CHECK(cudaMemcpyAsync(P->in32, input, sizeof(float) * (size_t)P->B * P->C * P->S * P->S,
                               cudaMemcpyHostToDevice, P->stream));
  QS_TRY(qs_cuda_launch(P, P->use_graph));
  CUDA_CHECK(cudaMemcpyAsync(output, P->out32, sizeof(float) * (size_t)P->B * P->out_dim, cudaMemcpyDeviceToHost,
                             P->stream));
  CUDA_CHECK(cudaStreamSynchronize(P->stream));
  return QS_OK;
}

/* ---- the timed loop ----------------------------------------------------------------- */

static int bench_loop(qs_cuda_plan *P, const qs_bench_opts *o, int use_graph, cudaEvent_t *ev, qs_bench_measure *m) {
  /* warm-up: at least `warmup` iterations and at least warmup_s seconds */
  double t0 = qs_now_s();
  for (int i = 0; i < o->warmup || qs_now_s() - t0 < o->warmup_s; i++) {
    QS_TRY(qs_cuda_launch(P, use_graph));
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
      QS_TRY(qs_cuda_launch(P, use_graph));
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
  int frc = qs_cuda_record(P);
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
    QS_TRY(qs_cuda_launch(P, use_graph));
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
    QS_TRY(qs_cuda_launch(P, use_graph));
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

/* ---- fault injection and the context's health (src/run/worker.h) ----------------------- */

/* In a worker only: the illegal store returns its sticky error here; the spin kernel
 * blocks the synchronisation until the rank kills the process at the time limit. */
static int cuda_fault(qs_fault_kind kind, int device) {
  CUDA_CHECK(cudaSetDevice(device < 0 ? 0 : device));
  if (kind == QS_FAULT_CRASH) QS_TRY(qs_fault_illegal_address_launch(0));
  else if (kind == QS_FAULT_HANG) QS_TRY(qs_fault_spin_launch(0));
  else return qs_fail(QS_EINVAL, "fault: unknown kind %d", (int)kind);
  CUDA_CHECK(cudaDeviceSynchronize());
  return qs_fail(QS_EINTERNAL, "the fault kernel finished without an error");
}

/* After a failed cell: a sticky error (illegal address, launch failure, a trap) is
 * returned by every call from now on, so a synchronisation tells. Any error left counts:
 * a fresh worker costs only a rebuild of the weights. */
static int cuda_context_lost(int device) {
  cudaError_t e = cudaSetDevice(device < 0 ? 0 : device);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e == cudaSuccess) e = cudaGetLastError();
  return e != cudaSuccess;
}

const qs_backend qs_backend_cuda = {
    .name = "cuda",
    .available = cuda_available,
    .device_name = cuda_device_name,
    .plan_create = qs_cuda_plan_create,
    .forward = cuda_forward,
    .bench = cuda_bench,
    .plan_destroy = qs_cuda_plan_destroy,
#ifdef QS_HAVE_NCCL
    .plan_create_tp = qs_cuda_plan_create_tp,
#endif
    .fault = cuda_fault,
    .context_lost = cuda_context_lost,
};
