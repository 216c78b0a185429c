/* sweep_report — see sweep_report.h. */
#include "sweep_report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rng.h"
#include "runfile.h"
#include "util.h"

#define BOOT      10000
#define BOOT_SEED 20261128u

/* what went wrong while writing the page (a figure not drawn, bad rows): the report fails */
static int g_problems;
static char g_notes[8192];
static size_t g_notes_n;

static void note_problem(const char *fmt, const char *a, int b) {
  char line[PATH_MAX * 4 + 200];
  snprintf(line, sizeof line, fmt, a, b);
  fprintf(stderr, "usbpo_sweep: %s\n", line);
  if (g_notes_n < sizeof g_notes)
    g_notes_n += (size_t)snprintf(g_notes + g_notes_n, sizeof g_notes - g_notes_n, "- %s\n", line);
  g_problems++;
}

/* ---- reading ---- */

int sweep_read_run(const char *path, SweepRun *r, int strict) {
  memset(r, 0, sizeof *r);
  static const char *const cols[] = {
      "env_steps",         "eval_return",          "wall_s",
      "model_holdout_mse", "model_holdout_mse_p1", "blas_kernel_changes",
      "ft_kept0",          "model_trainings",      "ft_dw_rms"};
  RunCols c;
  char err[600];
  if (rf_read_cols(path, cols, 9, 3u, &c, err, sizeof err) != 0) {
    struct stat st;
    if (strict || lstat(path, &st) == 0) fprintf(stderr, "usbpo_sweep: %s\n", err);
    return -1;
  }
  r->bad = c.bad, r->last_bad = c.last_bad;
  snprintf(r->first_bad, sizeof r->first_bad, "%s", c.first_bad);
  r->steps = xmalloc(sizeof(double) * (size_t)(c.n + 1));
  r->ret = xmalloc(sizeof(double) * (size_t)(c.n + 1));
  r->wall = xmalloc(sizeof(double) * (size_t)(c.n + 1));
  r->ratio = xmalloc(sizeof(double) * (size_t)(c.n + 1));
  r->last_steps = NAN, r->p2_first = NAN, r->p2_last = NAN;
  for (int i = 0; i < c.n; i++) {
    const double st = c.v[0][i], v = c.v[1][i], a = c.v[3][i], p1 = c.v[4][i];
    if (isfinite(st)) r->last_steps = st;
    if (isfinite(c.v[5][i])) r->kernel_changes = (int)c.v[5][i];
    /* phase 2's trainings that kept step 0: counted from the first row that has the column */
    if (isfinite(c.v[6][i]) && !isfinite(r->p2_first)) r->p2_first = i > 0 ? c.v[7][i - 1] : 1;
    if (isfinite(c.v[6][i])) r->kept0 += c.v[6][i], r->p2_last = c.v[7][i];
    if (isfinite(c.v[8][i])) r->has_p2 = 1; /* a phase 2 ran (ft_dw_rms is nan without) */
    if (!isfinite(v) && isfinite(st)) r->nonfinite++, r->last_nonfinite_line = c.line[i];
    if (!(isfinite(st) && isfinite(v))) continue;
    r->steps[r->n] = st, r->ret[r->n] = v, r->wall[r->n] = c.v[2][i];
    r->ratio[r->n++] = isfinite(a) && isfinite(p1) && p1 > 0 ? a / p1 : NAN;
  }
  rf_free_cols(&c);
  return 0;
}

void sweep_free_run(SweepRun *r) {
  xfree(r->steps), xfree(r->ret), xfree(r->wall), xfree(r->ratio);
  memset(r, 0, sizeof *r);
}

/* ---- statistics ---- */

double st_mean(const double *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return n ? s / n : NAN;
}

