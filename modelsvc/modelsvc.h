/* modelsvc — the model-based half of the algorithm, as one object: the dynamics ensemble, its
 * phase-1 (MLE) and phase-2 (W2 fine-tune) training, the rollout-length schedule, the model
 * buffer and branched rollouts (spec §3.4-§5). The trainer calls it every F env steps. */
#ifndef USBPO_MODELSVC_H
#define USBPO_MODELSVC_H

#include "buffer.h"
#include "config.h"
#include "runlog.h"
#include "sac.h"

typedef struct ModelSvc ModelSvc;

ModelSvc *modelsvc_make(const Config *cfg, int obs_dim, int act_dim);
void modelsvc_free(ModelSvc *m);
double modelsvc_memory_budget(const Config *cfg);

/* one model training (phase 1, and phase 2 after the first) on all real data, then the
 * rollout length for `epoch`, the model buffer resize and branched rollouts from env_buf with
 * the current policy */
void modelsvc_train_and_rollout(ModelSvc *m, int epoch, const Buffer *env_buf, const Sac *sac,
                                Metrics *metrics);
const Buffer *modelsvc_model_buffer(const ModelSvc *m);
/* the rollout-length schedule (spec §3.5) and the model buffer's capacity (§3.6) */
int modelsvc_rollout_length(const Config *cfg, int epoch);
int64_t modelsvc_buffer_capacity(const Config *cfg, int k);
void modelsvc_fill_metrics(const ModelSvc *m, Metrics *metrics);

#endif
