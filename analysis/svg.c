/* svg.c - self-contained SVG charts (no scripts, no external fonts or images), as
 * files (--svg) or inline in the HTML report: a speedup heatmap (model x precision,
 * per batch size), memory efficiency and fidelity (grouped bars per model and
 * precision), latency vs parameters (log-log scatter, one colour per precision), and
 * latency / throughput vs batch size (a panel per model, a line per precision). */
#define _XOPEN_SOURCE 700 /* M_PI */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "analysis.h"
#include "doc.h"
#include "qs_common.h"

const char *const qa_svg_files[3] = {"speedup_heatmap.svg", "memory_efficiency.svg",
                                     "latency_vs_params.svg"};

#define FONT "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
#define CHAR_W 7.0 /* rough advance of a 12 px sans-serif character */

/* ---- primitives ------------------------------------------------------------------ */

/* Text content or attribute value: markup characters as entities; control characters
 * (not allowed in XML 1.0) dropped. The HTML writer's escaping is valid XML too. */
static void xml_text(FILE *f, const char *s) { qa_html_text(f, s); }

/* attrs NULL: a standalone file (XML declaration); else an <svg> inline in HTML with
 * these extra attributes (id, data-*). */
static void svg_begin(FILE *f, int w, int h, const char *title, const char *attrs) {
  if (!attrs) fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"%s\" font-size=\"12\"%s%s role=\"img\">\n<title>",
          w, h, w, h, FONT, attrs ? " " : "", attrs ? attrs : "");
  xml_text(f, title);
  fprintf(f, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", w,
          h);
}

static void svg_end(FILE *f) { fputs("</svg>\n", f); }

/* <text> with escaped content; extra is raw attributes (font-size, fill, transform). */
static void svg_text(FILE *f, double x, double y, const char *anchor, const char *extra,
                     const char *text) {
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor,
          extra && *extra ? " " : "", extra ? extra : "");
  xml_text(f, text);
  fputs("</text>\n", f);
}

static void svg_title_block(FILE *f, double x, const char *title, const char *subtitle) {
  svg_text(f, x, 24, "start", "font-size=\"16\" font-weight=\"bold\" fill=\"#222222\"", title);
  if (subtitle) svg_text(f, x, 42, "start", "font-size=\"11\" fill=\"#555555\"", subtitle);
}

