/* bench_envs — env steps/s of our wrapper against raw mj_step calls at the same frame skip,
 * replaying exactly the same trajectory (same actions, resets at the same steps), in one run.
 *   bench_envs [steps] [rounds] */
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envs/env.h"
#include "util.h"

typedef struct {
  int id, steps;
  float *acts;    /* (steps, nu) unit actions */
  double *native; /* (steps, nu) the same actions in actuator units */
  unsigned char *reset_after;
  double *reset_state; /* qpos, qvel per reset, in order */
  int nresets;
} Plan;

static double run_ours(Env *e, const Plan *p) {
  Rng r = rng_make(1, RNG_TEST, 1);
  env_reset(e, &r);
  int nu = env_info(p->id)->act_dim;
  double t0 = util_now(), sum = 0;
  for (int s = 0; s < p->steps; s++) {
    EnvStep st = env_step(e, p->acts + (size_t)s * nu);
    sum += st.reward;
    if (p->reset_after[s]) env_reset(e, &r);
  }
  double t = util_now() - t0;
  if (sum == 12345.678) printf(" "); /* keep the work */
  return t;
}

static double run_raw(mjModel *m, mjData *d, const Plan *p, int fs) {
  /* same start: replay the recorded reset states */
  int k = 0;
  mj_resetData(m, d);
  const double *st = p->reset_state;
  memcpy(d->qpos, st, sizeof(double) * m->nq);
  memcpy(d->qvel, st + m->nq, sizeof(double) * m->nv);
  mj_forward(m, d);
  k++;
  double t0 = util_now();
  for (int s = 0; s < p->steps; s++) {
    memcpy(d->ctrl, p->native + (size_t)s * m->nu, sizeof(double) * m->nu);
    for (int j = 0; j < fs; j++) mj_step(m, d);
    if (p->reset_after[s]) {
      const double *rs = p->reset_state + (size_t)k * (m->nq + m->nv);
      mj_resetData(m, d);
      memcpy(d->qpos, rs, sizeof(double) * m->nq);
      memcpy(d->qvel, rs + m->nq, sizeof(double) * m->nv);
      mj_forward(m, d);
      k++;
    }
  }
  return util_now() - t0;
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 20000;
  int rounds = argc > 2 ? atoi(argv[2]) : 5;
  log_set_level(LOG_ERROR);
  printf("# bench_envs: %d env steps per round, min over %d rounds, random actions\n", steps,
         rounds);
  printf("%-26s %12s %12s %10s\n", "env", "ours st/s", "mj_step st/s", "overhead");
  int ids[] = {ENV_HOPPER,
               ENV_WALKER2D,
               ENV_HALFCHEETAH,
               ENV_ANT,
               ENV_HUMANOID,
               ENV_INVERTED_PENDULUM,
               ENV_INVERTED_DOUBLE_PENDULUM};
  for (int t = 0; t < 7; t++) {
    char err[256];
    Env *e = env_make(ids[t], NULL, err, sizeof err);
    CHECK(e, "%s", err);
    mjModel *m = env_model(e);
    mjData *d = mj_makeData(m);
    int nu = m->nu, fs = env_info(ids[t])->frame_skip;
    Plan p = {ids[t],
              steps,
              xmalloc(sizeof(float) * steps * nu),
              xmalloc(sizeof(double) * steps * nu),
              xmalloc(steps),
              NULL,
              0};
    Rng ar = rng_make(2, RNG_TEST, 2);
    for (int i = 0; i < steps * nu; i++) p.acts[i] = (float)rng_uniform_range(&ar, -1, 1);
    for (int s = 0; s < steps; s++)
      env_scale_action(e, p.acts + (size_t)s * nu, p.native + (size_t)s * nu);
    /* record the plan: where episodes end and the states resets land in */
    size_t cap = 16;
    p.reset_state = xmalloc(sizeof(double) * cap * (m->nq + m->nv));
    Rng r = rng_make(1, RNG_TEST, 1);
    env_reset(e, &r);
    mjData *ed = env_data(e);
    memcpy(p.reset_state, ed->qpos, sizeof(double) * m->nq);
    memcpy(p.reset_state + m->nq, ed->qvel, sizeof(double) * m->nv);
    p.nresets = 1;
    int len = 0;
    for (int s = 0; s < steps; s++) {
      EnvStep st = env_step(e, p.acts + (size_t)s * nu);
      len++;
      p.reset_after[s] = st.terminated || len == 1000;
      if (p.reset_after[s]) {
        env_reset(e, &r);
        len = 0;
        if ((size_t)p.nresets == cap) {
          p.reset_state = xrealloc(p.reset_state, sizeof(double) * cap * (m->nq + m->nv),
                                   sizeof(double) * 2 * cap * (m->nq + m->nv));
          cap *= 2;
        }
        memcpy(p.reset_state + (size_t)p.nresets * (m->nq + m->nv), ed->qpos,
               sizeof(double) * m->nq);
        memcpy(p.reset_state + (size_t)p.nresets * (m->nq + m->nv) + m->nq, ed->qvel,
               sizeof(double) * m->nv);
        p.nresets++;
      }
    }
    /* the raw loop applies the same native actions and resets to the same states: it walks
     * exactly the trajectory our env walked, so the difference is the wrapper alone */
    double best_o = 1e30, best_r = 1e30;
    for (int k = 0; k < rounds; k++) {
      double to = run_ours(e, &p), tr = run_raw(m, d, &p, fs);
      if (to < best_o) best_o = to;
      if (tr < best_r) best_r = tr;
    }
    printf("%-26s %12.0f %12.0f %9.1f%%\n", env_info(ids[t])->name, steps / best_o, steps / best_r,
           100 * (best_o / best_r - 1));
    mj_deleteData(d);
    env_free(e);
  }
  return 0;
}
