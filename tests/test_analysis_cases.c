/* test_analysis_cases.c - qsweep-analyze beyond the seed table: several batch sizes,
 * failed cells, resume retries (the last row of a key wins), a model without a
 * baseline cell, NaN shown as a dash, CSV quoting, --baseline and --batch, and the
 * refusals: not HDF5, a newer schema, simulated rows, bad options; memory reduction
 * from weight bytes where no peak was measured.
 * usage: test_analysis_cases PATH/TO/qsweep-analyze */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "analysis.h"
#include "analysis/seed_table.h"
#include "analysis/test_util.h"
#include "qs_common.h"
#include "qs_test.h"

#define DASH "\xe2\x80\x94"
#define MAX_ROWS (4 * QA_SEED_CELLS)

static const char *g_exe;
static qs_cell_result g_rows[MAX_ROWS];

static int seed_rows(int batch, int start) {
  for (int i = 0; i < QA_SEED_CELLS; i++) {
    qs_cell_result *r = &g_rows[start + i];
    qa_seed_row(i, r);
    if (batch != 1) {
      r->batch = batch;
      r->lat_median_ms *= batch * (i % 4 == 1 ? 0.5 : 1.0); /* fp16 scales better */
      qa_seed_rekey(r);
    }
  }
  return start + QA_SEED_CELLS;
}

static int row_of(int n, const char *model, const char *prec, int batch) {
  for (int i = 0; i < n; i++)
    if (strcmp(g_rows[i].model, model) == 0 && strcmp(g_rows[i].precision, prec) == 0 &&
        g_rows[i].batch == batch)
      return i;
  return -1;
}

static void write_file(const char *path, int n, const char *backend) {
  int rc = qa_write_rows(path, g_rows, n, backend);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
}

static int analyze(const char *h5, const char *extra, char **md, char **err) {
  char args[1024];
  snprintf(args, sizeof args, "'%s' %s", h5, extra ? extra : "");
  return qa_run(g_exe, args, md, err);
}

static const qa_prec *find_prec(const qa_analysis *a, const char *name) {
  for (int p = 0; p < a->n_precs; p++)
    if (strcmp(a->precs[p].name, name) == 0) return &a->precs[p];
  return NULL;
}

/* (2) several batch sizes: tables per batch, summary at the smallest or at --batch */
static void test_batches(void) {
  int n = seed_rows(1, 0);
  n = seed_rows(8, n);
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("batches.h5"));
  write_file(h5, n, "cuda");
  char *md = NULL, *err = NULL;
  int rc = analyze(h5, "", &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "- **Batch sizes**: 1, 8\n"));
  CHECK(qa_contains(md, "- **Cells**: 128\n"));
  for (int b = 0; b < 2; b++) {
    const char *bs = b ? "8" : "1";
    char h[128];
    snprintf(h, sizeof h, "### Latency (ms, median) - batch size %s\n", bs);
    CHECK_MSG(qa_contains(md, h), "missing %s", h);
    snprintf(h, sizeof h, "### Speedup vs fp32 - batch size %s\n", bs);
    CHECK_MSG(qa_contains(md, h), "missing %s", h);
    snprintf(h, sizeof h, "### Peak memory (MB) - batch size %s\n", bs);
    CHECK_MSG(qa_contains(md, h), "missing %s", h);
  }
  /* batch 8 latencies are 8x (fp16 4x): fp16 speedup doubles there */
  char *sp8 = qa_section(md, "### Speedup vs fp32 - batch size 8");
  CHECK(qa_contains(sp8, "| vit-huge-patch14-2020 | 1.00x | 5.00x | 0.46x | 0.45x |"));
  free(sp8);
  char *lat8 = qa_section(md, "### Latency (ms, median) - batch size 8");
  CHECK(qa_contains(lat8, "| vit-huge-patch14-2020 | 204.72 | 40.96 | 449.12 | 452.32 |"));
  free(lat8);
  CHECK(qa_contains(md, "- **FP16 average speedup**: 1.33x (16 models)")); /* batch 1 */
  CHECK(qa_contains(md, "## Architecture summary - batch size 1\n"));
  /* method analysis spans both batch sizes: 32 fp16 cells */
  CHECK(qa_contains(md, "| fp16 | half precision | 32 | 0 |"));
  free(md);
  free(err);

  rc = analyze(h5, "--batch 8", &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "- **FP16 average speedup**: 2.66x (16 models)"));
  CHECK(qa_contains(md, "## Architecture summary - batch size 8\n"));
  free(md);
  free(err);

  rc = analyze(h5, "--batch 3", &md, &err);
  CHECK(rc == 1);
  CHECK_MSG(qa_contains(err, h5) && qa_contains(err, "--batch 3: no cells of batch size 3 "
                                                     "(present: 1, 8)"),
            "%s", err);
  CHECK(qa_count_lines(err) == 1);
  free(md);
  free(err);

  /* in-process: the summary group and the per-batch speedups */
  qa_analysis a;
  qa_options o = {NULL, 8};
  CHECK(qa_load(h5, &o, &a) == QS_OK);
  CHECK(a.n_groups == 2 && a.summary == 1);
  CHECK_CLOSE(find_prec(&a, "fp16")->avg_speedup, 2 * 1.32845, 2e-4, 0);
  CHECK(find_prec(&a, "fp16")->ok_cells == 32);
  qa_free(&a);
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
}

/* (3) failed cells: listed with their message, left out of every average; a retried
 * cell counts once, by its last row */
