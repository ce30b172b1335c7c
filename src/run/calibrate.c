/* calibrate.c - the device ceilings of calibrate.h: the dispatch, and the CPU's
 * (memcpy bandwidth, the CPU reference's fp32 GEMM). The CUDA measurements are
 * kernels/calibrate.c. */
#define _POSIX_C_SOURCE 200809L
#include "calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_ops.h"
#include "qs_common.h"

void qs_calib_opts_default(const qs_backend *be, qs_calib_opts *o) {
  int cpu = be && strcmp(be->name, "cpu") == 0;
  o->gemm_size = cpu ? 512 : 8192;
  o->reps = cpu ? 5 : 10;
  o->warmup = cpu ? 1 : 3;
  o->copy_bytes = cpu ? ((size_t)64 << 20) : ((size_t)1 << 30);
}

static int dbl_cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

double qs_calib_median(double *v, int n) {
  if (n <= 0) return NAN;
  qsort(v, (size_t)n, sizeof *v, dbl_cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char *qs_calib_gemm_for(const char *prec) {
  static const struct {
    const char *prec, *entry;
  } k[] = {{"fp32", "gemm_fp32"}, {"fp16", "gemm_fp16"}, {"bf16", "gemm_bf16"}, {"int8", "gemm_int8"},
           {"int8dyn", "gemm_int8"}, {"fp8", "gemm_fp8"}, {"nf4", "gemm_fp16"}};
  for (size_t i = 0; prec && i < QS_ARRAY_LEN(k); i++)
    if (strcmp(prec, k[i].prec) == 0) return k[i].entry;
  return NULL;
}

static void utc_now(char *buf, size_t cap) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the CPU: memcpy and the reference GEMM ------------------------------------ */

static int cpu_calibrate(const qs_calib_opts *o, qs_calibration *c) {
  const int reps = o->reps > 0 ? o->reps : 1;
  double *t = qs_malloc(sizeof(double) * (size_t)reps);
  if (!t) return QS_ENOMEM;
  qs_calib_entry *e = &c->e[c->n_entries++];
  snprintf(e->name, sizeof e->name, "copy_host");
  snprintf(e->kind, sizeof e->kind, "bandwidth");
  snprintf(e->unit, sizeof e->unit, "GB/s");
  e->warmup = o->warmup;
  e->reps = reps;
  e->bytes = 2.0 * (double)o->copy_bytes;
  e->value = e->best = e->median_ms = e->min_ms = NAN;
  snprintf(e->method, sizeof e->method,
           "memcpy of a %zu-byte buffer, one thread, wall clock; bytes = read + written", o->copy_bytes);
  unsigned char *src = malloc(o->copy_bytes), *dst = malloc(o->copy_bytes);
  if (!src || !dst) {
    snprintf(e->status, sizeof e->status, "failed");
    snprintf(e->message, sizeof e->message, "out of host memory for 2 x %zu bytes", o->copy_bytes);
  } else {
    memset(src, 1, o->copy_bytes);
    memset(dst, 2, o->copy_bytes);
    for (int i = 0; i < o->warmup + reps; i++) {
      double t0 = qs_now_s();
      memcpy(dst, src, o->copy_bytes);
      double dt = qs_now_s() - t0;
      src[(size_t)i % o->copy_bytes] ^= dst[0]; /* keep the copies observable */
      if (i >= o->warmup) t[i - o->warmup] = dt * 1e3;
    }
    double med = qs_calib_median(t, reps);
    snprintf(e->status, sizeof e->status, "ok");
    e->median_ms = med;
    e->min_ms = t[0];
    e->value = e->bytes / (med * 1e-3) * 1e-9;
    e->best = e->bytes / (t[0] * 1e-3) * 1e-9;
  }
  free(src);
  free(dst);

  const int n = o->gemm_size;
  e = &c->e[c->n_entries++];
  snprintf(e->name, sizeof e->name, "gemm_fp32");
  snprintf(e->kind, sizeof e->kind, "gemm");
  snprintf(e->precision, sizeof e->precision, "fp32");
  snprintf(e->unit, sizeof e->unit, "TFLOP/s");
  e->m = e->n = e->k = n;
  e->warmup = o->warmup;
  e->reps = reps;
  e->bytes = 3.0 * 4.0 * (double)n * n;
  e->value = e->best = e->median_ms = e->min_ms = NAN;
  snprintf(e->method, sizeof e->method,
           "the CPU reference's fp32 GEMM (qs_cpu_gemm_nt, y = x W^T), wall clock; FLOPs = 2 M N K");
  float *x = malloc(sizeof(float) * (size_t)n * n), *w = malloc(sizeof(float) * (size_t)n * n);
  float *y = malloc(sizeof(float) * (size_t)n * n);
  if (!x || !w || !y) {
    snprintf(e->status, sizeof e->status, "failed");
    snprintf(e->message, sizeof e->message, "out of host memory for three %d x %d fp32 matrices", n, n);
  } else {
    for (size_t i = 0; i < (size_t)n * n; i++) {
      x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
      w[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
    }
    for (int i = 0; i < o->warmup + reps; i++) {
      double t0 = qs_now_s();
      qs_cpu_gemm_nt(x, w, NULL, n, n, n, y);
      double dt = qs_now_s() - t0;
      if (i >= o->warmup) t[i - o->warmup] = dt * 1e3;
    }
    double med = qs_calib_median(t, reps);
    snprintf(e->status, sizeof e->status, "ok");
    e->median_ms = med;
    e->min_ms = t[0];
    double flops = 2.0 * n * (double)n * n;
    e->value = flops / (med * 1e-3) * 1e-12;
    e->best = flops / (t[0] * 1e-3) * 1e-12;
  }
  free(x);
  free(w);
  free(y);
  free(t);
  return QS_OK;
}

int qs_calibrate(const qs_backend *be, int device, const qs_calib_opts *o, qs_calibration *c) {
  int32_t rank = c->rank;
  char host[sizeof c->host];
  qs_strlcpy(host, c->host, sizeof host);
  memset(c, 0, sizeof *c);
  c->rank = rank;
  qs_strlcpy(c->host, host, sizeof c->host);
  if (!be) return qs_fail(QS_EINVAL, "calibrate: no backend");
  if (o->gemm_size < 16 || o->gemm_size > 65536 || o->reps < 1 || o->warmup < 0 || o->copy_bytes < 4096)
    return qs_fail(QS_EINVAL, "calibrate: size %d (16..65536), reps %d (>= 1), warmup %d (>= 0), copy %zu bytes "
                   "(>= 4096)", o->gemm_size, o->reps, o->warmup, o->copy_bytes);
  qs_strlcpy(c->backend, be->name, sizeof c->backend);
  utc_now(c->measured_utc, sizeof c->measured_utc);
  if (strcmp(be->name, "sim") == 0)
    return qs_fail(QS_EUNSUPPORTED, "calibrate: the sim backend measures nothing (it sleeps for estimated costs)");
  if (strcmp(be->name, "cpu") == 0) {
    c->device_index = -1;
    be->device_name(-1, c->device, sizeof c->device);
    return cpu_calibrate(o, c);
  }
  if (strcmp(be->name, "cuda") == 0) {
    int ngpu = qs_cuda_device_count();
    if (ngpu < 1) {
      const char *vis = getenv("CUDA_VISIBLE_DEVICES");
      return qs_fail(QS_EUNSUPPORTED, "calibrate: no CUDA device visible%s%s%s: there is no GPU to measure",
                     vis ? " (CUDA_VISIBLE_DEVICES=" : "", vis ? vis : "", vis ? ")" : "");
    }
    if (device < 0 || device >= ngpu)
      return qs_fail(QS_EINVAL, "calibrate: device %d: %d CUDA device%s visible (0..%d)", device, ngpu,
                     ngpu == 1 ? "" : "s", ngpu - 1);
    c->device_index = device;
    be->device_name(device, c->device, sizeof c->device);
    return qs_cuda_calibrate(device, o, c);
  }
  return qs_fail(QS_EUNSUPPORTED, "calibrate: backend %s: nothing to measure", be->name);
}
