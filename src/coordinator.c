/* coordinator.c - scheduling a sweep over MPI ranks.
 *
 * Rank 0 coordinates and is the only writer; with more than one rank it also runs
 * cells, on a helper thread (QS_RANK0_THREAD, the default), so that a worker's
 * request is answered within a poll interval (~0.1 ms) even while rank 0's own cell
 * runs for minutes. Only rank 0's main thread calls MPI (MPI_THREAD_FUNNELED); the
 * cell thread runs the cell runner and a writer thread appends rows to the results
 * file, so neither a long cell nor an fsync delays a hand-out.
 *
 * Protocol (one round trip per cell): a worker sends TAG_REQUEST = {int32 last model,
 * int32 has_result} followed by its packed result (cell.h wire format) if it has one;
 * rank 0 queues the result for the writer and answers TAG_ASSIGN = int32 cell index,
 * or -1: stop. */
#define _POSIX_C_SOURCE 200809L
#include "coordinator.h"

#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cell.h"
#include "qs_common.h"
#include "spec.h"

/* ---- cost model -------------------------------------------------------------------- */

static double bytes_per_param(qs_precision p) {
  switch (p) {
    case QS_PREC_FP32: return 4.0;
    case QS_PREC_FP16: return 2.0;
    case QS_PREC_INT8: return 1.06;  /* int8 + one fp32 scale per row; fp16 elsewhere */
    case QS_PREC_NF4: return 0.5625; /* 4 bits + fp32 absmax per 64 */
    default: return 4.0;
  }
}

static double us_per_gflop(qs_precision p) {
  switch (p) {
    case QS_PREC_FP32: return 20.0;
    case QS_PREC_FP16: return 2.5;
    case QS_PREC_INT8: return 4.0;
    case QS_PREC_NF4: return 3.5;
    default: return 20.0;
  }
}

/* Parameters and GFLOPs, with rough stand-ins where the architecture cannot say yet. */
static void arch_size(const qs_arch *a, double *params, double *gflops) {
  /* one-entry cache: cells are costed model by model, and the parameter count builds
   * the model's whole tensor list */
  static _Thread_local qs_arch last;
  static _Thread_local double last_p, last_g;
  static _Thread_local int have;
  if (have && !memcmp(&last, a, sizeof last)) {
    *params = last_p;
    *gflops = last_g;
    return;
  }
  int64_t n = qs_arch_param_count(a);
  double p = n > 0 ? (double)n : 12.0 * a->layers * (double)a->hidden * a->hidden + 1e6;
  double g = qs_arch_gflops(a);
  if (!(g > 0)) g = 2.0 * p * 256 * 1e-9; /* as if 256 tokens went through every weight */
  qs_clear_error();
  *params = last_p = p;
  *gflops = last_g = g;
  last = *a;
  have = 1;
}

double qs_forward_cost_us(const qs_arch *a, qs_precision p, int batch) {
  double params, gflops;
  arch_size(a, &params, &gflops);
  double compute = batch * gflops * us_per_gflop(p);
  double memory = params * bytes_per_param(p) * 1e-6 / 3.0; /* 3 TB/s = 3 MB/us */
  return (compute > memory ? compute : memory) + 20.0 + 10.0 * a->layers;
}

double qs_cell_setup_cost_us(const qs_arch *a, qs_precision p) {
  double params, gflops;
  arch_size(a, &params, &gflops);
  /* upload at 10 GB/s; rounding to fp16 or quantizing on the host ~1 or ~2 ns a weight */
  double per_param_us = bytes_per_param(p) / 1e4;
  if (p == QS_PREC_FP16) per_param_us += 1e-3;
  if (p == QS_PREC_INT8 || p == QS_PREC_NF4) per_param_us += 2e-3;
  return params * per_param_us;
}

