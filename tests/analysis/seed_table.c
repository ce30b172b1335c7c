/* seed_table.c - the seed study's table as qsweep rows (see seed_table.h). */
#include "seed_table.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qs_common.h"

const char *const qa_seed_precs[QA_SEED_PRECS] = {"fp32", "fp16", "int8", "nf4"};

/* {fp32, fp16, int8_bitsandbytes, int4_nf4} columns of the seed's tables; parameter
 * counts as the seed's architecture summary printed them. */
const qa_seed_model qa_seed_models[QA_SEED_MODELS] = {
    {"vit-huge-patch14-2020", "Foundation Transformer", "vit", 632e6,
     {25.59, 10.24, 56.14, 56.54}, {2420.6, 1214.3, 615.8, 615.8}, {1.0, 2.50, 0.46, 0.45}},
    {"vit-large-patch16-2020", "Foundation Transformer", "vit", 307e6,
     {9.84, 7.31, 43.56, 43.26}, {1169.1, 588.6, 301.6, 301.6}, {1.0, 1.35, 0.23, 0.23}},
    {"dinov2-base-2023", "Self Supervised 2023", "dinov2", 86e6,
     {5.69, 4.03, 29.01, 29.35}, {339.3, 175.1, 92.6, 92.6}, {1.0, 1.41, 0.20, 0.19}},
    {"dinov2-large-2023", "Self Supervised 2023", "dinov2", 300e6,
     {15.27, 7.78, 56.68, 56.73}, {1169.2, 588.8, 301.7, 301.7}, {1.0, 1.96, 0.27, 0.27}},
    {"beit-base-pt22k-2021", "Masked Autoencoder 2021", "beit", 86e6,
     {5.70, 5.67, 30.20, 30.83}, {336.4, 174.4, 92.9, 93.1}, {1.0, 1.01, 0.19, 0.18}},
    {"beit-large-2021", "Masked Autoencoder 2021", "beit", 307e6,
     {12.31, 10.71, 59.32, 59.48}, {1165.5, 587.9, 299.7, 300.3}, {1.0, 1.15, 0.21, 0.21}},
    {"vit-base-224-production", "Production Ready", "vit", 86e6,
     {3.83, 3.81, 21.89, 22.04}, {339.8, 176.2, 95.0, 95.0}, {1.0, 1.01, 0.17, 0.17}},
    {"vit-base-384-production", "Production Ready", "vit", 86e6,
     {8.07, 3.80, 21.86, 22.26}, {340.9, 176.8, 95.5, 95.5}, {1.0, 2.12, 0.37, 0.36}},
    {"dino-vitb16-production", "Production Ready", "vit", 86e6,
     {3.82, 3.88, 27.53, 27.34}, {339.8, 176.2, 95.0, 95.0}, {1.0, 0.98, 0.14, 0.14}},
    {"dino-vits16-production", "Production Ready", "vit", 22e6,
     {3.74, 3.89, 28.45, 26.81}, {93.6, 52.5, 31.8, 31.8}, {1.0, 0.96, 0.13, 0.14}},
    {"deit-base-distilled-384-edge", "Edge Optimized", "deit", 87e6,
     {8.07, 3.81, 28.51, 28.09}, {340.9, 176.8, 95.5, 95.5}, {1.0, 2.12, 0.28, 0.29}},
    {"deit-small-distilled-224-edge", "Edge Optimized", "deit", 22e6,
     {3.77, 3.94, 26.91, 27.11}, {91.5, 50.4, 29.7, 29.7}, {1.0, 0.96, 0.14, 0.14}},
    {"mobilevit-small-edge", "Edge Optimized", "mobilevit", 5.6e6,
     {4.32, 4.91, 12.76, 12.90}, {27.2, 17.6, 14.9, 14.9}, {1.0, 0.88, 0.34, 0.33}},
    {"mobilevit-xxs-edge", "Edge Optimized", "mobilevit", 1.3e6,
     {5.15, 5.59, 16.91, 17.16}, {11.8, 10.0, 9.6, 9.6}, {1.0, 0.92, 0.30, 0.30}},
    {"vit-base-patch32-specialized", "Specialized Efficient", "vit", 86e6,
     {3.69, 3.78, 21.30, 21.42}, {344.0, 176.7, 95.5, 95.5}, {1.0, 0.98, 0.17, 0.17}},
    {"deit-tiny-ultra-efficient", "Specialized Efficient", "vit", 5.7e6,
     {3.69, 3.87, 25.73, 25.55}, {29.4, 18.8, 13.8, 13.8}, {1.0, 0.95, 0.14, 0.14}},
};

