/* results.h - the qsweep results file (HDF5): one row per cell.
 *
 * Layout (schema version QS_RESULTS_SCHEMA_VERSION; h5/README.md documents it):
 *   /cells            compound dataset, 1-D, chunked, extendible: one row (qs_cell_result) per cell
 *   /calibration/rank<R>  the device's measured ceilings on rank R (qs_calibration):
 *                     attributes and a compound dataset "entries", one row per measurement
 *   /samples/<row>    1-D float64 dataset of the raw per-iteration latencies (ms) of the cell
 *                     in /cells row <row> (decimal, 0-based), with a "key" string attribute;
 *                     written with the row, absent for a row without samples
 *   root attributes   format = "qsweep-results" (string), schema_version (int), and the
 *                     run metadata (strings unless noted): qsweep_version, git_commit,
 *                     started_utc, finished_utc, sweep_json, sweep_hash, command_line, mpi_library,
 *                     world_size (int), hostnames, gpu_names, driver_version, cuda_version,
 *                     nccl_version, backend
 * Strings are UTF-8, variable length in the compound. Rank 0 is the only writer.
 * A number that was not measured is NaN (never 0 or a placeholder).
 * Every change (create, append, set_meta) replaces the file atomically, so a SIGKILL at
 * any moment leaves a file that opens with every row whose append had returned. */
#ifndef QS_RESULTS_H
#define QS_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#define QS_RESULTS_SCHEMA_VERSION 1
#define QS_KEY_MAX 256
#define QS_MSG_MAX 512
/* Reader caps: larger files are refused with a message naming the cap. */
#define QS_RESULTS_MAX_ROWS 10000000
#define QS_RESULTS_MAX_SAMPLES 100000000 /* per /samples/<row> dataset */

/* One cell's result as the runner fills it in (and the reader returns it). */
typedef struct {
  /* identity: key = model|precision|b<batch>|tp<k> */
  char key[QS_KEY_MAX];
  char model[128];
  char precision[16];   /* fp32 fp16 bf16 int8 int8dyn fp8 nf4 (tf32 later) */
  int32_t batch;
  int32_t tp;
  char backend[16];     /* cpu, cuda, sim (sim rows are never measurements) */
  char status[16];      /* ok failed oom unsupported timeout skipped */
  char message[QS_MSG_MAX];
  /* where it ran */
  int32_t rank;
  char host[64];
  char device[128];     /* GPU name or "cpu" */
  /* model facts (from the architecture) */
  char category[64];
  char family[16];
  double params;        /* parameter count */
  double gflops;        /* forward GFLOPs per image */
  /* latency statistics over the timed iterations, milliseconds */
  int32_t warmup;
  int32_t iterations;
  double lat_min_ms, lat_median_ms, lat_mean_ms, lat_p90_ms, lat_p99_ms, lat_max_ms, lat_stdev_ms;
  double lat_ci_lo_ms, lat_ci_hi_ms; /* 95% confidence interval of the median */
  double throughput_ips;             /* images per second = batch / median */
  /* memory, MB (1e6 bytes) */
  double weight_mb;      /* bytes the weights really occupy on the device */
  double workspace_mb;   /* backend allocator high-water mark beyond the weights */
  double peak_mb;        /* weight_mb + workspace_mb: the comparable "peak memory" */
  double device_mb;      /* device-level usage delta (cudaMemGetInfo), NaN on cpu */
  double qweight_bits;   /* bits per weight of the quantized layers (32, 16, ~8.1, ~4.5) */
  /* energy */
  double energy_mj_per_image; /* NaN where the driver has no energy counter */
  /* fidelity against the fp32 output of the same model and input */
  double fid_cosine, fid_rel_l2, fid_max_abs, fid_top1;
  /* tensor parallel */
  double allreduce_share;  /* fraction of the forward spent in all-reduce (NaN for tp=1) */
  /* clocks (MHz) at start and end of the timed loop, NaN on cpu */
  double sm_clock_start_mhz, sm_clock_end_mhz;
  /* bookkeeping */
  double started_unix;   /* wall-clock start, seconds since the epoch */
  double duration_s;     /* wall time of the whole cell incl. setup */
  /* roofline inputs (the achieved rate, bytes moved and arithmetic intensity are derived
   * from these, gflops, batch, weight_mb and the latency: analysis/README.md) */
  double act_mb;         /* estimated activation bytes one forward reads and writes, MB
                          * (qs_act_bytes, cost.h); NaN in files written before it */
  /* raw samples (ms); owned by the row, may be NULL */
  double *samples_ms;
  int32_t n_samples;
} qs_cell_result;

/* Run metadata written as root attributes. */
typedef struct {
  char qsweep_version[32];
  char git_commit[64];
  char started_utc[40];   /* RFC 3339 */
  char finished_utc[40];
  char *sweep_json;       /* full sweep spec text (owned) */
  char sweep_hash[32];    /* FNV-1a 64 of the canonical spec, hex */
  char *command_line;     /* owned */
  char mpi_library[256];
  int32_t world_size;
  char *hostnames;        /* comma separated, owned */
  char *gpu_names;        /* comma separated, owned */
  char driver_version[64];
  char cuda_version[64];
  char nccl_version[64];
  char backend[16];
} qs_run_meta;

