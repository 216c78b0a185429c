/* runtime — see runtime.h. Placement first, then sending, dispatch, waiting, serving. */
#include "runtime.h"

#include <string.h>

#include "util.h"

/* ---- placement ---- */

int placement_make(int np, int actors, int rollout_workers, int shards, Placement *p, char *err,
                   size_t errlen) {
  memset(p, 0, sizeof *p);
  if (np < 1) {
    snprintf(err, errlen, "np = %d", np);
    return -1;
  }
  if (actors < 1 || actors > RT_MAX || shards < 1) {
    snprintf(err, errlen, "topology: %d actors, %d shards", actors, shards);
    return -1;
  }
  p->np = np;
  p->A = actors;
  p->S = shards;
  p->learner = 0;
  p->modelsvc = np > 1 ? 1 : 0;
  const int W = np - 2; /* worker ranks 2 .. np-1 */
  const int most = W <= 0 ? 1 : (W < shards ? W : shards);
  if (rollout_workers > most) {
    snprintf(err, errlen,
             "topology.rollout_workers = %d, but %d rank(s) with %d shard(s) allow at most %d "
             "(rollout workers run on ranks 2.., one shard at least each): use more ranks, or 0 "
             "for every rank left",
             rollout_workers, np, shards, most);
    return -1;
  }
  if (W <= 0) {
    p->R = 1;
    p->rollout[0] = p->modelsvc;
    for (int a = 0; a < actors; a++) p->actor[a] = p->modelsvc;
  } else {
    int R = rollout_workers > 0 ? rollout_workers : W;
    if (R > W) R = W;
    if (R > shards) R = shards;
    p->R = R;
    for (int r = 0; r < R; r++) p->rollout[r] = 2 + r;
    const int spare = W - R; /* worker ranks without a rollout worker */
    for (int a = 0; a < actors; a++) p->actor[a] = spare > 0 ? 2 + R + a % spare : 2 + a % W;
  }
  if (p->R > RT_MAX) {
    snprintf(err, errlen, "%d rollout workers: at most %d", p->R, RT_MAX);
    return -1;
  }
  for (int r = 0; r < p->R; r++) {
    p->shard_lo[r] = (int)((int64_t)shards * r / p->R);
    p->shard_hi[r] = (int)((int64_t)shards * (r + 1) / p->R);
  }
  return 0;
}

void placement_describe(const Placement *p, int rank, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
#define ADD(...)                                                                                   \
  do {                                                                                             \
    if (k < n) k += (size_t)snprintf(buf + k, n - k, "%s", k ? ", " : "");                         \
    if (k < n) k += (size_t)snprintf(buf + k, n - k, __VA_ARGS__);                                 \
  } while (0)
  if (p->learner == rank) ADD("learner");
  if (p->modelsvc == rank) ADD("modelsvc");
  for (int r = 0; r < p->R; r++)
    if (p->rollout[r] == rank) ADD("rollout %d", r);
  int na = 0;
  for (int a = 0; a < p->A; a++)
    if (p->actor[a] == rank) {
      if (na++ < 4) ADD("actor %d", a);
    }
  if (na > 4) ADD("... %d actors", na);
  if (!buf[0]) snprintf(buf, n, "no role");
#undef ADD
}

/* ---- the runtime ---- */

typedef struct Stash {
  int src;
  uint8_t *buf;
  size_t len;
  struct Stash *next;
} Stash;

typedef struct {
  int role, idx;
  void *obj;
  RtHandler h;
  RtIdle idle;
} Local;

struct Runtime {
  Comm *c;
  Placement pl;
  CodecCtx ctx;
  Enc enc;
  int cur_type, cur_role, cur_idx;
  int64_t seq, step;
  Local loc[RT_MAX + 8];
  int nloc;
  Stash *sh, *st;
  Stash *held; /* the stashed message handed out last */
  int group[NGROUPS];
  int shutdown;
  double t_codec;
};

static void describe_rank(void *ctx, int rank, char *buf, size_t n) {
  placement_describe(&((Runtime *)ctx)->pl, rank, buf, n);
}

static void make_group(Runtime *rt, int g, int root, int role) {
  int members[RT_MAX];
  int n = 0;
  const Placement *p = &rt->pl;
  if (role == ROLE_ACTOR)
    for (int a = 0; a < p->A; a++) members[n++] = p->actor[a];
  else
    for (int r = 0; r < p->R; r++) members[n++] = p->rollout[r];
  rt->group[g] = comm_group_make(rt->c, root, members, n);
}

Runtime *rt_make(Comm *c, const Placement *p, const CodecCtx *ctx) {
  Runtime *rt = xmalloc(sizeof *rt);
  rt->c = c;
  rt->pl = *p;
  rt->ctx = *ctx;
  enc_init(&rt->enc);
  /* collective: every rank creates the same groups in the same order */
  make_group(rt, GROUP_ACTORS, p->learner, ROLE_ACTOR);
  make_group(rt, GROUP_ROLLOUT_POLICY, p->learner, ROLE_ROLLOUT);
  make_group(rt, GROUP_MODEL, p->modelsvc, ROLE_ROLLOUT);
  return rt;
}

