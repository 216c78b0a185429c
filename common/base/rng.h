/* rng — counter-based random streams (Philox4x32-10).
 *
 * A stream is named by (seed, purpose, index): the 2-word key is (seed, purpose) and the upper
 * 64 bits of the 128-bit counter are the index, the lower 64 bits count blocks. Whoever owns a
 * logical task (actor 3, rollout shard 7 of training 12, ensemble member 5, ...) derives the same
 * stream on any rank, so results never depend on placement (DESIGN §4).
 * The state is a few integers and round-trips through rng_save / rng_load. */
#ifndef USBPO_RNG_H
#define USBPO_RNG_H

#include <stddef.h>
#include <stdint.h>

/* stream purposes: never renumber (checkpoints and determinism depend on them) */
enum {
  RNG_ENV_RESET = 1,    /* index: actor/env instance */
  RNG_EXPLORE = 2,      /* uniform exploration actions; index: actor */
  RNG_POLICY = 3,       /* policy noise on actors; index: actor */
  RNG_SAC = 4,          /* SAC batch sampling + reparameterisation noise */
  RNG_MODEL_SPLIT = 5,  /* holdout permutation, bootstrap, shuffles; index: training number */
  RNG_MEMBER_TABLE = 6, /* phase-2 fixed member tables */
  RNG_FINETUNE = 7,     /* phase-2 batches; index: training number */
  RNG_ROLLOUT = 8,      /* rollout start states, policy noise, members; index: (training, shard) */
  RNG_INIT = 9,         /* network initialisation; index: which network */
  RNG_EVAL = 10,        /* evaluation env resets; index: epoch */
  RNG_ROLLOUT_START = 11, /* rollout start states; index: (training, shard) */
  RNG_FT_TABLES = 12,     /* w2 phase 2: member choices; index: training number */
  RNG_TEST = 99
};

typedef struct {
  uint32_t key[2];
  uint64_t index;  /* counter words 2..3 */
  uint64_t block;  /* counter words 0..1: next block to generate */
  uint32_t buf[4]; /* current block */
  uint32_t pos;    /* next unused word of buf (4 = empty) */
  uint32_t has_spare;
  double spare; /* second Box-Muller value */
} Rng;

#define RNG_STATE_WORDS 9 /* uint64 words in a saved state */

void rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

Rng rng_make(uint32_t seed, uint32_t purpose, uint64_t index);
static inline uint64_t rng_index2(uint32_t hi, uint32_t lo) {
  return ((uint64_t)hi << 32) | lo;
}

uint32_t rng_u32(Rng *r);
uint64_t rng_u64(Rng *r);
double rng_uniform(Rng *r);                             /* [0, 1), 53 bits */
float rng_uniform_f(Rng *r);                            /* [0, 1), 24 bits */
double rng_uniform_range(Rng *r, double lo, double hi); /* lo + (hi - lo) * [0,1) */
uint32_t rng_below(Rng *r, uint32_t n);                 /* uniform in [0, n), unbiased; n >= 1 */
double rng_normal(Rng *r);                              /* N(0, 1), polar-free Box-Muller */
double rng_truncnormal(Rng *r);                         /* N(0, 1) resampled until |x| <= 2 */
void rng_normal_fill(Rng *r, float *out, size_t n);
/* bulk N(0, 1) in float for noise-hungry paths (rollouts, SAC): Box-Muller on 24-bit uniforms
 * with vectorisable log and sincos (accurate to a few float ulps); one 32-bit draw per value */
void rng_normal_f(Rng *r, float *out, size_t n);
void rng_shuffle_i32(Rng *r, int32_t *a, size_t n); /* Fisher-Yates */

void rng_save(const Rng *r, uint64_t out[RNG_STATE_WORDS]);
int rng_load(Rng *r, const uint64_t in[RNG_STATE_WORDS]); /* 0, or -1 on an invalid state */

#endif
