/* test_nn — gradient checks of the dense / ensemble-dense layers, activations, MLP, decay,
 * and Adam against hand-computed steps. Built against the double-precision core. */
#include <stdlib.h>

#include "check.h"
#include "gradcheck.h"
#include "nn.h"
#include "util.h"

#ifndef USBPO_DOUBLE
#error "test_nn checks gradients in double precision: build with the f64 core"
#endif

#define TOL 1e-6

typedef struct {
  NnNet net;
  NnTape *tape;
  double *param, *grad, *x, *dx, *c; /* c: loss weights, loss = sum c .* y (+ quadratic) */
  int rows, shared;
  int quad;        /* loss = 0.5 sum (y - c)^2 instead */
  int only_member; /* >= 0: loss reads that member's outputs only */
} Ctx;

static double ctx_loss(void *p) {
  Ctx *k = p;
  const double *y = nn_forward(&k->net, k->param, k->tape, k->x, k->rows, k->shared);
  size_t per = (size_t)k->rows * k->net.out;
  double s = 0;
  for (int e = 0; e < k->net.ens; e++) {
    if (k->only_member >= 0 && e != k->only_member) continue;
    for (size_t i = e * per; i < (e + 1) * per; i++)
      s += k->quad ? 0.5 * (y[i] - k->c[i]) * (y[i] - k->c[i]) : k->c[i] * y[i];
  }
  return s;
}

/* analytic gradients of ctx_loss into k->grad and k->dx */
static void ctx_backward(Ctx *k) {
  const double *y = nn_forward(&k->net, k->param, k->tape, k->x, k->rows, k->shared);
  size_t n = (size_t)k->net.ens * k->rows * k->net.out, per = (size_t)k->rows * k->net.out;
  double *dy = malloc(sizeof(double) * n);
  for (size_t i = 0; i < n; i++) {
    int e = (int)(i / per);
    int on = k->only_member < 0 || e == k->only_member;
    dy[i] = on ? (k->quad ? y[i] - k->c[i] : k->c[i]) : 0;
  }
  nn_backward(&k->net, k->param, k->tape, dy, k->grad, 0, k->dx);
  free(dy);
}

static void ctx_make(Ctx *k, int ens, int nl, const int *sizes, NnAct h, NnAct o, int rows,
                     int shared, uint64_t seed) {
  memset(k, 0, sizeof *k);
  REQUIRE(nn_net_init(&k->net, ens, nl, sizes, h, o) == 0, "net init");
  k->rows = rows;
  k->shared = shared;
  k->only_member = -1;
  k->tape = nn_tape_make(&k->net, rows);
  k->param = xmalloc(sizeof(double) * k->net.nparam);
  k->grad = xmalloc(sizeof(double) * k->net.nparam);
  size_t nx = (size_t)(shared ? 1 : ens) * rows * k->net.in;
  k->x = xmalloc(sizeof(double) * nx);
  k->dx = xmalloc(sizeof(double) * nx);
  k->c = xmalloc(sizeof(double) * (size_t)ens * rows * k->net.out);
  Rng r = rng_make((uint32_t)seed, RNG_TEST, 0);
  nn_init_glorot_uniform(&k->net, k->param, &r);
  /* non-zero biases so their gradients are exercised away from the origin */
  for (int l = 0; l < k->net.nlayers; l++)
    for (int e = 0; e < ens; e++)
      for (int j = 0; j < k->net.layer[l].out; j++)
        nn_b(&k->net, k->param, l, e)[j] = 0.3 * (rng_uniform(&r) - 0.5);
  for (size_t i = 0; i < nx; i++) k->x[i] = 2 * rng_uniform(&r) - 1;
  for (size_t i = 0; i < (size_t)ens * rows * k->net.out; i++) k->c[i] = rng_normal(&r);
}

static void ctx_free(Ctx *k) {
  nn_tape_free(k->tape);
  xfree(k->param), xfree(k->grad), xfree(k->x), xfree(k->dx), xfree(k->c);
}

static double check_all(Ctx *k, const char *what) {
  ctx_backward(k);
  double e1 = gc_check(what, ctx_loss, k, k->param, k->grad, k->net.nparam, 1, 1e-5, 1e-7, 1);
  size_t nx = (size_t)(k->shared ? 1 : k->net.ens) * k->rows * k->net.in;
  char w2[96];
  snprintf(w2, sizeof w2, "%s (input)", what);
  double e2 = gc_check(w2, ctx_loss, k, k->x, k->dx, nx, 1, 1e-5, 1e-7, 1);
  return e1 > e2 ? e1 : e2;
}