/* Colour per precision: the known ones fixed, others from a second palette. */
static const char *prec_colour(const qa_analysis *a, int p) {
  static const char *const known[] = {"#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#17becf", "#e377c2", "#d62728"};
  static const char *const other[] = {"#8c564b", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78"};
  int r = qa_prec_rank(a->precs[p].name);
  if (r < (int)QS_ARRAY_LEN(known)) return known[r];
  int k = 0;
  for (int q = 0; q < p; q++) k += qa_prec_rank(a->precs[q].name) >= (int)QS_ARRAY_LEN(known);
  return other[k % (int)QS_ARRAY_LEN(other)];
}

static int model_in_group(const qa_analysis *a, int g, int m) {
  for (int p = 0; p < a->n_precs; p++)
    if (qa_cell_at(a, g, m, p) >= 0) return 1;
  return 0;
}

static double longest_model_name(const qa_analysis *a) {
  size_t n = 8;
  for (int m = 0; m < a->n_models; m++)
    if (strlen(a->models[m].name) > n) n = strlen(a->models[m].name);
  return (double)n;
}

static void group_phrase(const qa_analysis *a, int g, char *buf, size_t cap) {
  if (g < 0) {
    snprintf(buf, cap, "no cells");
  } else if (a->groups[g].tp != 1) {
    snprintf(buf, cap, "batch size %d, tensor parallel %d", a->groups[g].batch, a->groups[g].tp);
  } else {
    snprintf(buf, cap, "batch size %d", a->groups[g].batch);
  }
}

/* ---- speedup heatmap --------------------------------------------------------------- */

static void mix(const int from[3], const int to[3], double t, char *buf, size_t cap) {
  int c[3];
  for (int i = 0; i < 3; i++) c[i] = (int)lround(from[i] + (to[i] - from[i]) * t);
  snprintf(buf, cap, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* Diverging scale on log2(speedup) in [-L, L]: red slower, white equal, blue faster. */
static void speedup_colour(double s, double L, char *buf, size_t cap, int *dark) {
  static const int white[3] = {247, 247, 247}, red[3] = {178, 24, 43}, blue[3] = {33, 102, 172};
  double t = log2(s) / L;
  if (t > 1) t = 1;
  if (t < -1) t = -1;
  mix(white, t < 0 ? red : blue, fabs(t), buf, cap);
  *dark = fabs(t) > 0.55;
}

void qa_svg_heatmap(const qa_analysis *a, FILE *f, int g, const char *attrs) {
  const double cw = 92, ch = 26, top = 84;
  const double left = 24 + longest_model_name(a) * CHAR_W;
  int rows = 0;
  double maxlog = 1;
  for (int m = 0; m < a->n_models && g >= 0; m++) {
    if (!model_in_group(a, g, m)) continue;
    rows++;
    for (int p = 0; p < a->n_precs; p++) {
      int ci = qa_cell_at(a, g, m, p);
      if (ci >= 0 && isfinite(a->cells[ci].speedup) && a->cells[ci].speedup > 0)
        maxlog = fmax(maxlog, fabs(log2(a->cells[ci].speedup)));
    }
  }
  double L = fmin(ceil(maxlog - 1e-9), 4); /* whole powers of two, at most 16x */
  double grid_h = rows * ch;
  double legend_x = left + a->n_precs * cw + 36;
  int w = (int)(legend_x + 110), h = (int)(top + fmax(grid_h, 220) + 56);
  char gp[96], title[160], sub[200];
  group_phrase(a, g, gp, sizeof gp);
  snprintf(title, sizeof title, "Speedup vs %s (median latency), %s", a->baseline_name, gp);
  snprintf(sub, sizeof sub,
           "baseline median / precision median; blue: faster, red: slower; grey: not measured "
           "or no %s cell",
           a->baseline_name);
  if (w < 640) w = 640;
  svg_begin(f, w, h, title, attrs);
  svg_title_block(f, 16, title, sub);
  for (int p = 0; p < a->n_precs; p++)
    svg_text(f, left + p * cw + cw / 2, top - 10, "middle", "font-weight=\"bold\"",
             a->precs[p].name);
  int row = 0;
  char fill[16], b[64];
  for (int m = 0; m < a->n_models && g >= 0; m++) {
    if (!model_in_group(a, g, m)) continue;
    double y = top + row * ch;
    svg_text(f, left - 8, y + ch / 2 + 4, "end", NULL, a->models[m].name);
    for (int p = 0; p < a->n_precs; p++) {
      int ci = qa_cell_at(a, g, m, p);
      const qa_cell *c = ci >= 0 ? &a->cells[ci] : NULL;
      int dark = 0;
      const char *label = QA_DASH;
      if (c && isfinite(c->speedup) && c->speedup > 0) {
        speedup_colour(c->speedup, L, fill, sizeof fill, &dark);
        label = qa_fmt_speedup(b, sizeof b, c->speedup);
      } else {
        snprintf(fill, sizeof fill, "#dddddd");
        if (c && !c->ok) label = c->r->status;
      }
      double x = left + p * cw;
      fprintf(f,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
              "stroke=\"#ffffff\" stroke-width=\"1.5\"/>\n",
              x, y, cw, ch, fill);
      svg_text(f, x + cw / 2, y + ch / 2 + 4, "middle",
               dark ? "fill=\"#ffffff\"" : "fill=\"#222222\"", label);
    }
    row++;
  }
  if (rows == 0) svg_text(f, left, top + 20, "start", NULL, "no cells to show");
  /* legend: a vertical colour bar, faster at the top */
  double lh = 200, ly = top + 12;
  /* one gradient id per group: several heatmaps share one HTML page */
  fprintf(f,
          "<defs><linearGradient id=\"speedup-scale-%d\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
          "<stop offset=\"0\" stop-color=\"#2166ac\"/><stop offset=\"0.5\" stop-color=\"#f7f7f7\"/>"
          "<stop offset=\"1\" stop-color=\"#b2182b\"/></linearGradient></defs>\n",
          g);
  svg_text(f, legend_x, top - 10, "start", "font-weight=\"bold\"", "speedup");
  fprintf(f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"%.1f\" fill=\"url(#speedup-scale-%d)\" "
          "stroke=\"#888888\"/>\n",
          legend_x, ly, lh, g);
  for (int k = (int)L; k >= -(int)L; k--) {
    double ty = ly + lh * (L - k) / (2 * L);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n",
            legend_x + 18, ty, legend_x + 23, ty);
    snprintf(b, sizeof b, "%gx", pow(2.0, k));
    svg_text(f, legend_x + 27, ty + 4, "start", NULL, b);
  }
  svg_end(f);
}

/* ---- grouped bars: memory efficiency, fidelity ----------------------------------- */

/* One horizontal bar per model and non-baseline precision at the summary group. */
typedef struct {
  const char *title, *subtitle, *axis_label;
  double (*value)(const qa_cell *c); /* NaN: no bar */
  int log_axis;                      /* log10 axis (values > 0) instead of linear percent */
  void (*label)(double v, char *buf, size_t cap);
  /* grey text under the model's name (or NULL) */
  void (*under)(const qa_analysis *a, int m, char *buf, size_t cap);
} bar_spec;

static double bar_value(const qa_analysis *a, const bar_spec *sp, int m, int p) {
  int ci = qa_cell_at(a, a->summary, m, p);
  if (p == a->baseline || ci < 0 || !a->cells[ci].ok) return NAN;
  double v = sp->value(&a->cells[ci]);
  return sp->log_axis && !(v > 0) ? NAN : v;
}

static void write_bars(const qa_analysis *a, FILE *f, const char *attrs, const bar_spec *sp) {
  const double bar_h = 11, bar_gap = 2, group_gap = 14, top = 92, plot_w = 560;
  const double left = 24 + longest_model_name(a) * CHAR_W;
  char b[96];
  /* which models and precisions have a bar, and the value range */
  int n_bar_precs = 0, n_models = 0;
  double vmin = sp->log_axis ? INFINITY : 0, vmax = sp->log_axis ? -INFINITY : 100;
  for (int p = 0; p < a->n_precs; p++) n_bar_precs += p != a->baseline;
  for (int m = 0; m < a->n_models && a->summary >= 0; m++) {
    int any = 0;
    for (int p = 0; p < a->n_precs; p++) {
      double v = bar_value(a, sp, m, p);
      if (!isfinite(v)) continue;
      any = 1;
      vmin = fmin(vmin, v);
      vmax = fmax(vmax, v);
    }
    n_models += any;
  }
  double step = 20; /* linear: ticks every 20 %; log: every decade */
  if (sp->log_axis && n_models > 0) {
    vmin = floor(log10(vmin));
    vmax = ceil(log10(vmax));
    if (vmax <= vmin) vmax = vmin + 1;
    step = 1;
  } else {
    vmin = floor(vmin / 20) * 20;
    vmax = ceil(vmax / 20) * 20;
  }
  double group_h = fmax(n_bar_precs * (bar_h + bar_gap), 30) + group_gap;
  int w = (int)(left + plot_w + 80), h = (int)(top + n_models * group_h + 50);
  if (n_models == 0) h = (int)top + 80;
  svg_begin(f, w, h, sp->title, attrs);
  svg_title_block(f, 16, sp->title, sp->subtitle);
  /* legend row */
  double lx = left;
  for (int p = 0; p < a->n_precs; p++) {
    if (p == a->baseline) continue;
    fprintf(f, "<rect x=\"%.1f\" y=\"54\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", lx,
            prec_colour(a, p));
    svg_text(f, lx + 17, 64, "start", NULL, a->precs[p].name);
    lx += 30 + strlen(a->precs[p].name) * CHAR_W;
  }
  if (n_models == 0) {
    svg_text(f, 16, top + 20, "start", NULL, "nothing to show: not measured, or no successful baseline cells");
    svg_end(f);
    return;
  }
  double plot_h = n_models * group_h;
#define XPOS(v) (left + ((sp->log_axis ? log10(v) : (v)) - vmin) / (vmax - vmin) * plot_w)
  for (double t = vmin; t <= vmax + 1e-9; t += step) {
    double v = sp->log_axis ? pow(10.0, t) : t;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", XPOS(v),
            top - 6, XPOS(v), top + plot_h, t == 0 && !sp->log_axis ? "#555555" : "#e5e5e5");
    snprintf(b, sizeof b, sp->log_axis ? "%g" : "%g%%", v);
    svg_text(f, XPOS(v), top + plot_h + 16, "middle", "fill=\"#444444\"", b);
  }
  svg_text(f, left + plot_w / 2, top + plot_h + 36, "middle", NULL, sp->axis_label);
  double origin = sp->log_axis ? pow(10.0, vmin) : 0; /* where bars start */
  int row = 0;
  for (int m = 0; m < a->n_models; m++) {
    int any = 0;
    for (int p = 0; p < a->n_precs; p++) any |= isfinite(bar_value(a, sp, m, p));
    if (!any) continue;
    double y0 = top + row * group_h;
    double mid = y0 + (group_h - group_gap) / 2;
    svg_text(f, left - 8, mid, "end", "fill=\"#222222\"", a->models[m].name);
    if (sp->under) {
      sp->under(a, m, b, sizeof b);
      svg_text(f, left - 8, mid + 13, "end", "font-size=\"10\" fill=\"#777777\"", b);
    }
    int k = 0;
    for (int p = 0; p < a->n_precs; p++) {
      if (p == a->baseline) continue;
      double y = y0 + k * (bar_h + bar_gap);
      k++;
      int ci = qa_cell_at(a, a->summary, m, p);
      if (ci >= 0 && !a->cells[ci].ok) /* say why the bar is missing */
        svg_text(f, XPOS(origin) + 4, y + bar_h - 1.5, "start", "font-size=\"10\" fill=\"#b2182b\"",
                 a->cells[ci].r->status);
      double v = bar_value(a, sp, m, p);
      if (!isfinite(v)) continue;
      double x0 = XPOS(sp->log_axis ? origin : fmin(0, v)), x1 = XPOS(sp->log_axis ? v : fmax(0, v));
      fprintf(f,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
              x0, y, fmax(x1 - x0, 0.5), bar_h, prec_colour(a, p));
      xml_text(f, a->models[m].name);
      sp->label(v, b, sizeof b);
      fprintf(f, " %s: ", a->precs[p].name);
      xml_text(f, b);
      fputs("</title></rect>\n", f);
      int neg = !sp->log_axis && v < 0;
      svg_text(f, neg ? x0 - 4 : x1 + 4, y + bar_h - 1.5, neg ? "end" : "start",
               "font-size=\"10\" fill=\"#333333\"", b);
    }
    row++;
  }
#undef XPOS
  svg_end(f);
}

static double mem_value(const qa_cell *c) { return c->mem_reduction_pct; }
static void mem_label(double v, char *buf, size_t cap) { qa_fmt_pct(buf, cap, v); }

/* "fp32 1214.3 MB" (peak) or "fp32 weights 0.098 MB" */
static void mem_under(const qa_analysis *a, int m, char *buf, size_t cap) {
  char v[64];
  int bi = qa_cell_at(a, a->summary, m, a->baseline);
  const qs_cell_result *r = bi >= 0 ? a->cells[bi].r : NULL;
  int weights = 0;
  for (int p = 0; p < a->n_precs; p++) {
    int ci = qa_cell_at(a, a->summary, m, p);
    weights |= ci >= 0 && a->cells[ci].mem_basis == QA_MEM_WEIGHTS;
  }
  double mb = r ? (weights ? r->weight_mb : r->peak_mb) : NAN;
  qa_fmt(v, sizeof v, isfinite(mb) && mb < 1 ? "%.3f" : "%.1f", mb);
  snprintf(buf, cap, "%s %s%s MB", a->baseline_name, weights ? "weights " : "", v);
}

void qa_svg_memory(const qa_analysis *a, FILE *f, const char *attrs) {
  char gp[96], title[200], sub[240];
  group_phrase(a, a->summary, gp, sizeof gp);
  int weights = 0, peak = 0;
  for (int i = 0; i < a->n_cells; i++) {
    if (a->cells[i].group != a->summary) continue;
    weights |= a->cells[i].mem_basis == QA_MEM_WEIGHTS;
    peak |= a->cells[i].mem_basis == QA_MEM_PEAK;
  }
  snprintf(title, sizeof title, "Memory reduction vs %s (%s), %s", a->baseline_name,
           weights ? (peak ? "peak MB, or weight bytes where no peak was measured"
                           : "from weight bytes: no peak counter")
                   : "peak MB",
           gp);
  snprintf(sub, sizeof sub,
           "100 x (1 - %s / %s of %s), per model and precision; the %s figure is under each "
           "model name",
           weights && !peak ? "weight bytes" : "peak", weights && !peak ? "weight bytes" : "peak",
           a->baseline_name, a->baseline_name);
  bar_spec sp = {title, sub, "memory reduction (%)", mem_value, 0, mem_label, mem_under};
  write_bars(a, f, attrs, &sp);
}

static double fid_value(const qa_cell *c) { return c->r->fid_rel_l2; }
static void fid_label(double v, char *buf, size_t cap) { qa_fmt(buf, cap, "%.2e", v); }

void qa_svg_fidelity(const qa_analysis *a, FILE *f, const char *attrs) {
  char gp[96], title[200];
  group_phrase(a, a->summary, gp, sizeof gp);
  snprintf(title, sizeof title, "Fidelity: relative L2 error vs the fp32 output, %s", gp);
  bar_spec sp = {title, "||y - y_fp32|| / ||y_fp32|| on the fixed input, log scale; shorter is closer to fp32",
                 "relative L2 error (log)", fid_value, 1, fid_label, NULL};
  write_bars(a, f, attrs, &sp);
}

/* ---- latency vs parameters ------------------------------------------------------ */

/* One marker shape per precision (circle, square, triangle, diamond, ...) so that
 * points of different precisions stay apart where they overlap; `tail` closes the
 * element (e.g. "/>" or "><title>"). */
static void marker(FILE *f, int p, double x, double y, const char *fill, const char *tail) {
  const double r = 5;
  switch (p % 4) {
    case 0: fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", x, y, r); break;
    case 1:
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", x - r * 0.9,
              y - r * 0.9, 1.8 * r, 1.8 * r);
      break;
    case 2:
      fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - 1.2 * r,
              x + 1.1 * r, y + 0.8 * r, x - 1.1 * r, y + 0.8 * r);
      break;
    default:
      fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - 1.3 * r,
              x + 1.3 * r, y, x, y + 1.3 * r, x - 1.3 * r, y);
  }
  fprintf(f, " fill=\"%s\" fill-opacity=\"0.85\" stroke=\"#ffffff\" stroke-width=\"1\"%s", fill,
          tail);
}

