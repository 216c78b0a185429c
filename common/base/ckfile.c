/* ckfile — see ckfile.h. */
#include "ckfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "mpscan.h"
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
  DurableFile *f;
  int64_t bytes;
  CkptSum sum;
  int left;
};

static int w_write(void *data, const char *buf, size_t len) {
  CkptWriter *w = data;
  if (dur_write(w->f, buf, len) != 0) return -1;
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
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  w->f = dur_open(path, err, errlen);
  if (!w->f) {
    xfree(w);
    return NULL;
  }
  w->bytes = 0;
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

/* a counting writer (ckw_count) only counts its fields */
#define FIELD(w)                                                                                   \
  if (!w->f) {                                                                                     \
    w->left++;                                                                                     \
    return;                                                                                        \
  }                                                                                                \
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

void ckw_arr(CkptWriter *w, const char *key, int dtype, const void *data, int64_t rows,
             int64_t cols) {
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
  if (!w->f) return;
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

int ckw_count(CkptSaveFn save, void *obj) {
  CkptWriter w;
  memset(&w, 0, sizeof w);
  save(obj, &w);
  return w.left;
}

int ckw_close(CkptWriter *w, int64_t *bytes, uint64_t *sum, char *err, size_t errlen) {
  CHECK(w->left == 0, "checkpoint writer: %d declared fields missing", w->left);
  int rc = dur_commit(w->f, err, errlen);
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

int ckr_sealed(const CkptFile *f) {
  return field(f, "seal") != NULL;
}

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
  if (mp_scan((const uint8_t *)buf, len) != 0 ||
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

int64_t ckr_step(const CkptFile *f) {
  return f->step;
}

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
    if (str_is(k, "dtype"))
      d = v;
    else if (str_is(k, "shape"))
      s = v;
    else if (str_is(k, "data"))
      b = v;
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
        "%s: %s rows of %lld x %lld in a buffer of %lld", path, k, (long long)rows, (long long)cols,
        (long long)cap);
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
