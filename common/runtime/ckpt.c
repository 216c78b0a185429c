/* ckpt — see ckpt.h. */
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "util.h"

/* ---- directories ---- */

int ckpt_write_manifest(const char *dir, int64_t step, const CkptMeta *meta, int n,
                        char (*names)[64], const int64_t *bytes, const uint64_t *sums, char *err,
                        size_t errlen) {
  const int extra = (meta->config_text ? 1 : 0) + (meta->run_id ? 1 : 0) +
                    (meta->blas_kernel ? 1 : 0) + (meta->cpu ? 1 : 0);
  CkptWriter *w = ckw_open(dir, "MANIFEST", "manifest", 0, step, 8 + extra, err, errlen);
  if (!w) return -1;
  ckw_int(w, "config_hash", (int64_t)meta->config_hash);
  ckw_int(w, "epoch", meta->epoch);
  ckw_int(w, "np", meta->np);
  ckw_int(w, "actors", meta->actors);
  ckw_int(w, "rollout_workers", meta->rollout_workers);
  ckw_int(w, "shards", meta->shards);
  /* the run's identity and its resolved configuration: a resume that differs can say how */
  if (meta->run_id) ckw_int(w, "run_id", (int64_t)meta->run_id);
  if (meta->config_text)
    ckw_bytes(w, "config", meta->config_text, (int64_t)strlen(meta->config_text));
  /* the kernel: a resume elsewhere can take the same one, or say that it could not */
  if (meta->blas_kernel)
    ckw_bytes(w, "blas_kernel", meta->blas_kernel, (int64_t)strlen(meta->blas_kernel));
  if (meta->cpu) ckw_bytes(w, "cpu", meta->cpu, (int64_t)strlen(meta->cpu));
  ckw_files(w, "files", n);
  for (int i = 0; i < n; i++) ckw_file_entry(w, names[i], bytes[i], sums[i]);
  ckw_seal(w);
  return ckw_close(w, NULL, NULL, err, errlen);
}

void ckpt_dir(const char *run_dir, int64_t step, char *out, size_t n) {
  snprintf(out, n, "%s/ckpt/%012lld", run_dir, (long long)step);
}

/* a plain file (not a FIFO, device, directory or symlink): reading it cannot block or loop */
static int regular(const char *path, char *why, size_t n, const char *name) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    snprintf(why, n, "%s is missing", name);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(why, n, "%s is not a regular file", name);
    return -1;
  }
  return 0;
}

static int check_files(const char *dir, CkptFile *m, char *why, size_t n) {
  char names[512][64], path[1200];
  int64_t bytes[512];
  uint64_t sums[512];
  int nf = ckr_files(m, 512, names, bytes, sums);
  if (nf < 1) {
    snprintf(why, n, "MANIFEST lists no valid files");
    return -1;
  }
  for (int i = 0; i < nf; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (strchr(names[i], '/') || regular(path, why, n, names[i]) != 0) {
      if (strchr(names[i], '/')) snprintf(why, n, "MANIFEST names a path: %s", names[i]);
      return -1;
    }
    size_t len;
    char *buf = util_read_file(path, &len);
    if (!buf) {
      snprintf(why, n, "%s is unreadable", names[i]);
      return -1;
    }
    uint64_t s = ckpt_sum(buf, len);
    free(buf);
    if ((int64_t)len != bytes[i]) {
      snprintf(why, n, "%s has %zu bytes, the MANIFEST says %lld (truncated?)", names[i], len,
               (long long)bytes[i]);
      return -1;
    }
    if (s != sums[i]) {
      snprintf(why, n, "%s fails its checksum (corrupted)", names[i]);
      return -1;
    }
  }
  return 0;
}

