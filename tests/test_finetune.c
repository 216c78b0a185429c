/* test_finetune — phase 2: gradients of both objectives (means, stds, bounds), the W2 closed
 * form against the 1-D quantile coupling, a hand-computed faithful J, and the keep-best /
 * pull-back / stopping rules. Double build. */
#include <stdlib.h>

#include "check.h"
#include "config.h"
#include "finetune.h"
#include "gradcheck.h"
#include "util.h"

#ifndef USBPO_DOUBLE
#error "built against the f64 core"
#endif

static EnsConfig ecfg(void) {
  EnsConfig c = {.members = 3,
                 .elites = 2,
                 .obs_dim = 2,
                 .act_dim = 1,
                 .hidden = 6,
                 .layers = 2,
                 .batch = 8,
                 .lr = 1e-3,
                 .bound_penalty = 0.01,
                 .improve_threshold = 0.01,
                 .patience = 5,
                 .init_maxlv = 0.5,
                 .init_minlv = -10,
                 .decay = {2.5e-5, 5e-5, 1e-4}};
  return c;
}

typedef struct {
  Finetune *f;
  Ensemble *e;
  double *xs, *xo;
} JCtx;

static double j_value(void *v) {
  JCtx *c = v;
  return ft_objective(c->f, c->e, c->xs, c->xo, 0, NULL);
}

static void perturb(Ensemble *e, Rng *r, double s) {
  for (size_t i = 0; i < e->nnet; i++) e->p[i] += s * rng_normal(r);
}

static void check_mode(int mode, int same_member, int terms, const char *name) {
  EnsConfig ec = ecfg();
  FtConfig fc = {.mode = mode,
                 .batch = 8,
                 .lr = 1e-4,
                 .threshold = 1e-4,
                 .max_steps = 100,
                 .patience = 10,
                 .same_member = same_member,
                 .terms = terms};
  for (uint32_t seed = 1; seed <= 2; seed++) {
    Ensemble *e = ens_make(&ec, seed);
    Rng r = rng_make(seed, RNG_TEST, 3);
    for (int d = 0; d < e->c.out_dim; d++) ens_maxlv(e)[d] = 0.2 * d, ens_minlv(e)[d] = -2 - d;
    perturb(e, &r, 0.3);
    Finetune *f = ft_make(&fc, e, seed);
    /* the pre-update model: a different network (and, in w2, its own scaler and bounds) */
    ft_begin(f, e);
    perturb(e, &r, 0.2);
    for (int d = 0; d < e->c.out_dim; d++) ens_maxlv(e)[d] += 0.1, ens_minlv(e)[d] -= 0.3;
    JCtx c = {f, e, malloc(sizeof(double) * 8 * 3), malloc(sizeof(double) * 8 * 3)};
    for (int i = 0; i < 24; i++)
      c.xs[i] = rng_normal(&r), c.xo[i] = mode == FT_W2 ? 0.5 * c.xs[i] + 0.1 : c.xs[i];
    if (mode != FT_W2) {
      free(c.xo);
      c.xo = c.xs;
    }
    FtTerms t;
    const double J = ft_objective(f, e, c.xs, c.xo, 1, &t);
    const double want = terms == FT_TERMS_BIAS    ? t.bias
                        : terms == FT_TERMS_SHIFT ? t.shift
                                                  : t.shift + t.bias;
    EXPECT(J == want && t.shift > 0 && t.bias > 0, "%s: J %g, shift %g, bias %g", name, J, t.shift,
           t.bias);
    double *g = malloc(sizeof(double) * e->ntotal);
    memcpy(g, e->g, sizeof(double) * e->ntotal);
    char what[80];
    snprintf(what, sizeof what, "J %s (weights, biases, bounds)", name);
    double err =
        gc_check(what, j_value, &c, e->p, g, e->ntotal, 1, 1e-5, gc_floor(g, e->ntotal, 1e-4), 1);
    EXPECT(err < 1e-6, "%s seed %u: gradient error %g", name, seed, err);
    snprintf(what, sizeof what, "  of which the bounds");
    double eb = gc_check(what, j_value, &c, e->p + e->nnet, g + e->nnet, 2 * e->c.out_dim, 1, 1e-5,
                         terms == FT_TERMS_BOTH ? 1e-9 : gc_floor(g, e->ntotal, 1e-4), 1);
    EXPECT(eb < 1e-6, "%s: bound gradient error %g", name, eb);
    int any_bound = 0;
    for (int d = 0; d < 2 * e->c.out_dim; d++) any_bound |= g[e->nnet + d] != 0;
    EXPECT(any_bound, "%s: no gradient reached the bounds", name);
    if (c.xo != c.xs) free(c.xo);
    free(c.xs);
    free(g);
    ft_free(f);
    ens_free(e);
  }
}

