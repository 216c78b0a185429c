/* fastmath — branch-free exp for elementwise kernels that the compiler can vectorise.
 *
 * glibc's expf is not vectorised without -ffast-math, and swish/sigmoid over the ensemble's
 * activations would otherwise cost a sizeable fraction of the GEMM time. fm_expf is accurate to
 * about 2 ulp on [-87, 88] (checked in test_nn_f32) and saturates outside; NaN maps to a finite
 * value, so kernels keep NaN alive through their own arithmetic. In the double build the
 * exact libm functions are used, so gradient checks see exact arithmetic. */
#ifndef USBPO_FASTMATH_H
#define USBPO_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "real.h"

/* elementwise kernels get an AVX2 clone next to the baseline one, chosen at load time. Both
 * perform the same IEEE operations per element (no FMA contraction in ISO C mode, no
 * reassociation), so results do not depend on the clone. */
#if defined(__x86_64__) && !defined(USBPO_DOUBLE) && !defined(__clang__)
#define NN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NN_CLONES
#endif

/* 2^n from t = x log2(e) + 1.5*2^23, whose low mantissa bits hold the rounded n */
static inline float fm_pow2_shifted(float t) {
  int32_t ti;
  memcpy(&ti, &t, 4);
  int32_t bits = (ti - 0x4B400000 + 127) << 23;
  float scale;
  memcpy(&scale, &bits, 4);
  return scale;
}

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
  return p * fm_pow2_shifted(t);
}

/* fm_expf with the range reduction and the polynomial as fused multiply-adds (explicit fmaf,
 * so the result does not depend on the compiler's contraction choices): fewer operations and
 * slightly more accurate. The swish kernels use it; an AVX2+FMA version computes the same
 * bits (without FMA hardware fmaf is a correct but slow library call). */
static inline float fm_expf_fma(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  const float shifter = 12582912.0f;
  float t = fmaf(x, 1.44269504088896341f, shifter);
  float n = t - shifter;
  float r = fmaf(n, -0.693145751953125f, x);
  r = fmaf(n, -1.428606765330187045e-06f, r);
  float p = 1.0f / 5040.0f;
  p = fmaf(p, r, 1.0f / 720.0f);
  p = fmaf(p, r, 1.0f / 120.0f);
  p = fmaf(p, r, 1.0f / 24.0f);
  p = fmaf(p, r, 1.0f / 6.0f);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  return p * fm_pow2_shifted(t);
}

/* log(1 + t) for t in [0, 1], as 2 atanh(s) with s = t / (2 + t) in [0, 1/3]; the series is
 * cut after s^13 (truncation < 5e-9 relative) */
static inline float fm_log1p01(float t) {
  float s = t / (2.0f + t), s2 = s * s;
  float p = 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

/* natural log of a positive normal float: exponent plus 2 atanh((m-1)/(m+1)) with the mantissa
 * m folded into [sqrt(1/2), sqrt(2)) */
static inline float fm_logf(float x) {
  int32_t bits;
  memcpy(&bits, &x, 4);
  int32_t e = ((bits >> 23) & 0xff) - 127;
  int32_t mb = (bits & 0x7fffff) | 0x3f800000;
  float m;
  memcpy(&m, &mb, 4);
  int big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e += big;
  float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  float p = 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return (float)e * 0.693147180559945f + 2.0f * s * p;
}

/* cos and sin of 2 pi u for u in [0, 1): quadrant, then a rotation by pi/4 of Taylor
 * polynomials on [-pi/4, pi/4] (errors < 2e-9 before rounding) */
static inline void fm_sincos2pi(float u, float *c, float *s) {
  float q4 = u * 4.0f;
  int q = (int)q4;
  q = q > 3 ? 3 : q;
  float f = (q4 - (float)q) * 1.57079632679f - 0.785398163397f; /* in [-pi/4, pi/4) */
  float f2 = f * f;
  float sn = 1.0f / 362880.0f;
  sn = sn * -f2 + 1.0f / 5040.0f;
  sn = sn * -f2 + 1.0f / 120.0f;
  sn = sn * -f2 + 1.0f / 6.0f;
  sn = f - f * f2 * sn;
  float cs = 1.0f / 3628800.0f;
  cs = cs * -f2 + 1.0f / 40320.0f;
  cs = cs * -f2 + 1.0f / 720.0f;
  cs = cs * -f2 + 1.0f / 24.0f;
  cs = cs * -f2 + 0.5f;
  cs = 1.0f - f2 * cs;
  /* angle = q pi/2 + pi/4 + f */
  const float r2 = 0.707106781187f;
  float c0 = (cs - sn) * r2, s0 = (sn + cs) * r2;
  float cc = q == 0 ? c0 : (q == 1 ? -s0 : (q == 2 ? -c0 : s0));
  float ss = q == 0 ? s0 : (q == 1 ? c0 : (q == 2 ? -s0 : -c0));
  *c = cc;
  *s = ss;
}

#ifdef USBPO_DOUBLE
static inline real r_exp_fast(real x) {
  return exp(x);
}
/* stable softplus log(1 + e^x) */
static inline real r_softplus(real x) {
  return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}
#else
static inline real r_exp_fast(real x) {
  return fm_expf(x);
}
static inline real r_softplus(real x) {
  return (x > 0 ? x : 0) + fm_log1p01(fm_expf(-(x > 0 ? x : -x)));
}
#endif

static inline real r_sigmoid(real x) {
  return (real)1 / ((real)1 + r_exp_fast(-x));
}

/* softplus(x) (exactly as r_softplus) and, from the same e^-|x|, the logistic sigmoid(x) */
static inline real r_softplus_sigmoid(real x, real *sig) {
  real ax = x > 0 ? x : -x;
  real t = r_exp_fast(-ax);
  *sig = (x > 0 ? (real)1 : t) / ((real)1 + t);
#ifdef USBPO_DOUBLE
  return (x > 0 ? x : 0) + log1p(t);
#else
  return (x > 0 ? x : 0) + fm_log1p01(t);
#endif
}

#endif
