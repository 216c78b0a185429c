#include "buffer.h"

#include <string.h>

#include "util.h"

size_t buf_bytes(int obs_dim, int act_dim, int64_t cap) {
  return (size_t)cap * (sizeof(float) * (2 * (size_t)obs_dim + (size_t)act_dim + 1) + 1);
}

Buffer *buf_make(int obs_dim, int act_dim, int64_t cap) {
  CHECK(cap >= 1 && obs_dim >= 1 && act_dim >= 1, "buffer: bad shape (%d, %d, %lld)", obs_dim,
        act_dim, (long long)cap);
  Buffer *b = xmalloc(sizeof *b);
  b->obs_dim = obs_dim;
  b->act_dim = act_dim;
  b->cap = cap;
  b->obs = xmalloc(sizeof(float) * (size_t)cap * obs_dim);
  b->act = xmalloc(sizeof(float) * (size_t)cap * act_dim);
  b->rew = xmalloc(sizeof(float) * (size_t)cap);
  b->next = xmalloc(sizeof(float) * (size_t)cap * obs_dim);
  b->done = xmalloc((size_t)cap);
  return b;
}

void buf_free(Buffer *b) {
  if (!b) return;
  xfree(b->obs), xfree(b->act), xfree(b->rew), xfree(b->next), xfree(b->done);
  xfree(b);
}

void buf_clear(Buffer *b) {
  b->size = b->head = 0;
}

void buf_push(Buffer *b, int64_t n, const float *obs, const float *act, const float *rew,
              const float *next, const uint8_t *done) {
  const int od = b->obs_dim, ad = b->act_dim;
  /* only the last cap rows of a long push survive */
  if (n > b->cap) {
    int64_t skip = n - b->cap;
    obs += skip * od, act += skip * ad, rew += skip, next += skip * od, done += skip;
    b->pushed += skip;
    n = b->cap;
  }
  while (n > 0) {
    int64_t k = b->cap - b->head;
    if (k > n) k = n;
    int64_t h = b->head;
    memcpy(b->obs + h * od, obs, sizeof(float) * k * od);
    memcpy(b->act + h * ad, act, sizeof(float) * k * ad);
    memcpy(b->rew + h, rew, sizeof(float) * k);
    memcpy(b->next + h * od, next, sizeof(float) * k * od);
    memcpy(b->done + h, done, (size_t)k);
    obs += k * od, act += k * ad, rew += k, next += k * od, done += k;
    b->head = (h + k) % b->cap;
    b->size = b->size + k > b->cap ? b->cap : b->size + k;
    b->pushed += k;
    n -= k;
  }
}

void buf_gather(const Buffer *b, const int64_t *idx, int n, float *obs, float *act, float *rew,
                float *next, float *done) {
  const int od = b->obs_dim, ad = b->act_dim;
  for (int i = 0; i < n; i++) {
    int64_t p = buf_phys(b, idx[i]);
    if (obs) memcpy(obs + (size_t)i * od, b->obs + p * od, sizeof(float) * od);
    if (act) memcpy(act + (size_t)i * ad, b->act + p * ad, sizeof(float) * ad);
    if (rew) rew[i] = b->rew[p];
    if (next) memcpy(next + (size_t)i * od, b->next + p * od, sizeof(float) * od);
    if (done) done[i] = b->done[p];
  }
}

void buf_sample_idx(const Buffer *b, Rng *rng, int n, int64_t *idx) {
  CHECK(b->size > 0, "sampling from an empty buffer");
  CHECK(b->size <= 0xffffffffll, "buffer too large for 32-bit sampling");
  for (int i = 0; i < n; i++) idx[i] = rng_below(rng, (uint32_t)b->size);
}

Buffer *buf_resize(Buffer *b, int64_t cap) {
  if (cap == b->cap) return b;
  Buffer *nb = buf_make(b->obs_dim, b->act_dim, cap);
  int64_t keep = b->size < cap ? b->size : cap;
  /* copy the most recent `keep` rows, oldest first, in at most two contiguous runs */
  int64_t i = b->size - keep;
  while (i < b->size) {
    int64_t p = buf_phys(b, i);
    int64_t run = b->cap - p;
    if (run > b->size - i) run = b->size - i;
    buf_push(nb, run, b->obs + p * b->obs_dim, b->act + p * b->act_dim, b->rew + p,
             b->next + p * b->obs_dim, b->done + p);
    i += run;
  }
  nb->pushed = b->pushed;
  buf_free(b);
  return nb;
}

void buf_unpush(Buffer *b, int64_t n) {
  CHECK(n >= 0 && n <= b->size, "buf_unpush: %lld of %lld rows", (long long)n, (long long)b->size);
  b->head = (b->head - n % b->cap + b->cap) % b->cap;
  b->size -= n;
  b->pushed -= n;
}
