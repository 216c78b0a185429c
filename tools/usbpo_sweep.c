/* usbpo_sweep — an experiment (variants x seeds x environments) as one command.
 *
 *   usbpo_sweep EXPERIMENT.toml [--jobs N] [--status] [--report] [--slurm [--dry-run]]
 *               [--envs a,b] [--steps N] [--set section.key=value]...
 *               [--variants a,b] [--seeds 0,1]
 *
 * An experiment file names a base config, the environments, the seeds, a step budget and a list
 * of [[variant]] tables (a label and `set`, a list of --set overrides):
 *
 *   [experiment]
 *   name = "ip-variants"              # default: the file's name
 *   base = "../configs/inverted_pendulum.toml"   # relative to the experiment file
 *   envs = ["inverted_pendulum"]      # optional: env.name of each cell (default: the base's)
 *   seeds = [0, 1, 2, 3, 4]
 *   total_steps = 5000                # run.total_steps of every cell
 *   baseline = "mbpo"                 # the variant the others are compared with (--report)
 *   threshold = 950                   # optional: steps to reach this eval return (--report)
 *   ranks = 1                         # mpirun -np of each cell (1: no mpirun)
 *   dir = "exp"                       # where cells live: <dir>/<name>/<env>/<label>/s<seed>/
 *
 *   [[variant]]
 *   label = "mbpo"
 *   set = ["run.algo=mbpo"]
 *
 * Every cell is an ordinary run directory. A local sweep runs --jobs cells at a time (default:
 * the cores of its affinity mask, one per cell; a cell of one rank gets cores / jobs threads
 * unless its overrides set run.threads), resumes unfinished cells from their newest checkpoint
 * (--resume), never re-runs a finished one, and is finished by running the same command again after
 * an interruption: a signal to the sweep is passed on to its cells (each checkpoints and stops;
 * an MPI cell's mpirun gets SIGUSR1, and OMPI_MCA_odls_base_sigkill_timeout=10 unless set),
 * and a cell whose sweep died gets SIGTERM too (PR_SET_PDEATHSIG). A cell is locked while it runs
 * (<cell>/.sweep.lock, held by the cell's own process), so two sweeps never run one cell.
 * Everything is checked before anything starts: unknown keys, an empty grid, duplicate labels,
 * a variant override the config refuses, a budget that is not a whole number of epochs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "pool.h"
#include "sweep.h"
#include "runfile.h"
#include "sweep_report.h"
#include "util.h"

typedef struct {
  int e, v, s;
  char parent[PATH_MAX * 2 + 256], dir[PATH_MAX * 2 + 300], env[64];
  int64_t init_steps, epoch_length;
  pid_t pid;
  int lockfd;
} Cell;

/* --set overrides for every cell (after each variant's own) */
static char *g_sets[MAX_SETS];
static int g_nsets;

/* a local sweep's share of the cores per cell ("run.threads=N", before the variant's and the
 * command line's overrides, which win), or empty: cells of one rank running --jobs at a time on
 * C cores get C / jobs threads each, so that they do not oversubscribe the cores they share */
static char g_threads_set[64];

static char g_dist[PATH_MAX + 32], g_plot[PATH_MAX + 32];
static volatile sig_atomic_t g_stop;

/* ---- cells ---- */

/* usbpo_dist's argument list for a cell (NULL-terminated, static storage until the next call);
 * extra: NULL, "--check-config" or "--resume" */
static char **cell_argv(const Exp *x, const Cell *c, const char *extra) {
  static char *av[2 * MAX_SETS + 32];
  static char buf[16][PATH_MAX * 2 + 400];
  int n = 0, b = 0;
  if (x->ranks > 1 && (!extra || strcmp(extra, "--check-config") != 0)) {
    av[n++] = "mpirun";
    av[n++] = "-np";
    snprintf(buf[b], sizeof buf[b], "%d", x->ranks), av[n++] = buf[b++];
  }
  av[n++] = g_dist;
  av[n++] = (char *)x->base;
  if (c->env[0]) {
    snprintf(buf[b], sizeof buf[b], "env.name=%s", c->env);
    av[n++] = "--set", av[n++] = buf[b++];
  }
  if (g_threads_set[0] && x->ranks == 1) av[n++] = "--set", av[n++] = g_threads_set;
  for (int i = 0; i < x->var[c->v].nsets; i++) av[n++] = "--set", av[n++] = x->var[c->v].sets[i];
  for (int i = 0; i < g_nsets; i++) av[n++] = "--set", av[n++] = g_sets[i];
  snprintf(buf[b], sizeof buf[b], "run.total_steps=%lld", (long long)x->total_steps);
  av[n++] = "--set", av[n++] = buf[b++];
  snprintf(buf[b], sizeof buf[b], "run.seed=%lld", (long long)x->seeds[c->s]);
  av[n++] = "--set", av[n++] = buf[b++];
  snprintf(buf[b], sizeof buf[b], "run.dir=%s", c->parent);
  av[n++] = "--set", av[n++] = buf[b++];
  snprintf(buf[b], sizeof buf[b], "run.name=s%lld", (long long)x->seeds[c->s]);
  av[n++] = "--set", av[n++] = buf[b++];
  if (extra) av[n++] = (char *)extra;
  av[n] = NULL;
  return av;
}

