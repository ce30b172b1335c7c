/* cmd_calibrate.c - `qsweep calibrate`: the device's measured ceilings (copy bandwidth,
 * dense GEMM throughput per precision; calibrate.h), printed as a table or as JSON.
 * The same measurement runs on every rank at the start of a CUDA sweep and lands in the
 * results file (/calibration/rank<R>). */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "calibrate.h"
#include "commands.h"
#include "qs_common.h"
#include "qs_version.h"

enum { EXIT_OK = 0, EXIT_FATAL = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

static void usage(FILE *f) {
  qs_calib_opts g, c;
  qs_calib_opts_default(NULL, &g);
  qs_calib_opts_default(&qs_backend_cpu, &c);
  fprintf(f,
          "usage: qsweep calibrate [options]\n\n"
          "Measures the GPU's ceilings for the roofline: device-to-device copy bandwidth and the dense\n"
          "GEMM throughput of each precision (fp32 without TF32, fp16, bf16, int8 on IMMA, fp8 e4m3\n"
          "where the compute capability is >= 8.9) through cuBLASLt, each the median of timed\n"
          "repetitions (CUDA events), with the method and sizes. `qsweep run` measures the same on\n"
          "every rank at the start of a CUDA sweep (spec key \"calibrate\": false or --no-calibrate\n"
          "turn it off) and stores it in the results file.\n\n"
          "  -b, --backend B    cuda (default) or cpu (memcpy and the CPU reference's fp32 GEMM)\n"
          "      --device N     CUDA device ordinal (default 0)\n"
          "      --size N       M = N = K of every GEMM (default %d; cpu %d)\n"
          "      --reps N       timed repetitions of each measurement (default %d; cpu %d)\n"
          "      --warmup N     untimed repetitions first (default %d; cpu %d)\n"
          "      --copy-mb N    MiB copied per repetition (default %zu; cpu %zu)\n"
          "  -f, --format F     text (default) or json\n"
          "  -o, --out FILE     write there instead of standard output\n"
          "  -h, --help         this text\n\n"
          "exit status: 0 every measurement ok (or unsupported on this GPU), 3 one failed, 2 usage,\n"
          "1 nothing to measure (a build without CUDA, no GPU visible, the sim backend).\n",
          g.gemm_size, c.gemm_size, g.reps, c.reps, g.warmup, c.warmup, g.copy_bytes >> 20, c.copy_bytes >> 20);
}

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* The calibration as JSON (calibrate --format json, qsweep-analyze --json). */
static char *calib_json(const qs_calibration *c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "qsweep_version", QS_VERSION);
  cJSON_AddStringToObject(o, "git_commit", QS_GIT_COMMIT);
  cJSON_AddStringToObject(o, "measured_utc", c->measured_utc);
  cJSON_AddStringToObject(o, "host", c->host);
  cJSON_AddStringToObject(o, "backend", c->backend);
  cJSON_AddStringToObject(o, "device", c->device);
  cJSON_AddNumberToObject(o, "device_index", c->device_index);
  cJSON *arr = cJSON_AddArrayToObject(o, "entries");
  for (int i = 0; i < c->n_entries; i++) {
    const qs_calib_entry *e = &c->e[i];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", e->name);
    cJSON_AddStringToObject(j, "kind", e->kind);
    cJSON_AddStringToObject(j, "precision", e->precision);
    cJSON_AddStringToObject(j, "status", e->status);
    cJSON_AddStringToObject(j, "unit", e->unit);
    cJSON_AddItemToObject(j, "value", num(e->value));
    cJSON_AddItemToObject(j, "best", num(e->best));
    cJSON_AddItemToObject(j, "median_ms", num(e->median_ms));
    cJSON_AddItemToObject(j, "min_ms", num(e->min_ms));
    cJSON_AddNumberToObject(j, "m", e->m);
    cJSON_AddNumberToObject(j, "n", e->n);
    cJSON_AddNumberToObject(j, "k", e->k);
    cJSON_AddItemToObject(j, "bytes", num(e->bytes));
    cJSON_AddNumberToObject(j, "warmup", e->warmup);
    cJSON_AddNumberToObject(j, "reps", e->reps);
    cJSON_AddStringToObject(j, "method", e->method);
    cJSON_AddStringToObject(j, "message", e->message);
    cJSON_AddItemToArray(arr, j);
  }
  char *s = cJSON_Print(o);
  cJSON_Delete(o);
  return s;
}

static void print_text(FILE *f, const qs_calibration *c) {
  fprintf(f, "# qsweep calibrate: %s (backend %s, device %d) on %s, %s\n", c->device, c->backend,
          (int)c->device_index, c->host, c->measured_utc);
  fprintf(f, "# %-10s %-11s %-9s %12s %12s %11s %-8s %s\n", "name", "status", "unit", "median", "best", "median_ms",
          "size", "method");
  for (int i = 0; i < c->n_entries; i++) {
    const qs_calib_entry *e = &c->e[i];
    char size[32];
    if (!strcmp(e->kind, "gemm")) snprintf(size, sizeof size, "%d^3", (int)e->k);
    else snprintf(size, sizeof size, "%.0fMiB", e->bytes / 2 / (1 << 20));
    fprintf(f, "  %-10s %-11s %-9s %12.2f %12.2f %11.3f %-8s %s\n", e->name, e->status, e->unit, e->value, e->best,
            e->median_ms, size, e->method);
    if (e->message[0]) fprintf(f, "  %-10s   %s\n", "", e->message);
  }
}

