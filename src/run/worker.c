/* worker.c - a rank's cells in a child process (worker.h has the design). */
#define _GNU_SOURCE /* close_range */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qs_common.h"

extern char **environ;

#define WORKER_FD 3                 /* the worker's end of the socketpair */
#define REQ_MAGIC 0x51535751u       /* "QSWQ" */
#define REPLY_LOST 1u               /* flags: the device context is lost, the worker exits */
#define REPLY_MAX ((uint64_t)QS_RESULTS_MAX_SAMPLES * 8u + (1u << 20))
#define EXIT_WAIT_S 5.0             /* how long a worker told to go may take before SIGKILL */
#define HELLO_MAGIC 0x51535752u     /* "QSWR": the worker is up, before its first cell */
#define START_LIMIT_S 300.0         /* how long a worker may take to start (loading the CUDA libraries) */

/* One cell, as the rank sends it: plain structs, the same binary on both ends. */
typedef struct {
  uint32_t magic, size; /* REQ_MAGIC, sizeof(worker_req) */
  int32_t fault;        /* qs_fault_kind */
  int32_t batch;
  uint64_t seed;
  qs_arch arch;
  qs_prec_opts po;
  qs_bench_opts bo;
} worker_req;

struct qs_worker {
  char backend[16];
  char inject[QS_KEY_MAX];
  int device, rank;
  pid_t pid; /* 0: no process */
  int fd;    /* the rank's end of the socketpair, -1 */
  int starts;
};

/* ---- byte streams ------------------------------------------------------------------ */

enum { IO_OK = 0, IO_EOF, IO_TIMEOUT, IO_ERROR };

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL); /* a dead peer is EPIPE, never SIGPIPE */
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return IO_ERROR;
    p += k;
    n -= (size_t)k;
  }
  return IO_OK;
}

/* n bytes, by the monotonic deadline (seconds, qs_now_s; <= 0: none) */
static int read_all(int fd, void *buf, size_t n, double deadline) {
  char *p = buf;
  while (n > 0) {
    if (deadline > 0) {
      double left = deadline - qs_now_s();
      if (left <= 0) return IO_TIMEOUT;
      struct pollfd pf = {.fd = fd, .events = POLLIN, .revents = 0};
      int ms = left > 86400.0 ? 86400000 : (int)(left * 1e3) + 1;
      int k = poll(&pf, 1, ms);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return IO_ERROR;
      if (k == 0) continue; /* the deadline check above decides */
    }
    ssize_t k = read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return errno == ECONNRESET ? IO_EOF : IO_ERROR;
    if (k == 0) return IO_EOF;
    p += k;
    n -= (size_t)k;
  }
  return IO_OK;
}

/* ---- the rank's side ---------------------------------------------------------------- */

int qs_worker_create(const char *backend, int device, int rank, qs_worker **out) {
  qs_worker *w = qs_calloc(1, sizeof *w);
  if (!w) return QS_ENOMEM;
  if (qs_strlcpy(w->backend, backend, sizeof w->backend) != 0) {
    free(w);
    return qs_fail(QS_EINVAL, "worker: backend name \"%s\" too long", backend);
  }
  w->device = device;
  w->rank = rank;
  w->fd = -1;
  *out = w;
  return QS_OK;
}

void qs_worker_set_inject(qs_worker *w, const char *pattern) {
  qs_strlcpy(w->inject, pattern ? pattern : "", sizeof w->inject);
}

int qs_worker_starts(const qs_worker *w) { return w ? w->starts : 0; }

static const char *signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    case SIGXCPU: return "SIGXCPU";
    default: return NULL;
  }
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Close the socket and wait for the process (SIGKILL first with kill_now, or after
 * EXIT_WAIT_S); how it ended into why. */