static void test_failed(void) {
  int n = seed_rows(1, 0);
  /* vit-huge fp16 ran out of memory (its stale numbers must not count) */
  int k = row_of(n, "vit-huge-patch14-2020", "fp16", 1);
  qs_strlcpy(g_rows[k].status, "oom", sizeof g_rows[k].status);
  qs_strlcpy(g_rows[k].message, "CUDA out of memory: tried to allocate 1.2 GB, \"arena\" full",
             sizeof g_rows[k].message);
  /* beit-large int8 failed first, then succeeded on resume */
  int j = row_of(n, "beit-large-2021", "int8", 1);
  g_rows[n] = g_rows[j];
  qs_strlcpy(g_rows[j].status, "failed", sizeof g_rows[j].status);
  qs_strlcpy(g_rows[j].message, "transient failure", sizeof g_rows[j].message);
  g_rows[j].lat_median_ms = 0.001; /* would be a 12000x speedup if it counted */
  n++;
  /* dinov2-base nf4 succeeded first, then a later retry failed: the failure counts */
  int q = row_of(n, "dinov2-base-2023", "nf4", 1);
  g_rows[n] = g_rows[q];
  qs_strlcpy(g_rows[n].status, "unsupported", sizeof g_rows[n].status);
  qs_strlcpy(g_rows[n].message, "nf4: block size 64 does not divide 770", sizeof g_rows[n].message);
  n++;
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("failed.h5"));
  write_file(h5, n, "cuda");

  qa_analysis a;
  CHECK(qa_load(h5, NULL, &a) == QS_OK);
  CHECK(a.n_rows == 66 && a.n_cells == 64 && a.n_superseded == 2);
  CHECK(a.n_ok == 62 && a.n_bad == 2);
  const qa_prec *fp16 = find_prec(&a, "fp16");
  CHECK(fp16->n_speedup == 15 && fp16->bad_cells == 1 && fp16->ok_cells == 15);
  double sum = 0;
  for (int m = 0; m < QA_SEED_MODELS; m++)
    if (m != 0) sum += qa_seed_models[m].latency_ms[0] / qa_seed_models[m].latency_ms[1];
  CHECK_CLOSE(fp16->avg_speedup, sum / 15, 1e-12, 1e-12);
  const qa_prec *nf4 = find_prec(&a, "nf4");
  CHECK(nf4->n_speedup == 15 && nf4->bad_cells == 1);
  const qa_prec *int8 = find_prec(&a, "int8");
  CHECK(int8->n_speedup == 16 && int8->bad_cells == 0);
  CHECK(strcmp(a.cats[0].name, "Foundation Transformer") == 0);
  CHECK(a.cats[0].leader >= 0 &&
        strcmp(a.cells[a.cats[0].leader].r->model, "vit-large-patch16-2020") == 0);
  qa_free(&a);

  char *md = NULL, *err = NULL;
  int rc = analyze(h5, "", &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "- **Failed cells**: 2 (oom 1, unsupported 1)\n"));
  CHECK(qa_contains(md, "- **Success rate**: 96.9%\n"));
  CHECK(qa_contains(md, "- **Superseded rows**: 2 "));
  CHECK(qa_contains(md, "- **FP16 average speedup**: 1.25x (15 models)"));
  char *failed = qa_section(md, "## Failed cells");
  CHECK(qa_contains(failed, "2 cells did not succeed"));
  CHECK(qa_contains(failed, "| vit-huge-patch14-2020 | fp16 | 1 | 1 | oom | node001 | CUDA out "
                            "of memory: tried to allocate 1.2 GB, \"arena\" full |"));
  CHECK(qa_contains(failed, "| dinov2-base-2023 | nf4 | 1 | 1 | unsupported |"));
  CHECK(!qa_contains(failed, "transient failure"));
  free(failed);
  /* the failed cell shows its status in the tables, not a number */
  char *lat = qa_section(md, "### Latency (ms, median) - batch size 1");
  CHECK(qa_contains(lat, "| vit-huge-patch14-2020 | 25.59 | oom | 56.14 | 56.54 |"));
  free(lat);
  char *leaders = qa_section(md, "### Category leaders");
  CHECK(qa_contains(leaders, "| Foundation Transformer | vit-large-patch16-2020 | fp16 | 1.35x |"));
  free(leaders);
  free(md);
  free(err);

  /* CSV: one row per cell, the message quoted per RFC 4180 */
  rc = analyze(h5, "--csv ", NULL, &err);
  CHECK(rc != 0); /* --csv needs an argument */
  free(err);
  char extra[600];
  snprintf(extra, sizeof extra, "--csv '%s'", qa_tpath("failed.csv"));
  rc = analyze(h5, extra, NULL, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  free(err);
  char *csv = qa_slurp(qa_tpath("failed.csv"));
  CHECK(qa_count_lines(csv) == 65);
  CHECK(qa_contains(csv, ",oom,\"CUDA out of memory: tried to allocate 1.2 GB, \"\"arena\"\" "
                         "full\",0,node001,"));
  free(csv);
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
}

/* (3b) a cell killed at its time limit (status timeout, qsweep run --cell-timeout): a
 * failed cell like the others, named by its status in the overview, the failed-cells
 * table, the tables, the CSV and the JSON counts */
static void test_timeout(void) {
  int n = seed_rows(1, 0);
  int k = row_of(n, "deit-tiny-ultra-efficient", "int8", 1);
  qs_strlcpy(g_rows[k].status, "timeout", sizeof g_rows[k].status);
  qs_strlcpy(g_rows[k].message, "cell time limit of 600 s exceeded: the worker was killed (SIGKILL) and is restarted",
             sizeof g_rows[k].message);
  int j = row_of(n, "beit-large-2021", "nf4", 1);
  qs_strlcpy(g_rows[j].status, "failed", sizeof g_rows[j].status);
  qs_strlcpy(g_rows[j].message, "worker killed by SIGSEGV (Segmentation fault) during the cell; the worker is restarted",
             sizeof g_rows[j].message);
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("timeout.h5"));
  write_file(h5, n, "cuda");
  qa_analysis a;
  CHECK(qa_load(h5, NULL, &a) == QS_OK);
  CHECK(a.n_ok == 62 && a.n_bad == 2);
  CHECK(qa_status_count(&a, "timeout") == 1 && qa_status_count(&a, "failed") == 1);
  CHECK(find_prec(&a, "int8")->n_speedup == 15 && find_prec(&a, "int8")->bad_cells == 1);
  qa_free(&a);

  char *md = NULL, *err = NULL, extra[1200];
  snprintf(extra, sizeof extra, "--report - --csv '%s' --json '%s'", qa_tpath("timeout.csv"), qa_tpath("timeout.json"));
  int rc = analyze(h5, extra, &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "- **Failed cells**: 2 (failed 1, timeout 1)\n"));
  char *failed = qa_section(md, "## Failed cells");
  CHECK(qa_contains(failed, "| deit-tiny-ultra-efficient | int8 | 1 | 1 | timeout | node001 | cell time limit of "
                            "600 s exceeded"));
  CHECK(qa_contains(failed, "| beit-large-2021 | nf4 | 1 | 1 | failed | node001 | worker killed by SIGSEGV"));
  free(failed);
  char *lat = qa_section(md, "### Latency (ms, median) - batch size 1");
  CHECK(qa_contains(lat, "| deit-tiny-ultra-efficient |") && qa_contains(lat, "| timeout |"));
  free(lat);
  char *csv = qa_slurp(qa_tpath("timeout.csv"));
  CHECK(qa_contains(csv, "\ndeit-tiny-ultra-efficient|int8|b1|tp1,deit-tiny-ultra-efficient,int8,1,1,cuda,timeout,"));
  free(csv);
  char *js = qa_slurp(qa_tpath("timeout.json"));
  cJSON *root = cJSON_Parse(js);
  const cJSON *by = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "summary"), "cells_by_status");
  CHECK(by && cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(by, "ok")) == 62);
  CHECK(by && cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(by, "timeout")) == 1);
  CHECK(by && cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(by, "failed")) == 1);
  CHECK(by && cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(by, "oom")) == 0);
  cJSON_Delete(root);
  free(js);
  free(md);
  free(err);
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
}

