/* export_json.c - {"meta": run metadata (the first file's when there are several, each
 * file's then in "sources"), "summary": per-precision averages, categories,
 * leaders, method analysis, "calibration": each rank's measured ceilings ([] without),
 * "cells": one object per cell with its roofline figures}. Not measured is null. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "analysis.h"
#include "qs_common.h"

/* A number, or null where it was not measured. */
static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void put_num(cJSON *o, const char *name, double v) { cJSON_AddItemToObject(o, name, num(v)); }
static void put_str(cJSON *o, const char *name, const char *s) {
  cJSON_AddItemToObject(o, name, cJSON_CreateString(s ? s : ""));
}

static cJSON *meta_json_of(const char *path, const qs_run_meta *m) {
  cJSON *o = cJSON_CreateObject();
  put_str(o, "results_file", path);
  put_str(o, "qsweep_version", m->qsweep_version);
  put_str(o, "git_commit", m->git_commit);
  put_str(o, "started_utc", m->started_utc);
  put_str(o, "finished_utc", m->finished_utc);
  put_str(o, "sweep_hash", m->sweep_hash);
  put_str(o, "command_line", m->command_line);
  put_str(o, "mpi_library", m->mpi_library);
  cJSON_AddNumberToObject(o, "world_size", m->world_size);
  put_str(o, "hostnames", m->hostnames);
  put_str(o, "gpu_names", m->gpu_names);
  put_str(o, "driver_version", m->driver_version);
  put_str(o, "cuda_version", m->cuda_version);
  put_str(o, "nccl_version", m->nccl_version);
  put_str(o, "backend", m->backend);
  put_str(o, "sweep_json", m->sweep_json);
  return o;
}

static cJSON *meta_json(const qa_analysis *a) { return meta_json_of(a->path, &a->meta); }

/* Several files: each one's metadata, in the order given. */
static cJSON *sources_json(const qa_analysis *a) {
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; i < a->n_sources; i++) {
    cJSON *o = meta_json_of(a->sources[i].path, qa_source_meta(a, i));
    cJSON_AddNumberToObject(o, "rows", a->sources[i].n_rows);
    cJSON_AddItemToArray(arr, o);
  }
  return arr;
}

static cJSON *summary_json(const qa_analysis *a) {
  cJSON *o = cJSON_CreateObject();
  put_str(o, "baseline", a->baseline_name);
  cJSON_AddBoolToObject(o, "baseline_present", a->baseline >= 0);
  if (a->summary >= 0) {
    cJSON_AddNumberToObject(o, "batch", a->groups[a->summary].batch);
    cJSON_AddNumberToObject(o, "tp", a->groups[a->summary].tp);
  } else {
    cJSON_AddNullToObject(o, "batch");
    cJSON_AddNullToObject(o, "tp");
  }
  cJSON_AddNumberToObject(o, "rows", a->n_rows);
  cJSON_AddNumberToObject(o, "superseded_rows", a->n_superseded);
  cJSON_AddNumberToObject(o, "cells", a->n_cells);
  cJSON_AddNumberToObject(o, "successful_cells", a->n_ok);
  cJSON_AddNumberToObject(o, "failed_cells", a->n_bad);
  /* every listed status (0 where none), then any other a file holds */
  cJSON *by = cJSON_AddObjectToObject(o, "cells_by_status");
  for (int k = 0; k < QA_N_STATUS; k++) cJSON_AddNumberToObject(by, qa_status_names[k], qa_status_count(a, qa_status_names[k]));
  for (int i = 0; i < a->n_cells; i++)
    if (!cJSON_GetObjectItemCaseSensitive(by, a->cells[i].r->status))
      cJSON_AddNumberToObject(by, a->cells[i].r->status, qa_status_count(a, a->cells[i].r->status));
  put_num(o, "success_rate_pct", a->n_cells ? 100.0 * a->n_ok / a->n_cells : NAN);
  cJSON_AddNumberToObject(o, "models", a->n_models);
  cJSON *batches = cJSON_AddArrayToObject(o, "batch_sizes");
  for (int g = 0; g < a->n_groups; g++)
    if (g == 0 || a->groups[g].batch != a->groups[g - 1].batch)
      cJSON_AddItemToArray(batches, cJSON_CreateNumber(a->groups[g].batch));

  cJSON *precs = cJSON_AddArrayToObject(o, "precisions");
  for (int p = 0; p < a->n_precs; p++) {
    const qa_prec *P = &a->precs[p];
    cJSON *e = cJSON_CreateObject();
    put_str(e, "precision", P->name);
    put_str(e, "method", qa_prec_method(P->name));
    cJSON_AddBoolToObject(e, "baseline", p == a->baseline);
    put_num(e, "avg_speedup", P->avg_speedup);
    cJSON_AddNumberToObject(e, "models_with_speedup", P->n_speedup);
    put_num(e, "avg_memory_reduction_pct", P->avg_mem_reduction_pct);
    cJSON_AddNumberToObject(e, "models_with_memory_reduction", P->n_mem);
    cJSON_AddNumberToObject(e, "models_with_memory_reduction_from_weight_bytes", P->n_mem_weights);
    cJSON *m = cJSON_AddObjectToObject(e, "method_analysis");
    cJSON_AddNumberToObject(m, "successful_cells", P->ok_cells);
    cJSON_AddNumberToObject(m, "failed_cells", P->bad_cells);
    put_num(m, "mean_speedup", P->m_avg_speedup);
    put_num(m, "mean_memory_reduction_pct", P->m_avg_mem_reduction_pct);
    cJSON_AddNumberToObject(m, "cells_with_memory_reduction_from_weight_bytes", P->m_n_mem_weights);
    put_num(m, "mean_weight_bits", P->m_avg_bits);
    put_num(m, "mean_fid_cosine", P->m_avg_cosine);
    put_num(m, "mean_fid_top1", P->m_avg_top1);
    cJSON_AddItemToArray(precs, e);
  }

  cJSON *cats = cJSON_AddArrayToObject(o, "categories");
  for (int k = 0; k < a->n_cats; k++) {
    const qa_category *C = &a->cats[k];
    cJSON *e = cJSON_CreateObject();
    put_str(e, "category", C->name);
    cJSON_AddNumberToObject(e, "models", C->n_models);
    cJSON_AddNumberToObject(e, "models_with_speedup", C->n_speedup_models);
    put_num(e, "avg_speedup", C->avg_speedup);
    put_num(e, "avg_memory_reduction_pct", C->avg_mem_reduction_pct);
    cJSON_AddNumberToObject(e, "models_with_memory_reduction_from_weight_bytes", C->n_mem_weights_models);
    if (C->leader >= 0) {
      const qa_cell *c = &a->cells[C->leader];
      cJSON *l = cJSON_AddObjectToObject(e, "leader");
      put_str(l, "model", c->r->model);
      put_str(l, "precision", c->r->precision);
      put_num(l, "speedup", c->speedup);
    } else {
      cJSON_AddNullToObject(e, "leader");
    }
    cJSON_AddItemToArray(cats, e);
  }
  return o;
}

