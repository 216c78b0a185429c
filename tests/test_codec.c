/* test_codec — round trips of every message type, and rejection of malformed messages: ~30
 * hand-made ones (each must name the source rank, the type when known, and the reason), every
 * truncation of a valid message, every single-byte corruption (rejected or still valid, never
 * a crash or an out-of-bounds read under the sanitizers), and the replay of a stored corpus. */
#include <dirent.h>
#include <stdlib.h>

#include "check.h"
#include "codec.h"
#include "util.h"

static CodecCtx ctx(void) {
  CodecCtx c = {.obs_dim = 11,
                .act_dim = 3,
                .in_dim = 14,
                .out_dim = 12,
                .n_policy = 20,
                .n_model = 30,
                .elites = 5,
                .members = 7,
                .shards = 16,
                .max_rows = 100000,
                .n_metrics = 12,
                .max_state = 1 << 20};
  return c;
}

static int g_seed_no;
static void dump_seed(const uint8_t *b, size_t n) {
  const char *dir = getenv("USBPO_WRITE_CORPUS");
  if (!dir) return;
  char path[1024];
  snprintf(path, sizeof path, "%s/seed-%03d", dir, g_seed_no++);
  FILE *f = fopen(path, "wb");
  if (f) fwrite(b, 1, n, f), fclose(f);
}

/* a valid transitions message with n rows (real data from actor `from`) */
static size_t make_transitions(Enc *e, int n, int from) {
  static float obs[6 * 11], act[6 * 3], rew[6], next[6 * 11];
  static uint8_t done[6];
  for (int i = 0; i < 6 * 11; i++) obs[i] = 0.1f * (float)i, next[i] = -0.1f * (float)i;
  for (int i = 0; i < 6 * 3; i++) act[i] = 0.01f * (float)i;
  for (int i = 0; i < 6; i++) rew[i] = (float)i, done[i] = (uint8_t)(i == 5);
  double ep[3] = {12.5, 40, 1};
  enc_begin(e, MSG_TRANSITIONS, 3, ROLE_LEARNER, 0, 57, 1000, 10);
  enc_int(e, K_KIND, 0);
  enc_int(e, K_COUNT, n);
  enc_int(e, K_POLICY_VERSION, 4);
  enc_int(e, K_FROM, from);
  enc_arr(e, A_OBS, DT_F32, obs, n, 11);
  enc_arr(e, A_ACT, DT_F32, act, n, 3);
  enc_arr(e, A_REW, DT_F32, rew, n, 0);
  enc_arr(e, A_NEXT, DT_F32, next, n, 11);
  enc_arr(e, A_DONE, DT_U8, done, n, 0);
  enc_arr(e, A_EPSTATS, DT_F64, ep, 1, 3);
  return enc_end(e);
}

