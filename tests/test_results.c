/* test_results.c - the results file: round trip of every field, append after
 * reopen, refusals (existing file, not HDF5, foreign HDF5, newer schema, missing
 * table or member, caps), forward compatibility, resume keys, handle hygiene, and
 * durability under SIGKILL in the middle of a run of appends. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qs_common.h"
#include "qs_test.h"
#include "results.h"

static char g_dir[256];

static const char *tpath(const char *name) {
  static char buf[4][512];
  static int k;
  char *p = buf[k++ & 3];
  snprintf(p, 512, "%s/%s", g_dir, name);
  return p;
}

#define STR_FIELDS                                                                    \
  X(key) X(model) X(precision) X(backend) X(status) X(message) X(host) X(device)     \
  X(category) X(family)
#define INT_FIELDS X(batch) X(tp) X(rank) X(warmup) X(iterations)
#define DBL_FIELDS                                                                    \
  X(params) X(gflops) X(lat_min_ms) X(lat_median_ms) X(lat_mean_ms) X(lat_p90_ms)    \
  X(lat_p99_ms) X(lat_max_ms) X(lat_stdev_ms) X(lat_ci_lo_ms) X(lat_ci_hi_ms)         \
  X(throughput_ips) X(weight_mb) X(workspace_mb) X(peak_mb) X(device_mb)              \
  X(qweight_bits) X(energy_mj_per_image) X(fid_cosine) X(fid_rel_l2) X(fid_max_abs)   \
  X(fid_top1) X(allreduce_share) X(sm_clock_start_mhz) X(sm_clock_end_mhz)            \
  X(started_unix) X(duration_s) X(act_mb)

/* A deterministic row i: every field set, some NaN, long and UTF-8 strings. */
static void make_row(int i, qs_cell_result *r) {
  static const char *models[] = {"vit-huge-patch14-2020", "deit-tiny-patch16-224",
                                 "dinov2-small", "mobilevit-xx-small"};
  static const char *precs[] = {"fp32", "fp16", "int8", "nf4"};
  qs_cell_result_init(r);
  snprintf(r->model, sizeof r->model, "%s", models[i % 4]);
  snprintf(r->precision, sizeof r->precision, "%s", precs[(i / 4) % 4]);
  r->batch = 1 << (i % 7);
  r->tp = 1 + (i % 2);
  qs_results_key(r->model, r->precision, r->batch, r->tp, r->key, sizeof r->key);
  snprintf(r->backend, sizeof r->backend, "%s", i % 3 ? "cuda" : "cpu");
  snprintf(r->status, sizeof r->status, "%s", i % 5 == 4 ? "failed" : "ok");
  if (i % 3 == 1) { /* the longest message that fits, all two-byte characters */
    size_t o = 0;
    while (o + 2 < sizeof r->message) {
      memcpy(r->message + o, "\xc3\xa9", 2); /* é */
      o += 2;
    }
    r->message[o] = '\0';
  } else {
    snprintf(r->message, sizeof r->message, "cell %d: résumé of café (out of memory?)", i);
  }
  r->rank = i % 8;
  snprintf(r->host, sizeof r->host, "node%03d", i % 16);
  snprintf(r->device, sizeof r->device, "NVIDIA H100 80GB HBM3 #%d", i % 8);
  snprintf(r->category, sizeof r->category, "Large Models (300M+)");
  snprintf(r->family, sizeof r->family, "vit");
  r->warmup = 10 + i;
  r->iterations = 100 + i;
  double *d[] = {
#define X(f) &r->f,
      DBL_FIELDS
#undef X
  };
  for (size_t k = 0; k < QS_ARRAY_LEN(d); k++) *d[k] = i * 100.0 + (double)k + 0.125;
  r->energy_mj_per_image = NAN;
  if (i % 2 == 0) r->allreduce_share = NAN;
  if (i % 3 == 0) r->device_mb = r->sm_clock_start_mhz = r->sm_clock_end_mhz = NAN;
  r->n_samples = (i % 3 == 2) ? 0 : 20 + i;
  if (r->n_samples) {
    r->samples_ms = malloc((size_t)r->n_samples * sizeof(double));
    for (int k = 0; k < r->n_samples; k++) r->samples_ms[k] = i + k * 0.001;
  }
}

