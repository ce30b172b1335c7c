/* arena.c - one device allocation per plan, handed out by a bump allocator. */
#include <stdint.h>
#include <string.h>

#include "cuda_plan.h"
#include "qs_common.h"

void qs_arena_measure(qs_arena *a) {
  memset(a, 0, sizeof *a);
  a->cap = SIZE_MAX;
}

int qs_arena_create(qs_arena *a, size_t bytes) {
  memset(a, 0, sizeof *a);
  if (bytes == 0) bytes = QS_ARENA_ALIGN;
  void *p = NULL;
  CUDA_CHECK(cudaMalloc(&p, bytes));
  a->base = p;
  a->cap = bytes;
  return QS_OK;
}

void qs_arena_destroy(qs_arena *a) {
  if (a->base) cudaFree(a->base);
  memset(a, 0, sizeof *a);
}

void *qs_arena_alloc(qs_arena *a, size_t bytes) {
  size_t off = (a->used + QS_ARENA_ALIGN - 1) / QS_ARENA_ALIGN * QS_ARENA_ALIGN;
  size_t len = (bytes + QS_ARENA_ALIGN - 1) / QS_ARENA_ALIGN * QS_ARENA_ALIGN;
  if (off > a->cap || len > a->cap - off) return NULL;
  a->used = off + len;
  if (!a->base) return (void *)(uintptr_t)(QS_ARENA_ALIGN + off); /* measuring: a placeholder */
  return a->base + off;
}
