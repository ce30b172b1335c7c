/* test_tp_unit.c - tensor parallelism of the CPU reference without MPI: the k ranks of a
 * group are k threads of this process, all-reducing through shared memory (a
 * qs_tp_group of its own). Checks the sharding roles, the divisibility rules, that
 * tp = 2 and 4 give the tp = 1 output within fp32 tolerance for every tiny fixture
 * (ViT, DeiT, DINOv2, BEiT with per-layer and shared relative positions, MobileViT),
 * that a group of one is exactly the unsplit plan, and the fp16 / int8 / nf4 error at
 * tp = 2 against fp32 (bound below). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_backend.h"
#include "model.h"
#include "qs_common.h"
#include "qs_test.h"
#include "tp_test_util.h"
#include "tp.h"
#include "zoo.h"

/* Quantized at tp = 2 against fp32 at tp = 1: relative L2 at most
 * QUANT_BOUND_FACTOR x (the same precision's error at tp = 1) + QUANT_BOUND_ABS.
 * Sharding changes only which values share an int8 row scale or an NF4 block and
 * where fp16 partial sums round, so the error stays of the same size as unsplit. */
#define QUANT_BOUND_FACTOR 2.0
#define QUANT_BOUND_ABS 0.02

/* ---- a group of threads ------------------------------------------------------------ */

#define MAXK 8
typedef struct {
  int k;
  pthread_barrier_t bar;
  void *ptr[MAXK];
} tshared;

typedef struct {
  tshared *sh;
  int rank;
} tctx;

static int t_sum(void *ctx, float *buf, int64_t n) {
  tctx *c = ctx;
  tshared *sh = c->sh;
  float *tmp = malloc(sizeof(float) * (size_t)n + 1);
  sh->ptr[c->rank] = buf;
  pthread_barrier_wait(&sh->bar);
  for (int64_t i = 0; i < n; i++) {
    float s = 0.0f;
    for (int r = 0; r < sh->k; r++) s += ((float *)sh->ptr[r])[i];
    tmp[i] = s;
  }
  pthread_barrier_wait(&sh->bar);
  memcpy(buf, tmp, sizeof(float) * (size_t)n);
  free(tmp);
  return QS_OK;
}

static int t_max(void *ctx, double *buf, int n) {
  tctx *c = ctx;
  tshared *sh = c->sh;
  double *tmp = malloc(sizeof(double) * (size_t)n + 1);
  sh->ptr[c->rank] = buf;
  pthread_barrier_wait(&sh->bar);
  for (int i = 0; i < n; i++) {
    double m = ((double *)sh->ptr[0])[i];
    for (int r = 1; r < sh->k; r++) m = fmax(m, ((double *)sh->ptr[r])[i]);
    tmp[i] = m;
  }
  pthread_barrier_wait(&sh->bar);
  memcpy(buf, tmp, sizeof(double) * (size_t)n);
  free(tmp);
  return QS_OK;
}

static int t_bcast(void *ctx, void *buf, size_t bytes, int root) {
  tctx *c = ctx;
  tshared *sh = c->sh;
  sh->ptr[c->rank] = buf;
  pthread_barrier_wait(&sh->bar);
  if (c->rank != root) memcpy(buf, sh->ptr[root], bytes);
  pthread_barrier_wait(&sh->bar);
  return QS_OK;
}

typedef struct {
  const qs_model *m;
  qs_prec_opts po;
  int batch;
  const float *x;
  float *y;
  qs_tp_group g;
  tctx ctx;
  int rc_plan, rc_fwd;
  char err[512];
  size_t weight_bytes;
  double allreduce_s;
} tjob;

static void *t_main(void *arg) {
  tjob *j = arg;
  qs_cpu_plan *p = NULL;
  j->rc_plan = qs_cpu_plan_create_tp(j->m, &j->po, &j->g, &p);
  j->rc_fwd = -100;
  if (j->rc_plan == QS_OK) {
    j->rc_fwd = qs_cpu_forward(p, j->batch, j->x, j->y);
    j->weight_bytes = qs_cpu_plan_weight_bytes(p);
    j->allreduce_s = qs_cpu_plan_allreduce_s(p);
    qs_cpu_plan_free(p);
  }
  qs_strlcpy(j->err, qs_last_error(), sizeof j->err);
  return NULL;
}

