/* cpu_backend.h - the CPU reference backend: every precision's forward, on the host.
 * It is the yardstick the CUDA backend is tested against. */
#ifndef QS_CPU_BACKEND_H
#define QS_CPU_BACKEND_H

#include <stddef.h>

#include "model.h"
#include "precision.h"

typedef struct qs_cpu_plan qs_cpu_plan;

/* Prepare a model for one precision (rounds / quantizes the weights once). */
int qs_cpu_plan_create(const qs_model *m, const qs_prec_opts *p, qs_cpu_plan **out);
/* input [batch, C, S, S] -> out [batch, qs_arch_out_dim] */
int qs_cpu_forward(qs_cpu_plan *p, int batch, const float *input, float *out);
/* Bytes the weights occupy in this precision (quantized layers at their packed size). */
size_t qs_cpu_plan_weight_bytes(const qs_cpu_plan *p);
/* Bytes of the quantized layers alone, and their fp32 size. */
void qs_cpu_plan_qweight_bytes(const qs_cpu_plan *p, size_t *bytes, size_t *fp32_bytes);
void qs_cpu_plan_free(qs_cpu_plan *p);

#endif
