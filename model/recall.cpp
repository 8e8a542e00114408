#include "model/recall.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/cpu/indexer.h"
#include "kernels/error.h"

namespace dsv32 {

void add_query_recall(const double* logits, int64_t H, int64_t n, const float* scores, const std::vector<int64_t>& ks,
                      double* out, std::vector<int32_t>& scratch) {
  // p(u) = (1/H) Σ_h softmax_u(logits[h, u]), max-subtracted in double.
  std::vector<double> p(size_t(n), 0.0);
  for (int64_t h = 0; h < H; ++h) {
    const double* a = logits + h * n;
    double mx = -INFINITY, z = 0;
    for (int64_t u = 0; u < n; ++u) mx = std::max(mx, a[u]);
    for (int64_t u = 0; u < n; ++u) z += std::exp(a[u] - mx);
    for (int64_t u = 0; u < n; ++u) p[size_t(u)] += std::exp(a[u] - mx) / (z * double(H));
  }
  scratch.resize(size_t(2 * n));
  int32_t *tmp = scratch.data(), *sel = scratch.data() + n;
  for (size_t i = 0; i < ks.size(); ++i) {
    const int64_t m = indexer_topk(scores, n, ks[i], tmp, sel);  // the forward pass's own selection
    double r = 0;
    for (int64_t j = 0; j < m; ++j) r += p[size_t(sel[j])];
    out[i] += r;
  }
}

void query_logits(Model& m, int layer, const float* q_nope, const float* q_rope, int64_t n, double* logits) {
  const ModelConfig& c = m.config();
  if (m.options().mla != MlaMode::kNaive) fail("recall: query_logits needs the naive cache (per-head K)");
  const int64_t H = c.n_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dqk = dn + dr;
  const double scale = c.softmax_scale();
  for (int64_t u = 0; u < n; ++u) {
    const float* k = m.mla_cache_row(layer, u);  // naive cache row [H, dn + dr]: K_h(u) = [k_nope ; k_rope]
    for (int64_t h = 0; h < H; ++h) {
      const float *a = q_nope + h * dn, *b = q_rope + h * dr, *kh = k + h * dqk;
      double dot = 0;
      for (int64_t d = 0; d < dn; ++d) dot += double(a[d]) * kh[d];
      for (int64_t d = 0; d < dr; ++d) dot += double(b[d]) * kh[dn + d];
      logits[h * n + u] = scale * dot;
    }
  }
}

std::vector<std::vector<double>> chunk_recall(Model& m, const int32_t* ids, int64_t S, int64_t q0,
                                              const std::vector<int64_t>& ks) {
  const ModelConfig& c = m.config();
  const ModelOptions& o = m.options();
  if (o.attn != AttnMode::kSparse || o.mla != MlaMode::kNaive || c.index_topk < S || o.numerics != "exact" ||
      o.device != Device::kCpu)
    fail("recall: needs a CPU sparse/naive exact model with index_topk >= " + std::to_string(S) + " (has " +
         std::to_string(c.index_topk) + ")");
  if (q0 < 0 || q0 >= S) fail("recall: first query " + std::to_string(q0) + " outside [0, " + std::to_string(S) + ")");
  const int64_t L = c.n_layers, H = c.n_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim;
  // What the observer hands over, per layer: q_nope [S, H, dn], q_rope [S, H, dr], scores [S, S].
  std::vector<std::vector<float>> qn(L), qr(L), sc(L);
  Observer obs = [&](const TensorEvent& e) {
    if (e.layer < 0) return;
    const std::string leaf = e.name.substr(e.name.rfind('/') + 1);
    const float* d = static_cast<const float*>(e.data);
    if (leaf == "q_nope") qn[e.layer].assign(d, d + e.numel());
    else if (leaf == "q_rope") qr[e.layer].assign(d, d + e.numel());
    else if (leaf == "indexer_scores") sc[e.layer].assign(d, d + e.numel());
  };
  m.forward(ids, S, 0, nullptr, &obs);
  std::vector<std::vector<double>> sum(size_t(L), std::vector<double>(ks.size(), 0.0));
  std::vector<double> logits;
  std::vector<int32_t> scratch;
  for (int64_t l = 0; l < L; ++l) {
    if (qn[l].size() != size_t(S * H * dn) || qr[l].size() != size_t(S * H * dr) || sc[l].size() != size_t(S * S))
      fail("recall: layer " + std::to_string(l) + ": the forward pass did not report q_nope, q_rope and indexer_scores");
    for (int64_t s = q0; s < S; ++s) {
      const int64_t n = s + 1;
      logits.resize(size_t(H * n));
      query_logits(m, int(l), &qn[l][size_t(s * H * dn)], &qr[l][size_t(s * H * dr)], n, logits.data());
      add_query_recall(logits.data(), H, n, &sc[l][size_t(s * S)], ks, sum[size_t(l)].data(), scratch);
    }
  }
  return sum;
}

}  // namespace dsv32
