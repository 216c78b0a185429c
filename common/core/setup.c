/* setup — see setup.h. */
#include "setup.h"

#include <math.h>

#include "buffer.h"
#include "envs/env.h"
#include "modeltrain.h"

SacConfig setup_sac(const Config *c) {
  const EnvInfo *e = env_info(c->env.name);
  SacConfig s = {.obs_dim = e->obs_dim,
                 .act_dim = e->act_dim,
                 .hidden = (int)c->sac.hidden,
                 .layers = (int)c->sac.layers,
                 .batch = (int)c->sac.batch_size,
                 .lr = c->sac.lr,
                 .gamma = c->sac.gamma,
                 .tau = c->sac.tau,
                 .target_entropy = c->sac.target_entropy,
                 .reward_scale = c->sac.reward_scale,
                 .logstd_min = c->sac.logstd_min,
                 .logstd_max = c->sac.logstd_max,
                 .init_log_alpha = c->sac.init_log_alpha};
  return s;
}

PolicyConfig setup_policy(const Config *c) {
  SacConfig s = setup_sac(c);
  return sac_policy_config(&s);
}

EnsConfig setup_ens(const Config *c, int replica) {
  const EnvInfo *i = env_info(c->env.name);
  EnsConfig e = {.members = (int)c->model.ensemble_size,
                 .elites = (int)c->model.elites,
                 .obs_dim = i->obs_dim,
                 .act_dim = i->act_dim,
                 .hidden = (int)c->model.hidden,
                 .layers = (int)c->model.layers,
                 .batch = (int)c->model.batch_size,
                 .lr = c->model.lr,
                 .bound_penalty = c->model.bound_penalty,
                 .improve_threshold = c->model.improve_threshold,
                 .patience = (int)c->model.patience,
                 .max_epochs = c->model.max_epochs,
                 .max_train_s = c->model.max_train_s,
                 .init_maxlv = c->model.init_maxlv,
                 .init_minlv = c->model.init_minlv,
                 .threads = c->run.threads_now > 1 ? (int)c->run.threads_now : 1};
  for (int l = 0; l < c->model.decay_len && l < 8; l++) e.decay[l] = c->model.decay[l];
  if (replica) e.batch = 1, e.threads = 1;
  return e;
}

int setup_threads(const Config *c, int cores, int sharing) {
  if (c->run.threads > 0) return (int)c->run.threads;
  int n = cores / (sharing > 1 ? sharing : 1);
  return n > 1 ? n : 1;
}

int setup_sac_real_rows(const Config *c) {
  return c->run.algo == ALGO_SAC ? (int)c->sac.batch_size
                                 : (int)floor((double)c->sac.batch_size * c->sac.real_ratio);
}

int setup_rows_fresh(const Config *c, double policy_lag, int64_t model_lag) {
  return !(policy_lag > (double)c->runtime.max_policy_lag || model_lag > c->runtime.max_model_lag);
}

FtConfig setup_ft(const Config *c) {
  FtConfig f = {.mode = c->finetune.mode,
                .batch = (int)c->finetune.batch_size,
                .lr = c->finetune.lr,
                .threshold = c->finetune.threshold,
                .max_steps = (int)c->finetune.max_steps,
                .patience = (int)c->finetune.patience,
                .own_scaler = c->finetune.mode == FT_W2 || c->finetune.old_own_scaler,
                .same_member = c->finetune.shift_same_member,
                .terms = c->finetune.terms,
                .moments = c->finetune.moments};
  return f;
}

RoConfig setup_rollout(const Config *c, int shards) {
  const EnvInfo *i = env_info(c->env.name);
  RoConfig r = {.env_id = c->env.name,
                .term_fixed = c->env.termination == TERM_FIXED,
                .obs_dim = i->obs_dim,
                .act_dim = i->act_dim,
                .rows = c->rollout.batch_size,
                .shards = shards,
                .tile = (int)c->rollout.tile_rows,
                .threads = c->run.threads_now > 1 ? (int)c->run.threads_now : 1};
  /* more threads than shards would idle */
  if (r.threads > shards) r.threads = shards > 0 ? shards : 1;
  return r;
}

