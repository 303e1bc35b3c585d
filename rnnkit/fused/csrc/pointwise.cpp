// The gate maths of the fused kernels (declared and documented in pointwise.h).
//
// Built with -O3 -ffast-math: each inner loop over k in [0, H) is vectorised, exp/tanh going
// to glibc's vector functions (libmvec). target_clones adds an AVX2+FMA copy of every step
// function, picked once at load time by the CPU; the default copy runs on any x86-64.
#include "pointwise.h"

#include <cmath>
#include <cstring>

// Row helpers are force-inlined so that each clone vectorises them for its own target.
#define RNNKIT_ROW inline __attribute__((always_inline))

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RNNKIT_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define RNNKIT_CLONES
#endif

namespace rnnkit_fused {
namespace {

template <typename T>
RNNKIT_ROW T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

inline bool real_row(const StepRows& r, int64_t b) { return r.t < r.lengths[b]; }

template <typename T>
inline void zero_row(T* p, int64_t n) {
  std::memset(p, 0, sizeof(T) * n);
}

template <typename T, bool SAVE>
RNNKIT_ROW void lstm_forward_row(int64_t H, const T* __restrict gx, const T* __restrict gh,
                             T* __restrict c, T* __restrict h, T* __restrict a) {
  for (int64_t k = 0; k < H; ++k) {
    const T i = sigmoid(gx[k] + gh[k]);                  // input gate
    const T f = sigmoid(gx[H + k] + gh[H + k]);          // forget gate
    const T g = std::tanh(gx[2 * H + k] + gh[2 * H + k]);  // candidate
    const T o = sigmoid(gx[3 * H + k] + gh[3 * H + k]);  // output gate
    const T cn = f * c[k] + i * g;                       // c = f * c_prev + i * g
    c[k] = cn;
    h[k] = o * std::tanh(cn);  // h = o * tanh(c)
    if constexpr (SAVE) {
      a[k] = i;
      a[H + k] = f;
      a[2 * H + k] = g;
      a[3 * H + k] = o;
    }
  }
}

template <typename T, bool CARRY>
RNNKIT_ROW void lstm_backward_row(int64_t H, const T* __restrict dsrc, T* __restrict dh_carry,
                              T* __restrict dc, const T* __restrict a, const T* __restrict c_t,
                              const T* __restrict c_prev, T* __restrict dA) {
  for (int64_t k = 0; k < H; ++k) {
    T dhc = dsrc[k];  // dL/d(o * tanh c)
    if constexpr (CARRY) {
      dhc += dh_carry[k];  // + dh_next
      dh_carry[k] = T(0);  // refilled by dA W_hh
    }
    const T i = a[k], f = a[H + k], g = a[2 * H + k], o = a[3 * H + k];
    const T tc = std::tanh(c_t[k]);
    const T dcv = dhc * o * (T(1) - tc * tc) + dc[k];  // dc = dh~ o (1 - tanh^2 c) + dc_next
    dA[k] = dcv * g * i * (T(1) - i);                  // di
    dA[H + k] = dcv * c_prev[k] * f * (T(1) - f);      // df
    dA[2 * H + k] = dcv * i * (T(1) - g * g);          // dg
    dA[3 * H + k] = dhc * tc * o * (T(1) - o);         // do
    dc[k] = dcv * f;                                   // dc_prev = dc * f
  }
}

template <typename T, bool SAVE>
RNNKIT_ROW void gru_forward_row(int64_t H, const T* __restrict gx, const T* __restrict gh,
                            T* __restrict h, T* __restrict a, T* __restrict nhat) {
  for (int64_t k = 0; k < H; ++k) {
    const T rg = sigmoid(gx[k] + gh[k]);                 // reset gate
    const T z = sigmoid(gx[H + k] + gh[H + k]);          // update gate
    const T nh = gh[2 * H + k];                          // W_hn h + b_hn
    const T n = std::tanh(gx[2 * H + k] + rg * nh);      // candidate
    h[k] = n + z * (h[k] - n);                           // h = (1 - z) n + z h_prev
    if constexpr (SAVE) {
      a[k] = rg;
      a[H + k] = z;
      a[2 * H + k] = n;
      nhat[k] = nh;
    }
  }
}

template <typename T>
RNNKIT_ROW void gru_backward_row(int64_t H, const T* __restrict dout, T* __restrict dh_carry,
                             const T* __restrict a, const T* __restrict nhat,
                             const T* __restrict hprev, T* __restrict dGi, T* __restrict dGh) {
  for (int64_t k = 0; k < H; ++k) {
    const T dh = dout[k] + dh_carry[k];  // dh = dout + dh_next
    const T rg = a[k], z = a[H + k], n = a[2 * H + k];
    const T dan = dh * (T(1) - z) * (T(1) - n * n);      // dL/d(n pre-activation)
    const T dar = dan * nhat[k] * rg * (T(1) - rg);      // dL/d(r pre-activation)
    const T daz = dh * (hprev[k] - n) * z * (T(1) - z);  // dL/d(z pre-activation)
    dGi[k] = dar;
    dGi[H + k] = daz;
    dGi[2 * H + k] = dan;
    dGh[k] = dar;
    dGh[H + k] = daz;
    dGh[2 * H + k] = dan * rg;  // dL/d(W_hn h + b_hn)
    dh_carry[k] = dh * z;       // the direct path; dGh W_hh is added after
  }
}

template <typename T, bool RELU>
RNNKIT_ROW void elman_forward_row(int64_t H, const T* __restrict gx, const T* __restrict gh,
                              T* __restrict h) {
  for (int64_t k = 0; k < H; ++k) {
    const T v = gx[k] + gh[k];
    if constexpr (RELU) {
      h[k] = v > T(0) ? v : T(0);
    } else {
      h[k] = std::tanh(v);
    }
  }
}

template <typename T, bool RELU>
RNNKIT_ROW void elman_backward_row(int64_t H, const T* __restrict dout, T* __restrict dh_carry,
                               const T* __restrict hout, T* __restrict dA) {
  for (int64_t k = 0; k < H; ++k) {
    const T dh = dout[k] + dh_carry[k];  // dh = dout + dh_next
    const T hv = hout[k];
    if constexpr (RELU) {
      dA[k] = hv > T(0) ? dh : T(0);  // relu' from the output
    } else {
      dA[k] = dh * (T(1) - hv * hv);  // tanh' = 1 - h^2
    }
    dh_carry[k] = T(0);  // refilled by dA W_hh
  }
}

}  // namespace

template <typename T>
RNNKIT_CLONES void lstm_forward_step(const StepRows& r, int64_t H, const T* gx, int64_t gx_rs,
                                     const T* gh, T* c, T* h, int64_t h_rs, T* out,
                                     int64_t out_rs, T* acts, int64_t acts_rs, T* cs,
                                     int64_t cs_rs) {
  for (int64_t b = r.b0; b < r.b1; ++b) {
    if (!real_row(r, b)) {  // held: c and h untouched; what is written is zero
      if (out) zero_row(out + b * out_rs, H);
      if (acts) zero_row(acts + b * acts_rs, 4 * H);
      if (cs) zero_row(cs + b * cs_rs, H);
      continue;
    }
    T* hb = h + b * h_rs;
    T* cb = c + b * H;
    if (acts) {
      lstm_forward_row<T, true>(H, gx + b * gx_rs, gh + b * 4 * H, cb, hb, acts + b * acts_rs);
    } else {
      lstm_forward_row<T, false>(H, gx + b * gx_rs, gh + b * 4 * H, cb, hb, nullptr);
    }
    if (out) std::memcpy(out + b * out_rs, hb, sizeof(T) * H);
    if (cs) std::memcpy(cs + b * cs_rs, cb, sizeof(T) * H);
  }
}

template <typename T>
RNNKIT_CLONES void lstm_backward_step(const StepRows& r, int64_t H, const T* dsrc,
                                      int64_t dsrc_rs, T* dh_carry, T* dc, const T* acts,
                                      int64_t acts_rs, const T* c_t, int64_t c_t_rs,
                                      const T* c_prev, int64_t c_prev_rs, T* dA, int64_t dA_rs) {
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* dAb = dA + b * dA_rs;
    if (!real_row(r, b)) {  // held: the carried gradients pass through
      zero_row(dAb, 4 * H);
      continue;
    }
    const T* ds = dsrc + b * dsrc_rs;
    const T* ab = acts + b * acts_rs;
    const T* ct = c_t + b * c_t_rs;
    const T* cp = c_prev + b * c_prev_rs;
    if (dh_carry) {
      lstm_backward_row<T, true>(H, ds, dh_carry + b * H, dc + b * H, ab, ct, cp, dAb);
    } else {
      lstm_backward_row<T, false>(H, ds, nullptr, dc + b * H, ab, ct, cp, dAb);
    }
  }
}

