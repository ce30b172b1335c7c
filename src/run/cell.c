/* cell.c - the cell runner: model (cached) -> fp32 reference (cached per batch) ->
 * plan in the cell's precision -> forward + fidelity -> timed loop -> statistics. */
#define _POSIX_C_SOURCE 200809L
#include "cell.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cost.h"
#include "fidelity.h"
#include "model.h"
#include "qs_common.h"
#include "quant.h"
#include "stats.h"
#include "tp.h"

#define MAX_REFS 16 /* fp32 reference outputs kept per model (one per batch size) */

typedef struct {
  int batch;
  float *out; /* [batch, out_dim] */
} cell_ref;

struct qs_cell_ctx {
  const qs_backend *be;
  int device, rank;
  char host[64];
  char device_name[128];
  char inject[QS_KEY_MAX];
  /* the cached host model */
  int have_model;
  qs_arch arch;
  uint64_t seed;
  qs_model model;
  int model_rc; /* a model that failed to build fails every cell of it, once built */
  char model_err[QS_MSG_MAX];
  cell_ref refs[MAX_REFS];
  int n_refs;
};

const char *qs_cell_status_of(int code) {
  if (code == QS_EUNSUPPORTED) return "unsupported";
  if (code == QS_EOOM) return "oom";
  if (code == QS_ETIMEOUT) return "timeout";
  return "failed";
}

int qs_cell_ctx_create(const qs_backend *be, int device, int rank, qs_cell_ctx **out) {
  qs_cell_ctx *c = qs_calloc(1, sizeof *c);
  if (!c) return QS_ENOMEM;
  c->be = be;
  c->device = device;
  c->rank = rank;
  if (gethostname(c->host, sizeof c->host) != 0) qs_strlcpy(c->host, "unknown", sizeof c->host);
  c->host[sizeof c->host - 1] = '\0';
  be->device_name(device, c->device_name, sizeof c->device_name);
  *out = c;
  return QS_OK;
}

static void drop_model(qs_cell_ctx *c) {
  for (int i = 0; i < c->n_refs; i++) free(c->refs[i].out);
  c->n_refs = 0;
  if (c->have_model && c->model_rc == QS_OK) {
    if (c->be->no_weights) free(c->model.specs); /* arch-only model */
    else qs_model_free(&c->model);
  }
  memset(&c->model, 0, sizeof c->model);
  c->have_model = 0;
}

void qs_cell_ctx_free(qs_cell_ctx *c) {
  if (!c) return;
  drop_model(c);
  free(c);
}

void qs_cell_ctx_set_inject(qs_cell_ctx *c, const char *pattern) {
  qs_strlcpy(c->inject, pattern ? pattern : "", sizeof c->inject);
}

const char *qs_cell_ctx_device(const qs_cell_ctx *c) { return c->device_name; }

int qs_cell_ctx_tp_capable(const qs_cell_ctx *c) { return qs_backend_tp_capable(c->be); }

const char *qs_cell_ctx_backend(const qs_cell_ctx *c) { return c->be->name; }

static int same_model(const qs_cell_ctx *c, const qs_arch *a, uint64_t seed) {
  return c->have_model && c->seed == seed && !strcmp(c->arch.name, a->name) && !strcmp(c->arch.dir, a->dir);
}

/* The host model of a cell: built once per rank until the model changes. */
static int get_model(qs_cell_ctx *c, const qs_arch *a, uint64_t seed, const qs_model **m) {
  if (!same_model(c, a, seed)) {
    drop_model(c);
    c->arch = *a;
    c->seed = seed;
    c->have_model = 1;
    if (c->be->no_weights) {
      memset(&c->model, 0, sizeof c->model);
      c->model.arch = *a;
      snprintf(c->model.source, sizeof c->model.source, "none (%s backend)", c->be->name);
      c->model_rc = QS_OK;
    } else {
      c->model_rc = qs_model_create(a, seed, &c->model);
    }
    qs_strlcpy(c->model_err, c->model_rc == QS_OK ? "" : qs_last_error(), sizeof c->model_err);
  }
  if (c->model_rc != QS_OK) {
    qs_fail(c->model_rc, "%s", c->model_err);
    return c->model_rc;
  }
  *m = &c->model;
  return QS_OK;
}

