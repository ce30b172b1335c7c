/* test_golden.c - qsweep's CPU forward against a fixture made by HF transformers.
 * usage: test_golden FIXTURE_DIR [precision]
 * FIXTURE_DIR holds fixture.json and io.safetensors (pixel_values, output); a tiny
 * fixture also holds config.json + model.safetensors, a full one names a zoo model
 * whose synthetic weights qsweep regenerates. Pass: relative L2 <= 1e-5 and
 * max abs error <= 1e-4 * max|ref|. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_backend.h"
#include "model.h"
#include "qs_common.h"
#include "qs_test.h"
#include "safetensors.h"
#include "zoo.h"

static float *read_tensor(const qs_st_file *f, const char *name, int64_t *numel, int64_t *shape) {
  int i = qs_st_find(f, name);
  if (i < 0) return NULL;
  *numel = qs_st_numel(&f->tensors[i]);
  for (int d = 0; d < f->tensors[i].ndim && d < 4; d++) shape[d] = f->tensors[i].shape[d];
  float *x = malloc(sizeof(float) * (size_t)*numel + 1);
  if (x && qs_st_read_f32(f, i, x, *numel) != QS_OK) {
    free(x);
    return NULL;
  }
  return x;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  char path[4096];
  snprintf(path, sizeof path, "%s/fixture.json", dir);
  char *text;
  size_t len;
  if (qs_read_file(path, 1 << 20, &text, &len) != QS_OK) {
    fprintf(stderr, "%s\n", qs_last_error());
    return 1;
  }
  cJSON *fx = cJSON_Parse(text);
  free(text);
  const cJSON *kind = cJSON_GetObjectItem(fx, "kind"), *model = cJSON_GetObjectItem(fx, "model");
  const cJSON *tv = cJSON_GetObjectItem(fx, "transformers"), *seed_j = cJSON_GetObjectItem(fx, "seed");
  CHECK(cJSON_IsString(kind));
  if (!cJSON_IsString(kind)) return qs_test_finish(dir);

  qs_zoo z;
  CHECK(qs_zoo_load(NULL, &z) == QS_OK);
  qs_arch a;
  int is_full = !strcmp(kind->valuestring, "full");
  int rc = qs_zoo_resolve(&z, is_full ? model->valuestring : dir, &a);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return qs_test_finish(dir);
  qs_model m;
  uint64_t seed = cJSON_IsNumber(seed_j) ? (uint64_t)seed_j->valuedouble : 1234;
  rc = qs_model_create(&a, seed, &m);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return qs_test_finish(dir);

  snprintf(path, sizeof path, "%s/io.safetensors", dir);
  qs_st_file io;
  rc = qs_st_open(path, &io);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return qs_test_finish(dir);
  int64_t nx, ny, sx[4] = {0}, sy[4] = {0};
  float *x = read_tensor(&io, "pixel_values", &nx, sx);
  float *ref = read_tensor(&io, "output", &ny, sy);
  qs_st_close(&io);
  CHECK(x && ref);
  int batch = (int)sx[0];
  CHECK_MSG(sx[2] == a.input_size, "fixture input %lld, model input %d", (long long)sx[2], a.input_size);
  CHECK_MSG(sy[1] == qs_arch_out_dim(&a), "fixture output width %lld, model %d", (long long)sy[1], qs_arch_out_dim(&a));
  if (qs_t_fail) return qs_test_finish(dir);

  float *y = malloc(sizeof(float) * (size_t)ny);
  qs_prec_opts po;
  qs_prec_opts_default(&po, QS_PREC_FP32);
  qs_cpu_plan *plan;
  CHECK(qs_cpu_plan_create(&m, &po, &plan) == QS_OK);
  double t0 = qs_now_s();
  rc = qs_cpu_forward(plan, batch, x, y);
  double ms = (qs_now_s() - t0) * 1e3;
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  double num = 0, den = 0, maxabs = 0, maxref = 0;
  int64_t worst = 0;
  for (int64_t i = 0; i < ny; i++) {
    double d = (double)y[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
    if (fabs(d) > maxabs || isnan(d)) {
      maxabs = fabs(d);
      worst = i;
    }
    if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
  }
  double rel = sqrt(num / den);
  printf("%s: %s (%s) batch %d, %lld outputs, transformers %s: rel_l2 %.3e  max_abs %.3e (%.3e of max|ref| %.4g) "
         "at [%lld] qsweep %.7g hf %.7g; forward %.0f ms\n",
         dir, a.name, qs_family_name(a.family), batch, (long long)ny, cJSON_IsString(tv) ? tv->valuestring : "?", rel,
         maxabs, maxabs / maxref, maxref, (long long)worst, y[worst], ref[worst], ms);
  CHECK_MSG(rel <= 1e-5, "relative L2 %.3e > 1e-5", rel);
  CHECK_MSG(maxabs <= 1e-4 * maxref, "max abs %.3e > 1e-4 * %.4g", maxabs, maxref);
  qs_cpu_plan_free(plan);
  qs_model_free(&m);
  qs_zoo_free(&z);
  free(x);
  free(ref);
  free(y);
  cJSON_Delete(fx);
  return qs_test_finish(dir);
}
