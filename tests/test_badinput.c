/* test_badinput.c - bad configs and checkpoints give one line naming the file and
 * the field, and a non-zero status; never a crash. (The safetensors format rules
 * themselves are covered by test_safetensors.) */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "model.h"
#include "qs_common.h"
#include "qs_test.h"
#include "safetensors.h"
#include "zoo.h"

static char dir[64];

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

/* the error is one line that names every fragment */
static void expect_error(int rc, const char *frag1, const char *frag2) {
  const char *msg = qs_last_error();
  CHECK_MSG(rc != QS_OK, "expected a failure mentioning %s / %s", frag1, frag2);
  CHECK_MSG(strchr(msg, '\n') == NULL, "message spans lines: %s", msg);
  CHECK_MSG(!frag1 || strstr(msg, frag1), "message \"%s\" lacks \"%s\"", msg, frag1);
  CHECK_MSG(!frag2 || strstr(msg, frag2), "message \"%s\" lacks \"%s\"", msg, frag2);
  printf("  ok: %s\n", msg);
}

static const char *tiny_cfg =
    "{\"model_type\": \"vit\", \"architectures\": [\"ViTForImageClassification\"], \"hidden_size\": 32,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64, \"image_size\": 32,"
    " \"patch_size\": 8, \"num_labels\": 10, \"layer_norm_eps\": 1e-12, \"qkv_bias\": true}";

static void make_checkpoint(const char *d) {
  cJSON *j = cJSON_Parse(tiny_cfg);
  qs_arch a;
  CHECK(qs_arch_from_json(j, "tiny", &a) == QS_OK);
  cJSON_Delete(j);
  snprintf(a.name, sizeof a.name, "tiny");
  qs_model m;
  CHECK(qs_model_synthetic(&a, 5, &m) == QS_OK);
  CHECK_MSG(qs_model_export(&m, d) == QS_OK, "%s", qs_last_error());
  qs_model_free(&m);
}

static int load_dir(const char *d) {
  qs_zoo z = {0};
  qs_arch a;
  int rc = qs_zoo_resolve(&z, d, &a);
  if (rc != QS_OK) return rc;
  qs_model m;
  rc = qs_model_create(&a, 0, &m);
  if (rc == QS_OK) qs_model_free(&m);
  return rc;
}