/* The fp32 output of the cached model on the fixed input, with the same backend. */
static int get_ref(qs_cell_ctx *c, const qs_model *m, int batch, const float *x, const qs_bench_opts *bo,
                   const float **ref) {
  for (int i = 0; i < c->n_refs; i++)
    if (c->refs[i].batch == batch) {
      *ref = c->refs[i].out;
      return QS_OK;
    }
  const size_t n = (size_t)batch * (size_t)qs_arch_out_dim(&m->arch);
  float *out = qs_malloc(sizeof(float) * n);
  if (!out) return QS_ENOMEM;
  qs_prec_opts po;
  qs_prec_opts_default(&po, QS_PREC_FP32);
  void *plan = NULL;
  int rc = c->be->plan_create(m, &po, batch, bo, &plan);
  if (rc == QS_OK) {
    rc = c->be->forward(plan, x, out);
    c->be->plan_destroy(plan);
  }
  if (rc != QS_OK) {
    qs_error_prefix("fp32 reference");
    free(out);
    return rc;
  }
  if (c->n_refs == MAX_REFS) { /* forget the oldest */
    free(c->refs[0].out);
    memmove(c->refs, c->refs + 1, sizeof c->refs[0] * (MAX_REFS - 1));
    c->n_refs--;
  }
  c->refs[c->n_refs].batch = batch;
  c->refs[c->n_refs].out = out;
  c->n_refs++;
  *ref = out;
  return QS_OK;
}

double qs_qweight_bits(const qs_arch *a, const qs_prec_opts *po) {
  qs_tensor_spec *specs = NULL;
  int n = 0;
  if (qs_arch_specs(a, &specs, &n) != QS_OK) {
    qs_clear_error();
    return NAN;
  }
  double bytes = 0, count = 0;
  for (int i = 0; i < n; i++) {
    const qs_tensor_spec *s = &specs[i];
    if (!s->quantized) continue;
    int64_t numel = qs_spec_numel(s);
    count += (double)numel;
    bytes += (double)qs_prec_qweight_bytes(po, s->shape[0], s->shape[1]);
  }
  free(specs);
  return count > 0 ? 8.0 * bytes / count : NAN;
}

static double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void set_status(qs_cell_result *r, int code, const char *msg) {
  qs_strlcpy(r->status, code == QS_OK ? "ok" : qs_cell_status_of(code), sizeof r->status);
  qs_strlcpy(r->message, code == QS_OK ? "" : (msg && msg[0] ? msg : qs_status_name(code)), sizeof r->message);
}

/* The output y against the fp32 reference ref: the row's fidelity fields. */
static void fill_fidelity(qs_cell_result *r, const qs_arch *a, const float *ref, const float *y, int batch, int D) {
  qs_fidelity f;
  int classifier = a->output == QS_OUT_LOGITS || a->output == QS_OUT_DEIT_AVG;
  qs_fidelity_compute(ref, y, batch, D, classifier, &f);
  r->fid_cosine = f.cosine;
  r->fid_rel_l2 = f.rel_l2;
  r->fid_max_abs = f.max_abs;
  r->fid_top1 = f.top1;
}

/* The statistics of a timed loop into r; takes ms->samples_ms. */
static void fill_timing(qs_cell_result *r, qs_bench_measure *ms, int batch) {
  qs_stats st;
  qs_stats_compute(ms->samples_ms, ms->n_samples, &st);
  r->samples_ms = ms->samples_ms;
  r->n_samples = ms->n_samples;
  ms->samples_ms = NULL;
  r->iterations = ms->n_samples;
  r->lat_min_ms = st.min;
  r->lat_median_ms = st.median;
  r->lat_mean_ms = st.mean;
  r->lat_p90_ms = st.p90;
  r->lat_p99_ms = st.p99;
  r->lat_max_ms = st.max;
  r->lat_stdev_ms = st.stdev;
  r->lat_ci_lo_ms = st.ci_lo;
  r->lat_ci_hi_ms = st.ci_hi;
  r->throughput_ips = st.median > 0 ? batch / (st.median * 1e-3) : NAN;
  r->weight_mb = ms->weight_bytes * 1e-6;
  r->workspace_mb = ms->workspace_bytes * 1e-6;
  r->peak_mb = r->weight_mb + r->workspace_mb; /* NaN when either is unknown */
  r->device_mb = ms->device_bytes * 1e-6;
  r->energy_mj_per_image = ms->energy_j * 1e3 / ((double)ms->n_samples * batch);
  r->sm_clock_start_mhz = ms->sm_clock_start_mhz;
  r->sm_clock_end_mhz = ms->sm_clock_end_mhz;
}

