#include "runlog.h"

#include "ckfile.h"
#include "tfevents.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "hooks.h"
#include "util.h"

struct RunLog {
  char dir[1024];
  FILE *metrics, *episodes, *log;
  TfEvents *tb; /* TensorBoard events (log.tensorboard), or NULL */
  double t_start, t_last_progress;
  double progress_s;
  double t_base; /* the rate counts from the first progress line with steps */
  int64_t steps_base, epoch_length;
  double last_pct; /* the progress line's percentage never decreases */
  char tag[256];
  uint64_t run_id;
  char failed[1400]; /* the first write that failed ("" = none) */
};

/* a stream's write error, remembered (the learner stops at its next safe point) */
static int note(RunLog *r, FILE *f, const char *name, int flush) {
  errno = 0;
  if ((flush && fflush(f) != 0) || ferror(f)) {
    int e = errno ? errno : EIO;
    if (!r->failed[0])
      snprintf(r->failed, sizeof r->failed, "cannot write %s/%s: %s", r->dir, name, strerror(e));
    return -1;
  }
  return 0;
}

const char *runlog_failed(const RunLog *r) {
  return r && r->failed[0] ? r->failed : NULL;
}

static const char *COLS[] = {
#define X(name, wall) #name,
    METRICS_COLUMNS
#undef X
};
static const int WALL[] = {
#define X(name, wall) wall,
    METRICS_COLUMNS
#undef X
};
#define NCOLS ((int)(sizeof COLS / sizeof COLS[0]))

int metrics_ncols(void) {
  return NCOLS;
}

/* USBPO_TEST_OLD_METRICS=<column>: this process writes metrics.csv and the learner's checkpoints
 * as an older usbpo without that column would (the upgrade test); -1 = off */
static int gone_col(void) {
  static int gone = -2;
  if (gone == -2) {
    const char *e = hook_str("OLD_METRICS");
    gone = -1;
    for (int i = 0; e && i < NCOLS; i++)
      if (!strcmp(e, COLS[i])) gone = i;
  }
  return gone;
}

int metrics_saved_ncols(void) {
  return NCOLS - (gone_col() >= 0);
}

/* metrics.csv's header line, with its newline; the length */
static size_t header_text(char *buf, size_t n) {
  size_t len = 0;
  for (int i = 0; i < NCOLS; i++)
    if (i != gone_col())
      len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "," : "", COLS[i]);
  return len + (size_t)snprintf(buf + len, n - len, "\n");
}

