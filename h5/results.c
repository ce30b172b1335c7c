/* results.c - the qsweep results file (HDF5): writer, reader, resume index.
 *
 * Durability: the writer keeps the whole file in memory (HDF5 core driver, no
 * backing store) and, after every change, writes the complete image to
 * "<path>.tmp-<pid>", fsyncs it and renames it over <path>. rename() is atomic, so a
 * SIGKILL at any moment (even in the middle of an append) leaves either the previous
 * or the new complete file, never a half-updated one. An in-place H5Fflush is not
 * enough for that: HDF5 1.10 has no metadata journal, and a kill while the cache
 * writes its entries leaves object headers, B-trees and heaps out of step.
 * The cost is one sequential write of the file per row (h5/README.md has numbers). */
#define _XOPEN_SOURCE 700 /* realpath, fchmod */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qs_common.h"

#define QS_RESULTS_FORMAT "qsweep-results"
#define QS_CELLS_CHUNK_ROWS 64
#define QS_READ_BLOCK_ROWS 4096

/* ---- the schema as tables ------------------------------------------------ */

enum { K_STR, K_I32, K_F64 };

typedef struct {
  const char *name; /* member name in the compound == C field name */
  int kind;
  size_t off;       /* offset in the C struct */
  size_t cap;       /* size of the C field (char array capacity for strings) */
  int optional;     /* a member added after schema_version 1 was fixed: files written
                     * before it lack it and read as NaN (h5/README.md, Versioning) */
} cell_field;

#define FS(f) {#f, K_STR, offsetof(qs_cell_result, f), sizeof(((qs_cell_result *)0)->f), 0}
#define FI(f) {#f, K_I32, offsetof(qs_cell_result, f), sizeof(((qs_cell_result *)0)->f), 0}
#define FD(f) {#f, K_F64, offsetof(qs_cell_result, f), sizeof(((qs_cell_result *)0)->f), 0}
#define FDO(f) {#f, K_F64, offsetof(qs_cell_result, f), sizeof(((qs_cell_result *)0)->f), 1}

static const cell_field k_cell_fields[] = {
    FS(key), FS(model), FS(precision), FI(batch), FI(tp), FS(backend), FS(status),
    FS(message), FI(rank), FS(host), FS(device), FS(category), FS(family), FD(params),
    FD(gflops), FI(warmup), FI(iterations), FD(lat_min_ms), FD(lat_median_ms),
    FD(lat_mean_ms), FD(lat_p90_ms), FD(lat_p99_ms), FD(lat_max_ms), FD(lat_stdev_ms),
    FD(lat_ci_lo_ms), FD(lat_ci_hi_ms), FD(throughput_ips), FD(weight_mb),
    FD(workspace_mb), FD(peak_mb), FD(device_mb), FD(qweight_bits),
    FD(energy_mj_per_image), FD(fid_cosine), FD(fid_rel_l2), FD(fid_max_abs),
    FD(fid_top1), FD(allreduce_share), FD(sm_clock_start_mhz), FD(sm_clock_end_mhz),
    FD(started_unix), FD(duration_s), FDO(act_mb),
};
#define N_CELL_FIELDS ((int)QS_ARRAY_LEN(k_cell_fields))

_Static_assert(sizeof(((qs_cell_result *)0)->batch) == 4, "int32 members");
_Static_assert(sizeof(((qs_cell_result *)0)->rank) == 4, "int32 members");

/* /calibration/rank<R>/entries: one row per measurement (qs_calib_entry). */
#define CS(f) {#f, K_STR, offsetof(qs_calib_entry, f), sizeof(((qs_calib_entry *)0)->f), 0}
#define CI(f) {#f, K_I32, offsetof(qs_calib_entry, f), sizeof(((qs_calib_entry *)0)->f), 0}
#define CD(f) {#f, K_F64, offsetof(qs_calib_entry, f), sizeof(((qs_calib_entry *)0)->f), 0}
static const cell_field k_calib_fields[] = {
    CS(name), CS(kind), CS(precision), CS(status), CS(unit), CD(value), CD(best), CD(median_ms),
    CD(min_ms), CI(m), CI(n), CI(k), CD(bytes), CI(warmup), CI(reps), CS(method), CS(message),
};
#define N_CALIB_FIELDS ((int)QS_ARRAY_LEN(k_calib_fields))
#define MAX_TABLE_FIELDS (N_CELL_FIELDS > N_CALIB_FIELDS ? N_CELL_FIELDS : N_CALIB_FIELDS)

enum { M_FIXED, M_OWNED, M_I32 };

typedef struct {
  const char *name; /* root attribute name == C field name */
  int kind;
  size_t off;
  size_t cap;
} meta_field;

#define MF(f) {#f, M_FIXED, offsetof(qs_run_meta, f), sizeof(((qs_run_meta *)0)->f)}
#define MO(f) {#f, M_OWNED, offsetof(qs_run_meta, f), 0}
#define MI(f) {#f, M_I32, offsetof(qs_run_meta, f), sizeof(int32_t)}

static const meta_field k_meta_fields[] = {
    MF(qsweep_version), MF(git_commit),     MF(started_utc),    MF(finished_utc),
    MO(sweep_json),     MF(sweep_hash),     MO(command_line),   MF(mpi_library),
    MI(world_size),     MO(hostnames),      MO(gpu_names),      MF(driver_version),
    MF(cuda_version),   MF(nccl_version),   MF(backend),
};
#define N_META_FIELDS ((int)QS_ARRAY_LEN(k_meta_fields))

/* The in-memory row that HDF5 converts to and from: strings as char *, in table order. */
static size_t table_layout(const cell_field *t, int n, size_t *off) {
  size_t pos = 0;
  for (int i = 0; i < n; i++) {
    size_t sz = t[i].kind == K_STR ? sizeof(char *) : t[i].kind == K_I32 ? sizeof(int32_t) : sizeof(double);
    pos = (pos + sz - 1) / sz * sz;
    off[i] = pos;
    pos += sz;
  }
  return (pos + 7) / 8 * 8;
}
static size_t wire_layout(size_t off[N_CELL_FIELDS]) { return table_layout(k_cell_fields, N_CELL_FIELDS, off); }

/* ---- errors --------------------------------------------------------------- */

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
  (void)n;
  if (e->desc && e->desc[0]) snprintf((char *)data, 256, "%s", e->desc);
  return 0;
}

/* One line for a failed HDF5 call: "PATH: WHAT: innermost HDF5 reason". */
static int h5_fail(const char *path, const char *what) {
  char detail[256] = "";
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost_cb, detail);
  H5Eclear2(H5E_DEFAULT);
  if (detail[0]) return qs_fail(QS_EIO, "%s: %s: %s", path, what, detail);
  return qs_fail(QS_EIO, "%s: %s: HDF5 call failed", path, what);
}

/* Negative hid_t / herr_t is failure. Needs `rc`, `path` and a `done:` label. */
#define H5_CHECK(call, what)               \
  do {                                     \
    if ((call) < 0) {                      \
      rc = h5_fail(path, what);            \
      goto done;                           \
    }                                      \
  } while (0)
#define QS_CHECK(call)                     \
  do {                                     \
    rc = (call);                           \
    if (rc != QS_OK) goto done;            \
  } while (0)

static void close_id(hid_t *id, herr_t (*fn)(hid_t)) {
  if (*id >= 0) fn(*id);
  *id = -1;
}
#define CLOSE_T(id) close_id(&(id), H5Tclose)
#define CLOSE_S(id) close_id(&(id), H5Sclose)
#define CLOSE_D(id) close_id(&(id), H5Dclose)
#define CLOSE_A(id) close_id(&(id), H5Aclose)
#define CLOSE_G(id) close_id(&(id), H5Gclose)
#define CLOSE_P(id) close_id(&(id), H5Pclose)
#define CLOSE_F(id) close_id(&(id), H5Fclose)

/* HDF5 prints its whole error stack by default; qsweep reports one line instead. */
typedef struct {
  H5E_auto2_t fn;
  void *data;
} h5_quiet;

