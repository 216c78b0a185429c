/* usbpo_plot — learning curves from run directories, drawn by gnuplot.
 *
 *   usbpo_plot RUN_DIR... [-o out.png|out.svg] [--x COL] [--y COL] [--smooth N] [--band minmax|std]
 *              [--title T] [--labels A,B,..] [--size WxH] [--table out.csv]
 *
 * A RUN_DIR holds a metrics.csv and the resolved config.toml; a directory without metrics.csv
 * stands for the run directories inside it. Runs whose configurations differ only in the seed
 * (and run length, name, place) form a group, drawn as the mean over its seeds with a shaded band
 * (min–max, or ± one standard deviation); groups are compared in one figure with a legend.
 * Rows are aligned by epoch (the x coordinate of a point is the mean of the runs' x values at that
 * epoch), so runs of different lengths average over the seeds that reached each epoch. Each
 * run's curve is first smoothed over a centred window of N points (Spinning Up's convention). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "config.h"
#include "runfile.h"
#include "util.h"

#define MAX_GROUPS 16

typedef struct {
  char dir[1024];
  int group;
  int n; /* rows */
  int64_t *epoch;
  double *x, *y;
} Run;

typedef struct {
  uint64_t key;
  char label[256];
  char base[200]; /* the label before its "#K" and seed count */
  int runs;
  int env, algo, ft, mode;
  /* aggregated, per epoch */
  int n;
  double *x, *mean, *lo, *hi, *std;
  int *count;
} Group;

static const char *COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void usage(FILE *f) {
  fprintf(
      f, "usage: usbpo_plot RUN_DIR... [-o out.png|out.svg] [--x COL] [--y COL] [--smooth N]\n"
         "                  [--band minmax|std] [--title T] [--labels A,B,..] [--size WxH]\n"
         "                  [--table out.csv] [--ref FILE.csv=LABEL]... [--ref-shift N]\n"
         "Learning curves from metrics.csv of one or many runs; runs that differ only in the seed\n"
         "are drawn as their mean with a shaded band. Defaults: -o plot.png, --x env_steps,\n"
         "--y eval_return (or A-B, the difference of two columns), --smooth 1, --band minmax,\n"
         "--size 800x500. --ref draws a published curve (columns step,time,reward,seed;\n"
         "docs/reference/published/) dashed with its +-std band, its steps less --ref-shift\n"
         "(their exploration steps). Needs gnuplot.\n");
}

/* a run's metrics file is there (of any type: reading it says what is wrong with one that is
 * not a regular file) */
static int is_file(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir itself, or the run directories inside it (sorted) */
typedef struct {
  char **v;
  int n, cap;
} DirList;

static void dl_push(DirList *l, const char *d) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = realloc(l->v, sizeof *l->v * (size_t)l->cap);
    if (!l->v) FATAL("out of memory listing run directories");
  }
  l->v[l->n++] = strdup(d);
}

static void expand(const char *dir, DirList *l) {
  char p[1300];
  snprintf(p, sizeof p, "%s/metrics.csv", dir);
  if (is_file(p)) {
    dl_push(l, dir);
    return;
  }
  DIR *dp = opendir(dir);
  if (!dp) {
    fprintf(stderr, "usbpo_plot: %s: %s\n", dir, strerror(errno));
    exit(1);
  }
  const int first = l->n;
  struct dirent *de;
  while ((de = readdir(dp))) {
    if (de->d_name[0] == '.') continue;
    char sub[1200];
    snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
    snprintf(p, sizeof p, "%s/metrics.csv", sub);
    if (is_file(p)) dl_push(l, sub);
  }
  closedir(dp);
  if (l->n == first) {
    fprintf(stderr, "usbpo_plot: %s holds no metrics.csv, nor run directories with one\n", dir);
    exit(1);
  }
  qsort(l->v + first, (size_t)(l->n - first), sizeof *l->v, cmp_str);
}

/* the x and y columns (and epoch) of dir/metrics.csv (runfile.h's reader: a bad row is an
 * error naming its place); y may be a difference of two columns, "A-B" (column names have no
 * '-'), e.g. ft_shift-ft_shift_before */
