/* test_ckpt — checkpoint files: exact round trips (scalars, arrays, ring buffers in logical
 * order), and refusal of damaged checkpoints. The newest of two checkpoints is damaged in well
 * over a hundred ways (every file truncated at many lengths, single bytes flipped, files missing,
 * bytes appended, files swapped, the MANIFEST missing, damaged or written for another config);
 * each must be refused with a reason naming what is wrong, and the search for the newest
 * checkpoint must fall back to the older, intact one. Pruning keeps the newest complete ones. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ckpt.h"
#include "config.h"
#include "rng.h"
#include "runlog.h"
#include "util.h"

#define HASH 0x0123456789abcdefULL
#define NW   1000
#define OD   3
#define AD   2

static char g_root[512];
static float g_w[NW * 8];
static uint8_t g_blob[77];

static Buffer *ring(void) { /* 13 rows pushed into 8: the logical order wraps */
  Buffer *b = buf_make(OD, AD, 8);
  for (int i = 0; i < 13; i++) {
    float o[OD] = {(float)i, 1, 2}, a[AD] = {(float)-i, 0}, r = 0.5f * (float)i,
          n[OD] = {(float)i + 0.25f, 0, 0};
    uint8_t d = (uint8_t)(i % 3 == 0);
    buf_push(b, 1, o, a, &r, n, &d);
  }
  return b;
}

/* one complete checkpoint of two role files under g_root at `step` */
static void make_ckpt(int64_t step, uint64_t hash) {
  char dir[1200], err[512];
  ckpt_dir(g_root, step, dir, sizeof dir);
  REQUIRE(util_mkdirs(dir) == 0, "mkdir %s", dir);
  char names[2][64] = {"learner-0.ckpt", "modelsvc-0.ckpt"};
  int64_t bytes[2];
  uint64_t sums[2];
  CkptWriter *w = ckw_open(dir, names[0], "learner", 0, step, 5 + CKPT_BUF_FIELDS, err, sizeof err);
  REQUIRE(w, "open: %s", err);
  ckw_int(w, "updates", step * 20);
  ckw_int(w, "negative", -5);
  ckw_f64(w, "alpha", 0.1 + (double)step);
  ckw_arr(w, "w", DT_F32, g_w, NW, 8);
  ckw_bytes(w, "rng", g_blob, sizeof g_blob);
  Buffer *b = ring();
  ckpt_buf_save(w, "real", b);
  buf_free(b);
  REQUIRE(ckw_close(w, &bytes[0], &sums[0], err, sizeof err) == 0, "close: %s", err);
  w = ckw_open(dir, names[1], "modelsvc", 0, step, 1, err, sizeof err);
  REQUIRE(w, "open: %s", err);
  ckw_arr(w, "w", DT_F32, g_w, NW / 2, 8);
  REQUIRE(ckw_close(w, &bytes[1], &sums[1], err, sizeof err) == 0, "close: %s", err);
  CkptMeta meta = {.config_hash = hash,
                   .epoch = step / 100,
                   .np = 4,
                   .actors = 1,
                   .rollout_workers = 1,
                   .shards = 16};
  REQUIRE(ckpt_write_manifest(dir, step, &meta, 2, names, bytes, sums, err, sizeof err) == 0,
          "manifest: %s", err);
}

static char *slurp(const char *path, size_t *n) {
  char *b = util_read_file(path, n);
  REQUIRE(b, "read %s", path);
  return b;
}

static void spit(const char *path, const char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  REQUIRE(f, "write %s", path);
  REQUIRE(fwrite(b, 1, n, f) == n, "write %s", path);
  fclose(f);
}

