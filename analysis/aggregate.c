/* aggregate.c - rows -> cells (last row of a key wins) -> speedups, memory reductions,
 * per-precision and per-category summaries, leaders and the method analysis. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "calibrate.h"
#include "qs_common.h"

/* ---- precisions --------------------------------------------------------------- */

static const char *const k_prec_order[] = {"fp32", "fp16", "bf16", "int8", "int8dyn", "fp8", "nf4"};

int qa_prec_rank(const char *prec) {
  for (size_t i = 0; i < QS_ARRAY_LEN(k_prec_order); i++)
    if (strcmp(prec, k_prec_order[i]) == 0) return (int)i;
  return (int)QS_ARRAY_LEN(k_prec_order);
}

static int prec_cmp(const char *a, const char *b) {
  int ra = qa_prec_rank(a), rb = qa_prec_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  return strcmp(a, b);
}

void qa_prec_label(const char *prec, char *buf, size_t cap) {
  size_t i = 0;
  if (cap == 0) return;
  for (; prec[i] && i + 1 < cap; i++) {
    char c = prec[i];
    buf[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
  }
  buf[i] = '\0';
}

const char *qa_prec_method(const char *prec) {
  static const struct {
    const char *prec, *method;
  } k[] = {
      {"fp32", "full precision"},
      {"tf32", "TF32 tensor cores"},
      {"fp16", "half precision"},
      {"bf16", "bfloat16"},
      {"fp8", "FP8 e4m3 (per-channel weights, per-token activations)"},
      {"int8", "LLM.int8 (bitsandbytes int8)"},
      {"int8dyn", "int8 W8A8 dynamic per-token (torchao-style, no outliers)"},
      {"nf4", "NF4 4-bit weight-only (bitsandbytes)"},
  };
  for (size_t i = 0; i < QS_ARRAY_LEN(k); i++)
    if (strcmp(prec, k[i].prec) == 0) return k[i].method;
  return "other";
}

/* ---- the field table (CSV, JSON) ------------------------------------------------- */

#define F(name, kind) {#name, kind, offsetof(qs_cell_result, name)}
const qa_field qa_cell_fields[] = {
    F(key, QA_F_STR),
    F(model, QA_F_STR),
    F(precision, QA_F_STR),
    F(batch, QA_F_I32),
    F(tp, QA_F_I32),
    F(backend, QA_F_STR),
    F(status, QA_F_STR),
    F(message, QA_F_STR),
    F(rank, QA_F_I32),
    F(host, QA_F_STR),
    F(device, QA_F_STR),
    F(category, QA_F_STR),
    F(family, QA_F_STR),
    F(params, QA_F_DBL),
    F(gflops, QA_F_DBL),
    F(warmup, QA_F_I32),
    F(iterations, QA_F_I32),
    F(lat_min_ms, QA_F_DBL),
    F(lat_median_ms, QA_F_DBL),
    F(lat_mean_ms, QA_F_DBL),
    F(lat_p90_ms, QA_F_DBL),
    F(lat_p99_ms, QA_F_DBL),
    F(lat_max_ms, QA_F_DBL),
    F(lat_stdev_ms, QA_F_DBL),
    F(lat_ci_lo_ms, QA_F_DBL),
    F(lat_ci_hi_ms, QA_F_DBL),
    F(throughput_ips, QA_F_DBL),
    F(weight_mb, QA_F_DBL),
    F(workspace_mb, QA_F_DBL),
    F(peak_mb, QA_F_DBL),
    F(device_mb, QA_F_DBL),
    F(qweight_bits, QA_F_DBL),
    F(energy_mj_per_image, QA_F_DBL),
    F(fid_cosine, QA_F_DBL),
    F(fid_rel_l2, QA_F_DBL),
    F(fid_max_abs, QA_F_DBL),
    F(fid_top1, QA_F_DBL),
    F(allreduce_share, QA_F_DBL),
    F(sm_clock_start_mhz, QA_F_DBL),
    F(sm_clock_end_mhz, QA_F_DBL),
    F(started_unix, QA_F_DBL),
    F(duration_s, QA_F_DBL),
    F(act_mb, QA_F_DBL),
    F(n_samples, QA_F_I32),
};
#undef F
const int qa_n_cell_fields = (int)QS_ARRAY_LEN(qa_cell_fields);

/* ---- sorting helpers ----------------------------------------------------------- */

/* Rows by key fields, then by position: the last of a run of equal keys wins. */
static const qs_cell_result *g_sort_rows; /* qsort has no context argument in C11 */

static int row_key_cmp(const qs_cell_result *x, const qs_cell_result *y) {
  int c = strcmp(x->model, y->model);
  if (c) return c;
  if ((c = prec_cmp(x->precision, y->precision))) return c;
  if (x->batch != y->batch) return x->batch < y->batch ? -1 : 1;
  if (x->tp != y->tp) return x->tp < y->tp ? -1 : 1;
  return 0;
}

static int row_index_cmp(const void *pa, const void *pb) {
  int a = *(const int *)pa, b = *(const int *)pb;
  int c = row_key_cmp(&g_sort_rows[a], &g_sort_rows[b]);
  if (c) return c;
  return a < b ? -1 : (a > b);
}

static int group_cmp(const void *pa, const void *pb) {
  const qa_group *a = pa, *b = pb;
  if (a->batch != b->batch) return a->batch < b->batch ? -1 : 1;
  return a->tp < b->tp ? -1 : (a->tp > b->tp);
}

static int model_name_cmp(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const qa_model *)elem)->name);
}

