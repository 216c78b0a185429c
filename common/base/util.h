/* util — the small things every module needs: fatal errors, aligned allocation, logging, time,
 * whole-file reads. Nothing here knows about MPI or the algorithm. */
#ifndef USBPO_UTIL_H
#define USBPO_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define USBPO_VERSION "0.1.0"

/* fatal tier: print "usbpo: file:line: message" and exit(EXIT_FATAL) */
_Noreturn void util_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define FATAL(...) util_fatal(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) FATAL(__VA_ARGS__);                                                               \
  } while (0)

/* process exit codes (documented in README) */
enum {
  EXIT_OK = 0,
  EXIT_FATAL = 1,   /* bad config, bad input, internal error */
  EXIT_USAGE = 2,   /* bad command line */
  EXIT_TIMEOUT = 3, /* a rank went silent past the heartbeat timeout */
  EXIT_IO = 4,      /* a write failed (disk full, read-only, file size limit): the newest
                     * checkpoint is intact; resume once there is room */
  EXIT_NOMEM = 5,   /* out of memory (or over the memory limit) */
  EXIT_REQUEUE = 75 /* stopped at a checkpoint on request (SIGUSR1): requeue me (EX_TEMPFAIL) */
};

/* a stop was requested (a signal): long computations that can be redone (a model training)
 * check it between minibatches and give up; set by the signal handlers */
extern volatile int g_util_stop;
static inline int util_stop_requested(void) {
  return g_util_stop != 0;
}

/* leave the process now: stdio flushed, no atexit handlers or library destructors */
_Noreturn void util_exit(int code);
_Noreturn void util_fatal_nomem(const char *file, int line, const char *fmt, ...);

/* memory: 64-byte aligned, zero-filled; out of memory is fatal */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t old_n, size_t n); /* aligned realloc (copies min(old_n, n)) */
void xfree(void *p);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* logging: stderr plus an optional log file; levels */
enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
void log_set_level(int level);
void log_set_file(FILE *f); /* also copy every message here (not owned) */
void log_set_prefix(const char *prefix);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define LOG_E(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define LOG_W(...) log_msg(LOG_WARN, __VA_ARGS__)
#define LOG_I(...) log_msg(LOG_INFO, __VA_ARGS__)
#define LOG_D(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* cooperative liveness: long loops call util_tick(); the runtime installs what it does (send
 * heartbeats, check peers). Cheap when nothing is installed. */
void util_set_tick(void (*fn)(void *), void *ctx);
void util_tick(void);

double util_now(void);       /* monotonic seconds */
double util_wall_time(void); /* unix epoch seconds */

/* read a whole file; returns NULL and sets errno on failure; *len excludes the added NUL */
char *util_read_file(const char *path, size_t *len);

/* mkdir -p; 0 or -1 (errno) */
int util_mkdirs(const char *path);

/* size helpers for the start-up memory budget */
const char *util_fmt_bytes(double bytes, char buf[32]);

/* FNV-1a 64 over bytes (config hashes, checksums of small things) */
uint64_t util_fnv1a64(const void *data, size_t n, uint64_t h);
#define FNV1A64_INIT 0xcbf29ce484222325ull

static inline int imin(int a, int b) {
  return a < b ? a : b;
}
static inline int imax(int a, int b) {
  return a > b ? a : b;
}

#endif
