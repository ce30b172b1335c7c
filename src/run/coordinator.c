/* coordinator.c - scheduling a sweep over MPI ranks.
 *
 * Rank 0 coordinates and is the only writer; with more than one rank it also runs
 * cells, on a helper thread (QS_RANK0_THREAD, the default), so that a worker's
 * request is answered within a poll interval (~0.1 ms) even while rank 0's own cell
 * runs for minutes. Only rank 0's main thread calls MPI (MPI_THREAD_FUNNELED); the
 * cell thread runs the cell runner and a writer thread appends rows to the results
 * file, so neither a long cell nor an fsync delays a hand-out.
 *
 * Every rank runs its tp = 1 cells in its worker process (worker.h: a crash, a lost
 * device context or a hang there costs that cell, with status failed or timeout, and the
 * next cell starts a fresh worker); tp > 1 cells run in the ranks themselves.
 *
 * Protocol (one round trip per cell): a worker sends TAG_REQUEST = {int32 last model,
 * int32 has_result} followed by its packed result (cell.h wire format) if it has one;
 * rank 0 queues the result for the writer and answers TAG_ASSIGN = int32
 * {cell index (-1: stop), k, tp rank, the k world ranks of the group (k > 1 only)}.
 *
 * Tensor-parallel cells (tp = k > 1, sweep/README.md "Tensor parallelism"): a gang of
 * k ranks of one node runs the cell together. The ranks of a node that run cells
 * (all of them; without rank 0 under --rank0 coord) are cut into aligned blocks of k
 * consecutive ranks; a tp = k cell runs on one such block. The group communicator of a
 * block is made once (MPI_Comm_create_group over its world ranks, collective over the
 * block only) on first use and kept, per rank, by its rank set, for the rest of the
 * sweep. Rank 0 hands out tp cells in the same decreasing-cost order as the others,
 * with one reservation at a time (EASY backfilling):
 *   - when a tp cell is the largest remaining cell and a block is wholly idle, it
 *     starts there at once;
 *   - otherwise it becomes the reservation: the block whose busy ranks are estimated
 *     to finish soonest. Its ranks are given no new work as they free up and the
 *     cell starts when the last one does: it waits at most for the cells already
 *     running on that block (no starvation), and only that block's ranks wait;
 *   - every other idle rank goes on with tp = 1 cells (or a tp cell on another wholly
 *     idle block) meanwhile.
 * A tp cell no node has k such ranks for, that the model cannot split (heads or an MLP
 * width not divisible by k) or that the backend cannot run is reported "unsupported"
 * at once by rank 0, without using a rank. Only tp rank 0 (the block's lowest world
 * rank) reports the row. When rank 0 is in a group under the thread mode, its cell
 * thread's group operations are funneled through the main thread (non-blocking
 * collectives it polls), which keeps MPI_THREAD_FUNNELED. */
#define _POSIX_C_SOURCE 200809L
#include "coordinator.h"

#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cell.h"
#include "qs_common.h"
#include "spec.h"
#include "tp.h"
#include "worker.h"

/* ---- rank 0: the writer thread ------------------------------------------------------- */

enum { TAG_REQUEST = 101, TAG_ASSIGN = 102 };

