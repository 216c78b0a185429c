/* config_keys — every config key (name, type, place in Config, bounds, flags, help) and the
 * built-in defaults. The order of KEYS is the order of the resolved dump and of the config
 * hash: append new keys to their section, never reorder. */
#include "config_keys.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- names ---- */

const char *const ENV_NAMES[] = {"hopper",
                                 "walker2d",
                                 "halfcheetah",
                                 "ant",
                                 "humanoid",
                                 "inverted_pendulum",
                                 "inverted_double_pendulum",
                                 "ant_full",
                                 "humanoid_full",
                                 NULL};
const char *const ALGO_NAMES[] = {"sac", "mbpo", "usbpo", NULL};
const char *const MODE_NAMES[] = {"sync", "async", NULL};
const char *const FT_NAMES[] = {"faithful", "w2", "off", NULL};
const char *const FT_TERMS_NAMES[] = {"shift+bias", "bias", "shift", NULL};
const char *const FT_MOMENTS_NAMES[] = {"own", "shared", NULL};
const char *const CF_NAMES[] = {"zero", "rne_post", NULL};
const char *const TERM_NAMES[] = {"faithful", "fixed", NULL};
const char *const LEVEL_NAMES[] = {"error", "warning", "info", "debug", NULL};

const char *cfg_env_name(int env) {
  return env >= 0 && env < ENV_COUNT ? ENV_NAMES[env] : "?";
}
const char *cfg_algo_name(int a) {
  return a >= 0 && a <= 2 ? ALGO_NAMES[a] : "?";
}
const char *cfg_ft_mode_name(int m) {
  return m >= 0 && m <= 2 ? FT_NAMES[m] : "?";
}
/* the official code's step for its own phase 2; the paper's per-sample W2 takes a 10x smaller
 * one (docs/results.md: at 1e-4 it anchors the model to its predecessors on HalfCheetah) */
double cfg_ft_default_lr(int mode) {
  return mode == FT_FAITHFUL ? 1e-4 : 1e-5;
}
/* the official phase 2 steps on phase 1's Adam moments (spec deviation 10); the paper's
 * per-sample W2 keeps the moments of its own that it has always had */
int cfg_ft_default_moments(int mode) {
  return mode == FT_FAITHFUL ? FT_MOM_SHARED : FT_MOM_OWN;
}

int cfg_env_from_name(const char *name) {
  for (int i = 0; ENV_NAMES[i]; i++)
    if (!strcmp(ENV_NAMES[i], name)) return i;
  return -1;
}

