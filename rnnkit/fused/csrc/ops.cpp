// rnnkit's fused CPU kernels: whole-sequence LSTM, GRU and Elman forward and backward,
// registered as torch custom ops in the namespace rnnkit_fused (see rnnkit/fused/_ops.py
// for their fake shapes and autograd formulas, docs/fused.md for the design).
//
// Forward: one GEMM for the input projection of every step (bias folded in), then per step
// one GEMM for the recurrent term into a preallocated buffer and one fused pointwise pass
// (pointwise.cpp) for the gates, the state update, the lengths mask and the output. Only
// what backward needs is kept. Backward: per step the fused pointwise pass, then one GEMM
// that carries dh to the previous step; after the loop, the weight gradients in one GEMM
// each over all B * T rows. All buffers are batch-first: row b * T + t is sequence b, step t.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>

#include "pointwise.h"

namespace rnnkit_fused {
namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;
using Tensor3 = std::tuple<Tensor, Tensor, Tensor>;
using Tensor5 = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor>;
using Tensor6 = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>;
using Tensor7 = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>;

bool defined(const OptTensor& t) { return t.has_value() && t->defined(); }

// The checks every kernel makes on its sequence input and lengths; returns max(lengths).
int64_t check_sequence(const char* op, const Tensor& x, const Tensor& lengths) {
  TORCH_CHECK(x.device().is_cpu(), op, ": the fused kernels run on the CPU; got x on ",
              x.device(), " (use backend='native' on a GPU)");
  TORCH_CHECK(x.dim() == 3, op, ": x must be (B, T, I), got ", x.dim(), " dimensions");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(lengths.device().is_cpu() && lengths.scalar_type() == at::kLong &&
                  lengths.dim() == 1 && lengths.size(0) == x.size(0) && lengths.is_contiguous(),
              op, ": lengths must be a contiguous int64 CPU tensor of shape (", x.size(0), ",)");
  const int64_t T = x.size(1);
  const int64_t* len = lengths.const_data_ptr<int64_t>();
  int64_t longest = 0;
  for (int64_t b = 0; b < x.size(0); ++b) {
    TORCH_CHECK(len[b] >= 1 && len[b] <= T, op, ": lengths must be in [1, ", T, "], got ",
                len[b], " at index ", b);
    longest = std::max(longest, len[b]);
  }
  return longest;
}

void check_like(const char* op, const char* name, const Tensor& t, const Tensor& x,
                at::IntArrayRef shape) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == x.scalar_type(), op, ": ", name,
              " must be a CPU tensor of x's dtype ", x.scalar_type(), ", got ", t.scalar_type(),
              " on ", t.device());
  TORCH_CHECK(t.sizes() == shape, op, ": ", name, " must have shape ", shape, ", got ",
              t.sizes());
}

// The sum of the biases that are given (both add to the input projection), or undefined.
Tensor bias_sum(const OptTensor& a, const OptTensor& b) {
  if (defined(a) && defined(b)) return a->add(*b);
  if (defined(a)) return *a;
  if (defined(b)) return *b;
  return Tensor();
}

// x (B, T, I) @ w^T (+ bias): the input part of every step's pre-activations, (B, T, G).
Tensor input_projection(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  Tensor x2 = x.view({B * T, I});
  Tensor g = bias.defined() ? at::addmm(bias, x2, w.t()) : at::mm(x2, w.t());
  return g.view({B, T, w.size(0)});
}

// Run fn(b0, b1) over the batch rows, in parallel when a step is large enough to pay for it.
template <typename F>
void for_rows(int64_t B, int64_t row_elems, const F& fn) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row_elems));
  at::parallel_for(0, B, grain, fn);
}

Tensor empty_or(bool keep, at::IntArrayRef shape, const Tensor& like) {
  return keep ? at::empty(shape, like.options()) : at::empty({0}, like.options());
}

// ------------------------------------------------------------------------------- LSTM