void rt_free(Runtime *rt) {
  if (!rt) return;
  enc_free(&rt->enc);
  while (rt->sh) {
    Stash *s = rt->sh;
    rt->sh = s->next;
    xfree(s->buf);
    xfree(s);
  }
  if (rt->held) xfree(rt->held->buf), xfree(rt->held);
  xfree(rt);
}

const Placement *rt_placement(const Runtime *rt) {
  return &rt->pl;
}
Comm *rt_comm(Runtime *rt) {
  return rt->c;
}
int rt_rank(const Runtime *rt) {
  return comm_rank(rt->c);
}
const CodecCtx *rt_ctx(const Runtime *rt) {
  return &rt->ctx;
}
void rt_set_step(Runtime *rt, int64_t step) {
  rt->step = step;
}
int rt_shutting_down(const Runtime *rt) {
  return rt->shutdown;
}
double rt_codec_seconds(const Runtime *rt) {
  return rt->t_codec;
}

void comm_describe_install(Runtime *rt, double timeout) {
  comm_set_timeout(rt->c, timeout, describe_rank, rt);
}

int rt_rank_of(const Runtime *rt, int role, int idx) {
  const Placement *p = &rt->pl;
  switch (role) {
  case ROLE_LEARNER:
    return p->learner;
  case ROLE_MODELSVC:
    return p->modelsvc;
  case ROLE_ROLLOUT:
    return idx >= 0 && idx < p->R ? p->rollout[idx] : -1;
  case ROLE_ACTOR:
    return idx >= 0 && idx < p->A ? p->actor[idx] : -1;
  }
  return -1;
}

void rt_register(Runtime *rt, int role, int idx, void *obj, RtHandler h, RtIdle idle) {
  CHECK(rt->nloc < (int)(sizeof rt->loc / sizeof rt->loc[0]), "too many local roles");
  CHECK(rt_rank_of(rt, role, idx) == rt_rank(rt), "%s %d does not live on rank %d", role_name(role),
        idx, rt_rank(rt));
  rt->loc[rt->nloc++] = (Local){role, idx, obj, h, idle};
}

Enc *rt_begin(Runtime *rt, int type, int role, int idx, int nbody) {
  rt->cur_type = type, rt->cur_role = role, rt->cur_idx = idx;
  double t0 = util_now();
  enc_begin(&rt->enc, type, rt_rank(rt), role, idx, rt->seq++, rt->step, nbody);
  rt->t_codec += util_now() - t0;
  return &rt->enc;
}

void rt_send(Runtime *rt) {
  double t0 = util_now();
  size_t n = enc_end(&rt->enc);
  rt->t_codec += util_now() - t0;
  int rank;
  if (rt->cur_role == ROLE_ANY)
    rank = rt->cur_idx; /* shutdown etc.: idx is the rank */
  else
    rank = rt_rank_of(rt, rt->cur_role, rt->cur_idx);
  CHECK(rank >= 0, "no rank hosts %s %d", role_name(rt->cur_role), rt->cur_idx);
  comm_send(rt->c, rank, rt->enc.buf, n);
}

void rt_publish(Runtime *rt, int group) {
  double t0 = util_now();
  size_t n = enc_end(&rt->enc);
  rt->t_codec += util_now() - t0;
  int g = rt->group[group];
  /* this rank's own members get it through the queue; the others by broadcast */
  if (comm_group_has(rt->c, g, rt_rank(rt))) {
    int role = group == GROUP_ACTORS ? ROLE_ACTOR : ROLE_ROLLOUT;
    for (int i = 0; i < rt->nloc; i++)
      if (rt->loc[i].role == role) {
        comm_send(rt->c, rt_rank(rt), rt->enc.buf, n);
        break;
      }
  }
  comm_bcast(rt->c, g, rt->enc.buf, n, rt->cur_type);
}

/* ---- receiving ---- */

static int decode(Runtime *rt, int src, const uint8_t *buf, size_t len, Msg *m) {
  char err[512];
  double t0 = util_now();
  int rc = msg_decode(buf, len, src, &rt->ctx, m, err, sizeof err);
  rt->t_codec += util_now() - t0;
  if (rc != 0) {
    char who[128];
    placement_describe(&rt->pl, src, who, sizeof who);
    LOG_E("bad message from %s: %s", who, err);
    comm_abort(rt->c, EXIT_FATAL);
  }
  comm_note_type(rt->c, src, m->type, m->seq);
  return 0;
}

