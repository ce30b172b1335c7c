/* spec.h - the sweep specification (sweep/README.md documents the JSON) and its
 * expansion into cells. Every rank parses the same text and expands the same cells
 * in the same order, so rank 0 hands out cell indices only. */
#ifndef QS_SPEC_H
#define QS_SPEC_H

#include <stdint.h>

#include "arch.h"
#include "backend.h"
#include "precision.h"
#include "results.h"

#define QS_SPEC_MAX_BYTES (16u << 20)
#define QS_SPEC_MAX_CELLS 1000000 /* a cell list of ~300 MB; real sweeps are far smaller */

/* Per-model settings (the spec's defaults with the model's "overrides" applied). */
typedef struct {
  char given[QS_PATH_MAX]; /* as written in "models" */
  qs_arch arch;            /* resolved: zoo entry or checkpoint directory */
  int n_prec;
  qs_precision prec[QS_PREC_COUNT];
  int n_batch;
  int *batch;
  int n_tp;
  int *tp;
  int n_size;  /* "image_sizes": input sides to run at (0 entries: the model's own) */
  int *size;
  qs_bench_opts bench;
  /* After the image_sizes expansion each entry is one (model, size): arch.input_size is
   * the size and arch.name carries "@SIZE" where it is not the model's own; origin is
   * the index of the model in the spec's "models"; unsupported, if not empty, says why
   * the model cannot run at that size (its cells are recorded unsupported). */
  int origin;
  char unsupported[256];
} qs_spec_model;

/* A partial cell pattern of "exclude": unset members match everything. */
typedef struct {
  int model;     /* index into models, -1: any */
  int prec;      /* qs_precision, -1: any */
  int batch, tp; /* 0: any */
} qs_spec_exclude;

typedef struct {
  int model; /* index into qs_spec.models */
  qs_precision prec;
  int batch, tp;
  char key[QS_KEY_MAX];
  double cost; /* estimated cost (qs_cell_cost), filled by qs_spec_load */
} qs_cell;

typedef struct qs_spec {
  char path[QS_PATH_MAX];
  char *text;         /* the spec file as read (owned) */
  char hash[32];      /* FNV-1a 64 of the canonical (unformatted) JSON, hex */
  char zoo[QS_PATH_MAX]; /* zoo file actually used */
  uint64_t seed;      /* synthetic weight seed */
  float int8_threshold;
  int nf4_double_quant;
  int calibrate;      /* "calibrate": -1 absent (measure each rank's device ceilings at the
                       * start of a CUDA sweep, calibrate.h), 1 true (on the cpu backend
                       * too), 0 false (never) */
  double cell_timeout_s; /* per-cell time limit (cost.h, qs_cell_time_limit_s): -1 not given (the
                          * default, from the cost estimate), 0 none, else seconds */
  int n_models;
  qs_spec_model *models;
  int n_exclude;
  qs_spec_exclude *exclude;
  int n_cells;
  qs_cell *cells;     /* in expansion order: model (and image size), precision, batch, tp */
} qs_spec;

/* Parse a spec from text (path names it in messages and anchors relative paths:
 * "zoo" and checkpoint directories are relative to the spec file's directory).
 * zoo_override (e.g. QSWEEP_ZOO or NULL) replaces the spec's "zoo" when set.
 * Errors are one line: "PATH: FIELD: what is wrong". */
int qs_spec_parse(const char *path, const char *text, const char *zoo_override, qs_spec *s);
/* Read the file, then qs_spec_parse. */
int qs_spec_load(const char *path, const char *zoo_override, qs_spec *s);
void qs_spec_free(qs_spec *s);

/* The precision options a cell runs with. */
void qs_spec_prec_opts(const qs_spec *s, qs_precision p, qs_prec_opts *o);
/* Does a cell key contain pattern (the --inject-failure test switch)? */
int qs_key_matches(const char *key, const char *pattern);

#endif
