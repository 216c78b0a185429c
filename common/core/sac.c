/* sac — see sac.h. Reads top to bottom like the update: target, critic, actor, temperature,
 * apply, average. */
#include "sac.h"

#include <math.h>
#include <string.h>

#include "ckfile.h"
#include "fastmath.h"
#include "util.h"

#define HALF_LOG_2PI 0.91893853320467274178

static void q_net(const SacConfig *c, NnNet *net) {
  int sizes[NN_MAX_LAYERS + 1];
  sizes[0] = c->obs_dim + c->act_dim;
  for (int l = 1; l <= c->layers; l++) sizes[l] = c->hidden;
  sizes[c->layers + 1] = 1;
  CHECK(nn_net_init(net, 2, c->layers + 1, sizes, NN_RELU, NN_IDENTITY) == 0, "Q shape");
}

size_t sac_bytes(const SacConfig *c) {
  NnNet p, q;
  PolicyConfig pc = sac_policy_config(c);
  pol_net(&pc, &p);
  q_net(c, &q);
  size_t B = (size_t)c->batch, od = (size_t)c->obs_dim, ad = (size_t)c->act_dim;
  size_t n = 4 * p.nparam + 6 * q.nparam; /* params, grads, Adam moments, target */
  n += B * (3 * (od + ad) + 2 * od + 14 * ad + 16);
  return n * sizeof(real) + nn_tape_bytes(&p, c->batch) + 2 * nn_tape_bytes(&q, c->batch);
}

Sac *sac_make(const SacConfig *c, uint32_t seed) {
  Sac *s = xmalloc(sizeof *s);
  s->c = *c;
  PolicyConfig pc = sac_policy_config(c);
  pol_net(&pc, &s->pi_net);
  q_net(c, &s->q_net);
  const size_t np = s->pi_net.nparam, nq = s->q_net.nparam;
  s->pi = xmalloc(sizeof(real) * np);
  s->g_pi = xmalloc(sizeof(real) * np);
  s->q = xmalloc(sizeof(real) * nq);
  s->q_targ = xmalloc(sizeof(real) * nq);
  s->g_q = xmalloc(sizeof(real) * nq);
  Rng init = rng_make(seed, RNG_INIT, 0);
  nn_init_glorot_uniform(&s->pi_net, s->pi, &init);
  init = rng_make(seed, RNG_INIT, 1);
  nn_init_glorot_uniform(&s->q_net, s->q, &init);
  memcpy(s->q_targ, s->q, sizeof(real) * nq); /* Polyak with tau = 1 */
  s->log_alpha = (real)c->init_log_alpha;
  adam_init(&s->adam_pi, np, c->lr);
  adam_init(&s->adam_q, nq, c->lr); /* per-parameter: the same as one Adam per critic */
  adam_init(&s->adam_alpha, 1, c->lr);
  s->rng = rng_make(seed, RNG_SAC, 0);
  const size_t B = (size_t)c->batch, od = (size_t)c->obs_dim, ad = (size_t)c->act_dim;
  s->s = xmalloc(sizeof(real) * B * od);
  s->a = xmalloc(sizeof(real) * B * ad);
  s->r = xmalloc(sizeof(real) * B);
  s->s2 = xmalloc(sizeof(real) * B * od);
  s->d = xmalloc(sizeof(real) * B);
  s->eps = xmalloc(sizeof(real) * B * ad);
  s->eps2 = xmalloc(sizeof(real) * B * ad);
  s->tape_pi = nn_tape_make(&s->pi_net, c->batch);
  s->tape_q = nn_tape_make(&s->q_net, c->batch);
  s->tape_qa = nn_tape_make(&s->q_net, c->batch);
  s->x_sa = xmalloc(sizeof(real) * B * (od + ad));
  s->x_s2a2 = xmalloc(sizeof(real) * B * (od + ad));
  s->x_sat = xmalloc(sizeof(real) * B * (od + ad));
  s->dx = xmalloc(sizeof(real) * B * (od + ad));
  s->pout2 = xmalloc(sizeof(real) * B * 2 * ad);
  s->dpi = xmalloc(sizeof(real) * B * 2 * ad);
  s->qt = xmalloc(sizeof(real) * 2 * B);
  s->y = xmalloc(sizeof(real) * B);
  s->dq = xmalloc(sizeof(real) * 2 * B);
  s->dqa = xmalloc(sizeof(real) * 2 * B);
  s->u = xmalloc(sizeof(real) * B * ad);
  s->atil = xmalloc(sizeof(real) * B * ad);
  s->u2 = xmalloc(sizeof(real) * B * ad);
  s->atil2 = xmalloc(sizeof(real) * B * ad);
  s->pool = NULL;
  s->std = xmalloc(sizeof(real) * B * ad);
  s->logp = xmalloc(sizeof(real) * B);
  s->logp2 = xmalloc(sizeof(real) * B);
  size_t sc = nn_infer_scratch(&s->pi_net, c->batch);
  size_t sq = nn_infer_scratch(&s->q_net, c->batch);
  s->scratch = xmalloc(sizeof(real) * (sc > sq ? sc : sq));
  s->idx = xmalloc(sizeof(int64_t) * B);
  s->fbuf = xmalloc(sizeof(float) * B * (2 * od + ad + 2));
  return s;
}

