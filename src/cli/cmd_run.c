/* cmd_run.c - `qsweep run SPEC -o results.h5`: a sweep over MPI ranks.
 *
 * Every rank parses the same options; rank 0 validates the spec (before any work),
 * checks the output file (--resume / --force), and broadcasts the spec text, so all
 * ranks expand the same cells. Then each rank binds to a GPU by its node-local rank,
 * and the coordinator (coordinator.c) runs the cells. Only rank 0 prints.
 * Exit codes: 0 every cell ok; 3 some cell not ok (failed, oom, unsupported, timeout);
 * 2 usage; 1 fatal (bad spec, bad output file, no device, write failure). */
#define _GNU_SOURCE
#include <getopt.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "calibrate.h"
#include "cell.h"
#include "commands.h"
#include "coordinator.h"
#include "qs_common.h"
#include "qs_version.h"
#include "results.h"
#include "spec.h"
#include "worker.h"
#include "zoo.h"

enum { EXIT_OK = 0, EXIT_FATAL = 1, EXIT_USAGE = 2, EXIT_CELLS = 3 };

typedef struct {
  const char *spec_path;
  const char *out;
  const char *backend; /* NULL: default */
  const char *inject, *inject_crash, *inject_hang;
  double cell_timeout_s; /* < 0: not given (the spec's, else from the estimate) */
  int resume, force, dry_run, share_gpu, quiet, no_worker, no_calibrate;
  qs_rank0_mode rank0;
} run_opts;

static void usage(FILE *f) {
  fprintf(f,
          "usage: qsweep run SPEC -o results.h5 [options]      (mpirun -np N qsweep run ...)\n\n"
          "Runs every cell of the sweep SPEC (sweep/README.md) over the MPI ranks and appends one row\n"
          "per cell to the HDF5 results file (h5/README.md). Rank 0 hands out cells, largest first,\n"
          "keeps a model's cells on one rank where it can, writes every row durably, and runs cells\n"
          "too. Each rank uses the GPU of its node-local rank (after CUDA_VISIBLE_DEVICES).\n\n"
          "  -o, --out FILE           results file (required unless --dry-run)\n"
          "  -b, --backend B          cpu, cuda or sim (default: cuda where built and a GPU is\n"
          "                           visible, else cpu)\n"
          "      --resume             continue FILE: skip cells whose last row is ok, retry the rest\n"
          "      --force              with --resume: accept a file written from another spec\n"
          "      --dry-run            print the cells in hand-out order, their estimated cost, the rank\n"
          "                           each of the first starts on, and the tp cells no node can run\n"
          "      --share-gpu          allow more ranks on a node than visible GPUs (timings interfere)\n"
          "      --no-calibrate       do not measure each rank's copy bandwidth and GEMM rates at the start\n"
          "                           (qsweep calibrate; stored in /calibration of the file for the report's\n"
          "                           roofline; done on cuda unless the spec says \"calibrate\": false, on\n"
          "                           cpu where it says true, never on sim)\n"
          "      --cell-timeout S     kill a cell's worker after S seconds and record the cell `timeout`;\n"
          "                           0: no limit (default: the spec's cell_timeout_s, else %g x the\n"
          "                           estimated cost scaled to the backend, at least %g s)\n"
          "      --no-worker          run cells in the rank's own process (for a debugger): a crash then\n"
          "                           ends the rank and no time limit applies\n"
          "      --inject-failure PAT cells whose key contains PAT fail with \"injected failure\" (a test\n"
          "                           switch; also QSWEEP_INJECT_FAILURE)\n"
          "      --inject-crash PAT   cells whose key contains PAT crash their worker for real: SIGSEGV on\n"
          "                           cpu / sim, a kernel storing to an illegal address on cuda (a test\n"
          "                           switch; also QSWEEP_INJECT_CRASH)\n"
          "      --inject-hang PAT    ... hang for real until the time limit: sleep on cpu / sim, a\n"
          "                           kernel spinning forever on cuda (also QSWEEP_INJECT_HANG)\n"
          "      --rank0 MODE         with more than one rank: thread (default: rank 0 runs cells on a\n"
          "                           helper thread and answers requests at once), inline (rank 0 runs\n"
          "                           cells itself and answers between them), coord (rank 0 runs none)\n"
          "  -q, --quiet              no per-cell progress lines\n"
          "  -h, --help               this text\n\n"
          "environment: QSWEEP_ZOO (zoo file, overrides the spec's \"zoo\"), QSWEEP_SIM_SCALE (sim\n"
          "backend: sleep per estimated microsecond, default 0.01), QSWEEP_INJECT_FAILURE,\n"
          "QSWEEP_INJECT_CRASH, QSWEEP_INJECT_HANG.\n"
          "exit status: 0 every cell ok, 3 some cell not ok, 2 usage error, 1 fatal error.\n",
          QS_CELL_TIMEOUT_MARGIN, QS_CELL_TIMEOUT_FLOOR_S);
}

