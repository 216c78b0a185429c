/* coordinator — the learner's moves, which both schedules (sync.c, async.c) are made of:
 * acting through the actors, SAC updates with the NaN guard, model trainings and rollouts
 * through the model service and the rollout workers, evaluation and the epoch's row; and
 * learner_run, which sets the learner up, runs a schedule and shuts the other ranks down.
 *
 * Everything random is keyed by logical owner and every merge has a fixed order, so a sync
 * run's numbers do not depend on the number of ranks. */
#include "learner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckfile.h"
#include "blasinfo.h"
#include "coord.h"
#include "envs/env.h"
#include "finetune.h"
#include "hooks.h"
#include "modeltrain.h"
#include "rolekit.h"
#include "setup.h"
#include "util.h"

/* test hook USBPO_TEST_TRACE=FILE: one line per event of the schedule, in order ("train E T",
 * "rollout E T K", "step E T A", "update E T N": epoch, t within it, and the event's size), so
 * that a test can check the order of operations against the spec (§3.3) */
static void trace(const Learner *L, const char *what, int64_t n) {
  static FILE *f;
  static int tried;
  if (!tried) {
    tried = 1;
    const char *path = hook_str("TRACE");
    if (path && *path) f = fopen(path, "w");
  }
  if (f) fprintf(f, "%s %d %lld %lld\n", what, L->epoch, (long long)L->t, (long long)n), fflush(f);
}

/* every env step of the run at its end (exploration included): the official axis (epoch * L +
 * t) plus what lies off it, the exploration and epoch 0's steps past its length while the
 * buffer fills to min_pool_size (predicted while epoch 0 runs) */
int64_t lr_progress_total(const Learner *L) {
  const Config *c = L->cfg;
  const int64_t Lh = c->env.epoch_length;
  if (!L->explored) return c->run.total_steps + c->env.init_steps;
  if (L->epoch > 0 || !L->epoch_started) return c->run.total_steps + (L->all_steps - L->steps);
  /* epoch 0: it ends at t >= L once the buffer holds min_pool_size (every step taken reaches
   * the buffer: the steps taken stand for it, which keeps the prediction steady) */
  const int64_t left =
      c->env.min_pool_size > L->all_steps ? c->env.min_pool_size - L->all_steps : 0;
  const int64_t past = L->t + left - Lh;
  return c->run.total_steps + (L->all_steps - L->steps) + (past > 0 ? past : 0);
}

void lr_progress(Learner *L, double updates_s, int force) {
  runlog_progress(L->log, L->all_steps, lr_progress_total(L), L->epoch, L->last_eval, updates_s,
                  force);
}

void lr_reset_metrics(Learner *L) {
  memset(&L->m, 0, sizeof L->m);
  L->n_upd_epoch = 0;
  L->m.eval_return = NAN;
  L->m.train_return = NAN;
  L->m.ft_j_before = L->m.ft_j_after = L->m.ft_shift = L->m.ft_bias = NAN;
  L->m.ft_shift_before = L->m.ft_bias_before = L->m.ft_dw_rms = NAN;
}

int64_t lr_policy_version(const Learner *L) {
  return L->sac->updates;
}

void lr_publish_policy(Learner *L, int group, int64_t *last) {
  int64_t v = lr_policy_version(L);
  if (*last == v) return;
  Enc *e =
      rt_begin(L->rt, MSG_POLICY, group == GROUP_ACTORS ? ROLE_ACTOR : ROLE_ROLLOUT, IDX_ALL, 2);
  enc_int(e, K_VERSION, v);
  enc_arr(e, A_PARAMS, DT_F32, L->sac->pi, (int64_t)L->sac->pi_net.nparam, 0);
  rt_publish(L->rt, group);
  *last = v;
}

/* memcpy: message data may be unaligned */
void lr_push_msg(Buffer *b, const Msg *m) {
  int64_t n = m->i[K_COUNT];
  if (n > 0)
    buf_push(b, n, m->a[A_OBS].data, m->a[A_ACT].data, m->a[A_REW].data, m->a[A_NEXT].data,
             m->a[A_DONE].data);
}

/* ---- acting ---- */