static Cell *make_cells(const Exp *x, int *ncells) {
  const int ne = x->nenvs ? x->nenvs : 1;
  Cell *cells = xmalloc(sizeof(Cell) * (size_t)ne * x->nvar * x->nseeds);
  int n = 0;
  for (int e = 0; e < ne; e++)
    for (int v = 0; v < x->nvar; v++)
      for (int s = 0; s < x->nseeds; s++) {
        Cell *c = &cells[n++];
        *c = (Cell){.e = e, .v = v, .s = s, .lockfd = -1};
        snprintf(c->env, sizeof c->env, "%s", x->nenvs ? x->envs[e] : "");
      }
  *ncells = n;
  return cells;
}

/* run a command, its output into *out (malloc'd); returns its exit status */
static int capture(char **av, char **out) {
  int fd[2];
  if (pipe(fd) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], 1), dup2(fd[1], 2);
    close(fd[0]), close(fd[1]);
    execvp(av[0], av);
    fprintf(stderr, "cannot run %s: %s\n", av[0], strerror(errno));
    _exit(127);
  }
  close(fd[1]);
  size_t cap = 1 << 16, len = 0;
  char *b = xmalloc(cap);
  ssize_t r;
  while ((r = read(fd[0], b + len, cap - len - 1)) > 0) {
    len += (size_t)r;
    if (len + 1 >= cap) {
      char *nb = xmalloc(cap * 2);
      memcpy(nb, b, len);
      xfree(b);
      b = nb, cap *= 2;
    }
  }
  b[len] = 0;
  close(fd[0]);
  int st;
  waitpid(pid, &st, 0);
  *out = b;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int64_t dump_int(const char *dump, const char *section, const char *key) {
  char hdr[80];
  snprintf(hdr, sizeof hdr, "[%s]\n", section);
  const char *s = strstr(dump, hdr);
  if (!s) return -1;
  char k[80];
  snprintf(k, sizeof k, "\n%s = ", key);
  const char *p = strstr(s, k);
  return p ? atoll(p + strlen(k)) : -1;
}

/* every (env, variant) resolved by usbpo_dist --check-config before anything starts */
static int check_cells(const Exp *x, Cell *cells, int n) {
  int bad = 0;
  for (int i = 0; i < n; i++) {
    Cell *c = &cells[i];
    const char *envname = c->env;
    snprintf(c->parent, sizeof c->parent, "%s/%s/%s", x->root, "?", x->var[c->v].label);
    /* cells are (env, variant, seed) with the seed innermost: the first seed's cell holds what
     * --check-config resolved for its (env, variant); the other seeds take it from there */
    const Cell *first = &cells[i - c->s];
    if (c->s > 0) {
      CHECK(first->e == c->e && first->v == c->v && first->s == 0, "sweep: cell order");
      c->init_steps = first->init_steps;
      c->epoch_length = first->epoch_length;
      snprintf(c->env, sizeof c->env, "%s", first->env);
    } else {
      char *out = NULL;
      int rc = capture(cell_argv(x, c, "--check-config"), &out);
      if (rc != 0) {
        sweep_fail_at(x->file, x->var[c->v].line, 1,
                      "variant '%s'%s%s: the config refuses it:", x->var[c->v].label,
                      envname[0] ? " on " : "", envname);
        fprintf(stderr, "%s", out);
        bad = 1;
        xfree(out);
        continue;
      }
      c->epoch_length = dump_int(out, "env", "epoch_length");
      c->init_steps = dump_int(out, "env", "init_steps");
      if (!envname[0]) {
        const char *p = strstr(out, "[env]\nname = \"");
        if (p) sscanf(p + 14, "%63[^\"]", c->env);
      }
      xfree(out);
      if (c->epoch_length > 0 && x->total_steps % c->epoch_length != 0) {
        sweep_fail_at(
            x->file, x->steps_line, 1,
            "experiment.total_steps = %lld is not a whole number of epochs (env.epoch_length "
            "= %lld for variant '%s' on %s)",
            (long long)x->total_steps, (long long)c->epoch_length, x->var[c->v].label, c->env);
        bad = 1;
      }
    }
    snprintf(c->parent, sizeof c->parent, "%s/%s/%s", x->root, c->env, x->var[c->v].label);
    snprintf(c->dir, sizeof c->dir, "%s/s%lld", c->parent, (long long)x->seeds[c->s]);
  }
  return bad ? -1 : 0;
}

static const char *cell_name(const Exp *x, const Cell *c) {
  static char b[256];
  snprintf(b, sizeof b, "%s/%s/s%lld", c->env, x->var[c->v].label, (long long)x->seeds[c->s]);
  return b;
}

/* ---- the state of a cell ---- */

typedef enum { C_NEW, C_PARTIAL, C_RUNNING, C_DONE, C_FAILED } CellState;
static const char *const STATE[] = {"new", "partial", "running", "done", "failed"};

typedef struct {
  CellState state;
  int64_t steps;
  double eval, wall;
  int last_exit;
  int kernels;  /* resumes on another BLAS kernel (blas_kernel_changes) */
  int imported; /* its metrics come from an earlier run (IMPORTED) */
} CellInfo;

/* the newest row of metrics.csv: env_steps (of the newest complete row, whatever its
 * evaluation), eval_return and wall_s of the newest evaluated one; -1 when the file exists but
 * cannot be read as a run's metrics (said), 0 otherwise */
static int last_row(const char *dir, int64_t *steps, double *eval, double *wall, int *kernels) {
  char path[PATH_MAX * 3];
  snprintf(path, sizeof path, "%s/metrics.csv", dir);
  *steps = 0, *eval = NAN, *wall = NAN;
  struct stat st;
  if (lstat(path, &st) != 0) return 0; /* not started */
  SweepRun r;
  if (sweep_read_run(path, &r, 0) != 0) return -1;
  if (isfinite(r.last_steps)) *steps = (int64_t)r.last_steps;
  if (r.n > 0) *eval = r.ret[r.n - 1], *wall = r.wall[r.n - 1];
  *kernels = r.kernel_changes;
  sweep_free_run(&r);
  return 0;
}

