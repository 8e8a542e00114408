// MoE router selection (MODEL §8.2): from router logits [E] to K experts and their weights.
//
//   σ = sigmoid(logits) (or softmax for scoring_func "softmax")
//   z = σ + bias                    (bias only for choosing: topk_method "noaux_tc")
//   group score = sum of the 2 largest z in the group (max without a bias); keep topk_group groups
//   top-K experts by z among kept groups; weight_i = σ_i (/ Σ σ if norm_topk_prob) · route_scale
//   !! Ties: equal group scores -> lower group wins; equal z -> lower expert id wins.
//   Outputs: ids [K] ascending, weights [K] aligned with ids, select [E] = z with −inf for experts
//   of dropped groups (what the dumps call router_scores).
#pragma once
#include <cstdint>

namespace dsv32 {

struct MoeRouteParams {
  int n_experts = 0, n_group = 1, topk_group = 1, top_k = 0;
  bool sigmoid = true, norm_topk_prob = true;
  double route_scale = 1.0;
};

void moe_route(const MoeRouteParams& p, const float* logits, const float* bias, int32_t* ids,
               float* weights, float* select);
// Weights for a given expert set (pinned selections): the same normalisation as moe_route.
void moe_route_weights(const MoeRouteParams& p, const float* logits, const int32_t* ids, float* weights);

}  // namespace dsv32