void lr_on_real(Learner *L, const Msg *m, int explore) {
  const int a = (int)m->i[K_FROM];
  lr_push_msg(L->env_buf, m);
  if (L->cfg->run.algo != ALGO_SAC) {
    /* never drop real data the model service has not seen: grow instead */
    if (L->fwd->size + m->i[K_COUNT] > L->fwd->cap)
      L->fwd = buf_resize(L->fwd, 2 * (L->fwd->cap + m->i[K_COUNT]));
    lr_push_msg(L->fwd, m);
  }
  if (msg_has_a(m, A_METRICS)) {
    double c[2];
    memcpy(c, m->a[A_METRICS].data, sizeof c);
    L->act_sim[a] = (int64_t)c[0];
    L->act_warn[a] = (int64_t)c[1];
  }
  if (msg_has_a(m, A_EPSTATS)) {
    double ep[3];
    memcpy(ep, m->a[A_EPSTATS].data, sizeof ep);
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

void lr_act_all(Learner *L, int explore) {
  const double t0 = util_now();
  if (!explore) trace(L, "step", L->A);
  if (!explore) lr_publish_policy(L, GROUP_ACTORS, &L->pv_actors);
  for (int a = 0; a < L->A; a++) {
    Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, a, 3);
    enc_int(e, K_MODE, explore ? STEP_EXPLORE : STEP_POLICY);
    enc_int(e, K_EPOCH, L->epoch);
    enc_int(e, K_POLICY_VERSION, explore ? -1 : lr_policy_version(L));
    rt_send(L->rt);
  }
  for (int a = 0; a < L->A; a++) {
    Msg m;
    rt_wait(L->rt, MSG_TRANSITIONS, a, &m);
    lr_on_real(L, &m, explore);
  }
  L->m.t_env_s += util_now() - t0;
}

/* initial exploration, one round: with one actor a burst of up to 256 uniform steps in one
 * round trip (a round trip per step cost 0.1-3 ms against an env step's ~0.05 ms), stopped by
 * the actor exactly where steps one at a time would stop (once the env buffer holds
 * env.init_steps rows), so the data are the same; with several actors one step each (their
 * rows interleave step by step) */
void lr_explore(Learner *L) {
  const int64_t goal = L->cfg->env.init_steps - L->env_buf->size;
  const int64_t burst = hook_int("EXPLORE_BURST", 256);
  static int said;
  if (burst != 256 && !said++)
    LOG_I("test hook: exploration in bursts of %lld step(s) per round trip", (long long)burst);
  if (L->A != 1 || goal <= 0 || burst <= 1) {
    lr_act_all(L, 1);
    return;
  }
  const double t0 = util_now();
  Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, 0, 5);
  enc_int(e, K_MODE, STEP_EXPLORE);
  enc_int(e, K_EPOCH, L->epoch);
  enc_int(e, K_POLICY_VERSION, -1);
  enc_int(e, K_COUNT, burst);
  enc_int(e, K_ROWS, goal);
  rt_send(L->rt);
  int64_t rows = 0;
  for (int64_t i = 0; i < burst && rows < goal; i++) {
    Msg m;
    rt_wait(L->rt, MSG_TRANSITIONS, 0, &m);
    rows += m.i[K_COUNT];
    lr_on_real(L, &m, 1);
  }
  L->m.t_env_s += util_now() - t0;
}

/* ---- SAC ---- */

