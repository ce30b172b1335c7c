/* test_gpu_calibrate.c - qsweep calibrate's measurement on a GPU: every entry present
 * with its method and sizes, the rates plausible (positive, below any GPU's peak, fp16
 * above fp32), fp8 measured exactly where the compute capability is >= 8.9, and the
 * result through a results file's /calibration group and back. Skipped (77) without a
 * GPU. */
#define _POSIX_C_SOURCE 200809L
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "calibrate.h"
#include "qs_common.h"
#include "qs_test.h"
#include "results.h"

static const qs_calib_entry *entry(const qs_calibration *c, const char *name) {
  const qs_calib_entry *e = qs_calib_find(c, name);
  CHECK_MSG(e != NULL, "no entry %s", name);
  return e;
}

int main(void) {
  if (qs_cuda_device_count() == 0) {
    printf("SKIP: no CUDA device\n");
    return QS_SKIP_CODE;
  }
  const qs_backend *be = qs_backend_get("cuda");
  CHECK(be != NULL);
  if (!be) return qs_test_finish("test_gpu_calibrate");
  qs_calib_opts o;
  qs_calib_opts_default(be, &o);
  CHECK(o.gemm_size == 8192 && o.reps == 10 && o.copy_bytes == ((size_t)1 << 30));
  o.gemm_size = 4096; /* a shorter run; the default size is what a sweep measures */
  o.reps = 5;
  qs_calibration c;
  memset(&c, 0, sizeof c);
  snprintf(c.host, sizeof c.host, "test");
  double t0 = qs_now_s();
  int rc = qs_calibrate(be, 0, &o, &c);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  printf("calibration of %s in %.1f s:\n", c.device, qs_now_s() - t0);
  for (int i = 0; i < c.n_entries; i++)
    printf("  %-10s %-11s %10.1f %-8s (best %.1f, median %.3f ms) %s %s\n", c.e[i].name, c.e[i].status, c.e[i].value,
           c.e[i].unit, c.e[i].best, c.e[i].median_ms, c.e[i].method, c.e[i].message);
  CHECK(c.n_entries == 6 && c.device_index == 0 && !strcmp(c.backend, "cuda") && c.device[0]);
  struct cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess);
  const int cc = 10 * prop.major + prop.minor;
  const qs_calib_entry *copy = entry(&c, "copy_d2d");
  if (copy) CHECK_MSG(!strcmp(copy->status, "ok") && copy->value > 50 && copy->value < 20000, "copy %.1f GB/s %s",
                      copy->value, copy->message);
  static const char *const gemms[] = {"gemm_fp32", "gemm_fp16", "gemm_bf16", "gemm_int8", "gemm_fp8"};
  for (int i = 0; i < 5; i++) {
    const qs_calib_entry *e = entry(&c, gemms[i]);
    if (!e) continue;
    CHECK(e->m == 4096 && e->n == 4096 && e->k == 4096 && e->reps == 5 && e->method[0]);
    if (i == 4 && cc < 89) {
      CHECK_MSG(!strcmp(e->status, "unsupported") && isnan(e->value), "%s: %s", e->name, e->status);
      continue;
    }
    CHECK_MSG(!strcmp(e->status, "ok"), "%s: %s %s", e->name, e->status, e->message);
    CHECK_MSG(e->value > 0.5 && e->value < 20000 && e->best >= e->value, "%s: %.1f TFLOP/s", e->name, e->value);
  }
  const qs_calib_entry *f32 = qs_calib_find(&c, "gemm_fp32"), *f16 = qs_calib_find(&c, "gemm_fp16");
  if (f32 && f16) CHECK_MSG(f16->value > 2 * f32->value, "fp16 %.1f vs fp32 %.1f TFLOP/s", f16->value, f32->value);
  if (f32) CHECK_MSG(f32->value < 120, "fp32 %.1f TFLOP/s: TF32 on?", f32->value);

  /* through a results file */
  char path[] = "/tmp/qs_gpu_calib_XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  qs_results *f = NULL;
  CHECK(qs_results_create(path, NULL, 1, &f) == QS_OK);
  CHECK(qs_results_put_calibration(f, &c) == QS_OK);
  CHECK(qs_results_close(f) == QS_OK);
  qs_calibration *back = NULL;
  int n = 0;
  CHECK_MSG(qs_results_read_calibration(path, &back, &n) == QS_OK && n == 1, "%s", qs_last_error());
  if (n == 1) {
    CHECK(!strcmp(back[0].device, c.device) && back[0].n_entries == c.n_entries);
    for (int i = 0; i < c.n_entries && i < back[0].n_entries; i++)
      CHECK(!strcmp(back[0].e[i].name, c.e[i].name) &&
            (back[0].e[i].value == c.e[i].value || (isnan(back[0].e[i].value) && isnan(c.e[i].value))));
  }
  free(back);
  unlink(path);
  return qs_test_finish("test_gpu_calibrate");
}
