/* spec.c - sweep specification: parse, validate (one-line errors naming the file and
 * the field, before any work), and expand into cells. */
#define _POSIX_C_SOURCE 200809L
#include "spec.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "model.h"
#include "qs_common.h"
#include "zoo.h"

#define MAX_AXIS 4096
#define MAX_BATCH (1 << 16)
#define MAX_TP 1024

static const char *const k_top_keys[] = {"models",      "precisions", "batch_sizes",  "tp", "image_sizes",
                                         "exclude",     "overrides",  "warmup",       "iterations",
                                         "min_time_s",  "warmup_s",   "seed",         "input_seed",
                                         "zoo",         "int8_threshold", "nf4_double_quant",
                                         "cuda_graph",  "description", "calibrate",
                                         "cell_timeout_s"};
static const char *const k_override_keys[] = {"precisions", "batch_sizes", "tp", "image_sizes", "warmup",
                                              "iterations", "min_time_s",  "warmup_s", "cuda_graph"};
static const char *const k_exclude_keys[] = {"model", "precision", "batch", "tp"};

static int key_known(const char *k, const char *const *list, size_t n) {
  if (k[0] == '_') return 1; /* "_comment" and friends */
  for (size_t i = 0; i < n; i++)
    if (!strcmp(k, list[i])) return 1;
  return 0;
}

static int check_keys(const char *path, const char *where, const cJSON *obj, const char *const *list, size_t n) {
  for (const cJSON *c = obj->child; c; c = c->next)
    if (!key_known(c->string, list, n))
      return qs_fail(QS_EINVAL, "%s: %s%s%s: unknown key", path, where, where[0] ? "." : "", c->string);
  return QS_OK;
}

static const char *type_name(const cJSON *v) {
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  if (cJSON_IsNull(v)) return "null";
  return "invalid";
}

/* An integer in [lo, hi] (a JSON number with no fractional part). */
static int get_int(const char *path, const char *field, const cJSON *v, long long lo, long long hi, long long *out) {
  if (!cJSON_IsNumber(v)) return qs_fail(QS_EINVAL, "%s: %s: expected an integer, got %s", path, field, type_name(v));
  double d = v->valuedouble;
  if (d != floor(d) || !isfinite(d))
    return qs_fail(QS_EINVAL, "%s: %s: expected an integer, got %g", path, field, d);
  if (d < (double)lo || d > (double)hi) {
    if (lo == 1 && d < 1) return qs_fail(QS_EINVAL, "%s: %s: must be positive, got %.0f", path, field, d);
    return qs_fail(QS_EINVAL, "%s: %s: %.0f is out of range [%lld, %lld]", path, field, d, lo, hi);
  }
  *out = (long long)d;
  return QS_OK;
}

static int get_num(const char *path, const char *field, const cJSON *v, double lo, double hi, double *out) {
  if (!cJSON_IsNumber(v)) return qs_fail(QS_EINVAL, "%s: %s: expected a number, got %s", path, field, type_name(v));
  double d = v->valuedouble;
  if (!(d >= lo && d <= hi)) return qs_fail(QS_EINVAL, "%s: %s: %g is out of range [%g, %g]", path, field, d, lo, hi);
  *out = d;
  return QS_OK;
}

static int get_bool(const char *path, const char *field, const cJSON *v, int *out) {
  if (!cJSON_IsBool(v)) return qs_fail(QS_EINVAL, "%s: %s: expected true or false, got %s", path, field, type_name(v));
  *out = cJSON_IsTrue(v);
  return QS_OK;
}

/* A non-empty array of distinct positive integers <= hi. */
static int get_int_list(const char *path, const char *field, const cJSON *v, int hi, int **out, int *n) {
  if (!cJSON_IsArray(v)) return qs_fail(QS_EINVAL, "%s: %s: expected an array of integers, got %s", path, field, type_name(v));
  int cnt = cJSON_GetArraySize(v);
  if (cnt < 1) return qs_fail(QS_EINVAL, "%s: %s: must not be empty", path, field);
  if (cnt > MAX_AXIS) return qs_fail(QS_EINVAL, "%s: %s: more than %d values", path, field, MAX_AXIS);
  int *a = qs_malloc(sizeof(int) * (size_t)cnt);
  if (!a) return QS_ENOMEM;
  for (int i = 0; i < cnt; i++) {
    char f[96];
    snprintf(f, sizeof f, "%s[%d]", field, i);
    long long x;
    int rc = get_int(path, f, cJSON_GetArrayItem(v, i), 1, hi, &x);
    for (int j = 0; rc == QS_OK && j < i; j++)
      if (a[j] == x) rc = qs_fail(QS_EINVAL, "%s: %s: duplicate value %lld", path, f, x);
    if (rc != QS_OK) {
      free(a);
      return rc;
    }
    a[i] = (int)x;
  }
  free(*out);
  *out = a;
  *n = cnt;
  return QS_OK;
}