static void test_round_trip(void) {
  char dir[1200], path[1300], err[512];
  make_ckpt(100, HASH);
  ckpt_dir(g_root, 100, dir, sizeof dir);
  int64_t step = 0;
  EXPECT(ckpt_validate(dir, HASH, &step, err, sizeof err) == 0 && step == 100, "valid: %s", err);
  snprintf(path, sizeof path, "%s/learner-0.ckpt", dir);
  CkptFile *f = ckr_open(path, "learner", 0, err, sizeof err);
  REQUIRE(f, "%s", err);
  int64_t v, rows, cols;
  double x;
  EXPECT(ckr_step(f) == 100, "step");
  EXPECT(ckr_int(f, "updates", &v) == 0 && v == 2000, "int");
  EXPECT(ckr_int(f, "negative", &v) == 0 && v == -5, "negative int");
  EXPECT(ckr_f64(f, "alpha", &x) == 0 && x == 100.1, "f64 %.17g", x);
  EXPECT(ckr_int(f, "nope", &v) == -1, "missing key");
  EXPECT(ckr_int(f, "w", &v) == -1, "array read as an int");
  EXPECT(ckr_arr_shape(f, "w", DT_F32, &rows, &cols) == 0 && rows == NW && cols == 8, "shape");
  EXPECT(ckr_arr_shape(f, "w", DT_U8, &rows, &cols) == -1, "wrong dtype");
  static float w2[NW * 8];
  EXPECT(ckr_arr(f, "w", DT_F32, NW, 8, w2) == 0 && !memcmp(w2, g_w, sizeof g_w), "array bits");
  EXPECT(ckr_arr(f, "w", DT_F32, NW, 7, w2) == -1, "a wrong shape is refused");
  uint8_t blob[sizeof g_blob];
  EXPECT(ckr_arr(f, "rng", DT_U8, sizeof blob, 1, blob) == 0 && !memcmp(blob, g_blob, sizeof blob),
         "blob");
  Buffer *b = ckpt_buf_load(f, path, "real", OD, AD), *ref = ring();
  REQUIRE(b, "buffer");
  EXPECT(b->cap == 8 && b->size == 8 && b->pushed == 13, "buffer counts %lld %lld %lld",
         (long long)b->cap, (long long)b->size, (long long)b->pushed);
  for (int64_t i = 0; i < 8; i++) {
    const int64_t p = buf_phys(b, i), q = buf_phys(ref, i);
    EXPECT(!memcmp(b->obs + p * OD, ref->obs + q * OD, OD * sizeof(float)) &&
               !memcmp(b->act + p * AD, ref->act + q * AD, AD * sizeof(float)) &&
               b->rew[p] == ref->rew[q] && b->done[p] == ref->done[q] &&
               !memcmp(b->next + p * OD, ref->next + q * OD, OD * sizeof(float)),
           "buffer row %lld", (long long)i);
  }
  buf_free(b), buf_free(ref);
  ckr_close(f);
  /* the wrong role's reader refuses the file */
  EXPECT(!ckr_open(path, "modelsvc", 0, err, sizeof err) && strstr(err, "not the file of"),
         "role check: %s", err);
  EXPECT(!ckr_open(path, "learner", 1, err, sizeof err), "index check");
  /* no temporaries are left behind */
  DIR *dp = opendir(dir);
  struct dirent *de;
  int files = 0;
  while ((de = readdir(dp)))
    if (de->d_name[0] != '.')
      files++;
    else
      EXPECT(!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."), "left over %s", de->d_name);
  closedir(dp);
  EXPECT(files == 3, "%d files", files);
}

/* the pristine newest checkpoint (step 300) is restored before each damage */
static char *g_orig[3];
static size_t g_len[3];
static const char *g_names[3] = {"learner-0.ckpt", "modelsvc-0.ckpt", "MANIFEST"};
static const char *g_roles[3] = {"learner", "modelsvc", "manifest"};
static int g_cases, g_refused, g_fell_back;

static void restore(const char *dir) {
  char p[1300];
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, g_names[i]);
    spit(p, g_orig[i], g_len[i]);
  }
}

/* validate the damaged newest checkpoint: refused, with `want` in the reason, and the
 * search falls back to step 200 */
static void expect_refused(const char *dir, const char *want, const char *what) {
  char why[1024], found[1200], older[1200];
  int64_t step;
  g_cases++;
  const int rc = ckpt_validate(dir, HASH, &step, why, sizeof why);
  EXPECT(rc == -1, "%s: accepted", what);
  EXPECT(rc == 0 || !want || strstr(why, want), "%s: reason \"%s\" lacks \"%s\"", what, why, want);
  g_refused += rc == -1;
  ckpt_dir(g_root, 200, older, sizeof older);
  const int f = ckpt_find_latest(g_root, HASH, found, sizeof found);
  EXPECT(f == 0 && !strcmp(found, older), "%s: fell back to %s", what, f == 0 ? found : "nothing");
  g_fell_back += f == 0 && !strcmp(found, older);
}