static int parse_opts(int argc, char **argv, run_opts *o, int *help) {
  static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                       {"backend", required_argument, 0, 'b'},
                                       {"resume", no_argument, 0, 'R'},
                                       {"force", no_argument, 0, 'F'},
                                       {"dry-run", no_argument, 0, 'n'},
                                       {"share-gpu", no_argument, 0, 'S'},
                                       {"no-calibrate", no_argument, 0, 'K'},
                                       {"inject-failure", required_argument, 0, 'I'},
                                       {"inject-crash", required_argument, 0, 'C'},
                                       {"inject-hang", required_argument, 0, 'H'},
                                       {"cell-timeout", required_argument, 0, 'T'},
                                       {"no-worker", no_argument, 0, 'W'},
                                       {"rank0", required_argument, 0, 'Z'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->rank0 = QS_RANK0_THREAD;
  o->cell_timeout_s = -1.0;
  *help = 0;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:b:qh", opts, NULL)) != -1) {
    switch (c) {
      case 'o': o->out = optarg; break;
      case 'b': o->backend = optarg; break;
      case 'R': o->resume = 1; break;
      case 'F': o->force = 1; break;
      case 'n': o->dry_run = 1; break;
      case 'S': o->share_gpu = 1; break;
      case 'K': o->no_calibrate = 1; break;
      case 'I': o->inject = optarg; break;
      case 'C': o->inject_crash = optarg; break;
      case 'H': o->inject_hang = optarg; break;
      case 'W': o->no_worker = 1; break;
      case 'T': {
        char *end = NULL;
        double v = strtod(optarg, &end);
        if (!optarg[0] || *end || !(v >= 0 && v <= 1e7))
          return qs_fail(QS_EINVAL, "--cell-timeout: \"%s\" is not a number of seconds in [0, 1e7] (0: no limit)",
                         optarg);
        o->cell_timeout_s = v;
        break;
      }
      case 'q': o->quiet = 1; break;
      case 'Z':
        if (!strcmp(optarg, "thread")) o->rank0 = QS_RANK0_THREAD;
        else if (!strcmp(optarg, "inline")) o->rank0 = QS_RANK0_INLINE;
        else if (!strcmp(optarg, "coord")) o->rank0 = QS_RANK0_COORD;
        else return qs_fail(QS_EINVAL, "--rank0: unknown mode \"%s\" (thread, inline, coord)", optarg);
        break;
      case 'h': *help = 1; return QS_OK;
      default:
        if (optopt) return qs_fail(QS_EINVAL, "option -%c: unknown or missing its argument", optopt);
        return qs_fail(QS_EINVAL, "%s: unknown option or missing argument", argv[optind - 1]);
    }
  }
  /* glibc's getopt_long permutes argv: SPEC may come before or after the options */
  for (int i = optind; i < argc; i++) {
    if (o->spec_path) return qs_fail(QS_EINVAL, "unexpected argument \"%s\" (one SPEC only)", argv[i]);
    o->spec_path = argv[i];
  }
  if (!o->spec_path) return qs_fail(QS_EINVAL, "SPEC: missing (a sweep JSON file, e.g. sweep/seed64.json)");
  if (!o->out && !o->dry_run) return qs_fail(QS_EINVAL, "-o/--out: missing (the HDF5 results file)");
  if (o->force && !o->resume) return qs_fail(QS_EINVAL, "--force: only with --resume");
  const struct {
    const char **opt;
    const char *env;
  } envs[] = {{&o->inject, "QSWEEP_INJECT_FAILURE"},
              {&o->inject_crash, "QSWEEP_INJECT_CRASH"},
              {&o->inject_hang, "QSWEEP_INJECT_HANG"}};
  for (size_t i = 0; i < QS_ARRAY_LEN(envs); i++) {
    const char *e = getenv(envs[i].env);
    if (!*envs[i].opt && e && e[0]) *envs[i].opt = e;
  }
  return QS_OK;
}

