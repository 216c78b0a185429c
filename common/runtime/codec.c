/* codec — see codec.h. Names, encoder, byte-structure scan, decoder, per-type schemas. */
#include "codec.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *TYPE_NAMES[MSG_COUNT] = {"none",
                                            "heartbeat",
                                            "shutdown",
                                            "step",
                                            "policy_snapshot",
                                            "transitions",
                                            "train_request",
                                            "train_done",
                                            "model_snapshot",
                                            "start_states",
                                            "rollout_request",
                                            "rollout_done",
                                            "eval_result",
                                            "bcast",
                                            "checkpoint",
                                            "checkpoint_done",
                                            "error"};
static const char *ROLE_NAMES[ROLE_COUNT] = {"learner", "modelsvc", "rollout", "actor", "any"};
static const char *INT_NAMES[K_NI] = {
    "epoch",          "training",      "k",        "shard", "stepno", "mode",  "version",
    "policy_version", "model_version", "kind",     "count", "code",   "group", "inner",
    "bytes",          "root",          "episodes", "from",  "alive",  "sum",   "rows"};
static const char *ARR_NAMES[A_NA] = {"obs",     "act",     "rew",     "next",   "done",
                                      "params",  "mu",      "sd",      "elites", "metrics",
                                      "returns", "lengths", "epstats", "state"};
static const char *DT_NAMES[4] = {"f32", "f64", "i32", "u8"};
static const int DT_SIZE[4] = {4, 8, 4, 1};

const char *msg_type_name(int t) {
  return t >= 0 && t < MSG_COUNT ? TYPE_NAMES[t] : "?";
}
const char *role_name(int r) {
  return r >= 0 && r < ROLE_COUNT ? ROLE_NAMES[r] : "?";
}
const char *int_key_name(int k) {
  return k >= 0 && k < K_NI ? INT_NAMES[k] : "?";
}
const char *arr_key_name(int k) {
  return k >= 0 && k < A_NA ? ARR_NAMES[k] : "?";
}

/* ---- encoder ---- */

static int enc_write(void *data, const char *buf, size_t len) {
  Enc *e = data;
  if (e->len + len > e->cap) {
    size_t cap = e->cap ? e->cap : 4096;
    while (cap < e->len + len) cap *= 2;
    e->buf = xrealloc(e->buf, e->len, cap);
    e->cap = cap;
  }
  memcpy(e->buf + e->len, buf, len);
  e->len += len;
  return 0;
}

void enc_init(Enc *e) {
  memset(e, 0, sizeof *e);
}
void enc_free(Enc *e) {
  xfree(e->buf);
  memset(e, 0, sizeof *e);
}

static void pk_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

void enc_begin(Enc *e, int type, int src, int role, int idx, int64_t seq, int64_t step, int nbody) {
  e->len = 0;
  e->body_keys = e->body_left = nbody;
  msgpack_packer pk;
  msgpack_packer_init(&pk, e, enc_write);
  msgpack_pack_map(&pk, 8);
  pk_str(&pk, "type"), pk_str(&pk, msg_type_name(type));
  pk_str(&pk, "ver"), msgpack_pack_int64(&pk, CODEC_VERSION);
  pk_str(&pk, "src"), msgpack_pack_int64(&pk, src);
  pk_str(&pk, "role"), msgpack_pack_int64(&pk, role);
  pk_str(&pk, "idx"), msgpack_pack_int64(&pk, idx);
  pk_str(&pk, "seq"), msgpack_pack_int64(&pk, seq);
  pk_str(&pk, "step"), msgpack_pack_int64(&pk, step);
  pk_str(&pk, "body"), msgpack_pack_map(&pk, (size_t)nbody);
}

void enc_int(Enc *e, int key, int64_t v) {
  CHECK(e->body_left-- > 0, "enc_int: more body entries than declared");
  msgpack_packer pk;
  msgpack_packer_init(&pk, e, enc_write);
  pk_str(&pk, int_key_name(key));
  msgpack_pack_int64(&pk, v);
}

