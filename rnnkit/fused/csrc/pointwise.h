// The gate maths of one time step of each fused kernel, over a range of batch rows.
//
// Plain C++ over raw pointers (no torch headers), so that pointwise.cpp can be built with
// -O3 -ffast-math: the compiler then vectorises the loops and calls glibc's vector exp/tanh.
// Every buffer is addressed by rows: row b of a buffer `p` with row stride `p_rs` starts at
// p + b * p_rs. A row is real at step t when t < lengths[b]; padded rows hold their state
// (c, h and the carried gradients are left untouched) and get zeros in what is written.
#pragma once

#include <cstdint>

namespace rnnkit_fused {

// Rows [b0, b1) of the batch at step t, and the lengths that say which of them are real.
struct StepRows {
  int64_t b0, b1, t;
  const int64_t* lengths;  // (B,)
};

// LSTM forward, gates i, f, g, o. gx: input part of the pre-activations (4H, bias included),
// gh: recurrent part (B, 4H) contiguous. c (B, H) is updated in place; h receives
// o * tanh(c) (the state, or the pre-projection value with proj_size); out, when not null,
// receives h for real rows and zeros for padded ones; acts (4H) and cs (H), when not null,
// receive the activations and the new cell state for backward.
template <typename T>
void lstm_forward_step(const StepRows& r, int64_t H, const T* gx, int64_t gx_rs, const T* gh,
                       T* c, T* h, int64_t h_rs, T* out, int64_t out_rs, T* acts,
                       int64_t acts_rs, T* cs, int64_t cs_rs);

// LSTM backward. dsrc: dL/d(o * tanh c) at this step, before the carried gradient is added
// when dh_carry is not null (no projection: dsrc = dout, and dh_carry is read and zeroed for
// real rows, to be refilled by dh_carry += dA W_hh); dc (B, H) is the carried dL/dc, updated
// in place; acts, c_t, c_prev the saved values; dA (4H) receives dL/d(pre-activations).
template <typename T>
void lstm_backward_step(const StepRows& r, int64_t H, const T* dsrc, int64_t dsrc_rs,
                        T* dh_carry, T* dc, const T* acts, int64_t acts_rs, const T* c_t,
                        int64_t c_t_rs, const T* c_prev, int64_t c_prev_rs, T* dA,
                        int64_t dA_rs);

// GRU forward, gates r, z, n, torch's reset: n = tanh(gx_n + r * (W_hn h + b_hn)).
// gx (3H, b_ih included), gh (B, 3H) contiguous with b_hh included. h (B, H) updated in
// place; out receives h (zeros for padded rows); acts (3H) and nhat (H = gh_n), when not
// null, are saved for backward.
template <typename T>
void gru_forward_step(const StepRows& r, int64_t H, const T* gx, int64_t gx_rs, const T* gh,
                      T* h, T* out, int64_t out_rs, T* acts, int64_t acts_rs, T* nhat,
                      int64_t nhat_rs);

// GRU backward. dh_carry (B, H): in, dL/dh_t carried from the future; out, for real rows,
// dh * z (the direct path), to which dGh W_hh is then added. dGi / dGh (3H) receive the
// gradients of the input and recurrent pre-activations.
template <typename T>
void gru_backward_step(const StepRows& r, int64_t H, const T* dout, int64_t dout_rs,
                       T* dh_carry, const T* acts, int64_t acts_rs, const T* nhat,
                       int64_t nhat_rs, const T* hprev, int64_t hprev_rs, T* dGi, int64_t dGi_rs,
                       T* dGh, int64_t dGh_rs);

// Elman forward: h = tanh(gx + gh) or relu(gx + gh); h (B, H) in place, out as for the GRU.
template <typename T>
void elman_forward_step(const StepRows& r, int64_t H, bool relu, const T* gx, int64_t gx_rs,
                        const T* gh, T* h, T* out, int64_t out_rs);

// Elman backward: dA = (dout + dh_carry) * f'(a), from the saved outputs; dh_carry zeroed for
// real rows (refilled by dh_carry += dA W_hh).
template <typename T>
void elman_backward_step(const StepRows& r, int64_t H, bool relu, const T* dout,
                         int64_t dout_rs, T* dh_carry, const T* hout, int64_t hout_rs, T* dA,
                         int64_t dA_rs);

}  // namespace rnnkit_fused