static void test_gradients(void) {
  check_mode(FT_FAITHFUL, 0, FT_TERMS_BOTH, "faithful");
  check_mode(FT_FAITHFUL, 1, FT_TERMS_BOTH, "faithful, same member");
  check_mode(FT_W2, 0, FT_TERMS_BOTH, "w2");
  /* finetune.terms: bias alone, shift alone, in both modes */
  /* (one term alone reaches the bounds with small gradients: relative to the whole gradient) */
  check_mode(FT_FAITHFUL, 0, FT_TERMS_BIAS, "faithful, bias only");
  check_mode(FT_FAITHFUL, 0, FT_TERMS_SHIFT, "faithful, shift only");
  check_mode(FT_W2, 0, FT_TERMS_BIAS, "w2, bias only");
  check_mode(FT_W2, 0, FT_TERMS_SHIFT, "w2, shift only");
}

/* W2 between diagonal Gaussians from the 1-D quantile coupling, dimension by dimension:
 * W2^2 = sum_d int_0^1 (F1^-1(u) - F2^-1(u))^2 du, computed with u = Phi(z) by the trapezoid
 * rule on z in [-12, 12] (F^-1(Phi(z)) = m + s z for a Gaussian) */
static double w2_quantile(const double *m1, const double *s1, const double *m2, const double *s2,
                          int D) {
  const int n = 48000;
  const double lo = -12, h = 24.0 / n;
  double tot = 0;
  for (int d = 0; d < D; d++) {
    double acc = 0;
    for (int k = 0; k <= n; k++) {
      double z = lo + k * h;
      double q1 = m1[d] + s1[d] * z, q2 = m2[d] + s2[d] * z;
      double w = (k == 0 || k == n) ? 0.5 : 1.0;
      acc += w * (q1 - q2) * (q1 - q2) * exp(-0.5 * z * z) / sqrt(2 * M_PI);
    }
    tot += acc * h;
  }
  return sqrt(tot);
}

static void test_w2_closed_form(void) {
  Rng r = rng_make(3, RNG_TEST, 4);
  for (int t = 0; t < 20; t++) {
    int D = 1 + (int)rng_below(&r, 6);
    double m1[8], s1[8], m2[8], s2[8];
    for (int d = 0; d < D; d++) {
      m1[d] = rng_normal(&r), m2[d] = rng_normal(&r);
      s1[d] = exp(rng_normal(&r)), s2[d] = exp(rng_normal(&r));
    }
    double a = ft_w2_diag(m1, s1, m2, s2, D), b = w2_quantile(m1, s1, m2, s2, D);
    EXPECT(fabs(a - b) < 1e-9 * (1 + b), "D=%d: closed form %.12g vs quantile %.12g", D, a, b);
  }
  double z[2] = {0.3, -1}, s[2] = {0.5, 2};
  EXPECT(ft_w2_diag(z, s, z, s, 2) == 0, "W2 of a distribution with itself");
}

/* local, independent of the library: softplus and the bounded log-variance */
static double sp(double x) {
  return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}
static double sigma_of(double raw, double mx, double mn) {
  double l1 = mx - sp(mx - raw), lv = mn + sp(l1 - mn);
  return exp(lv / 2);
}

