/* report_md.c - the report's sections, written once through doc.h (markdown here, HTML
 * in report_html.c): run metadata, overview, key insights, category summaries and
 * leaders, method analysis, per-batch tables, architecture summary, failed cells,
 * chart links (markdown) or inline charts (HTML), notes. Every number that was not
 * measured prints as a dash. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "doc.h"
#include "qs_common.h"

#define NB 64 /* scratch size for one formatted number */

/* Text inside a table cell or a line: '|' escaped, line breaks flattened, '<' and '&'
 * as entities so that a model name or a message cannot start HTML. */
void qa_md_text(FILE *out, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
      case '|': fputs("\\|", out); break;
      case '<': fputs("&lt;", out); break;
      case '>': fputs("&gt;", out); break;
      case '&': fputs("&amp;", out); break;
      case '\n':
      case '\r':
      case '\t': fputc(' ', out); break;
      default: fputc(*s, out);
    }
  }
}

static const char *baseline_label(const qa_analysis *a) { return a->baseline_name; }

/* "batch size 8" or "batch size 8, tp 2" when the sweep has tensor-parallel cells. */
static void group_title(const qa_analysis *a, int g, char *buf, size_t cap) {
  int any_tp = 0;
  for (int k = 0; k < a->n_groups; k++) any_tp |= a->groups[k].tp != 1;
  if (any_tp)
    snprintf(buf, cap, "batch size %d, tensor parallel %d", a->groups[g].batch, a->groups[g].tp);
  else
    snprintf(buf, cap, "batch size %d", a->groups[g].batch);
}

/* "table-latency-b8": the id of a per-group element */
static const char *group_elem_id(const qa_analysis *a, const char *what, int g, char *buf, size_t cap) {
  char gid[48];
  doc_group_id(a, g, gid, sizeof gid);
  snprintf(buf, cap, "%s-%s", what, gid);
  return buf;
}

static void meta_row(qa_doc *d, const char *field, const char *value) {
  doc_row_begin(d);
  doc_cell(d, field);
  doc_cell(d, value);
  doc_row_end(d);
}

static const char *const k_field_value[2] = {"Field", "Value"};

/* Several files: the machine once (they share backend and GPUs), then one row per file. */
static void write_sources(const qa_analysis *a, qa_doc *d) {
  static const char *const heads[10] = {"#", "Results file", "Rows", "Started (UTC)", "Finished (UTC)",
                                        "qsweep", "git commit", "World size", "Hosts", "Sweep hash"};
  const qs_run_meta *m0 = &a->meta;
  doc_heading(d, 2, "runs", "Runs");
  doc_para(d, "%d results files of one machine make this report; a cell in a later file replaces the "
              "same cell of an earlier one.", a->n_sources);
  doc_table_begin(d, "table-run", 2, k_field_value, "ll");
  meta_row(d, "Backend", m0->backend);
  meta_row(d, "GPUs", m0->gpu_names);
  doc_table_end(d);
  doc_table_begin(d, "table-sources", 10, heads, "rlrllllrll");
  for (int i = 0; i < a->n_sources; i++) {
    const qs_run_meta *m = qa_source_meta(a, i);
    doc_row_begin(d);
    doc_cellf(d, "%d", i + 1);
    doc_cell(d, a->sources[i].path);
    doc_cellf(d, "%d", a->sources[i].n_rows);
    doc_cell(d, m->started_utc);
    doc_cell(d, m->finished_utc);
    doc_cell(d, m->qsweep_version);
    doc_cell(d, m->git_commit);
    if (m->world_size > 0)
      doc_cellf(d, "%d", (int)m->world_size);
    else
      doc_cell(d, QA_DASH);
    doc_cell(d, m->hostnames);
    doc_cell(d, m->sweep_hash);
    doc_row_end(d);
  }
  doc_table_end(d);
  doc_para(d, "Command lines:");
  doc_list_begin(d, 1, "command-lines");
  for (int i = 0; i < a->n_sources; i++) {
    doc_item_begin(d, 1);
    doc_code(d, qa_source_meta(a, i)->command_line);
    doc_item_end(d);
  }
  doc_list_end(d, 1);
}

