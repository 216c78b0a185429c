/* probe — what each phase-2 variant does to the model, on the same data:
 *
 *   usbpo_dist --probe-model RUN_DIR [--at STEPS] [--data-at STEPS [--new-rows N] [--rounds K]]
 *              [--variants faithful,...]
 *
 * From the run's newest checkpoint (--at: the newest taken at or before STEPS env steps,
 * exploration included, as checkpoint directories are named): the model service's state
 * (ensemble, scaler, elites, Adam, all real data) plus the rows the learner had not forwarded
 * yet, and the phase-2 batches its next training draws from the model buffer (the same stream).
 * Each variant performs that training from the same state and reports the holdout MSE after
 * phase 1 and after phase 2 (and their ratio), J, shift and bias before and after, the steps
 * taken and the one kept. A variant whose phase 2 the run did not have starts with fresh
 * phase-2 Adam moments (its first fine-tune), as a run's second training does.
 *
 * A checkpoint holds no rows its model has not seen when no episode ended since the last
 * training; --data-at takes the real rows of a later checkpoint: the training sees the rows the
 * model had plus the next model.train_freq (--new-rows N), as a run's next training does, and
 * --rounds K performs K such trainings in a row, each with that many more rows, so that what
 * phase 2 does over several trainings shows (the model buffer stays the checkpoint's: no
 * rollouts happen in between).
 *
 * A variant is '+'-joined words: faithful | w2 | mbpo (phase 2 off), old_own_scaler,
 * same_member, bias | shift (finetune.terms), lr=X (finetune.lr; without it, the mode's own
 * default step: 1e-4 for faithful, 1e-5 for w2), moments=shared | moments=own
 * (finetune.moments; without it, the mode's own: shared for faithful, own for w2), e.g.
 * "faithful+old_own_scaler+bias", "faithful+moments=own" or "w2+lr=1e-4".
 *
 * Per training: the holdout MSE after phase 1 and after phase 2 and their ratio, J, shift and
 * bias before -> after, the steps taken and the one kept (0: phase 2 left the phase-1 weights
 * and biases as they were), the RMS change phase 2 made to the weights and biases, and the
 * largest change it made to a log-variance bound (in faithful mode no keep-best restores the
 * bounds, deviation 6: they move even where step 0 is kept); per variant, the share of its
 * trainings that kept step 0. */
#include "probe.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "envs/env.h"
#include "finetune.h"
#include "modeltrain.h"
#include "setup.h"
#include "util.h"

#define DEFAULT_VARIANTS                                                                           \
  "faithful,faithful+moments=own,w2,faithful+bias,faithful+old_own_scaler+moments=own"

/* the config of a variant: 0, or -1 (unknown word) */
static int variant_config(const Config *base, const char *spec, Config *c) {
  *c = *base;
  c->run.algo = ALGO_USBPO;
  c->finetune.mode = FT_FAITHFUL;
  c->finetune.old_own_scaler = false;
  c->finetune.shift_same_member = false;
  c->finetune.terms = FT_TERMS_BOTH;
  c->finetune.moments = -1;
  int lr_given = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  char *save = NULL;
  for (char *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
    if (!strcmp(t, "faithful"))
      c->finetune.mode = FT_FAITHFUL;
    else if (!strcmp(t, "w2"))
      c->finetune.mode = FT_W2;
    else if (!strcmp(t, "mbpo") || !strcmp(t, "off"))
      c->run.algo = ALGO_MBPO;
    else if (!strcmp(t, "old_own_scaler"))
      c->finetune.old_own_scaler = true;
    else if (!strcmp(t, "same_member"))
      c->finetune.shift_same_member = true;
    else if (!strcmp(t, "bias"))
      c->finetune.terms = FT_TERMS_BIAS;
    else if (!strcmp(t, "shift"))
      c->finetune.terms = FT_TERMS_SHIFT;
    else if (!strncmp(t, "lr=", 3)) {
      char *end = NULL;
      const double lr = strtod(t + 3, &end);
      if (end == t + 3 || *end || !(lr > 0 && lr < 1)) return -1;
      c->finetune.lr = lr;
      lr_given = 1;
    } else if (!strcmp(t, "moments=shared"))
      c->finetune.moments = FT_MOM_SHARED;
    else if (!strcmp(t, "moments=own"))
      c->finetune.moments = FT_MOM_OWN;
    else
      return -1;
  }
  /* each mode's own step and moments, as a run of that mode takes them, whatever the probed
   * run used */
  if (!lr_given) c->finetune.lr = cfg_ft_default_lr(c->finetune.mode);
  if (c->finetune.moments < 0) c->finetune.moments = cfg_ft_default_moments(c->finetune.mode);
  return 0;
}

