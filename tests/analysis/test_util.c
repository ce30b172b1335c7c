/* test_util.c - see test_util.h. */
#define _XOPEN_SOURCE 700
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[64];

static void remove_dir(void) {
  char cmd[128];
  if (!g_dir[0] || getenv("QA_KEEP_TMP")) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
}

const char *qa_tpath(const char *name) {
  static char buf[8][512];
  static int k;
  if (!g_dir[0]) {
    snprintf(g_dir, sizeof g_dir, "/tmp/qsa-test-XXXXXX");
    if (!mkdtemp(g_dir)) {
      perror("mkdtemp");
      exit(1);
    }
    atexit(remove_dir);
  }
  char *p = buf[k++ & 7];
  snprintf(p, 512, "%s/%s", g_dir, name);
  return p;
}

char *qa_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *s = malloc(cap);
  for (;;) {
    if (n + 4096 + 1 > cap) s = realloc(s, cap *= 2);
    size_t got = fread(s + n, 1, 4096, f);
    n += got;
    if (got < 4096) break;
  }
  fclose(f);
  s[n] = '\0';
  return s;
}

int qa_run(const char *exe, const char *args, char **out, char **err) {
  static char o[512], e[512];
  snprintf(o, sizeof o, "%s", qa_tpath("run.stdout"));
  snprintf(e, sizeof e, "%s", qa_tpath("run.stderr"));
  size_t len = strlen(exe) + strlen(args) + strlen(o) + strlen(e) + 32;
  char *cmd = malloc(len);
  snprintf(cmd, len, "'%s' %s >'%s' 2>'%s'", exe, args, o, e);
  int st = system(cmd);
  free(cmd);
  if (out) *out = qa_slurp(o);
  if (err) *err = qa_slurp(e);
  if (st == -1 || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

char *qa_section(const char *text, const char *heading) {
  const char *p = text;
  size_t hl = strlen(heading);
  while (p && *p) {
    if (strncmp(p, heading, hl) == 0) break;
    p = strchr(p, '\n');
    if (p) p++;
  }
  if (!p || !*p) return strdup("");
  const char *end = strchr(p, '\n');
  while (end && end[1] && end[1] != '#') end = strchr(end + 1, '\n');
  size_t n = end ? (size_t)(end - p) : strlen(p);
  char *s = malloc(n + 1);
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

int qa_contains(const char *hay, const char *needle) {
  return hay && needle && strstr(hay, needle) != NULL;
}

int qa_count_lines(const char *text) {
  int n = 0;
  for (const char *p = text; p && *p; p++) n += *p == '\n';
  return n;
}