static void write_run(const qa_analysis *a, qa_doc *d) {
  if (a->n_sources > 1) {
    write_sources(a, d);
    return;
  }
  const qs_run_meta *m = &a->meta;
  char ws[32] = "";
  if (m->world_size > 0) snprintf(ws, sizeof ws, "%d", (int)m->world_size);
  doc_heading(d, 2, "run", "Run");
  doc_table_begin(d, "table-run", 2, k_field_value, "ll");
  meta_row(d, "Results file", a->path);
  meta_row(d, "qsweep version", m->qsweep_version);
  meta_row(d, "git commit", m->git_commit);
  meta_row(d, "Started (UTC)", m->started_utc);
  meta_row(d, "Finished (UTC)", m->finished_utc);
  meta_row(d, "Backend", m->backend);
  meta_row(d, "GPUs", m->gpu_names);
  meta_row(d, "Driver", m->driver_version);
  meta_row(d, "CUDA", m->cuda_version);
  meta_row(d, "NCCL", m->nccl_version);
  meta_row(d, "MPI library", m->mpi_library);
  meta_row(d, "World size", ws);
  meta_row(d, "Hosts", m->hostnames);
  meta_row(d, "Sweep hash", m->sweep_hash);
  doc_row_begin(d);
  doc_cell(d, "Command line");
  doc_cell_begin(d);
  doc_code(d, m->command_line);
  doc_cell_end(d);
  doc_row_end(d);
  doc_table_end(d);
}

/* "- **label**: " */
static void item_label(qa_doc *d, const char *label) {
  doc_item_begin(d, 0);
  doc_strong(d, label);
  doc_text(d, ": ");
}

static void write_overview(const qa_analysis *a, qa_doc *d) {
  doc_heading(d, 2, "overview", "Experiment overview");
  doc_list_begin(d, 0, "overview-list");
  item_label(d, "Models tested");
  doc_textf(d, "%d", a->n_models);
  doc_item_end(d);
  item_label(d, "Precisions");
  doc_textf(d, "%d (", a->n_precs);
  for (int p = 0; p < a->n_precs; p++) {
    doc_text(d, p ? ", " : "");
    doc_text(d, a->precs[p].name);
  }
  doc_text(d, ")");
  doc_item_end(d);
  item_label(d, "Batch sizes");
  for (int g = 0; g < a->n_groups; g++) {
    if (g > 0 && a->groups[g].batch == a->groups[g - 1].batch) continue;
    doc_textf(d, "%s%d", g ? ", " : "", a->groups[g].batch);
  }
  if (a->n_groups == 0) doc_text(d, QA_DASH);
  doc_item_end(d);
  item_label(d, "Cells");
  doc_textf(d, "%d", a->n_cells);
  doc_item_end(d);
  item_label(d, "Successful cells");
  doc_textf(d, "%d", a->n_ok);
  doc_item_end(d);
  item_label(d, "Failed cells");
  doc_textf(d, "%d", a->n_bad);
  if (a->n_bad > 0) { /* by status: a timeout is not a crash */
    char by[256];
    qa_bad_status_summary(a, by, sizeof by);
    doc_textf(d, " (%s)", by);
  }
  doc_item_end(d);
  item_label(d, "Success rate");
  char b[NB];
  doc_text(d, qa_fmt_pct(b, NB, a->n_cells > 0 ? 100.0 * a->n_ok / a->n_cells : NAN));
  doc_item_end(d);
  item_label(d, "Baseline");
  doc_text(d, baseline_label(a));
  if (a->baseline < 0) doc_text(d, " (no cell of this precision: no speedups)");
  doc_item_end(d);
  if (a->n_superseded > 0) {
    item_label(d, "Superseded rows");
    doc_textf(d,
              "%d (earlier attempts of cells that were retried%s; the last attempt of each cell "
              "counts)",
              a->n_superseded, a->n_sources > 1 ? ", or measured again in a later file" : "");
    doc_item_end(d);
  }
  doc_list_end(d, 0);
}

/* Models with no speedup at the summary group for any non-baseline precision although
 * they have successful cells there; their names into d when it is not NULL. */
static int models_without_baseline(const qa_analysis *a, qa_doc *d) {
  int n = 0;
  for (int m = 0; m < a->n_models && a->summary >= 0; m++) {
    int b = qa_cell_at(a, a->summary, m, a->baseline);
    if (b >= 0 && a->cells[b].ok) continue;
    int any_ok = 0;
    for (int p = 0; p < a->n_precs; p++) {
      int c = qa_cell_at(a, a->summary, m, p);
      any_ok |= c >= 0 && a->cells[c].ok;
    }
    if (!any_ok) continue;
    if (d) {
      doc_text(d, n ? ", " : "");
      doc_text(d, a->models[m].name);
    }
    n++;
  }
  return n;
}

