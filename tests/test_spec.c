/* test_spec.c - the sweep spec parser, the cost model and schedule, and the
 * result wire format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "coordinator.h"
#include "qs_common.h"
#include "qs_test.h"
#include "spec.h"

#define ZOO QS_FIXTURE_DIR "/tiny-zoo.json"

static int parse(const char *text, qs_spec *s) { return qs_spec_parse("t.json", text, ZOO, s); }

/* A bad spec fails with "t.json: FIELD..." */
static void bad(const char *text, const char *want) {
  qs_spec s;
  int rc = parse(text, &s);
  CHECK_MSG(rc != QS_OK, "accepted: %s", text);
  if (rc == QS_OK) {
    qs_spec_free(&s);
    return;
  }
  const char *e = qs_last_error();
  CHECK_MSG(!strncmp(e, "t.json: ", 8) && strstr(e, want) != NULL, "got \"%s\", want \"%s\"", e, want);
  CHECK_MSG(strchr(e, '\n') == NULL, "multi-line message \"%s\"", e);
}

static int find(const qs_spec *s, const char *key) {
  for (int i = 0; i < s->n_cells; i++)
    if (!strcmp(s->cells[i].key, key)) return i;
  return -1;
}

static void test_parse(void) {
  qs_spec s;
  int rc = parse("{\"models\": [\"tiny-vit\", \"tiny-deit\", \"tiny-dinov2\"], \"precisions\": [\"fp32\", \"int8\", "
                 "\"int4_nf4\"], \"batch_sizes\": [1, 8], \"tp\": [1, 2], \"iterations\": 20, \"warmup_s\": 0.5,"
                 " \"seed\": 7, \"int8_threshold\": 4.5, \"nf4_double_quant\": true, \"_comment\": \"x\","
                 " \"exclude\": [{\"model\": \"tiny-dinov2\", \"precision\": \"nf4\"}, {\"tp\": 2, \"batch\": 8}],"
                 " \"overrides\": {\"tiny-deit\": {\"batch_sizes\": [4], \"iterations\": 3, \"tp\": [1]}}}",
                 &s);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return;
  /* tiny-vit: 3 prec x (b1: tp1, tp2; b8: tp1) = 9; tiny-deit: 3 x b4 x tp1 = 3;
   * tiny-dinov2: 2 prec (no nf4) x 3 = 6 */
  CHECK(s.n_cells == 18);
  CHECK(s.seed == 7 && fabsf(s.int8_threshold - 4.5f) < 1e-6f && s.nf4_double_quant == 1);
  CHECK(s.calibrate == -1); /* absent: the cuda backend calibrates, cpu does not */
  CHECK(find(&s, "tiny-vit|nf4|b1|tp2") >= 0);
  CHECK(find(&s, "tiny-vit|fp32|b8|tp2") < 0);
  CHECK(find(&s, "tiny-deit|int8|b4|tp1") >= 0);
  CHECK(find(&s, "tiny-deit|int8|b1|tp1") < 0);
  CHECK(find(&s, "tiny-dinov2|nf4|b1|tp1") < 0);
  CHECK(s.models[1].bench.iterations == 3 && s.models[0].bench.iterations == 20);
  CHECK(s.models[0].bench.warmup_s == 0.5 && s.models[0].bench.warmup == 10);
  for (int i = 0; i < s.n_cells; i++) CHECK(s.cells[i].cost > 0);
  /* larger batch and fp32 cost more than smaller batch / quantized */
  int a = find(&s, "tiny-vit|fp32|b8|tp1"), b = find(&s, "tiny-vit|fp32|b1|tp1");
  CHECK(a >= 0 && b >= 0 && s.cells[a].cost > s.cells[b].cost);
  char hash[32];
  memcpy(hash, s.hash, sizeof hash);
  qs_spec_free(&s);

  /* the hash ignores formatting, not content */
  rc = parse("{\"models\":[\"tiny-vit\",\"tiny-deit\",\"tiny-dinov2\"],\"precisions\":[\"fp32\",\"int8\",\"int4_nf4\"],"
             "\"batch_sizes\":[1,8],\"tp\":[1,2],\"iterations\":20,\"warmup_s\":0.5,\"seed\":7,\"int8_threshold\":4.5,"
             "\"nf4_double_quant\":true,\"_comment\":\"x\",\"exclude\":[{\"model\":\"tiny-dinov2\",\"precision\":"
             "\"nf4\"},{\"tp\":2,\"batch\":8}],\"overrides\":{\"tiny-deit\":{\"batch_sizes\":[4],\"iterations\":3,"
             "\"tp\":[1]}}}",
             &s);
  CHECK(rc == QS_OK && !strcmp(hash, s.hash));
  qs_spec_free(&s);
  rc = parse("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"]}", &s);
  CHECK(rc == QS_OK && strcmp(hash, s.hash) != 0 && s.n_cells == 1);
  CHECK(rc == QS_OK && s.models[0].bench.iterations == 50 && s.seed == 1234);
  qs_spec_free(&s);
}