// Returns out (B, T, H_out), h_n (B, H_out), c_n (B, H) and, when save, the buffers backward
// reads: acts (B, T, 4H) the gate activations, cs (B, T, H) the cell states c_t, hprev
// (B, T, H_out) the state entering each step, hc (B, T, H) o * tanh(c_t) with proj_size.
Tensor7 lstm_forward(const Tensor& x_, const Tensor& lengths, const Tensor& h0,
                     const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                     const OptTensor& b_ih, const OptTensor& b_hh, const OptTensor& w_hr,
                     const OptTensor& rec_mask, bool save) {
  const char* op = "rnnkit_fused::lstm_forward";
  const int64_t longest = check_sequence(op, x_, lengths);
  const Tensor x = x_.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  const int64_t H = w_hh.size(0) / 4, Hout = w_hh.size(1);
  const bool proj = defined(w_hr);
  check_like(op, "w_ih", w_ih, x, {4 * H, I});
  check_like(op, "w_hh", w_hh, x, {4 * H, Hout});
  check_like(op, "h0", h0, x, {B, Hout});
  check_like(op, "c0", c0, x, {B, H});
  if (proj) check_like(op, "w_hr", *w_hr, x, {Hout, H});
  const bool dropped = defined(rec_mask);  // recurrent dropout: h_{t-1} * mask feeds W_hh
  if (dropped) check_like(op, "rec_mask", *rec_mask, x, {B, Hout});
  TORCH_CHECK(proj || Hout == H, op, ": w_hh has ", Hout, " columns; expected H = ", H,
              " without w_hr");

  const Tensor gx = input_projection(x, w_ih, bias_sum(b_ih, b_hh));  // (B, T, 4H)
  Tensor h = h0.contiguous().clone();                                  // (B, H_out) state
  Tensor c = c0.contiguous().clone();                                  // (B, H) state
  Tensor out = at::empty({B, T, Hout}, x.options());
  Tensor acts = empty_or(save, {B, T, 4 * H}, x);
  Tensor cs = empty_or(save, {B, T, H}, x);
  Tensor hprev = empty_or(save, {B, T, Hout}, x);
  // hc rows of padded steps are read (times a zero gradient) by dW_hr: zeros, not garbage.
  Tensor hc = save && proj ? at::zeros({B, T, H}, x.options()) : at::empty({0}, x.options());
  Tensor hc_step = proj && !save ? at::empty({B, H}, x.options()) : Tensor();
  Tensor hproj = proj ? at::empty({B, Hout}, x.options()) : Tensor();
  Tensor gh = at::empty({B, 4 * H}, x.options());  // the recurrent term of one step
  const Tensor w_hh_t = w_hh.t(), w_hr_t = proj ? w_hr->t() : Tensor();
  const Tensor mask = dropped ? rec_mask->contiguous() : Tensor();
  Tensor hr = dropped ? at::empty({B, Hout}, x.options()) : h;  // what W_hh multiplies
  const int64_t* len = lengths.const_data_ptr<int64_t>();

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_fused_lstm_forward", [&] {
    using T_ = scalar_t;
    const T_* gx_p = gx.const_data_ptr<T_>();
    T_* h_p = h.data_ptr<T_>();
    T_* c_p = c.data_ptr<T_>();
    T_* out_p = out.data_ptr<T_>();
    T_* gh_p = gh.data_ptr<T_>();
    for (int64_t t = 0; t < longest; ++t) {
      if (dropped) at::mul_out(hr, h, mask);  // hr = h * mask
      if (save) {  // hprev[:, t] = hr: what W_hh multiplied at step t, for dW_hh
        T_* hp = hprev.data_ptr<T_>() + t * Hout;
        const T_* src = hr.const_data_ptr<T_>();
        for (int64_t b = 0; b < B; ++b) std::memcpy(hp + b * T * Hout, src + b * Hout, sizeof(T_) * Hout);
      }
      at::mm_out(gh, hr, w_hh_t);  // gh = hr W_hh^T  (B, 4H)
      // Without projection the pointwise pass writes h and out; with it, o * tanh(c) goes
      // to hc (saved, or a step buffer) and h = hc W_hr^T follows.
      T_* hdst = proj ? (save ? hc.data_ptr<T_>() + t * H : hc_step.data_ptr<T_>()) : h_p;
      const int64_t hdst_rs = proj ? (save ? T * H : H) : H;
      for_rows(B, 4 * H, [&](int64_t b0, int64_t b1) {
        const StepRows rows{b0, b1, t, len};
        lstm_forward_step<T_>(rows, H, gx_p + t * 4 * H, T * 4 * H, gh_p, c_p, hdst, hdst_rs,
                              proj ? nullptr : out_p + t * H, T * Hout,
                              save ? acts.data_ptr<T_>() + t * 4 * H : nullptr, T * 4 * H,
                              save ? cs.data_ptr<T_>() + t * H : nullptr, T * H);
      });
      if (proj) {
        const Tensor hc_t = save ? hc.select(1, t) : hc_step;  // (B, H)
        at::mm_out(hproj, hc_t, w_hr_t);                       // (B, H_out)
        const T_* hq = hproj.const_data_ptr<T_>();
        for (int64_t b = 0; b < B; ++b) {
          T_* ob = out_p + b * T * Hout + t * Hout;
          if (t < len[b]) {
            std::memcpy(h_p + b * Hout, hq + b * Hout, sizeof(T_) * Hout);
            std::memcpy(ob, hq + b * Hout, sizeof(T_) * Hout);
          } else {
            std::memset(ob, 0, sizeof(T_) * Hout);
          }
        }
      }
    }
  });
  // Steps no sequence reaches: zeros, in out and in the saved buffers alike.
  for (Tensor* buffer : {&out, &acts, &cs, &hprev}) {
    if (longest < T && buffer->numel() > 0) buffer->narrow(1, longest, T - longest).zero_();
  }
  return {out, h, c, acts, cs, hprev, hc};
}