/* (4) a model without a baseline cell: no speedup (a dash, never 0 or 1), left out of
 * the averages; a NaN latency is a dash too */
static void test_missing_baseline(void) {
  int n = seed_rows(1, 0);
  int k = row_of(n, "mobilevit-xxs-edge", "fp32", 1);
  memmove(&g_rows[k], &g_rows[k + 1], (size_t)(n - k - 1) * sizeof g_rows[0]);
  n--;
  int z = row_of(n, "vit-base-224-production", "nf4", 1);
  g_rows[z].lat_median_ms = NAN; /* measured nothing: no latency, no speedup */
  g_rows[z].fid_cosine = 0.99871;
  g_rows[z].fid_top1 = 0.97;
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("nobase.h5"));
  write_file(h5, n, "cuda");

  qa_analysis a;
  CHECK(qa_load(h5, NULL, &a) == QS_OK);
  const qa_prec *fp16 = find_prec(&a, "fp16");
  CHECK(fp16->n_speedup == 15);
  CHECK(find_prec(&a, "nf4")->n_speedup == 14);
  /* the mem reduction is still there for vit-base-224 nf4, not for mobilevit-xxs */
  CHECK(find_prec(&a, "nf4")->n_mem == 15);
  const qa_category *edge = &a.cats[4];
  CHECK(strcmp(edge->name, "Edge Optimized") == 0);
  CHECK(edge->n_models == 4 && edge->n_speedup_models == 3);
  qa_free(&a);

  char *md = NULL, *err = NULL;
  int rc = analyze(h5, "", &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  char *sp = qa_section(md, "### Speedup vs fp32 - batch size 1");
  CHECK(qa_contains(sp, "| mobilevit-xxs-edge | " DASH " | " DASH " | " DASH " | " DASH " |"));
  CHECK(qa_contains(sp, "| vit-base-224-production | 1.00x | 1.01x | 0.17x | " DASH " |"));
  free(sp);
  char *lat = qa_section(md, "### Latency (ms, median) - batch size 1");
  CHECK(qa_contains(lat, "| mobilevit-xxs-edge | " DASH " | 5.59 | 16.91 | 17.16 |"));
  CHECK(qa_contains(lat, "| vit-base-224-production | 3.83 | 3.81 | 21.89 | " DASH " |"));
  free(lat);
  CHECK(qa_contains(md, "- **FP16 average speedup**: 1.36x (15 models)"));
  CHECK(qa_contains(md, "(no speedup, left out of the averages): mobilevit-xxs-edge\n"));
  char *arch = qa_section(md, "## Architecture summary");
  CHECK(qa_contains(arch, "| mobilevit-xxs-edge | fp16 | 5.59 | " DASH " | 10.0 | " DASH " |"));
  CHECK(qa_contains(arch, "| vit-base-224-production | nf4 | " DASH " | " DASH " | 95.0 | 72.0% "
                          "| 0.99871 | 97.0% |"));
  CHECK(!qa_contains(arch, "| mobilevit-xxs-edge | fp16 | 5.59 | 0.00x"));
  free(arch);
  free(md);
  free(err);

  /* JSON: no baseline, no speedup: null */
  char extra[600];
  snprintf(extra, sizeof extra, "--json '%s'", qa_tpath("nobase.json"));
  rc = analyze(h5, extra, NULL, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  free(err);
  char *js = qa_slurp(qa_tpath("nobase.json"));
  cJSON *root = cJSON_Parse(js);
  CHECK(root != NULL);
  const cJSON *cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
  int nulls = 0, seen = 0;
  for (const cJSON *c = cells ? cells->child : NULL; c; c = c->next) {
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "model"));
    if (m && strcmp(m, "mobilevit-xxs-edge") == 0) {
      seen++;
      nulls += cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "speedup"));
    }
  }
  CHECK(seen == 3 && nulls == 3);
  cJSON_Delete(root);
  free(js);

  /* --baseline fp16: speedups relative to fp16, fp16 never leads */
  rc = analyze(h5, "--baseline fp16", &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "### Speedup vs fp16 - batch size 1"));
  CHECK(qa_contains(md, "- **FP32 average speedup**: "));
  CHECK(!qa_contains(md, "- **FP16 average speedup**"));
  free(md);
  free(err);
  rc = analyze(h5, "--baseline fp64", &md, &err);
  CHECK(rc == 1 && qa_contains(err, "--baseline fp64: no cells of precision fp64"));
  free(md);
  free(err);
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
}

/* (5) (6) (7) refusals, one line each, naming the file */
static void expect_refusal(const char *h5, const char *what) {
  char *md = NULL, *err = NULL;
  int rc = analyze(h5, "", &md, &err);
  CHECK_MSG(rc == 1, "%s: exit %d", h5, rc);
  CHECK_MSG(md && md[0] == '\0', "%s: stdout not empty", h5);
  CHECK_MSG(qa_contains(err, h5) && qa_contains(err, what), "%s: stderr: %s", h5, err);
  CHECK_MSG(qa_count_lines(err) == 1, "not one line: %s", err);
  free(md);
  free(err);
}

