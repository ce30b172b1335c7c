/* model.c - synthetic weights, safetensors loading with validation, export. */
#define _POSIX_C_SOURCE 200809L
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qs_common.h"
#include "safetensors.h"

/* ---- the generator ---------------------------------------------------------
 * splitmix64 finalizer over (key, counter): counter-based, so any element can be
 * generated independently (threads, resumable) and the result never depends on
 * the order of generation. */
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t qs_rng_bits(uint64_t key, uint64_t counter) {
  return mix64(mix64(key + 0x9e3779b97f4a7c15ULL) ^ (counter * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL));
}

uint64_t qs_fnv1a64(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* Natural log of s in (0, 1] with +, *, / only (IEEE double, no contraction under
 * -std=c11), so the result is the same on every conforming machine. */
static double det_log(double s) {
  int e = 0;
  double m = frexp(s, &e); /* exact: s = m * 2^e, m in [0.5, 1) */
  if (m < 0.70710678118654752) {
    m *= 2.0;
    e--;
  }
  /* ln(m) = 2 atanh(z) = 2 (z + z^3/3 + z^5/5 + ...), z = (m-1)/(m+1), |z| <= 0.1716;
   * eleven terms leave a relative error under 1e-17 */
  static const double inv_odd[11] = {1.0,       1.0 / 3.0,  1.0 / 5.0,  1.0 / 7.0,  1.0 / 9.0, 1.0 / 11.0,
                                     1.0 / 13.0, 1.0 / 15.0, 1.0 / 17.0, 1.0 / 19.0, 1.0 / 21.0};
  double z = (m - 1.0) / (m + 1.0), z2 = z * z, poly = inv_odd[10];
  for (int k = 9; k >= 0; k--) poly = poly * z2 + inv_odd[k];
  return 2.0 * z * poly + e * 0.69314718055994530942;
}

/* Standard normal for (key, index): Marsaglia's polar method on counter bits. */
double qs_rng_normal(uint64_t key, uint64_t index) {
  for (uint64_t attempt = 0;; attempt++) {
    uint64_t r = qs_rng_bits(key ^ (attempt * 0x9e3779b97f4a7c15ULL), index);
    double u = ((double)(r >> 32) + 0.5) * (2.0 / 4294967296.0) - 1.0;
    double v = ((double)(r & 0xffffffffu) + 0.5) * (2.0 / 4294967296.0) - 1.0;
    double s = u * u + v * v;
    if (s >= 1.0 || s == 0.0) continue;
    return u * sqrt(-2.0 * det_log(s) / s);
  }
}

static void fill_tensor(float *dst, int64_t n, const qs_tensor_spec *s, uint64_t key) {
  if (s->init == QS_INIT_CONST) {
    for (int64_t i = 0; i < n; i++) dst[i] = s->value;
    return;
  }
  const double std = s->value;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    double x;
    uint64_t k = key;
    for (;;) {
      x = qs_rng_normal(k, (uint64_t)i) * std;
      /* HF's trunc_normal_ truncates at absolute bounds [-2, 2] */
      if (s->init != QS_INIT_TRUNC_NORMAL || (x >= -2.0 && x <= 2.0)) break;
      k = mix64(k + 1);
    }
    dst[i] = (float)x;
  }
}

static int model_alloc(const qs_arch *a, qs_model *m) {
  memset(m, 0, sizeof *m);
  m->arch = *a;
  QS_TRY(qs_arch_specs(a, &m->specs, &m->n));
  m->t = qs_calloc((size_t)m->n, sizeof *m->t);
  if (!m->t) {
    free(m->specs);
    return QS_ENOMEM;
  }
  for (int i = 0; i < m->n; i++) m->t[i].spec = &m->specs[i];
  return QS_OK;
}

void qs_model_free(qs_model *m) {
  if (!m) return;
  if (m->t)
    for (int i = 0; i < m->n; i++) free(m->t[i].data);
  free(m->t);
  free(m->specs);
  memset(m, 0, sizeof *m);
}

