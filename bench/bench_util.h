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

/* interleaved A/B: returns min times of both */
static inline void bench_pair(BenchFn a, void *actx, BenchFn b, void *bctx, int reps, int rounds,
                       double *ta, double *tb) {
  a(actx), b(bctx); /* warm up */
  *ta = *tb = 1e30;
  for (int r = 0; r < rounds; r++) {
    double x = bench_time(a, actx, reps), y = bench_time(b, bctx, reps);
    if (x < *ta) *ta = x;
    if (y < *tb) *tb = y;
  }
}

static inline void bench_header(const char *what) {
  const char *core = getenv("OPENBLAS_CORETYPE");
  printf("# %s\n# OpenBLAS: %s | OPENBLAS_CORETYPE=%s | core in use: %s | threads: %d\n", what,
         openblas_get_config(), core ? core : "(unset)", openblas_get_corename(),
         openblas_get_num_threads());
}

#endif
