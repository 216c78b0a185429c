/* lstate — the learner's checkpoint state (SAC, the three buffers, the schedule's counters, the
 * epoch row in progress, the CSV offsets, the async counters) and the checkpoint protocol: every
 * role writes its file for the step, the learner's MANIFEST goes last; the cadence and the
 * signals are acted on at the schedule's safe points. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blasinfo.h"
#include "ckpt.h"
#include "hooks.h"
#include "coord.h"
#include "rolekit.h"
#include "util.h"

/* ---- checkpoints ---- */

enum {
  C_EXPLORED,
  C_EPOCH,
  C_T,
  C_STARTED,
  C_STEPS,
  C_ALL,
  C_EPISODES,
  C_TRAININGS,
  C_MV,
  C_K,
  C_NUPD,
  C_EPOCH_ALL0,
  C_NAN,
  C_LAST_CKPT,
  C_FINISHED,
  C_COUNT
};

static void counters(Learner *L, int64_t *c, int save) {
  int64_t *f[C_COUNT] = {NULL};
  int64_t explored = L->explored, started = L->epoch_started, epoch = L->epoch, k = L->k,
          nupd = L->n_upd_epoch, fin = L->stop_code == -1;
  f[C_EXPLORED] = &explored, f[C_EPOCH] = &epoch, f[C_T] = &L->t, f[C_STARTED] = &started;
  f[C_STEPS] = &L->steps, f[C_ALL] = &L->all_steps, f[C_EPISODES] = &L->episodes;
  f[C_TRAININGS] = &L->trainings, f[C_MV] = &L->model_version, f[C_K] = &k, f[C_NUPD] = &nupd;
  f[C_EPOCH_ALL0] = &L->epoch_all_steps0, f[C_NAN] = &L->nan_rollbacks;
  f[C_LAST_CKPT] = &L->last_ckpt_all_steps, f[C_FINISHED] = &fin;
  for (int i = 0; i < C_COUNT; i++) {
    if (save)
      c[i] = *f[i];
    else
      *f[i] = c[i];
  }
  if (!save) {
    L->explored = (int)explored, L->epoch_started = (int)started, L->epoch = (int)epoch;
    L->k = (int)k, L->n_upd_epoch = (int)nupd;
  }
}

static void learner_save(void *obj, CkptWriter *w) {
  Learner *L = obj;
  sac_ckpt_save(L->sac, w);
  ckpt_buf_save(w, "env", L->env_buf);
  ckpt_buf_save(w, "model", L->model_buf);
  ckpt_buf_save(w, "fwd", L->fwd);
  int64_t c[C_COUNT];
  counters(L, c, 1);
  ckw_bytes(w, "counters", c, sizeof c);
  double mv[sizeof(Metrics) / sizeof(double)];
  metrics_pack(&L->m, mv);
  ckw_arr(w, "metrics", DT_F64, mv, metrics_saved_ncols(), 1);
  int64_t *acts = xmalloc(sizeof(int64_t) * 2 * L->A);
  memcpy(acts, L->act_sim, sizeof(int64_t) * L->A);
  memcpy(acts + L->A, L->act_warn, sizeof(int64_t) * L->A);
  ckw_bytes(w, "actor_counters", acts, (int64_t)sizeof(int64_t) * 2 * L->A);
  xfree(acts);
  ckw_f64(w, "last_eval", L->last_eval);
  int64_t mo, eo, to;
  runlog_offsets(L->log, &mo, &eo, &to);
  ckw_int(w, "csv_metrics", mo);
  ckw_int(w, "csv_episodes", eo);
  /* what the outputs held up to here: a resume refuses files replaced since (a longer file from
   * another run would otherwise be cut and spliced) */
  char op[1200];
  uint64_t ms = 0, es = 0; /* 0: unknown (not checked on resume) */
  snprintf(op, sizeof op, "%s/metrics.csv", L->run_dir);
  if (runlog_prefix_sum(op, mo, &ms) != 0) ms = 0;
  snprintf(op, sizeof op, "%s/episodes.csv", L->run_dir);
  if (runlog_prefix_sum(op, eo, &es) != 0) es = 0;
  ckw_int(w, "csv_metrics_sum", (int64_t)ms);
  ckw_int(w, "csv_episodes_sum", (int64_t)es);
  ckw_int(w, "tb_events", to);
  ckw_f64(w, "elapsed", util_now() - L->t0);
  /* the async schedule's counters (checkpoints are taken with nothing in flight) */
  const Async *as = &L->as;
  int64_t a[9] = {as->granted,    as->real_steps, as->since_train, as->pub_updates,
                  as->pool_steps, as->lag_n,      as->dropped};
  memcpy(&a[7], &as->lag_sum, 8), memcpy(&a[8], &as->mlag_sum, 8);
  ckw_bytes(w, "async", a, sizeof a);
  ckw_int(w, "kernel_changes", L->kernel_changes);
}

