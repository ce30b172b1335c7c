/* test_gpu_models.c - the CUDA backend end to end against the CPU reference backend.
 *
 *   test_gpu_models <zoo model> [precisions]   one zoo model at batch 1, fp32, fp16, int8,
 *                                 nf4, int8dyn, bf16 and fp8 (or the comma-separated subset given,
 *                                 e.g. int8,nf4)
 *   test_gpu_models batch2        two small models at batch 2
 *   test_gpu_models tiny          a tiny config (hidden 64, 2 layers, image 32) per family
 *   test_gpu_models fixtures      tiny HF checkpoints of tests/fixtures/tiny at batch 2 (MobileViT, and
 *                                 ViT, DeiT, DINOv2, BEiT at another resolution than their tables';
 *                                 mobilevit-interp: 96 px, HF's bilinear unfolding)
 *
 * Synthetic weights (seed 1234), deterministic input. Each case checks the relative
 * L2 error against qs_cpu_forward of the same precision (fp32 <= 1e-4, fp16 <= 1e-2,
 * bf16 <= 3e-2, int8 and int8dyn <= 5e-2, nf4 <= 2e-2, fp8 <= 0.15), that graph replay and plain
 * launches give the same bits, and that the timed loop returns samples; the quantized
 * precisions also print their fidelity (relative L2 against the CPU fp32 output) and bits
 * per quantized weight, and bf16 its fidelity; both check the plan's weight bytes against
 * the CPU plan's (2 bytes a value in bf16).
 *
 * Why 3e-2 for bf16: the GPU runs the CPU reference's arithmetic (bf16 storage of every
 * operator's output, fp32 sums) in another summation order (cuBLASLt, the fused attention,
 * which also rounds its probabilities to bf16), so the two differ by flipped last bits of
 * bf16 values, as fp16 does in its last bits: the fp16 difference scaled by bf16's 8x coarser
 * rounding (8 mantissa bits against 11). fp16's 1e-2 bound sits well above what it measures,
 * and the CPU bf16 forward's own error against fp32 is 5e-3 to 8.3e-3 on the zoo models
 * (test_forward_hopper; MobileViT 8e-3): two independent bf16 roundings of a forward differ by
 * about sqrt(2) times that, 1.2e-2 at most. 3e-2 leaves 2.5x over that while a real fault
 * (a wrong operand type or fragment layout, a value read as the other 16-bit type) gives
 * errors of order 1.
 *
 * Why 2e-2 for int8 and nf4: their quantized Linears are bit-exact with the CPU
 * reference given the same fp16 input (tests/test_gpu_quant.c), but every other layer
 * runs in fp16 with another accumulation order (cuBLASLt, fused attention), so the
 * inputs of the quantized Linears differ in the last fp16 bit; int8 then rounds some
 * activations to the neighbouring int8 step (1/127 of the row absmax, far coarser than
 * the fp16 ulp) and nf4's tensor-core GEMM sums in another order than the reference's 8
 * lanes. nf4 lands near 2e-3 on every zoo model (2e-2: the fp16 bound doubled). int8
 * flips whole int8 steps, so its difference is of the order of its own quantization
 * error (measured on an H200: 3e-3 to 3.8e-2 against CPU errors vs fp32 of 1e-2 to
 * 4.2e-2): 5e-2. What pins int8 down instead is that the GPU's error against fp32 is
 * no larger than the CPU's (at most 1.25x + 2e-3), checked for both precisions. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cell.h"
#include "cpu_backend.h"
#include "model.h"
#include "qs_common.h"
#include "qs_cuda.h"
#include "qs_test.h"
#include "zoo.h"

static double rel_l2(const float *y, const float *ref, int64_t n, double *max_abs) {
  double num = 0, den = 0;
  *max_abs = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)y[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
    if (fabs(d) > *max_abs || isnan(d)) *max_abs = fabs(d);
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double median_ms(const qs_bench_measure *m) {
  if (m->n_samples < 1) return NAN;
  double *s = malloc(sizeof(double) * (size_t)m->n_samples);
  memcpy(s, m->samples_ms, sizeof(double) * (size_t)m->n_samples);
  for (int i = 1; i < m->n_samples; i++) /* insertion sort: a few dozen samples */
    for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
      double t = s[j];
      s[j] = s[j - 1];
      s[j - 1] = t;
    }
  double r = s[m->n_samples / 2];
  free(s);
  return r;
}

