/* fuzz_common.h - helpers for the libFuzzer targets. */
#ifndef QS_FUZZ_COMMON_H
#define QS_FUZZ_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char qs_fuzz_path[256];

static void qs_fuzz_unlink(void) {
  if (qs_fuzz_path[0]) unlink(qs_fuzz_path);
}

/* The parsers take paths: each input goes to one per-process file in /dev/shm
 * (or /tmp), rewritten for every run and removed when the process exits normally
 * (a crash leaves it, beside libFuzzer's crash-* file). */
static inline const char *qs_fuzz_write(const uint8_t *data, size_t size, const char *suffix) {
  char *path = qs_fuzz_path;
  if (!path[0]) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof qs_fuzz_path, "%s/qsweep-fuzz-%d%s", dir, (int)getpid(), suffix);
    atexit(qs_fuzz_unlink);
  }
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  if (fclose(f) != 0) abort();
  return path;
}

#endif
