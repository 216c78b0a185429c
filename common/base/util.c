#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int g_level = LOG_INFO;
static FILE *g_logfile;
volatile int g_util_stop;
static char g_prefix[64] = "usbpo";

_Noreturn void util_exit(int code) {
  /* never through exit(): its destructors join OpenBLAS's threads, which spin forever when
   * memory is short (a limit hit): flush what we wrote, then leave */
  fflush(NULL);
  _exit(code);
}

static _Noreturn void fatal_code(int code, const char *file, int line, const char *fmt,
                                 va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "%s: error: %s (%s:%d)\n", g_prefix, msg, file, line);
  if (g_logfile) {
    fprintf(g_logfile, "error: %s (%s:%d)\n", msg, file, line);
    fflush(g_logfile);
  }
  util_exit(code);
}

_Noreturn void util_fatal(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fatal_code(EXIT_FATAL, file, line, fmt, ap);
}

_Noreturn void util_fatal_nomem(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fatal_code(EXIT_NOMEM, file, line, fmt, ap);
}

void *xmalloc(size_t n) {
  if (n == 0) n = 1;
  size_t rounded = (n + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, rounded);
  if (!p)
    util_fatal_nomem(__FILE__, __LINE__,
                     "out of memory allocating %zu bytes (exit %d): lower the sizes or raise "
                     "the memory limit",
                     n, EXIT_NOMEM);
  memset(p, 0, rounded);
  return p;
}

void *xrealloc(void *p, size_t old_n, size_t n) {
  void *q = xmalloc(n);
  if (p) memcpy(q, p, old_n < n ? old_n : n);
  free(p);
  return q;
}

void xfree(void *p) {
  free(p);
}

char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = xmalloc(n);
  memcpy(d, s, n);
  return d;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

void log_set_level(int level) {
  g_level = level;
}
void log_set_file(FILE *f) {
  g_logfile = f;
}
void log_set_prefix(const char *prefix) {
  snprintf(g_prefix, sizeof g_prefix, "%s", prefix);
}

void log_msg(int level, const char *fmt, ...) {
  static const char *names[] = {"error", "warning", "info", "debug"};
  if (level > g_level && !g_logfile) return;
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (level <= g_level) {
    if (level <= LOG_WARN)
      fprintf(stderr, "%s: %s: %s\n", g_prefix, names[level], msg);
    else
      fprintf(stderr, "%s: %s\n", g_prefix, msg);
  }
  if (g_logfile && level <= LOG_INFO) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(g_logfile, "%s %s: %s\n", ts, names[level], msg);
    fflush(g_logfile);
  }
}

static void (*g_tick)(void *);
static void *g_tick_ctx;
void util_set_tick(void (*fn)(void *), void *ctx) {
  g_tick = fn;
  g_tick_ctx = ctx;
}
void util_tick(void) {
  if (g_tick) g_tick(g_tick_ctx);
}

double util_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double util_wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

char *util_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    errno = ENOMEM;
    return NULL;
  }
  for (;;) {
    if (n + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    errno = EIO;
    return NULL;
  }
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

int util_mkdirs(const char *path) {
  char tmp[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

const char *util_fmt_bytes(double bytes, char buf[32]) {
  static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (bytes >= 1024.0 && i < 4) {
    bytes /= 1024.0;
    i++;
  }
  snprintf(buf, 32, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
  return buf;
}

uint64_t util_fnv1a64(const void *data, size_t n, uint64_t h) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
