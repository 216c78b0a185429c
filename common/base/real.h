/* real — the scalar type of the numeric core.
 *
 * The core (nn, sac, ensemble, finetune) is compiled twice from the same source: as float for the
 * product, and as double (-DUSBPO_DOUBLE) for the gradient-check tests, so that central finite
 * differences in double precision check exactly the code that runs. Data at rest (buffers,
 * messages, checkpoints) is always float32. */
#ifndef USBPO_REAL_H
#define USBPO_REAL_H

#include <cblas.h>
#include <math.h>

#ifdef USBPO_DOUBLE
typedef double real;
#define R_GEMM    cblas_dgemm
#define R_EXP     exp
#define R_LOG     log
#define R_LOG1P   log1p
#define R_SQRT    sqrt
#define R_TANH    tanh
#define R_FABS    fabs
#define REAL_NAME "f64"
#else
typedef float real;
#define R_GEMM    cblas_sgemm
#define R_EXP     expf
#define R_LOG     logf
#define R_LOG1P   log1pf
#define R_SQRT    sqrtf
#define R_TANH    tanhf
#define R_FABS    fabsf
#define REAL_NAME "f32"
#endif

/* row-major C (m, n) = A (m, k) · B (k, n) with optional transposes; beta 0 or 1 */
static inline void r_gemm(int ta, int tb, int m, int n, int k, real alpha, const real *a, int lda,
                          const real *b, int ldb, real beta, real *c, int ldc) {
  R_GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
         alpha, a, lda, b, ldb, beta, c, ldc);
}

#endif
