/* test_envs — our model files against the reference gym files (compiled arrays and
 * trajectories, bit for bit), observation / reward / termination against an independent
 * computation, the spec's sanity numbers, reset noise, rollout termination functions,
 * save / restore, and MuJoCo's warnings. */
#include <mujoco/mjxmacro.h>
#include <mujoco/mujoco.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "envs/env.h"
#include "util.h"

static char g_refdir[1024];

/* which reference file stands for each task (the gym-0.26.2 variants load in MuJoCo 2.2.2) */
static const char *ref_dir(int id) {
  static char buf[1100];
  int v26 = id == ENV_HOPPER || id == ENV_WALKER2D || id == ENV_INVERTED_PENDULUM;
  snprintf(buf, sizeof buf, "%s%s", g_refdir, v26 ? "/gym-0.26.2" : "");
  return buf;
}

static const int TASKS[] = {ENV_HOPPER,
                            ENV_WALKER2D,
                            ENV_HALFCHEETAH,
                            ENV_ANT,
                            ENV_HUMANOID,
                            ENV_INVERTED_PENDULUM,
                            ENV_INVERTED_DOUBLE_PENDULUM};
#define NTASKS 7

static Env *make(int id, const char *dir) {
  char err[512];
  EnvOptions o = {CF_ZERO, dir};
  Env *e = env_make(id, &o, err, sizeof err);
  REQUIRE(e, "env_make(%s): %s", env_info(id)->name, err);
  return e;
}

/* arrays that carry no dynamics: names, appearance, user data, cameras, lights, keyframes */
static int cosmetic(const char *name) {
  static const char *skip[] = {"name_", "_user",       "rgba",   "mat",       "tex",
                               "cam_",  "light_",      "skin",   "key_",      "numeric",
                               "text_", "tuple_",      "_group", "site_size", "vis",
                               "names", "geom_dataid", "mesh",   "hfield",    "sensor"};
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
    if (strstr(name, skip[i])) return 1;
  return 0;
}

