/* modelsvc — one model training and the rollouts that follow it (spec §3.4-§3.7, §4, §5.5). */
#include "modelsvc.h"

#include <math.h>
#include <string.h>

#include "envs/env.h"
#include "ensemble.h"
#include "finetune.h"
#include "rollout.h"
#include "util.h"

struct ModelSvc {
  const Config *cfg;
  int obs_dim, act_dim, in, D;
  Ensemble *ens;
  Finetune *ft;     /* NULL unless usbpo with phase 2 on */
  Rollout *ro;
  Buffer *model_buf;
  int64_t trainings;
  int k;            /* current rollout length */
  /* training data, permuted: train split then holdout (grown as the env buffer grows) */
  float *x, *y;
  int64_t cap;
  float *es_x;      /* phase-2 early-stopping (s, a) */
  int32_t *perm;
  /* the last training, for the metrics row */
  EnsTrainStats p1;
  FtStats p2;
  int p2_ran;
  RoStats ro_st;
  double t_model, t_rollout;
};

static EnsConfig ens_config(const Config *c, int od, int ad) {
  EnsConfig e = {.members = (int)c->model.ensemble_size, .elites = (int)c->model.elites,
                 .obs_dim = od, .act_dim = ad, .hidden = (int)c->model.hidden,
                 .layers = (int)c->model.layers, .batch = (int)c->model.batch_size,
                 .lr = c->model.lr, .bound_penalty = c->model.bound_penalty,
                 .improve_threshold = c->model.improve_threshold,
                 .patience = (int)c->model.patience, .max_epochs = c->model.max_epochs,
                 .max_train_s = c->model.max_train_s, .init_maxlv = c->model.init_maxlv,
                 .init_minlv = c->model.init_minlv};
  for (int l = 0; l < c->model.decay_len && l < 8; l++) e.decay[l] = c->model.decay[l];
  return e;
}

static FtConfig ft_config(const Config *c) {
  FtConfig f = {.mode = c->finetune.mode, .batch = (int)c->finetune.batch_size,
                .lr = c->finetune.lr, .threshold = c->finetune.threshold,
                .max_steps = (int)c->finetune.max_steps, .patience = (int)c->finetune.patience};
  return f;
}

static RoConfig ro_config(const Config *c, int od, int ad) {
  RoConfig r = {.env_id = c->env.name, .term_fixed = c->env.termination == TERM_FIXED,
                .obs_dim = od, .act_dim = ad, .rows = c->rollout.batch_size,
                .shards = (int)c->topology.rollout_shards, .tile = (int)c->rollout.tile_rows};
  return r;
}

static int phase2_on(const Config *c) {
  return c->run.algo == ALGO_USBPO && c->finetune.mode != FT_OFF;
}

/* spec §3.5: k = floor(k0 + clip((e - a) / (b - a), 0, 1) (k1 - k0)) */
int modelsvc_rollout_length(const Config *c, int epoch) {
  const double *s = c->rollout.schedule;
  double y = epoch <= s[0] ? s[2] : s[2] + fmin((epoch - s[0]) / (s[1] - s[0]), 1.0) * (s[3] - s[2]);
  return (int)floor(y);
}

/* spec §3.6: retain * floor(k * N_roll * L / F) */
int64_t modelsvc_buffer_capacity(const Config *c, int k) {
  double per_epoch = (double)c->rollout.batch_size * c->env.epoch_length / c->model.train_freq;
  return c->rollout.retain_epochs * (int64_t)floor(k * per_epoch);
}

double modelsvc_memory_budget(const Config *c) {
  const EnvInfo *e = env_info(c->env.name);
  int kmax = (int)fmax(c->rollout.schedule[2], c->rollout.schedule[3]);
  EnsConfig ec = ens_config(c, e->obs_dim, e->act_dim);
  FtConfig fc = ft_config(c);
  RoConfig rc = ro_config(c, e->obs_dim, e->act_dim);
  int in = e->obs_dim + e->act_dim;
  double b = (double)buf_bytes(e->obs_dim, e->act_dim, modelsvc_buffer_capacity(c, kmax));
  b += (double)ens_bytes(&ec);
  if (phase2_on(c)) b += (double)ft_bytes(&fc, &ec);
  b += (double)ro_bytes(&rc, in, (int)c->model.hidden, (int)c->sac.hidden);
  /* training data at the env buffer's capacity: x, y and a permutation */
  b += (double)c->sac.buffer_size * (sizeof(float) * (in + e->obs_dim + 1) + sizeof(int32_t));
  return b;
}

