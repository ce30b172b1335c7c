/* qsweep - measure what quantization buys for vision transformers on GPUs. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "qs_version.h"
#include "worker.h"

typedef struct {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} qs_command;

static const qs_command commands[] = {
    {"models", qs_cmd_models, "list the model zoo: family, size, tokens, parameters, GFLOPs, weight bytes"},
    {"forward", qs_cmd_forward, "run one forward pass and print the output (and fidelity against fp32)"},
    {"bench", qs_cmd_bench, "benchmark one cell (model x precision x batch) and print one row"},
    {"calibrate", qs_cmd_calibrate, "measure the GPU's copy bandwidth and GEMM throughput per precision (roofline)"},
    {"run", qs_cmd_run, "run a sweep spec over MPI ranks into an HDF5 results file"},
    {"export-weights", qs_cmd_export, "write a model's synthetic weights as HF config.json + model.safetensors"},
    {"seal", qs_cmd_seal, "check or re-seal results files (after an edit on purpose, e.g. with h5py)"},
};

static void usage(FILE *f) {
  fprintf(f,
          "qsweep %s (%s) - quantized vision transformer sweeps\n\n"
          "usage: qsweep COMMAND [options]     (qsweep COMMAND --help for its options)\n\n"
          "commands:\n",
          QS_VERSION, QS_GIT_COMMIT);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\nthen: qsweep-analyze results.h5 --report report.md   (the report, CSV, JSON, SVG charts)\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("qsweep %s (%s)\n", QS_VERSION, QS_GIT_COMMIT);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  /* not listed: the cell process `qsweep run` starts on every rank (src/run/worker.h) */
  if (!strcmp(argv[1], "worker")) return qs_worker_main(argc - 1, argv + 1);
  fprintf(stderr, "qsweep: unknown command \"%s\"\n\n", argv[1]);
  usage(stderr);
  return 2;
}
