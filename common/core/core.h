/* common/core/ — the algorithm, as plain functions over plain structs: envs/ (the MuJoCo tasks
 * and rollout termination functions), policy (the tanh-Gaussian actor), sac, ensemble (phase-1
 * training), finetune (phase 2), modeltrain (one model training: data, scaler, phase 1 + 2),
 * rollout (branched model rollouts), actor (one environment stepping), setup (Config -> every
 * module's config, message dimensions and memory budgets).
 *
 * May use: common/base, MuJoCo. No MPI, no messages, no run directory: the roles compose these
 * functions. This header only gathers the folder's headers. */
#ifndef USBPO_CORE_H
#define USBPO_CORE_H

#include "actor.h"
#include "ensemble.h"
#include "envs/env.h"
#include "finetune.h"
#include "modeltrain.h"
#include "policy.h"
#include "rollout.h"
#include "sac.h"
#include "setup.h"

#endif