typedef struct {
  Buffer *data, *fwd, *model;
  char dir[1200], msvc[1300], data_dir[1200];
  int64_t trainings, model_rows; /* model_rows: the real rows the model had been trained on */
  int64_t limit; /* the (first) training uses the first `limit` rows of data, then fwd */
  int64_t step;  /* each further training `step` more */
  int rounds;    /* trainings in a row (--rounds) */
} ProbeInput;

/* the real data of a checkpoint: the model service's rows and the learner's unforwarded ones;
 * with trainings / model non-NULL also the model service's training count and the learner's
 * model buffer. -1 when a file cannot be read (said); *data is NULL when it holds no rows */
static int load_data(const EnvInfo *e, const char *dir, Buffer **data, Buffer **fwd,
                     int64_t *trainings, Buffer **model) {
  char err[600], path[1300];
  snprintf(path, sizeof path, "%s/modelsvc-0.ckpt", dir);
  CkptFile *f = ckr_open(path, "modelsvc", 0, err, sizeof err);
  if (!f) {
    LOG_E("%s (a run with a model: mbpo or usbpo)", err);
    return -1;
  }
  *data = ckpt_buf_load(f, path, "data", e->obs_dim, e->act_dim);
  if (trainings) ckr_need_int(f, path, "trainings", trainings);
  ckr_close(f);
  snprintf(path, sizeof path, "%s/learner-0.ckpt", dir);
  f = ckr_open(path, "learner", 0, err, sizeof err);
  if (!f) {
    LOG_E("%s", err);
    return -1;
  }
  *fwd = ckpt_buf_load(f, path, "fwd", e->obs_dim, e->act_dim);
  if (model) *model = ckpt_buf_load(f, path, "model", e->obs_dim, e->act_dim);
  ckr_close(f);
  return 0;
}