double st_std(const double *v, int n) {
  if (n == 0) return NAN;
  const double m = st_mean(v, n);
  double s = 0;
  for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
  return sqrt(s / n);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double st_iqm(const double *v, int n) {
  if (n == 0) return NAN;
  double *s = xmalloc(sizeof(double) * n);
  memcpy(s, v, sizeof(double) * n);
  qsort(s, (size_t)n, sizeof *s, cmp_d);
  const int cut = n / 4;
  const double m = st_mean(s + cut, n - 2 * cut);
  xfree(s);
  return m;
}

/* the 2.5 and 97.5 percentiles of B sorted values (linear interpolation, numpy's default) */
static void percentiles(double *v, int B, double *lo, double *hi) {
  qsort(v, (size_t)B, sizeof *v, cmp_d);
  double q[2] = {0.025, 0.975}, *out[2] = {lo, hi};
  for (int k = 0; k < 2; k++) {
    double pos = q[k] * (B - 1);
    int i = (int)floor(pos);
    double f = pos - i;
    *out[k] = i + 1 < B ? v[i] + f * (v[i + 1] - v[i]) : v[i];
  }
}

static double resample_mean(const double *v, int n, Rng *r) {
  double s = 0;
  for (int i = 0; i < n; i++) s += v[rng_below(r, (uint32_t)n)];
  return s / n;
}

void st_boot_ci(const double *v, int n, uint32_t seed, int B, double *lo, double *hi) {
  if (n == 0) {
    *lo = *hi = NAN;
    return;
  }
  Rng r = rng_make(seed, RNG_TEST, 1);
  double *m = xmalloc(sizeof(double) * B);
  for (int b = 0; b < B; b++) m[b] = resample_mean(v, n, &r);
  percentiles(m, B, lo, hi);
  xfree(m);
}

void st_boot_diff_ci(const double *a, int na, const double *b, int nb, uint32_t seed, int B,
                     double *lo, double *hi) {
  if (na == 0 || nb == 0) {
    *lo = *hi = NAN;
    return;
  }
  Rng r = rng_make(seed, RNG_TEST, 2);
  double *m = xmalloc(sizeof(double) * B);
  for (int k = 0; k < B; k++) m[k] = resample_mean(a, na, &r) - resample_mean(b, nb, &r);
  percentiles(m, B, lo, hi);
  xfree(m);
}

double st_final(const SweepRun *r, double at, int k) {
  int last = -1;
  for (int i = 0; i < r->n; i++)
    if (r->steps[i] <= at) last = i;
  if (last < 0) return NAN;
  int first = last - k + 1 < 0 ? 0 : last - k + 1;
  return st_mean(r->ret + first, last - first + 1);
}

double st_auc(const SweepRun *r, double budget) {
  if (r->n == 0 || budget <= 0) return NAN;
  double area = 0, px = 0, py = r->ret[0];
  for (int i = 0; i < r->n && px < budget; i++) {
    double x = fmin(r->steps[i], budget), y = r->ret[i];
    if (x > px) area += (x - px) * (py + y) / 2;
    px = x, py = y;
  }
  if (px < budget) area += (budget - px) * py;
  return area / budget;
}

/* the first evaluation at or above thr, at or before the budget (a report at a smaller --steps
 * does not count what a run did after it) */
double st_steps_to(const SweepRun *r, double thr, double budget) {
  for (int i = 0; i < r->n && r->steps[i] <= budget; i++)
    if (r->ret[i] >= thr) return r->steps[i];
  return NAN;
}

int sweep_published(const char *csv, double total_steps, double *out, int max) {
  PubRow *rows;
  int nr;
  char err[600];
  if (rf_read_published(csv, &rows, &nr, 1, err, sizeof err) != 0) {
    fprintf(stderr, "usbpo_sweep: %s\n", err);
    return 0;
  }
  /* per seed: its evaluations in file order (steps increase within a seed) */
  double last[64][3];
  int cnt[64] = {0}, seeds = 0, ids[64];
  for (int i = 0; i < nr; i++) {
    if (rows[i].step > total_steps) continue;
    int k = 0;
    while (k < seeds && ids[k] != rows[i].seed) k++;
    if (k == seeds) {
      if (seeds == 64) continue;
      ids[seeds++] = rows[i].seed;
    }
    last[k][cnt[k] % 3] = rows[i].reward, cnt[k]++;
  }
  xfree(rows);
  int n = 0;
  for (int k = 0; k < seeds && n < max; k++) {
    const int m = cnt[k] < 3 ? cnt[k] : 3;
    if (m) out[n++] = st_mean(last[k], m);
  }
  return n;
}

/* ---- the page ---- */

static void cell_fmt(char *b, size_t n, double v) {
  if (isfinite(v))
    snprintf(b, n, "%.1f", v);
  else
    snprintf(b, n, "–");
}

static const char *published_name(const char *env) {
  static const char *map[][2] = {{"hopper", "Hopper"},
                                 {"walker2d", "Walker2d"},
                                 {"halfcheetah", "HalfCheetah"},
                                 {"ant", "Ant"},
                                 {"humanoid", "Humanoid"}};
  for (int i = 0; i < 5; i++)
    if (!strcmp(env, map[i][0])) return map[i][1];
  return NULL;
}

/* a cell's run directory, <root>/<env>/<variant>/s<seed>, and its metrics file in it */
static void cell_dir(const SweepGrid *g, const char *env, int v, int s, char *out, size_t n) {
  snprintf(out, n, "%s/%s/%s/s%lld", g->root, env, g->labels[v], (long long)g->seeds[s]);
}
static void metrics_path(const SweepGrid *g, const char *env, int v, int s, char *out, size_t n) {
  char dir[PATH_MAX * 2];
  cell_dir(g, env, v, s, dir, sizeof dir);
  snprintf(out, n, "%s/metrics.csv", dir);
}

/* a figure: usbpo_plot over the cells' run directories; ycol NULL: the return, with the
 * published curves; else that column (or A-B) */
static void figure(const SweepGrid *g, const char *env, const char *ycol, char *png, size_t n) {
  if (ycol)
    snprintf(png, n, "%s/%s-%s.png", g->root, env, ycol);
  else
    snprintf(png, n, "%s/%s.png", g->root, env);
  /* the grid's own seeds only (--seeds narrows it): a variant's directory may hold others */
  const size_t ncell = (size_t)g->nvar * (size_t)g->nseeds;
  char **av = xmalloc(sizeof(char *) * (ncell + 16));
  char(*dirs)[PATH_MAX * 2] = xmalloc((ncell ? ncell : 1) * PATH_MAX * 2);
  char labels[4096] = "", title[256];
  int k = 0, used = 0, nd = 0;
  av[k++] = (char *)g->plot;
  for (int v = 0; v < g->nvar; v++) {
    const int first = nd;
    for (int s = 0; s < g->nseeds; s++) {
      char csv[PATH_MAX * 3];
      cell_dir(g, env, v, s, dirs[nd], sizeof dirs[nd]);
      snprintf(csv, sizeof csv, "%s/metrics.csv", dirs[nd]);
      struct stat st;
      if (stat(csv, &st) == 0) av[k++] = dirs[nd++];
    }
    if (nd > first && used < (int)sizeof labels) /* past the end: no more labels, never a wrap */
      used += snprintf(labels + used, sizeof labels - (size_t)used, "%s%s", used ? "," : "",
                       g->labels[v]);
  }
  if (nd == 0) { /* no cell of the task has run yet: no figure, and nothing went wrong */
    png[0] = 0;
    xfree(av), xfree(dirs);
    return;
  }
  snprintf(title, sizeof title, "%s%s%s", env, ycol ? ": " : "", ycol ? ycol : "");
  av[k++] = "-o", av[k++] = png, av[k++] = "--labels", av[k++] = labels;
  av[k++] = "--title", av[k++] = title, av[k++] = "--band", av[k++] = "std";
  if (ycol) av[k++] = "--y", av[k++] = (char *)ycol;
  /* the published MBPO and SAC curves of the task, dashed, on our step axis */
  char refs[2][PATH_MAX * 2 + 64], shift[32];
  const char *pn = published_name(env);
  static const char *ra[2] = {"mbpo", "sac"}, *rl[2] = {"MBPO", "SAC"};
  for (int i = 0; pn && !ycol && i < 2; i++) {
    char csv[PATH_MAX * 2], rel[128];
    snprintf(rel, sizeof rel, "reference/published/%s_%s.csv", ra[i], pn);
    if (rf_data_path(rel, csv, sizeof csv) != 0) continue;
    snprintf(refs[i], sizeof refs[i], "%s=%s", csv, rl[i]);
    av[k++] = "--ref", av[k++] = refs[i];
  }
  snprintf(shift, sizeof shift, "%lld", (long long)g->init_steps);
  av[k++] = "--ref-shift", av[k++] = shift;
  av[k] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    execv(av[0], av);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "usbpo_sweep: the figure %s could not be drawn\n", png);
    png[0] = 0;
    g_problems++;
  }
  xfree(av), xfree(dirs);
}

