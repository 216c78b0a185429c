/* gradcheck — central finite differences against analytic gradients (double build).
 *
 * gc_check perturbs each selected entry of `x` by ±h, re-evaluates `loss`, and compares with
 * `analytic`. The error measure is |a - fd| / max(|a| + |fd|, floor): relative where gradients
 * are large, absolute where they are ~0. Returns the worst error; a check passes when it is
 * below tol. */
#ifndef USBPO_GRADCHECK_H
#define USBPO_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

typedef double (*GcLoss)(void *ctx);

static double gc_check(const char *what, GcLoss loss, void *ctx, double *x, const double *analytic,
                       size_t n, size_t stride, double h, double floor_, int verbose) {
  double worst = 0;
  size_t worst_i = 0;
  double worst_a = 0, worst_fd = 0;
  if (stride == 0) stride = 1;
  for (size_t i = 0; i < n; i += stride) {
    double keep = x[i];
    x[i] = keep + h;
    double lp = loss(ctx);
    x[i] = keep - h;
    double lm = loss(ctx);
    x[i] = keep;
    double fd = (lp - lm) / (2 * h);
    double a = analytic[i];
    double den = fabs(a) + fabs(fd);
    if (den < floor_) den = floor_;
    double err = fabs(a - fd) / den;
    if (err > worst) worst = err, worst_i = i, worst_a = a, worst_fd = fd;
  }
  if (verbose)
    fprintf(stderr, "  gradcheck %-36s n=%-6zu worst %.2e (at %zu: analytic %.9g fd %.9g)\n", what,
            n, worst, worst_i, worst_a, worst_fd);
  return worst;
}

/* an absolute floor proportional to the largest gradient entry: entries ~1e-3 of the largest
 * are compared absolutely (their finite differences are dominated by round-off) */
static inline double gc_floor(const double *g, size_t n, double frac) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(g[i]) > m) m = fabs(g[i]);
  return frac * m;
}

#endif
