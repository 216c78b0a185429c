/* comm — see comm.h. */
#include "comm.h"

#include <fcntl.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "durable.h"
#include "util.h"

enum { TAG_MSG = 1, TAG_HB = 2 };
#define MAX_GROUPS 8

typedef struct Q {
  uint8_t *buf;
  size_t len;
  struct Q *next;
} Q;

typedef struct {
  MPI_Request req;
  uint8_t *buf;
  size_t cap;
  int busy;
} Slot;

typedef struct {
  MPI_Comm comm;
  int root;       /* world rank of the root */
  int root_local; /* its rank in comm */
  int *members;   /* world ranks, root included */
  int n, me_in;
  uint8_t *buf;
  size_t cap;
  MPI_Request req;
  int pending;
} Group;

struct Comm {
  int mpi, rank, size;
  Q *qh, *qt;
  Q *cur_q; /* the loopback message handed out last (freed on the next receive) */
  uint8_t *rbuf;
  size_t rcap;
  Slot *slots;
  int nslots;
  Group g[MAX_GROUPS];
  int ngroups;
  double timeout, hb_every, last_hb, *last_seen;
  double last_tick;    /* when this rank last ran comm_tick (its own gaps are not others') */
  char log_path[1200]; /* the run's log.txt, for a rank that is not its writer */
  int *last_type;
  int64_t *last_seq;
  CommDescribe describe;
  void *dctx;
  Enc hb, ann;
  int64_t hb_seq;
  CommStats st;
};

static int launched(void) {
  const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
  for (int i = 0; i < 4; i++)
    if (getenv(v[i])) return 1;
  return 0;
}

Comm *comm_init(int *argc, char ***argv) {
  Comm *c = xmalloc(sizeof *c);
  c->size = 1;
  if (launched()) {
    int prov;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &prov);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    c->mpi = 1;
  }
  c->last_seen = xmalloc(sizeof(double) * c->size);
  c->last_type = xmalloc(sizeof(int) * c->size);
  c->last_seq = xmalloc(sizeof(int64_t) * c->size);
  double now = util_now();
  for (int r = 0; r < c->size; r++) c->last_seen[r] = now, c->last_seq[r] = -1;
  c->timeout = 0;
  enc_init(&c->hb);
  enc_init(&c->ann);
  return c;
}

void comm_finalize(Comm *c) {
  if (!c) return;
  if (c->mpi) {
    /* let outstanding sends finish before leaving */
    for (int i = 0; i < c->nslots; i++)
      if (c->slots[i].busy) MPI_Wait(&c->slots[i].req, MPI_STATUS_IGNORE);
    for (int g = 0; g < c->ngroups; g++)
      if (c->g[g].pending) MPI_Wait(&c->g[g].req, MPI_STATUS_IGNORE);
    MPI_Finalize();
  }
}

_Noreturn void comm_abort(Comm *c, int code) {
  fflush(stdout);
  fflush(stderr);
  /* the outcome for a launcher that cannot see the exit code (usbpo.sbatch): whichever rank
   * ends the job says why; a normal end is recorded by rank 0 (usbpo_dist.c) */
  const char *path = getenv("USBPO_STATUS_FILE");
  if (path && *path) {
    char text[32], err[512];
    snprintf(text, sizeof text, "%d\n", code);
    if (dur_write_file(path, text, strlen(text), err, sizeof err) != 0)
      fprintf(stderr, "usbpo: %s\n", err);
  }
  if (c && c->mpi) MPI_Abort(MPI_COMM_WORLD, code);
  util_exit(code);
}

int comm_rank(const Comm *c) {
  return c->rank;
}
int comm_size(const Comm *c) {
  return c->size;
}
int comm_node_sharing(const Comm *c, int *node_ranks) {
  *node_ranks = 1;
  if (!c->mpi) return 1;
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof mine, &mine) != 0) CPU_ZERO(&mine);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node);
  int n = 1;
  MPI_Comm_size(node, &n);
  cpu_set_t *all = xmalloc(sizeof(cpu_set_t) * (size_t)n);
  MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, node);
  MPI_Comm_free(&node);
  int share = 0;
  for (int i = 0; i < n; i++) {
    cpu_set_t both;
    CPU_AND(&both, &mine, &all[i]);
    share += CPU_COUNT(&both) > 0;
  }
  xfree(all);
  *node_ranks = n;
  return share > 0 ? share : 1;
}

int comm_is_mpi(const Comm *c) {
  return c->mpi;
}
CommStats comm_stats(const Comm *c) {
  return c->st;
}