// Returns dx (B, T, I), dh0 (B, H_out), dc0 (B, H), dw_ih, dw_hh, db (4H,) (empty when
// has_bias is false; it is the gradient of b_ih and of b_hh alike) and dw_hr (empty without
// projection).
Tensor7 lstm_backward(const Tensor& dout_, const Tensor& dh_n, const Tensor& dc_n,
                      const Tensor& x_, const Tensor& lengths, const Tensor& c0,
                      const Tensor& w_ih, const Tensor& w_hh, const OptTensor& w_hr,
                      const OptTensor& rec_mask, const Tensor& acts, const Tensor& cs, const Tensor& hprev,
                      const Tensor& hc, bool has_bias) {
  const char* op = "rnnkit_fused::lstm_backward";
  const int64_t longest = check_sequence(op, x_, lengths);
  const Tensor x = x_.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  const int64_t H = w_hh.size(0) / 4, Hout = w_hh.size(1);
  const bool proj = defined(w_hr);
  TORCH_CHECK(acts.numel() == B * T * 4 * H, op,
              ": the forward did not save its buffers (it ran with save=False)");
  check_like(op, "dout", dout_, x, {B, T, Hout});
  const Tensor dout = dout_.contiguous();
  Tensor dh = dh_n.contiguous().clone();  // dL/dh carried from the future (B, H_out)
  Tensor dc = dc_n.contiguous().clone();  // dL/dc carried from the future (B, H)
  const Tensor c0c = c0.contiguous();
  Tensor dA = at::empty({B, T, 4 * H}, x.options());  // dL/d(pre-activations)
  Tensor dHs = proj ? at::empty({B, T, Hout}, x.options()) : Tensor();  // dL/dh_t, for dW_hr
  Tensor dhc = proj ? at::empty({B, H}, x.options()) : Tensor();        // dL/d(o tanh c)
  const int64_t* len = lengths.const_data_ptr<int64_t>();
  if (longest < T) {
    dA.narrow(1, longest, T - longest).zero_();
    if (proj) dHs.narrow(1, longest, T - longest).zero_();
  }
  const bool dropped = defined(rec_mask);
  const Tensor mask = dropped ? rec_mask->contiguous() : Tensor();
  Tensor dhr = dropped ? at::empty({B, Hout}, x.options()) : Tensor();  // dL/d(h * mask)

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_fused_lstm_backward", [&] {
    using T_ = scalar_t;
    const T_* dout_p = dout.const_data_ptr<T_>();
    T_* dh_p = dh.data_ptr<T_>();
    T_* dc_p = dc.data_ptr<T_>();
    const T_* acts_p = acts.const_data_ptr<T_>();
    const T_* cs_p = cs.const_data_ptr<T_>();
    T_* dA_p = dA.data_ptr<T_>();
    for (int64_t t = longest - 1; t >= 0; --t) {
      const T_* dsrc = dout_p + t * Hout;
      int64_t dsrc_rs = T * Hout;
      T_* carry = dh_p;
      if (proj) {  // dh = dout + dh_next, kept for dW_hr; then dh~ = dh W_hr
        T_* dHs_p = dHs.data_ptr<T_>();
        for (int64_t b = 0; b < B; ++b) {
          T_* d = dHs_p + b * T * Hout + t * Hout;
          if (t < len[b]) {
            const T_* o = dout_p + b * T * Hout + t * Hout;
            T_* carried = dh_p + b * Hout;
            for (int64_t k = 0; k < Hout; ++k) {
              d[k] = o[k] + carried[k];
              carried[k] = T_(0);  // refilled by dA W_hh
            }
          } else {
            std::memset(d, 0, sizeof(T_) * Hout);
          }
        }
        at::mm_out(dhc, dHs.select(1, t), *w_hr);  // (B, H)
        dsrc = dhc.const_data_ptr<T_>();
        dsrc_rs = H;
        carry = nullptr;
      }
      const T_* c_prev = t == 0 ? c0c.const_data_ptr<T_>() : cs_p + (t - 1) * H;
      const int64_t c_prev_rs = t == 0 ? H : T * H;
      for_rows(B, 4 * H, [&](int64_t b0, int64_t b1) {
        const StepRows rows{b0, b1, t, len};
        lstm_backward_step<T_>(rows, H, dsrc, dsrc_rs, carry, dc_p, acts_p + t * 4 * H,
                               T * 4 * H, cs_p + t * H, T * H, c_prev, c_prev_rs,
                               dA_p + t * 4 * H, T * 4 * H);
      });
      if (dropped) {  // dh_prev = (dA W_hh) * mask
        at::mm_out(dhr, dA.select(1, t), w_hh);
        dh.addcmul_(dhr, mask);
      } else {
        dh.addmm_(dA.select(1, t), w_hh);  // dh_prev = dA W_hh (padded rows: + 0, held)
      }
    }
  });
  const Tensor dA2 = dA.view({B * T, 4 * H});
  Tensor dx = at::mm(dA2, w_ih).view({B, T, I});                   // dX = dA W_ih
  Tensor dw_ih = at::mm(dA2.t(), x.view({B * T, I}));               // dW_ih = dA^T X
  Tensor dw_hh = at::mm(dA2.t(), hprev.view({B * T, Hout}));        // dW_hh = dA^T H_prev
  Tensor db = has_bias ? dA2.sum(0) : at::empty({0}, x.options());  // db = sum dA
  Tensor dw_hr = proj ? at::mm(dHs.view({B * T, Hout}).t(), hc.view({B * T, H}))
                      : at::empty({0}, x.options());  // dW_hr = dH^T H~
  return {dx, dh, dc, dw_ih, dw_hh, db, dw_hr};
}

