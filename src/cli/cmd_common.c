/* cmd_common.c - helpers shared by the subcommands. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "qs_common.h"
#include "safetensors.h"
#include "zoo.h"

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

/* what the side of the input is, for the errors below */
static const char input_size_hint[] = "the model's input size; a checkpoint runs at another one with the config.json key "
                                      "qsweep_input_size";

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
      if (t->ndim != 4 || t->shape[0] != batch || t->shape[1] != channels || t->shape[2] != size ||
          t->shape[3] != size) {
        char got[96];
        size_t o = 0;
        got[0] = '\0';
        for (int d = 0; d < t->ndim && o < sizeof got; d++)
          o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        rc = qs_fail(QS_EINVAL, "%s: pixel_values: shape [%s], expected [%d, %d, %d, %d] (--batch, channels, %s)", path,
                     got, batch, channels, size, size, input_size_hint);
      } else {
        rc = qs_st_read_f32(&f, idx, x, want);
      }
    }
    qs_st_close(&f);
    return rc;
  }
  /* the size first, so that a wrong shape is named as such (not as a file over a cap) */
  struct stat st;
  if (stat(path, &st) != 0) return qs_fail(QS_EIO, "%s: %s", path, strerror(errno));
  if (S_ISREG(st.st_mode) && (int64_t)st.st_size != want * 4) {
    const int64_t vals = (int64_t)st.st_size / 4, per = (int64_t)batch * channels;
    int64_t side = 0;
    if (st.st_size % 4 == 0 && vals % per == 0)
      for (int64_t s = 1; s * s <= vals / per; s++)
        if (s * s == vals / per) side = s;
    char held[64] = "";
    if (side) snprintf(held, sizeof held, ", i.e. [%d, %d, %lld, %lld]", batch, channels, (long long)side, (long long)side);
    return qs_fail(QS_EINVAL, "%s: raw input: %lld bytes (%lld float32 values%s), expected [%d, %d, %d, %d] = %lld values "
                   "(--batch, channels, %s)", path, (long long)st.st_size, (long long)vals, held, batch, channels, size,
                   size, (long long)want, input_size_hint);
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

int qs_cli_model_arch(const char *zoo_path, const char *model, int image_size, qs_arch *a) {
  QS_TRY(qs_zoo_lookup(zoo_path, model, a));
  return image_size > 0 ? qs_arch_set_input_size(a, image_size, "--image-size") : QS_OK;
}
