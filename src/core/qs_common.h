/* qs_common.h - status codes, the per-thread error message, small helpers.
 *
 * Error policy: library functions return QS_OK (0) or a negative QS_E* code and
 * leave a one-line message in the calling thread's error buffer, formatted
 * "FILE: FIELD: what is wrong". Only main() decides to print and exit; an MPI
 * rank that cannot go on calls MPI_Abort (never plain exit). */
#ifndef QS_COMMON_H
#define QS_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum {
  QS_OK = 0,
  QS_EINVAL = -1,      /* bad input: file, field or argument */
  QS_EIO = -2,         /* a file could not be read or written */
  QS_ENOMEM = -3,      /* host allocation failed */
  QS_EUNSUPPORTED = -4,/* valid request this backend cannot run */
  QS_EOOM = -5,        /* device out of memory */
  QS_EDEVICE = -6,     /* CUDA / cuBLAS / NCCL error */
  QS_EINTERNAL = -7,
  QS_ETIMEOUT = -8     /* a cell ran past its time limit (qsweep run --cell-timeout) */
};

/* Record a message for the current thread (printf-style); returns `code`. */
int qs_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message recorded by this thread ("" if none). */
const char *qs_last_error(void);
/* The code of that message, for a caller that learns of a failure only as -1 (an index
 * or handle); QS_EINTERNAL if none was recorded. */
int qs_last_code(void);
/* A message without its leading "PATH: " (the message itself when it does not start so). */
const char *qs_msg_after_path(const char *msg, const char *path);
void qs_clear_error(void);
/* Prefix the current message with "prefix: " (adds context on the way up). */
void qs_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Name of a status code ("ok", "invalid input", ...). */
const char *qs_status_name(int code);

/* Allocation helpers that record QS_ENOMEM on failure. */
void *qs_malloc(size_t n);
void *qs_calloc(size_t count, size_t size);

/* Bounded string copy: always NUL-terminates; returns 0 or -1 if truncated. */
int qs_strlcpy(char *dst, const char *src, size_t cap);

/* Read a whole file (at most max_bytes; larger is an error naming the cap). */
int qs_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

/* Monotonic wall clock in seconds. */
double qs_now_s(void);

#define QS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define QS_TRY(expr)            \
  do {                          \
    int qs_try_rc_ = (expr);    \
    if (qs_try_rc_ != QS_OK) return qs_try_rc_; \
  } while (0)

#endif
