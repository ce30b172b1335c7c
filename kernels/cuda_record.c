/* cuda_record.c - the forward as launches. It is recorded by one function
 * (qs_cuda_record) that issues every launch on the plan's stream: plain launches run it
 * directly, the graph is a capture of it. MobileViT records its op list
 * (cuda_mobilevit.c); the transformer families (ViT, DeiT, DINO, DINOv2, BEiT) are
 * recorded here.
 *
 * Per block (pre-norm), with x the residual stream and h = LN1(x) from the step before:
 *   qkv = h Wqkv^T + b   (q, k, v fused into one GEMM, [M, 3D])
 *   att = attention(qkv, rel-pos bias)        (fused, online softmax)
 *   o   = att Wo^T + b
 *   x  += ls1 * o;  h = LN2(x)               (one kernel)
 *   mid = gelu(h W1^T + b)                    (bias in the GEMM epilogue, erf GELU kernel)
 *   o   = mid W2^T + b
 *   x  += ls2 * o;  h = LN1'(x)              (next block's LN1, or the final LN)
 * Precision semantics follow the CPU reference: fp16 (bf16) storage of weights and
 * activations, fp32 accumulation and statistics. */
#include <stdint.h>

#include "cuda_internal.h"
#include "qs_common.h"

/* Issue the whole forward on the plan's stream (in32 -> out32). */
int qs_cuda_record(const qs_cuda_plan *P) {
  const qs_dtype dt = P->dt;
  const cudaStream_t s = P->stream;
  const int B = P->B, N = P->N, D = P->D, M = B * N;
  const float eps = P->a->ln_eps;
  const int beit = P->a->family == QS_FAM_BEIT;
  if (P->mv) return qs_mv_record(P);

  QS_TRY(qs_im2col_launch(dt, P->in32, P->cols, B, P->C, P->S, P->P, s));
  QS_TRY(qs_cuda_linear_run(P, P->lin_patch, P->cols, P->pe));
  QS_TRY(qs_tokens_launch(dt, P->pe, qs_cuda_dptr(P, P->cls), qs_cuda_dptr(P, P->dist), qs_cuda_dptr(P, P->pos), P->x, B, N, D, s));
  QS_TRY(qs_layernorm_launch(dt, P->x, NULL, NULL, qs_cuda_dptr(P, P->layers[0].ln1_g), qs_cuda_dptr(P, P->layers[0].ln1_b), P->h, M,
                             D, eps, s));
  for (int l = 0; l < P->L; l++) {
    const qs_layer *ly = &P->layers[l];
    QS_TRY(qs_cuda_linear_run(P, ly->qkv, P->h, P->qkv));
    QS_TRY(qs_attention_launch(dt, P->qkv, qs_cuda_dptr(P, ly->rel), P->ldb, P->att, B, N, P->Hl, P->hd, s));
    QS_TRY(qs_cuda_linear_run(P, ly->o, P->att, P->o));
    QS_TRY(qs_layernorm_launch(dt, P->x, P->o, qs_cuda_dptr(P, ly->ls1), qs_cuda_dptr(P, ly->ln2_g), qs_cuda_dptr(P, ly->ln2_b), P->h, M, D,
                               eps, s));
    QS_TRY(qs_cuda_linear_run_gelu(P, ly->fc1, P->h, P->mid)); /* GELU in the quantized epilogues */
    QS_TRY(qs_cuda_linear_run(P, ly->fc2, P->mid, P->o));
    /* residual, then the next LayerNorm: the next block's LN1, the final LN, or
     * none (BEiT's mean pooling normalises after pooling) */
    const void *ng = NULL, *nb = NULL;
    if (l + 1 < P->L) ng = qs_cuda_dptr(P, P->layers[l + 1].ln1_g), nb = qs_cuda_dptr(P, P->layers[l + 1].ln1_b);
    else if (!beit) ng = qs_cuda_dptr(P, P->lnf_g), nb = qs_cuda_dptr(P, P->lnf_b);
    QS_TRY(qs_layernorm_launch(dt, P->x, P->o, qs_cuda_dptr(P, ly->ls2), ng, nb, ng ? P->h : NULL, M, D, eps, s));
  }

  const void *result = NULL;
  if (beit) {
    QS_TRY(qs_mean_tokens_launch(dt, P->x, P->pooled, B, N, D, 1, s));
    QS_TRY(qs_layernorm_launch(dt, P->pooled, NULL, NULL, qs_cuda_dptr(P, P->lnf_g), qs_cuda_dptr(P, P->lnf_b), P->pooled2, B, D, eps,
                               s));
    if (P->a->output == QS_OUT_POOLER) {
      result = P->pooled2;
    } else {
      QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled2, P->logits));
      result = P->logits;
    }
  } else {
    QS_TRY(qs_gather_row_launch(dt, P->h, P->pooled, B, N, D, 0, s));
    switch (P->a->output) {
      case QS_OUT_CLS: result = P->pooled; break;
      case QS_OUT_POOLER:
        QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled, P->logits));
        QS_TRY(qs_tanh_launch(dt, P->logits, (int64_t)B * P->out_dim, s));
        result = P->logits;
        break;
      case QS_OUT_LOGITS:
        QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled, P->logits));
        result = P->logits;
        break;
      case QS_OUT_DEIT_AVG:
        QS_TRY(qs_gather_row_launch(dt, P->h, P->pooled2, B, N, D, 1, s));
        QS_TRY(qs_cuda_linear_run(P, P->head1, P->pooled, P->logits));
        QS_TRY(qs_cuda_linear_run(P, P->head2, P->pooled2, P->logits2));
        QS_TRY(qs_average2_launch(dt, P->logits, P->logits2, P->logits, (int64_t)B * P->out_dim, s));
        result = P->logits;
        break;
    }
  }
  return qs_to_f32_launch(dt, result, P->out32, (int64_t)B * P->out_dim, s);
}

/* One forward on the device: graph replay or plain launches. */
int qs_cuda_launch(const qs_cuda_plan *P, int use_graph) {
  if (use_graph && P->exec) {
    CUDA_CHECK(cudaGraphLaunch(P->exec, P->stream));
    return QS_OK;
  }
  return qs_cuda_record(P);
}

int qs_cuda_capture(qs_cuda_plan *P) {
  CUDA_CHECK(cudaStreamBeginCapture(P->stream, cudaStreamCaptureModeRelaxed));
  int rc = qs_cuda_record(P);
  cudaGraph_t g = NULL;
  cudaError_t e = cudaStreamEndCapture(P->stream, &g);
  if (rc != QS_OK) {
    if (g) cudaGraphDestroy(g);
    (void)cudaGetLastError();
    return rc;
  }
  if (e != cudaSuccess) return qs_cuda_fail(e, "cudaStreamEndCapture(stream, &graph)", __FILE__, __LINE__);
  P->graph = g;
  CUDA_CHECK(cudaGraphInstantiate(&P->exec, P->graph, 0));
  CUDA_CHECK(cudaGraphUpload(P->exec, P->stream));
  return QS_OK;
}
