/* learner — the coordinator: it owns SAC, the env buffer (a copy of the real data) and the model
 * buffer, and drives the official order of operations (spec §3.3) by messages:
 *
 *   explore: 'step' (uniform) to every actor until the env buffer holds N_init
 *   each epoch, each tick while t < L or the env buffer holds < min_pool_size:
 *     if t mod F == 0 and model-based: forward the new real data to the model service,
 *       'train_request' (with phase-2 batches drawn from the model buffer), wait 'train_done',
 *       resize the model buffer, publish the policy to the rollout workers, then for each
 *       rollout step: 'rollout_request' to every worker, append their shards' rows in shard
 *       order (step-major, shard order: independent of how shards are placed)
 *     publish the policy to the actors, 'step' to every actor, append what they hand over
 *     G SAC updates per actor step once the env buffer holds min_pool_size
 *   evaluate ('step' in evaluation mode to actor 0), write the metrics row
 *
 * Everything random is keyed by logical owner, every merge has a fixed order: a sync run's
 * numbers do not depend on the number of ranks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buffer.h"
#include "ckpt.h"
#include "envs/env.h"
#include "finetune.h"
#include "modelsvc.h"
#include "roles.h"
#include "sac.h"
#include "util.h"

/* the async schedule's state (see async_run) */
typedef struct {
  int64_t granted;      /* actor steps granted */
  int64_t real_steps;   /* policy steps received */
  int64_t since_train;  /* real steps since the last training request */
  int training, rolling; /* a training / rollout in flight */
  int64_t rolling_training;
  int64_t pending_eval; /* epoch whose evaluation is awaited, or -1 */
  Metrics snap;         /* that epoch's row, awaiting its evaluation */
  double lag_sum, mlag_sum;
  int64_t lag_n, dropped;
  int64_t pub_updates;  /* updates at the last policy publication to the actors */
  int64_t pool_steps;   /* real steps since the env buffer held min_pool_size */
  double epoch_t0;
} Async;

typedef struct {
  const Config *cfg;
  Runtime *rt;
  RunLog *log;
  int obs_dim, act_dim, in_dim;
  SacConfig sc;
  Sac *sac;
  Buffer *env_buf;
  Buffer *model_buf;
  Buffer *fwd;          /* real rows not yet forwarded to the model service */
  float *ft_batches;    /* phase-2 batches drawn from the model buffer */
  int64_t ft_rows;
  int A, R;
  int64_t pv_actors, pv_rollout; /* policy versions last published to each group */
  int64_t trainings, model_version;
  int64_t episodes, steps, all_steps;
  int epoch, k;
  double last_eval;
  Metrics m;
  int n_upd_epoch;
  int64_t epoch_all_steps0;
  int64_t sim_errors, warnings; /* actors' cumulative counters, summed */
  int64_t *act_sim, *act_warn;
  double t0;
  /* the schedule's position (restored by a resume) */
  int explored, epoch_started;
  int64_t t;              /* env steps into the epoch */
  /* checkpoints */
  char run_dir[1024];
  uint64_t cfg_hash;
  int64_t last_ckpt_all_steps;
  double last_ckpt_time, last_ckpt_seconds;
  int stop_code;          /* non-zero: stopped at a safe point with this exit code */
  int finished;           /* restored from a checkpoint written at the end of the run */
  /* the NaN guard */
  SacSnap *snap;
  int64_t nan_rollbacks, nan_streak, inject_nan_at;
  Async as;
} Learner;

static SacConfig sac_config(const Config *c, int od, int ad) {
  SacConfig s = {.obs_dim = od, .act_dim = ad, .hidden = (int)c->sac.hidden,
                 .layers = (int)c->sac.layers, .batch = (int)c->sac.batch_size,
                 .lr = c->sac.lr, .gamma = c->sac.gamma, .tau = c->sac.tau,
                 .target_entropy = c->sac.target_entropy, .reward_scale = c->sac.reward_scale,
                 .logstd_min = c->sac.logstd_min, .logstd_max = c->sac.logstd_max,
                 .init_log_alpha = c->sac.init_log_alpha};
  return s;
}

double roles_memory_learner(const Config *c) {
  const EnvInfo *e = env_info(c->env.name);
  SacConfig sc = sac_config(c, e->obs_dim, e->act_dim);
  double b = (double)buf_bytes(e->obs_dim, e->act_dim, c->sac.buffer_size) + (double)sac_bytes(&sc);
  if (c->run.algo != ALGO_SAC) {
    int kmax = (int)fmax(c->rollout.schedule[2], c->rollout.schedule[3]);
    b += (double)buf_bytes(e->obs_dim, e->act_dim, modelsvc_buffer_capacity(c, kmax));
    b += (double)c->finetune.max_steps * c->finetune.batch_size * (e->obs_dim + e->act_dim) * 4.0;
  }
  return b;
}

static void reset_metrics(Learner *L) {
  memset(&L->m, 0, sizeof L->m);
  L->n_upd_epoch = 0;
  L->m.eval_return = NAN;
  L->m.train_return = NAN;
  L->m.ft_j_before = L->m.ft_j_after = L->m.ft_shift = L->m.ft_bias = NAN;
}

static int64_t policy_version(const Learner *L) { return L->sac->updates; }

/* the policy snapshot to a group, when it changed since the last time that group got it */
static void publish_policy(Learner *L, int group, int64_t *last) {
  int64_t v = policy_version(L);
  if (*last == v) return;
  Enc *e = rt_begin(L->rt, MSG_POLICY, group == GROUP_ACTORS ? ROLE_ACTOR : ROLE_ROLLOUT, IDX_ALL, 2);
  enc_int(e, K_VERSION, v);
  enc_arr(e, A_PARAMS, DT_F32, L->sac->pi, (int64_t)L->sac->pi_net.nparam, 0);
  rt_publish(L->rt, group);
  *last = v;
}

/* rows of a transitions message into a buffer (memcpy: message data may be unaligned) */
static void push_msg(Buffer *b, const Msg *m) {
  int64_t n = m->i[K_COUNT];
  if (n > 0)
    buf_push(b, n, m->a[A_OBS].data, m->a[A_ACT].data, m->a[A_REW].data, m->a[A_NEXT].data,
             m->a[A_DONE].data);
}

/* ---- acting ---- */

