/* nn — see nn.h. Forward, backward, update, in that order. */
#include "nn.h"

#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "util.h"

int nn_net_init(NnNet *net, int ens, int nlayers, const int *sizes, NnAct hidden_act,
                NnAct out_act) {
  if (ens < 1 || nlayers < 1 || nlayers > NN_MAX_LAYERS) return -1;
  memset(net, 0, sizeof *net);
  net->ens = ens;
  net->nlayers = nlayers;
  net->in = sizes[0];
  net->out = sizes[nlayers];
  size_t off = 0;
  int maxw = 0;
  for (int l = 0; l < nlayers; l++) {
    NnLayer *L = &net->layer[l];
    if (sizes[l] < 1 || sizes[l + 1] < 1) return -1;
    L->in = sizes[l];
    L->out = sizes[l + 1];
    L->act = l == nlayers - 1 ? out_act : hidden_act;
    L->decay = 0;
    L->w_off = off;
    off += (size_t)ens * L->in * L->out;
    L->b_off = off;
    off += (size_t)ens * L->out;
    maxw = imax(maxw, imax(L->in, L->out));
  }
  net->nparam = off;
  net->max_width = maxw;
  return 0;
}

void nn_init_glorot_uniform(const NnNet *net, real *param, Rng *rng) {
  for (int l = 0; l < net->nlayers; l++) {
    const NnLayer *L = &net->layer[l];
    double lim = sqrt(6.0 / (L->in + L->out));
    for (int e = 0; e < net->ens; e++) {
      real *w = nn_w(net, param, l, e);
      for (int i = 0; i < L->in * L->out; i++) w[i] = (real)rng_uniform_range(rng, -lim, lim);
      memset(nn_b(net, param, l, e), 0, sizeof(real) * L->out);
    }
  }
}

void nn_init_truncnormal(const NnNet *net, real *param, Rng *rng) {
  for (int l = 0; l < net->nlayers; l++) {
    const NnLayer *L = &net->layer[l];
    double sd = 1.0 / (2.0 * sqrt((double)L->in));
    for (int e = 0; e < net->ens; e++) {
      real *w = nn_w(net, param, l, e);
      for (int i = 0; i < L->in * L->out; i++) w[i] = (real)(sd * rng_truncnormal(rng));
      memset(nn_b(net, param, l, e), 0, sizeof(real) * L->out);
    }
  }
}

void nn_copy_member(const NnNet *net, real *dst, const real *src, int e) {
  for (int l = 0; l < net->nlayers; l++) {
    const NnLayer *L = &net->layer[l];
    memcpy(nn_w(net, dst, l, e), nn_w(net, (real *)src, l, e), sizeof(real) * L->in * L->out);
    memcpy(nn_b(net, dst, l, e), nn_b(net, (real *)src, l, e), sizeof(real) * L->out);
  }
}

/* ---- elementwise kernels ---- */

/* swish over one row: z = v s(v), sig = s(v) with v = z + bias. The AVX2+FMA version performs
 * the same float operations in the same order as the portable one (the exp's fused
 * multiply-adds included), so both give bit-identical results; it exists because GCC turns
 * the exp's clamps into slow blends. The double build keeps libm's exp. */
#ifdef USBPO_DOUBLE
#define SWISH_EXP(x) exp(x)
#else
#define SWISH_EXP(x) fm_expf_fma(x)
#endif
static void swish_row_c(real *restrict z, real *restrict sig, const real *restrict bias, int n) {
  for (int j = 0; j < n; j++) {
    real v = z[j] + bias[j];
    real s = (real)1 / ((real)1 + SWISH_EXP(-v));
    if (sig) sig[j] = s;
    z[j] = v * s;
  }
}

