/* backend_cpu.c - the qs_backend vtable over the CPU reference (qs_cpu_plan).
 * Timing is host wall clock around each synchronous forward. Memory beyond the
 * weights, device usage, energy and clocks are not measured here: NaN.
 * Tensor parallelism (tp.h): the sharded CPU forward, all-reducing over the group
 * (MPI_Allreduce on the host for an MPI group). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "qs_common.h"
#include "tp.h"

typedef struct {
  qs_cpu_plan *p;
  const qs_model *m;
  int batch;
  float *out; /* (batch, out_dim): the timed loop's output */
  qs_tp_group tp; /* size 1 without tensor parallelism */
} cpu_plan;

static int cpu_available(char *why, size_t cap) {
  if (cap) why[0] = '\0';
  return 0;
}

static void cpu_device_name(int device, char *buf, size_t cap) {
  (void)device;
  char model[128] = "";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10) != 0) continue;
      const char *colon = strchr(line, ':');
      if (!colon) continue;
      colon++;
      while (*colon == ' ' || *colon == '\t') colon++;
      qs_strlcpy(model, colon, sizeof model);
      model[strcspn(model, "\n")] = '\0';
      break;
    }
    fclose(f);
  }
  if (model[0]) snprintf(buf, cap, "cpu: %s", model);
  else snprintf(buf, cap, "cpu");
}

static void cpu_plan_destroy(void *plan) {
  cpu_plan *p = plan;
  if (!p) return;
  qs_cpu_plan_free(p->p);
  free(p->out);
  free(p);
}

static int cpu_plan_create_tp(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o,
                              const qs_tp_group *g, void **plan) {
  (void)o;
  *plan = NULL;
  if (batch < 1) return qs_fail(QS_EINVAL, "batch: %d must be at least 1", batch);
  cpu_plan *p = qs_calloc(1, sizeof *p);
  if (!p) return QS_ENOMEM;
  p->m = m;
  p->batch = batch;
  if (g) p->tp = *g;
  else p->tp.size = 1;
  p->out = qs_malloc(sizeof(float) * (size_t)batch * (size_t)qs_arch_out_dim(&m->arch));
  int rc = p->out ? qs_cpu_plan_create_tp(m, po, g, &p->p) : QS_ENOMEM;
  if (rc != QS_OK) {
    cpu_plan_destroy(p);
    return rc;
  }
  *plan = p;
  return QS_OK;
}

static int cpu_plan_create(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o, void **plan) {
  return cpu_plan_create_tp(m, po, batch, o, NULL, plan);
}

static int cpu_forward(void *plan, const float *input, float *output) {
  cpu_plan *p = plan;
  return qs_cpu_forward(p->p, p->batch, input, output);
}

/* Warm-up: at least o->warmup forwards and o->warmup_s seconds. Timed: at least
 * o->iterations forwards and o->min_time_s seconds; one sample per forward. */
static int cpu_bench_tp(cpu_plan *p, const float *input, const qs_bench_opts *o, qs_bench_measure *m);

/* Double the sample buffer; on failure frees it and records the error. */
static int grow_samples(double **s, int *cap) {
  double *g = realloc(*s, sizeof(double) * (size_t)*cap * 2);
  if (!g) {
    free(*s);
    *s = NULL;
    return qs_fail(QS_ENOMEM, "cpu bench: out of host memory for samples");
  }
  *s = g;
  *cap *= 2;
  return QS_OK;
}

