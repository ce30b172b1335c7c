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

static void md_cell(FILE *out, const char *s) {
  fputs(" | ", out);
  if (s && *s)
    qa_md_text(out, s);
  else
    fputs(QA_DASH, out);
}

static void run_row(FILE *out, const char *field, const char *a, const char *b) {
  fputs("| ", out);
  fputs(field, out);
  md_cell(out, a);
  md_cell(out, b);
  fputs(" |\n", out);
}

int qa_write_compare_md(const qa_compare *c, FILE *out, const char *what) {
  char b1[NB], b2[NB], b3[NB], b4[NB], b5[NB];
  const qs_run_meta *A = &c->base.meta, *B = &c->new_.meta;
  errno = 0;
  fputs("# qsweep comparison\n\n| | Base | New |\n|---|---|---|\n", out);
  run_row(out, "Results file", c->base.path, c->new_.path);
  run_row(out, "Backend", A->backend, B->backend);
  run_row(out, "GPUs", A->gpu_names, B->gpu_names);
  run_row(out, "qsweep version", A->qsweep_version, B->qsweep_version);
  run_row(out, "git commit", A->git_commit, B->git_commit);
  run_row(out, "Started (UTC)", A->started_utc, B->started_utc);
  run_row(out, "Hosts", A->hostnames, B->hostnames);
  fputs("\nSpeedup = base median latency / new median latency: above 1 the new run is faster. "
        "**Faster** / **slower**: the 95% confidence intervals of the two medians do not overlap; "
        "**within noise**: they overlap.\n\n",
        out);
  fprintf(out, "## Summary\n\n- **Cells compared**: %d (ok in both runs)\n- **Only in base**: %d\n"
               "- **Only in new**: %d\n- **Not ok in one run**: %d\n\n",
          c->n_compared, c->only_base, c->only_new, c->not_ok);
  fputs("| Precision | Cells | Geometric mean speedup | Faster | Slower | Within noise | No CI |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n",
        out);
  for (int p = 0; p < c->n_precs; p++) {
    const qa_cmp_prec *P = &c->precs[p];
    fputs("| ", out);
    qa_md_text(out, P->name);
    fprintf(out, " | %d | %s | %d | %d | %d | %d |\n", P->n, qa_fmt_speedup(b1, sizeof b1, P->geo_speedup),
            P->faster, P->slower, P->same, P->no_ci);
  }
  if (c->n_precs == 0) fputs("| " QA_DASH " | 0 | " QA_DASH " | 0 | 0 | 0 | 0 |\n", out);
  fputs("\n## Cells\n\n| Model | Precision | Batch | tp | Base median (ms) | New median (ms) | Speedup | Verdict "
        "| Base peak (MB) | New peak (MB) |\n|---|---|---:|---:|---:|---:|---:|---|---:|---:|\n",
        out);
  for (int i = 0; i < c->n_cells; i++) {
    const qa_cmp_cell *x = &c->cells[i];
    if (x->verdict == QA_CMP_NONE) continue;
    fputs("| ", out);
    qa_md_text(out, x->base->model);
    fputs(" | ", out);
    qa_md_text(out, x->base->precision);
    fprintf(out, " | %d | %d | %s | %s | %s | %s | %s | %s |\n", (int)x->base->batch, (int)x->base->tp,
            qa_fmt_ms(b1, sizeof b1, x->base->lat_median_ms), qa_fmt_ms(b2, sizeof b2, x->new_->lat_median_ms),
            qa_fmt_speedup(b3, sizeof b3, x->speedup), verdict_name(x->verdict),
            qa_fmt(b4, sizeof b4, "%.1f", x->base->peak_mb), qa_fmt(b5, sizeof b5, "%.1f", x->new_->peak_mb));
  }
  if (c->only_base + c->only_new + c->not_ok > 0) {
    fputs("\n## Not compared\n\n", out);
    for (int i = 0; i < c->n_cells; i++) {
      const qa_cmp_cell *x = &c->cells[i];
      if (x->verdict != QA_CMP_NONE) continue;
      const qs_cell_result *r = x->base ? x->base : x->new_;
      fputs("- ", out);
      qa_md_text(out, r->model);
      fputs(" ", out);
      qa_md_text(out, r->precision);
      fprintf(out, ", batch %d, tp %d: ", (int)r->batch, (int)r->tp);
      if (!x->new_) fputs("only in base", out);
      else if (!x->base) fputs("only in new", out);
      else if (is_ok(x->base) && is_ok(x->new_)) {
        fputs("no median latency in one run", out);
      } else {
        const qs_cell_result *bad = !is_ok(x->base) ? x->base : x->new_;
        fprintf(out, "%s in %s", bad->status, bad == x->base ? "base" : "new");
        if (bad->message[0]) {
          fputs(" (", out);
          qa_md_text(out, bad->message);
          fputs(")", out);
        }
      }
      fputc('\n', out);
    }
  }
  if (ferror(out)) return qs_fail(QS_EIO, "%s: write failed: %s", what, strerror(errno ? errno : EIO));
  return QS_OK;
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
