/* export_csv.c - one row per cell (the last row of each key), every field of
 * qs_cell_result plus the derived memory reduction basis, speedup, memory reduction and
 * the roofline figures. RFC 4180: CRLF line
 * ends, fields with a comma, quote or line break in double quotes, quotes doubled.
 * Not measured (NaN) is an empty field. The raw latency samples stay in the HDF5 file
 * (/samples/<row>); n_samples says how many there are. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "qs_common.h"

void qa_csv_str(FILE *out, const char *s) {
  if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && (!s[0] || s[strlen(s) - 1] != ' ')) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

void qa_csv_dbl(FILE *out, double v) {
  if (isfinite(v)) fprintf(out, "%.15g", v);
}

int qa_write_csv(const qa_analysis *a, FILE *out, const char *what) {
  errno = 0;
  for (int f = 0; f < qa_n_cell_fields; f++) fprintf(out, "%s,", qa_cell_fields[f].name);
  /* the derived columns; memory_reduction_basis: peak, weight_bytes (no peak counter on
   * the backend) or empty where there is no memory reduction */
  fputs("memory_reduction_basis,speedup,memory_reduction_pct", out);
  /* the roofline (analysis/README.md): empty where not computable, the ceiling columns
   * empty without a calibration of the cell's device */
  fputs(",achieved_tflops,bytes_moved_mb,arith_intensity,ceiling_tflops,ceiling_pct,roof_tflops\r\n", out);
  for (int i = 0; i < a->n_cells; i++) {
    const qa_cell *c = &a->cells[i];
    const char *base = (const char *)c->r;
    for (int f = 0; f < qa_n_cell_fields; f++) {
      const qa_field *fd = &qa_cell_fields[f];
      if (fd->kind == QA_F_STR) {
        qa_csv_str(out, base + fd->off);
      } else if (fd->kind == QA_F_I32) {
        int32_t v;
        memcpy(&v, base + fd->off, sizeof v);
        fprintf(out, "%d", (int)v);
      } else {
        double v;
        memcpy(&v, base + fd->off, sizeof v);
        qa_csv_dbl(out, v);
      }
      fputc(',', out);
    }
    const char *basis = qa_mem_basis_name(c->mem_basis);
    fprintf(out, "%s,", basis ? basis : "");
    qa_csv_dbl(out, c->speedup);
    fputc(',', out);
    qa_csv_dbl(out, c->mem_reduction_pct);
    const double roof[6] = {c->achieved_tflops, c->bytes_moved_mb, c->arith_intensity,
                            c->ceiling_tflops,  c->ceiling_pct,    c->roof_tflops};
    for (int k = 0; k < 6; k++) {
      fputc(',', out);
      qa_csv_dbl(out, roof[k]);
    }
    fputs("\r\n", out);
  }
  if (fflush(out) != 0 || ferror(out))
    return qs_fail(QS_EIO, "%s: write: %s", what, errno ? strerror(errno) : "error");
  return QS_OK;
}