static int usable(double v) { return isfinite(v) && v > 0; }

int qa_cell_at(const qa_analysis *a, int group, int model, int prec) {
  if (group < 0 || group >= a->n_groups || model < 0 || prec < 0) return -1;
  return a->groups[group].cell[(size_t)model * (size_t)a->n_precs + (size_t)prec];
}

/* Running mean: call add() for each finite value. */
typedef struct {
  int n;
  double sum;
  int n_weights; /* memory reductions: of n, values from weight bytes */
} mean_acc;
static void acc_add(mean_acc *m, double v) {
  if (isfinite(v)) {
    m->n++;
    m->sum += v;
  }
}
/* A memory reduction (or a mean of them) and whether weight bytes went into it. */
static void acc_add_mem(mean_acc *m, double v, int from_weights) {
  if (isfinite(v)) m->n_weights += from_weights != 0;
  acc_add(m, v);
}
static double acc_mean(const mean_acc *m) { return m->n ? m->sum / m->n : NAN; }

/* ---- the analysis -------------------------------------------------------------- */

void qa_free(qa_analysis *a) {
  if (!a) return;
  qs_results_free_rows(a->rows, a->n_rows);
  qs_run_meta_free(&a->meta);
  free(a->cells);
  free(a->models);
  free(a->precs);
  for (int g = 0; g < a->n_groups; g++) free(a->groups[g].cell);
  free(a->groups);
  free(a->cats);
  for (int i = 0; i < a->n_sources; i++) {
    free(a->sources[i].path);
    qs_run_meta_free(&a->sources[i].meta);
  }
  free(a->sources);
  free(a->path_owned);
  free(a->calib);
  memset(a, 0, sizeof *a);
}

/* Every row must name a model and precision and have a sane batch and tp; any row
 * (or the run) from the simulator refuses the whole file. */
static int check_rows(const char *path, const qs_cell_result *rows, int n,
                      const qs_run_meta *meta) {
  int sim = strcmp(meta->backend, "sim") == 0;
  for (int i = 0; i < n && !sim; i++) sim = strcmp(rows[i].backend, "sim") == 0;
  if (sim) return qs_fail(QS_EINVAL, "%s: backend sim: simulated results are not measurements", path);
  for (int i = 0; i < n; i++) {
    const qs_cell_result *r = &rows[i];
    if (!r->model[0]) return qs_fail(QS_EINVAL, "%s: /cells row %d: model: empty", path, i);
    if (!r->precision[0])
      return qs_fail(QS_EINVAL, "%s: /cells row %d (%s): precision: empty", path, i, r->model);
    if (r->batch < 1)
      return qs_fail(QS_EINVAL, "%s: /cells row %d (%s %s): batch: %d is not a batch size", path,
                     i, r->model, r->precision, (int)r->batch);
    if (r->tp < 1)
      return qs_fail(QS_EINVAL, "%s: /cells row %d (%s %s): tp: %d is not a parallel degree",
                     path, i, r->model, r->precision, (int)r->tp);
    if (!r->status[0])
      return qs_fail(QS_EINVAL, "%s: /cells row %d (%s %s): status: empty", path, i, r->model,
                     r->precision);
  }
  return QS_OK;
}