static void test_each_activation(void) {
  static const char *names[] = {"identity", "relu", "tanh", "swish"};
  for (int a = 0; a < 4; a++) {
    Ctx k;
    int sizes[] = {5, 7};
    ctx_make(&k, 1, 1, sizes, (NnAct)a, (NnAct)a, 6, 0, 10 + a);
    char what[64];
    snprintf(what, sizeof what, "dense %s", names[a]);
    double err = check_all(&k, what);
    EXPECT(err < TOL, "%s: gradient error %g", what, err);
    ctx_free(&k);
  }
}

static void test_mlp(void) {
  /* the SAC and model shapes in miniature: ReLU and swish hidden layers, linear output */
  NnAct hidden[] = {NN_RELU, NN_SWISH, NN_TANH};
  for (int h = 0; h < 3; h++) {
    Ctx k;
    int sizes[] = {4, 9, 8, 3};
    ctx_make(&k, 1, 3, sizes, hidden[h], NN_IDENTITY, 5, 0, 20 + h);
    k.quad = 1;
    double err = check_all(&k, "mlp");
    EXPECT(err < TOL, "mlp hidden act %d: gradient error %g", h, err);
    ctx_free(&k);
  }
}

static void test_ensemble(void) {
  /* per-member inputs */
  Ctx k;
  int sizes[] = {3, 6, 5, 4};
  ctx_make(&k, 4, 3, sizes, NN_SWISH, NN_IDENTITY, 5, 0, 31);
  double err = check_all(&k, "ensemble (own inputs)");
  EXPECT(err < TOL, "ensemble gradient error %g", err);

  /* isolation: a loss on member 2 alone gives exactly zero gradient to the others, and
   * changing member 0's weights leaves members 1..3's outputs bit-identical */
  k.only_member = 2;
  ctx_backward(&k);
  int leak = 0;
  for (int l = 0; l < k.net.nlayers; l++)
    for (int e = 0; e < 4; e++) {
      if (e == 2) continue;
      const NnLayer *L = &k.net.layer[l];
      double *gw = nn_w(&k.net, k.grad, l, e), *gb = nn_b(&k.net, k.grad, l, e);
      for (int i = 0; i < L->in * L->out; i++) leak += gw[i] != 0;
      for (int i = 0; i < L->out; i++) leak += gb[i] != 0;
    }
  EXPECT(leak == 0, "%d gradient entries leaked into other members", leak);
  size_t per = (size_t)k.rows * k.net.out;
  double *before = malloc(sizeof(double) * 4 * per);
  memcpy(before, nn_forward(&k.net, k.param, k.tape, k.x, k.rows, 0), sizeof(double) * 4 * per);
  for (int l = 0; l < k.net.nlayers; l++) nn_w(&k.net, k.param, l, 0)[0] += 0.5;
  const double *after = nn_forward(&k.net, k.param, k.tape, k.x, k.rows, 0);
  EXPECT(memcmp(before + per, after + per, sizeof(double) * 3 * per) == 0,
         "member 0's weights changed other members' outputs");
  EXPECT(memcmp(before, after, sizeof(double) * per) != 0, "member 0 did not change");
  free(before);
  ctx_free(&k);

  /* shared input: the input gradient sums over members */
  Ctx s;
  ctx_make(&s, 3, 3, sizes, NN_SWISH, NN_IDENTITY, 4, 1, 32);
  err = check_all(&s, "ensemble (shared input)");
  EXPECT(err < TOL, "shared-input ensemble gradient error %g", err);
  ctx_free(&s);
}

static void test_accumulate_and_no_param_grad(void) {
  Ctx k;
  int sizes[] = {3, 5, 2};
  ctx_make(&k, 2, 2, sizes, NN_RELU, NN_IDENTITY, 4, 0, 41);
  ctx_backward(&k);
  double *g1 = malloc(sizeof(double) * k.net.nparam);
  memcpy(g1, k.grad, sizeof(double) * k.net.nparam);
  size_t nout = (size_t)2 * 4 * 2;
  nn_forward(&k.net, k.param, k.tape, k.x, k.rows, 0);
  nn_backward(&k.net, k.param, k.tape, k.c, k.grad, 1, NULL);
  int ok = 1;
  for (size_t i = 0; i < k.net.nparam; i++) ok &= fabs(k.grad[i] - 2 * g1[i]) < 1e-12;
  EXPECT(ok, "accumulate did not add");
  /* input gradient without parameter gradients is the same input gradient */
  double *dx1 = malloc(sizeof(double) * 2 * 4 * 3);
  memcpy(dx1, k.dx, sizeof(double) * 2 * 4 * 3);
  memset(k.dx, 0, sizeof(double) * 2 * 4 * 3);
  nn_forward(&k.net, k.param, k.tape, k.x, k.rows, 0);
  nn_backward(&k.net, k.param, k.tape, k.c, NULL, 0, k.dx);
  EXPECT(memcmp(dx1, k.dx, sizeof(double) * 2 * 4 * 3) == 0, "dx differs without param grads");
  (void)nout;
  free(g1);
  free(dx1);
  ctx_free(&k);
}