static void read_run(Run *r, const char *xcol, const char *ycol_arg) {
  char ycol[256], *ysub = NULL;
  snprintf(ycol, sizeof ycol, "%s", ycol_arg);
  char *dash = strchr(ycol, '-');
  if (dash) *dash = 0, ysub = dash + 1;
  char path[1200], err[1500];
  snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
  const char *names[4] = {xcol, ycol, "epoch", ysub ? ysub : "epoch"};
  RunCols c;
  if (rf_read_cols(path, names, 4, ysub ? 0xBu : 0x3u, &c, err, sizeof err) != 0) {
    fprintf(stderr, "usbpo_plot: %s\n", err);
    exit(1);
  }
  if (c.bad) {
    fprintf(stderr, "usbpo_plot: %s (%d bad row%s in all)\n", c.first_bad, c.bad,
            c.bad == 1 ? "" : "s");
    exit(1);
  }
  r->x = xmalloc(sizeof(double) * (size_t)(c.n + 1));
  r->y = xmalloc(sizeof(double) * (size_t)(c.n + 1));
  r->epoch = xmalloc(sizeof(int64_t) * (size_t)(c.n + 1));
  r->n = 0;
  int64_t prev = -1;
  for (int i = 0; i < c.n; i++) {
    const double ev = c.v[2][i];
    int64_t e = i;
    if (!isnan(ev)) {
      if (!(ev >= 0 && ev <= 9.0e15 && ev == floor(ev)) || (int64_t)ev <= prev) {
        fprintf(stderr,
                "usbpo_plot: %s:%d: epoch %.17g is not a whole number above the previous "
                "row's\n",
                path, c.line[i], ev);
        exit(1);
      }
      e = prev = (int64_t)ev;
    }
    const double x = c.v[0][i], y = c.v[1][i] - (ysub ? c.v[3][i] : 0);
    if (isfinite(x) && isfinite(y)) r->x[r->n] = x, r->y[r->n] = y, r->epoch[r->n++] = e;
  }
  rf_free_cols(&c);
}

static void smooth(double *y, int n, int w) {
  if (w <= 1 || n == 0) return;
  double *s = xmalloc(sizeof(double) * n);
  for (int i = 0; i < n; i++) {
    double sum = 0;
    int c = 0;
    for (int j = i - (w - 1) / 2; j <= i + w / 2; j++)
      if (j >= 0 && j < n) sum += y[j], c++;
    s[i] = sum / c;
  }
  memcpy(y, s, sizeof(double) * n);
  xfree(s);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* mean / min / max / std over the group's runs, epoch by epoch (the epochs any of them has:
 * memory and time follow the rows, whatever the epoch numbers) */
static void aggregate(Group *g, Run *runs, int nr, int gi) {
  int total = 0;
  for (int r = 0; r < nr; r++)
    if (runs[r].group == gi) total += runs[r].n;
  int64_t *ep = xmalloc(sizeof(int64_t) * (total + 1));
  int ne = 0;
  for (int r = 0; r < nr; r++)
    if (runs[r].group == gi)
      for (int i = 0; i < runs[r].n; i++) ep[ne++] = runs[r].epoch[i];
  qsort(ep, (size_t)ne, sizeof *ep, cmp_i64);
  int u = 0;
  for (int i = 0; i < ne; i++)
    if (u == 0 || ep[i] != ep[u - 1]) ep[u++] = ep[i];
  g->x = xmalloc(sizeof(double) * (u + 1)), g->mean = xmalloc(sizeof(double) * (u + 1));
  g->lo = xmalloc(sizeof(double) * (u + 1)), g->hi = xmalloc(sizeof(double) * (u + 1));
  g->std = xmalloc(sizeof(double) * (u + 1)), g->count = xmalloc(sizeof(int) * (u + 1));
  int *at = xmalloc(sizeof(int) * (nr + 1)); /* each run's next row (epochs increase) */
  memset(at, 0, sizeof(int) * (nr + 1));
  g->n = 0;
  for (int k = 0; k < u; k++) {
    double sx = 0, sy = 0, sy2 = 0, lo = INFINITY, hi = -INFINITY;
    int c = 0;
    for (int r = 0; r < nr; r++) {
      if (runs[r].group != gi) continue;
      while (at[r] < runs[r].n && runs[r].epoch[at[r]] < ep[k]) at[r]++;
      if (at[r] >= runs[r].n || runs[r].epoch[at[r]] != ep[k]) continue;
      const double y = runs[r].y[at[r]];
      sx += runs[r].x[at[r]], sy += y, sy2 += y * y, c++;
      lo = fmin(lo, y), hi = fmax(hi, y);
    }
    const int m = g->n++;
    g->x[m] = sx / c, g->mean[m] = sy / c, g->lo[m] = lo, g->hi[m] = hi, g->count[m] = c;
    g->std[m] = sqrt(fmax(0, sy2 / c - g->mean[m] * g->mean[m]));
  }
  xfree(at);
  xfree(ep);
}