/* The winning rows (last of each key), in key order. */
static int pick_cells(qa_analysis *a) {
  int n = a->n_rows;
  int *idx = qs_malloc((size_t)(n ? n : 1) * sizeof *idx);
  if (!idx) return QS_ENOMEM;
  for (int i = 0; i < n; i++) idx[i] = i;
  g_sort_rows = a->rows;
  qsort(idx, (size_t)n, sizeof *idx, row_index_cmp);
  if (!(a->cells = qs_calloc((size_t)(n ? n : 1), sizeof *a->cells))) {
    free(idx);
    return QS_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    if (i + 1 < n && row_key_cmp(&a->rows[idx[i]], &a->rows[idx[i + 1]]) == 0) {
      a->n_superseded++;
      continue;
    }
    qa_cell *c = &a->cells[a->n_cells++];
    c->r = &a->rows[idx[i]];
    c->ok = strcmp(c->r->status, "ok") == 0;
    c->speedup = NAN;
    c->mem_reduction_pct = NAN;
  }
  free(idx);
  return QS_OK;
}

/* Models (sorted, as the cells are), precisions (display order), groups, categories. */
static int build_axes(qa_analysis *a) {
  int n = a->n_cells;
  size_t cap = (size_t)(n ? n : 1);
  if (!(a->models = qs_calloc(cap, sizeof *a->models)) ||
      !(a->precs = qs_calloc(cap, sizeof *a->precs)) ||
      !(a->groups = qs_calloc(cap, sizeof *a->groups)) ||
      !(a->cats = qs_calloc(cap, sizeof *a->cats)))
    return QS_ENOMEM;
  for (int i = 0; i < n; i++) {
    qa_cell *c = &a->cells[i];
    if (a->n_models == 0 || strcmp(a->models[a->n_models - 1].name, c->r->model) != 0) {
      qa_model *m = &a->models[a->n_models++];
      qs_strlcpy(m->name, c->r->model, sizeof m->name);
      m->category = -1;
      m->params = NAN;
    }
    c->model = a->n_models - 1;
    qa_model *m = &a->models[c->model];
    if (!isfinite(m->params) && isfinite(c->r->params)) m->params = c->r->params;
    int p = 0;
    while (p < a->n_precs && strcmp(a->precs[p].name, c->r->precision) != 0) p++;
    if (p == a->n_precs) qs_strlcpy(a->precs[a->n_precs++].name, c->r->precision, 16);
    int g = 0;
    while (g < a->n_groups && (a->groups[g].batch != c->r->batch || a->groups[g].tp != c->r->tp))
      g++;
    if (g == a->n_groups) {
      a->groups[g].batch = c->r->batch;
      a->groups[g].tp = c->r->tp;
      a->n_groups++;
    }
  }
  /* precision display order and group order; then index the cells */
  for (int i = 1; i < a->n_precs; i++)
    for (int j = i; j > 0 && prec_cmp(a->precs[j - 1].name, a->precs[j].name) > 0; j--) {
      qa_prec t = a->precs[j];
      a->precs[j] = a->precs[j - 1];
      a->precs[j - 1] = t;
    }
  qsort(a->groups, (size_t)a->n_groups, sizeof *a->groups, group_cmp);
  size_t grid = (size_t)(a->n_models ? a->n_models : 1) * (size_t)(a->n_precs ? a->n_precs : 1);
  for (int g = 0; g < a->n_groups; g++) {
    if (!(a->groups[g].cell = qs_malloc(grid * sizeof(int)))) return QS_ENOMEM;
    for (size_t k = 0; k < grid; k++) a->groups[g].cell[k] = -1;
  }
  for (int i = 0; i < n; i++) {
    qa_cell *c = &a->cells[i];
    c->prec = 0;
    while (strcmp(a->precs[c->prec].name, c->r->precision) != 0) c->prec++;
    c->group = 0;
    while (a->groups[c->group].batch != c->r->batch || a->groups[c->group].tp != c->r->tp)
      c->group++;
    a->groups[c->group].cell[(size_t)c->model * (size_t)a->n_precs + (size_t)c->prec] = i;
  }
  /* categories in order of first appearance in the file; a model takes the category of
   * its first row that names one */
  for (int i = 0; i < a->n_rows; i++) {
    const qs_cell_result *r = &a->rows[i];
    const qa_model *hit = bsearch(r->model, a->models, (size_t)a->n_models, sizeof *a->models,
                                  model_name_cmp);
    int m = hit ? (int)(hit - a->models) : a->n_models;
    if (m == a->n_models || a->models[m].category >= 0 || !r->category[0]) continue;
    int k = 0;
    while (k < a->n_cats && strcmp(a->cats[k].name, r->category) != 0) k++;
    if (k == a->n_cats) qs_strlcpy(a->cats[a->n_cats++].name, r->category, 64);
    a->models[m].category = k;
  }
  int other = -1;
  for (int m = 0; m < a->n_models; m++) {
    if (a->models[m].category >= 0) continue;
    if (other < 0) {
      other = a->n_cats++;
      qs_strlcpy(a->cats[other].name, "(no category)", 64);
    }
    a->models[m].category = other;
  }
  return QS_OK;
}

