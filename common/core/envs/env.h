/* env — the Gym MuJoCo benchmark tasks (v2 semantics, as MBPO / USB-PO ran them) on the MuJoCo
 * C API. Spec: shared/spec/environments.md.
 *
 * The agent always acts in [-1, 1]^da; the env maps an action affinely to the actuator range and
 * clips (MBPO's NormalizeActionWrapper). Observation, reward and termination read mjData exactly
 * when gym reads it, including the derived fields left stale by RK4 (spec §2.4). The 1000-step
 * cut is the caller's business: it is a truncation, never a terminal.
 *
 * Models: our own MJCF files (common/envs/models/), embedded in the binary and installed; one
 * mjModel per task is shared read-only by every Env of the process. */
#ifndef USBPO_ENV_H
#define USBPO_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "rng.h"

typedef struct Env Env;

typedef struct {
  int id;            /* EnvId */
  const char *name;  /* config name */
  const char *model; /* model file stem */
  int obs_dim, act_dim;
  int frame_skip;
} EnvInfo;

typedef struct {
  int contact_forces;    /* ContactForces */
  const char *model_dir; /* NULL or "" = embedded models */
} EnvOptions;

/* result of one step; obs points into the Env and stays valid until the next step/reset */
typedef struct {
  const double *obs;
  double reward;
  int terminated; /* the task's own termination rule */
  int sim_error;  /* MuJoCo reported a bad state (NaN/divergence): the episode must end and
                     this transition must not be trusted */
  int warnings;   /* MuJoCo warnings raised during this step */
} EnvStep;

const EnvInfo *env_info(int id);

/* NULL on failure with the reason in err */
Env *env_make(int id, const EnvOptions *opt, char *err, size_t errlen);
void env_free(Env *e);
const EnvInfo *env_get_info(const Env *e);

/* reset with the task's noise drawn from rng (NULL: no noise, the model's qpos0 and zero
 * velocity); returns the initial observation */
const double *env_reset(Env *e, Rng *rng);
/* step with an action in [-1, 1]^da */
EnvStep env_step(Env *e, const float *action);
const double *env_obs(const Env *e);

/* the native action (actuator units) the env would apply for a unit action */
void env_scale_action(const Env *e, const float *unit, double *native);

/* full simulator state for checkpoints: time, qpos, qvel, act, qacc_warmstart, ctrl, the stale
 * "before" quantity of the reward, and the current observation */
size_t env_state_size(const Env *e); /* doubles */
void env_state_save(const Env *e, double *out);
int env_state_load(Env *e, const double *in, size_t n); /* 0, or -1 on a size/format mismatch */

/* internals exposed for tests and the benchmark */
struct mjModel_;
struct mjData_;
struct mjModel_ *env_model(Env *e);
struct mjData_ *env_data(Env *e);
uint64_t env_warning_count(void); /* process-wide MuJoCo warnings seen by our handler */

/* load a model file (tests compare our files with the reference ones) */
struct mjModel_ *env_load_model_file(const char *path, char *err, size_t errlen);
/* the embedded text of one of our model files, by stem; NULL if none */
const char *env_model_text(const char *stem);

/* rollout termination functions (spec §4.10), applied to model-predicted next observations.
 * faithful reproduces the official code's quirks; fixed corrects them. done[i] = 1 / 0. */
void env_termination_batch(int id, int fixed, const float *next_obs, int n, uint8_t *done);

#endif