// -------------------------------------------------------------------------------- GRU

// Returns out (B, T, H), h_n (B, H) and, when save, acts (B, T, 3H) the activations r, z, n,
// nhat (B, T, H) = W_hn h_{t-1} + b_hn and hprev (B, T, H).
Tensor5 gru_forward(const Tensor& x_, const Tensor& lengths, const Tensor& h0,
                    const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                    const OptTensor& b_hh, bool save) {
  const char* op = "rnnkit_fused::gru_forward";
  const int64_t longest = check_sequence(op, x_, lengths);
  const Tensor x = x_.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  const int64_t H = w_hh.size(1);
  check_like(op, "w_ih", w_ih, x, {3 * H, I});
  check_like(op, "w_hh", w_hh, x, {3 * H, H});
  check_like(op, "h0", h0, x, {B, H});
  const Tensor gx = input_projection(x, w_ih, defined(b_ih) ? *b_ih : Tensor());  // (B, T, 3H)
  Tensor h = h0.contiguous().clone();
  Tensor out = at::empty({B, T, H}, x.options());
  Tensor acts = empty_or(save, {B, T, 3 * H}, x);
  Tensor nhat = empty_or(save, {B, T, H}, x);
  Tensor hprev = empty_or(save, {B, T, H}, x);
  Tensor gh = at::empty({B, 3 * H}, x.options());
  const Tensor w_hh_t = w_hh.t();
  const int64_t* len = lengths.const_data_ptr<int64_t>();

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_fused_gru_forward", [&] {
    using T_ = scalar_t;
    const T_* gx_p = gx.const_data_ptr<T_>();
    T_* h_p = h.data_ptr<T_>();
    T_* out_p = out.data_ptr<T_>();
    const T_* gh_p = gh.const_data_ptr<T_>();
    for (int64_t t = 0; t < longest; ++t) {
      if (save) {
        T_* hp = hprev.data_ptr<T_>() + t * H;
        for (int64_t b = 0; b < B; ++b) std::memcpy(hp + b * T * H, h_p + b * H, sizeof(T_) * H);
      }
      if (defined(b_hh)) {
        at::addmm_out(gh, *b_hh, h, w_hh_t);  // gh = h W_hh^T + b_hh  (B, 3H)
      } else {
        at::mm_out(gh, h, w_hh_t);
      }
      for_rows(B, 3 * H, [&](int64_t b0, int64_t b1) {
        const StepRows rows{b0, b1, t, len};
        gru_forward_step<T_>(rows, H, gx_p + t * 3 * H, T * 3 * H, gh_p, h_p, out_p + t * H,
                             T * H, save ? acts.data_ptr<T_>() + t * 3 * H : nullptr, T * 3 * H,
                             save ? nhat.data_ptr<T_>() + t * H : nullptr, T * H);
      });
    }
  });
  for (Tensor* buffer : {&out, &acts, &nhat, &hprev}) {
    if (longest < T && buffer->numel() > 0) buffer->narrow(1, longest, T - longest).zero_();
  }
  return {out, h, acts, nhat, hprev};
}

