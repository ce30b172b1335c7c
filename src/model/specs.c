/* specs.c - a model's tensor list: appending to it, and the size of one tensor. The lists
 * of the families are in vit.c and mobilevit.c, qs_arch_specs (arch.c) picks one. */
#define _POSIX_C_SOURCE 200809L
#include "specs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t qs_spec_numel(const qs_tensor_spec *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->shape[i];
  return n;
}

void qs_specs_add(qs_spec_list *l, qs_init_kind init, float value, int ndim, const int64_t *shape,
                  const char *fmt, ...) {
  if (l->failed) return;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 256;
    qs_tensor_spec *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) {
      l->failed = 1;
      return;
    }
    l->v = v;
    l->cap = cap;
  }
  qs_tensor_spec *s = &l->v[l->n++];
  memset(s, 0, sizeof *s);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->name, sizeof s->name, fmt, ap);
  va_end(ap);
  s->ndim = ndim;
  for (int i = 0; i < ndim && i < 4; i++) s->shape[i] = shape[i];
  s->init = init;
  s->value = value;
}
