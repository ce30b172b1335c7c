/* test_tp_mpi.c - tensor parallelism of the CPU backend over MPI ranks (run under
 * mpiexec -np 4): groups of 2 and 4 ranks (MPI_Comm_split) against the unsplit forward
 * for every tiny fixture (ViT, DeiT, DINOv2, BEiT per-layer and shared relative
 * positions, MobileViT); int8 / nf4 / fp16 at tp = 2 against fp32; the status agreement
 * of a group; and the cell runner over a group (one row, tp recorded, allreduce_share in
 * (0, 1), an indivisible model "unsupported"). Every rank checks; rank 0 prints the sum. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cell.h"
#include "cpu_backend.h"
#include "model.h"
#include "qs_common.h"
#include "qs_test.h"
#include "tp_test_util.h"
#include "tp.h"
#include "zoo.h"

/* same bound as test_tp_unit.c: quantized at tp 2 vs fp32 <= 2 x (tp 1 error) + 0.02 */
#define QUANT_BOUND_FACTOR 2.0
#define QUANT_BOUND_ABS 0.02

static int g_rank, g_world;

static int forward_group(const qs_model *m, qs_precision prec, const qs_tp_group *g, int batch, const float *x,
                         float *y) {
  qs_prec_opts po;
  qs_prec_opts_default(&po, prec);
  qs_cpu_plan *p;
  int rc = qs_cpu_plan_create_tp(m, &po, g, &p);
  if (rc != QS_OK) return rc;
  rc = qs_cpu_forward(p, batch, x, y);
  qs_cpu_plan_free(p);
  return rc;
}