void enc_arr(Enc *e, int key, int dtype, const void *data, int64_t rows, int64_t cols) {
  CHECK(e->body_left-- > 0, "enc_arr: more body entries than declared");
  msgpack_packer pk;
  msgpack_packer_init(&pk, e, enc_write);
  pk_str(&pk, arr_key_name(key));
  msgpack_pack_map(&pk, 3);
  pk_str(&pk, "dtype"), pk_str(&pk, DT_NAMES[dtype]);
  pk_str(&pk, "shape");
  if (cols > 0) {
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int64(&pk, rows);
    msgpack_pack_int64(&pk, cols);
  } else {
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int64(&pk, rows);
  }
  size_t bytes = (size_t)rows * (size_t)(cols > 0 ? cols : 1) * DT_SIZE[dtype];
  pk_str(&pk, "data");
  msgpack_pack_bin(&pk, bytes);
  msgpack_pack_bin_body(&pk, data, bytes); /* x86-64 and aarch64: already little-endian */
}

void enc_text(Enc *e, const char *text) {
  CHECK(e->body_left-- > 0, "enc_text: more body entries than declared");
  msgpack_packer pk;
  msgpack_packer_init(&pk, e, enc_write);
  pk_str(&pk, "text");
  pk_str(&pk, text);
}

size_t enc_end(Enc *e) {
  CHECK(e->body_left == 0, "enc_end: %d declared body entries missing", e->body_left);
  return e->len;
}

/* ---- decoding ---- */

typedef struct {
  uint32_t req_i, opt_i, req_a, opt_a;
  int text;
} Schema;

#define BI(k) (1u << (k))
static const Schema SCHEMA[MSG_COUNT] = {
    [MSG_HEARTBEAT] = {0, 0, 0, 0, 0},
    [MSG_SHUTDOWN] = {BI(K_CODE), 0, 0, 0, 0},
    [MSG_STEP] = {BI(K_MODE) | BI(K_EPOCH) | BI(K_POLICY_VERSION),
                  BI(K_EPISODES) | BI(K_COUNT) | BI(K_ROWS), 0, 0, 0},
    [MSG_POLICY] = {BI(K_VERSION), 0, BI(A_PARAMS), 0, 0},
    [MSG_TRANSITIONS] = {BI(K_KIND) | BI(K_COUNT) | BI(K_POLICY_VERSION) | BI(K_FROM),
                         BI(K_MODEL_VERSION) | BI(K_SHARD) | BI(K_STEPNO) | BI(K_TRAINING),
                         BI(A_OBS) | BI(A_ACT) | BI(A_REW) | BI(A_NEXT) | BI(A_DONE),
                         BI(A_EPSTATS) | BI(A_METRICS), 0},
    [MSG_TRAIN_REQUEST] = {BI(K_EPOCH) | BI(K_TRAINING), BI(K_MODE), 0, BI(A_STATE), 0},
    [MSG_TRAIN_DONE] = {BI(K_TRAINING) | BI(K_MODEL_VERSION) | BI(K_K), BI(K_FROM) | BI(K_CODE),
                        BI(A_METRICS), 0, 0},
    [MSG_MODEL] = {BI(K_VERSION), 0, BI(A_PARAMS) | BI(A_MU) | BI(A_SD) | BI(A_ELITES), 0, 0},
    [MSG_START_STATES] = {BI(K_TRAINING) | BI(K_SHARD), 0, BI(A_OBS), 0, 0},
    [MSG_ROLLOUT_REQUEST] = {BI(K_TRAINING) | BI(K_STEPNO) | BI(K_POLICY_VERSION) |
                                 BI(K_MODEL_VERSION),
                             BI(K_K), 0, 0, 0},
    [MSG_ROLLOUT_DONE] = {BI(K_TRAINING) | BI(K_STEPNO) | BI(K_COUNT) | BI(K_ALIVE) | BI(K_FROM), 0,
                          BI(A_METRICS), 0, 0},
    [MSG_EVAL_RESULT] = {BI(K_EPOCH) | BI(K_FROM), 0, BI(A_RETURNS) | BI(A_LENGTHS), 0, 0},
    [MSG_BCAST] = {BI(K_GROUP) | BI(K_INNER) | BI(K_BYTES) | BI(K_ROOT), 0, 0, 0, 0},
    [MSG_CHECKPOINT] = {BI(K_STEPNO) | BI(K_MODE), 0, 0, 0, 0},
    [MSG_CHECKPOINT_DONE] = {BI(K_STEPNO) | BI(K_CODE) | BI(K_FROM) | BI(K_KIND) | BI(K_BYTES) |
                                 BI(K_SUM),
                             0, 0, 0, 0},
    [MSG_ERROR] = {0, BI(K_CODE), 0, 0, 1},
};

