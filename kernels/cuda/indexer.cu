// Lightning-indexer scores, fused. Grid: (key blocks of kKeysPerBlock, queries).
//
// Variants:
//   kWarpPerKey (this file): 256 threads = 8 warps. The block stages its query's q [H, d] in
//     shared memory, rows padded to d + 1 floats so that lane j reading head j's row hits bank
//     (j + c) mod 32 — conflict-free — and its weights w [H]. Each warp takes one key at a time:
//     the key row goes to a per-warp shared buffer (coalesced), lane l computes the full dot for
//     heads l, l+32, … against it (broadcast reads), applies ReLU and the head weight, and the warp
//     sums its lanes. Shared memory: (H·(d+1) + H + 8·d)·4 bytes = 37.4 KB for H = 64, d = 128.
//   kMmaBf16Keys (indexer_scores_bf16): grid (⌈n / 256⌉, queries), 256 threads, one 256-key tile
//     per CTA: the tile [256, d] bf16 arrives by cp.async while the block rounds q [H, d] to bf16
//     into shared memory (heads padded with zeros to 8·NT, NT ∈ {2, 4, 8}); warp w computes the
//     32 keys × 8·NT heads tile S = K·qᵀ with mma.sync m16n8k16 (K by ldmatrix as A, q as B), then
//     Σ_j w_j·ReLU(S_j) over its lane's heads and a quad shuffle. Rows padded d → d + 8 (conflict-
//     free ldmatrix). Shared memory (256 + 64)·(d + 8)·2 + 256 B = 87.3 KB at d = 128 (2 CTAs/SM).
//   Not yet: an fp8 tensor-core variant (keys × heads tile per warpgroup via wgmma/QGMMA, ReLU·w
//     and the head reduction in registers).
#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/mma.cuh"

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

constexpr int kMmaKeys = 256, kMmaWarps = 8, kMaxHeads = 64;

template <int NT>  // 8·NT padded heads
__global__ void __launch_bounds__(kMmaWarps * 32) indexer_scores_bf16_kernel(
    int64_t H, int64_t d, const float* __restrict__ q, const float* __restrict__ w, const uint16_t* __restrict__ keys,
    int64_t n, float* __restrict__ scores, int64_t scores_stride) {
  constexpr int HP = 8 * NT;
  extern __shared__ float4 smem_raw[];  // float4: 16-byte alignment for cp.async and ldmatrix
  const int pitch = int(d) + 8;
  uint16_t* k_s = reinterpret_cast<uint16_t*>(smem_raw);  // [kMmaKeys][pitch]
  uint16_t* q_s = k_s + kMmaKeys * pitch;             // [HP][pitch]
  float* w_s = reinterpret_cast<float*>(q_s + HP * pitch);  // [HP]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, gq = lane >> 2, tq = lane & 3;
  const int64_t s = blockIdx.y, u0 = int64_t(blockIdx.x) * kMmaKeys;
  const int pieces = int(d) / 8;  // 16-byte pieces per key row

  for (int c = tid; c < kMmaKeys * pieces; c += blockDim.x) {
    const int r = c / pieces, pc = c % pieces;
    const bool in = u0 + r < n;
    detail::cp_async16(k_s + r * pitch + pc * 8, in ? keys + (u0 + r) * d + pc * 8 : keys, in ? 16 : 0);
  }
  detail::cp_async_commit();
  const float* qs = q + s * H * d;
  for (int64_t i = tid; i < HP * d / 2; i += blockDim.x) {  // two elements per step (d even)
    const int64_t j = 2 * i / d, c = 2 * i % d;
    const float2 v = j < H ? *reinterpret_cast<const float2*>(qs + j * d + c) : make_float2(0.f, 0.f);
    *reinterpret_cast<uint32_t*>(q_s + j * pitch + c) = detail::pack_bf16x2(v.x, v.y);
  }
  for (int j = tid; j < HP; j += blockDim.x) w_s[j] = j < H ? w[s * H + j] : 0.f;
  detail::cp_async_wait<0>();
  __syncthreads();

  float acc[2][NT][4] = {};
  for (int k0 = 0; k0 < d; k0 += 16) {
    uint32_t af[2][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
      detail::ldmatrix_x4(af[mt], k_s + (warp * 32 + mt * 16 + (lane & 15)) * pitch + k0 + (lane >> 4) * 8);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t bf[4];
      detail::ldmatrix_x4(bf, q_s + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * pitch + k0 + ((lane >> 3) & 1) * 8);
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        detail::mma_bf16_16816(acc[mt][2 * np], af[mt], bf[0], bf[1]);
        detail::mma_bf16_16816(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
      }
    }
  }
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float part = 0.f;  // this lane's heads 8·nt + 2·tq, +1, in order
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        part += w_s[nt * 8 + 2 * tq] * fmaxf(acc[mt][nt][2 * half], 0.f);
        part += w_s[nt * 8 + 2 * tq + 1] * fmaxf(acc[mt][nt][2 * half + 1], 0.f);
      }
      part += __shfl_xor_sync(0xffffffffu, part, 1);
      part += __shfl_xor_sync(0xffffffffu, part, 2);
      const int64_t u = u0 + warp * 32 + mt * 16 + gq + 8 * half;
      if (tq == 0 && u < n) scores[s * scores_stride + u] = part;
    }
}

template <int NT>
void launch_bf16(Context& ctx, int64_t H, int64_t d, const float* q, const float* w, const uint16_t* keys, int64_t n,
                 float* scores, int64_t n_queries, int64_t scores_stride) {
  const size_t smem = size_t(kMmaKeys + 8 * NT) * size_t(d + 8) * 2 + size_t(8 * NT) * 4;
  DSV32_CUDA_CHECK(cudaFuncSetAttribute(indexer_scores_bf16_kernel<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        int(smem)));
  const dim3 grid{unsigned(detail::ceil_div(n, kMmaKeys)), unsigned(n_queries)};
  indexer_scores_bf16_kernel<NT><<<grid, kMmaWarps * 32, smem, ctx.stream>>>(H, d, q, w, keys, n, scores,
                                                                             scores_stride);
  DSV32_CUDA_LAUNCH_CHECK("indexer_scores_bf16");
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

void indexer_scores_bf16(Context& ctx, const IndexerParams& p, const float* q, const float* w,
                         const uint16_t* keys_bf16, int64_t n, float* scores, int64_t n_queries,
                         int64_t scores_stride) {
  if (n <= 0 || n_queries <= 0) return;
  if (scores_stride < 0) scores_stride = n;
  const int64_t H = p.n_heads, d = p.head_dim;
  if (H <= 0 || H > kMaxHeads) fail("gpu::indexer_scores_bf16: n_heads must be in [1, 64]");
  if (d <= 0 || d % 16 || d > 256) fail("gpu::indexer_scores_bf16: head_dim must be a multiple of 16 in [16, 256]");
  if (reinterpret_cast<uintptr_t>(keys_bf16) % 16 || reinterpret_cast<uintptr_t>(q) % 8)
    fail("gpu::indexer_scores_bf16: keys must be 16-byte and q 8-byte aligned");
  if (H <= 16) launch_bf16<2>(ctx, H, d, q, w, keys_bf16, n, scores, n_queries, scores_stride);
  else if (H <= 32) launch_bf16<4>(ctx, H, d, q, w, keys_bf16, n, scores, n_queries, scores_stride);
  else launch_bf16<8>(ctx, H, d, q, w, keys_bf16, n, scores, n_queries, scores_stride);
}

}  // namespace dsv32::gpu