// Returns dx, dh0, dw_ih, dw_hh, db_ih, db_hh (the biases' empty when not has_b_ih/has_b_hh).
Tensor6 gru_backward(const Tensor& dout_, const Tensor& dh_n, const Tensor& x_,
                     const Tensor& lengths, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& acts, const Tensor& nhat, const Tensor& hprev, bool has_b_ih,
                     bool has_b_hh) {
  const char* op = "rnnkit_fused::gru_backward";
  const int64_t longest = check_sequence(op, x_, lengths);
  const Tensor x = x_.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  const int64_t H = w_hh.size(1);
  TORCH_CHECK(acts.numel() == B * T * 3 * H, op,
              ": the forward did not save its buffers (it ran with save=False)");
  check_like(op, "dout", dout_, x, {B, T, H});
  const Tensor dout = dout_.contiguous();
  Tensor dh = dh_n.contiguous().clone();
  Tensor dGi = at::empty({B, T, 3 * H}, x.options());  // dL/d(input projection)
  Tensor dGh = at::empty({B, T, 3 * H}, x.options());  // dL/d(recurrent projection)
  if (longest < T) {
    dGi.narrow(1, longest, T - longest).zero_();
    dGh.narrow(1, longest, T - longest).zero_();
  }
  const int64_t* len = lengths.const_data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_fused_gru_backward", [&] {
    using T_ = scalar_t;
    const T_* dout_p = dout.const_data_ptr<T_>();
    T_* dh_p = dh.data_ptr<T_>();
    for (int64_t t = longest - 1; t >= 0; --t) {
      for_rows(B, 3 * H, [&](int64_t b0, int64_t b1) {
        const StepRows rows{b0, b1, t, len};
        gru_backward_step<T_>(rows, H, dout_p + t * H, T * H, dh_p,
                              acts.const_data_ptr<T_>() + t * 3 * H, T * 3 * H,
                              nhat.const_data_ptr<T_>() + t * H, T * H,
                              hprev.const_data_ptr<T_>() + t * H, T * H,
                              dGi.data_ptr<T_>() + t * 3 * H, T * 3 * H,
                              dGh.data_ptr<T_>() + t * 3 * H, T * 3 * H);
      });
      dh.addmm_(dGh.select(1, t), w_hh);  // dh_prev = dh * z + dGh W_hh
    }
  });
  const Tensor dGi2 = dGi.view({B * T, 3 * H}), dGh2 = dGh.view({B * T, 3 * H});
  Tensor dx = at::mm(dGi2, w_ih).view({B, T, I});          // dX = dGi W_ih
  Tensor dw_ih = at::mm(dGi2.t(), x.view({B * T, I}));      // dW_ih = dGi^T X
  Tensor dw_hh = at::mm(dGh2.t(), hprev.view({B * T, H}));  // dW_hh = dGh^T H_prev
  Tensor db_ih = has_b_ih ? dGi2.sum(0) : at::empty({0}, x.options());
  Tensor db_hh = has_b_hh ? dGh2.sum(0) : at::empty({0}, x.options());
  return {dx, dh, dw_ih, dw_hh, db_ih, db_hh};
}