void comm_set_timeout(Comm *c, double seconds, CommDescribe describe, void *ctx) {
  c->timeout = seconds;
  c->hb_every = seconds / 5 > 0.05 ? seconds / 5 : 0.05;
  c->describe = describe;
  c->dctx = ctx;
}

void comm_note_type(Comm *c, int src, int type, int64_t seq) {
  if (src >= 0 && src < c->size) c->last_type[src] = type, c->last_seq[src] = seq;
}

/* ---- sends ---- */

static void progress_sends(Comm *c) {
  for (int i = 0; i < c->nslots; i++) {
    if (!c->slots[i].busy) continue;
    int done = 0;
    MPI_Test(&c->slots[i].req, &done, MPI_STATUS_IGNORE);
    if (done) c->slots[i].busy = 0;
  }
}

static void isend(Comm *c, int rank, int tag, const uint8_t *buf, size_t len) {
  CHECK(len < (size_t)1 << 31, "message of %zu bytes: too large for one MPI send", len);
  progress_sends(c);
  int s = -1;
  for (int i = 0; i < c->nslots; i++)
    if (!c->slots[i].busy) {
      s = i;
      break;
    }
  if (s < 0) {
    c->slots = xrealloc(c->slots, sizeof(Slot) * c->nslots, sizeof(Slot) * (c->nslots + 1));
    s = c->nslots++;
  }
  Slot *sl = &c->slots[s];
  if (sl->cap < len) {
    xfree(sl->buf);
    sl->cap = len < 4096 ? 4096 : len;
    sl->buf = xmalloc(sl->cap);
  }
  memcpy(sl->buf, buf, len);
  MPI_Isend(sl->buf, (int)len, MPI_BYTE, rank, tag, MPI_COMM_WORLD, &sl->req);
  sl->busy = 1;
}

void comm_send(Comm *c, int rank, const uint8_t *buf, size_t len) {
  double t0 = util_now();
  c->st.msgs_out++;
  c->st.bytes_out += (int64_t)len;
  if (rank == c->rank) {
    Q *q = xmalloc(sizeof *q);
    q->buf = xmalloc(len);
    memcpy(q->buf, buf, len);
    q->len = len;
    if (c->qt)
      c->qt->next = q;
    else
      c->qh = q;
    c->qt = q;
  } else {
    CHECK(c->mpi && rank >= 0 && rank < c->size, "send to rank %d of %d", rank, c->size);
    isend(c, rank, TAG_MSG, buf, len);
  }
  c->st.t_comm += util_now() - t0;
}

/* ---- liveness ---- */

void comm_set_log_path(Comm *c, const char *path) {
  snprintf(c->log_path, sizeof c->log_path, "%s", path ? path : "");
}

/* a line into the run's log.txt from a rank that does not own it (one O_APPEND write) */
static void append_log(const Comm *c, const char *line) {
  if (!c->log_path[0] || c->rank == 0) return;
  int fd = open(c->log_path, O_WRONLY | O_APPEND);
  if (fd < 0) return;
  ssize_t w = write(fd, line, strlen(line));
  (void)w;
  close(fd);
}

static _Noreturn void silent(Comm *c, int r, double age) {
  char who[256] = "";
  if (c->describe) c->describe(c->dctx, r, who, sizeof who);
  /* the log's owner (rank 0) may be the silent one: the accusing rank writes it there itself */
  char line[768];
  snprintf(line, sizeof line,
           "error: rank %d: rank %d (%s) has been silent for %.1f s "
           "(runtime.heartbeat_timeout_s = %g): aborting the job (exit code %d)\n",
           c->rank, r, who, age, c->timeout, EXIT_TIMEOUT);
  append_log(c, line);
  if (c->last_seq[r] >= 0)
    LOG_E("rank %d (%s) has been silent for %.1f s (runtime.heartbeat_timeout_s = %g); last "
          "message from it: '%s' #%lld. Aborting the job (exit code %d).",
          r, who, age, c->timeout, msg_type_name(c->last_type[r]), (long long)c->last_seq[r],
          EXIT_TIMEOUT);
  else
    LOG_E("rank %d (%s) has been silent for %.1f s (runtime.heartbeat_timeout_s = %g) and never "
          "sent a message. Aborting the job (exit code %d).",
          r, who, age, c->timeout, EXIT_TIMEOUT);
  comm_abort(c, EXIT_TIMEOUT);
}