static void utc_now(char *buf, size_t cap) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *join_args(int argc, char **argv) {
  size_t n = 8;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) * 4 + 3;
  char *s = malloc(n), *p = s;
  if (!s) return NULL;
  p += sprintf(p, "qsweep");
  for (int i = 0; i < argc; i++) {
    int plain = argv[i][0] != '\0';
    for (const char *c = argv[i]; *c; c++)
      if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *c)) plain = 0;
    if (plain) {
      p += sprintf(p, " %s", argv[i]);
    } else { /* single-quote it, shell style */
      *p++ = ' ';
      *p++ = '\'';
      for (const char *c = argv[i]; *c; c++) {
        if (*c == '\'') p += sprintf(p, "'\\''");
        else *p++ = *c;
      }
      *p++ = '\'';
      *p = '\0';
    }
  }
  return s;
}

/* Comma-separated distinct values of a gathered [world][width] table, in rank order. */
static char *distinct_list(const char *table, int world, int width) {
  char *s = calloc((size_t)world, (size_t)width + 1);
  if (!s) return NULL;
  for (int r = 0; r < world; r++) {
    const char *v = table + (size_t)r * width;
    int seen = 0;
    for (int q = 0; q < r && !seen; q++) seen = !strncmp(v, table + (size_t)q * width, (size_t)width);
    if (seen) continue;
    if (s[0]) strcat(s, ",");
    strncat(s, v, (size_t)width);
  }
  return s;
}

static int bcast_code(int code) {
  MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return code;
}

static int finish(int code) {
  H5close();
  MPI_Finalize();
  return code;
}

static int bsearch_key(char **keys, int n, const char *k) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2, c = strcmp(keys[mid], k);
    if (!c) return 1;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

/* Rank 0: the output file before any work. Fills skip[] with --resume. */
static int check_output(const run_opts *o, const qs_spec *s, unsigned char *skip, int *n_skip, qs_run_meta *old) {
  struct stat st;
  *n_skip = 0;
  if (stat(o->out, &st) != 0) return QS_OK; /* new file (also with --resume) */
  if (!o->resume) return qs_fail(QS_EINVAL, "%s: file exists (use --resume to continue it, or remove it)", o->out);
  qs_cell_result *rows = NULL;
  int n_rows = 0;
  QS_TRY(qs_results_read(o->out, &rows, &n_rows, old));
  qs_results_free_rows(rows, n_rows);
  if (strcmp(old->sweep_hash, s->hash) != 0 && !o->force)
    return qs_fail(QS_EINVAL, "%s: sweep_hash: %s, but %s hashes to %s: the file holds another sweep (--force "
                   "appends to it anyway)", o->out, old->sweep_hash[0] ? old->sweep_hash : "(empty)", s->path, s->hash);
  char **keys = NULL;
  int nk = 0;
  QS_TRY(qs_results_done_keys(o->out, &keys, &nk, 1));
  for (int i = 0; i < s->n_cells; i++)
    if (bsearch_key(keys, nk, s->cells[i].key)) {
      skip[i] = 1;
      (*n_skip)++;
    }
  qs_results_free_keys(keys, nk);
  return QS_OK;
}

/* Every rank (collective): measure this rank's device (calibrate.h) and rank 0 writes each
 * rank's result to /calibration/rank<R>. A rank whose measurement fails is reported and
 * left out; the sweep goes on either way. */
