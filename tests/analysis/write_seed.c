/* write_seed.c - write a results file for the chart tests.
 *   write_seed FILE          the seed's 64 cells (batch size 1)
 *   write_seed FILE mixed    plus batch size 8, measured percentiles, fidelity and
 *                            energy, a failed cell, a model without an fp32 cell and a
 *                            model name that needs escaping */
#include <stdio.h>
#include <string.h>

#include "qs_common.h"
#include "seed_table.h"

#define MAX_ROWS (3 * QA_SEED_CELLS)

static int write_mixed(const char *path) {
  static qs_cell_result rows[MAX_ROWS];
  int n = 0;
  for (int b = 0; b < 2; b++) {
    for (int i = 0; i < QA_SEED_CELLS; i++) {
      qs_cell_result *r = &rows[n];
      qa_seed_row(i, r);
      if (b == 1) { /* batch 8: a plausible shape, more work per call */
        r->batch = 8;
        r->lat_median_ms *= 5.0 + (i % 4);
        r->peak_mb *= 1.3;
        qa_seed_rekey(r);
      }
      if (i / QA_SEED_PRECS == 13 && i % QA_SEED_PRECS == 0) continue; /* no fp32 cell */
      r->lat_p90_ms = r->lat_median_ms * 1.04;
      r->lat_p99_ms = r->lat_median_ms * 1.10;
      r->throughput_ips = r->batch * 1000.0 / r->lat_median_ms;
      r->fid_cosine = 1.0 - 1e-4 * (i % 4);
      r->fid_top1 = 1.0 - 0.01 * (i % 4);
      r->energy_mj_per_image = r->lat_median_ms * 0.3;
      r->qweight_bits = (double[]){32, 16, 8.13, 4.5}[i % 4];
      n++;
    }
  }
  /* a failed cell and a name with markup characters */
  qs_strlcpy(rows[5].status, "oom", sizeof rows[5].status);
  qs_strlcpy(rows[5].message, "CUDA out of memory: tried to allocate 1.2 GB <arena>",
             sizeof rows[5].message);
  for (int p = 0; p < QA_SEED_PRECS; p++) {
    qs_cell_result *r = &rows[n];
    qa_seed_row(p, r);
    qs_strlcpy(r->model, "vit-tiny-\"custom\"-<a&b>", sizeof r->model);
    qs_strlcpy(r->category, "Custom & Other", sizeof r->category);
    r->params = 5.0e6;
    r->lat_median_ms = 2.0 + p;
    r->peak_mb = 20.0 / (1 + p);
    qa_seed_rekey(r);
    n++;
  }
  int rc = qa_write_rows(path, rows, n, "cuda");
  for (int i = 0; i < n; i++) qs_cell_result_free(&rows[i]);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "mixed") != 0)) {
    fprintf(stderr, "usage: write_seed FILE [mixed]\n");
    return 2;
  }
  int rc = argc == 3 ? write_mixed(argv[1]) : qa_write_seed(argv[1]);
  if (rc != QS_OK) {
    fprintf(stderr, "write_seed: %s\n", qs_last_error());
    return 1;
  }
  return 0;
}