void lr_sac_updates(Learner *L, int n) {
  const double t0 = util_now();
  trace(L, "update", n);
  const Config *c = L->cfg;
  const int n_real = setup_sac_real_rows(c);
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

int64_t lr_send_train(Learner *L, int interruptible) {
  const Config *c = L->cfg;
  Runtime *rt = L->rt;
  const int64_t training = L->trainings++;
  /* the real data the model service has not seen, in arrival order */
  Buffer *f = L->fwd;
  Enc *e = rt_begin(rt, MSG_TRANSITIONS, ROLE_MODELSVC, 0, 9);
  enc_int(e, K_KIND, TR_REAL);
  enc_int(e, K_COUNT, f->size);
  enc_int(e, K_POLICY_VERSION, lr_policy_version(L));
  enc_int(e, K_FROM, 0);
  enc_arr(e, A_OBS, DT_F32, f->obs, f->size, L->obs_dim);
  enc_arr(e, A_ACT, DT_F32, f->act, f->size, L->act_dim);
  enc_arr(e, A_REW, DT_F32, f->rew, f->size, 0);
  enc_arr(e, A_NEXT, DT_F32, f->next, f->size, L->obs_dim);
  enc_arr(e, A_DONE, DT_U8, f->done, f->size, 0);
  rt_send(rt);
  /* an interruptible training may be given back: its rows stay until it is done */
  if (!interruptible) buf_clear(f);
  /* phase-2 batches from the model buffer, keyed by the training number */
  int p2 = setup_phase2_on(c) && training > 0 && L->model_buf && L->model_buf->size > 0;
  if (p2) {
    Rng r = rng_make((uint32_t)c->run.seed, RNG_FINETUNE, (uint64_t)training);
    ft_sample_batches(L->model_buf, &r, (int)c->finetune.max_steps, (int)c->finetune.batch_size,
                      L->ft_batches);
  }
  e = rt_begin(rt, MSG_TRAIN_REQUEST, ROLE_MODELSVC, 0, 2 + p2 + (interruptible != 0));
  enc_int(e, K_EPOCH, L->epoch);
  enc_int(e, K_TRAINING, training);
  if (interruptible) enc_int(e, K_MODE, 1);
  if (p2) enc_arr(e, A_STATE, DT_F32, L->ft_batches, L->ft_rows, L->in_dim);
  rt_send(rt);
  return training;
}

/* the new model's version and rollout length, its metrics into the epoch row, a diverged
 * training counted; then the model buffer for this rollout length (spec §3.6) */
double lr_on_train_done(Learner *L, const Msg *m) {
  double tm[TM_COUNT];
  memcpy(tm, m->a[A_METRICS].data, sizeof tm);
  L->model_version = m->i[K_MODEL_VERSION];
  L->k = (int)m->i[K_K];
  Metrics *x = &L->m;
  x->model_trainings = tm[TM_TRAININGS], x->model_epochs = tm[TM_EPOCHS];
  x->model_epochs_total += tm[TM_EPOCHS]; /* the epoch's trainings together */
  x->model_holdout_mse = tm[TM_HOLDOUT_MSE];
  x->model_holdout_mse_elites = tm[TM_HOLDOUT_MSE_ELITES];
  x->model_holdout_mse_p1 = tm[TM_P1_HOLDOUT_MSE];
  if (!isnan(tm[TM_FT_J_BEFORE])) {
    x->ft_j_before = tm[TM_FT_J_BEFORE], x->ft_j_after = tm[TM_FT_J_AFTER];
    x->ft_shift = tm[TM_FT_SHIFT], x->ft_bias = tm[TM_FT_BIAS];
    x->ft_shift_before = tm[TM_FT_SHIFT_BEFORE], x->ft_bias_before = tm[TM_FT_BIAS_BEFORE];
    x->ft_steps = tm[TM_FT_STEPS], x->ft_kept_step = tm[TM_FT_KEPT];
    x->ft_steps_total += tm[TM_FT_STEPS];
    x->ft_pulled_back = tm[TM_FT_PULLED_BACK];
    x->ft_kept0 += tm[TM_FT_KEPT] == 0; /* the epoch's trainings whose phase 2 changed nothing */
    x->ft_dw_rms = tm[TM_FT_DW_RMS];
  }
  if (tm[TM_NAN_ROLLBACK] != 0) L->nan_rollbacks++; /* lr_fill_row puts it in the row */
  x->t_phase2_s += tm[TM_P2_SECONDS];
  int64_t cap = mt_buffer_capacity(L->cfg, L->k);
  L->model_buf =
      L->model_buf ? buf_resize(L->model_buf, cap) : buf_make(L->obs_dim, L->act_dim, cap);
  return tm[TM_SECONDS];
}

int lr_model_round(Learner *L, int interruptible) {
  Runtime *rt = L->rt;
  const double t0 = util_now();
  trace(L, "train", L->trainings);
  const int64_t training = lr_send_train(L, interruptible);
  Msg m;
  rt_wait(rt, MSG_TRAIN_DONE, -1, &m);
  CHECK(m.i[K_TRAINING] == training, "train_done for training %lld, expected %lld",
        (long long)m.i[K_TRAINING], (long long)training);
  if (msg_has_i(&m, K_CODE) && m.i[K_CODE] == 1) {
    /* given up on a stop request: back to before this round (the rows stay to be sent again);
     * the stop is acted on at the next safe point, here if this rank saw no signal itself */
    L->trainings--;
    if (!g_sig_usr1 && !g_sig_term && !g_sig_int) g_sig_usr1 = 1;
    return 1;
  }
  buf_clear(L->fwd);
  lr_on_train_done(L, &m);
  Metrics *x = &L->m;
  const double t1 = util_now();
  /* rollouts, one step at a time over every worker's shards */
  lr_publish_policy(L, GROUP_ROLLOUT_POLICY, &L->pv_rollout);
  const Placement *p = rt_placement(rt);
  int64_t rows = 0, nonfinite = 0;
  for (int step = 0; step < L->k; step++) {
    for (int w = 0; w < L->R; w++) {
      Enc *e = rt_begin(rt, MSG_ROLLOUT_REQUEST, ROLE_ROLLOUT, w, 4);
      enc_int(e, K_TRAINING, training);
      enc_int(e, K_STEPNO, step);
      enc_int(e, K_POLICY_VERSION, lr_policy_version(L));
      enc_int(e, K_MODEL_VERSION, L->model_version);
      rt_send(rt);
    }
    int64_t alive = 0;
    for (int w = 0; w < L->R; w++) {
      for (int s = p->shard_lo[w]; s < p->shard_hi[w]; s++) {
        rt_wait(rt, MSG_TRANSITIONS, w, &m);
        CHECK(m.i[K_KIND] == TR_MODEL && m.i[K_SHARD] == s && m.i[K_STEPNO] == step &&
                  m.i[K_TRAINING] == training,
              "rollout %d sent shard %lld step %lld of training %lld, expected %d/%d/%lld", w,
              (long long)m.i[K_SHARD], (long long)m.i[K_STEPNO], (long long)m.i[K_TRAINING], s,
              step, (long long)training);
        lr_push_msg(L->model_buf, &m);
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
  trace(L, "rollout", rows);
  x->t_model_s += t1 - t0;
  x->t_rollout_s += util_now() - t1;
  return 0;
}

/* ---- evaluation and the epoch's row ---- */

void lr_request_eval(Learner *L) {
  lr_publish_policy(L, GROUP_ACTORS, &L->pv_actors);
  Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, 0, 4);
  enc_int(e, K_MODE, STEP_EVAL);
  enc_int(e, K_EPOCH, L->epoch);
  enc_int(e, K_POLICY_VERSION, lr_policy_version(L));
  enc_int(e, K_EPISODES, L->cfg->run.eval_episodes);
  rt_send(L->rt);
}

void lr_eval_into(Learner *L, Metrics *x, const Msg *m, int64_t steps) {
  int n = (int)m->a[A_RETURNS].rows;
  double s = 0, s2 = 0, len = 0;
  for (int i = 0; i < n; i++) {
    double r, l;
    memcpy(&r, (const uint8_t *)m->a[A_RETURNS].data + 8 * i, 8);
    memcpy(&l, (const uint8_t *)m->a[A_LENGTHS].data + 8 * i, 8);
    s += r, s2 += r * r, len += l;
    runlog_episode(L->log, -1, 0, steps, EP_EVAL, r, (int)l, 0);
  }
  x->eval_return = s / n;
  x->eval_return_std = n > 1 ? sqrt(fmax(0, s2 / n - (s / n) * (s / n))) : 0;
  x->eval_length = len / n;
  L->last_eval = x->eval_return;
}

/* the epoch row's counters and timings, both schedules */
void lr_fill_row(Learner *L, double epoch_t0) {
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
  m->blas_kernel_changes = (double)L->kernel_changes;
  const double now = util_now(), dt = now - epoch_t0;
  m->updates_per_s = m->t_sac_s > 0 ? L->n_upd_epoch / m->t_sac_s : 0;
  m->steps_per_s = dt > 0 ? (m->total_env_steps - L->epoch_all_steps0) / dt : 0;
  CommStats cs = comm_stats(rt_comm(L->rt));
  m->t_comm_s = cs.t_comm + rt_codec_seconds(L->rt);
  m->wall_s = now - L->t0;
}

/* ---- the role ---- */

int learner_run(const Config *cfg, Runtime *rt, RunLog *log, const char *resume) {
  Learner *L = xmalloc(sizeof *L);
  L->cfg = cfg;
  L->rt = rt;
  L->log = log;
  const EnvInfo *info = env_info(cfg->env.name);
  L->obs_dim = info->obs_dim;
  L->act_dim = info->act_dim;
  L->in_dim = info->obs_dim + info->act_dim;
  L->sc = setup_sac(cfg);
  L->sac = sac_make(&L->sc, (uint32_t)cfg->run.seed);
  /* the update's chains on this rank's threads (at most 4 run at once) */
  const int nt = cfg->run.threads_now > 4 ? 4 : (int)cfg->run.threads_now;
  L->pool = nt > 1 ? pool_make(nt) : NULL;
  sac_set_pool(L->sac, L->pool);
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
    if (setup_phase2_on(cfg)) L->ft_batches = xmalloc(sizeof(float) * L->ft_rows * L->in_dim);
  }
  L->last_eval = NAN;
  L->t0 = util_now();
  L->snap = sac_snap_make(L->sac);
  L->inject_nan_at = hook_int("INJECT_SAC_NAN", -1); /* test hook: an update that diverges */
  rk_run_dir(cfg, L->run_dir, sizeof L->run_dir);
  L->cfg_hash = cfg_hash(cfg);
  L->cfg_text = cfg_dump_string(cfg);
  snprintf(L->blas_kernel, sizeof L->blas_kernel, "%s", blas_core(0));
  const BlasCpu cpu = blas_cpu();
  blas_cpu_text(&cpu, L->cpu, sizeof L->cpu);
  L->last_ckpt_time = util_now();
  if (!L->fwd) L->fwd = buf_make(L->obs_dim, L->act_dim, 1);
  if (resume) lr_load(L, resume);
  L->ckpt_try_all_steps = L->last_ckpt_all_steps;
  L->ckpt_try_time = L->last_ckpt_time;
  if (cfg->run.mode == MODE_ASYNC)
    lr_async_run(L);
  else
    lr_sync_run(L);
  int code = L->stop_code;
  /* the final policy: one float32 block (the layout of pol_net) */
  /* and its checksum beside it, for --eval */
  const size_t pbytes = sizeof(real) * L->sac->pi_net.nparam;
  char psum[32];
  snprintf(psum, sizeof psum, "%016llx\n", (unsigned long long)ckpt_sum(L->sac->pi, pbytes));
  if (runlog_write_file(log, "policy_final.bin", L->sac->pi, pbytes) != 0 ||
      runlog_write_file(log, "policy_final.bin.sum", psum, strlen(psum)) != 0) {
    LOG_E("could not write policy_final.bin (exit %d)", EXIT_IO);
    if (code <= 0) code = EXIT_IO;
  }
  if (runlog_flush(log) != 0 && code <= 0) {
    LOG_E("%s (exit %d)", runlog_failed(log), EXIT_IO);
    code = EXIT_IO;
  }
  /* every other rank stops serving */
  for (int r = 1; r < comm_size(rt_comm(rt)); r++) {
    Enc *e = rt_begin(rt, MSG_SHUTDOWN, ROLE_ANY, r, 1);
    enc_int(e, K_CODE, 0);
    rt_send(rt);
  }
  sac_free(L->sac);
  pool_free(L->pool);
  sac_snap_free(L->snap);
  buf_free(L->env_buf);
  buf_free(L->model_buf);
  buf_free(L->fwd);
  xfree(L->ft_batches), xfree(L->act_sim), xfree(L->act_warn);
  free(L->cfg_text);
  xfree(L);
  return code > 0 ? code : EXIT_OK;
}
