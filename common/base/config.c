/* config — schema, loader, validation and dump. See config.h. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_keys.h"
#include "config_toml.h"
#include "util.h"

#define CFG_MAX_FILE (1 << 20)

/* ---- errors ---- */

void cfg_errors_free(CfgErrors *e) {
  free(e->text);
  memset(e, 0, sizeof *e);
}

static void err_add(CfgErrors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_add(CfgErrors *e, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  if (e->len + (size_t)n + 2 > e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 1024;
    while (cap < e->len + (size_t)n + 2) cap *= 2;
    e->text = realloc(e->text, cap);
    CHECK(e->text, "out of memory");
    e->cap = cap;
  }
  memcpy(e->text + e->len, msg, (size_t)n);
  e->len += (size_t)n;
  e->text[e->len++] = '\n';
  e->text[e->len] = 0;
  e->count++;
}

/* ---- lookup, suggestions ---- */

static int find_key(const char *key) {
  for (int i = 0; i < NKEYS; i++)
    if (!strcmp(KEYS[i].key, key)) return i;
  return -1;
}

static int levenshtein(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 100 || lb > 100) return 1000;
  int prev[101], cur[101];
  for (int j = 0; j <= lb; j++) prev[j] = j;
  for (int i = 1; i <= la; i++) {
    cur[0] = i;
    for (int j = 1; j <= lb; j++) {
      int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      int del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, sizeof(int) * (lb + 1));
  }
  return prev[lb];
}

/* nearest valid key: whole dotted path, or the leaf alone in any section */
static const char *suggest(const char *key) {
  const char *leaf = strrchr(key, '.');
  leaf = leaf ? leaf + 1 : key;
  int best = 1 << 30, bi = -1;
  for (int i = 0; i < NKEYS; i++) {
    int d = levenshtein(key, KEYS[i].key);
    const char *kl = strrchr(KEYS[i].key, '.') + 1;
    int dl = levenshtein(leaf, kl) + 1; /* a wrong section costs one */
    if (dl < d) d = dl;
    if (d < best) best = d, bi = i;
  }
  int len = (int)strlen(leaf);
  int limit = len <= 4 ? 2 : len / 2 + 1;
  return bi >= 0 && best <= limit ? KEYS[bi].key : NULL;
}

/* ---- applying items ---- */

typedef struct {
  const char *file; /* source name for messages */
  int line, col;    /* 0 = unknown */
  const char *arg;  /* --set argument, or NULL */
} Place;

static void place_str(const Place *p, char *buf, size_t n) {
  if (p->arg)
    snprintf(buf, n, "--set %s", p->arg);
  else if (p->line > 0)
    snprintf(buf, n, "%s:%d:%d", p->file, p->line, p->col);
  else
    snprintf(buf, n, "%s", p->file);
}

static const char *type_name(int t) {
  switch (t) {
  case CT_INT:
    return "an integer";
  case CT_FLOAT:
    return "a float";
  case CT_BOOL:
    return "a boolean";
  case CT_STRING:
    return "a string";
  case CT_ARRAY:
    return "an array";
  case CT_TABLE:
    return "a table";
  case CT_STRARRAY:
    return "an array of strings";
  default:
    return "a date/time or mixed array";
  }
}

static void enum_list(const char *const *names, char *buf, size_t n) {
  buf[0] = 0;
  for (int i = 0; names[i]; i++) {
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%s\"%s\"", i ? ", " : "", names[i]);
  }
}

static void range_text(const KeyDef *k, char *buf, size_t n) {
  const char *lo = (k->flags & F_MIN_EXCL) ? ">" : ">=";
  if (isinf(k->min) && isinf(k->max))
    snprintf(buf, n, "any number");
  else if (k->max >= BIG)
    snprintf(buf, n, "%s %g", lo, k->min);
  else
    snprintf(buf, n, "%s %g and <= %g", lo, k->min, k->max);
}

static int in_range(const KeyDef *k, double v) {
  if (isnan(v)) return 0;
  if ((k->flags & F_MIN_EXCL) ? !(v > k->min) : !(v >= k->min)) return 0;
  return v <= k->max;
}