ModelSvc *modelsvc_make(const Config *cfg, int obs_dim, int act_dim) {
  ModelSvc *m = xmalloc(sizeof *m);
  m->cfg = cfg;
  m->obs_dim = obs_dim;
  m->act_dim = act_dim;
  m->in = obs_dim + act_dim;
  m->D = obs_dim + 1;
  EnsConfig ec = ens_config(cfg, obs_dim, act_dim);
  m->ens = ens_make(&ec, (uint32_t)cfg->run.seed);
  if (phase2_on(cfg)) {
    FtConfig fc = ft_config(cfg);
    m->ft = ft_make(&fc, m->ens, (uint32_t)cfg->run.seed);
    m->es_x = xmalloc(sizeof(float) * fc.batch * m->in);
  }
  SacConfig sc = {.obs_dim = obs_dim, .act_dim = act_dim, .hidden = (int)cfg->sac.hidden,
                  .layers = (int)cfg->sac.layers};
  NnNet pn;
  sac_policy_net(&sc, &pn);
  RoConfig rc = ro_config(cfg, obs_dim, act_dim);
  m->ro = ro_make(&rc, m->ens, &pn);
  return m;
}

void modelsvc_free(ModelSvc *m) {
  if (!m) return;
  ens_free(m->ens);
  ft_free(m->ft);
  ro_free(m->ro);
  buf_free(m->model_buf);
  xfree(m->x), xfree(m->y), xfree(m->es_x), xfree(m->perm);
  xfree(m);
}

const Buffer *modelsvc_model_buffer(const ModelSvc *m) { return m->model_buf; }

/* training-data workspace for n rows, grown geometrically (a few times per run) */
static void ensure_rows(ModelSvc *m, int64_t n) {
  if (n > m->cap) {
    int64_t cap = m->cap ? m->cap : 4096;
    while (cap < n) cap *= 2;
    xfree(m->x), xfree(m->y), xfree(m->perm);
    m->x = xmalloc(sizeof(float) * cap * m->in);
    m->y = xmalloc(sizeof(float) * cap * m->D);
    m->perm = xmalloc(sizeof(int32_t) * cap);
    m->cap = cap;
  }
}