static void test_bad(void) {
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"batchsizes\": [1]}", "batchsizes: unknown key");
  bad("{\"models\": [\"tiny-vit\", \"nope\"], \"precisions\": [\"fp32\"]}", "models[1]: unknown model \"nope\"");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\", \"fp8x\"]}", "precisions[1]: unknown precision");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"batch_sizes\": [2, -1]}",
      "batch_sizes[1]: must be positive");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"batch_sizes\": [1.5]}",
      "batch_sizes[0]: expected an integer");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"batch_sizes\": [1, 1]}", "batch_sizes[1]: duplicate");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": \"fp32\"}", "precisions: expected an array");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"warmup\": -1}", "warmup: -1 is out of range");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"iterations\": 0}", "iterations: must be positive");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"min_time_s\": \"1\"}",
      "min_time_s: expected a number, got a string");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"nf4_double_quant\": 1}",
      "nf4_double_quant: expected true or false");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"calibrate\": \"yes\"}",
      "calibrate: expected true or false");
  {
    qs_spec c;
    for (int v = 0; v < 2; v++) {
      int prc = parse(v ? "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"calibrate\": true}"
                        : "{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"calibrate\": false}",
                      &c);
      CHECK_MSG(prc == QS_OK && c.calibrate == v, "calibrate %d: %s", v, qs_last_error());
      if (prc == QS_OK) qs_spec_free(&c);
    }
  }
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"exclude\": [{}]}", "exclude[0]: an empty pattern");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"exclude\": [{\"precision\": \"fp32\"}]}",
      "every cell is excluded");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"overrides\": {\"tiny-vit\": {\"iterations\": "
      "\"x\"}}}",
      "overrides.tiny-vit.iterations: expected an integer");
  bad("{\"models\": [\"tiny-vit\", \"tiny-vit\"], \"precisions\": [\"fp32\"]}", "models[1]: duplicate");
  bad("{\"models\": [\"no/such/dir\"], \"precisions\": [\"fp32\"]}", "models[0]: ");
  bad("{\"models\": [], \"precisions\": [\"fp32\"]}", "models: must not be empty");
  bad("[1, 2]", "expected a JSON object");
  bad("{\"models\": [\"tiny-vit\"]", "malformed JSON");
}

static void test_sched(void) {
  /* 3 models x 4 cells with decreasing costs; every cell handed out exactly once */
  enum { N = 12 };
  double cost[N];
  int model[N];
  unsigned char skip[N] = {0};
  for (int i = 0; i < N; i++) {
    model[i] = i / 4;
    cost[i] = 100.0 * (3 - model[i]) + (4 - i % 4);
  }
  skip[5] = 1;
  for (int world = 1; world <= 16; world *= 2) {
    qs_sched *s = qs_sched_create(N, cost, model, skip, world);
    int seen[N] = {0}, got = 0;
    CHECK(qs_sched_remaining(s) == N - 1);
    for (int r = 0; r < world; r++) {
      int c = qs_sched_initial(s, r);
      if (r < N - 1) CHECK(c >= 0);
      if (c >= 0) seen[c]++, got++;
    }
    for (int c; (c = qs_sched_next(s, got % 3)) >= 0;) seen[c]++, got++;
    CHECK(got == N - 1 && qs_sched_remaining(s) == 0 && qs_sched_next(s, -1) == -1);
    for (int i = 0; i < N; i++) CHECK(seen[i] == (i == 5 ? 0 : 1));
    qs_sched_free(s);
  }
  /* LPT: with no affinity the order is decreasing cost; slot r gets the r-th largest */
  qs_sched *s = qs_sched_create(N, cost, model, NULL, 4);
  CHECK(qs_sched_initial(s, 0) == 0 && qs_sched_initial(s, 1) == 1);
  double prev = 1e300;
  for (int c; (c = qs_sched_next(s, -1)) >= 0;) {
    CHECK(cost[c] <= prev);
    prev = cost[c];
  }
  qs_sched_free(s);
  /* the progress line's ETA: proportional to the cost left; 0 when done, even where
   * the done costs summed in another order exceed the total by a rounding residue */
  CHECK(fabs(qs_eta_s(10.0, 400.0, 100.0, 1, 4) - 30.0) < 1e-12);
  double total = 0.1 + 0.2 + 0.3, done = 0.3 + 0.2 + 0.1; /* 0.6000000000000001 vs 0.6 */
  CHECK(done != total && qs_eta_s(5.0, total, done, 3, 3) == 0.0);
  CHECK(qs_eta_s(5.0, 0.6, 0.6000000000000001, 2, 3) == 0.0); /* never negative */
  CHECK(isnan(qs_eta_s(5.0, 1.0, 0.0, 0, 3)));
  /* affinity: while there is plenty of work left, a rank stays on its model */
  s = qs_sched_create(N, cost, model, NULL, 1);
  CHECK(qs_sched_next(s, -1) == 0);
  CHECK(qs_sched_next(s, 2) == 8); /* model 2's largest, though model 0's cells are larger */
  qs_sched_free(s);
}

