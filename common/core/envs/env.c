/* env — see env.h. Per-task rules first, then the generic machinery. */
#include "env.h"

#include <math.h>
#include <mujoco/mujoco.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- the tasks ---- */

static const EnvInfo INFO[ENV_COUNT] = {
    [ENV_HOPPER] = {ENV_HOPPER, "hopper", "hopper", 11, 3, 4},
    [ENV_WALKER2D] = {ENV_WALKER2D, "walker2d", "walker2d", 17, 6, 4},
    [ENV_HALFCHEETAH] = {ENV_HALFCHEETAH, "halfcheetah", "half_cheetah", 17, 6, 5},
    [ENV_ANT] = {ENV_ANT, "ant", "ant", 27, 8, 5},
    [ENV_HUMANOID] = {ENV_HUMANOID, "humanoid", "humanoid", 45, 17, 5},
    [ENV_INVERTED_PENDULUM] = {ENV_INVERTED_PENDULUM, "inverted_pendulum", "inverted_pendulum", 4,
                               1, 2},
    [ENV_INVERTED_DOUBLE_PENDULUM] = {ENV_INVERTED_DOUBLE_PENDULUM, "inverted_double_pendulum",
                                      "inverted_double_pendulum", 11, 1, 5},
    [ENV_ANT_FULL] = {ENV_ANT_FULL, "ant_full", "ant", 111, 8, 5},
    [ENV_HUMANOID_FULL] = {ENV_HUMANOID_FULL, "humanoid_full", "humanoid", 376, 17, 5},
};

const EnvInfo *env_info(int id) {
  return id >= 0 && id < ENV_COUNT ? &INFO[id] : NULL;
}

struct Env {
  const EnvInfo *info;
  int contact_forces;
  mjModel *m;
  mjData *d;
  double *obs;
  double before;     /* the reward's "before" quantity, read when gym reads it */
  int torso, tip;    /* body / site ids where needed */
  double total_mass; /* humanoid: sum of body masses */
  float *lo, *hi;    /* actuator ranges (float32, as gym's Box) */
};

/* the reward's position quantity: fresh qpos for the planar walkers, stale derived fields for
 * ant (torso xpos) and humanoid (mass centre from xipos), spec §2.4 */
static double position_quantity(const Env *e) {
  const mjModel *m = e->m;
  const mjData *d = e->d;
  switch (e->info->id) {
  case ENV_ANT:
  case ENV_ANT_FULL:
    return d->xpos[3 * e->torso + 0];
  case ENV_HUMANOID:
  case ENV_HUMANOID_FULL: {
    double s = 0;
    for (int b = 0; b < m->nbody; b++) s += m->body_mass[b] * d->xipos[3 * b + 0];
    return s / e->total_mass;
  }
  default:
    return d->qpos[0];
  }
}