static cJSON *cell_json(const qa_cell *c) {
  cJSON *o = cJSON_CreateObject();
  const char *base = (const char *)c->r;
  for (int f = 0; f < qa_n_cell_fields; f++) {
    const qa_field *fd = &qa_cell_fields[f];
    if (fd->kind == QA_F_STR) {
      put_str(o, fd->name, base + fd->off);
    } else if (fd->kind == QA_F_I32) {
      int32_t v;
      memcpy(&v, base + fd->off, sizeof v);
      cJSON_AddNumberToObject(o, fd->name, v);
    } else {
      double v;
      memcpy(&v, base + fd->off, sizeof v);
      put_num(o, fd->name, v);
    }
  }
  put_num(o, "speedup", c->speedup);
  put_num(o, "memory_reduction_pct", c->mem_reduction_pct);
  /* "peak", "weight_bytes" (the backend has no peak counter), or null */
  const char *basis = qa_mem_basis_name(c->mem_basis);
  cJSON_AddItemToObject(o, "memory_reduction_basis", basis ? cJSON_CreateString(basis) : cJSON_CreateNull());
  put_num(o, "achieved_tflops", c->achieved_tflops);
  put_num(o, "bytes_moved_mb", c->bytes_moved_mb);
  put_num(o, "arith_intensity", c->arith_intensity);
  put_num(o, "ceiling_tflops", c->ceiling_tflops);
  put_num(o, "ceiling_pct", c->ceiling_pct);
  put_num(o, "roof_tflops", c->roof_tflops);
  return o;
}

/* Every /calibration group: one object per rank with its measurements. */
static cJSON *calibration_json(const qa_analysis *a) {
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; i < a->n_calib; i++) {
    const qs_calibration *c = &a->calib[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", c->rank);
    cJSON_AddNumberToObject(o, "device_index", c->device_index);
    put_str(o, "host", c->host);
    put_str(o, "device", c->device);
    put_str(o, "backend", c->backend);
    put_str(o, "measured_utc", c->measured_utc);
    cJSON *es = cJSON_AddArrayToObject(o, "entries");
    for (int k = 0; k < c->n_entries; k++) {
      const qs_calib_entry *e = &c->e[k];
      cJSON *j = cJSON_CreateObject();
      put_str(j, "name", e->name);
      put_str(j, "kind", e->kind);
      put_str(j, "precision", e->precision);
      put_str(j, "status", e->status);
      put_str(j, "unit", e->unit);
      put_num(j, "value", e->value);
      put_num(j, "best", e->best);
      put_num(j, "median_ms", e->median_ms);
      put_num(j, "min_ms", e->min_ms);
      cJSON_AddNumberToObject(j, "m", e->m);
      cJSON_AddNumberToObject(j, "n", e->n);
      cJSON_AddNumberToObject(j, "k", e->k);
      put_num(j, "bytes", e->bytes);
      cJSON_AddNumberToObject(j, "warmup", e->warmup);
      cJSON_AddNumberToObject(j, "reps", e->reps);
      put_str(j, "method", e->method);
      put_str(j, "message", e->message);
      cJSON_AddItemToArray(es, j);
    }
    cJSON_AddItemToArray(arr, o);
  }
  return arr;
}

int qa_write_json(const qa_analysis *a, FILE *out, const char *what) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return qs_fail(QS_ENOMEM, "%s: out of memory", what);
  cJSON_AddItemToObject(root, "meta", meta_json(a));
  if (a->n_sources > 1) cJSON_AddItemToObject(root, "sources", sources_json(a));
  cJSON_AddItemToObject(root, "summary", summary_json(a));
  cJSON_AddItemToObject(root, "calibration", calibration_json(a));
  cJSON *cells = cJSON_AddArrayToObject(root, "cells");
  for (int i = 0; i < a->n_cells; i++) cJSON_AddItemToArray(cells, cell_json(&a->cells[i]));
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return qs_fail(QS_ENOMEM, "%s: out of memory", what);
  errno = 0;
  fputs(text, out);
  fputc('\n', out);
  free(text);
  if (fflush(out) != 0 || ferror(out))
    return qs_fail(QS_EIO, "%s: write: %s", what, errno ? strerror(errno) : "error");
  return QS_OK;
}
