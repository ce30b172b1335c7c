/* schedule.c - the schedule of a sweep's cells (see schedule.h). */
#include "schedule.h"

#include <stdlib.h>
#include <string.h>

#include "qs_common.h"

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

double qs_sched_peek_cost(qs_sched *s) {
  while (s->head < s->n_order && s->taken[s->order[s->head]]) s->head++;
  return s->head < s->n_order ? s->cost[s->order[s->head]] : -1.0;
}

int qs_sched_remaining(const qs_sched *s) { return s->remaining; }
double qs_sched_remaining_cost(const qs_sched *s) { return s->remaining_cost; }
