/* bench_cost — what a whole run of a preset costs, measured phase by phase at real buffer sizes
 * and projected over the preset's standard budget, at 1 thread and at T threads.
 *
 * Per buffer size N (default 10k, 50k, 100k real rows) it measures, with the run's own code:
 *   - SAC updates per second (batch 256 from the N rows; the update's chains on the threads);
 *   - one model training's phase 1 per epoch (mt_train capped at a few epochs after a warm-up
 *     training, so the weights are warm as in a run: minibatch steps, holdout evaluation);
 *   - phase 2 (the preset's max_steps; it rarely stops early in faithful mode);
 *   - one rollout step over rollout.batch_size rows (shards on the threads);
 *   - env steps (one core: actors are their own ranks);
 * and the epochs phase 1 runs to early stopping: measured here on the bench's data (a warm
 * training on N rows after one on N - train_freq rows), or taken from real runs' metrics.csv
 * (--epochs-from: each row's model_epochs at its env_buffer, interpolated), which is the honest
 * source: the bench's data are collected by uniform random actions, whose fit is not a trained
 * policy's. The projection sums, epoch by epoch of the budget, SAC updates + trainings (phase-1
 * epochs x epoch time at that N, interpolated linearly in N) + phase 2 + rollout steps at the
 * schedule's length + env steps. Threads change no number of a run (test_pool, determinism).
 *
 *   bench_cost [--env hopper] [--rows 10000,50000,100000] [--threads T] [--epochs-from CSV]...
 *              [--epochs E] [--fit-epochs] [--quick] [--check METRICS.csv] [--paired-phase1 R]
 *              [--steps N]
 * (--steps N: project a budget of N env steps after the exploration instead of the preset's;
 *  --quick: SAC over 20 updates, phase 1 over 3 pairs of 1/2-epoch trainings, phase 2 timed once)
 * (--epochs E: a constant epochs-per-training, e.g. one read off a real run's model_epochs)
 *
 * --check: the projection against a real run of the same preset at --threads threads, epoch by
 * epoch: each phase's measured time (t_sac_s, t_model_s, t_phase2_s, t_rollout_s) over what
 * the measured rates give for that epoch's own work (its SAC updates; its trainings' phase-1
 * epochs, model_epochs_total, at its buffer size; its phase 2s; its rollout steps), and the
 * median ratio per phase.
 *
 * --paired-phase1 R: only phase-1 trainings at each N, one thread against T, R pairs (paired
 * ratio, and the two models compared bit for bit). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "buffer.h"
#include "config.h"
#include "envs/env.h"
#include "modeltrain.h"
#include "pool.h"
#include "rollout.h"
#include "sac.h"
#include "setup.h"

#define MAXN 8

typedef struct {
  int64_t n;
  double sac_s[2];      /* seconds per SAC update at 1 and T threads */
  double p1_ep_s[2];    /* seconds per phase-1 epoch */
  double p1_fixed_s[2]; /* a training's cost besides its epochs (data, permutation, scaler) */
  double p2_s[2];       /* seconds per phase 2 */
  double ro_step_s[2];
  double epochs; /* phase-1 epochs to early stopping */
} Point;

static Config g_cfg;

/* N rows of the env under uniform random actions (episodes cut by termination or time) */
static Buffer *collect(const Config *c, int64_t n, double *env_step_s) {
  const EnvInfo *ei = env_info(c->env.name);
  EnvOptions eo = {c->env.contact_forces, c->env.model_dir};
  char err[256];
  Env *env = env_make(c->env.name, &eo, err, sizeof err);
  CHECK(env, "%s", err);
  const int od = ei->obs_dim, ad = ei->act_dim;
  Buffer *b = buf_make(od, ad, n);
  Rng r = rng_make(1, RNG_TEST, 7);
  float *o = xmalloc(sizeof(float) * od), *a = xmalloc(sizeof(float) * ad);
  float *x = xmalloc(sizeof(float) * od);
  const double *obs = env_reset(env, &r);
  int t = 0;
  const double t0 = util_now();
  for (int64_t i = 0; i < n; i++) {
    for (int k = 0; k < od; k++) o[k] = (float)obs[k];
    for (int k = 0; k < ad; k++) a[k] = (float)(2 * rng_uniform(&r) - 1);
    EnvStep st = env_step(env, a);
    for (int k = 0; k < od; k++) x[k] = (float)st.obs[k];
    float rew = (float)st.reward;
    uint8_t done = (uint8_t)st.terminated;
    buf_push(b, 1, o, a, &rew, x, &done);
    obs = st.obs;
    if (st.terminated || st.sim_error || ++t >= c->env.max_episode_steps)
      obs = env_reset(env, &r), t = 0;
  }
  *env_step_s = (util_now() - t0) / (double)n;
  xfree(o), xfree(a), xfree(x);
  env_free(env);
  return b;
}

