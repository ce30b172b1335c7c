/* cost.c - the cost model (see cost.h). */
#include "cost.h"

#include <stdint.h>
#include <string.h>

#include "qs_common.h"
#include "tp.h"

static double bytes_per_param(qs_precision p) {
  switch (p) {
    case QS_PREC_FP32: return 4.0;
    case QS_PREC_FP16: return 2.0;
    case QS_PREC_INT8: return 1.06;  /* int8 + one fp32 scale per row; fp16 elsewhere */
    case QS_PREC_NF4: return 0.5625; /* 4 bits + fp32 absmax per 64 */
    case QS_PREC_BF16: return 2.0;
    case QS_PREC_FP8: return 1.06;     /* e4m3 + one fp32 scale per row; fp16 elsewhere */
    case QS_PREC_INT8DYN: return 1.06; /* int8 + one fp32 scale per row; fp16 elsewhere */
    default: return 4.0;
  }
}

static double us_per_gflop(qs_precision p) {
  switch (p) {
    case QS_PREC_FP32: return 20.0;
    case QS_PREC_FP16: return 2.5;
    case QS_PREC_INT8: return 4.0;
    case QS_PREC_NF4: return 3.5;
    case QS_PREC_BF16: return 2.5;
    case QS_PREC_FP8: return 1.5;     /* twice the fp16 tensor-core rate, plus quantizing */
    case QS_PREC_INT8DYN: return 1.8; /* int8 tensor cores, no outlier GEMM */
    default: return 20.0;
  }
}

/* Parameters and GFLOPs, with rough stand-ins where the architecture cannot say yet. */
static void arch_size(const qs_arch *a, double *params, double *gflops) {
  /* one-entry cache: cells are costed model by model, and the parameter count builds
   * the model's whole tensor list */
  static _Thread_local qs_arch last;
  static _Thread_local double last_p, last_g;
  static _Thread_local int have;
  if (have && !memcmp(&last, a, sizeof last)) {
    *params = last_p;
    *gflops = last_g;
    return;
  }
  int64_t n = qs_arch_param_count(a);
  double p = n > 0 ? (double)n : 12.0 * a->layers * (double)a->hidden * a->hidden + 1e6;
  double g = qs_arch_gflops(a);
  if (!(g > 0)) g = 2.0 * p * 256 * 1e-9; /* as if 256 tokens went through every weight */
  qs_clear_error();
  *params = last_p = p;
  *gflops = last_g = g;
  last = *a;
  have = 1;
}

double qs_forward_cost_us(const qs_arch *a, qs_precision p, int batch) {
  double params, gflops;
  arch_size(a, &params, &gflops);
  double compute = batch * gflops * us_per_gflop(p);
  double memory = params * bytes_per_param(p) * 1e-6 / 3.0; /* 3 TB/s = 3 MB/us */
  return (compute > memory ? compute : memory) + 20.0 + 10.0 * a->layers;
}

double qs_cell_setup_cost_us(const qs_arch *a, qs_precision p) {
  double params, gflops;
  arch_size(a, &params, &gflops);
  /* upload at 10 GB/s; rounding to fp16 or quantizing on the host ~1 or ~2 ns a weight */
  double per_param_us = bytes_per_param(p) / 1e4;
  if (p == QS_PREC_FP16 || p == QS_PREC_BF16) per_param_us += 1e-3;
  if (p == QS_PREC_INT8 || p == QS_PREC_NF4 || p == QS_PREC_INT8DYN || p == QS_PREC_FP8) per_param_us += 2e-3;
  return params * per_param_us;
}

double qs_cell_cost(const qs_arch *a, qs_precision p, int batch, int tp, const qs_bench_opts *o) {
  double fwd = qs_forward_cost_us(a, p, batch);
  if (tp > 1) {
    if (qs_tp_check_arch(a, tp) != QS_OK) { /* unsupported: reported at once */
      qs_clear_error();
      return 1.0;
    }
    /* per rank: 1/tp of the forward plus two all-reduces a block (~10 us each) */
    fwd = fwd / tp + 20.0 * a->layers;
  }
  double loop = (o->warmup + o->iterations) * fwd;
  double floor_us = (o->warmup_s + o->min_time_s) * 1e6;
  if (loop < floor_us) loop = floor_us;
  return qs_cell_setup_cost_us(a, p) + qs_forward_cost_us(a, QS_PREC_FP32, batch) + loop;
}

double qs_act_bytes(const qs_arch *a, qs_precision p, int batch) {
  double qin = 0;
  double elems = qs_arch_act_elems(a, &qin);
  if (!(elems > 0) || batch < 1) return 0.0;
  const double es = p == QS_PREC_FP32 ? 4.0 : 2.0;
  const double img = (double)a->num_channels * qs_arch_input_size(a) * qs_arch_input_size(a);
  double per_image = (elems - img) * es + img * 4.0; /* the input image is read once as fp32 */
  if (p == QS_PREC_INT8 || p == QS_PREC_INT8DYN || p == QS_PREC_FP8) per_image += 2.0 * qin;
  return per_image * batch;
}

double qs_cell_time_limit_s(double setting_s, double cost_us, double slowdown) {
  if (setting_s >= 0) return setting_s;
  const double est_s = QS_CELL_TIMEOUT_MARGIN * (slowdown > 1 ? slowdown : 1) * (cost_us > 0 ? cost_us : 0) * 1e-6;
  return est_s > QS_CELL_TIMEOUT_FLOOR_S ? est_s : QS_CELL_TIMEOUT_FLOOR_S;
}
