/* ckpt — see ckpt.h. */
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* 64-bit checksum: FNV-1a over 64-bit little-endian words, then the tail bytes. Fast enough to
 * run while writing gigabytes; any flipped bit changes it. Streaming: bytes that do not yet make a
 * whole word wait in the state, so any split of the input gives the one-shot sum. */
static uint64_t sum_word(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

void ckpt_sum_init(CkptSum *s) {
  s->h = FNV1A64_INIT;
  s->nt = 0;
}

void ckpt_sum_add(CkptSum *s, const void *data, size_t n) {
  const uint8_t *p = data;
  while (s->nt > 0 && s->nt < 8 && n > 0) s->tail[s->nt++] = *p++, n--;
  if (s->nt == 8) {
    uint64_t w;
    memcpy(&w, s->tail, 8);
    s->h = sum_word(s->h, w);
    s->nt = 0;
  }
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    s->h = sum_word(s->h, w);
  }
  while (n > 0) s->tail[s->nt++] = *p++, n--;
}

uint64_t ckpt_sum_end(const CkptSum *s) {
  uint64_t h = s->h;
  for (unsigned i = 0; i < s->nt; i++) h = (h ^ s->tail[i]) * 0x100000001b3ull;
  return h;
}

uint64_t ckpt_sum(const void *data, size_t n) {
  CkptSum s;
  ckpt_sum_init(&s);
  ckpt_sum_add(&s, data, n);
  return ckpt_sum_end(&s);
}

/* ---- writer ---- */

struct CkptWriter {
  FILE *f;
  char dir[1024], tmp[1200], path[1200];
  int64_t bytes;
  CkptSum sum;
  int left, failed;
};

static int w_write(void *data, const char *buf, size_t len) {
  CkptWriter *w = data;
  if (w->failed) return -1;
  if (fwrite(buf, 1, len, w->f) != len) {
    w->failed = errno ? errno : EIO;
    return -1;
  }
  ckpt_sum_add(&w->sum, buf, len);
  w->bytes += (int64_t)len;
  return 0;
}

static void pstr(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

CkptWriter *ckw_open(const char *dir, const char *name, const char *role, int idx, int64_t step,
                     int nfields, char *err, size_t errlen) {
  CkptWriter *w = xmalloc(sizeof *w);
  snprintf(w->dir, sizeof w->dir, "%s", dir);
  snprintf(w->tmp, sizeof w->tmp, "%s/.%s.tmp", dir, name);
  snprintf(w->path, sizeof w->path, "%s/%s", dir, name);
  w->f = fopen(w->tmp, "wb");
  if (!w->f) {
    snprintf(err, errlen, "cannot create %s: %s", w->tmp, strerror(errno));
    xfree(w);
    return NULL;
  }
  setvbuf(w->f, NULL, _IOFBF, 1 << 20);
  ckpt_sum_init(&w->sum);
  w->left = nfields;
  msgpack_packer pk;
  msgpack_packer_init(&pk, w, w_write);
  msgpack_pack_map(&pk, 5 + (size_t)nfields);
  pstr(&pk, "format"), pstr(&pk, "usbpo-ckpt");
  pstr(&pk, "ver"), msgpack_pack_int64(&pk, CKPT_VERSION);
  pstr(&pk, "role"), pstr(&pk, role);
  pstr(&pk, "idx"), msgpack_pack_int64(&pk, idx);
  pstr(&pk, "step"), msgpack_pack_int64(&pk, step);
  return w;
}

#define FIELD(w)                                                                                   \
  msgpack_packer pk;                                                                               \
  msgpack_packer_init(&pk, w, w_write);                                                            \
  CHECK(w->left-- > 0, "checkpoint writer: more fields than declared")

void ckw_int(CkptWriter *w, const char *key, int64_t v) {
  FIELD(w);
  pstr(&pk, key);
  msgpack_pack_int64(&pk, v);
}

void ckw_f64(CkptWriter *w, const char *key, double v) {
  FIELD(w);
  pstr(&pk, key);
  msgpack_pack_double(&pk, v);
}

void ckw_arr(CkptWriter *w, const char *key, int dtype, const void *data, int64_t rows, int64_t cols) {
  ckw_arr2(w, key, dtype, data, rows, NULL, 0, cols);
}

void ckw_arr2(CkptWriter *w, const char *key, int dtype, const void *a, int64_t rows_a,
              const void *b, int64_t rows_b, int64_t cols) {
  static const char *dt[4] = {"f32", "f64", "i32", "u8"};
  static const int sz[4] = {4, 8, 4, 1};
  FIELD(w);
  pstr(&pk, key);
  msgpack_pack_map(&pk, 3);
  pstr(&pk, "dtype"), pstr(&pk, dt[dtype]);
  pstr(&pk, "shape");
  msgpack_pack_array(&pk, 2);
  msgpack_pack_int64(&pk, rows_a + rows_b);
  msgpack_pack_int64(&pk, cols);
  size_t ba = (size_t)rows_a * cols * sz[dtype], bb = (size_t)rows_b * cols * sz[dtype];
  pstr(&pk, "data");
  msgpack_pack_bin(&pk, ba + bb);
  if (ba) msgpack_pack_bin_body(&pk, a, ba);
  if (bb) msgpack_pack_bin_body(&pk, b, bb);
}

void ckw_files(CkptWriter *w, const char *key, int n) {
  FIELD(w);
  pstr(&pk, key);
  msgpack_pack_array(&pk, (size_t)n);
}

void ckw_file_entry(CkptWriter *w, const char *name, int64_t bytes, uint64_t sum) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, w, w_write);
  msgpack_pack_map(&pk, 3);
  pstr(&pk, "name"), pstr(&pk, name);
  pstr(&pk, "bytes"), msgpack_pack_int64(&pk, bytes);
  pstr(&pk, "sum"), msgpack_pack_uint64(&pk, sum);
}

