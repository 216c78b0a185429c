/* modeltrain — see modeltrain.h. */
#include "modeltrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckfile.h"
#include "envs/env.h"
#include "finetune.h"
#include "setup.h"
#include "hooks.h"
#include "util.h"

struct ModelTrain {
  const Config *cfg;
  int obs_dim, act_dim, in, D;
  Ensemble *ens;
  Pool *pool;   /* the members' threads (NULL: one) */
  Finetune *ft; /* NULL unless usbpo with phase 2 on */
  int64_t trainings;
  /* training data, permuted: train split then holdout (grown as the real data grows) */
  float *x, *y;
  int32_t *perm;
  int64_t cap;
  float *es_x; /* phase-2 early-stopping (s, a) */
  /* the model before a training, for rolling back a diverged one */
  real *bk_p, *bk_m, *bk_v, *bk_fm, *bk_fv, *bk_mu, *bk_sd;
  int64_t bk_t, bk_ft;
  int32_t *bk_inew, *bk_iold; /* phase 2's member tables, for an abandoned training */
  int bk_elite[64];
  double bk_mse[64];
  int64_t inject_nan_at;
};

/* the model's state <-> its pre-training copy (save: into the copy; else back from it) */
static void backup_copy(ModelTrain *m, int save) {
  Ensemble *e = m->ens;
  const size_t n = sizeof(real) * e->ntotal, in = sizeof(real) * e->c.in_dim;
#define CP(bk, live, size) (save ? memcpy(bk, live, size) : memcpy(live, bk, size))
  CP(m->bk_p, e->p, n), CP(m->bk_m, e->adam.m, n), CP(m->bk_v, e->adam.v, n);
  CP(m->bk_mu, e->mu, in), CP(m->bk_sd, e->sd, in);
  CP(m->bk_elite, e->elite, sizeof m->bk_elite), CP(m->bk_mse, e->mse, sizeof m->bk_mse);
  CP(&m->bk_t, &e->adam.t, sizeof m->bk_t);
  if (m->ft) CP(&m->bk_ft, &m->ft->adam.t, sizeof m->bk_ft);
  if (m->ft && m->ft->c.moments != FT_MOM_SHARED) /* shared: they are e->adam's, copied above */
    CP(m->bk_fm, m->ft->adam.m, n), CP(m->bk_fv, m->ft->adam.v, n);
#undef CP
}

static int model_finite(const ModelTrain *m) {
  const Ensemble *e = m->ens;
  real acc = 0;
  for (size_t i = 0; i < e->ntotal; i++) acc += e->p[i] * 0;
  for (int k = 0; k < e->c.members; k++) acc += (real)(e->mse[k] * 0);
  return acc == 0;
}

int mt_rollout_length(const Config *c, int epoch) {
  const double *s = c->rollout.schedule;
  double y =
      epoch <= s[0] ? s[2] : s[2] + fmin((epoch - s[0]) / (s[1] - s[0]), 1.0) * (s[3] - s[2]);
  return (int)floor(y);
}

int64_t mt_buffer_capacity(const Config *c, int k) {
  double per_epoch = (double)c->rollout.batch_size * c->env.epoch_length / c->model.train_freq;
  return c->rollout.retain_epochs * (int64_t)floor(k * per_epoch);
}