/* X = [s, a], Y = [r, s' - s] of env-buffer rows in permutation order */
static void build_data(ModelSvc *m, const Buffer *b, int64_t n) {
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

static void emit_to_buffer(void *ctx, int n, const float *obs, const float *act, const float *rew,
                           const float *next, const uint8_t *done) {
  buf_push((Buffer *)ctx, n, obs, act, rew, next, done);
}

void modelsvc_train_and_rollout(ModelSvc *m, int epoch, const Buffer *env_buf, const Sac *sac,
                                Metrics *metrics) {
  const Config *c = m->cfg;
  const double t0 = util_now();
  const uint64_t tr = (uint64_t)m->trainings++;
  const uint32_t seed = (uint32_t)c->run.seed;
  Rng rng = rng_make(seed, RNG_MODEL_SPLIT, tr);
  /* 1. all real data, permuted; holdout = the first min(0.2 N, 5000) of the permutation */
  const int64_t n = env_buf->size;
  ensure_rows(m, n);
  for (int64_t i = 0; i < n; i++) m->perm[i] = (int32_t)i;
  rng_shuffle_i32(&rng, m->perm, (size_t)n);
  int64_t nh = (int64_t)floor(c->model.holdout_ratio * (double)n);
  if (nh > c->model.max_holdout) nh = c->model.max_holdout;
  if (nh < 1 && n > 1) nh = 1;
  /* store train rows first, holdout last */
  {
    int32_t *tmp = xmalloc(sizeof(int32_t) * (size_t)(nh > 0 ? nh : 1));
    memcpy(tmp, m->perm, sizeof(int32_t) * nh);
    memmove(m->perm, m->perm + nh, sizeof(int32_t) * (n - nh));
    memcpy(m->perm + (n - nh), tmp, sizeof(int32_t) * nh);
    xfree(tmp);
  }
  build_data(m, env_buf, n);
  const int64_t ntr = n - nh;
  const float *xho = m->x + ntr * m->in, *yho = m->y + ntr * m->D;
  const int p2 = m->ft && m->trainings > 1 && m->model_buf && m->model_buf->size > 0;
  /* phase-2 early-stopping set: B (s, a) from the holdout, with replacement */
  if (p2)
    for (int j = 0; j < m->ft->c.batch; j++) {
      int64_t h = rng_below(&rng, (uint32_t)nh);
      memcpy(m->es_x + (size_t)j * m->in, xho + h * m->in, sizeof(float) * m->in);
    }
  /* 2. scaler on the training split (w2 keeps the pre-update one for the old model) */
  if (p2 && c->finetune.mode == FT_W2) ft_keep_scaler(m->ft, m->ens);
  ens_fit_scaler(m->ens, m->x, ntr);
  /* 3-5. the pre-update copy, then phase 1 */
  if (p2) ft_begin(m->ft, m->ens);
  ens_train_mle(m->ens, m->x, m->y, ntr, xho, yho, nh, &rng, &m->p1);
  /* 6-9. phase 2 */
  m->p2_ran = p2;
  if (p2) {
    Rng frng = rng_make(seed, RNG_FINETUNE, tr);
    ft_run(m->ft, m->ens, m->es_x, m->model_buf, &frng, xho, yho, nh, &m->p2);
  }
  const double t1 = util_now();
  /* rollout length and model buffer (spec §3.5, §3.6) */
  m->k = modelsvc_rollout_length(c, epoch);
  int64_t cap = modelsvc_buffer_capacity(c, m->k);
  if (!m->model_buf)
    m->model_buf = buf_make(m->obs_dim, m->act_dim, cap);
  else
    m->model_buf = buf_resize(m->model_buf, cap);
  /* branched rollouts, step-major over the logical shards */
  memset(&m->ro_st, 0, sizeof m->ro_st);
  const int S = (int)c->topology.rollout_shards;
  ro_begin(m->ro, env_buf, seed, tr, 0, S);
  for (int step = 0; step < m->k; step++) {
    int64_t alive = 0;
    for (int s = 0; s < S; s++)
      alive += ro_step(m->ro, s, m->ens, m->ens->p, &sac->pi_net, sac->pi, &sac->c,
                       emit_to_buffer, m->model_buf, &m->ro_st);
    if (alive == 0) break;
  }
  const double t2 = util_now();
  m->t_model += t1 - t0;
  m->t_rollout += t2 - t1;
  if (metrics) {
    metrics->t_model_s += t1 - t0;
    metrics->t_rollout_s += t2 - t1;
  }
  LOG_D("model training %lld: %d epochs, holdout MSE %.5g (elites %.5g)%s, k = %d, %lld rows",
        (long long)tr, m->p1.epochs, m->p1.holdout_mse, m->p1.holdout_mse_elites,
        p2 ? " + phase 2" : "", m->k, (long long)m->ro_st.emitted);
  if (p2)
    LOG_D("phase 2: J %.6g -> %.6g (shift %.6g, bias %.6g), %d steps, kept step %d",
          m->p2.j_before, m->p2.j_after, m->p2.shift, m->p2.bias, m->p2.steps, m->p2.kept_step);
}

void modelsvc_fill_metrics(const ModelSvc *m, Metrics *x) {
  x->model_buffer = m->model_buf ? (double)m->model_buf->size : 0;
  x->rollout_length = m->k;
  x->model_trainings = (double)m->trainings;
  x->model_epochs = m->p1.epochs;
  x->model_holdout_mse = m->ens->c.members ? 0 : 0;
  double s = 0, se = 0;
  for (int i = 0; i < m->ens->c.members; i++) s += m->ens->mse[i];
  for (int k = 0; k < m->ens->c.elites; k++) se += m->ens->mse[m->ens->elite[k]];
  x->model_holdout_mse = s / m->ens->c.members;
  x->model_holdout_mse_elites = se / m->ens->c.elites;
  if (m->p2_ran) {
    x->ft_j_before = m->p2.j_before;
    x->ft_j_after = m->p2.j_after;
    x->ft_shift = m->p2.shift;
    x->ft_bias = m->p2.bias;
    x->ft_steps = m->p2.steps;
    x->ft_kept_step = m->p2.kept_step;
    x->ft_pulled_back = m->p2.pulled_back;
  } else {
    x->ft_j_before = x->ft_j_after = x->ft_shift = x->ft_bias = NAN;
    x->ft_steps = x->ft_kept_step = x->ft_pulled_back = 0;
  }
  x->rollout_rows = (double)m->ro_st.emitted;
  x->rollout_nonfinite = (double)m->ro_st.nonfinite;
}