/* a number outside the key's bounds: the message added, 1 */
static int out_of_range(const KeyDef *k, double v, const char *where, const char *index,
                        CfgErrors *errs) {
  if (in_range(k, v)) return 0;
  char r[96];
  range_text(k, r, sizeof r);
  err_add(errs, "%s: %s%s = %.17g is out of range (must be %s)", where, k->key, index, v, r);
  return 1;
}

/* apply one parsed item; returns 0 or -1 (message added). origin[] records where keys were set */
static int apply_item(Config *c, const CfgTomlItem *it, const char *file, const char *arg,
                      CfgErrors *errs, char origin[][96]) {
  char where[512];
  Place kp = {file, it->key_line, it->key_col, arg};
  Place vp = {file, it->val_line, it->val_col, arg};
  int ki = find_key(it->key);
  if (ki < 0) {
    place_str(&kp, where, sizeof where);
    const char *s = suggest(it->key);
    const char *dot = strchr(it->key, '.');
    if (!dot && it->type != CT_TABLE)
      err_add(errs, "%s: unknown key '%s': every key belongs to a section%s%s%s", where, it->key,
              s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
    else
      err_add(errs, "%s: unknown key '%s'%s%s%s", where, it->key, s ? " (did you mean '" : "",
              s ? s : "", s ? "'?)" : "");
    return -1;
  }
  const KeyDef *k = &KEYS[ki];
  char *base = (char *)c;
  place_str(&vp, where, sizeof where);
  switch (k->type) {
  case K_INT: {
    double v;
    if (it->type == CT_INT)
      v = (double)it->i;
    else if (it->type == CT_FLOAT && isfinite(it->f) && floor(it->f) == it->f)
      v = it->f; /* 1e6 is fine for a count */
    else {
      err_add(errs, "%s: %s: expected an integer, got %s", where, k->key,
              it->type == CT_FLOAT ? "a non-integral float" : type_name(it->type));
      return -1;
    }
    if (out_of_range(k, v, where, "", errs)) return -1;
    *(int64_t *)(base + k->off) = (int64_t)v;
    break;
  }
  case K_FLOAT: {
    if (it->type != CT_INT && it->type != CT_FLOAT) {
      err_add(errs, "%s: %s: expected a number, got %s", where, k->key, type_name(it->type));
      return -1;
    }
    double v = it->type == CT_INT ? (double)it->i : it->f;
    if (out_of_range(k, v, where, "", errs)) return -1;
    *(double *)(base + k->off) = v;
    break;
  }
  case K_BOOL:
    if (it->type != CT_BOOL) {
      err_add(errs, "%s: %s: expected true or false, got %s", where, k->key, type_name(it->type));
      return -1;
    }
    *(bool *)(base + k->off) = it->b != 0;
    break;
  case K_STR:
    if (it->type != CT_STRING) {
      err_add(errs, "%s: %s: expected a string, got %s", where, k->key, type_name(it->type));
      return -1;
    }
    if (strlen(it->s) != it->s_len) {
      err_add(errs, "%s: %s: the string contains a NUL character", where, k->key);
      return -1;
    }
    if (strlen(it->s) >= CFG_STR) {
      err_add(errs, "%s: %s: string longer than %d bytes", where, k->key, CFG_STR - 1);
      return -1;
    }
    snprintf(base + k->off, CFG_STR, "%s", it->s);
    break;
  case K_ENUM: {
    char list[256];
    enum_list(k->names, list, sizeof list);
    if (it->type != CT_STRING) {
      err_add(errs, "%s: %s: expected one of %s, got %s", where, k->key, list, type_name(it->type));
      return -1;
    }
    int v = -1;
    for (int i = 0; k->names[i]; i++)
      if (!strcmp(k->names[i], it->s)) v = i;
    if (v < 0) {
      err_add(errs, "%s: %s = \"%s\" is not valid (expected one of %s)", where, k->key, it->s,
              list);
      return -1;
    }
    *(int *)(base + k->off) = v;
    break;
  }
  case K_FARRAY: {
    if (it->type != CT_ARRAY || it->arr_bad) {
      err_add(errs, "%s: %s: expected an array of numbers, got %s", where, k->key,
              it->type == CT_ARRAY ? "an array with a non-number" : type_name(it->type));
      return -1;
    }
    if (it->arr_len < k->len_min || it->arr_len > k->len_max) {
      if (k->len_min == k->len_max)
        err_add(errs, "%s: %s: expected %d numbers, got %d", where, k->key, k->len_min,
                it->arr_len);
      else
        err_add(errs, "%s: %s: expected %d to %d numbers, got %d", where, k->key, k->len_min,
                k->len_max, it->arr_len);
      return -1;
    }
    for (int i = 0; i < it->arr_len; i++) {
      char ix[16];
      snprintf(ix, sizeof ix, "[%d]", i);
      if (out_of_range(k, it->arr[i], where, ix, errs)) return -1;
    }
    memcpy(base + k->off, it->arr, sizeof(double) * it->arr_len);
    *(int *)(base + k->len_off) = it->arr_len;
    break;
  }
  }
  size_t wl = strlen(where);
  if (wl > 95) wl = 95;
  memcpy(origin[ki], where, wl);
  origin[ki][wl] = 0;
  return 0;
}

/* parse one --set argument "section.key=value" into an item */
static int parse_set(const char *arg, CfgTomlItem **items, int *n, CfgErrors *errs) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) {
    err_add(errs, "--set %s: expected section.key=value", arg);
    return -1;
  }
  char key[160];
  size_t kl = (size_t)(eq - arg);
  if (kl >= sizeof key) {
    err_add(errs, "--set %s: key too long", arg);
    return -1;
  }
  memcpy(key, arg, kl);
  key[kl] = 0;
  for (size_t i = 0; i < kl; i++) {
    char ch = key[i];
    if (!(ch == '.' || ch == '_' || ch == '-' || (ch >= 'a' && ch <= 'z') ||
          (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) {
      err_add(errs, "--set %s: '%s' is not a key", arg, key);
      return -1;
    }
  }
  const char *val = eq + 1;
  char *doc = xasprintf("%s = %s\n", key, val);
  char perr[512];
  int el, ec;
  int rc = cfg_toml_parse(doc, "--set", items, n, perr, sizeof perr, &el, &ec);
  xfree(doc);
  if (rc != 0 || *n != 1) {
    /* not a TOML value: take it as a bare string (--set run.algo=mbpo) */
    if (rc == 0) cfg_toml_free(*items, *n);
    char *q = xmalloc(strlen(val) * 2 + 3);
    char *p = q;
    *p++ = '"';
    for (const char *s = val; *s; s++) {
      if (*s == '"' || *s == '\\') *p++ = '\\';
      *p++ = *s;
    }
    *p++ = '"';
    *p = 0;
    doc = xasprintf("%s = %s\n", key, q);
    xfree(q);
    rc = cfg_toml_parse(doc, "--set", items, n, perr, sizeof perr, &el, &ec);
    xfree(doc);
    if (rc != 0 || *n != 1) {
      if (rc == 0) cfg_toml_free(*items, *n);
      err_add(errs, "--set %s: cannot parse the value", arg);
      return -1;
    }
  }
  return 0;
}

typedef struct {
  CfgTomlItem *items;
  int n;
  const char *source;
  const char *arg; /* for --set */
} ItemSet;

static int parse_text(const char *text, const char *source, ItemSet *out, CfgErrors *errs) {
  char perr[512];
  int el = 0, ec = 0;
  out->source = source;
  out->arg = NULL;
  if (cfg_toml_parse(text, source, &out->items, &out->n, perr, sizeof perr, &el, &ec) != 0) {
    if (el > 0)
      err_add(errs, "%s:%d:%d: TOML syntax error: %s", source, el, ec, perr);
    else
      err_add(errs, "%s: TOML syntax error: %s", source, perr);
    return -1;
  }
  /* one key, one value: TOML refuses a key set twice, but a quoted dotted key ("run.seed" = 5)
   * and a table ([run] seed = 7) name the same config key */
  int dup = 0;
  for (int i = 0; i < out->n; i++)
    for (int j = 0; j < i; j++)
      if (!strcmp(out->items[i].key, out->items[j].key)) {
        const CfgTomlItem *x = &out->items[i], *y = &out->items[j];
        if (y->key_line > x->key_line) x = &out->items[j], y = &out->items[i];
        err_add(errs, "%s:%d:%d: duplicate key '%s' (already set at %d:%d)", source, x->key_line,
                x->key_col, x->key, y->key_line, y->key_col);
        dup = 1;
      }
  return dup ? -1 : 0;
}

/* the env name a set of items asks for: -2 absent, -1 invalid (reported later), else id */
static int env_in(const ItemSet *s) {
  int env = -2;
  for (int i = 0; i < s->n; i++) {
    if (strcmp(s->items[i].key, "env.name")) continue;
    env = s->items[i].type == CT_STRING ? cfg_env_from_name(s->items[i].s) : -1;
  }
  return env;
}

static void validate(Config *c, const char *src, char origin[][96], CfgErrors *errs) {
#define AT(key)     (origin[find_key(key)][0] ? origin[find_key(key)] : src)
#define AT2(k1, k2) (origin[find_key(k1)][0] ? origin[find_key(k1)] : AT(k2))
  if (c->env.name < 0) {
    err_add(errs, "%s: missing required value env.name (one of %s)", src,
            "hopper, walker2d, halfcheetah, ant, humanoid, inverted_pendulum, "
            "inverted_double_pendulum, ant_full, humanoid_full");
    return;
  }
  if (c->model.decay_len != c->model.layers + 1)
    err_add(errs,
            "%s: model.decay has %d entries but model.layers = %lld needs %lld (one per "
            "hidden layer and one for the output layer)",
            AT2("model.decay", "model.layers"), c->model.decay_len, (long long)c->model.layers,
            (long long)c->model.layers + 1);
  if (c->model.elites > c->model.ensemble_size)
    err_add(errs, "%s: model.elites = %lld exceeds model.ensemble_size = %lld",
            AT2("model.elites", "model.ensemble_size"), (long long)c->model.elites,
            (long long)c->model.ensemble_size);
  if (c->finetune.mode != FT_OFF && c->run.algo == ALGO_USBPO && c->model.ensemble_size < 2)
    err_add(errs,
            "%s: finetune.mode = \"%s\" needs model.ensemble_size >= 2 (the bias term "
            "compares members)",
            AT("model.ensemble_size"), cfg_ft_mode_name(c->finetune.mode));
  if (c->finetune.mode == FT_OFF && origin[find_key("finetune.moments")][0])
    err_add(errs,
            "%s: finetune.moments applies to a phase 2 (finetune.mode = \"faithful\" or "
            "\"w2\"), and finetune.mode = \"off\" has none",
            AT("finetune.moments"));
  if (!(c->sac.logstd_min < c->sac.logstd_max))
    err_add(errs, "%s: sac.logstd_min = %g must be below sac.logstd_max = %g",
            AT2("sac.logstd_min", "sac.logstd_max"), c->sac.logstd_min, c->sac.logstd_max);
  const double *s = c->rollout.schedule;
  if (!(s[1] > s[0]))
    err_add(errs,
            "%s: rollout.schedule = [%g, %g, %g, %g]: the end epoch b must exceed the start "
            "epoch a",
            AT("rollout.schedule"), s[0], s[1], s[2], s[3]);
  if (s[2] < 1 || s[3] < 1)
    err_add(errs, "%s: rollout.schedule = [%g, %g, %g, %g]: rollout lengths k0, k1 must be >= 1",
            AT("rollout.schedule"), s[0], s[1], s[2], s[3]);
  if (c->env.min_pool_size > c->sac.buffer_size)
    err_add(errs, "%s: env.min_pool_size = %lld exceeds sac.buffer_size = %lld",
            AT2("env.min_pool_size", "sac.buffer_size"), (long long)c->env.min_pool_size,
            (long long)c->sac.buffer_size);
  if (s[2] > c->env.max_episode_steps || s[3] > c->env.max_episode_steps)
    err_add(errs,
            "%s: rollout.schedule = [%g, %g, %g, %g]: rollout lengths k0, k1 must not exceed "
            "env.max_episode_steps = %lld",
            AT("rollout.schedule"), s[0], s[1], s[2], s[3], (long long)c->env.max_episode_steps);
  if (!(c->model.init_minlv < c->model.init_maxlv))
    err_add(errs, "%s: model.init_minlv = %g must be below model.init_maxlv = %g",
            AT2("model.init_minlv", "model.init_maxlv"), c->model.init_minlv, c->model.init_maxlv);
  if (c->run.name[0] &&
      (strchr(c->run.name, '/') || !strcmp(c->run.name, ".") || !strcmp(c->run.name, "..")))
    err_add(errs,
            "%s: run.name = \"%s\" must be one directory name (no '/', not '.' or '..'): "
            "run directories live in run.dir",
            AT("run.name"), c->run.name);
  if (c->model.holdout_ratio > 0 && c->model.max_holdout < 1)
    err_add(errs, "%s: model.max_holdout must be >= 1", AT("model.max_holdout"));
#undef AT2
#undef AT
}

static int load_sets(Config *c, ItemSet *user, const char *src, const char *const *sets, int nsets,
                     CfgErrors *errs) {
  char(*origin)[96] = calloc(NKEYS, 96);
  CHECK(origin, "out of memory");
  ItemSet *set_items = calloc((size_t)nsets + 1, sizeof(ItemSet));
  CHECK(set_items, "out of memory");
  int ok = errs->count == 0;
  for (int i = 0; i < nsets; i++) {
    set_items[i].arg = sets[i];
    set_items[i].source = "--set";
    if (parse_set(sets[i], &set_items[i].items, &set_items[i].n, errs) != 0) ok = 0;
  }
  /* which env: --set wins over the file */
  int env = user ? env_in(user) : -2;
  for (int i = 0; i < nsets; i++) {
    int e = env_in(&set_items[i]);
    if (e != -2) env = e;
  }
  /* finetune.lr, when nothing gives it (origin[] records what did; the preset's origins are
   * cleared below, so its part is kept here), follows finetune.mode */
  const int lr_key = find_key("finetune.lr"), moments_key = find_key("finetune.moments");
  int preset_lr = 0, preset_moments = 0;
  cfg_defaults(c);
  if (env >= 0) {
    const char *ptext = cfg_preset_text(cfg_env_name(env));
    if (ptext) {
      char pname[96];
      snprintf(pname, sizeof pname, "preset:%s.toml", cfg_env_name(env));
      ItemSet preset;
      if (parse_text(ptext, pname, &preset, errs) == 0) {
        for (int i = 0; i < preset.n; i++)
          if (apply_item(c, &preset.items[i], pname, NULL, errs, origin) != 0) ok = 0;
        cfg_toml_free(preset.items, preset.n);
      } else {
        ok = 0;
      }
      /* the preset sets keys, but a later error should point at the user's text when it
       * set them; clear preset origins so validation names the user file */
      preset_lr = origin[lr_key][0] != 0;
      preset_moments = origin[moments_key][0] != 0;
      for (int i = 0; i < NKEYS; i++) origin[i][0] = 0;
    }
  }
  if (user)
    for (int i = 0; i < user->n; i++)
      if (apply_item(c, &user->items[i], user->source, NULL, errs, origin) != 0) ok = 0;
  for (int i = 0; i < nsets; i++)
    for (int j = 0; j < set_items[i].n; j++)
      if (apply_item(c, &set_items[i].items[j], "--set", sets[i], errs, origin) != 0) ok = 0;
  if (!preset_lr && !origin[lr_key][0]) c->finetune.lr = cfg_ft_default_lr(c->finetune.mode);
  if (!preset_moments && !origin[moments_key][0])
    c->finetune.moments = cfg_ft_default_moments(c->finetune.mode);
  if (ok) validate(c, src, origin, errs);
  for (int i = 0; i < nsets; i++) cfg_toml_free(set_items[i].items, set_items[i].n);
  free(set_items);
  free(origin);
  return errs->count == 0 ? 0 : -1;
}

int cfg_load_text(Config *c, const char *text, const char *source, const char *const *sets,
                  int nsets, CfgErrors *errs) {
  ItemSet user = {0};
  if (text && parse_text(text, source, &user, errs) != 0) {
    /* still report --set problems, but nothing else can be trusted */
    cfg_defaults(c);
    return -1;
  }
  int rc = load_sets(c, text ? &user : NULL, source ? source : "command line", sets, nsets, errs);
  if (text) cfg_toml_free(user.items, user.n);
  return rc;
}

int cfg_load(Config *c, const char *path, const char *const *sets, int nsets, CfgErrors *errs) {
  char *text = NULL;
  if (path) {
    size_t len;
    struct stat st;
    if (stat(path, &st) != 0) {
      err_add(errs, "%s: cannot read config: %s", path, strerror(errno));
      cfg_defaults(c);
      return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CFG_MAX_FILE) {
      err_add(errs, "%s: a config must be a regular file of at most %d KiB%s", path,
              CFG_MAX_FILE / 1024, S_ISREG(st.st_mode) ? "" : " (this is not a regular file)");
      cfg_defaults(c);
      return -1;
    }
    text = util_read_file(path, &len);
    if (!text) {
      err_add(errs, "%s: cannot read config: %s", path, strerror(errno));
      cfg_defaults(c);
      return -1;
    }
    if (strlen(text) != len) {
      err_add(errs, "%s: config contains a NUL byte", path);
      free(text);
      cfg_defaults(c);
      return -1;
    }
  }
  int rc = cfg_load_text(c, text, path, sets, nsets, errs);
  free(text);
  return rc;
}

/* ---- dump ---- */

static void dump_double(FILE *f, double v) {
  if (isnan(v))
    fputs("nan", f);
  else if (isinf(v))
    fputs(v > 0 ? "inf" : "-inf", f);
  else {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    /* shortest text that reads back to the same double */
    for (int p = 1; p <= 17; p++) {
      char t[64];
      snprintf(t, sizeof t, "%.*g", p, v);
      if (strtod(t, NULL) == v) {
        memcpy(buf, t, sizeof t);
        break;
      }
    }
    fputs(buf, f);
    if (!strpbrk(buf, ".eEn")) fputs(".0", f);
  }
}

static void dump_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20 || ch == 0x7f)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

