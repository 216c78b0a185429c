/* ensemble — see ensemble.h. Set-up, scaler, loss, evaluation, early stopping, training. */
#include "ensemble.h"

#include <math.h>
#include <sched.h>
#include <string.h>

#include "util.h"

#define EVAL_ROWS 1024

int ens_net(const EnsConfig *c, NnNet *net) {
  int sizes[NN_MAX_LAYERS + 1];
  sizes[0] = c->obs_dim + c->act_dim;
  for (int l = 1; l <= c->layers; l++) sizes[l] = c->hidden;
  sizes[c->layers + 1] = 2 * (c->obs_dim + 1);
  return nn_net_init(net, c->members, c->layers + 1, sizes, NN_SWISH, NN_IDENTITY);
}

size_t ens_nparam(const EnsConfig *c) {
  NnNet n;
  ens_net(c, &n);
  return n.nparam;
}

size_t ens_bytes(const EnsConfig *c) {
  NnNet n;
  ens_net(c, &n);
  const int in0 = c->obs_dim + c->act_dim;
  size_t er = (size_t)c->members * c->batch;
  const size_t T = c->threads > 1 ? (size_t)c->threads : 1;
  const size_t D = (size_t)(c->obs_dim + 1);
  size_t reals = 6 * (n.nparam + 4 * D) + er * (size_t)(in0 + 3 * D) + 3 * D * c->members +
                 T * (nn_infer_scratch(&n, EVAL_ROWS) + 2 * (size_t)EVAL_ROWS * D +
                      (size_t)EVAL_ROWS * (in0 + D));
  return reals * sizeof(real) + (sizeof(double) * (2 * D + 1) + sizeof(atomic_int)) * c->members +
         nn_tape_bytes(&n, c->batch);
}

Ensemble *ens_make(const EnsConfig *c, uint32_t seed) {
  CHECK(c->members >= 1 && c->members <= 64 && c->elites >= 1 && c->elites <= c->members,
        "ensemble: %d members, %d elites", c->members, c->elites);
  CHECK(c->layers >= 1 && c->layers + 1 <= NN_MAX_LAYERS, "ensemble: %d hidden layers", c->layers);
  Ensemble *e = xmalloc(sizeof *e);
  e->c = *c;
  e->c.in_dim = c->obs_dim + c->act_dim;
  e->c.out_dim = c->obs_dim + 1;
  const int D = e->c.out_dim, in = e->c.in_dim;
  CHECK(ens_net(c, &e->net) == 0, "ensemble shape");
  for (int l = 0; l <= c->layers; l++) e->net.layer[l].decay = (real)c->decay[l];
  e->nnet = e->net.nparam;
  e->ntotal = e->nnet + 2 * (size_t)D;
  e->p = xmalloc(sizeof(real) * e->ntotal);
  e->g = xmalloc(sizeof(real) * e->ntotal);
  Rng init = rng_make(seed, RNG_INIT, 2);
  nn_init_truncnormal(&e->net, e->p, &init);
  for (int d = 0; d < D; d++)
    ens_maxlv(e)[d] = (real)c->init_maxlv, ens_minlv(e)[d] = (real)c->init_minlv;
  e->mu = xmalloc(sizeof(real) * in);
  e->sd = xmalloc(sizeof(real) * in);
  for (int i = 0; i < in; i++) e->sd[i] = 1;
  adam_init(&e->adam, e->ntotal, c->lr);
  for (int k = 0; k < c->elites; k++) e->elite[k] = k;
  const size_t er = (size_t)c->members * c->batch;
  e->tape = nn_tape_make(&e->net, c->batch);
  e->xb = xmalloc(sizeof(real) * er * in);
  e->yb = xmalloc(sizeof(real) * er * D);
  e->dy = xmalloc(sizeof(real) * er * 2 * D);
  e->gb = xmalloc(sizeof(double) * 2 * D);
  e->gb_m = xmalloc(sizeof(double) * 2 * D * c->members);
  e->loss_m = xmalloc(sizeof(double) * c->members);
  e->nll_acc = xmalloc(sizeof(real) * 3 * D * c->members);
  e->eval_rows = EVAL_ROWS;
  e->pool = NULL;
  e->split = 0, e->split_layer = e->net.nlayers;
  e->stage_done = xmalloc(sizeof(atomic_int) * c->members);
  for (int m = 0; m < c->members; m++) atomic_init(&e->stage_done[m], 0);
  const int T = c->threads > 1 ? c->threads : 1;
  e->c.threads = T;
  e->tw = xmalloc(sizeof(EnsThreadWork) * T);
  for (int t = 0; t < T; t++) {
    e->tw[t].scratch = xmalloc(sizeof(real) * ens_predict_work(e, EVAL_ROWS));
    e->tw[t].eval_x = xmalloc(sizeof(real) * EVAL_ROWS * in);
    e->tw[t].eval_out = xmalloc(sizeof(real) * EVAL_ROWS * D);
  }
  return e;
}