static int load_input(const Config *cfg, const char *run, long long at, long long data_at,
                      long long new_rows, int rounds, ProbeInput *in) {
  const EnvInfo *e = env_info(cfg->env.name);
  /* --at past the newest checkpoint is a typo, not "the newest" */
  char newest[1200];
  int64_t newest_step = -1;
  if (at < LLONG_MAX && ckpt_find_latest(run, cfg_hash(cfg), newest, sizeof newest) == 0) {
    const char *b = strrchr(newest, '/');
    newest_step = b ? atoll(b + 1) : -1;
    if (newest_step >= 0 && at > newest_step) {
      LOG_E("%s: --at %lld is past its newest checkpoint, %s (%lld env steps)", run, at, newest,
            (long long)newest_step);
      return -1;
    }
  }
  if (ckpt_find_at(run, cfg_hash(cfg), at, in->dir, sizeof in->dir) != 0) {
    if (at < LLONG_MAX)
      LOG_E("%s: no valid checkpoint at or before %lld env steps to probe", run, at);
    else
      LOG_E("%s: no valid checkpoint to probe", run);
    return -1;
  }
  snprintf(in->msvc, sizeof in->msvc, "%s/modelsvc-0.ckpt", in->dir);
  if (load_data(e, in->dir, &in->data, &in->fwd, &in->trainings, &in->model) != 0) return -1;
  if (!in->data || in->trainings < 1) {
    LOG_E("%s: no model training yet to start from", in->dir);
    return -1;
  }
  in->model_rows = in->data->size;
  snprintf(in->data_dir, sizeof in->data_dir, "%s", in->dir);
  if (data_at > 0) {
    /* the next training as a run performs it: the model of one checkpoint, the real data of a
     * later one (the env buffer only grows, so it holds the earlier rows plus new ones) */
    if (ckpt_find_at(run, cfg_hash(cfg), data_at, in->data_dir, sizeof in->data_dir) != 0) {
      LOG_E("%s: no valid checkpoint at or before %lld env steps for --data-at", run, data_at);
      return -1;
    }
    Buffer *d = NULL, *fw = NULL;
    if (load_data(e, in->data_dir, &d, &fw, NULL, NULL) != 0) return -1;
    if (!d) {
      LOG_E("--data-at: %s holds no real data", in->data_dir);
      buf_free(fw);
      return -1;
    }
    const int64_t rows = d->size + (fw ? fw->size : 0);
    if (d->size < in->data->size || d->size == d->cap) {
      LOG_E("--data-at: %s holds %lld rows of real data, not a superset of %s's %lld", in->data_dir,
            (long long)d->size, in->dir, (long long)in->data->size);
      buf_free(d), buf_free(fw);
      return -1;
    }
    buf_free(in->data), buf_free(in->fwd);
    in->data = d, in->fwd = fw;
    /* as many new rows as a run's next training sees (model.train_freq), or --new-rows */
    const int64_t n = new_rows > 0 ? new_rows : cfg->model.train_freq;
    in->limit = in->model_rows + n, in->step = n, in->rounds = rounds;
    if (in->model_rows + n * rounds > rows) {
      LOG_E("--data-at: %d training(s) of %lld new rows need %lld rows; %s has %lld", rounds,
            (long long)n, (long long)(in->model_rows + n * rounds), in->data_dir, (long long)rows);
      return -1;
    }
    return 0;
  }
  if (rounds > 1) {
    LOG_E("--rounds needs --data-at (where the further trainings' rows come from)");
    return -1;
  }
  in->limit = in->data->size + (in->fwd ? in->fwd->size : 0), in->step = 0, in->rounds = 1;
  return 0;
}

/* append to dst the rows of (data, then fwd) from index dst->size up to `to` */
static void append_rows(Buffer *dst, const ProbeInput *in, const EnvInfo *e, int64_t to) {
  while (dst->size < to) {
    const int64_t i = dst->size;
    const Buffer *b = i < in->data->size ? in->data : in->fwd;
    const int64_t p = buf_phys(b, i < in->data->size ? i : i - in->data->size);
    buf_push(dst, 1, b->obs + p * e->obs_dim, b->act + p * e->act_dim, b->rew + p,
             b->next + p * e->obs_dim, b->done + p);
  }
}

static void arrow(char *b, size_t n, double before, double after) {
  if (isnan(before))
    snprintf(b, n, "–");
  else
    snprintf(b, n, "%.4g → %.4g", before, after);
}

/* one variant's trainings from the checkpoint's state (in->rounds of them, each with in->step
 * more real rows), a table row each */
typedef struct {
  int trainings, kept0; /* phase-2 trainings, and those that kept step 0 */
  double ratio_min, ratio_max, dw_max, db_max;
} ProbeSummary;

