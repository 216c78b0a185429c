/* durable — see durable.h. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "util.h"

struct DurableFile {
  FILE *f;
  int id;  /* which durable file this is since the injection was armed */
  int err; /* errno of the first failed write */
  char dir[1024], tmp[1200], path[1200];
};

static const char *const STEP[DUR_NSTEPS] = {"create", "write",  "flush",          "fsync",
                                             "close",  "rename", "directory fsync"};
const char *dur_step_name(int step) {
  return step >= 0 && step < DUR_NSTEPS ? STEP[step] : "?";
}

/* failure injection: fail_step of the fail_nth file opened after arming */
static int fail_step = -1, fail_nth, opened;
static int armed_from_env;

void dur_inject_failure(int step, int nth) {
  fail_step = step;
  fail_nth = nth < 1 ? 1 : nth;
  opened = 0;
  armed_from_env = 1;
}

static void arm_from_env(void) {
  if (armed_from_env) return;
  armed_from_env = 1;
  const char *v = hook_str("DURABLE_FAIL");
  if (!v) return;
  for (int s = 0; s < DUR_NSTEPS; s++) {
    size_t n = strlen(STEP[s]);
    if (!strncmp(v, STEP[s], n) && (v[n] == 0 || v[n] == ':'))
      dur_inject_failure(s, v[n] == ':' ? atoi(v + n + 1) : 1);
  }
}

/* does this step of this file fail by injection? (errno set as a full disk would) */
static int injected(const DurableFile *d, int step) {
  if (fail_step != step || d->id != fail_nth) return 0;
  errno = step == DUR_RENAME ? EACCES : ENOSPC;
  return 1;
}

static void split_dir(const char *path, char *dir, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, n, ".");
  else if (slash == path)
    snprintf(dir, n, "/");
  else
    snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

DurableFile *dur_open(const char *path, char *err, size_t errlen) {
  arm_from_env();
  DurableFile *d = xmalloc(sizeof *d);
  memset(d, 0, sizeof *d);
  d->id = ++opened;
  const char *slash = strrchr(path, '/');
  split_dir(path, d->dir, sizeof d->dir);
  snprintf(d->path, sizeof d->path, "%s", path);
  snprintf(d->tmp, sizeof d->tmp, "%s/.%s.tmp", d->dir, slash ? slash + 1 : path);
  d->f = injected(d, DUR_OPEN) ? NULL : fopen(d->tmp, "wb");
  if (!d->f) {
    snprintf(err, errlen, "cannot create %s: %s", d->tmp, strerror(errno));
    xfree(d);
    return NULL;
  }
  setvbuf(d->f, NULL, _IOFBF, 1 << 20);
  return d;
}

int dur_write(DurableFile *d, const void *data, size_t n) {
  if (d->err) return -1;
  if (injected(d, DUR_WRITE) || fwrite(data, 1, n, d->f) != n) {
    d->err = errno ? errno : EIO;
    return -1;
  }
  return 0;
}

int dur_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int dur_commit(DurableFile *d, char *err, size_t errlen) {
  int step = -1, e = 0;
  if (d->err)
    step = DUR_WRITE, e = d->err;
  else if (injected(d, DUR_FLUSH) || fflush(d->f) != 0)
    step = DUR_FLUSH, e = errno;
  else if (injected(d, DUR_FSYNC) || fsync(fileno(d->f)) != 0)
    step = DUR_FSYNC, e = errno;
  int closed = fclose(d->f);
  if (step < 0 && (injected(d, DUR_CLOSE) || closed != 0)) step = DUR_CLOSE, e = errno;
  if (step < 0 && (injected(d, DUR_RENAME) || rename(d->tmp, d->path) != 0))
    step = DUR_RENAME, e = errno;
  if (step >= 0) {
    snprintf(err, errlen, "%s of %s failed: %s", STEP[step], step == DUR_RENAME ? d->path : d->tmp,
             strerror(e));
    unlink(d->tmp);
    xfree(d);
    return -1;
  }
  /* renamed: the new file is in place; the directory entry is made durable */
  if (injected(d, DUR_DIRSYNC) || dur_fsync_dir(d->dir) != 0) {
    snprintf(err, errlen, "directory fsync of %s failed: %s", d->dir, strerror(errno));
    xfree(d);
    return -1;
  }
  xfree(d);
  return 0;
}

void dur_abort(DurableFile *d) {
  if (!d) return;
  fclose(d->f);
  unlink(d->tmp);
  xfree(d);
}

int dur_write_file(const char *path, const void *data, size_t n, char *err, size_t errlen) {
  DurableFile *d = dur_open(path, err, errlen);
  if (!d) return -1;
  dur_write(d, data, n);
  return dur_commit(d, err, errlen);
}