static Config with(const Config *base, int threads, int64_t max_epochs) {
  Config c = *base;
  c.run.threads_now = threads;
  c.model.max_epochs = max_epochs;
  return c;
}

/* phase 2's batches: (s, a) rows of the data, as from a model buffer */
static float *p2_batches(const ModelTrain *m, const Buffer *b) {
  int64_t rows = mt_phase2_rows(m);
  if (rows == 0) return NULL;
  float *out = xmalloc(sizeof(float) * rows * (b->obs_dim + b->act_dim));
  Rng r = rng_make(2, RNG_TEST, 9);
  ft_sample_batches(b, &r, (int)(rows / g_cfg.finetune.batch_size), (int)g_cfg.finetune.batch_size,
                    out);
  return out;
}

static Buffer *first_rows(const Buffer *all, int64_t n) {
  Buffer *b = buf_make(all->obs_dim, all->act_dim, n);
  for (int64_t i = 0; i < n; i++) {
    int64_t q = buf_phys(all, i);
    buf_push(b, 1, all->obs + q * all->obs_dim, all->act + q * all->act_dim, all->rew + q,
             all->next + q * all->obs_dim, all->done + q);
  }
  return b;
}

/* at N rows: the time of a phase-1 epoch (minibatch steps and holdout evaluation: it depends on
 * N, not on the weights) and of a phase 2 run to its max_steps (patience lifted), from pairs of
 * timed trainings after an untimed first one; with fit, also the epochs to early stopping of a
 * warm training (one on N - train_freq rows to early stopping, then one on N) */
static void model_point(Point *p, const Buffer *all, int threads, int slot, int fit, int quick) {
  const EnvInfo *ei = env_info(g_cfg.env.name);
  double tm[TM_COUNT];
  Buffer *b = first_rows(all, p->n);
  if (fit) {
    Buffer *prev = first_rows(all, p->n - g_cfg.model.train_freq);
    Config cw = with(&g_cfg, threads, 1000);
    ModelTrain *m = mt_make(&cw, ei->obs_dim, ei->act_dim);
    mt_train(m, prev, NULL, tm, 0);
    float *batches = p2_batches(m, b);
    mt_train(m, b, batches, tm, 0);
    p->epochs = tm[TM_EPOCHS];
    mt_free(m);
    xfree(batches);
    buf_free(prev);
  }
  /* trainings of 1 and of 1 + cap epochs (--quick: 1, else 3), alternating: the difference is
   * cap epochs; the rest is the training's fixed cost (data, permutation, scaler, bootstrap
   * lists, restore) */
  const int cap = quick ? 1 : 3;
  Config c1 = with(&g_cfg, threads, 1), cn = with(&g_cfg, threads, 1 + cap);
  c1.finetune.patience = c1.finetune.max_steps, cn.finetune.patience = cn.finetune.max_steps;
  ModelTrain *m1 = mt_make(&c1, ei->obs_dim, ei->act_dim);
  ModelTrain *mn = mt_make(&cn, ei->obs_dim, ei->act_dim);
  mt_train(m1, b, NULL, tm, 0); /* the first training has no phase 2 */
  mt_train(mn, b, NULL, tm, 0);
  float *batches = p2_batches(mn, b);
  /* per pair of trainings (1 and 1 + cap epochs, back to back) the difference; the median over
   * the pairs, not the difference of two minima taken minutes apart (which read a 2-thread
   * epoch 15 % slow, with a negative fixed cost, once in two runs) */
  /* --quick: 3 pairs, and phase 2 (Humanoid's 100 steps: 30 s at 10k rows) run in the first
   * pair only, so that a Humanoid point takes minutes, not ten */
  enum { PAIRS = 5 };
  const int pairs = quick ? 3 : PAIRS;
  double d[PAIRS], t1[PAIRS], best_p2 = 1e30;
  for (int r = 0; r < pairs; r++) {
    double t[2];
    for (int k = 0; k < 2; k++) {
      const int with_p2 = batches && (!quick || r == 0);
      mt_train(k ? mn : m1, b, with_p2 ? batches : NULL, tm, 0);
      t[k] = tm[TM_SECONDS] - tm[TM_P2_SECONDS];
      if (with_p2) best_p2 = fmin(best_p2, tm[TM_P2_SECONDS]);
    }
    d[r] = t[1] - t[0], t1[r] = t[0];
  }
  p->p1_ep_s[slot] = bench_median(d, pairs) / cap;
  p->p1_fixed_s[slot] = bench_median(t1, pairs) - p->p1_ep_s[slot];
  p->p2_s[slot] = batches ? best_p2 : 0;
  mt_free(m1);
  mt_free(mn);
  xfree(batches);
  buf_free(b);
}

