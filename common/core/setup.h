/* setup — the one translation from the run's Config to every core module's own configuration,
 * the message dimensions and the memory budget of each role. A new config key that a module
 * needs is one edit here; the budgets are computed by the same size functions the modules'
 * allocations use (sac_bytes, ens_bytes, ft_bytes, ro_bytes, buf_bytes). */
#ifndef USBPO_SETUP_H
#define USBPO_SETUP_H

#include <stdint.h>

#include "config.h"
#include "ensemble.h"
#include "finetune.h"
#include "policy.h"
#include "rollout.h"
#include "sac.h"

SacConfig setup_sac(const Config *c);
/* rows of a SAC batch drawn from the real (env) buffer: the whole batch for model-free SAC,
 * floor(batch_size * real_ratio) with a model (spec §3.8); the rest come from the model buffer */
int setup_sac_real_rows(const Config *c);
/* async mode: are model rows fresh enough to keep? Their policy's lag in publications (one per
 * G SAC updates) at most runtime.max_policy_lag and their model's lag in versions at most
 * runtime.max_model_lag: 1, else 0 (both must hold: a row stale by either is dropped) */
int setup_rows_fresh(const Config *c, double policy_lag, int64_t model_lag);
PolicyConfig setup_policy(const Config *c);
/* replica: the rollout workers' copy (no training workspaces: batch 1) */
EnsConfig setup_ens(const Config *c, int replica);
FtConfig setup_ft(const Config *c);
/* shards: the placement's logical shard count (topology.rollout_shards) */
RoConfig setup_rollout(const Config *c, int shards);
/* the threads a rank uses: run.threads when set, else its share of the cores it may run on
 * (cores: its affinity mask; sharing: ranks of this node whose masks overlap it, itself
 * included), at least 1 */
int setup_threads(const Config *c, int cores, int sharing);
/* usbpo with phase 2 on */
int setup_phase2_on(const Config *c);

/* what messages between the roles carry, for the codec's validation */
typedef struct {
  int obs_dim, act_dim, in_dim, out_dim;
  int64_t n_policy, n_model; /* parameter counts of a policy and a model snapshot */
  int members, elites, shards;
  int64_t max_rows; /* the most rows one message may carry */
} SetupDims;
void setup_dims(const Config *c, SetupDims *d);

/* bytes each role allocates for this config (printed and checked at start) */
double setup_memory_learner(const Config *c);
double setup_memory_modelsvc(const Config *c);
double setup_memory_rollout(const Config *c);
double setup_memory_actor(const Config *c);

#endif
