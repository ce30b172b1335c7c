/* cuda_check.c - the one helper behind CUDA_CHECK / CUBLAS_CHECK, and the device count. */
#include <stdio.h>
#include <string.h>

#include "qs_common.h"
#include "qs_cuda.h"
#include "backend.h"
#include "cuda_plan.h"
#ifdef QS_HAVE_NCCL
#include <nccl.h>
#endif

/* The file name without its directories keeps messages short. */
static const char *base_name(const char *file) {
  const char *s = strrchr(file, '/');
  return s ? s + 1 : file;
}

int qs_cuda_fail(cudaError_t e, const char *stmt, const char *file, int line) {
  int code = (e == cudaErrorMemoryAllocation) ? QS_EOOM : QS_EDEVICE;
  /* clear a non-sticky error so that the next cell starts clean */
  (void)cudaGetLastError();
  return qs_fail(code, "%s:%d: %s: %s (%s)", base_name(file), line, stmt, cudaGetErrorString(e), cudaGetErrorName(e));
}

#ifdef QS_HAVE_NCCL
int qs_nccl_fail(ncclResult_t r, const char *stmt, const char *file, int line) {
  return qs_fail(QS_EDEVICE, "%s:%d: %s: %s (NCCL %d)", base_name(file), line, stmt, ncclGetErrorString(r), (int)r);
}
#endif

static const char *cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "cuBLAS error";
  }
}

int qs_cublas_fail(cublasStatus_t s, const char *stmt, const char *file, int line) {
  int code = (s == CUBLAS_STATUS_ALLOC_FAILED) ? QS_EOOM : s == CUBLAS_STATUS_NOT_SUPPORTED ? QS_EUNSUPPORTED : QS_EDEVICE;
  return qs_fail(code, "%s:%d: %s: %s (%d)", base_name(file), line, stmt, cublas_status_name(s), (int)s);
}

int qs_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

void qs_cuda_versions(char *driver, char *cuda, char *nccl, size_t cap) {
  int drv = 0, rt = 0;
  driver[0] = cuda[0] = nccl[0] = '\0';
  char nv[96] = "";
  (void)qs_nvml_driver_version(nv, sizeof nv);
  if (cudaDriverGetVersion(&drv) == cudaSuccess) {
    if (nv[0]) snprintf(driver, cap, "%s (CUDA %d.%d driver API)", nv, drv / 1000, (drv % 1000) / 10);
    else snprintf(driver, cap, "CUDA %d.%d driver API", drv / 1000, (drv % 1000) / 10);
  } else if (nv[0]) {
    snprintf(driver, cap, "%s", nv);
  }
  if (cudaRuntimeGetVersion(&rt) == cudaSuccess) snprintf(cuda, cap, "%d.%d", rt / 1000, (rt % 1000) / 10);
  (void)cudaGetLastError();
#ifdef QS_HAVE_NCCL
  int v = 0;
  if (ncclGetVersion(&v) == ncclSuccess) {
    /* NCCL_VERSION_CODE: major*10000 + minor*100 + patch (>= 2.9) */
    snprintf(nccl, cap, "%d.%d.%d", v / 10000, (v / 100) % 100, v % 100);
  }
#endif
}
