/* ensemble — the probabilistic dynamics ensemble and its phase-1 maximum-likelihood training
 * (spec §4), as the official code computes it.
 *
 * E members (ensemble-dense layers, evaluated together), input [s, a] scaled by a fitted
 * scaler, 4 hidden swish layers, output [mean (D), raw log-variance (D)] with D = 1 + ds:
 * reward first, then the state change. Two shared trainable vectors bound the log-variance:
 *   l1 = maxlv - softplus(maxlv - raw);  logvar = minlv + softplus(l1 - minlv).
 * The parameter block is the net's weights and biases followed by maxlv (D) and minlv (D), so
 * one Adam covers everything the official optimiser trains.
 *
 * Phase 1 per training call: all real data, permutation, holdout min(0.2 N, 5000), scaler fit
 * on the training split, per-member bootstrap lists, epochs of 256-row minibatches (one Adam
 * step each, members aligned by chunk), per-member list shuffles, holdout MSE per member,
 * per-member snapshots when a member improves by > 1 %, stop after 6 epochs without any, then
 * restore the snapshots (weights and biases only) and pick the elites by holdout MSE. */
#ifndef USBPO_ENSEMBLE_H
#define USBPO_ENSEMBLE_H

#include <stdatomic.h>
#include <stdint.h>

#include "nn.h"
#include "pool.h"
#include "rng.h"

typedef struct {
  int members, elites;
  int obs_dim, act_dim, in_dim, out_dim; /* out_dim = D = 1 + obs_dim */
  int hidden, layers;
  int batch; /* phase-1 minibatch rows per member */
  double lr, bound_penalty, improve_threshold;
  int patience;       /* stop when epochs without improvement exceed this */
  int64_t max_epochs; /* 0 = no cap */
  double max_train_s; /* 0 = no cap */
  double decay[8];    /* per layer, hidden layers then output */
  double init_maxlv, init_minlv;
  int threads; /* workspaces for this many threads of a pool (ens_set_pool); 0 or 1: serial */
} EnsConfig;

/* per-thread scratch for the work done one member per task */
typedef struct {
  real *scratch, *eval_x, *eval_out;
} EnsThreadWork;

typedef struct {
  EnsConfig c;
  NnNet net;
  size_t nnet, ntotal; /* reals in the net part; + 2D bounds */
  real *p, *g;         /* parameter and gradient blocks */
  real *mu, *sd;       /* input scaler */
  Adam adam;           /* phase 1 */
  int interruptible;   /* ens_train_mle may give up on a stop request (the caller redoes it) */
  /* called after each phase-1 epoch (phase 1, epochs done, mean holdout MSE) and phase-2 step
   * (phase 2, steps done, J on the early-stopping set): progress for a person; NULL = none */
  void (*progress)(void *ctx, int phase, int step, double value);
  void *progress_ctx;
  int elite[64];  /* elite members, lowest holdout MSE first */
  double mse[64]; /* holdout MSE per member after the last training */
  /* members run as tasks of this pool (NULL: one after another, the same numbers) */
  Pool *pool;
  /* a phase-1 step's last `split` members run as two tasks each, cut at layer split_layer of
   * their backward, so that no thread idles while another runs a whole member (ens_set_pool) */
  int split, split_layer;
  atomic_int *stage_done; /* (members) the first task of a cut member has finished */
  /* workspaces */
  NnTape *tape; /* members x batch rows */
  real *xb, *yb, *dy;
  double *gb;        /* bound gradient accumulator (2D) */
  double *gb_m;      /* each member's share of it (members, 2D), summed in member order */
  double *loss_m;    /* each member's NLL sum (members) */
  real *nll_acc;     /* per-output loss / bound-gradient sums (members, 3D) */
  EnsThreadWork *tw; /* per thread (c.threads, at least 1) */
  int eval_rows;     /* rows of eval_x / eval_out */
} Ensemble;

