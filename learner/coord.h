/* coord — the learner role's private header: the coordinator's state and the pieces both
 * schedules are made of. coordinator.c: acting, SAC updates, model trainings and rollouts,
 * evaluation and the epoch's row; lstate.c: the learner's checkpoint state and the checkpoint
 * protocol; sync.c and async.c: the two schedules. Only learner/ includes it. */
#ifndef USBPO_LEARNER_COORD_H
#define USBPO_LEARNER_COORD_H

#include <stdint.h>

#include "buffer.h"
#include "codec.h"
#include "config.h"
#include "runlog.h"
#include "runtime.h"
#include "sac.h"

#include "util.h"

/* the async schedule's state (see async_run) */
typedef struct {
  int64_t granted;       /* actor steps granted */
  int64_t real_steps;    /* policy steps received */
  int64_t since_train;   /* real steps since the last training request */
  int training, rolling; /* a training / rollout in flight */
  int64_t rolling_training;
  int64_t pending_eval; /* epoch whose evaluation is awaited, or -1 */
  Metrics snap;         /* that epoch's row, awaiting its evaluation */
  double lag_sum, mlag_sum;
  int64_t lag_n, dropped;
  int64_t pub_updates; /* updates at the last policy publication to the actors */
  int64_t pool_steps;  /* real steps since the env buffer held min_pool_size */
  double epoch_t0;
} Async;

typedef struct {
  const Config *cfg;
  Runtime *rt;
  RunLog *log;
  int obs_dim, act_dim, in_dim;
  SacConfig sc;
  Sac *sac;
  Pool *pool; /* the SAC update's threads (NULL: one) */
  Buffer *env_buf;
  Buffer *model_buf;
  Buffer *fwd;       /* real rows not yet forwarded to the model service */
  float *ft_batches; /* phase-2 batches drawn from the model buffer */
  int64_t ft_rows;
  int A, R;
  int64_t pv_actors, pv_rollout; /* policy versions last published to each group */
  int64_t trainings, model_version;
  int64_t episodes, steps, all_steps;
  int epoch, k;
  double last_eval;
  Metrics m;
  int n_upd_epoch;
  int64_t epoch_all_steps0;
  int64_t sim_errors, warnings; /* actors' cumulative counters, summed */
  int64_t *act_sim, *act_warn;
  double t0;
  /* the schedule's position (restored by a resume) */
  int explored, epoch_started;
  int64_t t; /* env steps into the epoch */
  /* checkpoints */
  char run_dir[1024];
  uint64_t cfg_hash;
  char *cfg_text; /* the resolved configuration, recorded in every MANIFEST */
  int64_t last_ckpt_all_steps;
  double last_ckpt_time, last_ckpt_seconds;
  int64_t ckpt_try_all_steps; /* the last attempt (the cadence counts from it) */
  double ckpt_try_time;
  int stop_code; /* non-zero: stopped at a safe point with this exit code */
  int finished;  /* restored from a checkpoint written at the end of the run */
  /* the NaN guard */
  SacSnap *snap;
  int64_t nan_rollbacks, nan_streak, inject_nan_at;
  /* resumes that continued on another BLAS kernel than the checkpoint was written with (from
   * the first, the run's numbers are not those of an uninterrupted run): a metrics column */
  int64_t kernel_changes;
  char blas_kernel[64], cpu[64]; /* this process's, recorded in every MANIFEST */
  Async as;
} Learner;

/* coordinator.c */
void lr_reset_metrics(Learner *L);
/* the progress line (every env step counted: it never steps back) */
int64_t lr_progress_total(const Learner *L);
void lr_progress(Learner *L, double updates_s, int force);
int64_t lr_policy_version(const Learner *L);
/* the policy snapshot to a group, when it changed since the last time that group got it */
void lr_publish_policy(Learner *L, int group, int64_t *last);
/* rows of a transitions message into a buffer */
void lr_push_msg(Buffer *b, const Msg *m);
/* an actor's real transitions: into the env buffer and the rows to forward to the model
 * service, its counters, its finished episode (explore: an exploration episode) */
void lr_on_real(Learner *L, const Msg *m, int explore);
/* one tick: every actor takes one step (uniform when explore) */
void lr_act_all(Learner *L, int explore);
void lr_explore(Learner *L);
/* n SAC updates with the NaN guard */
void lr_sac_updates(Learner *L, int n);
/* the new real data and a train request to the model service; returns the training number */
int64_t lr_send_train(Learner *L, int interruptible);
/* a finished training into the row; returns its duration on the model service */
double lr_on_train_done(Learner *L, const Msg *m);
/* sync: one training and its rollouts, waited for; interruptible: 1 when the training was
 * given up on a stop request (nothing changed: redo it after the safe point) */
int lr_model_round(Learner *L, int interruptible);
/* evaluation: the request to actor 0, and its answer into a row */
void lr_request_eval(Learner *L);
void lr_eval_into(Learner *L, Metrics *x, const Msg *m, int64_t steps);
void lr_fill_row(Learner *L, double epoch_t0);

/* lstate.c */
void lr_load(Learner *L, const char *dir);
int lr_checkpoint(Learner *L, const char *why); /* 0, or -1 (removed; retried at cadence) */
int lr_ckpt_due(const Learner *L);
/* before each tick: the cadence and the signals; 1 when the run stops here */
int lr_safe_point(Learner *L);
/* resumed from the checkpoint written at the end of the run (and not extended) */
int lr_already_complete(const Learner *L);

/* sync.c, async.c */
void lr_sync_run(Learner *L);
void lr_async_run(Learner *L);

#endif
