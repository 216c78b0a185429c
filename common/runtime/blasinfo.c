/* blasinfo — see blasinfo.h. */
#include "blasinfo.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hooks.h"

char *openblas_get_corename(void);

BlasCpu blas_cpu(void) {
  BlasCpu c = {0};
  const char *fake = hook_str("CPU");
  if (fake) {
    char buf[256];
    snprintf(buf, sizeof buf, ",%s,", fake);
    c.avx2 = strstr(buf, ",avx2,") != NULL;
    c.avx512f = strstr(buf, ",avx512f,") != NULL;
    c.avx512bf16 = strstr(buf, ",avx512bf16,") != NULL;
    return c;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  c.avx2 = __builtin_cpu_supports("avx2");
  c.avx512f = __builtin_cpu_supports("avx512f");
#if __GNUC__ >= 12
  c.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
#endif
  return c;
}

void blas_cpu_text(const BlasCpu *c, char *out, int n) {
  snprintf(out, (size_t)n, "%s%s%s%s", c->avx2 ? "avx2 " : "", c->avx512f ? "avx512f " : "",
           c->avx512bf16 ? "avx512bf16 " : "", !c->avx2 && !c->avx512f ? "no AVX2 / AVX-512" : "");
  size_t l = strlen(out);
  if (l && out[l - 1] == ' ') out[l - 1] = 0;
}

const char *blas_core(int fake_allowed) {
  const char *fake = fake_allowed ? hook_str("BLAS_CORE") : NULL;
  if (fake) return fake;
  const char *c = openblas_get_corename();
  return c ? c : "unknown";
}

/* the cores OpenBLAS falls back to on a CPU it does not know (its oldest x86-64 kernels) */
static int generic(const char *core) {
  static const char *const g[] = {"Prescott", "Core2", "Penryn",  "Dunnington", "Nehalem",
                                  "Katmai",   "Atom",  "generic", "unknown",    NULL};
  for (int i = 0; g[i]; i++)
    if (!strcasecmp(core, g[i])) return 1;
  return 0;
}

const char *blas_pick(const char *core, const BlasCpu *cpu) {
  if (!generic(core)) return NULL;
  if (cpu->avx512f && cpu->avx512bf16) return "Cooperlake";
  if (cpu->avx512f) return "SkylakeX";
  if (cpu->avx2) return "Haswell";
  return NULL;
}

int blas_can_run(const char *core, const BlasCpu *cpu) {
  static const char *const avx512bf16[] = {"Cooperlake", "SapphireRapids"};
  static const char *const avx512[] = {"SkylakeX"};
  static const char *const avx2[] = {"Haswell", "Zen"};
  static const char *const sse[] = {"Prescott", "Core2", "Penryn",     "Dunnington",
                                    "Nehalem",  "Atom",  "Sandybridge"};
  for (size_t i = 0; i < sizeof avx512bf16 / sizeof *avx512bf16; i++)
    if (!strcasecmp(core, avx512bf16[i])) return cpu->avx512f && cpu->avx512bf16;
  for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
    if (!strcasecmp(core, avx512[i])) return cpu->avx512f;
  for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
    if (!strcasecmp(core, avx2[i])) return cpu->avx2;
  for (size_t i = 0; i < sizeof sse / sizeof *sse; i++)
    if (!strcasecmp(core, sse[i])) return 1; /* every x86-64 CPU with AVX2 has these */
  return 0;
}
