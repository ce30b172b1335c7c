/* cmd_forward.c - `qsweep forward`: one forward pass, its output, and fidelity against fp32. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "backend.h"
#include "cell.h"
#include "cpu_backend.h"
#include "fidelity.h"
#include "model.h"
#include "precision.h"
#include "qs_common.h"
#include "safetensors.h"
#include "zoo.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: qsweep forward --model M [options]\n\n"
          "Runs one forward pass and prints the output's shape, a checksum and the first values.\n"
          "With a precision other than fp32, or on the cuda backend, it also runs the CPU reference\n"
          "in fp32 on the same weights and input and prints the fidelity (cosine, relative L2, max\n"
          "abs error, top-1 agreement).\n\n"
          "  -m, --model M        zoo name or checkpoint directory (config.json + model.safetensors)\n"
          "  -b, --backend B      cpu (default: the reference) or cuda (the plan a sweep times);\n"
          "                       the fidelity line compares with the CPU reference in fp32\n"
          "  -p, --precision P    " QS_PRECISION_NAMES " (default fp32)\n"
          "  -n, --batch N        images per forward (default 1)\n"
          "  -i, --input FILE     input: safetensors with pixel_values, or raw float32 [N,C,S,S]\n"
          "                       (default: deterministic uniform [-1, 1) from --input-seed)\n"
          "  -s, --seed S         synthetic weight seed (default %u)\n"
          "      --input-seed S   synthetic input seed (default 1)\n"
          "  -o, --output FILE    write the output as safetensors (tensor \"output\")\n"
          "      --values K       how many leading values to print (default 8)\n"
          "      --threshold T    LLM.int8 outlier threshold (default 6.0, 0 disables)\n"
          "      --nf4-double-quant  double-quantize the NF4 absmax values\n"
          "      --image-size S   input side in pixels (default: the model's; ViT, DeiT, DINOv2\n"
          "                       resize their position table as HF's interpolate_pos_encoding,\n"
          "                       BEiT its relative position tables; a side that is no multiple\n"
          "                       of the patch leaves its last side %% patch pixels unread, as HF)\n"
          "  -z, --zoo FILE       zoo file (default: %s)\n",
          QS_DEFAULT_SEED, qs_zoo_default_path());
}

/* One forward of m on backend be (a plan made and freed around it): out = f(in). The
 * CPU backend is the reference; cuda runs the CUDA plan a sweep cell times (its first
 * forward, plain launches), so a user can compare it with their own framework. */
static int run_backend(const qs_backend *be, const qs_model *m, const qs_prec_opts *po, int batch, const float *in,
                       float *out, double *ms) {
  if (!strcmp(be->name, "cpu")) {
    qs_cpu_plan *plan;
    QS_TRY(qs_cpu_plan_create(m, po, &plan));
    double t0 = qs_now_s();
    int rc = qs_cpu_forward(plan, batch, in, out);
    *ms = (qs_now_s() - t0) * 1e3;
    qs_cpu_plan_free(plan);
    return rc;
  }
  qs_bench_opts bo;
  qs_bench_opts_default(&bo);
  void *plan = NULL;
  QS_TRY(be->plan_create(m, po, batch, &bo, &plan));
  double t0 = qs_now_s();
  int rc = be->forward(plan, in, out);
  *ms = (qs_now_s() - t0) * 1e3;
  be->plan_destroy(plan);
  return rc;
}

