/* rolekit — what every role shares on the runtime, without knowing any role's work: where the
 * run's files are, a role's checkpoint file and its answer to the learner, and the signal
 * flags (set by the handlers in usbpo_dist.c, acted on by the learner at its next safe point). */
#ifndef USBPO_ROLEKIT_H
#define USBPO_ROLEKIT_H

#include <stddef.h>
#include <stdint.h>

#include "ckfile.h"
#include "config.h"
#include "runtime.h"

/* <run.dir>/<run name> */
void rk_run_dir(const Config *cfg, char *out, size_t n);
/* a role's checkpoint file name: "<role>-<idx>.ckpt" */
void rk_ckpt_name(int role, int idx, char *out, size_t n);
/* a role's checkpoint: its file <run>/ckpt/<step>/<role>-<idx>.ckpt written by save, then
 * the answer to the learner (done, size, checksum) */
void rk_checkpoint(const Config *cfg, Runtime *rt, int role, int idx, int64_t step, CkptSaveFn save,
                   void *obj);

/* signals (set by the handlers, acted on by the learner at its next safe point) */
extern volatile int g_sig_usr1, g_sig_term, g_sig_int; /* g_sig_term: SIGTERM or SIGHUP */
/* "SIGTERM", "SIGHUP" or "SIGINT": the stop signal that arrived, for the log */
const char *rk_stop_signal_name(void);

#endif
