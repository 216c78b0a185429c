/* test_sac — finite-difference checks of the critic, actor and temperature gradients through
 * the whole update path (double build), a hand-built batch with hand-computed losses, the
 * target update, and the log-std clip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "sac.h"
#include "util.h"

#ifndef USBPO_DOUBLE
#error "test_sac checks gradients in double precision: build with the f64 core"
#endif

#define TOL 1e-6

static SacConfig small_config(void) {
  SacConfig c = {.obs_dim = 3,
                 .act_dim = 2,
                 .hidden = 8,
                 .layers = 2,
                 .batch = 6,
                 .lr = 3e-4,
                 .gamma = 0.99,
                 .tau = 5e-3,
                 .target_entropy = -1,
                 .reward_scale = 1,
                 .logstd_min = -20,
                 .logstd_max = 2,
                 .init_log_alpha = -0.7};
  return c;
}

static Sac *random_sac(SacConfig *c, uint32_t seed) {
  Sac *s = sac_make(c, seed);
  Rng r = rng_make(seed, RNG_TEST, 0);
  /* targets differ from the online critics, biases are non-zero */
  for (size_t i = 0; i < s->q_net.nparam; i++) s->q_targ[i] += 0.05 * rng_normal(&r);
  for (size_t i = 0; i < s->q_net.nparam; i++) s->q[i] += 0.02 * rng_normal(&r);
  for (size_t i = 0; i < s->pi_net.nparam; i++) s->pi[i] += 0.02 * rng_normal(&r);
  int B = c->batch, od = c->obs_dim, ad = c->act_dim;
  double *o = malloc(sizeof(double) * B * od), *a = malloc(sizeof(double) * B * ad);
  double *rw = malloc(sizeof(double) * B), *n = malloc(sizeof(double) * B * od);
  double *d = malloc(sizeof(double) * B);
  for (int i = 0; i < B * od; i++) o[i] = rng_normal(&r), n[i] = rng_normal(&r);
  for (int i = 0; i < B * ad; i++) a[i] = 2 * rng_uniform(&r) - 1;
  for (int j = 0; j < B; j++) rw[j] = rng_normal(&r), d[j] = j % 3 == 0;
  sac_set_batch(s, o, a, rw, n, d);
  free(o), free(a), free(rw), free(n), free(d);
  sac_draw_noise(s);
  return s;
}

static double loss_q(void *v) {
  Sac *s = v;
  sac_compute(s, 0);
  return 2 * s->last.q_loss; /* gradient is of L_Q1 + L_Q2 */
}
static double loss_pi(void *v) {
  Sac *s = v;
  sac_compute(s, 0);
  return s->last.pi_loss;
}
static double loss_alpha(void *v) {
  Sac *s = v;
  sac_compute(s, 0);
  return s->last.alpha_loss;
}

static void test_gradients(void) {
  SacConfig c = small_config();
  for (uint32_t seed = 1; seed <= 3; seed++) {
    Sac *s = random_sac(&c, seed);
    sac_compute(s, 1);
    double *gq = malloc(sizeof(double) * s->q_net.nparam);
    double *gp = malloc(sizeof(double) * s->pi_net.nparam);
    memcpy(gq, s->g_q, sizeof(double) * s->q_net.nparam);
    memcpy(gp, s->g_pi, sizeof(double) * s->pi_net.nparam);
    double ga = s->g_log_alpha;
    double e1 = gc_check("critic (both Q nets)", loss_q, s, s->q, gq, s->q_net.nparam, 1, 1e-5,
                         gc_floor(gq, s->q_net.nparam, 1e-3), 1);
    double e2 = gc_check("actor (through min Q, squash)", loss_pi, s, s->pi, gp, s->pi_net.nparam,
                         1, 1e-5, gc_floor(gp, s->pi_net.nparam, 1e-3), 1);
    double e3 = gc_check("temperature", loss_alpha, s, &s->log_alpha, &ga, 1, 1, 1e-5, 1e-9, 1);
    EXPECT(e1 < TOL && e2 < TOL && e3 < TOL, "seed %u: critic %g actor %g alpha %g", seed, e1, e2,
           e3);
    free(gq), free(gp);
    sac_free(s);
  }
}

