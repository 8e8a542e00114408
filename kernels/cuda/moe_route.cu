// MoE routing, one block per token.
//
// Variants:
//   kBlockPerToken (this file): the block's threads compute σ (and select = σ + bias) for all E
//     experts in parallel into shared memory; then thread 0 runs the selection serially, in the
//     CPU op's exact order: group scores (top-2 sum with a bias, max without), keep topk_group
//     groups by repeated arg-max (ties → lower group), top_k experts by repeated arg-max
//     (ties → lower id), ids sorted ascending, weights normalised in double in id order.
//     E = 256, K = 8, G = 8: the serial part is ~2 K·E comparisons, negligible next to the GEMMs.
//   Shared memory: 2·E floats + small arrays (E ≤ 1024, G ≤ 64, K ≤ 64).
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/moe_route.h"

namespace dsv32::gpu {
namespace {

constexpr int kMaxExperts = 1024, kMaxGroups = 64, kMaxTopK = 64;

__global__ void moe_route_kernel(MoeRouteParams p, const float* __restrict__ logits_all,
                                 const float* __restrict__ bias, int32_t* __restrict__ ids_all,
                                 float* __restrict__ weights_all, float* __restrict__ select_all) {
  __shared__ float sigma[kMaxExperts], sel[kMaxExperts];
  __shared__ float gscore[kMaxGroups];
  __shared__ bool kept[kMaxGroups], taken[kMaxExperts];
  __shared__ float red[32];
  const int E = p.n_experts, G = p.n_group, per = E / G, K = p.top_k;
  const int64_t t = blockIdx.x;
  const float* logits = logits_all + t * E;

  if (p.sigmoid) {
    for (int e = threadIdx.x; e < E; e += blockDim.x) sigma[e] = 1.f / (1.f + expf(-logits[e]));
  } else {
    float mx = -INFINITY;
    for (int e = threadIdx.x; e < E; e += blockDim.x) mx = fmaxf(mx, logits[e]);
    mx = detail::block_max(mx, red);
    if (threadIdx.x == 0) {  // the CPU's order: a serial double sum
      double sum = 0;
      for (int e = 0; e < E; ++e) sum += exp(double(logits[e]) - mx);
      for (int e = 0; e < E; ++e) sigma[e] = float(exp(double(logits[e]) - mx) / sum);
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    sel[e] = sigma[e] + (bias ? bias[e] : 0.f);
    taken[e] = false;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;

  if (G > 1) {
    for (int g = 0; g < G; ++g) {
      const float* z = sel + g * per;
      float a = -INFINITY, b = -INFINITY;
      for (int i = 0; i < per; ++i) {
        if (z[i] > a) { b = a; a = z[i]; } else if (z[i] > b) b = z[i];
      }
      gscore[g] = bias ? a + b : a;
      kept[g] = false;
    }
    for (int r = 0; r < p.topk_group; ++r) {  // stable descending order: the lower group wins ties
      int best = -1;
      for (int g = 0; g < G; ++g)
        if (!kept[g] && (best < 0 || gscore[g] > gscore[best])) best = g;
      kept[best] = true;
    }
    for (int g = 0; g < G; ++g)
      if (!kept[g])
        for (int i = 0; i < per; ++i) sel[g * per + i] = -INFINITY;
  }

  int32_t ids[kMaxTopK];
  for (int r = 0; r < K; ++r) {
    int best = -1;
    for (int e = 0; e < E; ++e)
      if (!taken[e] && (best < 0 || sel[e] > sel[best])) best = e;
    taken[best] = true;
    ids[r] = best;
  }
  for (int a = 1; a < K; ++a)  // insertion sort, ascending ids
    for (int b = a; b > 0 && ids[b - 1] > ids[b]; --b) {
      const int32_t tmp = ids[b];
      ids[b] = ids[b - 1];
      ids[b - 1] = tmp;
    }
  double sum = 0;
  for (int i = 0; i < K; ++i) sum += sigma[ids[i]];
  for (int i = 0; i < K; ++i) {
    double w = sigma[ids[i]];
    if (p.norm_topk_prob) w /= sum;
    ids_all[t * K + i] = ids[i];
    weights_all[t * K + i] = float(w * p.route_scale);
  }
  for (int e = 0; e < E; ++e) select_all[t * E + e] = sel[e];
}

}  // namespace

void moe_route(Context& ctx, const MoeRouteParams& p, int64_t tokens, const float* logits, const float* bias,
               int32_t* ids, float* weights, float* select) {
  if (tokens <= 0) return;
  if (p.n_experts <= 0 || p.n_experts > kMaxExperts || p.n_group <= 0 || p.n_group > kMaxGroups ||
      p.n_experts % p.n_group || p.top_k <= 0 || p.top_k > kMaxTopK || p.top_k > p.n_experts ||
      p.topk_group <= 0 || p.topk_group > p.n_group)
    fail("gpu::moe_route: unsupported shape (E ≤ 1024 divisible by n_group ≤ 64, 0 < top_k ≤ 64)");
  moe_route_kernel<<<unsigned(tokens), 256, 0, ctx.stream>>>(p, logits, bias, ids, weights, select);
  DSV32_CUDA_LAUNCH_CHECK("moe_route");
}

}  // namespace dsv32::gpu
