#include "actor.h"

#include <string.h>

#include "ckfile.h"
#include "setup.h"
#include "util.h"

Actor *actor_make(const Config *cfg, int index, char *err, size_t errlen) {
  EnvOptions eo = {cfg->env.contact_forces, cfg->env.model_dir};
  Env *env = env_make(cfg->env.name, &eo, err, errlen);
  if (!env) return NULL;
  Actor *a = xmalloc(sizeof *a);
  a->index = index;
  a->env = env;
  a->obs_dim = env_get_info(env)->obs_dim;
  a->act_dim = env_get_info(env)->act_dim;
  a->max_len = (int)cfg->env.max_episode_steps;
  a->append_on_end = cfg->env.append_on_episode_end;
  uint32_t seed = (uint32_t)cfg->run.seed;
  a->reset_rng = rng_make(seed, RNG_ENV_RESET, (uint64_t)index);
  a->explore_rng = rng_make(seed, RNG_EXPLORE, (uint64_t)index);
  a->policy_rng = rng_make(seed, RNG_POLICY, (uint64_t)index);
  a->obs = xmalloc(sizeof(float) * a->obs_dim);
  size_t rows = (size_t)a->max_len;
  a->ep_obs = xmalloc(sizeof(float) * rows * a->obs_dim);
  a->ep_act = xmalloc(sizeof(float) * rows * a->act_dim);
  a->ep_rew = xmalloc(sizeof(float) * rows);
  a->ep_next = xmalloc(sizeof(float) * rows * a->obs_dim);
  a->ep_done = xmalloc(rows);
  NnNet pn;
  PolicyConfig pc = setup_policy(cfg);
  pol_net(&pc, &pn);
  a->scratch = xmalloc(sizeof(real) * pol_act_scratch(&pn, 1));
  const double *o = env_reset(env, &a->reset_rng);
  for (int i = 0; i < a->obs_dim; i++) a->obs[i] = (float)o[i];
  return a;
}

void actor_free(Actor *a) {
  if (!a) return;
  env_free(a->env);
  xfree(a->obs), xfree(a->ep_obs), xfree(a->ep_act), xfree(a->ep_rew), xfree(a->ep_next);
  xfree(a->ep_done), xfree(a->scratch);
  xfree(a);
}

static void new_episode(Actor *a) {
  const double *o = env_reset(a->env, &a->reset_rng);
  for (int i = 0; i < a->obs_dim; i++) a->obs[i] = (float)o[i];
  a->len = 0;
  a->ret = 0;
}

ActorStep actor_step(Actor *a, const NnNet *pi_net, const real *pi, const PolicyConfig *pc) {
  ActorStep out = {0};
  float act[64];
  if (!pi)
    for (int i = 0; i < a->act_dim; i++) act[i] = (float)rng_uniform_range(&a->explore_rng, -1, 1);
  else
    pol_act(pi_net, pi, pc, a->obs, 1, 0, &a->policy_rng, act, a->scratch);
  EnvStep s = env_step(a->env, act);
  a->steps++;
  a->warnings += s.warnings;
  if (s.sim_error) {
    /* the simulator diverged: drop this transition, end the episode as a truncation */
    a->sim_errors++;
    LOG_W("actor %d: simulator error at episode step %d: episode ended, transition dropped",
          a->index, a->len + 1);
    out.ended = 1;
    out.terminated = 0;
    out.ep_return = a->ret;
    out.ep_length = a->len;
    out.handover = a->ep_rows;
    a->episodes++;
    new_episode(a);
    return out;
  }
  int r = a->ep_rows;
  memcpy(a->ep_obs + (size_t)r * a->obs_dim, a->obs, sizeof(float) * a->obs_dim);
  memcpy(a->ep_act + (size_t)r * a->act_dim, act, sizeof(float) * a->act_dim);
  a->ep_rew[r] = (float)s.reward;
  for (int i = 0; i < a->obs_dim; i++) a->ep_next[(size_t)r * a->obs_dim + i] = (float)s.obs[i];
  a->ep_done[r] = (uint8_t)s.terminated; /* the step cut is never a terminal */
  a->ep_rows++;
  a->len++;
  a->ret += s.reward;
  for (int i = 0; i < a->obs_dim; i++) a->obs[i] = (float)s.obs[i];
  if (s.terminated || a->len >= a->max_len) {
    out.ended = 1;
    out.terminated = s.terminated;
    out.ep_return = a->ret;
    out.ep_length = a->len;
    a->episodes++;
    new_episode(a);
  }
  if (out.ended || !a->append_on_end) out.handover = a->ep_rows;
  return out;
}

void actor_handed_over(Actor *a) {
  a->ep_rows = 0;
}

double actor_evaluate(Env *env, Rng *reset_rng, const NnNet *pi_net, const real *pi,
                      const PolicyConfig *pc, int max_len, int *len, real *scratch) {
  return actor_evaluate_cb(env, reset_rng, pi_net, pi, pc, max_len, len, scratch, NULL, NULL);
}

