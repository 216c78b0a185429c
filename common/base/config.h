/* config — the typed run configuration and its loader.
 *
 * Resolution order, later wins: built-in defaults → the preset of env.name (configs/<env>.toml,
 * embedded in the binary at build time) → the user's file → --set section.key=value overrides.
 * Every error names its place (file:line:col, or the --set argument) and the key; an unknown key
 * gets the nearest valid key as a suggestion. cfg_dump writes the resolved config as TOML that
 * re-parses to the same struct. */
#ifndef USBPO_CONFIG_H
#define USBPO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { ALGO_SAC = 0, ALGO_MBPO = 1, ALGO_USBPO = 2 } Algo;
typedef enum { MODE_SYNC = 0, MODE_ASYNC = 1 } RunMode;
typedef enum { FT_FAITHFUL = 0, FT_W2 = 1, FT_OFF = 2 } FtMode;
typedef enum { FT_TERMS_BOTH = 0, FT_TERMS_BIAS = 1, FT_TERMS_SHIFT = 2 } FtTerm;
/* phase 2's Adam moments: its own (m, v), or phase 1's (spec deviation 10, the official code) */
typedef enum { FT_MOM_OWN = 0, FT_MOM_SHARED = 1 } FtMoments;
typedef enum { CF_ZERO = 0, CF_RNE_POST = 1 } ContactForces;
typedef enum { TERM_FAITHFUL = 0, TERM_FIXED = 1 } TermMode;
typedef enum {
  ENV_HOPPER = 0,
  ENV_WALKER2D,
  ENV_HALFCHEETAH,
  ENV_ANT,
  ENV_HUMANOID,
  ENV_INVERTED_PENDULUM,
  ENV_INVERTED_DOUBLE_PENDULUM,
  ENV_ANT_FULL,
  ENV_HUMANOID_FULL,
  ENV_COUNT
} EnvId;

#define CFG_MAX_LAYERS 8
#define CFG_STR        256

typedef struct {
  struct {
    char name[CFG_STR]; /* run directory name; "" = <env>-<algo>-s<seed> */
    char dir[CFG_STR];  /* parent of run directories */
    int64_t seed;
    int algo;            /* Algo */
    int64_t total_steps; /* real env steps on the official axis (exploration not counted) */
    int mode;            /* RunMode */
    bool resume;
    bool overwrite;
    double max_memory_gb; /* 0 = no limit */
    int64_t blas_threads;
    int64_t threads; /* 0 = auto */
    /* not a key: the threads this rank uses, resolved at start from run.threads, its cores and
     * the ranks that share them (setup_threads); 0 until then = 1 */
    int64_t threads_now;
    int64_t eval_episodes;
    double target_return; /* stop once an evaluation reaches it; -inf = never */
  } run;
  struct {
    int name; /* EnvId */
    int64_t max_episode_steps;
    int64_t epoch_length; /* L */
    int64_t init_steps;   /* N_init */
    int64_t min_pool_size;
    int contact_forces;         /* ContactForces */
    int termination;            /* TermMode: rollout termination functions */
    bool append_on_episode_end; /* spec §3.10; false = append every transition at once */
    char model_dir[CFG_STR];    /* "" = the installed models */
  } env;
  struct {
    int64_t actors;
    int64_t rollout_workers; /* 0 = every rank left after learner, modelsvc and actors */
    int64_t rollout_shards;
  } topology;
  struct {
    int64_t hidden, layers;
    double lr, gamma, tau;
    int64_t batch_size;
    double real_ratio;
    int64_t updates_per_step; /* G */
    double target_entropy;
    double init_log_alpha;
    double reward_scale;
    int64_t buffer_size;
    double logstd_min, logstd_max;
  } sac;
  struct {
    int64_t ensemble_size, elites, hidden, layers;
    double lr;
    int64_t batch_size;
    double holdout_ratio;
    int64_t max_holdout;
    int64_t train_freq; /* F */
    double decay[CFG_MAX_LAYERS + 1];
    int decay_len;
    double improve_threshold;
    int64_t patience;
    int64_t max_epochs; /* 0 = until early stopping */
    double max_train_s; /* 0 = no limit */
    double init_maxlv, init_minlv, bound_penalty;
  } model;
  struct {
    int mode; /* FtMode */
    double lr;
    int64_t batch_size;
    int64_t max_steps;
    int64_t patience;
    double threshold;
    bool old_own_scaler;    /* faithful: evaluate the pre-update model under its own scaler */
    bool shift_same_member; /* faithful: the shift term compares each member with its old self */
    int terms;              /* FtTerm: what phase 2 minimises */
    int moments;            /* FtMoments; unset: follows mode (faithful shared, w2 own) */
  } finetune;
  struct {
    int64_t batch_size; /* N_roll */
    double schedule[4]; /* a, b, k0, k1 */
    int schedule_len;
    int64_t retain_epochs;
    int64_t tile_rows;
  } rollout;
  struct {
    double progress_s;
    bool tensorboard;
    int level; /* 0 error .. 3 debug */
  } log;
  struct {
    int64_t every_steps;  /* 0 = off */
    double every_minutes; /* 0 = off */
    int64_t keep;
    double grace_s;
  } checkpoint;
  struct {
    double heartbeat_timeout_s;
    double spi_tolerance;   /* async: allowed relative deviation of updates per real step */
    int64_t max_policy_lag; /* async: model data older than this many policy versions is dropped */
    int64_t max_model_lag;
  } runtime;
} Config;

/* errors are appended to a CfgErrors; each entry is one "place: message" line */
typedef struct {
  int count;
  char *text; /* all messages, newline separated */
  size_t len, cap;
} CfgErrors;

void cfg_errors_free(CfgErrors *e);

void cfg_defaults(Config *c);

/* load path (or NULL for none) with --set overrides ("section.key=value"). 0 on success;
 * -1 with every problem in errs. */
int cfg_load(Config *c, const char *path, const char *const *sets, int nsets, CfgErrors *errs);

/* same, from a text already in memory (tests); source names it in messages */
int cfg_load_text(Config *c, const char *text, const char *source, const char *const *sets,
                  int nsets, CfgErrors *errs);

/* resolved config as TOML */
void cfg_dump(const Config *c, FILE *f);
char *cfg_dump_string(const Config *c);
uint64_t cfg_hash(const Config *c); /* hash of the dump minus run-identity keys (resume checks) */
/* the keys that change the numbers (those in the hash) whose values differ, as
 * "key = A there, B now; ..." in out; returns how many */
int cfg_diff(const Config *was, const Config *now, char *out, size_t n);

/* names */
const char *cfg_env_name(int env);
const char *cfg_algo_name(int algo);
const char *cfg_ft_mode_name(int mode);
double cfg_ft_default_lr(int mode);      /* finetune.lr when a config does not set it */
int cfg_ft_default_moments(int mode);    /* finetune.moments when a config does not set it */
int cfg_env_from_name(const char *name); /* -1 if unknown */
const char *cfg_run_name(const Config *c, char *buf, size_t n); /* resolved run.name */

/* embedded presets (generated at build time from configs/) */
const char *cfg_preset_text(const char *env_name);

/* the list of valid keys, for --help */
void cfg_print_keys(FILE *f);

#endif
