/* commands.h - the qsweep subcommands; each parses its own options (getopt_long). */
#ifndef QS_COMMANDS_H
#define QS_COMMANDS_H

#include <stdint.h>

#include "arch.h"

#define QS_DEFAULT_SEED 1234u

int qs_cmd_models(int argc, char **argv);
int qs_cmd_forward(int argc, char **argv);
int qs_cmd_export(int argc, char **argv);
int qs_cmd_bench(int argc, char **argv);
int qs_cmd_run(int argc, char **argv);
int qs_cmd_seal(int argc, char **argv);
int qs_cmd_calibrate(int argc, char **argv);

/* Shared helpers for the commands. */
int qs_parse_u64(const char *opt, const char *s, uint64_t *out);
int qs_parse_int(const char *opt, const char *s, int lo, int hi, int *out);
/* Read an input batch: a safetensors file with "pixel_values" [B, C, S, S], or raw
 * little-endian float32 of exactly batch*C*S*S values. */
int qs_read_input(const char *path, int batch, int channels, int size, float *x);
/* The model of --model (zoo name or checkpoint directory, qs_zoo_lookup) at --image-size
 * (0: its own input size). */
int qs_cli_model_arch(const char *zoo_path, const char *model, int image_size, qs_arch *a);

#endif
