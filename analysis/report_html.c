/* report_html.c - the report as one self-contained HTML file: the markdown report's
 * sections (written once, report_md.c, through doc.c) with inline CSS and inline SVG
 * charts; no scripts, fonts, images or anything else fetched.
 *
 * Ids tests and readers can rely on: sections (h2/h3) run, overview, key-insights,
 * method-analysis, batch-scaling, results-bN, architecture, summary-charts, roofline
 * (calibration, roofline-cells), failed-cells, notes; tables table-*; charts (figure) chart-*, each with data-chart
 * (and data-batch for the per-batch heatmaps). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "doc.h"
#include "qs_common.h"

static const char k_css[] =
    "body{font-family:'DejaVu Sans','Liberation Sans',Arial,Helvetica,sans-serif;margin:0;"
    "color:#222;background:#fafafa;line-height:1.45}\n"
    "main{max-width:1180px;margin:0 auto;padding:16px 28px 48px;background:#fff}\n"
    "h1{font-size:26px;margin:12px 0 4px}h2{font-size:20px;margin-top:34px;border-bottom:2px solid #ddd;"
    "padding-bottom:4px}h3{font-size:16px;margin-top:22px}\n"
    "nav{font-size:13px;background:#f3f5f8;border:1px solid #dde3ea;padding:8px 12px;margin:12px 0}\n"
    "nav a{margin-right:12px;color:#2166ac;text-decoration:none;white-space:nowrap}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0 14px}\n"
    "th,td{border:1px solid #d9d9d9;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f0f3f7}th.num{text-align:right}\n"
    "td{font-variant-numeric:tabular-nums}td.num{text-align:right;white-space:nowrap}\n"
    "td:first-child{white-space:nowrap}\n"
    "td.na{color:#999}td.bad{color:#b2182b;font-weight:bold}\n"
    "tbody tr:nth-child(even){background:#fbfbfb}\n"
    "code{background:#f2f2f2;padding:1px 4px;font-size:12px;word-break:break-all}\n"
    "figure{margin:12px 0 20px}figure svg{max-width:100%;height:auto;border:1px solid #eee}\n"
    "figcaption{font-size:12px;color:#555}\n"
    ".sub{color:#555;font-size:13px}\n";

void qa_html_page_begin(FILE *out, const char *title) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
        out);
  qa_html_text(out, title);
  fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", k_css);
}

void qa_html_page_end(FILE *out) { fputs("</main>\n</body>\n</html>\n", out); }

/* <figure id=ID data-chart=KIND [data-batch=B]> the chart, a caption </figure> */
typedef enum {
  FIG_HEATMAP,
  FIG_LATENCY_BATCH,
  FIG_THROUGHPUT_BATCH,
  FIG_MEMORY,
  FIG_FIDELITY,
  FIG_PARAMS,
  FIG_ROOFLINE
} fig_kind;

static void figure(qa_doc *d, const qa_analysis *a, fig_kind kind, int g, const char *caption) {
  static const char *const names[] = {"speedup-heatmap", "latency-vs-batch", "throughput-vs-batch",
                                      "memory-reduction", "fidelity", "latency-vs-params", "roofline"};
  char id[96], attrs[160], gid[48] = "";
  if (kind == FIG_HEATMAP) doc_group_id(a, g, gid, sizeof gid);
  snprintf(id, sizeof id, "chart-%s%s%s", names[kind], gid[0] ? "-" : "", gid);
  fprintf(d->out, "<figure id=\"%s\" class=\"chart\" data-chart=\"%s\"", id, names[kind]);
  if (kind == FIG_HEATMAP) fprintf(d->out, " data-batch=\"%d\" data-tp=\"%d\"", a->groups[g].batch, a->groups[g].tp);
  fputs(">\n", d->out);
  snprintf(attrs, sizeof attrs, "aria-labelledby=\"%s-cap\"", id);
  switch (kind) {
    case FIG_HEATMAP: qa_svg_heatmap(a, d->out, g, attrs); break;
    case FIG_LATENCY_BATCH: qa_svg_batch(a, d->out, 0, attrs); break;
    case FIG_THROUGHPUT_BATCH: qa_svg_batch(a, d->out, 1, attrs); break;
    case FIG_MEMORY: qa_svg_memory(a, d->out, attrs); break;
    case FIG_FIDELITY: qa_svg_fidelity(a, d->out, attrs); break;
    case FIG_PARAMS: qa_svg_scatter(a, d->out, attrs); break;
    case FIG_ROOFLINE: qa_svg_roofline(a, d->out, attrs); break;
  }
  fprintf(d->out, "<figcaption id=\"%s-cap\">", id);
  doc_text(d, caption);
  fputs("</figcaption>\n</figure>\n", d->out);
}

