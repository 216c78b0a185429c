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
#include <string.h>
#include <time.h>

#include "buffer.h"
#include "envs/env.h"
#include "finetune.h"
#include "modelsvc.h"
#include "roles.h"
#include "sac.h"
#include "util.h"

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
    sac_update(L->sac);
    const SacStats *s = &L->sac->last;
    double w = 1.0 / (L->n_upd_epoch + 1);
    L->m.sac_q_loss += (s->q_loss - L->m.sac_q_loss) * w;
    L->m.sac_pi_loss += (s->pi_loss - L->m.sac_pi_loss) * w;
    L->m.alpha_loss += (s->alpha_loss - L->m.alpha_loss) * w;
    L->m.entropy += (s->entropy - L->m.entropy) * w;
    L->m.q_mean += (s->q_mean - L->m.q_mean) * w;
    L->n_upd_epoch++;
    util_tick();
  }
  L->m.t_sac_s += util_now() - t0;
}

/* ---- model training and rollouts ---- */

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
  double tm[TM_COUNT];
  memcpy(tm, m.a[A_METRICS].data, sizeof tm);
  L->model_version = m.i[K_MODEL_VERSION];
  L->k = (int)m.i[K_K];
  Metrics *x = &L->m;
  x->model_trainings = tm[TM_TRAININGS];
  x->model_epochs = tm[TM_EPOCHS];
  x->model_holdout_mse = tm[TM_HOLDOUT_MSE];
  x->model_holdout_mse_elites = tm[TM_HOLDOUT_MSE_ELITES];
  if (!isnan(tm[TM_FT_J_BEFORE])) {
    x->ft_j_before = tm[TM_FT_J_BEFORE], x->ft_j_after = tm[TM_FT_J_AFTER];
    x->ft_shift = tm[TM_FT_SHIFT], x->ft_bias = tm[TM_FT_BIAS];
    x->ft_steps = tm[TM_FT_STEPS], x->ft_kept_step = tm[TM_FT_KEPT];
    x->ft_pulled_back = tm[TM_FT_PULLED_BACK];
  }
  const double t1 = util_now();
  /* the model buffer for this rollout length (spec §3.6) */
  int64_t cap = modelsvc_buffer_capacity(c, L->k);
  L->model_buf = L->model_buf ? buf_resize(L->model_buf, cap) : buf_make(L->obs_dim, L->act_dim, cap);
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

static void finish_epoch(Learner *L, double epoch_t0) {
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
  const double now = util_now(), dt = now - epoch_t0;
  m->updates_per_s = m->t_sac_s > 0 ? L->n_upd_epoch / m->t_sac_s : 0;
  m->steps_per_s = dt > 0 ? (m->total_env_steps - L->epoch_all_steps0) / dt : 0;
  CommStats cs = comm_stats(rt_comm(L->rt));
  m->t_comm_s = cs.t_comm + rt_codec_seconds(L->rt);
  m->wall_s = now - L->t0;
  runlog_metrics(L->log, m);
  LOG_I("epoch %d: env steps %lld, eval return %.2f, train return %.2f, alpha %.4f, Q loss %.4g",
        L->epoch, (long long)L->steps, m->eval_return, m->train_return, m->alpha, m->sac_q_loss);
}

/* ---- the schedule ---- */

static void sync_run(Learner *L) {
  const Config *c = L->cfg;
  const int64_t Lh = c->env.epoch_length, F = c->model.train_freq, G = c->sac.updates_per_step;
  const int A = L->A;
  /* initial exploration: uniform actions until N_init transitions are in (episode ends only) */
  while (L->env_buf->size < c->env.init_steps) act_all(L, 1);
  LOG_I("initial exploration: %lld env steps, %lld transitions in the env buffer",
        (long long)L->all_steps, (long long)L->env_buf->size);
  int done = 0;
  for (L->epoch = 0; !done; L->epoch++) {
    const double epoch_t0 = util_now();
    reset_metrics(L);
    L->epoch_all_steps0 = L->all_steps;
    int64_t t = 0;
    L->steps = L->epoch * Lh;
    rt_set_step(L->rt, L->steps);
    for (;;) {
      if (t >= Lh && L->env_buf->size >= c->env.min_pool_size) break;
      if (L->steps >= c->run.total_steps) {
        done = 1;
        break;
      }
      /* a multiple of F within this tick's A steps */
      if (c->run.algo != ALGO_SAC && (t % F) < A) model_round(L);
      act_all(L, 0);
      if (L->env_buf->size >= c->env.min_pool_size) sac_updates(L, (int)(G * A));
      t += A;
      L->steps = L->epoch * Lh + t;
      rt_set_step(L->rt, L->steps);
      runlog_progress(L->log, L->steps, c->run.total_steps, L->last_eval,
                      L->m.t_sac_s > 0 ? L->n_upd_epoch / L->m.t_sac_s : 0, 0);
    }
    evaluate(L);
    finish_epoch(L, epoch_t0);
    if (L->steps >= c->run.total_steps) done = 1;
    if (isfinite(c->run.target_return) && L->last_eval >= c->run.target_return) {
      LOG_I("evaluation return %.2f reached run.target_return %.2f: stopping", L->last_eval,
            c->run.target_return);
      done = 1;
    }
  }
  runlog_progress(L->log, L->steps, c->run.total_steps, L->last_eval, 0, 1);
}