void ckw_seal(CkptWriter *w) {
  FIELD(w);
  pstr(&pk, "seal");
  const uint64_t h = ckpt_sum_end(&w->sum);
  uint8_t b[9] = {0xcf};
  for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(h >> (56 - 8 * i));
  w_write(w, (const char *)b, 9);
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int ckw_close(CkptWriter *w, int64_t *bytes, uint64_t *sum, char *err, size_t errlen) {
  int rc = 0;
  CHECK(w->left == 0, "checkpoint writer: %d declared fields missing", w->left);
  if (w->failed || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
    snprintf(err, errlen, "writing %s: %s", w->tmp, strerror(w->failed ? w->failed : errno));
    rc = -1;
  }
  if (fclose(w->f) != 0 && rc == 0) {
    snprintf(err, errlen, "closing %s: %s", w->tmp, strerror(errno));
    rc = -1;
  }
  if (rc == 0 && rename(w->tmp, w->path) != 0) {
    snprintf(err, errlen, "renaming %s: %s", w->tmp, strerror(errno));
    rc = -1;
  }
  if (rc == 0 && fsync_dir(w->dir) != 0) {
    snprintf(err, errlen, "fsync of %s: %s", w->dir, strerror(errno));
    rc = -1;
  }
  if (rc != 0) unlink(w->tmp);
  if (bytes) *bytes = w->bytes;
  if (sum) *sum = ckpt_sum_end(&w->sum);
  xfree(w);
  return rc;
}

/* ---- reader ---- */

struct CkptFile {
  char *buf;
  size_t len;
  msgpack_unpacked up;
  const msgpack_object *root;
  int64_t step;
};

static int str_is(const msgpack_object *o, const char *s) {
  size_t n = strlen(s);
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && !memcmp(o->via.str.ptr, s, n);
}

static const msgpack_object *field(const CkptFile *f, const char *key) {
  const msgpack_object *r = f->root;
  for (uint32_t i = 0; i < r->via.map.size; i++)
    if (str_is(&r->via.map.ptr[i].key, key)) return &r->via.map.ptr[i].val;
  return NULL;
}

static int as_i64(const msgpack_object *o, int64_t *v) {
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
    *v = (int64_t)o->via.u64;
    return 0;
  }
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    *v = o->via.i64;
    return 0;
  }
  return -1;
}

/* a sealed file ends with the key "seal" and a 9-byte uint64: the checksum of what precedes it */
static int seal_ok(const CkptFile *f) {
  if (f->len < 9 + 5 || (uint8_t)f->buf[f->len - 9] != 0xcf ||
      memcmp(f->buf + f->len - 14, "\xa4seal", 5) != 0)
    return 0;
  uint64_t h = 0;
  for (int i = 0; i < 8; i++) h = (h << 8) | (uint8_t)f->buf[f->len - 8 + i];
  return h == ckpt_sum(f->buf, f->len - 9);
}

int ckr_sealed(const CkptFile *f) { return field(f, "seal") != NULL; }