/* someone holds the lock file p (an exclusive flock): 1, else 0 */
static int lock_held(const char *p) {
  int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  struct stat st;
  int held = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_SH | LOCK_NB) != 0 &&
      errno == EWOULDBLOCK)
    held = 1;
  close(fd);
  return held;
}

static CellInfo cell_info(const Exp *x, const Cell *c) {
  CellInfo in = {C_NEW, 0, NAN, NAN, -1, 0, 0};
  char p[PATH_MAX * 3];
  struct stat st;
  const int unreadable = last_row(c->dir, &in.steps, &in.eval, &in.wall, &in.kernels) != 0;
  snprintf(p, sizeof p, "%s/sweep.exit", c->dir);
  FILE *f = fopen(p, "r");
  if (f) {
    if (fscanf(f, "%d", &in.last_exit) != 1) in.last_exit = -1;
    fclose(f);
  }
  snprintf(p, sizeof p, "%s/policy_final.bin", c->dir);
  int has_final = stat(p, &st) == 0;
  /* a cell whose metrics were imported from an earlier run (experiments/import-committed.sh):
   * done when they reach the budget, never run here */
  snprintf(p, sizeof p, "%s/IMPORTED", c->dir);
  in.imported = stat(p, &st) == 0;
  if (in.imported) has_final = 1;
  snprintf(p, sizeof p, "%s/ckpt", c->dir);
  const int has_ckpt = stat(p, &st) == 0;
  if (unreadable)
    in.state = C_FAILED;
  else if (has_final && in.steps >= x->total_steps)
    in.state = C_DONE;
  else if (in.last_exit > 0 && in.last_exit != EXIT_REQUEUE)
    in.state = C_FAILED;
  else if (has_ckpt || in.steps > 0)
    in.state = C_PARTIAL;
  /* running: a sweep holds the cell's lock, or a usbpo_dist its run's (started by hand) */
  snprintf(p, sizeof p, "%s/.sweep.lock", c->dir);
  if (lock_held(p)) in.state = C_RUNNING;
  snprintf(p, sizeof p, "%s/.run.lock", c->dir);
  if (lock_held(p)) in.state = C_RUNNING;
  return in;
}

/* ---- local runs ---- */

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

/* how a cell is asked to checkpoint and stop: SIGTERM to a usbpo_dist of its own; SIGUSR1 to an
 * mpirun, which passes it on to every rank (a SIGTERM would start Open MPI's own kill) */
static int stop_signal(const Exp *x) {
  return x->ranks > 1 ? SIGUSR1 : SIGTERM;
}