static void test_round_trips(void) {
  CodecCtx c = ctx();
  Enc e;
  enc_init(&e);
  Msg m;
  char err[512];
  size_t n = make_transitions(&e, 6, 2);
  dump_seed(e.buf, n);
  REQUIRE(msg_decode(e.buf, n, 3, &c, &m, err, sizeof err) == 0, "%s", err);
  EXPECT(m.type == MSG_TRANSITIONS && m.src == 3 && m.role == ROLE_LEARNER && m.seq == 57 &&
             m.step == 1000 && m.i[K_COUNT] == 6 && m.i[K_FROM] == 2 && m.i[K_POLICY_VERSION] == 4,
         "envelope / ints");
  float o[66];
  memcpy(o, m.a[A_OBS].data, sizeof o);
  EXPECT(m.a[A_OBS].rows == 6 && m.a[A_OBS].cols == 11 && o[65] == 0.1f * 65.0f, "obs");
  double ep[3];
  memcpy(ep, m.a[A_EPSTATS].data, sizeof ep);
  EXPECT(ep[0] == 12.5 && ep[1] == 40 && ep[2] == 1, "epstats");
  EXPECT(((const uint8_t *)m.a[A_DONE].data)[5] == 1, "done");
  /* every other type */
  float params[30];
  for (int i = 0; i < 30; i++) params[i] = (float)i * 0.5f;
  float mu[14] = {0}, sd[14];
  for (int i = 0; i < 14; i++) sd[i] = 1.0f + (float)i;
  int32_t el[5] = {6, 0, 3, 2, 1};
  enc_begin(&e, MSG_MODEL, 1, ROLE_ROLLOUT, 65535, 9, 0, 5);
  enc_int(&e, K_VERSION, 12);
  enc_arr(&e, A_PARAMS, DT_F32, params, 30, 0);
  enc_arr(&e, A_MU, DT_F32, mu, 14, 0);
  enc_arr(&e, A_SD, DT_F32, sd, 14, 0);
  enc_arr(&e, A_ELITES, DT_I32, el, 5, 0);
  n = enc_end(&e);
  dump_seed(e.buf, n);
  REQUIRE(msg_decode(e.buf, n, 1, &c, &m, err, sizeof err) == 0, "model: %s", err);
  int32_t el2[5];
  memcpy(el2, m.a[A_ELITES].data, sizeof el2);
  EXPECT(m.i[K_VERSION] == 12 && m.idx == 65535 && !memcmp(el, el2, sizeof el), "model");
  enc_begin(&e, MSG_POLICY, 0, ROLE_ACTOR, 65535, 1, 0, 2);
  enc_int(&e, K_VERSION, 3);
  enc_arr(&e, A_PARAMS, DT_F32, params, 20, 0);
  n = enc_end(&e);
  EXPECT(msg_decode(e.buf, n, 0, &c, &m, err, sizeof err) == 0, "policy: %s", err);
  double met[12] = {1, 2, 3};
  enc_begin(&e, MSG_TRAIN_DONE, 1, ROLE_LEARNER, 0, 2, 0, 5);
  enc_int(&e, K_TRAINING, 4);
  enc_int(&e, K_MODEL_VERSION, 5);
  enc_int(&e, K_K, 3);
  enc_int(&e, K_FROM, 0);
  enc_arr(&e, A_METRICS, DT_F64, met, 12, 0);
  n = enc_end(&e);
  EXPECT(msg_decode(e.buf, n, 1, &c, &m, err, sizeof err) == 0 && m.i[K_K] == 3, "train_done: %s",
         err);
  enc_begin(&e, MSG_ERROR, 2, ROLE_LEARNER, 0, 0, 0, 1);
  enc_text(&e, "the model diverged");
  n = enc_end(&e);
  EXPECT(msg_decode(e.buf, n, 2, &c, &m, err, sizeof err) == 0 && m.text_len == 18 &&
             !memcmp(m.text, "the model diverged", 18),
         "error text");
  enc_begin(&e, MSG_HEARTBEAT, 5, ROLE_ANY, 0, 0, 0, 0);
  n = enc_end(&e);
  EXPECT(msg_decode(e.buf, n, 5, &c, &m, err, sizeof err) == 0, "heartbeat");
  /* zero rows is a valid transitions message */
  n = make_transitions(&e, 0, 0);
  EXPECT(msg_decode(e.buf, n, 3, &c, &m, err, sizeof err) == 0, "empty transitions: %s", err);
  enc_free(&e);
}

/* ---- hand-made malformed messages ---- */

typedef struct {
  uint8_t b[4096];
  size_t n;
} Raw;
static void r8(Raw *r, uint8_t v) {
  r->b[r->n++] = v;
}
static void rstr(Raw *r, const char *s) {
  size_t n = strlen(s);
  r8(r, (uint8_t)(0xa0 | n));
  memcpy(r->b + r->n, s, n);
  r->n += n;
}
static void rint_(Raw *r, int64_t v) {
  if (v >= 0 && v < 128) {
    r8(r, (uint8_t)v);
  } else {
    r8(r, 0xd3);
    for (int i = 7; i >= 0; i--) r8(r, (uint8_t)((uint64_t)v >> (8 * i)));
  }
}
/* an envelope with the given type name and an empty body header of nb entries */
static void renv(Raw *r, const char *type, int ver, int src, int nb) {
  r->n = 0;
  r8(r, 0x88);
  rstr(r, "type"), rstr(r, type);
  rstr(r, "ver"), rint_(r, ver);
  rstr(r, "src"), rint_(r, src);
  rstr(r, "role"), rint_(r, 0);
  rstr(r, "idx"), rint_(r, 0);
  rstr(r, "seq"), rint_(r, 7);
  rstr(r, "step"), rint_(r, 0);
  rstr(r, "body"), r8(r, (uint8_t)(0x80 | nb));
}

