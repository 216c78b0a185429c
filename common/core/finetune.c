/* finetune — see finetune.h. The objective first (values, then gradients), then the loop. */
#include "finetune.h"

#include <math.h>
#include <string.h>

#include "config.h"
#include "util.h"

size_t ft_bytes(const FtConfig *c, const EnsConfig *ec) {
  size_t B = (size_t)c->batch, E = (size_t)ec->members, D = (size_t)ec->obs_dim + 1;
  size_t in = (size_t)(ec->obs_dim + ec->act_dim), H = (size_t)ec->hidden;
  size_t tape = E * B * (H * (size_t)ec->layers * 2 + 2 * D + 2 * H);
  size_t T = ec->threads > 1 ? (size_t)ec->threads : 1;
  /* the parameter-sized blocks: the pre-update copy, the keep-best snapshot, the phase-1
   * result, and with moments of its own m and v (shared: the ensemble's) */
  NnNet net;
  ens_net(ec, &net);
  size_t blocks = (3 + (c->moments == FT_MOM_SHARED ? 0 : 2)) * (net.nparam + 2 * D);
  return sizeof(real) *
             (tape + E * B * 8 * D + 5 * B * in + T * B * (in + 2 * H + 4 * D) + blocks) +
         sizeof(float) * B * in;
}

Finetune *ft_make(const FtConfig *c, const Ensemble *e, uint32_t seed) {
  Finetune *f = xmalloc(sizeof *f);
  f->c = *c;
  if (c->mode == FT_W2) f->c.own_scaler = 1;
  f->E = e->c.members;
  f->D = e->c.out_dim;
  f->in = e->c.in_dim;
  const size_t B = (size_t)c->batch, E = (size_t)f->E, D = (size_t)f->D, in = (size_t)f->in;
  if (c->moments == FT_MOM_SHARED) {
    /* a counter of its own; m and v are phase 1's (ft_adam_step) */
    memset(&f->adam, 0, sizeof f->adam);
    f->adam.n = e->ntotal, f->adam.lr = c->lr;
    f->adam.b1 = 0.9, f->adam.b2 = 0.999, f->adam.eps = 1e-8;
  } else {
    adam_init(&f->adam, e->ntotal, c->lr);
  }
  f->inew = xmalloc(sizeof(int32_t) * B);
  f->iold = xmalloc(sizeof(int32_t) * B);
  /* faithful: drawn once per run and never redrawn (the graph's constants) */
  Rng tr = rng_make(seed, RNG_MEMBER_TABLE, 0);
  for (size_t j = 0; j < B; j++) f->iold[j] = (int32_t)rng_below(&tr, (uint32_t)E);
  for (size_t j = 0; j < B; j++) f->inew[j] = (int32_t)rng_below(&tr, (uint32_t)E);
  f->ies = xmalloc(sizeof(int32_t) * B);
  memcpy(f->ies, f->inew, sizeof(int32_t) * B);
  f->tab = f->inew;
  f->old = xmalloc(sizeof(real) * e->ntotal);
  f->snap = xmalloc(sizeof(real) * e->ntotal);
  f->p1 = xmalloc(sizeof(real) * e->ntotal);
  f->old_mu = xmalloc(sizeof(real) * in);
  f->old_sd = xmalloc(sizeof(real) * in);
  memcpy(f->old_mu, e->mu, sizeof(real) * in);
  memcpy(f->old_sd, e->sd, sizeof(real) * in);
  f->tape = nn_tape_make(&e->net, c->batch);
  f->xs = xmalloc(sizeof(real) * B * in);
  f->xs_old = xmalloc(sizeof(real) * B * in);
  f->m = xmalloc(sizeof(real) * E * B * D);
  f->lv = xmalloc(sizeof(real) * E * B * D);
  f->sig = xmalloc(sizeof(real) * E * B * D);
  f->mo = xmalloc(sizeof(real) * B * D);
  f->lvo = xmalloc(sizeof(real) * B * D);
  f->sigo = xmalloc(sizeof(real) * B * D);
  f->dy = xmalloc(sizeof(real) * E * B * 2 * D);
  /* per thread of the ensemble's pool */
  const size_t T = (size_t)e->c.threads;
  f->work_n = nn_infer_scratch(&e->net, c->batch);
  f->xg = xmalloc(sizeof(real) * T * B * in);
  f->og = xmalloc(sizeof(real) * T * B * 2 * D);
  f->work = xmalloc(sizeof(real) * T * f->work_n);
  f->gb = xmalloc(sizeof(double) * 2 * D);
  f->fx = xmalloc(sizeof(float) * B * in);
  f->idx = xmalloc(sizeof(int64_t) * B);
  return f;
}