/* ---- the phase-1 step's schedule ----
 *
 * A step's members are the pool's tasks, claimed in order by whichever thread is free, and the
 * step ends when all are done (the shared bounds take their Adam step on the summed gradient).
 * With E members on T threads and E not a multiple of T, the last round leaves threads idle:
 * 7 members on 2 threads take 4 members' time, at most 1.75x one thread. So the last q members
 * are each cut in two tasks at a layer of their backward — the first (gather, forward, loss, the
 * top layers' backward) at the head of the list, the second (the rest of the backward, Adam) at
 * its tail — and the threads share the remainder: 7 on 2 then take 3.5 members' time plus the
 * imbalance of the cut. Every member still makes the same calls in the same order, so the
 * numbers are those of one thread. q and the layer come from the greedy schedule's length with
 * the layers' multiply-adds as costs. */

/* a member's multiply-adds per row up to and including the backward of layers [lo, nlayers) */
static double stage1_cost(const NnNet *net, int lo) {
  double c = 0;
  for (int l = 0; l < net->nlayers; l++) {
    const double w = (double)net->layer[l].in * net->layer[l].out;
    c += w;                              /* forward */
    if (l >= lo) c += l > 0 ? 2 * w : w; /* dW, and dX above the first layer */
  }
  return c;
}

/* the greedy schedule's length, in members' time: q members cut into a first part of size a
 * and a second of 1 - a that cannot start before the first ends */
static double schedule_length(int E, int T, int q, double a) {
  double free_at[64], end1[64], len = 0;
  for (int t = 0; t < T; t++) free_at[t] = 0;
  for (int i = 0; i < E + q; i++) {
    int t = 0;
    for (int j = 1; j < T; j++)
      if (free_at[j] < free_at[t]) t = j;
    double start = free_at[t], cost = 1;
    if (i < q) cost = a;
    if (i >= E) cost = 1 - a, start = fmax(start, end1[i - E]);
    free_at[t] = start + cost;
    if (i < q) end1[i] = free_at[t];
    len = fmax(len, free_at[t]);
  }
  return len;
}

static void plan_split(Ensemble *e) {
  const int E = e->c.members, T = pool_threads(e->pool), L = e->net.nlayers;
  e->split = 0, e->split_layer = L;
  if (T < 2 || T > 64 || L < 2) return;
  /* the cut nearest half of the member's work: a, the first part's share */
  const double total = stage1_cost(&e->net, 0);
  int k = 0;
  double a = 1;
  for (int l = 1; l < L; l++) {
    const double al = stage1_cost(&e->net, l) / total;
    if (fabs(al - 0.5) < fabs(a - 0.5)) k = l, a = al;
  }
  double best = schedule_length(E, T, 0, a);
  for (int q = 1; q <= E; q++) {
    double len = schedule_length(E, T, q, a);
    if (len < best - 1e-9) best = len, e->split = q;
  }
  if (e->split) e->split_layer = k;
}

void ens_set_pool(Ensemble *e, Pool *p) {
  CHECK(pool_threads(p) <= e->c.threads, "ensemble: a pool of %d threads, workspaces for %d",
        pool_threads(p), e->c.threads);
  e->pool = p;
  plan_split(e);
}

void ens_free(Ensemble *e) {
  if (!e) return;
  adam_free(&e->adam);
  nn_tape_free(e->tape);
  xfree(e->p), xfree(e->g), xfree(e->mu), xfree(e->sd), xfree(e->xb), xfree(e->yb);
  xfree(e->dy), xfree(e->gb), xfree(e->gb_m), xfree(e->loss_m), xfree(e->nll_acc);
  for (int t = 0; t < e->c.threads; t++)
    xfree(e->tw[t].scratch), xfree(e->tw[t].eval_x), xfree(e->tw[t].eval_out);
  xfree(e->tw);
  xfree(e->stage_done);
  xfree(e);
}