/* --paired-phase1: phase-1 trainings of 2 epochs on the first n rows (no phase 2), one thread
 * and T threads interleaved by bench_pair (its warm-up is each model's first training, from
 * scratch; then each trains on the rows it has seen): the speed-up min/min and paired, and
 * whether the two models are bit-identical after the same sequence of trainings */
typedef struct {
  ModelTrain *m;
  const Buffer *b;
} TrainCtx;

static void train_once(void *v) {
  TrainCtx *c = v;
  double tm[TM_COUNT];
  mt_train(c->m, c->b, NULL, tm, 0);
}

static void phase1_paired(const Buffer *all, int64_t n, int threads, int rounds) {
  const EnvInfo *ei = env_info(g_cfg.env.name);
  Buffer *b = first_rows(all, n);
  TrainCtx ctx[2]; /* 1 thread, T threads */
  for (int k = 0; k < 2; k++) {
    Config c = with(&g_cfg, k ? threads : 1, 2);
    ctx[k] = (TrainCtx){mt_make(&c, ei->obs_dim, ei->act_dim), b};
  }
  double t1, tn, lo, hi;
  bench_pair(train_once, &ctx[0], train_once, &ctx[1], 1, rounds, &t1, &tn);
  bench_paired_range(&lo, &hi);
  const Ensemble *e0 = mt_ensemble(ctx[0].m), *e1 = mt_ensemble(ctx[1].m);
  const int same = !memcmp(e0->p, e1->p, sizeof(real) * e0->ntotal);
  printf("N %7lld: phase-1 training (2 epochs): 1 thread %.2f s, %d threads %.2f s (min of %d); "
         "speed-up %.3f min/min, %.3f paired (median; pairs %.3f..%.3f); models %s\n",
         (long long)n, t1, threads, tn, rounds, t1 / tn, bench_paired_ratio(), lo, hi,
         same ? "bit-identical" : "DIFFER");
  fflush(stdout);
  mt_free(ctx[0].m), mt_free(ctx[1].m);
  buf_free(b);
}

typedef struct {
  Sac *s;
  const Buffer *b;
} SacCtx;

static void sac_one(void *v) {
  SacCtx *c = v;
  sac_sample_batch(c->s, c->b, NULL, c->s->c.batch);
  sac_update(c->s);
}

static double sac_rate(const Buffer *b, int threads, int reps) {
  SacConfig sc = setup_sac(&g_cfg);
  Sac *s = sac_make(&sc, 1);
  Pool *p = threads > 1 ? pool_make(threads > 4 ? 4 : threads) : NULL;
  sac_set_pool(s, p);
  SacCtx c = {s, b};
  double best = 1e30;
  sac_one(&c);
  for (int r = 0; r < 3; r++) {
    double t = bench_time(sac_one, &c, reps);
    if (t < best) best = t;
  }
  sac_free(s);
  pool_free(p);
  return best;
}

typedef struct {
  Rollout *ro;
  Ensemble *ens;
  NnNet pn;
  real *pi;
  PolicyConfig pc;
  int64_t rows;
} RoCtx;

static void ro_sink(void *ctx, int n, const float *o, const float *a, const float *r,
                    const float *x, const uint8_t *d) {
  (void)o, (void)a, (void)r, (void)x, (void)d;
  __atomic_fetch_add(&((RoCtx *)ctx)->rows, n, __ATOMIC_RELAXED);
}

static void ro_task(void *v, int s, int thread) {
  RoCtx *c = v;
  RoStats st = {0};
  ro_step_on(c->ro, s, thread, c->ens, c->ens->p, &c->pn, c->pi, &c->pc, ro_sink, c, &st);
}