static void quiet_begin(h5_quiet *q) {
  q->fn = NULL;
  q->data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
static void quiet_end(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

/* Copy at most cap-1 bytes of src (read at most src_max bytes) into dst as valid
 * UTF-8: invalid bytes become '?', a character never gets cut in half. */
static void utf8_copy(char *dst, size_t cap, const char *src, size_t src_max) {
  const unsigned char *s = (const unsigned char *)src;
  size_t n = src ? strnlen(src, src_max) : 0, i = 0, o = 0;
  while (i < n) {
    size_t len = utf8_seq(s + i, n - i);
    if (len == 0) {
      if (o + 1 >= cap) break;
      dst[o++] = '?';
      i++;
      continue;
    }
    if (o + len >= cap) break;
    memcpy(dst + o, s + i, len);
    o += len;
    i += len;
  }
  if (cap) dst[o < cap ? o : cap - 1] = '\0';
}

/* ---- small HDF5 helpers --------------------------------------------------- */

static hid_t make_vlen_str(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

/* The compound type of a table row: in memory (wire layout, native numbers) or in the
 * file (packed, little-endian). present (NULL: all) leaves out the members a file lacks. */
static hid_t make_table_type(const cell_field *tab, int n, int for_file, const unsigned char *present) {
  size_t off[MAX_TABLE_FIELDS];
  size_t size = table_layout(tab, n, off);
  hid_t t = -1, str = -1;
  if ((str = make_vlen_str()) < 0) return -1;
  if ((t = H5Tcreate(H5T_COMPOUND, size)) < 0) goto fail;
  for (int i = 0; i < n; i++) {
    const cell_field *f = &tab[i];
    if (present && !present[i]) continue;
    hid_t mt = f->kind == K_STR ? str
               : f->kind == K_I32 ? (for_file ? H5T_STD_I32LE : H5T_NATIVE_INT32)
                                  : (for_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE);
    if (H5Tinsert(t, f->name, off[i], mt) < 0) goto fail;
  }
  if (for_file && H5Tpack(t) < 0) goto fail;
  H5Tclose(str);
  return t;
fail:
  if (t >= 0) H5Tclose(t);
  H5Tclose(str);
  return -1;
}

static hid_t make_row_type(int for_file, const unsigned char *present) {
  return make_table_type(k_cell_fields, N_CELL_FIELDS, for_file, present);
}

/* Write (replacing) a scalar UTF-8 string attribute. */
static int attr_put_str(hid_t obj, const char *path, const char *name, const char *value) {
  int rc = QS_OK;
  hid_t type = -1, space = -1, attr = -1;
  char what[128];
  const char *v = value ? value : "";
  snprintf(what, sizeof what, "attribute %s", name);
  htri_t ex = H5Aexists(obj, name);
  H5_CHECK(ex, what);
  if (ex > 0) H5_CHECK(H5Adelete(obj, name), what);
  H5_CHECK(type = make_vlen_str(), what);
  H5_CHECK(space = H5Screate(H5S_SCALAR), what);
  H5_CHECK(attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), what);
  H5_CHECK(H5Awrite(attr, type, &v), what);
done:
  CLOSE_A(attr);
  CLOSE_S(space);
  CLOSE_T(type);
  return rc;
}

static int attr_put_i32(hid_t obj, const char *path, const char *name, int32_t value) {
  int rc = QS_OK;
  hid_t space = -1, attr = -1;
  char what[128];
  snprintf(what, sizeof what, "attribute %s", name);
  htri_t ex = H5Aexists(obj, name);
  H5_CHECK(ex, what);
  if (ex > 0) H5_CHECK(H5Adelete(obj, name), what);
  H5_CHECK(space = H5Screate(H5S_SCALAR), what);
  H5_CHECK(attr = H5Acreate2(obj, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT), what);
  H5_CHECK(H5Awrite(attr, H5T_NATIVE_INT32, &value), what);
done:
  CLOSE_A(attr);
  CLOSE_S(space);
  return rc;
}

/* Open attribute `name` of `obj`, which must be a scalar of class `cls` (`kind` names the
 * class in the message; `what` names the attribute). On QS_OK the caller closes attr,
 * ftype and space; on failure nothing is left open. */
static int attr_open_scalar(hid_t obj, const char *path, const char *what, const char *name, H5T_class_t cls,
                            const char *kind, hid_t *attr, hid_t *ftype, hid_t *space) {
  int rc = QS_OK;
  *attr = *ftype = *space = -1;
  htri_t ex = H5Aexists(obj, name);
  H5_CHECK(ex, what);
  if (ex == 0) {
    rc = qs_fail(QS_EINVAL, "%s: %s: missing", path, what);
    goto done;
  }
  H5_CHECK(*attr = H5Aopen(obj, name, H5P_DEFAULT), what);
  H5_CHECK(*ftype = H5Aget_type(*attr), what);
  H5_CHECK(*space = H5Aget_space(*attr), what);
  if (H5Tget_class(*ftype) != cls || H5Sget_simple_extent_npoints(*space) != 1)
    rc = qs_fail(QS_EINVAL, "%s: %s: not a scalar %s", path, what, kind);
done:
  if (rc != QS_OK) {
    CLOSE_S(*space);
    CLOSE_T(*ftype);
    CLOSE_A(*attr);
  }
  return rc;
}

/* Read a scalar string attribute (variable or fixed length) into a new string.
 * A missing attribute is QS_EINVAL naming it. `where` names the object. */
static int attr_get_str(hid_t obj, const char *path, const char *where, const char *name,
                        char **out) {
  int rc = QS_OK;
  hid_t attr = -1, ftype = -1, mtype = -1, space = -1;
  char what[160];
  char *vlen = NULL;
  *out = NULL;
  snprintf(what, sizeof what, "%sattribute %s", where, name);
  QS_CHECK(attr_open_scalar(obj, path, what, name, H5T_STRING, "string", &attr, &ftype, &space));
  htri_t is_var = H5Tis_variable_str(ftype);
  H5_CHECK(is_var, what);
  if (is_var) {
    H5_CHECK(mtype = make_vlen_str(), what);
    H5_CHECK(H5Aread(attr, mtype, &vlen), what);
    size_t n = vlen ? strlen(vlen) : 0;
    *out = qs_malloc(n + 1);
    if (*out) {
      if (n) memcpy(*out, vlen, n);
      (*out)[n] = '\0';
    }
    H5_CHECK(H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &vlen), what);
  } else {
    size_t n = H5Tget_size(ftype);
    if (n == 0 || n > ((size_t)1 << 30)) {
      rc = qs_fail(QS_EINVAL, "%s: %s: bad string size %zu", path, what, n);
      goto done;
    }
    H5_CHECK(mtype = H5Tcopy(H5T_C_S1), what);
    H5_CHECK(H5Tset_size(mtype, n + 1), what);
    H5_CHECK(H5Tset_strpad(mtype, H5T_STR_NULLTERM), what);
    *out = qs_calloc(n + 1, 1);
    if (*out) H5_CHECK(H5Aread(attr, mtype, *out), what);
  }
  if (!*out) rc = QS_ENOMEM;
done:
  if (rc != QS_OK) {
    free(*out);
    *out = NULL;
  }
  CLOSE_T(mtype);
  CLOSE_S(space);
  CLOSE_T(ftype);
  CLOSE_A(attr);
  return rc;
}

static int attr_get_i32(hid_t obj, const char *path, const char *name, int32_t *out) {
  int rc = QS_OK;
  hid_t attr = -1, ftype = -1, space = -1;
  char what[128];
  snprintf(what, sizeof what, "attribute %s", name);
  QS_CHECK(attr_open_scalar(obj, path, what, name, H5T_INTEGER, "integer", &attr, &ftype, &space));
  H5_CHECK(H5Aread(attr, H5T_NATIVE_INT32, out), what);
done:
  CLOSE_S(space);
  CLOSE_T(ftype);
  CLOSE_A(attr);
  return rc;
}

/* ---- public: rows, keys, metadata ----------------------------------------- */

void qs_cell_result_init(qs_cell_result *r) {
  memset(r, 0, sizeof *r);
  for (int i = 0; i < N_CELL_FIELDS; i++)
    if (k_cell_fields[i].kind == K_F64) *(double *)((char *)r + k_cell_fields[i].off) = NAN;
  r->tp = 1;
  r->batch = 0;
  r->samples_ms = NULL;
  r->n_samples = 0;
}

void qs_cell_result_free(qs_cell_result *r) {
  if (!r) return;
  free(r->samples_ms);
  r->samples_ms = NULL;
  r->n_samples = 0;
}

void qs_run_meta_free(qs_run_meta *m) {
  if (!m) return;
  for (int i = 0; i < N_META_FIELDS; i++) {
    if (k_meta_fields[i].kind != M_OWNED) continue;
    char **p = (char **)((char *)m + k_meta_fields[i].off);
    free(*p);
    *p = NULL;
  }
}

void qs_results_free_rows(qs_cell_result *rows, int n_rows) {
  if (!rows) return;
  for (int i = 0; i < n_rows; i++) qs_cell_result_free(&rows[i]);
  free(rows);
}

const char *qs_results_key(const char *model, const char *precision, int batch, int tp,
                           char *buf, size_t cap) {
  if (!buf || cap == 0) return NULL;
  int n = snprintf(buf, cap, "%s|%s|b%d|tp%d", model ? model : "", precision ? precision : "",
                   batch, tp);
  return (n >= 0 && (size_t)n < cap) ? buf : NULL;
}

/* Root attributes of qs_run_meta (not format / schema_version). */
static int write_meta(hid_t file, const char *path, const qs_run_meta *meta) {
  int rc = QS_OK;
  qs_run_meta empty;
  if (!meta) {
    memset(&empty, 0, sizeof empty);
    meta = &empty;
  }
  for (int i = 0; i < N_META_FIELDS && rc == QS_OK; i++) {
    const meta_field *f = &k_meta_fields[i];
    const char *base = (const char *)meta + f->off;
    if (f->kind == M_I32) {
      rc = attr_put_i32(file, path, f->name, *(const int32_t *)base);
    } else {
      const char *src = f->kind == M_OWNED ? *(char *const *)base : base;
      size_t max = f->kind == M_OWNED ? (size_t)-1 : f->cap;
      size_t n = src ? strnlen(src, max) : 0;
      char *clean = qs_malloc(n + 1);
      if (!clean) return QS_ENOMEM;
      utf8_copy(clean, n + 1, src, n);
      rc = attr_put_str(file, path, f->name, clean);
      free(clean);
    }
  }
  return rc;
}

static int read_meta(hid_t file, const char *path, qs_run_meta *meta) {
  int rc = QS_OK;
  memset(meta, 0, sizeof *meta);
  for (int i = 0; i < N_META_FIELDS && rc == QS_OK; i++) {
    const meta_field *f = &k_meta_fields[i];
    char *base = (char *)meta + f->off;
    if (f->kind == M_I32) {
      rc = attr_get_i32(file, path, f->name, (int32_t *)base);
    } else {
      char *s = NULL;
      rc = attr_get_str(file, path, "", f->name, &s);
      if (rc != QS_OK) break;
      if (f->kind == M_OWNED) {
        *(char **)base = s;
      } else {
        utf8_copy(base, f->cap, s, (size_t)-1);
        free(s);
      }
    }
  }
  if (rc != QS_OK) qs_run_meta_free(meta);
  return rc;
}


/* ---- the seal: a checksum of the HDF5 image in the file's user block --------------
 * The first QS_SEAL_BYTES of a results file are an HDF5 user block (the library and
 * h5dump / h5py skip it) holding a text header:
 *   "QSWEEP-RESULTS-SEAL 1\nsize <file bytes>\nfnv1a64 <16 hex digits>\n"
 * with the FNV-1a 64 hash of every byte after the block. A file whose seal does not
 * match is refused before the HDF5 library parses a byte of it: HDF5 1.10 is not
 * robust against corrupted files (fuzzing found a memcpy with overlapping ranges in
 * H5HG_read on a mutated file), and a results file is only ever written whole by
 * qsweep, so any mismatch means truncation, corruption or an edit from outside. */
#define QS_SEAL_BYTES 512
#define QS_SEAL_MAGIC "QSWEEP-RESULTS-SEAL 1\n"

static uint64_t fnv1a64_update(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* The user block for an HDF5 image of `size` bytes (the file is the block + the image;
 * H5Fget_file_image returns the image without the user block). */
static void seal_header(unsigned char hdr[QS_SEAL_BYTES], const unsigned char *img, size_t size) {
  uint64_t h = fnv1a64_update(0xcbf29ce484222325ULL, img, size);
  memset(hdr, 0, QS_SEAL_BYTES);
  snprintf((char *)hdr, QS_SEAL_BYTES, "%ssize %llu\nfnv1a64 %016llx\n", QS_SEAL_MAGIC,
           (unsigned long long)(size + QS_SEAL_BYTES), (unsigned long long)h);
}

/* Does the file carry an HDF5 signature where the library would look for one? */
static int has_hdf5_signature(FILE *fp) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (long off = 0; off <= (1L << 20); off = off ? off * 2 : 512) {
    unsigned char b[8];
    if (fseek(fp, off, SEEK_SET) != 0 || fread(b, 1, 8, fp) != 8) return 0;
    if (memcmp(b, sig, 8) == 0) return 1;
  }
  return 0;
}

static int verify_seal(const char *path, off_t file_size) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return qs_fail(QS_EIO, "%s: cannot open: %s", path, strerror(errno));
  char hdr[QS_SEAL_BYTES + 1];
  size_t got = fread(hdr, 1, QS_SEAL_BYTES, fp);
  hdr[got] = '\0';
  int rc = QS_OK;
  unsigned long long size = 0, want = 0;
  if (got < strlen(QS_SEAL_MAGIC) || memcmp(hdr, QS_SEAL_MAGIC, strlen(QS_SEAL_MAGIC)) != 0) {
    if (!has_hdf5_signature(fp)) rc = qs_fail(QS_EINVAL, "%s: not an HDF5 file", path);
    else rc = qs_fail(QS_EINVAL, "%s: not a qsweep results file (no qsweep seal in its user block)", path);
    goto out;
  }
  if (sscanf(hdr + strlen(QS_SEAL_MAGIC), "size %llu\nfnv1a64 %16llx", &size, &want) != 2) {
    rc = qs_fail(QS_EINVAL, "%s: seal: malformed header", path);
    goto out;
  }
  if (size != (unsigned long long)file_size || file_size < QS_SEAL_BYTES) {
    rc = qs_fail(QS_EINVAL, "%s: seal: the file has %lld bytes, its seal says %llu (truncated or modified "
                 "outside qsweep)", path, (long long)file_size, size);
    goto out;
  }
  uint64_t h = 0xcbf29ce484222325ULL;
  unsigned char buf[1 << 16];
  size_t n;
  if (fseek(fp, QS_SEAL_BYTES, SEEK_SET) != 0) {
    rc = qs_fail(QS_EIO, "%s: cannot seek: %s", path, strerror(errno));
    goto out;
  }
  while ((n = fread(buf, 1, sizeof buf, fp)) > 0) h = fnv1a64_update(h, buf, n);
  if (ferror(fp)) {
    rc = qs_fail(QS_EIO, "%s: read error: %s", path, strerror(errno));
    goto out;
  }
  if (h != want)
    rc = qs_fail(QS_EINVAL, "%s: seal: checksum mismatch (corrupted or modified outside qsweep; "
                 "`qsweep seal FILE` re-seals a file edited on purpose)", path);
out:
  fclose(fp);
  return rc;
}

