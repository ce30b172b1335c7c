/* report_md.c - the markdown report: run metadata, overview, key insights, category
 * summaries and leaders, method analysis, per-batch tables, architecture summary,
 * failed cells, charts. Every number that was not measured prints as a dash. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
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

static void md_value(FILE *out, const char *s) {
  if (s && *s)
    qa_md_text(out, s);
  else
    fputs(QA_DASH, out);
}

/* `text` as inline code, or the dash where it is empty */
static void md_code(FILE *out, const char *s) {
  if (s && *s) {
    fputc('`', out);
    qa_md_text(out, s);
    fputc('`', out);
  } else {
    fputs(QA_DASH, out);
  }
}

static void meta_row(FILE *out, const char *field, const char *value) {
  fprintf(out, "| %s | ", field);
  md_value(out, value);
  fputs(" |\n", out);
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

/* Several files: the machine once (they share backend and GPUs), then one row per file. */
static void write_sources(const qa_analysis *a, FILE *out) {
  const qs_run_meta *m0 = &a->meta;
  fprintf(out, "## Runs\n\n%d results files of one machine make this report; a cell in a later file "
               "replaces the same cell of an earlier one.\n\n| Field | Value |\n|---|---|\n",
          a->n_sources);
  meta_row(out, "Backend", m0->backend);
  meta_row(out, "GPUs", m0->gpu_names);
  fputs("\n| # | Results file | Rows | Started (UTC) | Finished (UTC) | qsweep | git commit | World size "
        "| Hosts | Sweep hash |\n|---:|---|---:|---|---|---|---|---:|---|---|\n", out);
  for (int i = 0; i < a->n_sources; i++) {
    const qs_run_meta *m = qa_source_meta(a, i);
    fprintf(out, "| %d | ", i + 1);
    md_value(out, a->sources[i].path);
    fprintf(out, " | %d | ", a->sources[i].n_rows);
    md_value(out, m->started_utc);
    fputs(" | ", out);
    md_value(out, m->finished_utc);
    fputs(" | ", out);
    md_value(out, m->qsweep_version);
    fputs(" | ", out);
    md_value(out, m->git_commit);
    if (m->world_size > 0)
      fprintf(out, " | %d | ", (int)m->world_size);
    else
      fputs(" | " QA_DASH " | ", out);
    md_value(out, m->hostnames);
    fputs(" | ", out);
    md_value(out, m->sweep_hash);
    fputs(" |\n", out);
  }
  fputs("\nCommand lines:\n\n", out);
  for (int i = 0; i < a->n_sources; i++) {
    const qs_run_meta *m = qa_source_meta(a, i);
    fprintf(out, "%d. ", i + 1);
    md_code(out, m->command_line);
    fputc('\n', out);
  }
  fputc('\n', out);
}

static void write_run(const qa_analysis *a, FILE *out) {
  if (a->n_sources > 1) {
    write_sources(a, out);
    return;
  }
  const qs_run_meta *m = &a->meta;
  char ws[32] = "";
  if (m->world_size > 0) snprintf(ws, sizeof ws, "%d", (int)m->world_size);
  fputs("## Run\n\n| Field | Value |\n|---|---|\n", out);
  meta_row(out, "Results file", a->path);
  meta_row(out, "qsweep version", m->qsweep_version);
  meta_row(out, "git commit", m->git_commit);
  meta_row(out, "Started (UTC)", m->started_utc);
  meta_row(out, "Finished (UTC)", m->finished_utc);
  meta_row(out, "Backend", m->backend);
  meta_row(out, "GPUs", m->gpu_names);
  meta_row(out, "Driver", m->driver_version);
  meta_row(out, "CUDA", m->cuda_version);
  meta_row(out, "NCCL", m->nccl_version);
  meta_row(out, "MPI library", m->mpi_library);
  meta_row(out, "World size", ws);
  meta_row(out, "Hosts", m->hostnames);
  meta_row(out, "Sweep hash", m->sweep_hash);
  fputs("| Command line | ", out);
  md_code(out, m->command_line);
  fputs(" |\n\n", out);
}

static void write_overview(const qa_analysis *a, FILE *out) {
  fputs("## Experiment overview\n\n", out);
  fprintf(out, "- **Models tested**: %d\n", a->n_models);
  fprintf(out, "- **Precisions**: %d (", a->n_precs);
  for (int p = 0; p < a->n_precs; p++) {
    fputs(p ? ", " : "", out);
    qa_md_text(out, a->precs[p].name);
  }
  fputs(")\n- **Batch sizes**: ", out);
  for (int g = 0; g < a->n_groups; g++) {
    if (g > 0 && a->groups[g].batch == a->groups[g - 1].batch) continue;
    fprintf(out, "%s%d", g ? ", " : "", a->groups[g].batch);
  }
  if (a->n_groups == 0) fputs(QA_DASH, out);
  fputs("\n", out);
  fprintf(out, "- **Cells**: %d\n", a->n_cells);
  fprintf(out, "- **Successful cells**: %d\n", a->n_ok);
  fprintf(out, "- **Failed cells**: %d\n", a->n_bad);
  if (a->n_cells > 0)
    fprintf(out, "- **Success rate**: %.1f%%\n", 100.0 * a->n_ok / a->n_cells);
  else
    fprintf(out, "- **Success rate**: %s\n", QA_DASH);
  fprintf(out, "- **Baseline**: %s", baseline_label(a));
  if (a->baseline < 0) fputs(" (no cell of this precision: no speedups)", out);
  fputs("\n", out);
  if (a->n_superseded > 0)
    fprintf(out,
            "- **Superseded rows**: %d (earlier attempts of cells that were retried%s; the last "
            "attempt of each cell counts)\n",
            a->n_superseded, a->n_sources > 1 ? ", or measured again in a later file" : "");
  fputs("\n", out);
}

/* Models with no speedup at the summary group for any non-baseline precision although
 * they have successful cells there. */
static int models_without_baseline(const qa_analysis *a, FILE *out) {
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
    if (out) {
      fputs(n ? ", " : "", out);
      qa_md_text(out, a->models[m].name);
    }
    n++;
  }
  return n;
}