static void calibrate_ranks(const qs_backend *be, int device, int rank, int world, const char *host, qs_results *out,
                            int quiet) {
  qs_calibration *mine = calloc(1, sizeof *mine);
  qs_calibration *all = rank == 0 ? calloc((size_t)world, sizeof *all) : NULL;
  int ok = 0, *oks = rank == 0 ? calloc((size_t)world, sizeof *oks) : NULL;
  char why[256] = "", *whys = rank == 0 ? calloc((size_t)world, sizeof why) : NULL;
  if (!mine || (rank == 0 && (!all || !oks || !whys))) MPI_Abort(MPI_COMM_WORLD, 1);
  qs_calib_opts co;
  qs_calib_opts_default(be, &co);
  mine->rank = rank;
  qs_strlcpy(mine->host, host, sizeof mine->host);
  double t0 = qs_now_s();
  ok = qs_calibrate(be, device, &co, mine) == QS_OK;
  if (!ok) qs_strlcpy(why, qs_last_error(), sizeof why);
  MPI_Gather(&ok, 1, MPI_INT, oks, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Gather(why, sizeof why, MPI_CHAR, whys, sizeof why, MPI_CHAR, 0, MPI_COMM_WORLD);
  MPI_Gather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *all, MPI_BYTE, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    for (int r = 0; r < world; r++) {
      if (!oks[r]) {
        fprintf(stderr, "qsweep run: rank %d: %s (no calibration stored; the sweep goes on)\n", r,
                whys + (size_t)r * sizeof why);
        continue;
      }
      all[r].rank = r;
      if (qs_results_put_calibration(out, &all[r]) != QS_OK)
        fprintf(stderr, "qsweep run: rank %d: calibration not stored: %s\n", r, qs_last_error());
      if (quiet) continue;
      char line[512];
      size_t o = (size_t)snprintf(line, sizeof line, "qsweep run: rank %d calibrated (%s):", r, all[r].device);
      for (int i = 0; i < all[r].n_entries && o < sizeof line; i++) {
        const qs_calib_entry *e = &all[r].e[i];
        if (strcmp(e->status, "ok") == 0)
          o += (size_t)snprintf(line + o, sizeof line - o, " %s %.0f %s", e->name, e->value, e->unit);
        else
          o += (size_t)snprintf(line + o, sizeof line - o, " %s %s", e->name, e->status);
      }
      fprintf(stderr, "%s\n", line);
    }
    if (!quiet) fprintf(stderr, "qsweep run: calibration took %.1f s\n", qs_now_s() - t0);
  }
  free(mine);
  free(all);
  free(oks);
  free(whys);
}

static const double *g_dry_cost; /* qsort has no context argument in C11 */
static int by_cost_desc(const void *x, const void *y) {
  const int a = *(const int *)x, b = *(const int *)y;
  if (g_dry_cost[a] != g_dry_cost[b]) return g_dry_cost[a] > g_dry_cost[b] ? -1 : 1;
  return (a > b) - (a < b);
}

/* The plan of a sweep, as rank 0 would hand it out: tp = 1 cells in the scheduler's
 * order (with each rank's first cell when the sweep has no tp > 1 cell), tp > 1 cells
 * merged in by decreasing cost, and the tp > 1 cells no node can run, which the sweep
 * reports unsupported at once. 0, or -1 (out of host memory, said on stderr). */