static void test_damage(void) {
  char dir[1200], p[1300], what[256], err[512];
  make_ckpt(200, HASH);
  make_ckpt(300, HASH);
  ckpt_dir(g_root, 300, dir, sizeof dir);
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, g_names[i]);
    g_orig[i] = slurp(p, &g_len[i]);
  }
  int64_t step;
  REQUIRE(ckpt_validate(dir, HASH, &step, err, sizeof err) == 0, "pristine: %s", err);
  Rng rng = rng_make(7, RNG_TEST, 0);
  /* truncations: the validator refuses by size, and the reader alone refuses the file too */
  for (int i = 0; i < 3; i++) {
    for (int k = 0; k < 40; k++) {
      const size_t cut = k == 0 ? 0 : (k == 39 ? g_len[i] - 1 : (size_t)k * g_len[i] / 39);
      snprintf(p, sizeof p, "%s/%s", dir, g_names[i]);
      spit(p, g_orig[i], cut);
      snprintf(what, sizeof what, "%s cut to %zu of %zu bytes", g_names[i], cut, g_len[i]);
      expect_refused(dir, i < 2 ? g_names[i] : "MANIFEST", what);
      EXPECT(!ckr_open(p, g_roles[i], 0, err, sizeof err) && strstr(err, p), "%s: reader", what);
      restore(dir);
    }
  }
  /* single flipped bits anywhere in the role files: the checksum catches each */
  for (int k = 0; k < 60; k++) {
    const int i = k % 2;
    const size_t at = (size_t)rng_below(&rng, (uint32_t)g_len[i]);
    const int bit = (int)rng_below(&rng, 8);
    char *b = xmalloc(g_len[i]);
    memcpy(b, g_orig[i], g_len[i]);
    b[at] ^= (char)(1 << bit);
    snprintf(p, sizeof p, "%s/%s", dir, g_names[i]);
    spit(p, b, g_len[i]);
    xfree(b);
    snprintf(what, sizeof what, "%s bit %d of byte %zu flipped", g_names[i], bit, at);
    expect_refused(dir, "checksum", what);
    restore(dir);
  }
  /* flipped bytes in the MANIFEST: refused for some reason, never accepted */
  for (int k = 0; k < 20; k++) {
    const size_t at = (size_t)rng_below(&rng, (uint32_t)g_len[2]);
    char *b = xmalloc(g_len[2]);
    memcpy(b, g_orig[2], g_len[2]);
    b[at] ^= (char)0xff;
    snprintf(p, sizeof p, "%s/MANIFEST", dir);
    spit(p, b, g_len[2]);
    xfree(b);
    snprintf(what, sizeof what, "MANIFEST byte %zu flipped", at);
    /* a flip inside a file name's bytes reads as a missing file; elsewhere as a bad MANIFEST */
    expect_refused(dir, NULL, what);
    restore(dir);
  }
  /* missing files */
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, g_names[i]);
    unlink(p);
    snprintf(what, sizeof what, "%s missing", g_names[i]);
    expect_refused(dir, "missing", what);
    restore(dir);
  }
  snprintf(p, sizeof p, "%s/MANIFEST", dir);
  unlink(p);
  expect_refused(dir, "no MANIFEST", "MANIFEST missing (a checkpoint torn by a crash)");
  restore(dir);
  /* bytes appended; the two role files swapped */
  snprintf(p, sizeof p, "%s/learner-0.ckpt", dir);
  char *longer = xmalloc(g_len[0] + 5);
  memcpy(longer, g_orig[0], g_len[0]);
  memcpy(longer + g_len[0], "\xc0\xc0\xc0\xc0\xc0", 5);
  spit(p, longer, g_len[0] + 5);
  xfree(longer);
  expect_refused(dir, "learner-0.ckpt has", "bytes appended");
  restore(dir);
  snprintf(p, sizeof p, "%s/learner-0.ckpt", dir);
  spit(p, g_orig[1], g_len[1]);
  snprintf(p, sizeof p, "%s/modelsvc-0.ckpt", dir);
  spit(p, g_orig[0], g_len[0]);
  expect_refused(dir, "learner-0.ckpt", "role files swapped");
  restore(dir);
  /* a checkpoint of another configuration */
  EXPECT(ckpt_validate(dir, HASH ^ 1, &step, err, sizeof err) == -1 &&
             strstr(err, "different configuration"),
         "config hash: %s", err);
  g_cases++, g_refused++, g_fell_back++;
  /* a leftover temporary of an interrupted write does not matter */
  snprintf(p, sizeof p, "%s/.learner-0.ckpt.tmp", dir);
  spit(p, "junk", 4);
  EXPECT(ckpt_validate(dir, HASH, &step, err, sizeof err) == 0 && step == 300, "tmp: %s", err);
  unlink(p);
  printf("%d damaged checkpoints: %d refused, %d fell back to the previous one\n", g_cases,
         g_refused, g_fell_back);
  EXPECT(g_cases >= 100 && g_refused == g_cases && g_fell_back == g_cases, "counts");
  /* two torn: back to the oldest; nothing valid: no checkpoint at all (a fresh start) */
  char older[1200], found[1200], oldest[1200];
  ckpt_dir(g_root, 200, older, sizeof older);
  snprintf(p, sizeof p, "%s/MANIFEST", older);
  unlink(p);
  snprintf(p, sizeof p, "%s/MANIFEST", dir);
  unlink(p);
  ckpt_dir(g_root, 100, oldest, sizeof oldest);
  EXPECT(ckpt_find_latest(g_root, HASH, found, sizeof found) == 0 && !strcmp(found, oldest),
         "two back");
  snprintf(p, sizeof p, "%s/MANIFEST", oldest);
  size_t n100;
  char *m100 = slurp(p, &n100);
  unlink(p);
  EXPECT(ckpt_find_latest(g_root, HASH, found, sizeof found) == -1, "none valid");
  spit(p, m100, n100);
  xfree(m100);
  restore(dir);
  EXPECT(ckpt_find_latest(g_root, HASH, found, sizeof found) == 0 && !strcmp(found, dir),
         "newest again");
  for (int i = 0; i < 3; i++) xfree(g_orig[i]);
}

