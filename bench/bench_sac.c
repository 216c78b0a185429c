/* bench_sac — SAC updates/s at Hopper sizes (obs 11, act 3, batch 256, 256x256 hidden) against
 * the OpenBLAS sgemm floor: the same 45 GEMM calls of one update (target, critics, actor and
 * their backward passes) timed in the same run.
 *   bench_sac [rounds] */
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "sac.h"

typedef struct {
  Sac *s;
  Buffer *real_buf, *model_buf;
  float *a[8], *b[8], *c[8]; /* floor operands, big enough for every shape */
} Ctx;

static void ours(void *v) {
  Ctx *x = v;
  sac_sample_batch(x->s, x->real_buf, x->model_buf, 12);
  sac_update(x->s);
}

static void gemm(int ta, int tb, int m, int n, int k, const float *A, const float *B, float *C) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, 1.0f, A, ta ? m : k, B, tb ? k : n, 0.0f, C, n);
}

/* forward of a 3-layer net (in -> h -> h -> out), per member */
static void fwd(Ctx *x, int rows, int in, int h, int out) {
  gemm(0, 0, rows, h, in, x->a[0], x->b[0], x->c[0]);
  gemm(0, 0, rows, h, h, x->c[0], x->b[1], x->c[1]);
  gemm(0, 0, rows, out, h, x->c[1], x->b[2], x->c[2]);
}
/* backward: dW for every layer, dX for layers >= from */
static void bwd(Ctx *x, int rows, int in, int h, int out, int dx_from) {
  gemm(1, 0, h, out, rows, x->c[1], x->c[2], x->b[3]);
  gemm(0, 1, rows, h, out, x->c[2], x->b[2], x->c[3]);
  gemm(1, 0, h, h, rows, x->c[0], x->c[3], x->b[4]);
  gemm(0, 1, rows, h, h, x->c[3], x->b[1], x->c[4]);
  gemm(1, 0, in, h, rows, x->a[0], x->c[4], x->b[5]);
  if (dx_from == 0) gemm(0, 1, rows, in, h, x->c[4], x->b[0], x->c[5]);
}
static void dx_only(Ctx *x, int rows, int in, int h, int out) {
  gemm(0, 1, rows, h, out, x->c[2], x->b[2], x->c[3]);
  gemm(0, 1, rows, h, h, x->c[3], x->b[1], x->c[4]);
  gemm(0, 1, rows, in, h, x->c[4], x->b[0], x->c[5]);
}

static void floor_gemms(void *v) {
  Ctx *x = v;
  const int B = 256, od = 11, ad = 3, h = 256;
  fwd(x, B, od, h, 2 * ad);                                 /* policy on s' */
  for (int e = 0; e < 2; e++) fwd(x, B, od + ad, h, 1);     /* target critics */
  for (int e = 0; e < 2; e++) fwd(x, B, od + ad, h, 1);     /* critics on (s, a) */
  for (int e = 0; e < 2; e++) bwd(x, B, od + ad, h, 1, 1);  /* their backward */
  fwd(x, B, od, h, 2 * ad);                                 /* policy on s */
  for (int e = 0; e < 2; e++) fwd(x, B, od + ad, h, 1);     /* critics on (s, a~) */
  for (int e = 0; e < 2; e++) dx_only(x, B, od + ad, h, 1); /* dQ/da~ */
  bwd(x, B, od, h, 2 * ad, 1);                              /* policy backward */
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 10;
  openblas_set_num_threads(1);
  bench_header("bench_sac: one SAC update (Hopper sizes) vs its 45 sgemm calls");
  SacConfig c = {.obs_dim = 11,
                 .act_dim = 3,
                 .hidden = 256,
                 .layers = 2,
                 .batch = 256,
                 .lr = 3e-4,
                 .gamma = 0.99,
                 .tau = 5e-3,
                 .target_entropy = -1,
                 .reward_scale = 1,
                 .logstd_min = -20,
                 .logstd_max = 2,
                 .init_log_alpha = 0};
  Ctx x;
  x.s = sac_make(&c, 1);
  x.real_buf = buf_make(11, 3, 100000);
  x.model_buf = buf_make(11, 3, 400000);
  Rng r = rng_make(1, RNG_TEST, 0);
  float o[11], a[3], n[11], rw;
  uint8_t d;
  for (int i = 0; i < 400000; i++) {
    for (int k = 0; k < 11; k++) o[k] = (float)rng_normal(&r), n[k] = (float)rng_normal(&r);
    for (int k = 0; k < 3; k++) a[k] = (float)rng_uniform_range(&r, -1, 1);
    rw = (float)rng_normal(&r);
    d = i % 50 == 0;
    if (i < 100000) buf_push(x.real_buf, 1, o, a, &rw, n, &d);
    buf_push(x.model_buf, 1, o, a, &rw, n, &d);
  }
  for (int i = 0; i < 8; i++) {
    x.a[i] = xmalloc(sizeof(float) * 256 * 256);
    x.b[i] = xmalloc(sizeof(float) * 256 * 256);
    x.c[i] = xmalloc(sizeof(float) * 256 * 256);
    for (int k = 0; k < 256 * 256; k++)
      x.a[i][k] = (float)rng_normal(&r) * 0.1f, x.b[i][k] = (float)rng_normal(&r) * 0.1f,
      x.c[i][k] = (float)rng_normal(&r) * 0.1f;
  }
  double t_ours, t_floor;
  bench_pair(ours, &x, floor_gemms, &x, 50, rounds, &t_ours, &t_floor);
  printf("%-34s %12s %12s %8s %8s\n", "", "ours", "sgemm floor", "ratio", "paired");
  printf("%-34s %10.1f us %10.1f us %8.3f %8.3f\n", "time per update", t_ours * 1e6, t_floor * 1e6,
         t_ours / t_floor, bench_paired_ratio());
  printf("%-34s %12.0f %12.0f\n", "updates/s", 1 / t_ours, 1 / t_floor);
  return 0;
}
