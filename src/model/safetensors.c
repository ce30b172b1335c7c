/* safetensors.c - validating reader and streaming writer for safetensors files.
 * See safetensors.h for the format and the error policy. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "qs_common.h"
#include "qs_half.h"

/* Tensor bytes are copied straight into host floats. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code assumes a little-endian host"
#endif

/* Largest integer a double (cJSON's number type) holds exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0
/* Conversion buffer for non-F32 reads and writes. */
#define ST_CHUNK_BYTES (256u * 1024u)

static const struct {
  const char *name;
  size_t size;
} st_dtypes[] = {
    [QS_DT_F64] = {"F64", 8},         [QS_DT_F32] = {"F32", 4},
    [QS_DT_F16] = {"F16", 2},         [QS_DT_BF16] = {"BF16", 2},
    [QS_DT_I64] = {"I64", 8},         [QS_DT_I32] = {"I32", 4},
    [QS_DT_I16] = {"I16", 2},         [QS_DT_I8] = {"I8", 1},
    [QS_DT_U8] = {"U8", 1},           [QS_DT_BOOL] = {"BOOL", 1},
    [QS_DT_F8_E4M3] = {"F8_E4M3", 1}, [QS_DT_F8_E5M2] = {"F8_E5M2", 1},
};

size_t qs_dtype_size(qs_dtype d) {
  return (unsigned)d < QS_ARRAY_LEN(st_dtypes) ? st_dtypes[d].size : 0;
}

const char *qs_dtype_name(qs_dtype d) {
  return (unsigned)d < QS_ARRAY_LEN(st_dtypes) ? st_dtypes[d].name : "?";
}

int qs_dtype_from_name(const char *s, qs_dtype *d) {
  for (size_t i = 0; s && i < QS_ARRAY_LEN(st_dtypes); i++) {
    if (strcmp(s, st_dtypes[i].name) == 0) {
      *d = (qs_dtype)i;
      return 0;
    }
  }
  return -1;
}

int64_t qs_st_numel(const qs_st_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

/* ---- messages ------------------------------------------------------------ */

/* Copy s for a message: control bytes become '?' so a hostile name cannot split
 * the line, and long strings are cut (at a UTF-8 boundary) with "...". */
static void st_clean(const char *s, char *out, size_t cap) {
  size_t n = 0, len = strlen(s);
  int cut = len > cap - 1;
  size_t keep = cut ? cap - 4 : len;
  if (cut)
    while (keep > 0 && ((unsigned char)s[keep] & 0xc0u) == 0x80u) keep--;
  for (; n < keep; n++) {
    unsigned char c = (unsigned char)s[n];
    out[n] = (c < 0x20u || c == 0x7fu) ? '?' : (char)c;
  }
  if (cut) memcpy(out + n, "...", 3), n += 3;
  out[n] = '\0';
}

/* Record "PATH: FIELD: what" and return code. */
static int st_fail(int code, const char *path, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int st_fail(int code, const char *path, const char *field, const char *fmt, ...) {
  char p[400], fld[160], what[512];
  st_clean(path, p, sizeof p);
  st_clean(field, fld, sizeof fld);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  for (char *c = what; *c; c++)
    if ((unsigned char)*c < 0x20u) *c = '?';
  return qs_fail(code, "%s: %s: %s", p, fld, what);
}

static void st_shape_str(int ndim, const int64_t *shape, char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "[");
  for (int i = 0; i < ndim && n < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < cap) snprintf(out + n, cap - n, "]");
}

/* ---- validation helpers -------------------------------------------------- */

/* Offset of the first byte not part of well-formed UTF-8 (RFC 3629: no overlong
 * forms, surrogates or code points above U+10FFFF), or len if all is well. */
static size_t st_utf8_invalid_at(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t k;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      if (c == 0xe0) lo = 0xa0;      /* overlong */
      if (c == 0xed) hi = 0x9f;      /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      if (c == 0xf0) lo = 0x90;      /* overlong */
      if (c == 0xf4) hi = 0x8f;      /* above U+10FFFF */
    } else {
      return i;
    }
    if (len - i <= k) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t j = 2; j <= k; j++)
      if ((s[i + j] & 0xc0u) != 0x80u) return i;
    i += k + 1;
  }
  return len;
}