static void test_prune(void) {
  /* steps 100 (intact), 200 (torn above), 300 (intact), 400, 500 (intact), 600 (torn); 50 and
   * 700 of another configuration, which are never removed */
  make_ckpt(400, HASH);
  make_ckpt(500, HASH);
  make_ckpt(50, HASH ^ 1);
  make_ckpt(700, HASH ^ 1);
  char dir[1200], p[1300];
  ckpt_dir(g_root, 600, dir, sizeof dir);
  REQUIRE(util_mkdirs(dir) == 0, "mkdir");
  snprintf(p, sizeof p, "%s/learner-0.ckpt", dir);
  spit(p, "x", 1);
  ckpt_prune(g_root, 2, HASH);
  struct stat st;
  for (int s = 0; s <= 700; s += 50) {
    if (s % 100 && s != 50) continue;
    ckpt_dir(g_root, s, dir, sizeof dir);
    const int there = stat(dir, &st) == 0, want = s == 400 || s == 500 || s == 50 || s == 700;
    EXPECT(there == want, "after prune(2): step %d %s", s, there ? "kept" : "removed");
  }
}

/* an upgrade mid-run: metrics.csv of an older layout (one column of this version missing, one
 * it no longer has) is rewritten by name, cut where the checkpoint says, the original kept */