void metrics_pack(const Metrics *m, double *out) {
  const double *v = (const double *)m;
  for (int i = 0, j = 0; i < NCOLS; i++)
    if (i != gone_col()) out[j++] = v[i];
}
const char *metrics_col_name(int i) {
  return COLS[i];
}
int metrics_col_is_wall(int i) {
  return WALL[i];
}
double metrics_get(const Metrics *m, int i) {
  return ((const double *)m)[i];
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* write a file atomically (durable.h) */
static int write_atomic_bytes(const char *dir, const char *name, const void *data, size_t len) {
  char path[1200], err[1400];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (dur_write_file(path, data, len, err, sizeof err) == 0) return 0;
  LOG_E("%s", err);
  return -1;
}

static int write_atomic(const char *dir, const char *name, const char *text) {
  return write_atomic_bytes(dir, name, text, strlen(text));
}

int runlog_write_file(RunLog *r, const char *name, const void *data, size_t len) {
  return write_atomic_bytes(r->dir, name, data, len);
}

/* random, never 0: wall clock, pid and the kernel's entropy (not any stream of the run's) */
static uint64_t new_run_id(void) {
  uint64_t id = 0;
  FILE *f = fopen("/dev/urandom", "rb");
  if (f) {
    if (fread(&id, sizeof id, 1, f) != 1) id = 0;
    fclose(f);
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  id ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^
        ((uint64_t)getpid() << 32);
  return id ? id : 1;
}

uint64_t runlog_read_run_id(const char *run_dir) {
  char path[1200], text[64] = "";
  snprintf(path, sizeof path, "%s/run.id", run_dir);
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  return strtoull(text, NULL, 16);
}

uint64_t runlog_run_id(const RunLog *r) {
  return r ? r->run_id : 0;
}

RunLog *runlog_open(const Config *cfg, RunLogMode mode, char *err, size_t errlen) {
  RunLog *r = xmalloc(sizeof *r);
  char name[256];
  cfg_run_name(cfg, name, sizeof name);
  snprintf(r->dir, sizeof r->dir, "%s/%s", cfg->run.dir, name);
  snprintf(r->tag, sizeof r->tag, "%s", name);
  char mpath[1200];
  snprintf(mpath, sizeof mpath, "%s/metrics.csv", r->dir);
  int exists = file_exists(mpath);
  if (exists && mode == RUNLOG_FRESH && !cfg->run.overwrite) {
    snprintf(err, errlen,
             "run directory %s already holds a run (metrics.csv): resume it with --resume, "
             "overwrite it with --set run.overwrite=true, or choose another run.name",
             r->dir);
    xfree(r);
    return NULL;
  }
  if (util_mkdirs(r->dir) != 0) {
    const int e = errno;
    snprintf(err, errlen, "cannot create run directory %s: %s", r->dir, strerror(e));
    xfree(r);
    errno = e;
    return NULL;
  }
  /* the run's identity: made at a fresh start, kept by every resume (checkpoints carry it) */
  r->run_id = mode == RUNLOG_RESUME ? runlog_read_run_id(r->dir) : 0;
  if (!r->run_id) {
    char idtext[32];
    r->run_id = new_run_id();
    snprintf(idtext, sizeof idtext, "%016llx\n", (unsigned long long)r->run_id);
    if (write_atomic(r->dir, "run.id", idtext) != 0) {
      const int e = errno;
      snprintf(err, errlen, "cannot write %s/run.id: %s", r->dir, strerror(e));
      xfree(r);
      errno = e; /* the caller tells an I/O failure (exit 4) from others */
      return NULL;
    }
  }
  char *dump = cfg_dump_string(cfg);
  if (write_atomic(r->dir, "config.toml", dump) != 0) {
    const int e = errno;
    snprintf(err, errlen, "cannot write %s/config.toml: %s", r->dir, strerror(e));
    free(dump);
    xfree(r);
    errno = e;
    return NULL;
  }
  free(dump);
  const char *fm = mode == RUNLOG_RESUME ? "a" : "w";
  char path[1200];
  snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
  r->metrics = fopen(path, fm);
  snprintf(path, sizeof path, "%s/episodes.csv", r->dir);
  int ep_exists = file_exists(path);
  r->episodes = fopen(path, fm);
  snprintf(path, sizeof path, "%s/log.txt", r->dir);
  r->log = fopen(path, "a");
  if (r->metrics) fseek(r->metrics, 0, SEEK_END);
  if (r->episodes) fseek(r->episodes, 0, SEEK_END);
  if (!r->metrics || !r->episodes || !r->log) {
    const int e = errno;
    snprintf(err, errlen, "cannot open the outputs in %s: %s", r->dir, strerror(e));
    runlog_close(r);
    errno = e;
    return NULL;
  }
  if (mode == RUNLOG_FRESH || !exists) {
    char header[64 * NCOLS];
    fwrite(header, 1, header_text(header, sizeof header), r->metrics);
    fflush(r->metrics);
  }
  if (mode == RUNLOG_FRESH || !ep_exists) {
    fprintf(r->episodes, "episode,actor,env_steps,kind,return,length,terminated\n");
    fflush(r->episodes);
  }
  r->tb = NULL;
  if (cfg->log.tensorboard) {
    char ev[1300];
    /* a fresh run replaces the events of the one it overwrites */
    while (mode == RUNLOG_FRESH && tfe_find(r->dir, ev, sizeof ev) == 0 && unlink(ev) == 0) {
    }
    r->tb = tfe_open(r->dir, mode == RUNLOG_RESUME, err, errlen);
    if (!r->tb) {
      runlog_close(r);
      return NULL;
    }
  }
  log_set_file(r->log);
  r->t_start = util_now();
  r->t_last_progress = r->t_start;
  r->progress_s = cfg->log.progress_s;
  r->t_base = -1;
  r->epoch_length = cfg->env.epoch_length;
  return r;
}

void runlog_close(RunLog *r) {
  if (!r) return;
  log_set_file(NULL);
  if (r->metrics) fclose(r->metrics);
  if (r->episodes) fclose(r->episodes);
  if (r->log) fclose(r->log);
  tfe_close(r->tb);
  xfree(r);
}

const char *runlog_dir(const RunLog *r) {
  return r->dir;
}

void runlog_metrics(RunLog *r, const Metrics *m) {
  const double *v = (const double *)m;
  for (int i = 0, j = 0; i < NCOLS; i++) {
    if (i == gone_col()) continue;
    if (j++) fputc(',', r->metrics);
    if (isnan(v[i]))
      fputs("nan", r->metrics);
    else if (v[i] == floor(v[i]) && fabs(v[i]) < 1e15)
      fprintf(r->metrics, "%.0f", v[i]);
    else
      fprintf(r->metrics, "%.9g", v[i]);
  }
  fputc('\n', r->metrics);
  note(r, r->metrics, "metrics.csv", 1);
  if (r->tb && tfe_scalars(r->tb, util_wall_time(), (int64_t)m->env_steps, NCOLS, COLS, v) != 0)
    LOG_W("could not append to the TensorBoard events file in %s", r->dir);
}

void runlog_episode(RunLog *r, int64_t index, int actor, int64_t env_steps, int kind, double ret,
                    int length, int terminated) {
  static const char *kinds[] = {"explore", "train", "eval"};
  fprintf(r->episodes, "%lld,%d,%lld,%s,%.9g,%d,%d\n", (long long)index, actor,
          (long long)env_steps, kinds[kind], ret, length, terminated);
  note(r, r->episodes, "episodes.csv", 0);
}

void runlog_progress(RunLog *r, int64_t steps, int64_t total, int64_t epoch, double last_eval,
                     double updates_s, int force) {
  double now = util_now();
  if (!force && now - r->t_last_progress < r->progress_s) return;
  double el = now - r->t_start;
  if (r->t_base < 0) r->t_base = now, r->steps_base = steps;
  /* every env step counts (exploration included), so the count never steps back; the rate is
   * this process's (a resumed run starts at its checkpoint's step); no ETA before an epoch's
   * worth of steps (exploration and the first model training come first) */
  if (total < steps) total = steps;
  double pct = total ? 100.0 * (double)steps / (double)total : 0;
  if (pct < r->last_pct) pct = r->last_pct; /* a total revised upwards never moves it back */
  r->last_pct = pct;
  const int64_t done = steps - r->steps_base;
  double rate = now > r->t_base ? done / (now - r->t_base) : 0;
  char etas[32] = "-";
  if (rate > 0 && (done >= r->epoch_length || steps >= total)) {
    double eta = (total - steps) / rate;
    snprintf(etas, sizeof etas, "%dh%02dm", (int)(eta / 3600), (int)fmod(eta / 60, 60));
  }
  char evs[32];
  if (isnan(last_eval))
    snprintf(evs, sizeof evs, "-");
  else
    snprintf(evs, sizeof evs, "%.1f", last_eval);
  fprintf(stderr,
          "usbpo: [%s] env step %lld/%lld (%.1f%%), epoch %lld | %.1f steps/s | %.0f updates/s "
          "| eval %s | elapsed %dh%02dm | ETA %s\n",
          r->tag, (long long)steps, (long long)total, pct, (long long)epoch, rate, updates_s, evs,
          (int)(el / 3600), (int)fmod(el / 60, 60), etas);
  note(r, r->episodes, "episodes.csv", 1);
  r->t_last_progress = now;
}

int runlog_flush(RunLog *r) {
  int a = note(r, r->metrics, "metrics.csv", 1), b = note(r, r->episodes, "episodes.csv", 1);
  int c = note(r, r->log, "log.txt", 1);
  return a || b || c ? -1 : 0;
}

void runlog_offsets(RunLog *r, int64_t *metrics, int64_t *episodes, int64_t *events) {
  runlog_flush(r);
  *metrics = (int64_t)ftell(r->metrics);
  *episodes = (int64_t)ftell(r->episodes);
  *events = r->tb ? tfe_offset(r->tb) : -1;
}

int runlog_prefix_sum(const char *path, int64_t n, uint64_t *sum) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < n) {
    close(fd);
    return -1;
  }
  CkptSum cs;
  ckpt_sum_init(&cs);
  char buf[65536];
  int64_t left = n;
  while (left > 0) {
    ssize_t got = read(fd, buf, (size_t)(left < (int64_t)sizeof buf ? left : (int64_t)sizeof buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      close(fd);
      return -1;
    }
    ckpt_sum_add(&cs, buf, (size_t)got);
    left -= got;
  }
  close(fd);
  *sum = ckpt_sum_end(&cs);
  return 0;
}

/* cut path back to exactly `at` bytes; a file shorter than that is refused, never padded */
static int cut_to(const char *path, int64_t at, char *err, size_t errlen) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s is %s, not a regular file", path,
             S_ISFIFO(st.st_mode)  ? "a FIFO"
             : S_ISLNK(st.st_mode) ? "a symbolic link"
             : S_ISDIR(st.st_mode) ? "a directory"
                                   : "a special file");
    return -1;
  }
  if (st.st_size < at) {
    snprintf(err, errlen,
             "%s has %lld bytes, shorter than the %lld its checkpoint recorded (cut or replaced "
             "since?)",
             path, (long long)st.st_size, (long long)at);
    return -1;
  }
  if (truncate(path, at) != 0) { /* a write that failed (read-only, immutable): -2 */
    snprintf(err, errlen, "cannot cut %s to %lld bytes: %s", path, (long long)at, strerror(errno));
    return -2;
  }
  return 0;
}