static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* Returns the number of differing fields (and reports them). */
static int compare_rows(const qs_cell_result *a, const qs_cell_result *b, int row) {
  int bad = 0;
#define X(f)                                                                          \
  if (strcmp(a->f, b->f) != 0) {                                                      \
    bad++;                                                                            \
    fprintf(stderr, "row %d: %s: \"%s\" != \"%s\"\n", row, #f, a->f, b->f);          \
  }
  STR_FIELDS
#undef X
#define X(f)                                                                          \
  if (a->f != b->f) {                                                                 \
    bad++;                                                                            \
    fprintf(stderr, "row %d: %s: %d != %d\n", row, #f, (int)a->f, (int)b->f);        \
  }
  INT_FIELDS
#undef X
#define X(f)                                                                          \
  if (!same_double(a->f, b->f)) {                                                     \
    bad++;                                                                            \
    fprintf(stderr, "row %d: %s: %.17g != %.17g\n", row, #f, a->f, b->f);            \
  }
  DBL_FIELDS
#undef X
  if (a->n_samples != b->n_samples) {
    bad++;
    fprintf(stderr, "row %d: n_samples %d != %d\n", row, a->n_samples, b->n_samples);
  } else {
    for (int k = 0; k < a->n_samples; k++)
      if (a->samples_ms[k] != b->samples_ms[k]) {
        bad++;
        fprintf(stderr, "row %d: sample %d differs\n", row, k);
        break;
      }
  }
  return bad;
}

static void make_meta(qs_run_meta *m, const char *finished) {
  memset(m, 0, sizeof *m);
  snprintf(m->qsweep_version, sizeof m->qsweep_version, "0.1.0");
  snprintf(m->git_commit, sizeof m->git_commit, "0123456789ab");
  snprintf(m->started_utc, sizeof m->started_utc, "2024-05-01T12:00:00Z");
  snprintf(m->finished_utc, sizeof m->finished_utc, "%s", finished);
  size_t big = 100000; /* a sweep spec far beyond the 64 KiB object-header limit */
  m->sweep_json = malloc(big + 1);
  memset(m->sweep_json, ' ', big);
  memcpy(m->sweep_json, "{\"models\": [\"vit-huge-patch14-2020\"], \"note\": \"café\"}", 55);
  m->sweep_json[big] = '\0';
  snprintf(m->sweep_hash, sizeof m->sweep_hash, "cbf29ce484222325");
  m->command_line = strdup("qsweep run sweep/seed64.json --out résultats.h5");
  snprintf(m->mpi_library, sizeof m->mpi_library, "Open MPI v4.1.4");
  m->world_size = 8;
  m->hostnames = strdup("node001,node002");
  m->gpu_names = NULL; /* written as "" */
  snprintf(m->driver_version, sizeof m->driver_version, "550.54.15");
  snprintf(m->cuda_version, sizeof m->cuda_version, "12.4");
  snprintf(m->nccl_version, sizeof m->nccl_version, "2.21.5");
  snprintf(m->backend, sizeof m->backend, "cuda");
}

static void check_meta(const qs_run_meta *a, const qs_run_meta *b) {
  CHECK(strcmp(a->qsweep_version, b->qsweep_version) == 0);
  CHECK(strcmp(a->git_commit, b->git_commit) == 0);
  CHECK(strcmp(a->started_utc, b->started_utc) == 0);
  CHECK(strcmp(a->finished_utc, b->finished_utc) == 0);
  CHECK(a->sweep_json && strcmp(a->sweep_json, b->sweep_json) == 0);
  CHECK(strcmp(a->sweep_hash, b->sweep_hash) == 0);
  CHECK(a->command_line && strcmp(a->command_line, b->command_line) == 0);
  CHECK(strcmp(a->mpi_library, b->mpi_library) == 0);
  CHECK(a->world_size == b->world_size);
  CHECK(a->hostnames && strcmp(a->hostnames, b->hostnames) == 0);
  CHECK(a->gpu_names && strcmp(a->gpu_names, b->gpu_names ? b->gpu_names : "") == 0);
  CHECK(strcmp(a->driver_version, b->driver_version) == 0);
  CHECK(strcmp(a->cuda_version, b->cuda_version) == 0);
  CHECK(strcmp(a->nccl_version, b->nccl_version) == 0);
  CHECK(strcmp(a->backend, b->backend) == 0);
}

/* Objects still open in any file (datasets, groups, attributes, files): must not
 * grow across qsweep calls. */
static long open_ids(void) { return (long)H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL); }

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* Write n rows 0..n-1 into a new file. */
static int write_rows(const char *path, int from, int to, int create) {
  qs_results *f = NULL;
  qs_run_meta m;
  make_meta(&m, "");
  int rc = create ? qs_results_create(path, &m, 1, &f) : qs_results_open_append(path, &f);
  qs_run_meta_free(&m);
  if (rc != QS_OK) return rc;
  for (int i = from; i < to && rc == QS_OK; i++) {
    qs_cell_result r;
    make_row(i, &r);
    rc = qs_results_append(f, &r);
    qs_cell_result_free(&r);
  }
  int rc2 = qs_results_close(f);
  return rc ? rc : rc2;
}

static void test_init_and_key(void) {
  qs_cell_result r;
  memset(&r, 0x5a, sizeof r);
  qs_cell_result_init(&r);
  CHECK(r.tp == 1 && r.batch == 0 && r.rank == 0 && r.warmup == 0 && r.iterations == 0);
  CHECK(r.key[0] == '\0' && r.message[0] == '\0' && r.status[0] == '\0');
  CHECK(r.samples_ms == NULL && r.n_samples == 0);
#define X(f) CHECK(isnan(r.f));
  DBL_FIELDS
#undef X
  char buf[64];
  const char *k = qs_results_key("vit-base-patch16-224", "int8", 32, 1, buf, sizeof buf);
  CHECK(k == buf && strcmp(buf, "vit-base-patch16-224|int8|b32|tp1") == 0);
  char small[8];
  CHECK(qs_results_key("vit-base-patch16-224", "int8", 32, 1, small, sizeof small) == NULL);
  CHECK(strlen(small) == 7);
}

static void test_round_trip(void) {
  const char *path = tpath("round.h5");
  long ids0 = open_ids();
  qs_run_meta m;
  make_meta(&m, "");
  qs_results *f = NULL;
  CHECK_MSG(qs_results_create(path, &m, 0, &f) == QS_OK, "%s", qs_last_error());
  for (int i = 0; i < 5 && f; i++) {
    qs_cell_result r;
    make_row(i, &r);
    CHECK_MSG(qs_results_append(f, &r) == QS_OK, "%s", qs_last_error());
    qs_cell_result_free(&r);
  }
  /* a string that is not UTF-8 is stored with '?' for the bad byte */
  qs_cell_result odd;
  make_row(5, &odd);
  snprintf(odd.precision, sizeof odd.precision, "fp\xff" "16");
  CHECK(qs_results_append(f, &odd) == QS_OK);
  qs_cell_result_free(&odd);
  CHECK(qs_results_close(f) == QS_OK);
  CHECK(open_ids() == ids0);

  /* reading it back */
  qs_cell_result *rows = NULL;
  int n = 0;
  qs_run_meta got;
  CHECK_MSG(qs_results_read(path, &rows, &n, &got) == QS_OK, "%s", qs_last_error());
  CHECK(n == 6);
  for (int i = 0; i < 5 && i < n; i++) {
    qs_cell_result want;
    make_row(i, &want);
    CHECK_MSG(compare_rows(&rows[i], &want, i) == 0, "row %d differs", i);
    qs_cell_result_free(&want);
  }
  if (n == 6) CHECK(strcmp(rows[5].precision, "fp?16") == 0);
  if (n >= 2) {
    CHECK(strcmp(rows[0].model, "vit-huge-patch14-2020") == 0);
    CHECK(strlen(rows[1].message) == 510 && (unsigned char)rows[1].message[0] == 0xc3);
    CHECK(isnan(rows[0].energy_mj_per_image) && isnan(rows[0].device_mb));
    CHECK(rows[2].n_samples == 0 && rows[2].samples_ms == NULL);
  }
  check_meta(&got, &m);
  qs_results_free_rows(rows, n);
  qs_run_meta_free(&got);
  CHECK(open_ids() == ids0);

  /* reopen, append, update the metadata */
  f = NULL;
  CHECK_MSG(qs_results_open_append(path, &f) == QS_OK, "%s", qs_last_error());
  for (int i = 6; i < 9 && f; i++) {
    qs_cell_result r;
    make_row(i, &r);
    CHECK(qs_results_append(f, &r) == QS_OK);
    qs_cell_result_free(&r);
  }
  qs_run_meta_free(&m);
  make_meta(&m, "2024-05-01T13:14:15Z");
  CHECK(qs_results_set_meta(f, &m) == QS_OK);
  CHECK(qs_results_close(f) == QS_OK);
  CHECK(qs_results_read(path, &rows, &n, &got) == QS_OK);
  CHECK(n == 9);
  for (int i = 6; i < 9 && i < n; i++) {
    qs_cell_result want;
    make_row(i, &want);
    CHECK_MSG(compare_rows(&rows[i], &want, i) == 0, "row %d differs after reopen", i);
    qs_cell_result_free(&want);
  }
  CHECK(strcmp(got.finished_utc, "2024-05-01T13:14:15Z") == 0);
  check_meta(&got, &m);
  qs_results_free_rows(rows, n);
  qs_run_meta_free(&got);
  qs_run_meta_free(&m);
  /* meta is optional */
  CHECK(qs_results_read(path, &rows, &n, NULL) == QS_OK && n == 9);
  qs_results_free_rows(rows, n);
  CHECK(open_ids() == ids0);

  /* h5dump (if installed) reads the file without qsweep */
  if (system("command -v h5dump >/dev/null 2>&1") == 0) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "h5dump -H '%s' >/dev/null 2>&1", path);
    CHECK_MSG(system(cmd) == 0, "h5dump -H %s failed", path);
    snprintf(cmd, sizeof cmd, "h5dump -d /cells -d /samples/0 '%s' >/dev/null 2>&1", path);
    CHECK_MSG(system(cmd) == 0, "h5dump -d /cells %s failed", path);
  } else {
    printf("h5dump not on PATH: skipping the h5dump check\n");
  }
}