/* The measuring part; returns a status code with the message in qs_last_error(). */
static int run_measured(qs_cell_ctx *c, const qs_arch *a, uint64_t seed, const qs_prec_opts *po, int batch,
                        const qs_bench_opts *bo, qs_cell_result *r) {
  const qs_backend *be = c->be;
  const qs_model *m = NULL;
  QS_TRY(get_model(c, a, seed, &m));
  const int C = a->num_channels, S = a->input_size, D = qs_arch_out_dim(a);
  int rc = QS_OK;
  float *x = NULL, *y = NULL;
  void *plan = NULL;
  qs_bench_measure ms;
  memset(&ms, 0, sizeof ms);
  ms.allreduce_share = NAN; /* a backend that does not measure it leaves it absent */
  if (!be->no_weights) {
    x = qs_malloc(sizeof(float) * (size_t)batch * C * S * S); /* (B, C, S, S) */
    y = qs_malloc(sizeof(float) * (size_t)batch * D);         /* (B, D) */
    if (!x || !y) {
      rc = QS_ENOMEM;
      goto out;
    }
    qs_make_input(bo->input_seed, batch, C, S, x);
    const float *ref = NULL;
    if ((rc = get_ref(c, m, batch, x, bo, &ref)) != QS_OK) goto out;
    if ((rc = be->plan_create(m, po, batch, bo, &plan)) != QS_OK) goto out;
    if ((rc = be->forward(plan, x, y)) != QS_OK) goto out;
    fill_fidelity(r, a, ref, y, batch, D);
  } else {
    if ((rc = be->plan_create(m, po, batch, bo, &plan)) != QS_OK) goto out;
  }
  if ((rc = be->bench(plan, x, bo, &ms)) != QS_OK) goto out;
  if (ms.n_samples < 1) {
    rc = qs_fail(QS_EINTERNAL, "%s backend: the timed loop returned no samples", be->name);
    goto out;
  }
  fill_timing(r, &ms, batch);
out:
  free(ms.samples_ms);
  if (plan) be->plan_destroy(plan);
  free(x);
  free(y);
  return rc;
}

/* run_measured over a tensor-parallel group (cell.h, qs_cell_run_group). Every step
 * that can fail on one rank alone is followed by a status agreement, so that no rank
 * goes on into a collective the others have left. */
