/* rollout_role — a rollout worker on the runtime. It holds replicas of the latest model
 * ('model_snapshot', broadcast by the model service) and policy ('policy_snapshot', broadcast
 * by the learner), receives its shards' start states, and on 'rollout_request' (one step of one
 * training) advances each of its shards one step, sending the rows of each shard as one
 * 'transitions' message (in shard order) and then 'rollout_done'. The parts of a request may
 * arrive in any order (they come from different ranks): the step runs once all are in. */
#include <string.h>

#include "ckpt.h"
#include "envs/env.h"
#include "modelsvc.h"
#include "rolekit.h"
#include "setup.h"
#include "rollout.h"
#include "util.h"

struct RolloutRole {
  const Config *cfg;
  int idx, lo, hi;
  Rollout *ro;
  Ensemble *ens; /* replica: parameter block, scaler, elites */
  int64_t model_version, policy_version;
  PolicyConfig pc;
  NnNet pn;
  real *pi;
  int64_t *starts_for; /* per shard: the training its start states belong to */
  int pending;         /* a request waits for its parts */
  int64_t req_training, req_step, req_pv, req_mv, req_steps;
  /* shards step concurrently on the pool's threads, a wave of T shards at a time: each
   * shard-step's rows are staged for its message, sent in shard order once the wave is done */
  Pool *pool;
  int T;
  struct Stage *stg; /* T */
};

typedef struct Stage {
  RolloutRole *r;
  int shard;
  float *o, *a, *r_, *x;
  uint8_t *d;
  int64_t n, cap, alive;
  RoStats st;
} Stage;

static void stage(void *ctx, int n, const float *obs, const float *act, const float *rew,
                  const float *next, const uint8_t *done) {
  Stage *g = ctx;
  const int od = g->r->pc.obs_dim, ad = g->r->pc.act_dim;
  CHECK(g->n + n <= g->cap, "rollout staging overflow");
  memcpy(g->o + g->n * od, obs, sizeof(float) * n * od);
  memcpy(g->a + g->n * ad, act, sizeof(float) * n * ad);
  memcpy(g->r_ + g->n, rew, sizeof(float) * n);
  memcpy(g->x + g->n * od, next, sizeof(float) * n * od);
  memcpy(g->d + g->n, done, (size_t)n);
  g->n += n;
}

/* one shard's step into its stage (task i of a wave: stage i) */
static void shard_task(void *ctx, int i, int thread) {
  RolloutRole *r = ctx;
  Stage *g = &r->stg[i];
  g->n = 0;
  memset(&g->st, 0, sizeof g->st);
  g->alive = ro_step_on(r->ro, g->shard, thread, r->ens, r->ens->p, &r->pn, r->pi, &r->pc, stage, g,
                        &g->st);
}

static void try_run(RolloutRole *r, Runtime *rt) {
  if (!r->pending || r->model_version != r->req_mv || r->policy_version != r->req_pv) return;
  if (r->req_step == 0)
    for (int s = r->lo; s < r->hi; s++)
      if (r->starts_for[s] != r->req_training) return;
  r->pending = 0;
  const int od = r->pc.obs_dim, ad = r->pc.act_dim;
  for (int64_t k = 0; k < r->req_steps; k++, r->req_step++) {
    RoStats st = {0};
    int64_t alive = 0, rows = 0;
    for (int s0 = r->lo; s0 < r->hi; s0 += r->T) {
      const int nw = r->hi - s0 < r->T ? r->hi - s0 : r->T;
      for (int i = 0; i < nw; i++) r->stg[i].shard = s0 + i;
      pool_run(r->pool, nw, shard_task, r);
      comm_tick(rt_comm(rt));
      for (int i = 0; i < nw; i++) {
        const Stage *g = &r->stg[i];
        alive += g->alive;
        st.emitted += g->st.emitted, st.nonfinite += g->st.nonfinite;
        Enc *e = rt_begin(rt, MSG_TRANSITIONS, ROLE_LEARNER, 0, 13);
        enc_int(e, K_KIND, TR_MODEL);
        enc_int(e, K_COUNT, g->n);
        enc_int(e, K_POLICY_VERSION, r->policy_version);
        enc_int(e, K_MODEL_VERSION, r->model_version);
        enc_int(e, K_SHARD, g->shard);
        enc_int(e, K_STEPNO, r->req_step);
        enc_int(e, K_TRAINING, r->req_training);
        enc_int(e, K_FROM, r->idx);
        enc_arr(e, A_OBS, DT_F32, g->o, g->n, od);
        enc_arr(e, A_ACT, DT_F32, g->a, g->n, ad);
        enc_arr(e, A_REW, DT_F32, g->r_, g->n, 0);
        enc_arr(e, A_NEXT, DT_F32, g->x, g->n, od);
        enc_arr(e, A_DONE, DT_U8, g->d, g->n, 0);
        rt_send(rt);
        rows += g->n;
      }
    }
    double met[2] = {(double)st.emitted, (double)st.nonfinite};
    Enc *e = rt_begin(rt, MSG_ROLLOUT_DONE, ROLE_LEARNER, 0, 6);
    enc_int(e, K_TRAINING, r->req_training);
    enc_int(e, K_STEPNO, r->req_step);
    enc_int(e, K_COUNT, rows);
    enc_int(e, K_ALIVE, alive);
    enc_int(e, K_FROM, r->idx);
    enc_arr(e, A_METRICS, DT_F64, met, 2, 0);
    rt_send(rt);
    if (alive == 0) break;
  }
}