static int cpu_bench(void *plan, const float *input, const qs_bench_opts *o, qs_bench_measure *m) {
  cpu_plan *p = plan;
  memset(m, 0, sizeof *m);
  m->weight_bytes = (double)qs_cpu_plan_weight_bytes(p->p);
  m->workspace_bytes = NAN;
  m->device_bytes = NAN;
  m->energy_j = NAN;
  m->sm_clock_start_mhz = m->sm_clock_end_mhz = NAN;
  m->allreduce_share = NAN;
  if (p->tp.size > 1) return cpu_bench_tp(p, input, o, m);
  double t0 = qs_now_s();
  for (int i = 0; i < o->warmup || qs_now_s() - t0 < o->warmup_s; i++)
    QS_TRY(qs_cpu_forward(p->p, p->batch, input, p->out));
  int cap = o->iterations > 16 ? o->iterations : 16, n = 0;
  double *s = qs_malloc(sizeof(double) * (size_t)cap);
  if (!s) return QS_ENOMEM;
  t0 = qs_now_s();
  while (n < o->iterations || qs_now_s() - t0 < o->min_time_s) {
    if (n == cap) {
      if (cap >= QS_RESULTS_MAX_SAMPLES / 2) break;
      QS_TRY(grow_samples(&s, &cap));
    }
    double t = qs_now_s();
    int rc = qs_cpu_forward(p->p, p->batch, input, p->out);
    if (rc != QS_OK) {
      free(s);
      return rc;
    }
    s[n++] = (qs_now_s() - t) * 1e3;
  }
  m->samples_ms = s;
  m->n_samples = n;
  return QS_OK;
}

/* The timed loop of a tensor-parallel plan: the same warm-up / iteration rules, with
 * tp rank 0 deciding each iteration for the group (qs_tp_continue, which also lines the
 * ranks up before each timed forward). allreduce_share: this rank's time inside the
 * all-reduce over its total forward time in the timed loop. */
static int cpu_bench_tp(cpu_plan *p, const float *input, const qs_bench_opts *o, qs_bench_measure *m) {
  const qs_tp_group *g = &p->tp;
  double t0 = qs_now_s();
  for (int i = 0;; i++) {
    int go = qs_tp_continue(g, i < o->warmup || qs_now_s() - t0 < o->warmup_s);
    if (go < 0) return go;
    if (!go) break;
    QS_TRY(qs_cpu_forward(p->p, p->batch, input, p->out));
  }
  int cap = o->iterations > 16 ? o->iterations : 16, n = 0;
  double *s = qs_malloc(sizeof(double) * (size_t)cap);
  if (!s) return QS_ENOMEM; /* before the loop: the group's status agreement follows */
  qs_cpu_plan_reset_allreduce(p->p);
  double total = 0.0;
  t0 = qs_now_s();
  for (;;) {
    int want = n < o->iterations || qs_now_s() - t0 < o->min_time_s;
    if (n == cap && cap >= QS_RESULTS_MAX_SAMPLES / 2) want = 0;
    int go = qs_tp_continue(g, want);
    if (go < 0) {
      free(s);
      return go;
    }
    if (!go) break;
    if (n == cap) QS_TRY(grow_samples(&s, &cap)); /* cap and n are the same on every rank */
    double t = qs_now_s();
    int rc = qs_cpu_forward(p->p, p->batch, input, p->out);
    if (rc != QS_OK) {
      free(s);
      return rc;
    }
    s[n] = (qs_now_s() - t) * 1e3;
    total += s[n++];
  }
  m->samples_ms = s;
  m->n_samples = n;
  m->allreduce_share = total > 0 ? 1e3 * qs_cpu_plan_allreduce_s(p->p) / total : NAN;
  return QS_OK;
}

/* The cost model's unit is a microsecond of an H100: the CPU reference is ~10^3 to
 * 10^5 times slower (fp16 and the quantized precisions emulate their rounding). */
static double cpu_slowdown(void) { return 1e5; }

const qs_backend qs_backend_cpu = {
    .name = "cpu",
    .available = cpu_available,
    .device_name = cpu_device_name,
    .plan_create = cpu_plan_create,
    .forward = cpu_forward,
    .bench = cpu_bench,
    .plan_destroy = cpu_plan_destroy,
    .plan_create_tp = cpu_plan_create_tp,
    .fault = qs_fault_host,
    .slowdown = cpu_slowdown,
};