static void act_all(Learner *L, int explore) {
  const double t0 = util_now();
  if (!explore) publish_policy(L, GROUP_ACTORS, &L->pv_actors);
  for (int a = 0; a < L->A; a++) {
    Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, a, 3);
    enc_int(e, K_MODE, explore ? 0 : 1);
    enc_int(e, K_EPOCH, L->epoch);
    enc_int(e, K_POLICY_VERSION, explore ? -1 : policy_version(L));
    rt_send(L->rt);
  }
  for (int a = 0; a < L->A; a++) {
    Msg m;
    rt_wait(L->rt, MSG_TRANSITIONS, a, &m);
    push_msg(L->env_buf, &m);
    if (L->cfg->run.algo != ALGO_SAC) {
      /* never drop real data the model service has not seen: grow instead */
      if (L->fwd->size + m.i[K_COUNT] > L->fwd->cap)
        L->fwd = buf_resize(L->fwd, 2 * (L->fwd->cap + m.i[K_COUNT]));
      push_msg(L->fwd, &m);
    }
    if (msg_has_a(&m, A_METRICS)) {
      double c[2];
      memcpy(c, m.a[A_METRICS].data, sizeof c);
      L->act_sim[a] = (int64_t)c[0];
      L->act_warn[a] = (int64_t)c[1];
    }
    if (msg_has_a(&m, A_EPSTATS)) {
      double ep[3];
      memcpy(ep, m.a[A_EPSTATS].data, sizeof ep);
      runlog_episode(L->log, L->episodes++, a, L->steps, explore ? EP_EXPLORE : EP_TRAIN, ep[0],
                     (int)ep[1], (int)ep[2]);
      if (!explore) {
        double n = L->m.train_episodes;
        L->m.train_return = n == 0 ? ep[0] : (L->m.train_return * n + ep[0]) / (n + 1);
        L->m.train_episodes = n + 1;
      }
    }
    L->all_steps++;
  }
  L->m.t_env_s += util_now() - t0;
}

/* ---- SAC ---- */

static void sac_updates(Learner *L, int n) {
  const double t0 = util_now();
  const Config *c = L->cfg;
  int n_real = c->run.algo == ALGO_SAC ? (int)c->sac.batch_size
                                        : (int)floor(c->sac.batch_size * c->sac.real_ratio);
  for (int k = 0; k < n; k++) {
    sac_sample_batch(L->sac, L->env_buf, L->model_buf, n_real);
    sac_draw_noise(L->sac);
    sac_compute(L->sac, 1);
    const SacStats *s = &L->sac->last;
    if (!isfinite(s->q_loss) || !isfinite(s->pi_loss) || !isfinite(s->alpha_loss)) {
      /* a diverged update: back to the last good state, skip this batch, go on */
      sac_snap_restore(L->snap, L->sac);
      L->sac->updates++; /* versions never repeat */
      L->nan_rollbacks++;
      LOG_W("SAC update %lld diverged (Q loss %g, policy loss %g): rolled back to the state of "
            "update %lld (%lld roll-backs so far)",
            (long long)L->sac->updates, s->q_loss, s->pi_loss, (long long)L->sac->updates - 1,
            (long long)L->nan_rollbacks);
      CHECK(++L->nan_streak <= 20, "SAC keeps diverging after 20 roll-backs in a row: stopping");
      continue;
    }
    L->nan_streak = 0;
    sac_apply(L->sac);
    if (L->sac->updates == L->inject_nan_at) L->sac->pi[0] = NAN; /* test hook */
    if (L->sac->updates % 1000 == 0 && sac_finite(L->sac)) sac_snap_take(L->snap, L->sac);
    double w = 1.0 / (L->n_upd_epoch + 1);
    L->m.sac_q_loss += (s->q_loss - L->m.sac_q_loss) * w;
    L->m.sac_pi_loss += (s->pi_loss - L->m.sac_pi_loss) * w;
    L->m.alpha_loss += (s->alpha_loss - L->m.alpha_loss) * w;
    L->m.entropy += (s->entropy - L->m.entropy) * w;
    L->m.q_mean += (s->q_mean - L->m.q_mean) * w;
    L->n_upd_epoch++;
    util_tick();
  }
  /* nothing non-finite leaves the learner: check the parameters before they are published */
  if (n > 0 && !sac_finite(L->sac)) {
    sac_snap_restore(L->snap, L->sac);
    L->nan_rollbacks++;
    LOG_W("SAC parameters became non-finite by update %lld: rolled back to the last good state "
          "(%lld roll-backs so far)",
          (long long)L->sac->updates, (long long)L->nan_rollbacks);
  }
  L->m.t_sac_s += util_now() - t0;
}

/* ---- model training and rollouts ---- */

/* a finished model training (sync or async): the new model's version and rollout length, its
 * metrics into the epoch row, a diverged training counted; then the model buffer for this
 * rollout length (spec §3.6). Returns the training's duration on the model service. */
static double on_train_done(Learner *L, const Msg *m) {
  double tm[TM_COUNT];
  memcpy(tm, m->a[A_METRICS].data, sizeof tm);
  L->model_version = m->i[K_MODEL_VERSION];
  L->k = (int)m->i[K_K];
  Metrics *x = &L->m;
  x->model_trainings = tm[TM_TRAININGS], x->model_epochs = tm[TM_EPOCHS];
  x->model_holdout_mse = tm[TM_HOLDOUT_MSE], x->model_holdout_mse_elites = tm[TM_HOLDOUT_MSE_ELITES];
  x->model_holdout_mse_p1 = tm[TM_P1_HOLDOUT_MSE];
  if (!isnan(tm[TM_FT_J_BEFORE])) {
    x->ft_j_before = tm[TM_FT_J_BEFORE], x->ft_j_after = tm[TM_FT_J_AFTER];
    x->ft_shift = tm[TM_FT_SHIFT], x->ft_bias = tm[TM_FT_BIAS];
    x->ft_steps = tm[TM_FT_STEPS], x->ft_kept_step = tm[TM_FT_KEPT];
    x->ft_pulled_back = tm[TM_FT_PULLED_BACK];
  }
  if (tm[TM_NAN_ROLLBACK] != 0) L->nan_rollbacks++; /* finish_epoch puts it in the row */
  x->t_phase2_s += tm[TM_P2_SECONDS];
  int64_t cap = modelsvc_buffer_capacity(L->cfg, L->k);
  L->model_buf = L->model_buf ? buf_resize(L->model_buf, cap) : buf_make(L->obs_dim, L->act_dim, cap);
  return tm[TM_SECONDS];
}