static void test_wire(void) {
  qs_cell_result r, u;
  qs_cell_result_init(&r);
  strcpy(r.key, "tiny-vit|nf4|b2|tp1");
  strcpy(r.model, "tiny-vit");
  strcpy(r.status, "failed");
  strcpy(r.message, "a message with | and \"quotes\"");
  r.batch = 2;
  r.rank = 3;
  r.lat_median_ms = 1.25;
  r.fid_top1 = NAN;
  double samples[3] = {1, 2, 3.5};
  r.samples_ms = samples;
  r.n_samples = 3;
  unsigned char *buf;
  size_t len;
  CHECK(qs_cell_result_pack(&r, &buf, &len) == QS_OK);
  CHECK(qs_cell_result_unpack(buf, len, &u) == QS_OK);
  CHECK(!strcmp(u.key, r.key) && !strcmp(u.message, r.message) && !strcmp(u.status, "failed"));
  CHECK(u.batch == 2 && u.rank == 3 && u.lat_median_ms == 1.25 && isnan(u.fid_top1) && isnan(u.lat_p90_ms));
  CHECK(u.n_samples == 3 && u.samples_ms && u.samples_ms[2] == 3.5);
  qs_cell_result_free(&u);
  /* truncated and corrupted messages are refused, never read past the end */
  for (size_t cut = 0; cut < len; cut += 7) CHECK(qs_cell_result_unpack(buf, cut, &u) != QS_OK);
  buf[0] ^= 0xff;
  CHECK(qs_cell_result_unpack(buf, len, &u) != QS_OK);
  free(buf);
}

static void test_cell(void) {
  /* one cell through the runner on the CPU and sim backends */
  qs_spec s;
  if (parse("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"]}", &s) != QS_OK) {
    CHECK_MSG(0, "%s", qs_last_error());
    return;
  }
  qs_cell_ctx *c;
  CHECK(qs_cell_ctx_create(&qs_backend_cpu, -1, 0, &c) == QS_OK);
  qs_prec_opts po;
  qs_prec_opts_default(&po, QS_PREC_NF4);
  qs_bench_opts bo;
  qs_bench_opts_default(&bo);
  bo.warmup = 1;
  bo.iterations = 7;
  qs_cell_result r;
  qs_cell_run(c, &s.models[0].arch, 1234, &po, 2, 1, &bo, &r);
  CHECK_MSG(!strcmp(r.status, "ok"), "%s: %s", r.status, r.message);
  CHECK(r.n_samples == 7 && r.iterations == 7 && r.lat_min_ms <= r.lat_median_ms && r.lat_median_ms <= r.lat_max_ms);
  CHECK(r.fid_cosine > 0.99 && r.fid_top1 >= 0 && r.qweight_bits > 4.4 && r.qweight_bits < 4.6);
  CHECK(r.weight_mb > 0 && isnan(r.workspace_mb) && isnan(r.energy_mj_per_image) && isnan(r.device_mb));
  CHECK_CLOSE(r.throughput_ips, 2 / (r.lat_median_ms * 1e-3), 0, 1e-12);
  qs_cell_result_free(&r);
  qs_cell_run(c, &s.models[0].arch, 1234, &po, 1, 4, &bo, &r);
  CHECK(!strcmp(r.status, "unsupported") && isnan(r.lat_median_ms) && r.n_samples == 0);
  qs_cell_result_free(&r);
  qs_cell_ctx_set_inject(c, "|nf4|");
  qs_cell_run(c, &s.models[0].arch, 1234, &po, 1, 1, &bo, &r);
  CHECK(!strcmp(r.status, "failed") && !strcmp(r.message, "injected failure"));
  qs_cell_result_free(&r);
  qs_cell_ctx_free(c);
  CHECK(qs_cell_ctx_create(&qs_backend_sim, -1, 0, &c) == QS_OK);
  qs_cell_run(c, &s.models[0].arch, 1234, &po, 1, 1, &bo, &r);
  CHECK(!strcmp(r.status, "ok") && !strcmp(r.backend, "sim") && isnan(r.fid_cosine) && r.n_samples == 7);
  qs_cell_result_free(&r);
  qs_cell_ctx_free(c);
  qs_spec_free(&s);
}