static void probe_one(const Config *cv, const ProbeInput *in, const char *label,
                      ProbeSummary *sum) {
  memset(sum, 0, sizeof *sum);
  sum->ratio_min = INFINITY, sum->ratio_max = -INFINITY;
  const EnvInfo *e = env_info(cv->env.name);
  ModelTrain *m = mt_make(cv, e->obs_dim, e->act_dim);
  char err[600];
  CkptFile *f = ckr_open(in->msvc, "modelsvc", 0, err, sizeof err);
  CHECK(f, "%s", err);
  mt_ckpt_load_ex(m, f, in->msvc, 0);
  ckr_close(f);
  Buffer *data = buf_make(e->obs_dim, e->act_dim, in->limit + in->step * in->rounds + 1);
  float *batches = NULL;
  const int ft = mt_wants_phase2(m) && in->model && in->model->size > 0;
  if (ft) batches = xmalloc(sizeof(float) * mt_phase2_rows(m) * (e->obs_dim + e->act_dim));
  for (int r = 0; r < in->rounds; r++) {
    append_rows(data, in, e, in->limit + in->step * r);
    if (ft) { /* the phase-2 batches the run's training of this number draws */
      Rng g = rng_make((uint32_t)cv->run.seed, RNG_FINETUNE, (uint64_t)(in->trainings + r));
      ft_sample_batches(in->model, &g, (int)cv->finetune.max_steps, (int)cv->finetune.batch_size,
                        batches);
    }
    double tm[TM_COUNT];
    const double t0 = util_now();
    mt_train(m, data, ft ? batches : NULL, tm, 0);
    const double secs = util_now() - t0;
    char j[64], s[64], b[64], name[300];
    arrow(j, sizeof j, tm[TM_FT_J_BEFORE], tm[TM_FT_J_AFTER]);
    arrow(s, sizeof s, tm[TM_FT_SHIFT_BEFORE], tm[TM_FT_SHIFT]);
    arrow(b, sizeof b, tm[TM_FT_BIAS_BEFORE], tm[TM_FT_BIAS]);
    if (in->rounds > 1)
      snprintf(name, sizeof name, "%s, training %d (%lld rows)", label, r + 1,
               (long long)data->size);
    else
      snprintf(name, sizeof name, "%s", label);
    const double ratio = tm[TM_HOLDOUT_MSE] / tm[TM_P1_HOLDOUT_MSE];
    char dw[32] = "-", db[32] = "-";
    if (!isnan(tm[TM_FT_DW_RMS])) {
      snprintf(dw, sizeof dw, "%.2g", tm[TM_FT_DW_RMS]);
      snprintf(db, sizeof db, "%.2g", tm[TM_FT_DB_MAX]);
      sum->trainings++, sum->kept0 += tm[TM_FT_KEPT] == 0;
      sum->ratio_min = fmin(sum->ratio_min, ratio), sum->ratio_max = fmax(sum->ratio_max, ratio);
      sum->dw_max = fmax(sum->dw_max, tm[TM_FT_DW_RMS]);
      sum->db_max = fmax(sum->db_max, tm[TM_FT_DB_MAX]);
    }
    printf("| %s | %.5g | %.5g | %.2f | %s | %s | %s | %.0f (%.0f) | %s | %s | %.1f |\n", name,
           tm[TM_P1_HOLDOUT_MSE], tm[TM_HOLDOUT_MSE], ratio, j, s, b,
           isnan(tm[TM_FT_STEPS]) ? 0 : tm[TM_FT_STEPS], isnan(tm[TM_FT_KEPT]) ? 0 : tm[TM_FT_KEPT],
           dw, db, secs);
    fflush(stdout);
  }
  xfree(batches);
  buf_free(data);
  mt_free(m);
}