int qs_results_verify_seal(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return qs_fail(QS_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return qs_fail(QS_EINVAL, "%s: not a regular file", path);
  return verify_seal(path, st.st_size);
}

/* ---- opening and checking a file ------------------------------------------ */

/* Stat, H5Fis_hdf5, H5Fopen, then the qsweep checks: format, schema_version. */
static int open_checked(const char *path, unsigned flags, hid_t fapl, hid_t *out) {
  int rc = QS_OK;
  hid_t file = -1;
  char *format = NULL;
  int32_t version = 0;
  *out = -1;
  QS_TRY(qs_results_verify_seal(path));
  htri_t is = H5Fis_hdf5(path);
  if (is < 0) return h5_fail(path, "cannot open");
  if (is == 0) return qs_fail(QS_EINVAL, "%s: not an HDF5 file", path);
  H5_CHECK(file = H5Fopen(path, flags, fapl), "cannot open");
  htri_t ex = H5Aexists(file, "format");
  H5_CHECK(ex, "attribute format");
  if (ex > 0) QS_CHECK(attr_get_str(file, path, "", "format", &format));
  if (ex == 0 || strcmp(format, QS_RESULTS_FORMAT) != 0) {
    rc = qs_fail(QS_EINVAL, "%s: not a qsweep results file (root attribute format is not \"%s\")",
                 path, QS_RESULTS_FORMAT);
    goto done;
  }
  QS_CHECK(attr_get_i32(file, path, "schema_version", &version));
  if (version > QS_RESULTS_SCHEMA_VERSION) {
    rc = qs_fail(QS_EINVAL, "%s: schema_version %d is newer than this qsweep (%d)", path,
                 (int)version, QS_RESULTS_SCHEMA_VERSION);
    goto done;
  }
  if (version < 1) {
    rc = qs_fail(QS_EINVAL, "%s: schema_version %d is not valid", path, (int)version);
    goto done;
  }
done:
  free(format);
  if (rc != QS_OK) CLOSE_F(file);
  *out = file;
  return rc;
}

/* Open /cells and check it: rank 1, compound, every member we know present with a
 * compatible class (extra members are fine; an optional one may be missing, and
 * present[] says which are there), at most QS_RESULTS_MAX_ROWS rows. */
static int open_cells(hid_t file, const char *path, hid_t *out, int64_t *n_rows, unsigned char *present) {
  int rc = QS_OK;
  hid_t ds = -1, ftype = -1, space = -1, mtype = -1;
  hsize_t dims[1] = {0};
  *out = -1;
  *n_rows = 0;
  htri_t ex = H5Lexists(file, "cells", H5P_DEFAULT);
  H5_CHECK(ex, "/cells");
  if (ex == 0) {
    rc = qs_fail(QS_EINVAL, "%s: /cells: missing (no results table)", path);
    goto done;
  }
  H5_CHECK(ds = H5Dopen2(file, "cells", H5P_DEFAULT), "/cells");
  H5_CHECK(ftype = H5Dget_type(ds), "/cells");
  H5_CHECK(space = H5Dget_space(ds), "/cells");
  if (H5Tget_class(ftype) != H5T_COMPOUND || H5Sget_simple_extent_ndims(space) != 1) {
    rc = qs_fail(QS_EINVAL, "%s: /cells: not a one-dimensional compound dataset", path);
    goto done;
  }
  for (int i = 0; i < N_CELL_FIELDS; i++) {
    const cell_field *f = &k_cell_fields[i];
    int idx = H5Tget_member_index(ftype, f->name);
    present[i] = idx >= 0;
    if (idx < 0 && f->optional) {
      H5Eclear2(H5E_DEFAULT);
      continue;
    }
    if (idx < 0) {
      H5Eclear2(H5E_DEFAULT);
      rc = qs_fail(QS_EINVAL, "%s: /cells: member %s: missing", path, f->name);
      goto done;
    }
    H5_CHECK(mtype = H5Tget_member_type(ftype, (unsigned)idx), "/cells member type");
    H5T_class_t cls = H5Tget_class(mtype);
    int ok = f->kind == K_STR ? (cls == H5T_STRING && H5Tis_variable_str(mtype) > 0)
                              : (cls == H5T_INTEGER || cls == H5T_FLOAT);
    CLOSE_T(mtype);
    if (!ok) {
      rc = qs_fail(QS_EINVAL, "%s: /cells: member %s: wrong type (expected %s)", path, f->name,
                   f->kind == K_STR ? "variable-length string" : "number");
      goto done;
    }
  }
  H5_CHECK(H5Sget_simple_extent_dims(space, dims, NULL), "/cells");
  if (dims[0] > QS_RESULTS_MAX_ROWS) {
    rc = qs_fail(QS_EINVAL, "%s: /cells: %llu rows is over the cap of %d rows", path,
                 (unsigned long long)dims[0], QS_RESULTS_MAX_ROWS);
    goto done;
  }
  *n_rows = (int64_t)dims[0];
done:
  CLOSE_T(mtype);
  CLOSE_S(space);
  CLOSE_T(ftype);
  if (rc != QS_OK) CLOSE_D(ds);
  *out = ds;
  return rc;
}

/* ---- the writer ----------------------------------------------------------- */

struct qs_results {
  char *name;        /* path as the caller gave it (for messages) */
  char *real;        /* the file that gets replaced (symlinks resolved) */
  char *tmp;         /* real + ".tmp-<pid>" */
  hid_t file;        /* in-memory (core driver) image */
  hid_t cells;       /* /cells */
  hid_t samples;     /* /samples */
  hid_t row_type;    /* memory compound */
  int64_t n_rows;
  mode_t mode;       /* permissions to keep on replace */
  int keep_mode;
  unsigned char *image;
  size_t image_cap;
};

static void results_free(qs_results *f) {
  if (!f) return;
  CLOSE_T(f->row_type);
  CLOSE_G(f->samples);
  CLOSE_D(f->cells);
  CLOSE_F(f->file);
  free(f->image);
  free(f->tmp);
  free(f->real);
  free(f->name);
  free(f);
}

static qs_results *results_new(const char *path) {
  qs_results *f = qs_calloc(1, sizeof *f);
  if (!f) return NULL;
  f->file = f->cells = f->samples = f->row_type = -1;
  char real[PATH_MAX];
  const char *target = realpath(path, real) ? real : path;
  size_t n = strlen(target) + 32;
  f->name = strdup(path);
  f->real = strdup(target);
  f->tmp = malloc(n);
  if (!f->name || !f->real || !f->tmp) {
    results_free(f);
    qs_fail(QS_ENOMEM, "out of host memory");
    return NULL;
  }
  snprintf(f->tmp, n, "%s.tmp-%ld", target, (long)getpid());
  return f;
}

static hid_t core_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  if (H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Write seal + image to `tmp` (mode `mode` when keep_mode), fsync it. On failure the
 * temporary file is gone. Errors name `path`. */
static int write_tmp(const char *path, const char *tmp, const unsigned char *seal, const unsigned char *img,
                     size_t size, int keep_mode, mode_t mode) {
  int rc = QS_OK;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return qs_fail(QS_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
  if (keep_mode) (void)fchmod(fd, mode & 07777);
  if (write_all(fd, seal, QS_SEAL_BYTES) != 0 || write_all(fd, img, size) != 0 || fsync(fd) != 0) {
    rc = qs_fail(QS_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return rc;
  }
  if (close(fd) != 0) {
    rc = qs_fail(QS_EIO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    unlink(tmp);
  }
  return rc;
}

/* Rename `tmp` over `real` and fsync the directory. On failure `tmp` is gone. */
static int commit_tmp(const char *path, const char *tmp, const char *real) {
  if (rename(tmp, real) != 0) {
    int rc = qs_fail(QS_EIO, "%s: cannot replace the file: %s", path, strerror(errno));
    unlink(tmp);
    return rc;
  }
  /* the rename itself survives a power cut only once the directory is synced */
  const char *slash = strrchr(real, '/');
  const char *dir = ".";
  char dirbuf[PATH_MAX];
  if (slash) {
    size_t n = (size_t)(slash - real);
    if (n == 0) n = 1;
    if (n < sizeof dirbuf) {
      memcpy(dirbuf, real, n);
      dirbuf[n] = '\0';
      dir = dirbuf;
    }
  }
  int dfd = open(dir, O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd); /* best effort: some file systems refuse fsync on a directory */
    close(dfd);
  }
  return QS_OK;
}

/* Make the current state durable: flush, take the image, write it beside the file,
 * fsync, rename over the file, fsync the directory. */
static int persist(qs_results *f) {
  const char *path = f->name;
  int rc = QS_OK;
  ssize_t size;
  H5_CHECK(H5Fflush(f->file, H5F_SCOPE_GLOBAL), "flush");
  H5_CHECK(size = H5Fget_file_image(f->file, NULL, 0), "file image");
  if ((size_t)size > f->image_cap) {
    size_t cap = (size_t)size + ((size_t)size >> 2) + 4096;
    unsigned char *p = realloc(f->image, cap);
    if (!p) return qs_fail(QS_ENOMEM, "%s: out of host memory for a %zu-byte image", path, cap);
    f->image = p;
    f->image_cap = cap;
  }
  H5_CHECK(size = H5Fget_file_image(f->file, f->image, f->image_cap), "file image");
  unsigned char seal[QS_SEAL_BYTES];
  seal_header(seal, f->image, (size_t)size);
  QS_TRY(write_tmp(path, f->tmp, seal, f->image, (size_t)size, f->keep_mode, f->mode));
  rc = commit_tmp(path, f->tmp, f->real);
done:
  return rc;
}

/* Re-seal: read the file through one descriptor (a regular file, with an HDF5
 * superblock right after the 512-byte user block), write block + image beside it,
 * optionally read that copy back as a results file, then rename it over the file.
 * Nothing changes in the file unless every step succeeds. */
static int seal_file(const char *path, int validate, int *n_rows) {
  int rc = QS_OK, fd = -1;
  unsigned char *data = NULL;
  char real[PATH_MAX], *tmp = NULL;
  struct stat st;
  if (n_rows) *n_rows = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return qs_fail(QS_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0) {
    rc = qs_fail(QS_EIO, "%s: cannot stat: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = qs_fail(QS_EINVAL, "%s: not a regular file", path);
    goto out;
  }
  size_t len = (size_t)st.st_size;
  if (len < QS_SEAL_BYTES + 8) {
    rc = qs_fail(QS_EINVAL, "%s: seal: %zu bytes, too short for a %d-byte user block and an HDF5 superblock",
                 path, len, QS_SEAL_BYTES);
    goto out;
  }
  if (!(data = malloc(len))) {
    rc = qs_fail(QS_ENOMEM, "%s: out of host memory for %zu bytes", path, len);
    goto out;
  }
  for (size_t got = 0; got < len;) {
    ssize_t r = read(fd, data + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = qs_fail(QS_EIO, "%s: read error: %s", path, r < 0 ? strerror(errno) : "file shrank while read");
      goto out;
    }
    got += (size_t)r;
  }
  if (memcmp(data + QS_SEAL_BYTES, "\x89HDF\r\n\x1a\n", 8) != 0) {
    rc = qs_fail(QS_EINVAL, "%s: seal: no HDF5 superblock after a %d-byte user block (a tool dropped it? "
                 "h5jam -i FILE -u <any %d-byte file> -o NEW puts one back)", path, QS_SEAL_BYTES, QS_SEAL_BYTES);
    goto out;
  }
  seal_header(data, data + QS_SEAL_BYTES, len - QS_SEAL_BYTES);
  const char *target = realpath(path, real) ? real : path;
  size_t n = strlen(target) + 32;
  if (!(tmp = malloc(n))) {
    rc = qs_fail(QS_ENOMEM, "%s: out of host memory", path);
    goto out;
  }
  snprintf(tmp, n, "%s.tmp-%ld", target, (long)getpid());
  if ((rc = write_tmp(path, tmp, data, data + QS_SEAL_BYTES, len - QS_SEAL_BYTES, 1, st.st_mode)) != QS_OK) goto out;
  if (validate) {
    qs_cell_result *rows = NULL;
    int nr = 0;
    qs_run_meta meta;
    if (qs_results_read(tmp, &rows, &nr, &meta) != QS_OK) {
      char msg[1024];
      qs_strlcpy(msg, qs_msg_after_path(qs_last_error(), tmp), sizeof msg);
      unlink(tmp);
      rc = qs_fail(QS_EINVAL, "%s: %s (left unchanged: with a new seal it still does not read as a results file)",
                   path, msg);
      goto out;
    }
    if (n_rows) *n_rows = nr;
    qs_results_free_rows(rows, nr);
    qs_run_meta_free(&meta);
  }
  rc = commit_tmp(path, tmp, target);
out:
  if (fd >= 0) close(fd);
  free(data);
  free(tmp);
  return rc;
}

int qs_results_seal(const char *path) {
  h5_quiet q;
  quiet_begin(&q);
  int rc = seal_file(path, 0, NULL);
  quiet_end(&q);
  return rc;
}

int qs_results_reseal(const char *path, int *n_rows) {
  h5_quiet q;
  quiet_begin(&q);
  int rc = seal_file(path, 1, n_rows);
  quiet_end(&q);
  return rc;
}

int qs_results_create(const char *path, const qs_run_meta *meta, int overwrite,
                      qs_results **out) {
  int rc = QS_OK;
  qs_results *f = NULL;
  hid_t fapl = -1, fcpl = -1, space = -1, dcpl = -1, ftype = -1;
  h5_quiet q;
  struct stat st;
  *out = NULL;
  quiet_begin(&q);
  if (stat(path, &st) == 0 && !overwrite) {
    rc = qs_fail(QS_EINVAL, "%s: file exists (use --resume to continue it, or remove it)", path);
    goto done;
  }
  if (!(f = results_new(path))) {
    rc = QS_ENOMEM;
    goto done;
  }
  H5_CHECK(fapl = core_fapl(), "file access properties");
  H5_CHECK(fcpl = H5Pcreate(H5P_FILE_CREATE), "file creation properties");
  H5_CHECK(H5Pset_userblock(fcpl, QS_SEAL_BYTES), "user block");
  H5_CHECK(f->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl), "cannot create");
  QS_CHECK(attr_put_str(f->file, path, "format", QS_RESULTS_FORMAT));
  QS_CHECK(attr_put_i32(f->file, path, "schema_version", QS_RESULTS_SCHEMA_VERSION));
  QS_CHECK(write_meta(f->file, path, meta));

  hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {QS_CELLS_CHUNK_ROWS};
  H5_CHECK(space = H5Screate_simple(1, dims, maxdims), "/cells");
  H5_CHECK(dcpl = H5Pcreate(H5P_DATASET_CREATE), "/cells");
  H5_CHECK(H5Pset_chunk(dcpl, 1, chunk), "/cells");
  H5_CHECK(ftype = make_row_type(1, NULL), "/cells type");
  H5_CHECK(f->cells = H5Dcreate2(f->file, "cells", ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
           "create /cells");
  H5_CHECK(f->samples = H5Gcreate2(f->file, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
           "create /samples");
  H5_CHECK(f->row_type = make_row_type(0, NULL), "/cells type");
  QS_CHECK(persist(f));
done:
  CLOSE_T(ftype);
  CLOSE_P(dcpl);
  CLOSE_S(space);
  CLOSE_P(fcpl);
  CLOSE_P(fapl);
  if (rc != QS_OK) results_free(f);
  else *out = f;
  quiet_end(&q);
  return rc;
}

int qs_results_open_append(const char *path, qs_results **out) {
  int rc = QS_OK;
  qs_results *f = NULL;
  hid_t fapl = -1;
  h5_quiet q;
  struct stat st;
  *out = NULL;
  quiet_begin(&q);
  if (!(f = results_new(path))) {
    rc = QS_ENOMEM;
    goto done;
  }
  H5_CHECK(fapl = core_fapl(), "file access properties");
  QS_CHECK(open_checked(path, H5F_ACC_RDWR, fapl, &f->file));
  unsigned char present[N_CELL_FIELDS];
  QS_CHECK(open_cells(f->file, path, &f->cells, &f->n_rows, present));
  if (stat(f->real, &st) == 0) {
    f->mode = st.st_mode;
    f->keep_mode = 1;
  }
  htri_t ex = H5Lexists(f->file, "samples", H5P_DEFAULT);
  H5_CHECK(ex, "/samples");
  if (ex > 0)
    H5_CHECK(f->samples = H5Gopen2(f->file, "samples", H5P_DEFAULT), "/samples");
  else
    H5_CHECK(f->samples = H5Gcreate2(f->file, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "create /samples");
  /* a file from before an optional member keeps its columns: rows appended to it lack it */
  H5_CHECK(f->row_type = make_row_type(0, present), "/cells type");
done:
  CLOSE_P(fapl);
  if (rc != QS_OK) results_free(f);
  else *out = f;
  quiet_end(&q);
  return rc;
}

/* /samples/<row>: the raw latencies of one row, with the row's key as attribute. */
static int write_samples(qs_results *f, int64_t row, const char *key, const double *s, int n) {
  const char *path = f->name;
  int rc = QS_OK;
  hid_t space = -1, ds = -1;
  char name[32];
  snprintf(name, sizeof name, "%lld", (long long)row);
  htri_t ex = H5Lexists(f->samples, name, H5P_DEFAULT);
  H5_CHECK(ex, "/samples");
  if (ex > 0) H5_CHECK(H5Ldelete(f->samples, name, H5P_DEFAULT), "/samples"); /* a failed try */
  hsize_t dims[1] = {(hsize_t)n};
  H5_CHECK(space = H5Screate_simple(1, dims, NULL), "/samples");
  H5_CHECK(ds = H5Dcreate2(f->samples, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT),
           "create /samples");
  H5_CHECK(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, s), "write /samples");
  QS_CHECK(attr_put_str(ds, path, "key", key));
done:
  CLOSE_D(ds);
  CLOSE_S(space);
  return rc;
}

/* Add one row (and its samples) to the in-memory image; persist() makes it durable. */
static int append_one(qs_results *f, const qs_cell_result *r) {
  if (!f || !r) return qs_fail(QS_EINVAL, "results append: no file or row");
  const char *path = f->name;
  int rc = QS_OK;
  hid_t fspace = -1, mspace = -1;
  size_t off[N_CELL_FIELDS];
  (void)wire_layout(off);
  char strbuf[sizeof(qs_cell_result)]; /* room for every string field, cleaned */
  unsigned char wire[512];
  h5_quiet q;
  _Static_assert(sizeof(char *) * N_CELL_FIELDS <= sizeof wire, "wire row fits");
  quiet_begin(&q);
  if (r->n_samples < 0 || (r->n_samples > 0 && !r->samples_ms) ||
      r->n_samples > QS_RESULTS_MAX_SAMPLES) {
    rc = qs_fail(QS_EINVAL, "%s: row %s: n_samples %d is not valid (0..%d with samples_ms set)",
                 path, r->key, (int)r->n_samples, QS_RESULTS_MAX_SAMPLES);
    goto done;
  }
  memset(wire, 0, sizeof wire);
  size_t used = 0;
  for (int i = 0; i < N_CELL_FIELDS; i++) {
    const cell_field *fd = &k_cell_fields[i];
    const char *src = (const char *)r + fd->off;
    if (fd->kind == K_STR) {
      char *dst = strbuf + used;
      utf8_copy(dst, fd->cap, src, fd->cap);
      used += fd->cap;
      memcpy(wire + off[i], &dst, sizeof dst);
    } else {
      memcpy(wire + off[i], src, fd->cap);
    }
  }
  const char *key = strbuf; /* key is the first field */
  int64_t row = f->n_rows;
  if (r->n_samples > 0) QS_CHECK(write_samples(f, row, key, r->samples_ms, r->n_samples));

  hsize_t dims[1] = {(hsize_t)row + 1}, start[1] = {(hsize_t)row}, count[1] = {1};
  H5_CHECK(H5Dset_extent(f->cells, dims), "extend /cells");
  f->n_rows = row + 1; /* the slot exists now; a failed write leaves it empty */
  H5_CHECK(fspace = H5Dget_space(f->cells), "/cells");
  H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL), "/cells");
  H5_CHECK(mspace = H5Screate_simple(1, count, NULL), "/cells");
  H5_CHECK(H5Dwrite(f->cells, f->row_type, mspace, fspace, H5P_DEFAULT, wire), "write /cells");
done:
  CLOSE_S(mspace);
  CLOSE_S(fspace);
  quiet_end(&q);
  return rc;
}

int qs_results_append(qs_results *f, const qs_cell_result *r) { return qs_results_append_many(f, r, 1); }

int qs_results_append_many(qs_results *f, const qs_cell_result *rows, int n) {
  if (!f || (n > 0 && !rows)) return qs_fail(QS_EINVAL, "results append: no file or rows");
  int rc = QS_OK;
  for (int i = 0; i < n && rc == QS_OK; i++) rc = append_one(f, &rows[i]);
  /* rows appended before a failure are still written out */
  int prc = persist(f);
  return rc != QS_OK ? rc : prc;
}

int qs_results_set_meta(qs_results *f, const qs_run_meta *meta) {
  if (!f) return qs_fail(QS_EINVAL, "results set_meta: no file");
  h5_quiet q;
  quiet_begin(&q);
  int rc = write_meta(f->file, f->name, meta);
  if (rc == QS_OK) rc = persist(f);
  quiet_end(&q);
  return rc;
}

int qs_results_close(qs_results *f) {
  if (!f) return QS_OK;
  const char *path = f->name;
  int rc = QS_OK;
  h5_quiet q;
  quiet_begin(&q);
  CLOSE_T(f->row_type);
  CLOSE_G(f->samples);
  CLOSE_D(f->cells);
  /* every change was made durable when it was made; this only releases the image */
  ssize_t left = H5Fget_obj_count(f->file, H5F_OBJ_ALL);
  if (left > 1) rc = qs_fail(QS_EINTERNAL, "%s: %zd HDF5 objects still open at close", path, left - 1);
  if (H5Fclose(f->file) < 0 && rc == QS_OK) rc = h5_fail(path, "close");
  f->file = -1;
  results_free(f);
  quiet_end(&q);
  return rc;
}

/* ---- the reader ----------------------------------------------------------- */

static int read_samples(hid_t group, const char *path, int64_t row, qs_cell_result *r) {
  int rc = QS_OK;
  hid_t ds = -1, space = -1, ftype = -1;
  char name[32], what[64];
  char *key = NULL;
  snprintf(name, sizeof name, "%lld", (long long)row);
  snprintf(what, sizeof what, "/samples/%s", name);
  htri_t ex = H5Lexists(group, name, H5P_DEFAULT);
  H5_CHECK(ex, what);
  if (ex == 0) goto done; /* a row without samples */
  H5_CHECK(ds = H5Dopen2(group, name, H5P_DEFAULT), what);
  H5_CHECK(space = H5Dget_space(ds), what);
  H5_CHECK(ftype = H5Dget_type(ds), what);
  hsize_t dims[1] = {0};
  if (H5Sget_simple_extent_ndims(space) != 1 || H5Tget_class(ftype) != H5T_FLOAT) {
    rc = qs_fail(QS_EINVAL, "%s: %s: not a one-dimensional float dataset", path, what);
    goto done;
  }
  H5_CHECK(H5Sget_simple_extent_dims(space, dims, NULL), what);
  if (dims[0] > QS_RESULTS_MAX_SAMPLES) {
    rc = qs_fail(QS_EINVAL, "%s: %s: %llu samples is over the cap of %d", path, what,
                 (unsigned long long)dims[0], QS_RESULTS_MAX_SAMPLES);
    goto done;
  }
  htri_t has_key = H5Aexists(ds, "key");
  H5_CHECK(has_key, what);
  if (has_key > 0) {
    char where[80];
    snprintf(where, sizeof where, "%s: ", what);
    QS_CHECK(attr_get_str(ds, path, where, "key", &key));
    char trunc[QS_KEY_MAX];
    utf8_copy(trunc, sizeof trunc, key, (size_t)-1);
    if (strcmp(trunc, r->key) != 0) {
      rc = qs_fail(QS_EINVAL, "%s: %s: key \"%s\" does not match row %lld (\"%s\")", path, what,
                   trunc, (long long)row, r->key);
      goto done;
    }
  }
  if (dims[0] > 0) {
    if (!(r->samples_ms = qs_malloc((size_t)dims[0] * sizeof(double)))) {
      rc = QS_ENOMEM;
      goto done;
    }
    H5_CHECK(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->samples_ms), what);
    r->n_samples = (int32_t)dims[0];
  }
done:
  free(key);
  CLOSE_T(ftype);
  CLOSE_S(space);
  CLOSE_D(ds);
  return rc;
}

static int read_file(const char *path, int want_samples, qs_cell_result **rows_out,
                     int *n_out, qs_run_meta *meta) {
  int rc = QS_OK;
  hid_t file = -1, cells = -1, mtype = -1, fspace = -1, mspace = -1, samples = -1;
  int64_t n = 0;
  qs_cell_result *rows = NULL;
  unsigned char *wire = NULL;
  int wire_live = 0; /* wire holds vlen strings to reclaim */
  size_t off[N_CELL_FIELDS];
  size_t wsize = wire_layout(off);
  int have_meta = 0;
  *rows_out = NULL;
  *n_out = 0;
  QS_CHECK(open_checked(path, H5F_ACC_RDONLY, H5P_DEFAULT, &file));
  unsigned char present[N_CELL_FIELDS];
  QS_CHECK(open_cells(file, path, &cells, &n, present));
  if (meta) {
    QS_CHECK(read_meta(file, path, meta));
    have_meta = 1;
  }
  if (!(rows = qs_calloc((size_t)(n ? n : 1), sizeof *rows)) ||
      !(wire = qs_calloc(QS_READ_BLOCK_ROWS, wsize))) {
    rc = QS_ENOMEM;
    goto done;
  }
  for (int64_t i = 0; i < n; i++) qs_cell_result_init(&rows[i]);
  H5_CHECK(mtype = make_row_type(0, present), "/cells type");
  H5_CHECK(fspace = H5Dget_space(cells), "/cells");
  for (int64_t start = 0; start < n; start += QS_READ_BLOCK_ROWS) {
    hsize_t cnt[1] = {(hsize_t)(n - start < QS_READ_BLOCK_ROWS ? n - start : QS_READ_BLOCK_ROWS)};
    hsize_t st[1] = {(hsize_t)start};
    memset(wire, 0, QS_READ_BLOCK_ROWS * wsize);
    H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, st, NULL, cnt, NULL), "/cells");
    H5_CHECK(mspace = H5Screate_simple(1, cnt, NULL), "/cells");
    wire_live = 1;
    H5_CHECK(H5Dread(cells, mtype, mspace, fspace, H5P_DEFAULT, wire), "read /cells");
    for (hsize_t k = 0; k < cnt[0]; k++) {
      qs_cell_result *r = &rows[start + (int64_t)k];
      const unsigned char *w = wire + k * wsize;
      for (int j = 0; j < N_CELL_FIELDS; j++) {
        const cell_field *fd = &k_cell_fields[j];
        char *dst = (char *)r + fd->off;
        if (!present[j]) continue; /* an optional member the file lacks: NaN from init */
        if (fd->kind == K_STR) {
          const char *s;
          memcpy(&s, w + off[j], sizeof s);
          utf8_copy(dst, fd->cap, s ? s : "", (size_t)-1);
        } else {
          memcpy(dst, w + off[j], fd->cap);
        }
      }
    }
    wire_live = 0;
    H5_CHECK(H5Dvlen_reclaim(mtype, mspace, H5P_DEFAULT, wire), "read /cells");
    CLOSE_S(mspace);
  }
  if (want_samples && n > 0) {
    htri_t ex = H5Lexists(file, "samples", H5P_DEFAULT);
    H5_CHECK(ex, "/samples");
    if (ex > 0) {
      H5_CHECK(samples = H5Gopen2(file, "samples", H5P_DEFAULT), "/samples");
      for (int64_t i = 0; i < n; i++) QS_CHECK(read_samples(samples, path, i, &rows[i]));
    }
  }
done:
  if (wire_live && mspace >= 0) H5Dvlen_reclaim(mtype, mspace, H5P_DEFAULT, wire);
  free(wire);
  CLOSE_G(samples);
  CLOSE_S(mspace);
  CLOSE_S(fspace);
  CLOSE_T(mtype);
  CLOSE_D(cells);
  CLOSE_F(file);
  if (rc != QS_OK) {
    qs_results_free_rows(rows, (int)n);
    if (have_meta) qs_run_meta_free(meta);
    return rc;
  }
  *rows_out = rows;
  *n_out = (int)n;
  return QS_OK;
}

int qs_results_read(const char *path, qs_cell_result **rows, int *n_rows, qs_run_meta *meta) {
  if (!rows || !n_rows) return qs_fail(QS_EINVAL, "%s: results read: no output", path);
  h5_quiet q;
  quiet_begin(&q);
  int rc = read_file(path, 1, rows, n_rows, meta);
  quiet_end(&q);
  return rc;
}

/* ---- calibration ------------------------------------------------------------ */

const qs_calib_entry *qs_calib_find(const qs_calibration *c, const char *name) {
  if (!c || !name) return NULL;
  for (int i = 0; i < c->n_entries && i < QS_CALIB_MAX_ENTRIES; i++)
    if (strcmp(c->e[i].name, name) == 0) return &c->e[i];
  return NULL;
}

/* The entries of c as wire rows (strings cleaned into strs) in wire. */
static void calib_to_wire(const qs_calibration *c, unsigned char *wire, size_t wsize, char *strs) {
  size_t off[N_CALIB_FIELDS];
  (void)table_layout(k_calib_fields, N_CALIB_FIELDS, off);
  size_t used = 0;
  for (int r = 0; r < c->n_entries; r++) {
    const char *src_row = (const char *)&c->e[r];
    unsigned char *w = wire + (size_t)r * wsize;
    for (int i = 0; i < N_CALIB_FIELDS; i++) {
      const cell_field *fd = &k_calib_fields[i];
      const char *src = src_row + fd->off;
      if (fd->kind == K_STR) {
        char *dst = strs + used;
        utf8_copy(dst, fd->cap, src, fd->cap);
        used += fd->cap;
        memcpy(w + off[i], &dst, sizeof dst);
      } else {
        memcpy(w + off[i], src, fd->cap);
      }
    }
  }
}

int qs_results_put_calibration(qs_results *f, const qs_calibration *c) {
  if (!f || !c) return qs_fail(QS_EINVAL, "results put_calibration: no file or calibration");
  const char *path = f->name;
  int rc = QS_OK;
  hid_t grp = -1, rg = -1, space = -1, ftype = -1, mtype = -1, ds = -1;
  unsigned char *wire = NULL;
  char *strs = NULL, name[32];
  h5_quiet q;
  quiet_begin(&q);
  if (c->n_entries < 0 || c->n_entries > QS_CALIB_MAX_ENTRIES || c->rank < 0) {
    rc = qs_fail(QS_EINVAL, "%s: calibration of rank %d: %d entries (0..%d)", path, (int)c->rank,
                 (int)c->n_entries, QS_CALIB_MAX_ENTRIES);
    goto done;
  }
  snprintf(name, sizeof name, "rank%d", (int)c->rank);
  htri_t ex = H5Lexists(f->file, "calibration", H5P_DEFAULT);
  H5_CHECK(ex, "/calibration");
  if (ex > 0)
    H5_CHECK(grp = H5Gopen2(f->file, "calibration", H5P_DEFAULT), "/calibration");
  else
    H5_CHECK(grp = H5Gcreate2(f->file, "calibration", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /calibration");
  ex = H5Lexists(grp, name, H5P_DEFAULT);
  H5_CHECK(ex, "/calibration");
  if (ex > 0) H5_CHECK(H5Ldelete(grp, name, H5P_DEFAULT), "/calibration: replace"); /* an earlier run's */
  H5_CHECK(rg = H5Gcreate2(grp, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /calibration/rank");
  QS_CHECK(attr_put_i32(rg, path, "rank", c->rank));
  QS_CHECK(attr_put_i32(rg, path, "device_index", c->device_index));
  {
    char clean[sizeof c->device];
    utf8_copy(clean, sizeof c->host, c->host, sizeof c->host);
    QS_CHECK(attr_put_str(rg, path, "host", clean));
    utf8_copy(clean, sizeof c->device, c->device, sizeof c->device);
    QS_CHECK(attr_put_str(rg, path, "device", clean));
    utf8_copy(clean, sizeof c->backend, c->backend, sizeof c->backend);
    QS_CHECK(attr_put_str(rg, path, "backend", clean));
    utf8_copy(clean, sizeof c->measured_utc, c->measured_utc, sizeof c->measured_utc);
    QS_CHECK(attr_put_str(rg, path, "measured_utc", clean));
  }
  size_t off[N_CALIB_FIELDS];
  size_t wsize = table_layout(k_calib_fields, N_CALIB_FIELDS, off);
  size_t nrow = (size_t)c->n_entries;
  if (!(wire = qs_calloc(nrow ? nrow : 1, wsize)) || !(strs = qs_malloc((nrow ? nrow : 1) * sizeof(qs_calib_entry)))) {
    rc = QS_ENOMEM;
    goto done;
  }
  calib_to_wire(c, wire, wsize, strs);
  hsize_t dims[1] = {(hsize_t)nrow};
  H5_CHECK(space = H5Screate_simple(1, dims, NULL), "/calibration entries");
  H5_CHECK(ftype = make_table_type(k_calib_fields, N_CALIB_FIELDS, 1, NULL), "/calibration entries type");
  H5_CHECK(mtype = make_table_type(k_calib_fields, N_CALIB_FIELDS, 0, NULL), "/calibration entries type");
  H5_CHECK(ds = H5Dcreate2(rg, "entries", ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
           "create /calibration entries");
  if (nrow > 0) H5_CHECK(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, wire), "write /calibration entries");
  CLOSE_D(ds);
  CLOSE_G(rg);
  CLOSE_G(grp);
  rc = persist(f);
done:
  CLOSE_D(ds);
  CLOSE_T(mtype);
  CLOSE_T(ftype);
  CLOSE_S(space);
  CLOSE_G(rg);
  CLOSE_G(grp);
  free(strs);
  free(wire);
  quiet_end(&q);
  return rc;
}

/* One /calibration/<name> group into c. */
static int read_calib_group(hid_t grp, const char *path, const char *name, qs_calibration *c) {
  int rc = QS_OK;
  hid_t rg = -1, ds = -1, space = -1, ftype = -1, mtype = -1, mt = -1;
  unsigned char *wire = NULL;
  int wire_live = 0;
  char where[96], what[160], *s = NULL;
  memset(c, 0, sizeof *c);
  snprintf(where, sizeof where, "/calibration/%s: ", name);
  snprintf(what, sizeof what, "/calibration/%s", name);
  H5_CHECK(rg = H5Gopen2(grp, name, H5P_DEFAULT), what);
  QS_CHECK(attr_get_i32(rg, path, "rank", &c->rank));
  QS_CHECK(attr_get_i32(rg, path, "device_index", &c->device_index));
  static const struct {
    const char *attr;
    size_t off, cap;
  } k_strs[] = {{"host", offsetof(qs_calibration, host), sizeof c->host},
                {"device", offsetof(qs_calibration, device), sizeof c->device},
                {"backend", offsetof(qs_calibration, backend), sizeof c->backend},
                {"measured_utc", offsetof(qs_calibration, measured_utc), sizeof c->measured_utc}};
  for (size_t i = 0; i < QS_ARRAY_LEN(k_strs); i++) {
    QS_CHECK(attr_get_str(rg, path, where, k_strs[i].attr, &s));
    utf8_copy((char *)c + k_strs[i].off, k_strs[i].cap, s, (size_t)-1);
    free(s);
    s = NULL;
  }
  htri_t ex = H5Lexists(rg, "entries", H5P_DEFAULT);
  H5_CHECK(ex, what);
  if (ex == 0) goto done; /* no measurements */
  H5_CHECK(ds = H5Dopen2(rg, "entries", H5P_DEFAULT), what);
  H5_CHECK(ftype = H5Dget_type(ds), what);
  H5_CHECK(space = H5Dget_space(ds), what);
  hsize_t dims[1] = {0};
  if (H5Tget_class(ftype) != H5T_COMPOUND || H5Sget_simple_extent_ndims(space) != 1) {
    rc = qs_fail(QS_EINVAL, "%s: %s/entries: not a one-dimensional compound dataset", path, what);
    goto done;
  }
  for (int i = 0; i < N_CALIB_FIELDS; i++) {
    const cell_field *f = &k_calib_fields[i];
    int idx = H5Tget_member_index(ftype, f->name);
    if (idx < 0) {
      H5Eclear2(H5E_DEFAULT);
      rc = qs_fail(QS_EINVAL, "%s: %s/entries: member %s: missing", path, what, f->name);
      goto done;
    }
    H5_CHECK(mt = H5Tget_member_type(ftype, (unsigned)idx), what);
    H5T_class_t cls = H5Tget_class(mt);
    int ok = f->kind == K_STR ? (cls == H5T_STRING && H5Tis_variable_str(mt) > 0) : (cls == H5T_INTEGER || cls == H5T_FLOAT);
    CLOSE_T(mt);
    if (!ok) {
      rc = qs_fail(QS_EINVAL, "%s: %s/entries: member %s: wrong type (expected %s)", path, what, f->name,
                   f->kind == K_STR ? "variable-length string" : "number");
      goto done;
    }
  }
  H5_CHECK(H5Sget_simple_extent_dims(space, dims, NULL), what);
  if (dims[0] > QS_CALIB_MAX_ENTRIES) {
    rc = qs_fail(QS_EINVAL, "%s: %s/entries: %llu rows is over the cap of %d", path, what,
                 (unsigned long long)dims[0], QS_CALIB_MAX_ENTRIES);
    goto done;
  }
  size_t off[N_CALIB_FIELDS];
  size_t wsize = table_layout(k_calib_fields, N_CALIB_FIELDS, off);
  if (dims[0] > 0) {
    if (!(wire = qs_calloc((size_t)dims[0], wsize))) {
      rc = QS_ENOMEM;
      goto done;
    }
    H5_CHECK(mtype = make_table_type(k_calib_fields, N_CALIB_FIELDS, 0, NULL), what);
    wire_live = 1;
    H5_CHECK(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, wire), what);
    for (hsize_t r = 0; r < dims[0]; r++) {
      char *row = (char *)&c->e[r];
      const unsigned char *w = wire + r * wsize;
      for (int j = 0; j < N_CALIB_FIELDS; j++) {
        const cell_field *fd = &k_calib_fields[j];
        if (fd->kind == K_STR) {
          const char *v;
          memcpy(&v, w + off[j], sizeof v);
          utf8_copy(row + fd->off, fd->cap, v ? v : "", (size_t)-1);
        } else {
          memcpy(row + fd->off, w + off[j], fd->cap);
        }
      }
    }
    wire_live = 0;
    H5_CHECK(H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, wire), what);
    c->n_entries = (int32_t)dims[0];
  }
done:
  if (wire_live) H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, wire);
  free(wire);
  free(s);
  CLOSE_T(mt);
  CLOSE_T(mtype);
  CLOSE_T(ftype);
  CLOSE_S(space);
  CLOSE_D(ds);
  CLOSE_G(rg);
  return rc;
}

static int calib_rank_cmp(const void *x, const void *y) {
  const qs_calibration *a = x, *b = y;
  return (a->rank > b->rank) - (a->rank < b->rank);
}

#define QS_CALIB_MAX_GROUPS 65536

int qs_results_read_calibration(const char *path, qs_calibration **cals, int *n) {
  int rc = QS_OK;
  hid_t file = -1, grp = -1;
  qs_calibration *out = NULL;
  int count = 0;
  h5_quiet q;
  if (!cals || !n) return qs_fail(QS_EINVAL, "%s: read calibration: no output", path);
  *cals = NULL;
  *n = 0;
  quiet_begin(&q);
  QS_CHECK(open_checked(path, H5F_ACC_RDONLY, H5P_DEFAULT, &file));
  htri_t ex = H5Lexists(file, "calibration", H5P_DEFAULT);
  H5_CHECK(ex, "/calibration");
  if (ex == 0) goto done;
  H5_CHECK(grp = H5Gopen2(file, "calibration", H5P_DEFAULT), "/calibration");
  H5G_info_t info;
  H5_CHECK(H5Gget_info(grp, &info), "/calibration");
  if (info.nlinks > QS_CALIB_MAX_GROUPS) {
    rc = qs_fail(QS_EINVAL, "%s: /calibration: %llu groups is over the cap of %d", path,
                 (unsigned long long)info.nlinks, QS_CALIB_MAX_GROUPS);
    goto done;
  }
  if (!(out = qs_calloc(info.nlinks ? (size_t)info.nlinks : 1, sizeof *out))) {
    rc = QS_ENOMEM;
    goto done;
  }
  for (hsize_t i = 0; i < info.nlinks; i++) {
    char name[64];
    ssize_t len = H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    H5_CHECK(len, "/calibration");
    if ((size_t)len >= sizeof name || strncmp(name, "rank", 4) != 0) continue; /* not ours */
    QS_CHECK(read_calib_group(grp, path, name, &out[count]));
    count++;
  }
  qsort(out, (size_t)count, sizeof *out, calib_rank_cmp);
done:
  CLOSE_G(grp);
  CLOSE_F(file);
  if (rc != QS_OK || count == 0) {
    free(out);
    out = NULL;
    count = 0;
  }
  *cals = out;
  *n = count;
  quiet_end(&q);
  return rc;
}

/* ---- resume index ---------------------------------------------------------- */

typedef struct {
  const char *key;
  int index;
} key_ref;

static int key_ref_cmp(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

int qs_results_done_keys(const char *path, char ***keys, int *n, int only_ok) {
  int rc = QS_OK;
  qs_cell_result *rows = NULL;
  int n_rows = 0, count = 0;
  key_ref *refs = NULL;
  char **out = NULL;
  h5_quiet q;
  *keys = NULL;
  *n = 0;
  quiet_begin(&q);
  QS_CHECK(read_file(path, 0, &rows, &n_rows, NULL));
  if (!(refs = qs_calloc((size_t)n_rows, sizeof *refs)) ||
      !(out = qs_calloc((size_t)n_rows, sizeof *out))) {
    rc = QS_ENOMEM;
    goto done;
  }
  for (int i = 0; i < n_rows; i++) refs[i] = (key_ref){rows[i].key, i};
  qsort(refs, (size_t)n_rows, sizeof *refs, key_ref_cmp);
  for (int i = 0; i < n_rows; i++) {
    if (i + 1 < n_rows && strcmp(refs[i].key, refs[i + 1].key) == 0) continue; /* last wins */
    const qs_cell_result *r = &rows[refs[i].index];
    if (only_ok && strcmp(r->status, "ok") != 0) continue;
    if (!(out[count] = strdup(r->key))) {
      rc = qs_fail(QS_ENOMEM, "out of host memory");
      goto done;
    }
    count++;
  }
done:
  free(refs);
  qs_results_free_rows(rows, n_rows);
  if (rc != QS_OK) {
    qs_results_free_keys(out, count);
  } else {
    *keys = out;
    *n = count;
  }
  quiet_end(&q);
  return rc;
}

void qs_results_free_keys(char **keys, int n) {
  if (!keys) return;
  for (int i = 0; i < n; i++) free(keys[i]);
  free(keys);
}
