/* gemm_split — does one sgemm over M rows give the same bits as two over M/2 rows each?
 *
 * A member's minibatch could be spread over threads by rows (forward C = X·W, input gradient
 * dX = dZ·Wᵀ) if the row split left every element of C unchanged; then phase 1 could use more
 * threads than members without changing a sync run's numbers. This program answers it for the
 * BLAS kernel in use, on the model's layer shapes, one OpenBLAS thread: it prints each shape
 * whose result differs and the count. (OpenBLAS 0.3.21, Haswell kernel: 84 of 98 differ;
 * SkylakeX and Cooperlake: 8 of 98. So the split is not made: see README, "On a 16-core node".)
 *   gemm_split                  (exit 0 always: a measurement, not a test) */
#include <string.h>

#include "bench_util.h"
#include "rng.h"

int main(void) {
  openblas_set_num_threads(1);
  bench_header("gemm_split: one sgemm over M rows against two over M/2 rows (bit equality)");
  static const int ms[] = {256, 255, 200, 137, 100, 17, 1};
  static const int kn[][2] = {{14, 200}, {23, 200}, {24, 200}, {200, 200},
                              {200, 14}, {200, 24}, {200, 36}};
  const int nm = sizeof ms / sizeof ms[0], nk = sizeof kn / sizeof kn[0];
  Rng r = rng_make(1, RNG_TEST, 11);
  int differ = 0, total = 0;
  for (int tb = 0; tb < 2; tb++)
    for (int i = 0; i < nm; i++)
      for (int j = 0; j < nk; j++) {
        const int M = ms[i], K = kn[j][0], N = kn[j][1], h = M / 2, ldb = tb ? K : N;
        float *a = xmalloc(sizeof(float) * M * K), *b = xmalloc(sizeof(float) * K * N);
        float *c1 = xmalloc(sizeof(float) * M * N), *c2 = xmalloc(sizeof(float) * M * N);
        for (int q = 0; q < M * K; q++) a[q] = (float)rng_uniform(&r) * 2 - 1;
        for (int q = 0; q < K * N; q++) b[q] = (float)rng_uniform(&r) * 2 - 1;
        const enum CBLAS_TRANSPOSE t = tb ? CblasTrans : CblasNoTrans;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, t, M, N, K, 1, a, K, b, ldb, 0, c1, N);
        if (h > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, t, h, N, K, 1, a, K, b, ldb, 0, c2, N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, t, M - h, N, K, 1, a + (size_t)h * K, K, b, ldb, 0,
                    c2 + (size_t)h * N, N);
        total++;
        if (memcmp(c1, c2, sizeof(float) * M * N) != 0) {
          differ++;
          printf("differs: %s, M %d (as %d + %d), K %d, N %d\n", tb ? "A*B^T" : "A*B", M, h, M - h,
                 K, N);
        }
        xfree(a), xfree(b), xfree(c1), xfree(c2);
      }
  printf("%d of %d shapes differ between one call and two row halves\n", differ, total);
  return 0;
}
