/* sync — the schedule that reproduces the official order of operations (spec §3.3):
 *
 *   explore: uniform steps on every actor until the env buffer holds N_init
 *   each epoch, each tick while t < L or the env buffer holds < min_pool_size:
 *     if t mod F == 0 and model-based: a model training and its rollouts (lr_model_round)
 *     every actor takes a step with the latest policy
 *     G SAC updates per actor step once the env buffer holds min_pool_size
 *   evaluate (actor 0), write the metrics row
 *
 * Nothing overlaps and every merge has a fixed order: the numbers do not depend on timing or on
 * the number of ranks. */
#include <math.h>

#include "coord.h"
#include "rolekit.h"
#include "util.h"

static void evaluate(Learner *L) {
  lr_request_eval(L);
  Msg m;
  rt_wait(L->rt, MSG_EVAL_RESULT, 0, &m);
  lr_eval_into(L, &L->m, &m, L->steps);
}

static void finish_epoch(Learner *L, double epoch_t0) {
  Metrics *m = &L->m;
  lr_fill_row(L, epoch_t0);
  runlog_metrics(L->log, m);
  LOG_I("epoch %d: env steps %lld, eval return %.2f, train return %.2f, alpha %.4f, Q loss %.4g",
        L->epoch, (long long)L->steps, m->eval_return, m->train_return, m->alpha, m->sac_q_loss);
}

void lr_sync_run(Learner *L) {
  const Config *c = L->cfg;
  const int64_t Lh = c->env.epoch_length, F = c->model.train_freq, G = c->sac.updates_per_step;
  const int A = L->A;
  if (lr_already_complete(L)) return;
  /* initial exploration: uniform actions until N_init transitions are in (episode ends only) */
  const double x0 = util_now();
  const int64_t x_steps0 = L->all_steps;
  while (!L->explored) {
    if (lr_safe_point(L)) return;
    if (L->env_buf->size >= c->env.init_steps) {
      L->explored = 1;
      const double dt = util_now() - x0;
      const int64_t n = L->all_steps - x_steps0;
      LOG_I("initial exploration: %lld env steps, %lld transitions in the env buffer (%.2f s, "
            "%.0f us per env step)",
            (long long)L->all_steps, (long long)L->env_buf->size, dt,
            n > 0 ? 1e6 * dt / (double)n : 0.0);
      break;
    }
    lr_explore(L);
  }
  double epoch_t0 = util_now();
  for (;;) {
    if (!L->epoch_started) {
      lr_reset_metrics(L);
      L->epoch_all_steps0 = L->all_steps;
      L->t = 0;
      L->steps = L->epoch * Lh;
      L->epoch_started = 1;
      epoch_t0 = util_now();
    }
    rt_set_step(L->rt, L->steps);
    int done = 0;
    for (;;) {
      if (lr_safe_point(L)) return;
      if (L->t >= Lh && L->env_buf->size >= c->env.min_pool_size) break;
      if (L->steps >= c->run.total_steps) {
        done = 1;
        break;
      }
      /* a multiple of F within this tick's A steps */
      /* a training given up on a signal: back to the safe point, which acts on it */
      if (c->run.algo != ALGO_SAC && (L->t % F) < A && lr_model_round(L, 1)) continue;
      lr_act_all(L, 0);
      if (L->env_buf->size >= c->env.min_pool_size) lr_sac_updates(L, (int)(G * A));
      L->t += A;
      L->steps = L->epoch * Lh + L->t;
      rt_set_step(L->rt, L->steps);
      lr_progress(L, L->m.t_sac_s > 0 ? L->n_upd_epoch / L->m.t_sac_s : 0, 0);
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
  lr_progress(L, 0, 1);
  /* the final state, for --eval and for extending the run (run.total_steps) */
  L->stop_code = -1; /* recorded as finished */
  int failed = 0;
  if (L->last_ckpt_all_steps != L->all_steps || L->all_steps == 0)
    failed = lr_checkpoint(L, "end of run") != 0;
  L->stop_code = failed ? EXIT_IO : 0;
}