template <typename T>
RNNKIT_CLONES void gru_forward_step(const StepRows& r, int64_t H, const T* gx, int64_t gx_rs,
                                    const T* gh, T* h, T* out, int64_t out_rs, T* acts,
                                    int64_t acts_rs, T* nhat, int64_t nhat_rs) {
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* ob = out + b * out_rs;
    if (!real_row(r, b)) {  // held: h untouched; what is written is zero
      zero_row(ob, H);
      if (acts) zero_row(acts + b * acts_rs, 3 * H);
      if (nhat) zero_row(nhat + b * nhat_rs, H);
      continue;
    }
    T* hb = h + b * H;
    if (acts) {
      gru_forward_row<T, true>(H, gx + b * gx_rs, gh + b * 3 * H, hb, acts + b * acts_rs,
                               nhat + b * nhat_rs);
    } else {
      gru_forward_row<T, false>(H, gx + b * gx_rs, gh + b * 3 * H, hb, nullptr, nullptr);
    }
    std::memcpy(ob, hb, sizeof(T) * H);
  }
}

template <typename T>
RNNKIT_CLONES void gru_backward_step(const StepRows& r, int64_t H, const T* dout,
                                     int64_t dout_rs, T* dh_carry, const T* acts,
                                     int64_t acts_rs, const T* nhat, int64_t nhat_rs,
                                     const T* hprev, int64_t hprev_rs, T* dGi, int64_t dGi_rs,
                                     T* dGh, int64_t dGh_rs) {
  for (int64_t b = r.b0; b < r.b1; ++b) {
    if (!real_row(r, b)) {  // held: dh_carry passes through (dGh = 0 adds nothing to it)
      zero_row(dGi + b * dGi_rs, 3 * H);
      zero_row(dGh + b * dGh_rs, 3 * H);
      continue;
    }
    gru_backward_row<T>(H, dout + b * dout_rs, dh_carry + b * H, acts + b * acts_rs,
                        nhat + b * nhat_rs, hprev + b * hprev_rs, dGi + b * dGi_rs,
                        dGh + b * dGh_rs);
  }
}