/* a row per (variant, seed) with a metrics file, finished or not: where the run stands, the
 * final-return statistic at each quarter of the budget ("–" where the run has not got there or
 * has no evaluation yet), its wall clock and its own holdout ratio per epoch */
static void seed_table(FILE *f, const SweepGrid *g, const char *env) {
  const double B = (double)g->total_steps;
  int rows = 0;
  for (int v = 0; v < g->nvar; v++)
    for (int s = 0; s < g->nseeds; s++) {
      char path[PATH_MAX * 3];
      metrics_path(g, env, v, s, path, sizeof path);
      SweepRun r;
      if (sweep_read_run(path, &r, 0) != 0) continue;
      if (r.n == 0) {
        sweep_free_run(&r);
        continue;
      }
      if (!rows++)
        fprintf(f,
                "\nPer seed, finished or not (each value the mean of the seed's last three "
                "evaluations at or before the step; wall clock of the newest row; the run's own "
                "holdout MSE after phase 2 over after phase 1 at its first and newest "
                "evaluation, and its largest; the share of its phase-2 trainings that kept step "
                "0, i.e. left the model as phase 1 made it):\n\n| variant, seed | env steps "
                "reached | %.0f | %.0f | %.0f | %.0f | wall clock | holdout ratio, first → newest "
                "(max) | phase 2 kept step 0 |\n|---|---|---|---|---|---|---|---|---|\n",
                B / 4, B / 2, 3 * B / 4, B);
      const double newest = isfinite(r.last_steps) ? r.last_steps : r.steps[r.n - 1];
      fprintf(f, "| %s, %lld | %.0f | ", g->labels[v], (long long)g->seeds[s], newest);
      for (int q = 1; q <= 4; q++) {
        char c[32];
        cell_fmt(c, sizeof c, newest >= B * q / 4 ? st_final(&r, B * q / 4, 3) : NAN);
        fprintf(f, "%s | ", c);
      }
      const double w = r.wall[r.n - 1];
      if (!isfinite(w))
        fprintf(f, "– | ");
      else if (w >= 3600)
        fprintf(f, "%.0f s (%.1f h) | ", w, w / 3600);
      else
        fprintf(f, "%.0f s | ", w);
      int first = -1, last = -1;
      double mx = NAN;
      for (int i = 0; i < r.n; i++)
        if (isfinite(r.ratio[i])) {
          if (first < 0) first = i;
          last = i;
          if (!(mx >= r.ratio[i])) mx = r.ratio[i];
        }
      if (first < 0)
        fprintf(f, "– | ");
      else
        fprintf(f, "%.2f → %.2f (%.2f) | ", r.ratio[first], r.ratio[last], mx);
      /* phase-2 trainings: every training but the run's first (those before the column
       * existed, in a run begun by an older usbpo, are left out) */
      const double p2n = r.p2_last - (r.p2_first > 1 ? r.p2_first : 1);
      if (r.has_p2 && isfinite(p2n) && p2n > 0)
        fprintf(f, "%.0f of %.0f (%.0f %%) |\n", r.kept0, p2n, 100 * r.kept0 / p2n);
      else
        fprintf(f, "– |\n");
      sweep_free_run(&r);
    }
}

