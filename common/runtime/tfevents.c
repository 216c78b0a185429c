/* tfevents — TensorBoard event files (see tfevents.h for the format). */
#include "tfevents.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82f63b78), one table lookup per byte ---- */

static uint32_t g_crc_table[256];
static int g_crc_ready;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    g_crc_table[i] = c;
  }
  g_crc_ready = 1;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n) {
  if (!g_crc_ready) crc_init();
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = g_crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t tfe_masked_crc(const void *data, size_t n) {
  const uint32_t c = crc32c(0, data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- protocol-buffer encoding: just what Event / Summary / Value need ---- */

typedef struct {
  uint8_t *p;
  size_t n, cap;
  int full;
} Pb;

static void pb_byte(Pb *b, uint8_t v) {
  if (b->n < b->cap)
    b->p[b->n++] = v;
  else
    b->full = 1;
}

static void pb_varint(Pb *b, uint64_t v) {
  while (v >= 0x80) {
    pb_byte(b, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  pb_byte(b, (uint8_t)v);
}

static void pb_le(Pb *b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) pb_byte(b, (uint8_t)(v >> (8 * i)));
}

static void pb_bytes(Pb *b, const void *s, size_t n) {
  for (size_t i = 0; i < n; i++) pb_byte(b, ((const uint8_t *)s)[i]);
}

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

static void pb_wall(Pb *b, double wall) {
  uint64_t w;
  memcpy(&w, &wall, 8);
  pb_byte(b, 0x09); /* field 1, 64-bit */
  pb_le(b, w, 8);
}

size_t tfe_event_version(uint8_t *buf, size_t cap, double wall_time) {
  static const char v[] = "brain.Event:2";
  Pb b = {buf, 0, cap, 0};
  pb_wall(&b, wall_time);
  pb_byte(&b, 0x1a); /* field 3, length-delimited */
  pb_varint(&b, sizeof v - 1);
  pb_bytes(&b, v, sizeof v - 1);
  return b.full ? 0 : b.n;
}

size_t tfe_event_scalars(uint8_t *buf, size_t cap, double wall_time, int64_t step, int n,
                         const char *const *tags, const double *values) {
  Pb b = {buf, 0, cap, 0};
  pb_wall(&b, wall_time);
  pb_byte(&b, 0x10); /* field 2, varint */
  pb_varint(&b, (uint64_t)step);
  /* Summary's length first: each Value is 0x0a len { 0x0a taglen tag 0x15 float } */
  size_t sum_len = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(values[i])) continue;
    const size_t tl = strlen(tags[i]), vl = 1 + varint_len(tl) + tl + 5;
    sum_len += 1 + varint_len(vl) + vl;
  }
  pb_byte(&b, 0x2a); /* field 5, length-delimited */
  pb_varint(&b, sum_len);
  for (int i = 0; i < n; i++) {
    if (!isfinite(values[i])) continue;
    const size_t tl = strlen(tags[i]), vl = 1 + varint_len(tl) + tl + 5;
    pb_byte(&b, 0x0a); /* Summary.value */
    pb_varint(&b, vl);
    pb_byte(&b, 0x0a); /* Value.tag */
    pb_varint(&b, tl);
    pb_bytes(&b, tags[i], tl);
    pb_byte(&b, 0x15); /* Value.simple_value, 32-bit */
    const float f = (float)values[i];
    uint32_t u;
    memcpy(&u, &f, 4);
    pb_le(&b, u, 4);
  }
  return b.full ? 0 : b.n;
}

size_t tfe_record(uint8_t *out, size_t cap, const uint8_t *data, size_t n) {
  if (cap < n + 16) return 0;
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)n >> (8 * i));
  uint32_t c = tfe_masked_crc(out, 8);
  for (int i = 0; i < 4; i++) out[8 + i] = (uint8_t)(c >> (8 * i));
  memcpy(out + 12, data, n);
  c = tfe_masked_crc(data, n);
  for (int i = 0; i < 4; i++) out[12 + n + i] = (uint8_t)(c >> (8 * i));
  return n + 16;
}

/* ---- the writer ---- */

#define TFE_BUF 32768

struct TfEvents {
  FILE *f;
  uint8_t ev[TFE_BUF], rec[TFE_BUF + 16];
};

int tfe_find(const char *dir, char *path, size_t n) {
  DIR *dp = opendir(dir);
  if (!dp) return -1;
  struct dirent *de;
  char best[256] = "";
  while ((de = readdir(dp))) {
    if (strncmp(de->d_name, "events.out.tfevents.", 20) != 0) continue;
    if (!best[0] || strcmp(de->d_name, best) < 0) snprintf(best, sizeof best, "%s", de->d_name);
  }
  closedir(dp);
  if (!best[0]) return -1;
  snprintf(path, n, "%s/%s", dir, best);
  return 0;
}

static int write_event(TfEvents *t, size_t n) {
  const size_t r = tfe_record(t->rec, sizeof t->rec, t->ev, n);
  if (!n || !r || fwrite(t->rec, 1, r, t->f) != r || fflush(t->f) != 0) return -1;
  return 0;
}

TfEvents *tfe_open(const char *dir, int resume, char *err, size_t errlen) {
  TfEvents *t = xmalloc(sizeof *t);
  t->f = NULL;
  char path[1200];
  if (resume && tfe_find(dir, path, sizeof path) == 0) {
    t->f = fopen(path, "ab");
    if (!t->f) goto fail;
    return t;
  }
  char host[128] = "localhost";
  gethostname(host, sizeof host - 1);
  const double now = util_wall_time();
  snprintf(path, sizeof path, "%s/events.out.tfevents.%lld.%s", dir, (long long)now, host);
  t->f = fopen(path, "wb");
  if (!t->f || write_event(t, tfe_event_version(t->ev, sizeof t->ev, now)) != 0) goto fail;
  return t;
fail:
  snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
  if (t->f) fclose(t->f);
  xfree(t);
  return NULL;
}

int tfe_scalars(TfEvents *t, double wall_time, int64_t step, int n, const char *const *tags,
                const double *values) {
  return write_event(t, tfe_event_scalars(t->ev, sizeof t->ev, wall_time, step, n, tags, values));
}

int64_t tfe_offset(TfEvents *t) {
  fflush(t->f);
  return (int64_t)ftell(t->f);
}

void tfe_close(TfEvents *t) {
  if (!t) return;
  fclose(t->f);
  xfree(t);
}