/* a member's backward cut at any layer and run in its two parts, members interleaved (as the
 * ensemble's phase-1 schedule runs them on two threads): the same gradients, bit for bit, as the
 * whole backward, with and without an input gradient */
static void test_backward_cut(void) {
  Ctx k;
  int sizes[] = {3, 6, 5, 4, 2};
  ctx_make(&k, 3, 4, sizes, NN_SWISH, NN_IDENTITY, 5, 0, 51);
  const int L = k.net.nlayers;
  const size_t np = k.net.nparam, nx = (size_t)3 * 5 * 3;
  ctx_backward(&k);
  double *g0 = xmalloc(sizeof(double) * np), *dx0 = xmalloc(sizeof(double) * nx);
  memcpy(g0, k.grad, sizeof(double) * np);
  memcpy(dx0, k.dx, sizeof(double) * nx);
  for (int with_dx = 0; with_dx < 2; with_dx++)
    for (int cut = 0; cut <= L; cut++) {
      nn_forward(&k.net, k.param, k.tape, k.x, k.rows, 0);
      memset(k.grad, 0, sizeof(double) * np);
      memset(k.dx, 0, sizeof(double) * nx);
      real *dx = with_dx ? k.dx : NULL;
      for (int e = 2; e >= 0; e--) /* members' first parts, then their second parts */
        nn_backward_member_layers(&k.net, k.param, k.tape, k.c, k.grad, 0, dx, e, L, cut);
      for (int e = 0; e < 3; e++)
        nn_backward_member_layers(&k.net, k.param, k.tape, k.c, k.grad, 0, dx, e, cut, 0);
      EXPECT(!memcmp(g0, k.grad, sizeof(double) * np), "cut at layer %d: gradients differ", cut);
      if (with_dx)
        EXPECT(!memcmp(dx0, k.dx, sizeof(double) * nx), "cut at layer %d: dx differs", cut);
    }
  /* and a wrong cut (the lower part skipped) is caught: the first layer's gradient is missing */
  nn_forward(&k.net, k.param, k.tape, k.x, k.rows, 0);
  memset(k.grad, 0, sizeof(double) * np);
  for (int e = 0; e < 3; e++)
    nn_backward_member_layers(&k.net, k.param, k.tape, k.c, k.grad, 0, NULL, e, L, 1);
  EXPECT(memcmp(g0, k.grad, sizeof(double) * np) != 0, "a half backward matched the whole");
  xfree(g0), xfree(dx0);
  ctx_free(&k);
}

typedef struct {
  NnNet *net;
  double *p;
} DecayCtx;
static double decay_loss(void *v) {
  DecayCtx *d = v;
  return nn_decay(d->net, d->p, NULL);
}

static void test_decay(void) {
  NnNet net;
  int sizes[] = {3, 4, 2};
  nn_net_init(&net, 2, 2, sizes, NN_SWISH, NN_IDENTITY);
  net.layer[0].decay = 2.5e-5;
  net.layer[1].decay = 1e-4;
  double *p = xmalloc(sizeof(double) * net.nparam), *g = xmalloc(sizeof(double) * net.nparam);
  Rng r = rng_make(1, RNG_TEST, 5);
  nn_init_glorot_uniform(&net, p, &r);
  double loss = nn_decay(&net, p, g);
  double want = 0;
  for (int l = 0; l < 2; l++)
    for (size_t i = 0; i < (size_t)2 * net.layer[l].in * net.layer[l].out; i++)
      want += 0.5 * net.layer[l].decay * p[net.layer[l].w_off + i] * p[net.layer[l].w_off + i];
  EXPECT_NEAR(loss, want, 1e-18, "decay loss");
  DecayCtx d = {&net, p};
  double err = gc_check("decay", decay_loss, &d, p, g, net.nparam, 1, 1e-6, 1e-12, 1);
  EXPECT(err < TOL, "decay gradient error %g", err);
  /* biases are not decayed */
  EXPECT(nn_b(&net, g, 0, 1)[0] == 0, "bias decayed");
  xfree(p), xfree(g);
}