void ft_free(Finetune *f) {
  if (!f) return;
  adam_free(&f->adam);
  nn_tape_free(f->tape);
  real *r[] = {f->old, f->snap, f->p1,  f->old_mu, f->old_sd, f->xs, f->xs_old, f->m,   f->lv,
               f->sig, f->mo,   f->lvo, f->sigo,   f->dy,     f->xg, f->og,     f->work};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) xfree(r[i]);
  xfree(f->inew), xfree(f->iold), xfree(f->ies), xfree(f->gb), xfree(f->fx), xfree(f->idx);
  xfree(f);
}

void ft_keep_scaler(Finetune *f, const Ensemble *e) {
  memcpy(f->old_mu, e->mu, sizeof(real) * f->in);
  memcpy(f->old_sd, e->sd, sizeof(real) * f->in);
}

void ft_begin(Finetune *f, const Ensemble *e) {
  memcpy(f->old, e->p, sizeof(real) * e->ntotal);
}

/* ---- the objective ---- */

double ft_w2_diag(const real *m1, const real *s1, const real *m2, const real *s2, int D) {
  double q = 0;
  for (int d = 0; d < D; d++) {
    double dm = (double)m1[d] - m2[d], ds = (double)s1[d] - s2[d];
    q += dm * dm + ds * ds;
  }
  return sqrt(q);
}

/* logvar, its derivative w.r.t. the raw output, and w.r.t. the bounds */
typedef struct {
  real lv, d_raw, d_max, d_min;
} Bound;

static inline Bound bound(real raw, real maxlv, real minlv) {
  real a = maxlv - raw, l1 = maxlv - r_softplus(a), b = l1 - minlv;
  real sa = r_sigmoid(a), sb = r_sigmoid(b);
  Bound o = {minlv + r_softplus(b), sb * sa, sb * ((real)1 - sa), (real)1 - sb};
  return o;
}

/* The per-member parts of the objective run as tasks of the ensemble's pool: each member's
 * forward (and its means, log-variances, stds), the pre-update model's predictions of the rows
 * that member serves, each member's backward. The sums over members stay in order here. */
typedef struct {
  Finetune *f;
  Ensemble *e;
  const real *xs_old;
  const int32_t *c;
} FtTask;

/* member m of the current model on every row: f->m, f->lv, f->sig for (m, ., .) */
static void current_member(void *ctx, int m, int thread) {
  (void)thread;
  const FtTask *k = ctx;
  Finetune *f = k->f;
  Ensemble *e = k->e;
  const int B = f->c.batch, D = f->D;
  nn_forward_member(&e->net, e->p, f->tape, m);
  const real *out = f->tape->act[e->net.nlayers - 1];
  const real *maxlv = ens_maxlv(e), *minlv = ens_minlv(e);
  for (int j = 0; j < B; j++)
    for (int d = 0; d < D; d++) {
      size_t o = ((size_t)m * B + j) * 2 * D, q = ((size_t)m * B + j) * D + d;
      f->m[q] = out[o + d];
      f->lv[q] = ens_logvar(out[o + D + d], maxlv[d], minlv[d]);
      f->sig[q] = R_EXP(f->lv[q] / 2);
    }
}