static void test_fixture(const char *dir, MPI_Comm g2, MPI_Comm g4) {
  qs_zoo z;
  CHECK(qs_zoo_load(NULL, &z) == QS_OK);
  qs_arch a;
  qs_model m;
  int rc = qs_zoo_resolve(&z, dir, &a);
  if (rc == QS_OK) rc = qs_model_create(&a, 1234, &m);
  CHECK_MSG(rc == QS_OK, "%s: %s", dir, qs_last_error());
  qs_zoo_free(&z);
  if (rc != QS_OK) return;
  const int batch = 2;
  const int64_t ny = (int64_t)batch * qs_arch_out_dim(&a);
  float *x = malloc(sizeof(float) * (size_t)batch * a.num_channels * a.input_size * a.input_size);
  float *ref = malloc(sizeof(float) * (size_t)ny), *y = malloc(sizeof(float) * (size_t)ny);
  float *y1 = malloc(sizeof(float) * (size_t)ny);
  qs_make_input(11, batch, a.num_channels, a.input_size, x);
  CHECK(forward_group(&m, QS_PREC_FP32, NULL, batch, x, ref) == QS_OK);
  MPI_Comm comms[2] = {g2, g4};
  for (int ci = 0; ci < 2; ci++) {
    qs_tp_mpi store;
    qs_tp_group g;
    qs_tp_group_mpi(comms[ci], &store, &g);
    if (qs_tp_check_arch(&a, g.size) != QS_OK) {
      if (g_rank == 0) printf("%s: tp %d skipped: %s\n", a.name, g.size, qs_last_error());
      continue;
    }
    rc = forward_group(&m, QS_PREC_FP32, &g, batch, x, y);
    CHECK_MSG(rc == QS_OK, "%s tp %d: %s", a.name, g.size, qs_last_error());
    double e = rc == QS_OK ? tp_rel_l2(y, ref, ny) : INFINITY, worst = e;
    MPI_Allreduce(&e, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    CHECK_MSG(e <= 1e-5, "%s fp32 tp %d rank %d: rel_l2 %.3e > 1e-5", a.name, g.size, g_rank, e);
    if (g_rank == 0)
      printf("%-22s %-9s fp32 tp %d over MPI: worst rel_l2 vs tp 1 over all ranks %.3e\n", a.name,
             qs_family_name(a.family), g.size, worst);
  }
  /* lower precisions at tp 2 */
  qs_tp_mpi store;
  qs_tp_group g;
  qs_tp_group_mpi(g2, &store, &g);
  if (qs_tp_check_arch(&a, 2) == QS_OK) {
    static const qs_precision precs[] = {QS_PREC_FP16, QS_PREC_INT8, QS_PREC_NF4};
    for (size_t pi = 0; pi < QS_ARRAY_LEN(precs); pi++) {
      CHECK(forward_group(&m, precs[pi], NULL, batch, x, y1) == QS_OK);
      rc = forward_group(&m, precs[pi], &g, batch, x, y);
      CHECK_MSG(rc == QS_OK, "%s %s tp 2: %s", a.name, qs_precision_name(precs[pi]), qs_last_error());
      double e1 = tp_rel_l2(y1, ref, ny), e2 = tp_rel_l2(y, ref, ny), bound = QUANT_BOUND_FACTOR * e1 + QUANT_BOUND_ABS;
      CHECK_MSG(e2 <= bound, "%s %s tp 2: rel_l2 vs fp32 %.3e > %.3e", a.name, qs_precision_name(precs[pi]), e2, bound);
      if (g_rank == 0)
        printf("%-22s %-9s %-4s tp 2 over MPI: rel_l2 vs fp32 %.3e (tp 1: %.3e, bound %.3e)\n", a.name,
               qs_family_name(a.family), qs_precision_name(precs[pi]), e2, e1, bound);
    }
  }
  free(x);
  free(ref);
  free(y);
  free(y1);
  qs_model_free(&m);
}

/* one rank fails, every rank learns it, with the failing rank's message */
static void test_agree(MPI_Comm g4) {
  qs_tp_mpi store;
  qs_tp_group g;
  qs_tp_group_mpi(g4, &store, &g);
  CHECK(qs_tp_agree(&g, QS_OK) == QS_OK);
  int rc = g.rank == 1 ? qs_fail(QS_EOOM, "boom on one rank") : QS_OK;
  if (g.rank == 3) rc = qs_fail(QS_EINVAL, "later rank");
  rc = qs_tp_agree(&g, rc);
  CHECK_MSG(rc == QS_EOOM, "agreed code %d", rc);
  if (g.rank != 1) CHECK_MSG(strstr(qs_last_error(), "tp rank 1: boom on one rank") != NULL, "%s", qs_last_error());
  else CHECK(!strcmp(qs_last_error(), "boom on one rank"));
  CHECK(qs_tp_continue(&g, g.rank == 0) == 1);
  CHECK(qs_tp_continue(&g, g.rank != 0) == 0);
}

/* the cell runner over a group, as `qsweep run` drives it */
static void test_cells(MPI_Comm g2, MPI_Comm g4) {
  qs_zoo z;
  qs_arch a;
  CHECK(qs_zoo_load(QS_FIXTURE_DIR "/tiny-zoo.json", &z) == QS_OK);
  CHECK(qs_zoo_resolve(&z, "tiny-deit", &a) == QS_OK);
  qs_cell_ctx *ctx;
  CHECK(qs_cell_ctx_create(&qs_backend_cpu, -1, g_rank, &ctx) == QS_OK);
  qs_bench_opts bo;
  qs_bench_opts_default(&bo);
  bo.warmup = 2;
  bo.iterations = 7;
  qs_tp_mpi store;
  qs_tp_group g;
  qs_tp_group_mpi(g2, &store, &g);
  static const qs_precision precs[] = {QS_PREC_FP32, QS_PREC_INT8, QS_PREC_NF4};
  for (size_t pi = 0; pi < QS_ARRAY_LEN(precs); pi++) {
    qs_prec_opts po;
    qs_prec_opts_default(&po, precs[pi]);
    qs_cell_result r;
    qs_cell_run_group(ctx, &a, 1, &po, 2, &g, &bo, &r);
    CHECK_MSG(!strcmp(r.status, "ok"), "%s: %s %s", r.key, r.status, r.message);
    CHECK(r.tp == 2);
    CHECK(strstr(r.key, "|tp2") != NULL);
    CHECK(r.n_samples == 7);
    if (g.rank == 0) {
      CHECK_MSG(r.allreduce_share > 0 && r.allreduce_share < 1, "%s: allreduce_share %g", r.key, r.allreduce_share);
      double bound = precs[pi] == QS_PREC_FP32 ? 1e-5 : 0.3;
      CHECK_MSG(r.fid_rel_l2 <= bound, "%s: fidelity rel_l2 %g", r.key, r.fid_rel_l2);
      if (g_rank == 0)
        printf("cell %s: %s median %.3f ms, allreduce_share %.3f, rel_l2 vs fp32 %.3e, weights %.3f MB per rank\n",
               r.key, r.status, r.lat_median_ms, r.allreduce_share, r.fid_rel_l2, r.weight_mb);
    }
    qs_cell_result_free(&r);
  }
  /* 2 heads over 4 ranks: unsupported on every rank, with the reason */
  qs_tp_group_mpi(g4, &store, &g);
  qs_prec_opts po;
  qs_prec_opts_default(&po, QS_PREC_FP32);
  qs_cell_result r;
  qs_cell_run_group(ctx, &a, 1, &po, 1, &g, &bo, &r);
  CHECK_MSG(!strcmp(r.status, "unsupported"), "%s: %s", r.key, r.status);
  CHECK_MSG(strstr(r.message, "2 attention heads, not divisible by 4") != NULL, "%s", r.message);
  CHECK(r.tp == 4 && isnan(r.lat_median_ms));
  if (g_rank == 0) printf("cell %s: %s: %s\n", r.key, r.status, r.message);
  qs_cell_result_free(&r);
  qs_cell_ctx_free(ctx);
  qs_zoo_free(&z);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world);
  if (g_world != 4) {
    if (g_rank == 0) fprintf(stderr, "test_tp_mpi: needs 4 ranks (got %d)\n", g_world);
    MPI_Finalize();
    return QS_SKIP_CODE;
  }
  MPI_Comm g2, g4;
  MPI_Comm_split(MPI_COMM_WORLD, g_rank / 2, g_rank, &g2);
  MPI_Comm_split(MPI_COMM_WORLD, 0, g_rank, &g4);
  test_agree(g4);
  const char *root = QS_FIXTURE_DIR "/tiny";
  char *names[64];
  const int n = tp_sorted_fixtures(root, names, 64);
  CHECK(n >= 10);
  for (int i = 0; i < n; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
    test_fixture(dir, g2, g4);
    free(names[i]);
  }
  test_cells(g2, g4);
  MPI_Comm_free(&g2);
  MPI_Comm_free(&g4);
  int mine[2] = {qs_t_pass, qs_t_fail}, all[2];
  MPI_Reduce(mine, all, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
  int failed = qs_t_fail;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (g_rank == 0) printf("test_tp_mpi (4 ranks): %d passed, %d failed\n", all[0], all[1]);
  MPI_Finalize();
  return failed ? 1 : 0;
}
