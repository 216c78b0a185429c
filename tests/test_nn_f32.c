/* test_nn_f32 — the float build: fast exp accuracy, float forward/backward against a naive
 * double reference, tape-free inference, repeatability; the vectorised phase-1 NLL kernel
 * against the formulas in double, and the fused decay + Adam step against the two-pass one. */
#include <stdlib.h>

#include "check.h"
#include "ensemble.h"
#include "fastmath.h"
#include "nn.h"
#include "util.h"

static void test_fast_exp(void) {
  double worst = 0, at = 0;
  for (double x = -87.0; x <= 88.0; x += 0.000731) {
    float xf = (float)x;
    double want = exp((double)xf);
    double got = fm_expf(xf);
    double rel = fabs(got - want) / want;
    if (rel > worst) worst = rel, at = xf;
  }
  fprintf(stderr, "  fm_expf worst relative error %.3g at %g\n", worst, at);
  EXPECT(worst < 3.0e-7, "fm_expf relative error %g at %g (limit ~2.5 ulp)", worst, at);
  worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.000731) {
    float xf = (float)x;
    double want = exp((double)xf);
    worst = fmax(worst, fabs(fm_expf_fma(xf) - want) / want);
  }
  fprintf(stderr, "  fm_expf_fma worst relative error %.3g\n", worst);
  EXPECT(worst < 3.0e-7, "fm_expf_fma relative error %g", worst);
  EXPECT(fm_expf(-1000.0f) < 1e-37f && fm_expf(1000.0f) > 1e38f, "saturation");
  /* NaN through the activations stays NaN (a diverging network must be detectable) */
  float z[3] = {NAN, 0.5f, NAN}, sg[3], b[3] = {0, 0, 0};
  nn_act_forward(NN_SWISH, z, sg, b, 1, 3);
  EXPECT(isnan(z[0]) && !isnan(z[1]) && isnan(z[2]), "swish lost a NaN");
  float z2[2] = {NAN, 0.25f};
  nn_act_forward(NN_TANH, z2, NULL, b, 1, 2);
  EXPECT(isnan(z2[0]) && fabsf(z2[1] - tanhf(0.25f)) < 1e-6f, "tanh lost a NaN or is inexact");
}

/* naive double reference of a plain MLP forward + backward for loss = sum c .* y */
static void reference(const NnNet *n, const float *p, const float *x, int rows, const float *c,
                      double *y_out, double *g_out, double *dx_out) {
  double *acts[NN_MAX_LAYERS + 1], *pre[NN_MAX_LAYERS];
  acts[0] = malloc(sizeof(double) * rows * n->in);
  for (int i = 0; i < rows * n->in; i++) acts[0][i] = x[i];
  for (int l = 0; l < n->nlayers; l++) {
    const NnLayer *L = &n->layer[l];
    pre[l] = malloc(sizeof(double) * rows * L->out);
    acts[l + 1] = malloc(sizeof(double) * rows * L->out);
    const float *w = p + L->w_off, *b = p + L->b_off;
    for (int r = 0; r < rows; r++)
      for (int j = 0; j < L->out; j++) {
        double s = b[j];
        for (int i = 0; i < L->in; i++) s += acts[l][r * L->in + i] * w[i * L->out + j];
        pre[l][r * L->out + j] = s;
        double a = s;
        if (L->act == NN_RELU) a = s > 0 ? s : 0;
        if (L->act == NN_TANH) a = tanh(s);
        if (L->act == NN_SWISH) a = s / (1 + exp(-s));
        acts[l + 1][r * L->out + j] = a;
      }
  }
  int last = n->nlayers;
  for (int i = 0; i < rows * n->out; i++) y_out[i] = acts[last][i];
  double *g = malloc(sizeof(double) * rows * n->max_width);
  for (int i = 0; i < rows * n->out; i++) g[i] = c[i];
  for (int l = n->nlayers - 1; l >= 0; l--) {
    const NnLayer *L = &n->layer[l];
    const float *w = p + L->w_off;
    double *dz = malloc(sizeof(double) * rows * L->out);
    for (int i = 0; i < rows * L->out; i++) {
      double s = pre[l][i], d = 1;
      if (L->act == NN_RELU) d = s > 0;
      if (L->act == NN_TANH) d = 1 - tanh(s) * tanh(s);
      if (L->act == NN_SWISH) {
        double sg = 1 / (1 + exp(-s));
        d = sg + s * sg * (1 - sg);
      }
      dz[i] = g[i] * d;
    }
    for (int i = 0; i < L->in; i++)
      for (int j = 0; j < L->out; j++) {
        double s = 0;
        for (int r = 0; r < rows; r++) s += acts[l][r * L->in + i] * dz[r * L->out + j];
        g_out[L->w_off + i * L->out + j] = s;
      }
    for (int j = 0; j < L->out; j++) {
      double s = 0;
      for (int r = 0; r < rows; r++) s += dz[r * L->out + j];
      g_out[L->b_off + j] = s;
    }
    double *ng = malloc(sizeof(double) * rows * L->in);
    for (int r = 0; r < rows; r++)
      for (int i = 0; i < L->in; i++) {
        double s = 0;
        for (int j = 0; j < L->out; j++) s += dz[r * L->out + j] * w[i * L->out + j];
        ng[r * L->in + i] = s;
      }
    free(g);
    g = ng;
    free(dz);
  }
  for (int i = 0; i < rows * n->in; i++) dx_out[i] = g[i];
  free(g);
  for (int l = 0; l <= n->nlayers; l++) free(acts[l]);
  for (int l = 0; l < n->nlayers; l++) free(pre[l]);
}

