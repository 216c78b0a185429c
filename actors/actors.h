/* actors/ — the actor role (one environment instance: exploration, policy steps, evaluation
 * episodes, actor.h), and offline evaluation with its video (evaluate.h, render.h).
 *
 * May use: common/core, common/runtime, common/base. Never another role's headers. */
#ifndef USBPO_ACTORS_H
#define USBPO_ACTORS_H

#include <stddef.h>

#include "config.h"
#include "runtime.h"

/* resume: NULL for a fresh start, else the checkpoint directory to load from; NULL with the
 * reason when the environment cannot be made */
typedef struct ActorRole ActorRole;
ActorRole *actor_role_make(const Config *cfg, Runtime *rt, int idx, const char *resume, char *err,
                           size_t errlen);
void actor_role_free(ActorRole *a);

#endif
