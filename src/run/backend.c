/* backend.c - the backend registry and the default bench options. */
#define _POSIX_C_SOURCE 200809L
#include "backend.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qs_common.h"

void qs_bench_opts_default(qs_bench_opts *o) {
  o->warmup = 10;
  o->warmup_s = 0.0;
  o->iterations = 50;
  o->min_time_s = 0.0;
  o->use_graph = 1;
  o->device = -1;
  o->input_seed = 1;
}

static const qs_backend *const k_backends[] = {
    &qs_backend_cpu,
    &qs_backend_sim,
#ifdef QS_HAVE_CUDA
    &qs_backend_cuda,
#endif
};

const qs_backend *qs_backend_get(const char *name) {
  for (size_t i = 0; i < QS_ARRAY_LEN(k_backends); i++)
    if (!strcmp(k_backends[i]->name, name)) return k_backends[i];
#ifdef QS_HAVE_CUDA
  qs_fail(QS_EINVAL, "backend: unknown \"%s\" (cpu, cuda, sim)", name);
#else
  if (!strcmp(name, "cuda"))
    qs_fail(QS_EUNSUPPORTED, "backend: cuda is not built in (configure with CUDA to get it; cpu, sim)");
  else
    qs_fail(QS_EINVAL, "backend: unknown \"%s\" (cpu, sim)", name);
#endif
  return NULL;
}

const qs_backend *qs_backend_default(char *why, size_t cap) {
#ifdef QS_HAVE_CUDA
  int n = qs_cuda_device_count();
  if (n > 0) {
    snprintf(why, cap, "cuda (%d GPU%s visible)", n, n == 1 ? "" : "s");
    return &qs_backend_cuda;
  }
  snprintf(why, cap, "cpu (no GPU visible to the CUDA backend)");
#else
  snprintf(why, cap, "cpu (no CUDA backend in this build)");
#endif
  return &qs_backend_cpu;
}

int qs_backend_tp_capable(const qs_backend *be) { return be->plan_create_tp != NULL && !be->no_weights; }

double qs_backend_slowdown(const qs_backend *be) {
  double s = be->slowdown ? be->slowdown() : 1.0;
  return s >= 1.0 ? s : 1.0;
}

int qs_fault_host(qs_fault_kind kind, int device) {
  (void)device;
  if (kind == QS_FAULT_CRASH) {
    /* the default action, not a sanitizer's handler (which would exit with a status):
     * the process dies of SIGSEGV as it would of a wild store */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(SIGSEGV);
    return qs_fail(QS_EINTERNAL, "injected crash: SIGSEGV was raised but the process survived it");
  }
  if (kind == QS_FAULT_HANG) {
    for (;;) pause(); /* the parent's time limit ends this */
  }
  return qs_fail(QS_EINVAL, "fault: unknown kind %d", (int)kind);
}