/* "44.5%" or "50.0% (from weight bytes)" */
static const char *fmt_mem(char *buf, size_t cap, double pct, int n, int n_weights) {
  char v[NB];
  const char *note = qa_mem_basis_note(n, n_weights);
  qa_fmt_pct(v, sizeof v, pct);
  if (*note && isfinite(pct))
    snprintf(buf, cap, "%s (%s)", v, note);
  else
    snprintf(buf, cap, "%s", v);
  return buf;
}

static void write_insights(const qa_analysis *a, qa_doc *d) {
  char b1[NB], b2[2 * NB], gt[96] = "";
  if (a->summary >= 0) group_title(a, a->summary, gt, sizeof gt);
  doc_heading(d, 2, "key-insights", "Key insights");
  doc_para_begin(d);
  doc_textf(d,
            "Speedup = median latency of %s / median latency of the precision (same model and "
            "batch size); memory reduction = 100 x (1 - peak / peak of %s). Averages are means "
            "over models at %s; failed cells and models without a successful %s cell are left "
            "out.",
            baseline_label(a), baseline_label(a), a->summary >= 0 ? gt : QA_DASH,
            baseline_label(a));
  if (qa_any_mem_weights(a))
    doc_textf(d,
              " Where neither cell records a peak (a backend without a peak-memory counter, such "
              "as the CPU backend), memory reduction = 100 x (1 - weight bytes / weight bytes of "
              "%s), from the measured weight bytes, and marked \"from weight bytes\".",
              baseline_label(a));
  doc_para_end(d);
  doc_heading(d, 3, "performance-summary", "Performance summary");
  doc_list_begin(d, 0, "performance-list");
  int any = 0;
  for (int p = 0; p < a->n_precs; p++) {
    if (p == a->baseline) continue;
    const qa_prec *P = &a->precs[p];
    char label[32], head[64];
    qa_prec_label(P->name, label, sizeof label);
    snprintf(head, sizeof head, "%s average speedup", label);
    item_label(d, head);
    doc_textf(d, "%s (%d model%s)", qa_fmt_speedup(b1, NB, P->avg_speedup), P->n_speedup,
              P->n_speedup == 1 ? "" : "s");
    doc_item_end(d);
    snprintf(head, sizeof head, "%s average memory reduction", label);
    item_label(d, head);
    const char *note = qa_mem_basis_note(P->n_mem, P->n_mem_weights);
    doc_textf(d, "%s (%d model%s%s%s)", qa_fmt_pct(b2, NB, P->avg_mem_reduction_pct), P->n_mem,
              P->n_mem == 1 ? "" : "s", *note ? ", " : "", note);
    doc_item_end(d);
    any = 1;
  }
  if (!any) {
    doc_item_begin(d, 0);
    doc_text(d, "No precision other than the baseline was measured.");
    doc_item_end(d);
  }
  /* plain statements of what the averages say */
  for (int faster = 1; faster >= 0; faster--) {
    int n = 0;
    for (int p = 0; p < a->n_precs; p++) {
      const qa_prec *P = &a->precs[p];
      if (p == a->baseline || !isfinite(P->avg_speedup)) continue;
      if ((P->avg_speedup > 1.0) != faster) continue;
      char label[32];
      qa_prec_label(P->name, label, sizeof label);
      if (n == 0) {
        doc_item_begin(d, 0);
        doc_textf(d, "%s than %s on average: ", faster ? "Faster" : "Slower", baseline_label(a));
      } else {
        doc_text(d, ", ");
      }
      doc_textf(d, "%s (%s)", label, qa_fmt_speedup(b1, NB, P->avg_speedup));
      n++;
    }
    if (n) doc_item_end(d);
  }
  if (models_without_baseline(a, NULL) > 0) {
    doc_item_begin(d, 0);
    doc_textf(d, "No successful %s cell at %s (no speedup, left out of the averages): ",
              baseline_label(a), gt);
    models_without_baseline(a, d);
    doc_item_end(d);
  }
  if (a->n_bad > 0) {
    doc_item_begin(d, 0);
    doc_textf(d, "%d failed cell%s left out of every average (see Failed cells).", a->n_bad,
              a->n_bad == 1 ? " is" : "s are");
    doc_item_end(d);
  }
  doc_list_end(d, 0);

  static const char *const cat_heads[4] = {"Category", "Models", "Avg speedup",
                                           "Avg memory reduction"};
  doc_heading(d, 3, "category-summary", "Category summary");
  doc_para(d,
           "Avg speedup: mean over the category's models of the mean speedup over the "
           "precisions other than %s.",
           baseline_label(a));
  doc_table_begin(d, "table-categories", 4, cat_heads, "lrrr");
  for (int k = 0; k < a->n_cats; k++) {
    const qa_category *C = &a->cats[k];
    doc_row_begin(d);
    doc_cell(d, C->name);
    doc_cellf(d, "%d", C->n_models);
    doc_cell(d, qa_fmt_speedup(b1, NB, C->avg_speedup));
    doc_cell(d, fmt_mem(b2, sizeof b2, C->avg_mem_reduction_pct, C->n_mem_models,
                        C->n_mem_weights_models));
    doc_row_end(d);
  }
  doc_table_end(d);
  static const char *const lead_heads[4] = {"Category", "Leader", "Precision", "Speedup"};
  doc_heading(d, 3, "category-leaders", "Category leaders");
  doc_para(d, "The highest speedup in each category among the precisions other than %s.",
           baseline_label(a));
  doc_table_begin(d, "table-leaders", 4, lead_heads, "lllr");
  for (int k = 0; k < a->n_cats; k++) {
    const qa_category *C = &a->cats[k];
    const qa_cell *c = C->leader >= 0 ? &a->cells[C->leader] : NULL;
    doc_row_begin(d);
    doc_cell(d, C->name);
    doc_cell(d, c ? c->r->model : QA_DASH);
    doc_cell(d, c ? c->r->precision : QA_DASH);
    doc_cell(d, c ? qa_fmt_speedup(b1, NB, c->speedup) : QA_DASH);
    doc_row_end(d);
  }
  doc_table_end(d);
}