template <typename T>
RNNKIT_CLONES void elman_forward_step(const StepRows& r, int64_t H, bool relu, const T* gx,
                                      int64_t gx_rs, const T* gh, T* h, T* out,
                                      int64_t out_rs) {
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* ob = out + b * out_rs;
    if (!real_row(r, b)) {
      zero_row(ob, H);
      continue;
    }
    T* hb = h + b * H;
    if (relu) {
      elman_forward_row<T, true>(H, gx + b * gx_rs, gh + b * H, hb);
    } else {
      elman_forward_row<T, false>(H, gx + b * gx_rs, gh + b * H, hb);
    }
    std::memcpy(ob, hb, sizeof(T) * H);
  }
}

template <typename T>
RNNKIT_CLONES void elman_backward_step(const StepRows& r, int64_t H, bool relu, const T* dout,
                                       int64_t dout_rs, T* dh_carry, const T* hout,
                                       int64_t hout_rs, T* dA, int64_t dA_rs) {
  for (int64_t b = r.b0; b < r.b1; ++b) {
    T* dAb = dA + b * dA_rs;
    if (!real_row(r, b)) {
      zero_row(dAb, H);
      continue;
    }
    if (relu) {
      elman_backward_row<T, true>(H, dout + b * dout_rs, dh_carry + b * H, hout + b * hout_rs,
                                  dAb);
    } else {
      elman_backward_row<T, false>(H, dout + b * dout_rs, dh_carry + b * H, hout + b * hout_rs,
                                   dAb);
    }
  }
}

#define RNNKIT_INSTANTIATE(T)                                                                 \
  template void lstm_forward_step<T>(const StepRows&, int64_t, const T*, int64_t, const T*,  \
                                     T*, T*, int64_t, T*, int64_t, T*, int64_t, T*, int64_t); \
  template void lstm_backward_step<T>(const StepRows&, int64_t, const T*, int64_t, T*, T*,   \
                                      const T*, int64_t, const T*, int64_t, const T*,        \
                                      int64_t, T*, int64_t);                                 \
  template void gru_forward_step<T>(const StepRows&, int64_t, const T*, int64_t, const T*,   \
                                    T*, T*, int64_t, T*, int64_t, T*, int64_t);              \
  template void gru_backward_step<T>(const StepRows&, int64_t, const T*, int64_t, T*,        \
                                     const T*, int64_t, const T*, int64_t, const T*,         \
                                     int64_t, T*, int64_t, T*, int64_t);                     \
  template void elman_forward_step<T>(const StepRows&, int64_t, bool, const T*, int64_t,     \
                                      const T*, T*, T*, int64_t);                            \
  template void elman_backward_step<T>(const StepRows&, int64_t, bool, const T*, int64_t,    \
                                       T*, const T*, int64_t, T*, int64_t);

RNNKIT_INSTANTIATE(float)
RNNKIT_INSTANTIATE(double)

}  // namespace rnnkit_fused
