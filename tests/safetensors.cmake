# safetensors reader/writer: round trips, dtype conversion, and every bad-file rule.
qs_add_test(NAME test_safetensors SOURCES test_safetensors.c LABELS unit bad-input)