/* ---- async ----
 * Actors step on granted credit while the learner updates; the model service trains every F
 * real steps and rollouts stream in while SAC goes on. The learner keeps its updates per real
 * step (once the env buffer holds min_pool_size) within G (1 +- runtime.spi_tolerance), waiting
 * for data when ahead and withholding actor credit when behind, and drops model rows made with
 * a policy more than runtime.max_policy_lag publications old (one publication per G updates) or
 * a model more than runtime.max_model_lag versions old. Not reproducible by design. */

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
  double epoch_t0;
} Async;

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
  double tm[TM_COUNT];
  memcpy(tm, m->a[A_METRICS].data, sizeof tm);
  L->model_version = m->i[K_MODEL_VERSION];
  L->k = (int)m->i[K_K];
  Metrics *x = &L->m;
  x->model_trainings = tm[TM_TRAININGS], x->model_epochs = tm[TM_EPOCHS];
  x->model_holdout_mse = tm[TM_HOLDOUT_MSE], x->model_holdout_mse_elites = tm[TM_HOLDOUT_MSE_ELITES];
  if (!isnan(tm[TM_FT_J_BEFORE])) {
    x->ft_j_before = tm[TM_FT_J_BEFORE], x->ft_j_after = tm[TM_FT_J_AFTER];
    x->ft_shift = tm[TM_FT_SHIFT], x->ft_bias = tm[TM_FT_BIAS];
    x->ft_steps = tm[TM_FT_STEPS], x->ft_kept_step = tm[TM_FT_KEPT];
    x->ft_pulled_back = tm[TM_FT_PULLED_BACK];
  }
  x->t_model_s += tm[TM_SECONDS];
  int64_t cap = modelsvc_buffer_capacity(L->cfg, L->k);
  L->model_buf = L->model_buf ? buf_resize(L->model_buf, cap) : buf_make(L->obs_dim, L->act_dim, cap);
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
  x->rollout_length = L->k;
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
  m->epoch = L->epoch;
  m->env_steps = (double)L->steps;
  m->total_env_steps = (double)L->all_steps;
  m->sac_updates = (double)L->sac->updates;
  m->alpha = exp((double)L->sac->log_alpha);
  m->env_buffer = (double)L->env_buf->size;
  m->model_buffer = L->model_buf ? (double)L->model_buf->size : 0;
  m->policy_lag = as->lag_n ? as->lag_sum / as->lag_n : 0;
  m->model_lag = as->lag_n ? as->mlag_sum / as->lag_n : 0;
  m->dropped_model_rows = (double)as->dropped;
  int64_t se = 0, w = 0;
  for (int a = 0; a < L->A; a++) se += L->act_sim[a], w += L->act_warn[a];
  m->sim_errors = (double)se, m->mj_warnings = (double)w;
  double over = (double)L->steps - (L->epoch * L->cfg->env.epoch_length);
  (void)over;
  const double now = util_now(), dt = now - as->epoch_t0;
  m->updates_per_s = m->t_sac_s > 0 ? L->n_upd_epoch / m->t_sac_s : 0;
  m->steps_per_s = dt > 0 ? (m->total_env_steps - L->epoch_all_steps0) / dt : 0;
  CommStats cs = comm_stats(rt_comm(L->rt));
  m->t_comm_s = cs.t_comm + rt_codec_seconds(L->rt);
  m->wall_s = now - L->t0;
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
  as->epoch_t0 = now;
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

