/* test_tfevents — TensorBoard event files: CRC32C against the RFC 3720 / iSCSI vectors, the
 * writer's bytes against a golden file annotated field by field (tests/data/tfevents_golden.hex),
 * and a file written by the writer read back record by record (lengths, both masked CRCs, the
 * Event fields) with a reader written here from the format's documentation.
 *   test_tfevents SOURCE_ROOT               the checks above
 *   test_tfevents --check EVENTS_FILE       read a run's events file: records valid, one
 *                                           version event first, steps increasing; prints
 *                                           "<records> <last step>" */
#include <math.h>
#include <unistd.h>

#include "check.h"
#include "tfevents.h"
#include "util.h"

static uint64_t rd_varint(const uint8_t *b, size_t n, size_t *i) {
  uint64_t v = 0;
  for (int s = 0; *i < n && s < 64; s += 7) {
    const uint8_t x = b[(*i)++];
    v |= (uint64_t)(x & 0x7f) << s;
    if (x < 0x80) return v;
  }
  return UINT64_MAX;
}

/* one Event: wall time, step (-1 if none), version string, and the scalars found */
typedef struct {
  double wall;
  int64_t step;
  char version[32];
  int nval;
  char tags[64][48];
  float vals[64];
} Ev;

static int parse_value(const uint8_t *b, size_t n, Ev *e) {
  size_t i = 0;
  int k = e->nval;
  if (k >= 64) return -1;
  e->tags[k][0] = 0;
  while (i < n) {
    const uint64_t key = rd_varint(b, n, &i);
    if (key == 0x0a) {
      const uint64_t l = rd_varint(b, n, &i);
      if (l >= 48 || i + l > n) return -1;
      memcpy(e->tags[k], b + i, l), e->tags[k][l] = 0, i += l;
    } else if (key == 0x15) {
      if (i + 4 > n) return -1;
      memcpy(&e->vals[k], b + i, 4), i += 4;
    } else {
      return -1;
    }
  }
  e->nval++;
  return 0;
}

static int parse_event(const uint8_t *b, size_t n, Ev *e) {
  memset(e, 0, sizeof *e);
  e->step = -1;
  size_t i = 0;
  while (i < n) {
    const uint64_t key = rd_varint(b, n, &i);
    if (key == 0x09) {
      if (i + 8 > n) return -1;
      memcpy(&e->wall, b + i, 8), i += 8;
    } else if (key == 0x10) {
      e->step = (int64_t)rd_varint(b, n, &i);
    } else if (key == 0x1a) {
      const uint64_t l = rd_varint(b, n, &i);
      if (l >= sizeof e->version || i + l > n) return -1;
      memcpy(e->version, b + i, l), i += l;
    } else if (key == 0x2a) {
      const uint64_t l = rd_varint(b, n, &i);
      if (i + l > n) return -1;
      size_t j = i;
      while (j < i + l) {
        if (rd_varint(b, i + l, &j) != 0x0a) return -1;
        const uint64_t vl = rd_varint(b, i + l, &j);
        if (j + vl > i + l || parse_value(b + j, vl, e) != 0) return -1;
        j += vl;
      }
      i += l;
    } else {
      return -1;
    }
  }
  return 0;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* the records of a file: number read, or -1 with the offset of the first bad one */
static int read_records(const uint8_t *d, size_t n, Ev *evs, int max, size_t *bad) {
  size_t i = 0;
  int k = 0;
  while (i < n && k < max) {
    uint64_t len = 0;
    if (i + 12 > n) goto fail;
    for (int j = 0; j < 8; j++) len |= (uint64_t)d[i + j] << (8 * j);
    if (le32(d + i + 8) != tfe_masked_crc(d + i, 8) || i + 16 + len > n) goto fail;
    if (le32(d + i + 12 + len) != tfe_masked_crc(d + i + 12, len)) goto fail;
    if (parse_event(d + i + 12, len, &evs[k]) != 0) goto fail;
    i += 16 + len, k++;
  }
  return k;
fail:
  *bad = i;
  return -1;
}

static void test_crc(void) {
  uint8_t z[32], f[32], inc[32];
  for (int i = 0; i < 32; i++) z[i] = 0, f[i] = 0xff, inc[i] = (uint8_t)i;
  EXPECT(crc32c(0, "123456789", 9) == 0xe3069283u, "123456789");
  EXPECT(crc32c(0, z, 32) == 0x8a9136aau, "32 zeros");
  EXPECT(crc32c(0, f, 32) == 0x62a8ab43u, "32 0xff");
  EXPECT(crc32c(0, inc, 32) == 0x46dd794eu, "0..31");
  EXPECT(crc32c(crc32c(0, "1234", 4), "56789", 5) == 0xe3069283u, "incremental");
}

static size_t read_hex(const char *path, uint8_t *out, size_t cap) {
  size_t n;
  char *t = util_read_file(path, &n);
  REQUIRE(t, "cannot read %s", path);
  size_t k = 0;
  for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    for (char *p = line; *p;) {
      char *end;
      const unsigned long v = strtoul(p, &end, 16);
      if (end == p) break;
      if (k < cap) out[k++] = (uint8_t)v;
      p = end;
    }
  }
  free(t);
  return k;
}

