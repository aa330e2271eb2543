// The f64 reference of one attention sequence, for the varlen, dropout, decode and options tests:
// q [seq_q, heads, dim], k and v [seq_k, kv_heads, dim], contiguous, the band aligned to the
// bottom-right corner as ops::attention's, optional kv_len, key mask, alibi, softcap and dropout
// keep mask; out, lse and the analytic gradients of sum(dout ∘ out). Written from the definition,
// sharing nothing with the kernels: softmax(q kᵀ · scale + mask) (z ∘ ·) v.
#pragma once

#include "support/philox_reference.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace tessel::testing {

struct SeqProblem {
  int64_t seq_q, seq_k, heads, kv_heads, dim;
  bool causal = false;
  int64_t left = -1, right = -1;
  double scale = 0; // 0: 1 / sqrt(dim)
  // Dropout: keep(h, i, j) says whether query i of head h keeps key j; p the drop probability.
  std::function<bool(int64_t, int64_t, int64_t)> keep = {};
  double p = 0;
  // Keys: the first kv_len exist (-1: seq_k), and of those the ones key_ok keeps (empty: all).
  int64_t kv_len = -1;
  std::vector<bool> key_ok = {};
  // ALiBi slopes per q head (empty: none) and the soft cap (0: none), as attention.h defines them.
  std::vector<double> alibi = {};
  double softcap = 0;
};

struct SeqResult {
  std::vector<double> out, lse;   // [seq_q, heads, dim], [heads, seq_q]
  std::vector<double> dq, dk, dv; // like q, k, v (with dout)
};

inline int64_t seq_kv_len(const SeqProblem& p) { return p.kv_len < 0 ? p.seq_k : p.kv_len; }

inline bool seq_visible(const SeqProblem& p, int64_t i, int64_t j) {
  if (j >= seq_kv_len(p) || (!p.key_ok.empty() && !p.key_ok[size_t(j)]))
    return false;
  const int64_t diag = i + seq_kv_len(p) - p.seq_q;
  if (p.left >= 0 && j < diag - p.left)
    return false;
  const int64_t right = p.causal ? 0 : p.right;
  return right < 0 || j <= diag + right;
}

// `dout` empty: the forward only.
inline SeqResult seq_reference(const SeqProblem& p, const std::vector<double>& q,
                               const std::vector<double>& k, const std::vector<double>& v,
                               const std::vector<double>& dout = {}) {
  SeqResult r;
  r.out.assign(size_t(p.seq_q * p.heads * p.dim), 0.0);
  r.lse.assign(size_t(p.heads * p.seq_q), -INFINITY);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  const double scale = p.scale != 0 ? p.scale : 1.0 / std::sqrt(double(p.dim));
  const int64_t group = p.heads / p.kv_heads;
  auto qi = [&](int64_t i, int64_t h, int64_t d) { return size_t((i * p.heads + h) * p.dim + d); };
  auto kj = [&](int64_t j, int64_t h, int64_t d) {
    return size_t((j * p.kv_heads + h / group) * p.dim + d);
  };
  for (int64_t h = 0; h < p.heads; ++h)
    for (int64_t i = 0; i < p.seq_q; ++i) {
      std::vector<double> pr(size_t(p.seq_k), 0.0), z(size_t(p.seq_k), 1.0);
      std::vector<double> dcap(size_t(p.seq_k), 1.0); // d(capped score) / d(score)
      double mx = -INFINITY;
      for (int64_t j = 0; j < p.seq_k; ++j) {
        if (!seq_visible(p, i, j))
          continue;
        double dot = 0;
        for (int64_t d = 0; d < p.dim; ++d)
          dot += q[qi(i, h, d)] * k[kj(j, h, d)];
        pr[j] = dot * scale;
        if (p.softcap > 0) {
          const double t = std::tanh(pr[j] / p.softcap);
          pr[j] = p.softcap * t;
          dcap[j] = 1 - t * t;
        }
        if (!p.alibi.empty())
          pr[j] -= p.alibi[size_t(h)] * std::fabs(double(i + seq_kv_len(p) - p.seq_q - j));
        mx = std::max(mx, pr[j]);
        if (p.keep)
          z[j] = p.keep(h, i, j) ? 1.0 / (1.0 - double(float(p.p))) : 0.0;
      }
      if (mx == -INFINITY)
        continue; // no visible key: out 0, lse -inf, no gradient
      double sum = 0;
      for (int64_t j = 0; j < p.seq_k; ++j)
        sum += seq_visible(p, i, j) ? (pr[j] = std::exp(pr[j] - mx)) : (pr[j] = 0);
      r.lse[size_t(h * p.seq_q + i)] = mx + std::log(sum);
      for (int64_t j = 0; j < p.seq_k; ++j) {
        pr[j] /= sum;
        for (int64_t d = 0; d < p.dim; ++d)
          r.out[qi(i, h, d)] += pr[j] * z[j] * v[kj(j, h, d)];
      }
      if (dout.empty())
        continue;
      std::vector<double> dp(size_t(p.seq_k), 0.0);
      double big_d = 0;
      for (int64_t j = 0; j < p.seq_k; ++j) {
        for (int64_t d = 0; d < p.dim; ++d)
          dp[j] += dout[qi(i, h, d)] * v[kj(j, h, d)];
        dp[j] *= z[j];
        big_d += pr[j] * dp[j];
      }
      for (int64_t j = 0; j < p.seq_k; ++j) {
        const double ds = pr[j] * (dp[j] - big_d) * dcap[j];
        for (int64_t d = 0; d < p.dim; ++d) {
          r.dq[qi(i, h, d)] += scale * ds * k[kj(j, h, d)];
          r.dk[kj(j, h, d)] += scale * ds * q[qi(i, h, d)];
          r.dv[kj(j, h, d)] += pr[j] * z[j] * dout[qi(i, h, d)];
        }
      }
    }
  return r;
}

// The keep bit of ops::attention's dropout (attention.h): element g = offset + row · n_keys + key
// is kept when u >= p, u from word g % 4 of Philox counter g / 4 (ops::dsl::dropout_mask's
// mapping, the same as ops::dropout's), on the host from tests/support/philox_reference.h.
inline bool attention_keep(uint64_t seed, uint64_t offset, int64_t lse_row, int64_t n_keys,
                           int64_t key, float p) {
  const uint64_t g = offset + uint64_t(lse_row) * uint64_t(n_keys) + uint64_t(key);
  return uniform_reference(randint4x_reference(int64_t(seed), g / 4)[g % 4]) >= p;
}

} // namespace tessel::testing
