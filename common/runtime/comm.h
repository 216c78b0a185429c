/* comm — the transport between ranks: MPI point-to-point (probe, get_count, receive) for
 * variable-size messages, an in-process FIFO for messages to self, broadcasts on role
 * communicators, heartbeats and liveness.
 *
 * Without a launcher (no mpirun/srun environment) MPI is not initialised at all: one rank,
 * loopback only. Sends never block the caller (MPI_Isend of a private copy). Broadcasts: the
 * root announces (a small point-to-point 'bcast' message to every member, so it arrives in
 * order with the root's other messages), then MPI_Ibcast; a member that receives the
 * announcement joins the broadcast and hands the payload on as the next message.
 *
 * Liveness: every rank sends a heartbeat to rank 0 (and rank 0 to everyone) at least every
 * timeout / 5 s, from comm_tick, which the roles call in every long loop. Rank 0 watches every
 * rank, the others watch rank 0; a silent rank aborts the job (exit code EXIT_TIMEOUT) with
 * its rank, its roles (from the describe callback) and the last message seen from it. */
#ifndef USBPO_COMM_H
#define USBPO_COMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct Comm Comm;

/* describes a rank for error messages (its roles) */
typedef void (*CommDescribe)(void *ctx, int rank, char *buf, size_t n);

Comm *comm_init(int *argc, char ***argv);
void comm_finalize(Comm *c);
_Noreturn void comm_abort(Comm *c, int code);
int comm_rank(const Comm *c);
int comm_size(const Comm *c);
/* collective (every rank calls it once): how many ranks of this node have an affinity mask that
 * overlaps this rank's (itself included); node_ranks: the ranks on this node. 1 without MPI. */
int comm_node_sharing(const Comm *c, int *node_ranks);
int comm_is_mpi(const Comm *c);

void comm_set_timeout(Comm *c, double seconds, CommDescribe describe, void *ctx);
/* the run's log.txt: a rank that finds rank 0 (its writer) silent records it there too */
void comm_set_log_path(Comm *c, const char *path);

/* send len bytes to rank (self: the loopback queue) */
void comm_send(Comm *c, int rank, const uint8_t *buf, size_t len);

/* the next message: 0 with (*src, *buf, *len) valid until the next receive; 1 when none
 * arrived within wait_s (wait_s < 0: wait for ever, subject to the liveness timeout). The type
 * of the last message from each rank is recorded from byte 'type' peeking by the caller via
 * comm_note_type. */
int comm_recv(Comm *c, double wait_s, int *src, const uint8_t **buf, size_t *len);
void comm_note_type(Comm *c, int src, int type, int64_t seq);

/* broadcast groups: created collectively (every rank calls, with the same arguments) */
int comm_group_make(Comm *c, int root, const int *members, int n);
int comm_group_has(const Comm *c, int group, int rank);
/* root: send buf to every member rank except itself; returns the bytes sent */
void comm_bcast(Comm *c, int group, const uint8_t *buf, size_t len, int inner_type);

/* heartbeats and liveness; cheap when nothing is due */
void comm_tick(Comm *c);

/* statistics */
typedef struct {
  double t_comm; /* seconds inside send / receive / broadcast */
  int64_t msgs_out, bytes_out, msgs_in, bytes_in;
} CommStats;
CommStats comm_stats(const Comm *c);

#endif
