#include "precision.h"

#include <string.h>

#include "qs_common.h"
#include "qs_half.h"
#include "quant.h"

const char *qs_precision_name(qs_precision p) {
  switch (p) {
    case QS_PREC_FP32: return "fp32";
    case QS_PREC_FP16: return "fp16";
    case QS_PREC_INT8: return "int8";
    case QS_PREC_NF4: return "nf4";
    case QS_PREC_BF16: return "bf16";
    case QS_PREC_FP8: return "fp8";
    case QS_PREC_INT8DYN: return "int8dyn";
    default: return "?";
  }
}

int qs_precision_parse(const char *s, qs_precision *p) {
  if (!strcmp(s, "fp32")) *p = QS_PREC_FP32;
  else if (!strcmp(s, "fp16")) *p = QS_PREC_FP16;
  else if (!strcmp(s, "int8") || !strcmp(s, "int8_bitsandbytes")) *p = QS_PREC_INT8;
  else if (!strcmp(s, "nf4") || !strcmp(s, "int4_nf4")) *p = QS_PREC_NF4;
  else if (!strcmp(s, "bf16")) *p = QS_PREC_BF16;
  else if (!strcmp(s, "fp8")) *p = QS_PREC_FP8;
  else if (!strcmp(s, "int8dyn")) *p = QS_PREC_INT8DYN;
  else return qs_fail(QS_EINVAL, "precision: unknown \"%s\" (" QS_PRECISION_NAMES ")", s);
  return QS_OK;
}

int qs_precision_storage(qs_precision p) {
  return p == QS_PREC_FP32 ? QS_ROUND_NONE : p == QS_PREC_BF16 ? QS_ROUND_BF16 : QS_ROUND_F16;
}

void qs_prec_opts_default(qs_prec_opts *o, qs_precision p) {
  o->prec = p;
  o->int8_threshold = 6.0f;
  o->nf4_block = 64;
  o->nf4_double_quant = 0;
}

int64_t qs_prec_qweight_bytes(const qs_prec_opts *o, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0 || rows > INT64_MAX / 4 / cols) return -1;
  switch (o->prec) {
    case QS_PREC_FP32: return 4 * rows * cols;
    case QS_PREC_FP16:
    case QS_PREC_BF16: return 2 * rows * cols;
    case QS_PREC_INT8: return qs_int8_bytes(rows, cols);
    case QS_PREC_INT8DYN: return qs_int8dyn_bytes(rows, cols);
    case QS_PREC_FP8: return qs_fp8_bytes(rows, cols);
    case QS_PREC_NF4: return qs_nf4_bytes(rows, cols, o->nf4_block, o->nf4_double_quant);
    default: return -1;
  }
}

int qs_prec_other_elem_bytes(qs_precision p) { return p == QS_PREC_FP32 ? 4 : 2; }
