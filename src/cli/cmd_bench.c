/* cmd_bench.c - `qsweep bench`: one cell through the cell runner `qsweep run` uses,
 * printed as one self-describing row (no MPI). */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cell.h"
#include "commands.h"
#include "qs_common.h"
#include "zoo.h"

enum { FMT_TEXT, FMT_CSV, FMT_JSON };

static void usage(FILE *f) {
  qs_bench_opts d;
  qs_bench_opts_default(&d);
  fprintf(f,
          "usage: qsweep bench --model M --precision P [options]\n\n"
          "Benchmarks one cell (model x precision x batch) with the cell runner of `qsweep run`: fp32\n"
          "reference, plan, forward, fidelity against fp32, warm-up, timed iterations, statistics.\n"
          "Prints a '#' header (column names with units) and one row.\n\n"
          "  -m, --model M        zoo name or checkpoint directory\n"
          "  -p, --precision P    " QS_PRECISION_NAMES " (default fp32)\n"
          "  -n, --batch B        images per forward (default 1)\n"
          "  -b, --backend B      cpu, cuda or sim (default: cuda where built and a GPU is visible, else cpu)\n"
          "      --device N       CUDA device ordinal (default 0)\n"
          "      --warmup N       warm-up iterations (default %d)\n"
          "      --warmup-time S  ... and at least S seconds of warm-up (default %g)\n"
          "      --iters N        timed iterations (default %d)\n"
          "      --min-time S     ... and at least S seconds of timed iterations (default %g)\n"
          "      --no-graph       CUDA: launch kernels instead of replaying a captured graph\n"
          "  -s, --seed S         synthetic weight seed (default %u)\n"
          "      --input-seed S   fixed input seed (default %llu)\n"
          "      --threshold T    LLM.int8 outlier threshold (default 6.0, 0 disables)\n"
          "      --nf4-double-quant  double-quantize the NF4 absmax values\n"
          "      --image-size S   input side in pixels (default: the model's; ViT, DeiT, DINOv2\n"
          "                       resize their position table as HF's interpolate_pos_encoding,\n"
          "                       BEiT its relative position tables; a side that is no multiple\n"
          "                       of the patch leaves its last side %% patch pixels unread, as HF)\n"
          "  -z, --zoo FILE       zoo file (default: %s)\n"
          "  -f, --format F       text (default), csv or json\n\n"
          "exit status: 0 the cell is ok, 3 it failed (or oom / unsupported), 2 usage, 1 fatal.\n",
          d.warmup, d.warmup_s, d.iterations, d.min_time_s, QS_DEFAULT_SEED, (unsigned long long)d.input_seed,
          qs_zoo_default_path());
}

typedef struct {
  const char *name; /* with its unit */
  int width;
  int is_num;
  double v;
  const char *s;
} column;

static void print_row(FILE *f, int fmt, const column *c, int n) {
  if (fmt == FMT_JSON) {
    fputc('{', f);
    for (int i = 0; i < n; i++) {
      fprintf(f, "%s\"%s\": ", i ? ", " : "", c[i].name);
      if (c[i].is_num) {
        if (isfinite(c[i].v)) fprintf(f, "%.6g", c[i].v);
        else fputs("null", f); /* not measured */
      } else {
        fputc('"', f);
        for (const char *p = c[i].s; *p; p++) {
          if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
          else if ((unsigned char)*p < 0x20) fprintf(f, "\\u%04x", *p);
          else fputc(*p, f);
        }
        fputc('"', f);
      }
    }
    fputs("}\n", f);
    return;
  }
  if (fmt == FMT_CSV) {
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? "," : "", c[i].name);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
      if (i) fputc(',', f);
      if (c[i].is_num) {
        if (isfinite(c[i].v)) fprintf(f, "%.6g", c[i].v);
      } else {
        fputc('"', f);
        for (const char *p = c[i].s; *p; p++) {
          if (*p == '"') fputc('"', f);
          fputc(*p, f);
        }
        fputc('"', f);
      }
    }
    fputc('\n', f);
    return;
  }
  /* text: fixed-width columns; the free-text device and message come last */
  fputs("#", f);
  for (int i = 0; i < n; i++) fprintf(f, " %*s", i == n - 1 || i == n - 2 ? 0 : c[i].width, c[i].name);
  fputc('\n', f);
  fputs(" ", f);
  for (int i = 0; i < n; i++) {
    if (c[i].is_num) {
      char b[32];
      if (isfinite(c[i].v)) snprintf(b, sizeof b, "%.4g", c[i].v);
      else snprintf(b, sizeof b, "nan");
      fprintf(f, " %*s", c[i].width, b);
    } else {
      fprintf(f, " %*s", i == n - 1 || i == n - 2 ? 0 : c[i].width, c[i].s[0] ? c[i].s : "-");
    }
  }
  fputc('\n', f);
}

