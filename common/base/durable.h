/* durable — files that must survive a crash (checkpoints, their MANIFEST, the final policy, the
 * resolved config, rewritten CSVs). A file is written to a temporary beside its target
 * (".<name>.tmp"), flushed, fsync'ed, closed, renamed over the target, and the directory is
 * fsync'ed. Until the rename the old file is untouched; on a failure at any step the temporary
 * is removed and the error names the step and the file. */
#ifndef USBPO_DURABLE_H
#define USBPO_DURABLE_H

#include <stddef.h>

typedef struct DurableFile DurableFile;

/* NULL with the reason on failure */
DurableFile *dur_open(const char *path, char *err, size_t errlen);
/* 0, or -1 (the error is remembered and reported by dur_commit) */
int dur_write(DurableFile *d, const void *data, size_t n);
/* flush, fsync, close, rename, fsync the directory; frees d. 0, or -1 with the reason (the
 * temporary removed, the target as it was) */
int dur_commit(DurableFile *d, char *err, size_t errlen);
/* give up: the temporary is removed, the target stays as it was; frees d */
void dur_abort(DurableFile *d);

/* the whole file at once */
int dur_write_file(const char *path, const void *data, size_t n, char *err, size_t errlen);
/* fsync a directory (after a rename or an unlink in it) */
int dur_fsync_dir(const char *dir);

/* the steps, for failure injection in tests (USBPO_TEST_DURABLE_FAIL=step[:nth], or
 * dur_inject_failure): the nth durable file from now (1 = the next) fails at that step */
enum { DUR_OPEN, DUR_WRITE, DUR_FLUSH, DUR_FSYNC, DUR_CLOSE, DUR_RENAME, DUR_DIRSYNC, DUR_NSTEPS };
const char *dur_step_name(int step);
void dur_inject_failure(int step, int nth); /* step -1: none */

#endif
