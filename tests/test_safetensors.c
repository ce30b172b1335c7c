/* test_safetensors.c - writer/reader round trip, F16/BF16/F64 conversion, and
 * one test per kind of bad file: each must fail with a single-line message
 * "PATH: FIELD: ..." naming the file and the offending field. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"
#include "safetensors.h"

/* ---- temp files ---------------------------------------------------------- */

static char g_dir[512];
static char g_files[128][600];
static int g_nfiles;

/* Path of a file in the temp directory, remembered for cleanup. */
static const char *tpath(const char *name) {
  if (g_nfiles == (int)QS_ARRAY_LEN(g_files)) {
    fprintf(stderr, "too many temp files\n");
    exit(1);
  }
  char *p = g_files[g_nfiles++];
  snprintf(p, sizeof g_files[0], "%s/%s", g_dir, name);
  return p;
}

static void cleanup(void) {
  for (int i = 0; i < g_nfiles; i++) unlink(g_files[i]);
  rmdir(g_dir);
}

static void put_u64le(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Write an 8-byte length (hlen, which may lie), hdr_bytes of hdr, then data. */
static void write_raw_n(const char *path, uint64_t hlen, const char *hdr, size_t hdr_bytes,
                        const void *data, size_t data_len) {
  FILE *fp = fopen(path, "wb");
  if (!fp) {
    perror(path);
    exit(1);
  }
  unsigned char len[8];
  put_u64le(len, hlen);
  int ok = fwrite(len, 1, 8, fp) == 8 && fwrite(hdr, 1, hdr_bytes, fp) == hdr_bytes &&
           (data_len == 0 || fwrite(data, 1, data_len, fp) == data_len);
  if (fclose(fp) != 0 || !ok) {
    fprintf(stderr, "%s: write failed\n", path);
    exit(1);
  }
}

/* A file with an honest header length. */
static const char *raw_file(const char *name, const char *hdr, const void *data, size_t data_len) {
  const char *p = tpath(name);
  write_raw_n(p, strlen(hdr), hdr, strlen(hdr), data, data_len);
  return p;
}

/* Copy the first `keep` bytes of src into a new file. */
static const char *truncated_copy(const char *src, const char *name, long keep) {
  const char *p = tpath(name);
  FILE *in = fopen(src, "rb"), *out = fopen(p, "wb");
  if (!in || !out) {
    perror(name);
    exit(1);
  }
  for (long i = 0; i < keep; i++) {
    int c = fgetc(in);
    if (c == EOF) break;
    fputc(c, out);
  }
  fclose(in);
  fclose(out);
  return p;
}

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* ---- bad-input check ----------------------------------------------------- */

/* qs_st_open must fail with `code`, leave the struct empty, and record one line
 * starting "PATH: FIELD" and containing `what`. */
static void expect_bad_code(const char *path, const char *field, const char *what, int code,
                            int line) {
  qs_st_file f;
  qs_clear_error();
  int rc = qs_st_open(path, &f);
  const char *msg = qs_last_error();
  char prefix[1400];
  snprintf(prefix, sizeof prefix, "%s: %s", path, field);
  CHECK_MSG(rc == code, "line %d: rc %d (%s), expected %d", line, rc, msg, code);
  CHECK_MSG(f.fp == NULL && f.tensors == NULL && f.n == 0, "line %d: struct not cleared", line);
  CHECK_MSG(strncmp(msg, prefix, strlen(prefix)) == 0, "line %d: \"%s\" does not start \"%s\"",
            line, msg, prefix);
  CHECK_MSG(strstr(msg, what) != NULL, "line %d: \"%s\" lacks \"%s\"", line, msg, what);
  CHECK_MSG(strchr(msg, '\n') == NULL && strchr(msg, '\r') == NULL, "line %d: multi-line \"%s\"",
            line, msg);
  qs_st_close(&f); /* harmless on a failed open */
}
#define EXPECT_BAD(path, field, what) expect_bad_code(path, field, what, QS_EINVAL, __LINE__)

/* ---- round trips ---------------------------------------------------------- */

static void test_roundtrip_f32(void) {
  float w[6] = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f};
  float b[3] = {65504.0f, 1e30f, -7.0f};
  float s = 42.0f;
  qs_st_out_tensor t[] = {
      {.name = "b.weight", .ndim = 2, .shape = {2, 3}, .data = w},
      {.name = "a.bias", .ndim = 1, .shape = {3}, .data = b},
      {.name = "scalar", .ndim = 0, .data = &s},
      {.name = "empty", .ndim = 2, .shape = {0, 4}, .data = NULL},
      {.name = "quote\"back\\slash", .ndim = 1, .shape = {1}, .data = &s},
  };
  const char *meta[] = {"model", "vit-test", "note", "say \"hi\"", NULL};
  const char *path = tpath("roundtrip.safetensors");
  int rc = qs_st_write(path, t, (int)QS_ARRAY_LEN(t), meta);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());

  qs_st_file f;
  rc = qs_st_open(path, &f);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return;
  CHECK(f.n == 5);
  CHECK(f.header_len % 8 == 0 && f.data_start == 8 + f.header_len);
  CHECK(f.file_size == f.data_start + (6 + 3 + 1 + 0 + 1) * 4);
  for (int i = 1; i < f.n; i++) CHECK(strcmp(f.tensors[i - 1].name, f.tensors[i].name) < 0);
  CHECK(f.metadata_json && strstr(f.metadata_json, "\"format\":\"pt\""));
  CHECK(f.metadata_json && strstr(f.metadata_json, "\"model\":\"vit-test\""));
  CHECK(f.metadata_json && strstr(f.metadata_json, "say \\\"hi\\\""));
  CHECK(qs_st_find(&f, "missing") == -1);

  int iw = qs_st_find(&f, "b.weight"), ib = qs_st_find(&f, "a.bias");
  int is = qs_st_find(&f, "scalar"), ie = qs_st_find(&f, "empty");
  int iq = qs_st_find(&f, "quote\"back\\slash");
  CHECK(iw >= 0 && ib >= 0 && is >= 0 && ie >= 0 && iq >= 0);
  if (iw < 0 || ib < 0 || is < 0 || ie < 0 || iq < 0) goto done;
  /* laid out contiguously in the order given */
  CHECK(f.tensors[iw].begin == 0 && f.tensors[iw].end == 24);
  CHECK(f.tensors[ib].begin == 24 && f.tensors[ib].end == 36);
  CHECK(f.tensors[is].begin == 36 && f.tensors[ie].begin == 40 && f.tensors[ie].end == 40);
  CHECK(f.tensors[iw].dtype == QS_DT_F32 && f.tensors[iw].ndim == 2);
  CHECK(f.tensors[iw].shape[0] == 2 && f.tensors[iw].shape[1] == 3);
  CHECK(f.tensors[is].ndim == 0 && qs_st_numel(&f.tensors[is]) == 1);
  CHECK(qs_st_numel(&f.tensors[ie]) == 0);

  float rw[6], rb[3], rs, rq;
  CHECK(qs_st_read_f32(&f, iw, rw, 6) == QS_OK && memcmp(rw, w, sizeof w) == 0);
  CHECK(qs_st_read_f32(&f, ib, rb, 3) == QS_OK && memcmp(rb, b, sizeof b) == 0);
  CHECK(qs_st_read_f32(&f, is, &rs, 1) == QS_OK && rs == s);
  CHECK(qs_st_read_f32(&f, iq, &rq, 1) == QS_OK && rq == s);
  CHECK(qs_st_read_f32(&f, ie, NULL, 0) == QS_OK);
  /* reads are independent of order */
  CHECK(qs_st_read_f32(&f, iw, rw, 6) == QS_OK && memcmp(rw, w, sizeof w) == 0);

  /* destination size must match */
  qs_clear_error();
  CHECK(qs_st_read_f32(&f, iw, rw, 5) == QS_EINVAL);
  CHECK(strstr(qs_last_error(), "b.weight") && strstr(qs_last_error(), path));
  CHECK(qs_st_read_f32(&f, f.n, rw, 6) == QS_EINVAL);
  CHECK(qs_st_read_f32(&f, -1, rw, 6) == QS_EINVAL);
