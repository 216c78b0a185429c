/* test_pool — the thread pool runs every task exactly once, on a thread index in range, over
 * many batches; idle workers sleep (no core spent); and the parallel paths give the serial
 * path's numbers bit for bit: phase-1 training (members as tasks) and SAC updates (chains as
 * tasks), float build, the kernels a run uses. */
#include <cblas.h>
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "ensemble.h"
#include "pool.h"
#include "sac.h"
#include "util.h"

typedef struct {
  int hits[64];
  int bad_thread, threads;
  pthread_mutex_t mu;
  int distinct[16];
} Count;

static void count_task(void *ctx, int task, int thread) {
  Count *c = ctx;
  __atomic_fetch_add(&c->hits[task], 1, __ATOMIC_RELAXED);
  if (thread < 0 || thread >= c->threads)
    __atomic_fetch_add(&c->bad_thread, 1, __ATOMIC_RELAXED);
  else
    __atomic_store_n(&c->distinct[thread], 1, __ATOMIC_RELAXED);
  /* a little work so that workers get a share */
  volatile double x = 0;
  for (int i = 0; i < 2000; i++) x += i * 0.5;
}

static void test_every_task_once(void) {
  const int sizes[] = {1, 2, 3, 8};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    Pool *p = pool_make(sizes[k]);
    EXPECT(pool_threads(p) == sizes[k], "threads %d", pool_threads(p));
    Count c = {.threads = sizes[k]};
    int used_other = 0;
    for (int batch = 0; batch < 3000; batch++) {
      const int n = batch % 41;
      memset(c.hits, 0, sizeof c.hits);
      memset(c.distinct, 0, sizeof c.distinct);
      pool_run(p, n, count_task, &c);
      for (int t = 0; t < 64; t++)
        EXPECT(c.hits[t] == (t < n), "%d threads, batch %d: task %d ran %d times", sizes[k], batch,
               t, c.hits[t]);
      for (int t = 1; t < sizes[k]; t++) used_other |= c.distinct[t];
    }
    EXPECT(c.bad_thread == 0, "thread index out of range %d times", c.bad_thread);
    if (sizes[k] > 1) EXPECT(used_other, "%d threads: the workers never ran a task", sizes[k]);
    pool_free(p);
  }
  /* no pool: serial, in order, on thread 0 */
  Count c = {.threads = 1};
  pool_run(NULL, 5, count_task, &c);
  for (int t = 0; t < 5; t++) EXPECT(c.hits[t] == 1, "serial task %d", t);
}

static void test_idle_workers_sleep(void) {
  Pool *p = pool_make(4);
  Count c = {.threads = 4};
  pool_run(p, 8, count_task, &c);
  struct timespec a, b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  struct timespec nap = {0, 300000000};
  nanosleep(&nap, NULL);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  double cpu = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
  /* three workers spinning for 0.3 s would take ~0.9 s of CPU */
  EXPECT(cpu < 0.05, "an idle pool used %.3f s of CPU in 0.3 s", cpu);
  pool_free(p);
}

static EnsConfig ens_config(int threads) {
  EnsConfig c = {.members = 7,
                 .elites = 5,
                 .obs_dim = 5,
                 .act_dim = 2,
                 .hidden = 24,
                 .layers = 3,
                 .batch = 32,
                 .lr = 1e-3,
                 .bound_penalty = 0.01,
                 .improve_threshold = 0.01,
                 .patience = 3,
                 .max_epochs = 6,
                 .init_maxlv = 0.5,
                 .init_minlv = -10,
                 .decay = {2.5e-5, 5e-5, 7.5e-5, 1e-4},
                 .threads = threads};
  return c;
}

