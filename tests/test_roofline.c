/* test_roofline.c - the roofline figures on a synthetic run: rows with known FLOPs,
 * latency, weight and activation bytes and a calibration with known ceilings give
 * known achieved rates, shares of the ceiling, bytes moved, intensities and roofs,
 * in memory (qa_attach_calibration), through a results file (qa_load), and in what
 * qsweep-analyze writes (CSV, JSON, markdown, HTML with the roofline chart). The
 * activation estimate (qs_act_bytes) is checked against a hand count of one ViT. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "analysis/test_util.h"
#include "arch.h"
#include "cost.h"
#include "zoo.h"
#include "qs_common.h"
#include "qs_test.h"
#include "results.h"

typedef struct {
  const char *model, *prec, *device, *status;
  int batch, tp, rank;
  double gflops, lat_ms, weight_mb, act_mb;
  /* expected */
  double tflops, bytes_mb, ai, ceiling, pct, roof;
} synth;

#define NO NAN
/* calibration of rank 0 on "GPU-A": copy 2000 GB/s, fp32 50, fp16 400, bf16 400 TFLOP/s,
 * int8 800 tera-ops/s, fp8 unsupported */
static const synth k_cells[] = {
    /* 10 GFLOPs x 8 / 1 ms = 80 TFLOP/s; 160 MB; 80e9 / 160e6 = 500 FLOP/B; 80 / 400 = 20 %;
     * roof min(400, 500 x 2000 / 1000) = 400 */
    {"m1", "fp16", "GPU-A", "ok", 8, 1, 0, 10, 1.0, 100, 60, 80, 160, 500, 400, 20, 400},
    /* 5 TFLOP/s; 240 MB; 41.667 FLOP/B; 10 % of 50; roof min(50, 83.3) = 50 */
    {"m1", "fp32", "GPU-A", "ok", 1, 1, 0, 10, 2.0, 200, 40, 5, 240, 10e9 / 240e6, 50, 10, 50},
    /* memory bound: 1 TFLOP/s at 1 FLOP/B: roof min(400, 2) = 2 TFLOP/s, 0.25 % of 400 */
    {"m2", "bf16", "GPU-A", "ok", 1, 1, 0, 1, 1.0, 900, 100, 1, 1000, 1, 400, 0.25, 2},
    /* nf4 runs fp16 GEMMs: the fp16 ceiling; 4 x 2 / 0.5 = 16 TFLOP/s, 4 % */
    {"m2", "nf4", "GPU-A", "ok", 4, 1, 0, 2, 0.5, 30, 10, 16, 40, 8e9 / 40e6, 400, 4, 400},
    /* int8dyn: the int8 ceiling, 40 / 800 = 5 % */
    {"m2", "int8dyn", "GPU-A", "ok", 4, 1, 0, 10, 1.0, 50, 30, 40, 80, 500, 800, 5, 800},
    /* fp8 measured "unsupported": the achieved rate, no ceiling */
    {"m2", "fp8", "GPU-A", "ok", 2, 1, 0, 5, 1.0, 40, 10, 10, 50, 200, NO, NO, NO},
    /* another device: no calibration of it */
    {"m3", "fp16", "GPU-B", "ok", 1, 1, 1, 3, 1.0, 10, 5, 3, 15, 200, NO, NO, NO},
    /* tensor parallel: no single device's roofline */
    {"m3", "fp16", "GPU-A", "ok", 2, 2, 0, 3, 1.0, 10, NO, NO, NO, NO, NO, NO, NO},
    /* failed: nothing */
    {"m3", "fp32", "GPU-A", "failed", 1, 1, 0, 3, NO, NO, NO, NO, NO, NO, NO, NO, NO},
    /* a file from before act_mb: the achieved rate and its share, no bytes or intensity */
    {"m4", "fp16", "GPU-A", "ok", 1, 1, 0, 4, 1.0, 10, NO, 4, NO, NO, 400, 1, NO},
};
#define N_CELLS ((int)(sizeof k_cells / sizeof k_cells[0]))

