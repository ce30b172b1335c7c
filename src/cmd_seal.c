/* cmd_seal.c - `qsweep seal`: re-seal results files that were edited on purpose. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "qs_common.h"
#include "results.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: qsweep seal [--check] FILE.h5 [FILE.h5 ...]\n\n"
          "Every results file carries a seal (the size and checksum of its HDF5 image, in its\n"
          "512-byte user block); qsweep and qsweep-analyze refuse a file whose seal does not match\n"
          "before HDF5 reads a byte of it, so a truncated or corrupted file is never parsed.\n"
          "A file changed on purpose outside qsweep (h5py, h5repack without its user block, ...)\n"
          "needs a new seal: this command writes it, then reads the file back as a results file.\n\n"
          "  -c, --check   only check the seals; change nothing (exit 1 if any does not match)\n\n"
          "exit status: 0 every file sealed and readable; 1 any file failed (each is named)\n");
}

int qs_cmd_seal(int argc, char **argv) {
  static const struct option opts[] = {{"check", no_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int check = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "ch", opts, NULL)) != -1) {
    switch (c) {
      case 'c': check = 1; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "qsweep seal: no file given\n");
    usage(stderr);
    return 2;
  }
  int bad = 0;
  for (int i = optind; i < argc; i++) {
    const char *path = argv[i];
    int intact = qs_results_verify_seal(path) == QS_OK;
    if (check) {
      if (intact) printf("%s: seal ok\n", path);
      else {
        fprintf(stderr, "qsweep seal: %s\n", qs_last_error());
        bad++;
      }
      continue;
    }
    if (!intact && qs_results_seal(path) != QS_OK) {
      fprintf(stderr, "qsweep seal: %s\n", qs_last_error());
      bad++;
      continue;
    }
    qs_cell_result *rows = NULL;
    int n = 0;
    qs_run_meta meta = {0};
    if (qs_results_read(path, &rows, &n, &meta) != QS_OK) {
      fprintf(stderr, "qsweep seal: %s%s\n", qs_last_error(),
              intact ? "" : " (the new seal is written; the file is still not a readable results file)");
      bad++;
      continue;
    }
    printf("%s: %s, %d rows\n", path, intact ? "seal already matched" : "sealed", n);
    qs_results_free_rows(rows, n);
    qs_run_meta_free(&meta);
  }
  return bad ? 1 : 0;
}