/* Plan, forward and a short timed loop; returns the plan's output in y. */
static int cuda_run(const qs_model *m, const qs_prec_opts *po, int B, int use_graph, const float *x, float *y,
                    double *med_ms, qs_bench_measure *meas) {
  const qs_backend *be = &qs_backend_cuda;
  qs_bench_opts o;
  memset(&o, 0, sizeof o);
  o.warmup = 3;
  o.iterations = 20;
  o.use_graph = use_graph;
  o.device = 0;
  void *plan = NULL;
  int rc = be->plan_create(m, po, B, &o, &plan);
  if (rc != QS_OK) return rc;
  rc = be->forward(plan, x, y);
  if (rc == QS_OK) rc = be->bench(plan, x, &o, meas);
  if (rc == QS_OK) {
    CHECK_MSG(meas->n_samples >= o.iterations, "bench returned %d samples", meas->n_samples);
    int pos = 1;
    for (int i = 0; i < meas->n_samples; i++) pos &= meas->samples_ms[i] > 0;
    CHECK_MSG(pos, "bench: a latency sample is not positive");
    CHECK(meas->weight_bytes > 0 && meas->workspace_bytes > 0);
    *med_ms = median_ms(meas);
    free(meas->samples_ms);
    meas->samples_ms = NULL;
  }
  be->plan_destroy(plan);
  return rc;
}

#define NPREC 7
static int g_prec_mask = 0x3; /* bit p: precision p of k_precs */
static const qs_precision k_precs[NPREC] = {QS_PREC_FP32, QS_PREC_FP16, QS_PREC_INT8,
                                            QS_PREC_NF4,  QS_PREC_INT8DYN, QS_PREC_BF16, QS_PREC_FP8};
#define PREC_QUANT_MASK 0x5c /* int8, nf4, int8dyn, fp8: quantized encoder Linears */
#define PREC_BF16 5

/* The compute capability of device 0 as major * 10 + minor (0 if unknown). */
static int device_cc(void) {
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0) != cudaSuccess)
    return 0;
  return 10 * major + minor;
}

/* Bytes the CPU plan counts that the CUDA plan does not hold (negative: holds more): a
 * position table resized to the run's grid (DINOv2, and ViT / DeiT at another input
 * size: the CPU plan keeps the checkpoint's table and resizes it in the forward, the
 * CUDA plan uploads the resized table) and DINOv2's mask token (not used in inference,
 * not uploaded). */
static double cpu_only_bytes(const qs_arch *a, const qs_prec_opts *po) {
  if (a->family != QS_FAM_DINOV2 && a->family != QS_FAM_VIT && a->family != QS_FAM_DEIT) return 0.0;
  const double es = po->prec == QS_PREC_FP32 ? 4.0 : 2.0;
  const int g = a->input_size / a->patch_size;
  const double mask = a->family == QS_FAM_DINOV2 ? 1.0 : 0.0;
  return es * a->hidden * ((double)a->pos_grid * a->pos_grid - (double)g * g + mask);
}