static int run_measured_tp(qs_cell_ctx *c, const qs_arch *a, uint64_t seed, const qs_prec_opts *po, int batch,
                           const qs_tp_group *g, const qs_bench_opts *bo, qs_cell_result *r) {
  const qs_backend *be = c->be;
  if (!be->plan_create_tp || be->no_weights)
    return qs_fail(QS_EUNSUPPORTED, "tp %d: the %s backend does not run tensor-parallel cells", g->size, be->name);
  QS_TRY(qs_tp_check_arch(a, g->size)); /* the same answer on every rank */
  const qs_model *m = NULL;
  int rc = qs_tp_agree(g, get_model(c, a, seed, &m));
  if (rc != QS_OK) return rc;
  const int C = a->num_channels, S = a->input_size, D = qs_arch_out_dim(a);
  float *x = qs_malloc(sizeof(float) * (size_t)batch * C * S * S);
  float *y = qs_malloc(sizeof(float) * (size_t)batch * D);
  void *plan = NULL;
  qs_bench_measure ms;
  memset(&ms, 0, sizeof ms);
  ms.allreduce_share = NAN; /* a backend that does not measure it leaves it absent */
  const float *ref = NULL;
  if ((rc = qs_tp_agree(g, x && y ? QS_OK : QS_ENOMEM)) != QS_OK) goto out;
  qs_make_input(bo->input_seed, batch, C, S, x);
  /* the unsplit fp32 output, on tp rank 0 only */
  if ((rc = qs_tp_agree(g, g->rank == 0 ? get_ref(c, m, batch, x, bo, &ref) : QS_OK)) != QS_OK) goto out;
  if ((rc = qs_tp_agree(g, be->plan_create_tp(m, po, batch, bo, g, &plan))) != QS_OK) goto out;
  if ((rc = qs_tp_agree(g, be->forward(plan, x, y))) != QS_OK) goto out;
  if (g->rank == 0) {
    fill_fidelity(r, a, ref, y, batch, D);
  }
  if ((rc = qs_tp_agree(g, be->bench(plan, x, bo, &ms))) != QS_OK) goto out;
  /* each iteration's latency is its slowest rank's */
  double nn[2] = {(double)ms.n_samples, -(double)ms.n_samples};
  if ((rc = g->ctl_max(g->ctx, nn, 2)) != QS_OK) goto out;
  if (nn[0] != -nn[1] || nn[0] < 1) {
    rc = qs_fail(QS_EINTERNAL, "tp %d: the ranks timed %.0f to %.0f iterations (must be equal)", g->size, -nn[1], nn[0]);
    goto out;
  }
  if ((rc = g->ctl_max(g->ctx, ms.samples_ms, ms.n_samples)) != QS_OK) goto out;
  fill_timing(r, &ms, batch);
  r->allreduce_share = ms.allreduce_share;
out:
  free(ms.samples_ms);
  if (plan) be->plan_destroy(plan);
  free(x);
  free(y);
  return rc;
}

/* A cell that did not finish reports no measurement: every measured number NaN. */
static void clear_measurements(qs_cell_result *r) {
  free(r->samples_ms);
  r->samples_ms = NULL;
  r->n_samples = 0;
  r->iterations = 0;
  double *const nan_fields[] = {&r->lat_min_ms,    &r->lat_median_ms,      &r->lat_mean_ms,     &r->lat_p90_ms,
                                &r->lat_p99_ms,    &r->lat_max_ms,         &r->lat_stdev_ms,    &r->lat_ci_lo_ms,
                                &r->lat_ci_hi_ms,  &r->throughput_ips,     &r->weight_mb,       &r->workspace_mb,
                                &r->peak_mb,       &r->device_mb,          &r->energy_mj_per_image, &r->fid_cosine,
                                &r->fid_rel_l2,    &r->fid_max_abs,        &r->fid_top1,        &r->allreduce_share,
                                &r->sm_clock_start_mhz, &r->sm_clock_end_mhz};
  for (size_t i = 0; i < QS_ARRAY_LEN(nan_fields); i++) *nan_fields[i] = NAN;
}

/* The row's identity and the cell's constants; measurements NaN. */
static void fill_identity(qs_cell_ctx *c, const qs_arch *a, const qs_prec_opts *po, int batch, int tp,
                          const qs_bench_opts *bo, qs_cell_result *r) {
  qs_cell_result_init(r);
  r->started_unix = unix_now();
  qs_strlcpy(r->model, a->name, sizeof r->model);
  qs_strlcpy(r->precision, qs_precision_name(po->prec), sizeof r->precision);
  r->batch = batch;
  r->tp = tp;
  qs_results_key(r->model, r->precision, batch, tp, r->key, sizeof r->key);
  qs_strlcpy(r->backend, c->be->name, sizeof r->backend);
  r->rank = c->rank;
  qs_strlcpy(r->host, c->host, sizeof r->host);
  qs_strlcpy(r->device, c->device_name, sizeof r->device);
  qs_strlcpy(r->category, a->category, sizeof r->category);
  qs_strlcpy(r->family, qs_family_name(a->family), sizeof r->family);
  int64_t params = qs_arch_param_count(a);
  r->params = params > 0 ? (double)params : NAN;
  double gf = qs_arch_gflops(a);
  r->gflops = gf > 0 ? gf : NAN;
  r->warmup = bo ? bo->warmup : 0;
  r->iterations = 0;
  r->qweight_bits = qs_qweight_bits(a, po);
  double act = tp == 1 ? qs_act_bytes(a, po->prec, batch) : 0.0; /* a tp cell spans several devices */
  r->act_mb = act > 0 ? act * 1e-6 : NAN;
  qs_clear_error();
}

