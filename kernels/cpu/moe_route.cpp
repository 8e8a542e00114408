#include "kernels/cpu/moe_route.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dsv32 {

namespace {
// σ = sigmoid(logits), or softmax over the experts for scoring_func "softmax".
void scores_from_logits(const MoeRouteParams& p, const float* logits, float* sigma) {
  const int E = p.n_experts;
  if (p.sigmoid) {
    for (int e = 0; e < E; ++e) sigma[e] = 1.f / (1.f + std::exp(-logits[e]));
    return;
  }
  float mx = *std::max_element(logits, logits + E);
  double sum = 0;
  for (int e = 0; e < E; ++e) sum += std::exp(double(logits[e]) - mx);
  for (int e = 0; e < E; ++e) sigma[e] = float(std::exp(double(logits[e]) - mx) / sum);
}

// weight_i = σ_i (/ Σ σ over the chosen set if norm_topk_prob) · route_scale.
void weights_from_scores(const MoeRouteParams& p, const float* sigma, const int32_t* ids, float* weights) {
  double sum = 0;
  for (int i = 0; i < p.top_k; ++i) sum += sigma[ids[i]];
  for (int i = 0; i < p.top_k; ++i) {
    double w = sigma[ids[i]];
    if (p.norm_topk_prob) w /= sum;
    weights[i] = float(w * p.route_scale);
  }
}
}  // namespace

void moe_route(const MoeRouteParams& p, const float* logits, const float* bias, int32_t* ids,
               float* weights, float* select) {
  const int E = p.n_experts, G = p.n_group, per = E / G;
  // Small fixed-size scratch on the stack would do for DeepSeek (E = 256); vectors keep it general.
  thread_local std::vector<float> sigma, gscore;
  thread_local std::vector<int32_t> order;
  sigma.resize(E);
  scores_from_logits(p, logits, sigma.data());
  for (int e = 0; e < E; ++e) select[e] = sigma[e] + (bias ? bias[e] : 0.f);

  if (G > 1) {
    gscore.resize(G);
    for (int g = 0; g < G; ++g) {
      const float* z = select + g * per;
      if (bias) {  // sum of the two largest
        float a = -INFINITY, b = -INFINITY;
        for (int i = 0; i < per; ++i) {
          if (z[i] > a) { b = a; a = z[i]; } else if (z[i] > b) b = z[i];
        }
        gscore[g] = a + b;
      } else {
        gscore[g] = *std::max_element(z, z + per);
      }
    }
    order.resize(G);
    for (int g = 0; g < G; ++g) order[g] = g;
    // Equal group scores: lower group first (an explicit tie-break: stable_sort would allocate).
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return gscore[a] > gscore[b] || (gscore[a] == gscore[b] && a < b); });
    for (int r = p.topk_group; r < G; ++r)
      std::fill(select + order[r] * per, select + (order[r] + 1) * per, -INFINITY);
  }

  order.resize(E);
  for (int e = 0; e < E; ++e) order[e] = e;
  std::partial_sort(order.begin(), order.begin() + p.top_k, order.end(), [&](int a, int b) {
    return select[a] > select[b] || (select[a] == select[b] && a < b);
  });
  std::sort(order.begin(), order.begin() + p.top_k);
  std::copy(order.begin(), order.begin() + p.top_k, ids);
  weights_from_scores(p, sigma.data(), ids, weights);
}

void moe_route_weights(const MoeRouteParams& p, const float* logits, const int32_t* ids, float* weights) {
  thread_local std::vector<float> sigma;
  sigma.resize(p.n_experts);
  scores_from_logits(p, logits, sigma.data());
  weights_from_scores(p, sigma.data(), ids, weights);
}

}  // namespace dsv32