void sac_free(Sac *s) {
  if (!s) return;
  adam_free(&s->adam_pi), adam_free(&s->adam_q), adam_free(&s->adam_alpha);
  nn_tape_free(s->tape_pi), nn_tape_free(s->tape_q), nn_tape_free(s->tape_qa);
  real *bufs[] = {s->pi,    s->g_pi, s->q,     s->q_targ,  s->g_q,  s->s,      s->a,     s->r,
                  s->s2,    s->d,    s->eps,   s->eps2,    s->x_sa, s->x_s2a2, s->x_sat, s->dx,
                  s->pout2, s->dpi,  s->qt,    s->y,       s->dq,   s->dqa,    s->u,     s->atil,
                  s->std,   s->logp, s->logp2, s->scratch, s->u2,   s->atil2};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) xfree(bufs[i]);
  xfree(s->idx);
  xfree(s->fbuf);
  xfree(s);
}

/* ---- batch ---- */

static void concat_rows(real *dst, const real *x, int nx, const real *y, int ny, int rows) {
  for (int j = 0; j < rows; j++) {
    memcpy(dst + (size_t)j * (nx + ny), x + (size_t)j * nx, sizeof(real) * nx);
    memcpy(dst + (size_t)j * (nx + ny) + nx, y + (size_t)j * ny, sizeof(real) * ny);
  }
}

void sac_set_batch(Sac *s, const real *obs, const real *act, const real *rew, const real *next,
                   const real *done) {
  const size_t B = (size_t)s->c.batch, od = (size_t)s->c.obs_dim, ad = (size_t)s->c.act_dim;
  memcpy(s->s, obs, sizeof(real) * B * od);
  memcpy(s->a, act, sizeof(real) * B * ad);
  memcpy(s->r, rew, sizeof(real) * B);
  memcpy(s->s2, next, sizeof(real) * B * od);
  memcpy(s->d, done, sizeof(real) * B);
  concat_rows(s->x_sa, s->s, (int)od, s->a, (int)ad, (int)B);
}

static void gather_into(Sac *s, const Buffer *b, int off, int n) {
  const int od = s->c.obs_dim, ad = s->c.act_dim;
  float *fo = s->fbuf, *fa = fo + (size_t)n * od, *fr = fa + (size_t)n * ad, *fn = fr + n,
        *fd = fn + (size_t)n * od;
  buf_sample_idx(b, &s->rng, n, s->idx);
  buf_gather(b, s->idx, n, fo, fa, fr, fn, fd);
  for (size_t i = 0; i < (size_t)n * od; i++) s->s[(size_t)off * od + i] = fo[i];
  for (size_t i = 0; i < (size_t)n * ad; i++) s->a[(size_t)off * ad + i] = fa[i];
  for (int i = 0; i < n; i++) s->r[off + i] = fr[i], s->d[off + i] = fd[i];
  for (size_t i = 0; i < (size_t)n * od; i++) s->s2[(size_t)off * od + i] = fn[i];
}

