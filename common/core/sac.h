/* sac — Soft Actor-Critic as the official code computes it (spec §6).
 *
 * Policy: the tanh-Gaussian actor of policy.h (log-std hard-clipped, no gradient outside);
 * log-prob from the pre-squash value with the stable tanh correction. Twin Q nets are one
 * ensemble-dense MLP with E = 2 evaluated together on a shared input; their Polyak targets
 * likewise. Temperature alpha = exp(log_alpha), trained towards the configured target entropy.
 *
 * One update = draw noise, compute the three losses and their gradients from the parameters
 * before the update, apply Adam to Q, policy and log_alpha, then Polyak. The steps are separate
 * functions so tests can replay fixed noise. No allocation after sac_make. */
#ifndef USBPO_SAC_H
#define USBPO_SAC_H

#include <stdint.h>

#include "buffer.h"
#include "nn.h"
#include "policy.h"
#include "pool.h"
#include "rng.h"

typedef struct {
  int obs_dim, act_dim, hidden, layers, batch;
  double lr, gamma, tau, target_entropy, reward_scale, logstd_min, logstd_max, init_log_alpha;
} SacConfig;

typedef struct {
  double q_loss; /* mean of the two critics' losses */
  double pi_loss;
  double alpha_loss;
  double alpha;   /* temperature used by this update */
  double entropy; /* -mean log pi of the actor's samples */
  double q_mean;  /* mean Q(s, a) over both critics */
} SacStats;

typedef struct {
  SacConfig c;
  NnNet pi_net, q_net; /* q_net: ensemble of 2 */
  real *pi, *q, *q_targ;
  real *g_pi, *g_q;
  real log_alpha, g_log_alpha;
  Adam adam_pi, adam_q, adam_alpha;
  Rng rng; /* batch sampling and reparameterisation noise */
  int64_t updates;
  /* the batch (filled by sac_set_batch / sac_sample_batch) */
  real *s, *a, *r, *s2, *d;
  /* noise of the current update */
  real *eps, *eps2;
  /* workspaces */
  NnTape *tape_pi, *tape_q, *tape_qa;
  real *x_sa, *x_s2a2, *x_sat, *pout2, *qt, *y, *dq, *dqa, *dx, *dpi;
  real *u, *atil, *logp, *logp2, *std;
  real *u2, *atil2; /* the target's squash (its chain runs beside the actor's) */
  Pool *pool;       /* the update's chains as tasks (NULL: serial; the same numbers) */
  real *scratch;
  int64_t *idx;
  float *fbuf; /* float staging for buffer gathers */
  SacStats last;
} Sac;

Sac *sac_make(const SacConfig *c, uint32_t seed);
void sac_free(Sac *s);
size_t sac_bytes(const SacConfig *c);

/* the batch: n_real rows uniform from `real_buf`, the rest uniform from `model_buf` (which may
 * be NULL when n_real == batch), real rows first */
void sac_sample_batch(Sac *s, const Buffer *real_buf, const Buffer *model_buf, int n_real);
/* set a batch directly (tests): arrays of c.batch rows */
void sac_set_batch(Sac *s, const real *obs, const real *act, const real *rew, const real *next,
                   const real *done);

void sac_draw_noise(Sac *s);
/* losses into s->last; with grads, also g_q, g_pi, g_log_alpha */
void sac_compute(Sac *s, int grads);
void sac_apply(Sac *s);
/* run an update's independent chains on p's threads (up to 4 at a time; NULL: serial) */
void sac_set_pool(Sac *s, Pool *p);
static inline void sac_update(Sac *s) {
  sac_draw_noise(s);
  sac_compute(s, 1);
  sac_apply(s);
}

/* a copy of everything an update changes (parameters, targets, temperature, Adam states,
 * counters; not the random stream), for rolling back a diverged update */
typedef struct SacSnap SacSnap;
SacSnap *sac_snap_make(const Sac *s);
void sac_snap_free(SacSnap *p);
void sac_snap_take(SacSnap *p, const Sac *s);
void sac_snap_restore(const SacSnap *p, Sac *s);
/* all parameters and the temperature finite? */
int sac_finite(const Sac *s);

/* checkpoint state: parameters, targets, temperature, the three Adam states, the random stream,
 * the update counter */
struct CkptWriter;
struct CkptFile;
void sac_ckpt_save(const Sac *s, struct CkptWriter *w);
void sac_ckpt_load(Sac *s, struct CkptFile *f, const char *path);

/* the policy part of the configuration (policy.h) */
static inline PolicyConfig sac_policy_config(const SacConfig *c) {
  PolicyConfig p = {.obs_dim = c->obs_dim,
                    .act_dim = c->act_dim,
                    .hidden = c->hidden,
                    .layers = c->layers,
                    .logstd_min = c->logstd_min,
                    .logstd_max = c->logstd_max};
  return p;
}

#endif