/* bytes of a scalar key's value (0 for strings and arrays) */
static size_t key_size(const KeyDef *k) {
  switch (k->type) {
  case K_INT:
    return sizeof(int64_t);
  case K_FLOAT:
    return sizeof(double);
  case K_BOOL:
    return sizeof(bool);
  case K_ENUM:
    return sizeof(int);
  default:
    return 0;
  }
}

static void dump_value(FILE *f, const KeyDef *k, const char *base) {
  switch (k->type) {
  case K_INT:
    fprintf(f, "%lld", (long long)*(const int64_t *)(base + k->off));
    break;
  case K_FLOAT:
    dump_double(f, *(const double *)(base + k->off));
    break;
  case K_BOOL:
    fputs(*(const bool *)(base + k->off) ? "true" : "false", f);
    break;
  case K_STR:
    dump_string(f, base + k->off);
    break;
  case K_ENUM: {
    int v = *(const int *)(base + k->off);
    dump_string(f, v >= 0 ? k->names[v] : "");
    break;
  }
  case K_FARRAY: {
    int n = *(const int *)(base + k->len_off);
    const double *a = (const double *)(base + k->off);
    fputc('[', f);
    for (int j = 0; j < n; j++) {
      if (j) fputs(", ", f);
      dump_double(f, a[j]);
    }
    fputc(']', f);
    break;
  }
  }
}

