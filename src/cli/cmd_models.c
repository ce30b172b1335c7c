/* cmd_models.c - `qsweep models`: the zoo with sizes computed from the architectures. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "precision.h"
#include "qs_common.h"
#include "quant.h"
#include "zoo.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: qsweep models [--precision P] [--zoo FILE] [--model NAME]...\n\n"
          "Lists the model zoo: family, input size, tokens, parameters and GFLOPs per image,\n"
          "computed from each architecture. With --precision, also the bytes the weights occupy:\n"
          "the quantized layers (every encoder Linear) and all weights, and bits per quantized weight.\n\n"
          "  -p, --precision P   " QS_PRECISION_NAMES "\n"
          "      --nf4-double-quant  count NF4 with double-quantized absmax\n"
          "      --nf4-block N   NF4 block size (default 64)\n"
          "  -z, --zoo FILE      zoo file (default: %s)\n"
          "  -m, --model NAME    only this model (repeatable); a checkpoint directory works too\n",
          qs_zoo_default_path());
}

/* weight bytes for one architecture in one precision, from the tensor list */
static int weight_bytes(const qs_arch *a, const qs_prec_opts *po, double *q_bytes, double *q_fp32, double *all) {
  qs_tensor_spec *specs;
  int n;
  QS_TRY(qs_arch_specs(a, &specs, &n));
  double qb = 0, qf = 0, other = 0;
  double elem = qs_prec_other_elem_bytes(po->prec);
  for (int i = 0; i < n; i++) {
    const qs_tensor_spec *s = &specs[i];
    double ne = (double)qs_spec_numel(s);
    if (s->quantized) {
      qf += 4.0 * ne;
      qb += (double)qs_prec_qweight_bytes(po, s->shape[0], s->shape[1]);
    } else {
      other += elem * ne; /* everything else stays in the compute dtype */
    }
  }
  free(specs);
  *q_bytes = qb;
  *q_fp32 = qf;
  *all = qb + other;
  return QS_OK;
}

int qs_cmd_models(int argc, char **argv) {
  static const struct option opts[] = {{"precision", required_argument, 0, 'p'},
                                       {"zoo", required_argument, 0, 'z'},
                                       {"model", required_argument, 0, 'm'},
                                       {"nf4-double-quant", no_argument, 0, 'D'},
                                       {"nf4-block", required_argument, 0, 'B'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *zoo_path = NULL, *only[64];
  int n_only = 0, have_prec = 0;
  qs_prec_opts po;
  qs_prec_opts_default(&po, QS_PREC_FP32);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "p:z:m:h", opts, NULL)) != -1) {
    switch (c) {
      case 'p': {
        qs_precision p;
        if (qs_precision_parse(optarg, &p) != QS_OK) {
          fprintf(stderr, "qsweep models: --%s\n", qs_last_error());
          return 2;
        }
        int dq = po.nf4_double_quant, blk = po.nf4_block;
        qs_prec_opts_default(&po, p);
        po.nf4_double_quant = dq;
        po.nf4_block = blk;
        have_prec = 1;
        break;
      }
      case 'z': zoo_path = optarg; break;
      case 'm':
        if (n_only == 64) {
          fprintf(stderr, "qsweep models: --model: at most 64\n");
          return 2;
        }
        only[n_only++] = optarg;
        break;
      case 'D': po.nf4_double_quant = 1; break;
      case 'B':
        if (qs_parse_int("--nf4-block", optarg, 2, 1 << 20, &po.nf4_block) != QS_OK) {
          fprintf(stderr, "qsweep models: %s\n", qs_last_error());
          return 2;
        }
        break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "qsweep models: unexpected argument \"%s\"\n", argv[optind]);
    return 2;
  }
  qs_zoo z;
  if (qs_zoo_load(zoo_path, &z) != QS_OK) {
    fprintf(stderr, "qsweep models: %s\n", qs_last_error());
    return 1;
  }
  int n = n_only ? n_only : z.n;
  printf("# model zoo: %s\n", z.path);
  printf("# %-30s %-9s %-24s %5s %6s %10s %9s %-6s", "model", "family", "category", "input", "tokens", "params_M",
         "GFLOPs", "output");
  if (have_prec) printf(" %9s %11s %11s %7s", "precision", "qweight_MB", "weights_MB", "q_bits");
  printf("\n");
  int rc = 0;
  for (int i = 0; i < n; i++) {
    qs_arch a;
    if (n_only) {
      if (qs_zoo_resolve(&z, only[i], &a) != QS_OK) {
        fprintf(stderr, "qsweep models: %s\n", qs_last_error());
        rc = 1;
        continue;
      }
    } else {
      a = z.models[i];
    }
    int64_t params = qs_arch_param_count(&a);
    if (params < 0) {
      fprintf(stderr, "qsweep models: %s: %s\n", a.name, qs_last_error());
      rc = 1;
      continue;
    }
    printf("  %-30s %-9s %-24s %5d %6d %10.2f %9.2f %-6s", a.name, qs_family_name(a.family), a.category, a.input_size,
           qs_arch_tokens(&a), (double)params / 1e6, qs_arch_gflops(&a), qs_output_name(a.output));
    if (have_prec) {
      double qb, qf, all;
      if (weight_bytes(&a, &po, &qb, &qf, &all) != QS_OK) {
        printf("\n");
        fprintf(stderr, "qsweep models: %s\n", qs_last_error());
        rc = 1;
        continue;
      }
      printf(" %9s %11.2f %11.2f %7.3f", qs_precision_name(po.prec), qb / 1e6, all / 1e6, qf > 0 ? 32.0 * qb / qf : 0.0);
    }
    printf("\n");
  }
  qs_zoo_free(&z);
  return rc;
}
