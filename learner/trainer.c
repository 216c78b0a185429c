/* trainer — see trainer.h. */
#include "trainer.h"

#include <math.h>
#include <string.h>

#include "actor.h"
#include "buffer.h"
#include "modelsvc.h"
#include "sac.h"
#include "util.h"

struct Trainer {
  const Config *cfg;
  RunLog *log;
  int obs_dim, act_dim;
  SacConfig sc;
  Sac *sac;
  Buffer *env_buf;
  Actor **actors;
  int nactors;
  Env *eval_env;
  real *eval_scratch;
  ModelSvc *model;   /* NULL for algo = sac */
  int64_t episodes;  /* real episodes finished */
  int64_t steps;     /* the official axis: epoch * L + steps into the epoch (spec §3.1) */
  int64_t all_steps; /* every real env step, exploration included */
  int epoch;
  double last_eval;
  Metrics m;         /* the epoch in progress */
  int n_upd_epoch;
  int64_t epoch_all_steps0;
  double t0;
};

static SacConfig sac_config(const Config *c, int od, int ad) {
  SacConfig s = {.obs_dim = od, .act_dim = ad, .hidden = (int)c->sac.hidden,
                 .layers = (int)c->sac.layers, .batch = (int)c->sac.batch_size,
                 .lr = c->sac.lr, .gamma = c->sac.gamma, .tau = c->sac.tau,
                 .target_entropy = c->sac.target_entropy, .reward_scale = c->sac.reward_scale,
                 .logstd_min = c->sac.logstd_min, .logstd_max = c->sac.logstd_max,
                 .init_log_alpha = c->sac.init_log_alpha};
  return s;
}

double trainer_memory_budget(const Config *c) {
  const EnvInfo *e = env_info(c->env.name);
  double b = (double)buf_bytes(e->obs_dim, e->act_dim, c->sac.buffer_size);
  SacConfig sc = sac_config(c, e->obs_dim, e->act_dim);
  b += (double)sac_bytes(&sc);
  if (c->run.algo != ALGO_SAC) b += modelsvc_memory_budget(c);
  return b;
}

static void reset_metrics(Trainer *t) {
  memset(&t->m, 0, sizeof t->m);
  t->n_upd_epoch = 0;
  t->m.eval_return = NAN;
  t->m.train_return = NAN;
}

Trainer *trainer_make(const Config *cfg, RunLog *log, char *err, size_t errlen) {
  Trainer *t = xmalloc(sizeof *t);
  t->cfg = cfg;
  t->log = log;
  const EnvInfo *info = env_info(cfg->env.name);
  t->obs_dim = info->obs_dim;
  t->act_dim = info->act_dim;
  t->sc = sac_config(cfg, t->obs_dim, t->act_dim);
  t->nactors = (int)cfg->topology.actors;
  t->actors = xmalloc(sizeof(Actor *) * t->nactors);
  for (int i = 0; i < t->nactors; i++) {
    t->actors[i] = actor_make(cfg, i, err, errlen);
    if (!t->actors[i]) {
      trainer_free(t);
      return NULL;
    }
  }
  EnvOptions eo = {cfg->env.contact_forces, cfg->env.model_dir};
  t->eval_env = env_make(cfg->env.name, &eo, err, errlen);
  if (!t->eval_env) {
    trainer_free(t);
    return NULL;
  }
  t->sac = sac_make(&t->sc, (uint32_t)cfg->run.seed);
  t->eval_scratch = xmalloc(sizeof(real) * sac_act_scratch(&t->sac->pi_net, 1));
  t->env_buf = buf_make(t->obs_dim, t->act_dim, cfg->sac.buffer_size);
  if (cfg->run.algo != ALGO_SAC) t->model = modelsvc_make(cfg, t->obs_dim, t->act_dim);
  t->last_eval = NAN;
  reset_metrics(t);
  return t;
}

void trainer_free(Trainer *t) {
  if (!t) return;
  for (int i = 0; i < t->nactors; i++) actor_free(t->actors[i]);
  xfree(t->actors);
  env_free(t->eval_env);
  sac_free(t->sac);
  buf_free(t->env_buf);
  modelsvc_free(t->model);
  xfree(t->eval_scratch);
  xfree(t);
}

/* one env step of every actor; completed episodes enter the env buffer */
static void act_all(Trainer *t, int explore) {
  double t0 = util_now();
  for (int i = 0; i < t->nactors; i++) {
    Actor *a = t->actors[i];
    ActorStep s = explore ? actor_step(a, NULL, NULL, NULL)
                          : actor_step(a, &t->sac->pi_net, t->sac->pi, &t->sc);
    if (s.handover > 0) {
      buf_push(t->env_buf, s.handover, a->ep_obs, a->ep_act, a->ep_rew, a->ep_next, a->ep_done);
      actor_handed_over(a);
    }
    if (s.ended) {
      runlog_episode(t->log, t->episodes++, i, t->steps, explore ? EP_EXPLORE : EP_TRAIN,
                     s.ep_return, s.ep_length, s.terminated);
      if (!explore) {
        double n = t->m.train_episodes;
        t->m.train_return = n == 0 ? s.ep_return : (t->m.train_return * n + s.ep_return) / (n + 1);
        t->m.train_episodes = n + 1;
      }
    }
    t->all_steps++;
  }
  t->m.t_env_s += util_now() - t0;
}

