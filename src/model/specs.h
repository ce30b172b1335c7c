/* specs.h - the list of tensors a model holds: HF name, shape, and how the
 * synthetic generator initialises it. One list drives the parameter count, the
 * synthetic weights, the export, and the validation of a loaded checkpoint. */
#ifndef QS_SPECS_H
#define QS_SPECS_H

#include <stdint.h>

typedef enum {
  QS_INIT_TRUNC_NORMAL = 0, /* N(0, value^2) truncated to [-2, 2] (HF's trunc_normal_ bounds) */
  QS_INIT_NORMAL,           /* N(0, value^2) */
  QS_INIT_CONST             /* every element = value (0 for biases, 1 for norm weights) */
} qs_init_kind;

#define QS_SPEC_NAME_MAX 160

typedef struct {
  char name[QS_SPEC_NAME_MAX];
  int ndim;
  int64_t shape[4];
  qs_init_kind init;
  float value;       /* std for the normal inits, the constant otherwise */
  uint8_t buffer;    /* a buffer, not a parameter (BatchNorm running statistics) */
  uint8_t quantized; /* an encoder Linear weight: int8 / nf4 quantize it */
  uint8_t optional;  /* may be absent from a checkpoint (unused at inference) */
} qs_tensor_spec;

typedef struct {
  qs_tensor_spec *v;
  int n, cap;
  int failed;
} qs_spec_list;

struct qs_arch_s;
/* Append a spec; name is printf-formatted. Shape dims after ndim. */
void qs_specs_add(qs_spec_list *l, qs_init_kind init, float value, int ndim, const int64_t *shape,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

int64_t qs_spec_numel(const qs_tensor_spec *s);

#endif
