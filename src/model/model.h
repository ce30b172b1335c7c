/* model.h - a model instance: architecture plus fp32 host weights, either
 * synthetic (deterministic from a seed) or loaded from safetensors. */
#ifndef QS_MODEL_H
#define QS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "specs.h"

typedef struct {
  const qs_tensor_spec *spec; /* name, shape, flags */
  float *data;                /* fp32, numel(spec) values; NULL for an absent optional tensor */
} qs_tensor;

typedef struct {
  qs_arch arch;
  int n;
  qs_tensor_spec *specs; /* n specs, owned */
  qs_tensor *t;          /* n tensors in spec order, owned */
  char source[QS_PATH_MAX + 32]; /* "synthetic seed N" or the safetensors path */
} qs_model;

/* Deterministic synthetic weights with HF's init statistics, bit-identical on
 * every machine (own counter-based generator, no libm transcendental calls). */
int qs_model_synthetic(const qs_arch *a, uint64_t seed, qs_model *m);
/* Load <dir>/model.safetensors, checking every tensor against the architecture. */
int qs_model_load(const qs_arch *a, const char *safetensors_path, qs_model *m);
/* Synthetic when a->dir is empty, else the checkpoint in a->dir. */
int qs_model_create(const qs_arch *a, uint64_t seed, qs_model *m);
/* The output head of a checkpoint as HF chooses it, from the weights present: a ViTModel
 * has its pooler exactly when safetensors_path holds pooler.dense.weight (then the output
 * is pooler_output, else the CLS token of the last hidden state). Where config.json also
 * names add_pooling_layer, a disagreement with the weights is an error naming both.
 * Other architectures are left as config.json describes them. */
int qs_model_head_from_weights(qs_arch *a, const char *safetensors_path);
void qs_model_free(qs_model *m);

/* Tensor by full name (NULL if absent). */
const float *qs_model_find(const qs_model *m, const char *name);
/* Tensor by printf-style name; records an error naming the tensor if absent. */
const float *qs_model_get(const qs_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write <dir>/config.json and <dir>/model.safetensors (HF-compatible). */
int qs_model_export(const qs_model *m, const char *dir);

/* Deterministic input images [batch, C, H, W], uniform in [-1, 1). */
void qs_make_input(uint64_t seed, int batch, int channels, int size, float *x);

/* The generator, exposed for tests: 64 random bits of (key, counter). */
uint64_t qs_rng_bits(uint64_t key, uint64_t counter);
double qs_rng_normal(uint64_t key, uint64_t index);
uint64_t qs_fnv1a64(const void *data, size_t len);

#endif