ModelTrain *mt_make(const Config *cfg, int obs_dim, int act_dim) {
  ModelTrain *m = xmalloc(sizeof *m);
  m->cfg = cfg;
  m->obs_dim = obs_dim;
  m->act_dim = act_dim;
  m->in = obs_dim + act_dim;
  m->D = obs_dim + 1;
  EnsConfig ec = setup_ens(cfg, 0);
  m->ens = ens_make(&ec, (uint32_t)cfg->run.seed);
  m->pool = ec.threads > 1 ? pool_make(ec.threads) : NULL;
  ens_set_pool(m->ens, m->pool);
  if (setup_phase2_on(cfg)) {
    FtConfig fc = setup_ft(cfg);
    m->ft = ft_make(&fc, m->ens, (uint32_t)cfg->run.seed);
    m->es_x = xmalloc(sizeof(float) * fc.batch * m->in);
  }
  size_t n = sizeof(real) * m->ens->ntotal;
  m->bk_p = xmalloc(n), m->bk_m = xmalloc(n), m->bk_v = xmalloc(n);
  m->bk_fm = m->ft ? xmalloc(n) : NULL, m->bk_fv = m->ft ? xmalloc(n) : NULL;
  m->bk_mu = xmalloc(sizeof(real) * m->in), m->bk_sd = xmalloc(sizeof(real) * m->in);
  if (m->ft) {
    m->bk_inew = xmalloc(sizeof(int32_t) * m->ft->c.batch);
    m->bk_iold = xmalloc(sizeof(int32_t) * m->ft->c.batch);
  }
  m->inject_nan_at = hook_int("INJECT_MODEL_NAN", -1); /* test hook: a training diverges */
  return m;
}

void mt_free(ModelTrain *m) {
  if (!m) return;
  ens_free(m->ens);
  pool_free(m->pool);
  ft_free(m->ft);
  xfree(m->x), xfree(m->y), xfree(m->es_x), xfree(m->perm);
  xfree(m->bk_p), xfree(m->bk_m), xfree(m->bk_v), xfree(m->bk_fm), xfree(m->bk_fv);
  xfree(m->bk_inew), xfree(m->bk_iold);
  xfree(m->bk_mu), xfree(m->bk_sd);
  xfree(m);
}

const Ensemble *mt_ensemble(const ModelTrain *m) {
  return m->ens;
}
Ensemble *mt_ensemble_mut(ModelTrain *m) {
  return m->ens;
}
int64_t mt_trainings(const ModelTrain *m) {
  return m->trainings;
}
int mt_wants_phase2(const ModelTrain *m) {
  return m->ft && m->trainings > 0;
}
int64_t mt_phase2_rows(const ModelTrain *m) {
  return mt_wants_phase2(m) ? (int64_t)m->ft->c.max_steps * m->ft->c.batch : 0;
}

/* training-data workspace for n rows, grown geometrically (a few times per run) */
static void ensure_rows(ModelTrain *m, int64_t n) {
  if (n <= m->cap) return;
  int64_t cap = m->cap ? m->cap : 4096;
  while (cap < n) cap *= 2;
  xfree(m->x), xfree(m->y), xfree(m->perm);
  m->x = xmalloc(sizeof(float) * cap * m->in);
  m->y = xmalloc(sizeof(float) * cap * m->D);
  m->perm = xmalloc(sizeof(int32_t) * cap);
  m->cap = cap;
}

/* X = [s, a], Y = [r, s' - s] of real rows in permutation order */
static void build_data(ModelTrain *m, const Buffer *b, int64_t n) {
  const int od = m->obs_dim, ad = m->act_dim, in = m->in, D = m->D;
  for (int64_t i = 0; i < n; i++) {
    int64_t p = buf_phys(b, m->perm[i]);
    float *x = m->x + i * in, *y = m->y + i * D;
    memcpy(x, b->obs + p * od, sizeof(float) * od);
    memcpy(x + od, b->act + p * ad, sizeof(float) * ad);
    y[0] = b->rew[p];
    for (int d = 0; d < od; d++) y[1 + d] = b->next[p * od + d] - b->obs[p * od + d];
  }
}

/* a training given up on a stop request: the model service is put back exactly as it was
 * before it (the same training is redone after a resume and computes the same numbers) */
static void abandon(ModelTrain *m, double *out, double t0) {
  backup_copy(m, 0);
  if (m->ft) {
    memcpy(m->ft->inew, m->bk_inew, sizeof(int32_t) * m->ft->c.batch);
    memcpy(m->ft->iold, m->bk_iold, sizeof(int32_t) * m->ft->c.batch);
  }
  m->trainings--;
  for (int i = 0; i < TM_COUNT; i++) out[i] = NAN;
  out[TM_ABANDONED] = 1;
  out[TM_NAN_ROLLBACK] = 0;
  out[TM_SECONDS] = util_now() - t0;
  out[TM_TRAININGS] = (double)m->trainings;
  LOG_I("model training %lld given up after %.1f s on a stop request (it is redone on resume)",
        (long long)m->trainings + 1, out[TM_SECONDS]);
}

