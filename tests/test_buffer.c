/* test_buffer — FIFO order, wrap-around, sampling, resize-with-copy. */
#include "buffer.h"
#include "check.h"

static void push_rows(Buffer *b, int from, int n) {
  for (int i = from; i < from + n; i++) {
    float o[2] = {(float)i, (float)-i}, a = (float)(2 * i), r = (float)(3 * i),
          nx[2] = {(float)i + 0.5f, 0};
    uint8_t d = (uint8_t)(i % 2);
    buf_push(b, 1, o, &a, &r, nx, &d);
  }
}

static float row_id(const Buffer *b, int64_t logical) {
  return b->obs[buf_phys(b, logical) * 2];
}

static void test_fifo_and_wrap(void) {
  Buffer *b = buf_make(2, 1, 5);
  push_rows(b, 0, 3);
  EXPECT(b->size == 3 && row_id(b, 0) == 0 && row_id(b, 2) == 2, "partial fill");
  push_rows(b, 3, 4); /* 7 rows into 5: the oldest two are gone */
  EXPECT(b->size == 5, "size %lld", (long long)b->size);
  for (int i = 0; i < 5; i++) EXPECT(row_id(b, i) == i + 2, "logical %d holds %g", i, row_id(b, i));
  /* a batch push longer than the capacity keeps its last rows */
  float o[16], a[8], r[8], n[16];
  uint8_t d[8];
  for (int i = 0; i < 8; i++)
    o[2 * i] = (float)(100 + i), o[2 * i + 1] = 0, a[i] = r[i] = 0, d[i] = 0,
          n[2 * i] = n[2 * i + 1] = 0;
  buf_push(b, 8, o, a, r, n, d);
  for (int i = 0; i < 5; i++) EXPECT(row_id(b, i) == 103 + i, "long push %d", i);
  buf_free(b);
}

static void test_gather_and_sample(void) {
  Buffer *b = buf_make(2, 1, 10);
  push_rows(b, 0, 13);
  int64_t idx[3] = {0, 4, 9};
  float o[6], a[3], r[3], n[6], d[3];
  buf_gather(b, idx, 3, o, a, r, n, d);
  EXPECT(o[0] == 3 && o[1] == -3 && a[0] == 6 && r[0] == 9 && n[0] == 3.5f && d[0] == 1, "row 0");
  EXPECT(o[4] == 12 && a[2] == 24 && d[2] == 0, "row 9");
  /* sampling is uniform over the stored rows: chi-square over the 10 rows */
  Rng rng = rng_make(1, RNG_TEST, 0);
  int cnt[10] = {0};
  int64_t s[1000];
  for (int k = 0; k < 100; k++) {
    buf_sample_idx(b, &rng, 1000, s);
    for (int i = 0; i < 1000; i++) cnt[s[i]]++;
  }
  double chi = 0;
  for (int i = 0; i < 10; i++) chi += (cnt[i] - 10000.0) * (cnt[i] - 10000.0) / 10000.0;
  EXPECT(chi < 33.7, "sampling chi-square %g (99.99%% of chi2(9) = 33.7)", chi);
  buf_free(b);
}

static void test_resize(void) {
  Buffer *b = buf_make(2, 1, 6);
  push_rows(b, 0, 9); /* holds 3..8, wrapped */
  b = buf_resize(b, 10);
  EXPECT(b->cap == 10 && b->size == 6, "grow keeps all rows");
  for (int i = 0; i < 6; i++) EXPECT(row_id(b, i) == 3 + i, "grow order %d", i);
  push_rows(b, 9, 2);
  EXPECT(row_id(b, 7) == 10, "appends after a grow");
  b = buf_resize(b, 4); /* shrink: the most recent 4 rows */
  EXPECT(b->size == 4, "shrink size");
  for (int i = 0; i < 4; i++) EXPECT(row_id(b, i) == 7 + i, "shrink order %d: %g", i, row_id(b, i));
  float a = b->act[buf_phys(b, 0)], r = b->rew[buf_phys(b, 0)];
  EXPECT(a == 14 && r == 21 && b->done[buf_phys(b, 0)] == 1, "columns travel with rows");
  buf_free(b);
}

int main(void) {
  RUN(test_fifo_and_wrap);
  RUN(test_gather_and_sample);
  RUN(test_resize);
  CHECK_DONE();
}