static void write_insights(const qa_analysis *a, FILE *out) {
  char b1[NB], b2[NB], gt[96] = "";
  if (a->summary >= 0) group_title(a, a->summary, gt, sizeof gt);
  fputs("## Key insights\n\n", out);
  fprintf(out,
          "Speedup = median latency of %s / median latency of the precision (same model and "
          "batch size); memory reduction = 100 x (1 - peak / peak of %s). Averages are means "
          "over models at %s; failed cells and models without a successful %s cell are left "
          "out.\n\n",
          baseline_label(a), baseline_label(a), a->summary >= 0 ? gt : QA_DASH,
          baseline_label(a));
  fputs("### Performance summary\n\n", out);
  int any = 0;
  for (int p = 0; p < a->n_precs; p++) {
    if (p == a->baseline) continue;
    const qa_prec *P = &a->precs[p];
    char label[32];
    qa_prec_label(P->name, label, sizeof label);
    fputs("- **", out);
    qa_md_text(out, label);
    fprintf(out, " average speedup**: %s (%d model%s)\n", qa_fmt_speedup(b1, NB, P->avg_speedup),
            P->n_speedup, P->n_speedup == 1 ? "" : "s");
    fputs("- **", out);
    qa_md_text(out, label);
    fprintf(out, " average memory reduction**: %s (%d model%s)\n",
            qa_fmt_pct(b2, NB, P->avg_mem_reduction_pct), P->n_mem, P->n_mem == 1 ? "" : "s");
    any = 1;
  }
  if (!any) fputs("- No precision other than the baseline was measured.\n", out);
  /* plain statements of what the averages say */
  for (int faster = 1; faster >= 0; faster--) {
    int n = 0;
    for (int p = 0; p < a->n_precs; p++) {
      const qa_prec *P = &a->precs[p];
      if (p == a->baseline || !isfinite(P->avg_speedup)) continue;
      if ((P->avg_speedup > 1.0) != faster) continue;
      char label[32];
      qa_prec_label(P->name, label, sizeof label);
      fprintf(out, "%s", n ? ", " : (faster ? "- Faster than " : "- Slower than "));
      if (n == 0) fprintf(out, "%s on average: ", baseline_label(a));
      qa_md_text(out, label);
      fprintf(out, " (%s)", qa_fmt_speedup(b1, NB, P->avg_speedup));
      n++;
    }
    if (n) fputs("\n", out);
  }
  if (models_without_baseline(a, NULL) > 0) {
    fprintf(out, "- No successful %s cell at %s (no speedup, left out of the averages): ",
            baseline_label(a), gt);
    models_without_baseline(a, out);
    fputs("\n", out);
  }
  if (a->n_bad > 0)
    fprintf(out, "- %d failed cell%s left out of every average (see Failed cells).\n", a->n_bad,
            a->n_bad == 1 ? " is" : "s are");
  fputs("\n", out);

  fputs("### Category summary\n\n", out);
  fprintf(out,
          "Avg speedup: mean over the category's models of the mean speedup over the "
          "precisions other than %s.\n\n",
          baseline_label(a));
  fputs("| Category | Models | Avg speedup | Avg memory reduction |\n|---|---:|---:|---:|\n", out);
  for (int k = 0; k < a->n_cats; k++) {
    const qa_category *C = &a->cats[k];
    fputs("| ", out);
    qa_md_text(out, C->name);
    fprintf(out, " | %d | %s | %s |\n", C->n_models, qa_fmt_speedup(b1, NB, C->avg_speedup),
            qa_fmt_pct(b2, NB, C->avg_mem_reduction_pct));
  }
  fputs("\n### Category leaders\n\n", out);
  fprintf(out, "The highest speedup in each category among the precisions other than %s.\n\n",
          baseline_label(a));
  fputs("| Category | Leader | Precision | Speedup |\n|---|---|---|---:|\n", out);
  for (int k = 0; k < a->n_cats; k++) {
    const qa_category *C = &a->cats[k];
    fputs("| ", out);
    qa_md_text(out, C->name);
    fputs(" | ", out);
    if (C->leader >= 0) {
      const qa_cell *c = &a->cells[C->leader];
      qa_md_text(out, c->r->model);
      fputs(" | ", out);
      qa_md_text(out, c->r->precision);
      fprintf(out, " | %s |\n", qa_fmt_speedup(b1, NB, c->speedup));
    } else {
      fprintf(out, "%s | %s | %s |\n", QA_DASH, QA_DASH, QA_DASH);
    }
  }
  fputs("\n", out);
}