static msgpack_unpacked g_unpacked; /* reused: its zone is cleared, not freed, per message */
static int g_unpacked_init;

static int str_eq(const msgpack_object *o, const char *s) {
  size_t n = strlen(s);
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && !memcmp(o->via.str.ptr, s, n);
}

static int lookup(const msgpack_object *o, const char *const *names, int n) {
  if (o->type != MSGPACK_OBJECT_STR) return -1;
  for (int i = 0; i < n; i++)
    if (names[i] && str_eq(o, names[i])) return i;
  return -1;
}

static int as_int(const msgpack_object *o, int64_t *v) {
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
    if (o->via.u64 > (uint64_t)INT64_MAX) return -1;
    *v = (int64_t)o->via.u64;
    return 0;
  }
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    *v = o->via.i64;
    return 0;
  }
  return -1;
}

#define FAIL(...)                                                                                  \
  do {                                                                                             \
    char why_[400];                                                                                \
    snprintf(why_, sizeof why_, __VA_ARGS__);                                                      \
    snprintf(err, errlen, "rank %d: message '%s' (#%lld): %s", src_rank, msg_type_name(m->type),   \
             (long long)m->seq, why_);                                                             \
    return -1;                                                                                     \
  } while (0)

static int decode_array(const msgpack_object *o, Arr *a) {
  if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 3) return -1;
  int have = 0;
  int64_t shape[2] = {0, 1};
  for (uint32_t i = 0; i < 3; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
    if (str_eq(k, "dtype")) {
      int d = lookup(v, DT_NAMES, 4);
      if (d < 0 || (have & 1)) return -1;
      a->dtype = d;
      have |= 1;
    } else if (str_eq(k, "shape")) {
      if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size < 1 || v->via.array.size > 2 ||
          (have & 2))
        return -1;
      a->ndim = (int)v->via.array.size;
      for (int j = 0; j < a->ndim; j++)
        if (as_int(&v->via.array.ptr[j], &shape[j]) || shape[j] < 0 || shape[j] > (1ll << 40))
          return -1;
      have |= 2;
    } else if (str_eq(k, "data")) {
      if (v->type != MSGPACK_OBJECT_BIN || (have & 4)) return -1;
      a->data = v->via.bin.ptr;
      a->bytes = v->via.bin.size;
      have |= 4;
    } else {
      return -1;
    }
  }
  if (have != 7) return -1;
  a->rows = shape[0];
  a->cols = a->ndim == 2 ? shape[1] : 1;
  /* shape x size must equal the byte length (no overflow: both below 2^40) */
  if ((unsigned __int128)a->rows * (unsigned __int128)a->cols * DT_SIZE[a->dtype] != a->bytes)
    return -2;
  return 0;
}

/* bin data may be unaligned: read through memcpy */
static int all_finite_f32(const Arr *a) {
  const uint8_t *b = a->data;
  for (size_t i = 0; i < a->bytes; i += 4) {
    float v;
    memcpy(&v, b + i, 4);
    if (!isfinite(v)) return 0;
  }
  return 1;
}

static int all_finite_f64(const Arr *a) {
  const uint8_t *b = a->data;
  for (size_t i = 0; i < a->bytes; i += 8) {
    double v;
    memcpy(&v, b + i, 8);
    if (!isfinite(v)) return 0;
  }
  return 1;
}

