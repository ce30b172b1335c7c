/* cmd_export.c - `qsweep export-weights`: synthetic weights as an HF checkpoint directory. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "model.h"
#include "qs_common.h"
#include "zoo.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: qsweep export-weights --model NAME --out DIR [--seed S]\n\n"
          "Writes DIR/config.json and DIR/model.safetensors (float32) holding exactly the synthetic\n"
          "weights qsweep runs for NAME, so HF transformers can load them with from_pretrained(DIR).\n\n"
          "  -m, --model NAME   zoo name\n"
          "  -o, --out DIR      output directory (created if missing)\n"
          "  -s, --seed S       synthetic weight seed (default %u)\n"
          "  -z, --zoo FILE     zoo file (default: %s)\n",
          QS_DEFAULT_SEED, qs_zoo_default_path());
}

int qs_cmd_export(int argc, char **argv) {
  static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'},
                                       {"seed", required_argument, 0, 's'},  {"zoo", required_argument, 0, 'z'},
                                       {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
  const char *model = NULL, *out = NULL, *zoo_path = NULL;
  uint64_t seed = QS_DEFAULT_SEED;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "m:o:s:z:h", opts, NULL)) != -1) {
    switch (c) {
      case 'm': model = optarg; break;
      case 'o': out = optarg; break;
      case 's':
        if (qs_parse_u64("--seed", optarg, &seed) != QS_OK) {
          fprintf(stderr, "qsweep export-weights: %s\n", qs_last_error());
          return 2;
        }
        break;
      case 'z': zoo_path = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (!model || !out) {
    fprintf(stderr, "qsweep export-weights: --model and --out are required\n");
    usage(stderr);
    return 2;
  }
  qs_arch a;
  if (qs_zoo_lookup(zoo_path, model, &a) != QS_OK) {
    fprintf(stderr, "qsweep export-weights: %s\n", qs_last_error());
    return 1;
  }
  a.dir[0] = '\0'; /* always the synthetic weights */
  qs_model m;
  double t0 = qs_now_s();
  if (qs_model_synthetic(&a, seed, &m) != QS_OK) {
    fprintf(stderr, "qsweep export-weights: %s\n", qs_last_error());
    return 1;
  }
  double t1 = qs_now_s();
  int rc = qs_model_export(&m, out);
  if (rc != QS_OK) {
    fprintf(stderr, "qsweep export-weights: %s\n", qs_last_error());
  } else {
    printf("exported %s (%d tensors, %.2f M parameters, seed %llu) to %s in %.1f s (generate %.1f s)\n", a.name, m.n,
           (double)qs_arch_param_count(&a) / 1e6, (unsigned long long)seed, out, qs_now_s() - t0, t1 - t0);
  }
  qs_model_free(&m);
  return rc == QS_OK ? 0 : 1;
}
