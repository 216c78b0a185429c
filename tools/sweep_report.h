/* sweep_report — the numbers and the page of an experiment (usbpo_sweep --report): per
 * environment and variant, the final return (each seed: the mean of its last three evaluations
 * at or before the budget) as mean, std over seeds (numpy's default, ddof 0), a 95 % bootstrap
 * interval of the mean, the interquartile mean (5 seeds or more), steps to a threshold and the
 * area under the curve; each variant against the baseline as a difference of means with its
 * bootstrap interval; the published curves of the same task (docs/reference/published/) with
 * the same statistic at the same total env steps; and a row per seed, finished or not (the
 * same statistic at each quarter of the budget, wall clock, the run's own holdout ratio). The
 * statistics are exposed for the tests. */
#ifndef USBPO_SWEEP_REPORT_H
#define USBPO_SWEEP_REPORT_H

#include <stdint.h>

/* a run's curve from its metrics.csv (runfile.h's reader): env_steps, eval_return, wall_s per
 * row (rows with a non-finite eval skipped and counted), and where the run has the columns,
 * model_holdout_mse over model_holdout_mse_p1 (holdout error after phase 2 over after phase 1;
 * NAN where either is missing, non-finite or zero); torn or non-numeric rows are counted and the
 * first named. 0, or -1 with a message (a file that cannot be read, is not a regular file, or
 * lacks env_steps or eval_return; said unless it is absent and strict is 0) */
typedef struct {
  double *steps, *ret, *wall, *ratio;
  int n;
  double last_steps;  /* env_steps of the newest complete row, whatever its eval (NAN: none) */
  int nonfinite;      /* rows whose eval_return is nan or inf (skipped above) */
  int kernel_changes; /* the newest row's blas_kernel_changes (resumes on another kernel) */
  double kept0;       /* phase-2 trainings that kept step 0 (sum of ft_kept0) */
  double p2_first, p2_last; /* model_trainings before the first row with ft_kept0, and last */
  int has_p2;               /* a phase 2 ran (some row's ft_dw_rms is finite) */
  int last_nonfinite_line;
  int bad, last_bad;   /* torn or non-numeric rows (runfile.h), and whether the newest is one */
  char first_bad[320]; /* "file:line: why" */
} SweepRun;
int sweep_read_run(const char *metrics_csv, SweepRun *r, int strict);
void sweep_free_run(SweepRun *r);

/* statistics */
double st_mean(const double *v, int n);
double st_std(const double *v, int n); /* population (ddof 0) */
/* the mean of the middle half: floor(n / 4) values trimmed from each end (scipy trim_mean) */
double st_iqm(const double *v, int n);
/* 95 % percentile bootstrap interval of the mean (B resamples, a fixed stream per seed) */
void st_boot_ci(const double *v, int n, uint32_t seed, int B, double *lo, double *hi);
/* the same for mean(a) - mean(b), each resampled within itself */
void st_boot_diff_ci(const double *a, int na, const double *b, int nb, uint32_t seed, int B,
                     double *lo, double *hi);
/* the mean of the last k evaluations at or before `at` (NAN if none) */
double st_final(const SweepRun *r, double at, int k);
/* the mean return over [0, budget]: trapezoids between evaluations, the first held from 0 */
double st_auc(const SweepRun *r, double budget);
/* the first env step whose evaluation reaches thr (NAN if never) */
double st_steps_to(const SweepRun *r, double thr, double budget);

/* the published per-seed curves (columns step,time,reward,seed; step counts every env step):
 * each seed's mean of its last three evaluations at or before total_steps; returns the number
 * of seeds (values in out), 0 if the file is absent */
int sweep_published(const char *csv, double total_steps, double *out, int max);

typedef struct {
  const char *root, *baseline, *plot;
  double threshold;
  int has_threshold;
  int64_t total_steps, init_steps;
  const char *envs[16];
  int nenvs;
  const char *labels[64];
  int nvar;
  int64_t seeds[256];
  int nseeds;
  const char *plots[8]; /* extra figures: a metrics column or A-B, per env */
  int nplots;
} SweepGrid;
int sweep_report(const SweepGrid *g);

#endif
