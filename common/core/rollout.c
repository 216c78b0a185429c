/* rollout — see rollout.h. */
#include "rollout.h"

#include <math.h>
#include <string.h>

#include "envs/env.h"
#include "fastmath.h"
#include "util.h"

typedef struct {
  Rng rng;
  float *s; /* alive states (cap rows) */
  int64_t n, cap;
} Shard;

/* one thread's tile workspaces */
typedef struct {
  float *act, *rew, *next, *obs_out;
  uint8_t *done, *keep;
  int32_t *member, *order, *count;
  real *x, *xg, *mean, *lv, *mg, *lg, *noise, *pi_work, *ens_work;
} RoWork;

struct Rollout {
  RoConfig c;
  int D, in, K;
  Shard *sh;
  RoWork *w; /* per thread (c.threads, at least 1) */
  int nw;
  int32_t *glog; /* benchmarks, one thread */
  int glog_cap, *glog_n;
};

void ro_record_gemm_rows(Rollout *r, int32_t *log, int cap, int *n) {
  r->glog = log;
  r->glog_cap = cap;
  r->glog_n = n;
  if (n) *n = 0;
}

static void glog_add(Rollout *r, int kind, int rows) {
  if (r->glog && *r->glog_n + 2 <= r->glog_cap) {
    r->glog[(*r->glog_n)++] = kind;
    r->glog[(*r->glog_n)++] = rows;
  }
}

int64_t ro_shard_rows(const RoConfig *c, int s) {
  return c->rows * (s + 1) / c->shards - c->rows * s / c->shards;
}

size_t ro_bytes(const RoConfig *c, int in_dim, int hidden, int pi_hidden) {
  size_t T = (size_t)c->tile, D = (size_t)c->obs_dim + 1;
  size_t nw = c->threads > 1 ? (size_t)c->threads : 1;
  return sizeof(float) * (size_t)c->rows * c->obs_dim +
         nw * T *
             (sizeof(float) * (3 * (size_t)c->obs_dim + (size_t)c->act_dim + 1) +
              sizeof(real) * (2 * (size_t)in_dim + 7 * D + 4 * (size_t)(hidden + pi_hidden)));
}

Rollout *ro_make(const RoConfig *c, const Ensemble *ens, const NnNet *pi_net) {
  Rollout *r = xmalloc(sizeof *r);
  r->c = *c;
  r->D = c->obs_dim + 1;
  r->in = c->obs_dim + c->act_dim;
  r->K = ens->c.elites;
  r->sh = xmalloc(sizeof(Shard) * c->shards);
  for (int s = 0; s < c->shards; s++) {
    r->sh[s].cap = ro_shard_rows(c, s);
    r->sh[s].s =
        xmalloc(sizeof(float) * (size_t)(r->sh[s].cap > 0 ? r->sh[s].cap : 1) * c->obs_dim);
  }
  const size_t T = (size_t)c->tile, od = (size_t)c->obs_dim, ad = (size_t)c->act_dim;
  const size_t D = (size_t)r->D, in = (size_t)r->in;
  r->nw = c->threads > 1 ? c->threads : 1;
  r->w = xmalloc(sizeof(RoWork) * r->nw);
  for (int t = 0; t < r->nw; t++) {
    RoWork *w = &r->w[t];
    w->act = xmalloc(sizeof(float) * T * ad);
    w->rew = xmalloc(sizeof(float) * T);
    w->next = xmalloc(sizeof(float) * T * od);
    w->obs_out = xmalloc(sizeof(float) * T * od);
    w->done = xmalloc(T);
    w->keep = xmalloc(T);
    w->member = xmalloc(sizeof(int32_t) * T);
    w->order = xmalloc(sizeof(int32_t) * T);
    w->count = xmalloc(sizeof(int32_t) * 65);
    w->x = xmalloc(sizeof(real) * T * in);
    w->xg = xmalloc(sizeof(real) * T * in);
    w->mean = xmalloc(sizeof(real) * T * D);
    w->lv = xmalloc(sizeof(real) * T * D);
    w->mg = xmalloc(sizeof(real) * T * D);
    w->lg = xmalloc(sizeof(real) * T * D);
    w->noise = xmalloc(sizeof(real) * T * D);
    w->pi_work = xmalloc(sizeof(real) * pol_act_scratch(pi_net, c->tile));
    w->ens_work = xmalloc(sizeof(real) * ens_predict_work(ens, c->tile));
  }
  return r;
}