int qs_model_synthetic(const qs_arch *a, uint64_t seed, qs_model *m) {
  QS_TRY(model_alloc(a, m));
  for (int i = 0; i < m->n; i++) {
    const qs_tensor_spec *s = &m->specs[i];
    int64_t n = qs_spec_numel(s);
    m->t[i].data = malloc((size_t)n * sizeof(float) + 1);
    if (!m->t[i].data) {
      qs_model_free(m);
      return qs_fail(QS_ENOMEM, "%s: out of host memory for %s (%lld values)", a->name, s->name, (long long)n);
    }
    /* the key depends on the name, not the position: adding a tensor changes no other */
    uint64_t key = mix64(seed ^ qs_fnv1a64(s->name, strlen(s->name)));
    fill_tensor(m->t[i].data, n, s, key);
  }
  snprintf(m->source, sizeof m->source, "synthetic seed %llu", (unsigned long long)seed);
  return QS_OK;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, cap - o, "[");
  for (int i = 0; i < ndim && o < cap; i++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Checkpoints name the encoder with or without a class prefix ("vit.", "beit.", ...):
 * find which one this file uses. */
static int detect_prefix(const qs_st_file *f, const qs_arch *a, char *prefix, size_t cap) {
  static const char *cands[] = {"", "vit.", "deit.", "beit.", "dinov2.", "mobilevit."};
  const char *probe = a->family == QS_FAM_MOBILEVIT ? "conv_stem.convolution.weight"
                                                    : "embeddings.patch_embeddings.projection.weight";
  char name[256];
  snprintf(name, sizeof name, "%s%s", a->prefix, probe);
  if (qs_st_find(f, name) >= 0) {
    qs_strlcpy(prefix, a->prefix, cap);
    return QS_OK;
  }
  for (size_t i = 0; i < QS_ARRAY_LEN(cands); i++) {
    snprintf(name, sizeof name, "%s%s", cands[i], probe);
    if (qs_st_find(f, name) >= 0) {
      qs_strlcpy(prefix, cands[i], cap);
      return QS_OK;
    }
  }
  return qs_fail(QS_EINVAL, "%s: %s%s: missing (config.json describes a %s model; is this its checkpoint?)",
                 f->path, a->prefix, probe, qs_family_name(a->family));
}

int qs_model_head_from_weights(qs_arch *a, const char *path) {
  if (a->family != QS_FAM_VIT || (a->output != QS_OUT_POOLER && a->output != QS_OUT_CLS)) return QS_OK;
  qs_st_file f;
  QS_TRY(qs_st_open(path, &f));
  char prefix[sizeof a->prefix], name[256];
  int rc = detect_prefix(&f, a, prefix, sizeof prefix);
  int has = 0;
  if (rc == QS_OK) {
    snprintf(name, sizeof name, "%spooler.dense.weight", prefix);
    has = qs_st_find(&f, name) >= 0;
  }
  qs_st_close(&f);
  QS_TRY(rc);
  if (a->pooler_in_config && has != a->has_pooler)
    return qs_fail(QS_EINVAL, "%s: %s %s, but config.json says add_pooling_layer: %s", path, name,
                   has ? "is present" : "is missing", a->has_pooler ? "true" : "false");
  a->has_pooler = has;
  a->output = has ? QS_OUT_POOLER : QS_OUT_CLS;
  return QS_OK;
}

int qs_model_load(const qs_arch *a_in, const char *path, qs_model *m) {
  qs_st_file f;
  memset(m, 0, sizeof *m);
  QS_TRY(qs_st_open(path, &f));
  qs_arch a = *a_in;
  int rc = detect_prefix(&f, &a, a.prefix, sizeof a.prefix);
  if (rc == QS_OK) rc = model_alloc(&a, m);
  for (int i = 0; rc == QS_OK && i < m->n; i++) {
    const qs_tensor_spec *s = &m->specs[i];
    int idx = qs_st_find(&f, s->name);
    if (idx < 0) {
      if (s->optional) continue;
      rc = qs_fail(QS_EINVAL, "%s: %s: missing (config.json implies it)", path, s->name);
      break;
    }
    const qs_st_tensor *t = &f.tensors[idx];
    int same = t->ndim == s->ndim;
    for (int d = 0; same && d < s->ndim; d++) same = t->shape[d] == s->shape[d];
    if (!same) {
      char got[128], want[128];
      shape_str(got, sizeof got, t->ndim, t->shape);
      shape_str(want, sizeof want, s->ndim, s->shape);
      rc = qs_fail(QS_EINVAL, "%s: %s: shape %s disagrees with config.json (expects %s)", path, s->name, got, want);
      break;
    }
    int64_t n = qs_spec_numel(s);
    m->t[i].data = malloc((size_t)n * sizeof(float) + 1);
    if (!m->t[i].data) {
      rc = qs_fail(QS_ENOMEM, "%s: %s: out of host memory", path, s->name);
      break;
    }
    rc = qs_st_read_f32(&f, idx, m->t[i].data, n);
  }
  qs_st_close(&f);
  if (rc != QS_OK) {
    qs_model_free(m);
    return rc;
  }
  snprintf(m->source, sizeof m->source, "%s", path);
  return QS_OK;
}

int qs_model_create(const qs_arch *a, uint64_t seed, qs_model *m) {
  if (!a->dir[0]) return qs_model_synthetic(a, seed, m);
  char path[QS_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/model.safetensors", a->dir);
  return qs_model_load(a, path, m);
}

const float *qs_model_find(const qs_model *m, const char *name) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->specs[i].name, name) == 0) return m->t[i].data;
  return NULL;
}