static void test_faithful_by_hand(void) {
  /* obs 1, act 1 (D = 2), 3 members, B = 4. Every weight is 0, so a member outputs its last
   * biases: means m_e, raw log-variances v_e, the same for every row. */
  EnsConfig ec = {.members = 3,
                  .elites = 2,
                  .obs_dim = 1,
                  .act_dim = 1,
                  .hidden = 2,
                  .layers = 1,
                  .batch = 4,
                  .lr = 1e-3,
                  .bound_penalty = 0.01,
                  .improve_threshold = 0.01,
                  .patience = 5,
                  .init_maxlv = 0.5,
                  .init_minlv = -10,
                  .decay = {0, 0}};
  FtConfig fc = {.mode = FT_FAITHFUL,
                 .batch = 4,
                 .lr = 1e-4,
                 .threshold = 1e-4,
                 .max_steps = 100,
                 .patience = 10};
  Ensemble *e = ens_make(&ec, 1);
  memset(e->p, 0, sizeof(double) * e->nnet);
  double m[3][2] = {{1.0, 0.0}, {1.5, -0.5}, {0.5, 1.0}};
  double v[3][2] = {{-2.0, -1.0}, {-1.5, -2.5}, {-3.0, -2.0}};
  double mo[3][2] = {{0.9, 0.1}, {1.2, -0.2}, {0.4, 0.8}};
  double vo[3][2] = {{-2.5, -2.5}, {-2.0, -3.0}, {-1.0, -1.5}};
  Finetune *f = ft_make(&fc, e, 1);
  for (int k = 0; k < 3; k++)
    for (int d = 0; d < 2; d++) {
      nn_b(&e->net, f->old, 1, k)[d] = mo[k][d], nn_b(&e->net, f->old, 1, k)[2 + d] = vo[k][d];
      nn_b(&e->net, e->p, 1, k)[d] = m[k][d], nn_b(&e->net, e->p, 1, k)[2 + d] = v[k][d];
    }
  int32_t inew[4] = {0, 1, 2, 1}, iold[4] = {2, 0, 1, 1};
  memcpy(f->inew, inew, sizeof inew);
  memcpy(f->iold, iold, sizeof iold);
  double xs[8] = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8};
  FtTerms t;
  double j = ft_objective(f, e, xs, xs, 0, &t);
  /* by hand. Means part of S, rows j = 0..3 with (b_j, c_j) = (0,2) (1,0) (2,1) (1,1):
   *   (0.4-1.0)^2 + (0.8-0.0)^2 = 1.00;  (0.9-1.5)^2 + (0.1+0.5)^2 = 0.72
   *   (1.2-0.5)^2 + (-0.2-1.0)^2 = 1.93; (1.2-1.5)^2 + (-0.2+0.5)^2 = 0.18   -> 3.83
   * std part of S: only (row i, dim i), i < D = 2, with the current bounds (0.5, -10):
   *   i = 0: sigma_old[c_0 = 2] dim 0 vs sigma[b_0 = 0] dim 0
   *   i = 1: sigma_old[c_1 = 0] dim 1 vs sigma[b_1 = 1] dim 1 */
  double so_20 = sigma_of(vo[2][0], 0.5, -10), s_00 = sigma_of(v[0][0], 0.5, -10);
  double so_01 = sigma_of(vo[0][1], 0.5, -10), s_11 = sigma_of(v[1][1], 0.5, -10);
  double S = 3.83 + (so_20 - s_00) * (so_20 - s_00) + (so_01 - s_11) * (so_01 - s_11);
  /* R_e, means: rows' b = 0,1,2,1:
   *   e=0: 0 + (0.5^2+0.5^2) + (0.5^2+1^2) + 0.5 = 2.25
   *   e=1: (0.5^2+0.5^2) + 0 + (1^2+1.5^2) + 0 = 3.75
   *   e=2: (0.5^2+1^2) + (1^2+1.5^2) + 0 + 3.25 = 7.75
   * std part of R_e: (sigma[b_0=0] dim0 - sigma[e] dim0)^2 + (sigma[b_1=1] dim1 - sigma[e] dim1)^2
   */
  double R[3] = {2.25, 3.75, 7.75};
  for (int k = 0; k < 3; k++) {
    double a0 = s_00 - sigma_of(v[k][0], 0.5, -10), a1 = s_11 - sigma_of(v[k][1], 0.5, -10);
    R[k] += a0 * a0 + a1 * a1;
  }
  double A = sqrt(S) / 4, Bt = (sqrt(R[0]) + sqrt(R[1]) + sqrt(R[2])) / (4.0 * 2);
  EXPECT_NEAR(t.shift, A, 1e-12, "model shift A");
  EXPECT_NEAR(t.bias, Bt, 1e-12, "model bias");
  EXPECT_NEAR(j, A + Bt, 1e-12, "J");
  /* and the numbers: 3.83 dominates S (sqrt(3.83)/4 = 0.48925...) */
  EXPECT(A > 0.489 && A < 0.50, "A = %g", A);
  ft_free(f);
  ens_free(e);
}