static void finish_row(qs_cell_result *r, int rc, double t0) {
  if (rc != QS_OK) {
    char msg[QS_MSG_MAX];
    qs_strlcpy(msg, qs_last_error(), sizeof msg);
    clear_measurements(r);
    set_status(r, rc, msg);
  } else {
    set_status(r, QS_OK, NULL);
  }
  r->duration_s = qs_now_s() - t0;
}

void qs_cell_run(qs_cell_ctx *c, const qs_arch *a, uint64_t weight_seed, const qs_prec_opts *po, int batch, int tp,
                 const qs_bench_opts *bo_in, qs_cell_result *r) {
  const double t0 = qs_now_s();
  qs_bench_opts bo = *bo_in;
  bo.device = c->device;
  fill_identity(c, a, po, batch, tp, &bo, r);

  int rc;
  if (c->inject[0] && strstr(r->key, c->inject)) {
    rc = qs_fail(QS_EINTERNAL, "injected failure");
  } else if (tp > 1) {
    rc = qs_fail(QS_EUNSUPPORTED, "tp %d: tensor parallelism needs a group of %d ranks on one node (qsweep run)", tp,
                 tp);
  } else if (batch < 1) {
    rc = qs_fail(QS_EINVAL, "batch %d: must be at least 1", batch);
  } else {
    rc = run_measured(c, a, weight_seed, po, batch, &bo, r);
  }
  finish_row(r, rc, t0);
}

void qs_cell_run_group(qs_cell_ctx *c, const qs_arch *a, uint64_t weight_seed, const qs_prec_opts *po, int batch,
                       const qs_tp_group *g, const qs_bench_opts *bo_in, qs_cell_result *r) {
  if (!g || g->size <= 1) {
    qs_cell_run(c, a, weight_seed, po, batch, 1, bo_in, r);
    return;
  }
  const double t0 = qs_now_s();
  qs_bench_opts bo = *bo_in;
  bo.device = c->device;
  fill_identity(c, a, po, batch, g->size, &bo, r);
  int rc; /* the first two are decided alike on every rank */
  if (c->inject[0] && strstr(r->key, c->inject)) rc = qs_fail(QS_EINTERNAL, "injected failure");
  else if (batch < 1) rc = qs_fail(QS_EINVAL, "batch %d: must be at least 1", batch);
  else rc = run_measured_tp(c, a, weight_seed, po, batch, g, &bo, r);
  finish_row(r, rc, t0);
}

void qs_cell_report(qs_cell_ctx *c, const qs_arch *a, const qs_prec_opts *po, int batch, int tp,
                    const qs_bench_opts *bo, int code, const char *msg, qs_cell_result *r) {
  const double t0 = qs_now_s();
  fill_identity(c, a, po, batch, tp, bo, r);
  if (code != QS_OK) qs_fail(code, "%s", msg ? msg : "");
  finish_row(r, code, t0);
}

/* ---- wire format ----------------------------------------------------------------- */

typedef enum { W_STR, W_I32, W_F64 } wire_kind;
typedef struct {
  size_t off, size;
  wire_kind kind;
} wire_field;

#define WS(f) {offsetof(qs_cell_result, f), sizeof(((qs_cell_result *)0)->f), W_STR}
#define WI(f) {offsetof(qs_cell_result, f), sizeof(int32_t), W_I32}
#define WD(f) {offsetof(qs_cell_result, f), sizeof(double), W_F64}
static const wire_field k_wire[] = {
    WS(key), WS(model), WS(precision), WI(batch), WI(tp), WS(backend), WS(status), WS(message), WI(rank), WS(host),
    WS(device), WS(category), WS(family), WD(params), WD(gflops), WI(warmup), WI(iterations), WD(lat_min_ms),
    WD(lat_median_ms), WD(lat_mean_ms), WD(lat_p90_ms), WD(lat_p99_ms), WD(lat_max_ms), WD(lat_stdev_ms),
    WD(lat_ci_lo_ms), WD(lat_ci_hi_ms), WD(throughput_ips), WD(weight_mb), WD(workspace_mb), WD(peak_mb),
    WD(device_mb), WD(qweight_bits), WD(energy_mj_per_image), WD(fid_cosine), WD(fid_rel_l2), WD(fid_max_abs),
    WD(fid_top1), WD(allreduce_share), WD(sm_clock_start_mhz), WD(sm_clock_end_mhz), WD(started_unix),
    WD(duration_s), WD(act_mb)};
