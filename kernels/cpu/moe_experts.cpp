#include "kernels/cpu/moe_experts.h"

#include <algorithm>
#include <cstring>

namespace dsv32 {

void moe_group(const MoeExpertsParams& p, MoeScratch& sc, const int32_t* ids) {
  const int64_t S = p.tokens, D = p.hidden, K = p.top_k, E = p.n_experts, pairs = S * K;
  sc.count.assign(size_t(E), 0);
  for (int64_t i = 0; i < pairs; ++i) ++sc.count[ids[i]];
  sc.offset.resize(size_t(E + 1));
  sc.offset[0] = 0;
  for (int64_t e = 0; e < E; ++e) sc.offset[e + 1] = sc.offset[e] + sc.count[e];
  sc.rows.resize(size_t(pairs));
  sc.slot_row.resize(size_t(pairs));
  std::fill(sc.count.begin(), sc.count.end(), 0);  // reused as the fill cursor
  for (int64_t i = 0; i < pairs; ++i) {
    const int32_t e = ids[i], r = sc.offset[e] + sc.count[e]++;
    sc.rows[r] = int32_t(i);  // i = s·K + slot
    sc.slot_row[i] = r;
  }
  if (sc.yg.size() < size_t(pairs * D)) sc.yg.resize(size_t(pairs * D));
}

void moe_run_experts(const MoeExpertsParams& p, MoeScratch& sc, const float* x, const ExpertFn& expert, int64_t e0,
                     int64_t e1) {
  const int64_t D = p.hidden, K = p.top_k;
  for (int64_t e = e0; e < e1; ++e) {
    const int64_t first = sc.offset[e], n = sc.offset[e + 1] - first;
    if (n == 0) continue;
    if (sc.xg.size() < size_t(n * D)) sc.xg.resize(size_t(n * D));
    const int32_t* rows = &sc.rows[first];
    for (int64_t r = 0; r < n; ++r) std::memcpy(&sc.xg[r * D], x + (rows[r] / K) * D, D * 4);
    expert(e, sc.xg.data(), n, &sc.yg[first * D]);
  }
}

void moe_combine(const MoeExpertsParams& p, MoeScratch& sc, const float* weights, float* y) {
  const int64_t S = p.tokens, D = p.hidden, K = p.top_k, pairs = S * K;
  // The outputs back in (token, slot) order first: the sum below then reads them contiguously,
  // which is the loop (and so the compiled arithmetic) the single-process bits were fixed with —
  // reading through slot_row instead vectorises differently and changes the last bits.
  if (sc.slot_out.size() < size_t(pairs * D)) sc.slot_out.resize(size_t(pairs * D));
  for (int64_t i = 0; i < pairs; ++i) std::memcpy(&sc.slot_out[i * D], &sc.yg[sc.slot_row[i] * D], D * 4);
  for (int64_t s = 0; s < S; ++s) {
    float* ys = y + s * D;
    for (int64_t d = 0; d < D; ++d) {
      float acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += weights[s * K + k] * sc.slot_out[(s * K + k) * D + d];
      ys[d] += acc;
    }
  }
}

void moe_experts(const MoeExpertsParams& p, MoeScratch& sc, const float* x, const int32_t* ids, const float* weights,
                 const ExpertFn& expert, float* y) {
  moe_group(p, sc, ids);
  moe_run_experts(p, sc, x, expert, 0, p.n_experts);
  moe_combine(p, sc, weights, y);
}

}  // namespace dsv32