static void bad_raw(const Raw *r, const char *want, const char *what) {
  dump_seed(r->b, r->n);
  CodecCtx c = ctx();
  Msg m;
  char err[512] = "";
  int rc = msg_decode(r->b, r->n, 3, &c, &m, err, sizeof err);
  EXPECT(rc != 0, "%s: accepted", what);
  EXPECT(strstr(err, "rank 3: message '") != NULL, "%s: no rank/type in \"%s\"", what, err);
  EXPECT(strstr(err, want) != NULL, "%s: \"%s\" lacks \"%s\"", what, err, want);
}

/* a valid transitions message, then one change through a patch function */
static void bad_enc(void (*patch)(Enc *), const char *want, const char *what) {
  Enc e;
  enc_init(&e);
  patch(&e);
  Raw r;
  r.n = e.len;
  memcpy(r.b, e.buf, e.len);
  bad_raw(&r, want, what);
  enc_free(&e);
}

static float g_obs[6 * 12], g_act[6 * 3], g_rew[6], g_next[6 * 11];
static uint8_t g_done[6];
static void trans_prefix(Enc *e, int nbody, int n) {
  enc_begin(e, MSG_TRANSITIONS, 3, ROLE_LEARNER, 0, 57, 0, nbody);
  enc_int(e, K_KIND, 0);
  enc_int(e, K_COUNT, n);
  enc_int(e, K_POLICY_VERSION, 0);
  enc_int(e, K_FROM, 0);
}
static void p_obs_cols(Enc *e) {
  trans_prefix(e, 9, 6);
  enc_arr(e, A_OBS, DT_F32, g_obs, 6, 12);
  enc_arr(e, A_ACT, DT_F32, g_act, 6, 3);
  enc_arr(e, A_REW, DT_F32, g_rew, 6, 0);
  enc_arr(e, A_NEXT, DT_F32, g_next, 6, 11);
  enc_arr(e, A_DONE, DT_U8, g_done, 6, 0);
  enc_end(e);
}
static void p_rows(Enc *e) {
  trans_prefix(e, 9, 6);
  enc_arr(e, A_OBS, DT_F32, g_obs, 6, 11);
  enc_arr(e, A_ACT, DT_F32, g_act, 5, 3);
  enc_arr(e, A_REW, DT_F32, g_rew, 6, 0);
  enc_arr(e, A_NEXT, DT_F32, g_next, 6, 11);
  enc_arr(e, A_DONE, DT_U8, g_done, 6, 0);
  enc_end(e);
}
static void p_nan(Enc *e) {
  g_next[13] = NAN;
  trans_prefix(e, 9, 6);
  enc_arr(e, A_OBS, DT_F32, g_obs, 6, 11);
  enc_arr(e, A_ACT, DT_F32, g_act, 6, 3);
  enc_arr(e, A_REW, DT_F32, g_rew, 6, 0);
  enc_arr(e, A_NEXT, DT_F32, g_next, 6, 11);
  enc_arr(e, A_DONE, DT_U8, g_done, 6, 0);
  enc_end(e);
  g_next[13] = 0;
}
static void p_done2(Enc *e) {
  g_done[4] = 2;
  trans_prefix(e, 9, 6);
  enc_arr(e, A_OBS, DT_F32, g_obs, 6, 11);
  enc_arr(e, A_ACT, DT_F32, g_act, 6, 3);
  enc_arr(e, A_REW, DT_F32, g_rew, 6, 0);
  enc_arr(e, A_NEXT, DT_F32, g_next, 6, 11);
  enc_arr(e, A_DONE, DT_U8, g_done, 6, 0);
  enc_end(e);
  g_done[4] = 0;
}
static void p_dtype(Enc *e) {
  trans_prefix(e, 9, 3);
  enc_arr(e, A_OBS, DT_F64, g_obs, 3, 11);
  enc_arr(e, A_ACT, DT_F32, g_act, 3, 3);
  enc_arr(e, A_REW, DT_F32, g_rew, 3, 0);
  enc_arr(e, A_NEXT, DT_F32, g_next, 3, 11);
  enc_arr(e, A_DONE, DT_U8, g_done, 3, 0);
  enc_end(e);
}
static void p_missing(Enc *e) {
  enc_begin(e, MSG_TRANSITIONS, 3, ROLE_LEARNER, 0, 57, 0, 3);
  enc_int(e, K_KIND, 0);
  enc_int(e, K_POLICY_VERSION, 0);
  enc_int(e, K_FROM, 0);
  enc_end(e);
}
static void p_unexpected(Enc *e) {
  enc_begin(e, MSG_HEARTBEAT, 3, ROLE_ANY, 0, 1, 0, 1);
  enc_int(e, K_EPOCH, 0);
  enc_end(e);
}
static void p_policy_len(Enc *e) {
  enc_begin(e, MSG_POLICY, 3, ROLE_ACTOR, 0, 1, 0, 2);
  enc_int(e, K_VERSION, 1);
  enc_arr(e, A_PARAMS, DT_F32, g_obs, 19, 0);
  enc_end(e);
}
static void p_elites(Enc *e) {
  int32_t el[5] = {0, 1, 1, 2, 3};
  float sd[14];
  for (int i = 0; i < 14; i++) sd[i] = 1;
  enc_begin(e, MSG_MODEL, 3, ROLE_ROLLOUT, 0, 1, 0, 5);
  enc_int(e, K_VERSION, 1);
  enc_arr(e, A_PARAMS, DT_F32, g_obs, 30, 0);
  enc_arr(e, A_MU, DT_F32, sd, 14, 0);
  enc_arr(e, A_SD, DT_F32, sd, 14, 0);
  enc_arr(e, A_ELITES, DT_I32, el, 5, 0);
  enc_end(e);
}
static void p_sd(Enc *e) {
  int32_t el[5] = {0, 1, 2, 3, 4};
  float sd[14];
  for (int i = 0; i < 14; i++) sd[i] = 1;
  sd[7] = 0;
  enc_begin(e, MSG_MODEL, 3, ROLE_ROLLOUT, 0, 1, 0, 5);
  enc_int(e, K_VERSION, 1);
  enc_arr(e, A_PARAMS, DT_F32, g_obs, 30, 0);
  enc_arr(e, A_MU, DT_F32, sd, 14, 0);
  enc_arr(e, A_SD, DT_F32, sd, 14, 0);
  enc_arr(e, A_ELITES, DT_I32, el, 5, 0);
  enc_end(e);
}
static void p_k(Enc *e) {
  double met[12] = {0};
  enc_begin(e, MSG_TRAIN_DONE, 3, ROLE_LEARNER, 0, 1, 0, 4);
  enc_int(e, K_TRAINING, 0);
  enc_int(e, K_MODEL_VERSION, 0);
  enc_int(e, K_K, -5);
  enc_arr(e, A_METRICS, DT_F64, met, 12, 0);
  enc_end(e);
}
static void p_shard(Enc *e) {
  enc_begin(e, MSG_START_STATES, 3, ROLE_ROLLOUT, 0, 1, 0, 3);
  enc_int(e, K_TRAINING, 0);
  enc_int(e, K_SHARD, 16);
  enc_arr(e, A_OBS, DT_F32, g_obs, 2, 11);
  enc_end(e);
}
static void p_metrics_len(Enc *e) {
  double met[12] = {0};
  enc_begin(e, MSG_TRAIN_DONE, 3, ROLE_LEARNER, 0, 1, 0, 4);
  enc_int(e, K_TRAINING, 0);
  enc_int(e, K_MODEL_VERSION, 0);
  enc_int(e, K_K, 1);
  enc_arr(e, A_METRICS, DT_F64, met, 11, 0);
  enc_end(e);
}
static void p_model_kind(Enc *e) {
  enc_begin(e, MSG_TRANSITIONS, 3, ROLE_LEARNER, 0, 57, 0, 9);
  enc_int(e, K_KIND, 1);
  enc_int(e, K_COUNT, 1);
  enc_int(e, K_POLICY_VERSION, 0);
  enc_int(e, K_FROM, 0);
  enc_arr(e, A_OBS, DT_F32, g_obs, 1, 11);
  enc_arr(e, A_ACT, DT_F32, g_act, 1, 3);
  enc_arr(e, A_REW, DT_F32, g_rew, 1, 0);
  enc_arr(e, A_NEXT, DT_F32, g_next, 1, 11);
  enc_arr(e, A_DONE, DT_U8, g_done, 1, 0);
  enc_end(e);
}

