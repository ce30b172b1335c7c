/* cmd_common.c - helpers shared by the subcommands. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "qs_common.h"
#include "safetensors.h"

int qs_parse_u64(const char *opt, const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return qs_fail(QS_EINVAL, "%s: \"%s\" is not a non-negative integer", opt, s);
  *out = v;
  return QS_OK;
}

int qs_parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end) return qs_fail(QS_EINVAL, "%s: \"%s\" is not an integer", opt, s);
  if (v < lo || v > hi) return qs_fail(QS_EINVAL, "%s: %ld is out of range [%d, %d]", opt, v, lo, hi);
  *out = (int)v;
  return QS_OK;
}

int qs_read_input(const char *path, int batch, int channels, int size, float *x) {
  const int64_t want = (int64_t)batch * channels * size * size;
  size_t plen = strlen(path);
  if (plen > 12 && !strcmp(path + plen - 12, ".safetensors")) {
    qs_st_file f;
    QS_TRY(qs_st_open(path, &f));
    int idx = qs_st_find(&f, "pixel_values");
    int rc = QS_OK;
    if (idx < 0) rc = qs_fail(QS_EINVAL, "%s: pixel_values: missing", path);
    else {
      const qs_st_tensor *t = &f.tensors[idx];
      if (t->ndim != 4 || t->shape[0] != batch || t->shape[1] != channels || t->shape[2] != size || t->shape[3] != size)
        rc = qs_fail(QS_EINVAL, "%s: pixel_values: shape must be [%d, %d, %d, %d] for this model and --batch", path,
                     batch, channels, size, size);
      else
        rc = qs_st_read_f32(&f, idx, x, want);
    }
    qs_st_close(&f);
    return rc;
  }
  char *data;
  size_t len;
  QS_TRY(qs_read_file(path, (size_t)want * 4 + 1, &data, &len));
  if (len != (size_t)want * 4) {
    free(data);
    return qs_fail(QS_EINVAL, "%s: raw input: %zu bytes, expected %lld float32 values [%d, %d, %d, %d]", path, len,
                   (long long)want, batch, channels, size, size);
  }
  memcpy(x, data, len);
  free(data);
  return QS_OK;
}
