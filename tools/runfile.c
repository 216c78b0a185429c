/* runfile — see runfile.h. */
#include "runfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "util.h"

#ifndef USBPO_SOURCE_ROOT
#define USBPO_SOURCE_ROOT "."
#endif

static const char *kind_of(mode_t m) {
  return S_ISFIFO(m)   ? "a FIFO"
         : S_ISDIR(m)  ? "a directory"
         : S_ISCHR(m)  ? "a character device"
         : S_ISBLK(m)  ? "a block device"
         : S_ISSOCK(m) ? "a socket"
                       : "not a regular file";
}

char *rf_read_regular(const char *path, size_t *len, char *err, size_t n) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, n, "%s: %s, not a regular file: refused", path,
             fstat(fd, &st) == 0 ? kind_of(st.st_mode) : strerror(errno));
    close(fd);
    return NULL;
  }
  size_t cap = (size_t)st.st_size + 4096, got = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    close(fd);
    snprintf(err, n, "%s: out of memory", path);
    return NULL;
  }
  for (;;) {
    if (got == cap) {
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) {
        free(buf);
        close(fd);
        snprintf(err, n, "%s: out of memory", path);
        return NULL;
      }
      buf = nb, cap *= 2;
    }
    ssize_t r = read(fd, buf + got, cap - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      snprintf(err, n, "%s: %s", path, strerror(errno));
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = 0;
  if (len) *len = got;
  return buf;
}

int rf_read_cols(const char *path, const char *const *names, int ncols, unsigned required,
                 RunCols *out, char *err, size_t en) {
  memset(out, 0, sizeof *out);
  if (ncols > RF_MAX_COLS) ncols = RF_MAX_COLS;
  out->ncols = ncols;
  size_t len;
  char *text = rf_read_regular(path, &len, err, en);
  if (!text) return -1;
  char *nl = strchr(text, '\n');
  if (!nl) {
    snprintf(err, en, "%s: no header line", path);
    free(text);
    return -1;
  }
  *nl = 0;
  int idx[RF_MAX_COLS], nhead = 0, last_idx = -1;
  for (int c = 0; c < ncols; c++) idx[c] = -1;
  for (char *save = NULL, *t = strtok_r(text, ",\r", &save); t; t = strtok_r(NULL, ",\r", &save)) {
    for (int c = 0; c < ncols; c++)
      if (idx[c] < 0 && !strcmp(t, names[c])) idx[c] = nhead;
    nhead++;
  }
  for (int c = 0; c < ncols; c++) {
    if (idx[c] < 0 && (required >> c & 1)) {
      snprintf(err, en, "%s: no column '%s'", path, names[c]);
      free(text);
      return -1;
    }
    if (idx[c] > last_idx) last_idx = idx[c];
  }
  size_t rows = 0;
  for (char *p = nl + 1; *p; p++) rows += *p == '\n';
  for (int c = 0; c < ncols; c++) out->v[c] = xmalloc(sizeof(double) * (rows + 1));
  out->line = xmalloc(sizeof(int) * (rows + 1));
  int line = 2;
  for (char *row = nl + 1; *row; line++) {
    char *end = strchr(row, '\n');
    if (!end) break; /* a row still being written */
    *end = 0;
    if (end > row && end[-1] == '\r') end[-1] = 0;
    double val[RF_MAX_COLS];
    for (int c = 0; c < ncols; c++) val[c] = NAN;
    int field = 0, bad = 0, nonfinite = 0;
    char why[200] = "";
    for (char *f = row, *comma; f; f = comma ? comma + 1 : NULL, field++) {
      comma = strchr(f, ',');
      if (comma) *comma = 0;
      for (int c = 0; c < ncols; c++) {
        if (idx[c] != field) continue;
        char *e;
        errno = 0;
        double x = strtod(f, &e);
        if (e == f || *e) {
          if (!bad) snprintf(why, sizeof why, "%s = '%.40s' is not a number", names[c], f);
          bad = 1;
        } else {
          val[c] = x;
          if (!isfinite(x) && (required >> c & 1)) nonfinite = 1;
        }
      }
    }
    if (!bad && field <= last_idx) {
      snprintf(why, sizeof why, "%d fields, the header has %d", field, nhead);
      bad = 1;
    }
    if (!bad && field > nhead) {
      snprintf(why, sizeof why, "%d fields, the header has %d", field, nhead);
      bad = 1;
    }
    if (bad) {
      if (!out->bad) snprintf(out->first_bad, sizeof out->first_bad, "%s:%d: %s", path, line, why);
      out->bad++;
      out->last_bad = 1;
    } else {
      for (int c = 0; c < ncols; c++) out->v[c][out->n] = val[c];
      out->line[out->n++] = line;
      out->nonfinite += nonfinite;
      out->last_bad = 0;
    }
    row = end + 1;
  }
  free(text);
  return 0;
}