static int get_prec_list(const char *path, const char *field, const cJSON *v, qs_precision *out, int *n) {
  if (!cJSON_IsArray(v)) return qs_fail(QS_EINVAL, "%s: %s: expected an array of strings, got %s", path, field, type_name(v));
  int cnt = cJSON_GetArraySize(v);
  if (cnt < 1) return qs_fail(QS_EINVAL, "%s: %s: must not be empty", path, field);
  if (cnt > QS_PREC_COUNT) return qs_fail(QS_EINVAL, "%s: %s: more than %d values (duplicates?)", path, field, QS_PREC_COUNT);
  for (int i = 0; i < cnt; i++) {
    const cJSON *e = cJSON_GetArrayItem(v, i);
    if (!cJSON_IsString(e)) return qs_fail(QS_EINVAL, "%s: %s[%d]: expected a string, got %s", path, field, i, type_name(e));
    qs_precision p;
    if (qs_precision_parse(e->valuestring, &p) != QS_OK)
      return qs_fail(QS_EINVAL, "%s: %s[%d]: unknown precision \"%s\" (" QS_PRECISION_NAMES ")", path, field, i,
                     e->valuestring);
    for (int j = 0; j < i; j++)
      if (out[j] == p) return qs_fail(QS_EINVAL, "%s: %s[%d]: duplicate precision \"%s\"", path, field, i, e->valuestring);
    out[i] = p;
  }
  *n = cnt;
  return QS_OK;
}

/* Iteration settings shared by the top level and "overrides". */
static int get_bench_field(const char *path, const char *field, const char *name, const cJSON *v, qs_bench_opts *b) {
  long long x = 0;
  double d = 0;
  int t = 0;
  if (!strcmp(name, "warmup")) {
    QS_TRY(get_int(path, field, v, 0, 1000000, &x));
    b->warmup = (int)x;
  } else if (!strcmp(name, "iterations")) {
    QS_TRY(get_int(path, field, v, 1, 10000000, &x));
    b->iterations = (int)x;
  } else if (!strcmp(name, "min_time_s")) {
    QS_TRY(get_num(path, field, v, 0, 86400, &d));
    b->min_time_s = d;
  } else if (!strcmp(name, "warmup_s")) {
    QS_TRY(get_num(path, field, v, 0, 86400, &d));
    b->warmup_s = d;
  } else if (!strcmp(name, "cuda_graph")) {
    QS_TRY(get_bool(path, field, v, &t));
    b->use_graph = t;
  } else {
    return 1; /* not a bench field */
  }
  return QS_OK;
}

static void dir_of(const char *path, char *dir, size_t cap) {
  qs_strlcpy(dir, path, cap);
  char *slash = strrchr(dir, '/');
  if (slash) slash[1] = '\0';
  else dir[0] = '\0';
}