int probe_main(int argc, char **argv) {
  const char *run = NULL, *variants = DEFAULT_VARIANTS;
  long long at = LLONG_MAX, data_at = 0, new_rows = 0, rounds = 1;
  for (int i = 1; i < argc; i++) {
    char *end = NULL;
    if (!strcmp(argv[i], "--probe-model") && i + 1 < argc)
      run = argv[++i];
    else if (!strcmp(argv[i], "--variants") && i + 1 < argc)
      variants = argv[++i];
    else if (!strcmp(argv[i], "--at") && i + 1 < argc && (at = strtoll(argv[++i], &end, 10)) > 0 &&
             *end == 0)
      ;
    else if (!strcmp(argv[i], "--data-at") && i + 1 < argc &&
             (data_at = strtoll(argv[++i], &end, 10)) > 0 && *end == 0)
      ;
    else if (!strcmp(argv[i], "--new-rows") && i + 1 < argc &&
             (new_rows = strtoll(argv[++i], &end, 10)) > 0 && *end == 0)
      ;
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc &&
             (rounds = strtoll(argv[++i], &end, 10)) > 0 && rounds <= 1000 && *end == 0)
      ;
    else {
      fprintf(stderr,
              "usbpo: --probe-model RUN_DIR [--at STEPS] [--data-at STEPS [--new-rows N] "
              "[--rounds K]] [--variants a,b+c,...]: unexpected or bad '%s'\n",
              argv[i]);
      return EXIT_USAGE;
    }
  }
  if (!run) return EXIT_USAGE;
  if (!*variants || strspn(variants, ",") == strlen(variants)) {
    fprintf(stderr,
            "usbpo: --variants: an empty list (name at least one: faithful, w2, mbpo, ...)\n");
    return EXIT_USAGE;
  }
  char cpath[1200];
  snprintf(cpath, sizeof cpath, "%s/config.toml", run);
  Config cfg;
  CfgErrors errs = {0};
  if (cfg_load(&cfg, cpath, NULL, 0, &errs) != 0) {
    fprintf(stderr, "%s", errs.text ? errs.text : cpath);
    return EXIT_FATAL;
  }
  cfg_errors_free(&errs);
  cfg.run.threads_now = setup_threads(&cfg, pool_cores_available(), 1);
  if (cfg.run.algo == ALGO_SAC) {
    LOG_E("%s is a SAC run: it has no model to probe", run);
    return EXIT_FATAL;
  }
  ProbeInput in = {0};
  if (load_input(&cfg, run, at, data_at, new_rows, (int)rounds, &in) != 0) return EXIT_FATAL;
  const long long rows = (long long)in.limit;
  char from[1400] = "the learner's unforwarded rows";
  if (strcmp(in.data_dir, in.dir) != 0)
    snprintf(from, sizeof from, "the next ones from checkpoint %s", in.data_dir);
  printf("probe of %s: %s, checkpoint %s, training %lld on %lld real rows (%lld new to the model: "
         "%s), phase-2 batches from %lld model rows\n",
         run, cfg_env_name(cfg.env.name), in.dir, (long long)in.trainings, rows,
         rows - (long long)in.model_rows, from, (long long)(in.model ? in.model->size : 0));
  printf("| variant | holdout MSE after phase 1 | after phase 2 | ratio | J | shift | bias | "
         "steps (kept) | weight change (RMS) | bound change (largest) | seconds |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|\n");
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", variants);
  int rc = EXIT_OK, nsum = 0;
  ProbeSummary sums[64];
  char labels[64][128];
  char *save = NULL;
  for (char *v = strtok_r(buf, ",", &save); v && nsum < 64; v = strtok_r(NULL, ",", &save)) {
    Config cv;
    if (variant_config(&cfg, v, &cv) != 0) {
      fprintf(stderr,
              "usbpo: --variants: unknown variant '%s' (words: faithful, w2, mbpo, "
              "old_own_scaler, same_member, bias, shift, lr=X, moments=shared|own, joined "
              "by '+')\n",
              v);
      rc = EXIT_USAGE;
      continue;
    }
    probe_one(&cv, &in, v, &sums[nsum]);
    snprintf(labels[nsum], sizeof labels[nsum], "%s", v);
    nsum++;
  }
  /* per variant: how often its phase 2 kept phase 1's weights and biases */
  for (int i = 0; i < nsum; i++)
    if (sums[i].trainings > 0)
      printf("%s- %s: phase 2 kept step 0 (weights and biases as phase 1 left them) in %d of %d "
             "trainings (%.0f %%); holdout ratio %.2f to %.2f; largest RMS weight change %.2g; "
             "largest log-variance bound change %.2g\n",
             i == 0 ? "\n" : "", labels[i], sums[i].kept0, sums[i].trainings,
             100.0 * sums[i].kept0 / sums[i].trainings, sums[i].ratio_min, sums[i].ratio_max,
             sums[i].dw_max, sums[i].db_max);
  buf_free(in.data), buf_free(in.fwd), buf_free(in.model);
  return rc;
}