static void test_float_against_reference(void) {
  NnAct acts[] = {NN_RELU, NN_SWISH, NN_TANH};
  for (int a = 0; a < 3; a++) {
    NnNet net;
    int sizes[] = {14, 64, 48, 5};
    nn_net_init(&net, 1, 3, sizes, acts[a], NN_IDENTITY);
    const int rows = 33;
    float *p = xmalloc(sizeof(float) * net.nparam), *g = xmalloc(sizeof(float) * net.nparam);
    float *x = xmalloc(sizeof(float) * rows * 14), *dx = xmalloc(sizeof(float) * rows * 14);
    float *c = xmalloc(sizeof(float) * rows * 5);
    Rng r = rng_make(3, RNG_TEST, (uint64_t)a);
    nn_init_glorot_uniform(&net, p, &r);
    for (int i = 0; i < rows * 14; i++) x[i] = (float)rng_normal(&r);
    for (int i = 0; i < rows * 5; i++) c[i] = (float)rng_normal(&r);
    NnTape *t = nn_tape_make(&net, 64);
    const float *y = nn_forward(&net, p, t, x, rows, 0);
    nn_backward(&net, p, t, c, g, 0, dx);
    double *yr = malloc(sizeof(double) * rows * 5), *gr = malloc(sizeof(double) * net.nparam);
    double *dxr = malloc(sizeof(double) * rows * 14);
    reference(&net, p, x, rows, c, yr, gr, dxr);
    double ey = 0, eg = 0, ex = 0, sy = 0, sg = 0, sx = 0;
    for (int i = 0; i < rows * 5; i++)
      ey = fmax(ey, fabs(y[i] - yr[i])), sy = fmax(sy, fabs(yr[i]));
    for (size_t i = 0; i < net.nparam; i++)
      eg = fmax(eg, fabs(g[i] - gr[i])), sg = fmax(sg, fabs(gr[i]));
    for (int i = 0; i < rows * 14; i++)
      ex = fmax(ex, fabs(dx[i] - dxr[i])), sx = fmax(sx, fabs(dxr[i]));
    EXPECT(ey <= 1e-5 * sy, "act %d forward error %g (scale %g)", a, ey, sy);
    EXPECT(eg <= 1e-5 * sg, "act %d parameter gradient error %g (scale %g)", a, eg, sg);
    EXPECT(ex <= 1e-5 * sx, "act %d input gradient error %g (scale %g)", a, ex, sx);
    /* repeatable to the bit */
    float *y1 = malloc(sizeof(float) * rows * 5);
    memcpy(y1, y, sizeof(float) * rows * 5);
    y = nn_forward(&net, p, t, x, rows, 0);
    EXPECT(!memcmp(y1, y, sizeof(float) * rows * 5), "forward not repeatable");
    /* tape-free inference equals the taped forward */
    float *out = malloc(sizeof(float) * rows * 5);
    float *scr = xmalloc(sizeof(float) * nn_infer_scratch(&net, rows));
    nn_infer_member(&net, p, 0, x, rows, out, scr);
    EXPECT(!memcmp(out, y, sizeof(float) * rows * 5), "inference differs from forward");
    free(y1), free(out), xfree(scr), free(yr), free(gr), free(dxr);
    nn_tape_free(t);
    xfree(p), xfree(g), xfree(x), xfree(dx), xfree(c);
  }
}