int setup_phase2_on(const Config *c) {
  return c->run.algo == ALGO_USBPO && c->finetune.mode != FT_OFF;
}

void setup_dims(const Config *c, SetupDims *d) {
  const EnvInfo *e = env_info(c->env.name);
  PolicyConfig pc = setup_policy(c);
  NnNet pn;
  pol_net(&pc, &pn);
  EnsConfig ec = setup_ens(c, 1);
  d->obs_dim = e->obs_dim;
  d->act_dim = e->act_dim;
  d->in_dim = e->obs_dim + e->act_dim;
  d->out_dim = e->obs_dim + 1;
  d->n_policy = (int64_t)pn.nparam;
  d->n_model = (int64_t)ens_nparam(&ec) + 2 * (e->obs_dim + 1);
  d->elites = ec.elites;
  d->members = ec.members;
  d->shards = (int)c->topology.rollout_shards;
  int64_t mr = c->rollout.batch_size;
  int64_t ft = c->finetune.max_steps * c->finetune.batch_size;
  if (ft > mr) mr = ft;
  if (c->sac.buffer_size > mr) mr = c->sac.buffer_size;
  d->max_rows = mr;
}

double setup_memory_learner(const Config *c) {
  const EnvInfo *e = env_info(c->env.name);
  SacConfig sc = setup_sac(c);
  double b = (double)buf_bytes(e->obs_dim, e->act_dim, c->sac.buffer_size) + (double)sac_bytes(&sc);
  if (c->run.algo != ALGO_SAC) {
    int kmax = (int)fmax(c->rollout.schedule[2], c->rollout.schedule[3]);
    b += (double)buf_bytes(e->obs_dim, e->act_dim, mt_buffer_capacity(c, kmax));
    b += (double)c->finetune.max_steps * c->finetune.batch_size * (e->obs_dim + e->act_dim) * 4.0;
  }
  return b;
}

double setup_memory_modelsvc(const Config *c) {
  if (c->run.algo == ALGO_SAC) return 0;
  const EnvInfo *e = env_info(c->env.name);
  EnsConfig ec = setup_ens(c, 0);
  FtConfig fc = setup_ft(c);
  int in = e->obs_dim + e->act_dim;
  double b = (double)ens_bytes(&ec);
  if (setup_phase2_on(c)) b += (double)ft_bytes(&fc, &ec);
  /* training data at the real data's capacity (x, y, permutation) and the real data itself */
  b += (double)c->sac.buffer_size * (sizeof(float) * (in + e->obs_dim + 1) + sizeof(int32_t));
  b += (double)buf_bytes(e->obs_dim, e->act_dim, c->sac.buffer_size);
  return b;
}

double setup_memory_rollout(const Config *c) {
  if (c->run.algo == ALGO_SAC) return 0;
  const EnvInfo *e = env_info(c->env.name);
  RoConfig rc = setup_rollout(c, (int)c->topology.rollout_shards);
  EnsConfig ec = setup_ens(c, 1);
  /* a shard-step's rows staged per thread (obs, act, rew, next, done) */
  double stage = (double)rc.threads * (double)(ro_shard_rows(&rc, 0) + 1) *
                 (sizeof(float) * (2.0 * e->obs_dim + e->act_dim + 1) + 1);
  return (double)ro_bytes(&rc, e->obs_dim + e->act_dim, (int)c->model.hidden, (int)c->sac.hidden) +
         (double)ens_bytes(&ec) + stage;
}

double setup_memory_actor(const Config *c) {
  (void)c;
  return 8.0 * 1024 * 1024; /* an env, a policy replica, one episode's rows */
}