/* the pre-update model's prediction for the rows j with c_j = m: mo, sigo (B, D) */
static void old_member(void *ctx, int m, int thread) {
  const FtTask *k = ctx;
  Finetune *f = k->f;
  const Ensemble *e = k->e;
  const int B = f->c.batch, D = f->D, in = f->in;
  const real *bounds = f->old + e->nnet;
  real *xg = f->xg + (size_t)thread * B * in, *og = f->og + (size_t)thread * B * 2 * D;
  real *work = f->work + (size_t)thread * f->work_n;
  int n = 0;
  for (int j = 0; j < B; j++)
    if (k->c[j] == m) memcpy(xg + (size_t)n++ * in, k->xs_old + (size_t)j * in, sizeof(real) * in);
  if (!n) return;
  /* raw outputs; bounds applied below with the right vectors */
  nn_infer_member(&e->net, f->old, m, xg, n, og, work);
  n = 0;
  for (int j = 0; j < B; j++) {
    if (k->c[j] != m) continue;
    const real *o = og + (size_t)n++ * 2 * D;
    for (int d = 0; d < D; d++) {
      f->mo[(size_t)j * D + d] = o[d];
      /* faithful: the current shared bounds; w2: the old model's own */
      real mx = f->c.mode == FT_W2 ? bounds[d] : ens_maxlv(e)[d];
      real mn = f->c.mode == FT_W2 ? bounds[D + d] : ens_minlv(e)[d];
      real lv = ens_logvar(o[D + d], mx, mn);
      f->lvo[(size_t)j * D + d] = o[D + d]; /* raw, for the bound gradient */
      f->sigo[(size_t)j * D + d] = R_EXP(lv / 2);
    }
  }
}

/* both of the above: tasks 0..E-1 the current members, E..2E-1 the old ones */
static void outputs_task(void *ctx, int task, int thread) {
  const FtTask *k = ctx;
  if (task < k->f->E)
    current_member(ctx, task, thread);
  else
    old_member(ctx, task - k->f->E, thread);
}

static void backward_member(void *ctx, int m, int thread) {
  (void)thread;
  const FtTask *k = ctx;
  nn_backward_member(&k->e->net, k->e->p, k->f->tape, k->f->dy, k->e->g, 0, NULL, m);
}

