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

void indexer_scores_rows(const IndexerParams& p, int64_t rows, const float* q, int64_t q_stride, const float* w,
                         int64_t w_stride, const float* keys, int64_t n, float* scores, int64_t scores_stride) {
  const int64_t H = p.n_heads, d = p.head_dim;
  if (d % 16 || H % 4) {  // no DeepSeek shape: the per-query loop
    for (int64_t r = 0; r < rows; ++r) indexer_scores(p, q + r * q_stride, w + r * w_stride, keys, n, scores + r * scores_stride);
    return;
  }
  constexpr int64_t kKeyBlock = 64;
  for (int64_t u0 = 0; u0 < n; u0 += kKeyBlock) {
    const int64_t u1 = std::min(n, u0 + kKeyBlock);
    for (int64_t r = 0; r < rows; ++r) {
      const float* qr = q + r * q_stride;
      const float* wr = w + r * w_stride;
      float* out = scores + r * scores_stride;
      int64_t u = u0;
      for (; u + 4 <= u1; u += 4) {
        const float* k[4] = {keys + u * d, keys + (u + 1) * d, keys + (u + 2) * d, keys + (u + 3) * d};
        float s[4] = {0, 0, 0, 0};
        for (int64_t j = 0; j < H; j += 4) {
          const float* qh[4] = {qr + j * d, qr + (j + 1) * d, qr + (j + 2) * d, qr + (j + 3) * d};
          float dt[4][4];
          vec::dot_tile<4>(qh, k, d, dt);
          for (int h = 0; h < 4; ++h)
            for (int c = 0; c < 4; ++c) s[c] += wr[j + h] * (dt[h][c] > 0.f ? dt[h][c] : 0.f);
        }
        for (int c = 0; c < 4; ++c) out[u + c] = s[c];
      }
      if (u < u1) indexer_scores(p, qr, wr, keys + u * d, u1 - u, out + u);  // key tail
    }
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