static void env_section(FILE *f, const SweepGrid *g, const char *env) {
  const int nv = g->nvar, ns = g->nseeds;
  const double B = (double)g->total_steps;
  double(*fin)[256] = xmalloc(sizeof(double) * 256 * nv);
  int *nfin = xmalloc(sizeof(int) * nv);
  char png[PATH_MAX * 2 + 64];
  figure(g, env, NULL, png, sizeof png);
  fprintf(f, "\n## %s\n\n", env);
  if (png[0]) fprintf(f, "![%s](%s.png)\n\n", env, env);
  for (int i = 0; i < g->nplots; i++) {
    figure(g, env, g->plots[i], png, sizeof png);
    if (png[0]) fprintf(f, "![%s: %s](%s-%s.png)\n\n", env, g->plots[i], env, g->plots[i]);
  }
  fprintf(f, "| variant | seeds | final return (mean ± std) | 95 %% CI of the mean | IQM | ");
  if (g->has_threshold) fprintf(f, "steps to %g (seeds reaching) | ", g->threshold);
  fprintf(f, "AUC (mean return over the run) |\n|---|---|---|---|---|%s---|\n",
          g->has_threshold ? "---|" : "");
  for (int v = 0; v < nv; v++) {
    double auc[256], to[256];
    int na = 0, nt = 0;
    nfin[v] = 0;
    for (int s = 0; s < ns; s++) {
      char path[PATH_MAX * 3];
      metrics_path(g, env, v, s, path, sizeof path);
      SweepRun r;
      struct stat pst;
      if (stat(path, &pst) != 0) continue; /* a cell not started */
      if (sweep_read_run(path, &r, 1) != 0) {
        note_problem("%s: cannot be read (above); its seed is left out%.0d", path, 0);
        continue;
      }
      if (r.bad) note_problem("%s: %d torn or non-numeric rows, skipped", r.first_bad, r.bad);
      if (r.nonfinite)
        note_problem("%s: %d rows with a non-finite eval_return, skipped", path, r.nonfinite);
      if (r.n > 0 && r.last_steps >= B) {
        fin[v][nfin[v]++] = st_final(&r, B, 3);
        auc[na++] = st_auc(&r, B);
        double t = st_steps_to(&r, g->threshold, B);
        if (g->has_threshold && isfinite(t)) to[nt++] = t;
      }
      sweep_free_run(&r);
    }
    double lo, hi;
    st_boot_ci(fin[v], nfin[v], BOOT_SEED, BOOT, &lo, &hi);
    char m[32], sd[32], l[32], h[32], iq[32], a[32], t[32];
    cell_fmt(m, sizeof m, st_mean(fin[v], nfin[v])),
        cell_fmt(sd, sizeof sd, st_std(fin[v], nfin[v]));
    cell_fmt(l, sizeof l, lo), cell_fmt(h, sizeof h, hi);
    cell_fmt(iq, sizeof iq, nfin[v] >= 5 ? st_iqm(fin[v], nfin[v]) : NAN);
    cell_fmt(a, sizeof a, st_mean(auc, na)), cell_fmt(t, sizeof t, st_mean(to, nt));
    fprintf(f, "| %s | %d of %d finished | %s ± %s | [%s, %s] | %s | ", g->labels[v], nfin[v], ns,
            m, sd, l, h, iq);
    if (g->has_threshold) fprintf(f, "%s (%d of %d) | ", t, nt, nfin[v]);
    fprintf(f, "%s |\n", a);
  }
  /* published, at the same total env steps (their axis counts the exploration) */
  const char *pn = published_name(env);
  const double total = B + (double)g->init_steps;
  for (int a = 0; pn && a < 4; a++) {
    static const char *algos[] = {"mbpo", "sac", "macura", "esvg"};
    static const char *names[] = {"MBPO", "SAC", "MACURA", "DHMBPO"};
    char csv[PATH_MAX * 2], rel[128];
    snprintf(rel, sizeof rel, "reference/published/%s_%s.csv", algos[a], pn);
    if (rf_data_path(rel, csv, sizeof csv) != 0) continue;
    double v[64];
    int n = sweep_published(csv, total, v, 64);
    if (!n) continue;
    double lo, hi;
    st_boot_ci(v, n, BOOT_SEED, BOOT, &lo, &hi);
    char m[32], sd[32], l[32], h[32];
    cell_fmt(m, sizeof m, st_mean(v, n)), cell_fmt(sd, sizeof sd, st_std(v, n));
    cell_fmt(l, sizeof l, lo), cell_fmt(h, sizeof h, hi);
    fprintf(f,
            "| *published %s* (DHMBPO paper's result files, at %.0f total env steps) | %d | "
            "%s ± %s | [%s, %s] | – | %s– |\n",
            names[a], total, n, m, sd, l, h, g->has_threshold ? "– | " : "");
  }
  /* against the baseline */
  int base = -1;
  for (int v = 0; v < nv; v++)
    if (g->baseline && !strcmp(g->labels[v], g->baseline)) base = v;
  if (base >= 0 && nfin[base] > 0) {
    fprintf(f,
            "\nAgainst `%s` (difference of final means, 95 %% bootstrap interval):\n\n"
            "| variant | difference | 95 %% CI | verdict |\n|---|---|---|---|\n",
            g->baseline);
    for (int v = 0; v < nv; v++) {
      if (v == base || nfin[v] == 0) continue;
      double lo, hi, d = st_mean(fin[v], nfin[v]) - st_mean(fin[base], nfin[base]);
      /* a bootstrap of one seed has no spread: no interval, no verdict, below two a side */
      if (nfin[v] < 2 || nfin[base] < 2) {
        fprintf(f, "| %s | %+.1f | – | no verdict: %d and %d finished seeds (2 a side needed) |\n",
                g->labels[v], d, nfin[v], nfin[base]);
        continue;
      }
      st_boot_diff_ci(fin[v], nfin[v], fin[base], nfin[base], BOOT_SEED, BOOT, &lo, &hi);
      const char *verdict = lo <= 0 && hi >= 0 ? "not distinguishable"
                            : lo > 0           ? "better"
                                               : "worse";
      fprintf(f, "| %s | %+.1f | [%+.1f, %+.1f] | %s |\n", g->labels[v], d, lo, hi, verdict);
    }
  }
  seed_table(f, g, env);
  xfree(fin), xfree(nfin);
}