Ensemble *ens_make(const EnsConfig *c, uint32_t seed);
void ens_free(Ensemble *e);
/* run the members of phase 1 and of evaluations as tasks of p (at most c.threads threads;
 * NULL: serial). The numbers do not depend on it. */
void ens_set_pool(Ensemble *e, Pool *p);
size_t ens_bytes(const EnsConfig *c);
/* the network's shape (in -> hidden x layers (swish) -> 2 (obs + 1)) and its parameter count */
int ens_net(const EnsConfig *c, NnNet *net);
size_t ens_nparam(const EnsConfig *c);

static inline real *ens_maxlv(const Ensemble *e) {
  return e->p + e->nnet;
}
static inline real *ens_minlv(const Ensemble *e) {
  return e->p + e->nnet + e->c.out_dim;
}

/* scaler: mean and population std of the rows (std < 1e-12 -> 1) */
void ens_fit_scaler(Ensemble *e, const float *x, int64_t n);
/* (x - mu) / sd for n rows */
void ens_scale(const Ensemble *e, const float *x, int n, real *out);

/* the bounded log-variance and its partial derivatives (spec §4.3, §4.11) */
static inline real ens_logvar(real raw, real maxlv, real minlv);

/* phase-1 loss on a minibatch already in xb (members, n, in; scaled) and yb (members, n, D):
 * returns the full loss (members' NLL terms + decay + bound penalty); with grads, fills g */
double ens_nll(Ensemble *e, int n, int grads);
/* one phase-1 Adam step on that minibatch: the gradient of ens_nll with the decay folded into
 * the Adam pass (adam_step_member per member, adam_step_rest for the bounds); returns the loss
 * without the decay term */
double ens_train_step(Ensemble *e, int n);

/* holdout MSE of the means per member over n rows (x unscaled, float), in raw units */
void ens_holdout_mse(Ensemble *e, const float *x, const float *y, int64_t n, double *mse);

/* mean and log-variance of one member for n scaled inputs: mean (n, D), logvar (n, D) (either
 * may be NULL). work holds ens_predict_work(e, n) reals. param: e->p or another block of the
 * same layout (the pre-update copy). */
size_t ens_predict_work(const Ensemble *e, int n);
void ens_predict(const Ensemble *e, const real *param, int member, const real *xs, int n,
                 real *mean, real *logvar, real *work);

/* early stopping (spec §4.7) as a small state machine, so it can be tested on scripted losses */
typedef struct {
  double best[64];
  int since; /* epochs since any member improved */
} EarlyStop;
void es_start(EarlyStop *s, int members);
/* improved[m] = 1 for members that improved by > threshold; returns 1 when training stops */
int es_update(EarlyStop *s, const double *mse, int members, double threshold, int patience,
              int *improved);

/* the bootstrap of phase 1 (spec §4.6): member m's list idx[m * n .. m * n + n) of n row
 * indices drawn uniformly with replacement, members one after another from rng */
void ens_bootstrap(Rng *rng, int members, int64_t n, int32_t *idx);

/* the k members with the lowest MSE, ascending (ties: lower index first) */
void ens_select_elites(const double *mse, int members, int k, int *elite);

typedef struct {
  int epochs;
  double best[64];           /* each member's best holdout MSE during the call */
  double holdout_mse;        /* mean over members after restore */
  double holdout_mse_elites; /* mean over elites */
  double seconds;
  int abandoned; /* a stop was requested (util_stop_requested) and the call gave up */
} EnsTrainStats;

/* phase 1 on prepared data: xtr/ytr (ntr rows, unscaled) and the holdout; the scaler must be
 * fitted already. rng draws the bootstrap lists and shuffles. */
void ens_train_mle(Ensemble *e, const float *xtr, const float *ytr, int64_t ntr, const float *xho,
                   const float *yho, int64_t nho, Rng *rng, EnsTrainStats *st);

/* ---- inline ---- */
#include "fastmath.h"
static inline real ens_logvar(real raw, real maxlv, real minlv) {
  real l1 = maxlv - r_softplus(maxlv - raw);
  return minlv + r_softplus(l1 - minlv);
}

#endif
