/* mobilevit.c - MobileViT: tensor list and FLOPs (the forward is in cpu_mobilevit.c). */
#include "arch.h"
#include "qs_common.h"

int qs_mobilevit_specs(const qs_arch *a, qs_spec_list *l) {
  (void)l;
  return qs_fail(QS_EUNSUPPORTED, "%s: mobilevit: not implemented yet", a->name);
}

double qs_mobilevit_gflops(const qs_arch *a) {
  (void)a;
  return 0.0;
}