static int launch(const Exp *x, Cell *c) {
  char imp[PATH_MAX * 3];
  struct stat ist;
  snprintf(imp, sizeof imp, "%s/IMPORTED", c->dir);
  if (stat(imp, &ist) == 0) {
    fprintf(stderr,
            "usbpo_sweep: %s holds metrics imported from an earlier run (%s): not run here "
            "(remove the cell's directory to run it)\n",
            cell_name(x, c), imp);
    return -1;
  }
  if (util_mkdirs(c->dir) != 0) {
    fprintf(stderr, "usbpo_sweep: cannot create %s: %s\n", c->dir, strerror(errno));
    return -1;
  }
  char p[PATH_MAX * 3];
  snprintf(p, sizeof p, "%s/.sweep.lock", c->dir);
  /* close-on-exec: the other cells' processes must not inherit this lock (a finished cell would
   * stay "running" while they run); only this cell's child keeps it, below */
  c->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (c->lockfd < 0) { /* not "in use": a cell that cannot be locked cannot run */
    fprintf(stderr, "usbpo_sweep: %s: cannot open the cell's lock %s: %s\n", cell_name(x, c), p,
            strerror(errno));
    return -1;
  }
  if (flock(c->lockfd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    close(c->lockfd);
    c->lockfd = -1;
    if (e == EWOULDBLOCK) return 1; /* in use by another sweep: try again later */
    fprintf(stderr, "usbpo_sweep: %s: cannot lock %s: %s\n", cell_name(x, c), p, strerror(e));
    return -1;
  }
  snprintf(p, sizeof p, "%s/.run.lock", c->dir);
  if (lock_held(p)) { /* a usbpo_dist started by hand runs it */
    close(c->lockfd);
    c->lockfd = -1;
    return 1;
  }
  char **av = cell_argv(x, c, "--resume");
  snprintf(p, sizeof p, "%s/sweep.out", c->dir);
  pid_t pid = fork();
  if (pid == 0) {
    /* the child holds the lock (an inherited descriptor) for as long as it runs, and stops at a
     * checkpoint if the sweep dies */
    prctl(PR_SET_PDEATHSIG, stop_signal(x));
    fcntl(c->lockfd, F_SETFD, 0); /* this cell's lock survives the exec */
    /* mpirun, if signalled anyway, leaves the ranks 10 s to checkpoint, not 1 (README) */
    if (x->ranks > 1) setenv("OMPI_MCA_odls_base_sigkill_timeout", "10", 0);
    signal(SIGINT, SIG_IGN); /* a Ctrl-C reaches the sweep, which passes on a SIGTERM */
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
    execvp(av[0], av);
    fprintf(stderr, "usbpo_sweep: cannot run %s: %s\n", av[0], strerror(errno));
    _exit(127);
  }
  c->pid = pid;
  return 0;
}

static void record_exit(const Cell *c, int code) {
  char p[PATH_MAX * 3], t[32];
  snprintf(p, sizeof p, "%s/sweep.exit", c->dir);
  snprintf(t, sizeof t, "%d\n", code);
  FILE *f = fopen(p, "w");
  if (f) fputs(t, f), fclose(f);
}

static int run_local(const Exp *x, Cell *cells, int n, int jobs) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL), sigaction(SIGINT, &sa, NULL), sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL); /* as usbpo_dist: checkpoint, stop, exit 75 */
  signal(SIGPIPE, SIG_IGN);
  int *queue = xmalloc(sizeof(int) * (n + 1)), nq = 0, running = 0, failed = 0, done = 0;
  for (int i = 0; i < n; i++) {
    CellInfo in = cell_info(x, &cells[i]);
    if (in.state == C_DONE)
      done++;
    else
      queue[nq++] = i;
  }
  fprintf(stderr, "usbpo_sweep: %s: %d cells, %d done, %d to run, %d at a time\n", x->name, n, done,
          nq, jobs);
  int stopping = 0, head = 0;
  while (head < nq || running > 0) {
    if (g_stop && !stopping) {
      stopping = 1;
      fprintf(stderr, "usbpo_sweep: stopping: each running cell checkpoints and stops\n");
      for (int i = 0; i < n; i++)
        if (cells[i].pid > 0) kill(cells[i].pid, stop_signal(x));
    }
    int waiting = 0;
    while (!stopping && running < jobs && head < nq) {
      Cell *c = &cells[queue[head]];
      int rc = launch(x, c);
      if (rc == 1) { /* in use by another sweep: to the back of the queue */
        if (++waiting > nq - head) break;
        int t = queue[head];
        memmove(queue + head, queue + head + 1, sizeof(int) * (size_t)(nq - head - 1));
        queue[nq - 1] = t;
        continue;
      }
      head++;
      if (rc != 0) {
        failed++;
        continue;
      }
      running++;
      fprintf(stderr, "usbpo_sweep: start %s (pid %d)\n", cell_name(x, c), (int)c->pid);
    }
    if (stopping && running == 0) break;
    if (running == 0) {
      sleep(1); /* every cell left is in use by another sweep */
      continue;
    }
    int st;
    pid_t pid = waitpid(-1, &st, 0);
    if (pid < 0) continue; /* a signal: go round */
    for (int i = 0; i < n; i++) {
      Cell *c = &cells[i];
      if (c->pid != pid) continue;
      const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      record_exit(c, code);
      close(c->lockfd);
      c->lockfd = -1, c->pid = 0;
      running--;
      CellInfo in = cell_info(x, c);
      struct stat dst;
      /* exit 0 is done only if the cell's outputs say so (its directory may have vanished) */
      const int lost = code == 0 && in.state != C_DONE;
      fprintf(stderr, "usbpo_sweep: %s: exit %d, %lld/%lld steps%s\n", cell_name(x, c), code,
              (long long)in.steps, (long long)x->total_steps,
              lost                   ? (stat(c->dir, &dst) != 0 ? " (FAILED: its directory is gone)"
                                                                : " (FAILED: its outputs do not reach the budget)")
              : code == 0            ? ""
              : code == EXIT_REQUEUE ? " (stopped at a checkpoint)"
                                     : " (FAILED)");
      if (lost) record_exit(c, EXIT_FATAL);
      if ((code != 0 && code != EXIT_REQUEUE) || lost) failed++;
    }
  }
  xfree(queue);
  if (stopping) {
    fprintf(stderr, "usbpo_sweep: stopped; run the same command again to finish\n");
    return EXIT_REQUEUE;
  }
  return failed ? EXIT_FATAL : EXIT_OK;
}

/* ---- --status ---- */