/* Relative paths in a spec are relative to the spec file's directory. */
static int spec_relative(const char *dir, const char *p, char *out, size_t cap) {
  if (p[0] == '/' || !dir[0]) return qs_strlcpy(out, p, cap);
  int n = snprintf(out, cap, "%s%s", dir, p);
  return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

void qs_spec_free(qs_spec *s) {
  free(s->text);
  for (int i = 0; i < s->n_models; i++) {
    free(s->models[i].batch);
    free(s->models[i].tp);
    free(s->models[i].size);
  }
  free(s->models);
  free(s->exclude);
  free(s->cells);
  memset(s, 0, sizeof *s);
}

void qs_spec_prec_opts(const qs_spec *s, qs_precision p, qs_prec_opts *o) {
  qs_prec_opts_default(o, p);
  o->int8_threshold = s->int8_threshold;
  o->nf4_double_quant = s->nf4_double_quant;
}

int qs_key_matches(const char *key, const char *pattern) {
  return pattern && pattern[0] && strstr(key, pattern) != NULL;
}

static int excluded(const qs_spec *s, int m, qs_precision p, int b, int tp) {
  for (int i = 0; i < s->n_exclude; i++) {
    const qs_spec_exclude *e = &s->exclude[i];
    if ((e->model < 0 || e->model == s->models[m].origin) && (e->prec < 0 || e->prec == (int)p) && (!e->batch || e->batch == b) &&
        (!e->tp || e->tp == tp))
      return 1;
  }
  return 0;
}

static int find_model(const qs_spec *s, const char *name) {
  for (int i = 0; i < s->n_models; i++)
    if (!strcmp(s->models[i].given, name) || !strcmp(s->models[i].arch.name, name)) return i;
  return -1;
}

static int parse_models(qs_spec *s, const cJSON *root, const char *dir, const qs_zoo *zoo, const qs_spec_model *dflt) {
  const char *path = s->path;
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
  if (!models) return qs_fail(QS_EINVAL, "%s: models: missing (a list of zoo names or checkpoint directories)", path);
  if (!cJSON_IsArray(models))
    return qs_fail(QS_EINVAL, "%s: models: expected an array of strings, got %s", path, type_name(models));
  int n = cJSON_GetArraySize(models);
  if (n < 1) return qs_fail(QS_EINVAL, "%s: models: must not be empty", path);
  if (n > MAX_AXIS) return qs_fail(QS_EINVAL, "%s: models: more than %d models", path, MAX_AXIS);
  s->models = qs_calloc((size_t)n, sizeof *s->models);
  if (!s->models) return QS_ENOMEM;
  for (int i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(models, i);
    qs_spec_model *m = &s->models[i];
    if (!cJSON_IsString(e) || !e->valuestring[0])
      return qs_fail(QS_EINVAL, "%s: models[%d]: expected a zoo name or a directory, got %s", path, i, type_name(e));
    if (qs_strlcpy(m->given, e->valuestring, sizeof m->given) != 0)
      return qs_fail(QS_EINVAL, "%s: models[%d]: too long", path, i);
    /* a name without '/' is a zoo name; anything else is a checkpoint directory */
    int rc;
    if (!strchr(m->given, '/')) {
      rc = QS_EINVAL;
      for (int j = 0; j < zoo->n; j++)
        if (!strcmp(zoo->models[j].name, m->given)) {
          m->arch = zoo->models[j];
          rc = QS_OK;
        }
      if (rc != QS_OK)
        return qs_fail(QS_EINVAL, "%s: models[%d]: unknown model \"%s\" (not in %s; qsweep models lists them, "
                       "or give a checkpoint directory containing a '/')", path, i, m->given, zoo->path);
    } else {
      char full[QS_PATH_MAX];
      if (spec_relative(dir, m->given, full, sizeof full) != 0)
        return qs_fail(QS_EINVAL, "%s: models[%d]: path too long", path, i);
      if (qs_zoo_resolve(zoo, full, &m->arch) != QS_OK) {
        char inner[QS_MSG_MAX];
        qs_strlcpy(inner, qs_last_error(), sizeof inner);
        return qs_fail(QS_EINVAL, "%s: models[%d]: %s", path, i, inner);
      }
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(s->models[j].arch.name, m->arch.name))
        return qs_fail(QS_EINVAL, "%s: models[%d]: duplicate model \"%s\"", path, i, m->arch.name);
    m->n_prec = dflt->n_prec;
    memcpy(m->prec, dflt->prec, sizeof m->prec);
    m->bench = dflt->bench;
    m->batch = qs_malloc(sizeof(int) * (size_t)dflt->n_batch);
    m->tp = qs_malloc(sizeof(int) * (size_t)dflt->n_tp);
    if (!m->batch || !m->tp) return QS_ENOMEM;
    memcpy(m->batch, dflt->batch, sizeof(int) * (size_t)dflt->n_batch);
    memcpy(m->tp, dflt->tp, sizeof(int) * (size_t)dflt->n_tp);
    m->n_batch = dflt->n_batch;
    m->n_tp = dflt->n_tp;
    if (dflt->n_size) {
      if (!(m->size = qs_malloc(sizeof(int) * (size_t)dflt->n_size))) return QS_ENOMEM;
      memcpy(m->size, dflt->size, sizeof(int) * (size_t)dflt->n_size);
      m->n_size = dflt->n_size;
    }
    m->origin = i;
    s->n_models = i + 1;
  }
  return QS_OK;
}

static int parse_overrides(qs_spec *s, const cJSON *root) {
  const char *path = s->path;
  const cJSON *ov = cJSON_GetObjectItemCaseSensitive(root, "overrides");
  if (!ov) return QS_OK;
  if (!cJSON_IsObject(ov))
    return qs_fail(QS_EINVAL, "%s: overrides: expected an object keyed by model, got %s", path, type_name(ov));
  for (const cJSON *o = ov->child; o; o = o->next) {
    if (o->string[0] == '_') continue;
    char where[QS_PATH_MAX + 32];
    snprintf(where, sizeof where, "overrides.%s", o->string);
    int mi = find_model(s, o->string);
    if (mi < 0) return qs_fail(QS_EINVAL, "%s: %s: \"%s\" is not one of the sweep's models", path, where, o->string);
    if (!cJSON_IsObject(o)) return qs_fail(QS_EINVAL, "%s: %s: expected an object, got %s", path, where, type_name(o));
    QS_TRY(check_keys(path, where, o, k_override_keys, QS_ARRAY_LEN(k_override_keys)));
    qs_spec_model *m = &s->models[mi];
    for (const cJSON *f = o->child; f; f = f->next) {
      char field[QS_PATH_MAX + 64];
      snprintf(field, sizeof field, "%s.%s", where, f->string);
      if (f->string[0] == '_') continue;
      if (!strcmp(f->string, "precisions")) QS_TRY(get_prec_list(path, field, f, m->prec, &m->n_prec));
      else if (!strcmp(f->string, "batch_sizes")) QS_TRY(get_int_list(path, field, f, MAX_BATCH, &m->batch, &m->n_batch));
      else if (!strcmp(f->string, "tp")) QS_TRY(get_int_list(path, field, f, MAX_TP, &m->tp, &m->n_tp));
      else if (!strcmp(f->string, "image_sizes")) QS_TRY(get_int_list(path, field, f, 8192, &m->size, &m->n_size));
      else QS_TRY(get_bench_field(path, field, f->string, f, &m->bench));
    }
  }
  return QS_OK;
}

static int parse_exclude(qs_spec *s, const cJSON *root) {
  const char *path = s->path;
  const cJSON *ex = cJSON_GetObjectItemCaseSensitive(root, "exclude");
  if (!ex) return QS_OK;
  if (!cJSON_IsArray(ex))
    return qs_fail(QS_EINVAL, "%s: exclude: expected an array of cell patterns, got %s", path, type_name(ex));
  int n = cJSON_GetArraySize(ex);
  s->exclude = qs_calloc((size_t)(n > 0 ? n : 1), sizeof *s->exclude);
  if (!s->exclude) return QS_ENOMEM;
  for (int i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(ex, i);
    char where[64];
    snprintf(where, sizeof where, "exclude[%d]", i);
    if (!cJSON_IsObject(e)) return qs_fail(QS_EINVAL, "%s: %s: expected an object, got %s", path, where, type_name(e));
    QS_TRY(check_keys(path, where, e, k_exclude_keys, QS_ARRAY_LEN(k_exclude_keys)));
    qs_spec_exclude *x = &s->exclude[i];
    x->model = -1;
    x->prec = -1;
    int any = 0;
    for (const cJSON *f = e->child; f; f = f->next) {
      char field[128];
      snprintf(field, sizeof field, "%s.%s", where, f->string);
      long long v;
      if (f->string[0] == '_') continue;
      any = 1;
      if (!strcmp(f->string, "model")) {
        if (!cJSON_IsString(f)) return qs_fail(QS_EINVAL, "%s: %s: expected a string, got %s", path, field, type_name(f));
        if ((x->model = find_model(s, f->valuestring)) < 0)
          return qs_fail(QS_EINVAL, "%s: %s: \"%s\" is not one of the sweep's models", path, field, f->valuestring);
      } else if (!strcmp(f->string, "precision")) {
        qs_precision p;
        if (!cJSON_IsString(f)) return qs_fail(QS_EINVAL, "%s: %s: expected a string, got %s", path, field, type_name(f));
        if (qs_precision_parse(f->valuestring, &p) != QS_OK)
          return qs_fail(QS_EINVAL, "%s: %s: unknown precision \"%s\" (" QS_PRECISION_NAMES ")", path, field,
                         f->valuestring);
        x->prec = (int)p;
      } else if (!strcmp(f->string, "batch")) {
        QS_TRY(get_int(path, field, f, 1, MAX_BATCH, &v));
        x->batch = (int)v;
      } else {
        QS_TRY(get_int(path, field, f, 1, MAX_TP, &v));
        x->tp = (int)v;
      }
    }
    if (!any) return qs_fail(QS_EINVAL, "%s: %s: an empty pattern would exclude every cell", path, where);
    s->n_exclude = i + 1;
  }
  return QS_OK;
}

static int dup_ints(const int *a, int n, int **out) {
  *out = qs_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
  if (!*out) return QS_ENOMEM;
  if (n) memcpy(*out, a, sizeof(int) * (size_t)n);
  return QS_OK;
}

/* One models[] entry per (model, image size): a size other than the model's own gets
 * "@SIZE" in its name (so in its cell keys and report rows) and the arch at that size;
 * a size the family cannot take keeps the arch and records why in unsupported. */
static int expand_sizes(qs_spec *s) {
  int total = 0;
  for (int i = 0; i < s->n_models; i++) total += s->models[i].n_size ? s->models[i].n_size : 1;
  if (total == s->n_models) {
    int any = 0;
    for (int i = 0; i < s->n_models; i++) any |= s->models[i].n_size > 0;
    if (!any) return QS_OK;
  }
  qs_spec_model *out = qs_calloc((size_t)total, sizeof *out);
  if (!out) return QS_ENOMEM;
  int n = 0, rc = QS_OK;
  for (int i = 0; i < s->n_models && rc == QS_OK; i++) {
    qs_spec_model *m = &s->models[i];
    const int ns = m->n_size ? m->n_size : 1;
    for (int j = 0; j < ns && rc == QS_OK; j++) {
      qs_spec_model *e = &out[n++];
      *e = *m;
      e->size = NULL;
      e->n_size = 0;
      e->batch = e->tp = NULL;
      if ((rc = dup_ints(m->batch, m->n_batch, &e->batch)) != QS_OK || (rc = dup_ints(m->tp, m->n_tp, &e->tp)) != QS_OK)
        break;
      const int size = m->n_size ? m->size[j] : 0;
      if (!size || size == m->arch.input_size) continue;
      char what[64];
      snprintf(what, sizeof what, "image size %d", size);
      if (qs_arch_set_input_size(&e->arch, size, what) != QS_OK) qs_strlcpy(e->unsupported, qs_last_error(), sizeof e->unsupported);
      char name[sizeof e->arch.name];
      if (snprintf(name, sizeof name, "%s@%d", m->arch.name, size) >= (int)sizeof name)
        rc = qs_fail(QS_EINVAL, "%s: models[%d]: name too long with its image size", s->path, i);
      else
        qs_strlcpy(e->arch.name, name, sizeof e->arch.name);
    }
  }
  if (rc != QS_OK) {
    for (int k = 0; k < n; k++) free(out[k].batch), free(out[k].tp);
    free(out);
    return rc;
  }
  for (int i = 0; i < s->n_models; i++) {
    free(s->models[i].batch);
    free(s->models[i].tp);
    free(s->models[i].size);
  }
  free(s->models);
  s->models = out;
  s->n_models = total;
  return QS_OK;
}

static int expand(qs_spec *s) {
  int64_t total = 0;
  for (int m = 0; m < s->n_models; m++)
    total += (int64_t)s->models[m].n_prec * s->models[m].n_batch * s->models[m].n_tp;
  if (total > QS_SPEC_MAX_CELLS)
    return qs_fail(QS_EINVAL, "%s: the sweep has %lld cells (at most %d)", s->path, (long long)total, QS_SPEC_MAX_CELLS);
  s->cells = qs_calloc((size_t)(total > 0 ? total : 1), sizeof *s->cells);
  if (!s->cells) return QS_ENOMEM;
  int n = 0;
  for (int m = 0; m < s->n_models; m++) {
    const qs_spec_model *sm = &s->models[m];
    for (int p = 0; p < sm->n_prec; p++)
      for (int b = 0; b < sm->n_batch; b++)
        for (int t = 0; t < sm->n_tp; t++) {
          if (excluded(s, m, sm->prec[p], sm->batch[b], sm->tp[t])) continue;
          qs_cell *c = &s->cells[n];
          c->model = m;
          c->prec = sm->prec[p];
          c->batch = sm->batch[b];
          c->tp = sm->tp[t];
          if (!qs_results_key(sm->arch.name, qs_precision_name(c->prec), c->batch, c->tp, c->key, sizeof c->key))
            return qs_fail(QS_EINVAL, "%s: models[%d]: name too long for a cell key", s->path, m);
          c->cost = qs_cell_cost(&sm->arch, c->prec, c->batch, c->tp, &sm->bench);
          n++;
        }
  }
  s->n_cells = n;
  if (n == 0) return qs_fail(QS_EINVAL, "%s: exclude: every cell is excluded", s->path);
  return QS_OK;
}

int qs_spec_parse(const char *path, const char *text, const char *zoo_override, qs_spec *s) {
  memset(s, 0, sizeof *s);
  qs_zoo zoo;
  memset(&zoo, 0, sizeof zoo);
  int rc = QS_OK;
  int def_batch[1] = {1}, def_tp[1] = {1};
  qs_spec_model dflt;
  memset(&dflt, 0, sizeof dflt);
  cJSON *root = NULL;
  if (qs_strlcpy(s->path, path, sizeof s->path) != 0) return qs_fail(QS_EINVAL, "%s: path too long", path);
  if (!(s->text = strdup(text))) return qs_fail(QS_ENOMEM, "%s: out of memory", path);
  root = cJSON_Parse(text);
  if (!root) {
    const char *e = cJSON_GetErrorPtr();
    long off = e ? (long)(e - text) : -1;
    rc = qs_fail(QS_EINVAL, "%s: malformed JSON near byte %ld", path, off);
    goto out;
  }
  if (!cJSON_IsObject(root)) {
    rc = qs_fail(QS_EINVAL, "%s: expected a JSON object at the top level", path);
    goto out;
  }
  if ((rc = check_keys(path, "", root, k_top_keys, QS_ARRAY_LEN(k_top_keys))) != QS_OK) goto out;
  {
    char *canon = cJSON_PrintUnformatted(root);
    if (!canon) {
      rc = qs_fail(QS_ENOMEM, "%s: out of memory", path);
      goto out;
    }
    snprintf(s->hash, sizeof s->hash, "%016llx", (unsigned long long)qs_fnv1a64(canon, strlen(canon)));
    free(canon);
  }

  /* defaults, then the top-level settings */
  qs_bench_opts_default(&dflt.bench);
  s->seed = 1234u;
  s->int8_threshold = 6.0f;
  s->nf4_double_quant = 0;
  s->calibrate = -1;
  s->cell_timeout_s = -1.0;
  dflt.batch = def_batch;
  dflt.n_batch = 1;
  dflt.tp = def_tp;
  dflt.n_tp = 1;
  for (const cJSON *f = root->child; f && rc == QS_OK; f = f->next) {
    const char *k = f->string;
    long long v = 0;
    double d = 0;
    if (k[0] == '_' || !strcmp(k, "models") || !strcmp(k, "overrides") || !strcmp(k, "exclude")) continue;
    if (!strcmp(k, "description")) {
      if (!cJSON_IsString(f)) rc = qs_fail(QS_EINVAL, "%s: description: expected a string, got %s", path, type_name(f));
    } else if (!strcmp(k, "precisions")) {
      rc = get_prec_list(path, k, f, dflt.prec, &dflt.n_prec);
    } else if (!strcmp(k, "batch_sizes")) {
      int *b = dflt.batch == def_batch ? NULL : dflt.batch;
      if ((rc = get_int_list(path, k, f, MAX_BATCH, &b, &dflt.n_batch)) == QS_OK) dflt.batch = b;
    } else if (!strcmp(k, "tp")) {
      int *t = dflt.tp == def_tp ? NULL : dflt.tp;
      if ((rc = get_int_list(path, k, f, MAX_TP, &t, &dflt.n_tp)) == QS_OK) dflt.tp = t;
    } else if (!strcmp(k, "image_sizes")) {
      rc = get_int_list(path, k, f, 8192, &dflt.size, &dflt.n_size);
    } else if (!strcmp(k, "seed")) {
      if ((rc = get_int(path, k, f, 0, (1LL << 53), &v)) == QS_OK) s->seed = (uint64_t)v;
    } else if (!strcmp(k, "input_seed")) {
      if ((rc = get_int(path, k, f, 0, (1LL << 53), &v)) == QS_OK) dflt.bench.input_seed = (uint64_t)v;
    } else if (!strcmp(k, "int8_threshold")) {
      if ((rc = get_num(path, k, f, 0, 1e6, &d)) == QS_OK) s->int8_threshold = (float)d;
    } else if (!strcmp(k, "nf4_double_quant")) {
      rc = get_bool(path, k, f, &s->nf4_double_quant);
    } else if (!strcmp(k, "calibrate")) {
      rc = get_bool(path, k, f, &s->calibrate);
    } else if (!strcmp(k, "cell_timeout_s")) {
      rc = get_num(path, k, f, 0, 1e7, &s->cell_timeout_s);
    } else if (!strcmp(k, "zoo")) {
      if (!cJSON_IsString(f) || !f->valuestring[0])
        rc = qs_fail(QS_EINVAL, "%s: zoo: expected a file name, got %s", path, type_name(f));
    } else {
      rc = get_bench_field(path, k, k, f, &dflt.bench);
    }
  }
  if (rc != QS_OK) goto out;
  if (dflt.n_prec == 0) {
    rc = qs_fail(QS_EINVAL, "%s: precisions: missing (e.g. [\"fp32\", \"fp16\", \"int8\", \"nf4\"])", path);
    goto out;
  }

  /* the zoo: QSWEEP_ZOO wins, then the spec's "zoo", then the default */
  {
    char dir[QS_PATH_MAX];
    dir_of(path, dir, sizeof dir);
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(root, "zoo");
    if (zoo_override && zoo_override[0]) {
      qs_strlcpy(s->zoo, zoo_override, sizeof s->zoo);
    } else if (z) {
      if (spec_relative(dir, z->valuestring, s->zoo, sizeof s->zoo) != 0) {
        rc = qs_fail(QS_EINVAL, "%s: zoo: path too long", path);
        goto out;
      }
    } else {
      qs_strlcpy(s->zoo, qs_zoo_default_path(), sizeof s->zoo);
    }
    if (qs_zoo_load(s->zoo, &zoo) != QS_OK) {
      char inner[QS_MSG_MAX];
      qs_strlcpy(inner, qs_last_error(), sizeof inner);
      rc = qs_fail(QS_EINVAL, "%s: zoo: %s", path, inner);
      goto out;
    }
    if ((rc = parse_models(s, root, dir, &zoo, &dflt)) != QS_OK) goto out;
  }
  if ((rc = parse_overrides(s, root)) != QS_OK) goto out;
  if ((rc = parse_exclude(s, root)) != QS_OK) goto out;
  if ((rc = expand_sizes(s)) != QS_OK) goto out;
  rc = expand(s);
out:
  free(dflt.size);
  if (dflt.batch != def_batch) free(dflt.batch);
  if (dflt.tp != def_tp) free(dflt.tp);
  cJSON_Delete(root);
  qs_zoo_free(&zoo);
  if (rc != QS_OK) qs_spec_free(s);
  return rc;
}

int qs_spec_load(const char *path, const char *zoo_override, qs_spec *s) {
  char *text;
  size_t len;
  memset(s, 0, sizeof *s);
  QS_TRY(qs_read_file(path, QS_SPEC_MAX_BYTES, &text, &len));
  if (strlen(text) != len) {
    free(text);
    return qs_fail(QS_EINVAL, "%s: contains a NUL byte (not a JSON text)", path);
  }
  int rc = qs_spec_parse(path, text, zoo_override, s);
  free(text);
  return rc;
}