/* cJSON keeps numbers as doubles: accept integral values in [0, 2^53] only,
 * where the double is exact. */
static int st_json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!(d >= 0.0) || d > ST_MAX_JSON_INT || d != floor(d)) return -1;
  *out = (uint64_t)d;
  return 0;
}

static int st_cmp_str_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort names and return the first duplicate, or NULL. */
static const char *st_find_duplicate(const char **names, size_t n) {
  if (n < 2) return NULL;
  qsort(names, n, sizeof *names, st_cmp_str_ptr);
  for (size_t i = 1; i < n; i++)
    if (strcmp(names[i - 1], names[i]) == 0) return names[i];
  return NULL;
}

static int st_cmp_tensor_name(const void *a, const void *b) {
  return strcmp(((const qs_st_tensor *)a)->name, ((const qs_st_tensor *)b)->name);
}

static int st_cmp_tensor_offsets(const void *a, const void *b) {
  const qs_st_tensor *x = *(const qs_st_tensor *const *)a, *y = *(const qs_st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static char *st_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = qs_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- reader -------------------------------------------------------------- */

static int st_parse_metadata(const char *path, const cJSON *meta, qs_st_file *f) {
  const char *fld = "__metadata__";
  if (!cJSON_IsObject(meta)) return st_fail(QS_EINVAL, path, fld, "is not a JSON object");
  size_t count = 0;
  for (const cJSON *kv = meta->child; kv; kv = kv->next) {
    if (!cJSON_IsString(kv)) {
      char k[160];
      st_clean(kv->string, k, sizeof k);
      return st_fail(QS_EINVAL, path, fld, "value of key \"%s\" is not a string", k);
    }
    count++;
  }
  const char **keys = qs_malloc(count * sizeof *keys);
  if (!keys) return QS_ENOMEM;
  size_t i = 0;
  for (const cJSON *kv = meta->child; kv; kv = kv->next) keys[i++] = kv->string;
  const char *dup = st_find_duplicate(keys, count);
  if (dup) {
    char k[160];
    st_clean(dup, k, sizeof k);
    free(keys);
    return st_fail(QS_EINVAL, path, fld, "duplicate key \"%s\"", k);
  }
  free(keys);
  f->metadata_json = cJSON_PrintUnformatted(meta);
  if (!f->metadata_json) return qs_fail(QS_ENOMEM, "%s: __metadata__: out of memory", path);
  return QS_OK;
}

/* Fill t from one header entry; checks everything that concerns the entry alone. */
static int st_parse_tensor(const char *path, const cJSON *e, uint64_t data_len, qs_st_tensor *t) {
  const char *name = e->string;
  if (strlen(name) > QS_ST_MAX_NAME_BYTES)
    return st_fail(QS_EINVAL, path, name, "tensor name is %zu bytes, over the cap of %d",
                   strlen(name), QS_ST_MAX_NAME_BYTES);
  if (!cJSON_IsObject(e)) return st_fail(QS_EINVAL, path, name, "tensor entry is not a JSON object");

  const cJSON *jdt = NULL, *jshape = NULL, *joff = NULL;
  for (const cJSON *c = e->child; c; c = c->next) {
    const cJSON **slot = strcmp(c->string, "dtype") == 0          ? &jdt
                         : strcmp(c->string, "shape") == 0        ? &jshape
                         : strcmp(c->string, "data_offsets") == 0 ? &joff
                                                                  : NULL;
    if (!slot) continue; /* unknown keys are ignored, as the reference does */
    if (*slot) return st_fail(QS_EINVAL, path, name, "duplicate key \"%s\"", c->string);
    *slot = c;
  }
  if (!jdt) return st_fail(QS_EINVAL, path, name, "missing \"dtype\"");
  if (!jshape) return st_fail(QS_EINVAL, path, name, "missing \"shape\"");
  if (!joff) return st_fail(QS_EINVAL, path, name, "missing \"data_offsets\"");

  if (!cJSON_IsString(jdt)) return st_fail(QS_EINVAL, path, name, "dtype is not a string");
  if (qs_dtype_from_name(jdt->valuestring, &t->dtype) != 0) {
    char d[64];
    st_clean(jdt->valuestring, d, sizeof d);
    return st_fail(QS_EINVAL, path, name, "unknown dtype \"%s\"", d);
  }

  if (!cJSON_IsArray(jshape)) return st_fail(QS_EINVAL, path, name, "shape is not an array");
  int ndim = 0;
  int64_t numel = 1;
  for (const cJSON *d = jshape->child; d; d = d->next, ndim++) {
    if (ndim == QS_ST_MAX_DIMS)
      return st_fail(QS_EINVAL, path, name, "shape has more than %d dims", QS_ST_MAX_DIMS);
    uint64_t v;
    if (st_json_uint(d, &v) != 0)
      return st_fail(QS_EINVAL, path, name, "shape[%d] is not a non-negative integer", ndim);
    t->shape[ndim] = (int64_t)v;
    /* checked at every step, as the reference does, even if a later dim is 0 */
    if (v != 0 && numel > INT64_MAX / (int64_t)v)
      return st_fail(QS_EINVAL, path, name, "shape's element count overflows 64 bits");
    numel *= (int64_t)v;
  }
  t->ndim = ndim;

  uint64_t off[2];
  if (!cJSON_IsArray(joff) || cJSON_GetArraySize(joff) != 2 ||
      st_json_uint(joff->child, &off[0]) != 0 || st_json_uint(joff->child->next, &off[1]) != 0)
    return st_fail(QS_EINVAL, path, name, "data_offsets is not two non-negative integers");
  if (off[0] > off[1])
    return st_fail(QS_EINVAL, path, name, "data_offsets begin %llu is after end %llu",
                   (unsigned long long)off[0], (unsigned long long)off[1]);
  t->begin = off[0];
  t->end = off[1];

  size_t esize = qs_dtype_size(t->dtype);
  if ((uint64_t)numel > UINT64_MAX / esize || (uint64_t)numel * esize != off[1] - off[0]) {
    char s[160];
    st_shape_str(ndim, t->shape, s, sizeof s);
    return st_fail(QS_EINVAL, path, name,
                   "data_offsets [%llu, %llu) span %llu bytes but %s x %s needs %lld x %zu",
                   (unsigned long long)off[0], (unsigned long long)off[1],
                   (unsigned long long)(off[1] - off[0]), qs_dtype_name(t->dtype), s,
                   (long long)numel, esize);
  }
  if (off[1] > data_len)
    return st_fail(QS_EINVAL, path, name,
                   "data_offsets end %llu is past the end of the data section (%llu bytes; "
                   "file truncated?)",
                   (unsigned long long)off[1], (unsigned long long)data_len);
  t->name = st_strdup(name);
  return t->name ? QS_OK : QS_ENOMEM;
}

/* The data section must be covered exactly: no overlaps, no gaps, no trailing
 * bytes (the reference rejects all three). */
static int st_check_coverage(const char *path, qs_st_file *f, uint64_t data_len) {
  qs_st_tensor **by_off = qs_malloc((size_t)f->n * sizeof *by_off);
  if (!by_off) return QS_ENOMEM;
  for (int i = 0; i < f->n; i++) by_off[i] = &f->tensors[i];
  qsort(by_off, (size_t)f->n, sizeof *by_off, st_cmp_tensor_offsets);
  uint64_t pos = 0;
  int rc = QS_OK;
  for (int i = 0; i < f->n && rc == QS_OK; i++) {
    const qs_st_tensor *t = by_off[i];
    if (t->begin < pos) {
      char other[160];
      st_clean(by_off[i - 1]->name, other, sizeof other);
      rc = st_fail(QS_EINVAL, path, t->name,
                   "data_offsets [%llu, %llu) overlap tensor \"%s\" [%llu, %llu)",
                   (unsigned long long)t->begin, (unsigned long long)t->end, other,
                   (unsigned long long)by_off[i - 1]->begin, (unsigned long long)by_off[i - 1]->end);
    } else if (t->begin > pos) {
      rc = st_fail(QS_EINVAL, path, t->name,
                   "data section has a gap: bytes [%llu, %llu) before this tensor belong to no tensor",
                   (unsigned long long)pos, (unsigned long long)t->begin);
    }
    pos = t->end;
  }
  free(by_off);
  if (rc == QS_OK && pos != data_len)
    rc = st_fail(QS_EINVAL, path, "header",
                 "data section has trailing bytes: tensors cover %llu of its %llu bytes",
                 (unsigned long long)pos, (unsigned long long)data_len);
  return rc;
}

/* cJSON decodes "\u0000" into a C string cut at the NUL, which would silently
 * rename a tensor ("a\u0000b" -> "a"); find such escapes in the raw text. */
static size_t st_escaped_nul_at(const char *s, size_t len) {
  int in_str = 0;
  for (size_t i = 0; i < len; i++) {
    if (!in_str) {
      in_str = s[i] == '"';
    } else if (s[i] == '"') {
      in_str = 0;
    } else if (s[i] == '\\' && i + 1 < len) {
      if (s[i + 1] == 'u' && len - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0) return i;
      i++; /* skip the escaped character */
    }
  }
  return len;
}

static int st_parse_header(const char *path, char *hdr, size_t len, qs_st_file *f) {
  size_t bad = st_utf8_invalid_at((const unsigned char *)hdr, len);
  if (bad != len)
    return st_fail(QS_EINVAL, path, "header", "header is not valid UTF-8 (byte %zu)", bad);
  const char *nul = memchr(hdr, '\0', len);
  if (nul)
    return st_fail(QS_EINVAL, path, "header", "header contains a NUL byte (byte %zu)",
                   (size_t)(nul - hdr));

  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(hdr, len, &end, 0);
  if (!root) {
    size_t at = (end && end >= hdr && end <= hdr + len) ? (size_t)(end - hdr) : 0;
    return st_fail(QS_EINVAL, path, "header", "header is not valid JSON (error near byte %zu)", at);
  }
  int rc = QS_OK;
  /* HF pads the header with spaces; anything else after the object is garbage. */
  for (const char *p = end; p < hdr + len && rc == QS_OK; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      rc = st_fail(QS_EINVAL, path, "header", "header has text after the JSON object (byte %zu)",
                   (size_t)(p - hdr));
  size_t esc = rc == QS_OK ? st_escaped_nul_at(hdr, len) : len;
  if (esc != len)
    rc = st_fail(QS_EINVAL, path, "header", "header has a \\u0000 escape (byte %zu)", esc);
  if (rc == QS_OK && !cJSON_IsObject(root))
    rc = st_fail(QS_EINVAL, path, "header", "header is not a JSON object");
  if (rc != QS_OK) goto out;

  const uint64_t data_len = f->file_size - f->data_start;
  size_t count = 0, n_meta = 0;
  for (const cJSON *c = root->child; c; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0)
      n_meta++;
    else
      count++;
  }
  if (n_meta > 1) {
    rc = st_fail(QS_EINVAL, path, "__metadata__", "duplicate key \"__metadata__\"");
    goto out;
  }
  if (count > QS_ST_MAX_TENSORS) {
    rc = st_fail(QS_EINVAL, path, "header", "%zu tensors, over the cap of %d", count,
                 QS_ST_MAX_TENSORS);
    goto out;
  }
  f->tensors = qs_calloc(count, sizeof *f->tensors);
  if (!f->tensors) {
    rc = QS_ENOMEM;
    goto out;
  }
  for (const cJSON *c = root->child; c && rc == QS_OK; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0) {
      rc = st_parse_metadata(path, c, f);
    } else {
      rc = st_parse_tensor(path, c, data_len, &f->tensors[f->n]);
      if (rc == QS_OK) f->n++;
    }
  }
  if (rc != QS_OK) goto out;

  qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, st_cmp_tensor_name);
  for (int i = 1; i < f->n && rc == QS_OK; i++)
    if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
      rc = st_fail(QS_EINVAL, path, f->tensors[i].name, "duplicate tensor name");
  if (rc == QS_OK) rc = st_check_coverage(path, f, data_len);
out:
  cJSON_Delete(root);
  return rc;
}

