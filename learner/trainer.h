/* trainer — the official order of operations (spec §3.3) in one process:
 *
 *   explore uniformly until the env buffer holds N_init transitions (episode ends only)
 *   for each epoch: t = 0; until t >= L and the env buffer holds min_pool_size:
 *       if t mod F == 0 and model-based: train the model (phase 1, + phase 2) and roll out
 *       one real env step per actor with a stochastic policy
 *       if the env buffer holds min_pool_size: G SAC updates per actor step
 *     evaluate (deterministic), write the metrics row
 *
 * The 1000-step episode cut is a truncation; real data enters the env buffer when its episode
 * ends (spec §3.10). Steps are counted on the official axis (exploration not counted). */
#ifndef USBPO_TRAINER_H
#define USBPO_TRAINER_H

#include "config.h"
#include "runlog.h"

typedef struct Trainer Trainer;

Trainer *trainer_make(const Config *cfg, RunLog *log, char *err, size_t errlen);
void trainer_free(Trainer *t);
/* runs to run.total_steps (or run.target_return); returns a process exit code */
int trainer_run(Trainer *t);

/* start-up memory budget in bytes (buffers at their largest, networks, workspaces) */
double trainer_memory_budget(const Config *cfg);

#endif