static void write_methods(const qa_analysis *a, FILE *out) {
  char b[5][NB];
  fputs("## Method analysis\n\n", out);
  fputs("Per precision over every batch size; means over successful cells.\n\n", out);
  fputs("| Precision | Method | Successful cells | Failed cells | Mean speedup | Mean memory "
        "reduction | Weight bits | Cosine vs fp32 | Top-1 agreement |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        out);
  for (int p = 0; p < a->n_precs; p++) {
    const qa_prec *P = &a->precs[p];
    fputs("| ", out);
    qa_md_text(out, P->name);
    fprintf(out, " | %s%s | %d | %d | %s | %s | %s | %s | %s |\n", qa_prec_method(P->name),
            p == a->baseline ? " (baseline)" : "", P->ok_cells, P->bad_cells,
            qa_fmt_speedup(b[0], NB, P->m_avg_speedup),
            qa_fmt_pct(b[1], NB, P->m_avg_mem_reduction_pct),
            qa_fmt(b[2], NB, "%.2f", P->m_avg_bits), qa_fmt(b[3], NB, "%.5f", P->m_avg_cosine),
            qa_fmt_pct(b[4], NB, 100.0 * P->m_avg_top1));
  }
  fputs("\n", out);
}

typedef enum { T_LATENCY, T_SPEEDUP, T_PEAK } table_kind;

/* Model x precision matrix for one group. A failed cell shows its status. */
static void write_matrix(const qa_analysis *a, FILE *out, int g, table_kind kind) {
  char b[NB];
  fputs("| Model |", out);
  for (int p = 0; p < a->n_precs; p++) {
    fputc(' ', out);
    qa_md_text(out, a->precs[p].name);
    fputs(" |", out);
  }
  fputs("\n|---|", out);
  for (int p = 0; p < a->n_precs; p++) fputs("---:|", out);
  fputs("\n", out);
  for (int m = 0; m < a->n_models; m++) {
    int any = 0;
    for (int p = 0; p < a->n_precs; p++) any |= qa_cell_at(a, g, m, p) >= 0;
    if (!any) continue;
    fputs("| ", out);
    qa_md_text(out, a->models[m].name);
    fputs(" |", out);
    for (int p = 0; p < a->n_precs; p++) {
      int ci = qa_cell_at(a, g, m, p);
      fputc(' ', out);
      if (ci < 0) {
        fputs(QA_DASH, out);
      } else if (!a->cells[ci].ok) {
        qa_md_text(out, a->cells[ci].r->status);
      } else {
        const qa_cell *c = &a->cells[ci];
        if (kind == T_LATENCY)
          fputs(qa_fmt_ms(b, NB, c->r->lat_median_ms), out);
        else if (kind == T_SPEEDUP)
          fputs(qa_fmt_speedup(b, NB, c->speedup), out);
        else
          fputs(qa_fmt(b, NB, "%.1f", c->r->peak_mb), out);
      }
      fputs(" |", out);
    }
    fputs("\n", out);
  }
  fputs("\n", out);
}

static void write_percentiles(const qa_analysis *a, FILE *out, int g, const char *gt) {
  int any = 0;
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != g || !c->ok) continue;
    any |= isfinite(c->r->lat_p90_ms) || isfinite(c->r->lat_p99_ms) ||
           isfinite(c->r->throughput_ips) || isfinite(c->r->lat_ci_lo_ms);
  }
  if (!any) return;
  char b[6][NB];
  fprintf(out, "### Latency percentiles and throughput - %s\n\n", gt);
  fputs("| Model | Precision | Median (ms) | p90 (ms) | p99 (ms) | 95% CI of median (ms) | "
        "Throughput (images/s) |\n|---|---|---:|---:|---:|---:|---:|\n",
        out);
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != g || !c->ok) continue;
    fputs("| ", out);
    qa_md_text(out, c->r->model);
    fputs(" | ", out);
    qa_md_text(out, c->r->precision);
    const char *ci = QA_DASH;
    char ci_buf[2 * NB + 8];
    if (isfinite(c->r->lat_ci_lo_ms) && isfinite(c->r->lat_ci_hi_ms)) {
      snprintf(ci_buf, sizeof ci_buf, "%s - %s", qa_fmt_ms(b[3], NB, c->r->lat_ci_lo_ms),
               qa_fmt_ms(b[4], NB, c->r->lat_ci_hi_ms));
      ci = ci_buf;
    }
    fprintf(out, " | %s | %s | %s | %s | %s |\n", qa_fmt_ms(b[0], NB, c->r->lat_median_ms),
            qa_fmt_ms(b[1], NB, c->r->lat_p90_ms), qa_fmt_ms(b[2], NB, c->r->lat_p99_ms), ci,
            qa_fmt(b[5], NB, "%.1f", c->r->throughput_ips));
  }
  fputs("\n", out);
}