/* image_sizes: one models[] entry per (model, size), "@SIZE" in keys where the size is
 * not the model's own, the arch at that size, excludes by model matching every size, a
 * size the family cannot take recorded as the reason its cells are unsupported. */
static void test_image_sizes(void) {
  qs_spec s;
  int rc = parse("{\"models\": [\"tiny-vit\", \"tiny-deit\"], \"precisions\": [\"fp32\", \"fp16\"],"
                 " \"image_sizes\": [32, 48, 6], \"exclude\": [{\"model\": \"tiny-deit\", \"precision\": \"fp16\"}],"
                 " \"overrides\": {\"tiny-deit\": {\"image_sizes\": [24]}}}",
                 &s);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return;
  /* tiny-vit at 32 (its own), 48 and 6 (smaller than its patch 8); tiny-deit at 24 */
  CHECK_MSG(s.n_models == 4, "%d models", s.n_models);
  CHECK_MSG(s.n_cells == 7, "%d cells", s.n_cells); /* 3 x 2 + 1 x fp32 */
  CHECK(find(&s, "tiny-vit|fp16|b1|tp1") >= 0);
  const int i48 = find(&s, "tiny-vit@48|fp32|b1|tp1"), i24 = find(&s, "tiny-deit@24|fp32|b1|tp1");
  CHECK(i48 >= 0 && i24 >= 0 && find(&s, "tiny-deit@24|fp16|b1|tp1") < 0 && find(&s, "tiny-deit|fp32|b1|tp1") < 0);
  if (i48 >= 0 && i24 >= 0) {
    const qs_spec_model *m48 = &s.models[s.cells[i48].model], *m24 = &s.models[s.cells[i24].model];
    CHECK(m48->arch.input_size == 48 && !m48->unsupported[0] && m48->origin == 0);
    CHECK(m24->arch.input_size == 24 && m24->origin == 1);
    CHECK(s.cells[i48].cost > s.cells[find(&s, "tiny-vit|fp32|b1|tp1")].cost);
  }
  const int i6 = find(&s, "tiny-vit@6|fp32|b1|tp1");
  CHECK(i6 >= 0);
  if (i6 >= 0) {
    const qs_spec_model *m6 = &s.models[s.cells[i6].model];
    CHECK_MSG(strstr(m6->unsupported, "smaller than patch_size 8") != NULL, "unsupported \"%s\"", m6->unsupported);
  }
  qs_spec_free(&s);
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"image_sizes\": [32, 32]}", "duplicate");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"image_sizes\": [0]}", "image_sizes");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"image_sizes\": 32}", "image_sizes");
}

/* The precisions bf16, fp8 and int8dyn in a spec, and cells of them through the
 * CPU runner: ok, with fidelity against fp32 and their real weight bits. */