static void write_methods(const qa_analysis *a, qa_doc *d) {
  static const char *const heads[9] = {
      "Precision",    "Method",      "Successful cells", "Failed cells",   "Mean speedup",
      "Mean memory reduction", "Weight bits", "Cosine vs fp32", "Top-1 agreement"};
  char b[5][2 * NB];
  doc_heading(d, 2, "method-analysis", "Method analysis");
  doc_para(d, "Per precision over every batch size; means over successful cells.");
  doc_table_begin(d, "table-methods", 9, heads, "llrrrrrrr");
  for (int p = 0; p < a->n_precs; p++) {
    const qa_prec *P = &a->precs[p];
    doc_row_begin(d);
    doc_cell(d, P->name);
    doc_cellf(d, "%s%s", qa_prec_method(P->name), p == a->baseline ? " (baseline)" : "");
    doc_cellf(d, "%d", P->ok_cells);
    doc_cellf(d, "%d", P->bad_cells);
    doc_cell(d, qa_fmt_speedup(b[0], NB, P->m_avg_speedup));
    doc_cell(d, fmt_mem(b[1], sizeof b[1], P->m_avg_mem_reduction_pct, P->m_n_mem,
                        P->m_n_mem_weights));
    doc_cell(d, qa_fmt(b[2], NB, "%.2f", P->m_avg_bits));
    doc_cell(d, qa_fmt(b[3], NB, "%.5f", P->m_avg_cosine));
    doc_cell(d, qa_fmt_pct(b[4], NB, 100.0 * P->m_avg_top1));
    doc_row_end(d);
  }
  doc_table_end(d);
}

typedef enum { T_LATENCY, T_SPEEDUP, T_PEAK, T_WEIGHTS } table_kind;