static void reap(qs_worker *w, int kill_now, char *why, size_t cap) {
  if (cap) why[0] = '\0';
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  if (!w->pid) return;
  if (kill_now) kill(w->pid, SIGKILL);
  int st = 0;
  const double until = qs_now_s() + EXIT_WAIT_S;
  pid_t got;
  while ((got = waitpid(w->pid, &st, WNOHANG)) == 0 && qs_now_s() < until) sleep_s(0.005);
  if (got == 0) {
    kill(w->pid, SIGKILL);
    got = waitpid(w->pid, &st, 0);
  }
  if (got == w->pid && cap) {
    if (WIFSIGNALED(st)) {
      const int sig = WTERMSIG(st);
      const char *n = signal_name(sig);
      if (n) snprintf(why, cap, "worker killed by %s (%s)", n, strsignal(sig));
      else snprintf(why, cap, "worker killed by signal %d (%s)", sig, strsignal(sig));
    } else if (WIFEXITED(st)) {
      snprintf(why, cap, "worker exited with status %d", WEXITSTATUS(st));
    }
  } else if (cap) {
    snprintf(why, cap, "worker %ld: waitpid: %s", (long)w->pid, strerror(errno));
  }
  w->pid = 0;
}

static int spawn(qs_worker *w) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return qs_fail(QS_EIO, "worker: socketpair: %s", strerror(errno));
  /* dup2 onto the same number would keep close-on-exec */
  if (sv[1] == WORKER_FD) (void)fcntl(sv[1], F_SETFD, 0);
  char dev[16], rank[16];
  snprintf(dev, sizeof dev, "%d", w->device);
  snprintf(rank, sizeof rank, "%d", w->rank);
  char a0[] = "qsweep", a1[] = "worker", a2[] = "--fd", a3[] = "3", a4[] = "--backend", a6[] = "--device",
       a8[] = "--rank", a10[] = "--inject";
  char *argv[] = {a0, a1, a2, a3, a4, w->backend, a6, dev, a8, rank, a10, w->inject, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  if (sv[1] != WORKER_FD) posix_spawn_file_actions_adddup2(&fa, sv[1], WORKER_FD);
  /* a clean signal state: nothing blocked or ignored that the rank's libraries chose */
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  /* /proc/self/exe: this very binary, even if the file was replaced since it started */
  int e = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(sv[1]);
  if (e != 0) {
    close(sv[0]);
    return qs_fail(QS_EIO, "worker: cannot start /proc/self/exe: %s", strerror(e));
  }
  w->pid = pid;
  w->fd = sv[0];
  w->starts++;
  /* its hello: loaded and ready (the cell's time limit starts after this, so a slow
   * start on a loaded node is never a cell's timeout) */
  uint32_t hello[2] = {0, 0};
  int io = read_all(w->fd, hello, sizeof hello, qs_now_s() + START_LIMIT_S);
  if (io != IO_OK || hello[0] != HELLO_MAGIC || hello[1] != (uint32_t)sizeof(worker_req)) {
    char why[256];
    reap(w, io == IO_TIMEOUT, why, sizeof why);
    if (io == IO_TIMEOUT) return qs_fail(QS_EINTERNAL, "worker: not ready within %g s of its start", START_LIMIT_S);
    if (io == IO_OK) return qs_fail(QS_EINTERNAL, "worker: another qsweep binary answered (hello %08x, %u)", hello[0], hello[1]);
    return qs_fail(QS_EINTERNAL, "worker: did not start: %s", why[0] ? why : "its socket failed");
  }
  return QS_OK;
}

void qs_worker_free(qs_worker *w) {
  if (!w) return;
  char why[128];
  reap(w, 0, why, sizeof why); /* the worker reads EOF and exits */
  free(w);
}

static double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int send_req(qs_worker *w, const worker_req *q) {
  const uint64_t len = sizeof *q;
  if (write_all(w->fd, &len, sizeof len) != IO_OK || write_all(w->fd, q, sizeof *q) != IO_OK) return IO_ERROR;
  return IO_OK;
}

