/* rollout — branched model rollouts (spec §3.7, §4.9).
 *
 * N start states are drawn uniformly with replacement from the env buffer; each step, the
 * policy samples an action, every row picks one elite member uniformly, and only that member is
 * evaluated (rows grouped by member): next = s + mean + std * N(0, 1) on the state part, reward
 * from the same sample; the task's rollout termination function ends rows, which are still
 * emitted. Rows whose prediction is not finite are dropped and counted.
 *
 * The N rows are cut into a fixed number of logical shards, each with its own random stream
 * keyed by (seed, training, shard): a shard computes the same numbers on whichever rank runs
 * it. Within a shard rows are processed in tiles (cache-sized GEMMs). Emission order is
 * step-major, then shard, then tile: the model buffer's contents do not depend on placement. */
#ifndef USBPO_ROLLOUT_H
#define USBPO_ROLLOUT_H

#include <stdint.h>

#include "buffer.h"
#include "ensemble.h"
#include "policy.h"

typedef struct {
  int env_id, term_fixed;
  int obs_dim, act_dim;
  int64_t rows; /* N start states per training */
  int shards, tile;
  int threads; /* shards may step concurrently on this many threads (ro_step_on) */
} RoConfig;

/* rows produced by one tile of one step */
typedef void (*RoEmit)(void *ctx, int n, const float *obs, const float *act, const float *rew,
                       const float *next, const uint8_t *done);

typedef struct {
  int64_t emitted, nonfinite;
} RoStats;

typedef struct Rollout Rollout;

Rollout *ro_make(const RoConfig *c, const Ensemble *ens, const NnNet *pi_net);
void ro_free(Rollout *r);
size_t ro_bytes(const RoConfig *c, int in_dim, int hidden, int pi_hidden);

/* rows of shard s (its share of N) */
int64_t ro_shard_rows(const RoConfig *c, int s);
/* shard s's start states for training number `training`: rows drawn uniformly with replacement
 * from the real data by the stream (seed, RNG_ROLLOUT_START, (training, s)) */
void ro_draw_starts(const Buffer *env_buf, uint32_t seed, uint64_t training, int s, int64_t rows,
                    float *out);
/* begin shard s from its start states (the shard's own stream takes over from here) */
void ro_begin_shard(Rollout *r, int s, const float *starts, uint32_t seed, uint64_t training);
/* both, for the shards [lo, hi) (one process holding the real data) */
void ro_begin(Rollout *r, const Buffer *env_buf, uint32_t seed, uint64_t training, int lo, int hi);
/* one step of shard s; returns the rows still alive */
int64_t ro_step(Rollout *r, int s, const Ensemble *ens, const real *ens_param, const NnNet *pi_net,
                const real *pi, const PolicyConfig *pc, RoEmit emit, void *ctx, RoStats *st);
/* the same on thread `thread`'s workspaces (< c.threads): different shards may step
 * concurrently, each emitting into its own ctx; only thread 0 ticks the runtime */
int64_t ro_step_on(Rollout *r, int s, int thread, const Ensemble *ens, const real *ens_param,
                   const NnNet *pi_net, const real *pi, const PolicyConfig *pc, RoEmit emit,
                   void *ctx, RoStats *st);
int64_t ro_alive(const Rollout *r, int s);

/* benchmarks: record the row count of every policy tile and member group evaluated (NULL to
 * stop); the log holds pairs (who, rows): who = -1 for a policy tile, else the member */
void ro_record_gemm_rows(Rollout *r, int32_t *log, int cap, int *n);

#endif