static void test_fast_log_sincos_softplus(void) {
  double wl = 0, ws = 0, wsp = 0;
  for (double x = 1e-7; x <= 1.0; x *= 1.0007) {
    float xf = (float)x;
    wl = fmax(wl, fabs(fm_logf(xf) - log((double)xf)) / fmax(1e-3, fabs(log((double)xf))));
  }
  for (int i = 0; i < 100000; i++) {
    float u = (float)i / 100000.0f, c, s;
    fm_sincos2pi(u, &c, &s);
    double th = 2 * M_PI * (double)u;
    ws = fmax(ws, fmax(fabs(c - cos(th)), fabs(s - sin(th))));
  }
  for (double x = -90; x <= 90; x += 0.0013) {
    float xf = (float)x;
    double want = log1p(exp(-fabs((double)xf))) + fmax((double)xf, 0);
    wsp = fmax(wsp, fabs(r_softplus(xf) - want) / fmax(1e-30, want));
  }
  fprintf(stderr, "  fm_logf rel %.2g, sincos abs %.2g, softplus rel %.2g\n", wl, ws, wsp);
  EXPECT(wl < 4e-7, "fm_logf error %g", wl);
  EXPECT(ws < 4e-7, "fm_sincos2pi error %g", ws);
  EXPECT(wsp < 4e-7, "softplus error %g", wsp);
}

static void test_swish_paths_agree(void) {
  /* the SIMD path and the portable path give the same bits, including odd widths and extremes */
  const int rows = 5, cols = 203;
  float *z1 = xmalloc(sizeof(float) * rows * cols), *z2 = xmalloc(sizeof(float) * rows * cols);
  float *s1 = xmalloc(sizeof(float) * rows * cols), *s2 = xmalloc(sizeof(float) * rows * cols);
  float *b = xmalloc(sizeof(float) * cols);
  Rng r = rng_make(9, RNG_TEST, 9);
  for (int i = 0; i < rows * cols; i++) z1[i] = z2[i] = (float)(20 * rng_normal(&r));
  for (int j = 0; j < cols; j++) b[j] = (float)rng_normal(&r);
  z1[3] = z2[3] = 200.0f, z1[4] = z2[4] = -200.0f, z1[5] = z2[5] = NAN;
  nn_act_forward(NN_SWISH, z1, s1, b, rows, cols);
  nn_swish_rows_portable(z2, s2, b, rows, cols);
  EXPECT(!memcmp(z1, z2, sizeof(float) * rows * cols), "swish outputs differ between paths");
  EXPECT(!memcmp(s1, s2, sizeof(float) * rows * cols), "sigmoids differ between paths");
  EXPECT(isnan(z1[5]), "NaN lost");
  xfree(z1), xfree(z2), xfree(s1), xfree(s2), xfree(b);
}

/* the float NLL kernel (vectorised, shared exp for softplus and sigmoid) against spec 4.3/4.11
 * in double, evaluated on the same float network outputs */