void sac_sample_batch(Sac *s, const Buffer *real_buf, const Buffer *model_buf, int n_real) {
  const int B = s->c.batch;
  if (n_real > B) n_real = B;
  if (!model_buf || model_buf->size == 0) n_real = B; /* no model data (yet): all real */
  if (n_real > 0) gather_into(s, real_buf, 0, n_real);
  if (n_real < B) gather_into(s, model_buf, n_real, B - n_real);
  concat_rows(s->x_sa, s->s, s->c.obs_dim, s->a, s->c.act_dim, B);
}

void sac_draw_noise(Sac *s) {
  const size_t n = (size_t)s->c.batch * s->c.act_dim;
  pol_normals(&s->rng, s->eps2, n);
  pol_normals(&s->rng, s->eps, n);
}

/* ---- the squashed Gaussian ---- */

/* from policy outputs (rows, 2ad) and noise: u, a = tanh(u), std, log pi (per row) */
static void squash(const SacConfig *c, const real *pout, const real *eps, int rows, real *u,
                   real *a, real *std, real *logp) {
  const int ad = c->act_dim;
  const PolicyConfig pc = sac_policy_config(c);
  for (int j = 0; j < rows; j++) {
    const real *mu = pout + (size_t)j * 2 * ad, *raw = mu + ad;
    double lp = 0;
    for (int k = 0; k < ad; k++) {
      size_t i = (size_t)j * ad + k;
      real ls = pol_clip_logstd(&pc, raw[k]);
      real sd = R_EXP(ls);
      real uu = mu[k] + sd * eps[i];
      u[i] = uu;
      a[i] = R_TANH(uu);
      if (std) std[i] = sd;
      /* log N(u; mu, sd) - log(1 - tanh(u)^2), the latter as 2 (log 2 - u - softplus(-2u)) */
      lp += -0.5 * (double)eps[i] * eps[i] - HALF_LOG_2PI - ls;
      lp -= 2.0 * (M_LN2 - uu - r_softplus(-2 * uu));
    }
    logp[j] = (real)lp;
  }
}

/* ---- the update ---- */

/* The update's independent chains run as tasks of s->pool (one after another without one):
 * first the target's chain, the actor's forward chain and the two critics' forwards; then the
 * losses in order (here); then the actor's backward chain and the two critics' backwards.
 * Each chain performs the operations the serial code did, in its order, on its own buffers,
 * so the numbers do not depend on the pool. */
enum { F_TARGET, F_ACTOR, F_CRITIC0, F_CRITIC1 };
enum { B_ACTOR, B_CRITIC0, B_CRITIC1 };

/* target: a' ~ pi(s'), Qbar_1,2(s', a') into qt, log pi(a'|s') into logp2 */
static void target_chain(Sac *s) {
  const SacConfig *c = &s->c;
  const int B = c->batch;
  nn_infer_member(&s->pi_net, s->pi, 0, s->s2, B, s->pout2, s->scratch);
  squash(c, s->pout2, s->eps2, B, s->u2, s->atil2, NULL, s->logp2);
  concat_rows(s->x_s2a2, s->s2, c->obs_dim, s->atil2, c->act_dim, B);
  nn_infer_member(&s->q_net, s->q_targ, 0, s->x_s2a2, B, s->qt, s->scratch);
  nn_infer_member(&s->q_net, s->q_targ, 1, s->x_s2a2, B, s->qt + B, s->scratch);
}

/* actor forward: a~ = tanh(mu + std eps) on the tape, Q_1,2(s, a~) on its own tape */
static void actor_chain(Sac *s) {
  const SacConfig *c = &s->c;
  const int B = c->batch;
  const real *pout = nn_forward(&s->pi_net, s->pi, s->tape_pi, s->s, B, 0);
  squash(c, pout, s->eps, B, s->u, s->atil, s->std, s->logp);
  concat_rows(s->x_sat, s->s, c->obs_dim, s->atil, c->act_dim, B);
  nn_forward(&s->q_net, s->q, s->tape_qa, s->x_sat, B, 1);
}

static void forward_task(void *ctx, int task, int thread) {
  (void)thread;
  Sac *s = ctx;
  if (task == F_TARGET)
    target_chain(s);
  else if (task == F_ACTOR)
    actor_chain(s);
  else
    nn_forward_member(&s->q_net, s->q, s->tape_q, task - F_CRITIC0);
}

/* actor backward: dL/da~ through both critics (input gradient summed in member order), then
 * through the squash into the policy's outputs, then the policy's gradient */
