/* format.c - numbers for humans: NaN (not measured) prints as a dash, never as 0. */
#include <math.h>
#include <stdio.h>

#include "analysis.h"

const char *qa_fmt(char *buf, size_t cap, const char *fmt, double v) {
  if (!isfinite(v))
    snprintf(buf, cap, "%s", QA_DASH);
  else
    snprintf(buf, cap, fmt, v);
  return buf;
}

const char *qa_fmt_ms(char *buf, size_t cap, double ms) {
  return qa_fmt(buf, cap, isfinite(ms) && fabs(ms) < 1.0 ? "%.3f" : "%.2f", ms);
}

const char *qa_fmt_speedup(char *buf, size_t cap, double x) { return qa_fmt(buf, cap, "%.2fx", x); }

const char *qa_fmt_pct(char *buf, size_t cap, double pct) { return qa_fmt(buf, cap, "%.1f%%", pct); }

const char *qa_fmt_params(char *buf, size_t cap, double params) {
  if (!isfinite(params)) return qa_fmt(buf, cap, "", NAN);
  if (params >= 1e9) return qa_fmt(buf, cap, "%.2f G", params / 1e9);
  if (params >= 1e6) return qa_fmt(buf, cap, "%.1f M", params / 1e6);
  if (params >= 1e3) return qa_fmt(buf, cap, "%.1f k", params / 1e3);
  return qa_fmt(buf, cap, "%.0f", params);
}