static uint64_t group_key(const Config *c) {
  Config k = *c;
  k.run.seed = 0;
  k.run.total_steps = 0;
  k.run.target_return = NAN;
  return cfg_hash(&k);
}

/* user text inside a gnuplot single-quoted string: a quote is doubled (gnuplot's only escape
 * there) and line breaks and other control characters become spaces, so no text can end the
 * string or the command */
static void gp_quoted(FILE *p, const char *s) {
  fputc('\'', p);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '\'')
      fputs("''", p);
    else
      fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, p);
  }
  fputc('\'', p);
}

typedef struct {
  const char *out, *xcol, *ycol, *title, *labels, *table, *band;
  int W, H, sm, svg;
  DirList dirs;
  const char *refs[4]; /* published curves: FILE=LABEL (columns step,time,reward,seed) */
  int nrefs;
  double ref_shift; /* subtracted from their step axis (their exploration steps) */
} Opts;

/* a published curve as a group: every seed's rewards binned to the nearest 1000 steps (after
 * the shift), mean and std over the seeds in each bin; points beyond xmax dropped */
typedef struct {
  double x, y;
} Pt;
static int cmp_pt(const void *a, const void *b) {
  const double x = ((const Pt *)a)->x, y = ((const Pt *)b)->x;
  return x < y ? -1 : x > y;
}

static int load_ref(const char *spec, double shift, double xmax, Group *g) {
  char file[1024], err[1500];
  const char *eq = strchr(spec, '=');
  snprintf(file, sizeof file, "%.*s", eq ? (int)(eq - spec) : (int)strlen(spec), spec);
  PubRow *rows;
  int nr;
  if (rf_read_published(file, &rows, &nr, 0, err, sizeof err) != 0) {
    fprintf(stderr, "usbpo_plot: --ref: %s\n", err);
    return -1;
  }
  Pt *pt = xmalloc(sizeof(Pt) * (size_t)(nr + 1));
  int n = 0, seen[256], nseen = 0;
  for (int i = 0; i < nr; i++) {
    const double x = 1000.0 * floor((rows[i].step - shift) / 1000.0 + 0.5);
    if (x < 0 || (xmax > 0 && x > xmax)) continue;
    int k = 0;
    while (k < nseen && seen[k] != rows[i].seed) k++;
    if (k == nseen && nseen < 256) seen[nseen++] = rows[i].seed;
    pt[n].x = x, pt[n++].y = rows[i].reward;
  }
  xfree(rows);
  qsort(pt, (size_t)n, sizeof *pt, cmp_pt);
  memset(g, 0, sizeof *g);
  snprintf(g->label, sizeof g->label, "%.200s (published, %d seeds)", eq ? eq + 1 : file, nseen);
  g->x = xmalloc(sizeof(double) * (n + 1)), g->mean = xmalloc(sizeof(double) * (n + 1));
  g->lo = xmalloc(sizeof(double) * (n + 1)), g->hi = xmalloc(sizeof(double) * (n + 1));
  g->std = xmalloc(sizeof(double) * (n + 1)), g->count = xmalloc(sizeof(int) * (n + 1));
  g->runs = nseen;
  for (int i = 0; i < n;) { /* one bin per run of equal x */
    double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
    int j = i;
    for (; j < n && pt[j].x == pt[i].x; j++)
      s += pt[j].y, s2 += pt[j].y * pt[j].y, lo = fmin(lo, pt[j].y), hi = fmax(hi, pt[j].y);
    const int c = j - i, k = g->n++;
    g->x[k] = pt[i].x, g->mean[k] = s / c, g->lo[k] = lo, g->hi[k] = hi, g->count[k] = c;
    g->std[k] = sqrt(fmax(0, s2 / c - g->mean[k] * g->mean[k]));
    i = j;
  }
  xfree(pt);
  return 0;
}