/* the largest |change| of a log-variance bound since before (the bounds follow the nets) */
static double bound_change(const Ensemble *e, const double *before) {
  double db = 0;
  for (size_t i = e->nnet; i < e->ntotal; i++) db = fmax(db, fabs(e->p[i] - before[i]));
  return db;
}

/* phase 2 end to end: no step counts as an improvement -> pull back to the phase-1 state after
 * patience + 1 steps; faithful keeps the moved bounds (deviation 6), w2 restores them */
static void run_pullback(int mode) {
  EnsConfig ec = ecfg();
  FtConfig fc = {
      .mode = mode, .batch = 8, .lr = 1e-2, .threshold = 0.99, .max_steps = 100, .patience = 10};
  Ensemble *e = ens_make(&ec, 3);
  Rng r = rng_make(3, RNG_TEST, 5);
  perturb(e, &r, 0.3);
  Finetune *f = ft_make(&fc, e, 3);
  ft_begin(f, e);
  perturb(e, &r, 0.2);
  Buffer *mb = buf_make(2, 1, 100);
  float o[2], a[1], rw = 0, n[2];
  uint8_t d = 0;
  for (int i = 0; i < 100; i++) {
    o[0] = (float)rng_normal(&r), o[1] = (float)rng_normal(&r), a[0] = (float)rng_normal(&r);
    n[0] = o[0], n[1] = o[1];
    buf_push(mb, 1, o, a, &rw, n, &d);
  }
  float esx[8 * 3], xho[20 * 3], yho[20 * 3];
  for (int i = 0; i < 24; i++) esx[i] = (float)rng_normal(&r);
  for (int i = 0; i < 60; i++) xho[i] = (float)rng_normal(&r), yho[i] = (float)rng_normal(&r);
  double *before = malloc(sizeof(double) * e->ntotal);
  memcpy(before, e->p, sizeof(double) * e->ntotal);
  FtStats st;
  Rng fr = rng_make(3, RNG_FINETUNE, 0);
  float *batches = malloc(sizeof(float) * 100 * 8 * 3);
  ft_sample_batches(mb, &fr, 100, 8, batches);
  ft_run(f, e, esx, batches, &fr, xho, yho, 20, &st);
  EXPECT(st.steps == 11 && st.kept_step == 0 && st.pulled_back, "%s: steps %d kept %d pulled %d",
         mode == FT_W2 ? "w2" : "faithful", st.steps, st.kept_step, st.pulled_back);
  EXPECT(!memcmp(before, e->p, sizeof(double) * e->nnet), "weights not restored");
  int bounds_same = !memcmp(before + e->nnet, e->p + e->nnet, sizeof(double) * 2 * e->c.out_dim);
  if (mode == FT_FAITHFUL)
    EXPECT(!bounds_same, "faithful: the bounds must keep the last step's values");
  else
    EXPECT(bounds_same, "w2: the bounds must be rolled back too");
  EXPECT(st.j_after == st.j_before, "J after a full pull-back");
  /* the reported changes, against the parameters themselves: none in the weights; in faithful
   * mode the bounds' largest move, in w2 none */
  double db = bound_change(e, before);
  EXPECT(st.dw_rms == 0, "%s: weight change %g after a full pull-back",
         mode == FT_W2 ? "w2" : "faithful", st.dw_rms);
  EXPECT(st.db_max == db && (mode == FT_W2 ? db == 0 : db > 0), "%s: bound change %g, measured %g",
         mode == FT_W2 ? "w2" : "faithful", st.db_max, db);
  memcpy(before, e->p, sizeof(double) * e->ntotal);
  /* with the normal threshold the same run improves and keeps a later step */
  f->c.threshold = 1e-4;
  ft_sample_batches(mb, &fr, 100, 8, batches);
  ft_run(f, e, esx, batches, &fr, xho, yho, 20, &st);
  EXPECT(st.kept_step > 0 && st.j_after < st.j_before, "no improvement with a real threshold");
  EXPECT(st.steps <= 100 && st.steps >= st.kept_step, "step accounting");
  /* a kept later step: the RMS over the weights and biases only, the bounds' largest move */
  double dw = 0;
  for (size_t i = 0; i < e->nnet; i++) dw += (e->p[i] - before[i]) * (e->p[i] - before[i]);
  dw = sqrt(dw / (double)e->nnet);
  db = bound_change(e, before);
  EXPECT(dw > 0 && fabs(st.dw_rms - dw) <= 1e-12 * dw, "weight change %g, measured %g", st.dw_rms,
         dw);
  EXPECT(st.db_max == db && db > 0, "bound change %g, measured %g", st.db_max, db);
  free(before);
  free(batches);
  buf_free(mb);
  ft_free(f);
  ens_free(e);
}