static void dump_impl(const Config *c, FILE *f, int hash_only) {
  const char *base = (const char *)c;
  char section[32] = "";
  Config def;
  cfg_defaults(&def);
  for (int i = 0; i < NKEYS; i++) {
    const KeyDef *k = &KEYS[i];
    if (hash_only && (k->flags & F_NOHASH)) continue;
    if (hash_only && (k->flags & F_HASH_IF_SET) && key_size(k) &&
        !memcmp(base + k->off, (const char *)&def + k->off, key_size(k)))
      continue;
    const char *dot = strchr(k->key, '.');
    size_t sl = (size_t)(dot - k->key);
    if (strlen(section) != sl || strncmp(section, k->key, sl)) {
      memcpy(section, k->key, sl);
      section[sl] = 0;
      fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
    }
    fprintf(f, "%s = ", dot + 1);
    dump_value(f, k, base);
    fputc('\n', f);
  }
}

void cfg_dump(const Config *c, FILE *f) {
  fprintf(f, "# usbpo %s resolved configuration\n", USBPO_VERSION);
  dump_impl(c, f, 0);
}

char *cfg_dump_string(const Config *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f, "open_memstream failed");
  cfg_dump(c, f);
  fclose(f);
  return buf;
}

/* the configuration as the hash sees it. Phase 2 runs only in usbpo: for mbpo and sac its keys
 * take the values they had before w2 became the default (faithful at 1e-4), so that a run of
 * either version resumes under the other and finetune.* never splits runs that are the same */
