/* test_analysis_seed.c - the analysis reproduces the seed report from the seed's own
 * table: per-precision averages, category averages, category leaders and the speedup
 * table, both in the computed summary and in the markdown that qsweep-analyze prints;
 * the CSV and JSON exports carry the same cells and numbers.
 * usage: test_analysis_seed PATH/TO/qsweep-analyze */
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

/* What seed-report.md printed. */
static const struct {
  const char *prec, *label, *speedup, *mem;
} k_prec[] = {{"fp16", "FP16", "1.33x", "44.5%"},
              {"int8", "INT8", "0.23x", "65.8%"},
              {"nf4", "NF4", "0.23x", "65.8%"}};

static const struct {
  const char *category, *avg, *leader, *leader_prec, *leader_speedup;
  int models;
} k_cat[] = {
    {"Foundation Transformer", "0.87x", "vit-huge-patch14-2020", "fp16", "2.50x", 2},
    {"Self Supervised 2023", "0.72x", "dinov2-large-2023", "fp16", "1.96x", 2},
    {"Masked Autoencoder 2021", "0.49x", "beit-large-2021", "fp16", "1.15x", 2},
    {"Production Ready", "0.56x", "vit-base-384-production", "fp16", "2.12x", 4},
    {"Edge Optimized", "0.58x", "deit-base-distilled-384-edge", "fp16", "2.12x", 4},
    {"Specialized Efficient", "0.43x", "vit-base-patch32-specialized", "fp16", "0.98x", 2},
};

static int prec_index(const qa_analysis *a, const char *name) {
  for (int p = 0; p < a->n_precs; p++)
    if (strcmp(a->precs[p].name, name) == 0) return p;
  return -1;
}

static void check_summary(const qa_analysis *a) {
  char b[64];
  CHECK(a->n_rows == QA_SEED_CELLS && a->n_cells == QA_SEED_CELLS);
  CHECK(a->n_ok == QA_SEED_CELLS && a->n_bad == 0 && a->n_superseded == 0);
  CHECK(a->n_models == QA_SEED_MODELS);
  CHECK(a->n_groups == 1 && a->summary == 0 && a->groups[0].batch == 1);
  /* display order fp32 fp16 int8 nf4 */
  CHECK(a->n_precs == 4);
  for (int p = 0; p < 4 && p < a->n_precs; p++)
    CHECK_MSG(strcmp(a->precs[p].name, qa_seed_precs[p]) == 0, "precision %d is %s", p,
              a->precs[p].name);
  CHECK(a->baseline == 0);
  for (size_t i = 0; i < QS_ARRAY_LEN(k_prec); i++) {
    int p = prec_index(a, k_prec[i].prec);
    CHECK(p >= 0);
    if (p < 0) continue;
    const qa_prec *P = &a->precs[p];
    CHECK(P->n_speedup == 16 && P->n_mem == 16);
    qa_fmt_speedup(b, sizeof b, P->avg_speedup);
    CHECK_MSG(strcmp(b, k_prec[i].speedup) == 0, "%s speedup %s, seed %s", P->name, b,
              k_prec[i].speedup);
    qa_fmt_pct(b, sizeof b, P->avg_mem_reduction_pct);
    CHECK_MSG(strcmp(b, k_prec[i].mem) == 0, "%s memory %s, seed %s", P->name, b, k_prec[i].mem);
    printf("%s average speedup %s (%.4f), memory reduction %s (%.3f)\n", k_prec[i].label,
           qa_fmt_speedup(b, sizeof b, P->avg_speedup), P->avg_speedup,
           qa_fmt_pct(b + 32, 32, P->avg_mem_reduction_pct), P->avg_mem_reduction_pct);
  }
  CHECK_CLOSE(a->precs[1].avg_speedup, 1.32845, 1e-4, 0);
  CHECK_CLOSE(a->precs[1].avg_mem_reduction_pct, 44.4918, 1e-3, 0);
  /* method analysis: one batch size, so the same means */
  CHECK(a->precs[1].ok_cells == 16 && a->precs[1].bad_cells == 0);
  CHECK_CLOSE(a->precs[1].m_avg_speedup, a->precs[1].avg_speedup, 1e-12, 0);
  CHECK(isnan(a->precs[1].m_avg_cosine)); /* not in the seed table: not measured */
  /* categories, in the seed's order */
  CHECK(a->n_cats == (int)QS_ARRAY_LEN(k_cat));
  for (size_t k = 0; k < QS_ARRAY_LEN(k_cat) && (int)k < a->n_cats; k++) {
    const qa_category *C = &a->cats[k];
    CHECK_MSG(strcmp(C->name, k_cat[k].category) == 0, "category %zu is %s", k, C->name);
    CHECK(C->n_models == k_cat[k].models && C->n_speedup_models == k_cat[k].models);
    qa_fmt_speedup(b, sizeof b, C->avg_speedup);
    CHECK_MSG(strcmp(b, k_cat[k].avg) == 0, "%s avg %s, seed %s", C->name, b, k_cat[k].avg);
    CHECK(C->leader >= 0);
    if (C->leader < 0) continue;
    const qa_cell *c = &a->cells[C->leader];
    qa_fmt_speedup(b + 32, 32, c->speedup);
    CHECK_MSG(strcmp(c->r->model, k_cat[k].leader) == 0 &&
                  strcmp(c->r->precision, k_cat[k].leader_prec) == 0 &&
                  strcmp(b + 32, k_cat[k].leader_speedup) == 0,
              "%s leader %s %s %s, seed %s %s %s", C->name, c->r->model, c->r->precision,
              b + 32, k_cat[k].leader, k_cat[k].leader_prec, k_cat[k].leader_speedup);
    printf("%s: %d models, %s avg speedup; leader %s (%s) %s\n", C->name, C->n_models, b,
           c->r->model, c->r->precision, b + 32);
  }
  /* the seed's "Speedup vs FP32" table, cell by cell */
  int mismatches = 0;
  for (int m = 0; m < QA_SEED_MODELS; m++) {
    const qa_seed_model *sm = &qa_seed_models[m];
    int mi = -1;
    for (int k = 0; k < a->n_models; k++)
      if (strcmp(a->models[k].name, sm->model) == 0) mi = k;
    CHECK(mi >= 0);
    for (int p = 0; p < QA_SEED_PRECS && mi >= 0; p++) {
      int ci = qa_cell_at(a, 0, mi, prec_index(a, qa_seed_precs[p]));
      char want[32];
      snprintf(want, sizeof want, "%.2fx", sm->speedup[p]);
      qa_fmt_speedup(b, sizeof b, ci >= 0 ? a->cells[ci].speedup : NAN);
      if (strcmp(b, want) != 0) {
        mismatches++;
        fprintf(stderr, "speedup %s %s: %s, seed %s\n", sm->model, qa_seed_precs[p], b, want);
      }
    }
  }
  CHECK(mismatches == 0);
}

