/* codec — every message between roles, as MessagePack (msgpack-c), and its validation.
 *
 * Wire format, field by field (DESIGN §5):
 *   map {
 *     "type": str     message type name (below)
 *     "ver":  int     protocol version (CODEC_VERSION)
 *     "src":  int     sending rank
 *     "role": int     destination role (ROLE_*), "idx": int destination instance
 *     "seq":  int     per-sender sequence number
 *     "step": int     sender's step counter when sent (env steps on the official axis)
 *     "body": map     the type's fields: ints, or arrays
 *   }
 *   an array is map { "dtype": "f32" | "f64" | "i32" | "u8", "shape": [rows] or [rows, cols],
 *                     "data": bin (little-endian, rows * cols * size bytes) }
 *
 * Decoding validates everything before a role sees it: the byte structure (every container
 * length bounded by the bytes left, nesting bounded), known type and version, every required
 * key with the right kind, array shapes against the run's dimensions (CodecCtx), row counts that
 * agree, finite floats where required, integers in range. A failure is an error naming the
 * source rank and the message type; nothing is read out of bounds. */
#ifndef USBPO_CODEC_H
#define USBPO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "mpscan.h"

#define CODEC_VERSION 1

typedef enum {
  MSG_NONE = 0,
  MSG_HEARTBEAT,
  MSG_SHUTDOWN,
  MSG_STEP,          /* learner -> actor: take a step (explore / policy) or run an evaluation */
  MSG_POLICY,        /* learner -> actors, rollout: a policy snapshot (one parameter block) */
  MSG_TRANSITIONS,   /* actor -> learner, learner -> modelsvc (real); rollout -> learner (model) */
  MSG_TRAIN_REQUEST, /* learner -> modelsvc */
  MSG_TRAIN_DONE,    /* modelsvc -> learner: metrics */
  MSG_MODEL,         /* modelsvc -> rollout: a model snapshot (block, scaler, elites) */
  MSG_START_STATES,  /* modelsvc -> rollout: one shard's start states */
  MSG_ROLLOUT_REQUEST, /* learner -> rollout */
  MSG_ROLLOUT_DONE,    /* rollout -> learner */
  MSG_EVAL_RESULT,     /* actor -> learner */
  MSG_BCAST,           /* announcement of a broadcast on a role communicator */
  MSG_CHECKPOINT,      /* learner -> every role: save your state for this step */
  MSG_CHECKPOINT_DONE, /* role -> learner */
  MSG_ERROR,           /* role -> learner: a fatal error text */
  MSG_COUNT
} MsgType;

typedef enum {
  ROLE_LEARNER = 0,
  ROLE_MODELSVC = 1,
  ROLE_ROLLOUT = 2,
  ROLE_ACTOR = 3,
  ROLE_ANY = 4,
  ROLE_COUNT
} RoleKind;

/* body integer fields */
typedef enum {
  K_EPOCH,
  K_TRAINING,
  K_K,
  K_SHARD,
  K_STEPNO,
  K_MODE,
  K_VERSION,
  K_POLICY_VERSION,
  K_MODEL_VERSION,
  K_KIND,
  K_COUNT,
  K_CODE,
  K_GROUP,
  K_INNER,
  K_BYTES,
  K_ROOT,
  K_EPISODES,
  K_FROM, /* the sending role instance (replies to the learner) */
  K_ALIVE,
  K_SUM,
  K_ROWS, /* MSG_STEP, exploring: stop once this request's steps have handed over this many rows */
  K_NI
} IntKey;

/* body array fields */
typedef enum {
  A_OBS,
  A_ACT,
  A_REW,
  A_NEXT,
  A_DONE,
  A_PARAMS,
  A_MU,
  A_SD,
  A_ELITES,
  A_METRICS,
  A_RETURNS,
  A_LENGTHS,
  A_EPSTATS,
  A_STATE,
  A_NA
} ArrKey;

/* MSG_STEP's K_MODE: what an actor is asked to do */
typedef enum {
  STEP_EXPLORE = 0, /* K_COUNT (default 1) uniform-random steps, each sent back as it is taken,
                     * stopping early once they have handed over K_ROWS rows */
  STEP_POLICY = 1,  /* one step with the latest policy */
  STEP_EVAL = 2,    /* K_EPISODES deterministic evaluation episodes */
  STEP_CREDIT = 3,  /* async: K_COUNT policy steps, each sent back as it is taken */
  STEP_NMODES
} StepMode;
/* MSG_TRANSITIONS' K_KIND: whose rows */
typedef enum { TR_REAL = 0, TR_MODEL = 1 } TransKind;
/* MSG_CHECKPOINT's K_MODE */
enum { CKPT_SAVE = 0 };

typedef struct {
  int dtype;
  int ndim;           /* 1 or 2 */
  int64_t rows, cols; /* cols = 1 for 1-D */
  const void *data;   /* points into the decoded buffer (valid while it lives) */
  size_t bytes;
} Arr;

typedef struct {
  int type, ver, src, role, idx;
  int64_t seq, step;
  int64_t i[K_NI];
  uint32_t has_i; /* bit per IntKey */
  Arr a[A_NA];
  uint32_t has_a; /* bit per ArrKey */
  const char *text;
  size_t text_len;
} Msg;

/* what decoding checks shapes against */
typedef struct {
  int obs_dim, act_dim, in_dim, out_dim;
  int64_t n_policy; /* policy parameter block length */
  int64_t n_model;  /* ensemble parameter block length (with bounds) */
  int elites, members, shards;
  int64_t max_rows;  /* upper bound on rows in one message */
  int n_metrics;     /* TRAIN_DONE metrics length */
  int64_t max_state; /* upper bound on a checkpoint state array */
} CodecCtx;

const char *msg_type_name(int type);
const char *role_name(int role);
const char *int_key_name(int k);
const char *arr_key_name(int k);

/* ---- encoding: into a growable byte buffer that is reused (no allocation once warm) ---- */
typedef struct {
  uint8_t *buf;
  size_t len, cap;
  int body_keys, body_left; /* declared and remaining body entries */
} Enc;

void enc_init(Enc *e);
void enc_free(Enc *e);
/* start a message whose body has nbody entries */
void enc_begin(Enc *e, int type, int src, int role, int idx, int64_t seq, int64_t step, int nbody);
void enc_int(Enc *e, int key, int64_t v);
void enc_arr(Enc *e, int key, int dtype, const void *data, int64_t rows, int64_t cols);
void enc_text(Enc *e, const char *text);
/* finish; returns the byte length (the message is e->buf[0..len)) */
size_t enc_end(Enc *e);

/* ---- decoding ---- */
/* 0 on success; -1 with "rank R: message 'T' (#seq): reason" in err. The decoded Msg points
 * into buf. ctx NULL skips the shape checks that need run dimensions. */
int msg_decode(const uint8_t *buf, size_t len, int src_rank, const CodecCtx *ctx, Msg *m, char *err,
               size_t errlen);

/* structural check of raw bytes as one MessagePack object (exposed for the fuzzer and tests) */
static inline int codec_scan(const uint8_t *buf, size_t len) {
  return mp_scan(buf, len);
}

static inline int msg_has_i(const Msg *m, int k) {
  return (m->has_i >> k) & 1u;
}
static inline int msg_has_a(const Msg *m, int k) {
  return (m->has_a >> k) & 1u;
}

#endif
