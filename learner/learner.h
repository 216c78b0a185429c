/* learner/ — the learner role (rank 0), the coordinator: it owns SAC, the env buffer (a copy of
 * the real data) and the model buffer, and drives the schedule (sync.c: the official order of
 * operations; async.c: overlapped) by messages to the other roles.
 *
 * May use: common/core (SAC, the policy, setup), common/runtime, common/base. Never another
 * role's headers: the model service, rollout workers and actors are reached only by messages. */
#ifndef USBPO_LEARNER_H
#define USBPO_LEARNER_H

#include "config.h"
#include "runlog.h"
#include "runtime.h"

/* runs the schedule to the end (from the checkpoint directory resume when not NULL); returns
 * the exit code */
int learner_run(const Config *cfg, Runtime *rt, RunLog *log, const char *resume);

#endif
