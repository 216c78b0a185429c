/* pool — a fixed set of worker threads that run a batch of independent tasks and return.
 *
 * The caller is thread 0 and works too; threads 1..n-1 are started once (pool_make) and wait on
 * a condition variable between batches (a short spin first, then they sleep), so an idle pool
 * takes no core from a busy rank. Tasks are claimed in index order by whichever thread is free.
 *
 * Determinism is the caller's contract: a task must compute the same numbers whichever thread
 * runs it and in whatever order (own outputs, per-task or per-thread scratch, reductions done
 * afterwards in task order). Then a result never depends on the thread count. */
#ifndef USBPO_POOL_H
#define USBPO_POOL_H

typedef struct Pool Pool;

/* fn(ctx, task, thread): thread in [0, pool_threads) names the scratch the task may use */
typedef void (*PoolTask)(void *ctx, int task, int thread);

/* threads >= 1 (1: no worker, pool_run runs the tasks in the caller, in order) */
Pool *pool_make(int threads);
/* how long idle threads poll before they sleep, for the pools made after this call: POOL_SPIN
 * (the default, a few tens of microseconds: right when each thread has a core of its own) or 0
 * (sleep at once: right when the threads share cores with other busy threads or processes,
 * where polling would take the core from one of them) */
#define POOL_SPIN 20000
void pool_set_spin(int rounds);
void pool_free(Pool *p);
int pool_threads(const Pool *p);
/* run tasks 0..ntasks-1 and return when all are done; p may be NULL (serial). Not reentrant. */
void pool_run(Pool *p, int ntasks, PoolTask fn, void *ctx);

/* cores this process may run on (its affinity mask), at least 1 */
int pool_cores_available(void);

#endif