static void compute_ratios(qa_analysis *a) {
  for (int i = 0; i < a->n_cells; i++) {
    qa_cell *c = &a->cells[i];
    c->speedup = c->mem_reduction_pct = NAN;
    c->mem_basis = QA_MEM_NONE;
    if (!c->ok || a->baseline < 0) continue;
    int b = qa_cell_at(a, c->group, c->model, a->baseline);
    if (b < 0 || !a->cells[b].ok) continue;
    const qs_cell_result *base = a->cells[b].r;
    if (usable(base->lat_median_ms) && usable(c->r->lat_median_ms))
      c->speedup = base->lat_median_ms / c->r->lat_median_ms;
    if (usable(base->peak_mb) && isfinite(c->r->peak_mb) && c->r->peak_mb >= 0) {
      c->mem_reduction_pct = 100.0 * (1.0 - c->r->peak_mb / base->peak_mb);
      c->mem_basis = QA_MEM_PEAK;
    } else if (!isfinite(base->peak_mb) && !isfinite(c->r->peak_mb) && usable(base->weight_mb) &&
               isfinite(c->r->weight_mb) && c->r->weight_mb >= 0) {
      /* neither cell has a peak (no counter on this backend): the weights alone */
      c->mem_reduction_pct = 100.0 * (1.0 - c->r->weight_mb / base->weight_mb);
      c->mem_basis = QA_MEM_WEIGHTS;
    }
  }
}

/* ---- the roofline --------------------------------------------------------------- */

const qs_calib_entry *qa_calib_bandwidth(const qs_calibration *c) {
  for (int i = 0; c && i < c->n_entries; i++)
    if (!strcmp(c->e[i].kind, "bandwidth") && !strcmp(c->e[i].status, "ok") && usable(c->e[i].value)) return &c->e[i];
  return NULL;
}

int qa_calib_for(const qa_analysis *a, const qs_cell_result *r) {
  int any = -1;
  for (int i = 0; i < a->n_calib; i++) {
    if (strcmp(a->calib[i].device, r->device) != 0) continue;
    if (a->calib[i].rank == r->rank) return i;
    if (any < 0) any = i;
  }
  return any;
}

