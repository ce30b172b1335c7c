/* main.c - qsweep-analyze: results.h5 -> markdown or HTML report, CSV, JSON, SVG charts. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "qs_common.h"
#include "qs_version.h"

#define PROG "qsweep-analyze"

typedef struct {
  const char *input;
  const char *report; /* NULL: stdout when no other output is asked for */
  const char *csv;
  const char *json;
  const char *svg_dir;
  const char *html;
  const char *baseline;
  int batch; /* 0: the smallest batch size in the file */
  int compare; /* --compare BASE NEW */
  int baseline_set;
} cli_options;

static const cli_options k_defaults = {NULL, NULL, NULL, NULL, NULL, NULL, "fp32", 0, 0, 0};

static void usage(FILE *out) {
  fprintf(out,
          "usage: " PROG " RESULTS.h5 [MORE.h5 ...] [options]\n"
          "Turn a qsweep results file into a report. Without output options the markdown\n"
          "report goes to standard output. Several files of one machine (the same backend\n"
          "and GPUs; e.g. the files of a Slurm job array) make one report: a cell in a later\n"
          "file replaces the same cell of an earlier one.\n\n"
          "  --report FILE   write the markdown report to FILE (\"-\": standard output)\n"
          "  --csv FILE      write one CSV row per cell (every field) to FILE\n"
          "  --json FILE     write {meta, summary, cells} as JSON to FILE\n"
          "  --svg DIR       write the charts (speedup heatmap, memory efficiency,\n"
          "                  latency vs parameters) as SVG files into DIR\n"
          "  --html FILE     write the report as one self-contained HTML file (inline\n"
          "                  SVG charts: speedup heatmap per batch size, latency and\n"
          "                  throughput vs batch size, memory, fidelity)\n"
          "  --baseline P    precision the speedups are relative to (default: %s)\n"
          "  --batch B       batch size of the summary figures and charts\n"
          "                  (default: the smallest in the file)\n"
          "  --compare       BASE.h5 NEW.h5: the two runs cell by cell (speedup of NEW over\n"
          "                  BASE, faster / slower where the medians' 95%% CIs do not\n"
          "                  overlap, geometric means per precision); with --report,\n"
          "                  --csv and --html only\n"
          "  --version       print the version\n"
          "  -h, --help      this text\n",
          k_defaults.baseline);
}

static int parse_batch(const char *s, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 1 || v > INT_MAX) return -1;
  *out = (int)v;
  return 0;
}

