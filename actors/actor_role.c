/* actor_role — an actor on the runtime: a policy replica from 'policy_snapshot', one env step
 * per 'step' (uniform exploration or the stochastic policy) answered by 'transitions' (the rows
 * handed over, and the episodes that ended), evaluation episodes answered by 'eval_result'. */
#include <math.h>
#include <string.h>

#include "actor.h"
#include "ckpt.h"
#include "actors.h"
#include "rolekit.h"
#include "setup.h"
#include "util.h"

struct ActorRole {
  const Config *cfg;
  int idx;
  Actor *a;
  PolicyConfig pc;
  NnNet pn;
  real *pi;
  int64_t pi_version;
  Env *eval_env;
  real *eval_scratch;
  double *ret, *len;
  int64_t credit; /* async: steps granted and not yet taken */
  Runtime *rt;
};

static void on_policy(ActorRole *r, const Msg *m) {
  memcpy(r->pi, m->a[A_PARAMS].data, sizeof(float) * r->pn.nparam);
  r->pi_version = m->i[K_VERSION];
}

static int step_once(ActorRole *r, Runtime *rt, int mode);

static void on_step(ActorRole *r, Runtime *rt, const Msg *m) {
  const int mode = (int)m->i[K_MODE];
  if (mode == STEP_CREDIT) { /* async: run this many policy steps as the policy arrives */
    r->credit += msg_has_i(m, K_COUNT) ? m->i[K_COUNT] : 1;
    return;
  }
  if (mode == STEP_EVAL) {
    /* evaluation: deterministic episodes on a separate env, resets keyed by (epoch, episode) */
    int n = msg_has_i(m, K_EPISODES) ? (int)m->i[K_EPISODES] : 1;
    int64_t epoch = m->i[K_EPOCH];
    for (int i = 0; i < n; i++) {
      Rng rr =
          rng_make((uint32_t)r->cfg->run.seed, RNG_EVAL, rng_index2((uint32_t)epoch, (uint32_t)i));
      int l;
      r->ret[i] = actor_evaluate(r->eval_env, &rr, &r->pn, r->pi, &r->pc,
                                 (int)r->cfg->env.max_episode_steps, &l, r->eval_scratch);
      r->len[i] = l;
    }
    Enc *e = rt_begin(rt, MSG_EVAL_RESULT, ROLE_LEARNER, 0, 4);
    enc_int(e, K_EPOCH, epoch);
    enc_int(e, K_FROM, r->idx);
    enc_arr(e, A_RETURNS, DT_F64, r->ret, n, 0);
    enc_arr(e, A_LENGTHS, DT_F64, r->len, n, 0);
    rt_send(rt);
    return;
  }
  if (mode == STEP_POLICY && m->i[K_POLICY_VERSION] != r->pi_version) {
    LOG_E("actor %d: asked to act with policy version %lld but holds %lld", r->idx,
          (long long)m->i[K_POLICY_VERSION], (long long)r->pi_version);
    comm_abort(rt_comm(rt), EXIT_FATAL);
  }
  if (mode == STEP_EXPLORE) {
    /* a burst of exploration steps (one round trip instead of one per step), stopped where the
     * learner's own rule stops it: once the rows handed over reach K_ROWS */
    const int64_t n = msg_has_i(m, K_COUNT) ? m->i[K_COUNT] : 1;
    const int64_t goal = msg_has_i(m, K_ROWS) ? m->i[K_ROWS] : 0;
    int64_t rows = 0;
    for (int64_t i = 0; i < n && (goal <= 0 || rows < goal); i++) rows += step_once(r, rt, mode);
    return;
  }
  (void)step_once(r, rt, mode);
}

