#include "kernels/cpu/moe_experts.h"

#include <algorithm>
#include <cstring>

namespace dsv32 {

void moe_experts(const MoeExpertsParams& p, MoeScratch& sc, const float* x, const int32_t* ids, const float* weights,
                 const ExpertFn& expert, float* y) {
  const int64_t S = p.tokens, D = p.hidden, K = p.top_k, E = p.n_experts, pairs = S * K;
  sc.count.assign(size_t(E), 0);
  for (int64_t i = 0; i < pairs; ++i) ++sc.count[ids[i]];
  sc.offset.resize(size_t(E + 1));
  sc.offset[0] = 0;
  for (int64_t e = 0; e < E; ++e) sc.offset[e + 1] = sc.offset[e] + sc.count[e];
  sc.rows.resize(size_t(pairs));
  std::fill(sc.count.begin(), sc.count.end(), 0);  // reused as the fill cursor
  for (int64_t i = 0; i < pairs; ++i) {
    const int32_t e = ids[i];
    sc.rows[sc.offset[e] + sc.count[e]++] = int32_t(i);  // i = s·K + slot
  }
  const size_t n_slots = size_t(pairs * D);
  if (sc.xg.size() < n_slots) sc.xg.resize(n_slots), sc.yg.resize(n_slots), sc.slot_out.resize(n_slots);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n = sc.offset[e + 1] - sc.offset[e];
    if (n == 0) continue;
    const int32_t* rows = &sc.rows[sc.offset[e]];
    for (int64_t r = 0; r < n; ++r) std::memcpy(&sc.xg[r * D], x + (rows[r] / K) * D, D * 4);
    expert(e, sc.xg.data(), n, sc.yg.data());
    for (int64_t r = 0; r < n; ++r) std::memcpy(&sc.slot_out[rows[r] * D], &sc.yg[r * D], D * 4);
  }
  for (int64_t s = 0; s < S; ++s) {
    float* ys = y + s * D;
    for (int64_t d = 0; d < D; ++d) {
      float acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += weights[s * K + k] * sc.slot_out[(s * K + k) * D + d];
      ys[d] += acc;
    }
  }
}

}  // namespace dsv32
