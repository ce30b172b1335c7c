/* analysis.h - qsweep-analyze: from the rows of a results file to the report.
 *
 * aggregate.c  reads the file, keeps the last row of each cell key (resume retries),
 *              refuses simulated rows, and computes speedups, memory reductions and the
 *              summaries (per precision, per category, leaders, method analysis);
 * report_md.c  the report's sections, once, for markdown and HTML (doc.c);
 * report_html.c the HTML page: those sections plus inline SVG charts;
 * export_csv.c one CSV row per cell;
 * export_json.c {"meta", "summary", "cells"} (and "sources" for several files);
 * svg.c        the charts (speedup heatmap, memory efficiency, fidelity, latency vs
 *              parameters, latency and throughput vs batch size);
 * compare.c    two runs cell by cell (--compare).
 *
 * Definitions (DESIGN.md, "The report"): speedup(model, P, batch) = median latency of
 * the baseline / median latency of P, same model, batch and tp; memory reduction % =
 * 100 (1 - peak(P) / peak(baseline)), or from the weight bytes where neither cell has
 * a peak (qa_mem_basis); averages are means over models. A number that
 * was not measured (or has no baseline) is NaN and is shown as "—", never as 0. */
#ifndef QS_ANALYSIS_H
#define QS_ANALYSIS_H

#include <stddef.h>
#include <stdio.h>

#include "results.h"

#define QA_DASH "\xe2\x80\x94" /* "—": not measured / no baseline */

typedef struct {
  const char *baseline; /* precision the speedups are relative to; NULL: "fp32" */
  int batch;            /* batch size of the summary figures; 0: the smallest */
} qa_options;

/* One cell: the row that won its key, plus what the analysis derived from it. */
/* What a memory reduction is computed from: the peak (weights + workspace high-water
 * mark) where the backend measures one, else the measured weight bytes (backends
 * without a peak counter, e.g. the CPU reference backend), labelled so. */
typedef enum { QA_MEM_NONE = 0, QA_MEM_PEAK, QA_MEM_WEIGHTS } qa_mem_basis;

typedef struct {
  const qs_cell_result *r;
  int model, prec, group;   /* indexes into qa_analysis.models / precs / groups */
  int ok;                   /* status "ok" */
  double speedup;           /* NaN: failed, not measured, or no baseline cell */
  double mem_reduction_pct; /* NaN likewise */
  qa_mem_basis mem_basis;   /* of mem_reduction_pct; QA_MEM_NONE where it is NaN */
  /* the roofline (qa_roofline_cell; successful tp 1 cells, else NaN) */
  double achieved_tflops;   /* gflops x batch / median latency */
  double bytes_moved_mb;    /* weight_mb + act_mb: weights once at their real bytes + activations */
  double arith_intensity;   /* FLOPs / bytes moved (FLOP per byte) */
  double ceiling_tflops;    /* the precision's measured GEMM rate on the cell's device; NaN without one */
  double ceiling_pct;       /* 100 x achieved / ceiling; NaN without a ceiling */
  double roof_tflops;       /* min(ceiling, intensity x copy bandwidth): what the roofline allows */
  int calib;                /* index into qa_analysis.calib of the ceilings used; -1 none */
} qa_cell;

typedef struct {
  char name[128];
  int category; /* index into qa_analysis.cats */
  double params; /* NaN if no row recorded it */
} qa_model;

/* One (batch, tp) slice of the sweep: the tables are per group. */
typedef struct {
  int batch, tp;
  int *cell; /* [n_models * n_precs]: index into cells, -1 where no cell */
} qa_group;

typedef struct {
  char name[16];
  /* at the summary group, means over models */
  int n_speedup;
  double avg_speedup;
  int n_mem, n_mem_weights; /* of n_mem, values from weight bytes */
  double avg_mem_reduction_pct;
  /* method analysis, over every group */
  int ok_cells, bad_cells;
  int m_n_mem_weights;
  int m_n_speedup, m_n_mem, m_n_bits, m_n_cosine, m_n_top1;
  double m_avg_speedup, m_avg_mem_reduction_pct, m_avg_bits, m_avg_cosine, m_avg_top1;
} qa_prec;

typedef struct {
  char name[64];
  int n_models;         /* models of the category */
  int n_speedup_models; /* of those, models with a speedup at the summary group */
  double avg_speedup;   /* mean over models of the mean speedup over non-baseline precisions */
  int n_mem_models, n_mem_weights_models; /* of those, models with weight-byte values */
  double avg_mem_reduction_pct;
  int leader; /* index into cells: highest non-baseline speedup; -1 if none */
} qa_category;

/* One results file of a multi-file analysis (runs[0] is the first file given). */
typedef struct {
  char *path;
  qs_run_meta meta;
  int n_rows; /* rows it contributed */
} qa_source;