/* ---- scaler ---- */

void ens_fit_scaler(Ensemble *e, const float *x, int64_t n) {
  const int in = e->c.in_dim;
  for (int i = 0; i < in; i++) {
    double s = 0;
    for (int64_t r = 0; r < n; r++) s += x[r * in + i];
    double m = n > 0 ? s / (double)n : 0, v = 0;
    for (int64_t r = 0; r < n; r++) {
      double d = x[r * in + i] - m;
      v += d * d;
    }
    double sd = n > 0 ? sqrt(v / (double)n) : 1; /* population std, as numpy's default */
    e->mu[i] = (real)m;
    e->sd[i] = sd < 1e-12 ? (real)1 : (real)sd;
  }
}

void ens_scale(const Ensemble *e, const float *x, int n, real *out) {
  const int in = e->c.in_dim;
  for (int r = 0; r < n; r++)
    for (int i = 0; i < in; i++)
      out[(size_t)r * in + i] = ((real)x[(size_t)r * in + i] - e->mu[i]) / e->sd[i];
}

/* ---- loss ---- */

/* the per-element NLL terms of one member's rows and their gradients: returns the sum of
 * (diff^2 e^-lv + lv) over the rows. The inner loop runs over the D outputs with no branches
 * and per-output float accumulators (acc: 3D floats), so it vectorises; the bound gradients
 * are added to the double accumulator gb once per member. */
static inline double nll_rows_impl(const real *restrict out, const real *restrict y,
                                   real *restrict dy, int n, int D, const real *restrict maxlv,
                                   const real *restrict minlv, real c, int grads,
                                   double *restrict gb, real *restrict acc) {
  real *restrict lsum = acc, *restrict gmax = acc + D, *restrict gmin = acc + 2 * D;
  for (int d = 0; d < 3 * D; d++) acc[d] = 0;
  for (int j = 0; j < n; j++) {
    const real *restrict o = out + (size_t)j * 2 * D;
    const real *restrict yy = y + (size_t)j * D;
    real *restrict g = dy + (size_t)j * 2 * D;
    for (int d = 0; d < D; d++) {
      real sa, sb;
      real a = maxlv[d] - o[D + d];
      real l1 = maxlv[d] - r_softplus_sigmoid(a, &sa);
      real b = l1 - minlv[d];
      real lv = minlv[d] + r_softplus_sigmoid(b, &sb);
      real inv = r_exp_fast(-lv);
      real diff = o[d] - yy[d];
      real q = diff * diff * inv;
      lsum[d] += q + lv;
      if (grads) {
        real dlv = c * ((real)1 - q);
        g[d] = (real)2 * c * diff * inv;
        g[D + d] = dlv * sb * sa;
        gmax[d] += dlv * sb * ((real)1 - sa);
        gmin[d] += dlv * ((real)1 - sb);
      }
    }
  }
  double lm = 0;
  for (int d = 0; d < D; d++) lm += lsum[d];
  if (grads)
    for (int d = 0; d < D; d++) gb[d] += gmax[d], gb[D + d] += gmin[d];
  return lm;
}

NN_CLONES
static double nll_rows_grad(const real *out, const real *y, real *dy, int n, int D,
                            const real *maxlv, const real *minlv, real c, double *gb, real *acc) {
  return nll_rows_impl(out, y, dy, n, D, maxlv, minlv, c, 1, gb, acc);
}

NN_CLONES
static double nll_rows_loss(const real *out, const real *y, int n, int D, const real *maxlv,
                            const real *minlv, real *acc) {
  return nll_rows_impl(out, y, NULL, n, D, maxlv, minlv, 0, 0, NULL, acc);
}

/* one minibatch's rows gathered from the bootstrap lists (phase 1), or NULL: xb/yb are set */
typedef struct {
  const int32_t *idx; /* (members, ntr) */
  int64_t ntr, off;   /* this minibatch starts at position off of every member's list */
  const float *x, *y; /* unscaled training rows */
} Gather;

typedef struct {
  Ensemble *e;
  int n, grads;
  const Gather *gather;
  int adam;  /* also take the Adam step of the member's weights and biases */
  real lr_t; /* that step's rate */
} StepTask;

