/* policy — see policy.h. */
#include "policy.h"

#include "fastmath.h"
#include "util.h"

void pol_net(const PolicyConfig *c, NnNet *net) {
  int sizes[NN_MAX_LAYERS + 1];
  sizes[0] = c->obs_dim;
  for (int l = 1; l <= c->layers; l++) sizes[l] = c->hidden;
  sizes[c->layers + 1] = 2 * c->act_dim;
  CHECK(nn_net_init(net, 1, c->layers + 1, sizes, NN_RELU, NN_IDENTITY) == 0, "policy shape");
}

void pol_normals(Rng *rng, real *out, size_t n) {
#ifdef USBPO_DOUBLE
  for (size_t i = 0; i < n; i++) out[i] = rng_normal(rng);
#else
  rng_normal_f(rng, out, n);
#endif
}

size_t pol_act_scratch(const NnNet *net, int n) {
  return nn_infer_scratch(net, n) + (size_t)n * net->out + (size_t)n * net->in +
         (size_t)n * net->out / 2;
}

void pol_act(const NnNet *net, const real *pi, const PolicyConfig *c, const float *obs, int n,
             int deterministic, Rng *rng, float *action, real *scratch) {
  const int ad = c->act_dim, od = c->obs_dim;
  real *x = scratch, *out = x + (size_t)n * od, *eps = out + (size_t)n * 2 * ad;
  real *work = eps + (size_t)n * ad;
  for (size_t i = 0; i < (size_t)n * od; i++) x[i] = obs[i];
  nn_infer_member(net, pi, 0, x, n, out, work);
  if (!deterministic) pol_normals(rng, eps, (size_t)n * ad);
  for (int j = 0; j < n; j++)
    for (int k = 0; k < ad; k++) {
      real mu = out[(size_t)j * 2 * ad + k];
      real u = mu;
      if (!deterministic) {
        real ls = pol_clip_logstd(c, out[(size_t)j * 2 * ad + ad + k]);
        u = mu + R_EXP(ls) * eps[(size_t)j * ad + k];
      }
      action[(size_t)j * ad + k] = (float)R_TANH(u);
    }
}