int runlog_truncate(const Config *cfg, int64_t metrics, int64_t episodes, int64_t events, char *err,
                    size_t errlen) {
  char name[256], path[1200], dir[1100];
  cfg_run_name(cfg, name, sizeof name);
  snprintf(dir, sizeof dir, "%s/%s", cfg->run.dir, name);
  snprintf(path, sizeof path, "%s/metrics.csv", dir);
  int rc = metrics >= 0 ? cut_to(path, metrics, err, errlen) : 0;
  if (rc != 0) return rc;
  snprintf(path, sizeof path, "%s/episodes.csv", dir);
  if ((rc = cut_to(path, episodes, err, errlen)) != 0) return rc;
  if (events >= 0 && tfe_find(dir, path, sizeof path) == 0)
    return cut_to(path, events, err, errlen);
  return 0;
}

/* ---- a run written by a usbpo with another metrics layout ---- */

static void kept_name(const char *run_dir, int old_n, char *out, size_t n) {
  snprintf(out, n, "%s/metrics-%dcols.csv", run_dir, old_n);
}

/* the old header's names → map[i] = the old position of this version's column i, or -1; the
 * old names this version does not have are appended to `gone` (if not NULL). Cuts `line`. */
static int map_header(char *line, int old_n, int *map, char *gone, size_t gone_n, char *err,
                      size_t errlen) {
  const char *names[512];
  int n = 0, used[512] = {0};
  for (char *save = NULL, *t = strtok_r(line, ",\r\n", &save); t && n < 512;
       t = strtok_r(NULL, ",\r\n", &save))
    names[n++] = t;
  if (n != old_n) {
    snprintf(err, errlen, "its header has %d columns, its checkpoint %d", n, old_n);
    return -1;
  }
  for (int i = 0; i < NCOLS; i++) {
    map[i] = -1;
    for (int k = 0; k < n; k++)
      if (!strcmp(names[k], COLS[i])) map[i] = k, used[k] = 1;
  }
  for (int k = 0; gone && k < n; k++)
    if (!used[k]) snprintf(gone + strlen(gone), gone_n - strlen(gone), " %s", names[k]);
  return 0;
}

