/* modelsvc/ — the model-service role (all real data, the ensemble, phase 1 and phase 2: one
 * model training per request, modeltrain.h) and the rollout-worker role (branched rollouts of
 * its shards, rollout.h), each a handler of messages on the runtime.
 *
 * May use: common/core, common/runtime, common/base. Never another role's headers. */
#ifndef USBPO_MODELSVC_H
#define USBPO_MODELSVC_H

#include "config.h"
#include "runtime.h"

/* resume: NULL for a fresh start, else the checkpoint directory to load from */
typedef struct ModelsvcRole ModelsvcRole;
ModelsvcRole *modelsvc_role_make(const Config *cfg, Runtime *rt, const char *resume);
void modelsvc_role_free(ModelsvcRole *m);

typedef struct RolloutRole RolloutRole;
RolloutRole *rollout_role_make(const Config *cfg, Runtime *rt, int idx, const char *resume);
void rollout_role_free(RolloutRole *r);

#endif
