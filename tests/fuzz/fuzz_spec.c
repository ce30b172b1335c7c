/* fuzz_spec.c - the sweep spec: parsing, model resolution against the zoo, exclusions,
 * overrides and cell expansion. */
#include "qs_common.h"
#include "spec.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  qs_spec s;
  int rc = qs_spec_parse("fuzz.json", text, QS_SOURCE_DIR "/sweep/models.json", &s);
  free(text);
  if (rc != QS_OK) {
    if (strchr(qs_last_error(), '\n')) abort();
    return 0;
  }
  for (int i = 0; i < s.n_cells; i++)
    if (s.cells[i].model < 0 || s.cells[i].model >= s.n_models || s.cells[i].batch < 1 || s.cells[i].tp < 1) abort();
  qs_spec_free(&s);
  return 0;
}