#define WIRE_MAGIC 0x51535231u /* "QSR1" */

int qs_cell_result_pack(const qs_cell_result *r, unsigned char **buf, size_t *len) {
  size_t need = 8;
  for (size_t i = 0; i < QS_ARRAY_LEN(k_wire); i++) {
    const wire_field *w = &k_wire[i];
    need += w->kind == W_STR ? 4 + strnlen((const char *)r + w->off, w->size) : w->size;
  }
  if (r->n_samples < 0 || (r->n_samples > 0 && !r->samples_ms)) return qs_fail(QS_EINVAL, "pack: bad samples");
  need += 4 + sizeof(double) * (size_t)r->n_samples;
  unsigned char *b = qs_malloc(need), *p = b;
  if (!b) return QS_ENOMEM;
  uint32_t u = WIRE_MAGIC, nf = (uint32_t)QS_ARRAY_LEN(k_wire);
  memcpy(p, &u, 4);
  memcpy(p + 4, &nf, 4);
  p += 8;
  for (size_t i = 0; i < QS_ARRAY_LEN(k_wire); i++) {
    const wire_field *w = &k_wire[i];
    const char *src = (const char *)r + w->off;
    if (w->kind == W_STR) {
      uint32_t l = (uint32_t)strnlen(src, w->size);
      memcpy(p, &l, 4);
      memcpy(p + 4, src, l);
      p += 4 + l;
    } else {
      memcpy(p, src, w->size);
      p += w->size;
    }
  }
  uint32_t ns = (uint32_t)r->n_samples;
  memcpy(p, &ns, 4);
  p += 4;
  if (ns) memcpy(p, r->samples_ms, sizeof(double) * ns);
  *buf = b;
  *len = need;
  return QS_OK;
}

int qs_cell_result_unpack(const unsigned char *buf, size_t len, qs_cell_result *r) {
  qs_cell_result_init(r);
  const unsigned char *p = buf, *end = buf + len;
  uint32_t u, nf;
  if (len < 8) return qs_fail(QS_EINVAL, "result message: %zu bytes, too short", len);
  memcpy(&u, p, 4);
  memcpy(&nf, p + 4, 4);
  p += 8;
  if (u != WIRE_MAGIC || nf != QS_ARRAY_LEN(k_wire))
    return qs_fail(QS_EINVAL, "result message: not a qsweep result (magic %08x, %u fields)", u, nf);
  for (size_t i = 0; i < QS_ARRAY_LEN(k_wire); i++) {
    const wire_field *w = &k_wire[i];
    char *dst = (char *)r + w->off;
    if (w->kind == W_STR) {
      uint32_t l;
      if (end - p < 4) goto short_msg;
      memcpy(&l, p, 4);
      p += 4;
      if (l >= w->size || (size_t)(end - p) < l) goto short_msg;
      memcpy(dst, p, l);
      dst[l] = '\0';
      p += l;
    } else {
      if ((size_t)(end - p) < w->size) goto short_msg;
      memcpy(dst, p, w->size);
      p += w->size;
    }
  }
  uint32_t ns;
  if (end - p < 4) goto short_msg;
  memcpy(&ns, p, 4);
  p += 4;
  if (ns > QS_RESULTS_MAX_SAMPLES || (size_t)(end - p) != sizeof(double) * ns) goto short_msg;
  if (ns) {
    r->samples_ms = qs_malloc(sizeof(double) * ns);
    if (!r->samples_ms) return QS_ENOMEM;
    memcpy(r->samples_ms, p, sizeof(double) * ns);
    r->n_samples = (int32_t)ns;
  }
  return QS_OK;
short_msg:
  qs_cell_result_free(r);
  return qs_fail(QS_EINVAL, "result message: truncated or malformed (%zu bytes)", len);
}
