/* cost.h - the cost model of `qsweep run`: every cell's estimated cost (qs_spec_load
 * fills qs_cell.cost with it), which orders the schedule, and which the sim backend
 * sleeps for. */
#ifndef QS_COST_H
#define QS_COST_H

#include "arch.h"
#include "backend.h"
#include "precision.h"

/* ---- cost model (sweep/README.md, "Cost model") --------------------------------
 * Unit: estimated microseconds on the reference GPU (H100 SXM). One forward costs
 *   max(batch * GFLOPs * us_per_gflop[prec], weight MB / 3 MB/us) + 20 + 10 * layers
 * with us_per_gflop = fp32 20 (50 TFLOP/s, no TF32), fp16 and bf16 2.5 (400 TFLOP/s),
 * int8 4 (LLM.int8: quantize + outlier GEMM), int8dyn 1.8 (int8 tensor cores, no
 * outlier GEMM), fp8 1.5 (twice fp16's rate, plus quantizing), nf4 3.5 (dequantize
 * on the fly) and weight bytes per parameter 4, 2 (fp16, bf16), ~1.06 (int8,
 * int8dyn, fp8), ~0.56 (nf4). A cell costs its warm-up and timed
 * iterations (or warmup_s + min_time_s if longer), one fp32 reference forward, and
 * its setup (upload at 10 GB/s, plus ~1 ns a weight to round to fp16 or ~2 ns to
 * quantize on the host). A tp = k cell costs what one of its k ranks does: the
 * forward / k plus ~20 us a layer for its two all-reduces (1 when the model does not
 * split by k: reported at once). The estimate only has to order cells; it is never
 * reported as a measurement. */
double qs_forward_cost_us(const qs_arch *a, qs_precision p, int batch);
double qs_cell_setup_cost_us(const qs_arch *a, qs_precision p);
double qs_cell_cost(const qs_arch *a, qs_precision p, int batch, int tp, const qs_bench_opts *o);

/* Estimated bytes of activations one forward of `batch` images reads and writes in
 * precision p (the roofline's activation traffic, analysis/README.md): the elements of
 * qs_arch_act_elems at 4 bytes (fp32) or 2 (every other precision computes in fp16 /
 * bf16), the input image read once at 4 bytes (fp32), plus, for the
 * activation-quantizing precisions (int8, int8dyn, fp8), one byte written and one read
 * per element entering a quantized Linear. 0 where the architecture says nothing. Never a measurement. */
double qs_act_bytes(const qs_arch *a, qs_precision p, int batch);
/* ---- the per-cell time limit (qsweep run --cell-timeout, the spec's cell_timeout_s) ----
 * setting_s > 0: that many seconds for every cell; 0: no limit; < 0 (the default):
 *   max(QS_CELL_TIMEOUT_FLOOR_S, QS_CELL_TIMEOUT_MARGIN * slowdown * cost)
 * with the cell's estimated cost in seconds and the backend's slowdown over the
 * reference GPU (qs_backend_slowdown: cuda 1, cpu 1e5, sim its sleep scale). The
 * limit covers the whole cell in its worker process (weights, reference, plan, timed
 * loop), so a generous margin: it is there to end a hang, not to judge a slow cell. */
#define QS_CELL_TIMEOUT_FLOOR_S 600.0
#define QS_CELL_TIMEOUT_MARGIN 20.0
double qs_cell_time_limit_s(double setting_s, double cost_us, double slowdown);

#endif