CkptFile *ckr_open(const char *path, const char *role, int idx, char *err, size_t errlen) {
  size_t len;
  char *buf = util_read_file(path, &len);
  if (!buf) {
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    return NULL;
  }
  CkptFile *f = xmalloc(sizeof *f);
  f->buf = buf;
  f->len = len;
  msgpack_unpacked_init(&f->up);
  size_t off = 0;
  if (codec_scan((const uint8_t *)buf, len) != 0 ||
      msgpack_unpack_next(&f->up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
      f->up.data.type != MSGPACK_OBJECT_MAP) {
    snprintf(err, errlen, "%s: not a complete MessagePack map (truncated or corrupt)", path);
    ckr_close(f);
    return NULL;
  }
  f->root = &f->up.data;
  const msgpack_object *fmt = field(f, "format"), *ver = field(f, "ver"), *r = field(f, "role"),
                       *ix = field(f, "idx"), *st = field(f, "step");
  int64_t v = 0, i = 0;
  if (!fmt || !str_is(fmt, "usbpo-ckpt")) {
    snprintf(err, errlen, "%s: not a usbpo checkpoint file", path);
  } else if (!ver || as_i64(ver, &v) || v != CKPT_VERSION) {
    snprintf(err, errlen, "%s: checkpoint format version %lld, expected %d", path, (long long)v,
             CKPT_VERSION);
  } else if (!r || !str_is(r, role) || !ix || as_i64(ix, &i) || i != idx) {
    snprintf(err, errlen, "%s: not the file of %s %d", path, role, idx);
  } else if (!st || as_i64(st, &f->step)) {
    snprintf(err, errlen, "%s: no step", path);
  } else if (field(f, "seal") && !seal_ok(f)) {
    snprintf(err, errlen, "%s: fails its own checksum (corrupted)", path);
  } else {
    return f;
  }
  ckr_close(f);
  return NULL;
}

void ckr_close(CkptFile *f) {
  if (!f) return;
  msgpack_unpacked_destroy(&f->up);
  free(f->buf);
  xfree(f);
}

int64_t ckr_step(const CkptFile *f) { return f->step; }

int ckr_int(CkptFile *f, const char *key, int64_t *v) {
  const msgpack_object *o = field(f, key);
  return o ? as_i64(o, v) : -1;
}

int ckr_f64(CkptFile *f, const char *key, double *v) {
  const msgpack_object *o = field(f, key);
  if (!o) return -1;
  if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
    *v = o->via.f64;
    return 0;
  }
  return -1;
}

static const msgpack_object *arr_parts(CkptFile *f, const char *key, int dtype, int64_t *rows,
                                       int64_t *cols) {
  static const char *dt[4] = {"f32", "f64", "i32", "u8"};
  static const int sz[4] = {4, 8, 4, 1};
  const msgpack_object *o = field(f, key);
  if (!o || o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 3) return NULL;
  const msgpack_object *d = NULL, *s = NULL, *b = NULL;
  for (uint32_t i = 0; i < 3; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
    if (str_is(k, "dtype")) d = v;
    else if (str_is(k, "shape")) s = v;
    else if (str_is(k, "data")) b = v;
  }
  if (!d || !s || !b || !str_is(d, dt[dtype]) || s->type != MSGPACK_OBJECT_ARRAY ||
      s->via.array.size != 2 || b->type != MSGPACK_OBJECT_BIN)
    return NULL;
  if (as_i64(&s->via.array.ptr[0], rows) || as_i64(&s->via.array.ptr[1], cols) || *rows < 0 ||
      *cols < 0 || *rows > (1ll << 40) || *cols > (1ll << 20))
    return NULL;
  if ((uint64_t)*rows * (uint64_t)*cols * (uint64_t)sz[dtype] != b->via.bin.size) return NULL;
  return b;
}

int ckr_arr_shape(CkptFile *f, const char *key, int dtype, int64_t *rows, int64_t *cols) {
  return arr_parts(f, key, dtype, rows, cols) ? 0 : -1;
}

int ckr_arr(CkptFile *f, const char *key, int dtype, int64_t rows, int64_t cols, void *dst) {
  int64_t r, c;
  const msgpack_object *b = arr_parts(f, key, dtype, &r, &c);
  if (!b || r != rows || c != cols) return -1;
  if (b->via.bin.size) memcpy(dst, b->via.bin.ptr, b->via.bin.size);
  return 0;
}

