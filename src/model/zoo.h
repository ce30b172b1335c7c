/* zoo.h - the model zoo (sweep/models.json) and model resolution: a model is a
 * zoo name or a directory holding an HF config.json + model.safetensors. */
#ifndef QS_ZOO_H
#define QS_ZOO_H

#include "arch.h"

typedef struct {
  int n;
  qs_arch *models;
  char path[QS_PATH_MAX];
} qs_zoo;

/* Load a zoo file; path NULL = the default (QSWEEP_ZOO, else the source tree's sweep/models.json). */
int qs_zoo_load(const char *path, qs_zoo *z);
void qs_zoo_free(qs_zoo *z);
/* Resolve a zoo name or a checkpoint directory into an architecture. */
int qs_zoo_resolve(const qs_zoo *z, const char *name_or_dir, qs_arch *a);
const char *qs_zoo_default_path(void);
/* Load the zoo (path NULL = default), resolve one model, free the zoo: what a command
 * that runs a single model needs. */
int qs_zoo_lookup(const char *zoo_path, const char *name_or_dir, qs_arch *a);

#endif
