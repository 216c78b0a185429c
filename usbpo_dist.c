/* usbpo_dist — command line, config, MPI, role placement, run.
 *
 *   usbpo_dist CONFIG.toml [--set section.key=value]...   one process, every role
 *   mpirun -np N usbpo_dist CONFIG.toml ...               roles placed over N ranks
 *
 * Rank 0 reads and validates the config and broadcasts the resolved text, so the other ranks
 * need neither the file nor a shared file system for it. */
#include <cblas.h>
#include <mpi.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "actors/actors.h"
#include "actors/evaluate.h"
#include "blasinfo.h"
#include "ckpt.h"
#include "comm.h"
#include "config.h"
#include "durable.h"
#include "hooks.h"
#include "learner/learner.h"
#include "modelsvc/modelsvc.h"
#include "modelsvc/probe.h"
#include "modeltrain.h"
#include "pool.h"
#include "rolekit.h"
#include "rundir.h"
#include "runlog.h"
#include "runtime.h"
#include "setup.h"
#include "tfevents.h"
#include "util.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: usbpo_dist CONFIG.toml [--set section.key=value]... [options]\n"
          "       mpirun -np N usbpo_dist CONFIG.toml ...\n"
          "\n"
          "options:\n"
          "  --set section.key=value  override one config value (repeatable)\n"
          "  --check-config           validate the config, print it resolved, exit\n"
          "  --resume                 continue from the newest complete checkpoint\n"
          "  --resume RUN_DIR         the same, with the run's own config.toml\n"
          "  --eval RUN_DIR [--episodes N] [--video out.mp4] [--as-epoch E]\n"
          "                           evaluate the run's latest policy (deterministic episodes);\n"
          "                           film the best one (offscreen EGL + ffmpeg)\n"
          "  --probe-model RUN_DIR [--at STEPS] [--data-at STEPS] [--variants faithful,w2,...]\n"
          "                           one model training from the run's newest checkpoint (at\n"
          "                           or before STEPS env steps, exploration included; its real\n"
          "                           data from a later one) with each phase-2 variant (words:\n"
          "                           faithful w2 mbpo old_own_scaler same_member bias shift\n"
          "                           lr=X moments=shared|own, joined by +): holdout MSE,\n"
          "                           J, shift, bias, weight change, steps kept\n"
          "  --help                   this text and the list of config keys\n"
          "  --version                print the version\n"
          "\n"
          "exit codes: 0 done, 1 error, 2 bad command line, 3 a rank went silent,\n"
          "            4 a write failed (disk full, read-only, file size limit: the newest\n"
          "              checkpoint is intact; resume once there is room),\n"
          "            5 out of memory or over run.max_memory_gb,\n"
          "            75 stopped at a checkpoint on request (requeue),\n"
          "            130 a second Ctrl-C (stopped at once, no checkpoint)\n"
          "\n"
          "config keys (see configs/*.toml for the per-environment presets):\n");
  cfg_print_keys(f);
}

static void tick(void *ctx) {
  comm_tick((Comm *)ctx);
}

/* handlers only set flags; the learner acts at its next safe point. SIGHUP (a closed terminal
 * or ssh session) is a SIGTERM. A second SIGINT ends the process at once. */
static void on_signal(int sig) {
  g_util_stop = 1;
  if (sig == SIGUSR1) g_sig_usr1 = 1;
  if (sig == SIGTERM || sig == SIGHUP) g_sig_term = g_sig_term ? g_sig_term : sig;
  if (sig == SIGINT) {
    if (g_sig_int) _exit(130);
    g_sig_int = 1;
  }
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  /* a closed pipe (usbpo_dist ... | head) or the file size limit (ulimit -f) must not kill the
   * run silently: the write fails instead, and a failed write to the run's outputs stops the run
   * with a message and exit 4 (stderr alone failing does not: log.txt goes on) */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
}

/* a string from rank 0 to every rank ("" = none) */
static void share_string(Comm *c, char *buf, size_t n) {
  if (!comm_is_mpi(c)) return;
  int len = comm_rank(c) == 0 ? (int)strlen(buf) + 1 : 0;
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  CHECK((size_t)len <= n, "shared string too long");
  MPI_Bcast(buf, len, MPI_CHAR, 0, MPI_COMM_WORLD);
}

/* the dimensions messages are validated against (the runtime knows no role's shapes) */
static CodecCtx codec_ctx(const Config *cfg) {
  SetupDims d;
  setup_dims(cfg, &d);
  CodecCtx x = {.obs_dim = d.obs_dim,
                .act_dim = d.act_dim,
                .in_dim = d.in_dim,
                .out_dim = d.out_dim,
                .n_policy = d.n_policy,
                .n_model = d.n_model,
                .elites = d.elites,
                .members = d.members,
                .shards = d.shards,
                .max_rows = d.max_rows,
                .n_metrics = TM_COUNT,
                .max_state = 1ll << 40};
  return x;
}

