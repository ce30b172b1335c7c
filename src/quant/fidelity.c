/* fidelity.c - output fidelity metrics (see fidelity.h). */
#include "fidelity.h"

#include <math.h>
#include <stdint.h>

static int64_t qs_argmax_row(const float *r, int dim) {
  int64_t best = 0;
  for (int i = 1; i < dim; i++)
    if (r[i] > r[best]) best = i;
  return best;
}

static int qs_row_finite(const float *r, int dim) {
  for (int i = 0; i < dim; i++)
    if (!isfinite(r[i])) return 0;
  return 1;
}

void qs_fidelity_compute(const float *ref, const float *out, int batch, int dim,
                         int is_classifier, qs_fidelity *f) {
  f->cosine = f->rel_l2 = f->max_abs = f->top1 = NAN;
  if (!ref || !out || batch <= 0 || dim <= 0) return;
  int64_t n = (int64_t)batch * dim;
  double dot = 0.0, nr = 0.0, no = 0.0, nd = 0.0, mx = 0.0;
  int ref_bad = 0, out_nan = 0, out_inf = 0;
  for (int64_t i = 0; i < n; i++) {
    double r = ref[i], o = out[i];
    if (!isfinite(r)) ref_bad = 1;
    if (isnan(o)) out_nan = 1;
    else if (isinf(o)) out_inf = 1;
    double d = o - r;
    dot += o * r;
    nr += r * r;
    no += o * o;
    nd += d * d;
    double ad = fabs(d);
    if (ad > mx) mx = ad;
  }
  if (ref_bad) return; /* the baseline itself is broken: nothing is measured */

  if (out_nan) {
    f->cosine = f->rel_l2 = f->max_abs = NAN;
  } else if (out_inf) {
    f->cosine = NAN;
    f->rel_l2 = INFINITY;
    f->max_abs = INFINITY;
  } else {
    if (nr > 0.0 && no > 0.0) {
      double c = dot / sqrt(nr * no);
      f->cosine = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
    } else {
      f->cosine = NAN;
    }
    f->rel_l2 = nr > 0.0 ? sqrt(nd) / sqrt(nr) : (nd > 0.0 ? INFINITY : 0.0);
    f->max_abs = mx;
  }

  if (is_classifier) {
    int agree = 0;
    for (int b = 0; b < batch; b++) {
      const float *rr = ref + (int64_t)b * dim, *orow = out + (int64_t)b * dim;
      if (qs_row_finite(orow, dim) && qs_argmax_row(rr, dim) == qs_argmax_row(orow, dim)) agree++;
    }
    f->top1 = (double)agree / (double)batch;
  }
}

static void qs_fmt(char *buf, size_t cap, const char *fmt, double v) {
  if (isnan(v)) snprintf(buf, cap, "nan");
  else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
  else snprintf(buf, cap, fmt, v);
}

void qs_fidelity_print(FILE *fp, const char *label, const qs_fidelity *f) {
  char c[32], r[32], a[32], t[32];
  qs_fmt(c, sizeof c, "%.6f", f->cosine);
  qs_fmt(r, sizeof r, "%.3e", f->rel_l2);
  qs_fmt(a, sizeof a, "%.3e", f->max_abs);
  if (isnan(f->top1)) snprintf(t, sizeof t, "n/a");
  else snprintf(t, sizeof t, "%.1f%%", 100.0 * f->top1);
  fprintf(fp, "%s: cosine %s rel_l2 %s max_abs %s top1 %s\n", label ? label : "fidelity", c, r, a, t);
}
