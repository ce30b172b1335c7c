/* cmd_stubs.c - commands whose backends are not built in this configuration. */
#include <stdio.h>

#include "commands.h"

int qs_cmd_bench(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "qsweep bench: not available yet\n");
  return 2;
}

int qs_cmd_run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "qsweep run: not available yet\n");
  return 2;
}