static void test_phase1_bitwise(void) {
  const int N = 700, NH = 150, in = 7, D = 6;
  float *x = xmalloc(sizeof(float) * (N + NH) * in), *y = xmalloc(sizeof(float) * (N + NH) * D);
  Rng r = rng_make(3, RNG_TEST, 0);
  for (int i = 0; i < (N + NH) * in; i++) x[i] = (float)rng_normal(&r);
  for (int i = 0; i < N + NH; i++)
    for (int d = 0; d < D; d++)
      y[i * D + d] =
          (float)(0.3 * x[i * in + d % in] * x[i * in + (d + 1) % in] + 0.1 * rng_normal(&r));
  Ensemble *ref = NULL;
  const int threads[] = {1, 2, 3, 7};
  for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
    EnsConfig c = ens_config(threads[k]);
    Ensemble *e = ens_make(&c, 11);
    Pool *p = threads[k] > 1 ? pool_make(threads[k]) : NULL;
    ens_set_pool(e, p);
    /* 7 members on 2 or 3 threads: some members' steps are cut in two (the schedule under
     * test); on 1 or 7 none */
    EXPECT((e->split > 0) == (threads[k] == 2 || threads[k] == 3), "%d threads: %d members cut",
           threads[k], e->split);
    ens_fit_scaler(e, x, N);
    Rng tr = rng_make(5, RNG_MODEL_SPLIT, 0);
    EnsTrainStats st;
    for (int round = 0; round < 2; round++) /* a warm-started second training too */
      ens_train_mle(e, x, y, N, x + (size_t)N * in, y + (size_t)N * D, NH, &tr, &st);
    EXPECT(st.epochs >= 2, "trained %d epochs", st.epochs);
    if (!ref) {
      ref = e;
    } else {
      EXPECT(!memcmp(ref->p, e->p, sizeof(real) * e->ntotal),
             "phase 1 with %d threads differs from 1 thread", threads[k]);
      EXPECT(!memcmp(ref->mse, e->mse, sizeof(double) * 7), "holdout MSE differs (%d threads)",
             threads[k]);
      EXPECT(!memcmp(ref->elite, e->elite, sizeof(int) * 5), "elites differ");
      ens_free(e);
    }
    pool_free(p);
  }
  ens_free(ref);
  xfree(x), xfree(y);
}

static void test_sac_bitwise(void) {
  SacConfig c = {.obs_dim = 6,
                 .act_dim = 3,
                 .hidden = 32,
                 .layers = 2,
                 .batch = 48,
                 .lr = 3e-4,
                 .gamma = 0.99,
                 .tau = 0.005,
                 .target_entropy = -3,
                 .reward_scale = 1,
                 .logstd_min = -20,
                 .logstd_max = 2,
                 .init_log_alpha = 0};
  Sac *a = sac_make(&c, 9), *b = sac_make(&c, 9);
  Pool *p = pool_make(3);
  sac_set_pool(b, p);
  const int B = c.batch;
  real *obs = xmalloc(sizeof(real) * B * 6), *act = xmalloc(sizeof(real) * B * 3);
  real *rew = xmalloc(sizeof(real) * B), *next = xmalloc(sizeof(real) * B * 6);
  real *done = xmalloc(sizeof(real) * B);
  Rng r = rng_make(4, RNG_TEST, 1);
  for (int u = 0; u < 60; u++) {
    for (int i = 0; i < B * 6; i++) obs[i] = (real)rng_normal(&r), next[i] = (real)rng_normal(&r);
    for (int i = 0; i < B * 3; i++) act[i] = (real)(0.9 * tanh(rng_normal(&r)));
    for (int i = 0; i < B; i++) rew[i] = (real)rng_normal(&r), done[i] = (real)(i % 13 == 0);
    sac_set_batch(a, obs, act, rew, next, done);
    sac_set_batch(b, obs, act, rew, next, done);
    sac_update(a);
    sac_update(b);
  }
  EXPECT(!memcmp(a->pi, b->pi, sizeof(real) * a->pi_net.nparam), "policy differs with a pool");
  EXPECT(!memcmp(a->q, b->q, sizeof(real) * a->q_net.nparam), "critics differ with a pool");
  EXPECT(!memcmp(a->q_targ, b->q_targ, sizeof(real) * a->q_net.nparam), "targets differ");
  EXPECT(a->log_alpha == b->log_alpha, "temperature differs");
  EXPECT(a->last.q_loss == b->last.q_loss && a->last.pi_loss == b->last.pi_loss, "losses differ");
  xfree(obs), xfree(act), xfree(rew), xfree(next), xfree(done);
  sac_free(a), sac_free(b);
  pool_free(p);
}

int main(void) {
  openblas_set_num_threads(1); /* as a run sets it: our threads call OpenBLAS concurrently */
  RUN(test_every_task_once);
  RUN(test_idle_workers_sleep);
  RUN(test_phase1_bitwise);
  RUN(test_sac_bitwise);
  CHECK_DONE();
}