double qs_cell_cost(const qs_arch *a, qs_precision p, int batch, int tp, const qs_bench_opts *o) {
  if (tp > 1) return 1.0; /* unsupported: reported at once */
  double fwd = qs_forward_cost_us(a, p, batch);
  double loop = (o->warmup + o->iterations) * fwd;
  double floor_us = (o->warmup_s + o->min_time_s) * 1e6;
  if (loop < floor_us) loop = floor_us;
  return qs_cell_setup_cost_us(a, p) + qs_forward_cost_us(a, QS_PREC_FP32, batch) + loop;
}

/* ---- the schedule --------------------------------------------------------------------- */

struct qs_sched {
  int n, world;
  double *cost;
  int *model;
  unsigned char *taken;
  int *order; /* runnable cells, decreasing cost (ties: spec order) */
  int n_order, head;
  int n_models;
  int *mstart, *mcount, *mcursor, *mcells; /* per model: its runnable cells, decreasing cost */
  int remaining;
  double remaining_cost;
};

static const double *g_sort_cost; /* qsort has no context argument in C11 */
static int by_cost_desc(const void *x, const void *y) {
  int a = *(const int *)x, b = *(const int *)y;
  if (g_sort_cost[a] != g_sort_cost[b]) return g_sort_cost[a] > g_sort_cost[b] ? -1 : 1;
  return (a > b) - (a < b);
}

void qs_sched_free(qs_sched *s) {
  if (!s) return;
  free(s->cost);
  free(s->model);
  free(s->taken);
  free(s->order);
  free(s->mstart);
  free(s->mcount);
  free(s->mcursor);
  free(s->mcells);
  free(s);
}

qs_sched *qs_sched_create(int n, const double *costs, const int *model, const unsigned char *skip, int world) {
  qs_sched *s = qs_calloc(1, sizeof *s);
  if (!s) return NULL;
  s->n = n;
  s->world = world > 0 ? world : 1;
  int nm = 0;
  for (int i = 0; i < n; i++)
    if (model[i] + 1 > nm) nm = model[i] + 1;
  s->n_models = nm;
  size_t nn = (size_t)(n > 0 ? n : 1), mm = (size_t)(nm > 0 ? nm : 1);
  s->cost = qs_malloc(sizeof(double) * nn);
  s->model = qs_malloc(sizeof(int) * nn);
  s->taken = qs_calloc(nn, 1);
  s->order = qs_malloc(sizeof(int) * nn);
  s->mcells = qs_malloc(sizeof(int) * nn);
  s->mstart = qs_calloc(mm, sizeof(int));
  s->mcount = qs_calloc(mm, sizeof(int));
  s->mcursor = qs_calloc(mm, sizeof(int));
  if (!s->cost || !s->model || !s->taken || !s->order || !s->mcells || !s->mstart || !s->mcount || !s->mcursor) {
    qs_sched_free(s);
    return NULL;
  }
  memcpy(s->cost, costs, sizeof(double) * (size_t)n);
  memcpy(s->model, model, sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) {
    if (skip && skip[i]) {
      s->taken[i] = 1;
      continue;
    }
    s->order[s->n_order++] = i;
    s->remaining++;
    s->remaining_cost += costs[i];
    s->mcount[model[i]]++;
  }
  g_sort_cost = s->cost;
  qsort(s->order, (size_t)s->n_order, sizeof(int), by_cost_desc);
  for (int m = 1; m < nm; m++) s->mstart[m] = s->mstart[m - 1] + s->mcount[m - 1];
  for (int m = 0; m < nm; m++) s->mcursor[m] = s->mstart[m];
  for (int k = 0; k < s->n_order; k++) { /* stable: each model's cells stay in decreasing cost */
    int c = s->order[k];
    s->mcells[s->mcursor[model[c]]++] = c;
  }
  for (int m = 0; m < nm; m++) s->mcursor[m] = s->mstart[m];
  return s;
}

static void take(qs_sched *s, int c) {
  s->taken[c] = 1;
  s->remaining--;
  s->remaining_cost -= s->cost[c];
  if (s->remaining == 0) s->remaining_cost = 0;
}

