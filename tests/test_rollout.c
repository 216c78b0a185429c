/* test_rollout — the rollout-length schedule and model-buffer sizes of every preset (spec §3.5,
 * §3.6, §7), and rollout mechanics on a model whose predictions are known: termination, only
 * elites evaluated, non-finite rows dropped, and independence from shard placement. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "envs/env.h"
#include "modeltrain.h"
#include "rollout.h"
#include "util.h"

static Config preset(const char *env) {
  char text[128];
  snprintf(text, sizeof text, "[env]\nname = \"%s\"\n", env);
  Config c;
  CfgErrors e = {0};
  REQUIRE(cfg_load_text(&c, text, "test", NULL, 0, &e) == 0, "%s", e.text);
  return c;
}

/* a Glorot-initialised two-layer policy od -> ad drawn from ir; *sc and *pn describe it */
static real *test_policy(int od, int ad, int hidden, Rng *ir, PolicyConfig *sc, NnNet *pn) {
  *sc = (PolicyConfig){.obs_dim = od,
                       .act_dim = ad,
                       .hidden = hidden,
                       .layers = 2,
                       .logstd_min = -20,
                       .logstd_max = 2};
  pol_net(sc, pn);
  real *pi = xmalloc(sizeof(real) * pn->nparam);
  nn_init_glorot_uniform(pn, pi, ir);
  return pi;
}

/* 64 live InvertedPendulum rows: obs (0.01 i, 0, slope i, last), action, reward and next 0 */
static Buffer *ip_rows(float slope, float last) {
  Buffer *env = buf_make(4, 1, 64);
  for (int i = 0; i < 64; i++) {
    float o[4] = {0.01f * i, 0, slope * i, last}, a = 0, r = 0, n[4] = {0};
    uint8_t d = 0;
    buf_push(env, 1, o, &a, &r, n, &d);
  }
  return env;
}

static void test_schedule_and_sizes(void) {
  /* spec §3.5 example: Hopper [20, 150, 1, 15] */
  Config h = preset("hopper");
  int ep[] = {0, 20, 29, 30, 100, 149, 150, 400};
  int want[] = {1, 1, 1, 2, 9, 14, 15, 15};
  for (int i = 0; i < 8; i++)
    EXPECT(mt_rollout_length(&h, ep[i]) == want[i], "hopper epoch %d: k = %d, want %d", ep[i],
           mt_rollout_length(&h, ep[i]), want[i]);
  /* spec §3.6 / §7 capacities */
  struct {
    const char *env;
    int64_t per_k;
    int kmax;
  } tab[] = {{"hopper", 400000, 15},
             {"walker2d", 400000, 1},
             {"halfcheetah", 400000, 1},
             {"ant", 400000, 25},
             {"humanoid", 500000, 25},
             {"inverted_pendulum", 100000, 1},
             {"inverted_double_pendulum", 100000, 1}};
  for (int i = 0; i < 7; i++) {
    Config c = preset(tab[i].env);
    int kmax = 0;
    for (int e = 0; e < 1000; e++) kmax = imax(kmax, mt_rollout_length(&c, e));
    EXPECT(kmax == tab[i].kmax, "%s: max k %d", tab[i].env, kmax);
    for (int k = 1; k <= kmax; k++)
      EXPECT(mt_buffer_capacity(&c, k) == tab[i].per_k * k, "%s: capacity at k=%d: %lld",
             tab[i].env, k, (long long)mt_buffer_capacity(&c, k));
  }
  /* the ant reaches 25 at epoch 100, the humanoid at 300 */
  Config a = preset("ant"), u = preset("humanoid");
  EXPECT(mt_rollout_length(&a, 99) == 24 && mt_rollout_length(&a, 100) == 25, "ant");
  EXPECT(mt_rollout_length(&u, 299) == 24 && mt_rollout_length(&u, 300) == 25, "humanoid");
}