typedef struct {
  const char *path; /* the results file, for messages ("a.h5 + b.h5" for several) */
  qs_run_meta meta; /* of the (first) file */
  qs_cell_result *rows; /* every row of the file (owned) */
  int n_rows;
  qa_cell *cells; /* one per key, sorted: model, precision, batch, tp */
  int n_cells;
  qa_model *models; /* sorted by name */
  int n_models;
  qa_prec *precs; /* display order: fp32 fp16 bf16 int8 int8dyn fp8 nf4, then alphabetical */
  int n_precs;
  qa_group *groups; /* sorted by batch, then tp */
  int n_groups;
  qa_category *cats; /* order of first appearance in the file */
  int n_cats;
  char baseline_name[16];
  int baseline; /* index into precs; -1 if the file has no cell of it */
  int summary;  /* index into groups of the summary figures; -1 if no cells */
  int n_ok, n_bad;
  int n_superseded; /* rows replaced by a later row of the same key */
  qa_source *sources; /* the files when more than one was given (else NULL) */
  int n_sources;
  char *path_owned; /* a->path when it was built from several names */
  qs_calibration *calib; /* every file's /calibration groups (owned), NULL if none */
  int n_calib;
} qa_analysis;

/* The statuses of a row (h5/README.md), in the order the summaries list them. */
#define QA_N_STATUS 6
extern const char *const qa_status_names[QA_N_STATUS]; /* ok failed timeout oom unsupported skipped */
/* Cells (the last row of each key) with status `status`. */
int qa_status_count(const qa_analysis *a, const char *status);
/* The cells not ok by status, "failed 1, timeout 1" (statuses outside qa_status_names
 * too, in order of first appearance); "" when every cell is ok. */
void qa_bad_status_summary(const qa_analysis *a, char *buf, size_t cap);

/* Read `path` and analyse it. On failure a one-line message naming the file and the
 * field is left in qs_last_error() and `a` holds nothing to free. */
int qa_load(const char *path, const qa_options *opt, qa_analysis *a);
/* Analyse rows already in memory; takes ownership of rows and meta (even on failure). */
int qa_analyze(const char *path, qs_cell_result *rows, int n_rows, qs_run_meta *meta,
               const qa_options *opt, qa_analysis *a);
/* Several results files of one machine (the same backend and GPU names) as one sweep:
 * their rows in the order given, so a cell in a later file replaces the same cell of an
 * earlier one. n == 1 is qa_load. Files of different backends or GPUs are refused: their
 * latencies do not belong in one table. */
int qa_load_many(const char *const *paths, int n, const qa_options *opt, qa_analysis *a);
/* Take the calibrations (ownership, even on failure) and (re)compute every cell's
 * roofline figures from them: qa_load does it with the file's /calibration groups. */
int qa_attach_calibration(qa_analysis *a, qs_calibration *cals, int n);
/* A cell's roofline figures from its row and a calibration (NULL: no ceiling), as
 * analysis/README.md defines them; qa_attach_calibration's per-cell step. */
void qa_roofline_cell(qa_cell *c, const qs_calibration *cal);
/* The calibration a cell's ceilings come from: the one of its rank on the same device
 * name, else the first on the same device name; -1 if none. */
int qa_calib_for(const qa_analysis *a, const qs_cell_result *r);
/* The first successful bandwidth entry of a calibration, or NULL. */
const qs_calib_entry *qa_calib_bandwidth(const qs_calibration *c);
/* Any successful cell with an achieved rate / with a ceiling? */
int qa_any_roofline(const qa_analysis *a);
int qa_any_ceiling(const qa_analysis *a);

/* The metadata of file i of a multi-file analysis (0 <= i < n_sources). */
const qs_run_meta *qa_source_meta(const qa_analysis *a, int i);
void qa_free(qa_analysis *a);

/* Cell index at (group, model, precision), or -1. */
int qa_cell_at(const qa_analysis *a, int group, int model, int prec);
/* Display rank of a precision name (fp32 0, fp16 1, bf16 2, int8 3, int8dyn 4, fp8 5, nf4 6, others 7). */
int qa_prec_rank(const char *prec);
/* "FP16", "INT8", ...: the upper-case label of a precision. */
void qa_prec_label(const char *prec, char *buf, size_t cap);
/* What a precision family is ("half precision", "LLM.int8 (bitsandbytes)", ...). */
const char *qa_prec_method(const char *prec);

/* "peak", "weight_bytes", or NULL for QA_MEM_NONE (CSV / JSON). */
const char *qa_mem_basis_name(qa_mem_basis b);
/* The label of a memory reduction made of n values of which n_weights come from weight
 * bytes: "" (none), "from weight bytes" (all), "partly from weight bytes". */
const char *qa_mem_basis_note(int n, int n_weights);
/* Whether any cell's memory reduction comes from weight bytes. */
int qa_any_mem_weights(const qa_analysis *a);

/* Number formatting (format.c): NaN gives QA_DASH; each returns buf. */
const char *qa_fmt(char *buf, size_t cap, const char *fmt, double v);
const char *qa_fmt_ms(char *buf, size_t cap, double ms);         /* 2 decimals, 3 below 1 ms */
const char *qa_fmt_speedup(char *buf, size_t cap, double x);     /* "1.33x" */
const char *qa_fmt_pct(char *buf, size_t cap, double pct);       /* "44.5%" */
const char *qa_fmt_params(char *buf, size_t cap, double params); /* "86.6 M" */

