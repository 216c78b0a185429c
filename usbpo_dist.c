/* usbpo_dist — command line, config, and the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "config.h"
#include "runlog.h"
#include "trainer.h"
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
          "  --help                   this text and the list of config keys\n"
          "  --version                print the version\n"
          "\n"
          "config keys (see configs/*.toml for the per-environment presets):\n");
  cfg_print_keys(f);
}

int main(int argc, char **argv) {
  const char *cfg_path = NULL;
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  int nsets = 0, check_only = 0, resume = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return EXIT_OK;
    } else if (!strcmp(a, "--version")) {
      printf("usbpo_dist %s\n", USBPO_VERSION);
      return EXIT_OK;
    } else if (!strcmp(a, "--set")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "usbpo: --set needs section.key=value\n");
        return EXIT_USAGE;
      }
      sets[nsets++] = argv[++i];
    } else if (!strncmp(a, "--set=", 6)) {
      sets[nsets++] = a + 6;
    } else if (!strcmp(a, "--check-config")) {
      check_only = 1;
    } else if (!strcmp(a, "--resume")) {
      resume = 1;
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "usbpo: unknown option %s (see --help)\n", a);
      return EXIT_USAGE;
    } else if (!cfg_path) {
      cfg_path = a;
    } else {
      fprintf(stderr, "usbpo: more than one config file (%s, %s)\n", cfg_path, a);
      return EXIT_USAGE;
    }
  }
  if (resume) sets[nsets++] = "run.resume=true";
  if (!cfg_path && nsets == 0) {
    usage(stderr);
    return EXIT_USAGE;
  }
  Config cfg;
  CfgErrors errs = {0};
  if (cfg_load(&cfg, cfg_path, sets, nsets, &errs) != 0) {
    fprintf(stderr, "%s", errs.text);
    fprintf(stderr, "usbpo: %d config error%s\n", errs.count, errs.count == 1 ? "" : "s");
    return EXIT_FATAL;
  }
  if (check_only) {
    cfg_dump(&cfg, stdout);
    return EXIT_OK;
  }
  log_set_level(cfg.log.level);
  openblas_set_num_threads((int)cfg.run.blas_threads);

  char buf[32], err[1024];
  double budget = trainer_memory_budget(&cfg);
  LOG_I("memory budget: %s (buffers at capacity, networks, workspaces)",
        util_fmt_bytes(budget, buf));
  if (cfg.run.max_memory_gb > 0 && budget > cfg.run.max_memory_gb * 1073741824.0) {
    fprintf(stderr, "usbpo: the memory budget %s exceeds run.max_memory_gb = %g\n", buf,
            cfg.run.max_memory_gb);
    return EXIT_FATAL;
  }
  RunLog *log = runlog_open(&cfg, cfg.run.resume ? RUNLOG_RESUME : RUNLOG_FRESH, err, sizeof err);
  if (!log) {
    fprintf(stderr, "usbpo: %s\n", err);
    return EXIT_FATAL;
  }
  LOG_I("usbpo %s: %s on %s, seed %lld, %s mode; run directory %s", USBPO_VERSION,
        cfg_algo_name(cfg.run.algo), cfg_env_name(cfg.env.name), (long long)cfg.run.seed,
        cfg.run.mode == MODE_SYNC ? "sync" : "async", runlog_dir(log));
  Trainer *t = trainer_make(&cfg, log, err, sizeof err);
  if (!t) {
    LOG_E("%s", err);
    runlog_close(log);
    return EXIT_FATAL;
  }
  int rc = trainer_run(t);
  trainer_free(t);
  runlog_close(log);
  free(sets);
  return rc;
}