void qa_seed_rekey(qs_cell_result *r) {
  qs_results_key(r->model, r->precision, r->batch, r->tp, r->key, sizeof r->key);
}

void qa_seed_row(int i, qs_cell_result *r) {
  const qa_seed_model *m = &qa_seed_models[(i / QA_SEED_PRECS) % QA_SEED_MODELS];
  int p = i % QA_SEED_PRECS;
  qs_cell_result_init(r);
  qs_strlcpy(r->model, m->model, sizeof r->model);
  qs_strlcpy(r->precision, qa_seed_precs[p], sizeof r->precision);
  r->batch = 1;
  r->tp = 1;
  qa_seed_rekey(r);
  qs_strlcpy(r->backend, "cuda", sizeof r->backend);
  qs_strlcpy(r->status, "ok", sizeof r->status);
  qs_strlcpy(r->host, "node001", sizeof r->host);
  qs_strlcpy(r->device, "seed study GPU", sizeof r->device);
  qs_strlcpy(r->category, m->category, sizeof r->category);
  qs_strlcpy(r->family, m->family, sizeof r->family);
  r->params = m->params;
  r->lat_median_ms = m->latency_ms[p];
  r->peak_mb = m->peak_mb[p];
}

int qa_write_rows(const char *path, const qs_cell_result *rows, int n, const char *backend) {
  return qa_write_rows_on(path, rows, n, backend, "seed study GPU");
}

int qa_write_rows_on(const char *path, const qs_cell_result *rows, int n, const char *backend,
                     const char *gpu_names) {
  static char sweep[] = "{\"name\": \"seed64\"}";
  static char cmd[] = "qsweep run sweep/seed64.json --output results.h5";
  static char hosts[] = "node001";
  char gpus[128];
  qs_strlcpy(gpus, gpu_names, sizeof gpus);
  qs_run_meta meta;
  memset(&meta, 0, sizeof meta);
  qs_strlcpy(meta.qsweep_version, "0.1.0", sizeof meta.qsweep_version);
  qs_strlcpy(meta.git_commit, "0123456789ab", sizeof meta.git_commit);
  qs_strlcpy(meta.started_utc, "2025-06-20T22:05:32Z", sizeof meta.started_utc);
  qs_strlcpy(meta.finished_utc, "2025-06-20T22:41:07Z", sizeof meta.finished_utc);
  meta.sweep_json = sweep;
  qs_strlcpy(meta.sweep_hash, "cbf29ce484222325", sizeof meta.sweep_hash);
  meta.command_line = cmd;
  qs_strlcpy(meta.mpi_library, "Open MPI v4.1.4", sizeof meta.mpi_library);
  meta.world_size = 1;
  meta.hostnames = hosts;
  meta.gpu_names = gpus;
  qs_strlcpy(meta.driver_version, "550.54.15", sizeof meta.driver_version);
  qs_strlcpy(meta.cuda_version, "12.4", sizeof meta.cuda_version);
  qs_strlcpy(meta.nccl_version, "2.21.5", sizeof meta.nccl_version);
  qs_strlcpy(meta.backend, backend, sizeof meta.backend);
  qs_results *f = NULL;
  QS_TRY(qs_results_create(path, &meta, 1, &f));
  int rc = QS_OK;
  for (int i = 0; i < n && rc == QS_OK; i++) rc = qs_results_append(f, &rows[i]);
  int rc2 = qs_results_close(f);
  return rc != QS_OK ? rc : rc2;
}

int qa_write_seed(const char *path) {
  qs_cell_result rows[QA_SEED_CELLS];
  for (int i = 0; i < QA_SEED_CELLS; i++) qa_seed_row(i, &rows[i]);
  int rc = qa_write_rows(path, rows, QA_SEED_CELLS, "cuda");
  for (int i = 0; i < QA_SEED_CELLS; i++) qs_cell_result_free(&rows[i]);
  return rc;
}