const KeyDef KEYS[] = {
    KS("run.name", run.name, F_NOHASH, "run directory name (default <env>-<algo>-s<seed>)"),
    KS("run.dir", run.dir, F_NOHASH, "parent directory of run directories"),
    KI("run.seed", run.seed, 0, 2147483647, 0, "random seed"),
    KE("run.algo", run.algo, ALGO_NAMES, 0, "sac | mbpo | usbpo"),
    KI("run.total_steps", run.total_steps, 1, BIG, F_NOHASH,
       "real env steps to train, counted as the official code counts them"),
    KE("run.mode", run.mode, MODE_NAMES, 0, "sync (reproducible) | async"),
    KB("run.resume", run.resume, F_NOHASH, "continue from the newest complete checkpoint"),
    KB("run.overwrite", run.overwrite, F_NOHASH, "replace an existing run directory"),
    KF("run.max_memory_gb", run.max_memory_gb, 0, 1e6, F_NOHASH, "memory budget check (0 = none)"),
    KI("run.blas_threads", run.blas_threads, 1, 256, F_NOHASH,
       "OpenBLAS threads per rank (more than 1 turns run.threads off)"),
    KI("run.threads", run.threads, 0, 1024, F_NOHASH,
       "threads per rank for model training and SAC (0 = the rank's share of its cores)"),
    KI("run.eval_episodes", run.eval_episodes, 1, 1000, 0, "evaluation episodes per epoch"),
    KF("run.target_return", run.target_return, -INFINITY, INFINITY, F_NOHASH,
       "stop when an evaluation return reaches this (-inf = never)"),

    KE("env.name", env.name, ENV_NAMES, F_REQUIRED, "environment"),
    KI("env.max_episode_steps", env.max_episode_steps, 1, 1000000, 0, "episode cut (truncation)"),
    KI("env.epoch_length", env.epoch_length, 1, 100000000, 0, "env steps per epoch (L)"),
    KI("env.init_steps", env.init_steps, 0, 100000000, 0, "uniform-random exploration steps"),
    KI("env.min_pool_size", env.min_pool_size, 1, 100000000, 0, "real data before SAC updates"),
    KE("env.contact_forces", env.contact_forces, CF_NAMES, 0,
       "zero (USB-PO's MuJoCo 2.1 stack) | rne_post (gym v4)"),
    KE("env.termination", env.termination, TERM_NAMES, 0,
       "rollout termination functions: faithful (official quirks) | fixed"),
    KB("env.append_on_episode_end", env.append_on_episode_end, 0,
       "real data enters the buffer when its episode ends (official)"),
    KS("env.model_dir", env.model_dir, F_NOHASH, "directory of MJCF files (\"\" = built in)"),

    KI("topology.actors", topology.actors, 1, 4096, 0, "actor instances"),
    KI("topology.rollout_workers", topology.rollout_workers, 0, 4096, F_NOHASH,
       "rollout ranks (0 = all ranks left over)"),
    KI("topology.rollout_shards", topology.rollout_shards, 1, 4096, 0,
       "fixed logical shards of each rollout batch"),

    KI("sac.hidden", sac.hidden, 1, 65536, 0, "hidden width"),
    KI("sac.layers", sac.layers, 1, CFG_MAX_LAYERS - 1, 0, "hidden layers"),
    KF("sac.lr", sac.lr, 0, 10, F_MIN_EXCL, "Adam learning rate (policy, Q, temperature)"),
    KF("sac.gamma", sac.gamma, 0, 1, 0, "discount"),
    KF("sac.tau", sac.tau, 0, 1, F_MIN_EXCL, "Polyak rate of the target Q nets"),
    KI("sac.batch_size", sac.batch_size, 1, 1000000, 0, "batch size"),
    KF("sac.real_ratio", sac.real_ratio, 0, 1, 0, "share of real samples in a batch"),
    KI("sac.updates_per_step", sac.updates_per_step, 1, 100000, 0, "SAC updates per real step (G)"),
    KF("sac.target_entropy", sac.target_entropy, -1e6, 1e6, 0, "entropy target"),
    KF("sac.init_log_alpha", sac.init_log_alpha, -100, 100, 0, "initial log temperature"),
    KF("sac.reward_scale", sac.reward_scale, -1e6, 1e6, 0, "reward multiplier"),
    KI("sac.buffer_size", sac.buffer_size, 1, 1000000000, 0, "env buffer capacity"),
    KF("sac.logstd_min", sac.logstd_min, -100, 100, 0, "log-std clamp, low"),
    KF("sac.logstd_max", sac.logstd_max, -100, 100, 0, "log-std clamp, high"),

    KI("model.ensemble_size", model.ensemble_size, 1, 64, 0, "ensemble members (E)"),
    KI("model.elites", model.elites, 1, 64, 0, "elites used for rollouts (K)"),
    KI("model.hidden", model.hidden, 1, 65536, 0, "hidden width (H)"),
    KI("model.layers", model.layers, 1, CFG_MAX_LAYERS - 1, 0, "hidden layers"),
    KF("model.lr", model.lr, 0, 10, F_MIN_EXCL, "phase-1 Adam learning rate"),
    KI("model.batch_size", model.batch_size, 1, 1000000, 0, "phase-1 minibatch rows per member"),
    KF("model.holdout_ratio", model.holdout_ratio, 0, 0.99, 0, "holdout share"),
    KI("model.max_holdout", model.max_holdout, 1, 100000000, 0, "holdout cap"),
    KI("model.train_freq", model.train_freq, 1, 100000000, 0, "env steps between trainings (F)"),
    KA("model.decay", model.decay, model.decay_len, 0, 1, 1, CFG_MAX_LAYERS, 0,
       "L2 coefficient per layer (hidden layers + output)"),
    KF("model.improve_threshold", model.improve_threshold, 0, 1, 0,
       "relative holdout improvement that counts"),
    KI("model.patience", model.patience, 0, 1000, 0, "epochs without improvement before stopping"),
    KI("model.max_epochs", model.max_epochs, 0, 100000000, 0, "epoch cap (0 = none)"),
    KF("model.max_train_s", model.max_train_s, 0, 1e9, 0, "time cap per training (0 = none)"),
    KF("model.init_maxlv", model.init_maxlv, -100, 100, 0, "initial max log-variance"),
    KF("model.init_minlv", model.init_minlv, -100, 100, 0, "initial min log-variance"),
    KF("model.bound_penalty", model.bound_penalty, 0, 100, 0, "weight of the log-variance bounds"),

    KE("finetune.mode", finetune.mode, FT_NAMES, 0,
       "phase 2 (default faithful: the official code's, on phase 1's Adam moments; w2: the "
       "paper's per-sample W2 shift term)"),
    KF("finetune.lr", finetune.lr, 0, 10, F_MIN_EXCL,
       "phase-2 Adam learning rate (unset: 1e-5 for w2, 1e-4 for faithful)"),
    KI("finetune.batch_size", finetune.batch_size, 1, 1000000, 0, "phase-2 batch (B)"),
    KI("finetune.max_steps", finetune.max_steps, 0, 1000000, 0, "phase-2 steps cap"),
    KI("finetune.patience", finetune.patience, 0, 1000000, 0, "phase-2 steps without improvement"),
    KF("finetune.threshold", finetune.threshold, 0, 1, 0, "relative improvement that counts"),
    KB("finetune.old_own_scaler", finetune.old_own_scaler, F_HASH_IF_SET,
       "faithful: pre-update model under its own input scaler (w2 always)"),
    KB("finetune.shift_same_member", finetune.shift_same_member, F_HASH_IF_SET,
       "faithful: shift term compares a member with its own old self (w2 always)"),
    KE("finetune.terms", finetune.terms, FT_TERMS_NAMES, F_HASH_IF_SET,
       "shift+bias (the published code) | bias (its first version) | shift: what phase 2 "
       "minimises"),
    KE("finetune.moments", finetune.moments, FT_MOMENTS_NAMES, F_HASH_IF_SET,
       "phase-2 Adam moments: shared = phase 1's m and v, with a step counter of its own (the "
       "official code, spec deviation 10) | own = moments of its own (unset: shared for "
       "faithful, own for w2)"),

    KI("rollout.batch_size", rollout.batch_size, 1, 100000000, 0, "start states per training"),
    KA("rollout.schedule", rollout.schedule, rollout.schedule_len, 0, 1e9, 4, 4, 0,
       "[a, b, k0, k1] rollout length schedule"),
    KI("rollout.retain_epochs", rollout.retain_epochs, 1, 1000, 0, "epochs of model data kept"),
    KI("rollout.tile_rows", rollout.tile_rows, 1, 10000000, 0,
       "rows per model evaluation tile (part of the numbers: changes results at the bit level)"),

    KF("log.progress_s", log.progress_s, 0, 1e9, F_NOHASH, "seconds between progress lines"),
    KB("log.tensorboard", log.tensorboard, F_NOHASH, "also write TensorBoard event files"),
    KE("log.level", log.level, LEVEL_NAMES, F_NOHASH, "error | warning | info | debug"),

    KI("checkpoint.every_steps", checkpoint.every_steps, 0, BIG, F_NOHASH,
       "checkpoint cadence in env steps (0 = off)"),
    KF("checkpoint.every_minutes", checkpoint.every_minutes, 0, 1e9, F_NOHASH,
       "checkpoint cadence in wall minutes (0 = off)"),
    KI("checkpoint.keep", checkpoint.keep, 1, 1000000, F_NOHASH, "checkpoints kept"),
    KF("checkpoint.grace_s", checkpoint.grace_s, 0, 1e9, F_NOHASH,
       "SIGTERM: checkpoint only if it fits this budget"),

    KF("runtime.heartbeat_timeout_s", runtime.heartbeat_timeout_s, 0, 1e9, F_NOHASH | F_MIN_EXCL,
       "a rank silent this long aborts the job"),
    KF("runtime.spi_tolerance", runtime.spi_tolerance, 0, 10, 0,
       "async: tolerance on SAC updates per real step"),
    KI("runtime.max_policy_lag", runtime.max_policy_lag, 0, 1000000, 0,
       "async: drop model data older than this many policy versions"),
    KI("runtime.max_model_lag", runtime.max_model_lag, 0, 1000000, 0,
       "async: drop model data older than this many model versions"),
};
const int NKEYS = (int)(sizeof KEYS / sizeof KEYS[0]);

