#include "kernels/cpu/indexer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/vec.h"

namespace dsv32 {

void indexer_scores(const IndexerParams& p, const float* q, const float* w, const float* keys,
                    int64_t n, float* scores) {
  for (int64_t u = 0; u < n; ++u) {
    const float* k = keys + u * p.head_dim;
    float s = 0;
    for (int64_t j = 0; j < p.n_heads; ++j) {
      float d = vec::dot(q + j * p.head_dim, k, p.head_dim);
      s += w[j] * (d > 0.f ? d : 0.f);
    }
    scores[u] = s;
  }
}

int64_t indexer_topk(const float* scores, int64_t n, int64_t k, int32_t* scratch, int32_t* out) {
  if (k >= n) {
    for (int64_t i = 0; i < n; ++i) out[i] = int32_t(i);
    return n;
  }
  auto key = [&](int32_t i) { float s = scores[i]; return std::isnan(s) ? -INFINITY : s; };
  // Strict weak order: higher score first, then lower position.
  auto better = [&](int32_t a, int32_t b) {
    float sa = key(a), sb = key(b);
    return sa > sb || (sa == sb && a < b);
  };
  for (int64_t i = 0; i < n; ++i) scratch[i] = int32_t(i);
  std::nth_element(scratch, scratch + k, scratch + n, better);
  std::memcpy(out, scratch, k * sizeof(int32_t));
  std::sort(out, out + k);
  return k;
}

}  // namespace dsv32
