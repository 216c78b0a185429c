/* test_rng — Philox known answers, stream keying, save/load, distribution moments. */
#include "check.h"
#include "rng.h"

static void test_known_answers(void) {
  /* Random123 kat_vectors for philox4x32_10 */
  static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                     {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                                     {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  static const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
  static const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                                      {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                                      {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  for (int i = 0; i < 3; i++) {
    uint32_t out[4];
    rng_philox4x32_10(ctr[i], key[i], out);
    for (int j = 0; j < 4; j++)
      EXPECT(out[j] == want[i][j], "vector %d word %d: %08x vs %08x", i, j, out[j], want[i][j]);
  }
  /* the stream API reads the same function: (seed, purpose) is the key, block 0 first */
  Rng r = rng_make(0, 0, 0);
  EXPECT(rng_u32(&r) == 0x6627e8d5u, "stream word 0");
}

static void test_reproducible_and_save_load(void) {
  Rng a = rng_make(7, RNG_SAC, 3), b = rng_make(7, RNG_SAC, 3);
  for (int i = 0; i < 1000; i++) EXPECT(rng_u32(&a) == rng_u32(&b), "same key differs at %d", i);
  /* save in the middle of a block and with a Box-Muller spare pending */
  (void)rng_u32(&a);
  (void)rng_normal(&a);
  uint64_t st[RNG_STATE_WORDS];
  rng_save(&a, st);
  double want[50];
  for (int i = 0; i < 50; i++) want[i] = i % 3 ? rng_normal(&a) : rng_uniform(&a);
  Rng c;
  REQUIRE(rng_load(&c, st) == 0, "load");
  for (int i = 0; i < 50; i++) {
    double got = i % 3 ? rng_normal(&c) : rng_uniform(&c);
    EXPECT(got == want[i], "continuation %d differs", i);
  }
  st[8] ^= 1;
  EXPECT(rng_load(&c, st) != 0, "a damaged state must be refused");
}

static void test_stream_independence(void) {
  /* every key component changes the stream; correlation between streams is ~0 */
  Rng base = rng_make(1, RNG_ROLLOUT, rng_index2(4, 2));
  Rng other[4] = {
      rng_make(2, RNG_ROLLOUT, rng_index2(4, 2)), rng_make(1, RNG_FINETUNE, rng_index2(4, 2)),
      rng_make(1, RNG_ROLLOUT, rng_index2(5, 2)), rng_make(1, RNG_ROLLOUT, rng_index2(4, 3))};
  const int n = 200000;
  for (int k = 0; k < 4; k++) {
    Rng b = base;
    int same = 0;
    double sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
      double x = rng_uniform(&b), y = rng_uniform(&other[k]);
      same += x == y;
      sxy += x * y, sx += x, sy += y, sxx += x * x, syy += y * y;
    }
    double cov = sxy / n - (sx / n) * (sy / n);
    double corr = cov / sqrt((sxx / n - (sx / n) * (sx / n)) * (syy / n - (sy / n) * (sy / n)));
    EXPECT(same < 3, "stream %d repeats the base stream (%d equal draws)", k, same);
    EXPECT(fabs(corr) < 5.0 / sqrt(n), "stream %d correlates with the base: %g", k, corr);
  }
}

static void moments(double *x, int n, double m[4]) {
  double s = 0;
  for (int i = 0; i < n; i++) s += x[i];
  double mean = s / n, c2 = 0, c3 = 0, c4 = 0;
  for (int i = 0; i < n; i++) {
    double d = x[i] - mean;
    c2 += d * d, c3 += d * d * d, c4 += d * d * d * d;
  }
  c2 /= n, c3 /= n, c4 /= n;
  m[0] = mean, m[1] = c2, m[2] = c3 / pow(c2, 1.5), m[3] = c4 / (c2 * c2);
}

static void test_distributions(void) {
  const int n = 400000;
  double *x = malloc(sizeof(double) * n);
  double m[4];
  Rng r = rng_make(11, RNG_TEST, 0);
  /* uniform: mean 1/2, var 1/12; bounds of 5 standard errors */
  for (int i = 0; i < n; i++) x[i] = rng_uniform(&r);
  moments(x, n, m);
  EXPECT_NEAR(m[0], 0.5, 5 * sqrt(1.0 / 12 / n), "uniform mean");
  EXPECT_NEAR(m[1], 1.0 / 12, 5 * sqrt(1.0 / 180 / n), "uniform variance");
  int in01 = 1;
  for (int i = 0; i < n; i++) in01 &= x[i] >= 0 && x[i] < 1;
  EXPECT(in01, "uniform outside [0, 1)");
  /* float uniform */
  for (int i = 0; i < n; i++) x[i] = rng_uniform_f(&r);
  moments(x, n, m);
  EXPECT_NEAR(m[0], 0.5, 5 * sqrt(1.0 / 12 / n), "uniform_f mean");
  /* normal: mean 0, var 1 (se sqrt(2/n)), skew 0 (se sqrt(6/n)), kurtosis 3 (se sqrt(24/n)) */
  for (int i = 0; i < n; i++) x[i] = rng_normal(&r);
  moments(x, n, m);
  EXPECT_NEAR(m[0], 0, 5 / sqrt(n), "normal mean");
  EXPECT_NEAR(m[1], 1, 5 * sqrt(2.0 / n), "normal variance");
  EXPECT_NEAR(m[2], 0, 5 * sqrt(6.0 / n), "normal skewness");
  EXPECT_NEAR(m[3], 3, 5 * sqrt(24.0 / n), "normal kurtosis");
  /* tail mass beyond 2 sd: 0.0455 */
  int tail = 0;
  for (int i = 0; i < n; i++) tail += fabs(x[i]) > 2;
  EXPECT_NEAR((double)tail / n, 0.04550026, 5 * sqrt(0.0455 * 0.9545 / n), "normal tail mass");
  /* truncated at 2 sd: support [-2, 2], variance 1 - 4 phi(2) / (Phi(2) - Phi(-2)) */
  double var_t = 1 - 4 * 0.05399096651318806 / 0.9544997361036416;
  int inside = 1;
  for (int i = 0; i < n; i++) {
    x[i] = rng_truncnormal(&r);
    inside &= fabs(x[i]) <= 2;
  }
  moments(x, n, m);
  EXPECT(inside, "truncated normal outside [-2, 2]");
  EXPECT_NEAR(m[0], 0, 5 * sqrt(var_t / n), "truncated normal mean");
  EXPECT_NEAR(m[1], var_t, 0.01, "truncated normal variance");
  /* float fill uses the same generator */
  float f[1000];
  Rng r1 = rng_make(3, RNG_TEST, 1), r2 = r1;
  rng_normal_fill(&r1, f, 1000);
  int same = 1;
  for (int i = 0; i < 1000; i++) same &= f[i] == (float)rng_normal(&r2);
  EXPECT(same, "normal_fill differs from rng_normal");
  free(x);
}

static void test_integers(void) {
  /* chi-square over 7 bins (not a power of two), 99.99% quantile of chi2(6) = 27.9 */
  Rng r = rng_make(5, RNG_TEST, 2);
  int counts[7] = {0};
  const int n = 700000;
  for (int i = 0; i < n; i++) {
    uint32_t v = rng_below(&r, 7);
    REQUIRE(v < 7, "rng_below out of range: %u", v);
    counts[v]++;
  }
  double chi = 0, e = n / 7.0;
  for (int i = 0; i < 7; i++) chi += (counts[i] - e) * (counts[i] - e) / e;
  EXPECT(chi < 27.9, "rng_below(7) chi-square %g", chi);
  /* a range near 2^32 where naive modulo is badly biased: mean must be n/2 */
  double s = 0;
  const uint32_t big = 3000000000u;
  for (int i = 0; i < 200000; i++) s += rng_below(&r, big);
  EXPECT_NEAR(s / 200000 / big, 0.5, 5 * sqrt(1.0 / 12 / 200000), "rng_below(3e9) mean");
  EXPECT(rng_below(&r, 1) == 0, "rng_below(1)");
  /* shuffle is a permutation */
  int32_t a[100], seen[100] = {0};
  for (int i = 0; i < 100; i++) a[i] = i;
  rng_shuffle_i32(&r, a, 100);
  int moved = 0;
  for (int i = 0; i < 100; i++) seen[a[i]]++, moved += a[i] != i;
  int perm = 1;
  for (int i = 0; i < 100; i++) perm &= seen[i] == 1;
  EXPECT(perm && moved > 50, "shuffle: permutation %d, moved %d", perm, moved);
}

static void test_bulk_normals(void) {
  const int n = 400001; /* odd: the last pair is cut */
  float *f = malloc(sizeof(float) * n);
  double *x = malloc(sizeof(double) * n), m[4];
  Rng r = rng_make(12, RNG_TEST, 0), r2 = r;
  rng_normal_f(&r, f, n);
  for (int i = 0; i < n; i++) x[i] = f[i];
  moments(x, n, m);
  EXPECT_NEAR(m[0], 0, 5 / sqrt(n), "bulk normal mean");
  EXPECT_NEAR(m[1], 1, 5 * sqrt(2.0 / n), "bulk normal variance");
  EXPECT_NEAR(m[2], 0, 5 * sqrt(6.0 / n), "bulk normal skewness");
  EXPECT_NEAR(m[3], 3, 5 * sqrt(24.0 / n), "bulk normal kurtosis");
  int tail = 0, finite = 1;
  for (int i = 0; i < n; i++) tail += fabs(x[i]) > 3, finite &= isfinite(x[i]) != 0;
  EXPECT(finite, "non-finite bulk normal");
  EXPECT_NEAR((double)tail / n, 0.0026998, 5 * sqrt(0.0027 / n), "3-sigma tail mass");
  /* chunking does not change the values: one call == many small calls */
  float *g = malloc(sizeof(float) * 1000);
  rng_normal_f(&r2, g, 500);
  rng_normal_f(&r2, g + 500, 500);
  EXPECT(!memcmp(f, g, sizeof(float) * 500), "first call differs");
  EXPECT(!memcmp(f + 500, g + 500, sizeof(float) * 500), "second call must continue the stream");
  free(f), free(x), free(g);
}

/* statistics a consistent bug would still break: the two normals of a Box-Muller pair are
 * independent (correlation of consecutive draws, scalar and bulk), and a shuffle reaches every
 * permutation of four items equally often (chi-square over the 24, 23 degrees of freedom) */
static double corr_pairs(const double *x, int n) {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  const int m = n / 2;
  for (int i = 0; i < m; i++) {
    const double a = x[2 * i], b = x[2 * i + 1];
    sa += a, sb += b, saa += a * a, sbb += b * b, sab += a * b;
  }
  const double ca = saa / m - (sa / m) * (sa / m), cb = sbb / m - (sb / m) * (sb / m);
  return (sab / m - (sa / m) * (sb / m)) / sqrt(ca * cb);
}

static void test_pairs_and_shuffles(void) {
  const int n = 400000;
  double *x = malloc(sizeof(double) * n);
  float *f = malloc(sizeof(float) * n);
  Rng r = rng_make(21, RNG_TEST, 1);
  for (int i = 0; i < n; i++) x[i] = rng_normal(&r);
  double c = corr_pairs(x, n);
  EXPECT(fabs(c) < 0.012, "rng_normal: consecutive draws correlate (r = %.4f)", c);
  const char *names[2] = {"rng_normal_f", "rng_normal_fill"};
  for (int k = 0; k < 2; k++) {
    Rng q = rng_make(22 + k, RNG_TEST, 2);
    if (k == 0)
      rng_normal_f(&q, f, (size_t)n);
    else
      rng_normal_fill(&q, f, (size_t)n);
    for (int i = 0; i < n; i++) x[i] = f[i];
    c = corr_pairs(x, n);
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    v /= n;
    EXPECT(fabs(c) < 0.012 && fabs(m) < 0.01 && fabs(v - 1) < 0.02,
           "%s: pair correlation %.4f, mean %.4f, variance %.4f", names[k], c, m, v);
  }
  /* Fisher-Yates on 4 items: every one of the 24 orders, about equally often */
  int count[256] = {0};
  const int trials = 48000;
  Rng s = rng_make(23, RNG_TEST, 3);
  for (int t = 0; t < trials; t++) {
    int32_t a[4] = {0, 1, 2, 3};
    rng_shuffle_i32(&s, a, 4);
    count[a[0] * 64 + a[1] * 16 + a[2] * 4 + a[3]]++;
  }
  int distinct = 0;
  double chi2 = 0, e = trials / 24.0;
  for (int k = 0; k < 256; k++)
    if (count[k]) distinct++, chi2 += (count[k] - e) * (count[k] - e) / e;
  /* chi-square with 23 degrees of freedom: P(> 49.7) = 0.001 */
  EXPECT(distinct == 24 && chi2 < 49.7, "shuffle of 4: %d of 24 orders, chi-square %.1f", distinct,
         chi2);
  free(x), free(f);
}

int main(void) {
  RUN(test_known_answers);
  RUN(test_reproducible_and_save_load);
  RUN(test_stream_independence);
  RUN(test_distributions);
  RUN(test_integers);
  RUN(test_bulk_normals);
  RUN(test_pairs_and_shuffles);
  CHECK_DONE();
}