static void test_refusals(void) {
  /* not HDF5 */
  char txt[512];
  snprintf(txt, sizeof txt, "%s", qa_tpath("not-hdf5.h5"));
  FILE *f = fopen(txt, "w");
  fputs("model,precision\nvit,fp16\n", f);
  fclose(f);
  expect_refusal(txt, "not an HDF5 file");
  expect_refusal(qa_tpath("missing.h5"), "missing.h5");

  /* a newer schema version */
  int n = seed_rows(1, 0);
  char newer[512];
  snprintf(newer, sizeof newer, "%s", qa_tpath("newer.h5"));
  write_file(newer, n, "cuda");
  hid_t fid = H5Fopen(newer, H5F_ACC_RDWR, H5P_DEFAULT);
  CHECK(fid >= 0);
  hid_t at = H5Aopen(fid, "schema_version", H5P_DEFAULT);
  int v = QS_RESULTS_SCHEMA_VERSION + 1;
  CHECK(at >= 0 && H5Awrite(at, H5T_NATIVE_INT, &v) >= 0);
  H5Aclose(at);
  H5Fclose(fid);
  expect_refusal(newer, "seal"); /* edited outside qsweep */
  CHECK(qs_results_seal(newer) == QS_OK);
  expect_refusal(newer, "is newer than this qsweep");

  /* a foreign HDF5 file */
  char foreign[512];
  snprintf(foreign, sizeof foreign, "%s", qa_tpath("foreign.h5"));
  fid = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(fid);
  expect_refusal(foreign, "not a qsweep");

  /* simulated rows: one row is enough to refuse the file; so is a sim run */
  char sim[512];
  snprintf(sim, sizeof sim, "%s", qa_tpath("sim.h5"));
  qs_strlcpy(g_rows[17].backend, "sim", sizeof g_rows[17].backend);
  write_file(sim, n, "cuda");
  char want[600];
  snprintf(want, sizeof want, "%s: backend sim: simulated results are not measurements", sim);
  expect_refusal(sim, want);
  qs_strlcpy(g_rows[17].backend, "cuda", sizeof g_rows[17].backend);
  char simrun[512];
  snprintf(simrun, sizeof simrun, "%s", qa_tpath("simrun.h5"));
  write_file(simrun, n, "sim");
  expect_refusal(simrun, "backend sim: simulated results are not measurements");
  /* in process too: nothing to free after a refusal */
  qa_analysis a;
  CHECK(qa_load(sim, NULL, &a) == QS_EINVAL);
  CHECK(qa_contains(qs_last_error(), "backend sim"));

  /* a row without a batch size */
  char bad[512];
  snprintf(bad, sizeof bad, "%s", qa_tpath("badbatch.h5"));
  g_rows[3].batch = 0;
  write_file(bad, n, "cuda");
  expect_refusal(bad, "/cells row 3 (vit-huge-patch14-2020 nf4): batch: 0 is not a batch size");
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
}

static double median_of(const qa_analysis *a, const char *model, const char *prec, int batch) {
  for (int c = 0; c < a->n_cells; c++) {
    const qs_cell_result *r = a->cells[c].r;
    if (!strcmp(r->model, model) && !strcmp(r->precision, prec) && r->batch == batch) return r->lat_median_ms;
  }
  return NAN;
}

/* several files of one machine (e.g. a Slurm job array): one report; a cell in a later
 * file replaces the same cell of an earlier one; other machines are refused */
static void test_many(void) {
  char f1[512], f8[512], fx[512], fcpu[512], fgpu[512], fsim[512];
  snprintf(f1, sizeof f1, "%s", qa_tpath("many-b1.h5"));
  snprintf(f8, sizeof f8, "%s", qa_tpath("many-b8.h5"));
  snprintf(fx, sizeof fx, "%s", qa_tpath("many-retry.h5"));
  snprintf(fcpu, sizeof fcpu, "%s", qa_tpath("many-cpu.h5"));
  snprintf(fgpu, sizeof fgpu, "%s", qa_tpath("many-gpu.h5"));
  snprintf(fsim, sizeof fsim, "%s", qa_tpath("many-sim.h5"));
  int n = seed_rows(1, 0);
  write_file(f1, n, "cuda");
  CHECK(qa_write_rows_on(fgpu, g_rows, n, "cuda", "NVIDIA H100 80GB HBM3") == QS_OK);
  write_file(fcpu, n, "cpu");
  write_file(fsim, n, "sim");
  /* one retried cell, faster */
  int v = row_of(n, "vit-base-224-production", "fp16", 1);
  CHECK(v >= 0);
  double first = g_rows[v].lat_median_ms;
  g_rows[v].lat_median_ms = first / 2;
  CHECK(qa_write_rows(fx, &g_rows[v], 1, "cuda") == QS_OK);
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
  n = seed_rows(8, 0);
  write_file(f8, n, "cuda");
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);

  qa_analysis a;
  const char *two[] = {f1, f8};
  CHECK(qa_load_many(two, 2, NULL, &a) == QS_OK);
  CHECK(a.n_sources == 2 && a.sources[0].n_rows == QA_SEED_CELLS && a.sources[1].n_rows == QA_SEED_CELLS);
  CHECK_MSG(a.n_cells == 2 * QA_SEED_CELLS && a.n_rows == 2 * QA_SEED_CELLS && a.n_superseded == 0,
            "cells %d rows %d superseded %d", a.n_cells, a.n_rows, a.n_superseded);
  CHECK(a.n_groups == 2 && a.groups[0].batch == 1 && a.groups[1].batch == 8);
  CHECK(qa_contains(a.path, f1) && qa_contains(a.path, f8));
  CHECK(!strcmp(qa_source_meta(&a, 1)->backend, "cuda"));
  qa_free(&a);

  /* the later file wins a shared cell, whichever it is */
  const char *retry_last[] = {f1, fx}, *retry_first[] = {fx, f1};
  CHECK(qa_load_many(retry_last, 2, NULL, &a) == QS_OK);
  CHECK(a.n_cells == QA_SEED_CELLS && a.n_superseded == 1);
  CHECK(fabs(median_of(&a, "vit-base-224-production", "fp16", 1) - first / 2) < 1e-12);
  qa_free(&a);
  CHECK(qa_load_many(retry_first, 2, NULL, &a) == QS_OK);
  CHECK(fabs(median_of(&a, "vit-base-224-production", "fp16", 1) - first) < 1e-12);
  qa_free(&a);

  /* other machines and simulated runs: refused, nothing left to free */
  const char *mixed_backend[] = {f1, fcpu}, *mixed_gpu[] = {f1, f8, fgpu}, *with_sim[] = {f1, fsim};
  CHECK(qa_load_many(mixed_backend, 2, NULL, &a) == QS_EINVAL);
  CHECK_MSG(qa_contains(qs_last_error(), fcpu) && qa_contains(qs_last_error(), "backend cpu, but") &&
                qa_contains(qs_last_error(), f1),
            "%s", qs_last_error());
  CHECK(qa_load_many(mixed_gpu, 3, NULL, &a) == QS_EINVAL);
  CHECK_MSG(qa_contains(qs_last_error(), fgpu) && qa_contains(qs_last_error(), "NVIDIA H100 80GB HBM3") &&
                qa_contains(qs_last_error(), "seed study GPU"),
            "%s", qs_last_error());
  CHECK(qa_load_many(with_sim, 2, NULL, &a) == QS_EINVAL);
  CHECK(qa_contains(qs_last_error(), fsim) && qa_contains(qs_last_error(), "backend sim"));

  /* the command line: a "Runs" section with both files, JSON "sources" */
  char extra[1200], *md = NULL, *err = NULL;
  snprintf(extra, sizeof extra, "'%s' --report - --json '%s'", f8, qa_tpath("many.json"));
  CHECK(analyze(f1, extra, &md, &err) == 0);
  CHECK_MSG(qa_contains(md, "## Runs") && qa_contains(md, "2 results files of one machine"), "%s", err);
  CHECK(qa_contains(md, "| 1 | ") && qa_contains(md, "| 2 | ") && qa_contains(md, "many-b8.h5 | 64 |"));
  char *sec = qa_section(md, "## Experiment overview");
  CHECK(sec && qa_contains(sec, "**Batch sizes**: 1, 8") && qa_contains(sec, "**Cells**: 128"));
  free(sec);
  free(md);
  free(err);
  char *js = qa_slurp(qa_tpath("many.json"));
  CHECK(js && qa_contains(js, "\"sources\"") && qa_contains(js, "many-b1.h5") && qa_contains(js, "\"rows\":\t64"));
  free(js);
  /* one file: no "sources", the single-run table */
  snprintf(extra, sizeof extra, "--report - --json '%s'", qa_tpath("one.json"));
  CHECK(analyze(f1, extra, &md, &err) == 0);
  CHECK(qa_contains(md, "## Run\n") && !qa_contains(md, "## Runs"));
  free(md);
  free(err);
  js = qa_slurp(qa_tpath("one.json"));
  CHECK(js && !qa_contains(js, "\"sources\""));
  free(js);
  /* a refusal from the command line: exit 1, one line */
  snprintf(extra, sizeof extra, "'%s'", fcpu);
  CHECK(analyze(f1, extra, &md, &err) == 1);
  CHECK(qa_contains(err, "backend cpu, but") && qa_count_lines(err) == 1);
  free(md);
  free(err);
}