void lr_load(Learner *L, const char *dir) {
  char path[1200], err[512];
  snprintf(path, sizeof path, "%s/learner-0.ckpt", dir);
  CkptFile *f = ckr_open(path, "learner", 0, err, sizeof err);
  CHECK(f, "%s", err);
  sac_ckpt_load(L->sac, f, path);
  Buffer *b = ckpt_buf_load(f, path, "env", L->obs_dim, L->act_dim);
  CHECK(b && b->cap == L->env_buf->cap, "%s: env buffer of another capacity", path);
  buf_free(L->env_buf);
  L->env_buf = b;
  L->model_buf = ckpt_buf_load(f, path, "model", L->obs_dim, L->act_dim);
  b = ckpt_buf_load(f, path, "fwd", L->obs_dim, L->act_dim);
  if (b) {
    buf_free(L->fwd);
    L->fwd = b;
  }
  int64_t c[C_COUNT];
  ckr_need_arr(f, path, "counters", DT_U8, sizeof c, 1, c);
  counters(L, c, 0);
  L->stop_code = 0;
  L->finished = c[C_FINISHED] != 0;
  int64_t mr = 0, mc = 0;
  CHECK(ckr_arr_shape(f, "metrics", DT_F64, &mr, &mc) == 0 && mc == 1 && mr > 0 && mr < 512,
        "%s: no metrics row", path);
  double mv[512];
  ckr_need_arr(f, path, "metrics", DT_F64, mr, 1, mv);
  if (mr == metrics_ncols()) {
    memcpy(&L->m, mv, sizeof L->m);
  } else { /* written by a usbpo with another layout: by name, as metrics.csv was rewritten */
    int map[sizeof(Metrics) / sizeof(double)];
    CHECK(metrics_old_map(L->run_dir, (int)mr, map, err, sizeof err) == 0,
          "%s: its metrics have %lld columns, this version %d, and the old names are unknown: %s",
          path, (long long)mr, metrics_ncols(), err);
    double *m = (double *)&L->m;
    for (int i = 0; i < metrics_ncols(); i++) m[i] = map[i] >= 0 ? mv[map[i]] : NAN; /* unknown */
  }
  int64_t *acts = xmalloc(sizeof(int64_t) * 2 * L->A);
  ckr_need_arr(f, path, "actor_counters", DT_U8, (int64_t)sizeof(int64_t) * 2 * L->A, 1, acts);
  memcpy(L->act_sim, acts, sizeof(int64_t) * L->A);
  memcpy(L->act_warn, acts + L->A, sizeof(int64_t) * L->A);
  xfree(acts);
  ckr_need_f64(f, path, "last_eval", &L->last_eval);
  double elapsed;
  ckr_need_f64(f, path, "elapsed", &elapsed);
  L->t0 = util_now() - elapsed;
  int64_t a[9];
  ckr_need_arr(f, path, "async", DT_U8, sizeof a, 1, a);
  Async *as = &L->as;
  as->granted = a[0], as->real_steps = a[1], as->since_train = a[2], as->pub_updates = a[3];
  as->pool_steps = a[4], as->lag_n = a[5], as->dropped = a[6];
  memcpy(&as->lag_sum, &a[7], 8), memcpy(&as->mlag_sum, &a[8], 8);
  if (ckr_int(f, "kernel_changes", &L->kernel_changes) != 0) L->kernel_changes = 0;
  ckr_close(f);
  /* the kernel the checkpoint's numbers came from against this process's: a resume on another
   * one goes on, but from here the run is not an uninterrupted run's (said, and counted) */
  char was[64] = "", cpu[64] = "";
  if (ckpt_blas_kernel(dir, was, sizeof was, cpu, sizeof cpu) == 0 &&
      strcmp(was, L->blas_kernel) != 0) {
    L->kernel_changes++;
    LOG_W("this run's checkpoint was computed with OpenBLAS's %s kernel (CPU: %s); this process "
          "runs %s: from epoch %d on, its numbers follow %s and are not those of an "
          "uninterrupted %s run (metrics column blas_kernel_changes = %lld from this epoch)",
          was, cpu[0] ? cpu : "?", L->blas_kernel, L->epoch, L->blas_kernel, was,
          (long long)L->kernel_changes);
  }
  sac_snap_take(L->snap, L->sac);
  LOG_I("resumed from %s: epoch %d, %lld env steps, %lld SAC updates", dir, L->epoch,
        (long long)L->steps, (long long)L->sac->updates);
}