void qa_roofline_cell(qa_cell *c, const qs_calibration *cal) {
  const qs_cell_result *r = c->r;
  c->achieved_tflops = c->bytes_moved_mb = c->arith_intensity = NAN;
  c->ceiling_tflops = c->ceiling_pct = c->roof_tflops = NAN;
  if (!c->ok || r->tp != 1) return; /* a tp cell spans several devices: no one device's roofline */
  if (usable(r->gflops) && usable(r->lat_median_ms) && r->batch > 0)
    c->achieved_tflops = r->gflops * r->batch / r->lat_median_ms; /* 1e9 FLOP / 1e-3 s = 1e12 FLOP/s */
  if (usable(r->weight_mb) && usable(r->act_mb)) c->bytes_moved_mb = r->weight_mb + r->act_mb;
  if (usable(r->gflops) && usable(c->bytes_moved_mb))
    c->arith_intensity = r->gflops * 1e9 * r->batch / (c->bytes_moved_mb * 1e6);
  const char *name = qs_calib_gemm_for(r->precision);
  const qs_calib_entry *e = cal && name ? qs_calib_find(cal, name) : NULL;
  if (e && !strcmp(e->status, "ok") && usable(e->value)) {
    c->ceiling_tflops = e->value;
    if (isfinite(c->achieved_tflops)) c->ceiling_pct = 100.0 * c->achieved_tflops / e->value;
    const qs_calib_entry *bw = qa_calib_bandwidth(cal);
    if (bw && isfinite(c->arith_intensity)) {
      double slope = c->arith_intensity * bw->value * 1e-3; /* FLOP/B x GB/s = GFLOP/s */
      c->roof_tflops = slope < e->value ? slope : e->value;
    }
  }
}

int qa_attach_calibration(qa_analysis *a, qs_calibration *cals, int n) {
  free(a->calib);
  a->calib = cals;
  a->n_calib = cals ? n : 0;
  for (int i = 0; i < a->n_cells; i++) {
    qa_cell *c = &a->cells[i];
    c->calib = qa_calib_for(a, c->r);
    qa_roofline_cell(c, c->calib >= 0 ? &a->calib[c->calib] : NULL);
  }
  return QS_OK;
}

int qa_any_roofline(const qa_analysis *a) {
  for (int i = 0; i < a->n_cells; i++)
    if (isfinite(a->cells[i].achieved_tflops)) return 1;
  return 0;
}

int qa_any_ceiling(const qa_analysis *a) {
  for (int i = 0; i < a->n_cells; i++)
    if (isfinite(a->cells[i].ceiling_tflops)) return 1;
  return 0;
}

const char *qa_mem_basis_name(qa_mem_basis b) {
  return b == QA_MEM_PEAK ? "peak" : b == QA_MEM_WEIGHTS ? "weight_bytes" : NULL;
}

const char *qa_mem_basis_note(int n, int n_weights) {
  if (n_weights <= 0) return "";
  return n_weights >= n ? "from weight bytes" : "partly from weight bytes";
}

int qa_any_mem_weights(const qa_analysis *a) {
  for (int i = 0; i < a->n_cells; i++)
    if (a->cells[i].mem_basis == QA_MEM_WEIGHTS) return 1;
  return 0;
}

const char *const qa_status_names[QA_N_STATUS] = {"ok", "failed", "timeout", "oom", "unsupported", "skipped"};

int qa_status_count(const qa_analysis *a, const char *status) {
  int n = 0;
  for (int i = 0; i < a->n_cells; i++)
    if (!strcmp(a->cells[i].r->status, status)) n++;
  return n;
}

static int known_status(const char *s) {
  for (int k = 0; k < QA_N_STATUS; k++)
    if (!strcmp(s, qa_status_names[k])) return 1;
  return 0;
}

void qa_bad_status_summary(const qa_analysis *a, char *buf, size_t cap) {
  size_t used = 0;
  if (cap) buf[0] = '\0';
  for (int k = 1; k <= QA_N_STATUS; k++) { /* k == QA_N_STATUS: the statuses of no list */
    for (int i = 0; i < a->n_cells; i++) {
      const char *st = a->cells[i].r->status;
      if (k < QA_N_STATUS ? strcmp(st, qa_status_names[k]) != 0 : known_status(st)) continue;
      int first = 1; /* count a status once, at its first cell */
      for (int j = 0; j < i && first; j++) first = strcmp(a->cells[j].r->status, st) != 0;
      if (!first) continue;
      int n = qa_status_count(a, st);
      int w = snprintf(buf + used, used < cap ? cap - used : 0, "%s%s %d", used ? ", " : "", st, n);
      if (w > 0) used += (size_t)w;
      if (used >= cap) {
        if (cap) buf[cap - 1] = '\0';
        return;
      }
      if (k < QA_N_STATUS) break; /* a listed status: counted */
    }
  }
}