/* two runs cell by cell: speedups, verdicts from the medians' CIs, geometric means,
 * cells in one run only or failed in one, and the command line */
static void set_ci(qs_cell_result *r, double rel) {
  r->lat_ci_lo_ms = r->lat_median_ms * (1 - rel);
  r->lat_ci_hi_ms = r->lat_median_ms * (1 + rel);
}

static void test_compare(void) {
  char fb[512], fn[512], fsim[512];
  snprintf(fb, sizeof fb, "%s", qa_tpath("cmp-base.h5"));
  snprintf(fn, sizeof fn, "%s", qa_tpath("cmp-new.h5"));
  snprintf(fsim, sizeof fsim, "%s", qa_tpath("cmp-sim.h5"));
  int n = seed_rows(1, 0);
  for (int i = 0; i < n; i++) set_ci(&g_rows[i], 0.02);
  write_file(fb, n, "cuda");
  write_file(fsim, n, "sim");
  /* NEW: fp16 twice as fast, int8 1% slower (within noise), nf4 1.5x slower, fp32 the
   * same; one cell dropped, one failed, one extra batch-2 cell, one cell without a CI */
  for (int i = 0; i < n; i++) {
    qs_cell_result *r = &g_rows[i];
    double f = !strcmp(r->precision, "fp16") ? 0.5 : !strcmp(r->precision, "int8") ? 1.01
             : !strcmp(r->precision, "nf4")  ? 1.5 : 1.0;
    r->lat_median_ms *= f;
    set_ci(r, 0.02);
  }
  int drop = row_of(n, "beit-large-2021", "nf4", 1), fail = row_of(n, "dinov2-base-2023", "int8", 1);
  int noci = row_of(n, "deit-tiny-ultra-efficient", "fp32", 1);
  CHECK(drop >= 0 && fail >= 0 && noci >= 0);
  qs_strlcpy(g_rows[fail].status, "oom", sizeof g_rows[fail].status);
  qs_strlcpy(g_rows[fail].message, "out of device memory", sizeof g_rows[fail].message);
  g_rows[noci].lat_ci_lo_ms = g_rows[noci].lat_ci_hi_ms = NAN;
  qs_cell_result keep = g_rows[drop];
  g_rows[drop] = g_rows[n - 1]; /* the last row moves into the dropped one's place */
  g_rows[n - 1] = keep;
  int m = n - 1;
  qa_seed_row(0, &g_rows[m]); /* an extra cell: vit-huge fp32 at batch 2 */
  g_rows[m].batch = 2;
  qa_seed_rekey(&g_rows[m]);
  write_file(fn, n, "cuda");
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
  qs_cell_result_free(&keep);

  qa_compare c;
  CHECK(qa_compare_load(fb, fn, &c) == QS_OK);
  CHECK_MSG(c.n_compared == QA_SEED_CELLS - 2 && c.only_base == 1 && c.only_new == 1 && c.not_ok == 1,
            "compared %d only_base %d only_new %d not_ok %d", c.n_compared, c.only_base, c.only_new, c.not_ok);
  CHECK(c.n_precs == 4 && !strcmp(c.precs[0].name, "fp32") && !strcmp(c.precs[3].name, "nf4"));
  const qa_cmp_prec *p32 = &c.precs[0], *p16 = &c.precs[1], *p8 = &c.precs[2], *p4 = &c.precs[3];
  CHECK_MSG(fabs(p16->geo_speedup - 2.0) < 1e-12 && p16->faster == 16 && p16->n == 16, "fp16 %g %d",
            p16->geo_speedup, p16->faster);
  CHECK_MSG(fabs(p4->geo_speedup - 1 / 1.5) < 1e-12 && p4->slower == 15 && p4->n == 15, "nf4 %g %d",
            p4->geo_speedup, p4->slower);
  CHECK(fabs(p8->geo_speedup - 1 / 1.01) < 1e-12 && p8->same == 15 && p8->n == 15);
  CHECK(fabs(p32->geo_speedup - 1.0) < 1e-12 && p32->same == 15 && p32->no_ci == 1 && p32->faster == 0);
  int seen_extra = 0;
  for (int i = 0; i < c.n_cells; i++)
    if (!c.cells[i].base) seen_extra = c.cells[i].new_->batch == 2 && c.cells[i].verdict == QA_CMP_NONE;
  CHECK(seen_extra);
  qa_compare_free(&c);
  /* a simulated run on either side is refused, nothing left to free */
  CHECK(qa_compare_load(fb, fsim, &c) == QS_EINVAL && qa_contains(qs_last_error(), "backend sim"));
  CHECK(qa_compare_load(fsim, fb, &c) == QS_EINVAL);

  /* the command line */
  char extra[1200], *md = NULL, *err = NULL;
  snprintf(extra, sizeof extra, "--compare '%s' '%s' --csv '%s' --report -", fb, fn, qa_tpath("cmp.csv"));
  CHECK(qa_run(g_exe, extra, &md, &err) == 0);
  CHECK_MSG(qa_contains(md, "# qsweep comparison") && qa_contains(md, "| fp16 | 16 | 2.00x | 16 | 0 | 0 | 0 |"),
            "%s", md);
  CHECK(qa_contains(md, "| nf4 | 15 | 0.67x | 0 | 15 | 0 | 0 |") && qa_contains(md, "| fp32 | 16 | 1.00x | 0 | 0 | 15 | 1 |"));
  CHECK(qa_contains(md, "beit-large-2021 nf4, batch 1, tp 1: only in base"));
  CHECK(qa_contains(md, "vit-huge-patch14-2020 fp32, batch 2, tp 1: only in new"));
  CHECK(qa_contains(md, "dinov2-base-2023 int8, batch 1, tp 1: oom in new (out of device memory)"));
  CHECK(qa_contains(md, "| vit-base-224-production | fp16 | 1 | 1 |") && qa_contains(md, "| 2.00x | faster |"));
  free(md);
  free(err);
  char *csv = qa_slurp(qa_tpath("cmp.csv"));
  CHECK(csv && qa_count_lines(csv) == 1 + QA_SEED_CELLS + 1);
  CHECK(qa_contains(csv, ",speedup,verdict,") && qa_contains(csv, ",faster,") && qa_contains(csv, ",oom,"));
  free(csv);
  /* usage errors */
  snprintf(extra, sizeof extra, "--compare '%s'", fb);
  CHECK(qa_run(g_exe, extra, &md, &err) == 2 && qa_contains(err, "needs exactly two results files"));
  free(md);
  free(err);
  snprintf(extra, sizeof extra, "--compare '%s' '%s' --svg x", fb, fn);
  CHECK(qa_run(g_exe, extra, &md, &err) == 2 && qa_contains(err, "--report, --csv and --html only"));
  free(md);
  free(err);
  snprintf(extra, sizeof extra, "--compare '%s' '%s'", fb, fsim);
  CHECK(qa_run(g_exe, extra, &md, &err) == 1 && qa_contains(err, "backend sim") && qa_count_lines(err) == 1);
  free(md);
  free(err);
}