// ------------------------------------------------------------------------------ Elman

// Returns out (B, T, H), h_n (B, H) and, when save, hprev (B, T, H).
Tensor3 elman_forward(const Tensor& x_, const Tensor& lengths, const Tensor& h0,
                      const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                      const OptTensor& b_hh, const OptTensor& rec_mask, bool relu,
                      bool save) {
  const char* op = "rnnkit_fused::elman_forward";
  const int64_t longest = check_sequence(op, x_, lengths);
  const Tensor x = x_.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  const int64_t H = w_hh.size(1);
  check_like(op, "w_ih", w_ih, x, {H, I});
  check_like(op, "w_hh", w_hh, x, {H, H});
  check_like(op, "h0", h0, x, {B, H});
  const bool dropped = defined(rec_mask);
  if (dropped) check_like(op, "rec_mask", *rec_mask, x, {B, H});
  const Tensor gx = input_projection(x, w_ih, bias_sum(b_ih, b_hh));  // (B, T, H)
  Tensor h = h0.contiguous().clone();
  Tensor out = at::empty({B, T, H}, x.options());
  Tensor hprev = empty_or(save, {B, T, H}, x);
  const Tensor mask = dropped ? rec_mask->contiguous() : Tensor();
  Tensor hr = dropped ? at::empty({B, H}, x.options()) : h;  // what W_hh multiplies
  Tensor gh = at::empty({B, H}, x.options());
  const Tensor w_hh_t = w_hh.t();
  const int64_t* len = lengths.const_data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_fused_elman_forward", [&] {
    using T_ = scalar_t;
    const T_* gx_p = gx.const_data_ptr<T_>();
    T_* h_p = h.data_ptr<T_>();
    T_* out_p = out.data_ptr<T_>();
    for (int64_t t = 0; t < longest; ++t) {
      if (dropped) at::mul_out(hr, h, mask);  // hr = h * mask
      if (save) {
        T_* hp = hprev.data_ptr<T_>() + t * H;
        const T_* src = hr.const_data_ptr<T_>();
        for (int64_t b = 0; b < B; ++b) std::memcpy(hp + b * T * H, src + b * H, sizeof(T_) * H);
      }
      at::mm_out(gh, hr, w_hh_t);  // gh = hr W_hh^T  (B, H)
      for_rows(B, H, [&](int64_t b0, int64_t b1) {
        const StepRows rows{b0, b1, t, len};
        elman_forward_step<T_>(rows, H, relu, gx_p + t * H, T * H, gh.const_data_ptr<T_>(),
                               h_p, out_p + t * H, T * H);
      });
    }
  });
  for (Tensor* buffer : {&out, &hprev}) {
    if (longest < T && buffer->numel() > 0) buffer->narrow(1, longest, T - longest).zero_();
  }
  return {out, h, hprev};
}