done:
  qs_st_close(&f);
  CHECK(f.fp == NULL && f.tensors == NULL && f.n == 0);
}

static void test_empty_files(void) {
  const char *p = tpath("none.safetensors");
  CHECK(qs_st_write(p, NULL, 0, NULL) == QS_OK);
  qs_st_file f;
  CHECK_MSG(qs_st_open(p, &f) == QS_OK, "%s", qs_last_error());
  CHECK(f.n == 0 && f.metadata_json && strcmp(f.metadata_json, "{\"format\":\"pt\"}") == 0);
  qs_st_close(&f);

  /* minimal hand-made file: no metadata, no tensors, header not padded */
  p = raw_file("braces.safetensors", "{}", NULL, 0);
  CHECK_MSG(qs_st_open(p, &f) == QS_OK, "%s", qs_last_error());
  CHECK(f.n == 0 && f.metadata_json == NULL);
  qs_st_close(&f);

  /* caller's "format" replaces the default rather than duplicating it */
  const char *meta[] = {"format", "np", NULL};
  p = tpath("format.safetensors");
  CHECK(qs_st_write(p, NULL, 0, meta) == QS_OK);
  CHECK_MSG(qs_st_open(p, &f) == QS_OK, "%s", qs_last_error());
  CHECK(f.metadata_json && strcmp(f.metadata_json, "{\"format\":\"np\"}") == 0);
  qs_st_close(&f);
}