static void test_migrate_metrics(void) {
  Config cfg;
  cfg_defaults(&cfg);
  snprintf(cfg.run.dir, sizeof cfg.run.dir, "%.200s", g_root); /* (g_root is short) */
  snprintf(cfg.run.name, sizeof cfg.run.name, "mig");
  char run[1200], p[1300], kept[1300];
  snprintf(run, sizeof run, "%s/mig", g_root);
  REQUIRE(util_mkdirs(run) == 0, "mkdir");
  const int n = metrics_ncols(), miss = 3, old_n = n; /* - column 3 + "old_only" */
  char text[16384];
  size_t len = 0;
  for (int row = 0; row <= 3; row++) { /* header, two rows before the checkpoint, one after */
    for (int i = 0; i < n; i++) {
      if (i == miss) continue;
      if (row == 0)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s,", metrics_col_name(i));
      else
        len += (size_t)snprintf(text + len, sizeof text - len, "%d,", row * 1000 + i);
    }
    len += (size_t)snprintf(text + len, sizeof text - len, row ? "-%d\n" : "old_only\n", row);
  }
  snprintf(p, sizeof p, "%s/metrics.csv", run);
  spit(p, text, len);
  int64_t at = (int64_t)len - 1; /* the checkpoint was taken before the last row */
  while (at > 0 && text[at - 1] != '\n') at--;
  char err[512] = "";
  for (int pass = 0; pass < 2; pass++) { /* again: the same result from the kept original */
    EXPECT(runlog_migrate_metrics(&cfg, at, old_n, err, sizeof err) == 0, "migrate: %s", err);
    size_t got_n = 0;
    char *got = slurp(p, &got_n);
    REQUIRE(got, "metrics.csv rewritten");
    int lines = 0, ok_header = 1, ok_cells = 1;
    char *save = NULL;
    for (char *ln = strtok_r(got, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save), lines++) {
      int i = 0;
      for (char *c = ln, *e; i < n; c = e + 1, i++) {
        e = strchr(c, ',');
        if (e) *e = 0;
        char want[64];
        if (lines == 0)
          snprintf(want, sizeof want, "%s", metrics_col_name(i));
        else if (i == miss)
          snprintf(want, sizeof want, "nan");
        else
          snprintf(want, sizeof want, "%d", lines * 1000 + i);
        if (strcmp(c, want)) (lines ? (ok_cells = 0) : (ok_header = 0));
        if (!e) break;
      }
      if (i != n - 1) ok_cells = 0;
    }
    EXPECT(lines == 3, "pass %d: header and the two rows before the checkpoint, got %d lines", pass,
           lines);
    EXPECT(ok_header, "pass %d: this version's header", pass);
    EXPECT(ok_cells, "pass %d: cells by name, nan in the new column, the old one gone", pass);
    free(got);
  }
  snprintf(kept, sizeof kept, "%s/metrics-%dcols.csv", run, old_n);
  size_t kn = 0;
  char *k = slurp(kept, &kn);
  EXPECT(k && kn == len && !memcmp(k, text, len), "the original kept whole");
  free(k);
  int map[512];
  EXPECT(metrics_old_map(run, old_n, map, err, sizeof err) == 0 && map[miss] == -1 && map[0] == 0 &&
             map[miss + 1] == miss,
         "the names map: %s", err);
  EXPECT(runlog_migrate_metrics(&cfg, at, old_n + 1, err, sizeof err) != 0 &&
             strstr(err, "columns"),
         "a checkpoint with another column count than the kept header is refused: %s", err);
}

/* the checksum against values computed outside this code (a few lines of Python following the
 * definition in ckfile.c: FNV-1a over little-endian 64-bit words, each step followed by
 * h ^= h >> 29, then the tail bytes plain FNV-1a), at lengths around the word size; and any
 * split of the input gives the one-shot value */
static void test_checksum_known(void) {
  static const struct {
    int len;
    uint64_t sum;
  } want[] = {{0, 0xcbf29ce484222325ull},  {1, 0xaf63c64c8601c72aull},  {3, 0x270c521898097401ull},
              {7, 0xfcf25e868166b7a9ull},  {8, 0x648a88b24001d2a1ull},  {9, 0xd938d8e2c318ce16ull},
              {15, 0x337055ecd0aee22dull}, {16, 0xda9646490d2d4468ull}, {17, 0x9a9da12163eae2a9ull},
              {31, 0xb78a1d6eece61b3dull}, {63, 0x5498bea7ef4b9c92ull}};
  uint8_t data[64];
  for (int i = 0; i < 64; i++) data[i] = (uint8_t)((i * 37 + 11) & 255);
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    const int n = want[k].len;
    const uint64_t got = ckpt_sum(data, (size_t)n);
    EXPECT(got == want[k].sum, "ckpt_sum of %d bytes: %016llx, want %016llx", n,
           (unsigned long long)got, (unsigned long long)want[k].sum);
    for (int cut = 0; cut <= n; cut += 3) {
      CkptSum cs;
      ckpt_sum_init(&cs);
      ckpt_sum_add(&cs, data, (size_t)cut);
      ckpt_sum_add(&cs, data + cut, (size_t)(n - cut));
      EXPECT(ckpt_sum_end(&cs) == want[k].sum, "%d bytes split at %d: another sum", n, cut);
    }
  }
}

int main(void) {
  snprintf(g_root, sizeof g_root, "/tmp/usbpo-test-ckpt-%d", (int)getpid());
  Rng rng = rng_make(3, RNG_TEST, 0);
  for (int i = 0; i < NW * 8; i++) g_w[i] = (float)rng_normal(&rng);
  for (size_t i = 0; i < sizeof g_blob; i++) g_blob[i] = (uint8_t)(i * 37);
  RUN(test_round_trip);
  RUN(test_checksum_known);
  RUN(test_damage);
  RUN(test_prune);
  RUN(test_migrate_metrics);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
  CHECK_DONE();
}