static void test_pullback_and_stopping(void) {
  run_pullback(FT_FAITHFUL);
  run_pullback(FT_W2);
}

/* finetune.old_own_scaler: the pre-update model's inputs use the scaler it was trained under.
 * With an unchanged scaler both settings give the same J; after a refit they differ, and the
 * own-scaler J equals ft_objective on inputs scaled by the old and the new scaler. */
static void test_old_own_scaler(void) {
  EnsConfig ec = ecfg();
  Ensemble *e = ens_make(&ec, 6);
  Rng r = rng_make(6, RNG_TEST, 8);
  perturb(e, &r, 0.3);
  float esx[8 * 3], xho[20 * 3], yho[20 * 3];
  for (int i = 0; i < 24; i++) esx[i] = (float)rng_normal(&r);
  for (int i = 0; i < 60; i++) xho[i] = (float)rng_normal(&r), yho[i] = (float)rng_normal(&r);
  double j[2][2];
  for (int refit = 0; refit < 2; refit++)
    for (int own = 0; own < 2; own++) {
      FtConfig fc = {.mode = FT_FAITHFUL,
                     .batch = 8,
                     .lr = 1e-4,
                     .threshold = 1e-4,
                     .max_steps = 0,
                     .patience = 10,
                     .own_scaler = own};
      for (int i = 0; i < 3; i++) e->mu[i] = 0.1 * i, e->sd[i] = 1 + 0.2 * i;
      Finetune *f = ft_make(&fc, e, 6);
      ft_keep_scaler(f, e);
      if (refit)
        for (int i = 0; i < 3; i++) e->mu[i] += 0.5, e->sd[i] *= 1.7;
      ft_begin(f, e);
      FtStats st;
      Rng fr = rng_make(6, RNG_FINETUNE, 0);
      ft_run(f, e, esx, NULL, &fr, xho, yho, 20, &st);
      j[refit][own] = st.j_before;
      if (refit && own) {
        /* the same value by hand: xs under the new scaler, xo under the old one */
        double xs[24], xo[24];
        for (int k = 0; k < 24; k++) {
          int i = k % 3;
          xs[k] = (esx[k] - e->mu[i]) / e->sd[i];
          xo[k] = (esx[k] - 0.1 * i) / (1 + 0.2 * i);
        }
        double want = ft_objective(f, e, xs, xo, 0, NULL);
        EXPECT(fabs(want - st.j_before) < 1e-12 * fabs(want), "own-scaler J %.12g, by hand %.12g",
               st.j_before, want);
      }
      ft_free(f);
    }
  EXPECT(j[0][0] == j[0][1], "unchanged scaler: J %.12g vs %.12g", j[0][0], j[0][1]);
  EXPECT(j[1][0] != j[1][1], "refit scaler: the setting made no difference");
  ens_free(e);
}

