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

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
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

static int col_index(char *header, const char *name) {
  int i = 0;
  for (char *t = strtok(header, ",\n"); t; t = strtok(NULL, ",\n"), i++)
    if (!strcmp(t, name)) return i;
  return -1;
}

/* a number, or nan / inf (kept, then skipped); anything else names its place */
static double cell(const char *f, const char *path, int line, const char *col) {
  char *end;
  double v = strtod(f, &end);
  if (end == f || *end != 0) {
    fprintf(stderr, "usbpo_plot: %s:%d: %s = '%s' is not a number\n", path, line, col, f);
    exit(1);
  }
  return v;
}

/* the x and y columns (and epoch) of dir/metrics.csv; y may be a difference of two columns,
 * "A-B" (column names have no '-'), e.g. ft_shift-ft_shift_before */
static void read_run(Run *r, const char *xcol, const char *ycol_arg) {
  char ycol[256], *ysub = NULL;
  snprintf(ycol, sizeof ycol, "%s", ycol_arg);
  char *dash = strchr(ycol, '-');
  if (dash) *dash = 0, ysub = dash + 1;
  char path[1200];
  snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
  size_t len;
  char *text = util_read_file(path, &len);
  if (!text) {
    fprintf(stderr, "usbpo_plot: cannot read %s: %s\n", path, strerror(errno));
    exit(1);
  }
  char *nl = strchr(text, '\n');
  if (!nl) {
    fprintf(stderr, "usbpo_plot: %s: no header line\n", path);
    exit(1);
  }
  *nl = 0;
  char *h = strdup(text);
  const int ix = col_index(strcpy(h, text), xcol), iy = col_index(strcpy(h, text), ycol),
            ie = col_index(strcpy(h, text), "epoch"),
            is = ysub ? col_index(strcpy(h, text), ysub) : -1;
  if (ix < 0 || iy < 0 || (ysub && is < 0)) {
    fprintf(stderr, "usbpo_plot: %s: no column '%s'; the columns are: %s\n", path,
            ix < 0   ? xcol
            : iy < 0 ? ycol
                     : ysub,
            text);
    exit(1);
  }
  const int ilast = ix > iy ? (ix > is ? ix : is) : (iy > is ? iy : is);
  free(h);
  int rows = 0;
  for (char *p = nl + 1; *p; p++) rows += *p == '\n';
  r->x = xmalloc(sizeof(double) * (rows + 1));
  r->y = xmalloc(sizeof(double) * (rows + 1));
  r->epoch = xmalloc(sizeof(int64_t) * (rows + 1));
  r->n = 0;
  int line = 2;
  for (char *row = nl + 1; *row; line++) {
    char *end = strchr(row, '\n');
    if (!end) break; /* a partial last line (a run still writing) */
    *end = 0;
    double x = NAN, y = NAN, sub = 0;
    int64_t e = r->n;
    int i = 0;
    for (char *f = row, *comma; f; f = comma ? comma + 1 : NULL, i++) {
      comma = strchr(f, ',');
      if (comma) *comma = 0;
      if (i == ix) x = cell(f, path, line, xcol);
      if (i == iy) y = cell(f, path, line, ycol) - sub;
      if (i == is) {
        sub = cell(f, path, line, ysub);
        if (i > iy) y -= sub;
      }
      if (i == ie) {
        double v = cell(f, path, line, "epoch");
        if (!(v >= 0 && v <= 9.0e15 && v == floor(v)) || (r->n > 0 && v <= r->epoch[r->n - 1])) {
          fprintf(stderr,
                  "usbpo_plot: %s:%d: epoch '%s' is not a whole number above the previous "
                  "row's\n",
                  path, line, f);
          exit(1);
        }
        e = (int64_t)v;
      }
    }
    if (i <= ilast) {
      fprintf(stderr, "usbpo_plot: %s:%d: %d fields, the header has more\n", path, line, i);
      exit(1);
    }
    if (isfinite(x) && isfinite(y)) r->x[r->n] = x, r->y[r->n] = y, r->epoch[r->n++] = e;
    row = end + 1;
  }
  free(text);
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
static int load_ref(const char *spec, double shift, double xmax, Group *g) {
  char file[1024];
  const char *eq = strchr(spec, '=');
  snprintf(file, sizeof file, "%.*s", eq ? (int)(eq - spec) : (int)strlen(spec), spec);
  size_t len;
  char *text = util_read_file(file, &len);
  if (!text) {
    fprintf(stderr, "usbpo_plot: --ref %s: %s\n", file, strerror(errno));
    return -1;
  }
  int cap = 1024, n = 0, seeds = 0;
  double *bx = xmalloc(sizeof(double) * cap), *by = xmalloc(sizeof(double) * cap);
  int seen[256], nseen = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    double step, t, rew, sd;
    if (sscanf(line, "%lf,%lf,%lf,%lf", &step, &t, &rew, &sd) != 4) continue;
    const double x = 1000.0 * floor((step - shift) / 1000.0 + 0.5);
    if (x < 0 || (xmax > 0 && x > xmax)) continue;
    int k = 0;
    while (k < nseen && seen[k] != (int)sd) k++;
    if (k == nseen && nseen < 256) seen[nseen++] = (int)sd;
    if (n == cap) {
      cap *= 2;
      double *nx = xmalloc(sizeof(double) * cap), *ny = xmalloc(sizeof(double) * cap);
      memcpy(nx, bx, sizeof(double) * n), memcpy(ny, by, sizeof(double) * n);
      xfree(bx), xfree(by);
      bx = nx, by = ny;
    }
    bx[n] = x, by[n++] = rew;
  }
  free(text);
  seeds = nseen;
  memset(g, 0, sizeof *g);
  snprintf(g->label, sizeof g->label, "%.200s (published, %d seeds)", eq ? eq + 1 : file, seeds);
  g->x = xmalloc(sizeof(double) * (n + 1)), g->mean = xmalloc(sizeof(double) * (n + 1));
  g->lo = xmalloc(sizeof(double) * (n + 1)), g->hi = xmalloc(sizeof(double) * (n + 1));
  g->std = xmalloc(sizeof(double) * (n + 1)), g->count = xmalloc(sizeof(int) * (n + 1));
  g->runs = seeds;
  /* bins in increasing x (selection by repeated minimum: the files are small) */
  double last = -1;
  for (;;) {
    double next = INFINITY;
    for (int i = 0; i < n; i++)
      if (bx[i] > last && bx[i] < next) next = bx[i];
    if (!isfinite(next)) break;
    double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
    int c = 0;
    for (int i = 0; i < n; i++)
      if (bx[i] == next)
        s += by[i], s2 += by[i] * by[i], c++, lo = fmin(lo, by[i]), hi = fmax(hi, by[i]);
    const int k = g->n++;
    g->x[k] = next, g->mean[k] = s / c, g->lo[k] = lo, g->hi[k] = hi, g->count[k] = c;
    g->std[k] = sqrt(fmax(0, s2 / c - g->mean[k] * g->mean[k]));
    last = next;
  }
  xfree(bx), xfree(by);
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
               G->algo == ALGO_USBPO && G->ft == FT_FAITHFUL ? " (faithful)" : "",
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
  FILE *f = fopen(table, "w");
  if (!f) {
    fprintf(stderr, "usbpo_plot: cannot write %s: %s\n", table, strerror(errno));
    return -1;
  }
  fprintf(f, "group,label,x,mean,min,max,std,seeds\n");
  for (int g = 0; g < ng; g++)
    for (int i = 0; i < groups[g].n; i++)
      fprintf(f, "%d,%s,%.10g,%.10g,%.10g,%.10g,%.10g,%d\n", g, csv_label(groups[g].label),
              groups[g].x[i], groups[g].mean[i], groups[g].lo[i], groups[g].hi[i], groups[g].std[i],
              groups[g].count[i]);
  return fclose(f) == 0 ? 0 : -1;
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
  fputs("set output ", p), gp_quoted(p, o->out);
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