static void make_rows(qs_cell_result **rows) {
  *rows = calloc(N_CELLS, sizeof **rows);
  for (int i = 0; i < N_CELLS; i++) {
    const synth *s = &k_cells[i];
    qs_cell_result *r = &(*rows)[i];
    qs_cell_result_init(r);
    snprintf(r->model, sizeof r->model, "%s", s->model);
    snprintf(r->precision, sizeof r->precision, "%s", s->prec);
    snprintf(r->device, sizeof r->device, "%s", s->device);
    snprintf(r->status, sizeof r->status, "%s", s->status);
    snprintf(r->backend, sizeof r->backend, "cuda");
    snprintf(r->host, sizeof r->host, "node0");
    snprintf(r->category, sizeof r->category, "Synthetic");
    r->batch = s->batch;
    r->tp = s->tp;
    r->rank = s->rank;
    qs_results_key(r->model, r->precision, r->batch, r->tp, r->key, sizeof r->key);
    r->gflops = s->gflops;
    r->lat_median_ms = s->lat_ms;
    r->weight_mb = s->weight_mb;
    r->act_mb = s->act_mb;
    r->throughput_ips = s->batch / s->lat_ms * 1e3;
  }
}

static void make_calibration(qs_calibration *c) {
  static const struct {
    const char *name, *kind, *prec, *status, *unit;
    double v;
  } k[] = {{"copy_d2d", "bandwidth", "", "ok", "GB/s", 2000},   {"gemm_fp32", "gemm", "fp32", "ok", "TFLOP/s", 50},
           {"gemm_fp16", "gemm", "fp16", "ok", "TFLOP/s", 400}, {"gemm_bf16", "gemm", "bf16", "ok", "TFLOP/s", 400},
           {"gemm_int8", "gemm", "int8", "ok", "TFLOP/s", 800}, {"gemm_fp8", "gemm", "fp8", "unsupported", "TFLOP/s", NO}};
  memset(c, 0, sizeof *c);
  c->rank = 0;
  c->device_index = 0;
  snprintf(c->host, sizeof c->host, "node0");
  snprintf(c->device, sizeof c->device, "GPU-A");
  snprintf(c->backend, sizeof c->backend, "cuda");
  snprintf(c->measured_utc, sizeof c->measured_utc, "2025-01-01T00:00:00Z");
  c->n_entries = 6;
  for (int i = 0; i < 6; i++) {
    qs_calib_entry *e = &c->e[i];
    snprintf(e->name, sizeof e->name, "%s", k[i].name);
    snprintf(e->kind, sizeof e->kind, "%s", k[i].kind);
    snprintf(e->precision, sizeof e->precision, "%s", k[i].prec);
    snprintf(e->status, sizeof e->status, "%s", k[i].status);
    snprintf(e->unit, sizeof e->unit, "%s", k[i].unit);
    e->value = e->best = k[i].v;
    e->median_ms = e->min_ms = 1;
    e->m = e->n = e->k = i ? 8192 : 0;
    e->reps = 10;
    snprintf(e->method, sizeof e->method, "synthetic");
  }
}

/* |got - want| <= 1e-9 relative, or both NaN */
static int same(double got, double want) {
  if (isnan(want)) return isnan(got);
  return fabs(got - want) <= 1e-9 * fabs(want) + 1e-12;
}

static void check_cells(const qa_analysis *a, const char *how) {
  CHECK(a->n_cells == N_CELLS);
  for (int i = 0; i < N_CELLS; i++) {
    const synth *s = &k_cells[i];
    const qa_cell *c = NULL;
    char key[QS_KEY_MAX];
    qs_results_key(s->model, s->prec, s->batch, s->tp, key, sizeof key);
    for (int j = 0; j < a->n_cells; j++)
      if (!strcmp(a->cells[j].r->key, key)) c = &a->cells[j];
    CHECK_MSG(c != NULL, "%s: %s missing", how, key);
    if (!c) continue;
    CHECK_MSG(same(c->achieved_tflops, s->tflops), "%s: %s: achieved %.9g, want %.9g", how, key, c->achieved_tflops,
              s->tflops);
    CHECK_MSG(same(c->bytes_moved_mb, s->bytes_mb), "%s: %s: bytes %.9g, want %.9g", how, key, c->bytes_moved_mb,
              s->bytes_mb);
    CHECK_MSG(same(c->arith_intensity, s->ai), "%s: %s: intensity %.9g, want %.9g", how, key, c->arith_intensity,
              s->ai);
    CHECK_MSG(same(c->ceiling_tflops, s->ceiling), "%s: %s: ceiling %.9g, want %.9g", how, key, c->ceiling_tflops,
              s->ceiling);
    CHECK_MSG(same(c->ceiling_pct, s->pct), "%s: %s: pct %.9g, want %.9g", how, key, c->ceiling_pct, s->pct);
    CHECK_MSG(same(c->roof_tflops, s->roof), "%s: %s: roof %.9g, want %.9g", how, key, c->roof_tflops, s->roof);
  }
}