/* an empty file (a run that recorded no cell yet) and tensor-parallel cells */
static void test_empty_and_tp(void) {
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("empty.h5"));
  write_file(h5, 0, "cuda");
  char *md = NULL, *err = NULL;
  int rc = analyze(h5, "", &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "- **Cells**: 0\n"));
  CHECK(qa_contains(md, "- **Success rate**: " DASH "\n"));
  free(md);
  free(err);
  /* the HTML page of an empty file: every section still there, charts say so */
  char extra[600];
  snprintf(extra, sizeof extra, "--html '%s'", qa_tpath("empty.html"));
  rc = analyze(h5, extra, &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  char *html = qa_slurp(qa_tpath("empty.html"));
  CHECK(html && qa_contains(html, "<h2 id=\"overview\">") && qa_contains(html, "<h2 id=\"failed-cells\">"));
  CHECK(qa_contains(html, "id=\"chart-latency-vs-batch\"") && qa_contains(html, "no cells to show"));
  CHECK(!qa_contains(html, "chart-speedup-heatmap-"));
  CHECK(md && md[0] == '\0'); /* --html alone prints nothing */
  free(html);
  free(md);
  free(err);

  int n = seed_rows(1, 0);
  for (int i = 0; i < QA_SEED_CELLS; i++) { /* the same cells on two GPUs */
    g_rows[n + i] = g_rows[i];
    g_rows[n + i].tp = 2;
    g_rows[n + i].lat_median_ms *= 0.6;
    qa_seed_rekey(&g_rows[n + i]);
  }
  n += QA_SEED_CELLS;
  snprintf(h5, sizeof h5, "%s", qa_tpath("tp.h5"));
  write_file(h5, n, "cuda");
  rc = analyze(h5, "", &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "### Latency (ms, median) - batch size 1, tensor parallel 1\n"));
  CHECK(qa_contains(md, "### Latency (ms, median) - batch size 1, tensor parallel 2\n"));
  CHECK(qa_contains(md, "## Architecture summary - batch size 1, tensor parallel 1\n"));
  CHECK(qa_contains(md, "- **FP16 average speedup**: 1.33x (16 models)"));
  char *lat = qa_section(md, "### Latency (ms, median) - batch size 1, tensor parallel 2");
  CHECK(qa_contains(lat, "| vit-huge-patch14-2020 | 15.35 | 6.14 | 33.68 | 33.92 |"));
  free(lat);
  free(md);
  free(err);
  /* HTML: one heatmap per (batch, tp) group, ids that say the degree; the batch
   * charts use the summary's degree */
  snprintf(extra, sizeof extra, "--html '%s'", qa_tpath("tp.html"));
  rc = analyze(h5, extra, &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  html = qa_slurp(qa_tpath("tp.html"));
  CHECK(qa_contains(html, "id=\"chart-speedup-heatmap-b1\" class=\"chart\" data-chart=\"speedup-heatmap\" data-batch=\"1\" data-tp=\"1\""));
  CHECK(qa_contains(html, "id=\"chart-speedup-heatmap-b1-tp2\""));
  CHECK(qa_contains(html, "id=\"table-latency-b1-tp2\"") && qa_contains(html, "<h2 id=\"results-b1-tp2\">"));
  CHECK(qa_contains(html, "<td class=\"num\">15.35</td>"));
  free(html);
  free(md);
  free(err);
  for (int i = 0; i < QA_SEED_CELLS; i++) qs_cell_result_free(&g_rows[i]);
}