static void test_logstd_clip(void) {
  /* push one action dim's raw log-std above the clip: no gradient through it, and the actor
   * gradient is still right everywhere else */
  SacConfig c = small_config();
  Sac *s = random_sac(&c, 7);
  int L = s->pi_net.nlayers - 1;
  nn_b(&s->pi_net, s->pi, L, 0)[c.act_dim + 1] = 5.0; /* raw log-std of dim 1 >> 2 */
  sac_compute(s, 1);
  double *gp = malloc(sizeof(double) * s->pi_net.nparam);
  memcpy(gp, s->g_pi, sizeof(double) * s->pi_net.nparam);
  EXPECT(nn_b(&s->pi_net, gp, L, 0)[c.act_dim + 1] == 0, "gradient through a clipped log-std");
  double e = gc_check("actor with a clipped log-std", loss_pi, s, s->pi, gp, s->pi_net.nparam, 1,
                      1e-5, gc_floor(gp, s->pi_net.nparam, 1e-3), 1);
  EXPECT(e < TOL, "actor gradient error %g with clipping", e);
  free(gp);
  sac_free(s);
}

/* the hand-computed batch: obs 1, act 1, one hidden layer; every weight 0, so each net outputs
 * its last bias: policy mean 0.3, raw log-std -0.5; Q1 = 1.0, Q2 = 1.5; targets 2.0 and 1.8;
 * alpha 0.2; two transitions, the second terminal; one sac_compute done (the caller frees it) */
static Sac *hand_batch(double reward_scale) {
  SacConfig c = {.obs_dim = 1,
                 .act_dim = 1,
                 .hidden = 2,
                 .layers = 1,
                 .batch = 2,
                 .lr = 3e-4,
                 .gamma = 0.99,
                 .tau = 5e-3,
                 .target_entropy = -1,
                 .reward_scale = reward_scale,
                 .logstd_min = -20,
                 .logstd_max = 2,
                 .init_log_alpha = log(0.2)};
  Sac *s = sac_make(&c, 1);
  memset(s->pi, 0, sizeof(double) * s->pi_net.nparam);
  memset(s->q, 0, sizeof(double) * s->q_net.nparam);
  memset(s->q_targ, 0, sizeof(double) * s->q_net.nparam);
  nn_b(&s->pi_net, s->pi, 1, 0)[0] = 0.3;
  nn_b(&s->pi_net, s->pi, 1, 0)[1] = -0.5;
  nn_b(&s->q_net, s->q, 1, 0)[0] = 1.0;
  nn_b(&s->q_net, s->q, 1, 1)[0] = 1.5;
  nn_b(&s->q_net, s->q_targ, 1, 0)[0] = 2.0;
  nn_b(&s->q_net, s->q_targ, 1, 1)[0] = 1.8;
  double o[2] = {0.7, -0.2}, a[2] = {0.1, -0.4}, r[2] = {1.0, -0.5}, n[2] = {0.3, 0.9},
         d[2] = {0, 1};
  sac_set_batch(s, o, a, r, n, d);
  s->eps[0] = 0.5, s->eps[1] = -1.0;
  s->eps2[0] = 0.1, s->eps2[1] = 0.2;
  sac_compute(s, 1);
  return s;
}