void ro_free(Rollout *r) {
  if (!r) return;
  for (int s = 0; s < r->c.shards; s++) xfree(r->sh[s].s);
  xfree(r->sh);
  for (int t = 0; t < r->nw; t++) {
    RoWork *w = &r->w[t];
    void *p[] = {w->act,    w->rew,   w->next,  w->obs_out, w->done,    w->keep,
                 w->member, w->order, w->count, w->x,       w->xg,      w->mean,
                 w->lv,     w->mg,    w->lg,    w->noise,   w->pi_work, w->ens_work};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) xfree(p[i]);
  }
  xfree(r->w);
  xfree(r);
}

int64_t ro_alive(const Rollout *r, int s) {
  return r->sh[s].n;
}

void ro_draw_starts(const Buffer *env_buf, uint32_t seed, uint64_t training, int s, int64_t rows,
                    float *out) {
  const int od = env_buf->obs_dim;
  Rng rng = rng_make(seed, RNG_ROLLOUT_START, rng_index2((uint32_t)training, (uint32_t)s));
  for (int64_t i = 0; i < rows; i++) {
    int64_t p = buf_phys(env_buf, rng_below(&rng, (uint32_t)env_buf->size));
    memcpy(out + i * od, env_buf->obs + p * od, sizeof(float) * od);
  }
}

void ro_begin_shard(Rollout *r, int s, const float *starts, uint32_t seed, uint64_t training) {
  Shard *sh = &r->sh[s];
  sh->rng = rng_make(seed, RNG_ROLLOUT, rng_index2((uint32_t)training, (uint32_t)s));
  sh->n = sh->cap;
  memcpy(sh->s, starts, sizeof(float) * (size_t)sh->n * r->c.obs_dim);
}

void ro_begin(Rollout *r, const Buffer *env_buf, uint32_t seed, uint64_t training, int lo, int hi) {
  for (int s = 0; s < r->c.shards; s++) r->sh[s].n = 0;
  for (int s = lo; s < hi; s++) {
    ro_draw_starts(env_buf, seed, training, s, r->sh[s].cap, r->sh[s].s);
    ro_begin_shard(r, s, r->sh[s].s, seed, training);
  }
}