static void test_in_memory(void) {
  qs_cell_result *rows;
  make_rows(&rows);
  qs_run_meta meta;
  memset(&meta, 0, sizeof meta);
  qa_analysis a;
  CHECK_MSG(qa_analyze("synthetic", rows, N_CELLS, &meta, NULL, &a) == QS_OK, "%s", qs_last_error());
  /* no calibration: rates and intensities, no ceilings */
  CHECK(a.n_calib == 0 && qa_any_roofline(&a) && !qa_any_ceiling(&a));
  for (int i = 0; i < a.n_cells; i++) CHECK(isnan(a.cells[i].ceiling_pct) && isnan(a.cells[i].roof_tflops));
  qs_calibration *cal = malloc(sizeof *cal);
  make_calibration(cal);
  CHECK(qa_attach_calibration(&a, cal, 1) == QS_OK);
  CHECK(qa_any_ceiling(&a));
  check_cells(&a, "in memory");
  qa_free(&a);
}

static const char *write_file(void) {
  static char path[512];
  snprintf(path, sizeof path, "%s", qa_tpath("roofline.h5"));
  qs_run_meta meta;
  memset(&meta, 0, sizeof meta);
  snprintf(meta.backend, sizeof meta.backend, "cuda");
  meta.gpu_names = "GPU-A,GPU-B";
  qs_results *f = NULL;
  CHECK_MSG(qs_results_create(path, &meta, 1, &f) == QS_OK, "%s", qs_last_error());
  qs_cell_result *rows;
  make_rows(&rows);
  CHECK(qs_results_append_many(f, rows, N_CELLS) == QS_OK);
  qs_results_free_rows(rows, N_CELLS);
  qs_calibration cal;
  make_calibration(&cal);
  CHECK_MSG(qs_results_put_calibration(f, &cal) == QS_OK, "%s", qs_last_error());
  CHECK(qs_results_close(f) == QS_OK);
  return path;
}

static void test_file(const char *analyze) {
  const char *path = write_file();
  qa_analysis a;
  CHECK_MSG(qa_load(path, NULL, &a) == QS_OK, "%s", qs_last_error());
  CHECK(a.n_calib == 1 && !strcmp(a.calib[0].device, "GPU-A"));
  check_cells(&a, "from the file");
  qa_free(&a);

  char args[4096], *out = NULL, *err = NULL;
  char csv[512], json[512], md[512], html[512];
  snprintf(csv, sizeof csv, "%s", qa_tpath("r.csv"));
  snprintf(json, sizeof json, "%s", qa_tpath("r.json"));
  snprintf(md, sizeof md, "%s", qa_tpath("r.md"));
  snprintf(html, sizeof html, "%s", qa_tpath("r.html"));
  snprintf(args, sizeof args, "'%s' --csv '%s' --json '%s' --report '%s' --html '%s'", path, csv, json, md, html);
  int rc = qa_run(analyze, args, &out, &err);
  CHECK_MSG(rc == 0, "qsweep-analyze exit %d: %s", rc, err ? err : "");
  free(out);
  free(err);
  char *t = qa_slurp(csv);
  CHECK(t && qa_contains(t, ",achieved_tflops,bytes_moved_mb,arith_intensity,ceiling_tflops,ceiling_pct,roof_tflops\r\n"));
  /* m1 fp16 b8: 80 TFLOP/s, 160 MB, 500 FLOP/B, ceiling 400, 20 %, roof 400 */
  CHECK_MSG(t && qa_contains(t, ",80,160,500,400,20,400\r\n"), "cells.csv lacks m1 fp16's roofline");
  /* m3 fp16 b1 on GPU-B: no ceiling (empty, never a placeholder) */
  CHECK_MSG(t && qa_contains(t, ",3,15,200,,,\r\n"), "cells.csv: GPU-B cell");
  free(t);
  t = qa_slurp(json);
  CHECK(t && qa_contains(t, "\"ceiling_pct\":\t20,") && qa_contains(t, "\"calibration\":\t[{"));
  CHECK(t && qa_contains(t, "\"name\":\t\"gemm_fp8\"") && qa_contains(t, "\"status\":\t\"unsupported\""));
  free(t);
  t = qa_slurp(md);
  CHECK(t && qa_contains(t, "| m1 | fp16 | 8 | 80.00 | 400.0 | 20.0% | 160.0 | 500.0 | 400.0 |"));
  CHECK(t && qa_contains(t, "| m2 | bf16 | 1 | 1.00 | 400.0 | 0.2% | 1000.0 | 1.0 | 2.0 |"));
  CHECK(t && qa_contains(t, "| 0 | GPU-A | gemm_fp16 | ok | 400.0 | 400.0 | TFLOP/s | 8192 x 8192 x 8192 | synthetic |"));
  free(t);
  t = qa_slurp(html);
  CHECK(t && qa_contains(t, "id=\"chart-roofline\"") && qa_contains(t, "id=\"table-calibration\"") &&
        qa_contains(t, "id=\"table-roofline\""));
  /* one roof per measured GEMM (fp8 unsupported: none), the bandwidth slope */
  int roofs = 0;
  for (const char *p = t; p && (p = strstr(p, "<line class=\"roof\" ")); p++) roofs++;
  CHECK_MSG(roofs == 4, "%d roofs, expected 4 (fp32 fp16 bf16 int8)", roofs);
  CHECK(t && qa_contains(t, "data-precision=\"fp16\" data-tflops=\"400\"") && qa_contains(t, "data-bandwidth-gbs=\"2000\"") &&
        qa_contains(t, "class=\"roof-bandwidth\""));
  /* points: the 8 single-device cells with a rate and an intensity (not the tp, failed or no-act_mb ones) */
  const char *pts = t ? strstr(t, "<g class=\"points\">") : NULL;
  int n_pts = 0;
  for (const char *p = pts; p && (p = strstr(p + 1, "<title>")) && p < strstr(pts, "</g>");) n_pts++;
  CHECK_MSG(n_pts == 7, "%d points, expected 7", n_pts);
  CHECK(t && qa_contains(t, "m1 fp16 b8: 80 TFLOP/s at 500 FLOP/B, 20.0% of the fp16 ceiling"));
  free(t);
}

