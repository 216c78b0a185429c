/* bench_nn — forward + backward (parameter gradients) of the networks usbpo trains, against
 * the OpenBLAS sgemm floor: the same GEMM calls at the same shapes, timed in the same run.
 *   bench_nn [rounds]      prints time per call and the ratio ours / floor */
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "nn.h"

typedef struct {
  const char *name;
  NnNet net;
  int rows;
  float *p, *g, *x, *dy;
  NnTape *t;
  /* floor buffers */
  float *fa[NN_MAX_LAYERS + 1], *fd[NN_MAX_LAYERS + 1];
} Case;

static void ours(void *v) {
  Case *c = v;
  nn_forward(&c->net, c->p, c->t, c->x, c->rows, 0);
  nn_backward(&c->net, c->p, c->t, c->dy, c->g, 0, NULL);
}

/* exactly the GEMMs of ours(): forward per layer and member; backward dW per layer and member,
 * dX for every layer but the first */
static void floor_gemms(void *v) {
  Case *c = v;
  const NnNet *n = &c->net;
  const int rows = c->rows;
  for (int l = 0; l < n->nlayers; l++) {
    const NnLayer *L = &n->layer[l];
    for (int e = 0; e < n->ens; e++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, L->out, L->in, 1,
                  c->fa[l] + (size_t)e * rows * L->in, L->in, nn_w(n, c->p, l, e), L->out, 0,
                  c->fa[l + 1] + (size_t)e * rows * L->out, L->out);
  }
  for (int l = n->nlayers - 1; l >= 0; l--) {
    const NnLayer *L = &n->layer[l];
    for (int e = 0; e < n->ens; e++)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L->in, L->out, rows, 1,
                  c->fa[l] + (size_t)e * rows * L->in, L->in,
                  c->fd[l + 1] + (size_t)e * rows * L->out, L->out, 0, nn_w(n, c->g, l, e), L->out);
    if (l == 0) break;
    for (int e = 0; e < n->ens; e++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, L->in, L->out, 1,
                  c->fd[l + 1] + (size_t)e * rows * L->out, L->out, nn_w(n, c->p, l, e), L->out, 0,
                  c->fd[l] + (size_t)e * rows * L->in, L->in);
  }
}

static void setup(Case *c, const char *name, int ens, int nl, const int *sizes, NnAct h, int rows) {
  c->name = name;
  nn_net_init(&c->net, ens, nl, sizes, h, NN_IDENTITY);
  c->rows = rows;
  c->p = xmalloc(sizeof(float) * c->net.nparam);
  c->g = xmalloc(sizeof(float) * c->net.nparam);
  Rng r = rng_make(1, RNG_TEST, 0);
  nn_init_truncnormal(&c->net, c->p, &r);
  size_t nx = (size_t)ens * rows * sizes[0], ny = (size_t)ens * rows * sizes[nl];
  c->x = xmalloc(sizeof(float) * nx);
  c->dy = xmalloc(sizeof(float) * ny);
  for (size_t i = 0; i < nx; i++) c->x[i] = (float)rng_normal(&r);
  for (size_t i = 0; i < ny; i++) c->dy[i] = (float)rng_normal(&r);
  c->t = nn_tape_make(&c->net, rows);
  for (int l = 0; l <= nl; l++) {
    c->fa[l] = xmalloc(sizeof(float) * ens * rows * sizes[l]);
    c->fd[l] = xmalloc(sizeof(float) * ens * rows * sizes[l]);
    for (size_t i = 0; i < (size_t)ens * rows * sizes[l]; i++)
      c->fa[l][i] = (float)rng_normal(&r), c->fd[l][i] = (float)rng_normal(&r);
  }
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 15;
  openblas_set_num_threads(1);
  bench_header("bench_nn: forward + backward (parameter gradients) vs the same sgemm calls");
  static Case cases[3];
  int q[] = {14, 256, 256, 1}, pi[] = {11, 256, 256, 6}, m[] = {14, 200, 200, 200, 200, 24};
  setup(&cases[0], "SAC Q      256 x 14-256-256-1 (relu)", 1, 3, q, NN_RELU, 256);
  setup(&cases[1], "SAC policy 256 x 11-256-256-6 (relu)", 1, 3, pi, NN_RELU, 256);
  setup(&cases[2], "ensemble 7 x 256 x 14-200x4-24 (swish)", 7, 5, m, NN_SWISH, 256);
  printf("%-42s %12s %12s %8s %8s\n", "shape", "ours us", "sgemm us", "ratio", "paired");
  for (int i = 0; i < 3; i++) {
    Case *c = &cases[i];
    double a, b;
    int reps = i == 2 ? 10 : 100;
    bench_pair(ours, c, floor_gemms, c, reps, rounds, &a, &b);
    printf("%-42s %12.1f %12.1f %8.3f %8.3f\n", c->name, a * 1e6, b * 1e6, a / b,
           bench_paired_ratio());
  }
  return 0;
}