/* Model x precision matrix for one group. A failed cell shows its status. */
static void write_matrix(const qa_analysis *a, qa_doc *d, int g, table_kind kind, const char *id) {
  char b[NB];
  int n = a->n_precs + 1;
  const char **heads = qs_malloc(sizeof *heads * (size_t)n);
  char *align = qs_malloc((size_t)n + 1);
  if (!heads || !align) {
    free(heads);
    free(align);
    doc_para(d, "(out of host memory)");
    return;
  }
  heads[0] = "Model";
  align[0] = 'l';
  for (int p = 0; p < a->n_precs; p++) {
    heads[p + 1] = a->precs[p].name;
    align[p + 1] = 'r';
  }
  align[n] = '\0';
  doc_table_begin(d, id, n, heads, align);
  free(heads);
  free(align);
  for (int m = 0; m < a->n_models; m++) {
    int any = 0;
    for (int p = 0; p < a->n_precs; p++) any |= qa_cell_at(a, g, m, p) >= 0;
    if (!any) continue;
    doc_row_begin(d);
    doc_cell(d, a->models[m].name);
    for (int p = 0; p < a->n_precs; p++) {
      int ci = qa_cell_at(a, g, m, p);
      const qa_cell *c = ci >= 0 ? &a->cells[ci] : NULL;
      if (!c)
        doc_cell(d, QA_DASH);
      else if (!c->ok)
        doc_cell_status(d, c->r->status);
      else if (kind == T_LATENCY)
        doc_cell(d, qa_fmt_ms(b, NB, c->r->lat_median_ms));
      else if (kind == T_SPEEDUP)
        doc_cell(d, qa_fmt_speedup(b, NB, c->speedup));
      else if (kind == T_PEAK)
        doc_cell(d, qa_fmt(b, NB, "%.1f", c->r->peak_mb));
      else /* weights of small models are fractions of a MB */
        doc_cell(d, qa_fmt(b, NB, fabs(c->r->weight_mb) < 1 ? "%.3f" : "%.1f", c->r->weight_mb));
    }
    doc_row_end(d);
  }
  doc_table_end(d);
}

/* Whether a group has successful cells with weight bytes but no peak (no counter). */
static int group_lacks_peak(const qa_analysis *a, int g) {
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group == g && c->ok && !isfinite(c->r->peak_mb) && isfinite(c->r->weight_mb)) return 1;
  }
  return 0;
}

static void write_percentiles(const qa_analysis *a, qa_doc *d, int g, const char *gt) {
  static const char *const heads[7] = {"Model",    "Precision",
                                       "Median (ms)", "p90 (ms)",
                                       "p99 (ms)", "95% CI of median (ms)",
                                       "Throughput (images/s)"};
  int any = 0;
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != g || !c->ok) continue;
    any |= isfinite(c->r->lat_p90_ms) || isfinite(c->r->lat_p99_ms) ||
           isfinite(c->r->throughput_ips) || isfinite(c->r->lat_ci_lo_ms);
  }
  if (!any) return;
  char b[6][NB], id[80];
  doc_heading(d, 3, group_elem_id(a, "percentiles", g, id, sizeof id),
              "Latency percentiles and throughput - %s", gt);
  doc_table_begin(d, group_elem_id(a, "table-percentiles", g, id, sizeof id), 7, heads, "llrrrrr");
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != g || !c->ok) continue;
    doc_row_begin(d);
    doc_cell(d, c->r->model);
    doc_cell(d, c->r->precision);
    doc_cell(d, qa_fmt_ms(b[0], NB, c->r->lat_median_ms));
    doc_cell(d, qa_fmt_ms(b[1], NB, c->r->lat_p90_ms));
    doc_cell(d, qa_fmt_ms(b[2], NB, c->r->lat_p99_ms));
    if (isfinite(c->r->lat_ci_lo_ms) && isfinite(c->r->lat_ci_hi_ms))
      doc_cellf(d, "%s - %s", qa_fmt_ms(b[3], NB, c->r->lat_ci_lo_ms),
                qa_fmt_ms(b[4], NB, c->r->lat_ci_hi_ms));
    else
      doc_cell(d, QA_DASH);
    doc_cell(d, qa_fmt(b[5], NB, "%.1f", c->r->throughput_ips));
    doc_row_end(d);
  }
  doc_table_end(d);
}

static void figures(qa_doc *d, const qa_analysis *a, qa_fig_place place, int g) {
  if (d->figures) d->figures(d, a, place, g);
}