double ft_objective(Finetune *f, Ensemble *e, const real *xs, const real *xs_old, int grads,
                    FtTerms *terms) {
  const int B = f->c.batch, D = f->D, E = f->E;
  const int w2 = f->c.mode == FT_W2;
  /* the terms J minimises (weights 1 or 0: the default's arithmetic is unchanged) */
  const double ws = f->c.terms == FT_TERMS_BIAS ? 0.0 : 1.0;
  const double wb = f->c.terms == FT_TERMS_SHIFT ? 0.0 : 1.0;
  /* w2 (and faithful with same_member): a member vs its old self */
  const int32_t *b = f->tab, *c = w2 || f->c.same_member ? f->tab : f->iold;
  const real *maxlv = ens_maxlv(e), *minlv = ens_minlv(e);
  /* current model, every member on every row; the pre-update model, member c_j on row j */
  nn_tape_begin(f->tape, xs, B, 1);
  FtTask task = {f, e, xs_old, c};
  pool_run(e->pool, 2 * E, outputs_task, &task);
  const real *out = f->tape->act[e->net.nlayers - 1];
#define M(mm, jj, dd) f->m[((size_t)(mm)*B + (jj)) * D + (dd)]
#define S(mm, jj, dd) f->sig[((size_t)(mm)*B + (jj)) * D + (dd)]
  double shift = 0, bias = 0;
  double rA = 0, r[64] = {0};
  if (!w2) {
    /* batch-level sums; std only on the (row i, dim i) "trace" entries, i < D */
    double sA = 0, R[64] = {0};
    for (int j = 0; j < B; j++)
      for (int d = 0; d < D; d++) {
        double dm = (double)f->mo[(size_t)j * D + d] - M(b[j], j, d);
        sA += dm * dm;
        for (int m = 0; m < E; m++) {
          double dd = (double)M(b[j], j, d) - M(m, j, d);
          R[m] += dd * dd;
        }
      }
    for (int i = 0; i < D && i < B; i++) {
      double ds = (double)f->sigo[(size_t)i * D + i] - S(b[i], i, i);
      sA += ds * ds;
      for (int m = 0; m < E; m++) {
        double dd = (double)S(b[i], i, i) - S(m, i, i);
        R[m] += dd * dd;
      }
    }
    rA = sqrt(sA);
    shift = rA / B;
    for (int m = 0; m < E; m++) r[m] = sqrt(R[m]), bias += r[m];
    bias /= (double)B * (E - 1);
  } else {
    for (int j = 0; j < B; j++) {
      int p = b[j];
      shift +=
          ft_w2_diag(&M(p, j, 0), &S(p, j, 0), f->mo + (size_t)j * D, f->sigo + (size_t)j * D, D);
      for (int m = 0; m < E; m++)
        if (m != p) bias += ft_w2_diag(&M(p, j, 0), &S(p, j, 0), &M(m, j, 0), &S(m, j, 0), D);
    }
    shift /= B;
    bias /= (double)B * (E - 1);
  }
  const double J = ws * shift + wb * bias;
  if (terms) terms->j = J, terms->shift = shift, terms->bias = bias;
  if (!grads) return J;

  /* ---- gradients: first w.r.t. the means and stds, kept in dy as d/dm and d/dsigma ---- */
  memset(f->dy, 0, sizeof(real) * (size_t)E * B * 2 * D);
  memset(f->gb, 0, sizeof(double) * 2 * D);
#define DM(mm, jj, dd) f->dy[((size_t)(mm)*B + (jj)) * 2 * D + (dd)]
#define DS(mm, jj, dd) f->dy[((size_t)(mm)*B + (jj)) * 2 * D + D + (dd)]
  double dso_scale[64] = {0}; /* faithful: d/dsigma_old on row i, dim i */
  if (!w2) {
    const double kap = wb / ((double)B * (E - 1));
    const double ia = rA > 1e-30 ? ws / (B * rA) : 0;
    for (int j = 0; j < B; j++) {
      int p = b[j];
      for (int d = 0; d < D; d++) {
        double mp = M(p, j, d);
        DM(p, j, d) += (real)((mp - f->mo[(size_t)j * D + d]) * ia);
        for (int m = 0; m < E; m++) {
          if (m == p || r[m] < 1e-30) continue;
          double g = kap * (mp - M(m, j, d)) / r[m];
          DM(p, j, d) += (real)g;
          DM(m, j, d) -= (real)g;
        }
      }
    }
    for (int i = 0; i < D && i < B; i++) {
      int p = b[i];
      double sp = S(p, i, i);
      double gA = (sp - f->sigo[(size_t)i * D + i]) * ia;
      DS(p, i, i) += (real)gA;
      dso_scale[i] = -gA;
      for (int m = 0; m < E; m++) {
        if (m == p || r[m] < 1e-30) continue;
        double g = kap * (sp - S(m, i, i)) / r[m];
        DS(p, i, i) += (real)g;
        DS(m, i, i) -= (real)g;
      }
    }
  } else {
    const double inv = ws / B, kap = wb / ((double)B * (E - 1));
    for (int j = 0; j < B; j++) {
      int p = b[j];
      double q = 0;
      for (int d = 0; d < D; d++) {
        double dm = (double)M(p, j, d) - f->mo[(size_t)j * D + d];
        double ds = (double)S(p, j, d) - f->sigo[(size_t)j * D + d];
        q += dm * dm + ds * ds;
      }
      double w = sqrt(q);
      if (w > 1e-30)
        for (int d = 0; d < D; d++) {
          DM(p, j, d) += (real)(inv * ((double)M(p, j, d) - f->mo[(size_t)j * D + d]) / w);
          DS(p, j, d) += (real)(inv * ((double)S(p, j, d) - f->sigo[(size_t)j * D + d]) / w);
        }
      for (int m = 0; m < E; m++) {
        if (m == p) continue;
        double wq = 0;
        for (int d = 0; d < D; d++) {
          double dm = (double)M(p, j, d) - M(m, j, d), ds = (double)S(p, j, d) - S(m, j, d);
          wq += dm * dm + ds * ds;
        }
        double wm = sqrt(wq);
        if (wm < 1e-30) continue;
        for (int d = 0; d < D; d++) {
          double gm = kap * ((double)M(p, j, d) - M(m, j, d)) / wm;
          double gs = kap * ((double)S(p, j, d) - S(m, j, d)) / wm;
          DM(p, j, d) += (real)gm, DM(m, j, d) -= (real)gm;
          DS(p, j, d) += (real)gs, DS(m, j, d) -= (real)gs;
        }
      }
    }
  }
  /* ---- through sigma = exp(lv / 2) and the bounding to the raw outputs and bounds ---- */
  for (int m = 0; m < E; m++)
    for (int j = 0; j < B; j++)
      for (int d = 0; d < D; d++) {
        real *ds = &DS(m, j, d);
        if (*ds == 0) continue;
        size_t o = ((size_t)m * B + j) * 2 * D;
        Bound bd = bound(out[o + D + d], maxlv[d], minlv[d]);
        real dl = *ds * S(m, j, d) / (real)2;
        *ds = dl * bd.d_raw;
        f->gb[d] += (double)dl * bd.d_max;
        f->gb[D + d] += (double)dl * bd.d_min;
      }
  if (!w2)
    for (int i = 0; i < D && i < B; i++) {
      if (dso_scale[i] == 0) continue;
      /* the old std shares the current bounds (deviation 4): its gradient reaches them */
      Bound bd = bound(f->lvo[(size_t)i * D + i], maxlv[i], minlv[i]);
      double dl = dso_scale[i] * f->sigo[(size_t)i * D + i] / 2;
      f->gb[i] += dl * bd.d_max;
      f->gb[D + i] += dl * bd.d_min;
    }
#undef M
#undef S
#undef DM
#undef DS
  pool_run(e->pool, E, backward_member, &task);
  for (int d = 0; d < 2 * D; d++) e->g[e->nnet + d] = (real)f->gb[d];
  return J;
}