int ckpt_check(const char *dir, uint64_t config_hash, uint64_t run_id, int64_t *step, char *why,
               size_t n) {
  char path[1200], err[600];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  struct stat st;
  if (lstat(path, &st) != 0) {
    snprintf(why, n, "no MANIFEST (an interrupted checkpoint)");
    return CKPT_TORN;
  }
  if (regular(path, why, n, "MANIFEST") != 0) return CKPT_DAMAGED;
  CkptFile *m = ckr_open(path, "manifest", 0, err, sizeof err);
  if (!m) {
    snprintf(why, n, "MANIFEST unreadable: %s", err);
    return CKPT_DAMAGED;
  }
  int64_t h = 0, id = 0;
  int rc = CKPT_OK;
  /* the directory's name is the step the MANIFEST records */
  const char *base = strrchr(dir, '/');
  char *end;
  long long named = strtoll(base ? base + 1 : dir, &end, 10);
  if (!ckr_sealed(m)) {
    snprintf(why, n, "MANIFEST is not sealed");
    rc = CKPT_DAMAGED;
  } else if (ckr_int(m, "config_hash", &h) != 0) {
    snprintf(why, n, "MANIFEST has no config hash");
    rc = CKPT_DAMAGED;
  } else if (*end != 0 || named != ckr_step(m)) {
    snprintf(why, n, "the directory is named for step %s but its MANIFEST is of step %lld",
             base ? base + 1 : dir, (long long)ckr_step(m));
    rc = CKPT_DAMAGED;
  } else if ((uint64_t)h != config_hash) {
    snprintf(why, n, "written with a different configuration (config hash %016llx, now %016llx)",
             (unsigned long long)h, (unsigned long long)config_hash);
    rc = CKPT_OTHER_CONFIG;
  } else if (run_id && ckr_int(m, "run_id", &id) == 0 && (uint64_t)id != run_id) {
    snprintf(why, n, "belongs to another run (run id %016llx, this run's is %016llx): copied?",
             (unsigned long long)id, (unsigned long long)run_id);
    rc = CKPT_FOREIGN;
  } else if (check_files(dir, m, why, n) != 0) {
    rc = CKPT_DAMAGED;
  }
  *step = ckr_step(m);
  ckr_close(m);
  return rc;
}

int ckpt_validate(const char *dir, uint64_t config_hash, int64_t *step, char *why, size_t n) {
  return ckpt_check(dir, config_hash, 0, step, why, n) == CKPT_OK ? 0 : -1;
}

char *ckpt_config_text(const char *dir) {
  char path[1200], err[600];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  CkptFile *m = ckr_open(path, "manifest", 0, err, sizeof err);
  if (!m) return NULL;
  int64_t rows = 0, cols = 0;
  char *text = NULL;
  if (ckr_arr_shape(m, "config", DT_U8, &rows, &cols) == 0 && cols == 1 && rows < (1 << 24)) {
    text = xmalloc((size_t)rows + 1);
    if (ckr_arr(m, "config", DT_U8, rows, 1, text) != 0) {
      xfree(text);
      text = NULL;
    } else {
      text[rows] = 0;
    }
  }
  ckr_close(m);
  return text;
}

static int manifest_text(CkptFile *m, const char *key, char *out, size_t n) {
  int64_t rows = 0, cols = 0;
  if (!out || !n) return 0;
  out[0] = 0;
  if (ckr_arr_shape(m, key, DT_U8, &rows, &cols) != 0 || cols != 1 || rows < 0 || (size_t)rows >= n)
    return -1;
  if (ckr_arr(m, key, DT_U8, rows, 1, out) != 0) return -1;
  out[rows] = 0;
  return 0;
}

int ckpt_blas_kernel(const char *dir, char *kernel, size_t kn, char *cpu, size_t cn) {
  char path[1200], err[600];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  CkptFile *m = ckr_open(path, "manifest", 0, err, sizeof err);
  if (!m) return -1;
  char k[64];
  int rc = manifest_text(m, "blas_kernel", k, sizeof k);
  if (rc == 0 && kernel) snprintf(kernel, kn, "%s", k);
  if (rc == 0 && cpu && manifest_text(m, "cpu", cpu, cn) != 0) cpu[0] = 0;
  ckr_close(m);
  return rc;
}

static int cmp_desc(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? 1 : (x > y ? -1 : 0);
}

/* steps of the checkpoint directories, newest first; -1 with errno when ckpt/ exists but cannot
 * be read (a symlink loop, no permission) */