static void test_malformed(void) {
  Raw r;
  /* envelope level */
  renv(&r, "teleport", 1, 3, 0);
  bad_raw(&r, "unknown message type", "unknown type");
  renv(&r, "heartbeat", 2, 3, 0);
  bad_raw(&r, "protocol version 2, expected 1", "version");
  renv(&r, "heartbeat", 1, 4, 0);
  bad_raw(&r, "claims to come from rank 4", "spoofed source");
  renv(&r, "heartbeat", 1, 3, 0);
  r.n -= 1; /* drop the body map header */
  r8(&r, 0x90);
  bad_raw(&r, "the body is not a map", "body not a map");
  r.n = 0;
  r8(&r, 0x93), rint_(&r, 1), rint_(&r, 2), rint_(&r, 3);
  bad_raw(&r, "the envelope is not a map", "array envelope");
  renv(&r, "heartbeat", 1, 3, 0);
  r.b[0] = 0x89, rstr(&r, "colour"), rint_(&r, 1);
  bad_raw(&r, "unknown envelope key", "extra envelope key");
  renv(&r, "heartbeat", 1, 3, 0);
  r.b[0] = 0x87; /* 7 entries: body ends the map, 'step' read as a key ... */
  bad_raw(&r, "malformed MessagePack", "entry count wrong");
  /* byte structure */
  renv(&r, "heartbeat", 1, 3, 0);
  r8(&r, 0x00);
  bad_raw(&r, "malformed MessagePack", "trailing byte");
  r.n = 0;
  for (int i = 0; i < 40; i++) r8(&r, 0x91);
  r8(&r, 0x01);
  bad_raw(&r, "malformed MessagePack", "nesting bomb");
  r.n = 0;
  r8(&r, 0xdd), r8(&r, 0xff), r8(&r, 0xff), r8(&r, 0xff), r8(&r, 0xff), r8(&r, 0x01);
  bad_raw(&r, "malformed MessagePack", "array claims 4 billion elements");
  r.n = 0;
  r8(&r, 0xc6), r8(&r, 0x7f), r8(&r, 0xff), r8(&r, 0xff), r8(&r, 0xff), r8(&r, 0x00);
  bad_raw(&r, "malformed MessagePack", "bin claims 2 GB");
  r.n = 0;
  r8(&r, 0xd4), r8(&r, 0x01), r8(&r, 0x02);
  bad_raw(&r, "malformed MessagePack", "ext type");
  r.n = 0;
  bad_raw(&r, "malformed MessagePack", "empty input");
  /* body fields */
  renv(&r, "shutdown", 1, 3, 1);
  rstr(&r, "code"), rstr(&r, "zero");
  bad_raw(&r, "field 'code' is not an integer", "int as string");
  renv(&r, "shutdown", 1, 3, 2);
  rstr(&r, "code"), rint_(&r, 1), rstr(&r, "code"), rint_(&r, 2);
  bad_raw(&r, "field 'code' repeated", "duplicate field");
  renv(&r, "shutdown", 1, 3, 1);
  rstr(&r, "code"), rint_(&r, 300);
  bad_raw(&r, "'code' = 300 out of range", "exit code range");
  renv(&r, "shutdown", 1, 3, 1);
  rstr(&r, "colour"), rint_(&r, 1);
  bad_raw(&r, "unknown field", "unknown body field");
  renv(&r, "policy_snapshot", 1, 3, 2);
  rstr(&r, "version"), rint_(&r, 1);
  rstr(&r, "params"), r8(&r, 0x83), rstr(&r, "dtype"), rstr(&r, "f32"), rstr(&r, "shape");
  r8(&r, 0x91), rint_(&r, 20), rstr(&r, "data"), r8(&r, 0xc4), r8(&r, 8);
  for (int i = 0; i < 8; i++) r8(&r, 0);
  bad_raw(&r, "array 'params': shape does not match its byte length", "shape vs bytes");
  /* a body one element longer than its shape, and one byte longer, and one byte shorter */
  static const int extra[3] = {84, 81, 79};
  for (int k = 0; k < 3; k++) {
    renv(&r, "policy_snapshot", 1, 3, 2);
    rstr(&r, "version"), rint_(&r, 1);
    rstr(&r, "params"), r8(&r, 0x83), rstr(&r, "dtype"), rstr(&r, "f32"), rstr(&r, "shape");
    r8(&r, 0x91), rint_(&r, 20), rstr(&r, "data"), r8(&r, 0xc4), r8(&r, (uint8_t)extra[k]);
    for (int i = 0; i < extra[k]; i++) r8(&r, 0);
    char what[64];
    snprintf(what, sizeof what, "20 f32 in %d bytes", extra[k]);
    bad_raw(&r, "array 'params': shape does not match its byte length", what);
  }
  renv(&r, "policy_snapshot", 1, 3, 2);
  rstr(&r, "version"), rint_(&r, 1);
  rstr(&r, "params"), r8(&r, 0x83), rstr(&r, "dtype"), rstr(&r, "f16"), rstr(&r, "shape");
  r8(&r, 0x91), rint_(&r, 0), rstr(&r, "data"), r8(&r, 0xc4), r8(&r, 0);
  bad_raw(&r, "array 'params' is malformed", "unknown dtype");
  /* typed checks against the run's dimensions */
  bad_enc(p_obs_cols, "array 'obs' has 12 columns, expected 11", "obs columns");
  bad_enc(p_rows, "array 'act' has 5 rows, expected 6", "rows disagree");
  bad_enc(p_nan, "array 'next' holds a non-finite value", "NaN");
  bad_enc(p_done2, "must be 0 or 1", "terminal flag 2");
  bad_enc(p_dtype, "array 'obs' has dtype f64, expected f32", "dtype");
  bad_enc(p_missing, "missing field 'count'", "missing count");
  bad_enc(p_unexpected, "unexpected field 'epoch'", "unexpected field");
  bad_enc(p_policy_len, "array 'params' has 19 rows, expected 20", "policy length");
  bad_enc(p_elites, "elite 2 is 1", "repeated elite");
  bad_enc(p_sd, "scaler std 7 is 0", "zero std");
  bad_enc(p_k, "'k' = -5 out of range", "negative k");
  bad_enc(p_shard, "'shard' = 16 out of range", "shard range");
  bad_enc(p_metrics_len, "array 'metrics' has 11 rows, expected 12", "metrics length");
  bad_enc(p_model_kind, "model transitions need shard", "model rows untagged");
}