/* Run the model over k threads; out[r] gets rank r's output. Returns rank 0's plan rc. */
static int run_group(const qs_model *m, qs_precision prec, int k, int batch, const float *x, float **out, tjob *jobs) {
  tshared sh;
  memset(&sh, 0, sizeof sh);
  sh.k = k;
  pthread_barrier_init(&sh.bar, NULL, (unsigned)k);
  pthread_t th[MAXK];
  for (int r = 0; r < k; r++) {
    tjob *j = &jobs[r];
    memset(j, 0, sizeof *j);
    j->m = m;
    qs_prec_opts_default(&j->po, prec);
    j->batch = batch;
    j->x = x;
    j->y = out[r];
    j->ctx.sh = &sh;
    j->ctx.rank = r;
    j->g.rank = r;
    j->g.size = k;
    j->g.allreduce_sum = t_sum;
    j->g.ctl_max = t_max;
    j->g.ctl_bcast = t_bcast;
    j->g.ctx = &j->ctx;
    pthread_create(&th[r], NULL, t_main, j);
  }
  for (int r = 0; r < k; r++) pthread_join(th[r], NULL);
  pthread_barrier_destroy(&sh.bar);
  return jobs[0].rc_plan;
}

static int forward1(const qs_model *m, qs_precision prec, int batch, const float *x, float *y) {
  qs_prec_opts po;
  qs_prec_opts_default(&po, prec);
  qs_cpu_plan *p;
  int rc = qs_cpu_plan_create(m, &po, &p);
  if (rc != QS_OK) return rc;
  rc = qs_cpu_forward(p, batch, x, y);
  qs_cpu_plan_free(p);
  return rc;
}

/* ---- the checks ------------------------------------------------------------------- */

static void test_roles(void) {
  const char *rows[] = {"vit.encoder.layer.3.attention.attention.query.weight",
                        "vit.encoder.layer.3.attention.attention.key.bias",
                        "vit.encoder.layer.0.attention.attention.value.weight",
                        "vit.encoder.layer.0.intermediate.dense.bias",
                        "dinov2.encoder.layer.1.mlp.fc1.weight",
                        "mobilevit.encoder.layer.2.transformer.layer.1.attention.attention.query.weight"};
  const char *cols[] = {"vit.encoder.layer.3.attention.output.dense.weight", "beit.encoder.layer.1.output.dense.weight",
                        "dinov2.encoder.layer.1.mlp.fc2.weight",
                        "mobilevit.encoder.layer.4.transformer.layer.2.output.dense.weight"};
  const char *repl[] = {"vit.encoder.layer.3.attention.output.dense.bias", "dinov2.encoder.layer.1.mlp.fc2.bias",
                        "vit.encoder.layer.0.layernorm_before.weight", "classifier.weight", "pooler.dense.weight",
                        "vit.embeddings.patch_embeddings.projection.weight",
                        "beit.encoder.layer.0.attention.attention.relative_position_bias.relative_position_bias_table",
                        "mobilevit.encoder.layer.2.conv_1x1.convolution.weight", "dinov2.encoder.layer.0.layer_scale1.lambda1"};
  for (size_t i = 0; i < QS_ARRAY_LEN(rows); i++) CHECK_MSG(qs_tp_role_of(rows[i]) == QS_TP_ROWS, "%s", rows[i]);
  for (size_t i = 0; i < QS_ARRAY_LEN(cols); i++) CHECK_MSG(qs_tp_role_of(cols[i]) == QS_TP_COLS, "%s", cols[i]);
  for (size_t i = 0; i < QS_ARRAY_LEN(repl); i++) CHECK_MSG(qs_tp_role_of(repl[i]) == QS_TP_REPLICATED, "%s", repl[i]);
  CHECK(qs_tp_is_cols_bias("vit.encoder.layer.3.attention.output.dense.bias"));
  CHECK(qs_tp_is_cols_bias("vit.encoder.layer.3.output.dense.bias"));
  CHECK(!qs_tp_is_cols_bias("vit.encoder.layer.3.output.dense.weight"));
  CHECK(!qs_tp_is_cols_bias("vit.encoder.layer.3.intermediate.dense.bias"));
}