static void log_range(double lo, double hi, double *a, double *b) {
  *a = floor(log10(lo));
  *b = ceil(log10(hi));
  if (*b <= *a) *b = *a + 1;
}

static void fmt_params_tick(double v, char *buf, size_t cap) {
  if (v >= 1e9)
    snprintf(buf, cap, "%gG", v / 1e9);
  else if (v >= 1e6)
    snprintf(buf, cap, "%gM", v / 1e6);
  else if (v >= 1e3)
    snprintf(buf, cap, "%gk", v / 1e3);
  else
    snprintf(buf, cap, "%g", v);
}

void qa_svg_scatter(const qa_analysis *a, FILE *f, const char *attrs) {
  const double left = 84, top = 64, plot_w = 760, plot_h = 500, legend_w = 150;
  char gp[96], title[160], b[64];
  group_phrase(a, a->summary, gp, sizeof gp);
  snprintf(title, sizeof title, "Median latency vs parameters, %s", gp);
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  int n = 0;
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != a->summary || !c->ok) continue;
    double x = c->r->params, y = c->r->lat_median_ms;
    if (!(isfinite(x) && x > 0 && isfinite(y) && y > 0)) continue;
    xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
    n++;
  }
  int w = (int)(left + plot_w + legend_w + 20), h = (int)(top + plot_h + 64);
  svg_begin(f, w, h, title, attrs);
  svg_title_block(f, 16, title, "log-log; one point per model and precision (successful cells); hover for names");
  if (n == 0) {
    svg_text(f, left, top + 30, "start", NULL,
             "no cells with both a parameter count and a median latency");
    svg_end(f);
    return;
  }
  double x0, x1, y0, y1;
  log_range(xlo, xhi, &x0, &x1);
  log_range(ylo, yhi, &y0, &y1);