/* the array `k` of m: dtype and shape (rows == -1: any up to max; cols == -1: any) */
static int want_arr(const Msg *m, int k, int dtype, int64_t rows, int64_t cols, int64_t max_rows,
                    char *why, size_t n) {
  const Arr *a = &m->a[k];
  if (a->dtype != dtype) {
    snprintf(why, n, "array '%s' has dtype %s, expected %s", arr_key_name(k), DT_NAMES[a->dtype],
             DT_NAMES[dtype]);
    return -1;
  }
  if (cols >= 0 && (a->cols != cols || (cols > 1 && a->ndim != 2))) {
    snprintf(why, n, "array '%s' has %lld columns, expected %lld", arr_key_name(k),
             (long long)a->cols, (long long)cols);
    return -1;
  }
  if (rows >= 0 && a->rows != rows) {
    snprintf(why, n, "array '%s' has %lld rows, expected %lld", arr_key_name(k), (long long)a->rows,
             (long long)rows);
    return -1;
  }
  if (max_rows > 0 && a->rows > max_rows) {
    snprintf(why, n, "array '%s' has %lld rows, more than the limit %lld", arr_key_name(k),
             (long long)a->rows, (long long)max_rows);
    return -1;
  }
  return 0;
}

static int check_body(const Msg *m, const CodecCtx *c, char *why, size_t n) {
  const int64_t *i = m->i;
#define RANGE(k, lo, hi)                                                                           \
  do {                                                                                             \
    if (msg_has_i(m, k) && (i[k] < (lo) || i[k] > (hi))) {                                         \
      snprintf(why, n, "'%s' = %lld out of range [%lld, %lld]", int_key_name(k), (long long)i[k],  \
               (long long)(lo), (long long)(hi));                                                  \
      return -1;                                                                                   \
    }                                                                                              \
  } while (0)
#define ARR(k, dt, rows, cols, maxr)                                                               \
  do {                                                                                             \
    if (msg_has_a(m, k) && want_arr(m, k, dt, rows, cols, maxr, why, n)) return -1;                \
  } while (0)
#define FINITE(k)                                                                                  \
  do {                                                                                             \
    if (msg_has_a(m, k) &&                                                                         \
        !(m->a[k].dtype == DT_F32 ? all_finite_f32(&m->a[k]) : all_finite_f64(&m->a[k]))) {        \
      snprintf(why, n, "array '%s' holds a non-finite value", arr_key_name(k));                    \
      return -1;                                                                                   \
    }                                                                                              \
  } while (0)
  const int64_t BIG = 1ll << 50;
  for (int k = 0; k < K_NI; k++)
    if (k != K_SUM) RANGE(k, -1, BIG);
  RANGE(K_CODE, 0, 255);
  if (m->type != MSG_CHECKPOINT_DONE) RANGE(K_KIND, TR_REAL, TR_MODEL);
  RANGE(K_KIND, 0, ROLE_COUNT - 1);
  RANGE(K_MODE, 0, STEP_NMODES - 1);
  RANGE(K_EPISODES, 1, 1000000);
  RANGE(K_K, 0, 100000);
  RANGE(K_INNER, 1, MSG_COUNT - 1);
  if (!c) return 0;
  const int64_t mr = c->max_rows;
  switch (m->type) {
  case MSG_POLICY:
    ARR(A_PARAMS, DT_F32, c->n_policy, 1, 0);
    FINITE(A_PARAMS);
    break;
  case MSG_TRANSITIONS: {
    int64_t r = i[K_COUNT];
    RANGE(K_COUNT, 0, mr);
    RANGE(K_SHARD, 0, c->shards - 1);
    ARR(A_OBS, DT_F32, r, c->obs_dim, mr);
    ARR(A_ACT, DT_F32, r, c->act_dim, mr);
    ARR(A_REW, DT_F32, r, 1, mr);
    ARR(A_NEXT, DT_F32, r, c->obs_dim, mr);
    ARR(A_DONE, DT_U8, r, 1, mr);
    ARR(A_EPSTATS, DT_F64, -1, 3, 100000);
    ARR(A_METRICS, DT_F64, -1, 1, 64);
    FINITE(A_OBS);
    FINITE(A_ACT);
    FINITE(A_REW);
    FINITE(A_NEXT);
    FINITE(A_EPSTATS);
    const uint8_t *d = m->a[A_DONE].data;
    for (int64_t j = 0; j < r; j++)
      if (d[j] > 1) {
        snprintf(why, n, "array 'done' holds %d at row %lld (must be 0 or 1)", d[j], (long long)j);
        return -1;
      }
    if (i[K_KIND] == TR_MODEL && !(msg_has_i(m, K_SHARD) && msg_has_i(m, K_STEPNO) &&
                                   msg_has_i(m, K_TRAINING) && msg_has_i(m, K_MODEL_VERSION))) {
      snprintf(why, n, "model transitions need shard, stepno, training and model_version");
      return -1;
    }
    break;
  }
  case MSG_TRAIN_DONE:
    ARR(A_METRICS, DT_F64, c->n_metrics, 1, 0);
    break;
  case MSG_TRAIN_REQUEST:
    ARR(A_STATE, DT_F32, -1, c->in_dim, mr);
    FINITE(A_STATE);
    break;
  case MSG_MODEL: {
    ARR(A_PARAMS, DT_F32, c->n_model, 1, 0);
    ARR(A_MU, DT_F32, c->in_dim, 1, 0);
    ARR(A_SD, DT_F32, c->in_dim, 1, 0);
    ARR(A_ELITES, DT_I32, c->elites, 1, 0);
    FINITE(A_PARAMS);
    FINITE(A_MU);
    FINITE(A_SD);
    const uint8_t *sd = m->a[A_SD].data, *el = m->a[A_ELITES].data;
    for (int j = 0; j < c->in_dim; j++) {
      float v;
      memcpy(&v, sd + 4 * j, 4);
      if (!(v > 0)) {
        snprintf(why, n, "scaler std %d is %g (must be > 0)", j, v);
        return -1;
      }
    }
    uint64_t seen = 0;
    for (int j = 0; j < c->elites; j++) {
      int32_t v;
      memcpy(&v, el + 4 * j, 4);
      if (v < 0 || v >= c->members || ((seen >> v) & 1)) {
        snprintf(why, n, "elite %d is %d (members 0..%d, no repeats)", j, v, c->members - 1);
        return -1;
      }
      seen |= 1ull << v;
    }
    break;
  }
  case MSG_START_STATES:
    RANGE(K_SHARD, 0, c->shards - 1);
    ARR(A_OBS, DT_F32, -1, c->obs_dim, mr);
    FINITE(A_OBS);
    break;
  case MSG_ROLLOUT_DONE:
    ARR(A_METRICS, DT_F64, 2, 1, 0);
    break;
  case MSG_EVAL_RESULT:
    ARR(A_RETURNS, DT_F64, -1, 1, 100000);
    ARR(A_LENGTHS, DT_F64, m->a[A_RETURNS].rows, 1, 100000);
    FINITE(A_RETURNS);
    break;
  }
#undef RANGE
#undef ARR
#undef FINITE
  return 0;
}