/* tiny-vit has 2 heads: tp 2 splits, tp 4 and tp 3 are unsupported with a clear message */
static void test_indivisible(void) {
  qs_zoo z;
  CHECK(qs_zoo_load(QS_FIXTURE_DIR "/tiny-zoo.json", &z) == QS_OK);
  qs_arch a;
  CHECK(qs_zoo_resolve(&z, "tiny-vit", &a) == QS_OK);
  CHECK(qs_tp_check_arch(&a, 1) == QS_OK);
  CHECK(qs_tp_check_arch(&a, 2) == QS_OK);
  CHECK(qs_tp_check_arch(&a, 4) == QS_EUNSUPPORTED);
  CHECK_MSG(strstr(qs_last_error(), "2 attention heads, not divisible by 4") != NULL, "%s", qs_last_error());
  CHECK(qs_tp_check_arch(&a, 3) == QS_EUNSUPPORTED);
  qs_model m;
  CHECK(qs_model_create(&a, 1, &m) == QS_OK);
  float *x = malloc(sizeof(float) * 3 * 32 * 32), *y[4];
  qs_make_input(1, 1, 3, 32, x);
  for (int r = 0; r < 4; r++) y[r] = malloc(sizeof(float) * 16);
  tjob jobs[4];
  int rc = run_group(&m, QS_PREC_FP32, 4, 1, x, y, jobs);
  CHECK(rc == QS_EUNSUPPORTED);
  CHECK_MSG(strstr(jobs[0].err, "not divisible") != NULL, "%s", jobs[0].err);
  printf("tiny-vit at tp 4: %s\n", jobs[0].err);
  for (int r = 0; r < 4; r++) free(y[r]);
  free(x);
  qs_model_free(&m);
  qs_zoo_free(&z);
}