/* Link target of the SVG directory as seen from the report's directory. */
static void svg_link_dir(const char *report, const char *svg_dir, char *out, size_t cap) {
  snprintf(out, cap, "%s", svg_dir);
  if (!report || strcmp(report, "-") == 0) return;
  char rdir[PATH_MAX], tmp[PATH_MAX], rabs[PATH_MAX], sabs[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", report);
  char *slash = strrchr(tmp, '/');
  if (!slash)
    snprintf(rdir, sizeof rdir, ".");
  else if (slash == tmp)
    snprintf(rdir, sizeof rdir, "/");
  else {
    *slash = '\0';
    snprintf(rdir, sizeof rdir, "%s", tmp);
  }
  if (!realpath(rdir, rabs) || !realpath(svg_dir, sabs)) return;
  /* skip the leading components the two absolute paths share */
  if (strcmp(rabs, "/") == 0) rabs[0] = '\0';
  if (strcmp(sabs, "/") == 0) sabs[0] = '\0';
  const char *r = rabs, *s = sabs;
  while (*r && *s) {
    const char *re = strchr(r + 1, '/'), *se = strchr(s + 1, '/');
    size_t rl = re ? (size_t)(re - r) : strlen(r), sl = se ? (size_t)(se - s) : strlen(s);
    if (rl == 0 || rl != sl || strncmp(r, s, rl) != 0) break;
    r += rl;
    s += sl;
  }
  /* one ".." per component left in the report's directory, then the rest of the SVG dir */
  size_t o = 0;
  out[0] = '\0';
  for (const char *p = r; *p; p++)
    if (*p == '/' && o + 4 < cap) o += (size_t)snprintf(out + o, cap - o, "../");
  while (*s == '/') s++;
  if (*s)
    snprintf(out + o, cap - o, "%s", s);
  else if (o == 0)
    snprintf(out, cap, ".");
  else
    out[o - 1] = '\0'; /* drop the trailing '/' */
}

typedef int (*writer_fn)(const qa_analysis *, FILE *, const char *);

static int write_to(const char *path, writer_fn fn, const qa_analysis *a) {
  FILE *f = fopen(path, "w");
  if (!f) return qs_fail(QS_EIO, "%s: cannot write: %s", path, strerror(errno));
  int rc = fn(a, f, path);
  if (fclose(f) != 0 && rc == QS_OK) rc = qs_fail(QS_EIO, "%s: write failed", path);
  return rc;
}

static int write_compare_to(const char *path, int (*fn)(const qa_compare *, FILE *, const char *),
                            const qa_compare *c) {
  if (strcmp(path, "-") == 0) return fn(c, stdout, "standard output");
  FILE *f = fopen(path, "w");
  if (!f) return qs_fail(QS_EIO, "%s: cannot write: %s", path, strerror(errno));
  int rc = fn(c, f, path);
  if (fclose(f) != 0 && rc == QS_OK) rc = qs_fail(QS_EIO, "%s: write failed", path);
  return rc;
}

static int run_compare(const cli_options *o, int n_files, char **files) {
  if (n_files != 2) {
    fprintf(stderr, PROG ": --compare: needs exactly two results files, BASE and NEW (got %d)\n", n_files);
    return 2;
  }
  if (o->json || o->svg_dir || o->baseline_set || o->batch) {
    fprintf(stderr, PROG ": --compare: writes --report, --csv and --html only (not --json, --svg, --baseline, --batch)\n");
    return 2;
  }
  qa_compare c;
  int rc = qa_compare_load(files[0], files[1], &c);
  if (rc == QS_OK) {
    if (o->report || (!o->csv && !o->html))
      rc = write_compare_to(o->report ? o->report : "-", qa_write_compare_md, &c);
    if (rc == QS_OK && o->csv) rc = write_compare_to(o->csv, qa_write_compare_csv, &c);
    if (rc == QS_OK && o->html) rc = write_compare_to(o->html, qa_write_compare_html, &c);
    qa_compare_free(&c);
  }
  if (rc != QS_OK) {
    fprintf(stderr, PROG ": %s\n", qs_last_error());
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  cli_options o = k_defaults;
  static const struct option longopts[] = {
      {"report", required_argument, NULL, 'r'}, {"csv", required_argument, NULL, 'c'},
      {"json", required_argument, NULL, 'j'},   {"svg", required_argument, NULL, 's'},
      {"baseline", required_argument, NULL, 'b'}, {"batch", required_argument, NULL, 'B'},
      {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
      {"compare", no_argument, NULL, 'C'},      {"html", required_argument, NULL, 'H'},
      {NULL, 0, NULL, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
      case 'r': o.report = optarg; break;
      case 'c': o.csv = optarg; break;
      case 'j': o.json = optarg; break;
      case 's': o.svg_dir = optarg; break;
      case 'H': o.html = optarg; break;
      case 'b': o.baseline = optarg; o.baseline_set = 1; break;
      case 'C': o.compare = 1; break;
      case 'B':
        if (parse_batch(optarg, &o.batch) != 0) {
          fprintf(stderr, PROG ": --batch: \"%s\" is not a positive integer\n", optarg);
          return 2;
        }
        break;
      case 'V': printf(PROG " %s (%s)\n", QS_VERSION, QS_GIT_COMMIT); return 0;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, PROG ": no results file given\n");
    usage(stderr);
    return 2;
  }
  o.input = argv[optind];
  if (o.compare) return run_compare(&o, argc - optind, argv + optind);
  if (!o.baseline[0]) {
    fprintf(stderr, PROG ": --baseline: empty\n");
    return 2;
  }
  int to_stdout = !o.report && !o.csv && !o.json && !o.svg_dir && !o.html;

  qa_options qo = {o.baseline, o.batch};
  qa_analysis a;
  int rc = qa_load_many((const char *const *)(argv + optind), argc - optind, &qo, &a);
  if (rc != QS_OK) {
    fprintf(stderr, PROG ": %s\n", qs_last_error());
    return 1;
  }
  char link[PATH_MAX + 64] = "";
  if (rc == QS_OK && o.svg_dir) {
    rc = qa_write_svgs(&a, o.svg_dir);
    if (rc == QS_OK) svg_link_dir(o.report, o.svg_dir, link, sizeof link);
  }
  if (rc == QS_OK && (to_stdout || (o.report && strcmp(o.report, "-") == 0))) {
    rc = qa_write_markdown(&a, stdout, "standard output", o.svg_dir ? link : NULL);
  } else if (rc == QS_OK && o.report) {
    FILE *f = fopen(o.report, "w");
    if (!f) {
      rc = qs_fail(QS_EIO, "%s: cannot write: %s", o.report, strerror(errno));
    } else {
      rc = qa_write_markdown(&a, f, o.report, o.svg_dir ? link : NULL);
      if (fclose(f) != 0 && rc == QS_OK) rc = qs_fail(QS_EIO, "%s: write failed", o.report);
    }
  }
  if (rc == QS_OK && o.csv) rc = write_to(o.csv, qa_write_csv, &a);
  if (rc == QS_OK && o.json) rc = write_to(o.json, qa_write_json, &a);
  if (rc == QS_OK && o.html) rc = write_to(o.html, qa_write_html, &a);
  qa_free(&a);
  if (rc != QS_OK) {
    fprintf(stderr, PROG ": %s\n", qs_last_error());
    return 1;
  }
  return 0;
}