/* finetune.moments: one Adam step by hand, (m, v, p) from the gradient the kernel is given */
typedef struct {
  double *m, *v;
  int64_t t;
} HandAdam;

static void hand_step(HandAdam *a, double lr, const double *g, double *p, size_t n) {
  a->t++;
  const double lr_t = lr * sqrt(1.0 - pow(0.999, (double)a->t)) / (1.0 - pow(0.9, (double)a->t));
  for (size_t i = 0; i < n; i++) {
    a->m[i] = 0.9 * a->m[i] + (1 - 0.9) * g[i];
    a->v[i] = 0.999 * a->v[i] + (1 - 0.999) * g[i] * g[i];
    p[i] -= lr_t * a->m[i] / (sqrt(a->v[i]) + 1e-8);
  }
}

static double max_rel(const double *a, const double *b, size_t n) {
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs(a[i] - b[i]), s = fmax(fabs(a[i]), fabs(b[i]));
    if (d > 0) worst = fmax(worst, s > 1e-300 ? d / s : d);
  }
  return worst;
}

/* phase 1, phase 2, phase 1, phase 2 on a small ensemble, against a hand-kept Adam state: with
 * shared moments (the official code, spec deviation 10) phase 2 reads and writes phase 1's m
 * and v, every tensor including the bounds, and counts its own steps (t2 = 1, 2) while phase 1
 * keeps its count (t1 = 1, 2); with its own moments phase 1's (m, v) are untouched by phase 2,
 * whose moments start at zero. Each phase's gradient is taken from the kernel's own objective
 * at the state the step starts from; everything else is computed here. */