#define PX(v) (left + (log10(v) - x0) / (x1 - x0) * plot_w)
#define PY(v) (top + plot_h - (log10(v) - y0) / (y1 - y0) * plot_h)
  fprintf(f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
          "stroke=\"#888888\"/>\n",
          left, top, plot_w, plot_h);
  /* grid: every decade, and 2 and 5 where the axis spans few decades */
  static const double minors[] = {1, 2, 5};
  for (int axis = 0; axis < 2; axis++) {
    double d0 = axis ? y0 : x0, d1 = axis ? y1 : x1;
    int labelled_minor = d1 - d0 <= 2;
    for (double d = d0; d <= d1 + 1e-9; d++) {
      for (size_t k = 0; k < QS_ARRAY_LEN(minors); k++) {
        double v = minors[k] * pow(10.0, d);
        if (log10(v) > d1 + 1e-9) break;
        int major = k == 0;
        if (!major && !labelled_minor) continue;
        if (axis == 0) {
          fprintf(f,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                  PX(v), top, PX(v), top + plot_h, major ? "#dddddd" : "#f0f0f0");
          fmt_params_tick(v, b, sizeof b);
          svg_text(f, PX(v), top + plot_h + 16, "middle", "fill=\"#444444\"", b);
        } else {
          fprintf(f,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                  left, PY(v), left + plot_w, PY(v), major ? "#dddddd" : "#f0f0f0");
          snprintf(b, sizeof b, "%g", v);
          svg_text(f, left - 6, PY(v) + 4, "end", "fill=\"#444444\"", b);
        }
      }
    }
  }
  svg_text(f, left + plot_w / 2, top + plot_h + 40, "middle", NULL, "parameters");
  snprintf(b, sizeof b, "rotate(-90 %.1f %.1f)", 22.0, top + plot_h / 2);
  char attr[96];
  snprintf(attr, sizeof attr, "transform=\"%s\"", b);
  svg_text(f, 22, top + plot_h / 2, "middle", attr, "median latency (ms)");
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->group != a->summary || !c->ok) continue;
    double x = c->r->params, y = c->r->lat_median_ms;
    if (!(isfinite(x) && x > 0 && isfinite(y) && y > 0)) continue;
    static const char *const close_tag[4] = {"circle", "rect", "polygon", "polygon"};
    marker(f, c->prec, PX(x), PY(y), prec_colour(a, c->prec), "><title>");
    xml_text(f, c->r->model);
    fprintf(f, " %s: %s ms, ", c->r->precision, qa_fmt_ms(b, sizeof b, y));
    fprintf(f, "%s params</title></%s>\n", qa_fmt_params(b, sizeof b, x), close_tag[c->prec % 4]);
  }