/* a "model" with zero weights: each member predicts its output bias, with a tiny variance */
static Ensemble *known_model(int od, int ad, double dtheta, double reward) {
  EnsConfig ec = {.members = 4,
                  .elites = 2,
                  .obs_dim = od,
                  .act_dim = ad,
                  .hidden = 8,
                  .layers = 2,
                  .batch = 16,
                  .lr = 1e-3,
                  .bound_penalty = 0.01,
                  .improve_threshold = 0.01,
                  .patience = 5,
                  .init_maxlv = -30,
                  .init_minlv = -40,
                  .decay = {0, 0, 0}};
  Ensemble *e = ens_make(&ec, 1);
  memset(e->p, 0, sizeof(real) * e->nnet);
  int D = od + 1, L = e->net.nlayers - 1;
  for (int m = 0; m < 4; m++) {
    real *b = nn_b(&e->net, e->p, L, m);
    b[0] = (real)reward;
    b[1 + 1] = (real)dtheta;                    /* state change of obs[1] */
    for (int d = 0; d < D; d++) b[D + d] = -35; /* log-variance near the floor */
  }
  e->elite[0] = 1, e->elite[1] = 3;
  return e;
}

typedef struct {
  float *rows; /* next obs, in emission order */
  float *rew;
  uint8_t *done;
  int n, cap, od;
} Sink;

static void sink_emit(void *ctx, int n, const float *obs, const float *act, const float *rew,
                      const float *next, const uint8_t *done) {
  Sink *s = ctx;
  (void)obs, (void)act;
  REQUIRE(s->n + n <= s->cap, "sink overflow");
  memcpy(s->rows + (size_t)s->n * s->od, next, sizeof(float) * n * s->od);
  memcpy(s->rew + s->n, rew, sizeof(float) * n);
  memcpy(s->done + s->n, done, (size_t)n);
  s->n += n;
}

typedef struct {
  Sink *sink;
  float *obs; /* the start observations, in emission order */
} SinkPair;

static void pair_emit(void *ctx, int n, const float *obs, const float *act, const float *rew,
                      const float *next, const uint8_t *done) {
  SinkPair *p = ctx;
  memcpy(p->obs + (size_t)p->sink->n * p->sink->od, obs, sizeof(float) * n * p->sink->od);
  sink_emit(p->sink, n, obs, act, rew, next, done);
}

static void test_rollout_mechanics(void) {
  const int od = 4, ad = 1; /* inverted pendulum: done unless |o[1]| <= 0.2 */
  Ensemble *e = known_model(od, ad, 0.15, 1.0);
  for (int i = 0; i < od + ad; i++) e->mu[i] = 0, e->sd[i] = 1;
  PolicyConfig sc;
  NnNet pn;
  Rng ir = rng_make(1, RNG_TEST, 0);
  real *pi = test_policy(od, ad, 8, &ir, &sc, &pn);
  Buffer *env = ip_rows(0, 0);
  RoConfig rc = {.env_id = ENV_INVERTED_PENDULUM,
                 .term_fixed = 0,
                 .obs_dim = od,
                 .act_dim = ad,
                 .rows = 1000,
                 .shards = 5,
                 .tile = 64};
  Rollout *ro = ro_make(&rc, e, &pn);
  Sink s = {
      malloc(sizeof(float) * 4000 * od), malloc(sizeof(float) * 4000), malloc(4000), 0, 4000, od};
  RoStats st = {0};
  ro_begin(ro, env, 7, 3, 0, 5);
  int per_step[3];
  for (int k = 0; k < 3; k++) {
    int before = s.n;
    for (int sh = 0; sh < 5; sh++) ro_step(ro, sh, e, e->p, &pn, pi, &sc, sink_emit, &s, &st);
    per_step[k] = s.n - before;
  }
  /* step 1: obs[1] 0 -> 0.15, alive; step 2: 0.30, every row ends but is still emitted */
  EXPECT(per_step[0] == 1000 && per_step[1] == 1000 && per_step[2] == 0, "rows per step %d %d %d",
         per_step[0], per_step[1], per_step[2]);
  int ok1 = 1, ok2 = 1;
  for (int j = 0; j < 1000; j++)
    ok1 &= !s.done[j] && fabsf(s.rows[j * od + 1] - 0.15f) < 1e-5f && fabsf(s.rew[j] - 1) < 1e-5f;
  for (int j = 1000; j < 2000; j++) ok2 &= s.done[j] && fabsf(s.rows[j * od + 1] - 0.30f) < 1e-5f;
  EXPECT(ok1 && ok2, "predicted values or terminal flags wrong");
  EXPECT(st.emitted == 2000 && st.nonfinite == 0, "stats %lld %lld", (long long)st.emitted,
         (long long)st.nonfinite);

  /* non-elite members are never evaluated: poison member 0 (not an elite) */
  nn_b(&e->net, e->p, e->net.nlayers - 1, 0)[1] = NAN;
  s.n = 0;
  memset(&st, 0, sizeof st);
  ro_begin(ro, env, 7, 3, 0, 5);
  for (int sh = 0; sh < 5; sh++) ro_step(ro, sh, e, e->p, &pn, pi, &sc, sink_emit, &s, &st);
  EXPECT(st.nonfinite == 0 && s.n == 1000, "a non-elite member was used");
  /* a poisoned elite: its rows are dropped and counted, the others go on */
  nn_b(&e->net, e->p, e->net.nlayers - 1, 3)[1] = NAN;
  s.n = 0;
  memset(&st, 0, sizeof st);
  ro_begin(ro, env, 7, 3, 0, 5);
  for (int sh = 0; sh < 5; sh++) ro_step(ro, sh, e, e->p, &pn, pi, &sc, sink_emit, &s, &st);
  EXPECT(st.nonfinite > 350 && st.nonfinite < 650 && s.n == 1000 - st.nonfinite,
         "non-finite rows: %lld dropped, %d emitted", (long long)st.nonfinite, s.n);
  int finite = 1;
  for (int j = 0; j < s.n * od; j++) finite &= isfinite(s.rows[j]) != 0;
  EXPECT(finite, "a non-finite row was emitted");
  free(s.rows), free(s.rew), free(s.done);
  ro_free(ro);
  buf_free(env);
  xfree(pi);
  ens_free(e);
}