void cfg_defaults(Config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->run.dir, CFG_STR, "runs");
  c->run.seed = 0;
  c->run.algo = ALGO_USBPO;
  c->run.total_steps = 1000000;
  c->run.mode = MODE_SYNC;
  c->run.blas_threads = 1;
  c->run.threads = 0;
  c->run.eval_episodes = 1;
  c->run.target_return = -INFINITY;
  c->env.name = -1;
  c->env.max_episode_steps = 1000;
  c->env.epoch_length = 1000;
  c->env.init_steps = 5000;
  c->env.min_pool_size = 1000;
  c->env.contact_forces = CF_ZERO;
  c->env.termination = TERM_FAITHFUL;
  c->env.append_on_episode_end = true;
  c->topology.actors = 1;
  c->topology.rollout_workers = 0;
  c->topology.rollout_shards = 16;
  c->sac.hidden = 256;
  c->sac.layers = 2;
  c->sac.lr = 3e-4;
  c->sac.gamma = 0.99;
  c->sac.tau = 5e-3;
  c->sac.batch_size = 256;
  c->sac.real_ratio = 0.05;
  c->sac.updates_per_step = 20;
  c->sac.target_entropy = -1;
  c->sac.init_log_alpha = 0;
  c->sac.reward_scale = 1;
  c->sac.buffer_size = 1000000;
  c->sac.logstd_min = -20;
  c->sac.logstd_max = 2;
  c->model.ensemble_size = 7;
  c->model.elites = 5;
  c->model.hidden = 200;
  c->model.layers = 4;
  c->model.lr = 1e-3;
  c->model.batch_size = 256;
  c->model.holdout_ratio = 0.2;
  c->model.max_holdout = 5000;
  c->model.train_freq = 250;
  static const double decay[] = {2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4};
  memcpy(c->model.decay, decay, sizeof decay);
  c->model.decay_len = 5;
  c->model.improve_threshold = 0.01;
  c->model.patience = 5;
  c->model.max_epochs = 0;
  c->model.max_train_s = 0;
  c->model.init_maxlv = 0.5;
  c->model.init_minlv = -10;
  c->model.bound_penalty = 0.01;
  /* the official phase 2 (issue 32's rule: the default is the published algorithm unless
   * another variant learns better with confidence on some task and worse on none) */
  c->finetune.mode = FT_FAITHFUL;
  c->finetune.lr = cfg_ft_default_lr(FT_FAITHFUL); /* follows finetune.mode unless set */
  c->finetune.batch_size = 1024;
  c->finetune.max_steps = 100;
  c->finetune.patience = 10;
  c->finetune.threshold = 1e-4;
  c->finetune.old_own_scaler = false;
  c->finetune.shift_same_member = false;
  /* own, whatever the default mode: a key marked F_HASH_IF_SET enters the hash only when it
   * differs from this value, so runs from before the key existed (own moments) keep their hash;
   * load_sets resolves an unset key from finetune.mode */
  c->finetune.moments = FT_MOM_OWN;
  c->rollout.batch_size = 100000;
  c->rollout.schedule[0] = 20;
  c->rollout.schedule[1] = 150;
  c->rollout.schedule[2] = 1;
  c->rollout.schedule[3] = 15;
  c->rollout.schedule_len = 4;
  c->rollout.retain_epochs = 1;
  c->rollout.tile_rows = 2048;
  c->log.progress_s = 10;
  c->log.tensorboard = false;
  c->log.level = 2;
  c->checkpoint.every_steps = 0;
  c->checkpoint.every_minutes = 30;
  c->checkpoint.keep = 3;
  c->checkpoint.grace_s = 60;
  c->runtime.heartbeat_timeout_s = 600;
  c->runtime.spi_tolerance = 0.1;
  c->runtime.max_policy_lag = 4;
  c->runtime.max_model_lag = 1;
}