int qs_st_open(const char *path, qs_st_file *f) {
  memset(f, 0, sizeof *f);
  if (!path) return qs_fail(QS_EINVAL, "safetensors: path is NULL");
  if (qs_strlcpy(f->path, path, sizeof f->path) != 0)
    return st_fail(QS_EINVAL, path, "header", "path is longer than %zu bytes", sizeof f->path - 1);

  int rc = QS_OK;
  char *hdr = NULL;
  f->fp = fopen(path, "rb");
  if (!f->fp) {
    rc = st_fail(QS_EIO, path, "header", "cannot open: %s", strerror(errno));
    goto fail;
  }
  struct stat sb;
  if (fstat(fileno(f->fp), &sb) != 0) {
    rc = st_fail(QS_EIO, path, "header", "cannot stat: %s", strerror(errno));
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    rc = st_fail(QS_EINVAL, path, "header", "not a regular file");
    goto fail;
  }
  f->file_size = (uint64_t)sb.st_size;
  if (f->file_size < 8) {
    rc = st_fail(QS_EINVAL, path, "header",
                 "file is %llu bytes, shorter than the 8-byte header length",
                 (unsigned long long)f->file_size);
    goto fail;
  }
  unsigned char lenbuf[8];
  if (fread(lenbuf, 1, 8, f->fp) != 8) {
    rc = st_fail(QS_EIO, path, "header", "cannot read the header length");
    goto fail;
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | lenbuf[i];
  if (hlen == 0) {
    rc = st_fail(QS_EINVAL, path, "header", "header length is 0");
    goto fail;
  }
  if (hlen > QS_ST_MAX_HEADER_BYTES) {
    rc = st_fail(QS_EINVAL, path, "header", "header length %llu is over the cap of %llu bytes",
                 (unsigned long long)hlen, QS_ST_MAX_HEADER_BYTES);
    goto fail;
  }
  if (hlen > f->file_size - 8) {
    rc = st_fail(QS_EINVAL, path, "header",
                 "header length %llu runs past the end of the file (%llu bytes follow the length; "
                 "file truncated?)",
                 (unsigned long long)hlen, (unsigned long long)(f->file_size - 8));
    goto fail;
  }
  f->header_len = hlen;
  f->data_start = 8 + hlen;

  hdr = qs_malloc((size_t)hlen + 1);
  if (!hdr) {
    rc = QS_ENOMEM;
    goto fail;
  }
  if (fread(hdr, 1, (size_t)hlen, f->fp) != (size_t)hlen) {
    rc = st_fail(QS_EIO, path, "header", "short read of the %llu-byte header",
                 (unsigned long long)hlen);
    goto fail;
  }
  hdr[hlen] = '\0';
  rc = st_parse_header(path, hdr, (size_t)hlen, f);
  if (rc != QS_OK) goto fail;
  free(hdr);
  return QS_OK;

fail:
  free(hdr);
  qs_st_close(f);
  return rc;
}

int qs_st_find(const qs_st_file *f, const char *name) {
  int lo = 0, hi = f->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(f->tensors[mid].name, name);
    if (c == 0) return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

int qs_st_read_f32(const qs_st_file *f, int idx, float *dst, int64_t dst_numel) {
  if (!f->fp || idx < 0 || idx >= f->n)
    return st_fail(QS_EINVAL, f->path, "header", "tensor index %d out of range [0, %d)", idx, f->n);
  const qs_st_tensor *t = &f->tensors[idx];
  const int64_t numel = qs_st_numel(t);
  if (dst_numel != numel)
    return st_fail(QS_EINVAL, f->path, t->name,
                   "destination holds %lld values but the tensor has %lld",
                   (long long)dst_numel, (long long)numel);
  if (t->dtype != QS_DT_F32 && t->dtype != QS_DT_F16 && t->dtype != QS_DT_BF16 &&
      t->dtype != QS_DT_F64)
    return st_fail(QS_EINVAL, f->path, t->name,
                   "dtype %s cannot be read as float32 (F32, F16, BF16 or F64 only)",
                   qs_dtype_name(t->dtype));
  if (numel == 0) return QS_OK;

  /* offsets were bounded by the file size at open, so they fit off_t */
  if (fseeko(f->fp, (off_t)(f->data_start + t->begin), SEEK_SET) != 0)
    return st_fail(QS_EIO, f->path, t->name, "cannot seek: %s", strerror(errno));

  const size_t n = (size_t)numel;
  if (t->dtype == QS_DT_F32) {
    if (fread(dst, 4, n, f->fp) != n)
      return st_fail(QS_EIO, f->path, t->name, "short read (file changed since it was opened?)");
    return QS_OK;
  }
  const size_t esize = qs_dtype_size(t->dtype);
  unsigned char *buf = qs_malloc(ST_CHUNK_BYTES);
  if (!buf) return QS_ENOMEM;
  const size_t per_chunk = ST_CHUNK_BYTES / esize;
  int rc = QS_OK;
  for (size_t done = 0; done < n;) {
    size_t k = n - done < per_chunk ? n - done : per_chunk;
    if (fread(buf, esize, k, f->fp) != k) {
      rc = st_fail(QS_EIO, f->path, t->name, "short read (file changed since it was opened?)");
      break;
    }
    for (size_t i = 0; i < k; i++) {
      const unsigned char *p = buf + i * esize;
      if (t->dtype == QS_DT_F16) {
        dst[done + i] = qs_half_to_float((uint16_t)(p[0] | p[1] << 8));
      } else if (t->dtype == QS_DT_BF16) {
        dst[done + i] = qs_bf16_to_float((uint16_t)(p[0] | p[1] << 8));
      } else {
        double d;
        memcpy(&d, p, 8);
        dst[done + i] = (float)d; /* IEEE: rounds to nearest, overflows to inf */
      }
    }
    done += k;
  }
  free(buf);
  return rc;
}

void qs_st_close(qs_st_file *f) {
  if (!f) return;
  if (f->fp) fclose(f->fp);
  for (int i = 0; f->tensors && i < f->n; i++) free(f->tensors[i].name);
  free(f->tensors);
  cJSON_free(f->metadata_json);
  memset(f, 0, sizeof *f);
}

/* ---- writer -------------------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
} st_buf;

static int st_buf_put(st_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) return qs_fail(QS_ENOMEM, "out of host memory building a safetensors header");
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
  return QS_OK;
}

static int st_buf_str(st_buf *b, const char *s) { return st_buf_put(b, s, strlen(s)); }

/* Append s as a JSON string literal (s is valid UTF-8, checked by the caller). */
static int st_buf_json_string(st_buf *b, const char *s) {
  QS_TRY(st_buf_put(b, "\"", 1));
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      QS_TRY(st_buf_put(b, esc, 2));
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      QS_TRY(st_buf_put(b, esc, 6));
    } else {
      QS_TRY(st_buf_put(b, p, 1));
    }
  }
  return st_buf_put(b, "\"", 1);
}