/* the spread of a rollout's samples: next - (obs + predicted mean) has the standard deviation
 * exp(lv / 2) of the member's bounded log-variance lv, for lv about 0, 1 and 2 (spec §4.9), in
 * the reward and in every state dimension */
static void test_rollout_spread(void) {
  const int od = 4, ad = 1;
  for (int target = 0; target <= 2; target++) {
    Ensemble *e = known_model(od, ad, 0, 0.5);
    for (int i = 0; i < od + ad; i++) e->mu[i] = 0, e->sd[i] = 1;
    const int D = od + 1, L = e->net.nlayers - 1;
    for (int d = 0; d < D; d++) ens_maxlv(e)[d] = 10, ens_minlv(e)[d] = -10;
    for (int m = 0; m < 4; m++)
      for (int d = 0; d < D; d++) nn_b(&e->net, e->p, L, m)[D + d] = (real)target;
    const double lv = (double)ens_logvar((real)target, 10, -10), want = exp(lv / 2);
    PolicyConfig sc;
    NnNet pn;
    Rng ir = rng_make(2, RNG_TEST, 0);
    real *pi = test_policy(od, ad, 8, &ir, &sc, &pn);
    Buffer *env = ip_rows(-0.02f, 0.5f);
    RoConfig rc = {.env_id = ENV_INVERTED_PENDULUM,
                   .term_fixed = 0,
                   .obs_dim = od,
                   .act_dim = ad,
                   .rows = 4000,
                   .shards = 2,
                   .tile = 64};
    Rollout *ro = ro_make(&rc, e, &pn);
    struct {
      double s, s2;
      int n;
    } acc[5] = {{0}};
    Sink sk = {
        malloc(sizeof(float) * 4000 * od), malloc(sizeof(float) * 4000), malloc(4000), 0, 4000, od};
    float *obs = malloc(sizeof(float) * 4000 * od);
    RoStats st = {0};
    ro_begin(ro, env, 11, 1, 0, 2);
    /* one step, the start observations kept beside the rows: next - obs samples the change */
    SinkPair sp = {&sk, obs};
    for (int sh = 0; sh < 2; sh++) ro_step(ro, sh, e, e->p, &pn, pi, &sc, pair_emit, &sp, &st);
    EXPECT(sk.n == 4000, "lv %d: %d rows emitted", target, sk.n);
    for (int j = 0; j < sk.n; j++) {
      const double r = sk.rew[j] - 0.5;
      acc[0].s += r, acc[0].s2 += r * r, acc[0].n++;
      for (int d = 0; d < od; d++) {
        const double x = sk.rows[j * od + d] - obs[j * od + d];
        acc[1 + d].s += x, acc[1 + d].s2 += x * x, acc[1 + d].n++;
      }
    }
    for (int d = 0; d < D; d++) {
      const double m = acc[d].s / acc[d].n, sd = sqrt(acc[d].s2 / acc[d].n - m * m);
      EXPECT(fabs(sd / want - 1) < 0.06 && fabs(m) < 4 * want / sqrt(acc[d].n),
             "log-variance %.3f, output %d: sample std %.4f (mean %.4f), want exp(lv/2) = %.4f", lv,
             d, sd, m, want);
    }
    free(sk.rows), free(sk.rew), free(sk.done), free(obs);
    ro_free(ro);
    buf_free(env);
    xfree(pi);
    ens_free(e);
  }
}