static void write_groups(const qa_analysis *a, qa_doc *d) {
  for (int g = 0; g < a->n_groups; g++) {
    char gt[96], id[80];
    group_title(a, g, gt, sizeof gt);
    doc_heading(d, 2, group_elem_id(a, "results", g, id, sizeof id), "Detailed results - %s", gt);
    doc_heading(d, 3, group_elem_id(a, "latency", g, id, sizeof id), "Latency (ms, median) - %s", gt);
    write_matrix(a, d, g, T_LATENCY, group_elem_id(a, "table-latency", g, id, sizeof id));
    doc_heading(d, 3, group_elem_id(a, "speedup", g, id, sizeof id), "Speedup vs %s - %s",
                baseline_label(a), gt);
    write_matrix(a, d, g, T_SPEEDUP, group_elem_id(a, "table-speedup", g, id, sizeof id));
    figures(d, a, QA_FIG_GROUP, g);
    doc_heading(d, 3, group_elem_id(a, "memory", g, id, sizeof id), "Peak memory (MB) - %s", gt);
    write_matrix(a, d, g, T_PEAK, group_elem_id(a, "table-memory", g, id, sizeof id));
    if (group_lacks_peak(a, g)) {
      doc_heading(d, 3, group_elem_id(a, "weights", g, id, sizeof id),
                  "Weight memory (MB, measured weight bytes) - %s", gt);
      doc_para(d,
               "The backend records no peak memory here; these are the bytes the weights "
               "occupy, the basis of the memory reductions marked \"from weight bytes\".");
      write_matrix(a, d, g, T_WEIGHTS, group_elem_id(a, "table-weights", g, id, sizeof id));
    }
    write_percentiles(a, d, g, gt);
  }
}

static void write_architecture(const qa_analysis *a, qa_doc *d) {
  static const char *const heads[11] = {
      "Model",           "Precision",      "Latency (ms)", "Speedup",
      "Peak (MB)",       "Memory reduction", "Cosine vs fp32", "Top-1 agreement",
      "Params",          "Energy (mJ/image)", "Weight bits"};
  if (a->summary < 0) return;
  char gt[96], b[9][2 * NB];
  group_title(a, a->summary, gt, sizeof gt);
  doc_heading(d, 2, "architecture", "Architecture summary - %s", gt);
  doc_para(d, "Successful cells. Fidelity is measured against the fp32 output of the same model on "
              "the same input (cosine similarity, top-1 agreement).");
  doc_table_begin(d, "table-architecture", 11, heads, "llrrrrrrrrr");
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != a->summary || !c->ok) continue;
    doc_row_begin(d);
    doc_cell(d, c->r->model);
    doc_cell(d, c->r->precision);
    doc_cell(d, qa_fmt_ms(b[0], NB, c->r->lat_median_ms));
    doc_cell(d, qa_fmt_speedup(b[1], NB, c->speedup));
    doc_cell(d, qa_fmt(b[2], NB, "%.1f", c->r->peak_mb));
    doc_cell(d, fmt_mem(b[3], sizeof b[3], c->mem_reduction_pct, 1, c->mem_basis == QA_MEM_WEIGHTS));
    doc_cell(d, qa_fmt(b[4], NB, "%.5f", c->r->fid_cosine));
    doc_cell(d, qa_fmt_pct(b[5], NB, 100.0 * c->r->fid_top1));
    doc_cell(d, qa_fmt_params(b[6], NB, c->r->params));
    doc_cell(d, qa_fmt(b[7], NB, "%.2f", c->r->energy_mj_per_image));
    doc_cell(d, qa_fmt(b[8], NB, "%.2f", c->r->qweight_bits));
    doc_row_end(d);
  }
  doc_table_end(d);
}

/* The measured ceilings (one row per rank and measurement) and every successful tp 1
 * cell's achieved rate, its share of the ceiling, bytes moved and arithmetic intensity. */