/* rewrite model.safetensors keeping every tensor but `drop` (and renaming nothing) */
static void rewrite_without(const char *d, const char *drop) {
  char path[256];
  snprintf(path, sizeof path, "%s/model.safetensors", d);
  qs_st_file f;
  CHECK(qs_st_open(path, &f) == QS_OK);
  qs_st_out_tensor *out = calloc((size_t)f.n, sizeof *out);
  float **bufs = calloc((size_t)f.n, sizeof *bufs);
  int k = 0;
  for (int i = 0; i < f.n; i++) {
    if (!strcmp(f.tensors[i].name, drop)) continue;
    int64_t n = qs_st_numel(&f.tensors[i]);
    bufs[k] = malloc(sizeof(float) * (size_t)n + 1);
    CHECK(qs_st_read_f32(&f, i, bufs[k], n) == QS_OK);
    out[k].name = strdup(f.tensors[i].name);
    out[k].ndim = f.tensors[i].ndim;
    memcpy(out[k].shape, f.tensors[i].shape, sizeof out[k].shape);
    out[k].data = bufs[k];
    k++;
  }
  qs_st_close(&f);
  CHECK(qs_st_write(path, out, k, NULL) == QS_OK);
  for (int i = 0; i < k; i++) {
    free((char *)out[i].name);
    free(bufs[i]);
  }
  free(out);
  free(bufs);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/qsweep-bad-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  char d[128], p[256];
  qs_arch a;

  puts("the code of the last message (callers that get -1 for an index pass it on)");
  qs_clear_error();
  CHECK(qs_last_code() == QS_EINTERNAL);
  CHECK(qs_fail(QS_EUNSUPPORTED, "a shape the kernels do not take") == QS_EUNSUPPORTED);
  CHECK(qs_last_code() == QS_EUNSUPPORTED);
  qs_error_prefix("model");
  CHECK(qs_last_code() == QS_EUNSUPPORTED);
  qs_clear_error();
  CHECK(qs_last_code() == QS_EINTERNAL);

  puts("malformed config.json");
  snprintf(p, sizeof p, "%s/bad.json", dir);
  write_text(p, "{\"model_type\": \"vit\", \"hidden_size\": 32,");
  expect_error(qs_arch_from_config_file(p, &a), p, "malformed JSON");

  puts("wrong field type");
  write_text(p, "{\"model_type\": \"vit\", \"hidden_size\": \"big\", \"image_size\": 32}");
  expect_error(qs_arch_from_config_file(p, &a), p, "hidden_size");

  puts("missing model_type");
  write_text(p, "{\"hidden_size\": 32}");
  expect_error(qs_arch_from_config_file(p, &a), p, "model_type");

  puts("unsupported model_type");
  write_text(p, "{\"model_type\": \"swin\", \"image_size\": 224}");
  expect_error(qs_arch_from_config_file(p, &a), p, "swin");

  puts("heads not dividing the width");
  write_text(p, "{\"model_type\": \"vit\", \"hidden_size\": 30, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
                " \"intermediate_size\": 8, \"image_size\": 32, \"patch_size\": 8}");
  expect_error(qs_arch_from_config_file(p, &a), p, "num_attention_heads");

  puts("unknown model name");
  qs_zoo z;
  CHECK(qs_zoo_load(NULL, &z) == QS_OK);
  expect_error(qs_zoo_resolve(&z, "vit-gigantic-2030", &a), "models.json", "vit-gigantic-2030");
  qs_zoo_free(&z);

  puts("malformed zoo");
  snprintf(p, sizeof p, "%s/zoo.json", dir);
  write_text(p, "{\"models\": [{\"name\": \"x\", \"config\": {\"model_type\": \"vit\"}}]}");
  expect_error(qs_zoo_load(p, &z), p, "image_size");

  puts("a tensor missing");
  snprintf(d, sizeof d, "%s/missing", dir);
  make_checkpoint(d);
  CHECK(load_dir(d) == QS_OK);
  rewrite_without(d, "vit.encoder.layer.1.output.dense.bias");
  expect_error(load_dir(d), "model.safetensors", "vit.encoder.layer.1.output.dense.bias");

  puts("shape disagrees with config.json");
  snprintf(d, sizeof d, "%s/shape", dir);
  make_checkpoint(d);
  snprintf(p, sizeof p, "%s/config.json", d);
  char *cfg = malloc(strlen(tiny_cfg) + 8);
  strcpy(cfg, tiny_cfg);
  char *at = strstr(cfg, "\"intermediate_size\": 64");
  memcpy(at, "\"intermediate_size\": 48", 23);
  write_text(p, cfg);
  free(cfg);
  expect_error(load_dir(d), "intermediate.dense.weight", "disagrees with config.json");

  puts("checkpoint of another family");
  snprintf(d, sizeof d, "%s/family", dir);
  make_checkpoint(d);
  snprintf(p, sizeof p, "%s/config.json", d);
  write_text(p, "{\"model_type\": \"dinov2\", \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                " \"mlp_ratio\": 2, \"image_size\": 32, \"patch_size\": 8}");
  expect_error(load_dir(d), "model.safetensors", "missing");

  puts("truncated checkpoint");
  snprintf(d, sizeof d, "%s/trunc", dir);
  make_checkpoint(d);
  snprintf(p, sizeof p, "%s/model.safetensors", d);
  CHECK(truncate(p, 4000) == 0);
  expect_error(load_dir(d), p, NULL);

  puts("no checkpoint at all");
  snprintf(d, sizeof d, "%s/none", dir);
  expect_error(load_dir(d), d, NULL);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return qs_test_finish("test_badinput");
}
