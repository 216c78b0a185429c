/* ckpt — see ckpt.h. */
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
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
  CkptWriter *w = ckw_open(dir, "MANIFEST", "manifest", 0, step, 8, err, errlen);
  if (!w) return -1;
  ckw_int(w, "config_hash", (int64_t)meta->config_hash);
  ckw_int(w, "epoch", meta->epoch);
  ckw_int(w, "np", meta->np);
  ckw_int(w, "actors", meta->actors);
  ckw_int(w, "rollout_workers", meta->rollout_workers);
  ckw_int(w, "shards", meta->shards);
  ckw_files(w, "files", n);
  for (int i = 0; i < n; i++) ckw_file_entry(w, names[i], bytes[i], sums[i]);
  ckw_seal(w);
  return ckw_close(w, NULL, NULL, err, errlen);
}

void ckpt_dir(const char *run_dir, int64_t step, char *out, size_t n) {
  snprintf(out, n, "%s/ckpt/%012lld", run_dir, (long long)step);
}

int ckpt_validate(const char *dir, uint64_t config_hash, int64_t *step, char *why, size_t n) {
  char path[1200], err[600];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(why, n, "no MANIFEST (an interrupted checkpoint)");
    return -1;
  }
  CkptFile *m = ckr_open(path, "manifest", 0, err, sizeof err);
  if (!m) {
    snprintf(why, n, "MANIFEST unreadable: %s", err);
    return -1;
  }
  int64_t h = 0;
  if (!ckr_sealed(m)) {
    snprintf(why, n, "MANIFEST is not sealed");
    ckr_close(m);
    return -1;
  }
  if (ckr_int(m, "config_hash", &h) != 0) {
    snprintf(why, n, "MANIFEST has no config hash");
    ckr_close(m);
    return -1;
  }
  if ((uint64_t)h != config_hash) {
    snprintf(why, n, "written with a different configuration (config hash %016llx, now %016llx)",
             (unsigned long long)h, (unsigned long long)config_hash);
    ckr_close(m);
    return -1;
  }
  char names[512][64];
  int64_t bytes[512];
  uint64_t sums[512];
  int nf = ckr_files(m, 512, names, bytes, sums);
  *step = ckr_step(m);
  ckr_close(m);
  if (nf < 1) {
    snprintf(why, n, "MANIFEST lists no valid files");
    return -1;
  }
  for (int i = 0; i < nf; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    size_t len;
    char *buf = util_read_file(path, &len);
    if (!buf) {
      snprintf(why, n, "%s is missing", names[i]);
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

static int cmp_desc(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? 1 : (x > y ? -1 : 0);
}

/* steps of the checkpoint directories, newest first */
static int list_steps(const char *run_dir, long long *steps, int max) {
  char d[1100];
  snprintf(d, sizeof d, "%s/ckpt", run_dir);
  DIR *dp = opendir(d);
  if (!dp) return 0;
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

int ckpt_find_latest(const char *run_dir, uint64_t config_hash, char *out, size_t n) {
  long long steps[4096];
  int k = list_steps(run_dir, steps, 4096);
  for (int i = 0; i < k; i++) {
    char dir[1200], why[800];
    int64_t step;
    ckpt_dir(run_dir, steps[i], dir, sizeof dir);
    if (ckpt_validate(dir, config_hash, &step, why, sizeof why) == 0) {
      snprintf(out, n, "%s", dir);
      return 0;
    }
    LOG_W("checkpoint %s refused: %s%s", dir, why, i + 1 < k ? "; trying the previous one" : "");
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

void ckpt_prune(const char *run_dir, int keep) {
  long long steps[4096];
  int k = list_steps(run_dir, steps, 4096), complete = 0;
  for (int i = 0; i < k; i++) {
    char dir[1200], m[1300];
    ckpt_dir(run_dir, steps[i], dir, sizeof dir);
    snprintf(m, sizeof m, "%s/MANIFEST", dir);
    struct stat st;
    /* keep the newest `keep` complete checkpoints; the rest (older, or torn) go */
    if (stat(m, &st) == 0 && ++complete <= keep) continue;
    rm_tree(dir);
  }
}
