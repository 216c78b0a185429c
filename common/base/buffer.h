/* buffer — FIFO transition store (s, a, r, s', terminal) with uniform sampling.
 *
 * Rows are kept in a ring of fixed capacity; the oldest row is overwritten when full. Logical
 * index 0 is the oldest stored row. Sampling is uniform with replacement over the stored rows
 * from a caller's RNG stream. buf_resize keeps the most recent rows in storage order (the model
 * buffer changes capacity with the rollout length, spec §3.6). Columns are separate contiguous
 * arrays so a batch gather touches only what it needs and a checkpoint writes each as one bin. */
#ifndef USBPO_BUFFER_H
#define USBPO_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef struct Buffer_ {
  int obs_dim, act_dim;
  int64_t cap;    /* rows */
  int64_t size;   /* rows stored */
  int64_t head;   /* physical index of the next write */
  int64_t pushed; /* rows ever pushed (for statistics) */
  float *obs;     /* (cap, obs_dim) */
  float *act;     /* (cap, act_dim) */
  float *rew;     /* (cap) */
  float *next;    /* (cap, obs_dim) */
  uint8_t *done;  /* (cap) */
} Buffer;

Buffer *buf_make(int obs_dim, int act_dim, int64_t cap);
void buf_free(Buffer *b);
size_t buf_bytes(int obs_dim, int act_dim, int64_t cap);

void buf_clear(Buffer *b);
/* append n rows (arrays of n rows each) */
void buf_push(Buffer *b, int64_t n, const float *obs, const float *act, const float *rew,
              const float *next, const uint8_t *done);

/* physical row of logical index i (0 = oldest) */
/* take back the last n rows pushed; only valid when those pushes evicted nothing
 * (size was at most cap - n before them) */
void buf_unpush(Buffer *b, int64_t n);
static inline int64_t buf_phys(const Buffer *b, int64_t i) {
  int64_t start = b->size < b->cap ? 0 : b->head;
  int64_t p = start + i;
  return p >= b->cap ? p - b->cap : p;
}

/* copy logical rows idx[0..n) into the outputs (any output may be NULL) */
void buf_gather(const Buffer *b, const int64_t *idx, int n, float *obs, float *act, float *rew,
                float *next, float *done);
/* n logical indices uniform with replacement over the stored rows */
void buf_sample_idx(const Buffer *b, Rng *rng, int n, int64_t *idx);

/* a new capacity; keeps the most recent min(size, cap) rows in order. Returns the new buffer
 * (the old one is freed). */
Buffer *buf_resize(Buffer *b, int64_t cap);

#endif
