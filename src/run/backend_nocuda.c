/* backend_nocuda.c - what a build without the CUDA backend reports about GPUs. */
#include "backend.h"
#include "calibrate.h"
#include "qs_common.h"

#ifndef QS_HAVE_CUDA
int qs_cuda_calibrate(int device, const qs_calib_opts *o, qs_calibration *c) {
  (void)device;
  (void)o;
  (void)c;
  return qs_fail(QS_EUNSUPPORTED, "calibrate: this qsweep was built without the CUDA backend (no nvcc at configure "
                 "time): there is no GPU to measure");
}
int qs_cuda_device_count(void) { return 0; }
void qs_cuda_versions(char *driver, char *cuda, char *nccl, size_t cap) {
  (void)cap;
  driver[0] = cuda[0] = nccl[0] = '\0';
}
#else
typedef int qs_backend_nocuda_unused; /* ISO C wants a translation unit to declare something */
#endif
