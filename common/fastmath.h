/* fastmath — branch-free exp for elementwise kernels that the compiler can vectorise.
 *
 * glibc's expf is not vectorised without -ffast-math, and swish/sigmoid over the ensemble's
 * activations would otherwise cost a sizeable fraction of the GEMM time. fm_expf is accurate to
 * about 2 ulp on [-87, 88] (checked in test_nn_f32) and saturates outside; NaN maps to a finite
 * value, so kernels keep NaN alive through their own arithmetic. In the double build the
 * exact libm functions are used, so gradient checks see exact arithmetic. */
#ifndef USBPO_FASTMATH_H
#define USBPO_FASTMATH_H

#include <stdint.h>
#include <string.h>

#include "real.h"

static inline float fm_expf(float x) {
  /* written as max/min so that the compiler emits vmaxps/vminps (a NaN becomes -87: callers
   * that must propagate NaN do it themselves) */
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  /* x = n ln2 + r, |r| <= ln2/2; n from the 1.5*2^23 rounding trick */
  const float shifter = 12582912.0f;
  float t = x * 1.44269504088896341f + shifter;
  float n = t - shifter;
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  /* Taylor polynomial of degree 7 for e^r: truncation error < 5e-9 on [-ln2/2, ln2/2] */
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t ti;
  memcpy(&ti, &t, 4);
  int32_t bits = (ti - 0x4B400000 + 127) << 23; /* 2^n */
  float scale;
  memcpy(&scale, &bits, 4);
  return p * scale;
}

#ifdef USBPO_DOUBLE
static inline real r_exp_fast(real x) { return exp(x); }
#else
static inline real r_exp_fast(real x) { return fm_expf(x); }
#endif

static inline real r_sigmoid(real x) { return (real)1 / ((real)1 + r_exp_fast(-x)); }

/* stable softplus log(1 + e^x) */
static inline real r_softplus(real x) {
  return (x > 0 ? x : 0) + R_LOG1P(R_EXP(-R_FABS(x)));
}

#endif
