/* runlog — the run directory a researcher looks at: resolved config.toml, metrics.csv (one row
 * per epoch), episodes.csv (every real episode), log.txt, and the progress line on stderr.
 *
 * Columns are listed once (METRICS_COLUMNS); wall-clock columns are marked so that tests of
 * the determinism promise can ignore exactly those. */
#ifndef USBPO_RUNLOG_H
#define USBPO_RUNLOG_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

#include "metrics_cols.h"

typedef struct {
#define X(name, wall) double name;
  METRICS_COLUMNS
#undef X
} Metrics;

typedef struct RunLog RunLog;

typedef enum { RUNLOG_FRESH = 0, RUNLOG_RESUME = 1 } RunLogMode;

/* the run directory <run.dir>/<name>; refuses to reuse an existing run unless overwrite or
 * resume. NULL with a message on failure. */
RunLog *runlog_open(const Config *cfg, RunLogMode mode, char *err, size_t errlen);
void runlog_close(RunLog *r);
const char *runlog_dir(const RunLog *r);
/* the run's identity (<run>/run.id, made at a fresh start); 0 when the file is absent */
uint64_t runlog_read_run_id(const char *run_dir);
uint64_t runlog_run_id(const RunLog *r);
/* the first write to the run's outputs that failed (disk full, read-only, file size limit), as
 * a message, or NULL: the run must stop (its rows are not lost: a resume recomputes them from
 * the last checkpoint) */
const char *runlog_failed(const RunLog *r);

void runlog_metrics(RunLog *r, const Metrics *m);
void runlog_episode(RunLog *r, int64_t index, int actor, int64_t env_steps, int kind, double ret,
                    int length, int terminated);
enum { EP_EXPLORE = 0, EP_TRAIN = 1, EP_EVAL = 2 };

/* progress line on stderr, at most every cfg log.progress_s seconds unless force: steps and
 * total count every env step (exploration included: a count that only goes forward), epoch the
 * epoch in progress */
void runlog_progress(RunLog *r, int64_t steps, int64_t total, int64_t epoch, double last_eval,
                     double updates_s, int force);

/* flush, and the byte sizes of metrics.csv and episodes.csv (a checkpoint records them; a
 * resume truncates the files back to them) */
int runlog_flush(RunLog *r); /* -1 when a write failed (runlog_failed) */
void runlog_offsets(RunLog *r, int64_t *metrics, int64_t *episodes, int64_t *events);
/* the checksum (ckpt_sum) of a file's first n bytes: 0, or -1 (unreadable, not a regular file,
 * shorter than n) */
int runlog_prefix_sum(const char *path, int64_t n, uint64_t *sum);
/* truncate a run's CSV files to recorded sizes (before runlog_open on resume); metrics < 0
 * leaves metrics.csv alone. 0; -1 when a file is not what the checkpoint recorded (missing,
 * shorter, not a regular file); -2 when cutting it failed (a write: read-only, immutable) */
int runlog_truncate(const Config *cfg, int64_t metrics, int64_t episodes, int64_t events, char *err,
                    size_t errlen);

/* resuming a checkpoint written by a usbpo with another metrics layout (old_n columns): the
 * run's metrics.csv, cut at the checkpoint's `bytes`, is rewritten in this layout with the cells
 * matched by column name ("nan" in a column the old version did not have); the original is kept
 * whole as metrics-<old_n>cols.csv and is the source of any later rewrite */
int runlog_migrate_metrics(const Config *cfg, int64_t bytes, int old_n, char *err, size_t errlen);
/* from that kept original: map[i] = the old position of column i of this version, or -1 */
int metrics_old_map(const char *run_dir, int old_n, int *map, char *err, size_t errlen);

/* write bytes to <run dir>/<name> atomically (temp, fsync, rename, fsync the directory) */
int runlog_write_file(RunLog *r, const char *name, const void *data, size_t len);

/* column names, for tests and tools */
int metrics_ncols(void);
/* the values a checkpoint holds (all columns, or fewer under the upgrade test's hook) */
int metrics_saved_ncols(void);
void metrics_pack(const Metrics *m, double *out);
const char *metrics_col_name(int i);
int metrics_col_is_wall(int i);
double metrics_get(const Metrics *m, int i);

#endif
