/* cuda_plan.h - host-side pieces of the CUDA backend (C11): the per-plan memory
 * arena, cuBLASLt GEMM plans, and the NVML energy / clock counters. */
#ifndef QS_CUDA_PLAN_H
#define QS_CUDA_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "qs_cuda.h"

/* ---- arena.c -------------------------------------------------------------------
 * One device allocation per plan, carved by a bump allocator (256-byte aligned,
 * as cuBLASLt's heuristics assume). A layout is computed twice: once with no base
 * (measuring), then on the real allocation, so nothing is allocated later. */
typedef struct {
  char *base;  /* NULL while measuring */
  size_t cap;  /* bytes of the allocation (SIZE_MAX while measuring) */
  size_t used; /* bytes handed out so far = the high-water mark (nothing is freed) */
} qs_arena;

#define QS_ARENA_ALIGN 256
void qs_arena_measure(qs_arena *a);
/* cudaMalloc `bytes`; QS_EOOM when the device is full. */
int qs_arena_create(qs_arena *a, size_t bytes);
void qs_arena_destroy(qs_arena *a);
/* Next aligned block; while measuring, a placeholder address (never dereferenced). */
void *qs_arena_alloc(qs_arena *a, size_t bytes);

/* ---- gemm.c ------------------------------------------------------------------------
 * y[M, N] = x[M, K] W[N, K]^T (+ bias[N]) with row-major HF weights, through cuBLASLt:
 * fp32 = CUBLAS_COMPUTE_32F on fp32 data (no TF32); fp16 (bf16) = fp16 (bf16) A/B/D, fp32
 * accumulation and scale. Bias in the epilogue. The algorithm is chosen once by the heuristic. */
typedef struct {
  int M, N, K, has_bias;
  qs_dtype dt;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb, lc; /* W (as K x N col-major, transposed), x, y */
  cublasLtMatmulAlgo_t algo;
  size_t ws_bytes; /* workspace the chosen algorithm needs */
} qs_gemm;

/* like: a GEMM of the same shape and epilogue whose algorithm to reuse (no heuristic query), or NULL. */
int qs_gemm_init(qs_gemm *g, cublasLtHandle_t h, qs_dtype dt, int M, int N, int K, int has_bias, size_t ws_limit,
                 const qs_gemm *like);
/* The bias pointer lives in the operation descriptor (set once the arena is laid out). */
int qs_gemm_set_bias(qs_gemm *g, const void *bias);
int qs_gemm_run(const qs_gemm *g, cublasLtHandle_t h, const void *x, const void *w, void *y, void *ws,
                size_t ws_bytes, cudaStream_t s);
void qs_gemm_destroy(qs_gemm *g);

/* ---- nvml.c ----------------------------------------------------------------------
 * NVML through dlopen("libnvidia-ml.so.1"); absent library, device or counter -> NaN. */
typedef struct qs_nvml_dev qs_nvml_dev;
/* The NVML device of a CUDA ordinal (matched by PCI bus id); NULL if unavailable. */
qs_nvml_dev *qs_nvml_device(int cuda_device);
double qs_nvml_energy_mj(qs_nvml_dev *d); /* total energy since driver load, mJ */
double qs_nvml_sm_clock_mhz(qs_nvml_dev *d);
/* The NVIDIA driver version string (e.g. "580.159.04"); -1 if NVML is unavailable. */
int qs_nvml_driver_version(char *buf, unsigned int cap);

#endif