static void write_roofline(const qa_analysis *a, qa_doc *d) {
  static const char *const cal_heads[9] = {"Rank", "Device", "Measurement", "Status", "Median", "Best", "Unit",
                                           "Size", "Method"};
  static const char *const heads[9] = {"Model",         "Precision",          "Batch",
                                       "Achieved (TFLOP/s)", "Ceiling (TFLOP/s)", "% of ceiling",
                                       "Bytes moved (MB)",   "Intensity (FLOP/B)", "Roof (TFLOP/s)"};
  char b[8][NB];
  doc_heading(d, 2, "roofline", "Roofline");
  doc_para(d, "Achieved rate = forward FLOPs (GFLOPs per image x batch) / median latency. Bytes moved = the "
              "weights once at the bytes they occupy + an estimate of the activation traffic (every op's "
              "input read and output written once, act_mb). Intensity = FLOPs / bytes moved. The ceiling "
              "is the precision's dense GEMM rate measured on the cell's device (qsweep calibrate: fp32, "
              "fp16, bf16, int8 for int8 and int8dyn, fp8, fp16 for nf4), the roof min(ceiling, intensity x "
              "copy bandwidth). Tensor-parallel cells span several devices and are left out.");
  doc_heading(d, 3, "calibration", "Measured ceilings");
  if (a->n_calib == 0) {
    doc_para(d, "No calibration in this file (the CPU backend, a sweep run with --no-calibrate or \"calibrate\": "
                "false, or a file from before qsweep measured one): the achieved rates are shown without a "
                "ceiling.");
  } else {
    doc_table_begin(d, "table-calibration", 9, cal_heads, "rlllrrlll");
    for (int i = 0; i < a->n_calib; i++) {
      const qs_calibration *c = &a->calib[i];
      for (int k = 0; k < c->n_entries; k++) {
        const qs_calib_entry *e = &c->e[k];
        char size[48];
        if (!strcmp(e->kind, "gemm"))
          snprintf(size, sizeof size, "%d x %d x %d", (int)e->m, (int)e->n, (int)e->k);
        else
          snprintf(size, sizeof size, "%.0f MiB", e->bytes / 2 / (1 << 20));
        doc_row_begin(d);
        doc_cellf(d, "%d", (int)c->rank);
        doc_cell(d, c->device);
        doc_cell(d, e->name);
        if (strcmp(e->status, "ok") == 0)
          doc_cell(d, e->status);
        else
          doc_cell_status(d, e->status);
        doc_cell(d, qa_fmt(b[0], NB, e->value < 1 ? "%.4f" : "%.1f", e->value));
        doc_cell(d, qa_fmt(b[1], NB, e->best < 1 ? "%.4f" : "%.1f", e->best));
        doc_cell(d, e->unit);
        doc_cell(d, size);
        if (e->message[0])
          doc_cellf(d, "%s (%s)", e->method, e->message);
        else
          doc_cell(d, e->method);
        doc_row_end(d);
      }
    }
    doc_table_end(d);
  }
  doc_heading(d, 3, "roofline-cells", "Achieved rate per cell");
  if (!qa_any_roofline(a)) {
    doc_para(d, "No successful single-device cell with FLOPs and a latency.");
  } else {
    doc_table_begin(d, "table-roofline", 9, heads, "llrrrrrrr");
    for (int i = 0; i < a->n_cells; i++) {
      const qa_cell *c = &a->cells[i];
      if (!isfinite(c->achieved_tflops)) continue;
      doc_row_begin(d);
      doc_cell(d, c->r->model);
      doc_cell(d, c->r->precision);
      doc_cellf(d, "%d", (int)c->r->batch);
      doc_cell(d, qa_fmt(b[0], NB, c->achieved_tflops < 1 ? "%.4f" : "%.2f", c->achieved_tflops));
      doc_cell(d, qa_fmt(b[1], NB, c->ceiling_tflops < 1 ? "%.4f" : "%.1f", c->ceiling_tflops));
      doc_cell(d, qa_fmt(b[2], NB, "%.1f%%", c->ceiling_pct));
      doc_cell(d, qa_fmt(b[3], NB, c->bytes_moved_mb < 10 ? "%.3f" : "%.1f", c->bytes_moved_mb));
      doc_cell(d, qa_fmt(b[4], NB, "%.1f", c->arith_intensity));
      doc_cell(d, qa_fmt(b[5], NB, c->roof_tflops < 1 ? "%.4f" : "%.1f", c->roof_tflops));
      doc_row_end(d);
    }
    doc_table_end(d);
  }
  figures(d, a, QA_FIG_ROOFLINE, -1);
}