/* The activation estimate of one ViT by hand: ViT-B/16 at 224, fp16, batch 2. */
static void test_act_bytes(void) {
  qs_arch a;
  CHECK_MSG(qs_zoo_lookup(QS_SOURCE_DIR "/sweep/models.json", "vit-base-224-production", &a) == QS_OK, "%s",
            qs_last_error());
  CHECK(qs_arch_tokens(&a) == 197 && a.hidden == 768 && a.mlp == 3072 && a.layers == 12);
  /* elements per image: the image 3 x 150528 (read, patches written and read), the patch
   * embeddings 2 x 196 x 768, the tokens 197 x 768, 12 blocks of 197 x (20 x 768 + 4 x 3072),
   * the final layernorm 2 x 197 x 768 */
  const double img = 3.0 * 224 * 224;
  const double elems = 3 * img + 2 * 196 * 768.0 + 197 * 768.0 + 12 * 197 * (20 * 768.0 + 4 * 3072.0) + 2 * 197 * 768.0;
  double qin = -1;
  CHECK_CLOSE(qs_arch_act_elems(&a, &qin), elems, 0, 1e-12);
  CHECK_CLOSE(qin, 12 * 197 * (3 * 768.0 + 3072.0), 0, 1e-12);
  /* fp16: 2 bytes an element, the image once at 4 */
  CHECK_CLOSE(qs_act_bytes(&a, QS_PREC_FP16, 2), 2 * ((elems - img) * 2 + img * 4), 0, 1e-12);
  CHECK_CLOSE(qs_act_bytes(&a, QS_PREC_FP32, 1), elems * 4, 0, 1e-12);
  /* int8 quantizes the encoder Linears' inputs: one byte written and one read more each */
  CHECK_CLOSE(qs_act_bytes(&a, QS_PREC_INT8, 2) - qs_act_bytes(&a, QS_PREC_FP16, 2), 2 * 2 * qin, 0, 1e-12);
  CHECK_CLOSE(qs_act_bytes(&a, QS_PREC_NF4, 2), qs_act_bytes(&a, QS_PREC_FP16, 2), 0, 0);
  CHECK(qs_act_bytes(&a, QS_PREC_FP16, 0) == 0);
  /* MobileViT has an estimate too */
  CHECK(qs_zoo_lookup(QS_SOURCE_DIR "/sweep/models.json", "mobilevit-xxs-edge", &a) == QS_OK);
  CHECK(qs_act_bytes(&a, QS_PREC_FP16, 1) > 1e6);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_roofline QSWEEP_ANALYZE\n");
    return 2;
  }
  test_in_memory();
  test_file(argv[1]);
  test_act_bytes();
  return qs_test_finish("test_roofline");
}