#if defined(__x86_64__) && !defined(USBPO_DOUBLE)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static void swish_row_avx2(float *restrict z,
                                                               float *restrict sig,
                                                               const float *restrict bias, int n,
                                                               int keep_sig) {
  const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
  const __m256 shifter = _mm256_set1_ps(12582912.0f), log2e = _mm256_set1_ps(1.44269504088896341f);
  const __m256 ln2a = _mm256_set1_ps(0.693145751953125f);
  const __m256 ln2b = _mm256_set1_ps(1.428606765330187045e-06f);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 c7 = _mm256_set1_ps(1.0f / 5040.0f), c6 = _mm256_set1_ps(1.0f / 720.0f);
  const __m256 c5 = _mm256_set1_ps(1.0f / 120.0f), c4 = _mm256_set1_ps(1.0f / 24.0f);
  const __m256 c3 = _mm256_set1_ps(1.0f / 6.0f), c2 = _mm256_set1_ps(0.5f);
  const __m256i bias_e = _mm256_set1_epi32(0x4B400000 - 127);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 v = _mm256_add_ps(_mm256_loadu_ps(z + j), _mm256_loadu_ps(bias + j));
    __m256 x = _mm256_xor_ps(v, sign); /* -v */
    x = _mm256_max_ps(x, lo);          /* x > lo ? x : lo, as in fm_expf_fma */
    x = _mm256_min_ps(x, hi);
    __m256 t = _mm256_fmadd_ps(x, log2e, shifter);
    __m256 nn = _mm256_sub_ps(t, shifter);
    __m256 r = _mm256_fnmadd_ps(nn, ln2a, x);
    r = _mm256_fnmadd_ps(nn, ln2b, r);
    __m256 p = c7;
    p = _mm256_fmadd_ps(p, r, c6);
    p = _mm256_fmadd_ps(p, r, c5);
    p = _mm256_fmadd_ps(p, r, c4);
    p = _mm256_fmadd_ps(p, r, c3);
    p = _mm256_fmadd_ps(p, r, c2);
    p = _mm256_fmadd_ps(p, r, one);
    p = _mm256_fmadd_ps(p, r, one);
    __m256i bits = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), bias_e), 23);
    __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
    if (keep_sig) _mm256_storeu_ps(sig + j, s);
    _mm256_storeu_ps(z + j, _mm256_mul_ps(v, s));
  }
  if (j < n) {
    float tail_sig[8];
    swish_row_c(z + j, keep_sig ? sig + j : tail_sig, bias + j, n - j);
  }
}

static int have_avx2_fma(void) {
  static int cached = -1;
  if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return cached;
}
#endif

void nn_swish_rows_portable(real *z, real *sig, const real *bias, int rows, int cols) {
  for (int i = 0; i < rows; i++)
    swish_row_c(z + (size_t)i * cols, sig ? sig + (size_t)i * cols : NULL, bias, cols);
}

/* sig NULL: inference, the sigmoid is not kept */
static void swish_rows(real *z, real *sig, const real *bias, int rows, int cols) {
#if defined(__x86_64__) && !defined(USBPO_DOUBLE)
  if (have_avx2_fma()) {
    for (int i = 0; i < rows; i++)
      swish_row_avx2(z + (size_t)i * cols, sig ? sig + (size_t)i * cols : NULL, bias, cols,
                     sig != NULL);
    return;
  }
#endif
  nn_swish_rows_portable(z, sig, bias, rows, cols);
}

/* z (rows, cols) += bias, then the activation in place; swish also keeps sigmoid(z) */
NN_CLONES
void nn_act_forward(NnAct act, real *restrict z, real *restrict sig, const real *restrict bias,
                    int rows, int cols) {
  if (act == NN_SWISH) {
    swish_rows(z, sig, bias, rows, cols);
    return;
  }
  for (int i = 0; i < rows; i++) {
    real *restrict zr = z + (size_t)i * cols;
    switch (act) {
    case NN_IDENTITY:
      for (int j = 0; j < cols; j++) zr[j] += bias[j];
      break;
    case NN_RELU:
      for (int j = 0; j < cols; j++) {
        real v = zr[j] + bias[j];
        zr[j] = v > 0 ? v : 0;
      }
      break;
    case NN_TANH:
      for (int j = 0; j < cols; j++) {
        /* tanh(v) = 1 - 2 / (e^{2v} + 1), saturating; + 0 v keeps a NaN a NaN */
        real v = zr[j] + bias[j];
        zr[j] = (real)1 - (real)2 / (r_exp_fast((real)2 * v) + (real)1) + (real)0 * v;
      }
      break;
    case NN_SWISH:
      break;
    }
  }
}

/* dz = g * act'(.) from the stored output a (and sigmoid); db (+)= column sums of dz.
 * g and dz may alias. */
