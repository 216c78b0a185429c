/* hooks — see hooks.h. */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const HOOKS[] = {
    "INJECT_SAC_NAN",   /* SAC update number whose result is made non-finite (learner) */
    "INJECT_MODEL_NAN", /* model training number that diverges (model service) */
    "STALL",            /* "rank:seconds": that rank stops answering (liveness tests) */
    "OLD_METRICS",      /* metrics.csv written with an older column layout (upgrade tests) */
    "DURABLE_FAIL",     /* "step[:nth]": the nth durable write fails at that step (durable.h) */
    "CPU",              /* "avx2,avx512f,avx512bf16": the CPU's vector extensions (blasinfo.h) */
    "BLAS_CORE",        /* the kernel OpenBLAS is taken to have loaded (blasinfo.h) */
    "EXPLORE_BURST",    /* exploration steps per round trip (learner; 1: one at a time) */
    "SLOW_CKPT",        /* seconds a checkpoint asked for by a signal waits first (learner) */
    "ASIDE_PAUSE_MS",   /* milliseconds between the moves of a set-aside (rundir.h) */
    "TRACE",            /* a file: the learner's schedule, one event per line (semantic tests) */
};

const char *hook_str(const char *name) {
  size_t n = sizeof HOOKS / sizeof HOOKS[0], i = 0;
  while (i < n && strcmp(HOOKS[i], name) != 0) i++;
  CHECK(i < n, "unknown test hook '%s'", name);
  char var[64];
  snprintf(var, sizeof var, "USBPO_TEST_%s", name);
  return getenv(var);
}

int64_t hook_int(const char *name, int64_t dflt) {
  const char *v = hook_str(name);
  return v ? atoll(v) : dflt;
}
