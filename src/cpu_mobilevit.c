/* cpu_mobilevit.c - the CPU reference forward of MobileViT. */
#include "cpu_internal.h"
#include "qs_common.h"

int qs_cpu_forward_mobilevit(qs_cpu_plan *p, int batch, const float *input, float *out) {
  (void)batch;
  (void)input;
  (void)out;
  return qs_fail(QS_EUNSUPPORTED, "%s: mobilevit: cpu forward not implemented yet", p->m->arch.name);
}