static void model_round(Learner *L) {
  const Config *c = L->cfg;
  Runtime *rt = L->rt;
  const int64_t training = L->trainings++;
  const double t0 = util_now();
  /* the real data the model service has not seen, in arrival order */
  Buffer *f = L->fwd;
  Enc *e = rt_begin(rt, MSG_TRANSITIONS, ROLE_MODELSVC, 0, 9);
  enc_int(e, K_KIND, 0);
  enc_int(e, K_COUNT, f->size);
  enc_int(e, K_POLICY_VERSION, policy_version(L));
  enc_int(e, K_FROM, 0);
  enc_arr(e, A_OBS, DT_F32, f->obs, f->size, L->obs_dim);
  enc_arr(e, A_ACT, DT_F32, f->act, f->size, L->act_dim);
  enc_arr(e, A_REW, DT_F32, f->rew, f->size, 0);
  enc_arr(e, A_NEXT, DT_F32, f->next, f->size, L->obs_dim);
  enc_arr(e, A_DONE, DT_U8, f->done, f->size, 0);
  rt_send(rt);
  buf_clear(f);
  /* phase-2 batches from the model buffer, keyed by the training number */
  int p2 = c->run.algo == ALGO_USBPO && c->finetune.mode != FT_OFF && training > 0 &&
           L->model_buf && L->model_buf->size > 0;
  if (p2) {
    Rng r = rng_make((uint32_t)c->run.seed, RNG_FINETUNE, (uint64_t)training);
    ft_sample_batches(L->model_buf, &r, (int)c->finetune.max_steps, (int)c->finetune.batch_size,
                      L->ft_batches);
  }
  e = rt_begin(rt, MSG_TRAIN_REQUEST, ROLE_MODELSVC, 0, 2 + p2);
  enc_int(e, K_EPOCH, L->epoch);
  enc_int(e, K_TRAINING, training);
  if (p2) enc_arr(e, A_STATE, DT_F32, L->ft_batches, L->ft_rows, L->in_dim);
  rt_send(rt);
  Msg m;
  rt_wait(rt, MSG_TRAIN_DONE, -1, &m);
  CHECK(m.i[K_TRAINING] == training, "train_done for training %lld, expected %lld",
        (long long)m.i[K_TRAINING], (long long)training);
  on_train_done(L, &m);
  Metrics *x = &L->m;
  const double t1 = util_now();
  /* rollouts, one step at a time over every worker's shards */
  publish_policy(L, GROUP_ROLLOUT_POLICY, &L->pv_rollout);
  const Placement *p = rt_placement(rt);
  int64_t rows = 0, nonfinite = 0;
  for (int step = 0; step < L->k; step++) {
    for (int w = 0; w < L->R; w++) {
      e = rt_begin(rt, MSG_ROLLOUT_REQUEST, ROLE_ROLLOUT, w, 4);
      enc_int(e, K_TRAINING, training);
      enc_int(e, K_STEPNO, step);
      enc_int(e, K_POLICY_VERSION, policy_version(L));
      enc_int(e, K_MODEL_VERSION, L->model_version);
      rt_send(rt);
    }
    int64_t alive = 0;
    for (int w = 0; w < L->R; w++) {
      for (int s = p->shard_lo[w]; s < p->shard_hi[w]; s++) {
        rt_wait(rt, MSG_TRANSITIONS, w, &m);
        CHECK(m.i[K_KIND] == 1 && m.i[K_SHARD] == s && m.i[K_STEPNO] == step &&
                  m.i[K_TRAINING] == training,
              "rollout %d sent shard %lld step %lld of training %lld, expected %d/%d/%lld", w,
              (long long)m.i[K_SHARD], (long long)m.i[K_STEPNO], (long long)m.i[K_TRAINING], s,
              step, (long long)training);
        push_msg(L->model_buf, &m);
      }
      rt_wait(rt, MSG_ROLLOUT_DONE, w, &m);
      double met[2];
      memcpy(met, m.a[A_METRICS].data, sizeof met);
      rows += (int64_t)met[0];
      nonfinite += (int64_t)met[1];
      alive += m.i[K_ALIVE];
    }
    if (alive == 0) break;
  }
  x->rollout_rows = (double)rows;
  x->rollout_nonfinite += (double)nonfinite;
  x->rollout_length = L->k;
  x->t_model_s += t1 - t0;
  x->t_rollout_s += util_now() - t1;
}

/* ---- evaluation and the epoch's row ---- */

static void evaluate(Learner *L) {
  const Config *c = L->cfg;
  publish_policy(L, GROUP_ACTORS, &L->pv_actors);
  Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, 0, 4);
  enc_int(e, K_MODE, 2);
  enc_int(e, K_EPOCH, L->epoch);
  enc_int(e, K_POLICY_VERSION, policy_version(L));
  enc_int(e, K_EPISODES, c->run.eval_episodes);
  rt_send(L->rt);
  Msg m;
  rt_wait(L->rt, MSG_EVAL_RESULT, 0, &m);
  int n = (int)m.a[A_RETURNS].rows;
  double s = 0, s2 = 0, len = 0;
  for (int i = 0; i < n; i++) {
    double r, l;
    memcpy(&r, (const uint8_t *)m.a[A_RETURNS].data + 8 * i, 8);
    memcpy(&l, (const uint8_t *)m.a[A_LENGTHS].data + 8 * i, 8);
    s += r, s2 += r * r, len += l;
    runlog_episode(L->log, -1, 0, L->steps, EP_EVAL, r, (int)l, 0);
  }
  L->m.eval_return = s / n;
  L->m.eval_return_std = n > 1 ? sqrt(fmax(0, s2 / n - (s / n) * (s / n))) : 0;
  L->m.eval_length = len / n;
  L->last_eval = L->m.eval_return;
}

/* the epoch row's counters and timings, both schedules */
static void fill_row(Learner *L, double epoch_t0) {
  Metrics *m = &L->m;
  m->epoch = L->epoch;
  m->env_steps = (double)L->steps;
  m->total_env_steps = (double)L->all_steps;
  m->sac_updates = (double)L->sac->updates;
  m->alpha = exp((double)L->sac->log_alpha);
  m->env_buffer = (double)L->env_buf->size;
  m->model_buffer = L->model_buf ? (double)L->model_buf->size : 0;
  int64_t se = 0, w = 0;
  for (int a = 0; a < L->A; a++) se += L->act_sim[a], w += L->act_warn[a];
  m->sim_errors = (double)se;
  m->mj_warnings = (double)w;
  m->nan_rollbacks = (double)L->nan_rollbacks; /* cumulative */
  const double now = util_now(), dt = now - epoch_t0;
  m->updates_per_s = m->t_sac_s > 0 ? L->n_upd_epoch / m->t_sac_s : 0;
  m->steps_per_s = dt > 0 ? (m->total_env_steps - L->epoch_all_steps0) / dt : 0;
  CommStats cs = comm_stats(rt_comm(L->rt));
  m->t_comm_s = cs.t_comm + rt_codec_seconds(L->rt);
  m->wall_s = now - L->t0;
}

static void finish_epoch(Learner *L, double epoch_t0) {
  Metrics *m = &L->m;
  fill_row(L, epoch_t0);
  runlog_metrics(L->log, m);
  LOG_I("epoch %d: env steps %lld, eval return %.2f, train return %.2f, alpha %.4f, Q loss %.4g",
        L->epoch, (long long)L->steps, m->eval_return, m->train_return, m->alpha, m->sac_q_loss);
}

/* ---- the schedule ---- */

/* ---- checkpoints ---- */

enum { C_EXPLORED, C_EPOCH, C_T, C_STARTED, C_STEPS, C_ALL, C_EPISODES, C_TRAININGS, C_MV, C_K,
       C_NUPD, C_EPOCH_ALL0, C_NAN, C_LAST_CKPT, C_FINISHED, C_COUNT };
#define LEARNER_FIELDS (15 + 3 * CKPT_BUF_FIELDS + 9)