int qs_sched_initial(qs_sched *s, int slot) {
  if (slot < 0 || slot >= s->n_order) return -1;
  int c = s->order[slot];
  if (s->taken[c]) return -1;
  take(s, c);
  return c;
}

int qs_sched_next(qs_sched *s, int last_model) {
  while (s->head < s->n_order && s->taken[s->order[s->head]]) s->head++;
  if (s->head >= s->n_order) return -1;
  int h = s->order[s->head];
  if (last_model >= 0 && last_model < s->n_models) {
    int *cur = &s->mcursor[last_model], end = s->mstart[last_model] + s->mcount[last_model];
    while (*cur < end && s->taken[s->mcells[*cur]]) (*cur)++;
    if (*cur < end) {
      int c = s->mcells[*cur];
      if (s->remaining_cost / s->world >= 2.0 * s->cost[h] || s->cost[c] >= 0.5 * s->cost[h]) {
        take(s, c);
        return c;
      }
    }
  }
  take(s, h);
  return h;
}

int qs_sched_remaining(const qs_sched *s) { return s->remaining; }
double qs_sched_remaining_cost(const qs_sched *s) { return s->remaining_cost; }

/* ---- rank 0: the writer thread ------------------------------------------------------- */

enum { TAG_REQUEST = 101, TAG_ASSIGN = 102 };

typedef struct row_node {
  qs_cell_result r;
  struct row_node *next;
} row_node;

typedef struct {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  row_node *head, *tail;
  int stop;
  struct qs_results *out;
  int errors;
  char first_error[QS_MSG_MAX];
  double last_write_s;
} writer;