int ckr_files(CkptFile *f, int max, char (*names)[64], int64_t *bytes, uint64_t *sums) {
  const msgpack_object *o = field(f, "files");
  if (!o || o->type != MSGPACK_OBJECT_ARRAY || (int)o->via.array.size > max) return -1;
  for (uint32_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    if (e->type != MSGPACK_OBJECT_MAP || e->via.map.size != 3) return -1;
    int have = 0;
    for (uint32_t j = 0; j < 3; j++) {
      const msgpack_object *k = &e->via.map.ptr[j].key, *v = &e->via.map.ptr[j].val;
      if (str_is(k, "name") && v->type == MSGPACK_OBJECT_STR && v->via.str.size < 64) {
        memcpy(names[i], v->via.str.ptr, v->via.str.size);
        names[i][v->via.str.size] = 0;
        if (strchr(names[i], '/') || names[i][0] == '.' || !names[i][0]) return -1;
        have |= 1;
      } else if (str_is(k, "bytes") && !as_i64(v, &bytes[i])) {
        have |= 2;
      } else if (str_is(k, "sum") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        sums[i] = v->via.u64;
        have |= 4;
      }
    }
    if (have != 7) return -1;
  }
  return (int)o->via.array.size;
}

void ckr_need_int(CkptFile *f, const char *path, const char *key, int64_t *v) {
  CHECK(ckr_int(f, key, v) == 0, "%s: field '%s' missing or not an integer", path, key);
}
void ckr_need_f64(CkptFile *f, const char *path, const char *key, double *v) {
  CHECK(ckr_f64(f, key, v) == 0, "%s: field '%s' missing or not a float", path, key);
}
void ckr_need_arr(CkptFile *f, const char *path, const char *key, int dtype, int64_t rows,
                  int64_t cols, void *dst) {
  CHECK(ckr_arr(f, key, dtype, rows, cols, dst) == 0,
        "%s: array '%s' missing or not of shape (%lld, %lld)", path, key, (long long)rows,
        (long long)cols);
}

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

/* ---- buffers ---- */

void ckpt_buf_save(CkptWriter *w, const char *prefix, const Buffer *b) {
  char k[64];
  int64_t size = b ? b->size : 0, first = 0, n1 = 0, n2 = 0;
  if (b && size > 0) {
    first = buf_phys(b, 0);
    n1 = size < b->cap - first ? size : b->cap - first; /* up to the end of the ring */
    n2 = size - n1;
  }
  const int od = b ? b->obs_dim : 1, ad = b ? b->act_dim : 1;
#define K(s) (snprintf(k, sizeof k, "%s_%s", prefix, s), k)
  ckw_int(w, K("cap"), b ? b->cap : 0);
  ckw_int(w, K("pushed"), b ? b->pushed : 0);
  ckw_arr2(w, K("obs"), DT_F32, b ? b->obs + first * od : NULL, n1, b ? b->obs : NULL, n2, od);
  ckw_arr2(w, K("act"), DT_F32, b ? b->act + first * ad : NULL, n1, b ? b->act : NULL, n2, ad);
  ckw_arr2(w, K("rew"), DT_F32, b ? b->rew + first : NULL, n1, b ? b->rew : NULL, n2, 1);
  ckw_arr2(w, K("next"), DT_F32, b ? b->next + first * od : NULL, n1, b ? b->next : NULL, n2, od);
  ckw_arr2(w, K("done"), DT_U8, b ? b->done + first : NULL, n1, b ? b->done : NULL, n2, 1);
#undef K
}

Buffer *ckpt_buf_load(CkptFile *f, const char *path, const char *prefix, int od, int ad) {
  char k[64];
#define K(s) (snprintf(k, sizeof k, "%s_%s", prefix, s), k)
  int64_t cap, pushed, rows, cols;
  ckr_need_int(f, path, K("cap"), &cap);
  ckr_need_int(f, path, K("pushed"), &pushed);
  if (cap == 0) return NULL;
  CHECK(ckr_arr_shape(f, K("obs"), DT_F32, &rows, &cols) == 0 && cols == od && rows <= cap,
        "%s: %s rows of %lld x %lld in a buffer of %lld", path, k, (long long)rows,
        (long long)cols, (long long)cap);
  Buffer *b = buf_make(od, ad, cap);
  ckr_need_arr(f, path, K("obs"), DT_F32, rows, od, b->obs);
  ckr_need_arr(f, path, K("act"), DT_F32, rows, ad, b->act);
  ckr_need_arr(f, path, K("rew"), DT_F32, rows, 1, b->rew);
  ckr_need_arr(f, path, K("next"), DT_F32, rows, od, b->next);
  ckr_need_arr(f, path, K("done"), DT_U8, rows, 1, b->done);
#undef K
  /* the rows now sit at 0..rows-1 in logical order: the same buffer as far as sampling,
   * eviction and growth can tell */
  b->size = rows;
  b->head = rows % cap;
  b->pushed = pushed;
  return b;
}