static void write_failed(const qa_analysis *a, qa_doc *d) {
  static const char *const heads[7] = {"Model", "Precision", "Batch", "TP",
                                       "Status", "Host", "Message"};
  doc_heading(d, 2, "failed-cells", "Failed cells");
  if (a->n_bad == 0) {
    doc_para(d, "%s", a->n_cells ? "None: every cell succeeded." : "None.");
    return;
  }
  doc_para(d, "%d cell%s did not succeed; %s left out of every average.", a->n_bad,
           a->n_bad == 1 ? "" : "s", a->n_bad == 1 ? "it is" : "they are");
  doc_table_begin(d, "table-failed", 7, heads, "llrrlll");
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->ok) continue;
    doc_row_begin(d);
    doc_cell(d, c->r->model);
    doc_cell(d, c->r->precision);
    doc_cellf(d, "%d", (int)c->r->batch);
    doc_cellf(d, "%d", (int)c->r->tp);
    doc_cell_status(d, c->r->status);
    doc_cell(d, c->r->host);
    doc_cell(d, c->r->message);
    doc_row_end(d);
  }
  doc_table_end(d);
}

static void write_notes(const qa_analysis *a, qa_doc *d) {
  doc_heading(d, 2, "notes", "Notes");
  doc_list_begin(d, 0, "notes-list");
  doc_item_begin(d, 0);
  doc_textf(d,
            "%s marks a value that was not measured, or a speedup / memory reduction without a "
            "successful %s cell of the same model and batch size; it is never a zero.",
            QA_DASH, baseline_label(a));
  doc_item_end(d);
  doc_item_begin(d, 0);
  doc_text(d, "Latency is the median over the timed iterations; peak memory is the weights plus the "
              "backend's workspace high-water mark (MB = 10^6 bytes).");
  doc_item_end(d);
  if (qa_any_mem_weights(a)) {
    doc_item_begin(d, 0);
    doc_text(d, "A memory reduction marked \"from weight bytes\" compares the measured weight bytes "
                "only (the backend has no peak-memory counter): it leaves out activations and "
                "workspace, which the peak-based figure includes.");
    doc_item_end(d);
  }
  doc_item_begin(d, 0);
  doc_text(d, "Memory reduction can be negative: a precision that needs more memory than the "
              "baseline.");
  doc_item_end(d);
  doc_list_end(d, 0);
}

void qa_report_sections(const qa_analysis *a, qa_doc *d) {
  write_run(a, d);
  write_overview(a, d);
  write_insights(a, d);
  write_methods(a, d);
  figures(d, a, QA_FIG_BATCH_SCALING, -1);
  write_groups(a, d);
  write_architecture(a, d);
  figures(d, a, QA_FIG_SUMMARY, -1);
  write_roofline(a, d);
  write_failed(a, d);
  figures(d, a, QA_FIG_END, -1);
  write_notes(a, d);
}

/* Markdown figures: links to the SVG files, at the end (when --svg is given). */
static void md_chart_links(qa_doc *d, const qa_analysis *a, qa_fig_place place, int g) {
  static const char *const titles[3] = {"Speedup heatmap", "Memory efficiency",
                                        "Latency vs parameters"};
  (void)g;
  if (place != QA_FIG_END) return;
  const char *svg_dir = d->ctx;
  FILE *out = d->out;
  char gt[96] = "";
  if (a->summary >= 0) group_title(a, a->summary, gt, sizeof gt);
  fprintf(out, "## Charts (%s)\n\n", gt[0] ? gt : QA_DASH);
  for (int i = 0; i < 3; i++) {
    fprintf(out, "![%s](", titles[i]);
    /* a link target: spaces and parentheses percent-encoded */
    for (const char *s = svg_dir; *s; s++) {
      if (*s == ' ' || *s == '(' || *s == ')' || *s == '<' || *s == '>')
        fprintf(out, "%%%02X", (unsigned char)*s);
      else
        fputc(*s, out);
    }
    fprintf(out, "%s%s)\n\n", svg_dir[0] && svg_dir[strlen(svg_dir) - 1] != '/' ? "/" : "",
            qa_svg_files[i]);
  }
}

int qa_write_markdown(const qa_analysis *a, FILE *out, const char *what, const char *svg_dir) {
  qa_doc d = {.out = out, .kind = QA_DOC_MD, .figures = svg_dir ? md_chart_links : NULL, .ctx = svg_dir};
  errno = 0;
  fputs("# qsweep report\n\n", out);
  qa_report_sections(a, &d);
  if (fflush(out) != 0 || ferror(out))
    return qs_fail(QS_EIO, "%s: write: %s", what, errno ? strerror(errno) : "error");
  return QS_OK;
}