/* every rank has its signal handlers: tell a batch script that forwarding USR1/TERM is now
 * safe (deploy/slurm/usbpo.sbatch holds a signal that arrives earlier, when it would kill a
 * rank still starting up). The script names the file in USBPO_READY_FILE. */
static void announce_ready(Comm *c) {
  const char *path = getenv("USBPO_READY_FILE");
  if (!path || !*path) return;
  if (comm_is_mpi(c)) MPI_Barrier(MPI_COMM_WORLD);
  if (comm_rank(c) != 0) return;
  FILE *f = fopen(path, "w");
  if (!f) {
    LOG_W("cannot write the ready file %s: %s", path, strerror(errno));
    return;
  }
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
}

/* rank 0's resolved config text to every rank */
static char *share_config(Comm *c, char *text) {
  if (!comm_is_mpi(c)) return text;
  long long n = text ? (long long)strlen(text) + 1 : 0;
  MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  if (n == 0) return NULL; /* rank 0 failed: everyone stops */
  if (comm_rank(c) != 0) text = malloc((size_t)n);
  MPI_Bcast(text, (int)n, MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

/* the run's outcome, for launchers that cannot see the exit code: mpirun signalled by Slurm
 * may itself exit 1 although every rank stopped cleanly at a checkpoint with 75. Rank 0 writes
 * its exit code (one line) into $USBPO_STATUS_FILE; deploy/slurm/usbpo.sbatch reads it. */
static void record_status(int rank, int code) {
  const char *path = getenv("USBPO_STATUS_FILE");
  if (rank != 0 || !path || !*path) return;
  char text[32], err[512];
  snprintf(text, sizeof text, "%d\n", code);
  if (dur_write_file(path, text, strlen(text), err, sizeof err) != 0) LOG_W("%s", err);
}

/* ---- the command line ---- */

typedef struct {
  const char *cfg_path;
  const char **sets; /* --set values, then run.dir / run.name / run.resume as implied */
  int nsets, check_only;
} Args;

/* ---- the BLAS kernel ---- */

/* before anything loads work into OpenBLAS: if it fell back to a generic kernel on a CPU with
 * AVX2 / AVX-512, restart once with OPENBLAS_CORETYPE set to the matching core (never over a
 * value already set) */
static void blas_kernel_check(char **argv) {
  const char *set = getenv("OPENBLAS_CORETYPE");
  if ((set && *set) || getenv("USBPO_BLAS_REEXEC")) return;
  const BlasCpu cpu = blas_cpu();
  const char *core = blas_core(1), *want = blas_pick(core, &cpu);
  if (!want) return;
  char flags[64];
  blas_cpu_text(&cpu, flags, sizeof flags);
  fprintf(stderr,
          "usbpo: OpenBLAS fell back to its generic %s kernel on a CPU with %s: restarting with "
          "OPENBLAS_CORETYPE=%s (set OPENBLAS_CORETYPE yourself to choose another)\n",
          core, flags, want);
  setenv("OPENBLAS_CORETYPE", want, 1);
  setenv("USBPO_BLAS_REEXEC", core, 1);
  execv("/proc/self/exe", argv);
  fprintf(stderr, "usbpo: warning: could not restart (%s): going on with the %s kernel\n",
          strerror(errno), core);
}

/* a resume: the kernel the checkpoint's numbers were computed with, so that the run continues
 * bit for bit (a requeued job lands on whatever node is free). When the environment chose no
 * kernel and this one differs, restart once with OPENBLAS_CORETYPE set to it, if the CPU can
 * run it; else go on (the learner says so and counts it in the metrics) */
static void blas_resume_kernel(const Args *a, char **argv) {
  const char *set = getenv("OPENBLAS_CORETYPE");
  if ((set && *set) || getenv("USBPO_BLAS_REEXEC")) return;
  Config cfg;
  CfgErrors errs = {0};
  const int ok = cfg_load(&cfg, a->cfg_path, a->sets, a->nsets, &errs) == 0;
  cfg_errors_free(&errs);
  if (!ok || !cfg.run.resume) return; /* a bad config is reported by the normal path */
  char run_dir[1024], dir[1200], was[64] = "", cpu_was[64] = "";
  rk_run_dir(&cfg, run_dir, sizeof run_dir);
  if (ckpt_find_latest(run_dir, cfg_hash(&cfg), dir, sizeof dir) != 0 ||
      ckpt_blas_kernel(dir, was, sizeof was, cpu_was, sizeof cpu_was) != 0)
    return;
  const char *now = blas_core(0);
  if (!strcasecmp(was, now)) return;
  const BlasCpu cpu = blas_cpu();
  if (!blas_can_run(was, &cpu)) {
    char flags[64];
    blas_cpu_text(&cpu, flags, sizeof flags);
    fprintf(stderr,
            "usbpo: warning: the checkpoint %s was computed with OpenBLAS's %s kernel (CPU: %s), "
            "which this CPU (%s) cannot run: going on with %s, and the run's numbers from here "
            "are not those of an uninterrupted run\n",
            dir, was, cpu_was[0] ? cpu_was : "?", flags, now);
    return;
  }
  fprintf(stderr,
          "usbpo: the checkpoint %s was computed with OpenBLAS's %s kernel, this process loaded "
          "%s: restarting with OPENBLAS_CORETYPE=%s so that the run continues bit-identical\n",
          dir, was, now, was);
  setenv("OPENBLAS_CORETYPE", was, 1);
  char why[96];
  snprintf(why, sizeof why, "resume:%s", now);
  setenv("USBPO_BLAS_REEXEC", why, 1);
  execv("/proc/self/exe", argv);
  fprintf(stderr, "usbpo: warning: could not restart (%s): going on with the %s kernel\n",
          strerror(errno), now);
}

/* the kernel in use, for the log */
static void blas_kernel_report(void) {
  const BlasCpu cpu = blas_cpu();
  char flags[64];
  blas_cpu_text(&cpu, flags, sizeof flags);
  const char *re = getenv("USBPO_BLAS_REEXEC"), *set = getenv("OPENBLAS_CORETYPE");
  char why[160] = "";
  if (re && !strncmp(re, "resume:", 7))
    snprintf(why, sizeof why,
             " (chosen by usbpo: the kernel of the checkpoint resumed; %s was "
             "loaded first)",
             re + 7);
  else if (re)
    snprintf(why, sizeof why, " (chosen by usbpo: OpenBLAS had fallen back to %s)", re);
  else if (set && *set)
    snprintf(why, sizeof why, " (OPENBLAS_CORETYPE=%s from the environment)", set);
  LOG_I("BLAS: OpenBLAS kernel %s%s; CPU: %s", blas_core(0), why, flags);
}

/* -1 to go on, else the exit code */
static int parse_args(int argc, char **argv, Args *a) {
  int resume = 0;
  a->sets = calloc((size_t)argc + 4, sizeof *a->sets); /* + run.dir, run.name, resume */
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      usage(stdout);
      return EXIT_OK;
    } else if (!strcmp(s, "--version")) {
      printf("usbpo_dist %s\n", USBPO_VERSION);
      return EXIT_OK;
    } else if (!strcmp(s, "--set")) {
      if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)) {
        fprintf(stderr, "usbpo: --set needs section.key=value\n");
        return EXIT_USAGE;
      }
      a->sets[a->nsets++] = argv[++i];
    } else if (!strncmp(s, "--set=", 6)) {
      a->sets[a->nsets++] = s + 6;
    } else if (!strcmp(s, "--check-config")) {
      a->check_only = 1;
    } else if (!strcmp(s, "--resume")) {
      resume = 1;
    } else if (s[0] == '-' && s[1] == '-') {
      fprintf(stderr, "usbpo: unknown option %s (see --help)\n", s);
      return EXIT_USAGE;
    } else if (!a->cfg_path) {
      a->cfg_path = s;
    } else {
      fprintf(stderr, "usbpo: more than one config file (%s, %s)\n", a->cfg_path, s);
      return EXIT_USAGE;
    }
  }
  /* usbpo_dist --resume RUN_DIR: the run's own resolved config */
  static char run_cfg[PATH_MAX + 16];
  struct stat st;
  if (a->cfg_path && stat(a->cfg_path, &st) == 0 && S_ISDIR(st.st_mode)) {
    /* the run lives where RUN_DIR is now (it may have been copied or moved): run.dir and
     * run.name come from the path, before the user's own --set so that those still win */
    static char abs_dir[PATH_MAX], set_dir[PATH_MAX + 16], set_name[PATH_MAX + 16];
    if (!realpath(a->cfg_path, abs_dir)) {
      fprintf(stderr, "usbpo: %s: %s\n", a->cfg_path, strerror(errno));
      return EXIT_USAGE;
    }
    snprintf(run_cfg, sizeof run_cfg, "%s/config.toml", abs_dir);
    a->cfg_path = run_cfg;
    resume = 1;
    char *slash = strrchr(abs_dir, '/');
    snprintf(set_name, sizeof set_name, "run.name=%s", slash + 1);
    if (slash == abs_dir)
      slash[1] = 0;
    else
      *slash = 0;
    snprintf(set_dir, sizeof set_dir, "run.dir=%s", abs_dir);
    memmove(a->sets + 2, a->sets, sizeof a->sets[0] * a->nsets);
    a->sets[0] = set_dir, a->sets[1] = set_name;
    a->nsets += 2;
  }
  if (resume) a->sets[a->nsets++] = "run.resume=true";
  if (!a->cfg_path && a->nsets == 0) {
    usage(stderr);
    return EXIT_USAGE;
  }
  return -1;
}