static void summarize(qa_analysis *a) {
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    if (c->ok)
      a->n_ok++;
    else
      a->n_bad++;
  }
  for (int p = 0; p < a->n_precs; p++) {
    qa_prec *P = &a->precs[p];
    mean_acc s = {0}, m = {0}, ms = {0}, mm = {0}, bits = {0}, cos = {0}, top1 = {0};
    for (int i = 0; i < a->n_cells; i++) {
      const qa_cell *c = &a->cells[i];
      if (c->prec != p) continue;
      if (!c->ok) {
        P->bad_cells++;
        continue;
      }
      P->ok_cells++;
      acc_add(&ms, c->speedup);
      acc_add_mem(&mm, c->mem_reduction_pct, c->mem_basis == QA_MEM_WEIGHTS);
      acc_add(&bits, c->r->qweight_bits);
      acc_add(&cos, c->r->fid_cosine);
      acc_add(&top1, c->r->fid_top1);
      if (c->group == a->summary) { /* one cell per model in a group */
        acc_add(&s, c->speedup);
        acc_add_mem(&m, c->mem_reduction_pct, c->mem_basis == QA_MEM_WEIGHTS);
      }
    }
    P->n_mem_weights = m.n_weights;
    P->m_n_mem_weights = mm.n_weights;
    P->n_speedup = s.n;
    P->avg_speedup = acc_mean(&s);
    P->n_mem = m.n;
    P->avg_mem_reduction_pct = acc_mean(&m);
    P->m_n_speedup = ms.n;
    P->m_avg_speedup = acc_mean(&ms);
    P->m_n_mem = mm.n;
    P->m_avg_mem_reduction_pct = acc_mean(&mm);
    P->m_n_bits = bits.n;
    P->m_avg_bits = acc_mean(&bits);
    P->m_n_cosine = cos.n;
    P->m_avg_cosine = acc_mean(&cos);
    P->m_n_top1 = top1.n;
    P->m_avg_top1 = acc_mean(&top1);
  }
  for (int k = 0; k < a->n_cats; k++) {
    qa_category *C = &a->cats[k];
    mean_acc s = {0}, m = {0};
    C->leader = -1;
    for (int mi = 0; mi < a->n_models; mi++) {
      if (a->models[mi].category != k) continue;
      C->n_models++;
      mean_acc ms = {0}, mm = {0};
      for (int p = 0; p < a->n_precs && a->summary >= 0; p++) {
        if (p == a->baseline) continue; /* the baseline's 1.00x neither averages nor leads */
        int ci = qa_cell_at(a, a->summary, mi, p);
        if (ci < 0) continue;
        const qa_cell *c = &a->cells[ci];
        acc_add(&ms, c->speedup);
        acc_add_mem(&mm, c->mem_reduction_pct, c->mem_basis == QA_MEM_WEIGHTS);
        if (isfinite(c->speedup) && (C->leader < 0 || c->speedup > a->cells[C->leader].speedup))
          C->leader = ci;
      }
      acc_add(&s, acc_mean(&ms));
      acc_add_mem(&m, acc_mean(&mm), mm.n_weights);
    }
    C->n_mem_weights_models = m.n_weights;
    C->n_speedup_models = s.n;
    C->avg_speedup = acc_mean(&s);
    C->n_mem_models = m.n;
    C->avg_mem_reduction_pct = acc_mean(&m);
  }
}

/* The summary group: --batch (tp 1 preferred), else the smallest batch with tp 1. */
static int pick_summary(qa_analysis *a, int batch) {
  a->summary = -1;
  for (int g = 0; g < a->n_groups; g++) {
    if (batch > 0 && a->groups[g].batch != batch) continue;
    if (a->summary < 0 || (a->groups[g].tp == 1 && a->groups[a->summary].tp != 1)) a->summary = g;
  }
  if (batch > 0 && a->summary < 0) {
    char list[256] = "";
    size_t o = 0;
    for (int g = 0; g < a->n_groups && o < sizeof list; g++) {
      if (g > 0 && a->groups[g].batch == a->groups[g - 1].batch) continue;
      int w = snprintf(list + o, sizeof list - o, "%s%d", o ? ", " : "", a->groups[g].batch);
      if (w < 0) break;
      o += (size_t)w;
    }
    return qs_fail(QS_EINVAL, "%s: --batch %d: no cells of batch size %d (present: %s)", a->path,
                   batch, batch, a->n_groups ? list : "none");
  }
  return QS_OK;
}

