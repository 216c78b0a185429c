/* test_batch — what the learner feeds SAC and what the actor stores, computed independently:
 *  * the rows of a SAC batch from each buffer, exactly: floor(batch x real_ratio) real rows and
 *    the rest model rows for mbpo and usbpo (spec §3.8), all real for SAC and before the model
 *    buffer holds anything; every row tagged by its source;
 *  * an episode cut at env.max_episode_steps is a truncation: its last transition is stored
 *    with done = 0 and the episode reported as not terminated; an episode that ends by the
 *    task's rule stores done = 1 on its last transition only;
 *  * async mode's filter keeps model rows within both lag limits and drops the others. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "buffer.h"
#include "check.h"
#include "config.h"
#include "sac.h"
#include "setup.h"
#include "util.h"

static void load(Config *c, const char *const *sets, int n) {
  CfgErrors errs = {0};
  CHECK(cfg_load_text(c, "[env]\nname = \"hopper\"\n", "test", sets, n, &errs) == 0, "%s",
        errs.text ? errs.text : "config");
  cfg_errors_free(&errs);
}

/* a buffer of n rows whose observations all carry `tag` + the row number in every entry */
static Buffer *tagged(int od, int ad, int n, float tag) {
  Buffer *b = buf_make(od, ad, n);
  float *o = calloc((size_t)od, sizeof(float)), *a = calloc((size_t)ad, sizeof(float)), r = 0;
  uint8_t d = 0;
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < od; k++) o[k] = tag + (float)i;
    buf_push(b, 1, o, a, &r, o, &d);
  }
  free(o), free(a);
  return b;
}

static void count_sources(const Sac *s, int *nreal, int *nmodel) {
  *nreal = *nmodel = 0;
  for (int j = 0; j < s->c.batch; j++) {
    const real v = s->s[(size_t)j * s->c.obs_dim];
    if (v >= 10000)
      ++*nreal;
    else if (v <= -10000)
      ++*nmodel;
  }
}

static void test_batch_share(void) {
  static const struct {
    const char *algo;
    const char *ratio;
    int batch, want_real;
  } cases[] = {{"mbpo", "0.05", 256, 12}, {"usbpo", "0.05", 256, 12}, {"mbpo", "0.5", 100, 50},
               {"usbpo", "0.25", 64, 16}, {"sac", "0.05", 256, 256},  {"mbpo", "0.999", 10, 9}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char a[64], r[64], b[64];
    snprintf(a, sizeof a, "run.algo=%s", cases[k].algo);
    snprintf(r, sizeof r, "sac.real_ratio=%s", cases[k].ratio);
    snprintf(b, sizeof b, "sac.batch_size=%d", cases[k].batch);
    const char *sets[] = {a, r, b, "sac.hidden=8"};
    Config c;
    load(&c, sets, 4);
    const int nr = setup_sac_real_rows(&c);
    EXPECT(nr == cases[k].want_real, "%s, real_ratio %s, batch %d: %d real rows, want %d",
           cases[k].algo, cases[k].ratio, cases[k].batch, nr, cases[k].want_real);
    SacConfig sc = setup_sac(&c);
    Sac *s = sac_make(&sc, 3);
    Buffer *real_buf = tagged(sc.obs_dim, sc.act_dim, 500, 10000);
    Buffer *model_buf = tagged(sc.obs_dim, sc.act_dim, 700, -10700);
    int got_r, got_m;
    for (int rep = 0; rep < 3; rep++) { /* every batch, not one by chance */
      sac_sample_batch(s, real_buf, model_buf, nr);
      count_sources(s, &got_r, &got_m);
      EXPECT(got_r == nr && got_m == sc.batch - nr,
             "%s %s: batch of %d has %d real and %d model rows, want %d and %d", cases[k].algo,
             cases[k].ratio, sc.batch, got_r, got_m, nr, sc.batch - nr);
    }
    /* no model rows yet: the whole batch is real */
    Buffer *empty = buf_make(sc.obs_dim, sc.act_dim, 10);
    sac_sample_batch(s, real_buf, empty, nr);
    count_sources(s, &got_r, &got_m);
    EXPECT(got_r == sc.batch, "%s: an empty model buffer gives %d real rows of %d", cases[k].algo,
           got_r, sc.batch);
    buf_free(empty), buf_free(real_buf), buf_free(model_buf);
    sac_free(s);
  }
}

/* the actor's stored done flags against the episode's end */
static void run_episode(const char *env, int max_steps, int want_terminated) {
  char e[64], m[64];
  snprintf(e, sizeof e, "env.name=%s", env);
  snprintf(m, sizeof m, "env.max_episode_steps=%d", max_steps);
  const char *sets[] = {e, m};
  Config c;
  load(&c, sets, 2);
  char err[256];
  Actor *a = actor_make(&c, 0, err, sizeof err);
  CHECK(a, "%s", err);
  int ended = 0, terminated = 0, steps = 0, flags_ok = 1, rows = 0, len = 0;
  while (!ended && steps < 100000) {
    ActorStep st = actor_step(a, NULL, NULL, NULL);
    steps++;
    if (st.handover) {
      rows = st.handover;
      for (int r = 0; r < rows - 1; r++) flags_ok &= a->ep_done[r] == 0;
      len = st.ep_length;
      ended = st.ended;
      terminated = st.terminated;
      if (ended) {
        const int last = a->ep_done[rows - 1];
        EXPECT(last == want_terminated,
               "%s, cap %d: the last transition is stored with done = %d (the episode %s)", env,
               max_steps, last, want_terminated ? "terminated" : "was cut at the cap");
      }
      actor_handed_over(a);
    }
  }
  EXPECT(ended && terminated == want_terminated, "%s: ended %d, terminated %d, want %d", env, ended,
         terminated, want_terminated);
  EXPECT(flags_ok, "%s: a transition before the last is stored as terminal", env);
  if (!want_terminated)
    EXPECT(len == max_steps && rows == max_steps, "%s: %d steps, %d rows at the cap of %d", env,
           len, rows, max_steps);
  actor_free(a);
}

static void test_truncation_is_not_termination(void) {
  run_episode("halfcheetah", 17, 0);           /* never terminates: cut at the cap */
  run_episode("ant", 30, 0);                   /* healthy for its first steps: cut at the cap */
  run_episode("inverted_pendulum", 100000, 1); /* random actions tip it over: terminated */
}

/* the async filter: rows past either lag limit are dropped, rows within both are kept */
static void test_async_filter(void) {
  const char *sets[] = {"runtime.max_policy_lag=4", "runtime.max_model_lag=1"};
  Config c;
  load(&c, sets, 2);
  static const struct {
    double plag;
    int64_t mlag;
    int keep;
  } cases[] = {{0, 0, 1},   {4, 1, 1},   {4.0001, 0, 0}, {0, 2, 0},   {5, 2, 0},
               {3.5, 1, 1}, {100, 0, 0}, {0, 100, 0},    {-1, -1, 1}, {4, 2, 0}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const int got = setup_rows_fresh(&c, cases[k].plag, cases[k].mlag);
    EXPECT(got == cases[k].keep, "policy lag %g, model lag %lld: %s, want %s", cases[k].plag,
           (long long)cases[k].mlag, got ? "kept" : "dropped", cases[k].keep ? "kept" : "dropped");
  }
}

int main(void) {
  RUN(test_batch_share);
  RUN(test_truncation_is_not_termination);
  RUN(test_async_filter);
  CHECK_DONE();
}