/* ---- phase 2 ---- */

static void scale_with(const real *mu, const real *sd, const float *x, int n, int in, real *out) {
  for (int r = 0; r < n; r++)
    for (int i = 0; i < in; i++)
      out[(size_t)r * in + i] = ((real)x[(size_t)r * in + i] - mu[i]) / sd[i];
}

static double es_value(Finetune *f, Ensemble *e, const float *es_x, FtTerms *t) {
  const int B = f->c.batch, in = f->in;
  scale_with(e->mu, e->sd, es_x, B, in, f->xs);
  if (f->c.own_scaler) scale_with(f->old_mu, f->old_sd, es_x, B, in, f->xs_old);
  f->tab = f->c.mode == FT_W2 ? f->ies : f->inew;
  double j = ft_objective(f, e, f->xs, f->c.own_scaler ? f->xs_old : f->xs, 0, t);
  f->tab = f->inew;
  return j;
}

void ft_sample_batches(const Buffer *mb, Rng *rng, int steps, int batch, float *out) {
  const int od = mb->obs_dim, ad = mb->act_dim, in = od + ad;
  for (int64_t j = 0; j < (int64_t)steps * batch; j++) {
    int64_t p = buf_phys(mb, rng_below(rng, (uint32_t)mb->size));
    memcpy(out + j * in, mb->obs + p * od, sizeof(float) * od);
    memcpy(out + j * in + od, mb->act + p * ad, sizeof(float) * ad);
  }
}

/* One phase-2 Adam step. With shared moments it reads and writes phase 1's m and v (every
 * tensor: weights, biases and the log-variance bounds) and counts its own steps for the bias
 * correction, as the official code does (spec §5.5 8b, deviation 10). Why, read in TensorFlow
 * 1.13-1.15's own source against `finalize` in the official mbpo/models/bnn.py:
 *  - python/training/adam.py, _create_slots: m and v are made by _zeros_slot(v, "m", self._name)
 *    and _zeros_slot(v, "v", self._name), the optimiser's name being "Adam" for both of the
 *    code's optimisers; beta1_power/beta2_power by _create_non_slot_variable (optimizer.py),
 *    which calls variable_scope.variable: a new variable per optimiser, so the counter is its
 *    own (made unique as beta1_power_1).
 *  - python/training/slot_creator.py, create_slot: the slot is created inside
 *    variable_scope(None, default_name=<var op name> + "/" + "Adam") by get_variable; its own
 *    comment says the default name is chosen "so the scope name of optimizer can be shared
 *    when reuse is True". The default name is made unique by _get_unique_variable_scope from
 *    the variable-scope store's counts: "Adam" for m, "Adam_1" for v.
 *  - python/ops/variable_scope.py, _pure_variable_scope.__exit__: leaving a scope opened by
 *    name calls close_variable_subscopes, which sets the counts of all its sub-scopes to 0.
 *  - bnn.py: phase 1's minimize runs in `with tf.variable_scope(self.name)`; on leaving it the
 *    counts are reset; phase 2's correc_optimizer.minimize runs on the same variables (optvars
 *    and backoff_optvars are the same layers' variables and the bounds) in
 *    `tf.variable_scope(self.name, reuse=True)`, so its slot scopes are again ".../Adam" and
 *    ".../Adam_1", reuse is inherited, and get_variable hands back phase 1's m and v (had the
 *    names differed, get_variable under reuse would have failed to build the graph). */