/* member m's rows of the minibatch, scaled, into xb / yb */
static void gather_member(Ensemble *e, const Gather *g, int m, int rows) {
  const int in = e->c.in_dim, D = e->c.out_dim;
  const int32_t *li = g->idx + (size_t)m * g->ntr + g->off;
  for (int j = 0; j < rows; j++) {
    const float *x = g->x + (size_t)li[j] * in;
    real *xs = e->xb + ((size_t)m * rows + j) * in;
    for (int i = 0; i < in; i++) xs[i] = ((real)x[i] - e->mu[i]) / e->sd[i];
    const float *y = g->y + (size_t)li[j] * D;
    real *ys = e->yb + ((size_t)m * rows + j) * D;
    for (int d = 0; d < D; d++) ys[d] = y[d];
  }
}

/* member m's step, or one of its two parts: part 1 (gather,) forward, its NLL terms and
 * bound-gradient share, the backward of layers [cut, nlayers); part 2 the backward of [0, cut)
 * and the member's Adam step. part 0: both. */
static void step_member_part(const StepTask *k, int m, int part) {
  Ensemble *e = k->e;
  const int n = k->n, D = e->c.out_dim, L = e->net.nlayers;
  const int cut = part ? e->split_layer : 0;
  if (part != 2) {
    if (k->gather) gather_member(e, k->gather, m, n);
    nn_forward_member(&e->net, e->p, e->tape, m);
    const real *om = e->tape->act[L - 1] + (size_t)m * n * 2 * D;
    const real *ym = e->yb + (size_t)m * n * D;
    const real *maxlv = ens_maxlv(e), *minlv = ens_minlv(e);
    const real c = (real)1 / ((real)n * (real)D);
    real *acc = e->nll_acc + (size_t)m * 3 * D;
    if (!k->grads) {
      e->loss_m[m] = nll_rows_loss(om, ym, n, D, maxlv, minlv, acc);
      return;
    }
    double *gb = e->gb_m + (size_t)m * 2 * D;
    memset(gb, 0, sizeof(double) * 2 * D);
    e->loss_m[m] =
        nll_rows_grad(om, ym, e->dy + (size_t)m * n * 2 * D, n, D, maxlv, minlv, c, gb, acc);
    nn_backward_member_layers(&e->net, e->p, e->tape, e->dy, e->g, 0, NULL, m, L, cut);
  }
  if (part != 1) {
    if (cut > 0) nn_backward_member_layers(&e->net, e->p, e->tape, e->dy, e->g, 0, NULL, m, cut, 0);
    if (k->adam) adam_step_member(&e->adam, &e->net, e->p, e->g, m, k->lr_t);
  }
}

/* task t of a step with q cut members (the last q): their first parts, the whole members, their
 * second parts — a second part waits for its first (claimed long before; it rarely has to) */
static void step_task(void *ctx, int t, int thread) {
  (void)thread;
  const StepTask *k = ctx;
  Ensemble *e = k->e;
  const int E = e->c.members, q = k->grads ? e->split : 0;
  if (t < q) {
    step_member_part(k, E - q + t, 1);
    atomic_store_explicit(&e->stage_done[E - q + t], 1, memory_order_release);
  } else if (t < E) {
    step_member_part(k, t - q, 0);
  } else {
    const int m = E - q + (t - E);
    for (int i = 0; !atomic_load_explicit(&e->stage_done[m], memory_order_acquire); i++)
      if (i > 1000) sched_yield();
    step_member_part(k, m, 2);
  }
}

/* the NLL and bound-penalty part of the loss (no weight decay), with its gradients. Members
 * are tasks; their loss and bound-gradient shares are summed here in member order. */
static double nll_part(Ensemble *e, int n, int grads, const Gather *gather, int adam) {
  const int E = e->c.members, D = e->c.out_dim;
  nn_tape_begin(e->tape, e->xb, n, 0);
  StepTask k = {e, n, grads, gather, adam, adam ? adam_begin(&e->adam) : 0};
  const int q = grads ? e->split : 0;
  for (int m = E - q; m < E; m++) atomic_store_explicit(&e->stage_done[m], 0, memory_order_relaxed);
  pool_run(e->pool, E + q, step_task, &k);
  const real *maxlv = ens_maxlv(e), *minlv = ens_minlv(e);
  const real c = (real)1 / ((real)n * (real)D);
  double loss = 0;
  memset(e->gb, 0, sizeof(double) * 2 * D);
  for (int m = 0; m < E; m++) {
    loss += e->loss_m[m] * c;
    if (grads)
      for (int d = 0; d < 2 * D; d++) e->gb[d] += e->gb_m[(size_t)m * 2 * D + d];
  }
  double pen = 0;
  for (int d = 0; d < D; d++) pen += (double)maxlv[d] - minlv[d];
  loss += e->c.bound_penalty * pen;
  if (grads)
    for (int d = 0; d < D; d++) {
      e->g[e->nnet + d] = (real)(e->gb[d] + e->c.bound_penalty);
      e->g[e->nnet + D + d] = (real)(e->gb[D + d] - e->c.bound_penalty);
    }
  /* the bounds' step, once their gradient is summed over the members */
  if (adam) adam_step_rest(&e->adam, &e->net, e->p, e->g, k.lr_t);
  return loss;
}

