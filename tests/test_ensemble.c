/* test_ensemble — phase-1 loss gradients through the log-variance bounding (every parameter,
 * the bounds included), member isolation, the scaler, early stopping and elites on scripted
 * losses, restore-to-best, and that training learns. Double build. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ensemble.h"
#include "gradcheck.h"
#include "util.h"

#ifndef USBPO_DOUBLE
#error "built against the f64 core"
#endif

static EnsConfig small(void) {
  EnsConfig c = {.members = 3,
                 .elites = 2,
                 .obs_dim = 2,
                 .act_dim = 1,
                 .hidden = 6,
                 .layers = 2,
                 .batch = 5,
                 .lr = 1e-3,
                 .bound_penalty = 0.01,
                 .improve_threshold = 0.01,
                 .patience = 5,
                 .init_maxlv = 0.5,
                 .init_minlv = -10,
                 .decay = {2.5e-5, 5e-5, 1e-4}};
  return c;
}

static void fill_batch(Ensemble *e, int n, Rng *r) {
  for (size_t i = 0; i < (size_t)e->c.members * n * e->c.in_dim; i++) e->xb[i] = rng_normal(r);
  for (size_t i = 0; i < (size_t)e->c.members * n * e->c.out_dim; i++)
    e->yb[i] = 0.5 * rng_normal(r);
}

static double nll_loss(void *v) {
  return ens_nll((Ensemble *)v, 5, 0);
}

static void test_nll_gradients(void) {
  EnsConfig c = small();
  for (uint32_t seed = 1; seed <= 3; seed++) {
    Ensemble *e = ens_make(&c, seed);
    Rng r = rng_make(seed, RNG_TEST, 0);
    fill_batch(e, 5, &r);
    /* bounds in a range where both softplus branches matter, raw outputs spread around them */
    for (int d = 0; d < e->c.out_dim; d++)
      ens_maxlv(e)[d] = 0.5 - 0.3 * d, ens_minlv(e)[d] = -3 + d;
    for (int l = 0; l < e->net.nlayers; l++)
      for (int m = 0; m < 3; m++)
        for (int j = 0; j < e->net.layer[l].out; j++) nn_b(&e->net, e->p, l, m)[j] = rng_normal(&r);
    ens_nll(e, 5, 1);
    double *g = malloc(sizeof(double) * e->ntotal);
    memcpy(g, e->g, sizeof(double) * e->ntotal);
    double err = gc_check("NLL + decay + bound penalty", nll_loss, e, e->p, g, e->ntotal, 1, 1e-5,
                          gc_floor(g, e->ntotal, 1e-4), 1);
    EXPECT(err < 1e-6, "seed %u: gradient error %g", seed, err);
    /* the bounds specifically */
    double eb = gc_check("  of which maxlv, minlv", nll_loss, e, e->p + e->nnet, g + e->nnet,
                         2 * e->c.out_dim, 1, 1e-5, 1e-9, 1);
    EXPECT(eb < 1e-6, "bound gradient error %g", eb);
    free(g);
    ens_free(e);
  }
}

static void test_member_isolation(void) {
  EnsConfig c = small();
  Ensemble *e = ens_make(&c, 4);
  Rng r = rng_make(4, RNG_TEST, 1);
  fill_batch(e, 5, &r);
  ens_nll(e, 5, 1);
  double *g0 = malloc(sizeof(double) * e->nnet);
  memcpy(g0, e->g, sizeof(double) * e->nnet);
  /* change member 1's data only: members 0 and 2 keep their exact gradients */
  for (int j = 0; j < 5 * e->c.out_dim; j++) e->yb[1 * 5 * e->c.out_dim + j] += 1.0;
  ens_nll(e, 5, 1);
  int same = 1, changed = 0;
  for (int l = 0; l < e->net.nlayers; l++) {
    const NnLayer *L = &e->net.layer[l];
    for (int m = 0; m < 3; m++) {
      double *a = nn_w(&e->net, g0, l, m), *b = nn_w(&e->net, e->g, l, m);
      int eq = !memcmp(a, b, sizeof(double) * L->in * L->out);
      if (m == 1)
        changed |= !eq;
      else
        same &= eq;
    }
  }
  EXPECT(same && changed, "member gradients leaked (same %d, changed %d)", same, changed);
  free(g0);
  ens_free(e);
}