static int st_check_out_string(const char *path, const char *field, const char *s, const char *what) {
  if (!s) return st_fail(QS_EINVAL, path, field, "%s is NULL", what);
  size_t len = strlen(s);
  if (st_utf8_invalid_at((const unsigned char *)s, len) != len)
    return st_fail(QS_EINVAL, path, field, "%s is not valid UTF-8", what);
  return QS_OK;
}

/* Check the writer's input and build the header (unpadded). */
static int st_build_header(const char *path, const qs_st_out_tensor *t, int n,
                           const char *const *meta_kv, qs_dtype *dts, st_buf *h) {
  if (n < 0 || n > QS_ST_MAX_TENSORS)
    return st_fail(QS_EINVAL, path, "header", "tensor count %d is not in [0, %d]", n,
                   QS_ST_MAX_TENSORS);
  if (n > 0 && !t) return st_fail(QS_EINVAL, path, "header", "tensor array is NULL");
  size_t n_meta = 0;
  int has_format = 0;
  for (; meta_kv && meta_kv[2 * n_meta]; n_meta++) {
    const char *k = meta_kv[2 * n_meta], *v = meta_kv[2 * n_meta + 1];
    QS_TRY(st_check_out_string(path, "__metadata__", k, "key"));
    QS_TRY(st_check_out_string(path, "__metadata__", v, "value"));
    if (strcmp(k, "format") == 0) has_format = 1;
  }
  const size_t n_names = (size_t)n > n_meta ? (size_t)n : n_meta;
  const char **names = qs_malloc(n_names * sizeof *names);
  if (!names) return QS_ENOMEM;
  for (size_t i = 0; i < n_meta; i++) names[i] = meta_kv[2 * i];
  const char *dup = st_find_duplicate(names, n_meta);
  int rc = QS_OK;
  if (dup) rc = st_fail(QS_EINVAL, path, "__metadata__", "duplicate key \"%s\"", dup);

  for (int i = 0; i < n && rc == QS_OK; i++) {
    const qs_st_out_tensor *o = &t[i];
    rc = st_check_out_string(path, "header", o->name, "tensor name");
    if (rc != QS_OK) break;
    names[i] = o->name;
    if (strlen(o->name) > QS_ST_MAX_NAME_BYTES || strcmp(o->name, "__metadata__") == 0) {
      rc = st_fail(QS_EINVAL, path, o->name, "not a valid tensor name");
      break;
    }
    if (!o->dtype || strcmp(o->dtype, "F32") == 0) {
      dts[i] = QS_DT_F32;
    } else if (strcmp(o->dtype, "F16") == 0) {
      dts[i] = QS_DT_F16;
    } else if (strcmp(o->dtype, "BF16") == 0) {
      dts[i] = QS_DT_BF16;
    } else {
      char d[64];
      st_clean(o->dtype, d, sizeof d);
      rc = st_fail(QS_EINVAL, path, o->name, "writer dtype \"%s\" is not F32, F16 or BF16", d);
      break;
    }
    if (o->ndim < 0 || o->ndim > QS_ST_MAX_DIMS) {
      rc = st_fail(QS_EINVAL, path, o->name, "ndim %d is not in [0, %d]", o->ndim, QS_ST_MAX_DIMS);
      break;
    }
    int64_t numel = 1;
    for (int d = 0; d < o->ndim && rc == QS_OK; d++) {
      int64_t v = o->shape[d];
      if (v < 0 || (v != 0 && numel > INT64_MAX / v))
        rc = st_fail(QS_EINVAL, path, o->name, "shape[%d] = %lld is negative or overflows", d,
                     (long long)v);
      else
        numel *= v;
    }
    if (rc == QS_OK && numel > 0 && !o->data)
      rc = st_fail(QS_EINVAL, path, o->name, "data is NULL");
  }
  if (rc == QS_OK && (dup = st_find_duplicate(names, (size_t)n)))
    rc = st_fail(QS_EINVAL, path, dup, "duplicate tensor name");
  free(names);
  if (rc != QS_OK) return rc;

  QS_TRY(st_buf_str(h, "{\"__metadata__\":{"));
  if (!has_format) QS_TRY(st_buf_str(h, "\"format\":\"pt\""));
  for (size_t i = 0; i < n_meta; i++) {
    if (i > 0 || !has_format) QS_TRY(st_buf_str(h, ","));
    QS_TRY(st_buf_json_string(h, meta_kv[2 * i]));
    QS_TRY(st_buf_str(h, ":"));
    QS_TRY(st_buf_json_string(h, meta_kv[2 * i + 1]));
  }
  QS_TRY(st_buf_str(h, "}"));
  uint64_t pos = 0;
  for (int i = 0; i < n; i++) {
    const qs_st_out_tensor *o = &t[i];
    char num[64];
    uint64_t bytes = qs_dtype_size(dts[i]);
    for (int d = 0; d < o->ndim; d++) bytes *= (uint64_t)o->shape[d];
    if (bytes > UINT64_MAX - pos)
      return st_fail(QS_EINVAL, path, o->name, "total data size overflows 64 bits");
    QS_TRY(st_buf_str(h, ","));
    QS_TRY(st_buf_json_string(h, o->name));
    QS_TRY(st_buf_str(h, ":{\"dtype\":\""));
    QS_TRY(st_buf_str(h, qs_dtype_name(dts[i])));
    QS_TRY(st_buf_str(h, "\",\"shape\":["));
    for (int d = 0; d < o->ndim; d++) {
      snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)o->shape[d]);
      QS_TRY(st_buf_str(h, num));
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)pos,
             (unsigned long long)(pos + bytes));
    QS_TRY(st_buf_str(h, num));
    pos += bytes;
  }
  return st_buf_str(h, "}");
}

