/* bench_model — the model service's two hot paths against their OpenBLAS sgemm floors, each
 * floor being the same GEMM calls at the same shapes, timed in the same run:
 *   1. phase-1 train step: 7 members x 256 rows, Hopper sizes (14 -> 200 x4 -> 24), forward,
 *      NLL, backward, Adam;
 *   2. rollouts: 100 000 rows x 1 step at Hopper sizes (policy 11 -> 256 -> 256 -> 6, 5 elites
 *      of 7), tiles of rollout.tile_rows; the floor replays the recorded tile and member-group
 *      row counts.
 * "ratio" is min/min over rounds; "paired" the median over rounds of the same round's ratio,
 * the steadier figure on a shared machine.
 * With more than one core, also the train step on all of them against one thread ("threads":
 * the speed-up, paired, with the members as whole tasks and with ens_set_pool's cut members).
 *   bench_model [rounds] [tile_rows] [train|threads|rollout] */
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "envs/env.h"
#include "rollout.h"

static float *rnd(size_t n, Rng *r, float s) {
  float *p = xmalloc(sizeof(float) * n);
  for (size_t i = 0; i < n; i++) p[i] = (float)rng_normal(r) * s;
  return p;
}

static void gemm(int ta, int tb, int m, int n, int k, const float *A, const float *B, float *C) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0f, A, ta ? m : k, B, tb ? k : n, 0.0f, C, n);
}

/* ---- 1. train step ---- */
typedef struct {
  Ensemble *e;
  float *act[8], *dact[8]; /* floor operands: per layer (members, rows, width), like the tape */
} Train;

static void train_ours(void *v) {
  Train *t = v;
  ens_train_step(t->e, 256);
}

/* the GEMMs of one train step on the same operands: the real weights and gradient blocks,
 * per-member activation buffers of the tape's sizes */
static void train_floor(void *v) {
  Train *t = v;
  const NnNet *n = &t->e->net;
  const int R = 256;
  for (int l = 0; l < n->nlayers; l++) {
    const NnLayer *L = &n->layer[l];
    for (int m = 0; m < 7; m++)
      gemm(0, 0, R, L->out, L->in, t->act[l] + (size_t)m * R * L->in, nn_w(n, t->e->p, l, m),
           t->act[l + 1] + (size_t)m * R * L->out);
  }
  for (int l = n->nlayers - 1; l >= 0; l--) {
    const NnLayer *L = &n->layer[l];
    for (int m = 0; m < 7; m++)
      gemm(1, 0, L->in, L->out, R, t->act[l] + (size_t)m * R * L->in,
           t->dact[l + 1] + (size_t)m * R * L->out, nn_w(n, t->e->g, l, m));
    if (l > 0)
      for (int m = 0; m < 7; m++)
        gemm(0, 1, R, L->in, L->out, t->dact[l + 1] + (size_t)m * R * L->out,
             nn_w(n, t->e->p, l, m), t->dact[l] + (size_t)m * R * L->in);
  }
}

/* ---- 2. rollouts ---- */
typedef struct {
  Rollout *ro;
  Ensemble *e;
  NnNet pn;
  real *pi;
  PolicyConfig sc;
  Buffer *env, *out;
  int shards;
  int32_t *glog;
  int glog_n;
  float *A, *B, *C;
} Roll;

static void emit(void *ctx, int n, const float *o, const float *a, const float *r, const float *x,
                 const uint8_t *d) {
  buf_push((Buffer *)ctx, n, o, a, r, x, d);
}

static void roll_ours(void *v) {
  Roll *x = v;
  RoStats st = {0};
  ro_begin(x->ro, x->env, 1, 0, 0, x->shards);
  for (int s = 0; s < x->shards; s++)
    ro_step(x->ro, s, x->e, x->e->p, &x->pn, x->pi, &x->sc, emit, x->out, &st);
}

