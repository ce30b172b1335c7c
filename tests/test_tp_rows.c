/* test_tp_rows.c - print every row of a results file as
 * "key status tp allreduce_share rank | message" for tests/run_tp.sh (no de-duplication). */
#include <stdio.h>

#include "qs_common.h"
#include "results.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s results.h5\n", argv[0]);
    return 2;
  }
  qs_cell_result *rows;
  int n;
  qs_run_meta meta;
  if (qs_results_read(argv[1], &rows, &n, &meta) != QS_OK) {
    fprintf(stderr, "%s\n", qs_last_error());
    return 1;
  }
  for (int i = 0; i < n; i++)
    printf("%s %s %d %.6g %d | %s\n", rows[i].key, rows[i].status, (int)rows[i].tp, rows[i].allreduce_share,
           (int)rows[i].rank, rows[i].message);
  qs_results_free_rows(rows, n);
  qs_run_meta_free(&meta);
  return 0;
}