static void test_golden(const char *src) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/tfevents_golden.hex", src);
  uint8_t want[512], got[512], ev[256];
  const size_t nw = read_hex(path, want, sizeof want);
  size_t n = tfe_event_version(ev, sizeof ev, 1700000000.5);
  size_t ng = tfe_record(got, sizeof got, ev, n);
  const char *tags[3] = {"eval_return", "ft_shift", "alpha"};
  const double vals[3] = {1234.5, NAN, 0.25};
  n = tfe_event_scalars(ev, sizeof ev, 1700000001.25, 1000, 3, tags, vals);
  ng += tfe_record(got + ng, sizeof got - ng, ev, n);
  EXPECT(nw == 104 && ng == nw, "golden %zu bytes, writer %zu", nw, ng);
  for (size_t i = 0; i < nw && i < ng; i++)
    if (got[i] != want[i]) {
      EXPECT(0, "first difference at byte %zu: %02x, golden %02x", i, got[i], want[i]);
      break;
    }
  /* the reader agrees with the golden bytes; a flipped bit anywhere is caught */
  Ev evs[2];
  size_t bad;
  EXPECT(read_records(want, nw, evs, 2, &bad) == 2 && !strcmp(evs[0].version, "brain.Event:2") &&
             evs[1].step == 1000 && evs[1].nval == 2 && !strcmp(evs[1].tags[1], "alpha") &&
             evs[1].vals[0] == 1234.5f && evs[1].wall == 1700000001.25,
         "golden parse");
  int caught = 0;
  for (size_t i = 0; i < nw; i++) {
    want[i] ^= 0x10;
    caught += read_records(want, nw, evs, 2, &bad) != 2;
    want[i] ^= 0x10;
  }
  EXPECT(caught == (int)nw, "%d of %zu flipped bytes caught", caught, nw);
  /* too small a buffer is refused, not overrun */
  EXPECT(tfe_event_scalars(ev, 20, 1, 1, 3, tags, vals) == 0, "short buffer");
  EXPECT(tfe_record(got, 30, ev, 20) == 0, "short record buffer");
}

static void test_writer(void) {
  char dir[256], path[1200], err[256];
  snprintf(dir, sizeof dir, "/tmp/usbpo-tfe-%d", (int)getpid());
  REQUIRE(util_mkdirs(dir) == 0, "mkdir");
  TfEvents *t = tfe_open(dir, 0, err, sizeof err);
  REQUIRE(t, "%s", err);
  const char *tags[3] = {"a", "b", "c"};
  for (int s = 1; s <= 50; s++) {
    const double v[3] = {s, -0.5 * s, s == 7 ? INFINITY : 1e-3 * s};
    EXPECT(tfe_scalars(t, 1e9 + s, 100 * s, 3, tags, v) == 0, "write %d", s);
  }
  const int64_t off = tfe_offset(t);
  tfe_close(t);
  /* resume: appended to the same file */
  t = tfe_open(dir, 1, err, sizeof err);
  REQUIRE(t, "%s", err);
  const double v[3] = {51, 52, 53};
  EXPECT(tfe_scalars(t, 2e9, 5100, 3, tags, v) == 0, "append");
  tfe_close(t);
  REQUIRE(tfe_find(dir, path, sizeof path) == 0, "find");
  size_t n;
  uint8_t *d = (uint8_t *)util_read_file(path, &n);
  REQUIRE(d, "read");
  static Ev evs[64];
  size_t bad = 0;
  const int k = read_records(d, n, evs, 64, &bad);
  EXPECT(k == 52, "%d records (bad at %zu)", k, bad);
  EXPECT(off > 0 && (size_t)off < n, "offset");
  for (int s = 1; s <= 50 && k == 52; s++) {
    EXPECT(evs[s].step == 100 * s && evs[s].wall == 1e9 + s, "event %d", s);
    EXPECT(evs[s].nval == (s == 7 ? 2 : 3) && evs[s].vals[1] == (float)(-0.5 * s), "values %d", s);
  }
  EXPECT(k == 52 && evs[51].step == 5100 && evs[51].vals[2] == 53, "appended event");
  free(d);
  unlink(path);
  rmdir(dir);
}

/* --check FILE: for the shell tests */
static int check_file(const char *path) {
  size_t n;
  uint8_t *d = (uint8_t *)util_read_file(path, &n);
  if (!d) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  static Ev evs[100000 / 16];
  size_t bad = 0;
  const int k = read_records(d, n, evs, (int)(sizeof evs / sizeof evs[0]), &bad);
  free(d);
  if (k < 1) {
    fprintf(stderr, "%s: bad record at byte %zu\n", path, bad);
    return 1;
  }
  if (strcmp(evs[0].version, "brain.Event:2") != 0) {
    fprintf(stderr, "%s: the first event is not the version event\n", path);
    return 1;
  }
  for (int i = 2; i < k; i++)
    if (evs[i].step <= evs[i - 1].step) {
      fprintf(stderr, "%s: step %lld after %lld\n", path, (long long)evs[i].step,
              (long long)evs[i - 1].step);
      return 1;
    }
  printf("%d %lld\n", k, (long long)(k > 1 ? evs[k - 1].step : -1));
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--check")) return check_file(argv[2]);
  REQUIRE(argc == 2, "usage: test_tfevents SOURCE_ROOT | --check FILE");
  RUN(test_crc);
  test_golden(argv[1]);
  fprintf(stderr, "%-44s %s\n", "test_golden", check_failures ? "FAILED" : "ok");
  RUN(test_writer);
  CHECK_DONE();
}
