#define _POSIX_C_SOURCE 200809L
#include "qs_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char qs_err_buf[1024];
static _Thread_local int qs_err_code;

/* Messages are one line whatever a file puts in the strings they quote. */
static void one_line(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

int qs_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(qs_err_buf, sizeof qs_err_buf, fmt, ap);
  va_end(ap);
  one_line(qs_err_buf);
  qs_err_code = code;
  return code;
}

const char *qs_last_error(void) { return qs_err_buf; }
int qs_last_code(void) { return qs_err_code != QS_OK ? qs_err_code : QS_EINTERNAL; }

const char *qs_msg_after_path(const char *msg, const char *path) {
  size_t n = strlen(path);
  return !strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2) ? msg + n + 2 : msg;
}
void qs_clear_error(void) {
  qs_err_buf[0] = '\0';
  qs_err_code = QS_OK;
}

void qs_error_prefix(const char *fmt, ...) {
  char old[sizeof qs_err_buf];
  memcpy(old, qs_err_buf, sizeof old);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(qs_err_buf, sizeof qs_err_buf, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof qs_err_buf - 3) return;
  size_t used = (size_t)n;
  qs_err_buf[used++] = ':';
  qs_err_buf[used++] = ' ';
  qs_strlcpy(qs_err_buf + used, old, sizeof qs_err_buf - used);
  one_line(qs_err_buf);
}

const char *qs_status_name(int code) {
  switch (code) {
    case QS_OK: return "ok";
    case QS_EINVAL: return "invalid input";
    case QS_EIO: return "i/o error";
    case QS_ENOMEM: return "out of host memory";
    case QS_EUNSUPPORTED: return "unsupported";
    case QS_EOOM: return "out of device memory";
    case QS_EDEVICE: return "device error";
    case QS_ETIMEOUT: return "time limit exceeded";
    default: return "internal error";
  }
}

void *qs_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) qs_fail(QS_ENOMEM, "out of host memory allocating %zu bytes", n);
  return p;
}

void *qs_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) qs_fail(QS_ENOMEM, "out of host memory allocating %zu x %zu bytes", count, size);
  return p;
}

int qs_strlcpy(char *dst, const char *src, size_t cap) {
  if (cap == 0) return -1;
  size_t n = strlen(src);
  if (n >= cap) {
    memcpy(dst, src, cap - 1);
    dst[cap - 1] = '\0';
    return -1;
  }
  memcpy(dst, src, n + 1);
  return 0;
}

int qs_read_file(const char *path, size_t max_bytes, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return qs_fail(QS_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return qs_fail(QS_EIO, "%s: cannot seek: %s", path, strerror(errno));
  }
  long sz = ftell(f);
  if (sz < 0) {
    fclose(f);
    return qs_fail(QS_EIO, "%s: cannot tell size: %s", path, strerror(errno));
  }
  if ((unsigned long)sz > max_bytes) {
    fclose(f);
    return qs_fail(QS_EINVAL, "%s: file is %ld bytes, over the cap of %zu bytes", path, sz, max_bytes);
  }
  rewind(f);
  char *buf = qs_malloc((size_t)sz + 1);
  if (!buf) {
    fclose(f);
    return QS_ENOMEM;
  }
  size_t got = fread(buf, 1, (size_t)sz, f);
  fclose(f);
  if (got != (size_t)sz) {
    free(buf);
    return qs_fail(QS_EIO, "%s: short read (%zu of %ld bytes)", path, got, sz);
  }
  buf[sz] = '\0';
  *data = buf;
  *len = (size_t)sz;
  return QS_OK;
}

double qs_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