void mt_train(ModelTrain *m, const Buffer *real, const float *ft_batches, double *out,
              int interruptible) {
  const Config *c = m->cfg;
  const double t0 = util_now();
  backup_copy(m, 1);
  m->ens->interruptible = interruptible;
  if (m->ft) {
    m->ft->interruptible = interruptible;
    memcpy(m->bk_inew, m->ft->inew, sizeof(int32_t) * m->ft->c.batch);
    memcpy(m->bk_iold, m->ft->iold, sizeof(int32_t) * m->ft->c.batch);
  }
  const uint64_t tr = (uint64_t)m->trainings++;
  const uint32_t seed = (uint32_t)c->run.seed;
  Rng rng = rng_make(seed, RNG_MODEL_SPLIT, tr);
  /* 1. all real data, permuted; holdout = the first min(0.2 N, 5000) of the permutation */
  const int64_t n = real->size;
  ensure_rows(m, n);
  for (int64_t i = 0; i < n; i++) m->perm[i] = (int32_t)i;
  rng_shuffle_i32(&rng, m->perm, (size_t)n);
  int64_t nh = (int64_t)floor(c->model.holdout_ratio * (double)n);
  if (nh > c->model.max_holdout) nh = c->model.max_holdout;
  if (nh < 1 && n > 1) nh = 1;
  /* rows: the training split first, the holdout last */
  {
    int32_t *tmp = xmalloc(sizeof(int32_t) * (size_t)(nh > 0 ? nh : 1));
    memcpy(tmp, m->perm, sizeof(int32_t) * nh);
    memmove(m->perm, m->perm + nh, sizeof(int32_t) * (n - nh));
    memcpy(m->perm + (n - nh), tmp, sizeof(int32_t) * nh);
    xfree(tmp);
  }
  build_data(m, real, n);
  const int64_t ntr = n - nh;
  const float *xho = m->x + ntr * m->in, *yho = m->y + ntr * m->D;
  const int p2 = ft_batches && mt_wants_phase2(m) && tr > 0;
  /* phase-2 early-stopping set: B (s, a) from the holdout, with replacement */
  if (p2)
    for (int j = 0; j < m->ft->c.batch; j++) {
      int64_t h = rng_below(&rng, (uint32_t)nh);
      memcpy(m->es_x + (size_t)j * m->in, xho + h * m->in, sizeof(float) * m->in);
    }
  /* 2. scaler on the training split (w2 keeps the pre-update one for the old model) */
  if (p2 && m->ft->c.own_scaler) ft_keep_scaler(m->ft, m->ens);
  ens_fit_scaler(m->ens, m->x, ntr);
  /* 3-5. the pre-update copy, then phase 1 */
  double t_p2 = 0, tq = util_now();
  if (p2) ft_begin(m->ft, m->ens);
  t_p2 += util_now() - tq;
  EnsTrainStats p1;
  ens_train_mle(m->ens, m->x, m->y, ntr, xho, yho, nh, &rng, &p1);
  if (p1.abandoned) {
    abandon(m, out, t0);
    return;
  }
  if ((int64_t)tr == m->inject_nan_at) m->ens->p[0] = NAN;
  /* 6-9. phase 2 */
  FtStats p2s;
  memset(&p2s, 0, sizeof p2s);
  if (p2) {
    Rng trng = rng_make(seed, RNG_FT_TABLES, tr);
    tq = util_now();
    ft_run(m->ft, m->ens, m->es_x, ft_batches, &trng, xho, yho, nh, &p2s);
    t_p2 += util_now() - tq;
    if (p2s.abandoned) {
      abandon(m, out, t0);
      return;
    }
  }
  /* a diverged training leaves the model as it was (weights, bounds, scaler, elites, Adam) */
  out[TM_NAN_ROLLBACK] = 0;
  out[TM_ABANDONED] = 0;
  if (!model_finite(m)) {
    backup_copy(m, 0);
    out[TM_NAN_ROLLBACK] = 1;
    LOG_W("model training %lld diverged (non-finite parameters or holdout error): rolled back "
          "to the model before it",
          (long long)tr);
  }
  double s = 0, se = 0;
  for (int i = 0; i < m->ens->c.members; i++) s += m->ens->mse[i];
  for (int k = 0; k < m->ens->c.elites; k++) se += m->ens->mse[m->ens->elite[k]];
  out[TM_EPOCHS] = p1.epochs;
  out[TM_HOLDOUT_MSE] = s / m->ens->c.members;
  out[TM_HOLDOUT_MSE_ELITES] = se / m->ens->c.elites;
  out[TM_FT_J_BEFORE] = p2 ? p2s.j_before : NAN;
  out[TM_FT_J_AFTER] = p2 ? p2s.j_after : NAN;
  out[TM_FT_SHIFT] = p2 ? p2s.shift : NAN;
  out[TM_FT_BIAS] = p2 ? p2s.bias : NAN;
  out[TM_FT_SHIFT_BEFORE] = p2 ? p2s.shift_before : NAN;
  out[TM_FT_BIAS_BEFORE] = p2 ? p2s.bias_before : NAN;
  out[TM_FT_STEPS] = p2s.steps;
  out[TM_FT_KEPT] = p2s.kept_step;
  out[TM_FT_PULLED_BACK] = p2s.pulled_back;
  out[TM_FT_DW_RMS] = p2 ? p2s.dw_rms : NAN;
  out[TM_FT_DB_MAX] = p2 ? p2s.db_max : NAN;
  out[TM_SECONDS] = util_now() - t0;
  out[TM_P2_SECONDS] = t_p2;
  out[TM_P1_HOLDOUT_MSE] = p1.holdout_mse;
  out[TM_TRAININGS] = (double)m->trainings;
  LOG_D("model training %lld: %d epochs, holdout MSE %.5g (elites %.5g)%s", (long long)tr,
        p1.epochs, out[TM_HOLDOUT_MSE], out[TM_HOLDOUT_MSE_ELITES], p2 ? " + phase 2" : "");
  if (p2)
    LOG_D("phase 2: J %.6g -> %.6g (shift %.6g, bias %.6g), %d steps, kept step %d; holdout "
          "MSE %.5g after phase 1, %.5g after phase 2",
          p2s.j_before, p2s.j_after, p2s.shift, p2s.bias, p2s.steps, p2s.kept_step, p1.holdout_mse,
          out[TM_HOLDOUT_MSE]);
}

