#include "precision.h"

#include <string.h>

#include "qs_common.h"

const char *qs_precision_name(qs_precision p) {
  switch (p) {
    case QS_PREC_FP32: return "fp32";
    case QS_PREC_FP16: return "fp16";
    case QS_PREC_INT8: return "int8";
    case QS_PREC_NF4: return "nf4";
    default: return "?";
  }
}

int qs_precision_parse(const char *s, qs_precision *p) {
  if (!strcmp(s, "fp32")) *p = QS_PREC_FP32;
  else if (!strcmp(s, "fp16")) *p = QS_PREC_FP16;
  else if (!strcmp(s, "int8") || !strcmp(s, "int8_bitsandbytes")) *p = QS_PREC_INT8;
  else if (!strcmp(s, "nf4") || !strcmp(s, "int4_nf4")) *p = QS_PREC_NF4;
  else return qs_fail(QS_EINVAL, "precision: unknown \"%s\" (fp32, fp16, int8, nf4)", s);
  return QS_OK;
}

void qs_prec_opts_default(qs_prec_opts *o, qs_precision p) {
  o->prec = p;
  o->int8_threshold = 6.0f;
  o->nf4_block = 64;
  o->nf4_double_quant = 0;
}