static int list_steps(const char *run_dir, long long *steps, int max) {
  char d[1100];
  snprintf(d, sizeof d, "%s/ckpt", run_dir);
  DIR *dp = opendir(d);
  if (!dp) return errno == ENOENT ? 0 : -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dp)) && n < max) {
    char *end;
    long long s = strtoll(de->d_name, &end, 10);
    if (end != de->d_name && *end == 0 && strlen(de->d_name) == 12) steps[n++] = s;
  }
  closedir(dp);
  qsort(steps, (size_t)n, sizeof *steps, cmp_desc);
  return n;
}

int ckpt_scan(const char *run_dir, uint64_t config_hash, uint64_t run_id, CkptScan *sc) {
  static long long steps[4096];
  memset(sc, 0, sizeof *sc);
  int k = list_steps(run_dir, steps, 4096);
  if (k < 0) {
    snprintf(sc->error, sizeof sc->error, "cannot read %s/ckpt: %s", run_dir, strerror(errno));
    return -1;
  }
  for (int i = 0; i < k; i++) {
    char dir[1200], why[800];
    int64_t step;
    ckpt_dir(run_dir, steps[i], dir, sizeof dir);
    const int rc = ckpt_check(dir, config_hash, run_id, &step, why, sizeof why);
    if (rc == CKPT_OK) {
      snprintf(sc->latest, sizeof sc->latest, "%s", dir);
      return 0;
    }
    sc->refused[rc]++;
    if (rc == CKPT_OTHER_CONFIG && !sc->other_config[0])
      snprintf(sc->other_config, sizeof sc->other_config, "%s", dir);
    if (rc == CKPT_FOREIGN && !sc->foreign[0]) snprintf(sc->foreign, sizeof sc->foreign, "%s", dir);
    LOG_W("checkpoint %s refused: %s%s", dir, why, i + 1 < k ? "; trying the previous one" : "");
  }
  return 0;
}

int ckpt_find_latest(const char *run_dir, uint64_t config_hash, char *out, size_t n) {
  return ckpt_find_at(run_dir, config_hash, LLONG_MAX, out, n);
}

int ckpt_find_at(const char *run_dir, uint64_t config_hash, long long max_steps, char *out,
                 size_t n) {
  static long long steps[4096];
  const int k = list_steps(run_dir, steps, 4096);
  for (int i = 0; i < k; i++) {
    if (steps[i] > max_steps) continue;
    char dir[1200], why[800];
    int64_t step;
    ckpt_dir(run_dir, steps[i], dir, sizeof dir);
    if (ckpt_check(dir, config_hash, 0, &step, why, sizeof why) == CKPT_OK) {
      snprintf(out, n, "%s", dir);
      return 0;
    }
    LOG_W("checkpoint %s refused: %s", dir, why);
  }
  return -1;
}

static void rm_tree(const char *dir) {
  DIR *dp = opendir(dir);
  if (!dp) return;
  struct dirent *de;
  while ((de = readdir(dp))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char p[1600];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    unlink(p);
  }
  closedir(dp);
  rmdir(dir);
}

void ckpt_prune(const char *run_dir, int keep, uint64_t config_hash) {
  static long long steps[4096];
  int k = list_steps(run_dir, steps, 4096), complete = 0;
  for (int i = 0; i < k; i++) {
    char dir[1200], m[1300], err[600];
    ckpt_dir(run_dir, steps[i], dir, sizeof dir);
    snprintf(m, sizeof m, "%s/MANIFEST", dir);
    struct stat st;
    if (lstat(m, &st) != 0) {
      /* torn (no MANIFEST): an interrupted or failed checkpoint of this run */
      rm_tree(dir);
      continue;
    }
    /* a checkpoint of another configuration (or an unreadable MANIFEST) is never removed */
    CkptFile *f = ckr_open(m, "manifest", 0, err, sizeof err);
    int64_t h = 0;
    const int ours = f && ckr_int(f, "config_hash", &h) == 0 && (uint64_t)h == config_hash;
    if (f) ckr_close(f);
    if (!ours) continue;
    /* keep the newest `keep` complete checkpoints of this configuration */
    if (++complete <= keep) continue;
    rm_tree(dir);
  }
}

void ckpt_remove_torn(const char *dir) {
  rm_tree(dir);
}