static void actor_backward(Sac *s) {
  const SacConfig *c = &s->c;
  const int B = c->batch, od = c->obs_dim, ad = c->act_dim;
  const real alpha = R_EXP(s->log_alpha);
  const real invB = (real)1 / (real)B;
  const real *pout = s->tape_pi->act[s->pi_net.nlayers - 1];
  nn_backward(&s->q_net, s->q, s->tape_qa, s->dqa, NULL, 0, s->dx);
  for (int j = 0; j < B; j++) {
    const real *raw = pout + (size_t)j * 2 * ad + ad;
    real *dmu = s->dpi + (size_t)j * 2 * ad, *dls = dmu + ad;
    for (int k = 0; k < ad; k++) {
      size_t i = (size_t)j * ad + k;
      real at = s->atil[i];
      real dq_da = s->dx[(size_t)j * (od + ad) + od + k]; /* already carries -1/B */
      /* d log pi / du = 2 tanh(u); d a / du = 1 - a^2 */
      real du = alpha * (real)2 * at * invB + dq_da * ((real)1 - at * at);
      dmu[k] = du;
      int inside = raw[k] >= (real)c->logstd_min && raw[k] <= (real)c->logstd_max;
      dls[k] = inside ? du * s->std[i] * s->eps[i] - alpha * invB : 0;
    }
  }
  nn_backward(&s->pi_net, s->pi, s->tape_pi, s->dpi, s->g_pi, 0, NULL);
}

static void backward_task(void *ctx, int task, int thread) {
  (void)thread;
  Sac *s = ctx;
  if (task == B_ACTOR)
    actor_backward(s);
  else
    nn_backward_member(&s->q_net, s->q, s->tape_q, s->dq, s->g_q, 0, NULL, task - B_CRITIC0);
}

void sac_compute(Sac *s, int grads) {
  const SacConfig *c = &s->c;
  const int B = c->batch;
  const real alpha = R_EXP(s->log_alpha);
  const real invB = (real)1 / (real)B;

  nn_tape_begin(s->tape_q, s->x_sa, B, 1);
  pool_run(s->pool, 4, forward_task, s);

  /* target: y = scale r + gamma (1 - d) (min Qbar(s', a') - alpha log pi(a'|s')) */
  for (int j = 0; j < B; j++) {
    real mq = s->qt[j] < s->qt[B + j] ? s->qt[j] : s->qt[B + j];
    s->y[j] = (real)c->reward_scale * s->r[j] +
              (real)c->gamma * ((real)1 - s->d[j]) * (mq - alpha * s->logp2[j]);
  }

  /* critics: L_i = 0.5 mean (Q_i(s, a) - y)^2, both in one pass */
  const real *qv = s->tape_q->act[s->q_net.nlayers - 1];
  double lq = 0, qm = 0;
  for (int e = 0; e < 2; e++)
    for (int j = 0; j < B; j++) {
      real diff = qv[e * B + j] - s->y[j];
      lq += 0.5 * (double)diff * diff;
      qm += qv[e * B + j];
      s->dq[e * B + j] = diff * invB;
    }
  s->last.q_loss = lq / B / 2;
  s->last.q_mean = qm / B / 2;

  /* actor: L_pi = mean (alpha log pi(a~|s) - min Q(s, a~)), a~ reparameterised */
  const real *qa = s->tape_qa->act[s->q_net.nlayers - 1];
  double lpi = 0, ent = 0;
  for (int j = 0; j < B; j++) {
    int first = qa[j] <= qa[B + j]; /* ties go to Q1, as tf.minimum's gradient does */
    real mq = first ? qa[j] : qa[B + j];
    lpi += (double)alpha * s->logp[j] - mq;
    ent -= s->logp[j];
    s->dqa[j] = first ? -invB : 0;
    s->dqa[B + j] = first ? 0 : -invB;
  }
  s->last.pi_loss = lpi / B;
  s->last.entropy = ent / B;
  s->last.alpha = alpha;
  if (grads) pool_run(s->pool, 3, backward_task, s);

  /* temperature: L_alpha = -mean(log_alpha (log pi + target entropy)), bracket constant */
  double m = 0;
  for (int j = 0; j < B; j++) m += (double)s->logp[j] + c->target_entropy;
  m /= B;
  s->last.alpha_loss = -(double)s->log_alpha * m;
  s->g_log_alpha = (real)(-m);
}

