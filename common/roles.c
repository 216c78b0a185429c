/* roles — what every role shares: the codec context, the memory budget, checkpoint files. */
#include "roles.h"

#include <math.h>
#include <stdio.h>

#include "ckpt.h"
#include "envs/env.h"
#include "ensemble.h"
#include "modelsvc.h"
#include "rollout.h"
#include "sac.h"
#include "util.h"

void roles_codec_ctx(const Config *c, CodecCtx *x) {
  const EnvInfo *e = env_info(c->env.name);
  SacConfig sc = {.obs_dim = e->obs_dim, .act_dim = e->act_dim, .hidden = (int)c->sac.hidden,
                  .layers = (int)c->sac.layers};
  NnNet pn;
  sac_policy_net(&sc, &pn);
  EnsConfig ec = {.members = (int)c->model.ensemble_size, .elites = (int)c->model.elites,
                  .obs_dim = e->obs_dim, .act_dim = e->act_dim, .hidden = (int)c->model.hidden,
                  .layers = (int)c->model.layers, .batch = 1};
  int sizes[NN_MAX_LAYERS + 1];
  sizes[0] = e->obs_dim + e->act_dim;
  for (int l = 1; l <= ec.layers; l++) sizes[l] = ec.hidden;
  sizes[ec.layers + 1] = 2 * (e->obs_dim + 1);
  NnNet en;
  nn_net_init(&en, ec.members, ec.layers + 1, sizes, NN_SWISH, NN_IDENTITY);
  x->obs_dim = e->obs_dim;
  x->act_dim = e->act_dim;
  x->in_dim = e->obs_dim + e->act_dim;
  x->out_dim = e->obs_dim + 1;
  x->n_policy = (int64_t)pn.nparam;
  x->n_model = (int64_t)en.nparam + 2 * (e->obs_dim + 1);
  x->elites = ec.elites;
  x->members = ec.members;
  x->shards = (int)c->topology.rollout_shards;
  int64_t mr = c->rollout.batch_size;
  int64_t ft = c->finetune.max_steps * c->finetune.batch_size;
  if (ft > mr) mr = ft;
  if (c->sac.buffer_size > mr) mr = c->sac.buffer_size;
  x->max_rows = mr;
  x->n_metrics = TM_COUNT;
  x->max_state = 1ll << 40;
}

double roles_memory_modelsvc(const Config *c) {
  return c->run.algo == ALGO_SAC ? 0 : modelsvc_memory_budget(c);
}

double roles_memory_rollout(const Config *c) {
  if (c->run.algo == ALGO_SAC) return 0;
  const EnvInfo *e = env_info(c->env.name);
  RoConfig rc = {.obs_dim = e->obs_dim, .act_dim = e->act_dim, .rows = c->rollout.batch_size,
                 .shards = (int)c->topology.rollout_shards, .tile = (int)c->rollout.tile_rows};
  EnsConfig ec = {.members = (int)c->model.ensemble_size, .elites = (int)c->model.elites,
                  .obs_dim = e->obs_dim, .act_dim = e->act_dim, .hidden = (int)c->model.hidden,
                  .layers = (int)c->model.layers, .batch = 1};
  return (double)ro_bytes(&rc, e->obs_dim + e->act_dim, (int)c->model.hidden, (int)c->sac.hidden) +
         (double)ens_bytes(&ec);
}

double roles_memory_actor(const Config *c) {
  (void)c;
  return 8.0 * 1024 * 1024; /* an env, a policy replica, one episode's rows */
}

volatile int g_sig_usr1, g_sig_term, g_sig_int;

void roles_run_dir(const Config *cfg, char *out, size_t n) {
  char name[256];
  cfg_run_name(cfg, name, sizeof name);
  snprintf(out, n, "%s/%s", cfg->run.dir, name);
}

void roles_ckpt_name(int role, int idx, char *out, size_t n) {
  snprintf(out, n, "%s-%d.ckpt", role_name(role), idx);
}

void roles_checkpoint(const Config *cfg, Runtime *rt, int role, int idx, int64_t step, int nfields,
                      RoleSaveFn save, void *obj) {
  char run[1024], dir[1200], name[64], err[512];
  roles_run_dir(cfg, run, sizeof run);
  ckpt_dir(run, step, dir, sizeof dir);
  roles_ckpt_name(role, idx, name, sizeof name);
  int64_t bytes = 0;
  uint64_t sum = 0;
  CkptWriter *w = ckw_open(dir, name, role_name(role), idx, step, nfields, err, sizeof err);
  int ok = w != NULL;
  if (w) {
    save(obj, w);
    ok = ckw_close(w, &bytes, &sum, err, sizeof err) == 0;
  }
  if (!ok) LOG_E("%s %d: checkpoint failed: %s", role_name(role), idx, err);
  /* the answer the learner's MANIFEST is built from */
  Enc *e = rt_begin(rt, MSG_CHECKPOINT_DONE, ROLE_LEARNER, 0, 6);
  enc_int(e, K_STEPNO, step);
  enc_int(e, K_CODE, ok ? 0 : 1);
  enc_int(e, K_FROM, idx);
  enc_int(e, K_KIND, role);
  enc_int(e, K_BYTES, bytes);
  enc_int(e, K_SUM, (int64_t)sum);
  rt_send(rt);
}