/* one rollout step over all shards (fresh starts each time: no row has terminated yet) */
static double rollout_step(const Buffer *b, int threads) {
  Config c = with(&g_cfg, threads, 0);
  EnsConfig ec = setup_ens(&c, 1);
  RoCtx x = {0};
  x.ens = ens_make(&ec, 3);
  ens_fit_scaler(x.ens, NULL, 0);
  x.pc = setup_policy(&c);
  pol_net(&x.pc, &x.pn);
  x.pi = xmalloc(sizeof(real) * x.pn.nparam);
  Rng r = rng_make(1, RNG_INIT, 0);
  nn_init_glorot_uniform(&x.pn, x.pi, &r);
  const int S = (int)c.topology.rollout_shards;
  RoConfig rc = setup_rollout(&c, S);
  x.ro = ro_make(&rc, x.ens, &x.pn);
  Pool *p = rc.threads > 1 ? pool_make(rc.threads) : NULL;
  double best = 1e30;
  for (int rep = 0; rep < 3; rep++) {
    ro_begin(x.ro, b, 1, (uint64_t)rep, 0, S);
    double t0 = util_now();
    pool_run(p, S, ro_task, &x);
    double t = util_now() - t0;
    if (t < best) best = t;
  }
  pool_free(p);
  ro_free(x.ro);
  ens_free(x.ens);
  xfree(x.pi);
  return best;
}

/* a metrics.csv's columns by name: the index of each wanted column, -1 when absent */
static void csv_columns(char *header, const char *const *want, int nw, int *col) {
  for (int w = 0; w < nw; w++) col[w] = -1;
  int i = 0;
  for (char *t = strtok(header, ",\n"); t; t = strtok(NULL, ",\n"), i++)
    for (int w = 0; w < nw; w++)
      if (!strcmp(t, want[w])) col[w] = i;
}

/* one row's values of those columns (NAN where absent or empty) */
static void csv_values(char *line, const int *col, int nw, double *v) {
  for (int w = 0; w < nw; w++) v[w] = NAN;
  int i = 0;
  for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), i++)
    for (int w = 0; w < nw; w++)
      if (i == col[w]) v[w] = atof(t);
}

/* model_epochs by env_buffer from real runs' metrics files */
static int read_epochs(const char *path, double *buf_n, double *ep, int cap) {
  static const char *const want[3] = {"env_buffer", "model_epochs", "model_epochs_total"};
  FILE *f = fopen(path, "r");
  CHECK(f, "cannot read %s", path);
  char line[8192];
  int col[3] = {-1, -1, -1}, n = 0;
  if (fgets(line, sizeof line, f)) csv_columns(line, want, 3, col);
  CHECK(col[0] >= 0 && col[1] >= 0, "%s: no env_buffer / model_epochs columns", path);
  /* the epoch's mean over its trainings when the run has the totals, else its last training */
  const double per = (double)g_cfg.env.epoch_length / (double)g_cfg.model.train_freq;
  while (n < cap && fgets(line, sizeof line, f)) {
    double v[3];
    csv_values(line, col, 3, v);
    double ve = isfinite(v[2]) && v[2] > 0 ? v[2] / per : v[1];
    if (isfinite(v[0]) && isfinite(ve) && ve > 0) buf_n[n] = v[0], ep[n] = ve, n++;
  }
  fclose(f);
  return n;
}

/* piecewise-linear interpolation over points sorted by x (constant beyond the ends) */
static double interp(const double *x, const double *y, int n, double at) {
  if (n == 0) return NAN;
  if (at <= x[0]) return y[0];
  for (int i = 1; i < n; i++)
    if (at <= x[i]) return y[i - 1] + (y[i] - y[i - 1]) * (at - x[i - 1]) / (x[i] - x[i - 1]);
  return y[n - 1];
}

/* one thread count's measured rates by buffer size N (sorted), for the projection */
typedef struct {
  double nx[MAXN], y[5][MAXN]; /* per N: SAC s/update, phase-1 s/epoch, phase 2 s, rollout
                                  step s, a training's fixed s */
  int np;
} Rates;