static void drain_heartbeats(Comm *c) {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, TAG_HB, MPI_COMM_WORLD, &flag, &st);
    if (!flag) return;
    uint8_t b[256];
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    if (n > (int)sizeof b) { /* never from us: receive and drop */
      uint8_t *big = xmalloc((size_t)n);
      MPI_Recv(big, n, MPI_BYTE, st.MPI_SOURCE, TAG_HB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      xfree(big);
    } else {
      MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, TAG_HB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    c->last_seen[st.MPI_SOURCE] = util_now();
  }
}

void comm_tick(Comm *c) {
  if (!c || !c->mpi || c->size == 1 || c->timeout <= 0) return;
  double now = util_now();
  if (c->last_tick > 0 && now - c->last_tick > c->timeout) {
    /* this rank was not running (stopped, suspended, starved of CPU) past the timeout: the
     * others have given up on it, and their silence since is not theirs. Say who was silent
     * and end the job, rather than blame a rank that is only waiting for this one */
    char who[256] = "";
    if (c->describe) c->describe(c->dctx, c->rank, who, sizeof who);
    LOG_E("this rank (%d, %s) did not run for %.1f s, past runtime.heartbeat_timeout_s = %g "
          "(stopped, suspended or starved of CPU): the other ranks give up on it. Aborting the "
          "job (exit code %d).",
          c->rank, who, now - c->last_tick, c->timeout, EXIT_TIMEOUT);
    comm_abort(c, EXIT_TIMEOUT);
  }
  c->last_tick = now;
  if (now - c->last_hb < c->hb_every) return;
  c->last_hb = now;
  enc_begin(&c->hb, MSG_HEARTBEAT, c->rank, ROLE_ANY, 0, c->hb_seq++, 0, 0);
  size_t n = enc_end(&c->hb);
  if (c->rank == 0) {
    for (int r = 1; r < c->size; r++) isend(c, r, TAG_HB, c->hb.buf, n);
  } else {
    isend(c, 0, TAG_HB, c->hb.buf, n);
  }
  drain_heartbeats(c);
  now = util_now();
  if (c->rank == 0) {
    for (int r = 1; r < c->size; r++)
      if (now - c->last_seen[r] > c->timeout) silent(c, r, now - c->last_seen[r]);
  } else if (now - c->last_seen[0] > c->timeout) {
    silent(c, 0, now - c->last_seen[0]);
  }
}

/* ---- groups and broadcasts ---- */

int comm_group_make(Comm *c, int root, const int *members, int n) {
  CHECK(c->ngroups < MAX_GROUPS, "too many broadcast groups");
  Group *g = &c->g[c->ngroups];
  g->root = root;
  g->members = xmalloc(sizeof(int) * (n + 1));
  g->n = 0;
  g->members[g->n++] = root;
  for (int i = 0; i < n; i++) {
    int dup = 0;
    for (int j = 0; j < g->n; j++) dup |= g->members[j] == members[i];
    if (!dup) g->members[g->n++] = members[i];
  }
  g->me_in = 0;
  for (int j = 0; j < g->n; j++) g->me_in |= g->members[j] == c->rank;
  g->comm = MPI_COMM_NULL;
  if (c->mpi) {
    /* key: the root first, so it is rank 0 of the group */
    int key = c->rank == root ? -1 : c->rank;
    MPI_Comm_split(MPI_COMM_WORLD, g->me_in ? 1 : MPI_UNDEFINED, key, &g->comm);
    g->root_local = 0;
  }
  return c->ngroups++;
}

int comm_group_has(const Comm *c, int group, int rank) {
  const Group *g = &c->g[group];
  for (int j = 0; j < g->n; j++)
    if (g->members[j] == rank) return 1;
  return 0;
}

/* wait for an MPI request, ticking (so a hang is detected, not waited out) */
static void wait_req(Comm *c, MPI_Request *req) {
  int done = 0, spins = 0;
  while (!done) {
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    comm_tick(c);
    progress_sends(c);
    if (++spins > 100) {
      struct timespec ts = {0, 20000};
      nanosleep(&ts, NULL);
    }
  }
}