int msg_decode(const uint8_t *buf, size_t len, int src_rank, const CodecCtx *ctx, Msg *m, char *err,
               size_t errlen) {
  memset(m, 0, sizeof *m);
  m->seq = -1;
  if (codec_scan(buf, len) != 0) FAIL("malformed MessagePack (%zu bytes)", len);
  if (!g_unpacked_init) {
    msgpack_unpacked_init(&g_unpacked);
    g_unpacked_init = 1;
  }
  size_t off = 0;
  if (msgpack_unpack_next(&g_unpacked, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
      off != len)
    FAIL("MessagePack could not be unpacked");
  const msgpack_object *root = &g_unpacked.data;
  if (root->type != MSGPACK_OBJECT_MAP) FAIL("the envelope is not a map");
  static const char *ENV[] = {"type", "ver", "src", "role", "idx", "seq", "step", "body"};
  uint32_t seen = 0;
  const msgpack_object *body = NULL;
  for (uint32_t j = 0; j < root->via.map.size; j++) {
    const msgpack_object *k = &root->via.map.ptr[j].key, *v = &root->via.map.ptr[j].val;
    int f = lookup(k, ENV, 8);
    if (f < 0) FAIL("unknown envelope key");
    if (seen & (1u << f)) FAIL("envelope key '%s' repeated", ENV[f]);
    seen |= 1u << f;
    int64_t x = 0;
    if (f == 0) {
      int t = lookup(v, TYPE_NAMES, MSG_COUNT);
      if (t <= 0) FAIL("unknown message type");
      m->type = t;
      continue;
    }
    if (f == 7) {
      if (v->type != MSGPACK_OBJECT_MAP) FAIL("the body is not a map");
      body = v;
      continue;
    }
    if (as_int(v, &x)) FAIL("envelope key '%s' is not an integer", ENV[f]);
    switch (f) {
    case 1:
      m->ver = (int)(x > 1000 ? 1000 : x);
      break;
    case 2:
      m->src = (int)(x > 1000000 ? -1 : x);
      break;
    case 3:
      m->role = (int)(x < 0 || x >= ROLE_COUNT ? -1 : x);
      break;
    case 4:
      m->idx = (int)(x < 0 || x > 1000000 ? -1 : x);
      break;
    case 5:
      m->seq = x;
      break;
    case 6:
      m->step = x;
      break;
    }
  }
  if (seen != 0xff) FAIL("the envelope lacks a field");
  if (m->ver != CODEC_VERSION) FAIL("protocol version %d, expected %d", m->ver, CODEC_VERSION);
  if (m->src != src_rank) FAIL("claims to come from rank %d", m->src);
  if (m->role < 0 || m->idx < 0) FAIL("bad destination role");
  const Schema *s = &SCHEMA[m->type];
  for (uint32_t j = 0; j < body->via.map.size; j++) {
    const msgpack_object *k = &body->via.map.ptr[j].key, *v = &body->via.map.ptr[j].val;
    int ki = lookup(k, INT_NAMES, K_NI);
    if (ki >= 0) {
      if (!(((s->req_i | s->opt_i) >> ki) & 1)) FAIL("unexpected field '%s'", INT_NAMES[ki]);
      if (msg_has_i(m, ki)) FAIL("field '%s' repeated", INT_NAMES[ki]);
      if (as_int(v, &m->i[ki])) FAIL("field '%s' is not an integer", INT_NAMES[ki]);
      m->has_i |= 1u << ki;
      continue;
    }
    int ai = lookup(k, ARR_NAMES, A_NA);
    if (ai >= 0) {
      if (!(((s->req_a | s->opt_a) >> ai) & 1)) FAIL("unexpected array '%s'", ARR_NAMES[ai]);
      if (msg_has_a(m, ai)) FAIL("array '%s' repeated", ARR_NAMES[ai]);
      int rc = decode_array(v, &m->a[ai]);
      if (rc == -2) FAIL("array '%s': shape does not match its byte length", ARR_NAMES[ai]);
      if (rc) FAIL("array '%s' is malformed", ARR_NAMES[ai]);
      m->has_a |= 1u << ai;
      continue;
    }
    if (str_eq(k, "text") && s->text) {
      if (v->type != MSGPACK_OBJECT_STR || m->text) FAIL("field 'text' is not a string");
      m->text = v->via.str.ptr;
      m->text_len = v->via.str.size;
      continue;
    }
    FAIL("unknown field");
  }
  uint32_t miss_i = s->req_i & ~m->has_i, miss_a = s->req_a & ~m->has_a;
  for (int k = 0; k < K_NI; k++)
    if ((miss_i >> k) & 1) FAIL("missing field '%s'", INT_NAMES[k]);
  for (int k = 0; k < A_NA; k++)
    if ((miss_a >> k) & 1) FAIL("missing array '%s'", ARR_NAMES[k]);
  if (s->text && !m->text) FAIL("missing field 'text'");
  char why[300];
  if (check_body(m, ctx, why, sizeof why)) FAIL("%s", why);
  return 0;
}