static void ask_checkpoint(Runtime *rt, int role, int idx, int64_t id) {
  Enc *e = rt_begin(rt, MSG_CHECKPOINT, role, idx, 2);
  enc_int(e, K_STEPNO, id);
  enc_int(e, K_MODE, CKPT_SAVE);
  rt_send(rt);
}

/* every role writes its file for this step; the MANIFEST goes last */
int lr_checkpoint(Learner *L, const char *why) {
  const Config *c = L->cfg;
  Runtime *rt = L->rt;
  const int64_t id = L->all_steps;
  char dir[1200], err[512];
  ckpt_dir(L->run_dir, id, dir, sizeof dir);
  const double t0 = util_now();
  /* whatever happens, the next attempt is at the next cadence point, not the next step */
  L->ckpt_try_all_steps = id;
  L->ckpt_try_time = t0;
  /* the outputs' offsets go into the checkpoint: they must be on disk first */
  if (runlog_flush(L->log) != 0) {
    LOG_E("checkpoint %s not written: %s", dir, runlog_failed(L->log));
    return -1;
  }
  if (util_mkdirs(dir) != 0) {
    LOG_E("checkpoint: cannot create %s: %s (the next attempt at the next cadence point)", dir,
          strerror(errno));
    return -1;
  }
  const int model = c->run.algo != ALGO_SAC;
  int expect = L->A + (model ? 1 + L->R : 0);
  for (int a = 0; a < L->A; a++) ask_checkpoint(rt, ROLE_ACTOR, a, id);
  if (model) {
    ask_checkpoint(rt, ROLE_MODELSVC, 0, id);
    for (int r = 0; r < L->R; r++) ask_checkpoint(rt, ROLE_ROLLOUT, r, id);
  }
  /* the NaN guard's state is part of the point: both runs hold the same one from here */
  sac_snap_take(L->snap, L->sac);
  char(*names)[64] = xmalloc(64 * (size_t)(expect + 1));
  int64_t *bytes = xmalloc(sizeof(int64_t) * (expect + 1));
  uint64_t *sums = xmalloc(sizeof(uint64_t) * (expect + 1));
  int ok = 1;
  rk_ckpt_name(ROLE_LEARNER, 0, names[0], 64);
  /* saved as the newest checkpoint: a run resumed from it does not write it again at once */
  const int64_t prev_ckpt = L->last_ckpt_all_steps;
  L->last_ckpt_all_steps = id;
  CkptWriter *w =
      ckw_open(dir, names[0], "learner", 0, id, ckw_count(learner_save, L), err, sizeof err);
  if (w) {
    learner_save(L, w);
    ok = ckw_close(w, &bytes[0], &sums[0], err, sizeof err) == 0;
  } else {
    ok = 0;
  }
  if (!ok) LOG_E("checkpoint: %s", err);
  for (int i = 1; i <= expect; i++) {
    Msg m;
    rt_wait(rt, MSG_CHECKPOINT_DONE, -1, &m);
    CHECK(m.i[K_STEPNO] == id, "checkpoint_done for step %lld, expected %lld",
          (long long)m.i[K_STEPNO], (long long)id);
    ok &= m.i[K_CODE] == 0;
    rk_ckpt_name((int)m.i[K_KIND], (int)m.i[K_FROM], names[i], 64);
    bytes[i] = m.i[K_BYTES];
    sums[i] = (uint64_t)m.i[K_SUM];
  }
  if (ok) {
    const Placement *p = rt_placement(rt);
    CkptMeta meta = {.config_hash = L->cfg_hash,
                     .epoch = L->epoch,
                     .np = p->np,
                     .actors = p->A,
                     .rollout_workers = p->R,
                     .shards = p->S,
                     .run_id = runlog_run_id(L->log),
                     .config_text = L->cfg_text,
                     .blas_kernel = L->blas_kernel,
                     .cpu = L->cpu};
    ok = ckpt_write_manifest(dir, id, &meta, expect + 1, names, bytes, sums, err, sizeof err) == 0;
  }
  if (ok) {
    ckpt_prune(L->run_dir, (int)c->checkpoint.keep, L->cfg_hash);
    L->last_ckpt_time = util_now();
    L->last_ckpt_seconds = L->last_ckpt_time - t0;
    int64_t total = 0;
    for (int i = 0; i <= expect; i++) total += bytes[i];
    char b[32];
    LOG_I("checkpoint %s (%s): %d files, %s in %.2f s", dir, why, expect + 2,
          util_fmt_bytes((double)total, b), L->last_ckpt_seconds);
  } else {
    L->last_ckpt_all_steps = prev_ckpt;
    ckpt_remove_torn(dir);
    LOG_E("checkpoint %s failed and was removed: the previous checkpoint stays the newest (the "
          "next attempt at the next cadence point)",
          dir);
  }
  xfree(names), xfree(bytes), xfree(sums);
  return ok ? 0 : -1;
}