static void sac_save(const Sac *s, CkptWriter *w) {
  const int64_t np = (int64_t)s->pi_net.nparam, nq = (int64_t)s->q_net.nparam;
  uint64_t r[RNG_STATE_WORDS];
  rng_save(&s->rng, r);
  ckw_arr(w, "pi", DT_F32, s->pi, np, 1);
  ckw_arr(w, "q", DT_F32, s->q, nq, 1);
  ckw_arr(w, "q_targ", DT_F32, s->q_targ, nq, 1);
  ckw_f64(w, "log_alpha", s->log_alpha);
  ckw_arr(w, "adam_pi_m", DT_F32, s->adam_pi.m, np, 1);
  ckw_arr(w, "adam_pi_v", DT_F32, s->adam_pi.v, np, 1);
  ckw_int(w, "adam_pi_t", s->adam_pi.t);
  ckw_arr(w, "adam_q_m", DT_F32, s->adam_q.m, nq, 1);
  ckw_arr(w, "adam_q_v", DT_F32, s->adam_q.v, nq, 1);
  ckw_int(w, "adam_q_t", s->adam_q.t);
  ckw_arr(w, "adam_a_m", DT_F32, s->adam_alpha.m, 1, 1);
  ckw_arr(w, "adam_a_v", DT_F32, s->adam_alpha.v, 1, 1);
  ckw_int(w, "adam_a_t", s->adam_alpha.t);
  ckw_bytes(w, "sac_rng", r, sizeof r);
  ckw_int(w, "updates", s->updates);
}

static void sac_load(Sac *s, CkptFile *f, const char *path) {
  const int64_t np = (int64_t)s->pi_net.nparam, nq = (int64_t)s->q_net.nparam;
  double la;
  uint64_t r[RNG_STATE_WORDS];
  ckr_need_arr(f, path, "pi", DT_F32, np, 1, s->pi);
  ckr_need_arr(f, path, "q", DT_F32, nq, 1, s->q);
  ckr_need_arr(f, path, "q_targ", DT_F32, nq, 1, s->q_targ);
  ckr_need_f64(f, path, "log_alpha", &la);
  s->log_alpha = (real)la;
  ckr_need_arr(f, path, "adam_pi_m", DT_F32, np, 1, s->adam_pi.m);
  ckr_need_arr(f, path, "adam_pi_v", DT_F32, np, 1, s->adam_pi.v);
  ckr_need_int(f, path, "adam_pi_t", &s->adam_pi.t);
  ckr_need_arr(f, path, "adam_q_m", DT_F32, nq, 1, s->adam_q.m);
  ckr_need_arr(f, path, "adam_q_v", DT_F32, nq, 1, s->adam_q.v);
  ckr_need_int(f, path, "adam_q_t", &s->adam_q.t);
  ckr_need_arr(f, path, "adam_a_m", DT_F32, 1, 1, s->adam_alpha.m);
  ckr_need_arr(f, path, "adam_a_v", DT_F32, 1, 1, s->adam_alpha.v);
  ckr_need_int(f, path, "adam_a_t", &s->adam_alpha.t);
  ckr_need_arr(f, path, "sac_rng", DT_U8, sizeof r, 1, r);
  CHECK(rng_load(&s->rng, r) == 0, "%s: SAC random stream refused", path);
  ckr_need_int(f, path, "updates", &s->updates);
  CHECK(sac_finite(s), "%s: non-finite SAC parameters", path);
}

static void counters(Learner *L, int64_t *c, int save) {
  int64_t *f[C_COUNT] = {NULL};
  int64_t explored = L->explored, started = L->epoch_started, epoch = L->epoch, k = L->k,
          nupd = L->n_upd_epoch, fin = L->stop_code == -1;
  f[C_EXPLORED] = &explored, f[C_EPOCH] = &epoch, f[C_T] = &L->t, f[C_STARTED] = &started;
  f[C_STEPS] = &L->steps, f[C_ALL] = &L->all_steps, f[C_EPISODES] = &L->episodes;
  f[C_TRAININGS] = &L->trainings, f[C_MV] = &L->model_version, f[C_K] = &k, f[C_NUPD] = &nupd;
  f[C_EPOCH_ALL0] = &L->epoch_all_steps0, f[C_NAN] = &L->nan_rollbacks;
  f[C_LAST_CKPT] = &L->last_ckpt_all_steps, f[C_FINISHED] = &fin;
  for (int i = 0; i < C_COUNT; i++) {
    if (save)
      c[i] = *f[i];
    else
      *f[i] = c[i];
  }
  if (!save) {
    L->explored = (int)explored, L->epoch_started = (int)started, L->epoch = (int)epoch;
    L->k = (int)k, L->n_upd_epoch = (int)nupd;
  }
}

static void learner_save(Learner *L, CkptWriter *w) {
  sac_save(L->sac, w);
  ckpt_buf_save(w, "env", L->env_buf);
  ckpt_buf_save(w, "model", L->model_buf);
  ckpt_buf_save(w, "fwd", L->fwd);
  int64_t c[C_COUNT];
  counters(L, c, 1);
  ckw_bytes(w, "counters", c, sizeof c);
  double mv[sizeof(Metrics) / sizeof(double)];
  metrics_pack(&L->m, mv);
  ckw_arr(w, "metrics", DT_F64, mv, metrics_saved_ncols(), 1);
  int64_t *acts = xmalloc(sizeof(int64_t) * 2 * L->A);
  memcpy(acts, L->act_sim, sizeof(int64_t) * L->A);
  memcpy(acts + L->A, L->act_warn, sizeof(int64_t) * L->A);
  ckw_bytes(w, "actor_counters", acts, (int64_t)sizeof(int64_t) * 2 * L->A);
  xfree(acts);
  ckw_f64(w, "last_eval", L->last_eval);
  int64_t mo, eo, to;
  runlog_offsets(L->log, &mo, &eo, &to);
  ckw_int(w, "csv_metrics", mo);
  ckw_int(w, "csv_episodes", eo);
  ckw_int(w, "tb_events", to);
  ckw_f64(w, "elapsed", util_now() - L->t0);
  /* the async schedule's counters (checkpoints are taken with nothing in flight) */
  const Async *as = &L->as;
  int64_t a[9] = {as->granted, as->real_steps, as->since_train, as->pub_updates, as->pool_steps,
                  as->lag_n, as->dropped};
  memcpy(&a[7], &as->lag_sum, 8), memcpy(&a[8], &as->mlag_sum, 8);
  ckw_bytes(w, "async", a, sizeof a);
}

