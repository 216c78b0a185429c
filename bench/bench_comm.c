/* bench_comm — codec throughput: encode + decode (with full validation: shapes, finiteness) of a
 * 100 000-row transition batch, a policy snapshot and a model snapshot at Hopper sizes, against
 * memcpy of the same bytes in the same run.
 *   bench_comm [rounds] */
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "codec.h"
#include "rng.h"

typedef struct {
  Enc e;
  CodecCtx c;
  int kind; /* 0 transitions, 1 policy, 2 model */
  float *obs, *act, *rew, *next, *params, *mu, *sd;
  uint8_t *done;
  int32_t el[5];
  int64_t rows, np, nm;
  uint8_t *copy;
  size_t bytes;
} B;

static size_t encode(B *b) {
  Enc *e = &b->e;
  if (b->kind == 0) {
    enc_begin(e, MSG_TRANSITIONS, 2, ROLE_LEARNER, 0, 1, 0, 9);
    enc_int(e, K_KIND, 0);
    enc_int(e, K_COUNT, b->rows);
    enc_int(e, K_POLICY_VERSION, 1);
    enc_int(e, K_FROM, 0);
    enc_arr(e, A_OBS, DT_F32, b->obs, b->rows, 11);
    enc_arr(e, A_ACT, DT_F32, b->act, b->rows, 3);
    enc_arr(e, A_REW, DT_F32, b->rew, b->rows, 0);
    enc_arr(e, A_NEXT, DT_F32, b->next, b->rows, 11);
    enc_arr(e, A_DONE, DT_U8, b->done, b->rows, 0);
  } else if (b->kind == 1) {
    enc_begin(e, MSG_POLICY, 2, ROLE_ACTOR, 0, 1, 0, 2);
    enc_int(e, K_VERSION, 1);
    enc_arr(e, A_PARAMS, DT_F32, b->params, b->np, 0);
  } else {
    enc_begin(e, MSG_MODEL, 2, ROLE_ROLLOUT, 0, 1, 0, 5);
    enc_int(e, K_VERSION, 1);
    enc_arr(e, A_PARAMS, DT_F32, b->params, b->nm, 0);
    enc_arr(e, A_MU, DT_F32, b->mu, 14, 0);
    enc_arr(e, A_SD, DT_F32, b->sd, 14, 0);
    enc_arr(e, A_ELITES, DT_I32, b->el, 5, 0);
  }
  return enc_end(e);
}

static void codec_round(void *v) {
  B *b = v;
  size_t n = encode(b);
  Msg m;
  char err[256];
  CHECK(msg_decode(b->e.buf, n, 2, &b->c, &m, err, sizeof err) == 0, "%s", err);
  b->bytes = n;
}

static void copy_round(void *v) {
  B *b = v;
  memcpy(b->copy, b->e.buf, b->bytes);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 10;
  printf("# bench_comm: encode + validating decode vs memcpy of the same bytes\n");
  B b;
  memset(&b, 0, sizeof b);
  enc_init(&b.e);
  b.rows = 100000;
  b.np = 71942;  /* Hopper policy: 11-256-256-6 */
  b.nm = 900000; /* about the Hopper ensemble block */
  b.c = (CodecCtx){.obs_dim = 11,
                   .act_dim = 3,
                   .in_dim = 14,
                   .out_dim = 12,
                   .n_policy = b.np,
                   .n_model = b.nm,
                   .elites = 5,
                   .members = 7,
                   .shards = 16,
                   .max_rows = 1000000,
                   .n_metrics = 12,
                   .max_state = 1ll << 40};
  Rng r = rng_make(1, RNG_TEST, 0);
  b.obs = xmalloc(sizeof(float) * b.rows * 11), b.next = xmalloc(sizeof(float) * b.rows * 11);
  b.act = xmalloc(sizeof(float) * b.rows * 3), b.rew = xmalloc(sizeof(float) * b.rows);
  b.done = xmalloc((size_t)b.rows);
  b.params = xmalloc(sizeof(float) * b.nm), b.mu = xmalloc(56), b.sd = xmalloc(56);
  rng_normal_f(&r, b.obs, (size_t)b.rows * 11);
  rng_normal_f(&r, b.next, (size_t)b.rows * 11);
  rng_normal_f(&r, b.act, (size_t)b.rows * 3);
  rng_normal_f(&r, b.rew, (size_t)b.rows);
  rng_normal_f(&r, b.params, (size_t)b.nm);
  for (int i = 0; i < 14; i++) b.sd[i] = 1;
  for (int i = 0; i < 5; i++) b.el[i] = i;
  b.copy = xmalloc(sizeof(float) * b.rows * 30);
  const char *names[3] = {"transitions, 100k rows (Hopper)", "policy snapshot (71 942 floats)",
                          "model snapshot (900 000 floats)"};
  printf("%-34s %10s %12s %12s %10s\n", "message", "bytes", "codec ms", "memcpy ms", "codec GB/s");
  for (int k = 0; k < 3; k++) {
    b.kind = k;
    codec_round(&b);
    double a, c;
    bench_pair(codec_round, &b, copy_round, &b, k == 1 ? 50 : 5, rounds, &a, &c);
    printf("%-34s %10zu %12.3f %12.3f %10.2f\n", names[k], b.bytes, a * 1e3, c * 1e3,
           b.bytes / a / 1e9);
  }
  return 0;
}