static void test_scaler(void) {
  EnsConfig c = small();
  Ensemble *e = ens_make(&c, 5);
  float x[4 * 3] = {1, 5, 7, 3, 5, 7, 5, 5, 7, 7, 5, 7}; /* column 1, 2 constant */
  ens_fit_scaler(e, x, 4);
  EXPECT_NEAR(e->mu[0], 4, 1e-12, "mean");
  EXPECT_NEAR(e->sd[0], sqrt(5.0), 1e-12, "population std (divide by n)");
  EXPECT(e->sd[1] == 1 && e->sd[2] == 1, "zero std must become 1");
  double xs[3];
  ens_scale(e, x, 1, xs);
  EXPECT_NEAR(xs[0], (1 - 4) / sqrt(5.0), 1e-12, "scaled");
  EXPECT_NEAR(xs[1], 0, 1e-12, "constant column");
  ens_free(e);
}

static void test_early_stopping_scripted(void) {
  EarlyStop s;
  int imp[3];
  es_start(&s, 3);
  /* epoch 0 improves every member from 1e10 */
  double e0[3] = {100.0, 2.0, 3.0};
  EXPECT(!es_update(&s, e0, 3, 0.01, 5, imp) && imp[0] && imp[1] && imp[2], "epoch 0");
  /* exactly 1 % is not an improvement ((100 - 99) / 100 is exactly 0.01); 1.1 % is */
  double e1[3] = {99.0, 2.0 * (1 - 0.011), 3.0};
  es_update(&s, e1, 3, 0.01, 5, imp);
  EXPECT(!imp[0] && imp[1] && !imp[2] && s.since == 0, "threshold (%d %d %d)", imp[0], imp[1],
         imp[2]);
  EXPECT(s.best[0] == 100.0 && s.best[1] == 2.0 * (1 - 0.011), "best values");
  /* six epochs without any improvement stop training (counter > 5), not five */
  int stopped_at = -1;
  for (int k = 1; k <= 8 && stopped_at < 0; k++)
    if (es_update(&s, e0, 3, 0.01, 5, imp)) stopped_at = k;
  EXPECT(stopped_at == 6, "stopped after %d non-improving epochs (expected 6)", stopped_at);
  /* an improvement resets the counter */
  es_start(&s, 2);
  double a[2] = {1, 1}, b[2] = {1, 0.5}, w[2] = {2, 2};
  es_update(&s, a, 2, 0.01, 5, imp);
  for (int k = 0; k < 5; k++) EXPECT(!es_update(&s, w, 2, 0.01, 5, imp), "too early");
  EXPECT(!es_update(&s, b, 2, 0.01, 5, imp) && s.since == 0 && imp[1] && !imp[0], "reset");
}

static void test_elites(void) {
  double mse[7] = {0.5, 0.1, 0.3, 0.1, NAN, 0.2, 0.9};
  int el[5];
  ens_select_elites(mse, 7, 5, el);
  int want[5] = {1, 3, 5, 2, 0};
  EXPECT(!memcmp(el, want, sizeof want), "elites %d %d %d %d %d", el[0], el[1], el[2], el[3],
         el[4]);
}

/* the bootstrap: every member its own list, drawn with replacement (repeats, and about 1 - 1/e
 * of the rows at least once), all in range */
static void test_bootstrap(void) {
  const int E = 7;
  const int64_t n = 2000;
  int32_t *idx = malloc(sizeof(int32_t) * E * n);
  Rng r = rng_make(5, RNG_MODEL_SPLIT, 0);
  ens_bootstrap(&r, E, n, idx);
  int *seen = calloc((size_t)n, sizeof(int));
  for (int m = 0; m < E; m++) {
    memset(seen, 0, sizeof(int) * n);
    int64_t distinct = 0, in_range = 1;
    for (int64_t i = 0; i < n; i++) {
      int32_t v = idx[m * n + i];
      if (v < 0 || v >= n) in_range = 0, v = 0;
      distinct += !seen[v]++;
    }
    const double share = (double)distinct / (double)n;
    EXPECT(in_range, "member %d: an index out of range", m);
    EXPECT(share > 0.60 && share < 0.66,
           "member %d: %.3f of the rows drawn (with replacement: "
           "1 - 1/e = 0.632)",
           m, share);
    for (int q = 0; q < m; q++) {
      int64_t same = 0;
      for (int64_t i = 0; i < n; i++) same += idx[m * n + i] == idx[q * n + i];
      EXPECT(same < n / 50, "members %d and %d share %lld of %lld positions", q, m, (long long)same,
             (long long)n);
    }
  }
  free(seen), free(idx);
}

