// Lightning-indexer scores, fused. Grid: (key blocks of kKeysPerBlock, queries).
//
// Variants:
//   kWarpPerKey (this file): 256 threads = 8 warps. The block stages its query's q [H, d] in
//     shared memory, rows padded to d + 1 floats so that lane j reading head j's row hits bank
//     (j + c) mod 32 — conflict-free — and its weights w [H]. Each warp takes one key at a time:
//     the key row goes to a per-warp shared buffer (coalesced), lane l computes the full dot for
//     heads l, l+32, … against it (broadcast reads), applies ReLU and the head weight, and the warp
//     sums its lanes. Shared memory: (H·(d+1) + H + 8·d)·4 bytes = 37.4 KB for H = 64, d = 128.
//   Not yet: an fp8 tensor-core variant (keys × heads tile per warpgroup via wgmma/QGMMA, ReLU·w
//     and the head reduction in registers).
#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/indexer.h"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32, kKeysPerWarp = 8;
constexpr int kKeysPerBlock = kWarps * kKeysPerWarp;

__global__ void indexer_scores_kernel(int64_t H, int64_t d, const float* __restrict__ q,
                                      const float* __restrict__ w, const float* __restrict__ keys, int64_t n,
                                      float* __restrict__ scores, int64_t scores_stride) {
  extern __shared__ float smem[];
  const int64_t pitch = d + 1;
  float* q_s = smem;                 // [H, d + 1]
  float* w_s = q_s + H * pitch;      // [H]
  float* k_s = w_s + H;              // [kWarps, d]
  const int64_t s = blockIdx.y;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  const float* qs = q + s * H * d;
  for (int64_t i = threadIdx.x; i < H * d; i += blockDim.x) q_s[(i / d) * pitch + i % d] = qs[i];
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) w_s[j] = w[s * H + j];
  __syncthreads();

  float* kw = k_s + warp * d;
  const int64_t u0 = int64_t(blockIdx.x) * kKeysPerBlock + warp * kKeysPerWarp;
  for (int64_t u = u0; u < std::min<int64_t>(u0 + kKeysPerWarp, n); ++u) {
    for (int64_t c = lane; c < d; c += 32) kw[c] = keys[u * d + c];
    __syncwarp();
    float acc = 0.f;
    for (int64_t j = lane; j < H; j += 32) {
      const float* qj = q_s + j * pitch;
      float dot = 0.f;
      for (int64_t c = 0; c < d; ++c) dot += qj[c] * kw[c];
      acc += w_s[j] * fmaxf(dot, 0.f);
    }
    acc = detail::warp_sum(acc);
    if (lane == 0) scores[s * scores_stride + u] = acc;
    __syncwarp();  // kw is rewritten for the next key
  }
}

}  // namespace

void indexer_scores(Context& ctx, const IndexerParams& p, const float* q, const float* w, const float* keys,
                    int64_t n, float* scores, int64_t n_queries, int64_t scores_stride) {
  if (n <= 0 || n_queries <= 0) return;
  if (scores_stride < 0) scores_stride = n;
  const int64_t H = p.n_heads, d = p.head_dim;
  const size_t smem = size_t(H * (d + 1) + H + kWarps * d) * sizeof(float);
  if (smem > 48 * 1024)  // beyond the default dynamic limit (larger H·d than DeepSeek's)
    DSV32_CUDA_CHECK(cudaFuncSetAttribute(indexer_scores_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(smem)));
  const dim3 grid(unsigned(detail::ceil_div(n, kKeysPerBlock)), unsigned(n_queries));
  indexer_scores_kernel<<<grid, kThreads, smem, ctx.stream>>>(H, d, q, w, keys, n, scores, scores_stride);
  DSV32_CUDA_LAUNCH_CHECK("indexer_scores");
}

}  // namespace dsv32::gpu