/* ---- checkpoints ---- */

void mt_ckpt_save(const ModelTrain *m, CkptWriter *w) {
  const Ensemble *e = m->ens;
  const int64_t n = (int64_t)e->ntotal, E = e->c.members, K = e->c.elites;
  ckw_arr(w, "params", DT_F32, e->p, n, 1);
  ckw_arr(w, "mu", DT_F32, e->mu, e->c.in_dim, 1);
  ckw_arr(w, "sd", DT_F32, e->sd, e->c.in_dim, 1);
  ckw_arr(w, "elites", DT_I32, e->elite, K, 1);
  ckw_arr(w, "mse", DT_F64, e->mse, E, 1);
  ckw_arr(w, "adam_m", DT_F32, e->adam.m, n, 1);
  ckw_arr(w, "adam_v", DT_F32, e->adam.v, n, 1);
  ckw_int(w, "adam_t", e->adam.t);
  const Finetune *f = m->ft;
  /* shared moments: phase 2's m and v are adam_m/adam_v above; only its counter is its own */
  const int own = f && f->c.moments != FT_MOM_SHARED;
  ckw_arr(w, "ft_adam_m", DT_F32, own ? f->adam.m : NULL, own ? n : 0, 1);
  ckw_arr(w, "ft_adam_v", DT_F32, own ? f->adam.v : NULL, own ? n : 0, 1);
  ckw_int(w, "ft_adam_t", f ? f->adam.t : 0);
  if (f && !own) ckw_int(w, "ft_moments_shared", 1); /* absent: own (every older checkpoint) */
  ckw_arr(w, "ft_inew", DT_I32, f ? f->inew : NULL, f ? f->c.batch : 0, 1);
  ckw_arr(w, "ft_iold", DT_I32, f ? f->iold : NULL, f ? f->c.batch : 0, 1);
  ckw_int(w, "trainings", m->trainings);
  ckw_int(w, "phase2", f != NULL);
}