void comm_bcast(Comm *c, int group, const uint8_t *buf, size_t len, int inner_type) {
  Group *g = &c->g[group];
  CHECK(g->root == c->rank, "comm_bcast from a rank that is not the group's root");
  if (!c->mpi || g->n <= 1) return;
  double t0 = util_now();
  if (g->pending) {
    wait_req(c, &g->req);
    g->pending = 0;
  }
  if (g->cap < len) {
    xfree(g->buf);
    g->cap = len;
    g->buf = xmalloc(len);
  }
  memcpy(g->buf, buf, len);
  for (int j = 1; j < g->n; j++) {
    enc_begin(&c->ann, MSG_BCAST, c->rank, ROLE_ANY, 0, 0, 0, 4);
    enc_int(&c->ann, K_GROUP, group);
    enc_int(&c->ann, K_INNER, inner_type);
    enc_int(&c->ann, K_BYTES, (int64_t)len);
    enc_int(&c->ann, K_ROOT, c->rank);
    isend(c, g->members[j], TAG_MSG, c->ann.buf, enc_end(&c->ann));
  }
  MPI_Ibcast(g->buf, (int)len, MPI_BYTE, g->root_local, g->comm, &g->req);
  g->pending = 1;
  c->st.msgs_out++;
  c->st.bytes_out += (int64_t)len;
  c->st.t_comm += util_now() - t0;
}

/* ---- receive ---- */

int comm_recv(Comm *c, double wait_s, int *src, const uint8_t **buf, size_t *len) {
  if (c->cur_q) {
    xfree(c->cur_q->buf);
    xfree(c->cur_q);
    c->cur_q = NULL;
  }
  const double t0 = util_now();
  int spins = 0;
  long sleep_ns = 20000;
  for (;;) {
    if (c->qh) {
      Q *q = c->qh;
      c->qh = q->next;
      if (!c->qh) c->qt = NULL;
      c->cur_q = q;
      *src = c->rank, *buf = q->buf, *len = q->len;
      c->st.msgs_in++;
      c->st.bytes_in += (int64_t)q->len;
      return 0;
    }
    if (c->mpi) {
      progress_sends(c);
      for (int g = 0; g < c->ngroups; g++)
        if (c->g[g].pending) {
          int done = 0;
          MPI_Test(&c->g[g].req, &done, MPI_STATUS_IGNORE);
          if (done) c->g[g].pending = 0;
        }
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, TAG_MSG, MPI_COMM_WORLD, &flag, &st);
      if (flag) {
        double tx = util_now();
        int n = 0;
        MPI_Get_count(&st, MPI_BYTE, &n);
        if ((size_t)n > c->rcap) {
          xfree(c->rbuf);
          c->rcap = (size_t)n * 2;
          c->rbuf = xmalloc(c->rcap);
        }
        MPI_Recv(c->rbuf, n, MPI_BYTE, st.MPI_SOURCE, TAG_MSG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        int from = st.MPI_SOURCE;
        c->last_seen[from] = util_now();
        c->st.msgs_in++;
        c->st.bytes_in += n;
        /* a broadcast announcement: join it and hand on the payload */
        Msg a;
        char err[256];
        if (n < 200 && msg_decode(c->rbuf, (size_t)n, from, NULL, &a, err, sizeof err) == 0 &&
            a.type == MSG_BCAST) {
          int gi = (int)a.i[K_GROUP];
          CHECK(gi >= 0 && gi < c->ngroups && c->g[gi].me_in && c->g[gi].root == from,
                "rank %d announced a broadcast on group %d we are not in", from, gi);
          Group *g = &c->g[gi];
          size_t bytes = (size_t)a.i[K_BYTES];
          if (g->cap < bytes) {
            xfree(g->buf);
            g->cap = bytes;
            g->buf = xmalloc(bytes);
          }
          MPI_Request req;
          MPI_Ibcast(g->buf, (int)bytes, MPI_BYTE, g->root_local, g->comm, &req);
          wait_req(c, &req);
          c->last_seen[from] = util_now();
          c->st.bytes_in += (int64_t)bytes;
          *src = from, *buf = g->buf, *len = bytes;
          c->st.t_comm += util_now() - tx;
          return 0;
        }
        *src = from, *buf = c->rbuf, *len = (size_t)n;
        c->st.t_comm += util_now() - tx;
        return 0;
      }
      comm_tick(c);
    }
    if (wait_s >= 0 && util_now() - t0 >= wait_s) return 1;
    if (!c->mpi) {
      /* nothing can ever arrive in a one-rank run */
      if (wait_s < 0) FATAL("waiting for a message that cannot arrive (one rank, empty queue)");
      return 1;
    }
    if (++spins > 50) {
      struct timespec ts = {0, sleep_ns};
      nanosleep(&ts, NULL);
      if (sleep_ns < 1000000) sleep_ns *= 2;
    }
  }
}