int qs_cmd_bench(int argc, char **argv) {
  static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                       {"precision", required_argument, 0, 'p'},
                                       {"batch", required_argument, 0, 'n'},
                                       {"backend", required_argument, 0, 'b'},
                                       {"device", required_argument, 0, 'd'},
                                       {"warmup", required_argument, 0, 'W'},
                                       {"warmup-time", required_argument, 0, 'w'},
                                       {"iters", required_argument, 0, 'i'},
                                       {"min-time", required_argument, 0, 't'},
                                       {"no-graph", no_argument, 0, 'G'},
                                       {"seed", required_argument, 0, 's'},
                                       {"input-seed", required_argument, 0, 'I'},
                                       {"threshold", required_argument, 0, 'T'},
                                       {"nf4-double-quant", no_argument, 0, 'D'},
                                       {"zoo", required_argument, 0, 'z'},
                                       {"image-size", required_argument, 0, 'X'},
                                       {"format", required_argument, 0, 'f'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *model = NULL, *backend = NULL, *zoo_path = NULL;
  uint64_t seed = QS_DEFAULT_SEED;
  int batch = 1, device = 0, fmt = FMT_TEXT, image_size = 0, c;
  qs_prec_opts po;
  qs_prec_opts_default(&po, QS_PREC_FP32);
  qs_bench_opts bo;
  qs_bench_opts_default(&bo);
  optind = 1;
  while ((c = getopt_long(argc, argv, "m:p:n:b:s:z:f:h", opts, NULL)) != -1) {
    int rc = QS_OK;
    char *end = NULL;
    switch (c) {
      case 'm': model = optarg; break;
      case 'p': rc = qs_precision_parse(optarg, &po.prec); break;
      case 'n': rc = qs_parse_int("--batch", optarg, 1, 1 << 16, &batch); break;
      case 'b': backend = optarg; break;
      case 'd': rc = qs_parse_int("--device", optarg, 0, 1023, &device); break;
      case 'W': rc = qs_parse_int("--warmup", optarg, 0, 1000000, &bo.warmup); break;
      case 'i': rc = qs_parse_int("--iters", optarg, 1, 10000000, &bo.iterations); break;
      case 'w':
      case 't': {
        double v = strtod(optarg, &end);
        if (*end || end == optarg || !(v >= 0 && v <= 86400))
          rc = qs_fail(QS_EINVAL, "%s: \"%s\" is not a number of seconds in [0, 86400]",
                       c == 'w' ? "--warmup-time" : "--min-time", optarg);
        else if (c == 'w') bo.warmup_s = v;
        else bo.min_time_s = v;
        break;
      }
      case 'G': bo.use_graph = 0; break;
      case 's': rc = qs_parse_u64("--seed", optarg, &seed); break;
      case 'I': rc = qs_parse_u64("--input-seed", optarg, &bo.input_seed); break;
      case 'T':
        po.int8_threshold = strtof(optarg, &end);
        if (*end || end == optarg || !(po.int8_threshold >= 0))
          rc = qs_fail(QS_EINVAL, "--threshold: \"%s\" is not a non-negative number", optarg);
        break;
      case 'D': po.nf4_double_quant = 1; break;
      case 'z': zoo_path = optarg; break;
      case 'X': rc = qs_parse_int("--image-size", optarg, 1, 8192, &image_size); break;
      case 'f':
        if (!strcmp(optarg, "text")) fmt = FMT_TEXT;
        else if (!strcmp(optarg, "csv")) fmt = FMT_CSV;
        else if (!strcmp(optarg, "json")) fmt = FMT_JSON;
        else rc = qs_fail(QS_EINVAL, "--format: unknown \"%s\" (text, csv, json)", optarg);
        break;
      case 'h': usage(stdout); return 0;
      default:
        fprintf(stderr, "usage: qsweep bench --model M --precision P [options]   (qsweep bench --help)\n");
        return 2;
    }
    if (rc != QS_OK) {
      fprintf(stderr, "qsweep bench: %s\n", qs_last_error());
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "qsweep bench: unexpected argument \"%s\"\n", argv[optind]);
    return 2;
  }
  if (!model) {
    fprintf(stderr, "qsweep bench: --model is required\n");
    return 2;
  }
  char why[256] = "";
  const qs_backend *be = backend ? qs_backend_get(backend) : qs_backend_default(why, sizeof why);
  if (!be) {
    fprintf(stderr, "qsweep bench: --%s\n", qs_last_error());
    return 2;
  }
  if (be->available(why, sizeof why) != 0) {
    fprintf(stderr, "qsweep bench: backend %s: not usable here: %s\n", be->name, why);
    return 1;
  }
  qs_arch a;
  if (qs_cli_model_arch(zoo_path, model, image_size, &a) != QS_OK) {
    fprintf(stderr, "qsweep bench: %s\n", qs_last_error());
    return 1;
  }
  qs_cell_ctx *ctx;
  if (qs_cell_ctx_create(be, strcmp(be->name, "cuda") ? -1 : device, 0, &ctx) != QS_OK) {
    fprintf(stderr, "qsweep bench: %s\n", qs_last_error());
    return 1;
  }
  const char *inject = getenv("QSWEEP_INJECT_FAILURE");
  qs_cell_ctx_set_inject(ctx, inject);
  qs_cell_result r;
  qs_cell_run(ctx, &a, seed, &po, batch, 1, &bo, &r);
  column cols[] = {
      {"model", 28, 0, 0, r.model},
      {"precision", 9, 0, 0, r.precision},
      {"batch", 5, 1, r.batch, NULL},
      {"backend", 7, 0, 0, r.backend},
      {"status", 11, 0, 0, r.status},
      {"median_ms", 10, 1, r.lat_median_ms, NULL},
      {"p90_ms", 10, 1, r.lat_p90_ms, NULL},
      {"p99_ms", 10, 1, r.lat_p99_ms, NULL},
      {"min_ms", 10, 1, r.lat_min_ms, NULL},
      {"stdev_ms", 9, 1, r.lat_stdev_ms, NULL},
      {"ci_lo_ms", 10, 1, r.lat_ci_lo_ms, NULL},
      {"ci_hi_ms", 10, 1, r.lat_ci_hi_ms, NULL},
      {"img_per_s", 10, 1, r.throughput_ips, NULL},
      {"weight_mb", 10, 1, r.weight_mb, NULL},
      {"workspace_mb", 12, 1, r.workspace_mb, NULL},
      {"peak_mb", 9, 1, r.peak_mb, NULL},
      {"qbits", 6, 1, r.qweight_bits, NULL},
      {"cosine", 9, 1, r.fid_cosine, NULL},
      {"rel_l2", 9, 1, r.fid_rel_l2, NULL},
      {"top1", 6, 1, r.fid_top1, NULL},
      {"energy_mj_per_img", 17, 1, r.energy_mj_per_image, NULL},
      {"iters", 6, 1, r.iterations, NULL},
      {"device", 0, 0, 0, r.device},
      {"message", 0, 0, 0, r.message},
  };
  print_row(stdout, fmt, cols, (int)QS_ARRAY_LEN(cols));
  int code = strcmp(r.status, "ok") ? 3 : 0;
  qs_cell_result_free(&r);
  qs_cell_ctx_free(ctx);
  return code;
}
