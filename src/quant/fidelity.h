/* fidelity.h - how close a quantized forward's output is to the fp32 output.
 *
 * All sums run in double over the flattened [batch, dim] outputs, in index order.
 *   cosine  = <out, ref> / sqrt(|out|^2 |ref|^2), clamped to [-1, 1];
 *             NaN when either norm is 0 (undefined).
 *   rel_l2  = |out - ref| / |ref|; 0 / 0 gives 0 (both zero), x / 0 gives inf.
 *   max_abs = max |out - ref|.
 *   top1    = fraction of images (rows) whose argmax agrees (first index on
 *             ties); NaN when !is_classifier. A row of `out` that holds a
 *             non-finite value never agrees.
 * A non-finite value is never hidden behind a good-looking number: a NaN in
 * `out` makes cosine, rel_l2 and max_abs NaN; an inf (without NaN) makes
 * cosine NaN and rel_l2 and max_abs inf. A non-finite `ref` (a broken baseline)
 * makes every metric NaN. */
#ifndef QS_FIDELITY_H
#define QS_FIDELITY_H

#include <stdio.h>

typedef struct {
  double cosine, rel_l2, max_abs, top1;
} qs_fidelity;

void qs_fidelity_compute(const float *ref, const float *out, int batch, int dim,
                         int is_classifier, qs_fidelity *f);
/* One line: "LABEL: cosine C rel_l2 R max_abs A top1 T" (top1 as a percentage,
 * "n/a" when not a classifier; NaN / inf printed as "nan" / "inf"). */
void qs_fidelity_print(FILE *fp, const char *label, const qs_fidelity *f);

#endif
