/* pool — see pool.h. One mutex and two condition variables; a batch is published by bumping
 * a generation counter; tasks are claimed with an atomic counter. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "util.h"

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

static atomic_int g_spin = POOL_SPIN; /* rounds of polling for pools made from now on */

struct Pool {
  int n, spin;
  pthread_t *tid;
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  atomic_long gen; /* batch generation (workers wait for a new one) */
  atomic_int next; /* next unclaimed task */
  atomic_int busy; /* workers still inside the current batch */
  int ntasks, quit;
  PoolTask fn;
  void *ctx;
};

typedef struct {
  Pool *p;
  int id;
} Worker;

static void run_tasks(Pool *p, int thread) {
  for (;;) {
    int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_acq_rel);
    if (t >= p->ntasks) return;
    p->fn(p->ctx, t, thread);
  }
}

static void *worker(void *arg) {
  Worker w = *(Worker *)arg;
  xfree(arg);
  Pool *p = w.p;
  long seen = 0;
  for (;;) {
    long g = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (int i = 0; g == seen && i < p->spin; i++) {
      CPU_RELAX();
      g = atomic_load_explicit(&p->gen, memory_order_acquire);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->quit)
        pthread_cond_wait(&p->go, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (p->quit) return NULL;
    seen = g;
    run_tasks(p, w.id);
    if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

Pool *pool_make(int threads) {
  CHECK(threads >= 1 && threads <= 1024, "pool: %d threads", threads);
  Pool *p = xmalloc(sizeof *p);
  memset(p, 0, sizeof *p);
  p->n = threads;
  p->spin = atomic_load(&g_spin);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->go, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->gen, 0);
  atomic_init(&p->next, 0);
  atomic_init(&p->busy, 0);
  p->tid = xmalloc(sizeof(pthread_t) * (size_t)threads);
  for (int i = 1; i < threads; i++) {
    Worker *w = xmalloc(sizeof *w);
    w->p = p, w->id = i;
    CHECK(pthread_create(&p->tid[i], NULL, worker, w) == 0, "pool: cannot start thread %d", i);
  }
  return p;
}

void pool_set_spin(int rounds) {
  atomic_store(&g_spin, rounds > 0 ? rounds : 0);
}

void pool_free(Pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  atomic_fetch_add(&p->gen, 1);
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->go);
  pthread_cond_destroy(&p->done);
  xfree(p->tid);
  xfree(p);
}

int pool_threads(const Pool *p) {
  return p ? p->n : 1;
}

void pool_run(Pool *p, int ntasks, PoolTask fn, void *ctx) {
  if (!p || p->n == 1 || ntasks <= 1) {
    for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
    return;
  }
  p->fn = fn, p->ctx = ctx, p->ntasks = ntasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->busy, p->n - 1, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->go);
  pthread_mutex_unlock(&p->mu);
  run_tasks(p, 0);
  /* the workers' own claims may still be running: wait for every one to leave the batch */
  for (int i = 0; i < p->spin && atomic_load_explicit(&p->busy, memory_order_acquire); i++)
    CPU_RELAX();
  if (atomic_load_explicit(&p->busy, memory_order_acquire)) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->busy, memory_order_acquire))
      pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}

int pool_cores_available(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  return 1;
}