static void fmt_dur(double s, char *b, size_t n) {
  if (!isfinite(s) || s < 0)
    snprintf(b, n, "-");
  else
    snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* a run's own clock (wall_s, the work it has done, none redone) at s env steps: linear between
 * its rows, from 0 at step 0; NAN past its newest row */
static double wall_at(const SweepRun *r, double s) {
  double ps = 0, pw = 0;
  for (int k = 0; k < r->n; k++) {
    if (!isfinite(r->wall[k]) || !isfinite(r->steps[k])) continue;
    if (r->steps[k] >= s) {
      const double d = r->steps[k] - ps;
      return d > 0 ? pw + (r->wall[k] - pw) * (s - ps) / d : r->wall[k];
    }
    ps = r->steps[k], pw = r->wall[k];
  }
  return NAN;
}

/* what the seeds of one variant's directory (s<N>/metrics.csv) say about its cost: the clock a
 * finished seed spent from `from` env steps to `to` and its clock at `from` (summed, n of them),
 * and every started seed's seconds per step (summed, nr) */
typedef struct {
  int64_t from, to;
  double left, at, rsum;
  int n, nr;
  double far_steps, far_wall; /* the started seed furthest on: its steps and clock (0: none) */
} Profile;

static void profile_dir(const char *vdir, Profile *p) {
  DIR *d = opendir(vdir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    if (de->d_name[0] != 's' || !de->d_name[1]) continue;
    strtol(de->d_name + 1, &end, 10);
    if (*end) continue;
    char path[PATH_MAX * 3];
    snprintf(path, sizeof path, "%s/%s/metrics.csv", vdir, de->d_name);
    SweepRun r;
    if (sweep_read_run(path, &r, 0) != 0) continue;
    if (r.n > 0 && r.steps[r.n - 1] > 0 && r.wall[r.n - 1] > 0) {
      p->rsum += r.wall[r.n - 1] / r.steps[r.n - 1], p->nr++;
      if (r.steps[r.n - 1] > p->far_steps)
        p->far_steps = r.steps[r.n - 1], p->far_wall = r.wall[r.n - 1];
    }
    if (isfinite(r.last_steps) && r.last_steps >= (double)p->to) {
      const double a = wall_at(&r, (double)p->from), b = wall_at(&r, (double)p->to);
      if (isfinite(a) && isfinite(b) && b >= a) p->left += b - a, p->at += a, p->n++;
    }
    sweep_free_run(&r);
  }
  closedir(d);
}

/* what the seeds of the cell's own variant say (its directory: a selection's --seeds included or
 * not) about the steps from `from` to `to`. A model-based run's cost per step grows with its data
 * (Hopper's MBPO: 246 s per 1 000 steps at the start, 462 s at 75k), so a finished seed's curve
 * says more than a cell's own rate so far. */
static Profile variant_profile(const Cell *c, int64_t from, int64_t to) {
  Profile p = {.from = from, .to = to};
  profile_dir(c->parent, &p);
  return p;
}

/* One pass over the variants of the cell's env (the variant directory's parent), the selection's
 * or not. *rate: the mean seconds per step of every started seed of every variant (NAN: none).
 * Return: for a cell whose own clock is own_wall at `from`, the clock of a finished seed of
 * another variant over the steps to `to`, times the cell's pace against it (own clock / that
 * seed's at `from`), taking the variant (its finished seeds averaged) whose pace is nearest 1
 * within x0.5-x2; NAN when none is that close or own_wall <= 0. Variants of one env differ
 * twentyfold in cost per step (SAC at 1 update per step and MBPO), so one outside that range says
 * little; one inside it has the shape of the cost curve that the cell's own rate so far lacks
 * (Hopper's official USB-PO ran at x0.85-0.97 of MBPO's clock, whose cost per step nearly
 * doubles). */
static double env_profile_left(const Cell *c, int64_t from, int64_t to, double own_wall,
                               double *rate) {
  *rate = NAN;
  char env_dir[sizeof c->parent];
  snprintf(env_dir, sizeof env_dir, "%s", c->parent);
  char *slash = strrchr(env_dir, '/');
  if (!slash) return NAN;
  *slash = 0;
  DIR *d = opendir(env_dir);
  if (!d) return NAN;
  double best = NAN, best_dev = INFINITY, rsum = 0;
  int nr = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char vdir[sizeof env_dir + 300];
    snprintf(vdir, sizeof vdir, "%s/%s", env_dir, de->d_name);
    Profile p = {.from = from, .to = to};
    profile_dir(vdir, &p);
    rsum += p.rsum, nr += p.nr;
    if (strcmp(vdir, c->parent) == 0 || !p.n || p.at <= 0 || own_wall <= 0) continue;
    const double pace = own_wall / (p.at / p.n), dev = fabs(log(pace));
    if (pace >= 0.5 && pace <= 2 && dev < best_dev) best = p.left / p.n * pace, best_dev = dev;
  }
  closedir(d);
  if (nr) *rate = rsum / nr;
  return best;
}

