/* test_forward_hopper.c - the CPU backend's forward in bf16, fp8 and int8dyn on
 * small transformer models (DeiT, BEiT, DINOv2 with two layers at a small input):
 * fidelity against fp32 in range, outputs of the right storage type, quantized
 * weight bytes as quant.h counts them. (MobileViT: test_mobilevit.) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "cpu_backend.h"
#include "fidelity.h"
#include "model.h"
#include "precision.h"
#include "qs_common.h"
#include "qs_half.h"
#include "qs_test.h"
#include "quant.h"
#include "zoo.h"

typedef struct {
  qs_precision prec;
  double max_rel_l2, min_cosine; /* bounds against fp32 */
  double bits_lo, bits_hi;       /* bits per quantized weight */
} prec_case;

/* measured on these models: bf16 rel L2 5e-3..8.3e-3, fp8 1.2e-2..8e-2, int8dyn 4e-3..2.9e-2 */
static const prec_case k_cases[] = {
    {QS_PREC_BF16, 3e-2, 0.999, 16.0, 16.0},
    {QS_PREC_FP8, 0.12, 0.99, 8.001, 8.2}, /* 8 + 32 / K */
    {QS_PREC_INT8DYN, 6e-2, 0.998, 8.001, 8.2},
};

static int forward(const qs_model *m, qs_precision prec, int batch, const float *in, float *out, double *qbits) {
  qs_prec_opts po;
  qs_prec_opts_default(&po, prec);
  qs_cpu_plan *p = NULL;
  int rc = qs_cpu_plan_create(m, &po, &p);
  if (rc == QS_OK) rc = qs_cpu_forward(p, batch, in, out);
  if (rc == QS_OK && qbits) {
    size_t b = 0, f = 0;
    qs_cpu_plan_qweight_bytes(p, &b, &f);
    *qbits = f ? 32.0 * (double)b / (double)f : NAN;
    /* the bytes quant.h gives for each quantized weight */
    double want = 0;
    for (int i = 0; i < m->n; i++)
      if (m->specs[i].quantized && m->t[i].data)
        want += (double)qs_prec_qweight_bytes(&po, m->specs[i].shape[0], m->specs[i].shape[1]);
    CHECK_MSG((double)b == want, "%s %s: quantized bytes %zu, expected %.0f", m->arch.name, qs_precision_name(prec),
              b, want);
  }
  qs_cpu_plan_free(p);
  return rc;
}

static void test_model(const qs_zoo *z, const char *name, int input_size) {
  qs_arch a;
  if (qs_zoo_resolve(z, name, &a) != QS_OK) {
    CHECK_MSG(0, "zoo: %s", qs_last_error());
    return;
  }
  a.layers = 2;
  a.input_size = input_size;
  qs_model m;
  if (qs_model_synthetic(&a, 1234, &m) != QS_OK) {
    CHECK_MSG(0, "%s: synthetic: %s", name, qs_last_error());
    return;
  }
  const int B = 2, D = qs_arch_out_dim(&a);
  const int classifier = a.output == QS_OUT_LOGITS || a.output == QS_OUT_DEIT_AVG;
  float *in = malloc(sizeof(float) * (size_t)B * a.num_channels * input_size * input_size);
  float *ref = malloc(sizeof(float) * (size_t)B * D), *y = malloc(sizeof(float) * (size_t)B * D);
  float *yh = malloc(sizeof(float) * (size_t)B * D);
  qs_make_input(1, B, a.num_channels, input_size, in);
  CHECK(forward(&m, QS_PREC_FP32, B, in, ref, NULL) == QS_OK);
  CHECK(forward(&m, QS_PREC_FP16, B, in, yh, NULL) == QS_OK);
  for (size_t c = 0; c < sizeof k_cases / sizeof *k_cases; c++) {
    const prec_case *pc = &k_cases[c];
    const char *pn = qs_precision_name(pc->prec);
    double bits = NAN;
    int rc = forward(&m, pc->prec, B, in, y, &bits);
    CHECK_MSG(rc == QS_OK, "%s %s: %s", name, pn, qs_last_error());
    if (rc != QS_OK) continue;
    qs_fidelity f;
    qs_fidelity_compute(ref, y, B, D, classifier, &f);
    printf("%s (%d layers, %d px) %s: ", name, a.layers, input_size, pn);
    qs_fidelity_print(stdout, "vs fp32", &f);
    printf("  bits per quantized weight %.4f\n", bits);
    CHECK_MSG(f.rel_l2 < pc->max_rel_l2 && f.rel_l2 > 0, "%s %s: rel L2 %.3e (bound %.0e)", name, pn, f.rel_l2,
              pc->max_rel_l2);
    CHECK_MSG(f.cosine > pc->min_cosine, "%s %s: cosine %.6f", name, pn, f.cosine);
    CHECK_MSG(bits >= pc->bits_lo && bits <= pc->bits_hi, "%s %s: %.4f bits per weight", name, pn, bits);
    /* outputs in the storage type: bf16, or fp16 (the unquantized head) */
    int ok = 1;
    for (int i = 0; i < B * D; i++)
      ok &= pc->prec == QS_PREC_BF16 ? qs_round_bf16(y[i]) == y[i] : qs_round_half(y[i]) == y[i];
    CHECK_MSG(ok, "%s %s: an output is not a %s value", name, pn, pc->prec == QS_PREC_BF16 ? "bf16" : "fp16");
    /* not fp16 under another name */
    CHECK_MSG(memcmp(y, yh, sizeof(float) * (size_t)B * D) != 0, "%s %s: output equals fp16's", name, pn);
    /* deterministic */
    CHECK(forward(&m, pc->prec, B, in, yh + 0, NULL) == QS_OK);
    CHECK_MSG(memcmp(y, yh, sizeof(float) * (size_t)B * D) == 0, "%s %s: two runs differ", name, pn);
    CHECK(forward(&m, QS_PREC_FP16, B, in, yh, NULL) == QS_OK);
  }
  free(in), free(ref), free(y), free(yh);
  qs_model_free(&m);
}

int main(void) {
  qs_zoo z;
  if (qs_zoo_load(NULL, &z) != QS_OK) {
    fprintf(stderr, "zoo: %s\n", qs_last_error());
    return 1;
  }
  test_model(&z, "deit-tiny-ultra-efficient", 64);
  test_model(&z, "beit-base-pt22k-2021", 64);
  test_model(&z, "dinov2-base-2023", 56);
  qs_zoo_free(&z);
  return qs_test_finish("test_forward_hopper");
}
