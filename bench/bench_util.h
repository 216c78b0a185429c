/* bench_util — timing helpers for bench/ programs: interleave the measured code and its floor,
 * take the minimum over rounds (the least disturbed run on a shared, noisy machine). */
#ifndef USBPO_BENCH_UTIL_H
#define USBPO_BENCH_UTIL_H

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

typedef void (*BenchFn)(void *ctx);

/* seconds per call of fn: min over `rounds` of (time of `reps` calls) / reps */
static inline double bench_time(BenchFn fn, void *ctx, int reps) {
  double t0 = util_now();
  for (int i = 0; i < reps; i++) fn(ctx);
  return (util_now() - t0) / reps;
}

/* interleaved A/B: min times of both over `rounds`. Also keeps the median over rounds of the
 * per-round ratio a/b (bench_paired_ratio): on a shared machine whose speed drifts, a and b of
 * the same round see the same conditions, so the paired median is steadier than min/min. */
#define BENCH_MAX_ROUNDS 256
static double bench_ratio_median_, bench_ratio_lo_, bench_ratio_hi_;

static inline int bench_cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* the median of v[0..n) (sorted in place; the mean of the middle two when n is even) */
static inline double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static inline void bench_pair(BenchFn a, void *actx, BenchFn b, void *bctx, int reps, int rounds,
                              double *ta, double *tb) {
  double ratio[BENCH_MAX_ROUNDS];
  if (rounds > BENCH_MAX_ROUNDS) rounds = BENCH_MAX_ROUNDS;
  a(actx), b(bctx); /* warm up */
  *ta = *tb = 1e30;
  for (int r = 0; r < rounds; r++) {
    double x = bench_time(a, actx, reps), y = bench_time(b, bctx, reps);
    if (x < *ta) *ta = x;
    if (y < *tb) *tb = y;
    ratio[r] = x / y;
  }
  bench_ratio_median_ = bench_median(ratio, rounds);
  bench_ratio_lo_ = ratio[0], bench_ratio_hi_ = ratio[rounds - 1];
}

/* the median paired ratio of the last bench_pair */
static inline double bench_paired_ratio(void) {
  return bench_ratio_median_;
}

/* the smallest and largest of those per-round ratios */
static inline void bench_paired_range(double *lo, double *hi) {
  *lo = bench_ratio_lo_, *hi = bench_ratio_hi_;
}

static inline void bench_header(const char *what) {
  const char *core = getenv("OPENBLAS_CORETYPE");
  printf("# %s\n# OpenBLAS: %s | OPENBLAS_CORETYPE=%s | core in use: %s | threads: %d\n", what,
         openblas_get_config(), core ? core : "(unset)", openblas_get_corename(),
         openblas_get_num_threads());
}

#endif
