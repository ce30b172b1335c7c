/* cuda_check.c - the one helper behind CUDA_CHECK / CUBLAS_CHECK, and the device count. */
#include <string.h>

#include "qs_common.h"
#include "qs_cuda.h"

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
