/* fuzz_safetensors.c - the safetensors header and tensor table, and reading every
 * tensor the header accepts. */
#include "qs_common.h"
#include "safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = qs_fuzz_write(data, size, ".safetensors");
  qs_st_file f;
  if (qs_st_open(path, &f) != QS_OK) {
    if (strchr(qs_last_error(), '\n')) abort(); /* errors are one line */
    return 0;
  }
  for (int i = 0; i < f.n; i++) {
    int64_t n = qs_st_numel(&f.tensors[i]);
    if (n < 0 || n > (int64_t)size) abort(); /* validated against the file size */
    float *buf = malloc(sizeof(float) * (size_t)n + 1);
    if (!buf) abort();
    (void)qs_st_read_f32(&f, i, buf, n);
    free(buf);
    if (qs_st_find(&f, f.tensors[i].name) < 0) abort();
  }
  qs_st_close(&f);
  return 0;
}