static void test_checker_catches_wrong_gradient(void) {
  /* the checker must fail when the analytic gradient is wrong by a little */
  Ctx k;
  int sizes[] = {4, 6, 2};
  ctx_make(&k, 1, 2, sizes, NN_SWISH, NN_IDENTITY, 3, 0, 51);
  ctx_backward(&k);
  double ok =
      gc_check("unperturbed", ctx_loss, &k, k.param, k.grad, k.net.nparam, 1, 1e-6, 1e-7, 0);
  EXPECT(ok < TOL, "baseline %g", ok);
  size_t i = k.net.layer[1].w_off + 3;
  k.grad[i] *= 1.001; /* a 0.1 % error in one entry */
  double bad = gc_check("perturbed", ctx_loss, &k, k.param, k.grad, k.net.nparam, 1, 1e-6, 1e-7, 1);
  EXPECT(bad > TOL, "a wrong gradient passed the check (%g)", bad);
  ctx_free(&k);
}

static void test_adam_by_hand(void) {
  /* lr 0.1, b1 0.9, b2 0.999, eps 1e-8; two steps with gradients g1 then g2 */
  Adam a;
  adam_init(&a, 3, 0.1);
  double p[3] = {1.0, -0.5, 2.0};
  double g1[3] = {0.5, -2.0, 0.0}, g2[3] = {0.1, 1.0, -3.0};
  adam_step(&a, p, g1);
  /* t=1: m = 0.1 g, v = 0.001 g^2, lr_t = 0.1 sqrt(0.001)/0.1 = 0.0316227766016838
   * p0 = 1 - lr_t 0.05/(sqrt(0.00025)+1e-8) = 1 - 0.0316227766016838*0.05/0.0158113983... */
  double want1[3] = {1.0 - 0.0316227766016838 * 0.05 / (0.0158113883008419 + 1e-8),
                     -0.5 - 0.0316227766016838 * -0.2 / (0.0632455532033676 + 1e-8), 2.0};
  for (int i = 0; i < 3; i++) EXPECT_NEAR(p[i], want1[i], 1e-12, "adam step 1");
  /* numbers: 1 - 0.0999999936754... */
  EXPECT_NEAR(p[0], 0.9000000632455132, 1e-12, "adam step 1 literal");
  adam_step(&a, p, g2);
  /* t=2: m = 0.9 m + 0.1 g2, v = 0.999 v + 0.001 g2^2, lr_t = 0.1 sqrt(1-0.999^2)/(1-0.9^2) */
  double m[3], v[3];
  for (int i = 0; i < 3; i++) {
    m[i] = 0.9 * (0.1 * g1[i]) + 0.1 * g2[i];
    v[i] = 0.999 * (0.001 * g1[i] * g1[i]) + 0.001 * g2[i] * g2[i];
  }
  double lr2 = 0.1 * sqrt(1 - 0.999 * 0.999) / (1 - 0.81);
  for (int i = 0; i < 3; i++)
    EXPECT_NEAR(p[i], want1[i] - lr2 * m[i] / (sqrt(v[i]) + 1e-8), 1e-12, "adam step 2");
  EXPECT(a.t == 2, "adam t");
  adam_free(&a);
}

static void test_polyak_and_infer(void) {
  double dst[3] = {1, 2, 3}, src[3] = {3, 2, 1};
  nn_polyak(dst, src, 3, 0.25);
  EXPECT(dst[0] == 1.5 && dst[1] == 2 && dst[2] == 2.5, "polyak");
  /* tape-free inference of one member equals that member of the full forward */
  Ctx k;
  int sizes[] = {3, 6, 5, 4};
  ctx_make(&k, 3, 3, sizes, NN_SWISH, NN_IDENTITY, 5, 1, 61);
  const double *y = nn_forward(&k.net, k.param, k.tape, k.x, k.rows, 1);
  double out[5 * 4];
  double *scratch = xmalloc(sizeof(double) * nn_infer_scratch(&k.net, 5));
  for (int e = 0; e < 3; e++) {
    nn_infer_member(&k.net, k.param, e, k.x, 5, out, scratch);
    EXPECT(memcmp(out, y + (size_t)e * 5 * 4, sizeof out) == 0, "infer member %d differs", e);
  }
  xfree(scratch);
  ctx_free(&k);
}

int main(void) {
  RUN(test_each_activation);
  RUN(test_mlp);
  RUN(test_ensemble);
  RUN(test_accumulate_and_no_param_grad);
  RUN(test_backward_cut);
  RUN(test_decay);
  RUN(test_checker_catches_wrong_gradient);
  RUN(test_adam_by_hand);
  RUN(test_polyak_and_infer);
  CHECK_DONE();
}