static void test_moments(void) {
  for (int shared = 0; shared <= 1; shared++) {
    EnsConfig ec = ecfg();
    for (int l = 0; l <= ec.layers; l++) ec.decay[l] = 0; /* the Adam pass alone */
    const int B = 8, in = 3;
    FtConfig fc = {.mode = FT_FAITHFUL,
                   .batch = B,
                   .lr = 1e-2,
                   .threshold = -1, /* every step kept: the weights after it are its own */
                   .max_steps = 1,
                   .patience = 10,
                   .moments = shared ? FT_MOM_SHARED : FT_MOM_OWN};
    Ensemble *e = ens_make(&ec, 11);
    Rng r = rng_make(11, RNG_TEST, 12);
    perturb(e, &r, 0.3);
    Finetune *f = ft_make(&fc, e, 11);
    const size_t n = e->ntotal;
    double *p = calloc(n, sizeof(double)), *g = calloc(n, sizeof(double));
    HandAdam h1 = {calloc(n, sizeof(double)), calloc(n, sizeof(double)), 0};
    HandAdam h2 = {calloc(n, sizeof(double)), calloc(n, sizeof(double)), 0};
    HandAdam *ph2 = shared ? &(HandAdam){h1.m, h1.v, 0} : &h2;
    memcpy(p, e->p, sizeof(double) * n);
    float esx[8 * 3], bat[8 * 3], xho[20 * 3], yho[20 * 3];
    for (int i = 0; i < 60; i++) xho[i] = (float)rng_normal(&r), yho[i] = (float)rng_normal(&r);
    for (int round = 0; round < 2; round++) {
      /* phase 1: one minibatch step */
      const int mb = 4;
      for (int i = 0; i < ec.members * mb * in; i++) e->xb[i] = rng_normal(&r);
      for (int i = 0; i < ec.members * mb * e->c.out_dim; i++) e->yb[i] = rng_normal(&r);
      ens_nll(e, mb, 1);
      memcpy(g, e->g, sizeof(double) * n);
      ens_train_step(e, mb);
      hand_step(&h1, ec.lr, g, p, n);
      EXPECT(e->adam.t == round + 1 && f->adam.t == round, "%s: counters after phase 1: %lld, %lld",
             shared ? "shared" : "own", (long long)e->adam.t, (long long)f->adam.t);
      EXPECT(max_rel(e->p, p, n) < 1e-12 && max_rel(e->adam.m, h1.m, n) < 1e-12 &&
                 max_rel(e->adam.v, h1.v, n) < 1e-12,
             "%s round %d: phase 1 differs from the hand step (p %g, m %g, v %g)",
             shared ? "shared" : "own", round, max_rel(e->p, p, n), max_rel(e->adam.m, h1.m, n),
             max_rel(e->adam.v, h1.v, n));
      /* phase 2: one step on J (the pre-update copy: before this round's phase 1 would be the
       * run's; any other network serves the arithmetic) */
      ft_begin(f, e);
      perturb(e, &r, 0.05);
      memcpy(p, e->p, sizeof(double) * n);
      for (int i = 0; i < B * in; i++)
        esx[i] = (float)rng_normal(&r), bat[i] = (float)rng_normal(&r);
      double xs[8 * 3];
      ens_scale(e, bat, B, xs);
      ft_objective(f, e, xs, xs, 1, NULL);
      memcpy(g, e->g, sizeof(double) * n);
      FtStats st;
      Rng fr = rng_make(11, RNG_FINETUNE, (uint64_t)round);
      ft_run(f, e, esx, bat, &fr, xho, yho, 20, &st);
      hand_step(ph2, fc.lr, g, p, n);
      EXPECT(st.steps == 1 && st.kept_step == 1, "%s: phase 2 took %d steps, kept %d",
             shared ? "shared" : "own", st.steps, st.kept_step);
      EXPECT(e->adam.t == round + 1 && f->adam.t == round + 1,
             "%s: counters after phase 2: phase 1 %lld (want %d), phase 2 %lld (want %d)",
             shared ? "shared" : "own", (long long)e->adam.t, round + 1, (long long)f->adam.t,
             round + 1);
      const double *m2 = shared ? e->adam.m : f->adam.m, *v2 = shared ? e->adam.v : f->adam.v;
      EXPECT(max_rel(e->p, p, n) < 1e-12 && max_rel(m2, ph2->m, n) < 1e-12 &&
                 max_rel(v2, ph2->v, n) < 1e-12,
             "%s round %d: phase 2 differs from the hand step (p %g, m %g, v %g)",
             shared ? "shared" : "own", round, max_rel(e->p, p, n), max_rel(m2, ph2->m, n),
             max_rel(v2, ph2->v, n));
      if (!shared)
        EXPECT(max_rel(e->adam.m, h1.m, n) == 0 && max_rel(e->adam.v, h1.v, n) == 0,
               "own moments: phase 2 changed phase 1's m or v");
      /* the bounds' moments moved too (every tensor steps) */
      int bounds = 0;
      for (int d = 0; d < 2 * e->c.out_dim; d++) bounds |= m2[e->nnet + d] != 0;
      EXPECT(bounds, "%s: the bounds' moments did not move", shared ? "shared" : "own");
    }
    EXPECT(shared ? f->adam.m == NULL : f->adam.m != NULL, "moments storage");
    free(p), free(g), free(h1.m), free(h1.v), free(h2.m), free(h2.v);
    ft_free(f);
    ens_free(e);
  }
}

int main(void) {
  RUN(test_gradients);
  RUN(test_w2_closed_form);
  RUN(test_faithful_by_hand);
  RUN(test_pullback_and_stopping);
  RUN(test_old_own_scaler);
  RUN(test_moments);
  CHECK_DONE();
}