static double clip(double x, double lo, double hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

static void observe(Env *e) {
  const mjModel *m = e->m;
  const mjData *d = e->d;
  double *o = e->obs;
  int k = 0;
  switch (e->info->id) {
  case ENV_HOPPER:
  case ENV_WALKER2D:
    for (int i = 1; i < m->nq; i++) o[k++] = d->qpos[i];
    for (int i = 0; i < m->nv; i++) o[k++] = clip(d->qvel[i], -10, 10);
    break;
  case ENV_HALFCHEETAH:
    for (int i = 1; i < m->nq; i++) o[k++] = d->qpos[i];
    for (int i = 0; i < m->nv; i++) o[k++] = d->qvel[i];
    break;
  case ENV_ANT:
  case ENV_HUMANOID:
    for (int i = 2; i < m->nq; i++) o[k++] = d->qpos[i];
    for (int i = 0; i < m->nv; i++) o[k++] = d->qvel[i];
    break;
  case ENV_ANT_FULL:
    for (int i = 2; i < m->nq; i++) o[k++] = d->qpos[i];
    for (int i = 0; i < m->nv; i++) o[k++] = d->qvel[i];
    for (int i = 0; i < 6 * m->nbody; i++) o[k++] = clip(d->cfrc_ext[i], -1, 1);
    break;
  case ENV_HUMANOID_FULL:
    for (int i = 2; i < m->nq; i++) o[k++] = d->qpos[i];
    for (int i = 0; i < m->nv; i++) o[k++] = d->qvel[i];
    for (int i = 0; i < 10 * m->nbody; i++) o[k++] = d->cinert[i];
    for (int i = 0; i < 6 * m->nbody; i++) o[k++] = d->cvel[i];
    for (int i = 0; i < m->nv; i++) o[k++] = d->qfrc_actuator[i];
    for (int i = 0; i < 6 * m->nbody; i++) o[k++] = d->cfrc_ext[i];
    break;
  case ENV_INVERTED_PENDULUM:
    o[k++] = d->qpos[0], o[k++] = d->qpos[1], o[k++] = d->qvel[0], o[k++] = d->qvel[1];
    break;
  case ENV_INVERTED_DOUBLE_PENDULUM:
    o[k++] = d->qpos[0];
    o[k++] = sin(d->qpos[1]), o[k++] = sin(d->qpos[2]);
    o[k++] = cos(d->qpos[1]), o[k++] = cos(d->qpos[2]);
    for (int i = 0; i < 3; i++) o[k++] = clip(d->qvel[i], -10, 10);
    for (int i = 0; i < 3; i++) o[k++] = clip(d->qfrc_constraint[i], -10, 10);
    break;
  }
}

static int all_finite(const double *x, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

/* reward and termination after a step; native = the applied (rescaled) action */
static void score(Env *e, const double *native, double x_before, EnvStep *s) {
  const mjModel *m = e->m;
  const mjData *d = e->d;
  const int nu = m->nu;
  const double dt = m->opt.timestep * e->info->frame_skip;
  double sq = 0;
  for (int i = 0; i < nu; i++) sq += native[i] * native[i];
  const double *qp = d->qpos, *qv = d->qvel;
  switch (e->info->id) {
  case ENV_HOPPER: {
    s->reward = (qp[0] - x_before) / dt + 1.0 - 1e-3 * sq;
    int healthy = all_finite(qp, m->nq) && all_finite(qv, m->nv);
    for (int i = 2; i < m->nq; i++) healthy &= fabs(qp[i]) < 100;
    for (int i = 0; i < m->nv; i++) healthy &= fabs(qv[i]) < 100;
    healthy &= qp[1] > 0.7 && fabs(qp[2]) < 0.2;
    s->terminated = !healthy;
    break;
  }
  case ENV_WALKER2D:
    s->reward = (qp[0] - x_before) / dt + 1.0 - 1e-3 * sq;
    s->terminated = !(qp[1] > 0.8 && qp[1] < 2.0 && qp[2] > -1.0 && qp[2] < 1.0);
    break;
  case ENV_HALFCHEETAH:
    s->reward = (qp[0] - x_before) / dt - 0.1 * sq;
    s->terminated = 0;
    break;
  case ENV_ANT:
  case ENV_ANT_FULL: {
    double contact = 0;
    for (int i = 0; i < 6 * m->nbody; i++) {
      double c = clip(d->cfrc_ext[i], -1, 1);
      contact += c * c;
    }
    double x_after = position_quantity(e);
    s->reward = (x_after - x_before) / dt - 0.5 * sq - 0.5 * 1e-3 * contact + 1.0;
    s->terminated =
        !(all_finite(qp, m->nq) && all_finite(qv, m->nv) && qp[2] >= 0.2 && qp[2] <= 1.0);
    break;
  }
  case ENV_HUMANOID:
  case ENV_HUMANOID_FULL: {
    double ctrl = 0, impact = 0;
    for (int i = 0; i < nu; i++) ctrl += d->ctrl[i] * d->ctrl[i];
    for (int i = 0; i < 6 * m->nbody; i++) impact += d->cfrc_ext[i] * d->cfrc_ext[i];
    impact = fmin(0.5e-6 * impact, 10);
    double x_after = position_quantity(e);
    /* divided by the physics timestep, not dt (gym v2, spec §3.5) */
    s->reward = 0.25 * (x_after - x_before) / m->opt.timestep - 0.1 * ctrl - impact + 5.0;
    s->terminated = qp[2] < 1.0 || qp[2] > 2.0;
    break;
  }
  case ENV_INVERTED_PENDULUM:
    s->reward = 1.0;
    s->terminated = !(all_finite(e->obs, 4) && fabs(e->obs[1]) <= 0.2);
    break;
  case ENV_INVERTED_DOUBLE_PENDULUM: {
    double x = d->site_xpos[3 * e->tip + 0], y = d->site_xpos[3 * e->tip + 2];
    double dist = 0.01 * x * x + (y - 2) * (y - 2);
    double vel = 1e-3 * qv[1] * qv[1] + 5e-3 * qv[2] * qv[2];
    s->reward = 10 - dist - vel;
    s->terminated = y <= 1;
    break;
  }
  }
}

/* reset noise (spec §3): uniform on qpos, uniform or normal on qvel */
static void reset_noise(Env *e, Rng *rng) {
  const mjModel *m = e->m;
  mjData *d = e->d;
  double cq = 0.005, cv = 0.005;
  int v_normal = 0;
  switch (e->info->id) {
  case ENV_HOPPER:
  case ENV_WALKER2D:
    cq = cv = 0.005;
    break;
  case ENV_HALFCHEETAH:
    cq = 0.1, cv = 0.1, v_normal = 1;
    break;
  case ENV_ANT:
  case ENV_ANT_FULL:
    cq = 0.1, cv = 0.1, v_normal = 1;
    break;
  case ENV_HUMANOID:
  case ENV_HUMANOID_FULL:
    cq = cv = 0.01;
    break;
  case ENV_INVERTED_PENDULUM:
    cq = cv = 0.01;
    break;
  case ENV_INVERTED_DOUBLE_PENDULUM:
    cq = 0.1, cv = 0.1, v_normal = 1;
    break;
  }
  /* gym draws all qpos noise first, then the qvel noise */
  for (int i = 0; i < m->nq; i++) d->qpos[i] = m->qpos0[i] + rng_uniform_range(rng, -cq, cq);
  for (int i = 0; i < m->nv; i++)
    d->qvel[i] = v_normal ? cv * rng_normal(rng) : rng_uniform_range(rng, -cv, cv);
}

/* ---- MuJoCo handlers ---- */

static uint64_t g_warnings;

static void on_mj_warning(const char *msg) {
  g_warnings++;
  if (g_warnings <= 20) LOG_W("MuJoCo: %s", msg);
  if (g_warnings == 20) LOG_W("MuJoCo: further warnings are counted, not printed");
}

static void on_mj_error(const char *msg) {
  FATAL("MuJoCo error: %s", msg);
}

static void install_handlers(void) {
  static int done;
  if (done) return;
  done = 1;
  CHECK(mj_version() == mjVERSION_HEADER,
        "MuJoCo library version %d does not match the headers (%d)", mj_version(),
        mjVERSION_HEADER);
  mju_user_warning = on_mj_warning;
  mju_user_error = on_mj_error;
}

uint64_t env_warning_count(void) {
  return g_warnings;
}

/* ---- models ---- */

extern const char *env_embedded_model(const char *stem); /* generated */

const char *env_model_text(const char *stem) {
  return env_embedded_model(stem);
}

mjModel *env_load_model_file(const char *path, char *err, size_t errlen) {
  install_handlers();
  char buf[1024] = "";
  mjModel *m = mj_loadXML(path, NULL, buf, sizeof buf);
  if (!m) snprintf(err, errlen, "%s: %s", path, buf);
  if (m && buf[0]) LOG_W("MuJoCo compiler warning for %s: %s", path, buf);
  return m;
}

static mjModel *load_embedded(const char *stem, char *err, size_t errlen) {
  const char *text = env_model_text(stem);
  if (!text) {
    snprintf(err, errlen, "no built-in model '%s'", stem);
    return NULL;
  }
  mjVFS *vfs = xmalloc(sizeof(mjVFS));
  mj_defaultVFS(vfs);
  char name[96];
  snprintf(name, sizeof name, "%s.xml", stem);
  int len = (int)strlen(text);
  CHECK(mj_makeEmptyFileVFS(vfs, name, len) == 0, "MuJoCo VFS full");
  int idx = mj_findFileVFS(vfs, name);
  memcpy(vfs->filedata[idx], text, (size_t)len);
  char buf[1024] = "";
  mjModel *m = mj_loadXML(name, vfs, buf, sizeof buf);
  if (!m) snprintf(err, errlen, "built-in model %s: %s", name, buf);
  mj_deleteVFS(vfs);
  xfree(vfs);
  return m;
}

/* one compiled model per (stem, directory), shared by every Env of the process */
typedef struct ModelCache {
  char key[300];
  mjModel *m;
  struct ModelCache *next;
} ModelCache;
static ModelCache *g_models;

static mjModel *get_model(const char *stem, const char *dir, char *err, size_t errlen) {
  char key[300];
  snprintf(key, sizeof key, "%s|%s", stem, dir ? dir : "");
  for (ModelCache *c = g_models; c; c = c->next)
    if (!strcmp(c->key, key)) return c->m;
  mjModel *m;
  if (dir && dir[0]) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.xml", dir, stem);
    m = env_load_model_file(path, err, errlen);
  } else {
    m = load_embedded(stem, err, errlen);
  }
  if (!m) return NULL;
  ModelCache *c = xmalloc(sizeof *c);
  snprintf(c->key, sizeof c->key, "%s", key);
  c->m = m;
  c->next = g_models;
  g_models = c;
  return m;
}

/* ---- lifecycle ---- */

Env *env_make(int id, const EnvOptions *opt, char *err, size_t errlen) {
  install_handlers();
  const EnvInfo *info = env_info(id);
  if (!info) {
    snprintf(err, errlen, "unknown environment id %d", id);
    return NULL;
  }
  mjModel *m = get_model(info->model, opt ? opt->model_dir : NULL, err, errlen);
  if (!m) return NULL;
  if (m->nu != info->act_dim) {
    snprintf(err, errlen, "model %s has %d actuators, %s needs %d", info->model, m->nu, info->name,
             info->act_dim);
    return NULL;
  }
  Env *e = xmalloc(sizeof *e);
  e->info = info;
  e->contact_forces = opt ? opt->contact_forces : CF_ZERO;
  e->m = m;
  e->d = mj_makeData(m);
  CHECK(e->d, "mj_makeData failed for %s", info->model);
  e->obs = xmalloc(sizeof(double) * info->obs_dim);
  e->lo = xmalloc(sizeof(float) * m->nu);
  e->hi = xmalloc(sizeof(float) * m->nu);
  for (int i = 0; i < m->nu; i++) {
    e->lo[i] = (float)m->actuator_ctrlrange[2 * i];
    e->hi[i] = (float)m->actuator_ctrlrange[2 * i + 1];
  }
  e->torso = mj_name2id(m, mjOBJ_BODY, "torso");
  e->tip = mj_name2id(m, mjOBJ_SITE, "tip");
  e->total_mass = 0;
  for (int b = 0; b < m->nbody; b++) e->total_mass += m->body_mass[b];
  if ((id == ENV_ANT || id == ENV_ANT_FULL || id == ENV_HUMANOID || id == ENV_HUMANOID_FULL) &&
      e->torso < 0) {
    snprintf(err, errlen, "model %s has no body named torso", info->model);
    env_free(e);
    return NULL;
  }
  if (id == ENV_INVERTED_DOUBLE_PENDULUM && e->tip < 0) {
    snprintf(err, errlen, "model %s has no site named tip", info->model);
    env_free(e);
    return NULL;
  }
  /* a consistent state before the first reset */
  mj_forward(m, e->d);
  observe(e);
  e->before = position_quantity(e);
  return e;
}

void env_free(Env *e) {
  if (!e) return;
  if (e->d) mj_deleteData(e->d);
  xfree(e->obs);
  xfree(e->lo);
  xfree(e->hi);
  xfree(e);
}

const EnvInfo *env_get_info(const Env *e) {
  return e->info;
}
struct mjModel_ *env_model(Env *e) {
  return e->m;
}
struct mjData_ *env_data(Env *e) {
  return e->d;
}
const double *env_obs(const Env *e) {
  return e->obs;
}

const double *env_reset(Env *e, Rng *rng) {
  mj_resetData(e->m, e->d);
  if (rng) reset_noise(e, rng);
  mj_forward(e->m, e->d);
  observe(e);
  e->before = position_quantity(e);
  return e->obs;
}

void env_scale_action(const Env *e, const float *unit, double *native) {
  /* float32 arithmetic as MBPO's wrapper did it on float32 arrays, then clip to the box */
  for (int i = 0; i < e->m->nu; i++) {
    float lo = e->lo[i], hi = e->hi[i];
    float a = lo + (unit[i] + 1.0f) * (hi - lo) / 2.0f;
    a = a < lo ? lo : (a > hi ? hi : a);
    native[i] = (double)a;
  }
}

static int bad_state_warnings(const mjData *d) {
  return d->warning[mjWARN_BADQPOS].number + d->warning[mjWARN_BADQVEL].number +
         d->warning[mjWARN_BADQACC].number;
}

static int all_warnings(const mjData *d) {
  int n = 0;
  for (int i = 0; i < mjNWARNING; i++) n += d->warning[i].number;
  return n;
}

EnvStep env_step(Env *e, const float *action) {
  mjModel *m = e->m;
  mjData *d = e->d;
  EnvStep s = {0};
  double native[64];
  env_scale_action(e, action, native);
  const double x_before = e->before;
  const int bad0 = bad_state_warnings(d), all0 = all_warnings(d);
  const double t0 = d->time;
  for (int i = 0; i < m->nu; i++) d->ctrl[i] = native[i];
  for (int k = 0; k < e->info->frame_skip; k++) mj_step(m, d);
  if (e->contact_forces == CF_RNE_POST) mj_rnePostConstraint(m, d);
  observe(e);
  score(e, native, x_before, &s);
  e->before = position_quantity(e);
  s.obs = e->obs;
  s.warnings = all_warnings(d) - all0;
  if (s.warnings < 0) s.warnings = 1;
  /* MuJoCo resets mjData to qpos0 on a bad state and carries on: catch the teleport */
  s.sim_error = bad_state_warnings(d) != bad0 || d->time < t0 || !all_finite(d->qpos, m->nq) ||
                !all_finite(d->qvel, m->nv) || !all_finite(e->obs, e->info->obs_dim) ||
                !isfinite(s.reward);
  return s;
}

/* ---- state ---- */

#define ENV_STATE_TAG 0x454e5631 /* "ENV1" */

size_t env_state_size(const Env *e) {
  const mjModel *m = e->m;
  return 4 + (size_t)m->nq + 2 * (size_t)m->nv + (size_t)m->na + (size_t)m->nu +
         (size_t)e->info->obs_dim;
}

void env_state_save(const Env *e, double *out) {
  const mjModel *m = e->m;
  const mjData *d = e->d;
  size_t k = 0;
  out[k++] = ENV_STATE_TAG;
  out[k++] = e->info->id;
  out[k++] = d->time;
  out[k++] = e->before;
  memcpy(out + k, d->qpos, sizeof(double) * m->nq), k += m->nq;
  memcpy(out + k, d->qvel, sizeof(double) * m->nv), k += m->nv;
  memcpy(out + k, d->act, sizeof(double) * m->na), k += m->na;
  memcpy(out + k, d->qacc_warmstart, sizeof(double) * m->nv), k += m->nv;
  memcpy(out + k, d->ctrl, sizeof(double) * m->nu), k += m->nu;
  memcpy(out + k, e->obs, sizeof(double) * e->info->obs_dim);
}

int env_state_load(Env *e, const double *in, size_t n) {
  const mjModel *m = e->m;
  mjData *d = e->d;
  if (n != env_state_size(e) || in[0] != ENV_STATE_TAG || in[1] != e->info->id) return -1;
  size_t k = 2;
  mj_resetData(m, d);
  d->time = in[k++];
  e->before = in[k++];
  memcpy(d->qpos, in + k, sizeof(double) * m->nq), k += m->nq;
  memcpy(d->qvel, in + k, sizeof(double) * m->nv), k += m->nv;
  memcpy(d->act, in + k, sizeof(double) * m->na), k += m->na;
  memcpy(d->qacc_warmstart, in + k, sizeof(double) * m->nv), k += m->nv;
  memcpy(d->ctrl, in + k, sizeof(double) * m->nu), k += m->nu;
  memcpy(e->obs, in + k, sizeof(double) * e->info->obs_dim);
  return 0;
}