void mt_ckpt_load(ModelTrain *m, CkptFile *f, const char *path) {
  mt_ckpt_load_ex(m, f, path, 1);
}

void mt_ckpt_load_ex(ModelTrain *m, CkptFile *f, const char *path, int strict) {
  Ensemble *e = m->ens;
  const int64_t n = (int64_t)e->ntotal, E = e->c.members, K = e->c.elites;
  int64_t p2;
  ckr_need_int(f, path, "phase2", &p2);
  CHECK(!strict || p2 == (m->ft != NULL), "%s: phase 2 %s in the checkpoint, %s now", path,
        p2 ? "on" : "off", m->ft ? "on" : "off");
  ckr_need_arr(f, path, "params", DT_F32, n, 1, e->p);
  ckr_need_arr(f, path, "mu", DT_F32, e->c.in_dim, 1, e->mu);
  ckr_need_arr(f, path, "sd", DT_F32, e->c.in_dim, 1, e->sd);
  ckr_need_arr(f, path, "elites", DT_I32, K, 1, e->elite);
  ckr_need_arr(f, path, "mse", DT_F64, E, 1, e->mse);
  ckr_need_arr(f, path, "adam_m", DT_F32, n, 1, e->adam.m);
  ckr_need_arr(f, path, "adam_v", DT_F32, n, 1, e->adam.v);
  ckr_need_int(f, path, "adam_t", &e->adam.t);
  for (int k = 0; k < K; k++)
    CHECK(e->elite[k] >= 0 && e->elite[k] < E, "%s: elite %d out of range", path, e->elite[k]);
  int64_t shared = 0;
  if (p2 && ckr_int(f, "ft_moments_shared", &shared) != 0) shared = 0;
  const int now_shared = m->ft && m->ft->c.moments == FT_MOM_SHARED;
  /* a run's own checkpoint: the same phase 2 (its config hash says so; this names it) */
  CHECK(!strict || !m->ft || !p2 || (shared != 0) == now_shared,
        "%s: phase 2's Adam moments are %s in the checkpoint, %s now (finetune.moments)", path,
        shared ? "phase 1's (shared)" : "its own", now_shared ? "shared" : "its own");
  /* the probe (not strict) starts a variant of another kind with a fresh phase 2, as a run's
   * second training does */
  if (m->ft && p2 && (shared != 0) == now_shared) {
    Finetune *t = m->ft;
    if (!shared) {
      ckr_need_arr(f, path, "ft_adam_m", DT_F32, n, 1, t->adam.m);
      ckr_need_arr(f, path, "ft_adam_v", DT_F32, n, 1, t->adam.v);
    }
    ckr_need_int(f, path, "ft_adam_t", &t->adam.t);
    ckr_need_arr(f, path, "ft_inew", DT_I32, t->c.batch, 1, t->inew);
    ckr_need_arr(f, path, "ft_iold", DT_I32, t->c.batch, 1, t->iold);
    for (int j = 0; j < t->c.batch; j++)
      CHECK(t->inew[j] >= 0 && t->inew[j] < E && t->iold[j] >= 0 && t->iold[j] < E,
            "%s: member table entry out of range", path);
  }
  ckr_need_int(f, path, "trainings", &m->trainings);
}