/* the command line itself */
static void test_cli(void) {
  char *out = NULL, *err = NULL;
  CHECK(qa_run(g_exe, "--help", &out, &err) == 0);
  CHECK(qa_contains(out, "usage: qsweep-analyze RESULTS.h5") && qa_contains(out, "--baseline P"));
  free(out);
  free(err);
  CHECK(qa_run(g_exe, "", &out, &err) == 2);
  CHECK(qa_contains(err, "no results file given"));
  free(out);
  free(err);
  CHECK(qa_run(g_exe, "x.h5 --batch 0", &out, &err) == 2);
  CHECK(qa_contains(err, "--batch: \"0\" is not a positive integer"));
  free(out);
  free(err);
  CHECK(qa_run(g_exe, "x.h5 --bogus", &out, &err) == 2);
  free(out);
  free(err);
  CHECK(qa_run(g_exe, "/nonexistent/a.h5 b.h5", &out, &err) == 1);
  CHECK(qa_contains(err, "/nonexistent/a.h5: cannot open") && qa_count_lines(err) == 1);
  free(out);
  free(err);
  /* an output that cannot be written: one line naming it */
  int n = seed_rows(1, 0);
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("cli.h5"));
  write_file(h5, n, "cuda");
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
  CHECK(analyze(h5, "--report /nonexistent-dir/report.md", &out, &err) == 1);
  CHECK(qa_contains(err, "/nonexistent-dir/report.md: cannot write"));
  free(out);
  free(err);
  /* the charts are linked from the report, relative to it */
  char extra[1200];
  snprintf(extra, sizeof extra, "--report '%s' --svg '%s'", qa_tpath("r/report.md"),
           qa_tpath("r/charts"));
  char *mk = malloc(600);
  snprintf(mk, 600, "mkdir -p '%s'", qa_tpath("r"));
  CHECK(system(mk) == 0);
  free(mk);
  CHECK(analyze(h5, extra, &out, &err) == 0);
  free(out);
  free(err);
  char *md = qa_slurp(qa_tpath("r/report.md"));
  CHECK(qa_contains(md, "![Speedup heatmap](charts/speedup_heatmap.svg)"));
  CHECK(qa_contains(md, "![Latency vs parameters](charts/latency_vs_params.svg)"));
  free(md);
}

/* (9) memory reduction without a peak counter: from the measured weight bytes, labelled
 * so; the peak wherever both cells have one; nothing for a pair with one peak only */
static void test_mem_basis(void) {
  int n = seed_rows(1, 0);
  for (int i = 0; i < n; i++) {
    g_rows[i].weight_mb = 100.0 / (1 << (i % 4)); /* fp32 100, fp16 50, int8 25, nf4 12.5 */
    if (i / 4 == 0 || i / 4 == 1) g_rows[i].peak_mb = NAN; /* two models: no peak counter */
  }
  int k = row_of(n, qa_seed_models[2].model, "int8", 1);
  g_rows[k].peak_mb = NAN; /* a third model: one cell without a peak, its fp32 with one */
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("membasis.h5"));
  write_file(h5, n, "cpu");
  qa_analysis a;
  CHECK(qa_load(h5, NULL, &a) == QS_OK);
  for (int i = 0; i < a.n_cells; i++) {
    const qa_cell *c = &a.cells[i];
    int m = -1;
    for (int j = 0; j < QA_SEED_MODELS; j++)
      if (strcmp(c->r->model, qa_seed_models[j].model) == 0) m = j;
    if (m <= 1) {
      CHECK_MSG(c->mem_basis == QA_MEM_WEIGHTS, "%s", c->r->key);
      CHECK_CLOSE(c->mem_reduction_pct, 100.0 * (1 - c->r->weight_mb / 100.0), 1e-9, 0);
    } else if (strcmp(c->r->key, g_rows[k].key) == 0) {
      CHECK(c->mem_basis == QA_MEM_NONE && isnan(c->mem_reduction_pct));
    } else {
      CHECK_MSG(c->mem_basis == QA_MEM_PEAK, "%s", c->r->key);
    }
  }
  const qa_prec *fp16 = find_prec(&a, "fp16");
  CHECK(fp16->n_mem == 16 && fp16->n_mem_weights == 2);
  CHECK(strcmp(qa_mem_basis_note(fp16->n_mem, fp16->n_mem_weights), "partly from weight bytes") == 0);
  CHECK(strcmp(qa_mem_basis_note(2, 2), "from weight bytes") == 0 && qa_mem_basis_note(2, 0)[0] == '\0');
  CHECK(a.cats[0].n_mem_weights_models == 2); /* the two models of the first category */
  qa_free(&a);
  char *md = NULL, *err = NULL, extra[600];
  snprintf(extra, sizeof extra, "--csv '%s' --report -", qa_tpath("membasis.csv"));
  int rc = analyze(h5, extra, &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "- **FP16 average memory reduction**: "));
  CHECK(qa_contains(md, " models, partly from weight bytes)"));
  char *arch = qa_section(md, "## Architecture summary");
  char line[256];
  snprintf(line, sizeof line, "| %s | fp16 | ", qa_seed_models[0].model);
  CHECK(qa_contains(arch, line) && qa_contains(arch, "| 50.0% (from weight bytes) |"));
  free(arch);
  CHECK(qa_contains(md, "### Weight memory (MB, measured weight bytes) - batch size 1"));
  free(md);
  free(err);
  char *csv = qa_slurp(qa_tpath("membasis.csv"));
  CHECK(qa_contains(csv, ",memory_reduction_basis,speedup,memory_reduction_pct,achieved_tflops,"));
  CHECK(qa_contains(csv, ",weight_bytes,") && qa_contains(csv, ",peak,"));
  free(csv);
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
}

/* The precisions bf16, int8dyn and fp8 next to the seed's four: display order, method
 * families, tables, CSV, JSON and --compare; an fp8 cell the CUDA backend refused is
 * listed with its reason and left out of the averages. */
