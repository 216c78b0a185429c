/* finetune — USB-PO's phase 2 (spec §5): after the MLE fit, fine-tune the ensemble on
 * J = model shift (pre- vs post-update model) + model bias (disagreement between members), on
 * synthetic (s, a) from the model buffer, keeping the best state by J on 1024 real held-out
 * (s, a).
 *
 * faithful: the official code's objective with its deviations (§5.6): fixed member tables
 *   drawn once per run, the square root over the whole batch, only the D "trace" std entries
 *   (row i, dim i), the pre-update copy evaluated with the new scaler and the current shared
 *   log-variance bounds, bias against all members divided by E-1, roll-back of weights and
 *   biases only.
 * w2: the paper's mathematics: per-sample W2 between diagonal Gaussians (every std entry),
 *   mean over rows; shift compares a member with its own pre-update self (the whole old model:
 *   weights, bounds and scaler); bias against the E-1 other members; member choices redrawn
 *   per batch; roll-back of the whole model including the bounds.
 * Both share the optimiser (Adam, persistent across trainings) and the stopping rule. Its
 * moments (FtConfig.moments): shared = it steps on phase 1's m and v with a step counter of its
 * own, as the official code does (spec deviation 10, the comment at ft_adam_step); own = (m, v)
 * of its own. */
#ifndef USBPO_FINETUNE_H
#define USBPO_FINETUNE_H

#include <stdint.h>

#include "buffer.h"
#include "ensemble.h"

typedef struct {
  int mode;  /* FT_FAITHFUL or FT_W2 */
  int batch; /* B */
  double lr, threshold;
  int max_steps, patience;
  int own_scaler;  /* the pre-update model sees inputs under its own scaler (always in w2) */
  int same_member; /* faithful: shift compares member b_j with old b_j, not old c_j */
  int terms;       /* FtTerm: the objective J = shift + bias (the published code), bias alone (its
                    * first version), or shift alone; terms reports both either way */
  int moments;     /* FtMoments: phase 1's Adam moments (shared) or its own */
} FtConfig;

typedef struct {
  double j, shift, bias; /* J = shift + bias */
} FtTerms;

typedef struct {
  double j_before, j_after, shift, bias; /* on the early-stopping set; after = kept state */
  double shift_before, bias_before;      /* the terms before the first step */
  int abandoned;                         /* gave up on a stop request */
  int steps;                             /* phase-2 steps taken */
  int kept_step;                         /* the step whose state was kept (0: the phase-1 result) */
  int pulled_back;                       /* the kept state is not the last step's */
  double dw_rms; /* RMS over weights and biases of (kept state - phase-1 result) */
  double db_max; /* largest |change| of a log-variance bound (kept state - phase-1 result): in
                  * faithful mode no keep-best restores them (deviation 6), so phase 2 moves them
                  * even where it keeps step 0 */
} FtStats;

typedef struct {
  FtConfig c;
  int interruptible; /* ft_run may give up on a stop request (the caller redoes it) */
  int E, D, in;
  Adam adam; /* shared moments: its step counter and rate only (m, v are the ensemble's) */
  int32_t *inew, *iold;  /* member tables (B) */
  int32_t *ies;          /* w2: the early-stopping set's member choices, fixed per training */
  const int32_t *tab;    /* the table ft_objective uses for b_j */
  real *old;             /* pre-update parameter block */
  real *old_mu, *old_sd; /* w2: the pre-update scaler */
  /* workspaces */
  NnTape *tape;
  real *xs, *xs_old, *m, *lv, *sig, *mo, *lvo, *sigo, *dy;
  real *xg, *og, *work; /* per thread of the ensemble's pool: (B, in), (B, 2D), work_n */
  size_t work_n;
  double *gb;
  float *fx; /* float (s, a) staging */
  int64_t *idx;
  real *snap; /* keep-best snapshot */
  real *p1;   /* the phase-1 result: every parameter and bound (FtStats.dw_rms, db_max) */
} Finetune;

Finetune *ft_make(const FtConfig *c, const Ensemble *e, uint32_t seed);
void ft_free(Finetune *f);
size_t ft_bytes(const FtConfig *c, const EnsConfig *ec);

/* the pre-update copy: call after the scaler refit (faithful) and before phase 1; in w2 mode
 * old_mu/old_sd must hold the previous scaler (ft_keep_scaler before the refit) */
void ft_keep_scaler(Finetune *f, const Ensemble *e);
void ft_begin(Finetune *f, const Ensemble *e);

/* J on B rows: xs scaled with the current scaler, xs_old with the pre-update one (the same
 * pointer in faithful mode). With grads, e->g receives dJ/d(all parameters and bounds). */
double ft_objective(Finetune *f, Ensemble *e, const real *xs, const real *xs_old, int grads,
                    FtTerms *terms);

/* W2 distance between N(m1, diag s1^2) and N(m2, diag s2^2) in D dims (closed form) */
double ft_w2_diag(const real *m1, const real *s1, const real *m2, const real *s2, int D);

/* the phase-2 batches of one training: max_steps x B unscaled (s, a) rows drawn uniformly with
 * replacement from the model buffer by rng (whoever holds the model buffer draws them) */
void ft_sample_batches(const Buffer *model_buf, Rng *rng, int steps, int batch, float *out);

/* phase 2 end to end (spec §5.5 steps 7-9): es_x holds B unscaled (s, a) rows drawn from the
 * holdout; batches (max_steps x B rows) from ft_sample_batches; rng draws the w2 member choices.
 * Ends with the kept state restored and elites re-selected on the holdout (xho, yho). */
void ft_run(Finetune *f, Ensemble *e, const float *es_x, const float *batches, Rng *rng,
            const float *xho, const float *yho, int64_t nho, FtStats *st);

#endif
