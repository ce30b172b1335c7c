/* compare.c - two runs cell by cell: `qsweep-analyze --compare BASE.h5 NEW.h5`.
 *
 * Cells pair by key (model, precision, batch, tp). For a pair where both rows are ok
 * and have a median, speedup = base median / new median (> 1: NEW is faster). The
 * verdict uses the 95% confidence intervals of the two medians that the runner
 * recorded: NEW is faster (slower) when its interval lies wholly below (above) BASE's,
 * and within noise when they overlap. A pair without both intervals gets no verdict.
 * Per precision, the geometric mean of the speedups summarises the pairs. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "doc.h"
#include "qs_common.h"

#define NB 64

void qa_compare_free(qa_compare *c) {
  if (!c) return;
  qa_free(&c->base);
  qa_free(&c->new_);
  free(c->cells);
  free(c->precs);
  memset(c, 0, sizeof *c);
}

static int is_ok(const qs_cell_result *r) { return r && strcmp(r->status, "ok") == 0; }

static int key_cmp(const void *x, const void *y) {
  const qs_cell_result *a = *(const qs_cell_result *const *)x, *b = *(const qs_cell_result *const *)y;
  return strcmp(a->key, b->key);
}

static qa_cmp_verdict verdict_of(const qs_cell_result *b, const qs_cell_result *n) {
  if (!isfinite(b->lat_ci_lo_ms) || !isfinite(b->lat_ci_hi_ms) || !isfinite(n->lat_ci_lo_ms) ||
      !isfinite(n->lat_ci_hi_ms))
    return QA_CMP_NO_CI;
  if (n->lat_ci_hi_ms < b->lat_ci_lo_ms) return QA_CMP_FASTER;
  if (n->lat_ci_lo_ms > b->lat_ci_hi_ms) return QA_CMP_SLOWER;
  return QA_CMP_SAME;
}

static qa_cmp_prec *prec_slot(qa_compare *c, const char *name) {
  for (int p = 0; p < c->n_precs; p++)
    if (strcmp(c->precs[p].name, name) == 0) return &c->precs[p];
  qa_cmp_prec *P = &c->precs[c->n_precs++];
  memset(P, 0, sizeof *P);
  qs_strlcpy(P->name, name, sizeof P->name);
  return P;
}

static int prec_order(const void *x, const void *y) {
  const qa_cmp_prec *a = x, *b = y;
  int ra = qa_prec_rank(a->name), rb = qa_prec_rank(b->name);
  return ra != rb ? (ra > rb) - (ra < rb) : strcmp(a->name, b->name);
}

int qa_compare_load(const char *base, const char *new_, qa_compare *c) {
  memset(c, 0, sizeof *c);
  int rc = qa_load(base, NULL, &c->base);
  if (rc != QS_OK) return rc;
  if ((rc = qa_load(new_, NULL, &c->new_)) != QS_OK) {
    qa_free(&c->base);
    return rc;
  }
  const qa_analysis *A = &c->base, *B = &c->new_;
  const qs_cell_result **byk = NULL;
  char *used = NULL;
  size_t cap = (size_t)A->n_cells + (size_t)B->n_cells;
  c->cells = calloc(cap ? cap : 1, sizeof *c->cells);
  c->precs = calloc(cap ? cap : 1, sizeof *c->precs);
  byk = malloc(sizeof *byk * (B->n_cells ? (size_t)B->n_cells : 1));
  used = calloc(B->n_cells ? (size_t)B->n_cells : 1, 1);
  if (!c->cells || !c->precs || !byk || !used) {
    rc = qs_fail(QS_ENOMEM, "out of host memory");
    goto out;
  }
  for (int i = 0; i < B->n_cells; i++) byk[i] = B->cells[i].r;
  qsort(byk, (size_t)B->n_cells, sizeof *byk, key_cmp);
  /* BASE's cells in its order, each with NEW's cell of the same key; then NEW's others */
  for (int i = 0; i < A->n_cells; i++) {
    qa_cmp_cell *x = &c->cells[c->n_cells++];
    x->base = A->cells[i].r;
    const qs_cell_result *key = x->base;
    const qs_cell_result **hit = bsearch(&key, byk, (size_t)B->n_cells, sizeof *byk, key_cmp);
    if (hit) {
      x->new_ = *hit;
      used[hit - byk] = 1;
    }
  }
  for (int i = 0; i < B->n_cells; i++)
    if (!used[i]) c->cells[c->n_cells++].new_ = byk[i];
  for (int i = 0; i < c->n_cells; i++) {
    qa_cmp_cell *x = &c->cells[i];
    x->speedup = x->mem_ratio = NAN;
    x->verdict = QA_CMP_NONE;
    if (!x->base) {
      c->only_new++;
      continue;
    }
    if (!x->new_) {
      c->only_base++;
      continue;
    }
    if (!is_ok(x->base) || !is_ok(x->new_) || !(x->base->lat_median_ms > 0) || !(x->new_->lat_median_ms > 0)) {
      c->not_ok++;
      continue;
    }
    x->speedup = x->base->lat_median_ms / x->new_->lat_median_ms;
    if (x->base->peak_mb > 0 && isfinite(x->new_->peak_mb)) x->mem_ratio = x->new_->peak_mb / x->base->peak_mb;
    x->verdict = verdict_of(x->base, x->new_);
    c->n_compared++;
    qa_cmp_prec *P = prec_slot(c, x->base->precision);
    P->n++;
    P->geo_speedup += log(x->speedup); /* the sum of logs until the loop ends */
    if (x->verdict == QA_CMP_FASTER) P->faster++;
    else if (x->verdict == QA_CMP_SLOWER) P->slower++;
    else if (x->verdict == QA_CMP_SAME) P->same++;
    else P->no_ci++;
  }
  for (int p = 0; p < c->n_precs; p++)
    c->precs[p].geo_speedup = c->precs[p].n ? exp(c->precs[p].geo_speedup / c->precs[p].n) : NAN;
  qsort(c->precs, (size_t)c->n_precs, sizeof *c->precs, prec_order);