static int hopper_rows(double fp8_scale) {
  int n = seed_rows(1, 0);
  for (int m = 0; m < QA_SEED_MODELS; m++) {
    static const struct {
      const char *prec;
      int from;     /* seed precision index the row starts from */
      double lat;   /* latency factor */
      double bits;  /* qweight_bits */
    } k[3] = {{"bf16", 1, 1.0, 16.0}, {"int8dyn", 2, 0.25, 8.03}, {"fp8", 1, 0.8, 8.03}};
    for (int j = 0; j < 3; j++) {
      qs_cell_result *r = &g_rows[n++];
      qa_seed_row(m * QA_SEED_PRECS + k[j].from, r);
      qs_strlcpy(r->precision, k[j].prec, sizeof r->precision);
      r->lat_median_ms *= k[j].lat * (j == 2 ? fp8_scale : 1.0);
      r->qweight_bits = k[j].bits;
      qa_seed_rekey(r);
      if (j == 2 && m == 0) {
        qs_strlcpy(r->status, "unsupported", sizeof r->status);
        qs_strlcpy(r->message, "vit-huge-patch14-2020: cuda: fp8: no CUDA kernels for this precision in this build",
                   sizeof r->message);
        r->lat_median_ms = NAN;
      }
    }
  }
  return n;
}

static void test_hopper_precisions(void) {
  char h5[512], h5b[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("hopper.h5"));
  snprintf(h5b, sizeof h5b, "%s", qa_tpath("hopper-new.h5"));
  int n = hopper_rows(1.0);
  write_file(h5, n, "cuda");
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);
  n = hopper_rows(0.5); /* fp8 twice as fast in the second run */
  write_file(h5b, n, "cuda");
  for (int i = 0; i < n; i++) qs_cell_result_free(&g_rows[i]);

  char extra[1600], *md = NULL, *err = NULL;
  snprintf(extra, sizeof extra, "--report - --csv '%s' --json '%s'", qa_tpath("hopper.csv"), qa_tpath("hopper.json"));
  int rc = analyze(h5, extra, &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
  CHECK(qa_contains(md, "- **Precisions**: 7 (fp32, fp16, bf16, int8, int8dyn, fp8, nf4)\n"));
  CHECK(qa_contains(md, "- **BF16 average speedup**: 1.33x (16 models)"));
  CHECK(qa_contains(md, "- **FP8 average speedup**: 1.56x (15 models)"));
  CHECK(qa_contains(md, "- **INT8DYN average speedup**: 0.94x (16 models)"));
  CHECK(qa_contains(md, "| bf16 | bfloat16 | 16 | 0 | 1.33x | 44.5% | 16.00 |"));
  CHECK(qa_contains(md, "| int8dyn | int8 W8A8 dynamic per-token (torchao-style, no outliers) | 16 | 0 | 0.94x |"));
  CHECK(qa_contains(md, "| fp8 | FP8 e4m3 (per-channel weights, per-token activations) | 15 | 1 | 1.56x |"));
  CHECK(qa_contains(md, "| Model | fp32 | fp16 | bf16 | int8 | int8dyn | fp8 | nf4 |\n"));
  CHECK(qa_contains(md, "| vit-huge-patch14-2020 | 25.59 | 10.24 | 10.24 | 56.14 | 14.04 | unsupported | 56.54 |"));
  CHECK(qa_contains(md, "| vit-huge-patch14-2020 | fp8 | 1 | 1 | unsupported |") &&
        qa_contains(md, "cuda: fp8: no CUDA kernels for this precision in this build"));
  CHECK(qa_contains(md, "| dinov2-large-2023 | fp8 | 6.22 | 2.45x |"));
  free(md);
  free(err);
  char *csv = qa_slurp(qa_tpath("hopper.csv"));
  CHECK(csv && qa_count_lines(csv) == 1 + QA_SEED_CELLS + 3 * QA_SEED_MODELS);
  CHECK(qa_contains(csv, "\ndinov2-base-2023|bf16|b1|tp1,dinov2-base-2023,bf16,1,1,"));
  CHECK(qa_contains(csv, "\ndinov2-base-2023|int8dyn|b1|tp1,dinov2-base-2023,int8dyn,1,1,"));
  CHECK(qa_contains(csv, "\nvit-huge-patch14-2020|fp8|b1|tp1,vit-huge-patch14-2020,fp8,1,1,cuda,unsupported,"));
  free(csv);
  char *js = qa_slurp(qa_tpath("hopper.json"));
  cJSON *j = js ? cJSON_Parse(js) : NULL;
  CHECK(j != NULL);
  const cJSON *precs = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "summary"), "precisions");
  const char *order[7] = {"fp32", "fp16", "bf16", "int8", "int8dyn", "fp8", "nf4"};
  CHECK(cJSON_GetArraySize(precs) == 7);
  for (int i = 0; i < 7 && i < cJSON_GetArraySize(precs); i++) {
    const cJSON *pn = cJSON_GetObjectItem(cJSON_GetArrayItem(precs, i), "precision");
    CHECK_MSG(cJSON_IsString(pn) && !strcmp(pn->valuestring, order[i]), "summary.precisions[%d]", i);
  }
  cJSON_Delete(j);
  free(js);

  /* --compare: the second run's fp8 is twice as fast, everything else the same */
  qa_compare c;
  CHECK(qa_compare_load(h5, h5b, &c) == QS_OK);
  CHECK(c.n_precs == 7);
  for (int i = 0; i < 7 && i < c.n_precs; i++) CHECK(!strcmp(c.precs[i].name, order[i]));
  if (c.n_precs == 7) {
    CHECK(c.precs[5].n == 15 && fabs(c.precs[5].geo_speedup - 2.0) < 1e-12);
    CHECK(c.precs[2].n == 16 && fabs(c.precs[2].geo_speedup - 1.0) < 1e-12);
    CHECK(c.precs[4].n == 16 && fabs(c.precs[4].geo_speedup - 1.0) < 1e-12);
  }
  qa_compare_free(&c);
  snprintf(extra, sizeof extra, "--compare '%s' '%s' --report -", h5, h5b);
  CHECK(qa_run(g_exe, extra, &md, &err) == 0);
  CHECK_MSG(qa_contains(md, "| fp8 | 15 | 2.00x |") && qa_contains(md, "| bf16 | 16 | 1.00x |") &&
                qa_contains(md, "| int8dyn | 16 | 1.00x |"),
            "%s", md);
  free(md);
  free(err);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_analysis_cases PATH/TO/qsweep-analyze\n");
    return 2;
  }
  g_exe = argv[1];
  test_batches();
  test_failed();
  test_timeout();
  test_missing_baseline();
  test_refusals();
  test_empty_and_tp();
  test_many();
  test_compare();
  test_cli();
  test_mem_basis();
  test_hopper_precisions();
  return qs_test_finish("test_analysis_cases");
}