static int status(const Exp *x, Cell *cells, int n) {
  int count[5] = {0};
  int64_t steps = 0;
  double left = 0;
  printf("%-44s %15s %10s %-9s %8s\n", "cell", "steps", "eval", "state", "ETA");
  CellInfo *info = xmalloc(sizeof(CellInfo) * (size_t)n);
  int guessed = 0, kernel_cells = 0, profiled = 0, borrowed = 0;
  for (int i = 0; i < n; i++) info[i] = cell_info(x, &cells[i]);
  for (int i = 0; i < n; i++) {
    CellInfo in = info[i];
    count[in.state]++;
    steps += in.steps < x->total_steps ? in.steps : x->total_steps;
    double eta = NAN;
    int guess = 0;
    const Profile pv =
        in.state != C_DONE ? variant_profile(&cells[i], in.steps, x->total_steps) : (Profile){0};
    /* a finished seed of its variant: its clock over the steps left and at the cell's step */
    const double p_left = pv.n ? pv.left / pv.n : NAN;
    const double p_at = pv.n ? pv.at / pv.n : NAN, p_rate = pv.nr ? pv.rsum / pv.nr : NAN;
    /* none: another variant's on the env, at the pace of the cell itself once a tenth of the
     * budget is behind it, else (not started) at the pace of its variant's seed furthest on,
     * whose clock so far is then the cell's too; e_rate, the env's seconds per step, comes with
     * the same scan */
    double o_left = NAN, e_rate = NAN;
    if (in.state != C_DONE && !isfinite(p_left) && in.steps < x->total_steps) {
      if (in.steps * 10 >= x->total_steps)
        o_left = env_profile_left(&cells[i], in.steps, x->total_steps, in.wall, &e_rate);
      else if (in.steps == 0 && pv.far_steps * 10 >= (double)x->total_steps &&
               pv.far_steps < (double)x->total_steps) {
        o_left = env_profile_left(&cells[i], (int64_t)pv.far_steps, x->total_steps, pv.far_wall,
                                  &e_rate);
        if (isfinite(o_left)) o_left += pv.far_wall, guess = 1, guessed++;
      } else if (!isfinite(p_rate) && !(in.steps > 0 && in.wall > 0))
        env_profile_left(&cells[i], in.steps, x->total_steps, 0, &e_rate);
    }
    if (isfinite(o_left))
      eta = o_left, left += eta, borrowed++;
    else if (isfinite(p_left)) {
      /* a finished seed's clock over the steps left, at this cell's pace relative to that seed's
       * so far (once a tenth of the budget is behind it; within x0.5-x2) */
      double pace = 1;
      if (in.steps * 10 >= x->total_steps && in.wall > 0 && p_at > 0)
        pace = fmin(2, fmax(0.5, in.wall / p_at));
      eta = p_left * pace, left += eta, profiled++;
      if (in.steps == 0) guess = 1, guessed++;
    } else if (in.state != C_DONE && in.steps > 0 && in.wall > 0)
      eta = in.wall / in.steps * (x->total_steps - in.steps), left += eta;
    else if (in.state != C_DONE) {
      /* not started: the started seeds' seconds per step, its variant's on that env, else every
       * variant's on the env (variants of one env can differ twentyfold: SAC at 1 update per step
       * and MBPO), the selection's seeds and variants or not */
      const double r = isfinite(p_rate) ? p_rate : e_rate;
      if (isfinite(r))
        eta = r * (double)(x->total_steps - in.steps), left += eta, guess = 1, guessed++;
    }
    char st[48], e[16], ev[24];
    snprintf(st, sizeof st, "%lld/%lld", (long long)in.steps, (long long)x->total_steps);
    fmt_dur(eta, e + guess, sizeof e - 1);
    if (guess) e[0] = '~';
    if (isfinite(in.eval))
      snprintf(ev, sizeof ev, "%.1f", in.eval);
    else
      snprintf(ev, sizeof ev, "-");
    char state[48];
    if (in.state == C_FAILED)
      snprintf(state, sizeof state, "failed(%d)", in.last_exit);
    else
      snprintf(state, sizeof state, "%s", STATE[in.state]);
    if (in.imported)
      snprintf(state, sizeof state, "%s", in.state == C_DONE ? "imported" : "imported?");
    if (in.kernels > 0) { /* the cell's numbers are not an uninterrupted run's from some row */
      size_t l = strlen(state);
      snprintf(state + l, sizeof state - l, "+kernel%d", in.kernels);
      kernel_cells++;
    }
    printf("%-44s %15s %10s %-9s %8s\n", cell_name(x, &cells[i]), st, ev, state, e);
  }
  char e[16], g[480] = "", o[160] = "";
  fmt_dur(left, e, sizeof e);
  if (borrowed)
    snprintf(o, sizeof o, ", %d by another variant's finished seed on that env at the cell's pace",
             borrowed);
  if (guessed || profiled || borrowed)
    snprintf(
        g, sizeof g, " (ETA: %d cell%s by a finished seed's clock over the steps left%s%s%s%s)",
        profiled, profiled == 1 ? "" : "s", o, guessed ? "; ~: " : "", guessed ? "not started" : "",
        guessed
            ? ", by a finished seed, else its variant's rate on that env (any seed), else the env's"
            : "");
  printf("total: %d cells: %d done, %d running, %d partial, %d new, %d failed; %lld of %lld "
         "steps (%.1f%%); %s of single-cell work left%s\n",
         n, count[C_DONE], count[C_RUNNING], count[C_PARTIAL], count[C_NEW], count[C_FAILED],
         (long long)steps, (long long)x->total_steps * n,
         100.0 * (double)steps / ((double)x->total_steps * n), e, g);
  if (kernel_cells)
    printf("+kernelN: %d cell%s resumed N times on another BLAS kernel than its checkpoint was "
           "computed with (metrics column blas_kernel_changes): from that row on, its numbers "
           "are not those of an uninterrupted run\n",
           kernel_cells, kernel_cells == 1 ? "" : "s");
  xfree(info);
  return 0;
}

/* ---- --slurm ---- */

/* a word for bash, as data: single-quoted, a quote as '\'' (nothing inside is expanded) */
static void sh_word(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++)
    if (*s == '\'')
      fputs("'\\''", f);
    else
      fputc(*s, f);
  fputc('\'', f);
}

/* text for a comment line: no line break may end it */
static void comment_text(FILE *f, const char *s) {
  for (; *s; s++) fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* an #SBATCH file name, dir + "/" + pattern: double-quoted (sbatch splits its directives at
 * blanks outside quotes), the directory's '%' doubled (sbatch's file-name patterns, which the
 * pattern keeps); a directory sbatch cannot take is refused (-1) */