static void test_refusals(void) {
  long ids0 = open_ids();
  qs_results *f = NULL;
  const char *path = tpath("round.h5");
  /* an existing file is not overwritten by accident */
  CHECK(qs_results_create(path, NULL, 0, &f) == QS_EINVAL && f == NULL);
  CHECK_MSG(contains(qs_last_error(), path) && contains(qs_last_error(), "--resume"), "%s",
            qs_last_error());
  int n = -1;
  qs_cell_result *rows = NULL;
  CHECK(qs_results_read(path, &rows, &n, NULL) == QS_OK && n == 9); /* untouched */
  qs_results_free_rows(rows, n);
  CHECK(qs_results_create(path, NULL, 1, &f) == QS_OK);
  CHECK(qs_results_close(f) == QS_OK);
  CHECK(qs_results_read(path, &rows, &n, NULL) == QS_OK && n == 0);
  qs_results_free_rows(rows, n);

  /* not HDF5 */
  const char *junk = tpath("junk.h5");
  FILE *fp = fopen(junk, "wb");
  for (int i = 0; i < 4096; i++) fputc((i * 7919) & 0xff, fp);
  fclose(fp);
  CHECK(qs_results_open_append(junk, &f) == QS_EINVAL && f == NULL);
  CHECK_MSG(contains(qs_last_error(), junk) && contains(qs_last_error(), "not an HDF5 file"),
            "%s", qs_last_error());
  CHECK(qs_results_read(junk, &rows, &n, NULL) == QS_EINVAL && rows == NULL && n == 0);
  CHECK_MSG(contains(qs_last_error(), "not an HDF5 file"), "%s", qs_last_error());
  CHECK_MSG(strchr(qs_last_error(), '\n') == NULL, "one line: %s", qs_last_error());

  /* missing file */
  CHECK(qs_results_read(tpath("absent.h5"), &rows, &n, NULL) == QS_EIO);
  CHECK_MSG(contains(qs_last_error(), "absent.h5") && contains(qs_last_error(), "No such file"),
            "%s", qs_last_error());

  /* HDF5, but not ours */
  const char *foreign = tpath("foreign.h5");
  hid_t fid = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(fid);
  CHECK(qs_results_open_append(foreign, &f) == QS_EINVAL);
  CHECK_MSG(contains(qs_last_error(), foreign) && contains(qs_last_error(), "not a qsweep"), "%s",
            qs_last_error());

  /* a newer schema version */
  const char *newer = tpath("newer.h5");
  CHECK(write_rows(newer, 0, 2, 1) == QS_OK);
  fid = H5Fopen(newer, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(fid, "schema_version", H5P_DEFAULT);
  int v = 99;
  CHECK(H5Awrite(a, H5T_NATIVE_INT, &v) >= 0);
  H5Aclose(a);
  H5Fclose(fid);
  /* edited outside qsweep: refused by the seal before HDF5 reads it ... */
  CHECK(qs_results_read(newer, &rows, &n, NULL) == QS_EINVAL);
  CHECK_MSG(contains(qs_last_error(), newer) && contains(qs_last_error(), "seal"), "%s", qs_last_error());
  /* ... and, re-sealed on purpose, refused for its schema version */
  CHECK(qs_results_seal(newer) == QS_OK);
  CHECK(qs_results_open_append(newer, &f) == QS_EINVAL && f == NULL);
  CHECK_MSG(contains(qs_last_error(), newer) &&
                contains(qs_last_error(), "schema_version 99 is newer than this qsweep (1)"),
            "%s", qs_last_error());
  CHECK(qs_results_read(newer, &rows, &n, NULL) == QS_EINVAL);
  CHECK(contains(qs_last_error(), "schema_version 99 is newer"));
  CHECK(qs_results_create(newer, NULL, 0, &f) == QS_EINVAL); /* still not overwritten */
  CHECK(open_ids() == ids0);
}

/* Rebuild /cells of a qsweep file with one member dropped and/or one added; contiguous,
 * or chunked and extendible as qsweep writes it when g_rewrite_chunked is set. */
static int g_rewrite_chunked;
static int rewrite_cells(const char *path, const char *drop, const char *add) {
  hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t ds = H5Dopen2(fid, "cells", H5P_DEFAULT);
  hid_t ft = H5Dget_type(ds), mt = H5Tget_native_type(ft, H5T_DIR_DEFAULT);
  hid_t sp = H5Dget_space(ds);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  size_t sz = H5Tget_size(mt), nsz = sz + 8;
  char *buf = calloc((size_t)n + 1, sz), *nbuf = calloc((size_t)n + 1, nsz);
  H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  hid_t nt = H5Tcreate(H5T_COMPOUND, nsz);
  int nm = H5Tget_nmembers(mt);
  for (int i = 0; i < nm; i++) {
    char *name = H5Tget_member_name(mt, (unsigned)i);
    hid_t t = H5Tget_member_type(mt, (unsigned)i);
    if (!drop || strcmp(name, drop) != 0) H5Tinsert(nt, name, H5Tget_member_offset(mt, (unsigned)i), t);
    H5Tclose(t);
    H5free_memory(name);
  }
  if (add) H5Tinsert(nt, add, sz, H5T_NATIVE_DOUBLE);
  for (hssize_t r = 0; r < n; r++) {
    memcpy(nbuf + r * nsz, buf + r * sz, sz);
    double x = 42.0;
    memcpy(nbuf + r * nsz + sz, &x, sizeof x);
  }
  H5Dclose(ds);
  H5Ldelete(fid, "cells", H5P_DEFAULT);
  hsize_t dims[1] = {(hsize_t)n};
  hsize_t maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {64};
  hid_t fixed = H5Screate_simple(1, dims, g_rewrite_chunked ? maxdims : NULL); /* contiguous: the reader must not care */
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (g_rewrite_chunked) H5Pset_chunk(dcpl, 1, chunk);
  ds = H5Dcreate2(fid, "cells", nt, fixed, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(fixed);
  herr_t st = H5Dwrite(ds, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, nbuf);
  H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
  free(buf);
  free(nbuf);
  H5Dclose(ds);
  H5Tclose(nt);
  H5Tclose(mt);
  H5Tclose(ft);
  H5Sclose(sp);
  if (H5Fclose(fid) < 0 || st < 0) return -1;
  return qs_results_seal(path) == QS_OK ? 0 : -1; /* an edit on purpose */
}

static void test_schema_checks(void) {
  long ids0 = open_ids();
  qs_cell_result *rows = NULL;
  int n = 0;
  /* an unknown extra member is fine (forward compatible within a version) */
  const char *extra = tpath("extra.h5");
  CHECK(write_rows(extra, 0, 4, 1) == QS_OK);
  CHECK(rewrite_cells(extra, NULL, "future_metric") == 0);
  CHECK_MSG(qs_results_read(extra, &rows, &n, NULL) == QS_OK, "%s", qs_last_error());
  CHECK(n == 4);
  for (int i = 0; i < n; i++) {
    qs_cell_result want;
    make_row(i, &want);
    CHECK(compare_rows(&rows[i], &want, i) == 0);
    qs_cell_result_free(&want);
  }
  qs_results_free_rows(rows, n);

  /* a missing member is named */
  const char *missing = tpath("missing.h5");
  CHECK(write_rows(missing, 0, 3, 1) == QS_OK);
  CHECK(rewrite_cells(missing, "lat_p90_ms", NULL) == 0);
  CHECK(qs_results_read(missing, &rows, &n, NULL) == QS_EINVAL && rows == NULL);
  CHECK_MSG(contains(qs_last_error(), missing) && contains(qs_last_error(), "lat_p90_ms"), "%s",
            qs_last_error());
  qs_results *f = NULL;
  CHECK(qs_results_open_append(missing, &f) == QS_EINVAL && f == NULL);

  /* a missing table is named */
  hid_t fid = H5Fopen(missing, H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(fid, "cells", H5P_DEFAULT);
  H5Fclose(fid);
  CHECK(qs_results_seal(missing) == QS_OK);
  CHECK(qs_results_read(missing, &rows, &n, NULL) == QS_EINVAL);
  CHECK_MSG(contains(qs_last_error(), "/cells") && contains(qs_last_error(), "missing"), "%s",
            qs_last_error());

  /* caps: a (sparse) table of 10,000,001 rows and a samples set over 100,000,000 */
  const char *huge = tpath("huge.h5");
  CHECK(write_rows(huge, 0, 1, 1) == QS_OK);
  fid = H5Fopen(huge, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t ds = H5Dopen2(fid, "samples/0", H5P_DEFAULT);
  H5Dclose(ds);
  H5Ldelete(fid, "samples/0", H5P_DEFAULT);
  hsize_t big[1] = {(hsize_t)QS_RESULTS_MAX_SAMPLES + 1}, chunk[1] = {1024};
  hid_t sp = H5Screate_simple(1, big, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, chunk);
  ds = H5Dcreate2(fid, "samples/0", H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Fclose(fid);
  CHECK(qs_results_seal(huge) == QS_OK);
  CHECK(qs_results_read(huge, &rows, &n, NULL) == QS_EINVAL);
  CHECK_MSG(contains(qs_last_error(), "/samples/0") && contains(qs_last_error(), "100000000"),
            "%s", qs_last_error());
  fid = H5Fopen(huge, H5F_ACC_RDWR, H5P_DEFAULT);
  ds = H5Dopen2(fid, "cells", H5P_DEFAULT);
  hsize_t rows_big[1] = {(hsize_t)QS_RESULTS_MAX_ROWS + 1};
  CHECK(H5Dset_extent(ds, rows_big) >= 0);
  H5Dclose(ds);
  H5Fclose(fid);
  CHECK(qs_results_seal(huge) == QS_OK);
  CHECK(qs_results_read(huge, &rows, &n, NULL) == QS_EINVAL);
  CHECK_MSG(contains(qs_last_error(), "10000000 rows"), "%s", qs_last_error());
  CHECK(open_ids() == ids0);
}

/* act_mb came after schema_version 1 was fixed: a file without it reads (NaN) and takes
 * appended rows (which then lack it too). */
static void test_optional_member(void) {
  long ids0 = open_ids();
  qs_cell_result *rows = NULL;
  int n = 0;
  const char *old = tpath("before-act-mb.h5");
  CHECK(write_rows(old, 0, 3, 1) == QS_OK);
  g_rewrite_chunked = 1;
  CHECK(rewrite_cells(old, "act_mb", NULL) == 0);
  g_rewrite_chunked = 0;
  CHECK_MSG(qs_results_read(old, &rows, &n, NULL) == QS_OK, "%s", qs_last_error());
  CHECK(n == 3);
  for (int i = 0; i < n; i++) {
    qs_cell_result want;
    make_row(i, &want);
    want.act_mb = NAN;
    CHECK(compare_rows(&rows[i], &want, i) == 0);
    qs_cell_result_free(&want);
  }
  qs_results_free_rows(rows, n);
  CHECK_MSG(write_rows(old, 3, 5, 0) == QS_OK, "%s", qs_last_error());
  CHECK_MSG(qs_results_read(old, &rows, &n, NULL) == QS_OK, "%s", qs_last_error());
  CHECK(n == 5);
  for (int i = 0; i < n; i++) CHECK(isnan(rows[i].act_mb) && rows[i].lat_median_ms > 0);
  qs_results_free_rows(rows, n);
  CHECK(open_ids() == ids0);
}

static void make_calibration(qs_calibration *c, int rank) {
  memset(c, 0, sizeof *c);
  c->rank = rank;
  c->device_index = rank % 4;
  snprintf(c->host, sizeof c->host, "node%02d", rank / 4);
  snprintf(c->device, sizeof c->device, "NVIDIA H200 #%d", rank);
  snprintf(c->backend, sizeof c->backend, "cuda");
  snprintf(c->measured_utc, sizeof c->measured_utc, "2025-01-02T03:04:0%dZ", rank % 10);
  static const char *names[] = {"copy_d2d", "gemm_fp32", "gemm_fp16", "gemm_fp8"};
  c->n_entries = 4;
  for (int i = 0; i < 4; i++) {
    qs_calib_entry *e = &c->e[i];
    snprintf(e->name, sizeof e->name, "%s", names[i]);
    snprintf(e->kind, sizeof e->kind, "%s", i ? "gemm" : "bandwidth");
    snprintf(e->precision, sizeof e->precision, "%s", i ? names[i] + 5 : "");
    snprintf(e->status, sizeof e->status, "%s", i == 3 ? "unsupported" : "ok");
    snprintf(e->unit, sizeof e->unit, "%s", i ? "TFLOP/s" : "GB/s");
    e->value = i == 3 ? NAN : 1000.0 * (i + 1) + rank;
    e->best = i == 3 ? NAN : e->value * 1.01;
    e->median_ms = 1.5 + i;
    e->min_ms = 1.25 + i;
    e->m = e->n = e->k = i ? 8192 : 0;
    e->bytes = i ? 3.0 * 8192 * 8192 * 2 : 2.0 * (1 << 30);
    e->warmup = 3;
    e->reps = 10 + i;
    snprintf(e->method, sizeof e->method, "cublasLtMatmul résumé %d", i);
    if (i == 3) snprintf(e->message, sizeof e->message, "compute capability 8.0 < 8.9");
  }
}

static void test_calibration(void) {
  long ids0 = open_ids();
  const char *path = tpath("calib.h5");
  qs_calibration *cals = NULL, want;
  int n = -1;
  CHECK(write_rows(path, 0, 2, 1) == QS_OK);
  CHECK_MSG(qs_results_read_calibration(path, &cals, &n) == QS_OK, "%s", qs_last_error());
  CHECK(n == 0 && cals == NULL); /* a file without calibration */
  qs_results *f = NULL;
  CHECK(qs_results_open_append(path, &f) == QS_OK);
  for (int r = 2; r >= 0; r--) {
    make_calibration(&want, r);
    CHECK_MSG(qs_results_put_calibration(f, &want) == QS_OK, "%s", qs_last_error());
  }
  make_calibration(&want, 1); /* rank 1 again: replaces its group */
  want.e[0].value = 7777.0;
  CHECK(qs_results_put_calibration(f, &want) == QS_OK);
  want.n_entries = QS_CALIB_MAX_ENTRIES + 1;
  CHECK(qs_results_put_calibration(f, &want) == QS_EINVAL);
  CHECK(qs_results_close(f) == QS_OK);
  CHECK_MSG(qs_results_read_calibration(path, &cals, &n) == QS_OK, "%s", qs_last_error());
  CHECK(n == 3);
  for (int r = 0; r < n && r < 3; r++) {
    qs_calibration w;
    make_calibration(&w, r);
    if (r == 1) w.e[0].value = 7777.0;
    const qs_calibration *c = &cals[r];
    CHECK(c->rank == r && c->device_index == w.device_index && c->n_entries == 4);
    CHECK(!strcmp(c->host, w.host) && !strcmp(c->device, w.device) && !strcmp(c->backend, "cuda") &&
          !strcmp(c->measured_utc, w.measured_utc));
    for (int i = 0; i < 4; i++) {
      const qs_calib_entry *a = &c->e[i], *b = &w.e[i];
      CHECK(!strcmp(a->name, b->name) && !strcmp(a->kind, b->kind) && !strcmp(a->precision, b->precision) &&
            !strcmp(a->status, b->status) && !strcmp(a->unit, b->unit) && !strcmp(a->method, b->method) &&
            !strcmp(a->message, b->message));
      CHECK(same_double(a->value, b->value) && same_double(a->best, b->best) && a->median_ms == b->median_ms &&
            a->min_ms == b->min_ms && a->bytes == b->bytes);
      CHECK(a->m == b->m && a->n == b->n && a->k == b->k && a->warmup == b->warmup && a->reps == b->reps);
    }
    CHECK(qs_calib_find(c, "gemm_fp16") == &c->e[2] && qs_calib_find(c, "gemm_int8") == NULL);
  }
  free(cals);
  /* the rows are untouched */
  qs_cell_result *rows = NULL;
  int nr = 0;
  CHECK(qs_results_read(path, &rows, &nr, NULL) == QS_OK && nr == 2);
  qs_results_free_rows(rows, nr);
  CHECK(open_ids() == ids0);
}

static void test_done_keys(void) {
  const char *path = tpath("keys.h5");
  qs_results *f = NULL;
  CHECK(qs_results_create(path, NULL, 1, &f) == QS_OK);
  /* a: ok; b: failed then ok (retried); c: ok then failed (last wins); d: oom */
  const char *plan[][2] = {{"a|fp32|b1|tp1", "ok"},     {"b|fp32|b1|tp1", "failed"},
                           {"c|fp32|b1|tp1", "ok"},     {"d|int8|b8|tp2", "oom"},
                           {"b|fp32|b1|tp1", "ok"},     {"c|fp32|b1|tp1", "failed"}};
  for (size_t i = 0; i < QS_ARRAY_LEN(plan); i++) {
    qs_cell_result r;
    qs_cell_result_init(&r);
    snprintf(r.key, sizeof r.key, "%s", plan[i][0]);
    snprintf(r.status, sizeof r.status, "%s", plan[i][1]);
    CHECK(qs_results_append(f, &r) == QS_OK);
  }
  CHECK(qs_results_close(f) == QS_OK);
  char **keys = NULL;
  int n = 0;
  CHECK(qs_results_done_keys(path, &keys, &n, 1) == QS_OK);
  CHECK(n == 2 && strcmp(keys[0], "a|fp32|b1|tp1") == 0 && strcmp(keys[1], "b|fp32|b1|tp1") == 0);
  qs_results_free_keys(keys, n);
  CHECK(qs_results_done_keys(path, &keys, &n, 0) == QS_OK);
  CHECK(n == 4);
  qs_results_free_keys(keys, n);
  CHECK(qs_results_done_keys(tpath("junk.h5"), &keys, &n, 1) == QS_EINVAL && keys == NULL);
}

/* Several rows in one durable write: all land, in order, with their samples. */
static void test_append_many(void) {
  const char *path = tpath("many.h5");
  qs_results *f = NULL;
  CHECK(qs_results_create(path, NULL, 1, &f) == QS_OK);
  qs_cell_result rows[3];
  double samples[3][4];
  for (int i = 0; i < 3; i++) {
    qs_cell_result_init(&rows[i]);
    snprintf(rows[i].key, sizeof rows[i].key, "m%d|fp16|b1|tp1", i);
    snprintf(rows[i].status, sizeof rows[i].status, "ok");
    for (int j = 0; j < 4; j++) samples[i][j] = 10.0 * i + j;
    rows[i].samples_ms = samples[i];
    rows[i].n_samples = 4;
  }
  CHECK(qs_results_append_many(f, rows, 3) == QS_OK);
  CHECK(qs_results_append_many(f, rows, 0) == QS_OK);
  CHECK(qs_results_close(f) == QS_OK);
  qs_cell_result *got = NULL;
  int n = 0;
  qs_run_meta meta;
  CHECK(qs_results_read(path, &got, &n, &meta) == QS_OK);
  CHECK(n == 3);
  for (int i = 0; i < n && i < 3; i++) {
    CHECK(strcmp(got[i].key, rows[i].key) == 0);
    CHECK(got[i].n_samples == 4 && got[i].samples_ms && got[i].samples_ms[3] == 10.0 * i + 3);
  }
  qs_results_free_rows(got, n);
  qs_run_meta_free(&meta);
}

/* ---- durability: SIGKILL a writer in the middle of its appends ------------- */

static int read_full(int fd, void *p, size_t n) {
  char *c = p;
  while (n) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static void kill_round(int round, int n_before_kill, long delay_us) {
  char name[64];
  snprintf(name, sizeof name, "kill%d.h5", round);
  const char *path = tpath(name);
  int fds[2];
  if (pipe(fds) != 0) {
    CHECK(0);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) { /* the writer: create, then append until killed */
    close(fds[0]);
    qs_results *f = NULL;
    if (qs_results_create(path, NULL, 1, &f) != QS_OK) _exit(2);
    for (int i = 0; i < 100000; i++) {
      qs_cell_result r;
      make_row(i, &r);
      if (qs_results_append(f, &r) != QS_OK) _exit(3);
      qs_cell_result_free(&r);
      int32_t count = i + 1;
      if (write(fds[1], &count, sizeof count) != sizeof count) _exit(4);
    }
    _exit(5);
  }
  close(fds[1]);
  int32_t count = 0;
  while (count < n_before_kill)
    if (read_full(fds[0], &count, sizeof count) != 0) break;
  if (delay_us > 0) {
    struct timespec ts = {0, delay_us * 1000};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  /* appends acknowledged before the kill (the pipe may hold a few more) */
  int32_t more;
  while (read_full(fds[0], &more, sizeof more) == 0) count = more;
  close(fds[0]);
  CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer ended early (status %d)",
            status);
  qs_cell_result *rows = NULL;
  int n = 0;
  int rc = qs_results_read(path, &rows, &n, NULL);
  CHECK_MSG(rc == QS_OK, "round %d: %s", round, qs_last_error());
  CHECK_MSG(n >= count, "round %d: %d rows after %d acknowledged appends", round, n, count);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    qs_cell_result want;
    make_row(i, &want);
    bad += compare_rows(&rows[i], &want, i) != 0;
    qs_cell_result_free(&want);
  }
  CHECK_MSG(bad == 0, "round %d: %d damaged rows", round, bad);
  qs_results_free_rows(rows, n);
  /* and it takes more rows (what --resume does) */
  CHECK_MSG(write_rows(path, n, n + 2, 0) == QS_OK, "round %d: %s", round, qs_last_error());
  CHECK(qs_results_read(path, &rows, &n, NULL) == QS_OK);
  qs_results_free_rows(rows, n);
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)pid);
  unlink(tmp); /* the writer may have died between its write and its rename */
}

static void test_durability(void) {
  static const long delays_us[] = {0, 50, 200, 700, 1500, 3000, 0, 100, 400, 1000, 2000, 5000};
  for (int round = 0; round < (int)QS_ARRAY_LEN(delays_us); round++)
    kill_round(round, 5 + round, delays_us[round]);
}

/* Cost of one durable append on this machine (informational). */
static void report_append_cost(void) {
  const char *path = tpath("cost.h5");
  qs_results *f = NULL;
  if (qs_results_create(path, NULL, 1, &f) != QS_OK) return;
  double t0 = qs_now_s(), t_last = 0;
  for (int i = 0; i < 64; i++) {
    qs_cell_result r;
    make_row(i, &r);
    free(r.samples_ms);
    r.n_samples = 1000;
    r.samples_ms = calloc(1000, sizeof(double));
    double t = qs_now_s();
    qs_results_append(f, &r);
    t_last = qs_now_s() - t;
    qs_cell_result_free(&r);
  }
  double dt = qs_now_s() - t0;
  qs_results_close(f);
  struct stat st;
  stat(path, &st);
  printf("append cost: %.2f ms per row over 64 rows (last %.2f ms, file %.0f kB)\n",
         dt / 64 * 1e3, t_last * 1e3, st.st_size / 1e3);
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/qs_results_XXXXXX", base && base[0] ? base : "/tmp");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_init_and_key();
  test_round_trip();
  test_refusals();
  test_schema_checks();
  test_optional_member();
  test_calibration();
  test_done_keys();
  test_append_many();
  test_durability();
  report_append_cost();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (qs_t_fail == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return qs_test_finish("test_results");
}