static void ft_adam_step(Finetune *f, Ensemble *e) {
  if (f->c.moments != FT_MOM_SHARED) {
    adam_step(&f->adam, e->p, e->g);
    return;
  }
  Adam a = f->adam;
  a.m = e->adam.m, a.v = e->adam.v;
  adam_step(&a, e->p, e->g);
  f->adam.t = a.t;
}

void ft_run(Finetune *f, Ensemble *e, const float *es_x, const float *batches, Rng *rng,
            const float *xho, const float *yho, int64_t nho, FtStats *st) {
  const int B = f->c.batch, in = f->in;
  const int w2 = f->c.mode == FT_W2;
  memset(st, 0, sizeof *st);
  /* the snapshot: weights and biases (faithful), or everything (w2) */
  const size_t snap_n = w2 ? e->ntotal : e->nnet;
  if (w2)
    for (int j = 0; j < B; j++) f->ies[j] = (int32_t)rng_below(rng, (uint32_t)f->E);
  FtTerms t;
  double best = es_value(f, e, es_x, &t);
  st->j_before = best;
  st->shift = t.shift, st->bias = t.bias;
  st->shift_before = t.shift, st->bias_before = t.bias;
  memcpy(f->snap, e->p, sizeof(real) * snap_n);
  memcpy(f->p1, e->p, sizeof(real) * e->ntotal);
  int stall = 0;
  for (int step = 1; step <= f->c.max_steps; step++) {
    /* a fresh batch of synthetic (s, a) from the model buffer */
    memcpy(f->fx, batches + (size_t)(step - 1) * B * in, sizeof(float) * B * in);
    if (w2)
      for (int j = 0; j < B; j++) f->inew[j] = (int32_t)rng_below(rng, (uint32_t)f->E);
    scale_with(e->mu, e->sd, f->fx, B, in, f->xs);
    if (f->c.own_scaler) scale_with(f->old_mu, f->old_sd, f->fx, B, in, f->xs_old);
    ft_objective(f, e, f->xs, f->c.own_scaler ? f->xs_old : f->xs, 1, NULL);
    ft_adam_step(f, e);
    util_tick();
    st->steps = step;
    if (f->interruptible && util_stop_requested()) {
      st->abandoned = 1;
      break;
    }
    double jn = es_value(f, e, es_x, &t);
    if (e->progress) e->progress(e->progress_ctx, 2, step, jn);
    if ((best - jn) / best > f->c.threshold) {
      best = jn;
      st->kept_step = step;
      st->shift = t.shift, st->bias = t.bias;
      memcpy(f->snap, e->p, sizeof(real) * snap_n);
      stall = 0;
    } else {
      stall++;
    }
    if (stall > f->c.patience) break;
  }
  /* pull back to the best state: weights and biases; the bounds keep their last values in
   * faithful mode (deviation 6) */
  memcpy(e->p, f->snap, sizeof(real) * snap_n);
  double dw = 0;
  for (size_t i = 0; i < e->nnet; i++) dw += ((double)e->p[i] - f->p1[i]) * (e->p[i] - f->p1[i]);
  st->dw_rms = sqrt(dw / (double)e->nnet);
  for (size_t i = e->nnet; i < e->ntotal; i++)
    st->db_max = fmax(st->db_max, fabs(e->p[i] - f->p1[i]));
  st->j_after = best;
  st->pulled_back = st->kept_step != st->steps;
  ens_holdout_mse(e, xho, yho, nho, e->mse);
  ens_select_elites(e->mse, e->c.members, e->c.elites, e->elite);
}
