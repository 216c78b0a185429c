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

struct Rollout {
  RoConfig c;
  int D, in, K;
  Shard *sh;
  /* tile workspaces */
  float *act, *rew, *next, *obs_out;
  uint8_t *done, *keep;
  int32_t *member, *order, *count;
  real *x, *xg, *mean, *lv, *mg, *lg, *noise, *pi_work, *ens_work;
  int32_t *glog;
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
  return sizeof(float) * (size_t)c->rows * c->obs_dim +
         T * (sizeof(float) * (3 * (size_t)c->obs_dim + (size_t)c->act_dim + 1) +
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
  r->act = xmalloc(sizeof(float) * T * ad);
  r->rew = xmalloc(sizeof(float) * T);
  r->next = xmalloc(sizeof(float) * T * od);
  r->obs_out = xmalloc(sizeof(float) * T * od);
  r->done = xmalloc(T);
  r->keep = xmalloc(T);
  r->member = xmalloc(sizeof(int32_t) * T);
  r->order = xmalloc(sizeof(int32_t) * T);
  r->count = xmalloc(sizeof(int32_t) * 65);
  r->x = xmalloc(sizeof(real) * T * in);
  r->xg = xmalloc(sizeof(real) * T * in);
  r->mean = xmalloc(sizeof(real) * T * D);
  r->lv = xmalloc(sizeof(real) * T * D);
  r->mg = xmalloc(sizeof(real) * T * D);
  r->lg = xmalloc(sizeof(real) * T * D);
  r->noise = xmalloc(sizeof(real) * T * D);
  r->pi_work = xmalloc(sizeof(real) * pol_act_scratch(pi_net, c->tile));
  r->ens_work = xmalloc(sizeof(real) * ens_predict_work(ens, c->tile));
  return r;
}

void ro_free(Rollout *r) {
  if (!r) return;
  for (int s = 0; s < r->c.shards; s++) xfree(r->sh[s].s);
  xfree(r->sh);
  void *p[] = {r->act,    r->rew,   r->next,  r->obs_out, r->done,    r->keep,
               r->member, r->order, r->count, r->x,       r->xg,      r->mean,
               r->lv,     r->mg,    r->lg,    r->noise,   r->pi_work, r->ens_work};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) xfree(p[i]);
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
static int tile_step(Rollout *r, Shard *sh, const float *s0, int n, const Ensemble *ens,
                     const real *ep, const NnNet *pi_net, const real *pi, const PolicyConfig *pc,
                     RoEmit emit, void *ctx, RoStats *st, float *alive_out) {
  const int od = r->c.obs_dim, ad = r->c.act_dim, D = r->D, in = r->in, E = ens->c.members;
  /* 1. the policy's stochastic action */
  pol_act(pi_net, pi, pc, s0, n, 0, &sh->rng, r->act, r->pi_work);
  glog_add(r, -1, n);
  /* 2. a member per row (uniform among the elites), and the model noise, in row order */
  for (int j = 0; j < n; j++) r->member[j] = ens->elite[rng_below(&sh->rng, (uint32_t)r->K)];
  rng_normal_f(&sh->rng, r->noise, (size_t)n * D);
  /* 3. scaled model input [s, a] */
  for (int j = 0; j < n; j++)
    for (int i = 0; i < in; i++) {
      float v = i < od ? s0[(size_t)j * od + i] : r->act[(size_t)j * ad + i - od];
      r->x[(size_t)j * in + i] = ((real)v - ens->mu[i]) / ens->sd[i];
    }
  /* 4. group rows by member (counting sort keeps row order within a member) */
  memset(r->count, 0, sizeof(int32_t) * (E + 1));
  for (int j = 0; j < n; j++) r->count[r->member[j] + 1]++;
  for (int m = 0; m < E; m++) r->count[m + 1] += r->count[m];
  for (int j = 0; j < n; j++) r->order[r->count[r->member[j]]++] = j;
  int start = 0;
  for (int m = 0; m < E; m++) {
    int end = r->count[m];
    int k = end - start;
    if (k > 0) {
      for (int q = 0; q < k; q++)
        memcpy(r->xg + (size_t)q * in, r->x + (size_t)r->order[start + q] * in, sizeof(real) * in);
      ens_predict(ens, ep, m, r->xg, k, r->mg, r->lg, r->ens_work);
      glog_add(r, m, k);
      for (int q = 0; q < k; q++) {
        int j = r->order[start + q];
        memcpy(r->mean + (size_t)j * D, r->mg + (size_t)q * D, sizeof(real) * D);
        memcpy(r->lv + (size_t)j * D, r->lg + (size_t)q * D, sizeof(real) * D);
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
      real v = r->mean[i] + r_exp_fast(r->lv[i] / 2) * r->noise[i];
      if (d == 0)
        r->rew[j] = (float)v;
      else
        r->next[(size_t)j * od + d - 1] = s0[(size_t)j * od + d - 1] + (float)v;
      fin &= isfinite(v) != 0;
    }
    r->keep[j] = (uint8_t)fin;
    bad += !fin;
  }
  env_termination_batch(r->c.env_id, r->c.term_fixed, r->next, n, r->done);
  /* 6. emit every finite row (terminated ones too); drop non-finite ones */
  int out = n;
  if (bad) {
    out = 0;
    for (int j = 0; j < n; j++) {
      if (!r->keep[j]) continue;
      if (out != j) {
        memcpy(r->act + (size_t)out * ad, r->act + (size_t)j * ad, sizeof(float) * ad);
        memcpy(r->next + (size_t)out * od, r->next + (size_t)j * od, sizeof(float) * od);
        r->rew[out] = r->rew[j];
        r->done[out] = r->done[j];
      }
      memcpy(r->obs_out + (size_t)out * od, s0 + (size_t)j * od, sizeof(float) * od);
      out++;
    }
    st->nonfinite += bad;
    emit(ctx, out, r->obs_out, r->act, r->rew, r->next, r->done);
  } else {
    emit(ctx, n, s0, r->act, r->rew, r->next, r->done);
  }
  st->emitted += out;
  /* 7. survivors continue */
  int alive = 0;
  for (int j = 0; j < out; j++)
    if (!r->done[j])
      memcpy(alive_out + (size_t)alive++ * od, r->next + (size_t)j * od, sizeof(float) * od);
  return alive;
}

int64_t ro_step(Rollout *r, int s, const Ensemble *ens, const real *ens_param, const NnNet *pi_net,
                const real *pi, const PolicyConfig *pc, RoEmit emit, void *ctx, RoStats *st) {
  Shard *sh = &r->sh[s];
  const int od = r->c.obs_dim;
  int64_t alive = 0;
  /* survivors are compacted in place: the write position never passes the read position */
  for (int64_t r0 = 0; r0 < sh->n; r0 += r->c.tile) {
    int n = (int)(sh->n - r0 < r->c.tile ? sh->n - r0 : r->c.tile);
    alive += tile_step(r, sh, sh->s + r0 * od, n, ens, ens_param, pi_net, pi, pc, emit, ctx, st,
                       sh->s + alive * od);
    util_tick();
  }
  sh->n = alive;
  return alive;
}