void rf_free_cols(RunCols *c) {
  for (int i = 0; i < RF_MAX_COLS; i++) xfree(c->v[i]);
  xfree(c->line);
  memset(c, 0, sizeof *c);
}

int rf_read_published(const char *path, PubRow **rows, int *n, int missing_ok, char *err,
                      size_t en) {
  *rows = NULL, *n = 0;
  struct stat st;
  if (missing_ok && stat(path, &st) != 0 && errno == ENOENT) return 0;
  static const char *const cols[] = {"step", "reward", "seed"};
  RunCols c;
  if (rf_read_cols(path, cols, 3, 7u, &c, err, en) != 0) return -1;
  if (c.bad) {
    snprintf(err, en, "%s (%d bad rows)", c.first_bad, c.bad);
    rf_free_cols(&c);
    return -1;
  }
  PubRow *r = xmalloc(sizeof(PubRow) * (size_t)(c.n + 1));
  int k = 0;
  for (int i = 0; i < c.n; i++)
    if (isfinite(c.v[0][i]) && isfinite(c.v[1][i]) && isfinite(c.v[2][i]))
      r[k].step = c.v[0][i], r[k].reward = c.v[1][i], r[k++].seed = (int)c.v[2][i];
  rf_free_cols(&c);
  *rows = r, *n = k;
  return 0;
}

int rf_output_ok(const char *path, char *err, size_t n) {
  struct stat st;
  if (lstat(path, &st) != 0) return 0; /* absent */
  if (S_ISLNK(st.st_mode)) {
    snprintf(err, n, "%s is a symbolic link: an output is not written through one (remove it)",
             path);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, n, "%s is %s: an output must be a regular file", path, kind_of(st.st_mode));
    return -1;
  }
  return 0;
}

int rf_write_output(const char *path, const void *data, size_t len, char *err, size_t n) {
  if (rf_output_ok(path, err, n) != 0) return -1;
  return dur_write_file(path, data, len, err, n);
}

static void self_dir(char *out, size_t n) {
  char self[4096];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  self[k > 0 ? k : 0] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  snprintf(out, n, "%s", self);
}

void rf_sibling(const char *name, char *out, size_t n) {
  char d[4096];
  self_dir(d, sizeof d);
  snprintf(out, n, "%s/%s", d, name);
}

int rf_data_path(const char *rel, char *out, size_t n) {
  char d[4096], p[8400];
  const char *env = getenv("USBPO_DATA");
  struct stat st;
  if (env && *env) {
    snprintf(p, sizeof p, "%s/%s", env, rel);
    if (stat(p, &st) == 0) return snprintf(out, n, "%s", p), 0;
  }
  self_dir(d, sizeof d);
  snprintf(p, sizeof p, "%s/../share/usbpo/%s", d, rel);
  if (stat(p, &st) == 0) return snprintf(out, n, "%s", p), 0;
  /* the source tree: its layout differs from the installed one in the top folder */
  const char *src_rel = !strncmp(rel, "slurm/", 6)        ? "deploy/"
                        : !strncmp(rel, "reference/", 10) ? "docs/"
                                                          : "";
  snprintf(p, sizeof p, "%s/%s%s", USBPO_SOURCE_ROOT, src_rel, rel);
  if (stat(p, &st) == 0) return snprintf(out, n, "%s", p), 0;
  out[0] = 0;
  return -1;
}