NN_CLONES
void nn_act_backward(NnAct act, const real *g, const real *restrict a, const real *restrict sig,
                     real *dz, real *restrict db, int accumulate_db, int rows, int cols) {
  if (!accumulate_db) memset(db, 0, sizeof(real) * cols);
  for (int i = 0; i < rows; i++) {
    const real *gr = g + (size_t)i * cols;
    const real *restrict ar = a + (size_t)i * cols;
    real *dr = dz + (size_t)i * cols;
    switch (act) {
    case NN_IDENTITY:
      for (int j = 0; j < cols; j++) {
        real d = gr[j];
        dr[j] = d;
        db[j] += d;
      }
      break;
    case NN_RELU:
      for (int j = 0; j < cols; j++) {
        real d = ar[j] > 0 ? gr[j] : 0;
        dr[j] = d;
        db[j] += d;
      }
      break;
    case NN_TANH:
      for (int j = 0; j < cols; j++) {
        real d = gr[j] * ((real)1 - ar[j] * ar[j]);
        dr[j] = d;
        db[j] += d;
      }
      break;
    case NN_SWISH: {
      /* d/dv [v s(v)] = s + v s (1 - s) = s + a (1 - s) */
      const real *restrict sr = sig + (size_t)i * cols;
      for (int j = 0; j < cols; j++) {
        real d = gr[j] * (sr[j] + ar[j] * ((real)1 - sr[j]));
        dr[j] = d;
        db[j] += d;
      }
      break;
    }
    }
  }
}

/* ---- tape ---- */

size_t nn_tape_bytes(const NnNet *net, int max_rows) {
  size_t n = 0, er = (size_t)net->ens * max_rows;
  for (int l = 0; l < net->nlayers; l++) {
    n += er * net->layer[l].out;
    if (net->layer[l].act == NN_SWISH) n += er * net->layer[l].out;
  }
  n += 2 * er * net->max_width + (size_t)net->ens * net->max_width;
  return n * sizeof(real);
}

NnTape *nn_tape_make(const NnNet *net, int max_rows) {
  NnTape *t = xmalloc(sizeof *t);
  t->max_rows = max_rows;
  size_t er = (size_t)net->ens * max_rows;
  for (int l = 0; l < net->nlayers; l++) {
    t->act[l] = xmalloc(sizeof(real) * er * net->layer[l].out);
    t->sig[l] =
        net->layer[l].act == NN_SWISH ? xmalloc(sizeof(real) * er * net->layer[l].out) : NULL;
  }
  for (int k = 0; k < 2; k++) t->scratch[k] = xmalloc(sizeof(real) * er * net->max_width);
  t->colsum = xmalloc(sizeof(real) * net->ens * net->max_width);
  return t;
}

void nn_tape_free(NnTape *t) {
  if (!t) return;
  for (int l = 0; l < NN_MAX_LAYERS; l++) {
    xfree(t->act[l]);
    xfree(t->sig[l]);
  }
  xfree(t->scratch[0]);
  xfree(t->scratch[1]);
  xfree(t->colsum);
  xfree(t);
}

/* ---- forward ---- */

void nn_tape_begin(NnTape *t, const real *x, int rows, int x_shared) {
  CHECK(rows >= 0 && rows <= t->max_rows, "nn_forward: %d rows exceed the tape's %d", rows,
        t->max_rows);
  t->rows = rows;
  t->x = x;
  t->x_shared = x_shared;
}

void nn_forward_member(const NnNet *net, const real *param, NnTape *t, int e) {
  const int rows = t->rows;
  if (rows == 0) return;
  for (int l = 0; l < net->nlayers; l++) {
    const NnLayer *L = &net->layer[l];
    const real *xin = l == 0 ? t->x + (t->x_shared ? 0 : (size_t)e * rows * L->in)
                             : t->act[l - 1] + (size_t)e * rows * L->in;
    real *y = t->act[l] + (size_t)e * rows * L->out;
    r_gemm(0, 0, rows, L->out, L->in, 1, xin, L->in, nn_w(net, (real *)param, l, e), L->out, 0, y,
           L->out);
    nn_act_forward(L->act, y, t->sig[l] ? t->sig[l] + (size_t)e * rows * L->out : NULL,
                   nn_b(net, (real *)param, l, e), rows, L->out);
  }
}

const real *nn_forward(const NnNet *net, const real *param, NnTape *t, const real *x, int rows,
                       int x_shared) {
  nn_tape_begin(t, x, rows, x_shared);
  for (int e = 0; e < net->ens; e++) nn_forward_member(net, param, t, e);
  return t->act[net->nlayers - 1];
}