static void test_half_conversions(void) {
  /* F16: 1.0, -2.5, 65504 (max), 2^-24 (min subnormal), 1023*2^-24 (max subnormal), -0, inf */
  const uint16_t h[7] = {0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x8000, 0x7c00};
  const float h_want[7] = {1.0f, -2.5f, 65504.0f, 5.9604644775390625e-8f,
                           6.09755516052246094e-5f, -0.0f, INFINITY};
  /* BF16: 1.0, -2.5, largest finite, 2^-133 (min subnormal) */
  const uint16_t bf[4] = {0x3f80, 0xc020, 0x7f7f, 0x0001};
  const float bf_want[4] = {1.0f, -2.5f, 3.38953139e38f, 9.18354962e-41f};
  const double d[3] = {1.0, -2.5, 0.1};
  const int8_t i8[2] = {-1, 7};

  unsigned char data[14 + 8 + 24 + 2 + 1];
  size_t o = 0;
  for (int i = 0; i < 7; i++) data[o++] = (unsigned char)(h[i] & 0xff), data[o++] = (unsigned char)(h[i] >> 8);
  for (int i = 0; i < 4; i++) data[o++] = (unsigned char)(bf[i] & 0xff), data[o++] = (unsigned char)(bf[i] >> 8);
  memcpy(data + o, d, sizeof d), o += sizeof d;
  memcpy(data + o, i8, sizeof i8), o += sizeof i8;
  data[o++] = 0;
  /* key order deliberately not offset order; header length 297-ish, so data is unaligned */
  const char *hdr =
      "{\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[46,48]},"
      "\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]},"
      "\"__metadata__\":{\"k\":\"v\"},"
      "\"flag\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[48,49]},"
      "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[14,22]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[3,1],\"data_offsets\":[22,46]}}";
  const char *path = raw_file("halves.safetensors", hdr, data, o);
  qs_st_file f;
  int rc = qs_st_open(path, &f);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc != QS_OK) return;
  CHECK(f.n == 5);
  int ih = qs_st_find(&f, "h"), ib = qs_st_find(&f, "bf"), id = qs_st_find(&f, "d");
  int ii = qs_st_find(&f, "i8");
  CHECK(ih >= 0 && ib >= 0 && id >= 0 && ii >= 0);
  if (ih < 0 || ib < 0 || id < 0 || ii < 0) goto done;
  CHECK(f.tensors[ih].dtype == QS_DT_F16 && f.tensors[ib].dtype == QS_DT_BF16);
  CHECK(f.tensors[ii].dtype == QS_DT_I8 && qs_dtype_size(QS_DT_I8) == 1);

  float out[7];
  CHECK(qs_st_read_f32(&f, ih, out, 7) == QS_OK);
  for (int i = 0; i < 7; i++)
    CHECK_MSG(memcmp(&out[i], &h_want[i], 4) == 0, "f16[%d] = %.9g, want %.9g", i, out[i], h_want[i]);
  CHECK(qs_st_read_f32(&f, ib, out, 4) == QS_OK);
  for (int i = 0; i < 4; i++)
    CHECK_MSG(out[i] == bf_want[i], "bf16[%d] = %.9g, want %.9g", i, out[i], bf_want[i]);
  CHECK(qs_st_read_f32(&f, id, out, 3) == QS_OK);
  CHECK(out[0] == 1.0f && out[1] == -2.5f && out[2] == 0.1f);

  /* integer dtypes are not silently converted */
  qs_clear_error();
  CHECK(qs_st_read_f32(&f, ii, out, 2) == QS_EINVAL);
  const char *msg = qs_last_error();
  CHECK_MSG(strstr(msg, path) && strstr(msg, ": i8: ") && strstr(msg, "I8"), "%s", msg);