static int sbatch_path(FILE *f, const char *dir, const char *pattern) {
  for (const char *p = dir; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') return -1;
  fputc('"', f);
  for (; *dir; dir++) fputs(*dir == '%' ? "%%" : (char[]){*dir, 0}, f);
  fprintf(f, "/%s\"", pattern);
  return 0;
}

static int slurm(const Exp *x, Cell *cells, int n, int dry) {
  char sb[PATH_MAX + 64], path[PATH_MAX * 2 + 64];
  const char *env_sb = getenv("USBPO_SBATCH");
  if (env_sb)
    snprintf(sb, sizeof sb, "%s", env_sb);
  else if (rf_data_path("slurm/usbpo.sbatch", sb, sizeof sb) != 0)
    snprintf(sb, sizeof sb,
             "usbpo.sbatch (in $USBPO_DATA/slurm, <bindir>/../share/usbpo/slurm "
             "or the source tree's deploy/slurm)");
  char *abs_sb = realpath(sb, NULL);
  if (!abs_sb) {
    fprintf(stderr, "usbpo_sweep: no %s (set USBPO_SBATCH)\n", sb);
    return EXIT_FATAL;
  }
  char *prog = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&prog, &len);
  fputs("#!/bin/bash\n# usbpo_sweep ", f);
  comment_text(f, x->file);
  fprintf(f,
          ": one array task per cell, each through usbpo.sbatch (signals, requeue, resume)\n"
          "#SBATCH -J usbpo-%s\n#SBATCH --array=0-%d\n#SBATCH -n %d\n#SBATCH -o ",
          x->name, n - 1, x->ranks);
  if (sbatch_path(f, x->root, "slurm-%A_%a.out") != 0) {
    fclose(f);
    free(prog), free(abs_sb);
    fprintf(stderr,
            "usbpo_sweep: %s: the cells' directory %s holds a quote, a backslash or a control "
            "character, which an #SBATCH line cannot carry; choose another experiment.dir\n",
            x->file, x->root);
    return EXIT_FATAL;
  }
  fputs("\n#SBATCH --open-mode=append\n#SBATCH --requeue\n"
        "#SBATCH --signal=B:USR1@300\nset -u\ncase \"$SLURM_ARRAY_TASK_ID\" in\n",
        f);
  for (int i = 0; i < n; i++) {
    util_mkdirs(cells[i].parent);
    char **av = cell_argv(x, &cells[i], "--resume");
    while (*av && strcmp(*av, g_dist) != 0) av++; /* usbpo.sbatch runs mpirun itself */
    fprintf(f, "  %d) ARGS=(", i);
    for (char **a = av + 1; *a; a++) {
      if (a != av + 1) fputc(' ', f);
      sh_word(f, *a);
    }
    fprintf(f, ") ;; # %s\n", cell_name(x, &cells[i]));
  }
  fputs("  *) echo \"no cell $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\nexport USBPO_BIN=", f);
  sh_word(f, g_dist);
  fprintf(f, " USBPO_NP=%d\nexec bash ", x->ranks);
  sh_word(f, abs_sb);
  fputs(" \"${ARGS[@]}\"\n", f);
  fclose(f);
  free(abs_sb);
  util_mkdirs(x->root);
  snprintf(path, sizeof path, "%s/sweep.sbatch", x->root);
  char werr[PATH_MAX * 2 + 200];
  if (rf_write_output(path, prog, len, werr, sizeof werr) != 0) {
    fprintf(stderr, "usbpo_sweep: cannot write the batch script: %s\n", werr);
    free(prog);
    return EXIT_FATAL;
  }
  if (dry) {
    fputs(prog, stdout);
    fprintf(stderr, "usbpo_sweep: wrote %s (not submitted: --dry-run)\n", path);
    free(prog);
    return 0;
  }
  free(prog);
  char *av[] = {"sbatch", "--parsable", path, NULL}, *out = NULL;
  int rc = capture(av, &out);
  fprintf(stderr, "usbpo_sweep: sbatch %s: %s", path, out ? out : "");
  xfree(out);
  return rc == 0 ? 0 : EXIT_FATAL;
}

/* ---- main ---- */

/* usbpo_dist ($USBPO_DIST, else beside this program) and usbpo_plot (beside it): the build
 * directory's top and an installed bindir hold all three */
static void find_programs(void) {
  const char *d = getenv("USBPO_DIST");
  if (d && *d)
    snprintf(g_dist, sizeof g_dist, "%s", d);
  else
    rf_sibling("usbpo_dist", g_dist, sizeof g_dist);
  rf_sibling("usbpo_plot", g_plot, sizeof g_plot);
}

/* the experiment's index of one name of a --variants / --seeds list, or -1 */
static int variant_index(const Exp *x, const char *t) {
  for (int v = 0; v < x->nvar; v++)
    if (!strcmp(x->var[v].label, t)) return v;
  return -1;
}

static int seed_index(const Exp *x, const char *t) {
  char *end;
  long long sd = strtoll(t, &end, 10);
  for (int s = 0; !*end && s < x->nseeds; s++)
    if (x->seeds[s] == sd) return s;
  return -1;
}

/* keep[i] = 1 for each name of the comma list (index_of finds it); -1 for a name the
 * experiment does not have (a typo must not run nothing quietly), said with `what` */
static int pick(const Exp *x, const char *list, int (*index_of)(const Exp *, const char *),
                const char *what, int *keep) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
    const int i = index_of(x, t);
    if (i < 0) {
      fprintf(stderr, "usbpo_sweep: --%ss: %s has no %s '%s'\n", what, x->file, what, t);
      return -1;
    }
    keep[i] = 1;
  }
  return 0;
}

/* --variants a,b / --seeds 0,1: keep only these of the experiment's variants and seeds, in the
 * experiment's order */