#undef PX
#undef PY
  double lx = left + plot_w + 20, ly = top + 10;
  svg_text(f, lx, ly, "start", "font-weight=\"bold\"", "precision");
  for (int p = 0; p < a->n_precs; p++) {
    ly += 20;
    marker(f, p, lx + 6, ly - 4, prec_colour(a, p), "/>\n");
    svg_text(f, lx + 18, ly, "start", NULL, a->precs[p].name);
  }
  svg_end(f);
}

/* ---- latency / throughput vs batch size ----------------------------------------- */

/* The groups of one tensor-parallel degree (the summary's), in batch order. */
static int batch_groups(const qa_analysis *a, int *out) {
  int tp = a->summary >= 0 ? a->groups[a->summary].tp : 1, n = 0;
  for (int g = 0; g < a->n_groups; g++)
    if (a->groups[g].tp == tp) out[n++] = g;
  return n;
}

static double batch_metric(const qa_cell *c, int throughput) {
  double v = !c || !c->ok ? NAN : throughput ? c->r->throughput_ips : c->r->lat_median_ms;
  return isfinite(v) && v > 0 ? v : NAN;
}

/* An axis over [lo, hi]: log10 (whole decades) where the data spans a decade or more,
 * else linear from zero with a 1-2-5 tick step. */
typedef struct {
  int log;
  double lo, hi, step; /* log: lo and hi are exponents, step 1 */
} axis;

static axis make_axis(double lo, double hi) {
  axis x = {hi / lo >= 10, lo, hi, 1};
  if (x.log) {
    x.lo = floor(log10(lo));
    x.hi = ceil(log10(hi));
    if (x.hi <= x.lo) x.hi = x.lo + 1;
    return x;
  }
  double raw = hi / 4, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
  x.step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  x.lo = 0;
  x.hi = ceil(hi / x.step - 1e-9) * x.step;
  if (x.hi <= 0) x.hi = x.step;
  return x;
}

static double axis_pos(const axis *x, double v) {
  return x->log ? (log10(v) - x->lo) / (x->hi - x->lo) : (v - x->lo) / (x->hi - x->lo);
}

static void tick_label(double v, char *buf, size_t cap) {
  if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3))
    snprintf(buf, cap, "%.0e", v);
  else
    snprintf(buf, cap, "%g", v);
}