done:
  qs_st_close(&f);
}

/* The writer's F16/BF16 options round to nearest even; large enough to cross
 * the conversion buffer in both writer and reader. */
static void test_write_half(void) {
  enum { N = 300007 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  if (!x || !y) exit(1);
  for (int i = 0; i < N; i++) x[i] = (float)((i % 2001) - 1000) * 0.0137f + (float)i * 1e-7f;
  qs_st_out_tensor t[] = {
      {.name = "h", .ndim = 2, .shape = {N, 1}, .data = x, .dtype = "F16"},
      {.name = "b", .ndim = 1, .shape = {N}, .data = x, .dtype = "BF16"},
      {.name = "f", .ndim = 1, .shape = {N}, .data = x, .dtype = "F32"},
  };
  const char *path = tpath("half_writer.safetensors");
  CHECK_MSG(qs_st_write(path, t, 3, NULL) == QS_OK, "%s", qs_last_error());
  qs_st_file f;
  int rc = qs_st_open(path, &f);
  CHECK_MSG(rc == QS_OK, "%s", qs_last_error());
  if (rc == QS_OK) {
    int ih = qs_st_find(&f, "h"), ib = qs_st_find(&f, "b"), iF = qs_st_find(&f, "f");
    CHECK(f.tensors[ih].dtype == QS_DT_F16 && f.tensors[ib].dtype == QS_DT_BF16);
    int bad = 0;
    CHECK(qs_st_read_f32(&f, ih, y, N) == QS_OK);
    for (int i = 0; i < N; i++) bad += y[i] != qs_round_half(x[i]);
    CHECK(qs_st_read_f32(&f, ib, y, N) == QS_OK);
    for (int i = 0; i < N; i++) bad += y[i] != qs_bf16_to_float(qs_float_to_bf16(x[i]));
    CHECK(qs_st_read_f32(&f, iF, y, N) == QS_OK);
    bad += memcmp(x, y, N * sizeof *x) != 0;
    CHECK_MSG(bad == 0, "%d mismatches", bad);
    qs_st_close(&f);
  }
  free(x);
  free(y);
}

static void test_writer_rejects(void) {
  float v[2] = {1, 2};
  const char *path = tpath("never.safetensors");
  qs_st_out_tensor dup[] = {{.name = "a", .ndim = 1, .shape = {2}, .data = v},
                            {.name = "a", .ndim = 1, .shape = {2}, .data = v}};
  CHECK(qs_st_write(path, dup, 2, NULL) == QS_EINVAL && strstr(qs_last_error(), "duplicate"));
  qs_st_out_tensor meta_name[] = {{.name = "__metadata__", .ndim = 1, .shape = {2}, .data = v}};
  CHECK(qs_st_write(path, meta_name, 1, NULL) == QS_EINVAL);
  qs_st_out_tensor neg[] = {{.name = "a", .ndim = 1, .shape = {-2}, .data = v}};
  CHECK(qs_st_write(path, neg, 1, NULL) == QS_EINVAL);
  qs_st_out_tensor dims[] = {{.name = "a", .ndim = 9, .data = v}};
  CHECK(qs_st_write(path, dims, 1, NULL) == QS_EINVAL);
  qs_st_out_tensor nodata[] = {{.name = "a", .ndim = 1, .shape = {2}, .data = NULL}};
  CHECK(qs_st_write(path, nodata, 1, NULL) == QS_EINVAL);
  qs_st_out_tensor dt[] = {{.name = "a", .ndim = 1, .shape = {2}, .data = v, .dtype = "I8"}};
  CHECK(qs_st_write(path, dt, 1, NULL) == QS_EINVAL && strstr(qs_last_error(), "I8"));
  qs_st_out_tensor ok[] = {{.name = "a", .ndim = 1, .shape = {2}, .data = v}};
  const char *odd[] = {"key", NULL};
  CHECK(qs_st_write(path, ok, 1, odd) == QS_EINVAL);
  const char *dupmeta[] = {"k", "1", "k", "2", NULL};
  CHECK(qs_st_write(path, ok, 1, dupmeta) == QS_EINVAL);
  const char *badutf8[] = {"k", "\xff", NULL};
  CHECK(qs_st_write(path, ok, 1, badutf8) == QS_EINVAL);
  CHECK(file_size(path) == -1); /* nothing written */

  char nodir[700];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.safetensors", g_dir);
  qs_clear_error();
  CHECK(qs_st_write(nodir, ok, 1, NULL) == QS_EIO);
  CHECK(strstr(qs_last_error(), "no/such/dir") != NULL);
}

/* ---- bad files ------------------------------------------------------------ */

#define TENSOR(name, dt, shape, b, e) \
  "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_bad_files(void) {
  static const unsigned char zeros[64];
  char hdr[4096];
  const char *p;

  /* file-level framing */
  p = raw_file("empty.st", "", NULL, 0); /* 8 bytes: length 0 */
  EXPECT_BAD(p, "header", "header length is 0");
  p = tpath("short.st");
  write_raw_n(p, 0, "", 0, NULL, 0);
  truncated_copy(p, "short5.st", 5);
  EXPECT_BAD(g_files[g_nfiles - 1], "header", "shorter than the 8-byte");
  p = truncated_copy(p, "zero.st", 0);
  EXPECT_BAD(p, "header", "0 bytes");
  p = tpath("past_eof.st");
  write_raw_n(p, 5000, "{}", 2, NULL, 0);
  EXPECT_BAD(p, "header", "runs past the end of the file");
  p = tpath("huge_hlen.st");
  write_raw_n(p, 100000001, "{}", 2, NULL, 0);
  EXPECT_BAD(p, "header", "cap of 100000000 bytes");
  p = tpath("max_hlen.st");
  write_raw_n(p, UINT64_MAX, "{}", 2, NULL, 0);
  EXPECT_BAD(p, "header", "cap of 100000000 bytes");

  /* truncations of a good file */
  float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  qs_st_out_tensor t[] = {{.name = "first", .ndim = 1, .shape = {4}, .data = v},
                          {.name = "second", .ndim = 2, .shape = {2, 2}, .data = v + 4}};
  const char *good = tpath("good.st");
  CHECK(qs_st_write(good, t, 2, NULL) == QS_OK);
  long size = file_size(good);
  p = truncated_copy(good, "cut_data.st", size - 3);
  EXPECT_BAD(p, "second", "past the end of the data section");
  p = truncated_copy(good, "cut_header.st", 20);
  EXPECT_BAD(p, "header", "runs past the end of the file");
  p = truncated_copy(good, "cut_length.st", 6);
  EXPECT_BAD(p, "header", "shorter than the 8-byte");

  /* offsets */
  snprintf(hdr, sizeof hdr, "{%s,%s}", TENSOR("a", "F32", "[2]", 0, 8), TENSOR("b", "F32", "[2]", 4, 12));
  p = raw_file("overlap.st", hdr, zeros, 12);
  EXPECT_BAD(p, "b", "overlap tensor \"a\"");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[2]", 8, 16));
  p = raw_file("out_of_range.st", hdr, zeros, 8);
  EXPECT_BAD(p, "a", "past the end of the data section");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[3]", 0, 8));
  p = raw_file("bad_len.st", hdr, zeros, 8);
  EXPECT_BAD(p, "a", "span 8 bytes but F32 x [3] needs 3 x 4");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F16", "[2,2]", 0, 4));
  p = raw_file("bad_len16.st", hdr, zeros, 4);
  EXPECT_BAD(p, "a", "needs 4 x 2");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[0]", 8, 4));
  p = raw_file("begin_after_end.st", hdr, zeros, 8);
  EXPECT_BAD(p, "a", "begin 8 is after end 4");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[1]", -4, 0));
  p = raw_file("neg_offset.st", hdr, zeros, 4);
  EXPECT_BAD(p, "a", "data_offsets is not two non-negative integers");
  p = raw_file("three_offsets.st",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", zeros, 4);
  EXPECT_BAD(p, "a", "data_offsets is not two non-negative integers");
  snprintf(hdr, sizeof hdr, "{%s,%s}", TENSOR("a", "F32", "[1]", 0, 4), TENSOR("b", "F32", "[1]", 8, 12));
  p = raw_file("gap.st", hdr, zeros, 12);
  EXPECT_BAD(p, "b", "data section has a gap");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[1]", 4, 8));
  p = raw_file("gap_front.st", hdr, zeros, 8);
  EXPECT_BAD(p, "a", "data section has a gap");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[1]", 0, 4));
  p = raw_file("trailing.st", hdr, zeros, 8);
  EXPECT_BAD(p, "header", "data section has trailing bytes");

  /* dtype and shape */
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F33", "[1]", 0, 4));
  p = raw_file("unknown_dtype.st", hdr, zeros, 4);
  EXPECT_BAD(p, "a", "unknown dtype \"F33\"");
  p = raw_file("dtype_number.st", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
  EXPECT_BAD(p, "a", "dtype is not a string");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[-1]", 0, 4));
  p = raw_file("neg_shape.st", hdr, zeros, 4);
  EXPECT_BAD(p, "a", "shape[0] is not a non-negative integer");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[2,1.5]", 0, 12));
  p = raw_file("frac_shape.st", hdr, zeros, 12);
  EXPECT_BAD(p, "a", "shape[1] is not a non-negative integer");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "3", 0, 12));
  p = raw_file("shape_scalar.st", hdr, zeros, 12);
  EXPECT_BAD(p, "a", "shape is not an array");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4));
  p = raw_file("nine_dims.st", hdr, zeros, 4);
  EXPECT_BAD(p, "a", "more than 8 dims");
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a", "U8", "[4294967296,4294967296,0]", 0, 0));
  p = raw_file("numel_overflow.st", hdr, NULL, 0);
  EXPECT_BAD(p, "a", "overflows 64 bits");

  /* entry structure */
  p = raw_file("entry_array.st", "{\"a\":[1,2]}", NULL, 0);
  EXPECT_BAD(p, "a", "not a JSON object");
  p = raw_file("no_dtype.st", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
  EXPECT_BAD(p, "a", "missing \"dtype\"");
  p = raw_file("no_shape.st", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", zeros, 4);
  EXPECT_BAD(p, "a", "missing \"shape\"");
  p = raw_file("no_offsets.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", zeros, 4);
  EXPECT_BAD(p, "a", "missing \"data_offsets\"");
  p = raw_file("dup_key.st",
               "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               zeros, 4);
  EXPECT_BAD(p, "a", "duplicate key \"dtype\"");
  snprintf(hdr, sizeof hdr, "{%s,%s}", TENSOR("a", "F32", "[1]", 0, 4), TENSOR("a", "F32", "[1]", 4, 8));
  p = raw_file("dup_name.st", hdr, zeros, 8);
  EXPECT_BAD(p, "a", "duplicate tensor name");
  {
    char name[1100];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
    p = raw_file("long_name.st", hdr, zeros, 4);
    name[100] = '\0'; /* the message cuts long names */
    EXPECT_BAD(p, name, "over the cap of 1024");
  }
  /* a name with an escaped newline must not split the message */
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("line\\nbreak", "F99", "[1]", 0, 4));
  p = raw_file("newline_name.st", hdr, zeros, 4);
  EXPECT_BAD(p, "line?break", "unknown dtype");

  /* "a\u0000b" must not turn into a tensor called "a" */
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a\\u0000b", "F32", "[1]", 0, 4));
  p = raw_file("escaped_nul.st", hdr, zeros, 4);
  EXPECT_BAD(p, "header", "\\u0000 escape");
  /* an escaped backslash before "u0000" is not an escape of NUL */
  snprintf(hdr, sizeof hdr, "{%s}", TENSOR("a\\\\u0000", "F32", "[1]", 0, 4));
  p = raw_file("backslash_u.st", hdr, zeros, 4);
  {
    qs_st_file f;
    CHECK_MSG(qs_st_open(p, &f) == QS_OK, "%s", qs_last_error());
    CHECK(f.n == 1 && qs_st_find(&f, "a\\u0000") == 0);
    qs_st_close(&f);
  }

  /* header syntax */
  p = raw_file("malformed.st", "{\"a\":{\"dtype\":\"F32\",", zeros, 4);
  EXPECT_BAD(p, "header", "not valid JSON");
  p = raw_file("trailing_text.st", "{}   x", NULL, 0);
  EXPECT_BAD(p, "header", "text after the JSON object");
  p = raw_file("not_object.st", "[1,2]  ", NULL, 0);
  EXPECT_BAD(p, "header", "not a JSON object");
  p = raw_file("bad_utf8.st", "{\"a\xc3\x28\":{}}", NULL, 0);
  EXPECT_BAD(p, "header", "not valid UTF-8");
  p = raw_file("overlong_utf8.st", "{\"\xc0\xaf\":{}}", NULL, 0);
  EXPECT_BAD(p, "header", "not valid UTF-8");
  p = tpath("nul.st");
  write_raw_n(p, 4, "{}\0 ", 4, NULL, 0);
  EXPECT_BAD(p, "header", "NUL byte");

  /* metadata */
  snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3},%s}",
           TENSOR("a", "F32", "[1]", 0, 4));
  p = raw_file("meta_number.st", hdr, zeros, 4);
  EXPECT_BAD(p, "__metadata__", "value of key \"epoch\" is not a string");
  p = raw_file("meta_array.st", "{\"__metadata__\":[\"pt\"]}", NULL, 0);
  EXPECT_BAD(p, "__metadata__", "is not a JSON object");
  p = raw_file("meta_twice.st", "{\"__metadata__\":{},\"__metadata__\":{}}", NULL, 0);
  EXPECT_BAD(p, "__metadata__", "duplicate");
  p = raw_file("meta_dup_key.st", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", NULL, 0);
  EXPECT_BAD(p, "__metadata__", "duplicate key \"k\"");

  /* not a file we can use */
  expect_bad_code(g_dir, "header", "not a regular file", QS_EINVAL, __LINE__);
  p = tpath("does_not_exist.st");
  expect_bad_code(p, "header", "cannot open", QS_EIO, __LINE__);
}

int main(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/qs_st_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_roundtrip_f32();
  test_empty_files();
  test_half_conversions();
  test_write_half();
  test_writer_rejects();
  test_bad_files();
  cleanup();
  return qs_test_finish("test_safetensors");
}
