// Decode-side attention kernels at V3.2 shapes: the bf16 tensor-core absorbed MLA decode
// (kernels/cuda/mla_decode.h), the bf16-key indexer (indexer_scores_bf16) and the top-k variants
// over one 128K row. Their fp32 predecessors (attend_absorbed, indexer_scores, topk auto) are the
// BM_attn_*/mla_absorbed/f32, BM_indexer_scores/cuda/f32 and BM_indexer_topk cases of
// bench_ops_cuda.cpp, for comparison in the same run.
//
// Bytes (compulsory, per call): mla_decode — the n latent rows touched once (1152 B each), the
// index list (4n, sparse), q̃ bf16 (H·576·2), out fp32 (H·512·4); FLOPs H·n·(576 + 512)·2, roof
// bf16. At H = 128 that is 242 flop/B: compute-bound on H100 (the bf16 fraction is the figure to
// read); H = 16 (a TP-8 shard) is memory-bound (frac_hbm). indexer — keys n·d_I·2, q fp32, w,
// scores 4n; FLOPs n·H_I·d_I·2, roof bf16. top-k — the row 4n and the k outputs; no FLOP roof.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/cuda/cuda_bench_util.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/mla_decode.h"
#include "kernels/cuda/topk.h"

namespace dsv32::cuda_bench {
namespace {

using benchmark::State;
const double kScale = bench::preset("v32").s_att;  // MODEL §6.2
const int64_t kTopk = bench::preset("v32").topk, kHI = bench::preset("v32").HI, kDI = bench::preset("v32").dI;

// k ascending distinct positions in [0, T) (what the indexer's top-k hands to attention).
std::vector<int32_t> random_positions(int64_t T, int64_t k, uint32_t seed) {
  std::vector<int32_t> all(static_cast<size_t>(T));
  std::iota(all.begin(), all.end(), 0);
  std::mt19937 g(seed);
  std::shuffle(all.begin(), all.end(), g);
  all.resize(static_cast<size_t>(k));
  std::sort(all.begin(), all.end());
  return all;
}

// ctx: cache length T; k > 0: sparse over k random positions of it, else dense over all T.
void bm_mla_decode(State& st, int64_t H, int64_t T, int64_t k) {
  const int64_t n = k > 0 ? k : T, D = gpu::kMlaRowDim, V = gpu::kMlaLatentDim;
  gpu::DeviceArray<uint16_t> q(H * D), cache(T * D);
  gpu::DeviceArray<float> out(H * V);
  fill_bf16(q.get(), H * D, 11, 1.f);
  fill_bf16(cache.get(), T * D, 12, 1.f);
  gpu::DeviceArray<int32_t> index;
  if (k > 0) index = gpu::DeviceArray<int32_t>(context(), random_positions(T, k, 13));
  gpu::MlaDecodeParams p;
  p.heads = H;
  p.n = n;
  p.scale = float(kScale);
  const double s = time_loop(st, [&] {
    gpu::mla_decode(context(), p, q.get(), cache.get(), k > 0 ? index.get() : nullptr, nullptr, out.get());
  });
  st.counters["splits"] = double(gpu::mla_decode_splits(context(), p));
  const double bytes = double(n) * D * 2 + (k > 0 ? 4.0 * n : 0.0) + 2.0 * H * D + 4.0 * H * V;
  set_counters(st, bytes, 2.0 * H * n * (D + V), s, Roof::kBf16);
}

void bm_indexer_bf16(State& st, int64_t n) {
  gpu::DeviceArray<float> q(kHI * kDI), w(kHI), scores(n);
  gpu::DeviceArray<uint16_t> keys(n * kDI);
  fill_uniform(q.get(), kHI * kDI, 21, 1.f);
  fill_uniform(w.get(), kHI, 22, 0.1f);
  fill_bf16(keys.get(), n * kDI, 23, 1.f);
  const IndexerParams ip{kHI, kDI, kTopk};
  const double s = time_loop(st, [&] {
    gpu::indexer_scores_bf16(context(), ip, q.get(), w.get(), keys.get(), n, scores.get());
  });
  set_counters(st, 2.0 * n * kDI + 4.0 * (kHI * kDI + kHI + n), 2.0 * n * kHI * kDI, s, Roof::kBf16);
}

void bm_topk(State& st, gpu::TopkImpl impl, int64_t n) {
  gpu::DeviceArray<float> scores(n);
  gpu::DeviceArray<int32_t> out(kTopk);
  fill_uniform(scores.get(), n, 31, 10.f);
  gpu::TopkParams p{1, n, kTopk, n, kTopk, impl};
  const double s = time_loop(st, [&] { gpu::topk(context(), p, scores.get(), nullptr, out.get()); });
  set_counters(st, 4.0 * n + 4.0 * kTopk, 0, s, Roof::kNone);
}

const bool registered = [] {
  const std::string P = "v32";
  for (int64_t ctx : {8192, 32768, 131072})
    reg("BM_attn_dense/mla_decode/bf16/" + P + "_ctx" + std::to_string(ctx) + "_H128",
        [ctx](State& st) { bm_mla_decode(st, 128, ctx, 0); });
  reg("BM_attn_sparse/mla_decode/bf16/" + P + "_ctx131072_k2048_H128",
      [](State& st) { bm_mla_decode(st, 128, 131072, kTopk); });
  reg("BM_attn_dense/mla_decode/bf16/" + P + "_ctx131072_H16", [](State& st) { bm_mla_decode(st, 16, 131072, 0); });
  reg("BM_attn_sparse/mla_decode/bf16/" + P + "_ctx131072_k2048_H16",
      [](State& st) { bm_mla_decode(st, 16, 131072, kTopk); });
  reg("BM_indexer_scores/cuda_mma/bf16/" + P + "_ctx131072", [](State& st) { bm_indexer_bf16(st, 131072); });
  reg("BM_indexer_topk/multiblock/f32/" + P + "_ctx131072_k2048",
      [](State& st) { bm_topk(st, gpu::TopkImpl::kMultiBlock, 131072); });
  reg("BM_indexer_topk/blockperrow/f32/" + P + "_ctx131072_k2048",
      [](State& st) { bm_topk(st, gpu::TopkImpl::kBlockPerRow, 131072); });
  return true;
}();

}  // namespace
}  // namespace dsv32::cuda_bench