int qs_cmd_forward(int argc, char **argv) {
  static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                       {"backend", required_argument, 0, 'b'},
                                       {"precision", required_argument, 0, 'p'},
                                       {"batch", required_argument, 0, 'n'},
                                       {"input", required_argument, 0, 'i'},
                                       {"seed", required_argument, 0, 's'},
                                       {"input-seed", required_argument, 0, 'I'},
                                       {"output", required_argument, 0, 'o'},
                                       {"values", required_argument, 0, 'V'},
                                       {"threshold", required_argument, 0, 'T'},
                                       {"nf4-double-quant", no_argument, 0, 'D'},
                                       {"zoo", required_argument, 0, 'z'},
                                       {"image-size", required_argument, 0, 'X'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *model = NULL, *backend = "cpu", *input = NULL, *output = NULL, *zoo_path = NULL;
  uint64_t seed = QS_DEFAULT_SEED, input_seed = 1;
  int batch = 1, nvalues = 8, image_size = 0, c;
  qs_prec_opts po;
  qs_prec_opts_default(&po, QS_PREC_FP32);
  optind = 1;
  while ((c = getopt_long(argc, argv, "m:b:p:n:i:s:o:z:h", opts, NULL)) != -1) {
    int rc = QS_OK;
    switch (c) {
      case 'm': model = optarg; break;
      case 'b': backend = optarg; break;
      case 'p': rc = qs_precision_parse(optarg, &po.prec); break;
      case 'n': rc = qs_parse_int("--batch", optarg, 1, 1 << 16, &batch); break;
      case 'i': input = optarg; break;
      case 's': rc = qs_parse_u64("--seed", optarg, &seed); break;
      case 'I': rc = qs_parse_u64("--input-seed", optarg, &input_seed); break;
      case 'o': output = optarg; break;
      case 'V': rc = qs_parse_int("--values", optarg, 0, 1 << 20, &nvalues); break;
      case 'T': {
        char *end;
        po.int8_threshold = strtof(optarg, &end);
        if (*end || end == optarg || !(po.int8_threshold >= 0))
          rc = qs_fail(QS_EINVAL, "--threshold: \"%s\" is not a non-negative number", optarg);
        break;
      }
      case 'D': po.nf4_double_quant = 1; break;
      case 'z': zoo_path = optarg; break;
      case 'X': rc = qs_parse_int("--image-size", optarg, 1, 8192, &image_size); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
    if (rc != QS_OK) {
      fprintf(stderr, "qsweep forward: %s\n", qs_last_error());
      return 2;
    }
  }
  if (!model) {
    fprintf(stderr, "qsweep forward: --model is required\n");
    usage(stderr);
    return 2;
  }
  const qs_backend *be = qs_backend_get(backend);
  if (!be || !strcmp(backend, "sim")) {
    fprintf(stderr, "qsweep forward: --backend: \"%s\" is not a backend that computes (cpu, cuda)\n", backend);
    return 2;
  }
  char why[256] = "";
  if (be->available(why, sizeof why) != 0) {
    fprintf(stderr, "qsweep forward: backend %s: not usable here: %s\n", be->name, why);
    return 1;
  }
  qs_arch a;
  if (qs_cli_model_arch(zoo_path, model, image_size, &a) != QS_OK) {
    fprintf(stderr, "qsweep forward: %s\n", qs_last_error());
    return 1;
  }
  const int C = a.num_channels, S = a.input_size, D = qs_arch_out_dim(&a);
  float *x = malloc(sizeof(float) * (size_t)batch * C * S * S);
  float *y = malloc(sizeof(float) * (size_t)batch * D);
  float *y32 = malloc(sizeof(float) * (size_t)batch * D);
  if (!x || !y || !y32) {
    fprintf(stderr, "qsweep forward: out of host memory\n");
    return 1;
  }
  int rc = 1;
  qs_model m;
  qs_cell_ctx *ctx = NULL; /* binds the device, as a sweep's rank does */
  if (strcmp(be->name, "cpu") != 0 && qs_cell_ctx_create(be, 0, 0, &ctx) != QS_OK) {
    fprintf(stderr, "qsweep forward: %s\n", qs_last_error());
    goto out_nomodel;
  }
  double t0 = qs_now_s();
  if (qs_model_create(&a, seed, &m) != QS_OK) {
    fprintf(stderr, "qsweep forward: %s\n", qs_last_error());
    goto out_nomodel;
  }
  double t_weights = qs_now_s() - t0;
  if (input) {
    if (qs_read_input(input, batch, C, S, x) != QS_OK) {
      fprintf(stderr, "qsweep forward: %s\n", qs_last_error());
      goto out;
    }
  } else {
    qs_make_input(input_seed, batch, C, S, x);
  }
  printf("model:     %s (%s, %s; weights from %s in %.2f s)\n", a.name, qs_family_name(a.family), a.hf_class, m.source,
         t_weights);
  printf("backend:   %s   precision: %s   batch: %d   input: %s\n", backend, qs_precision_name(po.prec), batch,
         input ? input : "synthetic");
  double ms;
  if (run_backend(be, &m, &po, batch, x, y, &ms) != QS_OK) {
    fprintf(stderr, "qsweep forward: %s\n", qs_last_error());
    goto out;
  }
  double sum = 0, asum = 0;
  for (int64_t i = 0; i < (int64_t)batch * D; i++) {
    sum += y[i];
    asum += fabs(y[i]);
  }
  printf("output:    [%d, %d] (%s)\n", batch, D, qs_output_name(a.output));
  printf("checksum:  sum %.9g  abs_sum %.9g\n", sum, asum);
  printf("values:   ");
  for (int i = 0; i < nvalues && i < batch * D; i++) printf(" %.7g", y[i]);
  printf("\ntime:      %.1f ms (forward, %s)\n", ms, backend);
  if (po.prec != QS_PREC_FP32 || strcmp(be->name, "cpu") != 0) {
    qs_prec_opts p32;
    qs_prec_opts_default(&p32, QS_PREC_FP32);
    double ms32;
    if (run_backend(qs_backend_get("cpu"), &m, &p32, batch, x, y32, &ms32) != QS_OK) {
      fprintf(stderr, "qsweep forward: fp32 reference: %s\n", qs_last_error());
      goto out;
    }
    qs_fidelity f;
    int is_cls = a.output == QS_OUT_LOGITS || a.output == QS_OUT_DEIT_AVG;
    qs_fidelity_compute(y32, y, batch, D, is_cls, &f);
    qs_fidelity_print(stdout, "fidelity vs fp32", &f);
  }
  if (output) {
    qs_st_out_tensor t = {.name = "output", .ndim = 2, .shape = {batch, D}, .data = y};
    if (qs_st_write(output, &t, 1, (const char *const[]){"model", a.name, "precision", qs_precision_name(po.prec), NULL}) != QS_OK) {
      fprintf(stderr, "qsweep forward: %s\n", qs_last_error());
      goto out;
    }
  }
  rc = 0;
out:
  qs_model_free(&m);
out_nomodel:
  if (ctx) qs_cell_ctx_free(ctx);
  free(x);
  free(y);
  free(y32);
  return rc;
}