static int load_config(const Args *a, Config *cfg) {
  CfgErrors errs = {0};
  if (cfg_load(cfg, a->cfg_path, a->sets, a->nsets, &errs) == 0) return 0;
  fprintf(stderr, "%s", errs.text);
  fprintf(stderr, "usbpo: %d config error%s\n", errs.count, errs.count == 1 ? "" : "s");
  cfg_errors_free(&errs);
  return -1;
}

/* rank 0 loads and validates the config, every rank parses the resolved text: 0 or -1 */
static int shared_config(Comm *comm, const Args *a, Config *cfg) {
  char *text = NULL;
  if (comm_rank(comm) == 0 && load_config(a, cfg) == 0) text = cfg_dump_string(cfg);
  text = share_config(comm, text);
  if (!text) return -1;
  if (comm_rank(comm) != 0) {
    CfgErrors errs = {0};
    CHECK(cfg_load_text(cfg, text, "resolved config from rank 0", NULL, 0, &errs) == 0,
          "resolved config does not re-parse: %s", errs.text);
  }
  free(text);
  return 0;
}

/* ---- rank 0: the memory budget and the run directory ---- */

/* the memory one process may use here: the address-space and data rlimits and the cgroup's
 * memory.max (0 = no limit); and the machine's RAM */
static double process_limit(void) {
  double lim = 0;
  struct rlimit rl;
  int res[2] = {RLIMIT_AS, RLIMIT_DATA};
  for (int i = 0; i < 2; i++)
    if (getrlimit(res[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (lim == 0 || (double)rl.rlim_cur < lim))
      lim = (double)rl.rlim_cur;
  FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
  if (f) {
    double v;
    if (fscanf(f, "%lf", &v) == 1 && v > 0 && (lim == 0 || v < lim)) lim = v;
    fclose(f);
  }
  return lim;
}

static double machine_ram(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

static double g_budget0; /* rank 0's share of the memory budget (peak_memory_report) */

/* at the end: the process's peak resident memory against its budget and the reserve beside it
 * (each rank its own; rank 0 at info level, a peak over budget + reserve as a warning) */
static void peak_memory_report(int rank) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return;
  const double peak = (double)ru.ru_maxrss * 1024.0, reserve = 384.0 * 1048576;
  char p[32], b[32], r[32];
  util_fmt_bytes(peak, p), util_fmt_bytes(g_budget0, b), util_fmt_bytes(reserve, r);
  if (rank != 0)
    LOG_D("peak resident memory %s", p);
  else if (g_budget0 > 0 && peak > g_budget0 + reserve)
    LOG_W("peak resident memory %s, above this rank's memory budget %s + %s reserve", p, b, r);
  else
    LOG_I("peak resident memory %s (this rank's memory budget %s + %s reserve)", p, b, r);
}

static void check_memory(const Config *cfg, const Placement *pl, Comm *comm) {
  char b1[32], b2[32], b3[32], b4[32];
  double ml = setup_memory_learner(cfg), mm = setup_memory_modelsvc(cfg);
  double mr = setup_memory_rollout(cfg), ma = setup_memory_actor(cfg);
  double total = ml + mm + mr * pl->R + ma * pl->A;
  LOG_I("memory budget %s: learner %s, modelsvc %s, %d rollout worker(s) x %s, %d actor(s)",
        util_fmt_bytes(total, b1), util_fmt_bytes(ml, b2), util_fmt_bytes(mm, b3), pl->R,
        util_fmt_bytes(mr, b4), pl->A);
  if (cfg->run.max_memory_gb > 0 && total > cfg->run.max_memory_gb * 1073741824.0) {
    LOG_E("the memory budget %s exceeds run.max_memory_gb = %g", b1, cfg->run.max_memory_gb);
    comm_abort(comm, EXIT_FATAL);
  }
  /* per rank: what the roles it hosts need, against what one process may have */
  double worst = 0;
  int worst_rank = 0;
  for (int r = 0; r < pl->np; r++) {
    double b = (r == pl->learner ? ml : 0) + (r == pl->modelsvc ? mm : 0);
    for (int i = 0; i < pl->R; i++) b += pl->rollout[i] == r ? mr : 0;
    for (int i = 0; i < pl->A; i++) b += pl->actor[i] == r ? ma : 0;
    if (b > worst) worst = b, worst_rank = r;
    if (r == 0) g_budget0 = b;
  }
  /* besides the budget: MPI, OpenBLAS's buffers, MuJoCo, thread stacks */
  const double reserve = 384.0 * 1048576;
  const double lim = process_limit(), ram = machine_ram();
  if (lim > 0 && worst + reserve > lim) {
    LOG_E("rank %d needs %s (and about %s more for MPI, OpenBLAS and MuJoCo), more than this "
          "process may use (%s: ulimit -v / -d or the cgroup's memory.max): lower the sizes "
          "(sac.buffer_size, topology.actors) or raise the limit (exit %d)",
          worst_rank, util_fmt_bytes(worst, b2), util_fmt_bytes(reserve, b4),
          util_fmt_bytes(lim, b3), EXIT_NOMEM);
    comm_abort(comm, EXIT_NOMEM);
  }
  /* all ranks on this machine (one process, or one node) */
  const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (ram > 0 && total > ram && (pl->np == 1 || (local && atoi(local) == pl->np))) {
    LOG_E("the memory budget %s exceeds this machine's memory (%s): lower the sizes "
          "(sac.buffer_size, topology.actors) or spread the ranks over more nodes",
          b1, util_fmt_bytes(ram, b2));
    comm_abort(comm, EXIT_NOMEM);
  }
}

/* the outputs go back to what they were at the checkpoint resume_dir */
static void restore_outputs(const Config *cfg, const char *resume_dir, Comm *comm) {
  char path[1300], err[1024];
  snprintf(path, sizeof path, "%s/learner-0.ckpt", resume_dir);
  CkptFile *f = ckr_open(path, "learner", 0, err, sizeof err);
  int64_t mo = 0, eo = 0, to = -1, mr = 0, mc = 0;
  if (!f || ckr_int(f, "csv_metrics", &mo) || ckr_int(f, "csv_episodes", &eo) ||
      ckr_int(f, "tb_events", &to) || ckr_arr_shape(f, "metrics", DT_F64, &mr, &mc)) {
    LOG_E("cannot restore the outputs to checkpoint %s%s%s", resume_dir, f ? "" : ": ",
          f ? "" : err);
    comm_abort(comm, EXIT_FATAL);
  }
  /* written by a usbpo with another metrics layout (an upgrade mid-run) */
  const int upgraded = mr != metrics_ncols();
  /* the outputs' first bytes are those the checkpoint saw (a file replaced since, say by a
   * longer one from another run, is refused rather than cut and spliced) */
  char rd[1024];
  rk_run_dir(cfg, rd, sizeof rd);
  const char *files[2] = {"metrics.csv", "episodes.csv"},
             *keys[2] = {"csv_metrics_sum", "csv_episodes_sum"};
  const int64_t offs[2] = {mo, eo};
  for (int i = upgraded ? 1 : 0; i < 2; i++) {
    int64_t want = 0;
    uint64_t got = 0;
    char p[1300];
    snprintf(p, sizeof p, "%s/%s", rd, files[i]);
    struct stat pst;
    if (ckr_int(f, keys[i], &want) != 0 || want == 0) continue; /* an older checkpoint */
    if (stat(p, &pst) != 0 || pst.st_size < offs[i]) continue;  /* refused below, as shorter */
    if (runlog_prefix_sum(p, offs[i], &got) != 0 || got != (uint64_t)want) {
      LOG_E("cannot resume from %s: %s's first %lld bytes are not those the checkpoint recorded "
            "(the file was replaced or edited since: another run's?); nothing was written",
            resume_dir, p, (long long)offs[i]);
      comm_abort(comm, EXIT_FATAL);
    }
  }
  if (upgraded && runlog_migrate_metrics(cfg, mo, (int)mr, err, sizeof err)) {
    LOG_E("cannot restore metrics.csv to checkpoint %s: %s", resume_dir, err);
    comm_abort(comm, EXIT_FATAL);
  }
  const int cut = runlog_truncate(cfg, upgraded ? -1 : mo, eo, to, err, sizeof err);
  if (cut != 0) { /* a file that cannot be written is an I/O failure: fix it and resume */
    LOG_E("cannot restore the outputs to checkpoint %s: %s%s", resume_dir, err,
          cut == -2 ? " (exit 4: make the file writable, then resume)" : "");
    comm_abort(comm, cut == -2 ? EXIT_IO : EXIT_FATAL);
  }
  ckr_close(f);
}

/* what an earlier attempt wrote is kept aside, whole, never overwritten or deleted: the outputs,
 * its checkpoints and its identity go to a new <run>/before-restart-<time>[-k]/ (rundir.h: a
 * directory of its own every time, and a move that is finished by the next start if a kill
 * interrupts it) */
static int keep_aside(const char *run_dir) {
  char ev[1200], aside[4300], err[1024];
  snprintf(ev, sizeof ev, "%s", tfe_find(run_dir, ev, sizeof ev) == 0 ? strrchr(ev, '/') + 1 : "-");
  const char *outs[8] = {"metrics.csv", "episodes.csv", "policy_final.bin", "policy_final.bin.sum",
                         "ckpt",        "config.toml",  "run.id",           ev};
  if (rundir_set_aside(run_dir, outs, 8, aside, sizeof aside, err, sizeof err) != 0) {
    LOG_E("%s; nothing was moved", err);
    return -1;
  }
  return 0;
}

/* does the run directory hold anything a fresh start would replace? */
static int holds_outputs(const char *run_dir) {
  const char *outs[3] = {"metrics.csv", "ckpt", "policy_final.bin"};
  for (int i = 0; i < 3; i++) {
    char p[1300];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", run_dir, outs[i]);
    if (lstat(p, &st) == 0) return 1;
  }
  return 0;
}

/* a resume refused for another configuration: which keys differ, from the configuration the
 * checkpoint recorded (or, for checkpoints older than that, the run's config.toml) */
static void explain_mismatch(const Config *cfg, const char *ckpt, const char *run_dir) {
  char *text = ckpt_config_text(ckpt), diff[4096] = "", path[1300];
  const char *from = "its MANIFEST";
  if (!text) {
    size_t len;
    snprintf(path, sizeof path, "%s/config.toml", run_dir);
    text = util_read_file(path, &len);
    from = "the run's config.toml";
  }
  Config was;
  CfgErrors errs = {0};
  int nd = -1, old_faithful = 0;
  if (text && cfg_load_text(&was, text, from, NULL, 0, &errs) == 0) {
    nd = cfg_diff(&was, cfg, diff, sizeof diff);
    /* a faithful run from before finetune.moments existed: its phase 2 had moments of its own,
     * which this version's faithful does not (its text resolves to shared moments here, so
     * cfg_diff cannot see the difference) */
    old_faithful = was.run.algo == ALGO_USBPO && was.finetune.mode == FT_FAITHFUL &&
                   !strstr(text, "\nmoments =") && cfg->finetune.moments == FT_MOM_SHARED;
  }
  cfg_errors_free(&errs);
  free(text);
  LOG_E("cannot resume %s: its checkpoint %s was written with another configuration%s%s%s", run_dir,
        ckpt, nd > 0 ? " (" : "", nd > 0 ? diff : "", nd > 0 ? ")" : "");
  if (old_faithful)
    LOG_E(
        "this run's faithful phase 2 is the one of usbpo before 2026-12, with Adam moments of its "
        "own; faithful now steps on phase 1's moments, as the official code does (spec "
        "deviation 10). To continue it as it was, resume with --set finetune.moments=own "
        "(the variant 'faithful+moments=own')");
  LOG_E("nothing was written. Resume with the run's own configuration (usbpo_dist --resume %s), "
        "start a new run under another run.name, or start this one over with --set "
        "run.overwrite=true (its outputs and checkpoints are then moved aside, not deleted)",
        run_dir);
}

/* the run directory, fresh or back at its newest valid checkpoint (resume_dir, "" if none).
 * Nothing a user has is deleted or overwritten by a run that cannot resume it. */
static RunLog *open_run(Config *cfg, const Placement *pl, Comm *comm, char *resume_dir, size_t n) {
  char err[1024], run_dir[1024];
  rk_run_dir(cfg, run_dir, sizeof run_dir);
  RunLogMode mode = RUNLOG_FRESH;
  /* one writer per run directory, for the run's life (rank 0 holds it) */
  int busy = 0;
  if (rundir_lock(run_dir, &busy, err, sizeof err) != 0) {
    LOG_E("%s; nothing was written", err);
    comm_abort(comm, busy ? EXIT_FATAL : EXIT_IO);
  }
  /* a set-aside a kill interrupted is finished before anything looks at the run */
  if (rundir_finish_aside(run_dir, err, sizeof err) < 0) {
    LOG_E("%s", err);
    comm_abort(comm, EXIT_IO);
  }
  if (cfg->run.resume) {
    CkptScan sc;
    if (ckpt_scan(run_dir, cfg_hash(cfg), runlog_read_run_id(run_dir), &sc) != 0) {
      LOG_E("%s: nothing was written", sc.error);
      comm_abort(comm, EXIT_FATAL);
    }
    if (sc.latest[0]) {
      snprintf(resume_dir, n, "%s", sc.latest);
      restore_outputs(cfg, resume_dir, comm);
      mode = RUNLOG_RESUME;
    } else if (sc.other_config[0] && !cfg->run.overwrite) {
      explain_mismatch(cfg, sc.other_config, run_dir);
      comm_abort(comm, EXIT_FATAL);
    } else if (sc.foreign[0] && !cfg->run.overwrite) {
      LOG_E("cannot resume %s: its checkpoint %s belongs to another run (its run id differs from "
            "%s/run.id); nothing was written",
            run_dir, sc.foreign, run_dir);
      comm_abort(comm, EXIT_FATAL);
    } else {
      LOG_W("no valid checkpoint under %s/ckpt: starting the run from the beginning", run_dir);
      if (keep_aside(run_dir) != 0) comm_abort(comm, EXIT_IO);
      cfg->run.overwrite = true;
    }
  } else if (!cfg->run.overwrite && holds_outputs(run_dir)) {
    LOG_E("run directory %s already holds a run: resume it with --resume, start it over with "
          "--set run.overwrite=true (what it holds is moved aside), or choose another run.name",
          run_dir);
    comm_abort(comm, EXIT_FATAL);
  } else if (cfg->run.overwrite && holds_outputs(run_dir)) {
    LOG_W("run.overwrite: starting %s over; what it held is moved aside", run_dir);
    if (keep_aside(run_dir) != 0) comm_abort(comm, EXIT_IO);
  }
  errno = 0;
  RunLog *log = runlog_open(cfg, mode, err, sizeof err);
  if (!log) {
    /* a file that cannot be written (a size limit, a full or read-only disk, an immutable or
     * unwritable file) is exit 4, as the same failure later in the run is */
    const int e = errno, io = e == EFBIG || e == ENOSPC || e == EDQUOT || e == EROFS ||
                              e == EACCES || e == EPERM || e == EIO;
    LOG_E("%s%s", err, io ? " (exit 4: nothing of the run was lost)" : "");
    comm_abort(comm, io ? EXIT_IO : EXIT_FATAL);
  }
  if (resume_dir[0]) LOG_I("resuming from checkpoint %s", resume_dir);
  const int np = pl->np;
  LOG_I("usbpo %s: %s on %s, seed %lld, %s mode, %d rank(s); run directory %s", USBPO_VERSION,
        cfg_algo_name(cfg->run.algo), cfg_env_name(cfg->env.name), (long long)cfg->run.seed,
        cfg->run.mode == MODE_SYNC ? "sync" : "async", np, runlog_dir(log));
  for (int r = 0; r < np && np > 1; r++) {
    char who[256];
    placement_describe(pl, r, who, sizeof who);
    LOG_I("rank %d: %s", r, who);
  }
  return log;
}

/* ---- the roles of this rank ---- */

typedef struct {
  ActorRole *actors[RT_MAX];
  RolloutRole *rolls[RT_MAX];
  ModelsvcRole *ms;
  int na, nr;
} LocalRoles;

static void make_roles(const Config *cfg, Runtime *rt, const Placement *pl, int rank,
                       const char *resume_from, LocalRoles *lr) {
  char err[1024];
  for (int a = 0; a < pl->A; a++)
    if (pl->actor[a] == rank) {
      lr->actors[lr->na] = actor_role_make(cfg, rt, a, resume_from, err, sizeof err);
      if (!lr->actors[lr->na]) {
        LOG_E("actor %d: %s", a, err);
        comm_abort(rt_comm(rt), EXIT_FATAL);
      }
      lr->na++;
    }
  if (cfg->run.algo == ALGO_SAC) return;
  if (pl->modelsvc == rank) lr->ms = modelsvc_role_make(cfg, rt, resume_from);
  for (int r = 0; r < pl->R; r++)
    if (pl->rollout[r] == rank) lr->rolls[lr->nr++] = rollout_role_make(cfg, rt, r, resume_from);
}

static void free_roles(LocalRoles *lr) {
  for (int i = 0; i < lr->na; i++) actor_role_free(lr->actors[i]);
  for (int i = 0; i < lr->nr; i++) rollout_role_free(lr->rolls[i]);
  modelsvc_role_free(lr->ms);
}

/* test hook: USBPO_TEST_STALL=RANK:SECONDS makes that rank go silent (no heartbeats) */
static void maybe_stall(int rank) {
  const char *stall = hook_str("STALL");
  if (stall && atoi(stall) == rank && strchr(stall, ':')) {
    struct timespec ts = {atoi(strchr(stall, ':') + 1), 0};
    nanosleep(&ts, NULL);
  }
}

/* this rank's threads and the plan: run.threads, or the cores it may run on (its affinity
 * mask) divided among the ranks of its node whose masks overlap it; in sync mode, where those
 * ranks have a core each, the learner's and the model service's ranks take turns (each waits
 * asleep while the other works), so they are not divided. Idle threads poll briefly before sleeping
 * only where each has a core of its own; where they share cores (taking turns, or more threads than
 * cores) they sleep at once */
static void plan_threads(Comm *comm, Config *cfg, const Placement *pl, char *line, size_t n) {
  int node_ranks = 1;
  const int sharing = comm_node_sharing(comm, &node_ranks);
  const int cores = pool_cores_available(), rank = comm_rank(comm);
  /* only where every rank has a core of its own: on an oversubscribed node the other ranks
   * are busy on the same cores at the same time (measured: a signalled mpirun's kill window
   * was missed there) */
  const int turns = cfg->run.mode == MODE_SYNC && (rank == pl->learner || rank == pl->modelsvc) &&
                    sharing > 1 && sharing <= cores;
  cfg->run.threads_now = setup_threads(cfg, cores, turns ? 1 : sharing);
  /* OpenBLAS's thread server and our threads do not mix: blas_threads > 1 means ours are off */
  if (cfg->run.blas_threads > 1) cfg->run.threads_now = 1;
  const int t = (int)cfg->run.threads_now;
  const int own_cores = !turns && t * sharing <= cores;
  pool_set_spin(own_cores ? POOL_SPIN : 0);
  char how[200];
  if (cfg->run.threads > 0)
    snprintf(how, sizeof how, "run.threads = %d, %d core%s in its affinity mask", t, cores,
             cores == 1 ? "" : "s");
  else
    snprintf(how, sizeof how, "%d core%s in its affinity mask, %s %d of the %d rank%s on this node",
             cores, cores == 1 ? "" : "s", turns ? "taking turns (sync mode) with" : "shared by",
             sharing, node_ranks, node_ranks == 1 ? "" : "s");
  if (rank == 0) /* logged once the run's log is open */
    snprintf(
        line, n,
        "threads: %d on rank 0 (%s; every rank logs its own at log.level = \"debug\"): model "
        "training runs its members on them, SAC its chains, rollouts their shards; idle threads "
        "%s; OpenBLAS %d per thread",
        t, how, own_cores ? "poll briefly, then sleep" : "sleep at once (cores shared)",
        (int)cfg->run.blas_threads);
  else
    LOG_D("threads: %d (%s; idle threads %s)", t, how, own_cores ? "poll, then sleep" : "sleep");
}

/* under Open MPI's mpirun, a SIGTERM or Ctrl-C to mpirun gives the ranks
 * odls_base_sigkill_timeout seconds (default 1) to checkpoint before it kills them: say so, and
 * how to stop a run safely, where nobody widened it (mpirun passes --mca settings on to the
 * ranks as OMPI_MCA_ variables) */
static void mpirun_kill_note(const Comm *comm) {
  if (comm_size(comm) < 2 || !getenv("OMPI_COMM_WORLD_SIZE")) return;
  const char *t = getenv("OMPI_MCA_odls_base_sigkill_timeout");
  if (t && atof(t) >= 5) return;
  LOG_I("under mpirun, SIGTERM or Ctrl-C to mpirun leaves the ranks %s s to checkpoint before "
        "Open MPI kills them: stop this run with SIGUSR1 to mpirun, or give it time with "
        "OMPI_MCA_odls_base_sigkill_timeout=10 (usbpo.sbatch does)",
        t ? t : "1");
}

int main(int argc, char **argv) {
  /* our threads call OpenBLAS concurrently: one BLAS thread each unless run.blas_threads says
   * otherwise (set again once the config is read) */
  openblas_set_num_threads(1);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--eval")) return eval_main(argc, argv);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--probe-model")) return probe_main(argc, argv);
  Args args = {0};
  int code = parse_args(argc, argv, &args);
  if (code >= 0) return code;
  Config cfg;
  if (args.check_only) {
    if (load_config(&args, &cfg) != 0) return EXIT_FATAL;
    cfg_dump(&cfg, stdout);
    return EXIT_OK;
  }

  blas_resume_kernel(&args, argv);
  blas_kernel_check(argv);
  install_signals();
  /* start-up phases, logged by rank 0 (where time goes before the first env step) */
  double ts[6];
  ts[0] = util_now();
  Comm *comm = comm_init(&argc, &argv);
  ts[1] = util_now();
  announce_ready(comm);
  const int rank = comm_rank(comm), np = comm_size(comm);
  if (np > 1) {
    char pre[32];
    snprintf(pre, sizeof pre, "usbpo[%d]", rank);
    log_set_prefix(pre);
  }
  if (shared_config(comm, &args, &cfg) != 0) {
    comm_finalize(comm);
    return EXIT_FATAL;
  }
  log_set_level(cfg.log.level);
  openblas_set_num_threads((int)cfg.run.blas_threads);
  if (np > 1) {
    char host[256] = "?";
    gethostname(host, sizeof host);
    LOG_I("rank %d of %d on host %s, pid %d", rank, np, host, (int)getpid());
  }

  Placement pl;
  char err[1024];
  if (placement_make(np, (int)cfg.topology.actors, (int)cfg.topology.rollout_workers,
                     (int)cfg.topology.rollout_shards, &pl, err, sizeof err) != 0) {
    if (rank == 0) fprintf(stderr, "usbpo: placement: %s\n", err);
    comm_finalize(comm);
    return EXIT_FATAL;
  }
  ts[2] = util_now();
  char plan[512] = "";
  plan_threads(comm, &cfg, &pl, plan, sizeof plan);
  ts[3] = util_now();
  CodecCtx ctx = codec_ctx(&cfg);
  Runtime *rt = rt_make(comm, &pl, &ctx);
  comm_describe_install(rt, cfg.runtime.heartbeat_timeout_s);
  util_set_tick(tick, comm);
  char log_path[1100];
  rk_run_dir(&cfg, log_path, sizeof log_path - 8);
  strcat(log_path, "/log.txt");
  comm_set_log_path(comm, log_path);

  RunLog *log = NULL;
  char resume_dir[1200] = "";
  ts[4] = util_now();
  if (rank == 0) {
    check_memory(&cfg, &pl, comm);
    log = open_run(&cfg, &pl, comm, resume_dir, sizeof resume_dir);
    blas_kernel_report();
    LOG_I("%s", plan);
    mpirun_kill_note(comm);
  }
  share_string(comm, resume_dir, sizeof resume_dir);
  const char *resume_from = resume_dir[0] ? resume_dir : NULL;
  LocalRoles roles = {0};
  make_roles(&cfg, rt, &pl, rank, resume_from, &roles);
  ts[5] = util_now();
  if (rank == 0)
    LOG_I(
        "start-up %.2f s: MPI %.2f, config %.2f, thread plan %.2f, run directory %.2f, roles %.2f "
        "(rank 0's)",
        ts[5] - ts[0], ts[1] - ts[0], ts[2] - ts[1], ts[3] - ts[2], ts[4] - ts[3], ts[5] - ts[4]);
  maybe_stall(rank);

  int rc = EXIT_OK;
  if (rank == 0)
    rc = learner_run(&cfg, rt, log, resume_from);
  else
    rt_serve(rt);
  peak_memory_report(rank);
  record_status(rank, rc);

  free_roles(&roles);
  runlog_close(log);
  rt_free(rt);
  comm_finalize(comm);
  free(args.sets);
  util_exit(rc);
}
