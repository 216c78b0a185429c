/* modelsvc_role — the model service on the runtime. It keeps all real data (forwarded by the
 * learner as 'transitions'), trains on 'train_request' (phase 1, then phase 2 on the batches
 * the learner drew from the model buffer), publishes the model snapshot to the rollout workers
 * (a broadcast on their communicator), sends each worker the start states of its shards, and
 * answers 'train_done' with the training's metrics and the rollout length. */
#include <string.h>

#include "ckpt.h"
#include "envs/env.h"
#include "modeltrain.h"
#include "modelsvc.h"
#include "rolekit.h"
#include "setup.h"
#include "rollout.h"
#include "util.h"

struct ModelsvcRole {
  const Config *cfg;
  ModelTrain *ms;
  Buffer *data;      /* all real data */
  int64_t version;   /* model snapshots published */
  float *starts;     /* one shard's start states */
  int64_t last_rows; /* rows of the newest real-data message, and whether they evicted any */
  int last_evicted;
  double train_t0, last_progress; /* progress lines during a long training */
  int64_t shard_cap;
};

/* a line every log.progress_s while a training runs (the learner waits: its own line stops) */
static void train_progress(void *ctx, int phase, int step, double value) {
  ModelsvcRole *r = ctx;
  const double now = util_now();
  if (now - r->last_progress < r->cfg->log.progress_s) return;
  r->last_progress = now;
  fprintf(stderr, "usbpo: model training %lld: phase %d %s %d, %s %.4g, %.0f s\n",
          (long long)mt_trainings(r->ms), phase, phase == 1 ? "epoch" : "step", step,
          phase == 1 ? "holdout MSE" : "J", value, now - r->train_t0);
}

static void on_train(ModelsvcRole *r, Runtime *rt, const Msg *m) {
  const Config *c = r->cfg;
  const int64_t training = m->i[K_TRAINING], epoch = m->i[K_EPOCH];
  CHECK(training == mt_trainings(r->ms), "model training %lld requested, %lld expected",
        (long long)training, (long long)mt_trainings(r->ms));
  CHECK(r->data->size > 0, "model training with no real data");
  const float *batches = NULL;
  float *copy = NULL;
  if (msg_has_a(m, A_STATE)) {
    /* the message buffer may be unaligned: copy the batches out */
    copy = xmalloc(m->a[A_STATE].bytes);
    memcpy(copy, m->a[A_STATE].data, m->a[A_STATE].bytes);
    CHECK(m->a[A_STATE].rows == mt_phase2_rows(r->ms), "phase-2 batches: %lld rows",
          (long long)m->a[A_STATE].rows);
    batches = copy;
  }
  double metrics[TM_COUNT];
  /* the learner asks for a training that a stop request may cut short (sync mode); it can be
   * taken back only if its new rows evicted nothing */
  const int interruptible = msg_has_i(m, K_MODE) && m->i[K_MODE] == 1 && !r->last_evicted;
  r->train_t0 = r->last_progress = util_now();
  Ensemble *ens = mt_ensemble_mut(r->ms);
  ens->progress = train_progress, ens->progress_ctx = r;
  mt_train(r->ms, r->data, batches, metrics, interruptible);
  xfree(copy);
  if (metrics[TM_ABANDONED] != 0) {
    /* as before the training and its data: the learner keeps the rows and sends them again */
    buf_unpush(r->data, r->last_rows);
    r->last_rows = 0;
    Enc *enc = rt_begin(rt, MSG_TRAIN_DONE, ROLE_LEARNER, 0, 6);
    enc_int(enc, K_TRAINING, training);
    enc_int(enc, K_MODEL_VERSION, r->version);
    enc_int(enc, K_K, mt_rollout_length(c, (int)epoch));
    enc_int(enc, K_FROM, 0);
    enc_int(enc, K_CODE, 1);
    enc_arr(enc, A_METRICS, DT_F64, metrics, TM_COUNT, 0);
    rt_send(rt);
    return;
  }
  const Ensemble *e = mt_ensemble(r->ms);
  r->version++;
  /* the model snapshot: one parameter block, the scaler, the elites */
  Enc *enc = rt_begin(rt, MSG_MODEL, ROLE_ROLLOUT, IDX_ALL, 5);
  enc_int(enc, K_VERSION, r->version);
  enc_arr(enc, A_PARAMS, DT_F32, e->p, (int64_t)e->ntotal, 0);
  enc_arr(enc, A_MU, DT_F32, e->mu, e->c.in_dim, 0);
  enc_arr(enc, A_SD, DT_F32, e->sd, e->c.in_dim, 0);
  enc_arr(enc, A_ELITES, DT_I32, e->elite, e->c.elites, 0);
  rt_publish(rt, GROUP_MODEL);
  /* every worker's shards' start states */
  const Placement *p = rt_placement(rt);
  RoConfig rc = setup_rollout(c, p->S);
  for (int w = 0; w < p->R; w++)
    for (int s = p->shard_lo[w]; s < p->shard_hi[w]; s++) {
      int64_t rows = ro_shard_rows(&rc, s);
      ro_draw_starts(r->data, (uint32_t)c->run.seed, (uint64_t)training, s, rows, r->starts);
      enc = rt_begin(rt, MSG_START_STATES, ROLE_ROLLOUT, w, 3);
      enc_int(enc, K_TRAINING, training);
      enc_int(enc, K_SHARD, s);
      enc_arr(enc, A_OBS, DT_F32, r->starts, rows, r->data->obs_dim);
      rt_send(rt);
    }
  enc = rt_begin(rt, MSG_TRAIN_DONE, ROLE_LEARNER, 0, 5);
  enc_int(enc, K_TRAINING, training);
  enc_int(enc, K_MODEL_VERSION, r->version);
  enc_int(enc, K_K, mt_rollout_length(c, (int)epoch));
  enc_int(enc, K_FROM, 0);
  enc_arr(enc, A_METRICS, DT_F64, metrics, TM_COUNT, 0);
  rt_send(rt);
}