/* -1 to go on, else the exit code */
static int parse_opts(int argc, char **argv, Opts *o) {
  *o = (Opts){.out = "plot.png",
              .xcol = "env_steps",
              .ycol = "eval_return",
              .band = "minmax",
              .W = 800,
              .H = 500,
              .sm = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int more = i + 1 < argc;
#define OPT(name) (!strcmp(a, name) && more && (++i, 1))
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (OPT("-o")) {
      o->out = argv[i];
    } else if (OPT("--x")) {
      o->xcol = argv[i];
    } else if (OPT("--y")) {
      o->ycol = argv[i];
    } else if (OPT("--smooth")) {
      char *end;
      long v = strtol(argv[i], &end, 10);
      if (end == argv[i] || *end || v < 1 || v > 100000) {
        fprintf(stderr, "usbpo_plot: --smooth wants a window of 1 or more points\n");
        return 2;
      }
      o->sm = (int)v;
    } else if (OPT("--band")) {
      o->band = argv[i];
      if (strcmp(o->band, "minmax") && strcmp(o->band, "std")) {
        fprintf(stderr, "usbpo_plot: --band is minmax or std, not '%s'\n", o->band);
        return 2;
      }
    } else if (OPT("--title")) {
      o->title = argv[i];
    } else if (OPT("--labels")) {
      o->labels = argv[i];
    } else if (OPT("--ref")) {
      if (o->nrefs == 4) {
        fprintf(stderr, "usbpo_plot: at most 4 --ref curves\n");
        return 2;
      }
      o->refs[o->nrefs++] = argv[i];
    } else if (OPT("--ref-shift")) {
      o->ref_shift = atof(argv[i]);
    } else if (OPT("--table")) {
      o->table = argv[i];
    } else if (OPT("--size")) {
      if (sscanf(argv[i], "%dx%d", &o->W, &o->H) != 2 || o->W < 100 || o->H < 100 || o->W > 10000 ||
          o->H > 10000) {
        fprintf(stderr, "usbpo_plot: --size wants WxH in pixels (100..10000), not '%s'\n", argv[i]);
        return 2;
      }
    } else if (a[0] == '-') {
      fprintf(stderr, "usbpo_plot: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      return 2;
    } else {
      expand(a, &o->dirs);
    }
#undef OPT
  }
  if (o->dirs.n == 0) {
    usage(stderr);
    return 2;
  }
  for (const char *c = o->out; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) {
      fprintf(stderr, "usbpo_plot: -o: the file name holds a control character (a line break?)\n");
      return 2;
    }
  char why[1400];
  if (rf_output_ok(o->out, why, sizeof why) != 0 ||
      (o->table && rf_output_ok(o->table, why, sizeof why) != 0)) {
    fprintf(stderr, "usbpo_plot: %s\n", why);
    return 2;
  }
  const char *ext = strrchr(o->out, '.');
  o->svg = ext && !strcmp(ext, ".svg");
  if (!ext || (!o->svg && strcmp(ext, ".png"))) {
    fprintf(stderr, "usbpo_plot: -o must name a .png or .svg file, not '%s'\n", o->out);
    return 2;
  }
  return -1;
}

/* runs, grouped by configuration (all but the seed); returns the number of groups */
static int load_runs(const Opts *o, Run *runs, Group *groups) {
  int ng = 0;
  for (int r = 0; r < o->dirs.n; r++) {
    Run *run = &runs[r];
    snprintf(run->dir, sizeof run->dir, "%s", o->dirs.v[r]);
    char cpath[1200];
    snprintf(cpath, sizeof cpath, "%s/config.toml", run->dir);
    Config c;
    CfgErrors errs = {0};
    if (cfg_load(&c, cpath, NULL, 0, &errs) != 0) {
      fprintf(stderr, "usbpo_plot: %s", errs.text ? errs.text : cpath);
      exit(1);
    }
    cfg_errors_free(&errs);
    const uint64_t key = group_key(&c);
    int g = 0;
    while (g < ng && groups[g].key != key) g++;
    if (g == ng) {
      if (ng == MAX_GROUPS) {
        fprintf(stderr,
                "usbpo_plot: the %d run directories hold more than %d configurations; "
                "one figure draws at most %d curves (pass fewer directories)\n",
                o->dirs.n, MAX_GROUPS, MAX_GROUPS);
        exit(1);
      }
      memset(&groups[g], 0, sizeof groups[g]);
      groups[g].key = key;
      groups[g].env = c.env.name, groups[g].algo = c.run.algo;
      groups[g].ft = c.finetune.mode, groups[g].mode = c.run.mode;
      ng++;
    }
    groups[g].runs++;
    run->group = g;
    read_run(run, o->xcol, o->ycol);
    smooth(run->y, run->n, o->sm);
  }
  return ng;
}

/* labels: given, or algorithm (+ environment when they differ, + what else tells apart) */
static void label_groups(const Opts *o, Group *groups, int ng) {
  int envs_differ = 0;
  for (int g = 1; g < ng; g++) envs_differ |= groups[g].env != groups[0].env;
  const char *lp = o->labels;
  for (int g = 0; g < ng; g++) {
    Group *G = &groups[g];
    int same = 0;
    if (lp && *lp) {
      const char *comma = strchr(lp, ',');
      const int n = comma ? (int)(comma - lp) : (int)strlen(lp);
      snprintf(G->base, sizeof G->base, "%.*s", n, lp);
      lp = comma ? comma + 1 : NULL;
    } else {
      snprintf(G->base, sizeof G->base, "%s%s%s%s%s", envs_differ ? cfg_env_name(G->env) : "",
               envs_differ ? " " : "", cfg_algo_name(G->algo),
               G->algo == ALGO_USBPO && G->ft == FT_W2 ? " (w2)" : "",
               G->mode == MODE_ASYNC ? " async" : "");
      for (int h = 0; h < g; h++) same += !strcmp(groups[h].base, G->base);
    }
    char nth[16] = "";
    if (same) snprintf(nth, sizeof nth, " #%d", same + 1);
    snprintf(G->label, sizeof G->label, "%s%s (%d seed%s)", G->base, nth, G->runs,
             G->runs == 1 ? "" : "s");
  }
}

/* a label as one CSV cell (its commas would split it) */
static const char *csv_label(const char *label) {
  static char buf[256];
  snprintf(buf, sizeof buf, "%s", label);
  for (char *c = buf; *c; c++)
    if (*c == ',' || *c == '\n' || *c == '"') *c = ';';
  return buf;
}

static int write_table(const char *table, const Group *groups, int ng) {
  char *buf = NULL, err[1400];
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return -1;
  fprintf(f, "group,label,x,mean,min,max,std,seeds\n");
  for (int g = 0; g < ng; g++)
    for (int i = 0; i < groups[g].n; i++)
      fprintf(f, "%d,%s,%.10g,%.10g,%.10g,%.10g,%.10g,%d\n", g, csv_label(groups[g].label),
              groups[g].x[i], groups[g].mean[i], groups[g].lo[i], groups[g].hi[i], groups[g].std[i],
              groups[g].count[i]);
  fclose(f);
  const int rc = rf_write_output(table, buf, len, err, sizeof err);
  free(buf);
  if (rc != 0) fprintf(stderr, "usbpo_plot: cannot write the table: %s\n", err);
  return rc;
}

/* the gnuplot program, data inline; every user text quoted (gp_quoted) */
static void gnuplot_program(FILE *p, const Opts *o, const Group *groups, int ng, const Group *refs,
                            int nr) {
  if (o->svg)
    fprintf(p, "set terminal svg size %d,%d dynamic enhanced font 'sans,12' background '#ffffff'\n",
            o->W, o->H);
  else
    fprintf(p, "set terminal pngcairo size %d,%d enhanced font 'sans,10' background '#ffffff'\n",
            o->W, o->H);
  /* gnuplot takes an output name that starts with '|' as a command to pipe into: such a name
   * is a file in the current directory here, and says so */
  char out[1100];
  snprintf(out, sizeof out, "%s%s", o->out[0] == '|' ? "./" : "", o->out);
  fputs("set output ", p), gp_quoted(p, out);
  fputs("\nset datafile separator ','\nset grid lc rgb '#dddddd'\n", p);
  fputs("set key bottom right box opaque\nset xlabel ", p), gp_quoted(p, o->xcol);
  fputs(" noenhanced\nset ylabel ", p), gp_quoted(p, o->ycol);
  fputs(" noenhanced\n", p);
  double xmax = 0;
  for (int g = 0; g < ng; g++)
    for (int i = 0; i < groups[g].n; i++) xmax = fmax(xmax, fabs(groups[g].x[i]));
  if (xmax >= 20000) fprintf(p, "set format x '%%.0s%%c'\n"); /* 100k, 1M */
  fprintf(p, "set style fill transparent solid 0.2 noborder\n");
  if (o->title) fputs("set title ", p), gp_quoted(p, o->title), fputs(" noenhanced\n", p);
  const int use_std = !strcmp(o->band, "std");
  for (int g = 0; g < ng; g++) {
    fprintf(p, "$g%d << EOD\n", g);
    for (int i = 0; i < groups[g].n; i++) {
      const Group *G = &groups[g];
      const double lo = use_std ? G->mean[i] - G->std[i] : G->lo[i];
      const double hi = use_std ? G->mean[i] + G->std[i] : G->hi[i];
      fprintf(p, "%.10g,%.10g,%.10g,%.10g\n", G->x[i], G->mean[i], lo, hi);
    }
    fprintf(p, "EOD\n");
  }
  for (int r = 0; r < nr; r++) {
    fprintf(p, "$r%d << EOD\n", r);
    for (int i = 0; i < refs[r].n; i++)
      fprintf(p, "%.10g,%.10g,%.10g,%.10g\n", refs[r].x[i], refs[r].mean[i],
              refs[r].mean[i] - refs[r].std[i], refs[r].mean[i] + refs[r].std[i]);
    fprintf(p, "EOD\n");
  }
  fprintf(p, "plot ");
  for (int r = 0; r < nr; r++) {
    static const char *grey[] = {"#555555", "#999999", "#bbbb55", "#55bbbb"};
    fprintf(p,
            "%s$r%d using 1:3:4 with filledcurves lc rgb '%s' fs transparent solid 0.08 notitle, "
            "$r%d using 1:2 with lines lw 2 dt 2 lc rgb '%s' title ",
            r ? ", " : "", r, grey[r], r, grey[r]);
    gp_quoted(p, refs[r].label);
    fputs(" noenhanced", p);
  }
  for (int g = 0; g < ng; g++) {
    const char *col = COLORS[g % (int)(sizeof COLORS / sizeof COLORS[0])];
    fprintf(p,
            "%s$g%d using 1:3:4 with filledcurves lc rgb '%s' notitle, "
            "$g%d using 1:2 with lines lw 2 lc rgb '%s' title ",
            g || nr ? ", " : "", g, col, g, col);
    gp_quoted(p, groups[g].label);
    fputs(" noenhanced", p);
  }
  fprintf(p, "\n");
}

int main(int argc, char **argv) {
  Opts o;
  int code = parse_opts(argc, argv, &o);
  if (code >= 0) return code;
  Run *runs = xmalloc(sizeof(Run) * o.dirs.n);
  Group *groups = xmalloc(sizeof(Group) * MAX_GROUPS);
  const int ng = load_runs(&o, runs, groups);
  label_groups(&o, groups, ng);
  for (int g = 0; g < ng; g++) aggregate(&groups[g], runs, o.dirs.n, g);
  if (o.table && write_table(o.table, groups, ng) != 0) return 1;
  char *prog = NULL;
  size_t plen = 0;
  FILE *p = open_memstream(&prog, &plen);
  Group refs[4];
  double xmax = 0;
  for (int g = 0; g < ng; g++)
    for (int i = 0; i < groups[g].n; i++) xmax = fmax(xmax, groups[g].x[i]);
  for (int r = 0; r < o.nrefs; r++)
    if (load_ref(o.refs[r], o.ref_shift, xmax, &refs[r]) != 0) return 1;
  gnuplot_program(p, &o, groups, ng, refs, o.nrefs);
  fclose(p);
  FILE *gp = popen("gnuplot", "w");
  if (!gp) {
    fprintf(stderr, "usbpo_plot: cannot start gnuplot: %s\n", strerror(errno));
    return 1;
  }
  fwrite(prog, 1, plen, gp);
  const int st = pclose(gp);
  free(prog);
  if (st != 0) {
    fprintf(stderr, "usbpo_plot: gnuplot failed (exit %d)%s\n",
            WIFEXITED(st) ? WEXITSTATUS(st) : -1,
            WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ": is gnuplot installed (Debian gnuplot-nox)?"
                                                    : "");
    return 1;
  }
  for (int g = 0; g < ng; g++)
    fprintf(stderr, "usbpo_plot: %s: %d points\n", groups[g].label, groups[g].n);
  fprintf(stderr, "usbpo_plot: wrote %s (%d run%s)\n", o.out, o.dirs.n, o.dirs.n == 1 ? "" : "s");
  return 0;
}
