/* test_durable — the durable-file helper fails at each of its steps (injected as a full disk or
 * a refused rename would) and leaves the old file whole and no temporary behind; succeeds with
 * the new bytes otherwise; and checkpoint files (ckfile) inherit both properties. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ckfile.h"
#include "durable.h"
#include "util.h"

static char dir[256];

static int read_all(const char *path, char *out, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = 0;
  fclose(f);
  return (int)n;
}

/* files in dir whose name starts with '.' and ends with ".tmp" */
static int temporaries(void) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (e->d_name[0] == '.' && l > 4 && !strcmp(e->d_name + l - 4, ".tmp")) n++;
  }
  closedir(d);
  return n;
}

static void each_step_fails_cleanly(void) {
  char path[300], err[512], got[64];
  snprintf(path, sizeof path, "%s/state.bin", dir);
  for (int step = 0; step < DUR_NSTEPS; step++) {
    REQUIRE(dur_write_file(path, "old", 3, err, sizeof err) == 0, "baseline write: %s", err);
    dur_inject_failure(step, 1);
    int rc = dur_write_file(path, "new contents", 12, err, sizeof err);
    dur_inject_failure(-1, 1);
    EXPECT(rc == -1, "step %s: the write reported success", dur_step_name(step));
    EXPECT(strstr(err, dur_step_name(step)) != NULL, "step %s: error '%s' does not name the step",
           dur_step_name(step), err);
    read_all(path, got, sizeof got);
    /* before the rename the old file is untouched; a failed directory fsync comes after it */
    const char *want = step < DUR_DIRSYNC ? "old" : "new contents";
    EXPECT(!strcmp(got, want), "step %s: file holds '%s', want '%s'", dur_step_name(step), got,
           want);
    EXPECT(temporaries() == 0, "step %s: a temporary was left behind", dur_step_name(step));
  }
}

static void streaming_and_abort(void) {
  char path[300], err[512], got[64];
  snprintf(path, sizeof path, "%s/stream.txt", dir);
  REQUIRE(dur_write_file(path, "v1", 2, err, sizeof err) == 0, "%s", err);
  DurableFile *d = dur_open(path, err, sizeof err);
  REQUIRE(d, "%s", err);
  dur_write(d, "v", 1);
  read_all(path, got, sizeof got);
  EXPECT(!strcmp(got, "v1"), "the target changed before commit: '%s'", got);
  dur_abort(d);
  read_all(path, got, sizeof got);
  EXPECT(!strcmp(got, "v1") && temporaries() == 0, "abort: '%s', %d temporaries", got,
         temporaries());
  d = dur_open(path, err, sizeof err);
  dur_write(d, "v", 1), dur_write(d, "2", 1);
  EXPECT(dur_commit(d, err, sizeof err) == 0, "%s", err);
  read_all(path, got, sizeof got);
  EXPECT(!strcmp(got, "v2"), "commit wrote '%s'", got);
  /* the nth file from now fails, the ones before it do not */
  dur_inject_failure(DUR_FSYNC, 2);
  EXPECT(dur_write_file(path, "v3", 2, err, sizeof err) == 0, "first file: %s", err);
  EXPECT(dur_write_file(path, "v4", 2, err, sizeof err) == -1, "the second file should fail");
  dur_inject_failure(-1, 1);
  read_all(path, got, sizeof got);
  EXPECT(!strcmp(got, "v3"), "after the failed second write: '%s'", got);
}

static void real_failure(void) {
  char ro[300], path[400], err[512];
  snprintf(ro, sizeof ro, "%s/ro", dir);
  mkdir(ro, 0555);
  snprintf(path, sizeof path, "%s/x", ro);
  if (geteuid() == 0) { /* root writes anywhere: make the parent a file instead */
    snprintf(path, sizeof path, "%s/state.bin/x", dir);
  }
  EXPECT(dur_write_file(path, "x", 1, err, sizeof err) == -1 && strstr(err, "cannot create"),
         "an uncreatable file: '%s'", err);
}

static void save3(void *obj, CkptWriter *w) {
  (void)obj;
  ckw_int(w, "a", 1), ckw_f64(w, "b", 2.5), ckw_int(w, "c", 3);
}

static void ckfile_inherits(void) {
  char err[512], path[300];
  EXPECT(ckw_count(save3, NULL) == 3, "ckw_count: %d fields", ckw_count(save3, NULL));
  CkptWriter *w = ckw_open(dir, "role-0.ckpt", "role", 0, 7, 3, err, sizeof err);
  REQUIRE(w, "%s", err);
  save3(NULL, w);
  REQUIRE(ckw_close(w, NULL, NULL, err, sizeof err) == 0, "%s", err);
  dur_inject_failure(DUR_WRITE, 1);
  w = ckw_open(dir, "role-0.ckpt", "role", 0, 8, 3, err, sizeof err);
  REQUIRE(w, "%s", err);
  save3(NULL, w);
  EXPECT(ckw_close(w, NULL, NULL, err, sizeof err) == -1, "an injected write failure passed");
  dur_inject_failure(-1, 1);
  snprintf(path, sizeof path, "%s/role-0.ckpt", dir);
  CkptFile *f = ckr_open(path, "role", 0, err, sizeof err);
  EXPECT(f && ckr_step(f) == 7, "the step-7 file did not survive the failed rewrite: %s", err);
  if (f) ckr_close(f);
  EXPECT(temporaries() == 0, "a checkpoint temporary was left behind");
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/usbpo-durable-XXXXXX");
  REQUIRE(mkdtemp(dir), "mkdtemp");
  RUN(each_step_fails_cleanly);
  RUN(streaming_and_abort);
  RUN(real_failure);
  RUN(ckfile_inherits);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  CHECK_DONE();
}