/* the recorded GEMM chains on the same weights (policy, or the member's), ping-pong buffers */
static void roll_floor(void *v) {
  Roll *x = v;
  const NnNet *pn = &x->pn, *en = &x->e->net;
  for (int i = 0; i < x->glog_n; i += 2) {
    int who = x->glog[i], rows = x->glog[i + 1];
    const NnNet *n = who < 0 ? pn : en;
    const real *w = who < 0 ? x->pi : x->e->p;
    int m = who < 0 ? 0 : who;
    const float *in = x->A;
    for (int l = 0; l < n->nlayers; l++) {
      float *out = (l & 1) ? x->A : x->C;
      gemm(0, 0, rows, n->layer[l].out, n->layer[l].in, l ? in : x->B, nn_w(n, (real *)w, l, m),
           out);
      in = out;
    }
  }
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  int tile = argc > 2 ? atoi(argv[2]) : 2048;
  const char *only = argc > 3 ? argv[3] : "";
  openblas_set_num_threads(1);
  log_set_level(LOG_ERROR);
  bench_header("bench_model: ensemble train step and rollouts vs their sgemm calls");
  Rng r = rng_make(1, RNG_TEST, 0);
  EnsConfig ec = {.members = 7,
                  .elites = 5,
                  .obs_dim = 11,
                  .act_dim = 3,
                  .hidden = 200,
                  .layers = 4,
                  .batch = 256,
                  .lr = 1e-3,
                  .bound_penalty = 0.01,
                  .improve_threshold = 0.01,
                  .patience = 5,
                  .init_maxlv = 0.5,
                  .init_minlv = -10,
                  .decay = {2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4}};
  Train t;
  t.e = ens_make(&ec, 1);
  for (size_t i = 0; i < (size_t)7 * 256 * 14; i++) t.e->xb[i] = (float)rng_normal(&r);
  for (size_t i = 0; i < (size_t)7 * 256 * 12; i++) t.e->yb[i] = (float)rng_normal(&r) * 0.1f;
  for (int l = 0; l <= t.e->net.nlayers; l++) {
    int w = l == 0 ? t.e->net.in : t.e->net.layer[l - 1].out;
    t.act[l] = rnd((size_t)7 * 256 * w, &r, 0.5f);
    t.dact[l] = rnd((size_t)7 * 256 * w, &r, 0.01f);
  }
  double a, b;
  printf("%-44s %10s %10s %8s %8s\n", "", "ours", "floor", "ratio", "paired");
  if (strcmp(only, "rollout")) {
    bench_pair(train_ours, &t, train_floor, &t, 10, rounds * 2, &a, &b);
    printf("%-44s %8.2f ms %8.2f ms %8.3f %8.3f\n", "ensemble train step (7 x 256 rows)", a * 1e3,
           b * 1e3, a / b, bench_paired_ratio());
    printf("%-44s %10.1f %10.1f\n", "  train steps/s", 1 / a, 1 / b);
  }
  if (!strcmp(only, "train")) return 0;
  if (strcmp(only, "rollout") && pool_cores_available() > 1) {
    /* the step on T threads against one thread, paired: members as whole tasks (the schedule
     * before the cut; e->split = 0) and with the cut members (ens_set_pool's plan) */
    const int T = pool_cores_available();
    EnsConfig et = ec;
    et.threads = T;
    Train tt = t;
    tt.e = ens_make(&et, 1);
    memcpy(tt.e->xb, t.e->xb, sizeof(real) * 7 * 256 * 14);
    memcpy(tt.e->yb, t.e->yb, sizeof(real) * 7 * 256 * 12);
    Pool *p = pool_make(T);
    ens_set_pool(tt.e, p);
    const int cut = tt.e->split;
    for (int k = 0; k < 2; k++) {
      tt.e->split = k ? cut : 0;
      bench_pair(train_ours, &t, train_ours, &tt, 10, rounds * 2, &a, &b);
      char what[64];
      snprintf(what, sizeof what, "  1 / %d threads, %s", T, k ? "members cut" : "whole members");
      printf("%-44s %8.2f ms %8.2f ms %8.3f %8.3f  (%d cut at layer %d)\n", what, a * 1e3, b * 1e3,
             a / b, bench_paired_ratio(), tt.e->split, tt.e->split_layer);
    }
    ens_free(tt.e);
    pool_free(p);
  }
  if (!strcmp(only, "train") || !strcmp(only, "threads")) return 0;

  Roll x;
  x.e = t.e;
  for (int i = 0; i < 14; i++) x.e->mu[i] = 0, x.e->sd[i] = 1;
  x.sc = (PolicyConfig){
      .obs_dim = 11, .act_dim = 3, .hidden = 256, .layers = 2, .logstd_min = -20, .logstd_max = 2};
  pol_net(&x.sc, &x.pn);
  x.pi = xmalloc(sizeof(real) * x.pn.nparam);
  nn_init_glorot_uniform(&x.pn, x.pi, &r);
  x.env = buf_make(11, 3, 20000);
  for (int i = 0; i < 20000; i++) {
    float o[11], ac[3] = {0}, rw = 0, n[11];
    uint8_t d = 0;
    for (int k = 0; k < 11; k++) o[k] = n[k] = (float)rng_normal(&r) * 0.1f;
    o[0] = n[0] = 1.25f;
    buf_push(x.env, 1, o, ac, &rw, n, &d);
  }
  x.out = buf_make(11, 3, 100000);
  x.shards = 16;
  RoConfig rc = {.env_id = ENV_HALFCHEETAH,
                 .term_fixed = 0,
                 .obs_dim = 11,
                 .act_dim = 3,
                 .rows = 100000,
                 .shards = x.shards,
                 .tile = tile};
  x.ro = ro_make(&rc, x.e, &x.pn);
  x.glog = xmalloc(sizeof(int32_t) * 4096);
  ro_record_gemm_rows(x.ro, x.glog, 4096, &x.glog_n);
  roll_ours(&x); /* records the GEMM shapes the floor replays */
  ro_record_gemm_rows(x.ro, NULL, 0, NULL);
  x.A = rnd((size_t)tile * 256, &r, 0.1f), x.B = rnd((size_t)tile * 256, &r, 0.1f);
  x.C = rnd((size_t)tile * 256, &r, 0.1f);
  bench_pair(roll_ours, &x, roll_floor, &x, 1, rounds, &a, &b);
  printf("%-44s %8.1f ms %8.1f ms %8.3f %8.3f\n", "rollout: 100k rows, 1 step (tile rows)", a * 1e3,
         b * 1e3, a / b, bench_paired_ratio());
  printf("%-44s %10.0f %10.0f\n", "  rows/s", 1e5 / a, 1e5 / b);
  printf("# tile_rows = %d, %d GEMM groups per rollout step\n", tile, x.glog_n / 2);
  return 0;
}