static void learner_load(Learner *L, const char *dir) {
  char path[1200], err[512];
  snprintf(path, sizeof path, "%s/learner-0.ckpt", dir);
  CkptFile *f = ckr_open(path, "learner", 0, err, sizeof err);
  CHECK(f, "%s", err);
  sac_load(L->sac, f, path);
  Buffer *b = ckpt_buf_load(f, path, "env", L->obs_dim, L->act_dim);
  CHECK(b && b->cap == L->env_buf->cap, "%s: env buffer of another capacity", path);
  buf_free(L->env_buf);
  L->env_buf = b;
  L->model_buf = ckpt_buf_load(f, path, "model", L->obs_dim, L->act_dim);
  b = ckpt_buf_load(f, path, "fwd", L->obs_dim, L->act_dim);
  if (b) {
    buf_free(L->fwd);
    L->fwd = b;
  }
  int64_t c[C_COUNT];
  ckr_need_arr(f, path, "counters", DT_U8, sizeof c, 1, c);
  counters(L, c, 0);
  L->stop_code = 0;
  L->finished = c[C_FINISHED] != 0;
  int64_t mr = 0, mc = 0;
  CHECK(ckr_arr_shape(f, "metrics", DT_F64, &mr, &mc) == 0 && mc == 1 && mr > 0 && mr < 512,
        "%s: no metrics row", path);
  double mv[512];
  ckr_need_arr(f, path, "metrics", DT_F64, mr, 1, mv);
  if (mr == metrics_ncols()) {
    memcpy(&L->m, mv, sizeof L->m);
  } else { /* written by a usbpo with another layout: by name, as metrics.csv was rewritten */
    int map[sizeof(Metrics) / sizeof(double)];
    CHECK(metrics_old_map(L->run_dir, (int)mr, map, err, sizeof err) == 0,
          "%s: its metrics have %lld columns, this version %d, and the old names are unknown: %s",
          path, (long long)mr, metrics_ncols(), err);
    double *m = (double *)&L->m;
    for (int i = 0; i < metrics_ncols(); i++) m[i] = map[i] >= 0 ? mv[map[i]] : NAN; /* unknown */
  }
  int64_t *acts = xmalloc(sizeof(int64_t) * 2 * L->A);
  ckr_need_arr(f, path, "actor_counters", DT_U8, (int64_t)sizeof(int64_t) * 2 * L->A, 1, acts);
  memcpy(L->act_sim, acts, sizeof(int64_t) * L->A);
  memcpy(L->act_warn, acts + L->A, sizeof(int64_t) * L->A);
  xfree(acts);
  ckr_need_f64(f, path, "last_eval", &L->last_eval);
  double elapsed;
  ckr_need_f64(f, path, "elapsed", &elapsed);
  L->t0 = util_now() - elapsed;
  int64_t a[9];
  ckr_need_arr(f, path, "async", DT_U8, sizeof a, 1, a);
  Async *as = &L->as;
  as->granted = a[0], as->real_steps = a[1], as->since_train = a[2], as->pub_updates = a[3];
  as->pool_steps = a[4], as->lag_n = a[5], as->dropped = a[6];
  memcpy(&as->lag_sum, &a[7], 8), memcpy(&as->mlag_sum, &a[8], 8);
  ckr_close(f);
  sac_snap_take(L->snap, L->sac);
  LOG_I("resumed from %s: epoch %d, %lld env steps, %lld SAC updates", dir, L->epoch,
        (long long)L->steps, (long long)L->sac->updates);
}

static void ask_checkpoint(Runtime *rt, int role, int idx, int64_t id) {
  Enc *e = rt_begin(rt, MSG_CHECKPOINT, role, idx, 2);
  enc_int(e, K_STEPNO, id);
  enc_int(e, K_MODE, 0);
  rt_send(rt);
}

/* every role writes its file for this step; the MANIFEST goes last */
static void checkpoint(Learner *L, const char *why) {
  const Config *c = L->cfg;
  Runtime *rt = L->rt;
  const int64_t id = L->all_steps;
  char dir[1200], err[512];
  ckpt_dir(L->run_dir, id, dir, sizeof dir);
  const double t0 = util_now();
  if (util_mkdirs(dir) != 0) {
    LOG_E("checkpoint: cannot create %s", dir);
    return;
  }
  const int model = c->run.algo != ALGO_SAC;
  int expect = L->A + (model ? 1 + L->R : 0);
  for (int a = 0; a < L->A; a++) ask_checkpoint(rt, ROLE_ACTOR, a, id);
  if (model) {
    ask_checkpoint(rt, ROLE_MODELSVC, 0, id);
    for (int r = 0; r < L->R; r++) ask_checkpoint(rt, ROLE_ROLLOUT, r, id);
  }
  /* the NaN guard's state is part of the point: both runs hold the same one from here */
  sac_snap_take(L->snap, L->sac);
  char (*names)[64] = xmalloc(64 * (size_t)(expect + 1));
  int64_t *bytes = xmalloc(sizeof(int64_t) * (expect + 1));
  uint64_t *sums = xmalloc(sizeof(uint64_t) * (expect + 1));
  int ok = 1;
  roles_ckpt_name(ROLE_LEARNER, 0, names[0], 64);
  runlog_flush(L->log);
  /* saved as the newest checkpoint: a run resumed from it does not write it again at once */
  const int64_t prev_ckpt = L->last_ckpt_all_steps;
  L->last_ckpt_all_steps = id;
  CkptWriter *w = ckw_open(dir, names[0], "learner", 0, id, LEARNER_FIELDS, err, sizeof err);
  if (w) {
    learner_save(L, w);
    ok = ckw_close(w, &bytes[0], &sums[0], err, sizeof err) == 0;
  } else {
    ok = 0;
  }
  if (!ok) LOG_E("checkpoint: %s", err);
  for (int i = 1; i <= expect; i++) {
    Msg m;
    rt_wait(rt, MSG_CHECKPOINT_DONE, -1, &m);
    CHECK(m.i[K_STEPNO] == id, "checkpoint_done for step %lld, expected %lld",
          (long long)m.i[K_STEPNO], (long long)id);
    ok &= m.i[K_CODE] == 0;
    roles_ckpt_name((int)m.i[K_KIND], (int)m.i[K_FROM], names[i], 64);
    bytes[i] = m.i[K_BYTES];
    sums[i] = (uint64_t)m.i[K_SUM];
  }
  if (ok) {
    const Placement *p = rt_placement(rt);
    CkptMeta meta = {.config_hash = L->cfg_hash, .epoch = L->epoch, .np = p->np, .actors = p->A,
                     .rollout_workers = p->R, .shards = p->S};
    ok = ckpt_write_manifest(dir, id, &meta, expect + 1, names, bytes, sums, err, sizeof err) == 0;
  }
  if (ok) {
    ckpt_prune(L->run_dir, (int)c->checkpoint.keep);
    L->last_ckpt_time = util_now();
    L->last_ckpt_seconds = L->last_ckpt_time - t0;
    int64_t total = 0;
    for (int i = 0; i <= expect; i++) total += bytes[i];
    char b[32];
    LOG_I("checkpoint %s (%s): %d files, %s in %.2f s", dir, why, expect + 2,
          util_fmt_bytes((double)total, b), L->last_ckpt_seconds);
  } else {
    L->last_ckpt_all_steps = prev_ckpt;
    LOG_E("checkpoint %s failed: the previous checkpoint stays the newest", dir);
  }
  xfree(names), xfree(bytes), xfree(sums);
}

static int ckpt_due(const Learner *L) {
  const Config *c = L->cfg;
  return (c->checkpoint.every_steps > 0 &&
          L->all_steps - L->last_ckpt_all_steps >= c->checkpoint.every_steps) ||
         (c->checkpoint.every_minutes > 0 &&
          util_now() - L->last_ckpt_time >= c->checkpoint.every_minutes * 60);
}