static void test_ensemble_nll_float(void) {
  EnsConfig c = {.members = 7,
                 .elites = 5,
                 .obs_dim = 11,
                 .act_dim = 3,
                 .hidden = 32,
                 .layers = 2,
                 .batch = 37,
                 .lr = 1e-3,
                 .bound_penalty = 0.01,
                 .improve_threshold = 0.01,
                 .patience = 5,
                 .init_maxlv = 0.5,
                 .init_minlv = -10,
                 .decay = {2.5e-5, 5e-5, 1e-4}};
  Ensemble *e = ens_make(&c, 3);
  Rng r = rng_make(3, RNG_TEST, 5);
  const int n = 37, E = 7, D = e->c.out_dim;
  for (size_t i = 0; i < (size_t)E * n * e->c.in_dim; i++) e->xb[i] = (float)rng_normal(&r);
  for (size_t i = 0; i < (size_t)E * n * D; i++) e->yb[i] = (float)(0.5 * rng_normal(&r));
  /* bounds where both softplus branches matter; output biases spread raw log-variances */
  for (int d = 0; d < D; d++) ens_maxlv(e)[d] = 0.5f - 0.3f * d, ens_minlv(e)[d] = -3.0f + d;
  int last = e->net.nlayers - 1;
  for (int m = 0; m < E; m++)
    for (int j = 0; j < 2 * D; j++) nn_b(&e->net, e->p, last, m)[j] = (float)(3 * rng_normal(&r));
  double loss = ens_nll(e, n, 1);
  const float *out = e->tape->act[last], *maxlv = ens_maxlv(e), *minlv = ens_minlv(e);
  double want = 0, gmax[64] = {0}, gmin[64] = {0}, werr = 0;
  const double cc = 1.0 / ((double)n * D);
  for (int m = 0; m < E; m++)
    for (int j = 0; j < n; j++)
      for (int d = 0; d < D; d++) {
        size_t row = (size_t)m * n + j;
        double raw = out[row * 2 * D + D + d], mu = out[row * 2 * D + d];
        double a = maxlv[d] - raw, l1 = maxlv[d] - log1p(exp(-fabs(a))) - fmax(a, 0);
        double b = l1 - minlv[d], lv = minlv[d] + log1p(exp(-fabs(b))) + fmax(b, 0);
        double diff = mu - e->yb[row * D + d], q = diff * diff * exp(-lv);
        double sa = 1 / (1 + exp(-a)), sb = 1 / (1 + exp(-b)), dlv = cc * (1 - q);
        want += cc * (q + lv);
        gmax[d] += dlv * sb * (1 - sa), gmin[d] += dlv * (1 - sb);
        double g0 = 2 * cc * diff * exp(-lv), g1 = dlv * sb * sa;
        werr = fmax(werr, fabs(e->dy[row * 2 * D + d] - g0) / (fabs(g0) + 1e-3 * cc));
        werr = fmax(werr, fabs(e->dy[row * 2 * D + D + d] - g1) / (fabs(g1) + 1e-3 * cc));
      }
  double pen = 0;
  for (int d = 0; d < D; d++) pen += (double)maxlv[d] - minlv[d];
  want += 0.01 * pen + nn_decay(&e->net, e->p, NULL);
  double berr = 0;
  for (int d = 0; d < D; d++) {
    berr = fmax(berr, fabs(e->g[e->nnet + d] - (gmax[d] + 0.01)) / (fabs(gmax[d] + 0.01) + 1e-6));
    berr =
        fmax(berr, fabs(e->g[e->nnet + D + d] - (gmin[d] - 0.01)) / (fabs(gmin[d] - 0.01) + 1e-6));
  }
  fprintf(stderr,
          "  NLL float vs double: loss rel %.2g, output grads rel %.2g, bound grads rel %.2g\n",
          fabs(loss - want) / fabs(want), werr, berr);
  EXPECT(fabs(loss - want) < 1e-5 * fabs(want), "loss %.9g, double formula %.9g", loss, want);
  EXPECT(werr < 1e-4, "output gradient relative error %g", werr);
  EXPECT(berr < 1e-4, "bound gradient relative error %g", berr);

  /* ens_train_step = ens_nll + nn_decay-in-gradient + adam_step, bit for bit, over 3 steps */
  Ensemble *f = ens_make(&c, 3);
  memcpy(f->p, e->p, sizeof(float) * e->ntotal);
  memcpy(f->xb, e->xb, sizeof(float) * (size_t)E * n * e->c.in_dim);
  memcpy(f->yb, e->yb, sizeof(float) * (size_t)E * n * D);
  for (int k = 0; k < 3; k++) {
    ens_nll(e, n, 1);
    adam_step(&e->adam, e->p, e->g);
    ens_train_step(f, n);
  }
  EXPECT(!memcmp(e->p, f->p, sizeof(float) * e->ntotal), "fused decay + Adam differs");
  EXPECT(!memcmp(e->adam.v, f->adam.v, sizeof(float) * e->ntotal), "Adam state differs");
  ens_free(e), ens_free(f);
}

int main(void) {
  RUN(test_ensemble_nll_float);
  RUN(test_swish_paths_agree);
  RUN(test_fast_log_sincos_softplus);
  RUN(test_fast_exp);
  RUN(test_float_against_reference);
  CHECK_DONE();
}
