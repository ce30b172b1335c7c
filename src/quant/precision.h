/* precision.h - the precisions a cell can run in, and their options. */
#ifndef QS_PRECISION_H
#define QS_PRECISION_H

#include <stdint.h>

typedef enum {
  QS_PREC_FP32 = 0, /* true fp32 (no TF32) */
  QS_PREC_FP16,     /* fp16 storage and math, fp32 accumulation */
  QS_PREC_INT8,     /* LLM.int8: encoder Linears int8 with fp16 outlier columns; rest fp16 */
  QS_PREC_NF4,      /* NF4 4-bit weights of the encoder Linears, fp16 compute; rest fp16 */
  QS_PREC_BF16,     /* bf16 storage and math, fp32 accumulation (quant.h section 4) */
  QS_PREC_FP8,      /* encoder Linears e4m3, per-channel / per-token scales (section 5); rest fp16 */
  QS_PREC_INT8DYN,  /* encoder Linears int8, per-channel / per-token scales, no outliers (section 6); rest fp16 */
  QS_PREC_COUNT
} qs_precision;

typedef struct {
  qs_precision prec;
  float int8_threshold; /* LLM.int8 outlier threshold (default 6.0, 0 disables) */
  int nf4_block;        /* NF4 block size (default 64) */
  int nf4_double_quant; /* quantize the NF4 absmax values too */
} qs_prec_opts;

const char *qs_precision_name(qs_precision p);
/* The names qs_precision_parse takes, for messages: "fp32, fp16, bf16, ...". */
#define QS_PRECISION_NAMES "fp32, fp16, bf16, int8, int8dyn, fp8, nf4"
/* Parse one of QS_PRECISION_NAMES (also the seed's "int8_bitsandbytes", "int4_nf4"). */
int qs_precision_parse(const char *s, qs_precision *p);
/* The type the layers a precision does not quantize compute in:
 * QS_ROUND_NONE (fp32), QS_ROUND_F16 or QS_ROUND_BF16 (qs_half.h). */
int qs_precision_storage(qs_precision p);
/* Bytes a quantized layer's weight [rows, cols] really occupies in o's precision
 * (fp32 4 and fp16 / bf16 2 a value; int8, int8dyn, fp8 rows*cols + 4*rows; nf4
 * qs_nf4_bytes); -1 for a bad shape. */
int64_t qs_prec_qweight_bytes(const qs_prec_opts *o, int64_t rows, int64_t cols);
/* Bytes a value of every other tensor occupies: 4 under fp32, else 2. */
int qs_prec_other_elem_bytes(qs_precision p);
void qs_prec_opts_default(qs_prec_opts *o, qs_precision p);

#endif
