/* sweep — an experiment file for usbpo_sweep: its types and its reader (sweep_exp.c). The file
 * format is documented at the top of usbpo_sweep.c. */
#ifndef USBPO_SWEEP_H
#define USBPO_SWEEP_H

#include <limits.h>
#include <stdint.h>

#define MAX_VARIANTS 64
#define MAX_SETS     64
#define MAX_ENVS     16
#define MAX_SEEDS    256

typedef struct {
  char label[64];
  char *sets[MAX_SETS];
  int nsets, line;
} Variant;

typedef struct {
  char file[PATH_MAX], name[128], base[PATH_MAX * 2], dir[PATH_MAX], root[PATH_MAX * 2];
  char envs[MAX_ENVS][64];
  int nenvs; /* 0: the base config's own environment */
  int64_t seeds[MAX_SEEDS];
  int nseeds;
  int64_t total_steps;
  int steps_line, ranks;
  char baseline[64];
  double threshold;
  int has_threshold;
  Variant var[MAX_VARIANTS];
  int nvar;
  char plots[8][128]; /* extra figures in the report: a metrics column, or A-B */
  int nplots;
} Exp;

/* read and check an experiment file: 0, or -1 with every error printed as file:line:col */
int sweep_load_exp(const char *file, Exp *x);
/* the key of a "section.key=value" override that the sweep sets for each cell itself (seed,
 * budget, run directory and name, environment, resume), or NULL */
const char *sweep_owned_key(const char *set);
/* print "file:line:col: message" (line 0: "file: message"); returns -1 */
int sweep_fail_at(const char *file, int line, int col, const char *fmt, ...);

#endif