typedef struct row_node {
  qs_cell_result r;
  char *line; /* the progress line, printed once the row is durable (NULL: quiet) */
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
    /* a cell is reported complete only now, with its row in the file (DESIGN:
     * "a row is durable once its cell is reported complete") */
    while (list) {
      row_node *next = list->next;
      if (list->line) fputs(list->line, stderr);
      free(list->line);
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

static void writer_push(writer *w, qs_cell_result *r, char *line) {
  row_node *n = malloc(sizeof *n);
  if (!n) {
    fprintf(stderr, "qsweep run: out of host memory queueing a result\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
    return;
  }
  n->r = *r; /* takes the samples */
  r->samples_ms = NULL;
  r->n_samples = 0;
  n->line = line; /* takes the line */
  n->next = NULL;
  pthread_mutex_lock(&w->mu);
  if (w->tail) w->tail->next = n;
  else w->head = n;
  w->tail = n;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* ---- group communicators (every rank) ------------------------------------------------ */

enum { TAG_GROUP = 103 };

/* The communicators of the tp groups this rank has been in, by their world rank sets
 * (ascending: tp rank = index). Every member of a set made it at the same moment, so
 * the caches of a group's ranks agree without a word; nothing is evicted. */
typedef struct {
  int k;
  int *members;
  MPI_Comm comm;
} comm_entry;

typedef struct {
  comm_entry *v;
  int n, cap;
} comm_cache;

static MPI_Comm comm_get(comm_cache *cc, const int *members, int k) {
  for (int i = 0; i < cc->n; i++)
    if (cc->v[i].k == k && !memcmp(cc->v[i].members, members, sizeof(int) * (size_t)k)) return cc->v[i].comm;
  if (cc->n == cc->cap) {
    int cap = cc->cap ? 2 * cc->cap : 8;
    comm_entry *v = realloc(cc->v, sizeof *v * (size_t)cap);
    if (!v) MPI_Abort(MPI_COMM_WORLD, 1);
    cc->v = v;
    cc->cap = cap;
  }
  MPI_Group wg, gg;
  MPI_Comm comm;
  MPI_Comm_group(MPI_COMM_WORLD, &wg);
  MPI_Group_incl(wg, k, members, &gg);
  if (MPI_Comm_create_group(MPI_COMM_WORLD, gg, TAG_GROUP, &comm) != MPI_SUCCESS) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Group_free(&gg);
  MPI_Group_free(&wg);
  comm_entry *e = &cc->v[cc->n++];
  e->k = k;
  e->members = malloc(sizeof(int) * (size_t)k);
  if (!e->members) MPI_Abort(MPI_COMM_WORLD, 1);
  memcpy(e->members, members, sizeof(int) * (size_t)k);
  e->comm = comm;
  return comm;
}

/* qs_tp_group.key of a rank set */
static uint64_t group_key(const int *members, int k) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < k; i++) {
    h ^= (uint64_t)(uint32_t)members[i] + 1;
    h *= 1099511628211ull;
  }
  return h ? h : 1;
}

static void comm_cache_free(comm_cache *cc) {
  for (int i = 0; i < cc->n; i++) { /* in creation order: the same on every member */
    MPI_Comm_free(&cc->v[i].comm);
    free(cc->v[i].members);
  }
  free(cc->v);
  memset(cc, 0, sizeof *cc);
}

/* ---- rank 0's group operations through its main thread -------------------------------- */

/* Under MPI_THREAD_FUNNELED rank 0's cell thread may not call MPI: its qs_tp_group posts
 * each operation here and waits; the main thread starts it as a non-blocking collective
 * and tests it between hand-outs. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  MPI_Comm comm;
  int state; /* 0 free, 1 posted, 2 in flight, 3 done */
  int op;    /* 1 sum of floats, 2 max of doubles, 3 broadcast of bytes */
  void *buf;
  int n, root;
  MPI_Request req;
} tp_proxy;

static int proxy_call(tp_proxy *px, int op, void *buf, int n, int root) {
  pthread_mutex_lock(&px->mu);
  px->op = op;
  px->buf = buf;
  px->n = n;
  px->root = root;
  px->state = 1;
  while (px->state != 3) pthread_cond_wait(&px->cv, &px->mu);
  px->state = 0;
  pthread_mutex_unlock(&px->mu);
  return QS_OK;
}

static int proxy_sum(void *ctx, float *buf, int64_t n) {
  for (; n > 0;) {
    int c = n > INT32_MAX ? INT32_MAX : (int)n;
    proxy_call(ctx, 1, buf, c, 0);
    buf += c;
    n -= c;
  }
  return QS_OK;
}

static int proxy_max(void *ctx, double *buf, int n) { return n > 0 ? proxy_call(ctx, 2, buf, n, 0) : QS_OK; }

static int proxy_bcast(void *ctx, void *buf, size_t bytes, int root) {
  if (bytes > INT32_MAX) return qs_fail(QS_EINVAL, "tp: broadcast of %zu bytes is too large", bytes);
  return proxy_call(ctx, 3, buf, (int)bytes, root);
}

/* main thread: start or finish the posted operation; 1 if one is in progress */
static int proxy_poll(tp_proxy *px) {
  pthread_mutex_lock(&px->mu);
  if (px->state == 1) {
    int e = MPI_SUCCESS;
    if (px->op == 1) e = MPI_Iallreduce(MPI_IN_PLACE, px->buf, px->n, MPI_FLOAT, MPI_SUM, px->comm, &px->req);
    else if (px->op == 2) e = MPI_Iallreduce(MPI_IN_PLACE, px->buf, px->n, MPI_DOUBLE, MPI_MAX, px->comm, &px->req);
    else e = MPI_Ibcast(px->buf, px->n, MPI_BYTE, px->root, px->comm, &px->req);
    if (e != MPI_SUCCESS) {
      fprintf(stderr, "qsweep run: rank 0: a tensor-parallel collective failed\n");
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    px->state = 2;
  }
  if (px->state == 2) {
    int flag = 0;
    MPI_Test(&px->req, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      px->state = 3;
      pthread_cond_signal(&px->cv);
    }
  }
  int busy = px->state == 1 || px->state == 2;
  pthread_mutex_unlock(&px->mu);
  return busy;
}

/* ---- rank 0: its own cells ----------------------------------------------------------------- */

typedef struct {
  pthread_t th;
  qs_coord_run *run;
  int cell;
  const qs_tp_group *group; /* NULL: tp = 1 */
  qs_cell_result r;
  atomic_int done;
} local_cell;

/* One cell on this rank: tp = 1 cells in the rank's worker process (worker.h) where it
 * has one, tp > 1 cells (and every cell under --no-worker) in the rank itself. */
static void run_cell_group(qs_coord_run *run, int ci, const qs_tp_group *g, qs_cell_result *r) {
  const qs_spec *s = run->spec;
  qs_cell_ctx *ctx = run->cell;
  const qs_cell *c = &s->cells[ci];
  const qs_spec_model *m = &s->models[c->model];
  qs_prec_opts po;
  qs_spec_prec_opts(s, c->prec, &po);
  const qs_fault_kind fault = qs_key_matches(c->key, run->inject_crash)  ? QS_FAULT_CRASH
                              : qs_key_matches(c->key, run->inject_hang) ? QS_FAULT_HANG
                                                                         : QS_FAULT_NONE;
  if (m->unsupported[0]) {
    qs_cell_report(ctx, &m->arch, &po, c->batch, c->tp, &m->bench, QS_EUNSUPPORTED, m->unsupported, r);
  } else if (fault != QS_FAULT_NONE && (g || !run->worker)) {
    /* a real fault here would take the rank (and the sweep) with it */
    char msg[QS_MSG_MAX];
    snprintf(msg, sizeof msg, "injected %s: not run, the cell runs in the rank's process (%s)",
             fault == QS_FAULT_HANG ? "hang" : "crash",
             g ? "tensor-parallel cells are not isolated in a worker" : "--no-worker");
    qs_cell_report(ctx, &m->arch, &po, c->batch, c->tp, &m->bench, QS_EINTERNAL, msg, r);
  } else if (g) {
    qs_cell_run_group(ctx, &m->arch, s->seed, &po, c->batch, g, &m->bench, r);
  } else if (run->worker) {
    const double limit_s = qs_cell_time_limit_s(run->cell_timeout_s, c->cost, run->slowdown);
    qs_worker_run(run->worker, ctx, &m->arch, s->seed, &po, c->batch, &m->bench, fault, limit_s, r);
  } else {
    qs_cell_run(ctx, &m->arch, s->seed, &po, c->batch, c->tp, &m->bench, r);
  }
}

static void *local_main(void *arg) {
  local_cell *l = arg;
  run_cell_group(l->run, l->cell, l->group, &l->r);
  atomic_store(&l->done, 1);
  return NULL;
}

/* ---- rank 0: progress ------------------------------------------------------------------ */

typedef struct {
  qs_coord_run *run;
  const qs_spec *spec;
  int total, done;
  double total_cost, done_cost;
  double t_start, t_last_result;
  double *dur;     /* per cell index: duration of its result (schedule report) */
  int *ran_on;     /* per cell index: rank */
  double sum_dur, sum_cost; /* of finished cells: seconds per cost unit */
} progress;

double qs_eta_s(double elapsed_s, double total_cost, double done_cost, int done, int total) {
  if (done >= total) return 0.0;
  if (!(done_cost > 0)) return NAN;
  double left = total_cost - done_cost;
  return left > 0 ? elapsed_s * left / done_cost : 0.0;
}

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
  else if (!strcmp(r->status, "timeout")) run->n_timeout++;
  else run->n_failed++;
  if (ci >= 0) {
    p->done_cost += p->spec->cells[ci].cost;
    p->dur[ci] = r->duration_s;
    p->ran_on[ci] = r->rank;
    if (r->duration_s > 0) {
      p->sum_dur += r->duration_s;
      p->sum_cost += p->spec->cells[ci].cost;
    }
  }
  p->t_last_result = qs_now_s();
  char *line = NULL; /* printed by the writer once the row is durable */
  if (!run->quiet) {
    double el = p->t_last_result - p->t_start;
    double eta = qs_eta_s(el, p->total_cost, p->done_cost, p->done, p->total);
    char e1[32], e2[32];
    fmt_hms(el, e1, sizeof e1);
    fmt_hms(eta, e2, sizeof e2);
    int bad = run->n_run - run->n_ok;
    const size_t cap = 256 + strlen(r->key) + strlen(r->message);
    if ((line = malloc(cap)) != NULL)
      snprintf(line, cap, "[%*d/%d] %-11s %s  rank %d  %.2f s | %d not ok | elapsed %s  ETA %s%s%s\n",
               (int)log10(p->total > 0 ? p->total : 1) + 1, p->done, p->total, r->status, r->key, (int)r->rank,
               r->duration_s, bad, e1, e2, r->message[0] ? " | " : "", r->message);
  }
  writer_push(w, r, line);
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

/* ---- rank 0: the coordinator's state --------------------------------------------------- */

typedef struct {
  int idle;       /* waiting for work (a worker's request is unanswered; rank 0: free) */
  int started;    /* has had its first hand-out decision (initial slot) */
  int seen;       /* a worker's first request arrived */
  int stopped;    /* a worker was told to stop */
  int in_head;    /* belongs to the reserved block */
  int last_model;
  int cell;       /* running cell, -1 */
  double t_start; /* when it got that cell */
} rank_state;

typedef struct {
  qs_coord_run *run;
  const qs_spec *s;
  int world, local_runs, inline_local, workers_start;
  rank_state *rs;
  /* nodes: the ranks that run cells, per node, ascending */
  int n_nodes, *node_n, **node_ranks, max_node;
  qs_sched *sched;             /* tp = 1 cells */
  int *tpq, n_tpq, tp_left;    /* tp > 1 cells, decreasing cost; tp_left not yet started */
  unsigned char *tp_taken;
  int head_cell, head_k, *head_members; /* the reservation, -1: none */
  int *scratch, *scratch2;
  int active, first_requests, local_done;
  progress p;
  writer w;
  local_cell lc;
  int local_busy;
  int pend_cell, pend_k, *pend_members; /* inline mode: rank 0's next cell, run after the hand-outs */
  tp_proxy px;
  qs_tp_group lgroup;
  comm_cache *cc;
} coord;

static int rank0_may_start(const coord *c) {
  if (!c->local_runs) return 0;
  if (c->run->rank0_mode != QS_RANK0_INLINE || c->world == 1) return 1;
  /* inline mode: hand every worker its first cell before rank 0 starts one */
  return c->first_requests == c->world - 1 || (qs_sched_remaining(c->sched) == 0 && c->tp_left == 0);
}

static int avail(const coord *c, int r) {
  return c->rs[r].idle && !c->rs[r].in_head && (r != 0 || rank0_may_start(c));
}

/* estimated seconds until rank r is free */
static double remaining_s(const coord *c, int r, double now) {
  const rank_state *st = &c->rs[r];
  if (st->idle || st->cell < 0) return 0.0;
  double per_cost = c->p.sum_cost > 0 ? c->p.sum_dur / c->p.sum_cost : 1e-6;
  double left = c->s->cells[st->cell].cost * per_cost - (now - st->t_start);
  return left > 0 ? left : 0.0;
}

/* rank 0's part of a cell: on its thread, or (inline) after the hand-outs */
static void start_local(coord *c, int cell, int k, const int *members) {
  if (c->inline_local) {
    c->pend_cell = cell;
    c->pend_k = k;
    if (k > 1) memcpy(c->pend_members, members, sizeof(int) * (size_t)k);
    return;
  }
  c->lc.cell = cell;
  c->lc.group = NULL;
  if (k > 1) {
    c->px.comm = comm_get(c->cc, members, k); /* the other members make it now too */
    c->px.state = 0;
    memset(&c->lgroup, 0, sizeof c->lgroup);
    c->lgroup.rank = 0;
    c->lgroup.size = k;
    c->lgroup.allreduce_sum = proxy_sum;
    c->lgroup.ctl_max = proxy_max;
    c->lgroup.ctl_bcast = proxy_bcast;
    c->lgroup.ctx = &c->px;
    c->lgroup.key = group_key(members, k);
    c->lc.group = &c->lgroup;
  }
  atomic_store(&c->lc.done, 0);
  c->local_busy = 1;
  if (pthread_create(&c->lc.th, NULL, local_main, &c->lc) != 0) {
    fprintf(stderr, "qsweep run: cannot start rank 0's cell thread\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

/* hand `cell` to the k ranks members[] (ascending; k = 1: one rank) */
static void launch(coord *c, int cell, int k, const int *members) {
  const double now = qs_now_s();
  int *msg = c->scratch2; /* {cell, k, tp rank, members...} */
  msg[0] = cell;
  msg[1] = k;
  if (k > 1) memcpy(msg + 3, members, sizeof(int) * (size_t)k);
  for (int i = 0; i < k; i++) {
    const int r = members[i];
    rank_state *st = &c->rs[r];
    st->idle = 0;
    st->in_head = 0;
    st->cell = cell;
    st->t_start = now;
    st->last_model = c->s->cells[cell].model;
    if (r == 0) continue;
    msg[2] = i;
    MPI_Send(msg, k > 1 ? 3 + k : 3, MPI_INT, r, TAG_ASSIGN, MPI_COMM_WORLD);
  }
  if (members[0] == 0) start_local(c, cell, k, members); /* after every member has its message */
}

/* Blocks of k ranks (tp.h, coordinator.c header): calls f on each; stops when f returns 1. */
typedef int (*block_fn)(coord *c, const int *members, int k, void *arg);
static int each_block(coord *c, int k, block_fn f, void *arg) {
  for (int nd = 0; nd < c->n_nodes; nd++)
    for (int j = 0; j + k <= c->node_n[nd]; j += k)
      if (f(c, c->node_ranks[nd] + j, k, arg)) return 1;
  return 0;
}

typedef struct {
  int want_rank;
  int found, has_r, has0;
  double score;
  int *out;
} block_pick;

static int contains(const int *m, int k, int r) {
  for (int i = 0; i < k; i++)
    if (m[i] == r) return 1;
  return 0;
}

/* prefer the block holding the deciding rank, then one without rank 0 (its group
 * operations take a detour through its main thread), then the first */
static int better(const block_pick *b, double score, int has_r, int has0) {
  if (!b->found) return 1;
  if (score != b->score) return score < b->score;
  if (has_r != b->has_r) return has_r;
  return !has0 && b->has0;
}

static int idle_block_fn(coord *c, const int *m, int k, void *arg) {
  block_pick *b = arg;
  for (int i = 0; i < k; i++)
    if (!avail(c, m[i])) return 0;
  int has_r = contains(m, k, b->want_rank), has0 = m[0] == 0;
  if (better(b, 0.0, has_r, has0)) {
    b->found = 1;
    b->score = 0.0;
    b->has_r = has_r;
    b->has0 = has0;
    memcpy(b->out, m, sizeof(int) * (size_t)k);
  }
  return 0;
}

static int soonest_block_fn(coord *c, const int *m, int k, void *arg) {
  block_pick *b = arg;
  const double now = qs_now_s();
  double score = 0.0;
  for (int i = 0; i < k; i++) {
    if (c->rs[m[i]].stopped) return 0;
    double t = remaining_s(c, m[i], now);
    if (t > score) score = t;
  }
  int has_r = contains(m, k, b->want_rank), has0 = m[0] == 0;
  if (better(b, score, has_r, has0)) {
    b->found = 1;
    b->score = score;
    b->has_r = has_r;
    b->has0 = has0;
    memcpy(b->out, m, sizeof(int) * (size_t)k);
  }
  return 0;
}

/* The largest tp cell not yet started or reserved (index into tpq), -1 if none. */
static int top_tp(const coord *c) {
  for (int i = 0; i < c->n_tpq; i++)
    if (!c->tp_taken[i]) return i;
  return -1;
}

/* A hand-out decision for idle rank r; 1 if anything changed. */
static int decide(coord *c, int r) {
  const int ti = top_tp(c);
  const double c1 = qs_sched_peek_cost(c->sched); /* -1: no tp = 1 cell left */
  if (ti >= 0) {
    const int cell = c->tpq[ti], k = c->s->cells[cell].tp;
    if (c1 < 0 || c->s->cells[cell].cost >= c1) {
      block_pick b = {r, 0, 0, 0, 0.0, c->scratch};
      each_block(c, k, idle_block_fn, &b);
      if (b.found) { /* a wholly idle block: start now */
        c->tp_taken[ti] = 1;
        c->tp_left--;
        launch(c, cell, k, c->scratch);
        return 1;
      }
      if (c->head_cell < 0) { /* reserve the block that frees up soonest */
        block_pick h = {r, 0, 0, 0, 0.0, c->head_members};
        each_block(c, k, soonest_block_fn, &h);
        if (h.found) {
          c->tp_taken[ti] = 1;
          c->tp_left--;
          c->head_cell = cell;
          c->head_k = k;
          for (int i = 0; i < k; i++) c->rs[c->head_members[i]].in_head = 1;
          return 1;
        }
      }
    }
  }
  if (qs_sched_remaining(c->sched) > 0) {
    rank_state *st = &c->rs[r];
    int cell = -1;
    if (!st->started) {
      st->started = 1;
      cell = qs_sched_initial(c->sched, r == 0 ? 0 : c->workers_start + r - 1);
    }
    if (cell < 0) cell = qs_sched_next(c->sched, st->last_model);
    if (cell >= 0) {
      launch(c, cell, 1, &r);
      return 1;
    }
  }
  return 0;
}

static void dispatch(coord *c) {
  for (;;) {
    int changed = 0;
    if (c->head_cell >= 0) {
      int ready = 1;
      for (int i = 0; i < c->head_k && ready; i++) {
        int r = c->head_members[i];
        ready = c->rs[r].idle && (r != 0 || rank0_may_start(c));
      }
      if (ready) {
        int cell = c->head_cell;
        c->head_cell = -1;
        memcpy(c->scratch, c->head_members, sizeof(int) * (size_t)c->head_k);
        launch(c, cell, c->head_k, c->scratch);
        changed = 1;
      }
    }
    for (int r = 0; r < c->world; r++)
      if (avail(c, r) && !c->rs[r].stopped && decide(c, r)) changed = 1;
    if (!changed) break;
  }
  if (qs_sched_remaining(c->sched) == 0 && c->tp_left == 0 && c->head_cell < 0) {
    for (int r = 1; r < c->world; r++) {
      rank_state *st = &c->rs[r];
      if (!st->idle || st->stopped) continue;
      int msg[3] = {-1, 1, 0};
      MPI_Send(msg, 3, MPI_INT, r, TAG_ASSIGN, MPI_COMM_WORLD);
      st->stopped = 1;
      st->idle = 0;
      c->active--;
    }
    if (c->rs[0].idle) c->local_done = 1;
  }
}

/* Topology: the leader (lowest world rank) of every rank's node, on rank 0. */
static void build_nodes(coord *c, const int *leader) {
  const int world = c->world;
  c->node_n = calloc((size_t)world, sizeof(int));
  c->node_ranks = calloc((size_t)world, sizeof(int *));
  if (!c->node_n || !c->node_ranks) MPI_Abort(MPI_COMM_WORLD, 1);
  int *node_of_leader = malloc(sizeof(int) * (size_t)world);
  if (!node_of_leader) MPI_Abort(MPI_COMM_WORLD, 1);
  for (int r = 0; r < world; r++) node_of_leader[r] = -1;
  for (int r = 0; r < world; r++) {
    if (r == 0 && !c->local_runs) continue;
    int l = leader[r] >= 0 && leader[r] < world ? leader[r] : r;
    if (node_of_leader[l] < 0) {
      node_of_leader[l] = c->n_nodes;
      c->node_ranks[c->n_nodes] = malloc(sizeof(int) * (size_t)world);
      if (!c->node_ranks[c->n_nodes]) MPI_Abort(MPI_COMM_WORLD, 1);
      c->n_nodes++;
    }
    int nd = node_of_leader[l];
    c->node_ranks[nd][c->node_n[nd]++] = r; /* ascending: r grows */
  }
  for (int nd = 0; nd < c->n_nodes; nd++)
    if (c->node_n[nd] > c->max_node) c->max_node = c->node_n[nd];
  free(node_of_leader);
}

int qs_tp_unrunnable(const qs_arch *a, int tp, int tp_capable, const char *backend, int max_node, int coord_only,
                     char *why, size_t cap) {
  if (!tp_capable) {
    snprintf(why, cap, "tp %d: the %s backend does not run tensor-parallel cells", tp, backend);
  } else if (tp > max_node) {
    snprintf(why, cap, "tp %d: needs %d ranks of one node; the most any node has that run cells is %d%s", tp, tp,
             max_node, coord_only ? " (rank 0 runs none: --rank0 coord)" : "");
  } else if (qs_tp_check_arch(a, tp) != QS_OK) {
    qs_strlcpy(why, qs_last_error(), cap);
    qs_clear_error();
  } else {
    if (cap) why[0] = '\0';
    return 0;
  }
  return 1;
}

static void free_nodes(coord *c) {
  for (int nd = 0; nd < c->n_nodes; nd++) free(c->node_ranks[nd]);
  free(c->node_ranks);
  free(c->node_n);
}

/* Rank 0: tp cells no group can run, reported at once. */
static void report_unrunnable(coord *c) {
  const qs_spec *s = c->s;
  for (int i = 0; i < s->n_cells; i++) {
    const qs_cell *cl = &s->cells[i];
    if (cl->tp <= 1 || (c->run->skip && c->run->skip[i])) continue;
    const qs_spec_model *m = &s->models[cl->model];
    char why[QS_MSG_MAX] = "";
    if (!qs_tp_unrunnable(&m->arch, cl->tp, qs_cell_ctx_tp_capable(c->run->cell), qs_cell_ctx_backend(c->run->cell),
                          c->max_node, c->run->rank0_mode == QS_RANK0_COORD && c->world > 1, why, sizeof why)) {
      c->tpq[c->n_tpq++] = i;
      continue;
    }
    qs_prec_opts po;
    qs_spec_prec_opts(s, cl->prec, &po);
    qs_cell_result r;
    qs_cell_report(c->run->cell, &m->arch, &po, cl->batch, cl->tp, &m->bench, QS_EUNSUPPORTED, why, &r);
    on_result(&c->p, &c->w, &r, i);
  }
  c->tp_left = c->n_tpq;
  /* decreasing cost, ties in spec order */
  for (int a = 1; a < c->n_tpq; a++) {
    int v = c->tpq[a], b = a - 1;
    while (b >= 0 && s->cells[c->tpq[b]].cost < s->cells[v].cost) {
      c->tpq[b + 1] = c->tpq[b];
      b--;
    }
    c->tpq[b + 1] = v;
  }
}

static int coordinate(qs_coord_run *run, int world, const int *leader, comm_cache *cc) {
  const qs_spec *s = run->spec;
  int rc = QS_OK;
  coord c;
  memset(&c, 0, sizeof c);
  c.run = run;
  c.s = s;
  c.world = world;
  c.cc = cc;
  c.local_runs = world == 1 || run->rank0_mode != QS_RANK0_COORD;
  c.inline_local = run->rank0_mode == QS_RANK0_INLINE || world == 1;
  c.workers_start = c.local_runs ? 1 : 0; /* the slot of rank 1 in the initial hand-out */
  c.head_cell = -1;
  c.pend_cell = -1;
  const size_t nc = (size_t)(s->n_cells > 0 ? s->n_cells : 1);
  double *costs = malloc(sizeof(double) * nc);
  int *models = malloc(sizeof(int) * nc);
  unsigned char *skip1 = calloc(nc, 1); /* what the tp = 1 schedule leaves out */
  c.rs = calloc((size_t)world, sizeof *c.rs);
  c.tpq = malloc(sizeof(int) * nc);
  c.tp_taken = calloc(nc, 1);
  c.head_members = malloc(sizeof(int) * (size_t)world);
  c.pend_members = malloc(sizeof(int) * (size_t)world);
  c.scratch = malloc(sizeof(int) * (size_t)world);
  c.scratch2 = malloc(sizeof(int) * ((size_t)world + 3));
  c.p.dur = calloc(nc, sizeof(double));
  c.p.ran_on = malloc(sizeof(int) * nc);
  if (!costs || !models || !skip1 || !c.rs || !c.tpq || !c.tp_taken || !c.head_members || !c.pend_members ||
      !c.scratch || !c.scratch2 || !c.p.dur || !c.p.ran_on) {
    fprintf(stderr, "qsweep run: out of host memory\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int n_todo = 0;
  double todo_cost = 0;
  for (int i = 0; i < s->n_cells; i++) {
    costs[i] = s->cells[i].cost;
    models[i] = s->cells[i].model;
    c.p.ran_on[i] = -1;
    skip1[i] = (run->skip && run->skip[i]) || s->cells[i].tp > 1;
    if (!(run->skip && run->skip[i])) {
      n_todo++;
      todo_cost += costs[i];
    }
  }
  const int ranks_running = c.local_runs ? world : world - 1;
  c.sched = qs_sched_create(s->n_cells, costs, models, skip1, ranks_running);
  if (!c.sched) {
    fprintf(stderr, "qsweep run: out of host memory\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  c.p.run = run;
  c.p.spec = s;
  c.p.total = n_todo;
  c.p.total_cost = todo_cost;
  for (int r = 0; r < world; r++) {
    c.rs[r].last_model = -1;
    c.rs[r].cell = -1;
  }
  c.rs[0].idle = c.local_runs;
  c.active = world - 1;
  build_nodes(&c, leader);

  pthread_mutex_init(&c.w.mu, NULL);
  pthread_cond_init(&c.w.cv, NULL);
  c.w.out = run->out;
  if (pthread_create(&c.w.th, NULL, writer_main, &c.w) != 0) {
    fprintf(stderr, "qsweep run: cannot start the writer thread\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  pthread_mutex_init(&c.px.mu, NULL);
  pthread_cond_init(&c.px.cv, NULL);
  c.lc.run = run;
  c.p.t_start = qs_now_s();
  report_unrunnable(&c);

  long idle_us = 20;
  while (c.active > 0 || c.local_busy || (c.local_runs && !c.local_done)) {
    int progressed = 0;
    /* 1. every waiting worker: its result, and it is idle */
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
      rank_state *st = &c.rs[src];
      if (!st->seen) {
        st->seen = 1;
        c.first_requests++;
      }
      st->idle = 1;
      st->cell = -1;
      if (hdr[0] >= 0) st->last_model = hdr[0];
      if (hdr[1]) {
        qs_cell_result r;
        if (qs_cell_result_unpack(buf + 8, (size_t)len - 8, &r) != QS_OK) {
          fprintf(stderr, "qsweep run: rank 0: from rank %d: %s\n", src, qs_last_error());
          MPI_Abort(MPI_COMM_WORLD, 1);
        }
        on_result(&c.p, &c.w, &r, -1);
      }
      free(buf);
      progressed = 1;
    }
    /* 2. rank 0's own cell (thread mode) */
    int local_tp = 0;
    if (c.local_busy) {
      if (c.lc.group) {
        local_tp = 1;
        proxy_poll(&c.px);
      }
      if (atomic_load(&c.lc.done)) {
        pthread_join(c.lc.th, NULL);
        c.local_busy = 0;
        c.rs[0].idle = 1;
        c.rs[0].cell = -1;
        on_result(&c.p, &c.w, &c.lc.r, c.lc.cell); /* rank 0 is tp rank 0 of any group it is in */
        progressed = 1;
      }
    }
    /* 3. hand-outs */
    if (progressed || c.rs[0].idle) dispatch(&c);
    /* 4. inline mode: rank 0's cell, after every hand-out */
    if (c.pend_cell >= 0) {
      const int cell = c.pend_cell, k = c.pend_k;
      c.pend_cell = -1;
      qs_cell_result r;
      if (k > 1) {
        qs_tp_mpi store;
        qs_tp_group g;
        qs_tp_group_mpi(comm_get(cc, c.pend_members, k), &store, &g);
        g.key = group_key(c.pend_members, k);
        run_cell_group(run, cell, &g, &r);
      } else {
        run_cell_group(run, cell, NULL, &r);
      }
      c.rs[0].idle = 1;
      c.rs[0].cell = -1;
      on_result(&c.p, &c.w, &r, cell);
      progressed = 1;
    }
    if (progressed) {
      idle_us = 20;
    } else if (local_tp) {
      sched_yield(); /* rank 0's group operations go through this loop */
    } else {
      sleep_us(idle_us); /* back off to 200 us: a hand-out waits at most that long */
      if (idle_us < 200) idle_us *= 2;
    }
  }
  run->makespan_s = (c.p.done ? c.p.t_last_result : qs_now_s()) - c.p.t_start;

  pthread_mutex_lock(&c.w.mu);
  c.w.stop = 1;
  pthread_cond_signal(&c.w.cv);
  pthread_mutex_unlock(&c.w.mu);
  pthread_join(c.w.th, NULL);
  run->writer_lag_s = (c.w.last_write_s > c.p.t_last_result && c.p.done) ? c.w.last_write_s - c.p.t_last_result : 0.0;
  run->write_errors = c.w.errors;
  if (c.w.errors) rc = qs_fail(QS_EIO, "%s", c.w.first_error);
  pthread_mutex_destroy(&c.w.mu);
  pthread_cond_destroy(&c.w.cv);
  pthread_mutex_destroy(&c.px.mu);
  pthread_cond_destroy(&c.px.cv);

  /* the schedule against its lower bound (a tp cell holds tp ranks for its duration) */
  if (c.p.done) {
    double total = 0, longest = 0;
    for (int i = 0; i < s->n_cells; i++) {
      total += c.p.dur[i] * (s->cells[i].tp > 1 ? s->cells[i].tp : 1);
      if (c.p.dur[i] > longest) longest = c.p.dur[i];
    }
    double lb = total / ranks_running > longest ? total / ranks_running : longest;
    double idle = ranks_running * run->makespan_s - total;
    fprintf(stderr,
            "qsweep run: schedule: %d cells on %d ranks in %.2f s; lower bound %.2f s (longest cell %.2f s, "
            "total %.2f s / %d) -> %+.1f%%; idle per cell %.2f ms; writer lag %.3f s\n",
            c.p.done, ranks_running, run->makespan_s, lb, longest, total, ranks_running,
            lb > 0 ? 100.0 * (run->makespan_s - lb) / lb : 0.0, 1e3 * idle / c.p.done, run->writer_lag_s);
  }
  qs_sched_free(c.sched);
  free_nodes(&c);
  free(costs);
  free(models);
  free(skip1);
  free(c.rs);
  free(c.tpq);
  free(c.tp_taken);
  free(c.head_members);
  free(c.pend_members);
  free(c.scratch);
  free(c.scratch2);
  free(c.p.dur);
  free(c.p.ran_on);
  return rc;
}

/* ---- workers -------------------------------------------------------------------------- */

static void work(qs_coord_run *run, comm_cache *cc) {
  const qs_spec *s = run->spec;
  int32_t hdr[2] = {-1, 0};
  unsigned char *packed = NULL;
  size_t plen = 0;
  int *msg = NULL;
  for (;;) {
    size_t n = 8 + plen;
    unsigned char *req = malloc(n);
    if (!req || n > (size_t)INT32_MAX) {
      fprintf(stderr, "qsweep run: out of host memory for a result message\n");
      MPI_Abort(MPI_COMM_WORLD, 1);
      return;
    }
    memcpy(req, hdr, 8);
    if (plen) memcpy(req + 8, packed, plen);
    MPI_Send(req, (int)n, MPI_BYTE, 0, TAG_REQUEST, MPI_COMM_WORLD);
    free(req);
    free(packed);
    packed = NULL;
    plen = 0;
    MPI_Status st;
    int count = 0;
    MPI_Probe(0, TAG_ASSIGN, MPI_COMM_WORLD, &st);
    MPI_Get_count(&st, MPI_INT, &count);
    free(msg);
    msg = malloc(sizeof(int) * (size_t)(count > 3 ? count : 3));
    if (!msg) MPI_Abort(MPI_COMM_WORLD, 1);
    msg[1] = 1;
    msg[2] = 0;
    MPI_Recv(msg, count, MPI_INT, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    const int cell = msg[0], k = msg[1];
    if (cell < 0 || cell >= s->n_cells) break;
    qs_cell_result r;
    int report = 1;
    if (k > 1) {
      if (count < 3 + k) {
        fprintf(stderr, "qsweep run: a malformed group assignment (%d values for tp %d)\n", count, k);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      qs_tp_mpi store;
      qs_tp_group g;
      qs_tp_group_mpi(comm_get(cc, msg + 3, k), &store, &g);
      g.key = group_key(msg + 3, k);
      run_cell_group(run, cell, &g, &r);
      report = g.rank == 0;
    } else {
      run_cell_group(run, cell, NULL, &r);
    }
    if (report && qs_cell_result_pack(&r, &packed, &plen) != QS_OK) {
      fprintf(stderr, "qsweep run: %s\n", qs_last_error());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    qs_cell_result_free(&r);
    hdr[0] = s->cells[cell].model;
    hdr[1] = report;
  }
  free(msg);
}

/* The lowest world rank of this rank's node (MPI_COMM_TYPE_SHARED), or of its block
 * of QSWEEP_TEST_RANKS_PER_NODE ranks. Collective. */
static int node_leader(int rank) {
  MPI_Comm node;
  int leader = rank;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  MPI_Allreduce(&rank, &leader, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  const char *env = getenv("QSWEEP_TEST_RANKS_PER_NODE");
  int per = env ? atoi(env) : 0;
  if (per > 0) leader = rank / per * per;
  return leader;
}

/* collective: every rank's node leader, gathered on rank 0 (NULL elsewhere) */
static int *gather_leaders(int rank, int world) {
  int leader = node_leader(rank);
  int *leaders = rank == 0 ? malloc(sizeof(int) * (size_t)world) : NULL;
  if (rank == 0 && !leaders) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Gather(&leader, 1, MPI_INT, leaders, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return leaders;
}

int qs_coord_max_node(int rank, int world, qs_rank0_mode mode) {
  int *leaders = gather_leaders(rank, world);
  if (rank != 0) return 0;
  coord c;
  memset(&c, 0, sizeof c);
  c.world = world;
  c.local_runs = world == 1 || mode != QS_RANK0_COORD;
  build_nodes(&c, leaders);
  free_nodes(&c);
  free(leaders);
  return c.max_node;
}

int qs_coord_run_sweep(qs_coord_run *run, int rank, int world) {
  int *leaders = gather_leaders(rank, world);
  comm_cache cc;
  memset(&cc, 0, sizeof cc);
  int rc = QS_OK;
  if (rank == 0) rc = coordinate(run, world, leaders, &cc);
  else work(run, &cc);
  comm_cache_free(&cc);
  free(leaders);
  return rc;
}
