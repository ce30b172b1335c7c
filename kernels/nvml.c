/* nvml.c - the energy counter and SM clock through NVML, loaded at run time
 * (no nvml.h: the few types and prototypes are declared here). */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>

#include "cuda_plan.h"

typedef int nvmlReturn_t; /* NVML_SUCCESS = 0 */
typedef struct nvmlDevice_st *nvmlDevice_t;
enum { QS_NVML_CLOCK_SM = 1 }; /* nvmlClockType_t: GRAPHICS 0, SM 1, MEM 2, VIDEO 3 */

static struct {
  int tried, ok;
  void *lib;
  nvmlReturn_t (*init)(void);
  nvmlReturn_t (*by_pci)(const char *, nvmlDevice_t *);
  nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long *);
  nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned int *);
  nvmlReturn_t (*driver)(char *, unsigned int);
} nv;

#define QS_NVML_MAX_DEV 64
struct qs_nvml_dev {
  nvmlDevice_t h;
};
static struct qs_nvml_dev devs[QS_NVML_MAX_DEV];
static int dev_state[QS_NVML_MAX_DEV]; /* 0 unknown, 1 found, -1 unavailable */

/* Load once per process; NVML stays initialised for the process's lifetime. */
static int nvml_load(void) {
  if (nv.tried) return nv.ok;
  nv.tried = 1;
  nv.lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!nv.lib) return 0;
  *(void **)&nv.init = dlsym(nv.lib, "nvmlInit_v2");
  *(void **)&nv.by_pci = dlsym(nv.lib, "nvmlDeviceGetHandleByPciBusId_v2");
  *(void **)&nv.energy = dlsym(nv.lib, "nvmlDeviceGetTotalEnergyConsumption");
  *(void **)&nv.clock = dlsym(nv.lib, "nvmlDeviceGetClockInfo");
  *(void **)&nv.driver = dlsym(nv.lib, "nvmlSystemGetDriverVersion");
  if (!nv.init || !nv.by_pci || nv.init() != 0) return 0;
  nv.ok = 1;
  return 1;
}

qs_nvml_dev *qs_nvml_device(int cuda_device) {
  if (cuda_device < 0 || cuda_device >= QS_NVML_MAX_DEV || !nvml_load()) return NULL;
  if (dev_state[cuda_device] == 0) {
    char bus[32];
    dev_state[cuda_device] = -1;
    if (cudaDeviceGetPCIBusId(bus, (int)sizeof bus, cuda_device) == cudaSuccess &&
        nv.by_pci(bus, &devs[cuda_device].h) == 0)
      dev_state[cuda_device] = 1;
    (void)cudaGetLastError();
  }
  return dev_state[cuda_device] == 1 ? &devs[cuda_device] : NULL;
}

double qs_nvml_energy_mj(qs_nvml_dev *d) {
  unsigned long long mj = 0;
  if (!d || !nv.energy || nv.energy(d->h, &mj) != 0) return NAN;
  return (double)mj;
}

double qs_nvml_sm_clock_mhz(qs_nvml_dev *d) {
  unsigned int mhz = 0;
  if (!d || !nv.clock || nv.clock(d->h, QS_NVML_CLOCK_SM, &mhz) != 0) return NAN;
  return (double)mhz;
}

int qs_nvml_driver_version(char *buf, unsigned int cap) {
  if (!buf || cap == 0 || !nvml_load() || !nv.driver) return -1;
  if (nv.driver(buf, cap) != 0) {
    buf[0] = '\0';
    return -1;
  }
  return 0;
}