int metrics_old_map(const char *run_dir, int old_n, int *map, char *err, size_t errlen) {
  char path[1200], line[8192];
  kept_name(run_dir, old_n, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  int ok = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  if (!ok) {
    snprintf(err, errlen, "%s: no header", path);
    return -1;
  }
  return map_header(line, old_n, map, NULL, 0, err, errlen);
}

int runlog_migrate_metrics(const Config *cfg, int64_t bytes, int old_n, char *err, size_t errlen) {
  char name[256], dir[1100], cur[1200], kept[1200];
  cfg_run_name(cfg, name, sizeof name);
  snprintf(dir, sizeof dir, "%s/%s", cfg->run.dir, name);
  snprintf(cur, sizeof cur, "%s/metrics.csv", dir);
  kept_name(dir, old_n, kept, sizeof kept);
  /* the original is kept whole and is always the source: a second resume from the same
   * checkpoint (after a crash) rebuilds the same file */
  if (!file_exists(kept) && rename(cur, kept) != 0) {
    snprintf(err, errlen, "cannot keep %s as %s: %s", cur, kept, strerror(errno));
    return -1;
  }
  FILE *f = fopen(kept, "r");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0 || st.st_size < bytes) {
    snprintf(err, errlen, "%s: %s", kept, f ? "shorter than its checkpoint says" : strerror(errno));
    if (f) fclose(f);
    return -1;
  }
  char *old = xmalloc((size_t)bytes + 1);
  size_t got = fread(old, 1, (size_t)bytes, f);
  fclose(f);
  old[got] = 0;
  char *nl = strchr(old, '\n');
  int map[NCOLS];
  if (got != (size_t)bytes || !nl) {
    snprintf(err, errlen, "%s: cannot read its first %lld bytes", kept, (long long)bytes);
    xfree(old);
    return -1;
  }
  *nl = 0;
  char *rows = nl + 1, why[256], dropped[1024] = "";
  if (map_header(old, old_n, map, dropped, sizeof dropped, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s: %s", kept, why);
    xfree(old);
    return -1;
  }
  /* this layout: the old cells by name, "nan" where the old version had no such column */
  size_t cap = (size_t)bytes * 2 + 64 * NCOLS + 4096;
  char *out = xmalloc(cap);
  size_t len = header_text(out, cap);
  int nrows = 0;
  const char *cells[512];
  for (char *save = NULL, *row = strtok_r(rows, "\n", &save); row;
       row = strtok_r(NULL, "\n", &save)) {
    int n = 0;
    for (char *p = row; n < 512;) { /* cells may be empty: split by hand */
      cells[n++] = p;
      char *c = strchr(p, ',');
      if (!c) break;
      *c = 0;
      p = c + 1;
    }
    if (n != old_n) {
      snprintf(err, errlen, "%s: row %d has %d cells, not %d", kept, nrows + 2, n, old_n);
      xfree(old), xfree(out);
      return -1;
    }
    for (int i = 0; i < NCOLS; i++) {
      const char *c = map[i] >= 0 ? cells[map[i]] : "nan";
      if (len + strlen(c) + 2 > cap) {
        out = xrealloc(out, cap, cap * 2);
        cap *= 2;
      }
      len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", c);
    }
    out[len++] = '\n';
    nrows++;
  }
  int rc = write_atomic_bytes(dir, "metrics.csv", out, len);
  if (rc != 0)
    snprintf(err, errlen, "cannot write %s: %s", cur, strerror(errno));
  else {
    char added[1024] = "";
    for (int i = 0; i < NCOLS; i++)
      if (map[i] < 0) snprintf(added + strlen(added), sizeof added - strlen(added), " %s", COLS[i]);
    LOG_W("metrics.csv was written by a usbpo with %d columns, this one has %d: %d row(s) "
          "rewritten by column name (new:%s; gone:%s), the original kept as %s",
          old_n, NCOLS, nrows, added[0] ? added : " none", dropped[0] ? dropped : " none", kept);
  }
  xfree(old), xfree(out);
  return rc;
}