/* every truncation, every single-byte corruption of a valid message */
static void test_mutations(void) {
  CodecCtx c = ctx();
  Enc e;
  enc_init(&e);
  size_t n = make_transitions(&e, 6, 1);
  uint8_t *copy = malloc(n);
  Msg m;
  char err[512];
  int accepted = 0, rejected = 0, named = 0;
  for (size_t k = 0; k < n; k++) {
    int rc = msg_decode(e.buf, k, 3, &c, &m, err, sizeof err);
    rejected += rc != 0;
    named += rc != 0 && strstr(err, "rank 3") != NULL;
  }
  EXPECT(rejected == (int)n && named == (int)n, "%d of %zu truncations rejected with the rank",
         rejected, n);
  rejected = 0;
  for (size_t k = 0; k < n; k++)
    for (int bit = 0; bit < 8; bit++) {
      memcpy(copy, e.buf, n);
      copy[k] ^= (uint8_t)(1u << bit);
      int rc = msg_decode(copy, n, 3, &c, &m, err, sizeof err);
      if (rc == 0) {
        accepted++;
        /* what is accepted is consistent: the arrays agree with the count */
        EXPECT(m.a[A_OBS].rows == m.i[K_COUNT] && m.a[A_DONE].rows == m.i[K_COUNT],
               "accepted an inconsistent message (byte %zu bit %d)", k, bit);
      } else {
        rejected++;
      }
    }
  fprintf(stderr,
          "  %zu-byte message: %zu truncations rejected; %d bit flips rejected, %d still "
          "valid (data values)\n",
          n, n, rejected, accepted);
  EXPECT(rejected > 0 && accepted > 0, "bit flips: %d rejected, %d accepted", rejected, accepted);
  free(copy);
  enc_free(&e);
}

/* files of the stored corpus (found by the fuzzer or written by hand) never crash the decoder */
static void test_corpus(void) {
  const char *root = getenv("USBPO_SOURCE_ROOT");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/tests/data/codec_corpus", root ? root : "..");
  DIR *d = opendir(dir);
  REQUIRE(d, "no corpus directory %s", dir);
  CodecCtx c = ctx();
  int files = 0, rejected = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    size_t len;
    char *buf = util_read_file(path, &len);
    if (!buf) continue;
    Msg m;
    char err[512];
    rejected += msg_decode((const uint8_t *)buf, len, 3, &c, &m, err, sizeof err) != 0;
    files++;
    free(buf);
  }
  closedir(d);
  fprintf(stderr, "  corpus: %d files, %d rejected\n", files, rejected);
  EXPECT(files >= 20, "corpus has %d files", files);
}

int main(void) {
  RUN(test_round_trips);
  RUN(test_malformed);
  RUN(test_mutations);
  RUN(test_corpus);
  CHECK_DONE();
}