/* the holdout MSE (spec §3.4): per member, (1 / (n D)) sum (mean - y)^2 in raw units, by hand
 * from the member's own prediction */
static void test_holdout_mse(void) {
  EnsConfig c = small();
  Ensemble *e = ens_make(&c, 4);
  Rng r = rng_make(4, RNG_TEST, 9);
  for (size_t i = 0; i < e->nnet; i++) e->p[i] += 0.3 * rng_normal(&r);
  const int n = 37, in = 3, D = 3;
  float x[37 * 3], y[37 * 3];
  for (int i = 0; i < n * in; i++) x[i] = (float)rng_normal(&r), y[i] = (float)rng_normal(&r);
  ens_fit_scaler(e, x, n);
  double mse[3];
  ens_holdout_mse(e, x, y, n, mse);
  double *xs = malloc(sizeof(double) * n * in), *mean = malloc(sizeof(double) * n * D);
  double *work = malloc(sizeof(double) * ens_predict_work(e, n));
  ens_scale(e, x, n, xs);
  for (int m = 0; m < c.members; m++) {
    ens_predict(e, e->p, m, xs, n, mean, NULL, work);
    double s = 0;
    for (int i = 0; i < n * D; i++) s += (mean[i] - y[i]) * (mean[i] - y[i]);
    const double want = s / ((double)n * D);
    EXPECT(fabs(mse[m] - want) <= 1e-12 * want, "member %d: holdout MSE %.15g, by hand %.15g", m,
           mse[m], want);
  }
  free(xs), free(mean), free(work);
  ens_free(e);
}

/* y = [sin(s0) + a, cos(s1) - s0] with noise: the ensemble must learn it, and restore each
 * member's best holdout state */
static void test_training(void) {
  EnsConfig c = small();
  c.members = 4, c.elites = 3, c.hidden = 32, c.batch = 64, c.lr = 3e-3;
  Ensemble *e = ens_make(&c, 9);
  const int n = 1200, nh = 200, in = 3, D = 3;
  float *x = malloc(sizeof(float) * n * in), *y = malloc(sizeof(float) * n * D);
  Rng r = rng_make(9, RNG_TEST, 2);
  for (int i = 0; i < n; i++) {
    float s0 = (float)rng_uniform_range(&r, -2, 2), s1 = (float)rng_uniform_range(&r, -2, 2);
    float a = (float)rng_uniform_range(&r, -1, 1);
    x[i * in] = s0, x[i * in + 1] = s1, x[i * in + 2] = a;
    y[i * D] = sinf(s0) + a + 0.05f * (float)rng_normal(&r);
    y[i * D + 1] = cosf(s1) + 0.05f * (float)rng_normal(&r);
    y[i * D + 2] = -s0 + 0.05f * (float)rng_normal(&r);
  }
  const float *xho = x + (n - nh) * in, *yho = y + (n - nh) * D;
  ens_fit_scaler(e, x, n - nh);
  double before[4];
  ens_holdout_mse(e, xho, yho, nh, before);
  EnsTrainStats st;
  Rng tr = rng_make(9, RNG_MODEL_SPLIT, 0);
  ens_train_mle(e, x, y, n - nh, xho, yho, nh, &tr, &st);
  fprintf(stderr, "  %d epochs, holdout MSE %.4g -> %.4g (elites %.4g)\n", st.epochs,
          (before[0] + before[1] + before[2] + before[3]) / 4, st.holdout_mse,
          st.holdout_mse_elites);
  EXPECT(st.epochs >= 7, "at least 7 epochs always run (got %d)", st.epochs);
  EXPECT(st.holdout_mse < 0.1 * before[0], "did not learn: %g vs %g", st.holdout_mse, before[0]);
  /* restored weights reproduce each member's best holdout MSE exactly */
  for (int m = 0; m < 4; m++)
    EXPECT(e->mse[m] == st.best[m], "member %d not restored to its best (%g vs %g)", m, e->mse[m],
           st.best[m]);
  /* elites are the lowest-MSE members */
  for (int k = 1; k < 3; k++) EXPECT(e->mse[e->elite[k - 1]] <= e->mse[e->elite[k]], "elite order");
  free(x), free(y);
  ens_free(e);
}

int main(void) {
  RUN(test_nll_gradients);
  RUN(test_member_isolation);
  RUN(test_scaler);
  RUN(test_early_stopping_scripted);
  RUN(test_elites);
  RUN(test_bootstrap);
  RUN(test_holdout_mse);
  RUN(test_training);
  CHECK_DONE();
}
