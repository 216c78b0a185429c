/* roles — the four roles of the system (DESIGN §3), each a handler of messages on the runtime:
 *   learner   (learner/learner.c)     drives the schedule, SAC, the env and model buffers
 *   modelsvc  (modelsvc/modelsvc_role.c)  all real data, the ensemble, phase 1 + phase 2
 *   rollout   (modelsvc/rollout_role.c)   branched rollouts for its shards
 *   actor     (actors/actor_role.c)   one environment, exploration, evaluation episodes */
#ifndef USBPO_ROLES_H
#define USBPO_ROLES_H

#include "codec.h"
#include "config.h"
#include "runlog.h"
#include "runtime.h"

/* the dimensions messages are validated against, for a config */
void roles_codec_ctx(const Config *cfg, CodecCtx *ctx);

/* <run.dir>/<run name> */
void roles_run_dir(const Config *cfg, char *out, size_t n);
/* a role's checkpoint file name: "<role>-<idx>.ckpt" */
void roles_ckpt_name(int role, int idx, char *out, size_t n);
/* a role's checkpoint: its file <run>/ckpt/<step>/<role>-<idx>.ckpt written by save (nfields
 * fields of its own), then the answer to the learner (done, size, checksum) */
struct CkptWriter;
typedef void (*RoleSaveFn)(void *obj, struct CkptWriter *w);
void roles_checkpoint(const Config *cfg, Runtime *rt, int role, int idx, int64_t step, int nfields,
                      RoleSaveFn save, void *obj);

/* resume: NULL for a fresh start, else the checkpoint directory every role loads from */
typedef struct ActorRole ActorRole;
ActorRole *actor_role_make(const Config *cfg, Runtime *rt, int idx, const char *resume, char *err,
                           size_t errlen);
void actor_role_free(ActorRole *a);

typedef struct ModelsvcRole ModelsvcRole;
ModelsvcRole *modelsvc_role_make(const Config *cfg, Runtime *rt, const char *resume);
void modelsvc_role_free(ModelsvcRole *m);

typedef struct RolloutRole RolloutRole;
RolloutRole *rollout_role_make(const Config *cfg, Runtime *rt, int idx, const char *resume);
void rollout_role_free(RolloutRole *r);

/* the learner on rank 0: runs the schedule to the end (from a checkpoint when resume is not
 * NULL); returns the exit code */
int learner_run(const Config *cfg, Runtime *rt, RunLog *log, const char *resume);

/* signals (set by the handlers, acted on by the learner at its next safe point) */
extern volatile int g_sig_usr1, g_sig_term, g_sig_int;

/* memory each role needs (bytes), for the start-up budget */
double roles_memory_learner(const Config *cfg);
double roles_memory_modelsvc(const Config *cfg);
double roles_memory_rollout(const Config *cfg);
double roles_memory_actor(const Config *cfg);

#endif