static int analyze(const char *path, qs_cell_result *rows, int n_rows, qs_run_meta *meta,
                   const qa_options *opt, int checked, qa_analysis *a) {
  memset(a, 0, sizeof *a);
  a->path = path;
  a->rows = rows;
  a->n_rows = n_rows;
  a->meta = *meta;
  memset(meta, 0, sizeof *meta);
  a->baseline = -1;
  a->summary = -1;
  const char *baseline = opt && opt->baseline ? opt->baseline : "fp32";
  int rc = QS_OK;
  if (qs_strlcpy(a->baseline_name, baseline, sizeof a->baseline_name) != 0) {
    rc = qs_fail(QS_EINVAL, "%s: --baseline: \"%s\" is not a precision", path, baseline);
    goto fail;
  }
  if (!checked && (rc = check_rows(path, rows, n_rows, &a->meta)) != QS_OK) goto fail;
  if ((rc = pick_cells(a)) != QS_OK || (rc = build_axes(a)) != QS_OK) goto fail;
  for (int p = 0; p < a->n_precs; p++)
    if (strcmp(a->precs[p].name, a->baseline_name) == 0) a->baseline = p;
  if (a->baseline < 0 && opt && opt->baseline && a->n_cells > 0) {
    rc = qs_fail(QS_EINVAL, "%s: --baseline %s: no cells of precision %s", path, baseline,
                 baseline);
    goto fail;
  }
  if ((rc = pick_summary(a, opt ? opt->batch : 0)) != QS_OK) goto fail;
  compute_ratios(a);
  summarize(a);
  qa_attach_calibration(a, NULL, 0);
  return QS_OK;
fail:
  qa_free(a);
  return rc;
}

int qa_analyze(const char *path, qs_cell_result *rows, int n_rows, qs_run_meta *meta,
               const qa_options *opt, qa_analysis *a) {
  return analyze(path, rows, n_rows, meta, opt, 0, a);
}

int qa_load(const char *path, const qa_options *opt, qa_analysis *a) {
  qs_cell_result *rows = NULL;
  int n = 0;
  qs_run_meta meta;
  memset(&meta, 0, sizeof meta);
  memset(a, 0, sizeof *a);
  int rc = qs_results_read(path, &rows, &n, &meta);
  if (rc != QS_OK) return rc;
  qs_calibration *cals = NULL;
  int nc = 0;
  if ((rc = qs_results_read_calibration(path, &cals, &nc)) != QS_OK) {
    qs_results_free_rows(rows, n);
    qs_run_meta_free(&meta);
    return rc;
  }
  if ((rc = qa_analyze(path, rows, n, &meta, opt, a)) != QS_OK) {
    free(cals);
    return rc;
  }
  return qa_attach_calibration(a, cals, nc);
}

/* "" and NULL are the same (a field the file left empty) */
static int same_str(const char *x, const char *y) { return strcmp(x ? x : "", y ? y : "") == 0; }