void qa_svg_batch(const qa_analysis *a, FILE *f, int throughput, const char *attrs) {
  const double pw = 300, ph = 190, ml = 58, mt = 30, gap_x = 24, gap_y = 56, top = 84;
  const int cols = 3;
  int *gs = qs_malloc(sizeof *gs * (size_t)(a->n_groups ? a->n_groups : 1));
  if (!gs) return;
  int ng = batch_groups(a, gs);
  int rows = (a->n_models + cols - 1) / cols;
  int w = (int)(16 + cols * (ml + pw + gap_x)), h = (int)(top + rows * (mt + ph + gap_y) + 10);
  char title[160], b[96];
  snprintf(title, sizeof title, "%s vs batch size, per model",
           throughput ? "Throughput (images/s)" : "Median latency (ms)");
  svg_begin(f, w, h, title, attrs);
  svg_title_block(f, 16, title,
                  "one line per precision; log axes where the values span a decade or more; "
                  "a missing point is a cell that failed or was not measured");
  double lx = 16;
  for (int p = 0; p < a->n_precs; p++) { /* legend */
    marker(f, p, lx + 6, 62, prec_colour(a, p), "/>\n");
    svg_text(f, lx + 16, 66, "start", NULL, a->precs[p].name);
    lx += 36 + strlen(a->precs[p].name) * CHAR_W;
  }
  double bmin = INFINITY, bmax = -INFINITY;
  for (int k = 0; k < ng; k++) {
    bmin = fmin(bmin, a->groups[gs[k]].batch);
    bmax = fmax(bmax, a->groups[gs[k]].batch);
  }
  for (int m = 0; m < a->n_models; m++) {
    double ox = 16 + (m % cols) * (ml + pw + gap_x) + ml, oy = top + (m / cols) * (mt + ph + gap_y) + mt;
    fprintf(f, "<g class=\"panel\" data-model=\"");
    xml_text(f, a->models[m].name);
    fputs("\">\n", f);
    svg_text(f, ox, oy - 10, "start", "font-weight=\"bold\"", a->models[m].name);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888888\"/>\n",
            ox, oy, pw, ph);
    double vmin = INFINITY, vmax = -INFINITY;
    for (int k = 0; k < ng; k++)
      for (int p = 0; p < a->n_precs; p++) {
        int ci = qa_cell_at(a, gs[k], m, p);
        double v = batch_metric(ci >= 0 ? &a->cells[ci] : NULL, throughput);
        if (isfinite(v)) vmin = fmin(vmin, v), vmax = fmax(vmax, v);
      }
    if (!isfinite(vmin) || ng == 0) {
      svg_text(f, ox + pw / 2, oy + ph / 2, "middle", "fill=\"#777777\"", "not measured");
      fputs("</g>\n", f);
      continue;
    }
    /* x: the batch sizes, log-spaced where they span a decade, else linear between them */
    axis xa = {bmax / bmin >= 10, bmin, bmax, 1}, ya = make_axis(vmin, vmax);
    if (xa.log)
      xa.lo = log10(bmin), xa.hi = log10(bmax);
    else if (ng == 1)
      xa.lo = bmin - 1, xa.hi = bmin + 1;
#define BX(v) (ox + 10 + axis_pos(&xa, (v)) * (pw - 20))
#define BY(v) (oy + ph - axis_pos(&ya, (v)) * ph)
    for (int k = 0; k < ng; k++) { /* x ticks at the batch sizes */
      double bx = BX(a->groups[gs[k]].batch);
      fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eeeeee\"/>\n", bx, oy, bx, oy + ph);
      snprintf(b, sizeof b, "%d", a->groups[gs[k]].batch);
      svg_text(f, bx, oy + ph + 14, "middle", "fill=\"#444444\"", b);
    }
    svg_text(f, ox + pw / 2, oy + ph + 30, "middle", "font-size=\"11\" fill=\"#444444\"",
             xa.log ? "batch size (log)" : "batch size");
    int nt = (int)lround((ya.hi - ya.lo) / ya.step);
    for (int t = 0; t <= nt; t++) {
      double v = ya.log ? pow(10.0, ya.lo + t) : ya.lo + ya.step * t;
      fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eeeeee\"/>\n", ox, BY(v), ox + pw, BY(v));
      tick_label(v, b, sizeof b);
      svg_text(f, ox - 4, BY(v) + 4, "end", "font-size=\"10\" fill=\"#444444\"", b);
    }
    if (ya.log) svg_text(f, ox + pw - 4, oy + 12, "end", "font-size=\"10\" fill=\"#777777\"", "log scale");
    for (int p = 0; p < a->n_precs; p++) {
      const char *col = prec_colour(a, p);
      double px = NAN, py = NAN;
      for (int k = 0; k < ng; k++) {
        int ci = qa_cell_at(a, gs[k], m, p);
        double v = batch_metric(ci >= 0 ? &a->cells[ci] : NULL, throughput);
        if (!isfinite(v)) { /* a gap in the line */
          px = py = NAN;
          continue;
        }
        double x = BX(a->groups[gs[k]].batch), y = BY(v);
        if (isfinite(px))
          fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                  px, py, x, y, col);
        static const char *const close_tag[4] = {"circle", "rect", "polygon", "polygon"};
        marker(f, p, x, y, col, "><title>");
        fprintf(f, "%s, batch %d: ", a->precs[p].name, a->groups[gs[k]].batch);
        qa_fmt(b, sizeof b, throughput ? "%.1f images/s" : "%.3f ms", v);
        xml_text(f, b);
        fprintf(f, "</title></%s>\n", close_tag[p % 4]);
        px = x, py = y;
      }
    }