/* one env step, answered by 'transitions'; returns the rows it handed over */
static int step_once(ActorRole *r, Runtime *rt, int mode) {
  Actor *a = r->a;
  ActorStep s =
      mode == STEP_EXPLORE ? actor_step(a, NULL, NULL, NULL) : actor_step(a, &r->pn, r->pi, &r->pc);
  double ep[3] = {s.ep_return, s.ep_length, s.terminated};
  double counters[2] = {(double)a->sim_errors, (double)a->warnings};
  const int n = s.handover;
  Enc *e = rt_begin(rt, MSG_TRANSITIONS, ROLE_LEARNER, 0, 10 + (s.ended ? 1 : 0));
  enc_int(e, K_KIND, TR_REAL);
  enc_int(e, K_COUNT, n);
  enc_int(e, K_POLICY_VERSION, mode == STEP_EXPLORE ? -1 : r->pi_version);
  enc_int(e, K_FROM, r->idx);
  enc_arr(e, A_OBS, DT_F32, a->ep_obs, n, a->obs_dim);
  enc_arr(e, A_ACT, DT_F32, a->ep_act, n, a->act_dim);
  enc_arr(e, A_REW, DT_F32, a->ep_rew, n, 0);
  enc_arr(e, A_NEXT, DT_F32, a->ep_next, n, a->obs_dim);
  enc_arr(e, A_DONE, DT_U8, a->ep_done, n, 0);
  enc_arr(e, A_METRICS, DT_F64, counters, 2, 0);
  if (s.ended) enc_arr(e, A_EPSTATS, DT_F64, ep, 1, 3);
  rt_send(rt);
  if (n > 0) actor_handed_over(a);
  return n;
}

/* async: spend granted credit, one step per idle turn so snapshots keep arriving in between */
static int actor_idle(void *obj, Runtime *rt) {
  ActorRole *r = obj;
  if (r->credit <= 0 || r->pi_version < 0) return 0;
  r->credit--;
  (void)step_once(r, rt, STEP_POLICY);
  return 1;
}

static void save(void *obj, CkptWriter *w) {
  ActorRole *r = obj;
  actor_ckpt_save(r->a, w);
  ckw_int(w, "credit", r->credit);
}

static void on_checkpoint(ActorRole *r, Runtime *rt, const Msg *m) {
  rk_checkpoint(r->cfg, rt, ROLE_ACTOR, r->idx, m->i[K_STEPNO], save, r);
}

static void actor_handle(void *obj, Runtime *rt, const Msg *m) {
  ActorRole *r = obj;
  switch (m->type) {
  case MSG_CHECKPOINT:
    on_checkpoint(r, rt, m);
    break;
  case MSG_POLICY:
    on_policy(r, m);
    break;
  case MSG_STEP:
    on_step(r, rt, m);
    break;
  case MSG_SHUTDOWN:
    break;
  default:
    LOG_E("actor %d: unexpected message '%s' from rank %d", r->idx, msg_type_name(m->type), m->src);
    comm_abort(rt_comm(rt), EXIT_FATAL);
  }
}

ActorRole *actor_role_make(const Config *cfg, Runtime *rt, int idx, const char *resume, char *err,
                           size_t errlen) {
  ActorRole *r = xmalloc(sizeof *r);
  r->cfg = cfg;
  r->idx = idx;
  r->a = actor_make(cfg, idx, err, errlen);
  if (!r->a) {
    xfree(r);
    return NULL;
  }
  EnvOptions eo = {cfg->env.contact_forces, cfg->env.model_dir};
  r->eval_env = env_make(cfg->env.name, &eo, err, errlen);
  if (!r->eval_env) {
    actor_free(r->a);
    xfree(r);
    return NULL;
  }
  r->pc = setup_policy(cfg);
  pol_net(&r->pc, &r->pn);
  r->pi = xmalloc(sizeof(real) * r->pn.nparam);
  r->pi_version = -1;
  r->eval_scratch = xmalloc(sizeof(real) * pol_act_scratch(&r->pn, 1));
  r->ret = xmalloc(sizeof(double) * cfg->run.eval_episodes);
  r->len = xmalloc(sizeof(double) * cfg->run.eval_episodes);
  r->rt = rt;
  if (resume) {
    char path[1200], name[64];
    rk_ckpt_name(ROLE_ACTOR, idx, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", resume, name);
    CkptFile *f = ckr_open(path, "actor", idx, err, errlen);
    CHECK(f, "%s", err);
    actor_ckpt_load(r->a, f, path);
    ckr_need_int(f, path, "credit", &r->credit);
    ckr_close(f);
  }
  rt_register(rt, ROLE_ACTOR, idx, r, actor_handle,
              cfg->run.mode == MODE_ASYNC ? actor_idle : NULL);
  return r;
}

void actor_role_free(ActorRole *r) {
  if (!r) return;
  actor_free(r->a);
  env_free(r->eval_env);
  xfree(r->pi), xfree(r->eval_scratch), xfree(r->ret), xfree(r->len);
  xfree(r);
}