int qa_load_many(const char *const *paths, int n, const qa_options *opt, qa_analysis *a) {
  memset(a, 0, sizeof *a);
  if (n == 1) return qa_load(paths[0], opt, a);
  if (n < 1) return qs_fail(QS_EINVAL, "no results file given");
  int rc = QS_OK, total = 0;
  qa_source *src = calloc((size_t)n, sizeof *src);
  qs_cell_result **rows = calloc((size_t)n, sizeof *rows);
  qs_cell_result *all = NULL;
  char *joined = NULL;
  if (!src || !rows) {
    rc = qs_fail(QS_ENOMEM, "out of host memory");
    goto fail;
  }
  for (int i = 0; i < n; i++) {
    if (!(src[i].path = strdup(paths[i]))) {
      rc = qs_fail(QS_ENOMEM, "out of host memory");
      goto fail;
    }
    if ((rc = qs_results_read(paths[i], &rows[i], &src[i].n_rows, &src[i].meta)) != QS_OK) goto fail;
    if ((rc = check_rows(paths[i], rows[i], src[i].n_rows, &src[i].meta)) != QS_OK) goto fail;
    if (!same_str(src[i].meta.backend, src[0].meta.backend)) {
      rc = qs_fail(QS_EINVAL, "%s: backend %s, but %s is %s: one report covers one kind of machine "
                   "(analyse them separately)", paths[i], src[i].meta.backend, paths[0], src[0].meta.backend);
      goto fail;
    }
    if (!same_str(src[i].meta.gpu_names, src[0].meta.gpu_names)) {
      rc = qs_fail(QS_EINVAL, "%s: GPUs \"%s\", but %s ran on \"%s\": latencies of different GPUs do not "
                   "belong in one table (analyse them separately)", paths[i],
                   src[i].meta.gpu_names ? src[i].meta.gpu_names : "", paths[0],
                   src[0].meta.gpu_names ? src[0].meta.gpu_names : "");
      goto fail;
    }
    if (src[i].n_rows > QS_RESULTS_MAX_ROWS - total) {
      rc = qs_fail(QS_EINVAL, "%s: more than %d rows in all", paths[i], QS_RESULTS_MAX_ROWS);
      goto fail;
    }
    total += src[i].n_rows;
  }
  size_t len = 1;
  for (int i = 0; i < n; i++) len += strlen(paths[i]) + 3;
  if (!(joined = malloc(len)) || (total && !(all = malloc(sizeof *all * (size_t)total)))) {
    rc = qs_fail(QS_ENOMEM, "out of host memory");
    goto fail;
  }
  joined[0] = '\0';
  for (int i = 0, k = 0; i < n; i++) {
    if (i) strcat(joined, " + ");
    strcat(joined, paths[i]);
    /* the rows move (their samples with them); the per-file arrays are freed empty */
    if (src[i].n_rows) memcpy(all + k, rows[i], sizeof *all * (size_t)src[i].n_rows);
    k += src[i].n_rows;
    free(rows[i]);
    rows[i] = NULL;
  }
  free(rows);
  rows = NULL;
  /* the first file's metadata heads the report; every file's stays in sources */
  qs_run_meta first = src[0].meta;
  memset(&src[0].meta, 0, sizeof src[0].meta);
  /* every file's rows were checked above, under the file's own name */
  if ((rc = analyze(joined, all, total, &first, opt, 1, a)) != QS_OK) {
    /* analyze freed the rows and the first metadata */
    for (int i = 0; i < n; i++) {
      free(src[i].path);
      qs_run_meta_free(&src[i].meta);
    }
    free(src);
    free(joined);
    return rc;
  }
  a->sources = src;
  a->n_sources = n;
  a->path_owned = joined;
  a->path = joined;
  {
    qs_calibration *all_c = NULL;
    int n_all = 0;
    for (int i = 0; i < n && rc == QS_OK; i++) {
      qs_calibration *ci = NULL;
      int ni = 0;
      if ((rc = qs_results_read_calibration(paths[i], &ci, &ni)) != QS_OK) break;
      if (ni > 0) {
        qs_calibration *grown = realloc(all_c, sizeof *all_c * (size_t)(n_all + ni));
        if (!grown) {
          free(ci);
          rc = qs_fail(QS_ENOMEM, "out of host memory");
          break;
        }
        all_c = grown;
        memcpy(all_c + n_all, ci, sizeof *ci * (size_t)ni);
        n_all += ni;
      }
      free(ci);
    }
    if (rc != QS_OK) {
      free(all_c);
      qa_free(a);
      return rc;
    }
    qa_attach_calibration(a, all_c, n_all);
  }
  /* sources[0].meta was moved to a->meta: writers read qa_source_meta() */
  return QS_OK;
fail:
  if (rows)
    for (int i = 0; i < n; i++) qs_results_free_rows(rows[i], src ? src[i].n_rows : 0);
  free(rows);
  if (src)
    for (int i = 0; i < n; i++) {
      free(src[i].path);
      qs_run_meta_free(&src[i].meta);
    }
  free(src);
  free(all);
  free(joined);
  return rc;
}

const qs_run_meta *qa_source_meta(const qa_analysis *a, int i) {
  return i == 0 ? &a->meta : &a->sources[i].meta;
}
