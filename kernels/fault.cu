/* fault.cu - device faults on purpose, for the isolation tests (qsweep run --inject-crash
 * and --inject-hang; src/run/worker.h): a store to an address no allocation maps, and a
 * kernel that never ends. Launched only in a cell's worker process. */
#include "qs_cuda_dev.cuh"

namespace {

/* Nothing ever writes it: the spin kernel waits on it forever. */
__device__ int g_fault_never = 0;

/* One thread stores through p, which the caller points into the unmapped page at device
 * address 0: the kernel ends with cudaErrorIllegalAddress, a sticky error (every later
 * call in this process's context fails with it too). */
__global__ void illegal_store_kernel(int *p) { *reinterpret_cast<volatile int *>(p) = 0x51535746; }

/* Spins until g_fault_never is set. The volatile load keeps the loop (C++ may assume a loop
 * without side effects ends); the sleep keeps the SM from burning power meanwhile. */
__global__ void spin_kernel() {
  while (*reinterpret_cast<volatile int *>(&g_fault_never) == 0) __nanosleep(1000);
}

}  // namespace

extern "C" int qs_fault_illegal_address_launch(cudaStream_t s) {
  int *bad = reinterpret_cast<int *>(static_cast<uintptr_t>(64)); /* in the null page */
  illegal_store_kernel<<<1, 1, 0, s>>>(bad);
  QS_LAUNCH_CHECK();
  return QS_OK;
}

extern "C" int qs_fault_spin_launch(cudaStream_t s) {
  spin_kernel<<<1, 1, 0, s>>>();
  QS_LAUNCH_CHECK();
  return QS_OK;
}