void qs_worker_run(qs_worker *w, qs_cell_ctx *ctx, const qs_arch *a, uint64_t weight_seed, const qs_prec_opts *po,
                   int batch, const qs_bench_opts *bo, qs_fault_kind fault, double limit_s, qs_cell_result *r) {
  double t0 = qs_now_s(), started = unix_now();
  worker_req q;
  memset(&q, 0, sizeof q); /* no stray bytes in the padding */
  q.magic = REQ_MAGIC;
  q.size = (uint32_t)sizeof q;
  q.fault = (int32_t)fault;
  q.batch = batch;
  q.seed = weight_seed;
  q.arch = *a;
  q.po = *po;
  q.bo = *bo;
  int code = QS_OK;
  char msg[QS_MSG_MAX] = "", why[256] = "";
  int sent = 0;
  /* a worker that died while idle (since its last reply) is replaced once */
  for (int attempt = 0; attempt < 2 && !sent && code == QS_OK; attempt++) {
    if (!w->pid && spawn(w) != QS_OK) {
      code = QS_EINTERNAL;
      qs_strlcpy(msg, qs_last_error(), sizeof msg);
      break;
    }
    /* the cell's clock starts here, with the worker up */
    t0 = qs_now_s();
    started = unix_now();
    if (send_req(w, &q) == IO_OK) sent = 1;
    else reap(w, 1, why, sizeof why);
  }
  if (!sent && code == QS_OK) {
    code = QS_EINTERNAL;
    snprintf(msg, sizeof msg, "worker: cannot send the cell to a fresh worker (%s)", why[0] ? why : "it died");
  }
  if (sent) {
    const double deadline = limit_s > 0 ? t0 + limit_s : 0;
    uint64_t len = 0;
    int io = read_all(w->fd, &len, sizeof len, deadline);
    unsigned char *buf = NULL;
    if (io == IO_OK && (len < 1 || len > REPLY_MAX)) io = IO_ERROR;
    if (io == IO_OK && !(buf = malloc((size_t)len))) io = IO_ERROR;
    if (io == IO_OK) io = read_all(w->fd, buf, (size_t)len, deadline);
    if (io == IO_OK) {
      if (qs_cell_result_unpack(buf + 1, (size_t)len - 1, r) == QS_OK) {
        const int lost = buf[0] & REPLY_LOST;
        free(buf);
        if (lost) reap(w, 0, why, sizeof why); /* it exits after this reply */
        return;
      }
      code = QS_EINTERNAL;
      snprintf(msg, sizeof msg, "worker: a malformed reply: %s", qs_last_error());
      reap(w, 1, why, sizeof why);
    } else if (io == IO_TIMEOUT) {
      code = QS_ETIMEOUT;
      reap(w, 1, why, sizeof why);
      snprintf(msg, sizeof msg, "cell time limit of %g s exceeded: the worker was killed (SIGKILL) and is restarted",
               limit_s);
    } else {
      code = QS_EDEVICE;
      reap(w, 0, why, sizeof why);
      snprintf(msg, sizeof msg, "%s during the cell; the worker is restarted",
               why[0] ? why : "worker lost (its socket failed)");
    }
    free(buf);
  }
  qs_cell_report(ctx, a, po, batch, 1, bo, code, msg, r);
  r->started_unix = started;
  r->duration_s = qs_now_s() - t0;
}

/* ---- the worker process ------------------------------------------------------------- */

static atomic_int g_in_cell;
static int g_fd = -1;

/* The rank hung up (it died, or the job was killed): end a cell that runs, however it
 * is stuck; an idle worker reads EOF on its main thread and exits normally. */
static void *watchdog_main(void *arg) {
  (void)arg;
  for (;;) {
    struct pollfd pf = {.fd = g_fd, .events = 0, .revents = 0}; /* hang-ups only */
    int k = poll(&pf, 1, 1000);
    if (k > 0 && (pf.revents & (POLLHUP | POLLERR | POLLNVAL))) {
      if (atomic_load(&g_in_cell)) _exit(3);
      sleep_s(0.05);
    }
  }
  return NULL;
}

static void worker_usage(void) {
  fprintf(stderr, "qsweep worker: the cell process of qsweep run, which starts it (usage: qsweep worker --fd N "
                  "--backend B --device D --rank R [--inject PATTERN])\n");
}

static int parse_int(const char *s, int *out) {
  char *end = NULL;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || !s[0] || *end || errno || v < -1 || v > 1 << 30) return -1;
  *out = (int)v;
  return 0;
}

static void fault_row(qs_cell_ctx *ctx, const qs_backend *be, const worker_req *q, qs_cell_result *r) {
  const double t0 = qs_now_s();
  int rc = be->fault ? be->fault((qs_fault_kind)q->fault, q->bo.device)
                     : qs_fail(QS_EUNSUPPORTED, "the %s backend has no fault injection", be->name);
  if (rc == QS_OK) rc = qs_fail(QS_EINTERNAL, "the fault did not happen");
  char msg[QS_MSG_MAX];
  snprintf(msg, sizeof msg, "injected %s: %s", q->fault == QS_FAULT_HANG ? "hang" : "crash", qs_last_error());
  qs_cell_report(ctx, &q->arch, &q->po, q->batch, 1, &q->bo, rc, msg, r);
  r->duration_s = qs_now_s() - t0;
}

