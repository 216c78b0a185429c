/* async — the schedule that overlaps: actors step on granted credit while the learner updates;
 * the model service trains every F real steps and rollouts stream in while SAC goes on. See the
 * block comment below. Not reproducible by design. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "setup.h"
#include "rolekit.h"
#include "util.h"

/* ---- async ----
 * Actors step on granted credit while the learner updates; the model service trains every F
 * real steps and rollouts stream in while SAC goes on. The learner keeps its updates per real
 * step (once the env buffer holds min_pool_size) within G (1 +- runtime.spi_tolerance), waiting
 * for data when ahead and withholding actor credit when behind, and drops model rows made with
 * a policy more than runtime.max_policy_lag publications old (one publication per G updates) or
 * a model more than runtime.max_model_lag versions old. Not reproducible by design. */

static void async_send_train(Learner *L, Async *as) {
  lr_send_train(L, 0); /* the same request as in sync mode, without waiting for its answer */
  as->training = 1;
  as->since_train = 0;
}

static void async_on_train_done(Learner *L, Async *as, const Msg *m) {
  L->m.t_model_s += lr_on_train_done(L, m);
  lr_publish_policy(L, GROUP_ROLLOUT_POLICY, &L->pv_rollout);
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
  lr_eval_into(L, x, m, (int64_t)x->env_steps);
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
  lr_fill_row(L, as->epoch_t0);
  m->policy_lag = as->lag_n ? as->lag_sum / as->lag_n : 0;
  m->model_lag = as->lag_n ? as->mlag_sum / as->lag_n : 0;
  m->dropped_model_rows = (double)as->dropped;
  as->snap = *m;
  as->pending_eval = L->epoch;
  lr_request_eval(L);
  L->epoch++;
  lr_reset_metrics(L);
  L->epoch_all_steps0 = L->all_steps;
  as->epoch_t0 = util_now();
  as->lag_sum = as->mlag_sum = 0;
  as->lag_n = as->dropped = 0;
}

static void async_on_message(Learner *L, Async *as, const Msg *m) {
  const Config *c = L->cfg;
  switch (m->type) {
  case MSG_TRANSITIONS:
    if (m->i[K_KIND] == TR_REAL) {
      lr_on_real(L, m, 0);
      L->steps++;
      as->real_steps++;
      as->since_train++;
      rt_set_step(L->rt, L->steps);
    } else {
      /* model rows: keep only fresh ones */
      double G = (double)c->sac.updates_per_step;
      double plag = (double)(lr_policy_version(L) - m->i[K_POLICY_VERSION]) / G;
      int64_t mlag = L->model_version - m->i[K_MODEL_VERSION];
      if (!setup_rows_fresh(c, plag, mlag)) {
        as->dropped += m->i[K_COUNT];
      } else {
        lr_push_msg(L->model_buf, m);
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
  case MSG_TRAIN_DONE:
    async_on_train_done(L, as, m);
    break;
  case MSG_EVAL_RESULT:
    async_write_row(L, as, m);
    break;
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

void lr_async_run(Learner *L) {
  const Config *c = L->cfg;
  const int64_t F = c->model.train_freq, G = c->sac.updates_per_step;
  const double tol = c->runtime.spi_tolerance;
  const int chunk = 4; /* actor steps granted at a time */
  Async *as = &L->as;
  if (lr_already_complete(L)) return;
  while (!L->explored) {
    if (lr_safe_point(L)) return;
    if (L->env_buf->size >= c->env.init_steps) {
      LOG_I("initial exploration: %lld env steps; async from here", (long long)L->all_steps);
      L->explored = 1;
      memset(as, 0, sizeof *as);
      L->epoch = 0;
      L->steps = 0;
      lr_reset_metrics(L);
      L->epoch_all_steps0 = L->all_steps;
      /* the first model and rollouts before any update, as in the official order */
      if (c->run.algo != ALGO_SAC) lr_model_round(L, 0);
      break;
    }
    lr_explore(L);
  }
  as->pending_eval = -1;
  as->training = as->rolling = 0;
  as->epoch_t0 = util_now();
  Msg m;
  while (L->steps < c->run.total_steps || as->pending_eval >= 0) {
    if (g_sig_usr1 || g_sig_term || g_sig_int || lr_ckpt_due(L)) {
      async_quiesce(L, as);
      if (lr_safe_point(L)) return;
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
        lr_sac_updates(L, n);
        busy = 1;
      }
    }
    if (L->sac->updates - as->pub_updates >= G) {
      lr_publish_policy(L, GROUP_ACTORS, &L->pv_actors);
      as->pub_updates = L->sac->updates;
    }
    /* actor credit: only while the updates keep up (not below the window) */
    int64_t outstanding = as->granted - as->real_steps;
    int behind = L->env_buf->size >= c->env.min_pool_size &&
                 (double)L->sac->updates < target * (1 - tol) - G;
    if (!behind && outstanding < (int64_t)chunk * L->A &&
        as->granted < c->run.total_steps + (int64_t)chunk * L->A) {
      lr_publish_policy(L, GROUP_ACTORS, &L->pv_actors);
      for (int a = 0; a < L->A; a++) {
        Enc *e = rt_begin(L->rt, MSG_STEP, ROLE_ACTOR, a, 4);
        enc_int(e, K_MODE, STEP_CREDIT);
        enc_int(e, K_EPOCH, L->epoch);
        enc_int(e, K_POLICY_VERSION, lr_policy_version(L));
        enc_int(e, K_COUNT, chunk);
        rt_send(L->rt);
      }
      as->granted += (int64_t)chunk * L->A;
      busy = 1;
    }
    lr_progress(L, L->m.t_sac_s > 0 ? L->n_upd_epoch / L->m.t_sac_s : 0, 0);
    L->m.updates_per_real_step = as->pool_steps > 0 ? (double)L->sac->updates / as->pool_steps : 0;
    if (!busy && !rt_run_idle(L->rt)) {
      struct timespec ts = {0, 200000};
      nanosleep(&ts, NULL);
    }
  }
  /* let in-flight work land (steps granted beyond the end go into the buffer, uncounted by the
   * finished rows); the final state is checkpointed as in sync mode */
  async_quiesce(L, as);
  lr_progress(L, 0, 1);
  L->stop_code = -1;
  L->stop_code = lr_checkpoint(L, "end of run") != 0 ? EXIT_IO : 0;
}