static void test_shard_placement(void) {
  /* a trained-looking random model: shards computed together or on "different ranks" (separate
   * Rollout objects owning shard ranges) give identical rows */
  const int od = 11, ad = 3;
  EnsConfig ec = {.members = 7,
                  .elites = 5,
                  .obs_dim = od,
                  .act_dim = ad,
                  .hidden = 32,
                  .layers = 2,
                  .batch = 16,
                  .lr = 1e-3,
                  .bound_penalty = 0.01,
                  .improve_threshold = 0.01,
                  .patience = 5,
                  .init_maxlv = 0.5,
                  .init_minlv = -10,
                  .decay = {0, 0, 0}};
  Ensemble *e = ens_make(&ec, 2);
  PolicyConfig sc;
  NnNet pn;
  Rng ir = rng_make(2, RNG_TEST, 0);
  real *pi = test_policy(od, ad, 16, &ir, &sc, &pn);
  Buffer *env = buf_make(od, ad, 500);
  for (int i = 0; i < 500; i++) {
    float o[11], a[3] = {0}, r = 0, n[11];
    uint8_t d = 0;
    for (int k = 0; k < od; k++) o[k] = n[k] = (float)rng_normal(&ir) * 0.1f;
    o[0] = n[0] = 1.25f;
    buf_push(env, 1, o, a, &r, n, &d);
  }
  RoConfig rc = {.env_id = ENV_HALFCHEETAH,
                 .term_fixed = 0,
                 .obs_dim = 17 - 6,
                 .act_dim = ad,
                 .rows = 3000,
                 .shards = 6,
                 .tile = 128};
  rc.obs_dim = od;
  Rollout *all = ro_make(&rc, e, &pn), *r1 = ro_make(&rc, e, &pn), *r2 = ro_make(&rc, e, &pn);
  Sink a = {
      malloc(sizeof(float) * 9000 * od), malloc(sizeof(float) * 9000), malloc(9000), 0, 9000, od};
  Sink b = {
      malloc(sizeof(float) * 9000 * od), malloc(sizeof(float) * 9000), malloc(9000), 0, 9000, od};
  RoStats st = {0};
  ro_begin(all, env, 5, 9, 0, 6);
  ro_begin(r1, env, 5, 9, 0, 2);
  ro_begin(r2, env, 5, 9, 2, 6);
  for (int k = 0; k < 3; k++)
    for (int sh = 0; sh < 6; sh++) {
      ro_step(all, sh, e, e->p, &pn, pi, &sc, sink_emit, &a, &st);
      ro_step(sh < 2 ? r1 : r2, sh, e, e->p, &pn, pi, &sc, sink_emit, &b, &st);
    }
  EXPECT(a.n == 9000 && b.n == 9000, "rows %d %d", a.n, b.n);
  EXPECT(!memcmp(a.rows, b.rows, sizeof(float) * a.n * od) &&
             !memcmp(a.rew, b.rew, sizeof(float) * a.n),
         "placement changed the rollouts");
  /* a different training number gives different rollouts */
  Sink c = {
      malloc(sizeof(float) * 9000 * od), malloc(sizeof(float) * 9000), malloc(9000), 0, 9000, od};
  ro_begin(all, env, 5, 10, 0, 6);
  for (int sh = 0; sh < 6; sh++) ro_step(all, sh, e, e->p, &pn, pi, &sc, sink_emit, &c, &st);
  EXPECT(memcmp(a.rows, c.rows, sizeof(float) * 3000 * od) != 0, "streams not keyed by training");
  free(a.rows), free(a.rew), free(a.done), free(b.rows), free(b.rew), free(b.done);
  free(c.rows), free(c.rew), free(c.done);
  ro_free(all), ro_free(r1), ro_free(r2);
  buf_free(env);
  xfree(pi);
  ens_free(e);
}

int main(void) {
  log_set_level(LOG_ERROR);
  RUN(test_schedule_and_sizes);
  RUN(test_rollout_mechanics);
  RUN(test_rollout_spread);
  RUN(test_shard_placement);
  CHECK_DONE();
}
