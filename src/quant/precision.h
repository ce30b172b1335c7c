/* precision.h - the precisions a cell can run in, and their options. */
#ifndef QS_PRECISION_H
#define QS_PRECISION_H

typedef enum {
  QS_PREC_FP32 = 0, /* true fp32 (no TF32) */
  QS_PREC_FP16,     /* fp16 storage and math, fp32 accumulation */
  QS_PREC_INT8,     /* LLM.int8: encoder Linears int8 with fp16 outlier columns; rest fp16 */
  QS_PREC_NF4,      /* NF4 4-bit weights of the encoder Linears, fp16 compute; rest fp16 */
  QS_PREC_COUNT
} qs_precision;

typedef struct {
  qs_precision prec;
  float int8_threshold; /* LLM.int8 outlier threshold (default 6.0, 0 disables) */
  int nf4_block;        /* NF4 block size (default 64) */
  int nf4_double_quant; /* quantize the NF4 absmax values too */
} qs_prec_opts;

const char *qs_precision_name(qs_precision p);
/* Parse "fp32", "fp16", "int8", "nf4" (also the seed's "int8_bitsandbytes", "int4_nf4"). */
int qs_precision_parse(const char *s, qs_precision *p);
void qs_prec_opts_default(qs_prec_opts *o, qs_precision p);

#endif