static void test_fixture(const char *dir) {
  qs_zoo z;
  CHECK(qs_zoo_load(NULL, &z) == QS_OK);
  qs_arch a;
  int rc = qs_zoo_resolve(&z, dir, &a);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  qs_model m;
  if (rc == QS_OK) rc = qs_model_create(&a, 1234, &m);
  CHECK_MSG(rc == QS_OK, "%s: %s", dir, qs_last_error());
  if (rc != QS_OK) {
    qs_zoo_free(&z);
    return;
  }
  const int batch = 2, D = qs_arch_out_dim(&a);
  const int64_t ny = (int64_t)batch * D;
  float *x = malloc(sizeof(float) * (size_t)batch * a.num_channels * a.input_size * a.input_size);
  qs_make_input(7, batch, a.num_channels, a.input_size, x);
  float *ref = malloc(sizeof(float) * (size_t)ny), *y[MAXK], *yq = malloc(sizeof(float) * (size_t)ny);
  for (int r = 0; r < MAXK; r++) y[r] = malloc(sizeof(float) * (size_t)ny);
  CHECK(forward1(&m, QS_PREC_FP32, batch, x, ref) == QS_OK);
  tjob jobs[MAXK];

  /* a group of one is the unsplit plan, bit for bit */
  rc = run_group(&m, QS_PREC_FP32, 1, batch, x, y, jobs);
  CHECK(rc == QS_OK && jobs[0].rc_fwd == QS_OK);
  CHECK_MSG(!memcmp(y[0], ref, sizeof(float) * (size_t)ny), "%s: tp 1 group differs from the unsplit plan", a.name);

  static const int ks[] = {2, 4};
  for (size_t ki = 0; ki < QS_ARRAY_LEN(ks); ki++) {
    const int k = ks[ki];
    if (qs_tp_check_arch(&a, k) != QS_OK) {
      printf("%s (%s): tp %d skipped: %s\n", a.name, qs_family_name(a.family), k, qs_last_error());
      continue;
    }
    rc = run_group(&m, QS_PREC_FP32, k, batch, x, y, jobs);
    CHECK_MSG(rc == QS_OK, "%s tp %d: %s", a.name, k, jobs[0].err);
    double worst = 0;
    for (int r = 0; r < k && rc == QS_OK; r++) {
      CHECK_MSG(jobs[r].rc_fwd == QS_OK, "%s tp %d rank %d: %s", a.name, k, r, jobs[r].err);
      double e = tp_rel_l2(y[r], ref, ny);
      if (e > worst || isnan(e)) worst = e;
    }
    CHECK_MSG(worst <= 1e-5, "%s fp32 tp %d: rel_l2 %.3e > 1e-5", a.name, k, worst);
    /* each rank holds less than the whole (the encoder Linears split) */
    size_t whole;
    {
      qs_prec_opts po;
      qs_prec_opts_default(&po, QS_PREC_FP32);
      qs_cpu_plan *p;
      CHECK(qs_cpu_plan_create(&m, &po, &p) == QS_OK);
      whole = qs_cpu_plan_weight_bytes(p);
      qs_cpu_plan_free(p);
    }
    CHECK_MSG(jobs[0].weight_bytes < whole, "%s tp %d: %zu bytes per rank, %zu unsplit", a.name, k,
              jobs[0].weight_bytes, whole);
    printf("%-28s %-9s fp32 tp %d: rel_l2 vs tp 1 %.3e (weights per rank %.1f%% of unsplit)\n", a.name,
           qs_family_name(a.family), k, worst, 100.0 * (double)jobs[0].weight_bytes / (double)whole);
  }
  /* lower precisions at tp 2 against fp32 at tp 1 */
  if (qs_tp_check_arch(&a, 2) == QS_OK) {
    static const qs_precision precs[] = {QS_PREC_FP16, QS_PREC_INT8, QS_PREC_NF4};
    for (size_t pi = 0; pi < QS_ARRAY_LEN(precs); pi++) {
      CHECK(forward1(&m, precs[pi], batch, x, yq) == QS_OK);
      double e1 = tp_rel_l2(yq, ref, ny);
      rc = run_group(&m, precs[pi], 2, batch, x, y, jobs);
      CHECK_MSG(rc == QS_OK && jobs[0].rc_fwd == QS_OK && jobs[1].rc_fwd == QS_OK, "%s %s tp 2: %s", a.name,
                qs_precision_name(precs[pi]), jobs[0].err);
      double e2 = tp_rel_l2(y[0], ref, ny);
      CHECK_MSG(!memcmp(y[0], y[1], sizeof(float) * (size_t)ny), "%s %s tp 2: the ranks' outputs differ", a.name,
                qs_precision_name(precs[pi]));
      double bound = QUANT_BOUND_FACTOR * e1 + QUANT_BOUND_ABS;
      CHECK_MSG(e2 <= bound, "%s %s tp 2: rel_l2 vs fp32 %.3e > bound %.3e", a.name, qs_precision_name(precs[pi]), e2,
                bound);
      printf("%-28s %-9s %-4s rel_l2 vs fp32: tp 1 %.3e, tp 2 %.3e (bound %.3e)\n", a.name, qs_family_name(a.family),
             qs_precision_name(precs[pi]), e1, e2, bound);
    }
  }
  for (int r = 0; r < MAXK; r++) free(y[r]);
  free(yq);
  free(ref);
  free(x);
  qs_model_free(&m);
  qs_zoo_free(&z);
}

int main(void) {
  test_roles();
  test_indivisible();
  const char *root = QS_FIXTURE_DIR "/tiny";
  char *names[64];
  const int n = tp_sorted_fixtures(root, names, 64);
  CHECK(n >= 10);
  for (int i = 0; i < n; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
    test_fixture(dir);
    free(names[i]);
  }
  return qs_test_finish("test_tp_unit");
}