static void run_model(const qs_model *mp, int B) {
  const qs_model m = *mp;
  const qs_arch *a = &m.arch;
  const int C = a->num_channels, S = a->input_size, out = qs_arch_out_dim(a);
  const int64_t n = (int64_t)B * out;
  float *x = malloc(sizeof(float) * (size_t)B * C * S * S);
  float *ref = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *y2 = malloc(sizeof(float) * n);
  float *ref32 = malloc(sizeof(float) * n);
  int have32 = 0;
  qs_make_input(1, B, C, S, x);
  /* the fp32 reference for the fidelity */
  const int mask = g_prec_mask | ((g_prec_mask & (PREC_QUANT_MASK | 1 << PREC_BF16)) ? 1 : 0);
  for (int p = 0; p < NPREC; p++) {
    if (!(mask & (1 << p))) continue;
    const int run_gpu = (g_prec_mask >> p) & 1;
    qs_prec_opts po;
    qs_prec_opts_default(&po, k_precs[p]);
    const int quant = (PREC_QUANT_MASK >> p) & 1;
    /* fp8: on an H200 the CUDA and CPU fp8 forwards of the zoo models differ by relative
     * L2 7.0e-2 to 9.7e-2 at batch 1, the size of fp8's own error against fp32 (8.7e-2 to
     * 1.2e-1, GPU and CPU alike): once an upstream fp16 value differs in its last bit, the
     * 3-bit mantissa codes of the next Linear round differently (and Hopper's e4m3 wgmma
     * sums in its own order, test_gpu_quant). The bound here catches a broken path; the
     * fidelity check below (GPU within 1.25x of the CPU's error against fp32) holds its
     * quality. */
    const double tol = p == 0             ? 1e-4
                       : p == 1           ? 1e-2
                       : p == 3           ? 2e-2
                       : p == PREC_BF16   ? 3e-2
                       : k_precs[p] == QS_PREC_FP8 ? 0.15
                                                   : 5e-2;
    qs_cpu_plan *cp = NULL;
    double t0 = qs_now_s();
    size_t qbytes = 0, qf32 = 0;
    int rc = qs_cpu_plan_create(&m, &po, &cp);
    if (rc == QS_OK) rc = qs_cpu_forward(cp, B, x, ref);
    if (rc == QS_OK) qs_cpu_plan_qweight_bytes(cp, &qbytes, &qf32);
    const size_t cpu_wbytes = rc == QS_OK ? qs_cpu_plan_weight_bytes(cp) : 0;
    qs_cpu_plan_free(cp);
    const double cpu_s = qs_now_s() - t0;
    CHECK_MSG(rc == QS_OK, "%s: cpu reference: %s", a->name, qs_last_error());
    if (rc != QS_OK) continue;
    if (p == 0) {
      memcpy(ref32, ref, sizeof(float) * (size_t)n);
      have32 = 1;
    }
    if (!run_gpu) continue;
    double med_g = NAN, med_p = NAN, max_abs;
    qs_bench_measure mg, mp;
    memset(&mg, 0, sizeof mg);
    memset(&mp, 0, sizeof mp);
    for (int64_t i = 0; i < n; i++) y[i] = y2[i] = NAN;
    rc = cuda_run(&m, &po, B, 1, x, y, &med_g, &mg);
    if (p == PREC_BF16 && device_cc() < 80) {
      /* bf16 needs compute capability 8.0: refused with the reason, never run */
      CHECK_MSG(rc == QS_EUNSUPPORTED && strstr(qs_last_error(), "bf16 needs compute capability 8.0"),
                "%s bf16 on compute capability %d: %s", a->name, device_cc(), qs_last_error());
      printf("%-30s bf16 b%-3d unsupported on this device: %s\n", a->name, B, qs_last_error());
      continue;
    }
    if (k_precs[p] == QS_PREC_FP8 && rc == QS_EUNSUPPORTED && strstr(qs_last_error(), "fp8: needs compute capability 9.0")) {
      /* fp8 runs on compute capability 9.0 with the sm_90a build: refused with the reason elsewhere */
      CHECK_MSG(device_cc() != 90 || strstr(qs_last_error(), "this build has none"), "%s fp8 refused on cc 9.0: %s",
                a->name, qs_last_error());
      printf("%-30s fp8 b%-3d unsupported here: %s\n", a->name, B, qs_last_error());
      continue;
    }
    if (rc == QS_EUNSUPPORTED && qs_test_shape_refusal(qs_last_error())) {
      /* a tiny config's Linear the quantized kernels do not take: refused, never run wrong */
      printf("%-30s %s b%-3d unsupported (a documented kernel shape limit): %s\n", a->name,
             qs_precision_name(po.prec), B, qs_last_error());
      continue;
    }
    CHECK_MSG(rc == QS_OK, "%s %s b%d: cuda (graph): %s", a->name, qs_precision_name(po.prec), B, qs_last_error());
    if (rc != QS_OK) continue;
    rc = cuda_run(&m, &po, B, 0, x, y2, &med_p, &mp);
    CHECK_MSG(rc == QS_OK, "%s %s b%d: cuda (plain): %s", a->name, qs_precision_name(po.prec), B, qs_last_error());
    const double e = rel_l2(y, ref, n, &max_abs);
    const int same = rc == QS_OK && memcmp(y, y2, sizeof(float) * (size_t)n) == 0;
    printf("%-30s %s b%-3d rel_l2 %.3e (tol %.0e) max_abs %.3e  graph==plain %s  graph %.3f ms  plain %.3f ms  "
           "weights %.1f MB  workspace %.1f MB  device %.1f MB  energy %.3f J  sm %.0f-%.0f MHz  cpu ref %.1f s\n",
           a->name, qs_precision_name(po.prec), B, e, tol, max_abs, same ? "bitwise" : "DIFFER", med_g, med_p,
           mg.weight_bytes / 1e6, mg.workspace_bytes / 1e6, mg.device_bytes / 1e6, mg.energy_j,
           mg.sm_clock_start_mhz, mg.sm_clock_end_mhz, cpu_s);
    CHECK_MSG(e <= tol, "%s %s b%d: relative L2 %.3e > %.0e", a->name, qs_precision_name(po.prec), B, e, tol);
    CHECK_MSG(same, "%s %s b%d: graph replay and plain launches differ", a->name, qs_precision_name(po.prec), B);
    if (p == PREC_BF16) {
      /* bf16: 16 bits a weight (every tensor uploaded as bf16, as the CPU plan counts
       * them: the encoder Linears, which other precisions quantize, included), and the
       * GPU's error against fp32 printed next to the CPU's */
      const double bits = qf32 ? 32.0 * (double)qbytes / (double)qf32 : NAN;
      double fid = NAN, fid_cpu = NAN;
      if (have32) fid = rel_l2(y, ref32, n, &max_abs), fid_cpu = rel_l2(ref, ref32, n, &max_abs);
      printf("%-30s %s b%-3d fidelity vs fp32: cuda %.3e  cpu %.3e   encoder Linears %.2f bits/weight  "
             "weights cuda %.1f MB cpu %.1f MB\n",
             a->name, qs_precision_name(po.prec), B, fid, fid_cpu, bits, mg.weight_bytes / 1e6, cpu_wbytes / 1e6);
      CHECK_MSG(bits == 16.0, "%s bf16: %.2f bits per weight", a->name, bits);
      const double want = (double)cpu_wbytes - cpu_only_bytes(a, &po);
      CHECK_MSG(fabs(mg.weight_bytes - want) <= 0.05 * want,
                "%s %s: weight bytes %.0f, CPU plan %zu (%.0f of them held by the CPU plan only)", a->name,
                qs_precision_name(po.prec), mg.weight_bytes, cpu_wbytes, cpu_only_bytes(a, &po));
    }
    if (quant) {
      /* the plan's weight bytes are the real ones: the CPU plan's count (packed
       * quantized layers + fp16 others), and ~8 (int8) / ~4.5 (nf4) bits per quantized weight */
      const double bits = qf32 ? 32.0 * (double)qbytes / (double)qf32 : NAN;
      double fid = NAN, fid_cpu = NAN;
      if (have32) fid = rel_l2(y, ref32, n, &max_abs), fid_cpu = rel_l2(ref, ref32, n, &max_abs);
      printf("%-30s %s b%-3d fidelity vs fp32: cuda %.3e  cpu %.3e   quantized layers %.2f bits/weight  "
             "weights cuda %.1f MB cpu %.1f MB\n",
             a->name, qs_precision_name(po.prec), B, fid, fid_cpu, bits, mg.weight_bytes / 1e6, cpu_wbytes / 1e6);
      /* the GPU's quantization error is the CPU's (same codes, same kernels' arithmetic) */
      CHECK_MSG(!(fid > 1.25 * fid_cpu + 2e-3), "%s %s: fidelity %.3e vs the CPU's %.3e", a->name,
                qs_precision_name(po.prec), fid, fid_cpu);
      const double want = (double)cpu_wbytes - cpu_only_bytes(a, &po);
      CHECK_MSG(fabs(mg.weight_bytes - want) <= 0.05 * want,
                "%s %s: weight bytes %.0f, CPU plan %zu (%.0f of them held by the CPU plan only)", a->name,
                qs_precision_name(po.prec), mg.weight_bytes, cpu_wbytes, cpu_only_bytes(a, &po));
      CHECK_MSG(p != 3 ? (bits > 7.9 && bits < 8.6) : (bits > 4.3 && bits < 4.8), "%s %s: %.2f bits per weight",
                a->name, qs_precision_name(po.prec), bits);
    }
    if (e > tol)
      for (int i = 0; i < 5 && i < n; i++) fprintf(stderr, "  [%d] cuda %.7g cpu %.7g\n", i, y[i], ref[i]);
  }
  free(x), free(ref), free(y), free(y2), free(ref32);
}

