/* blasinfo — which OpenBLAS kernel a run uses, and the right one when OpenBLAS does not know the
 * CPU. OpenBLAS picks its kernel when the library loads; on a CPU model it does not know (a new
 * Xeon, say) it falls back to a generic core (Prescott) that runs SAC updates about 4x slower
 * than its AVX-512 kernels, without a word. usbpo_dist then restarts itself once with
 * OPENBLAS_CORETYPE set to the core that matches the CPU's vector extensions, and says so. A
 * value the user (or the machine's environment) set is never overridden. */
#ifndef USBPO_BLASINFO_H
#define USBPO_BLASINFO_H

typedef struct {
  int avx2, avx512f, avx512bf16;
} BlasCpu;

/* the CPU's vector extensions (test hook USBPO_TEST_CPU="avx2,avx512f,...": a fake CPU) */
BlasCpu blas_cpu(void);
/* "avx2 avx512f avx512bf16" (what the CPU has), for the log */
void blas_cpu_text(const BlasCpu *c, char *out, int n);
/* OpenBLAS's kernel as loaded (test hook USBPO_TEST_BLAS_CORE: a fake fallback) */
const char *blas_core(int fake_allowed);
/* the core to ask for, when core is a generic fallback and the CPU has better; else NULL */
const char *blas_pick(const char *core, const BlasCpu *cpu);
/* can this CPU run OpenBLAS's kernel `core` (its vector extensions are there)? 1 or 0; 0 for a
 * kernel this table does not know */
int blas_can_run(const char *core, const BlasCpu *cpu);

#endif