/* before each tick: the cadence, and the signals (handlers only set flags) */
static int safe_point(Learner *L) {
  const Config *c = L->cfg;
  if (g_sig_usr1) {
    LOG_I("SIGUSR1: checkpoint, then exit %d for a requeue", EXIT_REQUEUE);
    checkpoint(L, "SIGUSR1");
    L->stop_code = EXIT_REQUEUE;
    return 1;
  }
  if (g_sig_term || g_sig_int) {
    /* checkpoint only if it fits the grace time (the last one's duration, or a guess) */
    double guess = L->last_ckpt_seconds > 0
                       ? L->last_ckpt_seconds
                       : (double)(L->env_buf->size + (L->model_buf ? L->model_buf->size : 0)) *
                             (2 * L->obs_dim + L->act_dim + 2) * 4.0 / 2e8;
    if (guess <= c->checkpoint.grace_s) {
      LOG_I("%s: checkpoint (about %.1f s, grace %g s), then exit %d", g_sig_term ? "SIGTERM" : "SIGINT",
            guess, c->checkpoint.grace_s, EXIT_REQUEUE);
      checkpoint(L, g_sig_term ? "SIGTERM" : "SIGINT");
      L->stop_code = EXIT_REQUEUE;
    } else {
      LOG_W("%s: a checkpoint would take about %.1f s, more than checkpoint.grace_s = %g: "
            "exiting without one", g_sig_term ? "SIGTERM" : "SIGINT", guess, c->checkpoint.grace_s);
      L->stop_code = EXIT_FATAL;
    }
    return 1;
  }
  if (ckpt_due(L)) checkpoint(L, "cadence");
  return 0;
}

/* resumed from the checkpoint written at the end of the run (and not extended) */
static int already_complete(const Learner *L) {
  if (!L->finished || L->steps < L->cfg->run.total_steps) return 0;
  LOG_I("the run is already complete (%lld env steps): nothing to do", (long long)L->steps);
  return 1;
}

static void sync_run(Learner *L) {
  const Config *c = L->cfg;
  const int64_t Lh = c->env.epoch_length, F = c->model.train_freq, G = c->sac.updates_per_step;
  const int A = L->A;
  if (already_complete(L)) return;
  /* initial exploration: uniform actions until N_init transitions are in (episode ends only) */
  while (!L->explored) {
    if (safe_point(L)) return;
    if (L->env_buf->size >= c->env.init_steps) {
      L->explored = 1;
      LOG_I("initial exploration: %lld env steps, %lld transitions in the env buffer",
            (long long)L->all_steps, (long long)L->env_buf->size);
      break;
    }
    act_all(L, 1);
  }
  double epoch_t0 = util_now();
  for (;;) {
    if (!L->epoch_started) {
      reset_metrics(L);
      L->epoch_all_steps0 = L->all_steps;
      L->t = 0;
      L->steps = L->epoch * Lh;
      L->epoch_started = 1;
      epoch_t0 = util_now();
    }
    rt_set_step(L->rt, L->steps);
    int done = 0;
    for (;;) {
      if (safe_point(L)) return;
      if (L->t >= Lh && L->env_buf->size >= c->env.min_pool_size) break;
      if (L->steps >= c->run.total_steps) {
        done = 1;
        break;
      }
      /* a multiple of F within this tick's A steps */
      if (c->run.algo != ALGO_SAC && (L->t % F) < A) model_round(L);
      act_all(L, 0);
      if (L->env_buf->size >= c->env.min_pool_size) sac_updates(L, (int)(G * A));
      L->t += A;
      L->steps = L->epoch * Lh + L->t;
      rt_set_step(L->rt, L->steps);
      runlog_progress(L->log, L->steps, c->run.total_steps, L->last_eval,
                      L->m.t_sac_s > 0 ? L->n_upd_epoch / L->m.t_sac_s : 0, 0);
    }
    evaluate(L);
    finish_epoch(L, epoch_t0);
    L->epoch_started = 0;
    L->epoch++;
    if (L->steps >= c->run.total_steps) done = 1;
    if (isfinite(c->run.target_return) && L->last_eval >= c->run.target_return) {
      LOG_I("evaluation return %.2f reached run.target_return %.2f: stopping", L->last_eval,
            c->run.target_return);
      done = 1;
    }
    if (done) break;
  }
  runlog_progress(L->log, L->steps, c->run.total_steps, L->last_eval, 0, 1);
  /* the final state, for --eval and for extending the run (run.total_steps) */
  L->stop_code = -1; /* recorded as finished */
  if (L->last_ckpt_all_steps != L->all_steps || L->all_steps == 0) checkpoint(L, "end of run");
  L->stop_code = 0;
}

/* ---- async ----
 * Actors step on granted credit while the learner updates; the model service trains every F
 * real steps and rollouts stream in while SAC goes on. The learner keeps its updates per real
 * step (once the env buffer holds min_pool_size) within G (1 +- runtime.spi_tolerance), waiting
 * for data when ahead and withholding actor credit when behind, and drops model rows made with
 * a policy more than runtime.max_policy_lag publications old (one publication per G updates) or
 * a model more than runtime.max_model_lag versions old. Not reproducible by design. */


static void async_send_train(Learner *L, Async *as) {
  /* the same request as in sync mode, without waiting for its answer */
  const Config *c = L->cfg;
  Runtime *rt = L->rt;
  const int64_t training = L->trainings++;
  Buffer *f = L->fwd;
  Enc *e = rt_begin(rt, MSG_TRANSITIONS, ROLE_MODELSVC, 0, 9);
  enc_int(e, K_KIND, 0);
  enc_int(e, K_COUNT, f->size);
  enc_int(e, K_POLICY_VERSION, policy_version(L));
  enc_int(e, K_FROM, 0);
  enc_arr(e, A_OBS, DT_F32, f->obs, f->size, L->obs_dim);
  enc_arr(e, A_ACT, DT_F32, f->act, f->size, L->act_dim);
  enc_arr(e, A_REW, DT_F32, f->rew, f->size, 0);
  enc_arr(e, A_NEXT, DT_F32, f->next, f->size, L->obs_dim);
  enc_arr(e, A_DONE, DT_U8, f->done, f->size, 0);
  rt_send(rt);
  buf_clear(f);
  int p2 = c->run.algo == ALGO_USBPO && c->finetune.mode != FT_OFF && training > 0 &&
           L->model_buf && L->model_buf->size > 0;
  if (p2) {
    Rng r = rng_make((uint32_t)c->run.seed, RNG_FINETUNE, (uint64_t)training);
    ft_sample_batches(L->model_buf, &r, (int)c->finetune.max_steps, (int)c->finetune.batch_size,
                      L->ft_batches);
  }
  e = rt_begin(rt, MSG_TRAIN_REQUEST, ROLE_MODELSVC, 0, 2 + p2);
  enc_int(e, K_EPOCH, L->epoch);
  enc_int(e, K_TRAINING, training);
  if (p2) enc_arr(e, A_STATE, DT_F32, L->ft_batches, L->ft_rows, L->in_dim);
  rt_send(rt);
  as->training = 1;
  as->since_train = 0;
}

static void async_on_train_done(Learner *L, Async *as, const Msg *m) {
  L->m.t_model_s += on_train_done(L, m);
  publish_policy(L, GROUP_ROLLOUT_POLICY, &L->pv_rollout);
  for (int w = 0; w < L->R; w++) {
    Enc *e = rt_begin(L->rt, MSG_ROLLOUT_REQUEST, ROLE_ROLLOUT, w, 5);
    enc_int(e, K_TRAINING, m->i[K_TRAINING]);
    enc_int(e, K_STEPNO, 0);
    enc_int(e, K_K, L->k);
    enc_int(e, K_POLICY_VERSION, L->pv_rollout);
    enc_int(e, K_MODEL_VERSION, L->model_version);
    rt_send(L->rt);
  }
  as->training = 0;
  as->rolling = L->R;
  as->rolling_training = m->i[K_TRAINING];
  L->m.rollout_length = L->k;
}