/* ---- calibration: the ceilings of one rank's device (qsweep calibrate, and every rank
 * of a CUDA sweep at its start) ---- */
#define QS_CALIB_MAX_ENTRIES 12

/* One measurement: a copy bandwidth or one precision's dense GEMM throughput. */
typedef struct {
  char name[32];       /* copy_d2d, gemm_fp32, gemm_fp16, gemm_bf16, gemm_int8, gemm_fp8, ... */
  char kind[16];       /* "bandwidth" or "gemm" */
  char precision[16];  /* gemm: the operands' type (fp32 fp16 bf16 int8 fp8); bandwidth: "" */
  char status[16];     /* ok, unsupported (e.g. fp8 below compute capability 8.9), failed */
  char unit[16];       /* "GB/s" (bytes read + written per second, 1e9) or "TFLOP/s" (int8: tera-ops/s) */
  double value;        /* the rate of the median repetition; NaN unless ok */
  double best;         /* the rate of the fastest repetition; NaN unless ok */
  double median_ms, min_ms; /* time of one repetition */
  int32_t m, n, k;     /* gemm: D[m, n] = A[m, k] B[k, n]; bandwidth: 0 */
  double bytes;        /* bandwidth: bytes read + written per repetition; gemm: of A, B and D */
  int32_t warmup, reps;
  char method[256];    /* what ran, e.g. "cublasLtMatmul, A/B/D fp16, COMPUTE_32F, ..." */
  char message[256];   /* why it is not ok (empty when ok) */
} qs_calib_entry;

typedef struct {
  int32_t rank;          /* MPI rank (0 for `qsweep calibrate`) */
  int32_t device_index;  /* CUDA ordinal, -1 on the CPU */
  char host[64];
  char device[128];      /* the backend's device name */
  char backend[16];      /* cuda, cpu */
  char measured_utc[40]; /* RFC 3339 */
  int32_t n_entries;
  qs_calib_entry e[QS_CALIB_MAX_ENTRIES];
} qs_calibration;

/* The entry named name (ok or not), or NULL. */
const qs_calib_entry *qs_calib_find(const qs_calibration *c, const char *name);

typedef struct qs_results qs_results; /* opaque open file */

/* Initialise a row: strings empty, every measurement NaN, counts 0 (tp 1, batch 0). */
void qs_cell_result_init(qs_cell_result *r);
void qs_cell_result_free(qs_cell_result *r); /* frees samples_ms */
void qs_run_meta_free(qs_run_meta *m);

/* Create a new file (fails if it exists unless overwrite) or open an existing one
 * for appending (resume). A file that is not HDF5, not a qsweep file, or of a newer
 * schema version is refused with a one-line message naming the file. */
int qs_results_create(const char *path, const qs_run_meta *meta, int overwrite, qs_results **out);
int qs_results_open_append(const char *path, qs_results **out);
/* Append one row (and its samples) and make it durable before returning. */
int qs_results_append(qs_results *f, const qs_cell_result *r);
/* Append n rows and make them all durable with one write of the file: what a writer
 * that has fallen behind uses to catch up (the cost of a write grows with the file). */
int qs_results_append_many(qs_results *f, const qs_cell_result *rows, int n);
/* Update the run metadata attributes (e.g. finished_utc at the end). */
int qs_results_set_meta(qs_results *f, const qs_run_meta *meta);
int qs_results_close(qs_results *f);

/* Recompute the seal (the checksum in the 512-byte user block) of a results file that
 * was modified on purpose outside qsweep (e.g. with h5py); files whose seal does not
 * match are refused before HDF5 reads them. The new file is written beside the old one
 * and renamed over it, so a failure leaves the file as it was. */
int qs_results_seal(const char *path);
/* The same, but the re-sealed copy must read back as a results file (rows in *n_rows)
 * before it replaces the file; otherwise the file is left exactly as it was. */
int qs_results_reseal(const char *path, int *n_rows);
/* QS_OK when the file's seal matches its contents (nothing else is checked). */
int qs_results_verify_seal(const char *path);

/* Write (replacing) /calibration/rank<c->rank> and make it durable. */
int qs_results_put_calibration(qs_results *f, const qs_calibration *c);
/* Every /calibration/rank<R> group of a file, by rank; none (n 0, *cals NULL) in a
 * file without calibration. Caller frees *cals. */
int qs_results_read_calibration(const char *path, qs_calibration **cals, int *n);

/* Read a whole file: rows (with samples) and metadata. Caller frees with
 * qs_results_free_rows / qs_run_meta_free. */
int qs_results_read(const char *path, qs_cell_result **rows, int *n_rows, qs_run_meta *meta);
void qs_results_free_rows(qs_cell_result *rows, int n_rows);

/* The cell key "model|precision|b<batch>|tp<k>" into buf; returns buf, or NULL if it
 * did not fit in cap bytes (buf then holds it truncated). */
const char *qs_results_key(const char *model, const char *precision, int batch, int tp,
                           char *buf, size_t cap);

/* Resume index: the distinct keys of a file's rows (sorted), where the LAST row of a key
 * wins; with only_ok, only keys whose last row has status "ok" (--resume skips those and
 * retries the rest). Caller frees with qs_results_free_keys. */
int qs_results_done_keys(const char *path, char ***keys, int *n, int only_ok);
void qs_results_free_keys(char **keys, int n);

#endif
