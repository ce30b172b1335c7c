/* gpu_bench.c - a small standalone driver of the CUDA backend's vtable: one cell
 * (model, precision, batch), synthetic weights, the deterministic input, the timed
 * loop, and one machine-readable line:
 *   RESULT model=M precision=P batch=B median_ms=.. min_ms=.. mean_ms=.. n=.. weight_mb=..
 *          workspace_mb=.. device_mb=.. energy_j=.. graph=0|1
 * bench/peer_pytorch.py uses it where `qsweep bench` is not available. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"
#include "precision.h"
#include "qs_common.h"
#include "zoo.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *model = NULL, *prec = "fp16";
  int batch = 1, warmup = 20, iters = 100, graph = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
    else if (!strcmp(argv[i], "--precision") && i + 1 < argc) prec = argv[++i];
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) iters = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--plain")) graph = 0;
    else {
      fprintf(stderr, "usage: qsweep_gpu_bench --model M [--precision fp32|fp16] [--batch N] [--warmup W] "
                      "[--iterations I] [--plain]\n");
      return 2;
    }
  }
  if (!model || batch < 1 || warmup < 0 || iters < 1) {
    fprintf(stderr, "qsweep_gpu_bench: --model is required; batch and iterations must be positive\n");
    return 2;
  }
  qs_prec_opts po;
  qs_precision p;
  qs_zoo z;
  qs_arch a;
  qs_model m;
  if (qs_precision_parse(prec, &p) != QS_OK || qs_zoo_load(NULL, &z) != QS_OK || qs_zoo_resolve(&z, model, &a) != QS_OK ||
      qs_model_synthetic(&a, 1234, &m) != QS_OK) {
    fprintf(stderr, "qsweep_gpu_bench: %s\n", qs_last_error());
    return 1;
  }
  qs_zoo_free(&z);
  qs_prec_opts_default(&po, p);
  const qs_backend *be = &qs_backend_cuda;
  char why[256];
  if (be->available(why, sizeof why) != QS_OK) {
    fprintf(stderr, "qsweep_gpu_bench: %s\n", why);
    return 1;
  }
  qs_bench_opts o;
  memset(&o, 0, sizeof o);
  o.warmup = warmup;
  o.iterations = iters;
  o.use_graph = graph;
  o.device = 0;
  o.input_seed = 1;
  float *x = malloc(sizeof(float) * (size_t)batch * a.num_channels * a.input_size * a.input_size);
  qs_make_input(1, batch, a.num_channels, a.input_size, x);
  void *plan = NULL;
  qs_bench_measure r;
  int rc = be->plan_create(&m, &po, batch, &o, &plan);
  if (rc == QS_OK) rc = be->bench(plan, x, &o, &r);
  if (rc != QS_OK) {
    printf("RESULT model=%s precision=%s batch=%d status=%s message=\"%s\"\n", model, prec, batch, qs_status_name(rc),
           qs_last_error());
    return 1;
  }
  qsort(r.samples_ms, (size_t)r.n_samples, sizeof(double), cmp_double);
  double mean = 0;
  for (int i = 0; i < r.n_samples; i++) mean += r.samples_ms[i];
  mean /= r.n_samples;
  char dev[128];
  be->device_name(0, dev, sizeof dev);
  printf("RESULT model=%s precision=%s batch=%d median_ms=%.5f min_ms=%.5f mean_ms=%.5f n=%d weight_mb=%.2f "
         "workspace_mb=%.2f device_mb=%.2f energy_j=%.4f graph=%d device=\"%s\"\n",
         model, prec, batch, r.samples_ms[r.n_samples / 2], r.samples_ms[0], mean, r.n_samples, r.weight_bytes / 1e6,
         r.workspace_bytes / 1e6, r.device_bytes / 1e6, r.energy_j, graph, dev);
  free(r.samples_ms);
  be->plan_destroy(plan);
  qs_model_free(&m);
  free(x);
  return 0;
}