static Rates rates_of(const Point *pt, int np, int k) {
  Rates r = {.np = np};
  for (int i = 0; i < np; i++) {
    r.nx[i] = (double)pt[i].n;
    r.y[0][i] = pt[i].sac_s[k], r.y[1][i] = pt[i].p1_ep_s[k], r.y[2][i] = pt[i].p2_s[k];
    r.y[3][i] = pt[i].ro_step_s[k], r.y[4][i] = pt[i].p1_fixed_s[k];
  }
  return r;
}

/* the rates at N rows: linear between the measured points (SAC: about constant); a phase-1
 * epoch's cost is proportional to N below the first point and extrapolated linearly beyond the
 * last. out: SAC, phase-1 epoch, phase 2, rollout step, a training's fixed cost */
static void rates_at(const Rates *r, double n, double out[5]) {
  for (int q = 0; q < 5; q++) out[q] = interp(r->nx, r->y[q], r->np, n);
  const int np = r->np;
  if (n < r->nx[0]) out[1] = r->y[1][0] * n / r->nx[0];
  if (n > r->nx[np - 1] && np >= 2)
    out[1] = r->y[1][np - 1] + (r->y[1][np - 1] - r->y[1][np - 2]) * (n - r->nx[np - 1]) /
                                   (r->nx[np - 1] - r->nx[np - 2]);
}

/* --check: a real run's per-epoch phase times against the rates measured here */
static void check_run(const char *path, const Rates *r) {
  enum { BUF, UPD, TRN, EPT, LEN, TSAC, TMOD, TP2, TRO, STEPS, NW };
  static const char *const want[NW] = {
      "env_buffer", "sac_updates", "model_trainings", "model_epochs_total", "rollout_length",
      "t_sac_s",    "t_model_s",   "t_phase2_s",      "t_rollout_s",        "env_steps"};
  FILE *f = fopen(path, "r");
  CHECK(f, "cannot read %s", path);
  char line[8192];
  int col[NW];
  CHECK(fgets(line, sizeof line, f), "%s: empty", path);
  csv_columns(line, want, NW, col);
  for (int w = 0; w < NW; w++) CHECK(col[w] >= 0, "%s: no column %s", path, want[w]);
  static double ratio[4][4096];
  int nr[4] = {0}, rows = 0;
  /* the first row has no epoch before it to count its work from */
  double prev[NW];
  CHECK(fgets(line, sizeof line, f), "%s: no rows", path);
  csv_values(line, col, NW, prev);
  printf("\ncheck against %s (measured / projected, per epoch; projected from the rates above "
         "at the epoch's mean buffer size):\n",
         path);
  printf("%9s %9s %8s %8s %8s %8s %9s %9s\n", "env_steps", "rows", "SAC", "phase1", "phase2",
         "rollout", "measured", "projected");
  while (fgets(line, sizeof line, f)) {
    double v[NW];
    csv_values(line, col, NW, v);
    const double du = v[UPD] - prev[UPD], dt = v[TRN] - prev[TRN];
    const double n = v[BUF] - (double)g_cfg.env.epoch_length / 2;
    memcpy(prev, v, sizeof v);
    if (!(du > 0) || !(dt > 0)) continue; /* exploration, or an epoch without a training */
    double rt[5];
    rates_at(r, n, rt);
    const double pred[4] = {du * rt[0], v[EPT] * rt[1] + dt * rt[4],
                            v[TP2] > 1e-3 ? dt * rt[2] : 0, /* mbpo: no phase 2 */
                            dt * v[LEN] * rt[3]};
    const double meas[4] = {v[TSAC], v[TMOD], v[TP2] > 1e-3 ? v[TP2] : 0, v[TRO]};
    double sm = 0, sp = 0;
    printf("%9.0f %9.0f", v[STEPS], n);
    for (int ph = 0; ph < 4; ph++) {
      sm += meas[ph], sp += pred[ph];
      if (pred[ph] > 0) {
        printf(" %8.2f", meas[ph] / pred[ph]);
        if (nr[ph] < 4096) ratio[ph][nr[ph]++] = meas[ph] / pred[ph];
      } else {
        printf(" %8s", "-");
      }
    }
    printf(" %8.0fs %8.0fs\n", sm, sp);
    rows++;
  }
  fclose(f);
  printf("median measured / projected over %d epochs:", rows);
  static const char *const name[4] = {"SAC", "phase 1", "phase 2", "rollout"};
  for (int ph = 0; ph < 4; ph++) {
    if (!nr[ph]) continue;
    qsort(ratio[ph], (size_t)nr[ph], sizeof(double), bench_cmp_double);
    printf(" %s %.2f", name[ph], ratio[ph][nr[ph] / 2]);
  }
  printf("\n");
}

