/* fuzz_results.c - the results-file reader (rows, the resume index, the calibration
 * groups) on arbitrary bytes.
 * The seed corpus holds small valid results files; the fuzzer mutates their bytes. */
#include <stdlib.h>
#include <string.h>

#include "../../h5/results.h"
#include "qs_common.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = qs_fuzz_write(data, size, ".h5");
  qs_cell_result *rows = NULL;
  int n = 0;
  qs_run_meta meta;
  if (qs_results_read(path, &rows, &n, &meta) == QS_OK) {
    for (int i = 0; i < n; i++)
      if (rows[i].n_samples < 0 || (rows[i].n_samples > 0 && !rows[i].samples_ms)) abort();
    qs_results_free_rows(rows, n);
    qs_run_meta_free(&meta);
  } else if (strchr(qs_last_error(), '\n')) {
    abort();
  }
  char **keys = NULL;
  int nk = 0;
  if (qs_results_done_keys(path, &keys, &nk, 1) == QS_OK) qs_results_free_keys(keys, nk);
  qs_calibration *cals = NULL;
  int nc = 0;
  if (qs_results_read_calibration(path, &cals, &nc) == QS_OK) {
    for (int i = 0; i < nc; i++)
      if (cals[i].n_entries < 0 || cals[i].n_entries > QS_CALIB_MAX_ENTRIES) abort();
    free(cals);
  } else if (strchr(qs_last_error(), '\n')) {
    abort();
  }
  return 0;
}