/* one tile of rows [0, n) starting at states s0; returns rows kept alive (written to alive) */
static int tile_step(Rollout *r, RoWork *w, Shard *sh, const float *s0, int n, const Ensemble *ens,
                     const real *ep, const NnNet *pi_net, const real *pi, const PolicyConfig *pc,
                     RoEmit emit, void *ctx, RoStats *st, float *alive_out) {
  const int od = r->c.obs_dim, ad = r->c.act_dim, D = r->D, in = r->in, E = ens->c.members;
  /* 1. the policy's stochastic action */
  pol_act(pi_net, pi, pc, s0, n, 0, &sh->rng, w->act, w->pi_work);
  glog_add(r, -1, n);
  /* 2. a member per row (uniform among the elites), and the model noise, in row order */
  for (int j = 0; j < n; j++) w->member[j] = ens->elite[rng_below(&sh->rng, (uint32_t)r->K)];
  rng_normal_f(&sh->rng, w->noise, (size_t)n * D);
  /* 3. scaled model input [s, a] */
  for (int j = 0; j < n; j++)
    for (int i = 0; i < in; i++) {
      float v = i < od ? s0[(size_t)j * od + i] : w->act[(size_t)j * ad + i - od];
      w->x[(size_t)j * in + i] = ((real)v - ens->mu[i]) / ens->sd[i];
    }
  /* 4. group rows by member (counting sort keeps row order within a member) */
  memset(w->count, 0, sizeof(int32_t) * (E + 1));
  for (int j = 0; j < n; j++) w->count[w->member[j] + 1]++;
  for (int m = 0; m < E; m++) w->count[m + 1] += w->count[m];
  for (int j = 0; j < n; j++) w->order[w->count[w->member[j]]++] = j;
  int start = 0;
  for (int m = 0; m < E; m++) {
    int end = w->count[m];
    int k = end - start;
    if (k > 0) {
      for (int q = 0; q < k; q++)
        memcpy(w->xg + (size_t)q * in, w->x + (size_t)w->order[start + q] * in, sizeof(real) * in);
      ens_predict(ens, ep, m, w->xg, k, w->mg, w->lg, w->ens_work);
      glog_add(r, m, k);
      for (int q = 0; q < k; q++) {
        int j = w->order[start + q];
        memcpy(w->mean + (size_t)j * D, w->mg + (size_t)q * D, sizeof(real) * D);
        memcpy(w->lv + (size_t)j * D, w->lg + (size_t)q * D, sizeof(real) * D);
      }
    }
    start = end;
  }
  /* 5. sample: reward and next state */
  int bad = 0;
  for (int j = 0; j < n; j++) {
    int fin = 1;
    for (int d = 0; d < D; d++) {
      size_t i = (size_t)j * D + d;
      real v = w->mean[i] + r_exp_fast(w->lv[i] / 2) * w->noise[i];
      if (d == 0)
        w->rew[j] = (float)v;
      else
        w->next[(size_t)j * od + d - 1] = s0[(size_t)j * od + d - 1] + (float)v;
      fin &= isfinite(v) != 0;
    }
    w->keep[j] = (uint8_t)fin;
    bad += !fin;
  }
  env_termination_batch(r->c.env_id, r->c.term_fixed, w->next, n, w->done);
  /* 6. emit every finite row (terminated ones too); drop non-finite ones */
  int out = n;
  if (bad) {
    out = 0;
    for (int j = 0; j < n; j++) {
      if (!w->keep[j]) continue;
      if (out != j) {
        memcpy(w->act + (size_t)out * ad, w->act + (size_t)j * ad, sizeof(float) * ad);
        memcpy(w->next + (size_t)out * od, w->next + (size_t)j * od, sizeof(float) * od);
        w->rew[out] = w->rew[j];
        w->done[out] = w->done[j];
      }
      memcpy(w->obs_out + (size_t)out * od, s0 + (size_t)j * od, sizeof(float) * od);
      out++;
    }
    st->nonfinite += bad;
    emit(ctx, out, w->obs_out, w->act, w->rew, w->next, w->done);
  } else {
    emit(ctx, n, s0, w->act, w->rew, w->next, w->done);
  }
  st->emitted += out;
  /* 7. survivors continue */
  int alive = 0;
  for (int j = 0; j < out; j++)
    if (!w->done[j])
      memcpy(alive_out + (size_t)alive++ * od, w->next + (size_t)j * od, sizeof(float) * od);
  return alive;
}

int64_t ro_step_on(Rollout *r, int s, int thread, const Ensemble *ens, const real *ens_param,
                   const NnNet *pi_net, const real *pi, const PolicyConfig *pc, RoEmit emit,
                   void *ctx, RoStats *st) {
  CHECK(thread >= 0 && thread < r->nw, "rollout: thread %d of %d", thread, r->nw);
  Shard *sh = &r->sh[s];
  RoWork *w = &r->w[thread];
  const int od = r->c.obs_dim;
  int64_t alive = 0;
  /* survivors are compacted in place: the write position never passes the read position */
  for (int64_t r0 = 0; r0 < sh->n; r0 += r->c.tile) {
    int n = (int)(sh->n - r0 < r->c.tile ? sh->n - r0 : r->c.tile);
    alive += tile_step(r, w, sh, sh->s + r0 * od, n, ens, ens_param, pi_net, pi, pc, emit, ctx, st,
                       sh->s + alive * od);
    if (thread == 0) util_tick(); /* the runtime's tick is the main thread's */
  }
  sh->n = alive;
  return alive;
}

int64_t ro_step(Rollout *r, int s, const Ensemble *ens, const real *ens_param, const NnNet *pi_net,
                const real *pi, const PolicyConfig *pc, RoEmit emit, void *ctx, RoStats *st) {
  return ro_step_on(r, s, 0, ens, ens_param, pi_net, pi, pc, emit, ctx, st);
}