static void async_write_row(Learner *L, Async *as, const Msg *m) {
  Metrics *x = &as->snap;
  int n = (int)m->a[A_RETURNS].rows;
  double s = 0, s2 = 0, len = 0;
  for (int i = 0; i < n; i++) {
    double r, l;
    memcpy(&r, (const uint8_t *)m->a[A_RETURNS].data + 8 * i, 8);
    memcpy(&l, (const uint8_t *)m->a[A_LENGTHS].data + 8 * i, 8);
    s += r, s2 += r * r, len += l;
    runlog_episode(L->log, -1, 0, (int64_t)x->env_steps, EP_EVAL, r, (int)l, 0);
  }
  x->eval_return = s / n;
  x->eval_return_std = n > 1 ? sqrt(fmax(0, s2 / n - (s / n) * (s / n))) : 0;
  x->eval_length = len / n;
  L->last_eval = x->eval_return;
  runlog_metrics(L->log, x);
  LOG_I("epoch %d: env steps %lld, eval return %.2f, %.2f updates per real step, policy lag %.2f, "
        "%lld model rows dropped",
        (int)x->epoch, (long long)x->env_steps, x->eval_return, x->updates_per_real_step,
        x->policy_lag, (long long)x->dropped_model_rows);
  as->pending_eval = -1;
}

/* an epoch's row: snapshot the accumulators, ask actor 0 to evaluate the current policy */
static void async_end_epoch(Learner *L, Async *as) {
  Metrics *m = &L->m;
  fill_row(L, as->epoch_t0);
  m->policy_lag = as->lag_n ? as->lag_sum / as->lag_n : 0;
  m->model_lag = as->lag_n ? as->mlag_sum / as->lag_n : 0;
  m->dropped_model_rows = (double)as->dropped;
  as->snap = *m;
  as->pending_eval = L->epoch;
  publish_policy(L, GROUP_ACTORS, &L->pv_actors);
  Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, 0, 4);
  enc_int(e, K_MODE, 2);
  enc_int(e, K_EPOCH, L->epoch);
  enc_int(e, K_POLICY_VERSION, policy_version(L));
  enc_int(e, K_EPISODES, L->cfg->run.eval_episodes);
  rt_send(L->rt);
  L->epoch++;
  reset_metrics(L);
  L->epoch_all_steps0 = L->all_steps;
  as->epoch_t0 = util_now();
  as->lag_sum = as->mlag_sum = 0;
  as->lag_n = as->dropped = 0;
}

static void async_on_message(Learner *L, Async *as, const Msg *m) {
  const Config *c = L->cfg;
  switch (m->type) {
  case MSG_TRANSITIONS:
    if (m->i[K_KIND] == 0) {
      int a = (int)m->i[K_FROM];
      push_msg(L->env_buf, m);
      if (c->run.algo != ALGO_SAC) {
        if (L->fwd->size + m->i[K_COUNT] > L->fwd->cap)
          L->fwd = buf_resize(L->fwd, 2 * (L->fwd->cap + m->i[K_COUNT]));
        push_msg(L->fwd, m);
      }
      if (msg_has_a(m, A_METRICS)) {
        double cn[2];
        memcpy(cn, m->a[A_METRICS].data, sizeof cn);
        L->act_sim[a] = (int64_t)cn[0], L->act_warn[a] = (int64_t)cn[1];
      }
      if (msg_has_a(m, A_EPSTATS)) {
        double ep[3];
        memcpy(ep, m->a[A_EPSTATS].data, sizeof ep);
        runlog_episode(L->log, L->episodes++, a, L->steps, EP_TRAIN, ep[0], (int)ep[1], (int)ep[2]);
        double n = L->m.train_episodes;
        L->m.train_return = n == 0 ? ep[0] : (L->m.train_return * n + ep[0]) / (n + 1);
        L->m.train_episodes = n + 1;
      }
      L->all_steps++;
      L->steps++;
      as->real_steps++;
      as->since_train++;
      rt_set_step(L->rt, L->steps);
    } else {
      /* model rows: keep only fresh ones */
      double G = (double)c->sac.updates_per_step;
      double plag = (double)(policy_version(L) - m->i[K_POLICY_VERSION]) / G;
      int64_t mlag = L->model_version - m->i[K_MODEL_VERSION];
      if (plag > c->runtime.max_policy_lag || mlag > c->runtime.max_model_lag) {
        as->dropped += m->i[K_COUNT];
      } else {
        push_msg(L->model_buf, m);
        as->lag_sum += plag, as->mlag_sum += (double)mlag, as->lag_n++;
      }
    }
    break;
  case MSG_ROLLOUT_DONE: {
    double met[2];
    memcpy(met, m->a[A_METRICS].data, sizeof met);
    L->m.rollout_rows += met[0];
    L->m.rollout_nonfinite += met[1];
    /* a worker is finished with its request at its last step or when its shards died out */
    if (m->i[K_STEPNO] == L->k - 1 || m->i[K_ALIVE] == 0) as->rolling--;
    break;
  }
  case MSG_TRAIN_DONE: async_on_train_done(L, as, m); break;
  case MSG_EVAL_RESULT: async_write_row(L, as, m); break;
  default:
    LOG_E("learner: unexpected message '%s' from rank %d", msg_type_name(m->type), m->src);
    comm_abort(rt_comm(L->rt), EXIT_FATAL);
  }
}

/* an epoch ends once its steps are in and the previous row's evaluation is back */
static void async_epoch_check(Learner *L, Async *as) {
  const Config *c = L->cfg;
  if (L->steps >= (L->epoch + 1) * c->env.epoch_length && as->pending_eval < 0 &&
      L->steps <= c->run.total_steps)
    async_end_epoch(L, as);
}

/* before a checkpoint: no new credit, training or rollout; what is in flight lands (granted
 * actor steps, a training and its rollouts, an evaluation). Then every role is between
 * requests, so each one's state is a consistent cut. */
static void async_quiesce(Learner *L, Async *as) {
  Msg m;
  const double t0 = util_now();
  while (as->granted > as->real_steps || as->training || as->rolling > 0 || as->pending_eval >= 0) {
    if (!rt_poll(L->rt, &m)) {
      /* roles on this rank work when the learner idles */
      if (!rt_run_idle(L->rt)) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
      }
      continue;
    }
    const int64_t before = L->steps;
    async_on_message(L, as, &m);
    if (L->steps > before && L->env_buf->size >= L->cfg->env.min_pool_size) as->pool_steps++;
    async_epoch_check(L, as);
  }
  LOG_I("async: drained in %.2f s for a checkpoint", util_now() - t0);
}

