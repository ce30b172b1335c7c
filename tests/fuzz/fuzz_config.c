/* fuzz_config.c - HF config.json parsing into an architecture, and the derived
 * counts (tensor list, parameters, FLOPs) of whatever it accepts. */
#include <cjson/cJSON.h>

#include "arch.h"
#include "qs_common.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = qs_fuzz_write(data, size, ".json");
  qs_arch a;
  if (qs_arch_from_config_file(path, &a) != QS_OK) {
    if (strchr(qs_last_error(), '\n')) abort();
    return 0;
  }
  /* an accepted config must describe a model whose sizes can be computed without
   * overflow or unbounded allocation: cap what we are willing to enumerate */
  if ((double)a.hidden * a.mlp * a.layers > 1e11) return 0;
  qs_tensor_spec *specs = NULL;
  int n = 0;
  if (qs_arch_specs(&a, &specs, &n) == QS_OK) {
    for (int i = 0; i < n; i++)
      if (qs_spec_numel(&specs[i]) < 0) abort();
    free(specs);
  }
  (void)qs_arch_param_count(&a);
  (void)qs_arch_gflops(&a);
  (void)qs_arch_tokens(&a);
  return 0;
}
