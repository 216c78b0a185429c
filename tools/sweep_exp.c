/* sweep_exp — reading an experiment file (see sweep.h, and usbpo_sweep.c for the format):
 * every key checked, every error named with file, line and column. */
#include "sweep.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "config_toml.h"
#include "metrics_cols.h"
#include "util.h"

/* ---- the experiment file ---- */

int sweep_fail_at(const char *file, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (line > 0)
    fprintf(stderr, "%s:%d:%d: ", file, line, col);
  else
    fprintf(stderr, "%s: ", file);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return -1;
}

static int metrics_column(const char *s, size_t n) {
  static const char *cols[] = {
#define X(name, wall) #name,
      METRICS_COLUMNS
#undef X
  };
  for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
    if (strlen(cols[i]) == n && !strncmp(cols[i], s, n)) return 1;
  return 0;
}

/* a metrics.csv column, or a difference of two: "A-B" */
static int plot_ok(const char *s) {
  const char *dash = strchr(s, '-');
  if (!dash) return metrics_column(s, strlen(s));
  return metrics_column(s, (size_t)(dash - s)) && metrics_column(dash + 1, strlen(dash + 1));
}

static int label_ok(const char *s) {
  if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
  for (; *s; s++)
    if (!(*s == '-' || *s == '_' || *s == '.' || *s == '+' || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
      return 0;
  return 1;
}

const char *sweep_owned_key(const char *set) {
  static const char *own[] = {"run.seed", "run.dir",    "run.name",     "run.total_steps",
                              "env.name", "run.resume", "run.overwrite"};
  static char key[128];
  const char *eq = strchr(set, '=');
  size_t n = eq ? (size_t)(eq - set) : strlen(set);
  while (n > 0 && (set[n - 1] == ' ' || set[n - 1] == '\t')) n--;
  while (n > 0 && (*set == ' ' || *set == '\t')) set++, n--;
  snprintf(key, sizeof key, "%.*s", (int)(n < sizeof key ? n : sizeof key - 1), set);
  for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
    if (!strcmp(key, own[k])) return own[k];
  return NULL;
}

static int apply_key(Exp *x, const CfgTomlItem *it) {
  const char *k = it->key, *f = x->file;
  const int L = it->key_line, C = it->key_col;
#define WANT(t, what)                                                                              \
  if (it->type != (t))                                                                             \
  return sweep_fail_at(f, it->val_line, it->val_col, "%s: expected %s", k, what)
  if (!strcmp(k, "experiment.name")) {
    WANT(CT_STRING, "a string");
    if (!label_ok(it->s))
      return sweep_fail_at(f, L, C, "%s: one directory name, [A-Za-z0-9._+-]", k);
    snprintf(x->name, sizeof x->name, "%s", it->s);
  } else if (!strcmp(k, "experiment.base")) {
    WANT(CT_STRING, "a string (a config file)");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", PATH_MAX - 1, x->file);
    char *slash = strrchr(dir, '/');
    if (it->s[0] == '/' || !slash)
      snprintf(x->base, sizeof x->base, "%s", it->s);
    else
      *slash = 0, snprintf(x->base, sizeof x->base, "%s/%s", dir, it->s);
  } else if (!strcmp(k, "experiment.envs")) {
    WANT(CT_STRARRAY, "an array of environment names");
    if (it->nstrs > MAX_ENVS) return sweep_fail_at(f, L, C, "%s: at most %d", k, MAX_ENVS);
    for (int i = 0; i < it->nstrs; i++) {
      if (cfg_env_from_name(it->strs[i]) < 0)
        return sweep_fail_at(f, it->val_line, it->val_col, "%s: unknown environment '%s'", k,
                             it->strs[i]);
      snprintf(x->envs[x->nenvs++], 64, "%s", it->strs[i]);
    }
  } else if (!strcmp(k, "experiment.seeds")) {
    WANT(CT_ARRAY, "an array of seeds");
    if (it->arr_bad || it->arr_len > MAX_SEEDS)
      return sweep_fail_at(f, it->val_line, it->val_col, "%s: up to %d whole numbers", k,
                           MAX_SEEDS);
    for (int i = 0; i < it->arr_len; i++) {
      double v = it->arr[i];
      if (v < 0 || v > 2147483647 || v != floor(v))
        return sweep_fail_at(f, it->val_line, it->val_col, "%s: seed %g is not a whole number >= 0",
                             k, v);
      for (int j = 0; j < x->nseeds; j++)
        if (x->seeds[j] == (int64_t)v)
          return sweep_fail_at(f, it->val_line, it->val_col, "%s: seed %g twice", k, v);
      x->seeds[x->nseeds++] = (int64_t)v;
    }
  } else if (!strcmp(k, "experiment.total_steps")) {
    WANT(CT_INT, "a whole number of env steps");
    if (it->i < 1) return sweep_fail_at(f, it->val_line, it->val_col, "%s must be >= 1", k);
    x->total_steps = it->i, x->steps_line = it->val_line;
  } else if (!strcmp(k, "experiment.baseline")) {
    WANT(CT_STRING, "a variant label");
    snprintf(x->baseline, sizeof x->baseline, "%s", it->s);
  } else if (!strcmp(k, "experiment.threshold")) {
    if (it->type != CT_INT && it->type != CT_FLOAT)
      return sweep_fail_at(f, it->val_line, it->val_col, "%s: expected a number", k);
    x->threshold = it->type == CT_INT ? (double)it->i : it->f, x->has_threshold = 1;
  } else if (!strcmp(k, "experiment.ranks")) {
    WANT(CT_INT, "a whole number");
    if (it->i < 1 || it->i > 4096)
      return sweep_fail_at(f, it->val_line, it->val_col, "%s: 1..4096", k);
    x->ranks = (int)it->i;
  } else if (!strcmp(k, "experiment.plots")) {
    WANT(CT_STRARRAY, "an array of metrics columns (or A-B differences)");
    if (it->nstrs > 8) return sweep_fail_at(f, L, C, "%s: at most 8", k);
    for (int i = 0; i < it->nstrs; i++) {
      if (!plot_ok(it->strs[i]))
        return sweep_fail_at(f, it->val_line, it->val_col,
                             "%s: '%s' is not a metrics.csv column or a difference A-B of two", k,
                             it->strs[i]);
      snprintf(x->plots[x->nplots++], 128, "%s", it->strs[i]);
    }
  } else if (!strcmp(k, "experiment.dir")) {
    WANT(CT_STRING, "a directory");
    snprintf(x->dir, sizeof x->dir, "%s", it->s);
  } else if (!strncmp(k, "variant.", 8)) {
    char *end;
    long i = strtol(k + 8, &end, 10);
    if (end == k + 8 || *end != '.' || i < 0 || i >= MAX_VARIANTS)
      return sweep_fail_at(f, L, C, "unknown key '%s'", k);
    if (i + 1 > x->nvar) x->nvar = (int)i + 1;
    Variant *v = &x->var[i];
    if (!v->line) v->line = L;
    if (!strcmp(end + 1, "label")) {
      WANT(CT_STRING, "a string");
      if (!label_ok(it->s))
        return sweep_fail_at(f, it->val_line, it->val_col,
                             "variant label '%s': one directory name, [A-Za-z0-9._+-]", it->s);
      snprintf(v->label, sizeof v->label, "%s", it->s);
      v->line = L;
    } else if (!strcmp(end + 1, "set")) {
      WANT(CT_STRARRAY, "an array of \"section.key=value\" strings");
      if (it->nstrs > MAX_SETS)
        return sweep_fail_at(f, L, C, "%s: at most %d overrides", k, MAX_SETS);
      for (int j = 0; j < it->nstrs; j++) {
        if (!strchr(it->strs[j], '='))
          return sweep_fail_at(f, it->val_line, it->val_col, "%s: '%s' is not section.key=value", k,
                               it->strs[j]);
        const char *own = sweep_owned_key(it->strs[j]);
        if (own)
          return sweep_fail_at(f, it->val_line, it->val_col,
                               "%s: '%s': %s is the sweep's to set (experiment.seeds, dir, "
                               "total_steps, envs; each cell's run name and resume), not a "
                               "variant's",
                               k, it->strs[j], own);
        v->sets[v->nsets++] = strdup(it->strs[j]);
      }
    } else {
      return sweep_fail_at(f, L, C, "unknown key 'variant.%s' (a variant has label and set)",
                           end + 1);
    }
  } else {
    return sweep_fail_at(
        f, L, C,
        "unknown key '%s' (experiment.name, base, envs, seeds, total_steps, baseline, plots, "
        "threshold, ranks, dir; [[variant]] label, set)",
        k);
  }
#undef WANT
  return 0;
}

int sweep_load_exp(const char *file, Exp *x) {
  memset(x, 0, sizeof *x);
  snprintf(x->file, sizeof x->file, "%s", file);
  snprintf(x->dir, sizeof x->dir, "exp");
  x->ranks = 1;
  struct stat st;
  if (stat(file, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20))
    return sweep_fail_at(file, 0, 0,
                         "cannot read the experiment (a regular file of at most 1 MiB)");
  size_t len;
  char *text = util_read_file(file, &len);
  if (!text) return sweep_fail_at(file, 0, 0, "cannot read: %s", strerror(errno));
  CfgTomlItem *items;
  int n, el = 0, ec = 0;
  char err[512];
  int rc = cfg_toml_parse(text, file, &items, &n, err, sizeof err, &el, &ec);
  free(text);
  if (rc != 0) return sweep_fail_at(file, el, ec, "TOML syntax error: %s", err);
  int bad = 0;
  for (int i = 0; i < n; i++) bad |= apply_key(x, &items[i]) != 0;
  cfg_toml_free(items, n);
  if (bad) return -1;
  if (!x->name[0]) {
    const char *b = strrchr(file, '/');
    snprintf(x->name, sizeof x->name, "%s", b ? b + 1 : file);
    char *dot = strrchr(x->name, '.');
    if (dot) *dot = 0;
  }
  if (!x->base[0])
    return sweep_fail_at(file, 0, 0, "missing experiment.base (the config every cell starts from)");
  if (!x->nseeds) return sweep_fail_at(file, 0, 0, "empty grid: experiment.seeds has no seed");
  if (!x->nvar) return sweep_fail_at(file, 0, 0, "empty grid: no [[variant]]");
  if (!x->total_steps) return sweep_fail_at(file, 0, 0, "missing experiment.total_steps");
  for (int i = 0; i < x->nvar; i++) {
    if (!x->var[i].label[0])
      return sweep_fail_at(file, x->var[i].line, 1, "variant %d has no label", i + 1);
    for (int j = 0; j < i; j++)
      if (!strcmp(x->var[i].label, x->var[j].label))
        return sweep_fail_at(file, x->var[i].line, 1,
                             "duplicate variant label '%s' (also at line %d)", x->var[i].label,
                             x->var[j].line);
  }
  int found = !x->baseline[0];
  for (int i = 0; i < x->nvar; i++) found |= !strcmp(x->var[i].label, x->baseline);
  if (!found)
    return sweep_fail_at(file, 0, 0, "experiment.baseline '%s' is no variant's label", x->baseline);
  snprintf(x->root, sizeof x->root, "%s/%s", x->dir, x->name);
  return 0;
}