/* ---- backward ---- */

/* member e's backward. Its intermediate gradients live in its own stretch of the two scratch
 * buffers (stride rows x max_width), so members can run concurrently; a dx summed over members
 * (shared input) is the one thing that needs them in order (e = 0 writes, later members add). */
void nn_backward_member(const NnNet *net, const real *param, NnTape *t, const real *dy, real *grad,
                        int accumulate, real *dx, int e) {
  nn_backward_member_layers(net, param, t, dy, grad, accumulate, dx, e, net->nlayers, 0);
}

void nn_backward_member_layers(const NnNet *net, const real *param, NnTape *t, const real *dy,
                               real *grad, int accumulate, real *dx, int e, int hi, int lo) {
  const int rows = t->rows;
  if (rows == 0) {
    if (grad && !accumulate)
      for (int l = lo; l < hi; l++) {
        const NnLayer *L = &net->layer[l];
        memset(nn_w(net, grad, l, e), 0, sizeof(real) * L->in * L->out);
        memset(nn_b(net, grad, l, e), 0, sizeof(real) * L->out);
      }
    return;
  }
  const size_t so = (size_t)e * rows * net->max_width; /* this member's scratch stretch */
  /* which scratch holds g, dL/d(output of layer hi - 1): -1 the caller's dy (never written);
   * each layer's dz overwrites g in place and its dx goes to the other buffer, so after c
   * layers g is in buffer c % 2 */
  const int done = net->nlayers - hi;
  int g_buf = done == 0 ? -1 : done % 2;
  const real *g = g_buf < 0 ? dy + (size_t)e * rows * net->out : t->scratch[g_buf] + so;
  for (int l = hi - 1; l >= lo; l--) {
    const NnLayer *L = &net->layer[l];
    const int first = l == 0;
    const int dz_buf = g_buf < 0 ? 0 : g_buf; /* dz overwrites g in place */
    real *dz = t->scratch[dz_buf] + so;
    const size_t ao = (size_t)e * rows * L->out;
    real *db = grad ? nn_b(net, grad, l, e) : t->colsum + (size_t)e * net->max_width;
    nn_act_backward(L->act, g, t->act[l] + ao, t->sig[l] ? t->sig[l] + ao : NULL, dz, db,
                    grad ? accumulate : 0, rows, L->out);
    if (grad) {
      const real *xin = first ? t->x + (t->x_shared ? 0 : (size_t)e * rows * L->in)
                              : t->act[l - 1] + (size_t)e * rows * L->in;
      r_gemm(1, 0, L->in, L->out, rows, 1, xin, L->in, dz, L->out, accumulate ? 1 : 0,
             nn_w(net, grad, l, e), L->out);
    }
    if (first && !dx) break;
    const int shared_sum = first && t->x_shared;
    real *dst =
        first ? dx + (shared_sum ? 0 : (size_t)e * rows * L->in) : t->scratch[1 - dz_buf] + so;
    r_gemm(0, 1, rows, L->in, L->out, 1, dz, L->out, nn_w(net, (real *)param, l, e), L->out,
           shared_sum && e > 0 ? 1 : 0, dst, L->in);
    g = dst;
    g_buf = 1 - dz_buf;
  }
}

void nn_backward(const NnNet *net, const real *param, NnTape *t, const real *dy, real *grad,
                 int accumulate, real *dx) {
  for (int e = 0; e < net->ens; e++) nn_backward_member(net, param, t, dy, grad, accumulate, dx, e);
}

/* ---- inference without a tape ---- */

size_t nn_infer_scratch(const NnNet *net, int rows) {
  return 2 * (size_t)rows * net->max_width;
}

void nn_infer_member(const NnNet *net, const real *param, int e, const real *x, int rows, real *out,
                     real *scratch) {
  if (rows == 0) return;
  const real *in = x;
  real *buf[2] = {scratch, scratch + (size_t)rows * net->max_width};
  for (int l = 0; l < net->nlayers; l++) {
    const NnLayer *L = &net->layer[l];
    real *y = l == net->nlayers - 1 ? out : buf[l & 1];
    r_gemm(0, 0, rows, L->out, L->in, 1, in, L->in, nn_w(net, (real *)param, l, e), L->out, 0, y,
           L->out);
    /* inference: swish's sigmoid is not kept */
    nn_act_forward(L->act, y, NULL, nn_b(net, (real *)param, l, e), rows, L->out);
    in = y;
  }
}