static void async_run(Learner *L) {
  const Config *c = L->cfg;
  const int64_t F = c->model.train_freq, G = c->sac.updates_per_step;
  const double tol = c->runtime.spi_tolerance;
  const int chunk = 4; /* actor steps granted at a time */
  Async *as = &L->as;
  if (already_complete(L)) return;
  while (!L->explored) {
    if (safe_point(L)) return;
    if (L->env_buf->size >= c->env.init_steps) {
      LOG_I("initial exploration: %lld env steps; async from here", (long long)L->all_steps);
      L->explored = 1;
      memset(as, 0, sizeof *as);
      L->epoch = 0;
      L->steps = 0;
      reset_metrics(L);
      L->epoch_all_steps0 = L->all_steps;
      /* the first model and rollouts before any update, as in the official order */
      if (c->run.algo != ALGO_SAC) model_round(L);
      break;
    }
    act_all(L, 1);
  }
  as->pending_eval = -1;
  as->training = as->rolling = 0;
  as->epoch_t0 = util_now();
  Msg m;
  while (L->steps < c->run.total_steps || as->pending_eval >= 0) {
    if (g_sig_usr1 || g_sig_term || g_sig_int || ckpt_due(L)) {
      async_quiesce(L, as);
      if (safe_point(L)) return;
    }
    int busy = 0;
    while (rt_poll(L->rt, &m)) {
      int64_t before = L->steps;
      async_on_message(L, as, &m);
      if (L->steps > before && L->env_buf->size >= c->env.min_pool_size) as->pool_steps++;
      busy = 1;
      if (L->steps > before && L->steps >= (L->epoch + 1) * c->env.epoch_length &&
          as->pending_eval < 0)
        break;
    }
    async_epoch_check(L, as);
    if (L->steps >= c->run.total_steps) {
      if (as->pending_eval >= 0 && !busy) rt_run_idle(L->rt);
      continue;
    }
    /* model training every F real steps, one at a time, not over a rollout */
    if (c->run.algo != ALGO_SAC && as->since_train >= F && !as->training && as->rolling == 0)
      async_send_train(L, as);
    /* SAC within the samples-per-insert window */
    double target = (double)G * (double)as->pool_steps;
    int64_t u = L->sac->updates;
    if (L->env_buf->size >= c->env.min_pool_size && (double)u < target * (1 + tol) + G) {
      int n = (int)fmin((double)G, target * (1 + tol) + G - (double)u);
      if (n > 0) {
        sac_updates(L, n);
        busy = 1;
      }
    }
    if (L->sac->updates - as->pub_updates >= G) {
      publish_policy(L, GROUP_ACTORS, &L->pv_actors);
      as->pub_updates = L->sac->updates;
    }
    /* actor credit: only while the updates keep up (not below the window) */
    int64_t outstanding = as->granted - as->real_steps;
    int behind = L->env_buf->size >= c->env.min_pool_size &&
                 (double)L->sac->updates < target * (1 - tol) - G;
    if (!behind && outstanding < (int64_t)chunk * L->A &&
        as->granted < c->run.total_steps + (int64_t)chunk * L->A) {
      publish_policy(L, GROUP_ACTORS, &L->pv_actors);
      for (int a = 0; a < L->A; a++) {
        Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, a, 4);
        enc_int(e, K_MODE, 3);
        enc_int(e, K_EPOCH, L->epoch);
        enc_int(e, K_POLICY_VERSION, policy_version(L));
        enc_int(e, K_COUNT, chunk);
        rt_send(L->rt);
      }
      as->granted += (int64_t)chunk * L->A;
      busy = 1;
    }
    L->m.updates_per_real_step = as->pool_steps > 0 ? (double)L->sac->updates / as->pool_steps : 0;
    if (!busy && !rt_run_idle(L->rt)) {
      struct timespec ts = {0, 200000};
      nanosleep(&ts, NULL);
    }
  }
  /* let in-flight work land (steps granted beyond the end go into the buffer, uncounted by the
   * finished rows); the final state is checkpointed as in sync mode */
  async_quiesce(L, as);
  runlog_progress(L->log, L->steps, c->run.total_steps, L->last_eval, 0, 1);
  L->stop_code = -1;
  checkpoint(L, "end of run");
  L->stop_code = 0;
}

int learner_run(const Config *cfg, Runtime *rt, RunLog *log, const char *resume) {
  Learner *L = xmalloc(sizeof *L);
  L->cfg = cfg;
  L->rt = rt;
  L->log = log;
  const EnvInfo *info = env_info(cfg->env.name);
  L->obs_dim = info->obs_dim;
  L->act_dim = info->act_dim;
  L->in_dim = info->obs_dim + info->act_dim;
  L->sc = sac_config(cfg, L->obs_dim, L->act_dim);
  L->sac = sac_make(&L->sc, (uint32_t)cfg->run.seed);
  L->env_buf = buf_make(L->obs_dim, L->act_dim, cfg->sac.buffer_size);
  L->A = rt_placement(rt)->A;
  L->R = rt_placement(rt)->R;
  L->act_sim = xmalloc(sizeof(int64_t) * L->A);
  L->act_warn = xmalloc(sizeof(int64_t) * L->A);
  L->pv_actors = L->pv_rollout = -1;
  if (cfg->run.algo != ALGO_SAC) {
    L->fwd = buf_make(L->obs_dim, L->act_dim,
                      (cfg->model.train_freq + cfg->env.max_episode_steps) * L->A +
                          cfg->env.init_steps + cfg->env.max_episode_steps * L->A);
    L->ft_rows = cfg->finetune.max_steps * cfg->finetune.batch_size;
    if (cfg->run.algo == ALGO_USBPO && cfg->finetune.mode != FT_OFF)
      L->ft_batches = xmalloc(sizeof(float) * L->ft_rows * L->in_dim);
  }
  L->last_eval = NAN;
  L->t0 = util_now();
  L->snap = sac_snap_make(L->sac);
  L->inject_nan_at = -1;
  const char *inj = getenv("USBPO_TEST_INJECT_SAC_NAN"); /* test hook: an update that diverges */
  if (inj) L->inject_nan_at = atoll(inj);
  roles_run_dir(cfg, L->run_dir, sizeof L->run_dir);
  L->cfg_hash = cfg_hash(cfg);
  L->last_ckpt_time = util_now();
  if (!L->fwd) L->fwd = buf_make(L->obs_dim, L->act_dim, 1);
  if (resume) learner_load(L, resume);
  if (cfg->run.mode == MODE_ASYNC)
    async_run(L);
  else
    sync_run(L);
  int code = L->stop_code;
  /* the final policy: one float32 block (the layout of sac_policy_net) */
  if (runlog_write_file(log, "policy_final.bin", L->sac->pi, sizeof(real) * L->sac->pi_net.nparam))
    LOG_W("could not write policy_final.bin");
  /* every other rank stops serving */
  for (int r = 1; r < comm_size(rt_comm(rt)); r++) {
    Enc *e = rt_begin(rt, MSG_SHUTDOWN, ROLE_ANY, r, 1);
    enc_int(e, K_CODE, 0);
    rt_send(rt);
  }
  sac_free(L->sac);
  sac_snap_free(L->snap);
  buf_free(L->env_buf);
  buf_free(L->model_buf);
  buf_free(L->fwd);
  xfree(L->ft_batches), xfree(L->act_sim), xfree(L->act_warn);
  xfree(L);
  return code > 0 ? code : EXIT_OK;
}
