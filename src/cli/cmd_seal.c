/* cmd_seal.c - `qsweep seal`: check, or re-seal, results files edited on purpose. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "qs_common.h"
#include "results.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: qsweep seal [--check] FILE.h5 [FILE.h5 ...]\n\n"
          "Every results file carries a seal: the size and checksum of its HDF5 image, in the\n"
          "file's first 512 bytes (an HDF5 user block). qsweep and qsweep-analyze refuse a file\n"
          "whose seal does not match before HDF5 reads a byte of it, so a truncated or corrupted\n"
          "file is never parsed. A file changed on purpose outside qsweep (with h5py, say; tools\n"
          "must keep the 512-byte user block) needs a new seal. This command writes it beside the\n"
          "file, reads that copy back as a results file, and only then replaces the file; a file\n"
          "that does not read back is left exactly as it was. A new seal vouches for the file as\n"
          "it is now: seal only files whose changes you made.\n\n"
          "  -c, --check   only compare each seal with its file; change and parse nothing\n\n"
          "exit status: 0 every file sealed (or, with --check, every seal matches); 1 a file\n"
          "failed (each is named on stderr); 2 a usage error\n");
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
    char was[1024];
    int intact = qs_results_verify_seal(path) == QS_OK;
    if (!intact) qs_strlcpy(was, qs_msg_after_path(qs_last_error(), path), sizeof was);
    if (check) {
      if (intact) printf("%s: seal ok\n", path);
      else {
        fprintf(stderr, "qsweep seal: %s: %s\n", path, was);
        bad++;
      }
      continue;
    }
    if (intact) {
      printf("%s: seal already matched; unchanged\n", path);
      continue;
    }
    int n = 0;
    if (qs_results_reseal(path, &n) != QS_OK) {
      fprintf(stderr, "qsweep seal: %s\n", qs_last_error());
      bad++;
      continue;
    }
    printf("%s: sealed, %d rows (the old seal: %s)\n", path, n, was);
  }
  return bad ? 1 : 0;
}