int sweep_report(const SweepGrid *g) {
  char path[PATH_MAX * 2], err[PATH_MAX * 2 + 200];
  snprintf(path, sizeof path, "%s/report.md", g->root);
  if (util_mkdirs(g->root) != 0) {
    fprintf(stderr, "usbpo_sweep: cannot create %s: %s\n", g->root, strerror(errno));
    return -1;
  }
  if (rf_output_ok(path, err, sizeof err) != 0) { /* before the figures are drawn */
    fprintf(stderr, "usbpo_sweep: %s\n", err);
    return -1;
  }
  g_problems = 0, g_notes_n = 0, g_notes[0] = 0;
  char *page = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&page, &len);
  if (!f) {
    fprintf(stderr, "usbpo_sweep: out of memory\n");
    return -1;
  }
  fprintf(f,
          "# %s\n\nBudget: %lld env steps per run (the official axis: exploration, %lld steps, "
          "not counted). Final return: each seed's mean of its last three evaluations at or "
          "before the budget; mean ± std over seeds (ddof 0); 95 %% intervals are percentile "
          "bootstraps of the mean (%d resamples, fixed seed); a verdict against the baseline "
          "needs two finished seeds a side; IQM (5 seeds or more) trims a "
          "quarter of the seeds at each end; AUC is the mean evaluation return over the budget. "
          "Published rows: the same statistic from the per-seed result files of the DHMBPO "
          "paper (gymnasium v4 tasks; docs/reference/published/), at the same total env steps.\n",
          g->root, (long long)g->total_steps, (long long)g->init_steps, BOOT);
  for (int e = 0; e < g->nenvs; e++) env_section(f, g, g->envs[e]);
  if (g_problems) fprintf(f, "\n## Problems met while writing this page\n\n%s", g_notes);
  fclose(f);
  const int rc = rf_write_output(path, page, len, err, sizeof err);
  free(page);
  if (rc != 0) {
    fprintf(stderr, "usbpo_sweep: %s\n", err);
    return -1;
  }
  fprintf(stderr, "usbpo_sweep: wrote %s%s\n", path,
          g_problems ? " (with problems, listed at its end: the report failed)" : "");
  return g_problems ? -1 : 0;
}