static void test_hopper_precisions(void) {
  qs_spec s;
  int rc = parse("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\", \"fp16\", \"bf16\", \"int8\", "
                 "\"int8dyn\", \"fp8\", \"nf4\"], \"batch_sizes\": [1, 2], \"exclude\": [{\"precision\": "
                 "\"fp8\", \"batch\": 2}]}",
                 &s);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return;
  CHECK(s.n_cells == 13);
  CHECK(find(&s, "tiny-vit|bf16|b2|tp1") >= 0 && find(&s, "tiny-vit|int8dyn|b1|tp1") >= 0);
  CHECK(find(&s, "tiny-vit|fp8|b1|tp1") >= 0 && find(&s, "tiny-vit|fp8|b2|tp1") < 0);
  qs_cell_ctx *c;
  CHECK(qs_cell_ctx_create(&qs_backend_cpu, -1, 0, &c) == QS_OK);
  qs_bench_opts bo;
  qs_bench_opts_default(&bo);
  bo.warmup = 0;
  bo.iterations = 2;
  const qs_precision precs[3] = {QS_PREC_BF16, QS_PREC_FP8, QS_PREC_INT8DYN};
  const double bits_lo[3] = {16, 8.5, 8.5}, bits_hi[3] = {16, 9, 9}; /* 8 + 32 / K: tiny-vit has small K */
  for (int i = 0; i < 3; i++) {
    qs_prec_opts po;
    qs_spec_prec_opts(&s, precs[i], &po);
    CHECK(po.prec == precs[i]);
    qs_cell_result r;
    qs_cell_run(c, &s.models[0].arch, 1234, &po, 2, 1, &bo, &r);
    CHECK_MSG(!strcmp(r.status, "ok"), "%s: %s: %s", qs_precision_name(precs[i]), r.status, r.message);
    CHECK(!strcmp(r.precision, qs_precision_name(precs[i])));
    CHECK_MSG(r.fid_cosine > 0.99 && r.fid_cosine < 1 && r.fid_rel_l2 > 0 && r.fid_rel_l2 < 0.15,
              "%s: cosine %g rel L2 %g", r.precision, r.fid_cosine, r.fid_rel_l2);
    CHECK_MSG(r.qweight_bits >= bits_lo[i] && r.qweight_bits <= bits_hi[i], "%s: %g bits", r.precision,
              r.qweight_bits);
    qs_cell_result_free(&r);
  }
  qs_cell_ctx_free(c);
  qs_spec_free(&s);
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp8\", \"e4m3\"]}", "precisions[1]: unknown precision");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"int8-dyn\"]}", "int8dyn");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"BF16\"]}", "precisions[0]: unknown precision \"BF16\"");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"bf16\", \"bf16\"]}", "precisions[1]: duplicate");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"exclude\": [{\"precision\": \"fp-8\"}]}",
      "unknown precision \"fp-8\"");
}

/* cell_timeout_s: parsed (0 is "no limit"), refused when negative or not a number; the
 * default limit from the cost estimate, scaled by the backend, never under the floor */
static void test_cell_timeout(void) {
  qs_spec s;
  int rc = parse("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"cell_timeout_s\": 90.5}", &s);
  CHECK_MSG(rc == QS_OK && s.cell_timeout_s == 90.5, "%s", qs_last_error());
  if (rc == QS_OK) qs_spec_free(&s);
  rc = parse("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"cell_timeout_s\": 0}", &s);
  CHECK(rc == QS_OK && s.cell_timeout_s == 0);
  if (rc == QS_OK) qs_spec_free(&s);
  rc = parse("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"]}", &s);
  CHECK(rc == QS_OK && s.cell_timeout_s < 0);
  if (rc == QS_OK) qs_spec_free(&s);
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"cell_timeout_s\": -1}",
      "cell_timeout_s: -1 is out of range");
  bad("{\"models\": [\"tiny-vit\"], \"precisions\": [\"fp32\"], \"cell_timeout_s\": \"1h\"}",
      "cell_timeout_s: expected a number, got a string");
  /* a setting wins; 0 is none; the default: 20 x slowdown x estimate, at least 600 s */
  CHECK(qs_cell_time_limit_s(30, 1e12, 1) == 30);
  CHECK(qs_cell_time_limit_s(0, 1e12, 1) == 0);
  CHECK(qs_cell_time_limit_s(-1, 1e6, 1) == QS_CELL_TIMEOUT_FLOOR_S);
  CHECK(fabs(qs_cell_time_limit_s(-1, 100e6, 1) - 2000.0) < 1e-9);   /* 100 s estimated on the GPU */
  CHECK(fabs(qs_cell_time_limit_s(-1, 1e3, 1e5) - 2000.0) < 1e-9);   /* 1 ms estimated, on the CPU */
  CHECK(qs_cell_time_limit_s(-1, 100e6, 0.01) == 2000.0);            /* a slowdown below 1 counts as 1 */
  CHECK(qs_backend_slowdown(&qs_backend_cpu) == 1e5);
}

int main(void) {
  test_parse();
  test_image_sizes();
  test_bad();
  test_hopper_precisions();
  test_sched();
  test_wire();
  test_cell();
  test_cell_timeout();
  return qs_test_finish("test_spec");
}
