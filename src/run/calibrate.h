/* calibrate.h - a device's ceilings for the roofline: its copy bandwidth and its dense
 * GEMM rate per precision, measured (`qsweep calibrate`, and every rank of a CUDA sweep
 * at its start unless disabled), with the method and sizes recorded (results.h,
 * qs_calibration). */
#ifndef QS_CALIBRATE_H
#define QS_CALIBRATE_H

#include <stddef.h>

#include "backend.h"
#include "results.h"

typedef struct {
  int gemm_size;     /* M = N = K of every GEMM (CUDA default 8192, CPU 512) */
  int reps;          /* timed repetitions of each measurement (default 10; CPU 5) */
  int warmup;        /* untimed repetitions first (default 3; CPU 1) */
  size_t copy_bytes; /* bytes of the copied buffer (CUDA default 1 GiB, CPU 64 MiB) */
} qs_calib_opts;

/* The defaults for backend be ("cuda" or "cpu"). */
void qs_calib_opts_default(const qs_backend *be, qs_calib_opts *o);

/* Measure the device of backend be (device: CUDA ordinal) into c: entries copy_d2d (or
 * copy_host), gemm_fp32 (true fp32, no TF32), gemm_fp16, gemm_bf16, gemm_int8 and gemm_fp8
 * on CUDA (cuBLASLt; fp8 where the compute capability is >= 8.9, else "unsupported"),
 * copy_host and gemm_fp32 (the CPU reference's GEMM) on the CPU. One measurement that
 * fails is an entry with status "failed" and its message; the call fails (QS_EUNSUPPORTED,
 * with a one-line message) only where there is nothing to measure: the sim backend, a
 * build without the CUDA backend, no CUDA device. c->rank and host are the caller's. */
int qs_calibrate(const qs_backend *be, int device, const qs_calib_opts *o, qs_calibration *c);

/* The CUDA part (kernels/calibrate.c; backend_nocuda.c where the build has no CUDA). */
int qs_cuda_calibrate(int device, const qs_calib_opts *o, qs_calibration *c);

/* Median of n values (sorted in place); NaN for n 0. */
double qs_calib_median(double *v, int n);

/* The calibration entry whose rate bounds a cell of precision prec: gemm_<P> for fp32,
 * fp16, bf16; gemm_int8 for int8 and int8dyn; gemm_fp8 for fp8; gemm_fp16 for nf4 (it
 * dequantizes into fp16 GEMMs); NULL for anything else. */
const char *qs_calib_gemm_for(const char *prec);

#endif