static void write_groups(const qa_analysis *a, FILE *out) {
  for (int g = 0; g < a->n_groups; g++) {
    char gt[96];
    group_title(a, g, gt, sizeof gt);
    fprintf(out, "## Detailed results - %s\n\n", gt);
    fprintf(out, "### Latency (ms, median) - %s\n\n", gt);
    write_matrix(a, out, g, T_LATENCY);
    fprintf(out, "### Speedup vs %s - %s\n\n", baseline_label(a), gt);
    write_matrix(a, out, g, T_SPEEDUP);
    fprintf(out, "### Peak memory (MB) - %s\n\n", gt);
    write_matrix(a, out, g, T_PEAK);
    write_percentiles(a, out, g, gt);
  }
}

static void write_architecture(const qa_analysis *a, FILE *out) {
  if (a->summary < 0) return;
  char gt[96], b[9][NB];
  group_title(a, a->summary, gt, sizeof gt);
  fprintf(out, "## Architecture summary - %s\n\n", gt);
  fputs("Successful cells. Fidelity is measured against the fp32 output of the same model on "
        "the same input (cosine similarity, top-1 agreement).\n\n",
        out);
  fputs("| Model | Precision | Latency (ms) | Speedup | Peak (MB) | Memory reduction | Cosine "
        "vs fp32 | Top-1 agreement | Params | Energy (mJ/image) | Weight bits |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        out);
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != a->summary || !c->ok) continue;
    fputs("| ", out);
    qa_md_text(out, c->r->model);
    fputs(" | ", out);
    qa_md_text(out, c->r->precision);
    fprintf(out, " | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            qa_fmt_ms(b[0], NB, c->r->lat_median_ms), qa_fmt_speedup(b[1], NB, c->speedup),
            qa_fmt(b[2], NB, "%.1f", c->r->peak_mb), qa_fmt_pct(b[3], NB, c->mem_reduction_pct),
            qa_fmt(b[4], NB, "%.5f", c->r->fid_cosine),
            qa_fmt_pct(b[5], NB, 100.0 * c->r->fid_top1), qa_fmt_params(b[6], NB, c->r->params),
            qa_fmt(b[7], NB, "%.2f", c->r->energy_mj_per_image),
            qa_fmt(b[8], NB, "%.2f", c->r->qweight_bits));
  }
  fputs("\n", out);
}

