/* rundir — see rundir.h. */
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "hooks.h"
#include "util.h"

#define MARKER ".moving"

static int g_lock_fd = -1; /* held until the process ends */

int rundir_lock(const char *run_dir, int *busy, char *err, size_t n) {
  *busy = 0;
  if (g_lock_fd >= 0) return 0;
  if (util_mkdirs(run_dir) != 0) {
    snprintf(err, n, "cannot create the run directory %s: %s", run_dir, strerror(errno));
    return -1;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/.run.lock", run_dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0) {
    snprintf(err, n, "cannot open the run directory's lock %s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, n, "%s is not a regular file", path);
    close(fd);
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    char who[256] = "";
    ssize_t got = pread(fd, who, sizeof who - 1, 0);
    who[got > 0 ? got : 0] = 0;
    who[strcspn(who, "\n")] = 0;
    close(fd);
    if (e == EWOULDBLOCK) {
      *busy = 1;
      snprintf(err, n,
               "run directory %s is in use by another process (%s): one run directory has one "
               "writer; wait for it to end, or stop it (SIGUSR1 or SIGTERM: it checkpoints)",
               run_dir, who[0] ? who : "its pid is not written yet");
    } else {
      snprintf(err, n, "cannot lock %s: %s", path, strerror(e));
    }
    return -1;
  }
  char host[128] = "?", line[400], when[32];
  gethostname(host, sizeof host);
  host[sizeof host - 1] = 0;
  time_t now = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  int len = snprintf(line, sizeof line, "pid %d host %s since %s\n", (int)getpid(), host, when);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
    /* the lock holds all the same; only the holder's description is missing */
    LOG_W("%s: cannot write the holder's pid: %s", path, strerror(errno));
  }
  g_lock_fd = fd;
  return 0;
}

/* a new directory <run>/before-restart-<time>[-k], created exclusively */
static int make_aside(const char *run_dir, char *aside, size_t n, char *err, size_t en) {
  const long long t = (long long)time(NULL);
  for (int k = 0; k < 10000; k++) {
    if (k == 0)
      snprintf(aside, n, "%s/before-restart-%lld", run_dir, t);
    else
      snprintf(aside, n, "%s/before-restart-%lld-%d", run_dir, t, k);
    if (mkdir(aside, 0755) == 0) return 0;
    if (errno != EEXIST) break;
  }
  snprintf(err, en, "cannot create %s: %s", aside, strerror(errno));
  return -1;
}

int rundir_set_aside(const char *run_dir, const char *const *names, int n_names, char *aside_out,
                     size_t aside_n, char *err, size_t n) {
  char aside[4200], from[8400], to[8400], list[8192] = "";
  size_t used = 0;
  int present[64] = {0}, any = 0;
  if (aside_out && aside_n) aside_out[0] = 0;
  for (int i = 0; i < n_names && i < 64; i++) {
    struct stat st;
    snprintf(from, sizeof from, "%s/%s", run_dir, names[i]);
    if (lstat(from, &st) == 0) {
      present[i] = 1, any = 1;
      used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0, "%s\n",
                               names[i]);
    }
  }
  if (!any) return 0;
  if (make_aside(run_dir, aside, sizeof aside, err, n) != 0) return -1;
  /* the marker first: a kill from here on leaves a set-aside the next start finishes */
  snprintf(to, sizeof to, "%s/" MARKER, aside);
  if (dur_write_file(to, list, strlen(list), err, n) != 0) {
    rmdir(aside);
    return -1;
  }
  const int64_t pause_ms = hook_int("ASIDE_PAUSE_MS", 0); /* test hook: a kill mid-move */
  for (int i = 0; i < n_names && i < 64; i++) {
    if (!present[i]) continue;
    snprintf(from, sizeof from, "%s/%s", run_dir, names[i]);
    snprintf(to, sizeof to, "%s/%s", aside, names[i]);
    if (rename(from, to) != 0) {
      snprintf(err, n, "cannot move %s aside to %s: %s", from, to, strerror(errno));
      /* all or nothing: what moved goes back */
      for (int j = 0; j < i; j++) {
        if (!present[j]) continue;
        snprintf(from, sizeof from, "%s/%s", run_dir, names[j]);
        snprintf(to, sizeof to, "%s/%s", aside, names[j]);
        if (rename(to, from) != 0)
          LOG_E("cannot put %s back to %s: %s (the marker %s/" MARKER " stays: the next start "
                "finishes the set-aside)",
                to, from, strerror(errno), aside);
      }
      snprintf(to, sizeof to, "%s/" MARKER, aside);
      unlink(to);
      rmdir(aside);
      return -1;
    }
    LOG_W("kept %s as %s", from, to);
    if (pause_ms > 0) {
      struct timespec ts = {(time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  dur_fsync_dir(aside);
  dur_fsync_dir(run_dir);
  snprintf(to, sizeof to, "%s/" MARKER, aside);
  if (unlink(to) != 0) {
    snprintf(err, n, "cannot remove %s: %s", to, strerror(errno));
    return -1;
  }
  dur_fsync_dir(aside);
  if (aside_out) snprintf(aside_out, aside_n, "%s", aside);
  return 0;
}

int rundir_finish_aside(const char *run_dir, char *err, size_t n) {
  DIR *d = opendir(run_dir);
  if (!d) return 0; /* no run directory: nothing to finish */
  int finished = 0, bad = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, "before-restart-", 15) != 0) continue;
    char marker[8400], list[8192];
    snprintf(marker, sizeof marker, "%s/%s/" MARKER, run_dir, de->d_name);
    FILE *f = fopen(marker, "r");
    if (!f) continue;
    size_t got = fread(list, 1, sizeof list - 1, f);
    fclose(f);
    list[got] = 0;
    for (char *save = NULL, *name = strtok_r(list, "\n", &save); name;
         name = strtok_r(NULL, "\n", &save)) {
      if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) continue;
      char from[8400], to[8400];
      struct stat st;
      snprintf(from, sizeof from, "%s/%s", run_dir, name);
      snprintf(to, sizeof to, "%s/%s/%s", run_dir, de->d_name, name);
      if (lstat(from, &st) != 0 || lstat(to, &st) == 0) continue; /* moved already */
      if (rename(from, to) != 0) {
        snprintf(err, n, "cannot finish the interrupted set-aside %s/%s: moving %s: %s", run_dir,
                 de->d_name, from, strerror(errno));
        bad = 1;
        break;
      }
      LOG_W("finished an interrupted set-aside: kept %s as %s", from, to);
    }
    if (bad) break;
    unlink(marker);
    finished++;
  }
  closedir(d);
  if (bad) return -1;
  if (finished) dur_fsync_dir(run_dir);
  return finished;
}
