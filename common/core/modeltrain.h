/* modeltrain — one model training (spec §3.4, §4, §5.5): all real data, permutation and holdout,
 * scaler refit, the pre-update copy, phase 1 (MLE), and phase 2 (USB-PO's fine-tune) on every
 * training but the first. Also the rollout-length schedule (§3.5) and the model buffer's
 * capacity (§3.6). No I/O, no MPI: the model-service role wraps it. */
#ifndef USBPO_MODELTRAIN_H
#define USBPO_MODELTRAIN_H

#include "buffer.h"
#include "config.h"
#include "ensemble.h"

/* what a training reports (TRAIN_DONE metrics, in this order) */
enum {
  TM_EPOCHS,
  TM_HOLDOUT_MSE,
  TM_HOLDOUT_MSE_ELITES,
  TM_FT_J_BEFORE,
  TM_FT_J_AFTER,
  TM_FT_SHIFT,
  TM_FT_BIAS,
  TM_FT_STEPS,
  TM_FT_KEPT,
  TM_FT_PULLED_BACK,
  TM_SECONDS,
  TM_TRAININGS,
  TM_NAN_ROLLBACK,   /* 1: this training diverged and the model was put back as it was before */
  TM_P2_SECONDS,     /* the part of TM_SECONDS spent in phase 2 (pre-update copy and fine-tune) */
  TM_P1_HOLDOUT_MSE, /* holdout MSE (mean over members) after phase 1, before phase 2 */
  TM_FT_SHIFT_BEFORE,
  TM_FT_BIAS_BEFORE, /* the phase-2 terms before its first step */
  TM_ABANDONED,      /* 1: given up on a stop request, the model as before it (redo after resume) */
  TM_FT_DW_RMS,      /* RMS change of the weights and biases by phase 2 (kept state - phase 1) */
  TM_FT_DB_MAX,      /* largest change of a log-variance bound by phase 2 (FtStats.db_max) */
  TM_COUNT
};

typedef struct ModelTrain ModelTrain;

ModelTrain *mt_make(const Config *cfg, int obs_dim, int act_dim);
void mt_free(ModelTrain *m);

/* does the next training run phase 2 (usbpo, finetune on, not the first training)? */
int mt_wants_phase2(const ModelTrain *m);
/* rows of phase-2 batches the next training consumes (max_steps x B, or 0) */
int64_t mt_phase2_rows(const ModelTrain *m);

/* one training on the real data; ft_batches: mt_phase2_rows (s, a) rows from the model
 * buffer (ft_sample_batches), or NULL. metrics: TM_COUNT values. */
/* interruptible: phase 1 and phase 2 give up between minibatches once a stop is requested
 * (util_stop_requested), leave the model as it was and report TM_ABANDONED */
void mt_train(ModelTrain *m, const Buffer *real, const float *ft_batches, double *metrics,
              int interruptible);
const Ensemble *mt_ensemble(const ModelTrain *m);
Ensemble *mt_ensemble_mut(ModelTrain *m);
int64_t mt_trainings(const ModelTrain *m);

/* checkpoint state: ensemble, scaler, elites, both Adam states, the phase-2 member tables, the
 * training counter */
struct CkptWriter;
struct CkptFile;
void mt_ckpt_save(const ModelTrain *m, struct CkptWriter *w);
void mt_ckpt_load(ModelTrain *m, struct CkptFile *f, const char *path);
/* strict 0 (the model probe): phase 2 may be on in one and off in the other; its state is
 * loaded when both have it, else it starts fresh */
void mt_ckpt_load_ex(ModelTrain *m, struct CkptFile *f, const char *path, int strict);

/* spec §3.5 and §3.6 */
int mt_rollout_length(const Config *cfg, int epoch);
int64_t mt_buffer_capacity(const Config *cfg, int k);

#endif
