/* termfn — MBPO's rollout termination functions (mbpo/static/ENV.py), applied to batches of
 * model-predicted next observations (spec §4.10 of usbpo-algorithm.md, §4 of environments.md).
 *
 * faithful (default) keeps the official quirks:
 *   hopper    abs() applied to a boolean: only o[1:] < 100 is tested, no lower bound
 *   walker2d  no finiteness test (NaN still ends through the comparisons)
 *   humanoid  NaN height does not end a rollout
 *   idp       tip height rebuilt from the angles; NaN does not end a rollout
 * fixed tests |o[1:]| < 100 for hopper and ends every rollout whose prediction is not finite. */
#include <math.h>

#include "env.h"

static int finite_row(const float *o, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(o[i])) return 0;
  return 1;
}

void env_termination_batch(int id, int fixed, const float *next_obs, int n, uint8_t *done) {
  const int d = env_info(id)->obs_dim;
  for (int r = 0; r < n; r++) {
    const float *o = next_obs + (size_t)r * d;
    int end = 0;
    switch (id) {
    case ENV_HOPPER: {
      int ok = finite_row(o, d) && o[0] > 0.7f && fabsf(o[1]) < 0.2f;
      for (int i = 1; i < d && ok; i++) ok = fixed ? fabsf(o[i]) < 100.0f : o[i] < 100.0f;
      end = !ok;
      break;
    }
    case ENV_WALKER2D:
      end = !(o[0] > 0.8f && o[0] < 2.0f && o[1] > -1.0f && o[1] < 1.0f);
      break;
    case ENV_HALFCHEETAH:
      end = 0;
      break;
    case ENV_ANT:
    case ENV_ANT_FULL:
      end = !(finite_row(o, d) && o[0] >= 0.2f && o[0] <= 1.0f);
      break;
    case ENV_HUMANOID:
    case ENV_HUMANOID_FULL:
      end = o[0] < 1.0f || o[0] > 2.0f;
      break;
    case ENV_INVERTED_PENDULUM:
      end = !(finite_row(o, d) && fabsf(o[1]) <= 0.2f);
      break;
    case ENV_INVERTED_DOUBLE_PENDULUM: {
      double th1 = atan2(o[1], o[3]), th2 = atan2(o[2], o[4]);
      double y = 0.6 * (o[3] + cos(th1 + th2));
      end = y <= 1.0;
      break;
    }
    }
    if (fixed && !end && !finite_row(o, d)) end = 1;
    done[r] = (uint8_t)end;
  }
}
