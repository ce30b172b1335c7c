/* schedule.h - the order in which rank 0 hands out the cells of `qsweep run`. */
#ifndef QS_SCHEDULE_H
#define QS_SCHEDULE_H

/* ---- the schedule (no MPI; unit-testable) ----------------------------------------
 * Cells in decreasing cost (LPT), with model affinity: a rank that ran a model's
 * cell gets that model's largest remaining cell while the remaining work per rank
 * is at least twice the largest remaining cell (so affinity cannot stretch the
 * tail) or that cell is at least half the largest; otherwise the largest cell. */
typedef struct qs_sched qs_sched;
/* costs[n], model[n]; skip[n] (may be NULL) marks cells not to run (--resume). */
qs_sched *qs_sched_create(int n, const double *costs, const int *model, const unsigned char *skip, int world);
void qs_sched_free(qs_sched *s);
/* The first cell of `rank` (deterministic: the rank-th largest), or -1. */
int qs_sched_initial(qs_sched *s, int rank);
/* The next cell for a rank whose cached model is last_model (-1: none), or -1 when
 * every cell has been handed out. Marks it taken. */
int qs_sched_next(qs_sched *s, int last_model);
/* The cost of the largest cell not handed out yet, or -1 when none is left. */
double qs_sched_peek_cost(qs_sched *s);
int qs_sched_remaining(const qs_sched *s);
double qs_sched_remaining_cost(const qs_sched *s);

#endif