static void test_hand_computed_losses(void) {
  Sac *s = hand_batch(1);
  /* by hand (see the derivation in the comment of sac.c's squash):
   * log pi(e) = -e^2/2 - log(2 pi)/2 + 0.5 - 2 (log 2 - u - softplus(-2u)), u = 0.3 + e^-0.5 e
   * y_j = r_j + 0.99 (1 - d_j)(1.8 - 0.2 log pi(e2_j)) = [2.840725518875656, -0.5]
   * q_loss = (0.5 mean (1 - y)^2 + 0.5 mean (1.5 - y)^2) / 2 */
  EXPECT_NEAR(s->y[0], 2.840725518875656, 1e-12, "target y0");
  EXPECT_NEAR(s->y[1], -0.5, 1e-15, "target y1 (terminal)");
  EXPECT_NEAR(s->last.q_loss, 1.4294769191005565, 1e-12, "critic loss");
  EXPECT_NEAR(s->last.pi_loss, -1.1026566179266188, 1e-12, "actor loss");
  EXPECT_NEAR(s->last.alpha_loss, -2.435535176700913, 1e-12, "temperature loss");
  EXPECT_NEAR(s->last.entropy, 0.5132830896330944, 1e-12, "entropy");
  EXPECT_NEAR(s->last.alpha, 0.2, 1e-15, "alpha");
  /* dL_alpha / dlog_alpha = -mean(log pi + H) = alpha_loss / log_alpha */
  EXPECT_NEAR(s->g_log_alpha, -2.435535176700913 / log(0.2), 1e-12, "temperature gradient");
  sac_free(s);
}

/* sac.reward_scale: the target scales the reward and nothing else. The batch of
 * test_hand_computed_losses with reward_scale 5: y_j = 5 r_j + 0.99 (1 - d_j)(1.8 - 0.2 log
 * pi(e2_j)), i.e. y0 = 5 + 1.840725518875656 (that test's y0 less its reward 1), y1 = -2.5 */
static void test_reward_scale(void) {
  Sac *s = hand_batch(5);
  EXPECT_NEAR(s->y[0], 5.0 + 1.840725518875656, 1e-12, "target y0 with reward_scale 5");
  EXPECT_NEAR(s->y[1], -2.5, 1e-15, "target y1 (terminal) with reward_scale 5");
  /* q_loss by hand from those targets */
  const double q = (0.5 * (pow(1 - s->y[0], 2) + pow(1 - s->y[1], 2)) / 2 +
                    0.5 * (pow(1.5 - s->y[0], 2) + pow(1.5 - s->y[1], 2)) / 2) /
                   2;
  EXPECT_NEAR(s->last.q_loss, q, 1e-12, "critic loss with reward_scale 5");
  sac_free(s);
}

static void test_target_update_and_apply(void) {
  SacConfig c = small_config();
  Sac *s = random_sac(&c, 11);
  size_t nq = s->q_net.nparam;
  double *targ0 = malloc(sizeof(double) * nq);
  memcpy(targ0, s->q_targ, sizeof(double) * nq);
  double la0 = s->log_alpha;
  sac_compute(s, 1);
  sac_apply(s);
  int ok = 1;
  for (size_t i = 0; i < nq; i++)
    ok &= fabs(s->q_targ[i] - (0.005 * s->q[i] + 0.995 * targ0[i])) < 1e-15;
  EXPECT(ok, "target is not 0.005 Q + 0.995 target");
  /* first Adam step moves every parameter with a non-zero gradient by about lr */
  EXPECT_NEAR(fabs(s->log_alpha - la0), 3e-4, 1e-6, "log_alpha step size");
  EXPECT(s->updates == 1, "update count");
  /* repeated updates on a fixed batch lower the critic loss */
  double first = s->last.q_loss;
  for (int k = 0; k < 300; k++) sac_update(s);
  EXPECT(s->last.q_loss < first, "critic loss did not fall: %g -> %g", first, s->last.q_loss);
  free(targ0);
  sac_free(s);
}

int main(void) {
  RUN(test_gradients);
  RUN(test_logstd_clip);
  RUN(test_hand_computed_losses);
  RUN(test_reward_scale);
  RUN(test_target_update_and_apply);
  CHECK_DONE();
}