int qs_worker_main(int argc, char **argv) {
  int fd = -1, device = -1, rank = 0;
  const char *backend = NULL, *inject = "";
  for (int i = 1; i < argc; i += 2) { /* --name value pairs */
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = !v;
    if (!strcmp(argv[i], "--fd")) bad = bad || parse_int(v, &fd) || fd < 3;
    else if (!strcmp(argv[i], "--device")) bad = bad || parse_int(v, &device);
    else if (!strcmp(argv[i], "--rank")) bad = bad || parse_int(v, &rank);
    else if (!strcmp(argv[i], "--backend")) backend = v;
    else if (!strcmp(argv[i], "--inject")) inject = v ? v : "";
    else bad = 1;
    if (bad) {
      worker_usage();
      return 2;
    }
  }
  if (fd < 3 || !backend || fcntl(fd, F_GETFD) < 0) {
    worker_usage();
    return 2;
  }
  /* what the rank had open (MPI's sockets and shared memory, the results file) is not ours */
  for (int i = 3; i < fd; i++) close(i);
  close_range((unsigned)fd + 1, ~0U, 0);
  signal(SIGPIPE, SIG_IGN);
  const qs_backend *be = qs_backend_get(backend);
  if (!be) {
    fprintf(stderr, "qsweep worker: %s\n", qs_last_error());
    return 2;
  }
  qs_cell_ctx *ctx = NULL;
  if (qs_cell_ctx_create(be, device, rank, &ctx) != QS_OK) {
    fprintf(stderr, "qsweep worker: %s\n", qs_last_error());
    return 1;
  }
  qs_cell_ctx_set_inject(ctx, inject);
  g_fd = fd;
  pthread_t th;
  if (pthread_create(&th, NULL, watchdog_main, NULL) == 0) pthread_detach(th);
  int status = 0;
  const uint32_t hello[2] = {HELLO_MAGIC, (uint32_t)sizeof(worker_req)};
  if (write_all(fd, hello, sizeof hello) != IO_OK) status = 1;
  for (; status == 0;) {
    uint64_t len = 0;
    int io = read_all(fd, &len, sizeof len, 0);
    if (io == IO_EOF) break; /* the rank is done with us */
    worker_req q;
    if (io != IO_OK || len != sizeof q || read_all(fd, &q, sizeof q, 0) != IO_OK || q.magic != REQ_MAGIC ||
        q.size != sizeof q) {
      fprintf(stderr, "qsweep worker: rank %d: a malformed request (%llu bytes)\n", rank, (unsigned long long)len);
      status = 1;
      break;
    }
    atomic_store(&g_in_cell, 1);
    qs_cell_result r;
    q.bo.device = device;
    if (q.fault != QS_FAULT_NONE) fault_row(ctx, be, &q, &r);
    else qs_cell_run(ctx, &q.arch, q.seed, &q.po, q.batch, 1, &q.bo, &r);
    const int lost = strcmp(r.status, "ok") != 0 && be->context_lost && be->context_lost(device);
    if (lost) {
      const size_t n = strlen(r.message);
      snprintf(r.message + n, sizeof r.message - n, "; the device context is lost: the worker is restarted");
    }
    unsigned char *packed = NULL;
    size_t plen = 0;
    if (qs_cell_result_pack(&r, &packed, &plen) != QS_OK) {
      fprintf(stderr, "qsweep worker: rank %d: %s\n", rank, qs_last_error());
      qs_cell_result_free(&r);
      status = 1;
      break;
    }
    const uint64_t rlen = (uint64_t)plen + 1;
    const unsigned char flags = lost ? REPLY_LOST : 0;
    int wio = write_all(fd, &rlen, sizeof rlen);
    if (wio == IO_OK) wio = write_all(fd, &flags, 1);
    if (wio == IO_OK) wio = write_all(fd, packed, plen);
    free(packed);
    qs_cell_result_free(&r);
    atomic_store(&g_in_cell, 0);
    if (wio != IO_OK || lost) break;
  }
  qs_cell_ctx_free(ctx);
  close(fd);
  return status;
}