double ens_nll(Ensemble *e, int n, int grads) {
  double loss = nll_part(e, n, grads, NULL, 0);
  return loss + nn_decay(&e->net, e->p, grads ? e->g : NULL);
}

/* each member's Adam step is taken in its task, right after its backward; the shared bounds'
 * after the sum */
double ens_train_step(Ensemble *e, int n) {
  return nll_part(e, n, 1, NULL, 1);
}

static double train_step_gather(Ensemble *e, int n, const Gather *g) {
  return nll_part(e, n, 1, g, 1);
}

/* ---- evaluation ---- */

size_t ens_predict_work(const Ensemble *e, int n) {
  return nn_infer_scratch(&e->net, n) + (size_t)n * 2 * e->c.out_dim;
}

/* split raw outputs (n, 2D) into means and bounded log-variances */
NN_CLONES
static void split_bound(const real *restrict raw, int n, int D, const real *restrict maxlv,
                        const real *restrict minlv, real *restrict mean, real *restrict logvar) {
  for (int j = 0; j < n; j++) {
    const real *restrict o = raw + (size_t)j * 2 * D;
    if (mean)
      for (int d = 0; d < D; d++) mean[(size_t)j * D + d] = o[d];
    if (logvar)
      for (int d = 0; d < D; d++)
        logvar[(size_t)j * D + d] = ens_logvar(o[D + d], maxlv[d], minlv[d]);
  }
}

void ens_predict(const Ensemble *e, const real *param, int member, const real *xs, int n,
                 real *mean, real *logvar, real *work) {
  const int D = e->c.out_dim;
  real *raw = work, *scr = work + (size_t)n * 2 * D;
  nn_infer_member(&e->net, param, member, xs, n, raw, scr);
  split_bound(raw, n, D, param + e->nnet, param + e->nnet + D, mean, logvar);
}

typedef struct {
  Ensemble *e;
  const float *x, *y;
  int64_t n;
  double *acc; /* (members) */
} HoldoutTask;

/* member m's squared errors over every row, in row order (its own scaling of each chunk) */
static void holdout_member(void *ctx, int m, int thread) {
  const HoldoutTask *k = ctx;
  Ensemble *e = k->e;
  const EnsThreadWork *w = &e->tw[thread];
  const int D = e->c.out_dim;
  double acc = 0;
  for (int64_t r0 = 0; r0 < k->n; r0 += e->eval_rows) {
    int rows = (int)(k->n - r0 < e->eval_rows ? k->n - r0 : e->eval_rows);
    ens_scale(e, k->x + r0 * e->c.in_dim, rows, w->eval_x);
    ens_predict(e, e->p, m, w->eval_x, rows, w->eval_out, NULL, w->scratch);
    for (int j = 0; j < rows; j++)
      for (int d = 0; d < D; d++) {
        double diff = (double)w->eval_out[(size_t)j * D + d] - k->y[(r0 + j) * D + d];
        acc += diff * diff;
      }
  }
  k->acc[m] = acc;
}

void ens_holdout_mse(Ensemble *e, const float *x, const float *y, int64_t n, double *mse) {
  const int E = e->c.members, D = e->c.out_dim;
  double acc[64] = {0};
  HoldoutTask k = {e, x, y, n, acc};
  pool_run(e->pool, E, holdout_member, &k);
  for (int m = 0; m < E; m++) mse[m] = n > 0 ? acc[m] / ((double)n * D) : 0;
}

/* ---- early stopping and elites ---- */

void es_start(EarlyStop *s, int members) {
  for (int m = 0; m < members; m++) s->best[m] = 1e10;
  s->since = 0;
}