/* ---- regularisation, averaging ---- */

NN_CLONES
double nn_decay(const NnNet *net, const real *param, real *grad) {
  double loss = 0;
  for (int l = 0; l < net->nlayers; l++) {
    const NnLayer *L = &net->layer[l];
    if (L->decay == 0) continue;
    size_t n = (size_t)net->ens * L->in * L->out;
    const real *w = param + L->w_off;
    if (grad) {
      real *restrict gw = grad + L->w_off;
      const real lam = L->decay;
      for (size_t i = 0; i < n; i++) gw[i] += lam * w[i];
    }
    /* sum of squares in 16 independent lanes (vectorisable without reassociation) */
    real lane[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
      for (int k = 0; k < 16; k++) lane[k] += w[i + k] * w[i + k];
    double ss = 0;
    for (int k = 0; k < 16; k++) ss += lane[k];
    for (; i < n; i++) ss += (double)w[i] * w[i];
    loss += 0.5 * L->decay * ss;
  }
  return loss;
}

void nn_polyak(real *restrict dst, const real *restrict src, size_t n, real tau) {
  const real keep = (real)1 - tau;
  for (size_t i = 0; i < n; i++) dst[i] = tau * src[i] + keep * dst[i];
}

/* ---- Adam ---- */

void adam_init(Adam *a, size_t n, double lr) {
  a->n = n;
  a->m = xmalloc(sizeof(real) * n);
  a->v = xmalloc(sizeof(real) * n);
  a->t = 0;
  a->lr = lr;
  a->b1 = 0.9;
  a->b2 = 0.999;
  a->eps = 1e-8;
}

void adam_free(Adam *a) {
  xfree(a->m);
  xfree(a->v);
  a->m = a->v = NULL;
}

void adam_reset(Adam *a) {
  memset(a->m, 0, sizeof(real) * a->n);
  memset(a->v, 0, sizeof(real) * a->n);
  a->t = 0;
}

/* one Adam step on n parameters whose gradient is g + lam * p (lam: an L2 decay folded in,
 * computed exactly as a separate `g += lam * p` pass would) */
NN_CLONES
static void adam_kernel(size_t n, real *restrict p, const real *restrict g, real *restrict m,
                        real *restrict v, real b1, real b2, real lr_t, real eps, real lam) {
  const real c1 = (real)1 - b1, c2 = (real)1 - b2;
  for (size_t i = 0; i < n; i++) {
    real gi = lam != 0 ? g[i] + lam * p[i] : g[i];
    real mi = b1 * m[i] + c1 * gi;
    real vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr_t * mi / (R_SQRT(vi) + eps);
  }
}

static real adam_lr_t(Adam *a) {
  a->t++;
  return (real)(a->lr * sqrt(1.0 - pow(a->b2, (double)a->t)) / (1.0 - pow(a->b1, (double)a->t)));
}

void adam_step(Adam *a, real *param, const real *grad) {
  real lr_t = adam_lr_t(a);
  adam_kernel(a->n, param, grad, a->m, a->v, (real)a->b1, (real)a->b2, lr_t, (real)a->eps, 0);
}

real adam_begin(Adam *a) {
  return adam_lr_t(a);
}

void adam_step_member(const Adam *a, const NnNet *net, real *param, const real *grad, int e,
                      real lr_t) {
  for (int l = 0; l < net->nlayers; l++) {
    const NnLayer *L = &net->layer[l];
    size_t w = (size_t)(nn_w(net, param, l, e) - param), nw = (size_t)L->in * L->out;
    adam_kernel(nw, param + w, grad + w, a->m + w, a->v + w, (real)a->b1, (real)a->b2, lr_t,
                (real)a->eps, L->decay);
    size_t b = (size_t)(nn_b(net, param, l, e) - param);
    adam_kernel((size_t)L->out, param + b, grad + b, a->m + b, a->v + b, (real)a->b1, (real)a->b2,
                lr_t, (real)a->eps, 0);
  }
}

void adam_step_rest(const Adam *a, const NnNet *net, real *param, const real *grad, real lr_t) {
  const size_t done = net->nparam;
  if (a->n > done)
    adam_kernel(a->n - done, param + done, grad + done, a->m + done, a->v + done, (real)a->b1,
                (real)a->b2, lr_t, (real)a->eps, 0);
}
