/* actor — one environment instance stepping with the latest policy.
 *
 * The actor keeps the episode in progress privately and hands it over only when the episode
 * ends (terminal or the step cap), as the official sampler does (spec §3.10); with
 * append_on_episode_end = false every transition is handed over at once. A simulator error ends
 * the episode as a truncation and drops the bad transition. Random streams are keyed by the
 * actor's index, never by the rank that hosts it. */
#ifndef USBPO_ACTOR_H
#define USBPO_ACTOR_H

#include <stdint.h>

#include "config.h"
#include "envs/env.h"
#include "nn.h"
#include "policy.h"

typedef struct {
  int index;
  Env *env;
  int obs_dim, act_dim, max_len;
  int append_on_end;
  Rng reset_rng, explore_rng, policy_rng;
  float *obs; /* current observation */
  int len;    /* steps in the current episode */
  double ret; /* its return */
  /* the episode in progress: (max_len rows) */
  float *ep_obs, *ep_act, *ep_rew, *ep_next;
  uint8_t *ep_done;
  int ep_rows; /* rows not yet handed over */
  real *scratch;
  int64_t steps; /* env steps taken */
  int64_t episodes, sim_errors, warnings;
} Actor;

/* what one step produced */
typedef struct {
  int ended;        /* an episode ended with this step */
  int terminated;   /* ... by the task's rule (else truncated) */
  double ep_return; /* when ended */
  int ep_length;
  int handover; /* rows ready in ep_* (from row 0) */
} ActorStep;

Actor *actor_make(const Config *cfg, int index, char *err, size_t errlen);
void actor_free(Actor *a);

/* policy NULL: uniform random actions in [-1, 1] (initial exploration) */
ActorStep actor_step(Actor *a, const NnNet *pi_net, const real *pi, const PolicyConfig *pc);
/* after the caller has consumed ep_* rows */
void actor_handed_over(Actor *a);

/* one deterministic evaluation episode (tanh(mean)) on `env`; returns the return, *len steps */
double actor_evaluate(Env *env, Rng *reset_rng, const NnNet *pi_net, const real *pi,
                      const PolicyConfig *pc, int max_len, int *len, real *scratch);
/* the same, calling on_state after the reset and after every step (rendering) */
double actor_evaluate_cb(Env *env, Rng *reset_rng, const NnNet *pi_net, const real *pi,
                         const PolicyConfig *pc, int max_len, int *len, real *scratch,
                         void (*on_state)(void *ctx, Env *env), void *ctx);

/* checkpoint state: the simulator, the three streams, the observation, the episode in
 * progress, counters */
struct CkptWriter;
struct CkptFile;
void actor_ckpt_save(const Actor *a, struct CkptWriter *w);
void actor_ckpt_load(Actor *a, struct CkptFile *f, const char *path);

#endif
