/* policy — the tanh-Gaussian actor (spec §6): s -> ReLU MLP -> [mean, raw log-std]; log-std
 * hard-clipped to [min, max]; action tanh(mean + std * eps), or tanh(mean) when deterministic.
 * SAC trains it (sac.h); actors, rollout workers and evaluation act with a replica of its
 * parameters, so they include this file and never the learner's. */
#ifndef USBPO_POLICY_H
#define USBPO_POLICY_H

#include <stddef.h>

#include "nn.h"
#include "rng.h"

typedef struct {
  int obs_dim, act_dim, hidden, layers;
  double logstd_min, logstd_max;
} PolicyConfig;

/* the network's shape: obs_dim -> hidden x layers (ReLU) -> 2 act_dim */
void pol_net(const PolicyConfig *c, NnNet *net);

static inline real pol_clip_logstd(const PolicyConfig *c, real raw) {
  return raw < (real)c->logstd_min ? (real)c->logstd_min
                                   : (raw > (real)c->logstd_max ? (real)c->logstd_max : raw);
}

/* n standard normals into a real array (the float build's bulk generator) */
void pol_normals(Rng *rng, real *out, size_t n);

/* n observations -> actions in [-1, 1]. deterministic: tanh(mean); else a reparameterised
 * sample from `rng`. scratch holds pol_act_scratch(net, n) reals; obs and action are float (the
 * data boundary). */
size_t pol_act_scratch(const NnNet *net, int n);
void pol_act(const NnNet *net, const real *pi, const PolicyConfig *c, const float *obs, int n,
             int deterministic, Rng *rng, float *action, real *scratch);

#endif