int qs_cmd_calibrate(int argc, char **argv) {
  static const struct option opts[] = {{"backend", required_argument, 0, 'b'}, {"device", required_argument, 0, 'd'},
                                       {"size", required_argument, 0, 'S'},    {"reps", required_argument, 0, 'r'},
                                       {"warmup", required_argument, 0, 'w'},  {"copy-mb", required_argument, 0, 'c'},
                                       {"format", required_argument, 0, 'f'},  {"out", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  const char *backend = "cuda", *out = NULL;
  int device = 0, json = 0, size = 0, reps = 0, warmup = -1, copy_mb = 0, ch, rc = QS_OK;
  optind = 1;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "b:f:o:h", opts, NULL)) != -1 && rc == QS_OK) {
    switch (ch) {
      case 'b': backend = optarg; break;
      case 'd': rc = qs_parse_int("--device", optarg, 0, 1023, &device); break;
      case 'S': rc = qs_parse_int("--size", optarg, 16, 65536, &size); break;
      case 'r': rc = qs_parse_int("--reps", optarg, 1, 100000, &reps); break;
      case 'w': rc = qs_parse_int("--warmup", optarg, 0, 100000, &warmup); break;
      case 'c': rc = qs_parse_int("--copy-mb", optarg, 1, 1 << 20, &copy_mb); break;
      case 'o': out = optarg; break;
      case 'f':
        if (!strcmp(optarg, "json")) json = 1;
        else if (!strcmp(optarg, "text")) json = 0;
        else rc = qs_fail(QS_EINVAL, "--format: unknown \"%s\" (text, json)", optarg);
        break;
      case 'h': usage(stdout); return EXIT_OK;
      default:
        if (optopt) rc = qs_fail(QS_EINVAL, "option -%c: unknown or missing its argument", optopt);
        else rc = qs_fail(QS_EINVAL, "%s: unknown option or missing argument", argv[optind - 1]);
    }
  }
  if (rc == QS_OK && optind < argc) rc = qs_fail(QS_EINVAL, "unexpected argument \"%s\"", argv[optind]);
  if (rc != QS_OK) {
    fprintf(stderr, "qsweep calibrate: %s\nusage: qsweep calibrate [options]   (qsweep calibrate --help)\n",
            qs_last_error());
    return EXIT_USAGE;
  }
  const qs_backend *be = qs_backend_get(backend);
  if (!be) {
    int code = qs_last_code();
    if (code == QS_EUNSUPPORTED) { /* cuda asked for, not built in */
      fprintf(stderr, "qsweep calibrate: this qsweep was built without the CUDA backend (no nvcc at configure "
                      "time): there is no GPU to measure (--backend cpu measures the CPU)\n");
      return EXIT_FATAL;
    }
    fprintf(stderr, "qsweep calibrate: --%s\n", qs_last_error());
    return EXIT_USAGE;
  }
  qs_calib_opts o;
  qs_calib_opts_default(be, &o);
  if (size) o.gemm_size = size;
  if (reps) o.reps = reps;
  if (warmup >= 0) o.warmup = warmup;
  if (copy_mb) o.copy_bytes = (size_t)copy_mb << 20;
  qs_calibration c;
  memset(&c, 0, sizeof c);
  if (gethostname(c.host, sizeof c.host) != 0) qs_strlcpy(c.host, "unknown", sizeof c.host);
  c.host[sizeof c.host - 1] = '\0';
  rc = qs_calibrate(be, device, &o, &c);
  if (rc != QS_OK) {
    fprintf(stderr, "qsweep %s\n", qs_last_error());
    return rc == QS_EINVAL ? EXIT_USAGE : EXIT_FATAL;
  }
  FILE *f = out ? fopen(out, "w") : stdout;
  if (!f) {
    fprintf(stderr, "qsweep calibrate: %s: cannot write\n", out);
    return EXIT_FATAL;
  }
  if (json) {
    char *s = calib_json(&c);
    if (s) fprintf(f, "%s\n", s);
    free(s);
  } else {
    print_text(f, &c);
  }
  int bad = (f != stdout && fclose(f) != 0) || (f == stdout && fflush(f) != 0);
  if (bad) {
    fprintf(stderr, "qsweep calibrate: %s: write failed\n", out ? out : "standard output");
    return EXIT_FATAL;
  }
  for (int i = 0; i < c.n_entries; i++)
    if (!strcmp(c.e[i].status, "failed")) return EXIT_PARTIAL;
  return EXIT_OK;
}
