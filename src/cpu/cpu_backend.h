/* cpu_backend.h - the CPU reference backend: every precision's forward, on the host.
 * It is the yardstick the CUDA backend is tested against. */
#ifndef QS_CPU_BACKEND_H
#define QS_CPU_BACKEND_H

#include <stddef.h>

#include "model.h"
#include "precision.h"

typedef struct qs_cpu_plan qs_cpu_plan;
struct qs_tp_group;

/* Prepare a model for one precision (rounds / quantizes the weights once). */
int qs_cpu_plan_create(const qs_model *m, const qs_prec_opts *p, qs_cpu_plan **out);
/* The same for tp rank g->rank of a tensor-parallel group (tp.h): the plan holds this
 * rank's shards (quantized per shard) and its forward all-reduces over g (copied;
 * g->ctx must outlive the plan). g NULL or g->size 1: exactly qs_cpu_plan_create.
 * QS_EUNSUPPORTED (with a message) when heads or an MLP width do not split by g->size.
 * Every rank of the group calls qs_cpu_forward together; each gets the whole output. */
int qs_cpu_plan_create_tp(const qs_model *m, const qs_prec_opts *p, const struct qs_tp_group *g, qs_cpu_plan **out);
/* Seconds spent inside the group's all-reduce since the last reset (0 at tp 1). */
double qs_cpu_plan_allreduce_s(const qs_cpu_plan *p);
void qs_cpu_plan_reset_allreduce(qs_cpu_plan *p);
/* input [batch, C, S, S] -> out [batch, qs_arch_out_dim] */
int qs_cpu_forward(qs_cpu_plan *p, int batch, const float *input, float *out);
/* Bytes the weights occupy in this precision (quantized layers at their packed size);
 * for a tensor-parallel plan, this rank's shards plus the replicated tensors. */
size_t qs_cpu_plan_weight_bytes(const qs_cpu_plan *p);
/* Bytes of the quantized layers alone, and their fp32 size. */
void qs_cpu_plan_qweight_bytes(const qs_cpu_plan *p, size_t *bytes, size_t *fp32_bytes);
void qs_cpu_plan_free(qs_cpu_plan *p);

#endif