static void run_case(const qs_arch *a, int B) {
  qs_model m;
  if (qs_model_synthetic(a, 1234, &m) != QS_OK) {
    CHECK_MSG(0, "%s: synthetic weights: %s", a->name, qs_last_error());
    return;
  }
  run_model(&m, B);
  qs_model_free(&m);
}

static int tiny_arch(const char *name, const char *json, qs_arch *a) {
  cJSON *cfg = cJSON_Parse(json);
  int rc = cfg ? qs_arch_from_json(cfg, name, a) : qs_fail(QS_EINVAL, "%s: bad JSON", name);
  cJSON_Delete(cfg);
  if (rc == QS_OK) snprintf(a->name, sizeof a->name, "%s", name);
  return rc;
}

#define TINY_COMMON "\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":2,\"patch_size\":8,\"qkv_bias\":true,"

int main(int argc, char **argv) {
  if (qs_cuda_device_count() == 0) {
    printf("test_gpu_models: no CUDA device, skipped\n");
    return QS_SKIP_CODE;
  }
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: test_gpu_models <zoo model> [fp32,fp16,int8,nf4,int8dyn,bf16,fp8] | batch2 | tiny | fixtures\n");
    return 2;
  }
  g_prec_mask = (1 << NPREC) - 1;
  if (argc == 3) {
    g_prec_mask = 0;
    for (int p = 0; p < NPREC; p++)
      if (strstr(argv[2], qs_precision_name(k_precs[p]))) g_prec_mask |= 1 << p;
    if (!g_prec_mask) {
      fprintf(stderr, "test_gpu_models: no precision in '%s'\n", argv[2]);
      return 2;
    }
  }
  char dev[128];
  qs_backend_cuda.device_name(0, dev, sizeof dev);
  printf("device: %s\n", dev);
  /* a bad nf4 block is refused with a message */
  {
    qs_zoo z;
    qs_arch a;
    if (qs_zoo_load(NULL, &z) == QS_OK && qs_zoo_resolve(&z, "deit-tiny-ultra-efficient", &a) == QS_OK) {
      qs_model m;
      if (qs_model_synthetic(&a, 1234, &m) == QS_OK) {
        qs_prec_opts po;
        qs_prec_opts_default(&po, QS_PREC_NF4);
        po.nf4_block = 0;
        void *plan = NULL;
        CHECK(qs_backend_cuda.plan_create(&m, &po, 1, NULL, &plan) == QS_EINVAL && !plan);
        /* a precision the device has no kernels for (fp8 off compute capability 9.0): the
         * plan is refused with the reason, and the cell runner records the cell
         * unsupported (never another precision's run); on an H100 / H200 every precision runs */
        const qs_precision nok[1] = {QS_PREC_FP8};
        const int n_nok = device_cc() == 90 ? 0 : 1;
        qs_cell_ctx *ctx = NULL;
        CHECK(qs_cell_ctx_create(&qs_backend_cuda, 0, 0, &ctx) == QS_OK);
        for (int i = 0; i < n_nok; i++) {
          qs_prec_opts_default(&po, nok[i]);
          plan = NULL;
          CHECK(qs_backend_cuda.plan_create(&m, &po, 1, NULL, &plan) == QS_EUNSUPPORTED && !plan);
          CHECK_MSG(strstr(qs_last_error(), "fp8: needs compute capability 9.0") &&
                        strstr(qs_last_error(), qs_precision_name(nok[i])),
                    "%s: %s", qs_precision_name(nok[i]), qs_last_error());
          qs_bench_opts bo;
          qs_bench_opts_default(&bo);
          bo.warmup = 0;
          bo.iterations = 1;
          qs_cell_result r;
          qs_cell_run(ctx, &a, 1234, &po, 1, 1, &bo, &r);
          CHECK_MSG(!strcmp(r.status, "unsupported") && strstr(r.message, "fp8: needs compute capability 9.0") && r.n_samples == 0 &&
                        isnan(r.lat_median_ms) && isnan(r.fid_cosine),
                    "%s cell: %s: %s", qs_precision_name(nok[i]), r.status, r.message);
          qs_cell_result_free(&r);
        }
        qs_cell_ctx_free(ctx);
        qs_model_free(&m);
      }
      qs_zoo_free(&z);
    }
  }
  if (!strcmp(argv[1], "tiny")) {
    static const struct { const char *name, *json; } tiny[] = {
        {"tiny-vit", "{\"model_type\":\"vit\",\"architectures\":[\"ViTForImageClassification\"]," TINY_COMMON
                     "\"intermediate_size\":128,\"image_size\":32,\"num_labels\":10}"},
        {"tiny-vit-pooler", "{\"model_type\":\"vit\",\"architectures\":[\"ViTModel\"]," TINY_COMMON
                            "\"intermediate_size\":128,\"image_size\":32,\"add_pooling_layer\":true}"},
        {"tiny-dino", "{\"model_type\":\"vit\",\"architectures\":[\"ViTModel\"]," TINY_COMMON
                      "\"intermediate_size\":128,\"image_size\":32,\"add_pooling_layer\":false}"},
        {"tiny-deit", "{\"model_type\":\"deit\",\"architectures\":[\"DeiTForImageClassificationWithTeacher\"],"
                      TINY_COMMON "\"intermediate_size\":128,\"image_size\":32,\"num_labels\":10}"},
        {"tiny-dinov2", "{\"model_type\":\"dinov2\",\"architectures\":[\"Dinov2Model\"]," TINY_COMMON
                        "\"image_size\":64,\"qsweep_input_size\":32,\"layer_norm_eps\":1e-6}"},
        {"tiny-beit", "{\"model_type\":\"beit\",\"architectures\":[\"BeitForImageClassification\"]," TINY_COMMON
                      "\"intermediate_size\":128,\"image_size\":32,\"num_labels\":10,"
                      "\"use_relative_position_bias\":true,\"use_mean_pooling\":true,\"layer_scale_init_value\":0.1}"},
        {"tiny-beit-shared", "{\"model_type\":\"beit\",\"architectures\":[\"BeitModel\"]," TINY_COMMON
                             "\"intermediate_size\":128,\"image_size\":32,\"use_shared_relative_position_bias\":true,"
                             "\"use_mean_pooling\":true,\"layer_scale_init_value\":0.1}"},
    };
    for (size_t i = 0; i < QS_ARRAY_LEN(tiny); i++) {
      qs_arch a;
      int rc = tiny_arch(tiny[i].name, tiny[i].json, &a);
      CHECK_MSG(rc == QS_OK, "%s: %s", tiny[i].name, qs_last_error());
      if (rc != QS_OK) continue;
      run_case(&a, 1);
      run_case(&a, 3);
    }
    return qs_test_finish("test_gpu_models tiny");
  }
  qs_zoo z;
  if (qs_zoo_load(NULL, &z) != QS_OK) {
    fprintf(stderr, "zoo: %s\n", qs_last_error());
    return 1;
  }
  if (!strcmp(argv[1], "fixtures")) {
    /* the HF checkpoints of tests/fixtures/tiny at their fixture's resolution (the CPU
     * reference meets HF's output there within 1e-6, test_golden): MobileViT, and every
     * family at another resolution than its tables' (HF's interpolate_pos_encoding,
     * DINOv2's resize, BEiT's resampled relative position tables), sides that are no multiple
     * of the patch, a plainly saved pooler */
    const char *dirs[] = {QS_FIXTURE_DIR "/tiny/mobilevit",         QS_FIXTURE_DIR "/tiny/mobilevit-interp",
                          QS_FIXTURE_DIR "/tiny/vit-interp",        QS_FIXTURE_DIR "/tiny/deit-interp",
                          QS_FIXTURE_DIR "/tiny/dinov2-resized",    QS_FIXTURE_DIR "/tiny/beit-per-layer-interp",
                          QS_FIXTURE_DIR "/tiny/beit-shared-interp", QS_FIXTURE_DIR "/tiny/vit-pooler-plain",
                          QS_FIXTURE_DIR "/tiny/vit-interp-crop",   QS_FIXTURE_DIR "/tiny/dinov2-crop",
                          QS_FIXTURE_DIR "/tiny/beit-shared-crop"};
    for (size_t i = 0; i < QS_ARRAY_LEN(dirs); i++) {
      qs_arch a;
      qs_model m;
      if (qs_zoo_resolve(&z, dirs[i], &a) != QS_OK || qs_model_create(&a, 1234, &m) != QS_OK) {
        CHECK_MSG(0, "%s: %s", dirs[i], qs_last_error());
        continue;
      }
      printf("%s: %s\n", a.name, m.source);
      run_model(&m, 2);
      qs_model_free(&m);
    }
  } else if (!strcmp(argv[1], "batch2")) {
    const char *names[] = {"deit-tiny-ultra-efficient", "deit-small-distilled-224-edge", "beit-base-pt22k-2021"};
    for (size_t i = 0; i < QS_ARRAY_LEN(names); i++) {
      qs_arch a;
      if (qs_zoo_resolve(&z, names[i], &a) != QS_OK) {
        CHECK_MSG(0, "%s", qs_last_error());
        continue;
      }
      run_case(&a, 2);
    }
  } else {
    qs_arch a;
    if (qs_zoo_resolve(&z, argv[1], &a) != QS_OK) {
      fprintf(stderr, "%s\n", qs_last_error());
      qs_zoo_free(&z);
      return 2;
    }
    run_case(&a, 1);
  }
  qs_zoo_free(&z);
  return qs_test_finish("test_gpu_models");
}