out:
  free(byk);
  free(used);
  if (rc != QS_OK) qa_compare_free(c);
  return rc;
}

static const char *verdict_name(qa_cmp_verdict v) {
  switch (v) {
    case QA_CMP_FASTER: return "faster";
    case QA_CMP_SLOWER: return "slower";
    case QA_CMP_SAME: return "within noise";
    case QA_CMP_NO_CI: return "no CI";
    default: return "";
  }
}

static void run_row(qa_doc *d, const char *field, const char *a, const char *b) {
  doc_row_begin(d);
  doc_cell(d, field);
  doc_cell(d, a);
  doc_cell(d, b);
  doc_row_end(d);
}

/* "- **label**: n" */
static void count_item(qa_doc *d, const char *label, const char *what, int n) {
  doc_item_begin(d, 0);
  doc_strong(d, label);
  doc_textf(d, ": %d%s", n, what);
  doc_item_end(d);
}

void qa_compare_sections(const qa_compare *c, qa_doc *d) {
  static const char *const run_heads[3] = {"", "Base", "New"};
  static const char *const prec_heads[7] = {"Precision", "Cells", "Geometric mean speedup", "Faster",
                                            "Slower", "Within noise", "No CI"};
  static const char *const cell_heads[10] = {"Model", "Precision", "Batch", "tp", "Base median (ms)",
                                             "New median (ms)", "Speedup", "Verdict", "Base peak (MB)",
                                             "New peak (MB)"};
  char b1[NB], b2[NB], b3[NB], b4[NB], b5[NB];
  const qs_run_meta *A = &c->base.meta, *B = &c->new_.meta;
  doc_table_begin(d, "table-runs", 3, run_heads, "lll");
  run_row(d, "Results file", c->base.path, c->new_.path);
  run_row(d, "Backend", A->backend, B->backend);
  run_row(d, "GPUs", A->gpu_names, B->gpu_names);
  run_row(d, "qsweep version", A->qsweep_version, B->qsweep_version);
  run_row(d, "git commit", A->git_commit, B->git_commit);
  run_row(d, "Started (UTC)", A->started_utc, B->started_utc);
  run_row(d, "Hosts", A->hostnames, B->hostnames);
  doc_table_end(d);
  doc_para_begin(d);
  doc_text(d, "Speedup = base median latency / new median latency: above 1 the new run is faster. ");
  doc_strong(d, "Faster");
  doc_text(d, " / ");
  doc_strong(d, "slower");
  doc_text(d, ": the 95% confidence intervals of the two medians do not overlap; ");
  doc_strong(d, "within noise");
  doc_text(d, ": they overlap.");
  doc_para_end(d);
  doc_heading(d, 2, "summary", "Summary");
  doc_list_begin(d, 0, "summary-list");
  count_item(d, "Cells compared", " (ok in both runs)", c->n_compared);
  count_item(d, "Only in base", "", c->only_base);
  count_item(d, "Only in new", "", c->only_new);
  count_item(d, "Not ok in one run", "", c->not_ok);
  doc_list_end(d, 0);
  doc_table_begin(d, "table-precisions", 7, prec_heads, "lrrrrrr");
  for (int p = 0; p < c->n_precs; p++) {
    const qa_cmp_prec *P = &c->precs[p];
    doc_row_begin(d);
    doc_cell(d, P->name);
    doc_cellf(d, "%d", P->n);
    doc_cell(d, qa_fmt_speedup(b1, sizeof b1, P->geo_speedup));
    doc_cellf(d, "%d", P->faster);
    doc_cellf(d, "%d", P->slower);
    doc_cellf(d, "%d", P->same);
    doc_cellf(d, "%d", P->no_ci);
    doc_row_end(d);
  }
  if (c->n_precs == 0) {
    static const char *const none[7] = {QA_DASH, "0", QA_DASH, "0", "0", "0", "0"};
    doc_row_begin(d);
    for (int k = 0; k < 7; k++) doc_cell(d, none[k]);
    doc_row_end(d);
  }
  doc_table_end(d);
  doc_heading(d, 2, "cells", "Cells");
  doc_table_begin(d, "table-cells", 10, cell_heads, "llrrrrrlrr");
  for (int i = 0; i < c->n_cells; i++) {
    const qa_cmp_cell *x = &c->cells[i];
    if (x->verdict == QA_CMP_NONE) continue;
    doc_row_begin(d);
    doc_cell(d, x->base->model);
    doc_cell(d, x->base->precision);
    doc_cellf(d, "%d", (int)x->base->batch);
    doc_cellf(d, "%d", (int)x->base->tp);
    doc_cell(d, qa_fmt_ms(b1, sizeof b1, x->base->lat_median_ms));
    doc_cell(d, qa_fmt_ms(b2, sizeof b2, x->new_->lat_median_ms));
    doc_cell(d, qa_fmt_speedup(b3, sizeof b3, x->speedup));
    doc_cell(d, verdict_name(x->verdict));
    doc_cell(d, qa_fmt(b4, sizeof b4, "%.1f", x->base->peak_mb));
    doc_cell(d, qa_fmt(b5, sizeof b5, "%.1f", x->new_->peak_mb));
    doc_row_end(d);
  }
  doc_table_end(d);
  if (c->only_base + c->only_new + c->not_ok == 0) return;
  doc_heading(d, 2, "not-compared", "Not compared");
  doc_list_begin(d, 0, "not-compared-list");
  for (int i = 0; i < c->n_cells; i++) {
    const qa_cmp_cell *x = &c->cells[i];
    if (x->verdict != QA_CMP_NONE) continue;
    const qs_cell_result *r = x->base ? x->base : x->new_;
    doc_item_begin(d, 0);
    doc_text(d, r->model);
    doc_text(d, " ");
    doc_text(d, r->precision);
    doc_textf(d, ", batch %d, tp %d: ", (int)r->batch, (int)r->tp);
    if (!x->new_) {
      doc_text(d, "only in base");
    } else if (!x->base) {
      doc_text(d, "only in new");
    } else if (is_ok(x->base) && is_ok(x->new_)) {
      doc_text(d, "no median latency in one run");
    } else {
      const qs_cell_result *bad = !is_ok(x->base) ? x->base : x->new_;
      doc_textf(d, "%s in %s", bad->status, bad == x->base ? "base" : "new");
      if (bad->message[0]) {
        doc_text(d, " (");
        doc_text(d, bad->message);
        doc_text(d, ")");
      }
    }
    doc_item_end(d);
  }
  doc_list_end(d, 0);
}

