/* h5_keys.c - print every row of a results file (no de-duplication), for tests that check
 * each cell appears exactly once:
 *   qs_h5_keys FILE        "key status backend"
 *   qs_h5_keys --tp FILE   "key status tp allreduce_share rank | message" (tests/run_tp.sh) */
#include <stdio.h>
#include <string.h>

#include "qs_common.h"
#include "results.h"

int main(int argc, char **argv) {
  int tp = argc == 3 && strcmp(argv[1], "--tp") == 0;
  if (argc != 2 && !tp) {
    fprintf(stderr, "usage: %s [--tp] results.h5\n", argv[0]);
    return 2;
  }
  qs_cell_result *rows;
  int n;
  qs_run_meta meta;
  if (qs_results_read(argv[argc - 1], &rows, &n, &meta) != QS_OK) {
    fprintf(stderr, "%s\n", qs_last_error());
    return 1;
  }
  for (int i = 0; i < n; i++) {
    if (tp)
      printf("%s %s %d %.6g %d | %s\n", rows[i].key, rows[i].status, (int)rows[i].tp, rows[i].allreduce_share,
             (int)rows[i].rank, rows[i].message);
    else
      printf("%s %s %s\n", rows[i].key, rows[i].status, rows[i].backend);
  }
  qs_results_free_rows(rows, n);
  qs_run_meta_free(&meta);
  return 0;
}