static void on_transitions(ModelsvcRole *r, const Msg *m) {
  const int64_t n = m->i[K_COUNT];
  /* what the next training may have to take back (nothing, when no episode ended since the
   * last one) */
  r->last_rows = n;
  r->last_evicted = r->data->size + n > r->data->cap;
  if (n == 0) return;
  /* copy out of the (possibly unaligned) message, column by column */
  float *o = xmalloc(m->a[A_OBS].bytes + 1), *a = xmalloc(m->a[A_ACT].bytes + 1);
  float *w = xmalloc(m->a[A_REW].bytes + 1), *x = xmalloc(m->a[A_NEXT].bytes + 1);
  memcpy(o, m->a[A_OBS].data, m->a[A_OBS].bytes);
  memcpy(a, m->a[A_ACT].data, m->a[A_ACT].bytes);
  memcpy(w, m->a[A_REW].data, m->a[A_REW].bytes);
  memcpy(x, m->a[A_NEXT].data, m->a[A_NEXT].bytes);
  buf_push(r->data, n, o, a, w, x, m->a[A_DONE].data);
  xfree(o), xfree(a), xfree(w), xfree(x);
}

static void save(void *obj, CkptWriter *w) {
  ModelsvcRole *r = obj;
  mt_ckpt_save(r->ms, w);
  ckw_int(w, "version", r->version);
  ckpt_buf_save(w, "data", r->data);
}

static void on_checkpoint(ModelsvcRole *r, Runtime *rt, const Msg *m) {
  rk_checkpoint(r->cfg, rt, ROLE_MODELSVC, 0, m->i[K_STEPNO], save, r);
}

static void modelsvc_handle(void *obj, Runtime *rt, const Msg *m) {
  ModelsvcRole *r = obj;
  switch (m->type) {
  case MSG_CHECKPOINT:
    on_checkpoint(r, rt, m);
    break;
  case MSG_TRANSITIONS:
    on_transitions(r, m);
    break;
  case MSG_TRAIN_REQUEST:
    on_train(r, rt, m);
    break;
  case MSG_SHUTDOWN:
    break;
  default:
    LOG_E("modelsvc: unexpected message '%s' from rank %d", msg_type_name(m->type), m->src);
    comm_abort(rt_comm(rt), EXIT_FATAL);
  }
}

ModelsvcRole *modelsvc_role_make(const Config *cfg, Runtime *rt, const char *resume) {
  ModelsvcRole *r = xmalloc(sizeof *r);
  r->cfg = cfg;
  const EnvInfo *info = env_info(cfg->env.name);
  r->ms = mt_make(cfg, info->obs_dim, info->act_dim);
  r->data = buf_make(info->obs_dim, info->act_dim, cfg->sac.buffer_size);
  if (resume) {
    char path[1200], name[64], err[512];
    rk_ckpt_name(ROLE_MODELSVC, 0, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", resume, name);
    CkptFile *f = ckr_open(path, "modelsvc", 0, err, sizeof err);
    CHECK(f, "%s", err);
    mt_ckpt_load(r->ms, f, path);
    ckr_need_int(f, path, "version", &r->version);
    Buffer *d = ckpt_buf_load(f, path, "data", info->obs_dim, info->act_dim);
    CHECK(d && d->cap == r->data->cap, "%s: real data of another capacity", path);
    buf_free(r->data);
    r->data = d;
    ckr_close(f);
  }
  RoConfig rc = setup_rollout(cfg, (int)cfg->topology.rollout_shards);
  r->shard_cap = ro_shard_rows(&rc, 0) + 1;
  r->starts = xmalloc(sizeof(float) * r->shard_cap * info->obs_dim);
  rt_register(rt, ROLE_MODELSVC, 0, r, modelsvc_handle, NULL);
  return r;
}

void modelsvc_role_free(ModelsvcRole *r) {
  if (!r) return;
  mt_free(r->ms);
  buf_free(r->data);
  xfree(r->starts);
  xfree(r);
}
