/* runfile — the experiment tools' one reader of run files (a run's metrics.csv, or any CSV with
 * a header line) and of the published reference curves, and their one way of writing a report
 * file; plus where the tools find their data.
 *
 * Reading: a path must name a regular file; it is opened without blocking and its type checked
 * first, so a FIFO, a device or a directory is refused with a message instead of hanging the
 * caller. Columns are picked by name. A row whose picked cells are not numbers ("nan" and "inf"
 * are numbers: they are counted as non-finite, not as bad) or that has fewer fields than the
 * header is a bad row: named (file:line) and counted, never silently taken; a last line without
 * its newline is a row still being written and is left out. */
#ifndef USBPO_RUNFILE_H
#define USBPO_RUNFILE_H

#include <stddef.h>

#define RF_MAX_COLS 12

typedef struct {
  int ncols;
  double *v[RF_MAX_COLS]; /* v[c][i]: column c of good row i (NAN: the column is absent) */
  int *line;              /* the file line of good row i */
  int n;                  /* good rows */
  int bad;                /* bad rows (torn, or not numbers) */
  int nonfinite;          /* good rows with a non-finite cell in a required column */
  char first_bad[320];    /* "file:line: why" of the first bad row */
  int last_bad;           /* the last complete row is bad (a run that ended on a torn row) */
} RunCols;

/* the whole of a regular file (NUL-terminated): NULL with the reason in err */
char *rf_read_regular(const char *path, size_t *len, char *err, size_t n);

/* the named columns of a CSV with a header; a column in `required` (a mask of bits by index)
 * must exist, the others are NAN when absent. 0, or -1 with the reason in err (unreadable, not a
 * regular file, no header, a required column missing) */
int rf_read_cols(const char *path, const char *const *names, int ncols, unsigned required,
                 RunCols *out, char *err, size_t n);
void rf_free_cols(RunCols *c);

/* a published curve (columns step,time,reward,seed; step counts every env step), rows in file
 * order: 0, or -1 with the reason (absent: *n = 0 and 0 when missing_ok) */
typedef struct {
  double step, reward;
  int seed;
} PubRow;
int rf_read_published(const char *path, PubRow **rows, int *n, int missing_ok, char *err,
                      size_t en);

/* write a whole output file, never through a symbolic link (refused) and atomically (a
 * temporary beside it, renamed): 0, or -1 with the reason in err */
int rf_write_output(const char *path, const void *data, size_t len, char *err, size_t n);
/* 0 if path may be written as an output (it is absent or a regular file, not a symbolic link),
 * else -1 with the reason */
int rf_output_ok(const char *path, char *err, size_t n);

/* where the tools find their data and their sibling programs:
 *   rf_data_path("slurm/usbpo.sbatch") and rf_data_path("reference/published/...") look in
 *   $USBPO_DATA, then <the program's directory>/../share/usbpo (an installed layout), then the
 *   source tree the program was built from (deploy/slurm, docs/reference); the first that holds
 *   the file wins. out receives the path ("" with -1 when none does). */
int rf_data_path(const char *rel, char *out, size_t n);
/* <the program's directory>/<name> (usbpo_dist, usbpo_plot beside usbpo_sweep) */
void rf_sibling(const char *name, char *out, size_t n);

#endif