#undef BX
#undef BY
    fputs("</g>\n", f);
  }
  if (a->n_models == 0) svg_text(f, 16, top + 20, "start", NULL, "no cells to show");
  free(gs);
  svg_end(f);
}

/* ---- files ---------------------------------------------------------------------- */

/* ---- roofline ---------------------------------------------------------------------- */

static const char *colour_of_prec_name(const qa_analysis *a, const char *name) {
  for (int p = 0; p < a->n_precs; p++)
    if (strcmp(a->precs[p].name, name) == 0) return prec_colour(a, p);
  static const char *const known[] = {"#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#17becf", "#e377c2", "#d62728"};
  int r = qa_prec_rank(name);
  return r < (int)QS_ARRAY_LEN(known) ? known[r] : "#7f7f7f";
}

static int roof_point(const qa_cell *c) {
  return isfinite(c->achieved_tflops) && c->achieved_tflops > 0 && isfinite(c->arith_intensity) &&
         c->arith_intensity > 0;
}

void qa_svg_roofline(const qa_analysis *a, FILE *f, const char *attrs) {
  const double left = 84, top = 64, plot_w = 760, plot_h = 480, legend_w = 180;
  const qs_calibration *cal = a->n_calib > 0 ? &a->calib[0] : NULL;
  const qs_calib_entry *bw = qa_calib_bandwidth(cal);
  char title[200], sub[300], b[160];
  snprintf(title, sizeof title, "Roofline%s%s", cal ? ": " : "", cal ? cal->device : "");
  if (cal)
    snprintf(sub, sizeof sub, "log-log; roofs: measured GEMM rate per precision%s (rank %d, %s); one point per "
             "successful single-device cell", bw ? " and copy bandwidth" : "", (int)cal->rank, cal->measured_utc);
  else
    snprintf(sub, sizeof sub, "log-log; one point per successful single-device cell; no calibration in the file: "
             "no roofs");
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  int n = 0, n_roofs = 0;
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (!roof_point(c)) continue;
    xlo = fmin(xlo, c->arith_intensity), xhi = fmax(xhi, c->arith_intensity);
    ylo = fmin(ylo, c->achieved_tflops), yhi = fmax(yhi, c->achieved_tflops);
    n++;
  }
  double top_peak = 0;
  for (int k = 0; cal && k < cal->n_entries; k++) {
    const qs_calib_entry *e = &cal->e[k];
    if (strcmp(e->kind, "gemm") != 0 || strcmp(e->status, "ok") != 0 || !(e->value > 0)) continue;
    n_roofs++;
    top_peak = fmax(top_peak, e->value);
    ylo = fmin(ylo, e->value), yhi = fmax(yhi, e->value);
    if (bw) { /* the ridge point of this roof */
      double ridge = e->value * 1e3 / bw->value;
      xlo = fmin(xlo, ridge), xhi = fmax(xhi, ridge);
    }
  }
  int w = (int)(left + plot_w + legend_w + 20), h = (int)(top + plot_h + 64);
  svg_begin(f, w, h, title, attrs);
  svg_title_block(f, 16, title, sub);
  if (n == 0 && n_roofs == 0) {
    svg_text(f, left, top + 30, "start", NULL, "no cells with an achieved rate and an arithmetic intensity");
    svg_end(f);
    return;
  }
  double x0, x1, y0, y1;
  log_range(xlo / 1.5, xhi * 1.5, &x0, &x1);
  log_range(ylo / 1.5, yhi * 1.5, &y0, &y1);
