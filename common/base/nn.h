/* nn — dense and ensemble-dense layers, MLPs, Adam, Polyak averaging.
 *
 * A network is a description (NnNet: shapes and offsets) plus a parameter block owned by the
 * caller: all weights and biases of all layers and members in one contiguous array of `real`, so
 * a snapshot is one memcpy / one broadcast / one msgpack bin. Layer l of an ensemble of E members
 * holds W (E, in, out) then b (E, out). A plain dense layer is the E = 1 case.
 *
 * Forward passes that need a backward keep their activations in an NnTape (allocated once, sized
 * for a maximum row count); nothing is allocated in forward, backward or an optimiser step.
 * Matrix work is OpenBLAS GEMM; elementwise work (bias, activation, derivative, bias gradient) is
 * fused into one pass per layer. */
#ifndef USBPO_NN_H
#define USBPO_NN_H

#include <stddef.h>
#include <stdint.h>

#include "real.h"
#include "rng.h"

#define NN_MAX_LAYERS 8

typedef enum { NN_IDENTITY = 0, NN_RELU = 1, NN_TANH = 2, NN_SWISH = 3 } NnAct;

typedef struct {
  int in, out;
  NnAct act;
  real decay;   /* L2 coefficient: loss += decay * sum(W^2) / 2 over all members */
  size_t w_off; /* W (ens, in, out) */
  size_t b_off; /* b (ens, out) */
} NnLayer;

typedef struct {
  int ens; /* members evaluated together (1 = plain MLP) */
  int nlayers;
  int in, out;   /* network input / output widths */
  int max_width; /* widest layer input or output */
  NnLayer layer[NN_MAX_LAYERS];
  size_t nparam; /* reals in the layers' block */
} NnNet;

/* sizes[0] = input width, sizes[nlayers] = output; hidden layers use `hidden_act`, the last
 * layer `out_act`. Returns 0, or -1 if the shape is invalid. */
int nn_net_init(NnNet *net, int ens, int nlayers, const int *sizes, NnAct hidden_act,
                NnAct out_act);

/* pointers into a parameter (or gradient) block */
static inline real *nn_w(const NnNet *n, real *p, int l, int e) {
  return p + n->layer[l].w_off + (size_t)e * n->layer[l].in * n->layer[l].out;
}
static inline real *nn_b(const NnNet *n, real *p, int l, int e) {
  return p + n->layer[l].b_off + (size_t)e * n->layer[l].out;
}

/* initialisers (per member, layer by layer, from one stream) */
void nn_init_glorot_uniform(const NnNet *net, real *param, Rng *rng); /* Keras default, b = 0 */
void nn_init_truncnormal(const NnNet *net, real *param, Rng *rng); /* std 1/(2 sqrt(in)), b = 0 */

/* copy member `e`'s weights and biases between blocks of the same net */
void nn_copy_member(const NnNet *net, real *dst, const real *src, int e);

/* activations of one forward pass, for the backward */
typedef struct {
  int max_rows;             /* per member */
  int rows;                 /* rows of the last forward */
  int x_shared;             /* last input was (rows, in) for all members */
  const real *x;            /* last input (not owned) */
  real *act[NN_MAX_LAYERS]; /* layer outputs (ens, rows, out_l) */
  real *sig[NN_MAX_LAYERS]; /* swish layers: sigmoid of the pre-activation */
  real *scratch[2];         /* backward ping-pong (ens, max_rows, max_width) */
  real *colsum;             /* bias-gradient sink when no gradient is wanted (ens, max_width) */
} NnTape;

NnTape *nn_tape_make(const NnNet *net, int max_rows);
void nn_tape_free(NnTape *t);
size_t nn_tape_bytes(const NnNet *net, int max_rows);

/* forward all members. x is (ens, rows, in), or (rows, in) shared by every member when
 * x_shared. Returns the output (ens, rows, out), valid until the next forward on this tape. */
const real *nn_forward(const NnNet *net, const real *param, NnTape *t, const real *x, int rows,
                       int x_shared);

/* the same, one member at a time: nn_tape_begin, then nn_forward_member for each member (in
 * any order, on any thread: each member writes only its own part of the tape) */
void nn_tape_begin(NnTape *t, const real *x, int rows, int x_shared);
void nn_forward_member(const NnNet *net, const real *param, NnTape *t, int e);

/* backward of the last forward on `t`, given dL/dy (ens, rows, out).
 * grad: parameter gradients (block layout) or NULL; overwritten, or added to when accumulate.
 * dx: input gradient or NULL: (ens, rows, in), or (rows, in) summed over members when the
 * forward input was shared. dy is not modified. */
void nn_backward(const NnNet *net, const real *param, NnTape *t, const real *dy, real *grad,
                 int accumulate, real *dx);
/* member e's part of nn_backward (its parts of grad and dx; members may run concurrently,
 * except that a dx summed over members from a shared input needs them in order) */
void nn_backward_member(const NnNet *net, const real *param, NnTape *t, const real *dy, real *grad,
                        int accumulate, real *dx, int e);
/* layers hi-1 down to lo of it: a member's backward cut at a layer, [nlayers, k) then [k, 0),
 * is the same calls in the same order as nn_backward_member, so the two parts may run one
 * after the other on different threads with the same numbers */
void nn_backward_member_layers(const NnNet *net, const real *param, NnTape *t, const real *dy,
                               real *grad, int accumulate, real *dx, int e, int hi, int lo);

/* forward of one member without a tape: out (rows, net->out). scratch holds
 * nn_infer_scratch(net, rows) reals. x is (rows, in). */
size_t nn_infer_scratch(const NnNet *net, int rows);
void nn_infer_member(const NnNet *net, const real *param, int e, const real *x, int rows, real *out,
                     real *scratch);

/* L2 decay: grad_W += decay * W for every layer; returns the loss term sum decay*|W|^2/2 */
double nn_decay(const NnNet *net, const real *param, real *grad);

/* dst = tau * src + (1 - tau) * dst */
void nn_polyak(real *dst, const real *src, size_t n, real tau);

/* elementwise activation kernels (exposed for tests) */
void nn_act_forward(NnAct act, real *z, real *sig, const real *bias, int rows, int cols);
void nn_act_backward(NnAct act, const real *g, const real *a, const real *sig, real *dz, real *db,
                     int accumulate_db, int rows, int cols);

/* the portable swish kernel (tests compare it with the dispatched one bit for bit) */
void nn_swish_rows_portable(real *z, real *sig, const real *bias, int rows, int cols);

/* Adam, TensorFlow form: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t m / (sqrt(v) + eps) */
typedef struct {
  size_t n;
  real *m, *v;
  int64_t t;
  double lr, b1, b2, eps;
} Adam;

void adam_init(Adam *a, size_t n, double lr);
void adam_free(Adam *a);
void adam_step(Adam *a, real *param, const real *grad);
void adam_reset(Adam *a);
/* Adam with each layer's L2 decay added to the weight gradients on the fly (the same result as
 * nn_decay(net, param, grad) followed by adam_step, in one pass over memory), in parts so that
 * members can be updated on different threads: adam_begin counts the step and returns its
 * rate; adam_step_member updates member e's weights and biases; adam_step_rest the entries
 * beyond the net's block (a->n > net->nparam), with plain Adam. */
real adam_begin(Adam *a);
void adam_step_member(const Adam *a, const NnNet *net, real *param, const real *grad, int e,
                      real lr_t);
void adam_step_rest(const Adam *a, const NnNet *net, real *param, const real *grad, real lr_t);

#endif