/* Every field of qs_cell_result (in struct order, then n_samples): CSV and JSON use it. */
typedef enum { QA_F_STR, QA_F_I32, QA_F_DBL } qa_field_kind;
typedef struct {
  const char *name;
  qa_field_kind kind;
  size_t off;
} qa_field;
extern const qa_field qa_cell_fields[];
extern const int qa_n_cell_fields;

/* Text for a markdown table cell ('|' escaped, no line breaks, no HTML); a CSV field
 * (quoted where needed); a CSV number (empty where not measured). */
void qa_md_text(FILE *out, const char *s);
void qa_csv_str(FILE *out, const char *s);
void qa_csv_dbl(FILE *out, double v);

/* Writers: QS_OK, or QS_EIO with a message naming `what` (the output file). */
int qa_write_markdown(const qa_analysis *a, FILE *out, const char *what, const char *svg_dir);
/* One self-contained HTML file (inline CSS and SVG charts, no scripts, nothing fetched):
 * the markdown report's sections plus a speedup heatmap per batch size, latency and
 * throughput vs batch size per model, memory, fidelity and latency vs parameters. */
int qa_write_html(const qa_analysis *a, FILE *out, const char *what);
int qa_write_csv(const qa_analysis *a, FILE *out, const char *what);
int qa_write_json(const qa_analysis *a, FILE *out, const char *what);
/* The three charts into dir (created if missing): speedup_heatmap.svg,
 * memory_efficiency.svg, latency_vs_params.svg. */
int qa_write_svgs(const qa_analysis *a, const char *dir);
extern const char *const qa_svg_files[3];
/* The charts one by one into f (svg.c). attrs NULL: a standalone SVG file; else an
 * <svg> element for inline use in HTML, with these extra attributes (id, data-*).
 * heatmap: group g; memory, fidelity (relative L2 error), scatter: the summary group;
 * batch: median latency (throughput 0) or throughput vs batch size, one panel per model. */
void qa_svg_heatmap(const qa_analysis *a, FILE *f, int g, const char *attrs);
void qa_svg_memory(const qa_analysis *a, FILE *f, const char *attrs);
void qa_svg_fidelity(const qa_analysis *a, FILE *f, const char *attrs);
void qa_svg_scatter(const qa_analysis *a, FILE *f, const char *attrs);
void qa_svg_batch(const qa_analysis *a, FILE *f, int throughput, const char *attrs);
/* Roofline (log-log): achieved TFLOP/s against arithmetic intensity, one point per
 * successful tp 1 cell (every batch size), the measured ceilings of the first calibration
 * as roofs (each precision's GEMM rate, the copy bandwidth's slope); points only where
 * the file has no calibration. */
void qa_svg_roofline(const qa_analysis *a, FILE *f, const char *attrs);

/* ---- compare.c: two runs cell by cell (qsweep-analyze --compare BASE NEW) ---------- */

typedef enum {
  QA_CMP_SAME = 0,   /* the 95% CIs of the two medians overlap: within noise */
  QA_CMP_FASTER = 1, /* NEW's CI lies wholly below BASE's */
  QA_CMP_SLOWER = 2, /* NEW's CI lies wholly above BASE's */
  QA_CMP_NO_CI = 3,  /* both ok, but a CI is missing: medians only, no verdict */
  QA_CMP_NONE = 4    /* not comparable: absent or not ok on one side */
} qa_cmp_verdict;

typedef struct {
  const qs_cell_result *base, *new_; /* NULL where the run has no cell of this key */
  double speedup; /* base median / new median: > 1 means NEW is faster; NaN if not comparable */
  double mem_ratio; /* new peak / base peak; NaN where either is missing */
  qa_cmp_verdict verdict;
} qa_cmp_cell;

typedef struct {
  char name[16];
  int n;              /* cells compared (both ok, both medians) */
  double geo_speedup; /* geometric mean of the speedups; NaN if n == 0 */
  int faster, slower, same, no_ci;
} qa_cmp_prec;

typedef struct {
  qa_analysis base, new_;
  qa_cmp_cell *cells; /* every key of either run, in BASE's cell order, then NEW's extra keys */
  int n_cells;
  qa_cmp_prec *precs; /* display order */
  int n_precs;
  int n_compared, only_base, only_new, not_ok;
} qa_compare;

/* Load both files (each with its own checks; simulated runs are refused) and pair the
 * cells by key. On failure nothing is left to free. */
int qa_compare_load(const char *base, const char *new_, qa_compare *c);
void qa_compare_free(qa_compare *c);
int qa_write_compare_md(const qa_compare *c, FILE *out, const char *what);
int qa_write_compare_csv(const qa_compare *c, FILE *out, const char *what);
int qa_write_compare_html(const qa_compare *c, FILE *out, const char *what);

#endif