static int dry_run(const qs_spec *s, const unsigned char *skip, int world, qs_rank0_mode mode, const qs_backend *be,
                   int max_node) {
  const int n = s->n_cells;
  double *costs = malloc(sizeof(double) * (size_t)n);
  int *models = malloc(sizeof(int) * (size_t)n), *order = malloc(sizeof(int) * (size_t)n);
  int *start = malloc(sizeof(int) * (size_t)n), *tpc = malloc(sizeof(int) * (size_t)n);
  unsigned char *mask = malloc((size_t)n), *bad = calloc((size_t)n, 1);
  qs_sched *sc = NULL;
  int rc = -1;
  if (!costs || !models || !order || !start || !tpc || !mask || !bad) goto out;
  const int rank0_runs = world == 1 || mode != QS_RANK0_COORD;
  const int ranks = rank0_runs ? world : world - 1;
  const int tp_capable = qs_backend_tp_capable(be);
  int n_tp = 0, n_bad = 0;
  char why[QS_MSG_MAX];
  for (int i = 0; i < n; i++) {
    const qs_cell *cl = &s->cells[i];
    costs[i] = cl->cost;
    models[i] = cl->model;
    start[i] = -1;
    mask[i] = skip[i] || cl->tp > 1; /* the scheduler takes the tp = 1 cells */
    if (skip[i] || cl->tp <= 1) continue;
    if (qs_tp_unrunnable(&s->models[cl->model].arch, cl->tp, tp_capable, be->name, max_node, !rank0_runs, why,
                         sizeof why)) {
      bad[i] = 1;
      n_bad++;
    } else {
      tpc[n_tp++] = i;
    }
  }
  sc = qs_sched_create(n, costs, models, mask, ranks);
  if (!sc) goto out;
  int k = 0;
  if (n_tp == 0) {
    for (int slot = 0; slot < ranks; slot++) {
      int c = qs_sched_initial(sc, slot);
      if (c >= 0) start[c] = rank0_runs ? slot : slot + 1;
    }
    for (int c = 0; c < n; c++)
      if (start[c] >= 0) order[k++] = c;
  }
  for (int c; (c = qs_sched_next(sc, -1)) >= 0;) order[k++] = c; /* the rest, largest first */
  if (n_tp > 0) {                                                  /* merge the tp > 1 cells in */
    g_dry_cost = costs;
    qsort(tpc, (size_t)n_tp, sizeof(int), by_cost_desc);
    for (int i = k - 1, j = n_tp - 1, w = k + n_tp - 1; j >= 0; w--) {
      if (i >= 0 && costs[order[i]] < costs[tpc[j]]) order[w] = order[i--];
      else if (i >= 0 && costs[order[i]] == costs[tpc[j]] && order[i] > tpc[j]) order[w] = order[i--];
      else order[w] = tpc[j--];
    }
    k += n_tp;
  }
  double total = 0, longest = 0; /* rank-seconds: a tp = t cell holds t ranks */
  for (int i = 0; i < k; i++) {
    const double c = costs[order[i]];
    total += c * (s->cells[order[i]].tp > 1 ? s->cells[order[i]].tp : 1);
    if (c > longest) longest = c;
  }
  const int n_skip = (int)(n - k - n_bad);
  printf("# qsweep run --dry-run: %s: %d cells, %d to run (%d already ok", s->path, n, k, n_skip);
  if (n_bad) printf(", %d unsupported", n_bad);
  printf("), %d rank%s, backend %s\n", world, world == 1 ? "" : "s", be->name);
  printf("# cost model: estimated seconds on the reference GPU (sweep/README.md); start_rank '-' = handed out "
         "when a rank frees up\n");
  if (n_tp)
    printf("# tp > 1 cells run on that many idle ranks of one node (at most %d here), each for est_cost_s; which "
           "ranks take which cell first is decided at run time, so no start ranks are shown\n",
           max_node);
  printf("# %5s  %10s  %10s  %s\n", "order", "start_rank", "est_cost_s", "key");
  for (int i = 0; i < k; i++) {
    char r[16];
    if (start[order[i]] >= 0) snprintf(r, sizeof r, "%d", start[order[i]]);
    else snprintf(r, sizeof r, "-");
    printf("  %5d  %10s  %10.3f  %s\n", i, r, costs[order[i]] * 1e-6, s->cells[order[i]].key);
  }
  for (int c = 0; c < n; c++) {
    if (!bad[c]) continue;
    qs_tp_unrunnable(&s->models[s->cells[c].model].arch, s->cells[c].tp, tp_capable, be->name, max_node, !rank0_runs,
                     why, sizeof why);
    printf("  %5s  %10s  %10s  %s  (unsupported, reported at once: %s)\n", "-", "-", "-", s->cells[c].key, why);
  }
  for (int c = 0; c < n; c++)
    if (skip[c]) printf("  %5s  %10s  %10.3f  %s  (already ok)\n", "-", "-", costs[c] * 1e-6, s->cells[c].key);
  double lb = total / (ranks > 0 ? ranks : 1) > longest ? total / (ranks > 0 ? ranks : 1) : longest;
  printf("# total %.1f s of estimated work; lower bound on the makespan %.1f s on %d running rank%s\n", total * 1e-6,
         lb * 1e-6, ranks, ranks == 1 ? "" : "s");
  rc = 0;
out:
  if (rc) fprintf(stderr, "qsweep run: out of host memory planning the dry run\n");
  qs_sched_free(sc);
  free(costs);
  free(models);
  free(order);
  free(start);
  free(tpc);
  free(mask);
  free(bad);
  return rc;
}

