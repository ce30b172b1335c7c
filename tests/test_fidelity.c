/* test_fidelity.c - fidelity metrics on vectors with known answers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fidelity.h"
#include "qs_test.h"

int main(void) {
  qs_fidelity f;
  const float ref[8] = {1, 2, 3, 4, -1, 0.5f, 2, -3};

  /* identical */
  qs_fidelity_compute(ref, ref, 2, 4, 1, &f);
  CHECK(f.cosine == 1.0 && f.rel_l2 == 0.0 && f.max_abs == 0.0 && f.top1 == 1.0);

  /* scaled by 2: cosine 1, rel_l2 1, max_abs = max |ref| */
  float s2[8];
  for (int i = 0; i < 8; i++) s2[i] = 2 * ref[i];
  qs_fidelity_compute(ref, s2, 2, 4, 1, &f);
  CHECK_CLOSE(f.cosine, 1.0, 1e-15, 0);
  CHECK_CLOSE(f.rel_l2, 1.0, 1e-15, 0);
  CHECK(f.max_abs == 4.0);
  CHECK(f.top1 == 1.0);

  /* negated: cosine -1, rel_l2 2, every argmax changes */
  float neg[8];
  for (int i = 0; i < 8; i++) neg[i] = -ref[i];
  qs_fidelity_compute(ref, neg, 2, 4, 1, &f);
  CHECK_CLOSE(f.cosine, -1.0, 1e-15, 0);
  CHECK_CLOSE(f.rel_l2, 2.0, 1e-15, 0);
  CHECK(f.top1 == 0.0);

  /* orthogonal */
  const float a[4] = {1, 0, 2, 0}, b[4] = {0, 3, 0, -1};
  qs_fidelity_compute(a, b, 1, 4, 0, &f);
  CHECK(f.cosine == 0.0);
  CHECK_CLOSE(f.rel_l2, sqrt(15.0) / sqrt(5.0), 1e-15, 0);
  CHECK(f.max_abs == 3.0);
  CHECK(isnan(f.top1)); /* not a classifier */

  /* a known angle: (1, 0) vs (1, 1) -> cos 45 degrees */
  const float u[2] = {1, 0}, v[2] = {1, 1};
  qs_fidelity_compute(u, v, 1, 2, 0, &f);
  CHECK_CLOSE(f.cosine, sqrt(0.5), 1e-15, 0);
  CHECK_CLOSE(f.rel_l2, 1.0, 1e-15, 0);

  /* argmax agreement: 4 images of 3 classes, 3 agree (ties: first index) */
  const float r4[12] = {0.1f, 0.9f, 0.0f, 5, 1, 1, 0, 0, 1, 2, 2, 1};
  const float o4[12] = {0.2f, 0.8f, 0.1f, 1, 5, 1, -1, -1, 0, 3, 3, 0};
  qs_fidelity_compute(r4, o4, 4, 3, 1, &f);
  CHECK(f.top1 == 0.75);

  /* NaN in the output: never a perfect value */
  float bad[8];
  memcpy(bad, ref, sizeof bad);
  bad[6] = NAN;
  qs_fidelity_compute(ref, bad, 2, 4, 1, &f);
  CHECK(isnan(f.cosine) && isnan(f.rel_l2) && isnan(f.max_abs));
  CHECK(f.top1 == 0.5); /* the row with the NaN does not agree */
  /* all NaN */
  for (int i = 0; i < 8; i++) bad[i] = NAN;
  qs_fidelity_compute(ref, bad, 2, 4, 1, &f);
  CHECK(isnan(f.cosine) && isnan(f.rel_l2) && f.top1 == 0.0);
  /* inf in the output */
  memcpy(bad, ref, sizeof bad);
  bad[3] = INFINITY; /* also the argmax of row 0: still not an agreement */
  qs_fidelity_compute(ref, bad, 2, 4, 1, &f);
  CHECK(isnan(f.cosine) && isinf(f.rel_l2) && isinf(f.max_abs) && f.top1 == 0.5);
  /* a broken reference measures nothing */
  memcpy(bad, ref, sizeof bad);
  bad[0] = NAN;
  qs_fidelity_compute(bad, ref, 2, 4, 1, &f);
  CHECK(isnan(f.cosine) && isnan(f.rel_l2) && isnan(f.max_abs) && isnan(f.top1));
  /* zero reference: rel_l2 inf unless the output is zero too; cosine undefined */
  const float z[4] = {0, 0, 0, 0};
  qs_fidelity_compute(z, a, 1, 4, 0, &f);
  CHECK(isinf(f.rel_l2) && isnan(f.cosine));
  qs_fidelity_compute(z, z, 1, 4, 0, &f);
  CHECK(f.rel_l2 == 0.0 && isnan(f.cosine) && f.max_abs == 0.0);
  /* bad arguments */
  qs_fidelity_compute(ref, ref, 0, 4, 1, &f);
  CHECK(isnan(f.cosine) && isnan(f.top1));

  /* a large vector with a small perturbation: double accumulation keeps it exact-ish */
  enum { N = 100000 };
  static float big[N], pert[N];
  for (int i = 0; i < N; i++) {
    big[i] = (float)sin(0.001 * i) + 2.0f;
    pert[i] = big[i] * (1.0f + ((i & 1) ? 1e-4f : -1e-4f));
  }
  qs_fidelity_compute(big, pert, 100, 1000, 1, &f);
  CHECK_CLOSE(f.rel_l2, 1e-4, 1e-7, 0); /* 1 +- 1e-4f is not exact in fp32 */
  CHECK(f.cosine < 1.0 && f.cosine > 1.0 - 1e-7);

  /* printing */
  FILE *tf = tmpfile();
  CHECK(tf != NULL);
  if (tf) {
    qs_fidelity_compute(ref, s2, 2, 4, 0, &f);
    qs_fidelity_print(tf, "fp16", &f);
    f.cosine = NAN;
    f.rel_l2 = INFINITY;
    qs_fidelity_print(tf, "int8", &f);
    rewind(tf);
    char line1[256] = "", line2[256] = "";
    CHECK(fgets(line1, sizeof line1, tf) && fgets(line2, sizeof line2, tf));
    fclose(tf);
    printf("%s%s", line1, line2);
    CHECK(strstr(line1, "fp16: cosine 1.000000") == line1 && strstr(line1, "top1 n/a"));
    CHECK(strstr(line2, "cosine nan") && strstr(line2, "rel_l2 inf"));
  }
  return qs_test_finish("test_fidelity");
}
