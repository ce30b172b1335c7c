/* seed_table.h - test helpers for the analysis: the seed study's own table
 * (seed/seed-report.md, batch size 1) as qsweep rows, and results files made of rows. */
#ifndef QA_SEED_TABLE_H
#define QA_SEED_TABLE_H

#include "results.h"

#define QA_SEED_MODELS 16
#define QA_SEED_PRECS 4
#define QA_SEED_CELLS (QA_SEED_MODELS * QA_SEED_PRECS)

/* The seed's precisions as qsweep names them: fp32, fp16, int8 (int8_bitsandbytes),
 * nf4 (int4_nf4). */
extern const char *const qa_seed_precs[QA_SEED_PRECS];

typedef struct {
  const char *model, *category, *family;
  double params;
  double latency_ms[QA_SEED_PRECS]; /* "Latency (ms) - Batch Size 1", qa_seed_precs order */
  double peak_mb[QA_SEED_PRECS];    /* "Peak Memory (MB) - Batch Size 1" */
  double speedup[QA_SEED_PRECS];    /* "Speedup vs FP32", as the seed printed it */
} qa_seed_model;

/* The 16 models in sweep/models.json order (which is the seed's category order). */
extern const qa_seed_model qa_seed_models[QA_SEED_MODELS];

/* Row i (0..63): model i / 4, precision i % 4; status ok, backend cuda, batch 1, tp 1,
 * median latency and peak memory from the seed, everything else not measured. */
void qa_seed_row(int i, qs_cell_result *r);
/* Recompute r->key from its model, precision, batch and tp. */
void qa_seed_rekey(qs_cell_result *r);

/* Write rows into a new results file (replacing one that exists); the run metadata
 * says backend `backend`. Returns QS_OK or a qsweep error code. */
int qa_write_rows(const char *path, const qs_cell_result *rows, int n, const char *backend);
/* The same with the run's GPU names `gpus` (qa_write_rows says "seed study GPU"). */
int qa_write_rows_on(const char *path, const qs_cell_result *rows, int n, const char *backend,
                     const char *gpus);
/* The 64 seed cells. */
int qa_write_seed(const char *path);

#endif