static void test_models_equal(void) {
  for (int t = 0; t < NTASKS; t++) {
    int id = TASKS[t];
    Env *ours = make(id, NULL), *ref = make(id, ref_dir(id));
    const mjModel *a = env_model(ours), *b = env_model(ref);
    EXPECT(a->nq == b->nq && a->nv == b->nv && a->nu == b->nu && a->nbody == b->nbody &&
               a->njnt == b->njnt && a->ngeom == b->ngeom && a->nsite == b->nsite &&
               a->ntendon == b->ntendon && a->neq == b->neq,
           "%s: sizes differ", env_info(id)->name);
    EXPECT(!memcmp(&a->opt, &b->opt, sizeof a->opt), "%s: mjOption differs", env_info(id)->name);
    int compared = 0, differ = 0;
    const char *tname = env_info(id)->name;
    {
      MJMODEL_POINTERS_PREAMBLE(a)
      (void)nq, (void)nv, (void)na, (void)nu, (void)nmocap;
#define X(type, field, nr, nc)                                                                     \
  if (!cosmetic(#field) && a->nr == b->nr && a->nr > 0) {                                          \
    size_t bytes = sizeof(type) * (size_t)a->nr * (size_t)(nc);                                    \
    compared++;                                                                                    \
    if (memcmp(a->field, b->field, bytes)) {                                                       \
      differ++;                                                                                    \
      fprintf(stderr, "  %s: %s differs\n", tname, #field);                                        \
    }                                                                                              \
  }
      MJMODEL_POINTERS
#undef X
    }
    EXPECT(differ == 0 && compared > 60, "%s: %d of %d model arrays differ", env_info(id)->name,
           differ, compared);
    env_free(ours);
    env_free(ref);
  }
}

/* same initial state, same random actions, >= 1000 steps with resets at termination and at the
 * 1000-step cut: every qpos, qvel, observation, reward and terminal bit-identical */
static void test_trajectories_equal(void) {
  for (int t = 0; t < NTASKS; t++) {
    int id = TASKS[t];
    Env *a = make(id, NULL), *b = make(id, ref_dir(id));
    const mjModel *m = env_model(a);
    mjData *da = env_data(a), *db = env_data(b);
    Rng ra = rng_make(7, RNG_TEST, (uint64_t)id), rb = ra,
        act = rng_make(8, RNG_TEST, (uint64_t)id);
    env_reset(a, &ra);
    env_reset(b, &rb);
    int mismatch = 0, episodes = 1, len = 0, steps = 1500;
    float u[64];
    for (int s = 0; s < steps; s++) {
      for (int i = 0; i < m->nu; i++) u[i] = (float)rng_uniform_range(&act, -1, 1);
      EnvStep sa = env_step(a, u), sb = env_step(b, u);
      len++;
      int same = !memcmp(da->qpos, db->qpos, sizeof(double) * m->nq) &&
                 !memcmp(da->qvel, db->qvel, sizeof(double) * m->nv) &&
                 !memcmp(sa.obs, sb.obs, sizeof(double) * env_info(id)->obs_dim) &&
                 sa.reward == sb.reward && sa.terminated == sb.terminated;
      if (!same && mismatch++ == 0)
        fprintf(stderr, "  %s: first difference at step %d\n", env_info(id)->name, s);
      if (sa.terminated || len == 1000) {
        env_reset(a, &ra);
        env_reset(b, &rb);
        episodes++, len = 0;
      }
    }
    EXPECT(mismatch == 0, "%s: %d of %d steps differ from the reference model", env_info(id)->name,
           mismatch, steps);
    fprintf(stderr, "  %-26s %d steps, %d episodes: bit-identical\n", env_info(id)->name, steps,
            episodes);
    env_free(a);
    env_free(b);
  }
}

/* ---- independent computation of observation, reward and termination ---- */

typedef struct {
  double x_before;
  double native[64];
} Pre;

static double mass_centre_x(const mjModel *m, const mjData *d) {
  double s = 0, w = 0;
  for (int b = 0; b < m->nbody; b++) s += m->body_mass[b] * d->xipos[3 * b], w += m->body_mass[b];
  return s / w;
}

static void check_step(int id, Env *e, const Pre *p, const EnvStep *s, int step) {
  const mjModel *m = env_model(e);
  const mjData *d = env_data(e);
  const double *q = d->qpos, *v = d->qvel;
  double o[400];
  int n = 0;
  double r = 0;
  int term = 0;
  double ctrl_sq = 0;
  for (int i = 0; i < m->nu; i++) ctrl_sq += p->native[i] * p->native[i];
  double dt = m->opt.timestep * env_info(id)->frame_skip;
#define CL(x) ((x) < -10 ? -10 : ((x) > 10 ? 10 : (x)))
  switch (id) {
  case ENV_HOPPER:
    for (int i = 1; i < 6; i++) o[n++] = q[i];
    for (int i = 0; i < 6; i++) o[n++] = CL(v[i]);
    r = (q[0] - p->x_before) / dt + 1 - 0.001 * ctrl_sq;
    term = !(q[1] > 0.7 && fabs(q[2]) < 0.2);
    for (int i = 2; i < 6; i++) term |= !(fabs(q[i]) < 100);
    for (int i = 0; i < 6; i++) term |= !(fabs(v[i]) < 100);
    break;
  case ENV_WALKER2D:
    for (int i = 1; i < 9; i++) o[n++] = q[i];
    for (int i = 0; i < 9; i++) o[n++] = CL(v[i]);
    r = (q[0] - p->x_before) / dt + 1 - 0.001 * ctrl_sq;
    term = !(q[1] > 0.8 && q[1] < 2 && q[2] > -1 && q[2] < 1);
    break;
  case ENV_HALFCHEETAH:
    for (int i = 1; i < 9; i++) o[n++] = q[i];
    for (int i = 0; i < 9; i++) o[n++] = v[i];
    r = (q[0] - p->x_before) / dt - 0.1 * ctrl_sq;
    break;
  case ENV_ANT: {
    for (int i = 2; i < 15; i++) o[n++] = q[i];
    for (int i = 0; i < 14; i++) o[n++] = v[i];
    int torso = mj_name2id(m, mjOBJ_BODY, "torso");
    r = (d->xpos[3 * torso] - p->x_before) / dt - 0.5 * ctrl_sq + 1; /* cfrc_ext is 0 */
    term = !(q[2] >= 0.2 && q[2] <= 1.0);
    break;
  }
  case ENV_HUMANOID:
    for (int i = 2; i < 24; i++) o[n++] = q[i];
    for (int i = 0; i < 23; i++) o[n++] = v[i];
    r = 0.25 * (mass_centre_x(m, d) - p->x_before) / m->opt.timestep - 0.1 * ctrl_sq + 5;
    term = q[2] < 1 || q[2] > 2;
    break;
  case ENV_INVERTED_PENDULUM:
    o[n++] = q[0], o[n++] = q[1], o[n++] = v[0], o[n++] = v[1];
    r = 1;
    term = !(fabs(q[1]) <= 0.2);
    break;
  case ENV_INVERTED_DOUBLE_PENDULUM: {
    int tip = mj_name2id(m, mjOBJ_SITE, "tip");
    o[n++] = q[0], o[n++] = sin(q[1]), o[n++] = sin(q[2]), o[n++] = cos(q[1]), o[n++] = cos(q[2]);
    for (int i = 0; i < 3; i++) o[n++] = CL(v[i]);
    for (int i = 0; i < 3; i++) o[n++] = CL(d->qfrc_constraint[i]);
    double x = d->site_xpos[3 * tip], y = d->site_xpos[3 * tip + 2];
    r = 10 - 0.01 * x * x - (y - 2) * (y - 2) - 0.001 * v[1] * v[1] - 0.005 * v[2] * v[2];
    term = y <= 1;
    break;
  }
  }
#undef CL
  int obs_ok = n == env_info(id)->obs_dim;
  for (int i = 0; i < n && obs_ok; i++) obs_ok = fabs(o[i] - s->obs[i]) <= 1e-12 * (1 + fabs(o[i]));
  EXPECT(obs_ok, "%s step %d: observation differs from the independent computation",
         env_info(id)->name, step);
  EXPECT(fabs(r - s->reward) <= 1e-9 * (1 + fabs(r)), "%s step %d: reward %.12g vs %.12g",
         env_info(id)->name, step, s->reward, r);
  EXPECT(term == s->terminated, "%s step %d: terminated %d vs %d", env_info(id)->name, step,
         s->terminated, term);
}

static void pre_step(int id, Env *e, const float *u, Pre *p) {
  const mjModel *m = env_model(e);
  const mjData *d = env_data(e);
  env_scale_action(e, u, p->native);
  if (id == ENV_ANT)
    p->x_before = d->xpos[3 * mj_name2id(m, mjOBJ_BODY, "torso")];
  else if (id == ENV_HUMANOID)
    p->x_before = mass_centre_x(m, d);
  else
    p->x_before = d->qpos[0];
}

static void test_obs_reward_termination(void) {
  for (int t = 0; t < NTASKS; t++) {
    int id = TASKS[t];
    Env *e = make(id, NULL);
    Rng rr = rng_make(3, RNG_TEST, 1), ra = rng_make(3, RNG_TEST, 2);
    env_reset(e, &rr);
    float u[64];
    int terms = 0;
    for (int s = 0; s < 600; s++) {
      for (int i = 0; i < env_info(id)->act_dim; i++)
        u[i] = (float)rng_uniform_range(&ra, -1.2, 1.2);
      Pre p;
      pre_step(id, e, u, &p);
      EnvStep st = env_step(e, u);
      check_step(id, e, &p, &st, s);
      EXPECT(!st.sim_error, "%s: unexpected simulator error", env_info(id)->name);
      if (st.terminated) terms++, env_reset(e, &rr);
    }
    if (id != ENV_HALFCHEETAH && id != ENV_ANT)
      EXPECT(terms > 0, "%s: 600 random steps never terminated", env_info(id)->name);
    env_free(e);
  }
}

/* spec §7 item 3: no noise, zero action; measured on MuJoCo 2.2.2 */
static void test_sanity_numbers(void) {
  struct {
    int id, steps;
    double ret;
  } want[] = {{ENV_HOPPER, 141, 133.890021},
              {ENV_WALKER2D, 131, 121.942967},
              {ENV_HALFCHEETAH, 1000, -0.246373},
              {ENV_ANT, 1000, 1000.000000},
              {ENV_HUMANOID, 40, 206.143286},
              {ENV_INVERTED_PENDULUM, 30, 30},
              {ENV_INVERTED_DOUBLE_PENDULUM, 53, 494.803532}};
  for (int t = 0; t < NTASKS; t++) {
    Env *e = make(want[t].id, NULL);
    env_reset(e, NULL);
    float u[64] = {0};
    double ret = 0;
    int n = 0;
    while (n < 1000) {
      EnvStep s = env_step(e, u);
      ret += s.reward, n++;
      if (s.terminated) break;
    }
    EXPECT(n == want[t].steps && fabs(ret - want[t].ret) < 5e-7,
           "%s: %d steps, return %.6f (spec: %d, %.6f)", env_info(want[t].id)->name, n, ret,
           want[t].steps, want[t].ret);
    env_free(e);
  }
}

/* reset noise: family (uniform vs normal by kurtosis) and scale */
static void test_reset_noise(void) {
  struct {
    int id;
    double scale;
    int v_normal;
  } want[] = {{ENV_HOPPER, 0.005, 0},
              {ENV_WALKER2D, 0.005, 0},
              {ENV_HALFCHEETAH, 0.1, 1},
              {ENV_ANT, 0.1, 1},
              {ENV_HUMANOID, 0.01, 0},
              {ENV_INVERTED_PENDULUM, 0.01, 0},
              {ENV_INVERTED_DOUBLE_PENDULUM, 0.1, 1}};
  for (int t = 0; t < NTASKS; t++) {
    int id = want[t].id;
    Env *e = make(id, NULL);
    const mjModel *m = env_model(e);
    const mjData *d = env_data(e);
    Rng r = rng_make(4, RNG_TEST, (uint64_t)id);
    const int n = 3000;
    double q1 = 0, q2 = 0, q4 = 0, qmax = 0, v1 = 0, v2 = 0, v4 = 0;
    long nq = 0, nv = 0;
    int free_q = m->jnt_type[0] == mjJNT_FREE;
    for (int k = 0; k < n; k++) {
      env_reset(e, &r);
      for (int i = 0; i < m->nq; i++) {
        if (free_q && i >= 3 && i < 7) continue; /* quaternion: renormalised by mj_forward */
        double x = d->qpos[i] - m->qpos0[i];
        q1 += x, q2 += x * x, q4 += x * x * x * x, nq++;
        if (fabs(x) > qmax) qmax = fabs(x);
      }
      for (int i = 0; i < m->nv; i++) {
        double x = d->qvel[i];
        v1 += x, v2 += x * x, v4 += x * x * x * x, nv++;
      }
    }
    double c = want[t].scale;
    double qv = q2 / nq, qk = (q4 / nq) / (qv * qv), vv = v2 / nv, vk = (v4 / nv) / (vv * vv);
    EXPECT(fabs(q1 / nq) < 5 * sqrt(c * c / 3 / nq), "%s qpos noise mean %g", env_info(id)->name,
           q1 / nq);
    EXPECT(fabs(qv / (c * c / 3) - 1) < 0.05, "%s qpos noise variance %g vs %g", env_info(id)->name,
           qv, c * c / 3);
    EXPECT(fabs(qk - 1.8) < 0.1 && qmax <= c && qmax > 0.99 * c,
           "%s qpos noise not uniform on [-%g, %g] (kurtosis %g, max %g)", env_info(id)->name, c, c,
           qk, qmax);
    double want_vv = want[t].v_normal ? c * c : c * c / 3, want_vk = want[t].v_normal ? 3.0 : 1.8;
    EXPECT(fabs(vv / want_vv - 1) < 0.06, "%s qvel noise variance %g vs %g", env_info(id)->name, vv,
           want_vv);
    EXPECT(fabs(vk - want_vk) < 0.2, "%s qvel noise kurtosis %g vs %g (%s)", env_info(id)->name, vk,
           want_vk, want[t].v_normal ? "normal" : "uniform");
    EXPECT(fabs(v1 / nv) < 5 * sqrt(want_vv / nv), "%s qvel noise mean", env_info(id)->name);
    env_free(e);
  }
}

static void test_termination_functions(void) {
  uint8_t done[8];
  /* hopper: height, angle, the missing lower bound (quirk), NaN */
  float h[5][11] = {
      {1.2f, 0.1f}, {0.6f, 0.1f}, {1.2f, 0.3f}, {1.2f, 0.1f, -150.0f}, {1.2f, 0.1f, 150.f}};
  env_termination_batch(ENV_HOPPER, 0, &h[0][0], 5, done);
  EXPECT(!done[0] && done[1] && done[2] && !done[3] && done[4], "hopper faithful %d%d%d%d%d",
         done[0], done[1], done[2], done[3], done[4]);
  /* hopper's bounds as the official static/hopper.py writes them: height > 0.7, |angle| < 0.2,
   * both strict, either sign of the angle */
  float hb[6][11] = {{0.71f, 0.19f}, {0.7f, 0.0f},  {1.2f, 0.2f},
                     {1.2f, -0.2f},  {1.2f, 0.25f}, {1.2f, -0.19f}};
  env_termination_batch(ENV_HOPPER, 0, &hb[0][0], 6, done);
  EXPECT(!done[0] && done[1] && done[2] && done[3] && done[4] && !done[5],
         "hopper bounds %d%d%d%d%d%d (want 011110)", done[0], done[1], done[2], done[3], done[4],
         done[5]);
  env_termination_batch(ENV_HOPPER, 1, &h[0][0], 5, done);
  EXPECT(done[3], "hopper fixed must end on o[2] = -150");
  h[0][5] = NAN;
  env_termination_batch(ENV_HOPPER, 0, &h[0][0], 1, done);
  EXPECT(done[0], "hopper NaN");
  /* walker2d: strict bounds; NaN ends through the comparisons even without a finiteness test */
  float w[5][17] = {{1.0f, 0.5f}, {0.8f, 0.0f}, {2.0f, 0.0f}, {1.0f, -1.0f}, {NAN, 0.0f}};
  env_termination_batch(ENV_WALKER2D, 0, &w[0][0], 5, done);
  EXPECT(!done[0] && done[1] && done[2] && done[3] && done[4], "walker2d");
  float c[1][17] = {{NAN}};
  env_termination_batch(ENV_HALFCHEETAH, 0, &c[0][0], 1, done);
  EXPECT(!done[0], "halfcheetah never ends (faithful)");
  env_termination_batch(ENV_HALFCHEETAH, 1, &c[0][0], 1, done);
  EXPECT(done[0], "halfcheetah fixed ends on NaN");
  /* ant: inclusive bounds */
  float a[4][27] = {{0.2f}, {1.0f}, {0.19f}, {1.01f}};
  env_termination_batch(ENV_ANT, 0, &a[0][0], 4, done);
  EXPECT(!done[0] && !done[1] && done[2] && done[3], "ant bounds");
  /* humanoid: NaN does not end (quirk), fixed does */
  float u[3][45] = {{1.5f}, {0.9f}, {NAN}};
  env_termination_batch(ENV_HUMANOID, 0, &u[0][0], 3, done);
  EXPECT(!done[0] && done[1] && !done[2], "humanoid faithful");
  env_termination_batch(ENV_HUMANOID, 1, &u[0][0], 3, done);
  EXPECT(done[2], "humanoid fixed NaN");
  /* inverted pendulum: |angle| <= 0.2 inclusive */
  float p[3][4] = {{0, 0.2f}, {0, -0.21f}, {0, NAN}};
  env_termination_batch(ENV_INVERTED_PENDULUM, 0, &p[0][0], 3, done);
  EXPECT(!done[0] && done[1] && done[2], "inverted pendulum");
  /* double pendulum: tip height from the angles, y = 0.6 (cos t1 + cos(t1 + t2)) */
  float q[3][11] = {{0, 0, 0, 1, 1}, {0, 1, 0, 0, 1}, {0, NAN, 0, NAN, 1}};
  env_termination_batch(ENV_INVERTED_DOUBLE_PENDULUM, 0, &q[0][0], 3, done);
  EXPECT(!done[0] && done[1] && !done[2], "double pendulum (upright 1.2, fallen, NaN quirk)");
  env_termination_batch(ENV_INVERTED_DOUBLE_PENDULUM, 1, &q[0][0], 3, done);
  EXPECT(done[2], "double pendulum fixed NaN");
}

static void test_save_restore(void) {
  for (int t = 0; t < NTASKS; t++) {
    int id = TASKS[t];
    Env *a = make(id, NULL), *b = make(id, NULL);
    Rng r = rng_make(5, RNG_TEST, 0), act = rng_make(6, RNG_TEST, (uint64_t)id);
    env_reset(a, &r);
    float u[64];
    int na = env_info(id)->act_dim;
    for (int s = 0; s < 37; s++) {
      for (int i = 0; i < na; i++) u[i] = (float)rng_uniform_range(&act, -1, 1);
      if (env_step(a, u).terminated) env_reset(a, &r);
    }
    size_t n = env_state_size(a);
    double *st = xmalloc(sizeof(double) * n);
    env_state_save(a, st);
    env_reset(b, &r); /* b is somewhere else entirely */
    REQUIRE(env_state_load(b, st, n) == 0, "load");
    EXPECT(!memcmp(env_obs(a), env_obs(b), sizeof(double) * env_info(id)->obs_dim), "obs restored");
    int same = 1;
    for (int s = 0; s < 200; s++) {
      for (int i = 0; i < na; i++) u[i] = (float)rng_uniform_range(&act, -1, 1);
      EnvStep sa = env_step(a, u), sb = env_step(b, u);
      same &= sa.reward == sb.reward && sa.terminated == sb.terminated &&
              !memcmp(sa.obs, sb.obs, sizeof(double) * env_info(id)->obs_dim);
      if (sa.terminated) break;
    }
    EXPECT(same, "%s: continuation after restore differs", env_info(id)->name);
    st[1] = -1;
    EXPECT(env_state_load(b, st, n) != 0, "a state of another task must be refused");
    EXPECT(env_state_load(b, st, n - 1) != 0, "a short state must be refused");
    xfree(st);
    env_free(a);
    env_free(b);
  }
}

static void test_bad_state_is_caught(void) {
  /* a diverging state: MuJoCo would reset to qpos0 and carry on; we report it */
  char cwd[1024], dir[] = "/tmp/usbpo_envtest_XXXXXX";
  REQUIRE(getcwd(cwd, sizeof cwd) && mkdtemp(dir) && chdir(dir) == 0, "temp dir");
  Env *e = make(ENV_HOPPER, NULL);
  Rng r = rng_make(1, RNG_TEST, 0);
  env_reset(e, &r);
  uint64_t w0 = env_warning_count();
  env_data(e)->qvel[2] = 1e20;
  float u[3] = {0, 0, 0};
  EnvStep s = env_step(e, u);
  EXPECT(s.sim_error, "a diverged state was not reported");
  EXPECT(env_warning_count() > w0, "MuJoCo's warning did not reach our handler");
  /* and the env recovers after a reset */
  env_reset(e, &r);
  s = env_step(e, u);
  EXPECT(!s.sim_error, "reset did not clear the error");
  EXPECT(access("MUJOCO_LOG.TXT", F_OK) != 0, "MuJoCo wrote MUJOCO_LOG.TXT into the cwd");
  env_free(e);
  REQUIRE(chdir(cwd) == 0, "chdir back");
  rmdir(dir);
}

/* the v2 full observations contain the truncated ones; contact forces per env.contact_forces */
static void test_full_observations(void) {
  struct {
    int full, trunc, extra_from;
  } pairs[] = {{ENV_ANT_FULL, ENV_ANT, 27}, {ENV_HUMANOID_FULL, ENV_HUMANOID, 45}};
  for (int k = 0; k < 2; k++) {
    int full = pairs[k].full, trunc = pairs[k].trunc;
    Env *a = make(full, NULL), *b = make(trunc, NULL);
    char err[256];
    EnvOptions rne = {CF_RNE_POST, NULL};
    Env *c = env_make(full, &rne, err, sizeof err);
    REQUIRE(c, "%s", err);
    Rng ra = rng_make(2, RNG_TEST, 3), rb = ra, rc = ra, act = rng_make(2, RNG_TEST, 4);
    env_reset(a, &ra), env_reset(b, &rb), env_reset(c, &rc);
    int nd = env_info(trunc)->obs_dim, fd = env_info(full)->obs_dim, na = env_info(full)->act_dim;
    int prefix_same = 1, reward_same = 1, contacts_seen = 0, reward_differs = 0;
    float u[64];
    for (int s = 0; s < 300; s++) {
      for (int i = 0; i < na; i++) u[i] = (float)rng_uniform_range(&act, -1, 1);
      EnvStep sa = env_step(a, u), sb = env_step(b, u), sc = env_step(c, u);
      prefix_same &= !memcmp(sa.obs, sb.obs, sizeof(double) * nd);
      reward_same &= sa.reward == sb.reward;
      for (int i = fd - 84; i < fd; i++) contacts_seen |= sc.obs[i] != 0;
      reward_differs |= sc.reward != sa.reward;
      if (sa.terminated || sc.terminated) {
        env_reset(a, &ra), env_reset(b, &rb), env_reset(c, &rc);
      }
    }
    EXPECT(prefix_same && reward_same, "%s: not an extension of %s", env_info(full)->name,
           env_info(trunc)->name);
    /* zero mode: the contact block is identically zero (USB-PO's MuJoCo 2.1 stack) */
    const double *o = env_obs(a);
    int zero = 1;
    for (int i = fd - 84; i < fd; i++) zero &= o[i] == 0;
    EXPECT(zero, "%s: contact block not zero in zero mode", env_info(full)->name);
    EXPECT(contacts_seen, "%s: rne_post produced no contact forces", env_info(full)->name);
    if (full == ENV_ANT_FULL) EXPECT(reward_differs, "ant: rne_post did not change the reward");
    EXPECT(fd == (full == ENV_ANT_FULL ? 111 : 376), "obs dim %d", fd);
    env_free(a), env_free(b), env_free(c);
  }
}

int main(void) {
  const char *root = getenv("USBPO_SOURCE_ROOT");
  snprintf(g_refdir, sizeof g_refdir, "%s/tests/data/gym-mujoco", root ? root : "..");
  log_set_level(LOG_ERROR);
  RUN(test_models_equal);
  RUN(test_trajectories_equal);
  RUN(test_obs_reward_termination);
  RUN(test_sanity_numbers);
  RUN(test_reset_noise);
  RUN(test_termination_functions);
  RUN(test_save_restore);
  RUN(test_bad_state_is_caught);
  RUN(test_full_observations);
  CHECK_DONE();
}