static int finish(FILE *out, const char *what) {
  if (ferror(out)) return qs_fail(QS_EIO, "%s: write failed: %s", what, strerror(errno ? errno : EIO));
  return QS_OK;
}

int qa_write_compare_md(const qa_compare *c, FILE *out, const char *what) {
  qa_doc d = {.out = out, .kind = QA_DOC_MD};
  errno = 0;
  fputs("# qsweep comparison\n\n", out);
  qa_compare_sections(c, &d);
  return finish(out, what);
}

int qa_write_compare_html(const qa_compare *c, FILE *out, const char *what) {
  qa_doc d = {.out = out, .kind = QA_DOC_HTML};
  errno = 0;
  qa_html_page_begin(out, "qsweep comparison");
  fputs("<h1 id=\"top\">qsweep comparison</h1>\n<p class=\"sub\">", out);
  qa_html_text(out, c->base.path);
  fputs(" (base) vs ", out);
  qa_html_text(out, c->new_.path);
  fputs(" (new)</p>\n", out);
  qa_compare_sections(c, &d);
  qa_html_page_end(out);
  return finish(out, what);
}

int qa_write_compare_csv(const qa_compare *c, FILE *out, const char *what) {
  errno = 0;
  fputs("key,model,precision,batch,tp,base_status,new_status,base_median_ms,new_median_ms,base_ci_lo_ms,"
        "base_ci_hi_ms,new_ci_lo_ms,new_ci_hi_ms,speedup,verdict,base_peak_mb,new_peak_mb,memory_ratio\r\n",
        out);
  for (int i = 0; i < c->n_cells; i++) {
    const qa_cmp_cell *x = &c->cells[i];
    const qs_cell_result *r = x->base ? x->base : x->new_, *b = x->base, *n = x->new_;
    qa_csv_str(out, r->key);
    fputc(',', out);
    qa_csv_str(out, r->model);
    fputc(',', out);
    qa_csv_str(out, r->precision);
    fprintf(out, ",%d,%d,", (int)r->batch, (int)r->tp);
    qa_csv_str(out, b ? b->status : "");
    fputc(',', out);
    qa_csv_str(out, n ? n->status : "");
    const double v[] = {b ? b->lat_median_ms : NAN, n ? n->lat_median_ms : NAN, b ? b->lat_ci_lo_ms : NAN,
                        b ? b->lat_ci_hi_ms : NAN, n ? n->lat_ci_lo_ms : NAN, n ? n->lat_ci_hi_ms : NAN,
                        x->speedup};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
      fputc(',', out);
      qa_csv_dbl(out, v[k]);
    }
    fputc(',', out);
    qa_csv_str(out, verdict_name(x->verdict));
    const double m[] = {b ? b->peak_mb : NAN, n ? n->peak_mb : NAN, x->mem_ratio};
    for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
      fputc(',', out);
      qa_csv_dbl(out, m[k]);
    }
    fputs("\r\n", out);
  }
  if (ferror(out)) return qs_fail(QS_EIO, "%s: write failed: %s", what, strerror(errno ? errno : EIO));
  return QS_OK;
}