// Returns dx, dh0, dw_ih, dw_hh and db (H,) (empty when not has_bias; the gradient of b_ih
// and of b_hh alike). out is the forward's output: it holds h_t at every real step.
Tensor5 elman_backward(const Tensor& dout_, const Tensor& dh_n, const Tensor& x_,
                       const Tensor& lengths, const Tensor& w_ih, const Tensor& w_hh,
                       const Tensor& out_, const Tensor& hprev, const OptTensor& rec_mask,
                       bool relu, bool has_bias) {
  const char* op = "rnnkit_fused::elman_backward";
  const int64_t longest = check_sequence(op, x_, lengths);
  const Tensor x = x_.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  const int64_t H = w_hh.size(1);
  TORCH_CHECK(hprev.numel() == B * T * H, op,
              ": the forward did not save its buffers (it ran with save=False)");
  check_like(op, "dout", dout_, x, {B, T, H});
  const Tensor dout = dout_.contiguous(), out = out_.contiguous();
  Tensor dh = dh_n.contiguous().clone();
  Tensor dA = at::empty({B, T, H}, x.options());
  if (longest < T) dA.narrow(1, longest, T - longest).zero_();
  const int64_t* len = lengths.const_data_ptr<int64_t>();
  const bool dropped = defined(rec_mask);
  const Tensor mask = dropped ? rec_mask->contiguous() : Tensor();
  Tensor dhr = dropped ? at::empty({B, H}, x.options()) : Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_fused_elman_backward", [&] {
    using T_ = scalar_t;
    T_* dh_p = dh.data_ptr<T_>();
    for (int64_t t = longest - 1; t >= 0; --t) {
      for_rows(B, H, [&](int64_t b0, int64_t b1) {
        const StepRows rows{b0, b1, t, len};
        elman_backward_step<T_>(rows, H, relu, dout.const_data_ptr<T_>() + t * H, T * H, dh_p,
                                out.const_data_ptr<T_>() + t * H, T * H,
                                dA.data_ptr<T_>() + t * H, T * H);
      });
      if (dropped) {  // dh_prev = (dA W_hh) * mask
        at::mm_out(dhr, dA.select(1, t), w_hh);
        dh.addcmul_(dhr, mask);
      } else {
        dh.addmm_(dA.select(1, t), w_hh);  // dh_prev = dA W_hh
      }
    }
  });
  const Tensor dA2 = dA.view({B * T, H});
  Tensor dx = at::mm(dA2, w_ih).view({B, T, I});
  Tensor dw_ih = at::mm(dA2.t(), x.view({B * T, I}));
  Tensor dw_hh = at::mm(dA2.t(), hprev.view({B * T, H}));
  Tensor db = has_bias ? dA2.sum(0) : at::empty({0}, x.options());
  return {dx, dh, dw_ih, dw_hh, db};
}

}  // namespace

TORCH_LIBRARY(rnnkit_fused, m) {
  m.def(
      "lstm_forward(Tensor x, Tensor lengths, Tensor h0, Tensor c0, Tensor w_ih, Tensor w_hh, "
      "Tensor? b_ih, Tensor? b_hh, Tensor? w_hr, Tensor? rec_mask, bool save) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "lstm_backward(Tensor dout, Tensor dh_n, Tensor dc_n, Tensor x, Tensor lengths, "
      "Tensor c0, Tensor w_ih, Tensor w_hh, Tensor? w_hr, Tensor? rec_mask, Tensor acts, "
      "Tensor cs, "
      "Tensor hprev, Tensor hc, bool has_bias) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "gru_forward(Tensor x, Tensor lengths, Tensor h0, Tensor w_ih, Tensor w_hh, "
      "Tensor? b_ih, Tensor? b_hh, bool save) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "gru_backward(Tensor dout, Tensor dh_n, Tensor x, Tensor lengths, Tensor w_ih, "
      "Tensor w_hh, Tensor acts, Tensor nhat, Tensor hprev, bool has_b_ih, bool has_b_hh) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "elman_forward(Tensor x, Tensor lengths, Tensor h0, Tensor w_ih, Tensor w_hh, "
      "Tensor? b_ih, Tensor? b_hh, Tensor? rec_mask, bool relu, bool save) "
      "-> (Tensor, Tensor, Tensor)");
  m.def(
      "elman_backward(Tensor dout, Tensor dh_n, Tensor x, Tensor lengths, Tensor w_ih, "
      "Tensor w_hh, Tensor out, Tensor hprev, Tensor? rec_mask, bool relu, bool has_bias) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit_fused, CPU, m) {
  m.impl("lstm_forward", &lstm_forward);
  m.impl("lstm_backward", &lstm_backward);
  m.impl("gru_forward", &gru_forward);
  m.impl("gru_backward", &gru_backward);
  m.impl("elman_forward", &elman_forward);
  m.impl("elman_backward", &elman_backward);
}

}  // namespace rnnkit_fused
