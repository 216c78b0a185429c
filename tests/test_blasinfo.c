/* test_blasinfo — the kernel choice when OpenBLAS falls back to a generic core: the matching
 * AVX-512 (with and without bf16) or AVX2 core; nothing for a core OpenBLAS chose itself or a
 * CPU without those extensions; the fake CPU of the test hook is read as written. */
#include <stdlib.h>

#include "blasinfo.h"
#include "check.h"

static void test_pick(void) {
  const BlasCpu none = {0, 0, 0}, avx2 = {1, 0, 0}, avx512 = {1, 1, 0}, bf16 = {1, 1, 1};
  struct {
    const char *core;
    const BlasCpu *cpu;
    const char *want;
  } t[] = {
      {"Prescott", &bf16, "Cooperlake"}, {"Prescott", &avx512, "SkylakeX"},
      {"Prescott", &avx2, "Haswell"},    {"Prescott", &none, NULL},
      {"Nehalem", &avx512, "SkylakeX"},  {"Haswell", &bf16, NULL},
      {"SkylakeX", &avx2, NULL},         {"Zen", &avx2, NULL},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    const char *got = blas_pick(t[i].core, t[i].cpu);
    EXPECT((got == NULL && t[i].want == NULL) || (got && t[i].want && !strcmp(got, t[i].want)),
           "%s with cpu %d%d%d: got %s, want %s", t[i].core, t[i].cpu->avx2, t[i].cpu->avx512f,
           t[i].cpu->avx512bf16, got ? got : "none", t[i].want ? t[i].want : "none");
  }
}

static void test_fake_cpu(void) {
  setenv("USBPO_TEST_CPU", "avx2,avx512f", 1);
  BlasCpu c = blas_cpu();
  EXPECT(c.avx2 && c.avx512f && !c.avx512bf16, "fake cpu read as %d%d%d", c.avx2, c.avx512f,
         c.avx512bf16);
  char text[64];
  blas_cpu_text(&c, text, sizeof text);
  EXPECT(!strcmp(text, "avx2 avx512f"), "cpu text '%s'", text);
  setenv("USBPO_TEST_BLAS_CORE", "Prescott", 1);
  EXPECT(!strcmp(blas_core(1), "Prescott"), "fake core");
  EXPECT(strcmp(blas_core(0), "Prescott") != 0, "the real core is not the fake one");
}

int main(void) {
  RUN(test_pick);
  RUN(test_fake_cpu);
  CHECK_DONE();
}