int qs_cmd_run(int argc, char **argv) {
  int provided = 0, rank = 0, world = 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);

  /* ---- options (every rank parses the same argv; rank 0 speaks) ---- */
  run_opts o;
  int help = 0;
  char *args = join_args(argc, argv); /* "qsweep run ...", before getopt permutes argv */
  int rc = args ? parse_opts(argc, argv, &o, &help) : QS_ENOMEM;
  if (help) {
    if (rank == 0) usage(stdout);
    free(args);
    return finish(EXIT_OK);
  }
  if (rc != QS_OK) {
    if (rank == 0) {
      fprintf(stderr, "qsweep run: %s\n", qs_last_error());
      fprintf(stderr, "usage: qsweep run SPEC -o results.h5 [options]   (qsweep run --help)\n");
    }
    free(args);
    return finish(EXIT_USAGE);
  }
  if (provided < MPI_THREAD_FUNNELED && o.rank0 == QS_RANK0_THREAD) o.rank0 = QS_RANK0_INLINE;

  /* ---- backend: same on every rank ---- */
  char backend_name[16] = "", why[256] = "";
  const qs_backend *be = NULL;
  if (rank == 0) {
    if (o.backend) {
      be = qs_backend_get(o.backend);
      if (!be) fprintf(stderr, "qsweep run: --%s\n", qs_last_error());
    } else {
      be = qs_backend_default(why, sizeof why);
    }
    if (be) qs_strlcpy(backend_name, be->name, sizeof backend_name);
  }
  MPI_Bcast(backend_name, sizeof backend_name, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!backend_name[0]) return finish(EXIT_USAGE);
  be = qs_backend_get(backend_name);

  /* ---- the spec: rank 0 validates before anything runs, then every rank parses its text ---- */
  const char *zoo_env = getenv("QSWEEP_ZOO");
  qs_spec spec;
  memset(&spec, 0, sizeof spec);
  unsigned long long text_len = 0;
  if (rank == 0) {
    rc = qs_spec_load(o.spec_path, zoo_env, &spec);
    if (rc != QS_OK) fprintf(stderr, "qsweep run: %s\n", qs_last_error());
    else text_len = strlen(spec.text);
  }
  if (bcast_code(rc) != QS_OK) {
    free(args);
    return finish(EXIT_FATAL);
  }
  MPI_Bcast(&text_len, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  if (rank != 0) {
    char *text = malloc(text_len + 1);
    if (!text) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Bcast(text, (int)text_len, MPI_CHAR, 0, MPI_COMM_WORLD);
    text[text_len] = '\0';
    if (qs_spec_parse(o.spec_path, text, zoo_env, &spec) != QS_OK) {
      fprintf(stderr, "qsweep run: rank %d: %s\n", rank, qs_last_error());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    free(text);
  } else {
    MPI_Bcast(spec.text, (int)text_len, MPI_CHAR, 0, MPI_COMM_WORLD);
  }

  /* ---- the output file (rank 0), before any work ---- */
  unsigned char *skip = calloc((size_t)spec.n_cells, 1);
  qs_run_meta old;
  memset(&old, 0, sizeof old);
  int n_skip = 0;
  if (!skip) MPI_Abort(MPI_COMM_WORLD, 1);
  if (rank == 0) {
    if (o.out && (!o.dry_run || o.resume)) rc = check_output(&o, &spec, skip, &n_skip, &old);
    if (rc != QS_OK) fprintf(stderr, "qsweep run: %s\n", qs_last_error());
  }
  if (bcast_code(rc) != QS_OK) goto fatal;
  if (o.dry_run) {
    const int max_node = qs_coord_max_node(rank, world, o.rank0); /* collective */
    int drc = rank == 0 ? dry_run(&spec, skip, world, o.rank0, be, max_node) : 0;
    free(skip);
    qs_run_meta_free(&old);
    qs_spec_free(&spec);
    free(args);
    return finish(drc ? EXIT_FATAL : EXIT_OK);
  }
  if (rank == 0) {
    if (o.backend) fprintf(stderr, "qsweep run: backend %s\n", backend_name);
    else fprintf(stderr, "qsweep run: backend %s\n", why);
  }

  /* ---- device binding: node-local rank -> GPU; the backend must work on every rank ---- */
  {
    MPI_Comm node;
    int local_rank = 0, local_size = 1;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);
    MPI_Comm_free(&node);
    int device = -1, bad[3] = {0, 0, 0}, worst[3];
    char reason[256] = "";
    if (be->available(reason, sizeof reason) != 0) bad[0] = 1;
    if (!strcmp(be->name, "cuda")) {
      int ngpu = qs_cuda_device_count();
      if (ngpu < 1) bad[0] = 1;
      else if (local_size > ngpu && !o.share_gpu) bad[1] = local_size * 1000 + ngpu;
      if (ngpu > 0) device = local_rank % ngpu;
    }
    MPI_Allreduce(bad, worst, 3, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst[0] || worst[1]) {
      if (rank == 0) {
        if (worst[0])
          fprintf(stderr, "qsweep run: backend %s: not usable on every rank%s%s\n", be->name, reason[0] ? ": " : "",
                  reason);
        else
          fprintf(stderr, "qsweep run: %d ranks on one node share %d visible GPU%s: timings would interfere "
                  "(run one rank per GPU, or pass --share-gpu)\n", worst[1] / 1000, worst[1] % 1000,
                  worst[1] % 1000 == 1 ? "" : "s");
      }
      goto fatal;
    }
    qs_cell_ctx *ctx = NULL;
    if (qs_cell_ctx_create(be, device, rank, &ctx) != QS_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    qs_cell_ctx_set_inject(ctx, o.inject);
    /* the worker process starts at this rank's first cell (worker.h) */
    qs_worker *worker = NULL;
    if (!o.no_worker) {
      if (qs_worker_create(be->name, device, rank, &worker) != QS_OK) MPI_Abort(MPI_COMM_WORLD, 1);
      qs_worker_set_inject(worker, o.inject);
    }

    /* ---- provenance: hosts and devices of every rank ---- */
    char host[64] = "", dev[128] = "";
    if (gethostname(host, sizeof host) != 0) qs_strlcpy(host, "unknown", sizeof host);
    host[sizeof host - 1] = '\0';
    qs_strlcpy(dev, qs_cell_ctx_device(ctx), sizeof dev);
    char *hosts = rank == 0 ? calloc((size_t)world, sizeof host) : NULL;
    char *devs = rank == 0 ? calloc((size_t)world, sizeof dev) : NULL;
    if (rank == 0 && (!hosts || !devs)) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Gather(host, sizeof host, MPI_CHAR, hosts, sizeof host, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Gather(dev, sizeof dev, MPI_CHAR, devs, sizeof dev, MPI_CHAR, 0, MPI_COMM_WORLD);

    qs_run_meta meta;
    memset(&meta, 0, sizeof meta);
    qs_results *out = NULL;
    if (rank == 0) {
      qs_strlcpy(meta.qsweep_version, QS_VERSION, sizeof meta.qsweep_version);
      qs_strlcpy(meta.git_commit, QS_GIT_COMMIT, sizeof meta.git_commit);
      if (old.started_utc[0]) qs_strlcpy(meta.started_utc, old.started_utc, sizeof meta.started_utc);
      else utc_now(meta.started_utc, sizeof meta.started_utc);
      meta.sweep_json = strdup(spec.text);
      qs_strlcpy(meta.sweep_hash, spec.hash, sizeof meta.sweep_hash);
      meta.command_line = strdup(args);
      int len = 0;
      char lib[MPI_MAX_LIBRARY_VERSION_STRING];
      MPI_Get_library_version(lib, &len);
      lib[strcspn(lib, "\n")] = '\0';
      qs_strlcpy(meta.mpi_library, lib, sizeof meta.mpi_library);
      meta.world_size = world;
      meta.hostnames = distinct_list(hosts, world, (int)sizeof host);
      meta.gpu_names = distinct_list(devs, world, (int)sizeof dev);
      qs_strlcpy(meta.backend, be->name, sizeof meta.backend);
      if (strcmp(be->name, "cuda") == 0)
        qs_cuda_versions(meta.driver_version, meta.cuda_version, meta.nccl_version, sizeof meta.driver_version);
      /* check_output refused an existing file without --resume */
      struct stat st;
      if (stat(o.out, &st) == 0) {
        rc = qs_results_open_append(o.out, &out);
        if (rc == QS_OK) rc = qs_results_set_meta(out, &meta);
      } else {
        rc = qs_results_create(o.out, &meta, 0, &out);
      }
      if (rc != QS_OK) fprintf(stderr, "qsweep run: %s\n", qs_last_error());
    }
    free(hosts);
    free(devs);
    if (bcast_code(rc) != QS_OK) {
      if (out) qs_results_close(out);
      qs_run_meta_free(&meta);
      qs_worker_free(worker);
      qs_cell_ctx_free(ctx);
      goto fatal;
    }

    /* ---- each rank's device ceilings: on cuda unless turned off, on cpu when the spec
     * asks ("calibrate": true), never on sim ---- */
    if (!o.no_calibrate && ((strcmp(be->name, "cuda") == 0 && spec.calibrate != 0) ||
                            (strcmp(be->name, "cpu") == 0 && spec.calibrate == 1)))
      calibrate_ranks(be, device, rank, world, host, out, o.quiet);

    /* ---- the sweep ---- */
    qs_coord_run run;
    memset(&run, 0, sizeof run);
    run.spec = &spec;
    run.skip = skip;
    run.out = out;
    run.cell = ctx;
    run.worker = worker;
    run.cell_timeout_s = o.cell_timeout_s >= 0 ? o.cell_timeout_s : spec.cell_timeout_s;
    run.slowdown = qs_backend_slowdown(be);
    run.inject_crash = o.inject_crash;
    run.inject_hang = o.inject_hang;
    run.rank0_mode = o.rank0;
    run.quiet = o.quiet;
    double t0 = qs_now_s();
    if (rank == 0 && !o.quiet) {
      fprintf(stderr, "qsweep run: %s: %d cells, %d to run (%d already ok), %d rank%s -> %s\n", spec.path,
              spec.n_cells, spec.n_cells - n_skip, n_skip, world, world == 1 ? "" : "s", o.out);
      if (o.no_worker)
        fprintf(stderr, "qsweep run: cells run in the rank processes (--no-worker): no time limit\n");
      else if (run.cell_timeout_s > 0)
        fprintf(stderr, "qsweep run: cells run in a worker process per rank; time limit %g s a cell\n",
                run.cell_timeout_s);
      else if (run.cell_timeout_s == 0)
        fprintf(stderr, "qsweep run: cells run in a worker process per rank; no time limit\n");
      else
        fprintf(stderr, "qsweep run: cells run in a worker process per rank; time limit per cell %g x its "
                "estimate on %s (slowdown %g), at least %g s\n", QS_CELL_TIMEOUT_MARGIN, be->name, run.slowdown,
                QS_CELL_TIMEOUT_FLOOR_S);
    }
    rc = qs_coord_run_sweep(&run, rank, world);
    int code = EXIT_OK;
    if (rank == 0) {
      utc_now(meta.finished_utc, sizeof meta.finished_utc);
      if (qs_results_set_meta(out, &meta) != QS_OK && rc == QS_OK) rc = QS_EIO;
      if (qs_results_close(out) != QS_OK && rc == QS_OK) rc = QS_EIO;
      fprintf(stderr, "qsweep run: %d cells run: %d ok, %d failed, %d oom, %d unsupported, %d timeout (%d already ok) in "
              "%.1f s -> %s\n", run.n_run, run.n_ok, run.n_failed, run.n_oom, run.n_unsupported, run.n_timeout, n_skip,
              qs_now_s() - t0, o.out);
      if (rc != QS_OK) {
        fprintf(stderr, "qsweep run: %s: %d row%s could not be written\n", o.out, run.write_errors,
                run.write_errors == 1 ? "" : "s");
        code = EXIT_FATAL;
      } else if (run.n_ok < run.n_run) {
        code = EXIT_CELLS;
      }
    }
    code = bcast_code(code);
    qs_run_meta_free(&meta);
    qs_worker_free(worker);
    qs_cell_ctx_free(ctx);
    free(skip);
    qs_run_meta_free(&old);
    qs_spec_free(&spec);
    free(args);
    return finish(code);
  }

fatal:
  free(skip);
  qs_run_meta_free(&old);
  qs_spec_free(&spec);
  free(args);
  return finish(EXIT_FATAL);
}