static void hash_view(const Config *c, Config *v) {
  *v = *c;
  if (c->run.algo == ALGO_USBPO) return;
  Config d;
  cfg_defaults(&d);
  v->finetune = d.finetune;
  v->finetune.mode = FT_FAITHFUL;
  v->finetune.lr = cfg_ft_default_lr(FT_FAITHFUL);
}

int cfg_diff(const Config *was_in, const Config *now_in, char *out, size_t n) {
  Config was_v, now_v;
  hash_view(was_in, &was_v);
  hash_view(now_in, &now_v);
  const Config *was = &was_v, *now = &now_v;
  int count = 0;
  size_t used = 0;
  out[0] = 0;
  for (int i = 0; i < NKEYS; i++) {
    const KeyDef *k = &KEYS[i];
    if (k->flags & F_NOHASH) continue;
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    FILE *fa = open_memstream(&a, &la), *fb = open_memstream(&b, &lb);
    dump_value(fa, k, (const char *)was);
    dump_value(fb, k, (const char *)now);
    fclose(fa), fclose(fb);
    if (strcmp(a, b) != 0) {
      int w = snprintf(out + used, used < n ? n - used : 0, "%s%s = %s there, %s now",
                       count ? "; " : "", k->key, a, b);
      if (w > 0) used += (size_t)w;
      count++;
    }
    free(a), free(b);
  }
  return count;
}

uint64_t cfg_hash(const Config *c) {
  Config v;
  hash_view(c, &v);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f, "open_memstream failed");
  dump_impl(&v, f, 1);
  fclose(f);
  uint64_t h = util_fnv1a64(buf, len, FNV1A64_INIT);
  free(buf);
  return h;
}

const char *cfg_run_name(const Config *c, char *buf, size_t n) {
  if (c->run.name[0])
    snprintf(buf, n, "%s", c->run.name);
  else
    snprintf(buf, n, "%s-%s-s%lld", cfg_env_name(c->env.name), cfg_algo_name(c->run.algo),
             (long long)c->run.seed);
  return buf;
}

void cfg_print_keys(FILE *f) {
  for (int i = 0; i < NKEYS; i++) {
    const KeyDef *k = &KEYS[i];
    char extra[256] = "";
    if (k->type == K_ENUM) enum_list(k->names, extra, sizeof extra);
    fprintf(f, "  %-32s %s%s%s\n", k->key, k->help, extra[0] ? ": " : "", extra);
  }
}
