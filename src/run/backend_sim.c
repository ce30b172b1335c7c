/* backend_sim.c - the `sim` backend: it runs nothing. A plan sleeps for the cell's
 * estimated setup cost and every iteration for its estimated forward cost (the
 * cost model, cost.h), both times QSWEEP_SIM_SCALE (default 0.01: a sim
 * cell takes 1% of the estimated time on the reference GPU). It exists to test and
 * measure the scheduler at scale; its rows say backend "sim" and hold no
 * measurement: memory, energy, clocks and fidelity are NaN, and the latency samples
 * are the sleeps. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "cost.h"
#include "qs_common.h"

#define SIM_SCALE_DEFAULT 0.01

typedef struct {
  double forward_s; /* one iteration's sleep */
} sim_plan;

static double sim_scale(void) {
  const char *e = getenv("QSWEEP_SIM_SCALE");
  if (e && e[0]) {
    char *end;
    double v = strtod(e, &end);
    if (!*end && v >= 0 && isfinite(v)) return v;
  }
  return SIM_SCALE_DEFAULT;
}

static void sleep_until(const struct timespec *deadline) {
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL) == EINTR) {
  }
}

static void add_s(struct timespec *t, double s) {
  long long ns = t->tv_nsec + (long long)llround(s * 1e9);
  t->tv_sec += (time_t)(ns / 1000000000LL);
  t->tv_nsec = (long)(ns % 1000000000LL);
}

static void sleep_s(double s) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  add_s(&t, s);
  sleep_until(&t);
}

static int sim_available(char *why, size_t cap) {
  if (cap) why[0] = '\0';
  return 0;
}

static void sim_device_name(int device, char *buf, size_t cap) {
  (void)device;
  snprintf(buf, cap, "sim (scale %g)", sim_scale());
}

static int sim_plan_create(const qs_model *m, const qs_prec_opts *po, int batch, const qs_bench_opts *o,
                           void **plan) {
  (void)o;
  *plan = NULL;
  sim_plan *p = qs_calloc(1, sizeof *p);
  if (!p) return QS_ENOMEM;
  const double scale = sim_scale();
  p->forward_s = qs_forward_cost_us(&m->arch, po->prec, batch) * 1e-6 * scale;
  /* the setup and the fp32 reference forward a real backend would run */
  sleep_s((qs_cell_setup_cost_us(&m->arch, po->prec) + qs_forward_cost_us(&m->arch, QS_PREC_FP32, batch)) * 1e-6 *
          scale);
  *plan = p;
  return QS_OK;
}

static int sim_forward(void *plan, const float *input, float *output) {
  (void)plan;
  (void)input;
  (void)output;
  return qs_fail(QS_EUNSUPPORTED, "sim backend: no forward (it computes nothing)");
}

/* Iteration i ends at start + (i + 1) * forward_s (absolute deadlines: sleep
 * overheads do not accumulate); a sample is the interval actually slept. */
static int sim_bench(void *plan, const float *input, const qs_bench_opts *o, qs_bench_measure *m) {
  (void)input;
  sim_plan *p = plan;
  memset(m, 0, sizeof *m);
  m->weight_bytes = m->workspace_bytes = m->device_bytes = m->energy_j = NAN;
  m->sm_clock_start_mhz = m->sm_clock_end_mhz = NAN;
  /* warmup_s / min_time_s are device seconds: as many iterations as the device would
   * run in that time, each sleeping its scaled forward cost */
  const double scale = sim_scale();
  int warm = o->warmup;
  if (p->forward_s > 0 && o->warmup_s * scale / p->forward_s > warm) warm = (int)ceil(o->warmup_s * scale / p->forward_s);
  int iters = o->iterations;
  if (p->forward_s > 0 && o->min_time_s * scale / p->forward_s > iters)
    iters = (int)ceil(o->min_time_s * scale / p->forward_s);
  if (iters > QS_RESULTS_MAX_SAMPLES) iters = QS_RESULTS_MAX_SAMPLES;
  if (iters < 1) iters = 1;
  double *s = qs_malloc(sizeof(double) * (size_t)iters);
  if (!s) return QS_ENOMEM;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  add_s(&t, warm * p->forward_s);
  sleep_until(&t);
  double prev = qs_now_s();
  for (int i = 0; i < iters; i++) {
    add_s(&t, p->forward_s);
    sleep_until(&t);
    double now = qs_now_s();
    s[i] = (now - prev) * 1e3;
    prev = now;
  }
  m->samples_ms = s;
  m->n_samples = iters;
  return QS_OK;
}

static void sim_plan_destroy(void *plan) { free(plan); }

const qs_backend qs_backend_sim = {
    .name = "sim",
    .available = sim_available,
    .device_name = sim_device_name,
    .plan_create = sim_plan_create,
    .forward = sim_forward,
    .bench = sim_bench,
    .plan_destroy = sim_plan_destroy,
    .no_weights = 1,
    .fault = qs_fault_host,
    .slowdown = sim_scale, /* a cell sleeps its estimate times the scale */
};