int es_update(EarlyStop *s, const double *mse, int members, double threshold, int patience,
              int *improved) {
  int any = 0;
  for (int m = 0; m < members; m++) {
    double imp = (s->best[m] - mse[m]) / s->best[m];
    improved[m] = imp > threshold;
    if (improved[m]) s->best[m] = mse[m], any = 1;
  }
  s->since = any ? 0 : s->since + 1;
  return s->since > patience;
}

void ens_select_elites(const double *mse, int members, int k, int *elite) {
  int order[64];
  for (int m = 0; m < members; m++) order[m] = m;
  /* stable insertion sort by MSE (NaN sorts last) */
  for (int i = 1; i < members; i++) {
    int v = order[i], j = i - 1;
    double mv = isnan(mse[v]) ? INFINITY : mse[v];
    while (j >= 0 && (isnan(mse[order[j]]) ? INFINITY : mse[order[j]]) > mv) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = v;
  }
  for (int i = 0; i < k; i++) elite[i] = order[i];
}

/* ---- phase 1 ---- */

static double st_mean_mse(const double *mse, int E) {
  double s = 0;
  for (int m = 0; m < E; m++) s += mse[m];
  return s / E;
}

void ens_bootstrap(Rng *rng, int members, int64_t n, int32_t *idx) {
  for (int m = 0; m < members; m++)
    for (int64_t i = 0; i < n; i++) idx[(size_t)m * n + i] = (int32_t)rng_below(rng, (uint32_t)n);
}

void ens_train_mle(Ensemble *e, const float *xtr, const float *ytr, int64_t ntr, const float *xho,
                   const float *yho, int64_t nho, Rng *rng, EnsTrainStats *st) {
  const int E = e->c.members, bs = e->c.batch;
  const double t0 = util_now();
  memset(st, 0, sizeof *st);
  CHECK(ntr > 0 && ntr < 0x7fffffff, "ensemble: %lld training rows", (long long)ntr);
  /* bootstrap: each member's list of ntr draws with replacement, fixed for the call */
  int32_t *idx = xmalloc(sizeof(int32_t) * (size_t)E * ntr);
  ens_bootstrap(rng, E, ntr, idx);
  real *snap = xmalloc(sizeof(real) * e->nnet);
  memcpy(snap, e->p, sizeof(real) * e->nnet);
  EarlyStop es;
  es_start(&es, E);
  double mse[64];
  int improved[64];
  const int64_t nb = (ntr + bs - 1) / bs;
  for (int epoch = 0;; epoch++) {
    for (int64_t b = 0; b < nb; b++) {
      int rows = (int)(ntr - b * bs < bs ? ntr - b * bs : bs);
      Gather g = {idx, ntr, b * bs, xtr, ytr};
      train_step_gather(e, rows, &g);
      util_tick();
      if (e->interruptible && util_stop_requested()) {
        st->abandoned = 1;
        break;
      }
    }
    if (st->abandoned) break;
    for (int m = 0; m < E; m++) rng_shuffle_i32(rng, idx + (size_t)m * ntr, (size_t)ntr);
    st->epochs = epoch + 1;
    ens_holdout_mse(e, xho, yho, nho, mse);
    if (e->progress) e->progress(e->progress_ctx, 1, st->epochs, st_mean_mse(mse, E));
    int stop = es_update(&es, mse, E, e->c.improve_threshold, e->c.patience, improved);
    for (int m = 0; m < E; m++)
      if (improved[m]) nn_copy_member(&e->net, snap, e->p, m);
    if (stop) break;
    if (e->c.max_epochs > 0 && st->epochs >= e->c.max_epochs) break;
    if (e->c.max_train_s > 0 && util_now() - t0 > e->c.max_train_s) break;
  }
  memcpy(st->best, es.best, sizeof(double) * E);
  /* restore each member's best weights and biases; the log-variance bounds keep their values */
  for (int m = 0; m < E; m++) nn_copy_member(&e->net, e->p, snap, m);
  ens_holdout_mse(e, xho, yho, nho, e->mse);
  ens_select_elites(e->mse, E, e->c.elites, e->elite);
  double s = 0, se = 0;
  for (int m = 0; m < E; m++) s += e->mse[m];
  for (int k = 0; k < e->c.elites; k++) se += e->mse[e->elite[k]];
  st->holdout_mse = s / E;
  st->holdout_mse_elites = se / e->c.elites;
  st->seconds = util_now() - t0;
  xfree(idx);
  xfree(snap);
}