int lr_ckpt_due(const Learner *L) {
  const Config *c = L->cfg;
  return (c->checkpoint.every_steps > 0 &&
          L->all_steps - L->ckpt_try_all_steps >= c->checkpoint.every_steps) ||
         (c->checkpoint.every_minutes > 0 &&
          util_now() - L->ckpt_try_time >= c->checkpoint.every_minutes * 60);
}

/* test hook USBPO_TEST_SLOW_CKPT: a signal's checkpoint starts that many seconds late, as a big
 * one on slow storage would take (further signals do not cut the wait short) */
static void slow_ckpt_hook(void) {
  const double s = (double)hook_int("SLOW_CKPT", 0);
  if (s <= 0) return;
  LOG_I("test hook: the checkpoint starts %.0f s late", s);
  const double end = util_now() + s;
  const struct timespec ts = {0, 50 * 1000 * 1000};
  while (util_now() < end) nanosleep(&ts, NULL);
}

/* handlers only set flags */
int lr_safe_point(Learner *L) {
  const Config *c = L->cfg;
  if (runlog_failed(L->log)) {
    /* an output could not be written: stop here rather than lose rows (a resume from the last
     * checkpoint writes them again) */
    LOG_E("%s: stopping (exit %d); the newest checkpoint is intact, resume once there is room",
          runlog_failed(L->log), EXIT_IO);
    L->stop_code = EXIT_IO;
    return 1;
  }
  if (g_sig_usr1) {
    LOG_I("SIGUSR1: checkpoint, then exit %d for a requeue", EXIT_REQUEUE);
    slow_ckpt_hook();
    L->stop_code = lr_checkpoint(L, "SIGUSR1") == 0 ? EXIT_REQUEUE : EXIT_IO;
    return 1;
  }
  if (g_sig_term || g_sig_int) {
    /* checkpoint only if it fits the grace time (the last one's duration, or a guess) */
    double guess = L->last_ckpt_seconds > 0
                       ? L->last_ckpt_seconds
                       : (double)(L->env_buf->size + (L->model_buf ? L->model_buf->size : 0)) *
                             (2 * L->obs_dim + L->act_dim + 2) * 4.0 / 2e8;
    if (guess <= c->checkpoint.grace_s) {
      LOG_I("%s: checkpoint (about %.1f s, grace %g s), then exit %d", rk_stop_signal_name(), guess,
            c->checkpoint.grace_s, EXIT_REQUEUE);
      slow_ckpt_hook();
      L->stop_code = lr_checkpoint(L, rk_stop_signal_name()) == 0 ? EXIT_REQUEUE : EXIT_IO;
    } else {
      LOG_W("%s: a checkpoint would take about %.1f s, more than checkpoint.grace_s = %g: "
            "exiting without one",
            rk_stop_signal_name(), guess, c->checkpoint.grace_s);
      L->stop_code = EXIT_FATAL;
    }
    return 1;
  }
  if (lr_ckpt_due(L)) lr_checkpoint(L, "cadence");
  return 0;
}

int lr_already_complete(const Learner *L) {
  if (!L->finished || L->steps < L->cfg->run.total_steps) return 0;
  LOG_I("the run is already complete (%lld env steps): nothing to do", (long long)L->steps);
  return 1;
}