#define PX(v) (left + (log10(v) - x0) / (x1 - x0) * plot_w)
#define PY(v) (top + plot_h - (log10(v) - y0) / (y1 - y0) * plot_h)
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888888\"/>\n", left,
          top, plot_w, plot_h);
  for (int axis = 0; axis < 2; axis++) {
    double d0 = axis ? y0 : x0, d1 = axis ? y1 : x1;
    for (double d = d0; d <= d1 + 1e-9; d++) {
      double v = pow(10.0, d);
      snprintf(b, sizeof b, "%g", v);
      if (axis == 0) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", PX(v), top, PX(v),
                top + plot_h);
        svg_text(f, PX(v), top + plot_h + 16, "middle", "fill=\"#444444\"", b);
      } else {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", left, PY(v),
                left + plot_w, PY(v));
        svg_text(f, left - 6, PY(v) + 4, "end", "fill=\"#444444\"", b);
      }
    }
  }
  svg_text(f, left + plot_w / 2, top + plot_h + 40, "middle", NULL, "arithmetic intensity (FLOP per byte moved)");
  char attr[96];
  snprintf(attr, sizeof attr, "transform=\"rotate(-90 %.1f %.1f)\"", 22.0, top + plot_h / 2);
  svg_text(f, 22, top + plot_h / 2, "middle", attr, "achieved TFLOP/s");
  /* the roofs: clipped to the plot */
  const double xmin = pow(10.0, x0), xmax = pow(10.0, x1), ymin = pow(10.0, y0);
  fprintf(f, "<g class=\"roofs\"");
  if (bw) fprintf(f, " data-bandwidth-gbs=\"%.6g\"", bw->value);
  fputs(">\n", f);
  if (bw) {
    /* y = x * bw / 1000 from where it enters the plot to the highest roof */
    double xa = fmax(xmin, ymin * 1e3 / bw->value), xb = fmin(xmax, top_peak * 1e3 / bw->value);
    if (xb > xa) {
      fprintf(f, "<line class=\"roof-bandwidth\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\" "
              "stroke-width=\"2\"><title>copy bandwidth %.0f GB/s</title></line>\n",
              PX(xa), PY(xa * bw->value * 1e-3), PX(xb), PY(xb * bw->value * 1e-3), bw->value);
      snprintf(b, sizeof b, "%.0f GB/s", bw->value);
      double lx = xa * pow(xb / xa, 0.25);
      char rot[96];
      double ang = -atan2(PY(xa * bw->value * 1e-3) - PY(xb * bw->value * 1e-3), PX(xb) - PX(xa)) * 180 / M_PI;
      snprintf(rot, sizeof rot, "font-size=\"11\" fill=\"#444444\" transform=\"rotate(%.1f %.1f %.1f)\"", ang, PX(lx),
               PY(lx * bw->value * 1e-3) - 6);
      svg_text(f, PX(lx), PY(lx * bw->value * 1e-3) - 6, "middle", rot, b);
    }
  }
  for (int k = 0; cal && k < cal->n_entries; k++) {
    const qs_calib_entry *e = &cal->e[k];
    if (strcmp(e->kind, "gemm") != 0 || strcmp(e->status, "ok") != 0 || !(e->value > 0)) continue;
    double xs = bw ? fmax(xmin, e->value * 1e3 / bw->value) : xmin;
    const char *col = colour_of_prec_name(a, e->precision);
    fprintf(f, "<line class=\"roof\" data-precision=\"");
    xml_text(f, e->precision);
    fprintf(f, "\" data-tflops=\"%.6g\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\" stroke-dasharray=\"6 3\"><title>", e->value, PX(xs), PY(e->value), PX(xmax),
            PY(e->value), col);
    xml_text(f, e->name);
    fprintf(f, ": %.1f %s</title></line>\n", e->value, e->unit);
    snprintf(b, sizeof b, "%s %.3g", e->precision, e->value);
    char fill[48];
    snprintf(fill, sizeof fill, "font-size=\"11\" fill=\"%s\"", col);
    svg_text(f, left + plot_w - 4, PY(e->value) - 4, "end", fill, b);
  }
  fputs("</g>\n<g class=\"points\">\n", f);
  static const char *const close_tag[4] = {"circle", "rect", "polygon", "polygon"};
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (!roof_point(c)) continue;
    marker(f, c->prec, PX(c->arith_intensity), PY(c->achieved_tflops), prec_colour(a, c->prec), "><title>");
    xml_text(f, c->r->model);
    fprintf(f, " %s b%d: %.3g TFLOP/s at %.3g FLOP/B", c->r->precision, (int)c->r->batch, c->achieved_tflops,
            c->arith_intensity);
    if (isfinite(c->ceiling_pct)) fprintf(f, ", %.1f%% of the %s ceiling", c->ceiling_pct, c->r->precision);
    fprintf(f, "</title></%s>\n", close_tag[c->prec % 4]);
  }
  fputs("</g>\n", f);
#undef PX
#undef PY
  double lx = left + plot_w + 20, ly = top + 10;
  svg_text(f, lx, ly, "start", "font-weight=\"bold\"", "precision");
  for (int p = 0; p < a->n_precs; p++) {
    ly += 20;
    marker(f, p, lx + 6, ly - 4, prec_colour(a, p), "/>\n");
    svg_text(f, lx + 18, ly, "start", NULL, a->precs[p].name);
  }
  if (n_roofs) {
    ly += 30;
    svg_text(f, lx, ly, "start", "font-size=\"11\" fill=\"#555555\"", "dashed: GEMM ceiling");
    if (bw) svg_text(f, lx, ly + 16, "start", "font-size=\"11\" fill=\"#555555\"", "solid: copy bandwidth");
  }
  svg_end(f);
}

int qa_write_svgs(const qa_analysis *a, const char *dir) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return qs_fail(QS_EIO, "%s: cannot create directory: %s", dir, strerror(errno));

  for (int i = 0; i < 3; i++) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, qa_svg_files[i]);
    if (n < 0 || (size_t)n >= sizeof path)
      return qs_fail(QS_EINVAL, "%s: --svg: directory name too long", dir);
    FILE *f = fopen(path, "w");
    if (!f) return qs_fail(QS_EIO, "%s: cannot write: %s", path, strerror(errno));
    if (i == 0)
      qa_svg_heatmap(a, f, a->summary, NULL);
    else if (i == 1)
      qa_svg_memory(a, f, NULL);
    else
      qa_svg_scatter(a, f, NULL);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return qs_fail(QS_EIO, "%s: write failed", path);
  }
  return QS_OK;
}