double actor_evaluate_cb(Env *env, Rng *reset_rng, const NnNet *pi_net, const real *pi,
                         const PolicyConfig *pc, int max_len, int *len, real *scratch,
                         void (*on_state)(void *ctx, Env *env), void *ctx) {
  const EnvInfo *info = env_get_info(env);
  float obs[512], act[64];
  const double *o = env_reset(env, reset_rng);
  if (on_state) on_state(ctx, env);
  for (int i = 0; i < info->obs_dim; i++) obs[i] = (float)o[i];
  double ret = 0;
  int n = 0;
  while (n < max_len) {
    pol_act(pi_net, pi, pc, obs, 1, 1, NULL, act, scratch);
    EnvStep s = env_step(env, act);
    if (s.sim_error) break;
    ret += s.reward;
    n++;
    if (on_state) on_state(ctx, env);
    for (int i = 0; i < info->obs_dim; i++) obs[i] = (float)s.obs[i];
    if (s.terminated) break;
  }
  *len = n;
  return ret;
}

/* ---- checkpoints ---- */

void actor_ckpt_save(const Actor *a, CkptWriter *w) {
  size_t n = env_state_size(a->env);
  double *st = xmalloc(sizeof(double) * n);
  env_state_save(a->env, st);
  uint64_t r[3][RNG_STATE_WORDS];
  rng_save(&a->reset_rng, r[0]), rng_save(&a->explore_rng, r[1]), rng_save(&a->policy_rng, r[2]);
  ckw_arr(w, "env", DT_F64, st, (int64_t)n, 1);
  ckw_bytes(w, "rngs", r, sizeof r);
  ckw_arr(w, "obs", DT_F32, a->obs, 1, a->obs_dim);
  ckw_int(w, "len", a->len);
  ckw_f64(w, "ret", a->ret);
  ckw_arr(w, "ep_obs", DT_F32, a->ep_obs, a->ep_rows, a->obs_dim);
  ckw_arr(w, "ep_act", DT_F32, a->ep_act, a->ep_rows, a->act_dim);
  ckw_arr(w, "ep_rew", DT_F32, a->ep_rew, a->ep_rows, 1);
  ckw_arr(w, "ep_next", DT_F32, a->ep_next, a->ep_rows, a->obs_dim);
  ckw_arr(w, "ep_done", DT_U8, a->ep_done, a->ep_rows, 1);
  int64_t c[4] = {a->steps, a->episodes, a->sim_errors, a->warnings};
  ckw_bytes(w, "counters", c, sizeof c);
  ckw_int(w, "ep_rows", a->ep_rows);
  ckw_int(w, "env_id", env_get_info(a->env)->id);
  xfree(st);
}

void actor_ckpt_load(Actor *a, CkptFile *f, const char *path) {
  int64_t id, rows, cols, len;
  ckr_need_int(f, path, "env_id", &id);
  CHECK(id == env_get_info(a->env)->id, "%s: state of another task (%lld)", path, (long long)id);
  size_t n = env_state_size(a->env);
  double *st = xmalloc(sizeof(double) * n);
  ckr_need_arr(f, path, "env", DT_F64, (int64_t)n, 1, st);
  CHECK(env_state_load(a->env, st, n) == 0, "%s: simulator state refused", path);
  xfree(st);
  uint64_t r[3][RNG_STATE_WORDS];
  ckr_need_arr(f, path, "rngs", DT_U8, sizeof r, 1, r);
  CHECK(rng_load(&a->reset_rng, r[0]) == 0 && rng_load(&a->explore_rng, r[1]) == 0 &&
            rng_load(&a->policy_rng, r[2]) == 0,
        "%s: random stream state refused", path);
  ckr_need_arr(f, path, "obs", DT_F32, 1, a->obs_dim, a->obs);
  ckr_need_int(f, path, "len", &len);
  a->len = (int)len;
  ckr_need_f64(f, path, "ret", &a->ret);
  ckr_need_int(f, path, "ep_rows", &rows);
  CHECK(rows >= 0 && rows <= a->max_len, "%s: %lld episode rows", path, (long long)rows);
  CHECK(ckr_arr_shape(f, "ep_obs", DT_F32, &rows, &cols) == 0, "%s: ep_obs", path);
  ckr_need_arr(f, path, "ep_obs", DT_F32, rows, a->obs_dim, a->ep_obs);
  ckr_need_arr(f, path, "ep_act", DT_F32, rows, a->act_dim, a->ep_act);
  ckr_need_arr(f, path, "ep_rew", DT_F32, rows, 1, a->ep_rew);
  ckr_need_arr(f, path, "ep_next", DT_F32, rows, a->obs_dim, a->ep_next);
  ckr_need_arr(f, path, "ep_done", DT_U8, rows, 1, a->ep_done);
  a->ep_rows = (int)rows;
  int64_t c[4];
  ckr_need_arr(f, path, "counters", DT_U8, sizeof c, 1, c);
  a->steps = c[0], a->episodes = c[1], a->sim_errors = c[2], a->warnings = c[3];
}
