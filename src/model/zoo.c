/* zoo.c - sweep/models.json: {"models": [{"name", "category", "hf_checkpoint", "config": {...}}]} */
#define _XOPEN_SOURCE 700 /* realpath, readlink */
#include "zoo.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "qs_common.h"

/* The zoo an installed qsweep ships: <prefix>/<datadir>/qsweep/sweep/models.json, found
 * from the executable's own path (<prefix>/<bindir>/qsweep), so an installed tree can
 * move. "" where the executable is not in such a tree (a build directory). */
static const char *installed_zoo(void) {
#ifdef QS_DATA_REL
  static char path[QS_PATH_MAX];
  static int done;
  if (!done) {
    done = 1;
    char exe[QS_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = '\0';
      char *slash = strrchr(exe, '/');
      if (slash) {
        *slash = '\0';
        char rel[QS_PATH_MAX];
        struct stat st;
        if (snprintf(rel, sizeof rel, "%s/%s/sweep/models.json", exe, QS_DATA_REL) >= (int)sizeof rel ||
            stat(rel, &st) != 0 || !S_ISREG(st.st_mode) || !realpath(rel, path))
          path[0] = '\0';
      }
    }
  }
  return path;
#else
  return "";
#endif
}

const char *qs_zoo_default_path(void) {
  const char *env = getenv("QSWEEP_ZOO");
  if (env && env[0]) return env;
  const char *inst = installed_zoo();
  if (inst[0]) return inst;
  return QS_SOURCE_DIR "/sweep/models.json";
}

void qs_zoo_free(qs_zoo *z) {
  free(z->models);
  memset(z, 0, sizeof *z);
}

int qs_zoo_load(const char *path, qs_zoo *z) {
  memset(z, 0, sizeof *z);
  if (!path) path = qs_zoo_default_path();
  qs_strlcpy(z->path, path, sizeof z->path);
  char *text;
  size_t len;
  QS_TRY(qs_read_file(path, 64u << 20, &text, &len));
  cJSON *root = cJSON_ParseWithLength(text, len);
  if (!root) {
    const char *e = cJSON_GetErrorPtr();
    long off = e ? (long)(e - text) : -1;
    free(text);
    return qs_fail(QS_EINVAL, "%s: malformed JSON near byte %ld", path, off);
  }
  int rc = QS_OK;
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
  if (!cJSON_IsArray(models)) {
    rc = qs_fail(QS_EINVAL, "%s: models: expected an array", path);
    goto out;
  }
  int n = cJSON_GetArraySize(models);
  z->models = qs_calloc((size_t)n, sizeof *z->models);
  if (!z->models) {
    rc = QS_ENOMEM;
    goto out;
  }
  for (int i = 0; i < n && rc == QS_OK; i++) {
    const cJSON *e = cJSON_GetArrayItem(models, i);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(e, "category");
    const cJSON *hf = cJSON_GetObjectItemCaseSensitive(e, "hf_checkpoint");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(e, "config");
    if (!cJSON_IsString(name) || !name->valuestring[0]) {
      rc = qs_fail(QS_EINVAL, "%s: models[%d].name: expected a non-empty string", path, i);
      break;
    }
    char origin[QS_PATH_MAX + 200];
    snprintf(origin, sizeof origin, "%s: models[%d] (%s).config", path, i, name->valuestring);
    if (!cJSON_IsObject(cfg)) {
      rc = qs_fail(QS_EINVAL, "%s: expected an object", origin);
      break;
    }
    qs_arch *a = &z->models[i];
    if ((rc = qs_arch_from_json(cfg, origin, a)) != QS_OK) break;
    if (qs_strlcpy(a->name, name->valuestring, sizeof a->name) != 0) {
      rc = qs_fail(QS_EINVAL, "%s: models[%d].name: too long", path, i);
      break;
    }
    if (cJSON_IsString(cat)) qs_strlcpy(a->category, cat->valuestring, sizeof a->category);
    if (cJSON_IsString(hf)) qs_strlcpy(a->hf_name, hf->valuestring, sizeof a->hf_name);
    for (int j = 0; j < i; j++)
      if (!strcmp(z->models[j].name, a->name)) {
        rc = qs_fail(QS_EINVAL, "%s: models[%d].name: duplicate \"%s\"", path, i, a->name);
        break;
      }
    z->n = i + 1;
  }
out:
  cJSON_Delete(root);
  free(text);
  if (rc != QS_OK) qs_zoo_free(z);
  return rc;
}

int qs_zoo_resolve(const qs_zoo *z, const char *s, qs_arch *a) {
  struct stat st;
  if (strchr(s, '/') || (stat(s, &st) == 0 && S_ISDIR(st.st_mode))) {
    if (stat(s, &st) != 0 || !S_ISDIR(st.st_mode))
      return qs_fail(QS_EINVAL, "%s: model: not a zoo name and not a checkpoint directory", s);
    char cfg[QS_PATH_MAX + 32];
    snprintf(cfg, sizeof cfg, "%s/config.json", s);
    QS_TRY(qs_arch_from_config_file(cfg, a));
    if (qs_strlcpy(a->dir, s, sizeof a->dir) != 0) return qs_fail(QS_EINVAL, "%s: model: path too long", s);
    snprintf(cfg, sizeof cfg, "%s/model.safetensors", s);
    QS_TRY(qs_model_head_from_weights(a, cfg));
    /* the directory's last component names the model */
    char tmp[QS_PATH_MAX];
    qs_strlcpy(tmp, s, sizeof tmp);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/') tmp[--l] = '\0';
    const char *base = strrchr(tmp, '/');
    qs_strlcpy(a->name, base ? base + 1 : tmp, sizeof a->name);
    qs_strlcpy(a->category, "checkpoint", sizeof a->category);
    return QS_OK;
  }
  for (int i = 0; i < z->n; i++)
    if (!strcmp(z->models[i].name, s)) {
      *a = z->models[i];
      return QS_OK;
    }
  /* suggest the closest names by shared prefix */
  return qs_fail(QS_EINVAL, "%s: model: unknown \"%s\" (qsweep models lists the %d known models, or give a "
                 "directory with config.json + model.safetensors)", z->path, s, z->n);
}

int qs_zoo_lookup(const char *zoo_path, const char *name_or_dir, qs_arch *a) {
  qs_zoo z;
  QS_TRY(qs_zoo_load(zoo_path, &z));
  int rc = qs_zoo_resolve(&z, name_or_dir, a);
  qs_zoo_free(&z);
  return rc;
}