static void check_markdown(const char *md) {
  char line[256];
  for (size_t i = 0; i < QS_ARRAY_LEN(k_prec); i++) {
    snprintf(line, sizeof line, "- **%s average speedup**: %s (16 models)\n", k_prec[i].label,
             k_prec[i].speedup);
    CHECK_MSG(qa_contains(md, line), "missing: %s", line);
    snprintf(line, sizeof line, "- **%s average memory reduction**: %s (16 models)\n",
             k_prec[i].label, k_prec[i].mem);
    CHECK_MSG(qa_contains(md, line), "missing: %s", line);
  }
  char *cats = qa_section(md, "### Category summary");
  char *leaders = qa_section(md, "### Category leaders");
  for (size_t k = 0; k < QS_ARRAY_LEN(k_cat); k++) {
    snprintf(line, sizeof line, "| %s | %d | %s |", k_cat[k].category, k_cat[k].models,
             k_cat[k].avg);
    CHECK_MSG(qa_contains(cats, line), "missing: %s", line);
    snprintf(line, sizeof line, "| %s | %s | %s | %s |", k_cat[k].category, k_cat[k].leader,
             k_cat[k].leader_prec, k_cat[k].leader_speedup);
    CHECK_MSG(qa_contains(leaders, line), "missing: %s", line);
  }
  free(cats);
  free(leaders);
  CHECK(qa_contains(md, "- **Models tested**: 16\n"));
  CHECK(qa_contains(md, "- **Precisions**: 4 (fp32, fp16, int8, nf4)\n"));
  CHECK(qa_contains(md, "- **Successful cells**: 64\n"));
  CHECK(qa_contains(md, "- **Failed cells**: 0\n"));
  CHECK(qa_contains(md, "- **Success rate**: 100.0%\n"));
  CHECK(qa_contains(md, "| GPUs | seed study GPU |"));
  CHECK(qa_contains(md, "| Command line | `qsweep run sweep/seed64.json --output results.h5` |"));
  /* tables: header in display order, a seed row in each */
  char *lat = qa_section(md, "### Latency (ms, median) - batch size 1");
  char *sp = qa_section(md, "### Speedup vs fp32 - batch size 1");
  char *mem = qa_section(md, "### Peak memory (MB) - batch size 1");
  CHECK(qa_contains(lat, "| Model | fp32 | fp16 | int8 | nf4 |"));
  CHECK(qa_contains(lat, "| vit-huge-patch14-2020 | 25.59 | 10.24 | 56.14 | 56.54 |"));
  CHECK(qa_contains(sp, "| vit-huge-patch14-2020 | 1.00x | 2.50x | 0.46x | 0.45x |"));
  CHECK(qa_contains(sp, "| dino-vits16-production | 1.00x | 0.96x | 0.13x | 0.14x |"));
  CHECK(qa_contains(mem, "| mobilevit-xxs-edge | 11.8 | 10.0 | 9.6 | 9.6 |"));
  CHECK(qa_count_lines(lat) == 16 + 4);
  free(lat);
  free(sp);
  free(mem);
  /* no percentiles in the seed table: no percentile table; fidelity not measured */
  CHECK(!qa_contains(md, "### Latency percentiles"));
  char *arch = qa_section(md, "## Architecture summary - batch size 1");
  CHECK(qa_contains(arch, "| vit-huge-patch14-2020 | fp16 | 10.24 | 2.50x | 1214.3 | 49.8% | "
                          "\xe2\x80\x94 | \xe2\x80\x94 | 632.0 M | \xe2\x80\x94 | \xe2\x80\x94 |"));
  CHECK(qa_count_lines(arch) == 64 + 6);
  free(arch);
  CHECK(qa_contains(md, "## Failed cells\n\nNone: every cell succeeded."));
  CHECK(!qa_contains(md, "0.85")); /* no placeholder accuracy */
}