static void html_figures(qa_doc *d, const qa_analysis *a, qa_fig_place place, int g) {
  char gt[160];
  switch (place) {
    case QA_FIG_BATCH_SCALING:
      doc_heading(d, 2, "batch-scaling", "Batch scaling");
      doc_para(d, "Median latency and throughput against the batch size, one panel per model and "
                  "one line per precision (successful cells; a gap is a cell that failed or was not "
                  "measured). Throughput is the images per second the runner recorded.");
      figure(d, a, FIG_LATENCY_BATCH, -1, "Median latency vs batch size, per model and precision.");
      figure(d, a, FIG_THROUGHPUT_BATCH, -1, "Throughput vs batch size, per model and precision.");
      break;
    case QA_FIG_GROUP:
      snprintf(gt, sizeof gt, "Speedup vs %s, batch size %d%s: blue faster, red slower, grey not measured.",
               a->baseline_name, a->groups[g].batch, a->groups[g].tp != 1 ? " (tensor parallel)" : "");
      figure(d, a, FIG_HEATMAP, g, gt);
      break;
    case QA_FIG_SUMMARY:
      if (a->summary < 0) break;
      snprintf(gt, sizeof gt, "batch size %d", a->groups[a->summary].batch);
      doc_heading(d, 2, "summary-charts", "Memory, fidelity and size - %s", gt);
      figure(d, a, FIG_MEMORY, -1,
             qa_any_mem_weights(a) ? "Memory reduction per model and precision. The backend "
                                     "recorded no peak memory, so the bars compare the measured "
                                     "weight bytes (activations and workspace left out)."
                                   : "Memory reduction per model and precision (peak memory).");
      figure(d, a, FIG_FIDELITY, -1, "Relative L2 error of the output against fp32 (log scale).");
      figure(d, a, FIG_PARAMS, -1, "Median latency against parameter count (log-log).");
      break;
    case QA_FIG_ROOFLINE:
      figure(d, a, FIG_ROOFLINE, -1,
             qa_any_ceiling(a) ? "Roofline (log-log): achieved TFLOP/s against arithmetic intensity, one point per "
                                 "successful single-device cell; roofs: each precision's measured GEMM rate and the "
                                 "measured copy bandwidth."
                               : "Achieved TFLOP/s against arithmetic intensity (log-log), one point per successful "
                                 "single-device cell; no calibration in the file, so no roofs.");
      break;
    case QA_FIG_END: break;
  }
}

/* Links to the sections, in report order. */
static void write_nav(const qa_analysis *a, FILE *out) {
  fputs("<nav id=\"contents\">", out);
  fprintf(out, "<a href=\"#%s\">Run</a>", a->n_sources > 1 ? "runs" : "run");
  fputs("<a href=\"#overview\">Overview</a><a href=\"#key-insights\">Key insights</a>"
        "<a href=\"#method-analysis\">Methods</a><a href=\"#batch-scaling\">Batch scaling</a>",
        out);
  for (int g = 0; g < a->n_groups; g++) {
    char gid[48];
    doc_group_id(a, g, gid, sizeof gid);
    fprintf(out, "<a href=\"#results-%s\">Batch %d%s</a>", gid, a->groups[g].batch,
            a->groups[g].tp != 1 ? " (tp)" : "");
  }
  if (a->summary >= 0)
    fputs("<a href=\"#architecture\">Architecture</a><a href=\"#summary-charts\">Memory &amp; fidelity</a>", out);
  fputs("<a href=\"#roofline\">Roofline</a>", out);
  fputs("<a href=\"#failed-cells\">Failed cells</a><a href=\"#notes\">Notes</a></nav>\n", out);
}

int qa_write_html(const qa_analysis *a, FILE *out, const char *what) {
  qa_doc d = {.out = out, .kind = QA_DOC_HTML, .figures = html_figures};
  errno = 0;
  qa_html_page_begin(out, "qsweep report");
  fputs("<h1 id=\"top\">qsweep report</h1>\n<p class=\"sub\">", out);
  qa_html_text(out, a->path);
  fputs("</p>\n", out);
  write_nav(a, out);
  qa_report_sections(a, &d);
  qa_html_page_end(out);
  if (fflush(out) != 0 || ferror(out))
    return qs_fail(QS_EIO, "%s: write: %s", what, errno ? strerror(errno) : "error");
  return QS_OK;
}