static void write_failed(const qa_analysis *a, FILE *out) {
  fputs("## Failed cells\n\n", out);
  if (a->n_bad == 0) {
    fputs(a->n_cells ? "None: every cell succeeded.\n\n" : "None.\n\n", out);
    return;
  }
  fprintf(out, "%d cell%s did not succeed; %s left out of every average.\n\n", a->n_bad,
          a->n_bad == 1 ? "" : "s", a->n_bad == 1 ? "it is" : "they are");
  fputs("| Model | Precision | Batch | TP | Status | Host | Message |\n"
        "|---|---|---:|---:|---|---|---|\n",
        out);
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->ok) continue;
    fputs("| ", out);
    qa_md_text(out, c->r->model);
    fputs(" | ", out);
    qa_md_text(out, c->r->precision);
    fprintf(out, " | %d | %d | ", (int)c->r->batch, (int)c->r->tp);
    qa_md_text(out, c->r->status);
    fputs(" | ", out);
    md_value(out, c->r->host);
    fputs(" | ", out);
    md_value(out, c->r->message);
    fputs(" |\n", out);
  }
  fputs("\n", out);
}

static void write_charts(const qa_analysis *a, FILE *out, const char *svg_dir) {
  static const char *const titles[3] = {"Speedup heatmap", "Memory efficiency",
                                        "Latency vs parameters"};
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

static void write_notes(const qa_analysis *a, FILE *out) {
  fputs("## Notes\n\n", out);
  fprintf(out,
          "- %s marks a value that was not measured, or a speedup / memory reduction without a "
          "successful %s cell of the same model and batch size; it is never a zero.\n",
          QA_DASH, baseline_label(a));
  fputs("- Latency is the median over the timed iterations; peak memory is the weights plus the "
        "backend's workspace high-water mark (MB = 10^6 bytes).\n",
        out);
  fputs("- Memory reduction can be negative: a precision that needs more memory than the "
        "baseline.\n\n",
        out);
}

int qa_write_markdown(const qa_analysis *a, FILE *out, const char *what, const char *svg_dir) {
  errno = 0;
  fputs("# qsweep report\n\n", out);
  write_run(a, out);
  write_overview(a, out);
  write_insights(a, out);
  write_methods(a, out);
  write_groups(a, out);
  write_architecture(a, out);
  write_failed(a, out);
  if (svg_dir) write_charts(a, out, svg_dir);
  write_notes(a, out);
  if (fflush(out) != 0 || ferror(out))
    return qs_fail(QS_EIO, "%s: write: %s", what, errno ? strerror(errno) : "error");
  return QS_OK;
}
