#include "rng.h"

#include <math.h>
#include <string.h>

#include "fastmath.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

Rng rng_make(uint32_t seed, uint32_t purpose, uint64_t index) {
  Rng r;
  memset(&r, 0, sizeof r);
  r.key[0] = seed;
  r.key[1] = purpose;
  r.index = index;
  r.block = 0;
  r.pos = 4;
  return r;
}

static void refill(Rng *r) {
  uint32_t ctr[4] = {(uint32_t)r->block, (uint32_t)(r->block >> 32), (uint32_t)r->index,
                     (uint32_t)(r->index >> 32)};
  rng_philox4x32_10(ctr, r->key, r->buf);
  r->block++;
  r->pos = 0;
}

uint32_t rng_u32(Rng *r) {
  if (r->pos >= 4) refill(r);
  return r->buf[r->pos++];
}

uint64_t rng_u64(Rng *r) {
  uint64_t hi = rng_u32(r);
  return (hi << 32) | rng_u32(r);
}

double rng_uniform(Rng *r) {
  return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

float rng_uniform_f(Rng *r) {
  return (float)(rng_u32(r) >> 8) * 0x1.0p-24f;
}

double rng_uniform_range(Rng *r, double lo, double hi) {
  return lo + (hi - lo) * rng_uniform(r);
}

uint32_t rng_below(Rng *r, uint32_t n) {
  /* Lemire's multiply-shift with rejection of the biased low region */
  uint64_t m = (uint64_t)rng_u32(r) * n;
  uint32_t lo = (uint32_t)m;
  if (lo < n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    while (lo < threshold) {
      m = (uint64_t)rng_u32(r) * n;
      lo = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

double rng_normal(Rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log never sees 0 */
  double u2 = rng_uniform(r);
  double rad = sqrt(-2.0 * log(u1));
  double th = 2.0 * M_PI * u2;
  r->spare = rad * sin(th);
  r->has_spare = 1;
  return rad * cos(th);
}

double rng_truncnormal(Rng *r) {
  for (;;) {
    double x = rng_normal(r);
    if (x >= -2.0 && x <= 2.0) return x;
  }
}

void rng_normal_fill(Rng *r, float *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = (float)rng_normal(r);
}

void rng_shuffle_i32(Rng *r, int32_t *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = rng_below(r, (uint32_t)i);
    int32_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

void rng_save(const Rng *r, uint64_t out[RNG_STATE_WORDS]) {
  out[0] = ((uint64_t)r->key[0] << 32) | r->key[1];
  out[1] = r->index;
  out[2] = r->block;
  out[3] = ((uint64_t)r->buf[0] << 32) | r->buf[1];
  out[4] = ((uint64_t)r->buf[2] << 32) | r->buf[3];
  out[5] = r->pos;
  out[6] = r->has_spare;
  memcpy(&out[7], &r->spare, sizeof(double));
  out[8] = 0x524e4731u; /* "RNG1": format tag */
}

int rng_load(Rng *r, const uint64_t in[RNG_STATE_WORDS]) {
  if (in[8] != 0x524e4731u || in[5] > 4 || in[6] > 1) return -1;
  r->key[0] = (uint32_t)(in[0] >> 32);
  r->key[1] = (uint32_t)in[0];
  r->index = in[1];
  r->block = in[2];
  r->buf[0] = (uint32_t)(in[3] >> 32);
  r->buf[1] = (uint32_t)in[3];
  r->buf[2] = (uint32_t)(in[4] >> 32);
  r->buf[3] = (uint32_t)in[4];
  r->pos = (uint32_t)in[5];
  r->has_spare = (uint32_t)in[6];
  memcpy(&r->spare, &in[7], sizeof(double));
  if (r->has_spare && !isfinite(r->spare)) return -1;
  return 0;
}

/* Box-Muller over a chunk of raw words: vectorisable (no calls, no branches) */
static void box_muller(const uint32_t *restrict w, float *restrict out, int pairs) {
  for (int i = 0; i < pairs; i++) {
    float u1 = (float)((w[2 * i] >> 8) + 1) * 0x1.0p-24f; /* (0, 1] */
    float u2 = (float)(w[2 * i + 1] >> 8) * 0x1.0p-24f;   /* [0, 1) */
    float rad = sqrtf(-2.0f * fm_logf(u1));
    float c, s;
    fm_sincos2pi(u2, &c, &s);
    out[2 * i] = rad * c;
    out[2 * i + 1] = rad * s;
  }
}

void rng_normal_f(Rng *r, float *out, size_t n) {
  enum { CH = 128 };
  uint32_t w[2 * CH];
  float tmp[2 * CH];
  size_t done = 0;
  while (done < n) {
    size_t want = n - done;
    int pairs = (int)((want + 1) / 2 > CH ? CH : (want + 1) / 2);
    for (int i = 0; i < 2 * pairs; i++) w[i] = rng_u32(r);
    box_muller(w, tmp, pairs);
    size_t k = (size_t)2 * pairs < want ? (size_t)2 * pairs : want;
    memcpy(out + done, tmp, sizeof(float) * k);
    done += k;
  }
}