static void *writer_main(void *arg) {
  writer *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->head && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
    if (!w->head && w->stop) break;
    /* take everything queued: one durable write of the file covers them all, so the
     * writer keeps up however fast results arrive */
    row_node *list = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->mu);
    int n = 0;
    for (row_node *p = list; p; p = p->next) n++;
    qs_cell_result *rows = malloc(sizeof *rows * (size_t)n);
    int rc;
    if (rows) {
      int i = 0;
      for (row_node *p = list; p; p = p->next) rows[i++] = p->r;
      rc = qs_results_append_many(w->out, rows, n);
      free(rows);
    } else {
      rc = QS_OK;
      for (row_node *p = list; p; p = p->next) {
        int r1 = qs_results_append(w->out, &p->r);
        if (r1 != QS_OK) rc = r1;
      }
    }
    if (rc != QS_OK) {
      /* the rows stay in the in-memory image and go out with the next good write */
      fprintf(stderr, "qsweep run: %s\n", qs_last_error());
      if (!w->errors) qs_strlcpy(w->first_error, qs_last_error(), sizeof w->first_error);
    }
    while (list) {
      row_node *next = list->next;
      qs_cell_result_free(&list->r);
      free(list);
      list = next;
    }
    pthread_mutex_lock(&w->mu);
    if (rc != QS_OK) w->errors++;
    w->last_write_s = qs_now_s();
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void writer_push(writer *w, qs_cell_result *r) {
  row_node *n = malloc(sizeof *n);
  if (!n) {
    fprintf(stderr, "qsweep run: out of host memory queueing a result\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
    return;
  }
  n->r = *r; /* takes the samples */
  r->samples_ms = NULL;
  r->n_samples = 0;
  n->next = NULL;
  pthread_mutex_lock(&w->mu);
  if (w->tail) w->tail->next = n;
  else w->head = n;
  w->tail = n;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* ---- rank 0: its own cells ----------------------------------------------------------------- */

typedef struct {
  pthread_t th;
  qs_cell_ctx *ctx;
  const qs_spec *spec;
  int cell;
  qs_cell_result r;
  atomic_int done;
} local_cell;

static void run_cell(qs_cell_ctx *ctx, const qs_spec *s, int ci, qs_cell_result *r) {
  const qs_cell *c = &s->cells[ci];
  const qs_spec_model *m = &s->models[c->model];
  qs_prec_opts po;
  qs_spec_prec_opts(s, c->prec, &po);
  qs_cell_run(ctx, &m->arch, s->seed, &po, c->batch, c->tp, &m->bench, r);
}

static void *local_main(void *arg) {
  local_cell *l = arg;
  run_cell(l->ctx, l->spec, l->cell, &l->r);
  atomic_store(&l->done, 1);
  return NULL;
}

/* ---- rank 0: progress and the loop ----------------------------------------------------- */

typedef struct {
  qs_coord_run *run;
  const qs_spec *spec;
  int total, done;
  double total_cost, done_cost;
  double t_start, t_last_result;
  double *dur;     /* per cell index: duration of its result (schedule report) */
  int *ran_on;     /* per cell index: rank */
} progress;

static void fmt_hms(double s, char *buf, size_t cap) {
  if (!isfinite(s) || s < 0) {
    snprintf(buf, cap, "?");
    return;
  }
  long t = (long)(s + 0.5);
  snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

static int cell_index_of(const qs_spec *s, const char *key, int hint) {
  if (hint >= 0 && hint < s->n_cells && !strcmp(s->cells[hint].key, key)) return hint;
  for (int i = 0; i < s->n_cells; i++)
    if (!strcmp(s->cells[i].key, key)) return i;
  return -1;
}

static void on_result(progress *p, writer *w, qs_cell_result *r, int cell) {
  qs_coord_run *run = p->run;
  int ci = cell_index_of(p->spec, r->key, cell);
  p->done++;
  run->n_run++;
  if (!strcmp(r->status, "ok")) run->n_ok++;
  else if (!strcmp(r->status, "oom")) run->n_oom++;
  else if (!strcmp(r->status, "unsupported")) run->n_unsupported++;
  else run->n_failed++;
  if (ci >= 0) {
    p->done_cost += p->spec->cells[ci].cost;
    p->dur[ci] = r->duration_s;
    p->ran_on[ci] = r->rank;
  }
  p->t_last_result = qs_now_s();
  if (!run->quiet) {
    double el = p->t_last_result - p->t_start;
    double eta = p->done_cost > 0 ? el * (p->total_cost - p->done_cost) / p->done_cost : NAN;
    char e1[32], e2[32];
    fmt_hms(el, e1, sizeof e1);
    fmt_hms(eta, e2, sizeof e2);
    int bad = run->n_run - run->n_ok;
    fprintf(stderr, "[%*d/%d] %-11s %s  rank %d  %.2f s | %d not ok | elapsed %s  ETA %s%s%s\n",
            (int)log10(p->total) + 1, p->done, p->total, r->status, r->key, (int)r->rank, r->duration_s, bad, e1,
            e2, r->message[0] ? " | " : "", r->message);
  }
  writer_push(w, r);
}

static int recv_request(int src, unsigned char **buf, int *len) {
  MPI_Status st;
  MPI_Probe(src, TAG_REQUEST, MPI_COMM_WORLD, &st);
  int n;
  MPI_Get_count(&st, MPI_BYTE, &n);
  unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
  if (!b) return -1;
  MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, TAG_REQUEST, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  *buf = b;
  *len = n;
  return st.MPI_SOURCE;
}

static void sleep_us(long us) {
  struct timespec ts = {0, us * 1000L};
  nanosleep(&ts, NULL);
}

static int coordinate(qs_coord_run *run, int world) {
  const qs_spec *s = run->spec;
  int rc = QS_OK;
  const int local_runs = world == 1 || run->rank0_mode != QS_RANK0_COORD;
  const int workers_start = local_runs ? 1 : 0; /* the slot of rank 1 in the initial hand-out */
  double *costs = malloc(sizeof(double) * (size_t)s->n_cells);
  int *models = malloc(sizeof(int) * (size_t)s->n_cells);
  progress p;
  memset(&p, 0, sizeof p);
  p.dur = calloc((size_t)s->n_cells, sizeof(double));
  p.ran_on = malloc(sizeof(int) * (size_t)s->n_cells);
  int *last_model = malloc(sizeof(int) * (size_t)world);
  unsigned char *started = calloc((size_t)world, 1);
  if (!costs || !models || !p.dur || !p.ran_on || !last_model || !started) {
    fprintf(stderr, "qsweep run: out of host memory\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  for (int i = 0; i < s->n_cells; i++) {
    costs[i] = s->cells[i].cost;
    models[i] = s->cells[i].model;
    p.ran_on[i] = -1;
  }
  const int ranks_running = local_runs ? world : world - 1;
  qs_sched *sched = qs_sched_create(s->n_cells, costs, models, run->skip, ranks_running);
  if (!sched) {
    fprintf(stderr, "qsweep run: out of host memory\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  p.run = run;
  p.spec = s;
  p.total = qs_sched_remaining(sched);
  p.total_cost = qs_sched_remaining_cost(sched);
  for (int r = 0; r < world; r++) last_model[r] = -1;

  writer w;
  memset(&w, 0, sizeof w);
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  w.out = run->out;
  if (pthread_create(&w.th, NULL, writer_main, &w) != 0) {
    fprintf(stderr, "qsweep run: cannot start the writer thread\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  local_cell lc;
  memset(&lc, 0, sizeof lc);
  lc.ctx = run->cell;
  lc.spec = s;
  int local_busy = 0, local_first = 1, active = world - 1, first_requests = 0;
  p.t_start = qs_now_s();
  long idle_us = 20;
  while (active > 0 || local_busy || (local_runs && qs_sched_remaining(sched) > 0)) {
    int progressed = 0;
    /* 1. answer every waiting worker first: a hand-out never waits for anything */
    for (;;) {
      int flag = 0;
      MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQUEST, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
      if (!flag) break;
      unsigned char *buf = NULL;
      int len = 0;
      int src = recv_request(MPI_ANY_SOURCE, &buf, &len);
      if (src < 0 || len < 8) {
        fprintf(stderr, "qsweep run: rank 0: bad request message\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      int32_t hdr[2];
      memcpy(hdr, buf, sizeof hdr);
      int cell;
      if (!started[src]) {
        started[src] = 1;
        first_requests++;
        cell = qs_sched_initial(sched, workers_start + src - 1);
        if (cell < 0) cell = qs_sched_next(sched, -1);
      } else {
        cell = qs_sched_next(sched, hdr[0]);
      }
      MPI_Send(&cell, 1, MPI_INT, src, TAG_ASSIGN, MPI_COMM_WORLD);
      if (cell < 0) active--;
      if (hdr[1]) {
        qs_cell_result r;
        if (qs_cell_result_unpack(buf + 8, (size_t)len - 8, &r) != QS_OK) {
          fprintf(stderr, "qsweep run: rank 0: from rank %d: %s\n", src, qs_last_error());
          MPI_Abort(MPI_COMM_WORLD, 1);
        }
        on_result(&p, &w, &r, -1);
      }
      free(buf);
      progressed = 1;
    }
    /* 2. rank 0's own cell */
    if (local_runs) {
      if (local_busy && atomic_load(&lc.done)) {
        pthread_join(lc.th, NULL);
        local_busy = 0;
        on_result(&p, &w, &lc.r, lc.cell);
        progressed = 1;
      }
      /* inline mode: hand every worker its first cell before rank 0 starts one */
      int may_start = run->rank0_mode != QS_RANK0_INLINE || first_requests == world - 1 ||
                      qs_sched_remaining(sched) == 0;
      if (!local_busy && may_start && qs_sched_remaining(sched) > 0) {
        int cell = local_first ? qs_sched_initial(sched, 0) : -1;
        if (cell < 0) cell = qs_sched_next(sched, last_model[0]);
        local_first = 0;
        if (cell >= 0) {
          last_model[0] = s->cells[cell].model;
          lc.cell = cell;
          progressed = 1;
          if (run->rank0_mode == QS_RANK0_INLINE || world == 1) {
            run_cell(lc.ctx, s, cell, &lc.r);
            on_result(&p, &w, &lc.r, cell);
          } else {
            atomic_store(&lc.done, 0);
            local_busy = 1;
            if (pthread_create(&lc.th, NULL, local_main, &lc) != 0) {
              fprintf(stderr, "qsweep run: cannot start rank 0's cell thread\n");
              MPI_Abort(MPI_COMM_WORLD, 1);
            }
          }
        }
      }
    }
    if (progressed) {
      idle_us = 20;
    } else {
      sleep_us(idle_us); /* back off to 200 us: a hand-out waits at most that long */
      if (idle_us < 200) idle_us *= 2;
    }
  }
  run->makespan_s = (p.done ? p.t_last_result : qs_now_s()) - p.t_start;

  pthread_mutex_lock(&w.mu);
  w.stop = 1;
  pthread_cond_signal(&w.cv);
  pthread_mutex_unlock(&w.mu);
  pthread_join(w.th, NULL);
  run->writer_lag_s = (w.last_write_s > p.t_last_result && p.done) ? w.last_write_s - p.t_last_result : 0.0;
  run->write_errors = w.errors;
  if (w.errors) rc = qs_fail(QS_EIO, "%s", w.first_error);
  pthread_mutex_destroy(&w.mu);
  pthread_cond_destroy(&w.cv);

  /* the schedule against its lower bound */
  if (p.done) {
    double total = 0, longest = 0;
    for (int i = 0; i < s->n_cells; i++) {
      total += p.dur[i];
      if (p.dur[i] > longest) longest = p.dur[i];
    }
    double lb = total / ranks_running > longest ? total / ranks_running : longest;
    double idle = ranks_running * run->makespan_s - total;
    fprintf(stderr,
            "qsweep run: schedule: %d cells on %d ranks in %.2f s; lower bound %.2f s (longest cell %.2f s, "
            "total %.2f s / %d) -> %+.1f%%; idle per cell %.2f ms; writer lag %.3f s\n",
            p.done, ranks_running, run->makespan_s, lb, longest, total, ranks_running,
            lb > 0 ? 100.0 * (run->makespan_s - lb) / lb : 0.0, 1e3 * idle / p.done, run->writer_lag_s);
  }
  qs_sched_free(sched);
  free(costs);
  free(models);
  free(p.dur);
  free(p.ran_on);
  free(last_model);
  free(started);
  return rc;
}

/* ---- workers -------------------------------------------------------------------------- */

static void work(qs_coord_run *run) {
  const qs_spec *s = run->spec;
  int32_t hdr[2] = {-1, 0};
  unsigned char *packed = NULL;
  size_t plen = 0;
  for (;;) {
    size_t n = 8 + plen;
    unsigned char *msg = malloc(n);
    if (!msg || n > (size_t)INT32_MAX) {
      fprintf(stderr, "qsweep run: out of host memory for a result message\n");
      MPI_Abort(MPI_COMM_WORLD, 1);
      return;
    }
    memcpy(msg, hdr, 8);
    if (plen) memcpy(msg + 8, packed, plen);
    MPI_Send(msg, (int)n, MPI_BYTE, 0, TAG_REQUEST, MPI_COMM_WORLD);
    free(msg);
    free(packed);
    packed = NULL;
    plen = 0;
    int cell;
    MPI_Recv(&cell, 1, MPI_INT, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (cell < 0 || cell >= s->n_cells) break;
    qs_cell_result r;
    run_cell(run->cell, s, cell, &r);
    if (qs_cell_result_pack(&r, &packed, &plen) != QS_OK) {
      fprintf(stderr, "qsweep run: %s\n", qs_last_error());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    qs_cell_result_free(&r);
    hdr[0] = s->cells[cell].model;
    hdr[1] = 1;
  }
}

int qs_coord_run_sweep(qs_coord_run *run, int rank, int world) {
  if (rank == 0) return coordinate(run, world);
  work(run);
  return QS_OK;
}
