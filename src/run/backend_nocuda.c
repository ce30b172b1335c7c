/* backend_nocuda.c - what a build without the CUDA backend reports about GPUs. */
#include "backend.h"

#ifndef QS_HAVE_CUDA
int qs_cuda_device_count(void) { return 0; }
void qs_cuda_versions(char *driver, char *cuda, char *nccl, size_t cap) {
  (void)cap;
  driver[0] = cuda[0] = nccl[0] = '\0';
}
#else
typedef int qs_backend_nocuda_unused; /* ISO C wants a translation unit to declare something */
#endif