static void apply_task(void *ctx, int task, int thread) {
  (void)thread;
  Sac *s = ctx;
  if (task == 0) {
    adam_step(&s->adam_q, s->q, s->g_q);
    nn_polyak(s->q_targ, s->q, s->q_net.nparam, (real)s->c.tau);
  } else {
    adam_step(&s->adam_pi, s->pi, s->g_pi);
    adam_step(&s->adam_alpha, &s->log_alpha, &s->g_log_alpha);
  }
}

void sac_apply(Sac *s) {
  pool_run(s->pool, 2, apply_task, s);
  s->updates++;
}

void sac_set_pool(Sac *s, Pool *p) {
  s->pool = p;
}

/* ---- snapshots ---- */

struct SacSnap {
  real *pi, *q, *qt, *pm, *pv, *qm, *qv;
  real la, am, av;
  int64_t tpi, tq, ta, updates;
};

SacSnap *sac_snap_make(const Sac *s) {
  SacSnap *p = xmalloc(sizeof *p);
  size_t np = s->pi_net.nparam, nq = s->q_net.nparam;
  p->pi = xmalloc(sizeof(real) * np), p->pm = xmalloc(sizeof(real) * np);
  p->pv = xmalloc(sizeof(real) * np);
  p->q = xmalloc(sizeof(real) * nq), p->qt = xmalloc(sizeof(real) * nq);
  p->qm = xmalloc(sizeof(real) * nq), p->qv = xmalloc(sizeof(real) * nq);
  sac_snap_take(p, s);
  return p;
}

void sac_snap_free(SacSnap *p) {
  if (!p) return;
  xfree(p->pi), xfree(p->pm), xfree(p->pv), xfree(p->q), xfree(p->qt), xfree(p->qm), xfree(p->qv);
  xfree(p);
}

void sac_snap_take(SacSnap *p, const Sac *s) {
  size_t np = sizeof(real) * s->pi_net.nparam, nq = sizeof(real) * s->q_net.nparam;
  memcpy(p->pi, s->pi, np), memcpy(p->pm, s->adam_pi.m, np), memcpy(p->pv, s->adam_pi.v, np);
  memcpy(p->q, s->q, nq), memcpy(p->qt, s->q_targ, nq);
  memcpy(p->qm, s->adam_q.m, nq), memcpy(p->qv, s->adam_q.v, nq);
  p->la = s->log_alpha, p->am = s->adam_alpha.m[0], p->av = s->adam_alpha.v[0];
  p->tpi = s->adam_pi.t, p->tq = s->adam_q.t, p->ta = s->adam_alpha.t, p->updates = s->updates;
}

void sac_snap_restore(const SacSnap *p, Sac *s) {
  size_t np = sizeof(real) * s->pi_net.nparam, nq = sizeof(real) * s->q_net.nparam;
  memcpy(s->pi, p->pi, np), memcpy(s->adam_pi.m, p->pm, np), memcpy(s->adam_pi.v, p->pv, np);
  memcpy(s->q, p->q, nq), memcpy(s->q_targ, p->qt, nq);
  memcpy(s->adam_q.m, p->qm, nq), memcpy(s->adam_q.v, p->qv, nq);
  s->log_alpha = p->la, s->adam_alpha.m[0] = p->am, s->adam_alpha.v[0] = p->av;
  s->adam_pi.t = p->tpi, s->adam_q.t = p->tq, s->adam_alpha.t = p->ta;
  /* the update counter (the policy version) keeps counting: versions never repeat */
}

int sac_finite(const Sac *s) {
  real acc = s->log_alpha * 0;
  for (size_t i = 0; i < s->pi_net.nparam; i++) acc += s->pi[i] * 0;
  for (size_t i = 0; i < s->q_net.nparam; i++) acc += s->q[i] * 0;
  return acc == 0; /* NaN or inf anywhere makes it NaN */
}

/* ---- checkpoint state ---- */

void sac_ckpt_save(const Sac *s, CkptWriter *w) {
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

void sac_ckpt_load(Sac *s, CkptFile *f, const char *path) {
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
