/* safetensors.h - read and write HF safetensors checkpoints.
 *
 * Format: bytes 0-7 hold the header length N (little-endian u64), then N bytes
 * of UTF-8 JSON mapping tensor names to {"dtype", "shape", "data_offsets"} plus
 * an optional "__metadata__" object of strings, then the data section. Offsets
 * are relative to the data section (byte 8 + N), end exclusive.
 *
 * Checkpoints are untrusted input: qs_st_open checks every rule the reference
 * implementation checks (header cap, exact byte lengths, no overlaps, no holes,
 * no duplicate names) before anything sized from the file is allocated or read,
 * and reports the first violation as one line "PATH: FIELD: what is wrong",
 * where FIELD is the tensor name, "__metadata__" or "header". */
#ifndef QS_SAFETENSORS_H
#define QS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Order is internal to qsweep; files carry the names ("F32", "BF16", ...). */
typedef enum {
  QS_DT_F64,
  QS_DT_F32,
  QS_DT_F16,
  QS_DT_BF16,
  QS_DT_I64,
  QS_DT_I32,
  QS_DT_I16,
  QS_DT_I8,
  QS_DT_U8,
  QS_DT_BOOL,
  QS_DT_F8_E4M3,
  QS_DT_F8_E5M2
} qs_dtype;

#define QS_ST_MAX_DIMS 8
/* The reference reader's cap; larger headers are rejected before allocation. */
#define QS_ST_MAX_HEADER_BYTES 100000000ull
#define QS_ST_MAX_TENSORS 1000000
#define QS_ST_MAX_NAME_BYTES 1024

typedef struct {
  char *name;
  qs_dtype dtype;
  int ndim;                       /* 0 for a scalar */
  int64_t shape[QS_ST_MAX_DIMS];
  uint64_t begin, end;            /* byte range relative to data_start, end exclusive */
} qs_st_tensor;

/* An open checkpoint. tensors[] is sorted by name (the header's key order carries
 * no meaning), which makes qs_st_find a binary search. The FILE stays open for
 * qs_st_read_f32; reads seek it, so one qs_st_file must not be read from two
 * threads at once (open the file once per thread instead). */
typedef struct {
  char path[1024];
  FILE *fp;
  uint64_t file_size, header_len, data_start; /* data_start = 8 + header_len */
  int n;
  qs_st_tensor *tensors;
  char *metadata_json; /* "__metadata__" re-printed as compact JSON, or NULL if absent */
} qs_st_file;

/* Open and validate. On failure returns QS_EINVAL (bad file) or QS_EIO (cannot
 * open/read), records the message, and leaves *f zeroed (qs_st_close is harmless). */
int qs_st_open(const char *path, qs_st_file *f);
/* Index of the tensor called `name`, or -1. */
int qs_st_find(const qs_st_file *f, const char *name);
/* Product of the shape (1 for a scalar); validated not to overflow at open. */
int64_t qs_st_numel(const qs_st_tensor *t);
/* Bytes per element (0 for an out-of-range value) and the file's name of a dtype. */
size_t qs_dtype_size(qs_dtype d);
const char *qs_dtype_name(qs_dtype d);
/* Parse a file's dtype name ("F32", ...). Returns 0, or -1 if unknown. */
int qs_dtype_from_name(const char *s, qs_dtype *d);
/* Read tensor `idx` into dst as float32, converting F64/F16/BF16 (F16 subnormals
 * exact, F64 rounded to nearest). dst_numel must equal the tensor's numel. Other
 * dtypes are QS_EINVAL naming the tensor and its dtype; a short read is QS_EIO. */
int qs_st_read_f32(const qs_st_file *f, int idx, float *dst, int64_t dst_numel);
/* Close the file and free everything; leaves *f zeroed. */
void qs_st_close(qs_st_file *f);

/* Writer input. dtype selects the stored type: NULL or "F32" store the floats as
 * they are; "F16" or "BF16" round them to nearest even. (A string, not a qs_dtype,
 * so that a zero-initialised field means F32: the enum's zero is F64.) */
typedef struct {
  const char *name;
  int ndim;
  int64_t shape[QS_ST_MAX_DIMS];
  const float *data; /* numel values, row-major; may be NULL when numel is 0 */
  const char *dtype;
} qs_st_out_tensor;

/* Write n tensors, laid out contiguously in the order given, with "__metadata__"
 * {"format": "pt"} plus the pairs in meta_kv (key, value, ..., NULL; may be NULL;
 * a "format" pair replaces the default). The header is padded with spaces to a
 * multiple of 8 bytes, as HF's writer does. Data is streamed (multi-GB is fine)
 * into PATH.tmp.PID, which is renamed over PATH only once complete, so a failed
 * write never leaves a truncated checkpoint behind. */
int qs_st_write(const char *path, const qs_st_out_tensor *t, int n,
                const char *const *meta_kv);

#endif