static void save(void *obj, CkptWriter *w) {
  RolloutRole *r = obj;
  ckw_int(w, "model_version", r->model_version);
  ckw_int(w, "policy_version", r->policy_version);
}

static void rollout_handle(void *obj, Runtime *rt, const Msg *m) {
  RolloutRole *r = obj;
  Ensemble *e = r->ens;
  switch (m->type) {
  case MSG_MODEL:
    memcpy(e->p, m->a[A_PARAMS].data, m->a[A_PARAMS].bytes);
    memcpy(e->mu, m->a[A_MU].data, m->a[A_MU].bytes);
    memcpy(e->sd, m->a[A_SD].data, m->a[A_SD].bytes);
    memcpy(e->elite, m->a[A_ELITES].data, m->a[A_ELITES].bytes);
    r->model_version = m->i[K_VERSION];
    break;
  case MSG_POLICY:
    memcpy(r->pi, m->a[A_PARAMS].data, m->a[A_PARAMS].bytes);
    r->policy_version = m->i[K_VERSION];
    break;
  case MSG_START_STATES: {
    int s = (int)m->i[K_SHARD];
    CHECK(s >= r->lo && s < r->hi, "rollout %d got start states of shard %d", r->idx, s);
    RoConfig rc = setup_rollout(r->cfg, rt_placement(rt)->S);
    CHECK(m->a[A_OBS].rows == ro_shard_rows(&rc, s), "shard %d: %lld start states", s,
          (long long)m->a[A_OBS].rows);
    ro_begin_shard(r->ro, s, m->a[A_OBS].data, (uint32_t)r->cfg->run.seed,
                   (uint64_t)m->i[K_TRAINING]);
    r->starts_for[s] = m->i[K_TRAINING];
    break;
  }
  case MSG_ROLLOUT_REQUEST:
    CHECK(!r->pending, "rollout %d: a request while another waits", r->idx);
    r->pending = 1;
    r->req_training = m->i[K_TRAINING];
    r->req_step = m->i[K_STEPNO];
    r->req_pv = m->i[K_POLICY_VERSION];
    r->req_mv = m->i[K_MODEL_VERSION];
    r->req_steps = msg_has_i(m, K_K) ? m->i[K_K] : 1;
    break;
  case MSG_CHECKPOINT:
    /* between trainings a worker holds only replicas, which are published again after a
     * resume: its file records the versions it had */
    rk_checkpoint(r->cfg, rt, ROLE_ROLLOUT, r->idx, m->i[K_STEPNO], save, r);
    return;
  case MSG_SHUTDOWN:
    return;
  default:
    LOG_E("rollout %d: unexpected message '%s' from rank %d", r->idx, msg_type_name(m->type),
          m->src);
    comm_abort(rt_comm(rt), EXIT_FATAL);
  }
  try_run(r, rt);
}

RolloutRole *rollout_role_make(const Config *cfg, Runtime *rt, int idx, const char *resume) {
  (void)resume; /* nothing to restore: replicas arrive again */
  RolloutRole *r = xmalloc(sizeof *r);
  const Placement *p = rt_placement(rt);
  const EnvInfo *info = env_info(cfg->env.name);
  r->cfg = cfg;
  r->idx = idx;
  r->lo = p->shard_lo[idx];
  r->hi = p->shard_hi[idx];
  EnsConfig ec = setup_ens(cfg, 1);
  r->ens = ens_make(&ec, (uint32_t)cfg->run.seed);
  r->pc = setup_policy(cfg);
  pol_net(&r->pc, &r->pn);
  r->pi = xmalloc(sizeof(real) * r->pn.nparam);
  RoConfig rc = setup_rollout(cfg, p->S);
  r->ro = ro_make(&rc, r->ens, &r->pn);
  r->starts_for = xmalloc(sizeof(int64_t) * p->S);
  for (int s = 0; s < p->S; s++) r->starts_for[s] = -1;
  r->model_version = r->policy_version = -1;
  r->T = rc.threads;
  r->pool = r->T > 1 ? pool_make(r->T) : NULL;
  r->stg = xmalloc(sizeof(Stage) * r->T);
  const int64_t cap = ro_shard_rows(&rc, 0) + 1;
  for (int i = 0; i < r->T; i++) {
    Stage *g = &r->stg[i];
    g->r = r;
    g->cap = cap;
    g->o = xmalloc(sizeof(float) * cap * info->obs_dim);
    g->a = xmalloc(sizeof(float) * cap * info->act_dim);
    g->r_ = xmalloc(sizeof(float) * cap);
    g->x = xmalloc(sizeof(float) * cap * info->obs_dim);
    g->d = xmalloc((size_t)cap);
  }
  rt_register(rt, ROLE_ROLLOUT, idx, r, rollout_handle, NULL);
  return r;
}

void rollout_role_free(RolloutRole *r) {
  if (!r) return;
  ro_free(r->ro);
  ens_free(r->ens);
  pool_free(r->pool);
  for (int i = 0; i < r->T; i++)
    xfree(r->stg[i].o), xfree(r->stg[i].a), xfree(r->stg[i].r_), xfree(r->stg[i].x),
        xfree(r->stg[i].d);
  xfree(r->stg);
  xfree(r->pi), xfree(r->starts_for);
  xfree(r);
}