const float *qs_model_get(const qs_model *m, const char *fmt, ...) {
  char name[QS_SPEC_NAME_MAX + 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  const float *p = qs_model_find(m, name);
  if (!p) qs_fail(QS_EINVAL, "%s: %s: tensor missing", m->arch.name, name);
  return p;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  char tmp[QS_PATH_MAX];
  if (qs_strlcpy(tmp, dir, sizeof tmp) != 0) return qs_fail(QS_EINVAL, "%s: path too long", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
      return qs_fail(QS_EIO, "%s: cannot create directory %s: %s", dir, tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
    return qs_fail(QS_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
  return QS_OK;
}

int qs_model_export(const qs_model *m, const char *dir) {
  QS_TRY(make_dirs(dir));
  char path[QS_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/config.json", dir);
  QS_TRY(qs_arch_write_config(&m->arch, path));
  qs_st_out_tensor *out = qs_calloc((size_t)m->n, sizeof *out);
  if (!out) return QS_ENOMEM;
  int k = 0;
  for (int i = 0; i < m->n; i++) {
    if (!m->t[i].data) continue;
    out[k].name = m->specs[i].name;
    out[k].ndim = m->specs[i].ndim;
    for (int d = 0; d < m->specs[i].ndim; d++) out[k].shape[d] = m->specs[i].shape[d];
    out[k].data = m->t[i].data;
    k++;
  }
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  const char *meta[] = {"producer", "qsweep export-weights", "qsweep_model", m->arch.name, "qsweep_source",
                        m->source, NULL};
  int rc = qs_st_write(path, out, k, meta);
  free(out);
  return rc;
}

void qs_make_input(uint64_t seed, int batch, int channels, int size, float *x) {
  int64_t n = (int64_t)batch * channels * size * size;
  uint64_t key = mix64(seed ^ 0x1a2b3c4d5e6f7788ULL);
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = qs_rng_bits(key, (uint64_t)i);
    x[i] = (float)((double)(r >> 40) * (2.0 / 16777216.0) - 1.0);
  }
}