static void dispatch(Runtime *rt, const Msg *m) {
  if (m->type == MSG_SHUTDOWN) rt->shutdown = 1;
  int hit = 0;
  for (int i = 0; i < rt->nloc; i++) {
    Local *l = &rt->loc[i];
    if (m->role != ROLE_ANY && l->role != m->role) continue;
    if (m->role != ROLE_ANY && m->idx != IDX_ALL && l->idx != m->idx) continue;
    if (l->h) l->h(l->obj, rt, m);
    hit = 1;
  }
  if (!hit && m->type != MSG_SHUTDOWN && m->type != MSG_HEARTBEAT) {
    LOG_E("rank %d received '%s' for %s %d, which it does not host", rt_rank(rt),
          msg_type_name(m->type), role_name(m->role), m->idx);
    comm_abort(rt->c, EXIT_FATAL);
  }
}

static void stash(Runtime *rt, int src, const uint8_t *buf, size_t len) {
  Stash *s = xmalloc(sizeof *s);
  s->src = src;
  s->buf = xmalloc(len);
  memcpy(s->buf, buf, len);
  s->len = len;
  if (rt->st)
    rt->st->next = s;
  else
    rt->sh = s;
  rt->st = s;
}

static int matches(const Msg *m, int type, int from) {
  return (type < 0 || m->type == type) &&
         (from < 0 || (msg_has_i(m, K_FROM) && m->i[K_FROM] == from));
}

static void release_held(Runtime *rt) {
  if (rt->held) {
    xfree(rt->held->buf);
    xfree(rt->held);
    rt->held = NULL;
  }
}

/* a stashed message matching (type, from); any learner message when type < 0 */
static int from_stash(Runtime *rt, int type, int from, Msg *m) {
  Stash *prev = NULL;
  for (Stash *s = rt->sh; s; prev = s, s = s->next) {
    decode(rt, s->src, s->buf, s->len, m);
    if (type >= 0 && !matches(m, type, from)) continue;
    if (prev)
      prev->next = s->next;
    else
      rt->sh = s->next;
    if (rt->st == s) rt->st = prev;
    s->next = NULL;
    rt->held = s; /* m points into s->buf */
    return 1;
  }
  return 0;
}

void rt_wait(Runtime *rt, int type, int from, Msg *m) {
  release_held(rt);
  if (from_stash(rt, type, from, m)) return;
  for (;;) {
    int src;
    const uint8_t *buf;
    size_t len;
    comm_recv(rt->c, -1, &src, &buf, &len);
    decode(rt, src, buf, len, m);
    if (m->role == ROLE_LEARNER) {
      if (m->type == MSG_ERROR) {
        LOG_E("rank %d reports: %.*s", src, (int)m->text_len, m->text);
        comm_abort(rt->c, EXIT_FATAL);
      }
      if (matches(m, type, from)) return;
      stash(rt, src, buf, len);
    } else if (m->type != MSG_HEARTBEAT) {
      dispatch(rt, m);
    }
  }
}

int rt_poll(Runtime *rt, Msg *m) {
  release_held(rt);
  if (from_stash(rt, -1, -1, m)) return 1;
  for (;;) {
    int src;
    const uint8_t *buf;
    size_t len;
    if (comm_recv(rt->c, 0, &src, &buf, &len) != 0) return 0;
    decode(rt, src, buf, len, m);
    if (m->role == ROLE_LEARNER) {
      if (m->type == MSG_ERROR) {
        LOG_E("rank %d reports: %.*s", src, (int)m->text_len, m->text);
        comm_abort(rt->c, EXIT_FATAL);
      }
      return 1;
    }
    if (m->type != MSG_HEARTBEAT) dispatch(rt, m);
  }
}

int rt_run_idle(Runtime *rt) {
  int worked = 0;
  for (int i = 0; i < rt->nloc; i++)
    if (rt->loc[i].idle) worked |= rt->loc[i].idle(rt->loc[i].obj, rt);
  return worked;
}

void rt_serve(Runtime *rt) {
  Msg m;
  int any_idle = 0;
  for (int i = 0; i < rt->nloc; i++) any_idle |= rt->loc[i].idle != NULL;
  while (!rt->shutdown) {
    int src;
    const uint8_t *buf;
    size_t len;
    if (comm_recv(rt->c, any_idle ? 0.0 : -1.0, &src, &buf, &len) == 0) {
      decode(rt, src, buf, len, &m);
      if (m.type != MSG_HEARTBEAT) dispatch(rt, &m);
      continue;
    }
    int worked = 0;
    for (int i = 0; i < rt->nloc; i++)
      if (rt->loc[i].idle) worked |= rt->loc[i].idle(rt->loc[i].obj, rt);
    if (!worked && comm_recv(rt->c, 0.002, &src, &buf, &len) == 0) {
      decode(rt, src, buf, len, &m);
      if (m.type != MSG_HEARTBEAT) dispatch(rt, &m);
    }
  }
}