int main(int argc, char **argv) {
  const char *env = "hopper", *rows_arg = "10000,50000,100000";
  const char *epochs_from[8], *check = NULL;
  int n_from = 0, threads = pool_cores_available(), fit = 0, quick = 0, paired = 0;
  double const_epochs = 0;
  long long steps = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--env") && i + 1 < argc)
      env = argv[++i];
    else if (!strcmp(argv[i], "--rows") && i + 1 < argc)
      rows_arg = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--epochs-from") && i + 1 < argc && n_from < 8)
      epochs_from[n_from++] = argv[++i];
    else if (!strcmp(argv[i], "--fit-epochs"))
      fit = 1;
    else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
      const_epochs = atof(argv[++i]);
    else if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--check") && i + 1 < argc)
      check = argv[++i];
    else if (!strcmp(argv[i], "--paired-phase1") && i + 1 < argc)
      paired = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = atoll(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_cost [--env NAME] [--rows N,N,..] [--threads T] "
                      "[--epochs-from METRICS.csv].. [--epochs E] [--fit-epochs] [--quick] "
                      "[--check METRICS.csv] [--paired-phase1 ROUNDS] [--steps N]\n");
      return 2;
    }
  }
  if (threads < 1) threads = 1;
  /* one OpenBLAS thread per thread of ours, as a run sets it (OpenBLAS's own thread server
   * does not take concurrent callers well) */
  openblas_set_num_threads(1);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *preset = cfg_preset_text(env);
  CHECK(preset, "no preset for env '%s'", env);
  CfgErrors errs = {0};
  /* the official phase 2, as the committed cost figures were measured; --steps: another budget
   * (env steps after the exploration, as run.total_steps) */
  CHECK(steps >= 0, "--steps %lld: a budget is at least 0", steps);
  char steps_set[64];
  snprintf(steps_set, sizeof steps_set, "run.total_steps=%lld", steps);
  const char *sets[] = {"run.algo=usbpo", "finetune.mode=faithful", steps_set};
  CHECK(cfg_load_text(&g_cfg, preset, env, sets, steps > 0 ? 3 : 2, &errs) == 0, "%s",
        errs.text ? errs.text : "preset");
  /* --check alone: the run's own phase-1 epochs are the ones to project with */
  if (check && !fit && n_from == 0 && const_epochs <= 0) epochs_from[n_from++] = check;
  if (!fit && n_from == 0 && const_epochs <= 0) fit = 1;
  Point pt[MAXN];
  int np = 0;
  for (char *s = strdup(rows_arg), *t = strtok(s, ","); t && np < MAXN; t = strtok(NULL, ","))
    pt[np++].n = atoll(t);
  bench_header("bench_cost: a whole run's cost, phase by phase");
  printf("# env %s, budget %lld steps (+%lld exploration), SAC %lld updates/step, trainings every "
         "%lld steps, phase 2 up to %lld steps x %lld rows, rollouts %lld rows\n",
         env, (long long)g_cfg.run.total_steps, (long long)g_cfg.env.init_steps,
         (long long)g_cfg.sac.updates_per_step, (long long)g_cfg.model.train_freq,
         (long long)g_cfg.finetune.max_steps, (long long)g_cfg.finetune.batch_size,
         (long long)g_cfg.rollout.batch_size);
  printf("# threads: 1 and %d; data: uniform random actions; phase-1 epochs: %s\n", threads,
         n_from             ? "from real runs' metrics"
         : const_epochs > 0 ? "given (--epochs)"
                            : "to early stopping on the bench's data");
  int64_t nmax = 0;
  for (int i = 0; i < np; i++) nmax = pt[i].n > nmax ? pt[i].n : nmax;
  double env_s;
  Buffer *all = collect(&g_cfg, nmax, &env_s);
  const int tl[2] = {1, threads};
  if (paired > 0) {
    for (int i = 0; i < np; i++) phase1_paired(all, pt[i].n, threads, paired);
    buf_free(all);
    return 0;
  }
  for (int i = 0; i < np; i++) {
    Point *p = &pt[i];
    p->epochs = NAN;
    for (int k = 0; k < 2; k++) {
      if (k == 1 && threads == 1) {
        p->sac_s[1] = p->sac_s[0], p->p1_ep_s[1] = p->p1_ep_s[0], p->p2_s[1] = p->p2_s[0];
        p->p1_fixed_s[1] = p->p1_fixed_s[0];
        p->ro_step_s[1] = p->ro_step_s[0];
        continue;
      }
      Buffer *b = all; /* SAC and rollouts sample the first N rows' worth: cost is per row */
      p->sac_s[k] = sac_rate(b, tl[k], quick ? 20 : 100);
      p->ro_step_s[k] = rollout_step(b, tl[k]);
      model_point(p, all, tl[k], k, fit && k == 1, quick);
      printf("N %7lld, %d thread%s: SAC %.2f ms/update (%.0f/s), phase 1 %.3f s/epoch + %.2f s "
             "per training, phase 2 %.2f s, rollout step %.3f s\n",
             (long long)p->n, tl[k], tl[k] == 1 ? " " : "s", 1e3 * p->sac_s[k], 1 / p->sac_s[k],
             p->p1_ep_s[k], p->p1_fixed_s[k], p->p2_s[k], p->ro_step_s[k]);
      fflush(stdout);
    }
    if (fit)
      printf("N %7lld: phase 1 ran %.0f epochs to early stopping (warm, bench data)\n",
             (long long)p->n, p->epochs);
  }
  printf("env: %.3f ms/step (one core)\n", 1e3 * env_s);
  /* epochs per training by N */
  double ex[512], ey[512];
  int ne = 0;
  if (n_from) {
    for (int f = 0; f < n_from; f++) ne += read_epochs(epochs_from[f], ex + ne, ey + ne, 512 - ne);
    /* sort by N */
    for (int i = 1; i < ne; i++)
      for (int j = i; j > 0 && ex[j - 1] > ex[j]; j--) {
        double t = ex[j];
        ex[j] = ex[j - 1];
        ex[j - 1] = t;
        t = ey[j];
        ey[j] = ey[j - 1];
        ey[j - 1] = t;
      }
    printf("phase-1 epochs from %d training rows of real runs (env_buffer %.0f..%.0f)\n", ne,
           ne ? ex[0] : 0, ne ? ex[ne - 1] : 0);
  } else if (fit) {
    for (int i = 0; i < np; i++) ex[ne] = (double)pt[i].n, ey[ne++] = pt[i].epochs;
  } else {
    ex[0] = 0, ey[0] = const_epochs, ne = 1;
    printf("phase-1 epochs per training: %.0f (given)\n", const_epochs);
  }
  /* projection over the budget */
  const Rates rates[2] = {rates_of(pt, np, 0), rates_of(pt, np, 1)};
  const int64_t L = g_cfg.env.epoch_length, F = g_cfg.model.train_freq;
  const int64_t epochs = g_cfg.run.total_steps / L;
  printf("\nprojected whole run (%lld epochs of %lld steps), hours:\n", (long long)epochs,
         (long long)L);
  printf("%8s %8s %8s %8s %8s %8s %8s\n", "threads", "SAC", "phase1", "phase2", "rollout", "env",
         "total");
  for (int k = 0; k < 2; k++) {
    double t[5] = {0};
    for (int64_t e = 0; e < epochs; e++) {
      double n = (double)(g_cfg.env.init_steps + e * L);
      double rt[5];
      rates_at(&rates[k], n, rt);
      const double sac = rt[0], p1 = rt[1], p2 = rt[2], ro = rt[3], fixed = rt[4];
      double ep = interp(ex, ey, ne, n);
      int len = mt_rollout_length(&g_cfg, (int)e);
      t[0] += (double)L * g_cfg.sac.updates_per_step * sac;
      t[1] += (double)(L / F) * (ep * p1 + fixed);
      t[2] += (double)(L / F) * p2;
      t[3] += (double)(L / F) * len * ro;
      t[4] += (double)(L + g_cfg.run.eval_episodes * g_cfg.env.max_episode_steps) * env_s;
    }
    double tot = t[0] + t[1] + t[2] + t[3] + t[4];
    printf("%8d %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f\n", tl[k], t[0] / 3600, t[1] / 3600,
           t[2] / 3600, t[3] / 3600, t[4] / 3600, tot / 3600);
    if (threads == 1) break;
  }
  if (check) check_run(check, &rates[threads == 1 ? 0 : 1]);
  buf_free(all);
  return 0;
}