static void sac_updates(Trainer *t, int n) {
  double t0 = util_now();
  const Config *c = t->cfg;
  int n_real = c->run.algo == ALGO_SAC ? (int)c->sac.batch_size
                                        : (int)floor(c->sac.batch_size * c->sac.real_ratio);
  const Buffer *mb = t->model ? modelsvc_model_buffer(t->model) : NULL;
  for (int k = 0; k < n; k++) {
    sac_sample_batch(t->sac, t->env_buf, mb, n_real);
    sac_update(t->sac);
    const SacStats *s = &t->sac->last;
    double w = 1.0 / (t->n_upd_epoch + 1);
    t->m.sac_q_loss += (s->q_loss - t->m.sac_q_loss) * w;
    t->m.sac_pi_loss += (s->pi_loss - t->m.sac_pi_loss) * w;
    t->m.alpha_loss += (s->alpha_loss - t->m.alpha_loss) * w;
    t->m.entropy += (s->entropy - t->m.entropy) * w;
    t->m.q_mean += (s->q_mean - t->m.q_mean) * w;
    t->n_upd_epoch++;
  }
  t->m.t_sac_s += util_now() - t0;
}

static void evaluate(Trainer *t) {
  const Config *c = t->cfg;
  int n = (int)c->run.eval_episodes;
  double s = 0, s2 = 0, len = 0;
  for (int i = 0; i < n; i++) {
    Rng r = rng_make((uint32_t)c->run.seed, RNG_EVAL, rng_index2((uint32_t)t->epoch, (uint32_t)i));
    int l;
    double ret = actor_evaluate(t->eval_env, &r, &t->sac->pi_net, t->sac->pi, &t->sc,
                                (int)c->env.max_episode_steps, &l, t->eval_scratch);
    s += ret, s2 += ret * ret, len += l;
    runlog_episode(t->log, -1, -1, t->steps, EP_EVAL, ret, l, 0);
  }
  t->m.eval_return = s / n;
  t->m.eval_return_std = n > 1 ? sqrt(fmax(0, s2 / n - (s / n) * (s / n))) : 0;
  t->m.eval_length = len / n;
  t->last_eval = t->m.eval_return;
}

static void finish_epoch(Trainer *t, double epoch_t0) {
  Metrics *m = &t->m;
  m->epoch = t->epoch;
  m->env_steps = (double)t->steps;
  m->total_env_steps = (double)t->all_steps;
  m->sac_updates = (double)t->sac->updates;
  m->alpha = exp((double)t->sac->log_alpha);
  m->env_buffer = (double)t->env_buf->size;
  int64_t se = 0, w = 0;
  for (int i = 0; i < t->nactors; i++) se += t->actors[i]->sim_errors, w += t->actors[i]->warnings;
  m->sim_errors = (double)se;
  m->mj_warnings = (double)w;
  if (t->model) modelsvc_fill_metrics(t->model, m);
  double dt = util_now() - epoch_t0;
  m->updates_per_s = m->t_sac_s > 0 ? t->n_upd_epoch / m->t_sac_s : 0;
  m->steps_per_s = dt > 0 ? (m->total_env_steps - t->epoch_all_steps0) / dt : 0;
  m->wall_s = util_now() - t->t0;
  runlog_metrics(t->log, m);
  LOG_I("epoch %d: env steps %lld, eval return %.2f, train return %.2f, alpha %.4f, Q loss %.4g",
        t->epoch, (long long)t->steps, m->eval_return, m->train_return, m->alpha, m->sac_q_loss);
}

int trainer_run(Trainer *t) {
  const Config *c = t->cfg;
  t->t0 = util_now();
  const int64_t L = c->env.epoch_length, F = c->model.train_freq, G = c->sac.updates_per_step;
  const int A = t->nactors;
  /* initial exploration: uniform actions until N_init transitions are in (episode ends only) */
  while (t->env_buf->size < c->env.init_steps) act_all(t, 1);
  LOG_I("initial exploration: %lld env steps, %lld transitions in the env buffer",
        (long long)t->all_steps, (long long)t->env_buf->size);
  int done = 0;
  for (t->epoch = 0; !done; t->epoch++) {
    double epoch_t0 = util_now();
    reset_metrics(t);
    t->epoch_all_steps0 = t->all_steps;
    int64_t e_t = 0;
    t->steps = t->epoch * L;
    for (;;) {
      if (e_t >= L && t->env_buf->size >= c->env.min_pool_size) break;
      if (t->steps >= c->run.total_steps) {
        done = 1;
        break;
      }
      /* a multiple of F within this tick's A steps */
      if (t->model && (e_t % F) < A) modelsvc_train_and_rollout(t->model, t->epoch, t->env_buf, t->sac, &t->m);
      act_all(t, 0);
      if (t->env_buf->size >= c->env.min_pool_size) sac_updates(t, (int)(G * A));
      e_t += A;
      t->steps = t->epoch * L + e_t;
      runlog_progress(t->log, t->steps, c->run.total_steps, t->last_eval,
                      t->m.t_sac_s > 0 ? t->n_upd_epoch / t->m.t_sac_s : 0, 0);
    }
    evaluate(t);
    finish_epoch(t, epoch_t0);
    if (t->steps >= c->run.total_steps) done = 1;
    if (isfinite(c->run.target_return) && t->last_eval >= c->run.target_return) {
      LOG_I("evaluation return %.2f reached run.target_return %.2f: stopping", t->last_eval,
            c->run.target_return);
      done = 1;
    }
  }
  runlog_progress(t->log, t->steps, c->run.total_steps, t->last_eval, 0, 1);
  return EXIT_OK;
}