static int keep_only(Exp *x, const char *variants, const char *seeds) {
  int keep_v[MAX_VARIANTS] = {0}, keep_s[MAX_SEEDS] = {0}, n = 0;
  if (variants) {
    if (pick(x, variants, variant_index, "variant", keep_v) != 0) return -1;
    for (int v = 0; v < x->nvar; v++)
      if (keep_v[v]) x->var[n++] = x->var[v];
    x->nvar = n;
  }
  if (seeds) {
    if (pick(x, seeds, seed_index, "seed", keep_s) != 0) return -1;
    n = 0;
    for (int s = 0; s < x->nseeds; s++)
      if (keep_s[s]) x->seeds[n++] = x->seeds[s];
    x->nseeds = n;
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: usbpo_sweep EXPERIMENT.toml [--jobs N] [--status] [--report] "
             "[--slurm [--dry-run]]\n"
             "                   [--envs a,b] [--steps N] [--set section.key=value]...\n"
             "                   [--variants a,b] [--seeds 0,1]\n"
             "  --envs, --steps   the experiment on other environments, with another budget\n"
             "  --set             an override for every cell (after the variant's own)\n"
             "  --variants, --seeds  only these of the experiment's variants (labels) and seeds\n"
             "  (none)     run every unfinished cell here, N at a time (default: the cores)\n"
             "  --status   a table of cells: steps, last evaluation, state, ETA\n"
             "  --report   <dir>/<name>/report.md: figures, intervals, a row per seed\n"
             "  --slurm    one array job, a task per cell (--dry-run: print it only)\n");
}

int main(int argc, char **argv) {
  const char *file = NULL;
  int jobs = 0, do_status = 0, do_report = 0, do_slurm = 0, dry = 0;
  long long steps = 0;
  const char *envs = NULL, *variants = NULL, *seeds = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--jobs") && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > 4096) {
        fprintf(stderr, "usbpo_sweep: --jobs wants 1..4096\n");
        return EXIT_USAGE;
      }
      jobs = (int)v;
    } else if (!strcmp(a, "--set") && i + 1 < argc) {
      const char *v = argv[++i];
      if (sweep_owned_key(v)) {
        fprintf(stderr,
                "usbpo_sweep: --set %s: the experiment sets this (experiment.seeds, dir, "
                "total_steps, envs; or --steps)\n",
                v);
        return EXIT_USAGE;
      }
      if (g_nsets == MAX_SETS || !strchr(v, '=')) {
        fprintf(stderr, "usbpo_sweep: --set wants section.key=value (at most %d)\n", MAX_SETS);
        return EXIT_USAGE;
      }
      g_sets[g_nsets++] = (char *)v;
    } else if (!strcmp(a, "--steps") && i + 1 < argc) {
      char *end;
      steps = strtoll(argv[++i], &end, 10);
      if (*end || steps < 1) {
        fprintf(stderr, "usbpo_sweep: --steps wants a budget of 1 or more env steps\n");
        return EXIT_USAGE;
      }
    } else if (!strcmp(a, "--envs") && i + 1 < argc) {
      envs = argv[++i];
    } else if (!strcmp(a, "--variants") && i + 1 < argc) {
      variants = argv[++i];
    } else if (!strcmp(a, "--seeds") && i + 1 < argc) {
      seeds = argv[++i];
    } else if (!strcmp(a, "--status")) {
      do_status = 1;
    } else if (!strcmp(a, "--report")) {
      do_report = 1;
    } else if (!strcmp(a, "--slurm")) {
      do_slurm = 1;
    } else if (!strcmp(a, "--dry-run")) {
      dry = 1;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (a[0] == '-' || file) {
      usage(stderr);
      return EXIT_USAGE;
    } else {
      file = a;
    }
  }
  if (!file || (dry && !do_slurm)) {
    usage(stderr);
    return EXIT_USAGE;
  }
  find_programs();
  Exp *x = xmalloc(sizeof *x);
  if (sweep_load_exp(file, x) != 0) return EXIT_FATAL;
  if (steps) x->total_steps = steps;
  if (envs) { /* --envs a,b: the experiment on other environments */
    x->nenvs = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", envs);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
      if (cfg_env_from_name(t) < 0 || x->nenvs == MAX_ENVS) {
        fprintf(stderr, "usbpo_sweep: --envs: unknown environment '%s'\n", t);
        return EXIT_USAGE;
      }
      snprintf(x->envs[x->nenvs++], 64, "%s", t);
    }
  }
  if (keep_only(x, variants, seeds) != 0) return EXIT_USAGE;
  int n;
  Cell *cells = make_cells(x, &n);
  if (check_cells(x, cells, n) != 0) {
    fprintf(stderr, "usbpo_sweep: %s refused; nothing was started\n", file);
    return EXIT_FATAL;
  }
  if (do_status) return status(x, cells, n);
  if (do_report) {
    SweepGrid g = {.root = x->root,
                   .baseline = x->baseline,
                   .threshold = x->threshold,
                   .has_threshold = x->has_threshold,
                   .total_steps = x->total_steps,
                   .plot = g_plot,
                   .nvar = x->nvar,
                   .nseeds = x->nseeds};
    const int ne = x->nenvs ? x->nenvs : 1;
    for (int e = 0; e < ne; e++) g.envs[g.nenvs++] = cells[e * x->nvar * x->nseeds].env;
    for (int v = 0; v < x->nvar; v++) g.labels[v] = x->var[v].label;
    for (int s = 0; s < x->nseeds; s++) g.seeds[s] = x->seeds[s];
    for (int i = 0; i < x->nplots; i++) g.plots[g.nplots++] = x->plots[i];
    g.init_steps = cells[0].init_steps;
    return sweep_report(&g) == 0 ? 0 : EXIT_FATAL;
  }
  if (do_slurm) return slurm(x, cells, n, dry);
  const int cores = pool_cores_available();
  if (!jobs) {
    jobs = cores / x->ranks;
    if (jobs < 1) jobs = 1;
  }
  const int per_cell = cores / jobs;
  snprintf(g_threads_set, sizeof g_threads_set, "run.threads=%d", per_cell > 1 ? per_cell : 1);
  return run_local(x, cells, n, jobs);
}