static void async_run(Learner *L) {
  const Config *c = L->cfg;
  const int64_t Lh = c->env.epoch_length, F = c->model.train_freq, G = c->sac.updates_per_step;
  const double tol = c->runtime.spi_tolerance;
  const int chunk = 4; /* actor steps granted at a time */
  while (L->env_buf->size < c->env.init_steps) act_all(L, 1);
  LOG_I("initial exploration: %lld env steps; async from here", (long long)L->all_steps);
  Async as;
  memset(&as, 0, sizeof as);
  as.pending_eval = -1;
  as.epoch_t0 = util_now();
  L->epoch = 0;
  L->steps = 0;
  reset_metrics(L);
  L->epoch_all_steps0 = L->all_steps;
  /* the first model and rollouts before any update, as in the official order */
  if (c->run.algo != ALGO_SAC) model_round(L);
  int64_t pool_steps = 0; /* real steps since the env buffer held min_pool_size */
  Msg m;
  while (L->steps < c->run.total_steps || as.pending_eval >= 0) {
    int busy = 0;
    while (rt_poll(L->rt, &m)) {
      int64_t before = L->steps;
      async_on_message(L, &as, &m);
      if (L->steps > before && L->env_buf->size >= c->env.min_pool_size) pool_steps++;
      busy = 1;
      if (L->steps > before && L->steps >= (L->epoch + 1) * Lh && as.pending_eval < 0) break;
    }
    if (L->steps >= (L->epoch + 1) * Lh && as.pending_eval < 0 && L->steps <= c->run.total_steps)
      async_end_epoch(L, &as);
    if (L->steps >= c->run.total_steps) {
      if (as.pending_eval >= 0 && !busy) rt_run_idle(L->rt);
      continue;
    }
    /* model training every F real steps, one at a time, not over a rollout */
    if (c->run.algo != ALGO_SAC && as.since_train >= F && !as.training && as.rolling == 0)
      async_send_train(L, &as);
    /* SAC within the samples-per-insert window */
    double target = (double)G * (double)pool_steps;
    int64_t u = L->sac->updates;
    if (L->env_buf->size >= c->env.min_pool_size && (double)u < target * (1 + tol) + G) {
      int n = (int)fmin((double)G, target * (1 + tol) + G - (double)u);
      if (n > 0) {
        sac_updates(L, n);
        busy = 1;
      }
    }
    if (L->sac->updates - as.pub_updates >= G) {
      publish_policy(L, GROUP_ACTORS, &L->pv_actors);
      as.pub_updates = L->sac->updates;
    }
    /* actor credit: only while the updates keep up (not below the window) */
    int64_t outstanding = as.granted - as.real_steps;
    int behind = L->env_buf->size >= c->env.min_pool_size &&
                 (double)L->sac->updates < target * (1 - tol) - G;
    if (!behind && outstanding < (int64_t)chunk * L->A &&
        as.granted < c->run.total_steps + (int64_t)chunk * L->A) {
      publish_policy(L, GROUP_ACTORS, &L->pv_actors);
      for (int a = 0; a < L->A; a++) {
        Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, a, 4);
        enc_int(e, K_MODE, 3);
        enc_int(e, K_EPOCH, L->epoch);
        enc_int(e, K_POLICY_VERSION, policy_version(L));
        enc_int(e, K_COUNT, chunk);
        rt_send(L->rt);
      }
      as.granted += (int64_t)chunk * L->A;
      busy = 1;
    }
    L->m.updates_per_real_step = pool_steps > 0 ? (double)L->sac->updates / pool_steps : 0;
    if (!busy && !rt_run_idle(L->rt)) {
      struct timespec ts = {0, 200000};
      nanosleep(&ts, NULL);
    }
  }
  /* let in-flight work finish before shutting down */
  while (as.training || as.rolling > 0) {
    rt_wait(L->rt, as.training ? MSG_TRAIN_DONE : MSG_ROLLOUT_DONE, -1, &m);
    if (m.type == MSG_TRAIN_DONE) {
      as.training = 0;
      continue;
    }
    if (m.i[K_STEPNO] == L->k - 1 || m.i[K_ALIVE] == 0) as.rolling--;
  }
}

int learner_run(const Config *cfg, Runtime *rt, RunLog *log) {
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
  if (cfg->run.mode == MODE_ASYNC)
    async_run(L);
  else
    sync_run(L);
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
  buf_free(L->env_buf);
  buf_free(L->model_buf);
  buf_free(L->fwd);
  xfree(L->ft_batches), xfree(L->act_sim), xfree(L->act_warn);
  xfree(L);
  return EXIT_OK;
}