static int st_write_all(FILE *fp, const void *p, size_t size, size_t count) {
  return fwrite(p, size, count, fp) == count ? 0 : -1;
}

static int st_write_data(FILE *fp, const qs_st_out_tensor *o, qs_dtype dt, unsigned char *buf) {
  size_t n = 1;
  for (int d = 0; d < o->ndim; d++) n *= (size_t)o->shape[d];
  if (n == 0) return 0;
  if (dt == QS_DT_F32) return st_write_all(fp, o->data, 4, n);
  const size_t per_chunk = ST_CHUNK_BYTES / 2;
  for (size_t done = 0; done < n;) {
    size_t k = n - done < per_chunk ? n - done : per_chunk;
    for (size_t i = 0; i < k; i++) {
      float v = o->data[done + i];
      uint16_t h = dt == QS_DT_F16 ? qs_float_to_half(v) : qs_float_to_bf16(v);
      buf[2 * i] = (unsigned char)(h & 0xffu);
      buf[2 * i + 1] = (unsigned char)(h >> 8);
    }
    if (st_write_all(fp, buf, 2, k) != 0) return -1;
    done += k;
  }
  return 0;
}

int qs_st_write(const char *path, const qs_st_out_tensor *t, int n, const char *const *meta_kv) {
  if (!path) return qs_fail(QS_EINVAL, "safetensors: path is NULL");
  st_buf h = {0};
  qs_dtype *dts = qs_calloc(n > 0 ? (size_t)n : 1, sizeof *dts);
  unsigned char *buf = qs_malloc(ST_CHUNK_BYTES);
  char *tmp = qs_malloc(strlen(path) + 32);
  FILE *fp = NULL;
  int created = 0;
  int rc = (!dts || !buf || !tmp) ? QS_ENOMEM : QS_OK;
  if (rc == QS_OK) rc = st_build_header(path, t, n, meta_kv, dts, &h);
  /* HF pads with spaces so that the data section starts 8-byte aligned */
  while (rc == QS_OK && h.len % 8 != 0) rc = st_buf_put(&h, " ", 1);
  if (rc != QS_OK) goto out;

  snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
  fp = fopen(tmp, "wb");
  if (!fp) {
    rc = st_fail(QS_EIO, tmp, "header", "cannot create: %s", strerror(errno));
    goto out;
  }
  created = 1;
  unsigned char lenbuf[8];
  for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
  const char *failed = NULL;
  if (st_write_all(fp, lenbuf, 1, 8) != 0 || st_write_all(fp, h.s, 1, h.len) != 0)
    failed = "header";
  for (int i = 0; i < n && !failed; i++)
    if (st_write_data(fp, &t[i], dts[i], buf) != 0) failed = t[i].name;
  if (failed) {
    rc = st_fail(QS_EIO, tmp, failed, "write failed: %s", strerror(errno));
    goto out;
  }
  FILE *closing = fp;
  fp = NULL;
  if (fclose(closing) != 0) {
    rc = st_fail(QS_EIO, tmp, "header", "write failed at close: %s", strerror(errno));
    goto out;
  }
  if (rename(tmp, path) != 0) {
    rc = st_fail(QS_EIO, path, "header", "cannot rename %s into place: %s", tmp, strerror(errno));
    goto out;
  }
out:
  if (fp) fclose(fp);
  if (rc != QS_OK && created) remove(tmp);
  free(h.s);
  free(dts);
  free(buf);
  free(tmp);
  return rc;
}
