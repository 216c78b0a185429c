/* common/runtime/ — what carries the roles: comm (MPI transport and the in-process loopback),
 * codec (the messages and their validation), runtime (placement, routing, dispatch; below),
 * ckpt (checkpoint directories and their MANIFEST), runlog (run directory, metrics, progress),
 * tfevents (TensorBoard), rolekit (what every role shares: run paths, its checkpoint file, the
 * signal flags). It knows no role's work and no algorithm: roles register handlers, and the
 * message dimensions are parameters (CodecCtx).
 *
 * May use: common/base, MPI, msgpack-c. Never common/core or a role. */
/* runtime — roles on ranks: placement, routing, dispatch.
 *
 * Placement is a pure function of (np, [topology]): the learner on rank 0, the model service
 * on rank 1 (rank 0 when np = 1), rollout workers on ranks 2.. (on the model service's rank
 * when np <= 2), actors on the ranks left after the rollout workers, else round-robin over the
 * worker ranks (the model service's rank when np = 2, rank 0 when np = 1).
 *
 * Every message between roles is encoded (codec) and routed: to another rank by comm, to a
 * role on the same rank through comm's in-process queue, then decoded and dispatched to the
 * destination role's handler, so role code never branches on placement. The learner drives
 * the schedule: it sends, then waits for a reply of a given type (rt_wait), which keeps
 * dispatching messages for the other roles of its rank in the meantime. The other ranks serve
 * (rt_serve) until shutdown. */
#ifndef USBPO_RUNTIME_H
#define USBPO_RUNTIME_H

#include <stdint.h>

#include "codec.h"
#include "comm.h"
#include "config.h"

#define RT_MAX  4096
#define IDX_ALL 65535 /* every local instance of the destination role */

typedef struct {
  int np;
  int learner, modelsvc;                  /* ranks */
  int R, A, S;                            /* rollout workers, actors, shards */
  int rollout[RT_MAX];                    /* rank of rollout worker r */
  int actor[RT_MAX];                      /* rank of actor a */
  int shard_lo[RT_MAX], shard_hi[RT_MAX]; /* shards [lo, hi) of rollout worker r */
} Placement;

/* 0, or -1 with the reason */
int placement_make(int np, int actors, int rollout_workers, int shards, Placement *p, char *err,
                   size_t errlen);
/* "learner, actor 0" for a rank */
void placement_describe(const Placement *p, int rank, char *buf, size_t n);

typedef struct Runtime Runtime;
typedef void (*RtHandler)(void *obj, Runtime *rt, const Msg *m);
typedef int (*RtIdle)(void *obj, Runtime *rt); /* returns 1 if it did work */

enum { GROUP_ACTORS = 0, GROUP_ROLLOUT_POLICY = 1, GROUP_MODEL = 2, NGROUPS = 3 };

Runtime *rt_make(Comm *c, const Placement *p, const CodecCtx *ctx);
void rt_free(Runtime *rt);
const Placement *rt_placement(const Runtime *rt);
Comm *rt_comm(Runtime *rt);
int rt_rank(const Runtime *rt);
const CodecCtx *rt_ctx(const Runtime *rt);
void rt_set_step(Runtime *rt, int64_t step); /* stamped into envelopes */

/* rank hosting (role, idx) */
int rt_rank_of(const Runtime *rt, int role, int idx);
void rt_register(Runtime *rt, int role, int idx, void *obj, RtHandler h, RtIdle idle);

/* build and send one message: rt_begin returns the encoder to add nbody fields to */
Enc *rt_begin(Runtime *rt, int type, int role, int idx, int nbody);
void rt_send(Runtime *rt);
/* send the message just built to every rank of a broadcast group (this rank's own roles get
 * it through the in-process queue) */
void rt_publish(Runtime *rt, int group);

/* learner: wait for a message of `type` (any when type < 0) addressed to the learner (from
 * instance `from`, or any when from < 0), dispatching everything else. The Msg is valid until the
 * next rt_* call that receives. */
void rt_wait(Runtime *rt, int type, int from, Msg *m);
/* learner: the next message addressed to it, if any (non-blocking); 1 if one was returned */
int rt_poll(Runtime *rt, Msg *m);
/* run this rank's idle hooks once (the learner's rank in async mode); 1 if any did work */
int rt_run_idle(Runtime *rt);
/* non-learner ranks: dispatch until shutdown (or until *stop becomes non-zero) */
void rt_serve(Runtime *rt);
int rt_shutting_down(const Runtime *rt);

/* liveness: install the heartbeat timeout with rank descriptions from the placement */
void comm_describe_install(Runtime *rt, double timeout);

/* codec time spent encoding and decoding (seconds) */
double rt_codec_seconds(const Runtime *rt);

#endif