static double jnum(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void check_exports(const char *exe, const char *h5) {
  char args[1024];
  snprintf(args, sizeof args, "'%s' --csv '%s' --json '%s' --report '%s'", h5,
           qa_tpath("cells.csv"), qa_tpath("summary.json"), qa_tpath("report.md"));
  char *out = NULL, *err = NULL;
  int rc = qa_run(exe, args, &out, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err ? err : "");
  CHECK(out && out[0] == '\0'); /* output options: nothing on stdout */
  free(out);
  free(err);
  /* CSV: a header and 64 rows, CRLF, every field */
  char *csv = qa_slurp(qa_tpath("cells.csv"));
  CHECK(csv != NULL);
  if (csv) {
    CHECK(qa_count_lines(csv) == 65);
    CHECK(strncmp(csv, "key,model,precision,batch,tp,backend,status,message,", 52) == 0);
    for (int f = 0; f < qa_n_cell_fields; f++) CHECK(qa_contains(csv, qa_cell_fields[f].name));
    CHECK(qa_contains(csv, ",speedup,memory_reduction_pct,achieved_tflops,bytes_moved_mb,arith_intensity,"
                           "ceiling_tflops,ceiling_pct,roof_tflops\r\n"));
    CHECK(qa_contains(csv, "vit-huge-patch14-2020|fp16|b1|tp1,vit-huge-patch14-2020,fp16,1,1,"
                           "cuda,ok,,"));
  }
  free(csv);
  /* JSON: meta, summary, 64 cells; not measured is null */
  char *js = qa_slurp(qa_tpath("summary.json"));
  cJSON *root = js ? cJSON_Parse(js) : NULL;
  CHECK(root != NULL);
  if (root) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
    CHECK(cJSON_IsObject(meta) && cJSON_IsObject(sum) && cJSON_IsArray(cells));
    CHECK(cJSON_GetArraySize(cells) == 64);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "backend")),
                 "cuda") == 0);
    const cJSON *precs = cJSON_GetObjectItemCaseSensitive(sum, "precisions");
    CHECK(cJSON_GetArraySize(precs) == 4);
    const cJSON *fp16 = cJSON_GetArrayItem(precs, 1);
    CHECK_CLOSE(jnum(fp16, "avg_speedup"), 1.32845, 1e-4, 0);
    CHECK_CLOSE(jnum(fp16, "avg_memory_reduction_pct"), 44.4918, 1e-3, 0);
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(sum, "categories");
    CHECK(cJSON_GetArraySize(cats) == 6);
    const cJSON *leader = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cats, 0), "leader");
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(leader, "model")),
                 "vit-huge-patch14-2020") == 0);
    CHECK_CLOSE(jnum(leader, "speedup"), 25.59 / 10.24, 1e-9, 0);
    const cJSON *c0 = cJSON_GetArrayItem(cells, 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c0, "fid_cosine")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c0, "energy_mj_per_image")));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c0, "lat_median_ms")));
  }
  cJSON_Delete(root);
  free(js);
  /* the report file equals what stdout gets */
  char *md = qa_slurp(qa_tpath("report.md"));
  CHECK(md && qa_contains(md, "- **FP16 average speedup**: 1.33x (16 models)"));
  free(md);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_analysis_seed PATH/TO/qsweep-analyze\n");
    return 2;
  }
  const char *exe = argv[1];
  char h5[512];
  snprintf(h5, sizeof h5, "%s", qa_tpath("seed.h5"));
  int rc = qa_write_seed(h5);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return qs_test_finish("test_analysis_seed");

  qa_analysis a;
  rc = qa_load(h5, NULL, &a);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc == QS_OK) {
    check_summary(&a);
    qa_free(&a);
  }

  char args[600], *md = NULL, *err = NULL;
  snprintf(args, sizeof args, "'%s'", h5);
  rc = qa_run(exe, args, &md, &err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, err ? err : "");
  if (md) check_markdown(md);
  free(md);
  free(err);
  check_exports(exe, h5);
  return qs_test_finish("test_analysis_seed");
}
