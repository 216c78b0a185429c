/* rundir — one writer per run directory, and what an earlier attempt wrote set aside whole.
 *
 * The lock: <run>/.run.lock, an exclusive flock held for the process's life (the kernel releases
 * it when the process dies, so a killed run never blocks its resume); the holder writes
 * "pid <pid> host <host> since <UTC time>" into it, which a refused second process reports.
 *
 * The set-aside: the outputs of an earlier attempt move to <run>/before-restart-<time>[-k]/, a
 * directory created exclusively (never an existing one: a counter is added), with a marker file
 * (.moving, listing the names) written before the first move and removed after the last, so that
 * a set-aside interrupted by a kill is recognised and finished by the next start. */
#ifndef USBPO_RUNDIR_H
#define USBPO_RUNDIR_H

#include <stddef.h>

/* take the run directory's lock (creating the directory): 0, or -1 with the reason in err
 * (another process holds it: *busy = 1 and err names its pid and host; else *busy = 0: the
 * directory or lock file cannot be created or opened) */
int rundir_lock(const char *run_dir, int *busy, char *err, size_t n);

/* move the named entries of run_dir that exist (lstat) into a new before-restart directory;
 * 0 (aside, if not NULL, receives its path; "" when there was nothing to move), or -1 with
 * everything moved so far put back and the reason in err */
int rundir_set_aside(const char *run_dir, const char *const *names, int n_names, char *aside,
                     size_t aside_n, char *err, size_t n);

/* finish a set-aside that a kill interrupted: the entries its marker lists that are still in
 * run_dir move into it; returns how many set-asides were finished (0: none), -1 on an error */
int rundir_finish_aside(const char *run_dir, char *err, size_t n);

#endif
