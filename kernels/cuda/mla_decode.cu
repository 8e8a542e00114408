// Absorbed MLA decode on tensor cores (mma.sync m16n8k16 bf16 → fp32), split-K + combine.
//
// Variants:
//   kSplitKMma (this file). Grid (H / HG head groups, splits, S queries); 256 threads = 8 warps;
//   a CTA owns HG = 16·MT heads of one query and entries [split·E, split·E + E) of its list.
//     prologue : q̃ group [HG, 576] → shared (cp.async), then tiles 0 and 1 of the latent ring.
//     per tile of 32 entries (3-stage cp.async ring; rows gathered through the index list, a
//     padding entry −1 or a row past the end is zero-filled and its score masked to −inf):
//       QK   : warp w < 2·MT computes S[16 heads (m-tile w/2), 16 entries (half w%2)] over k = 576
//              (36 mma steps, A = q̃ by ldmatrix, B = latent rows by ldmatrix) → scores [HG, 32]
//       soft : warp w owns rows w, w+8, …: lane = entry; s·scale, running max m and fp32 sum l
//              (online softmax), p = exp(s − m) → P [HG, 32] bf16, α = exp(m_old − m_new)
//       PV   : warp w owns output columns [64w, 64w + 64) for all HG rows: o ← α·o + P·V with
//              V = the first 512 columns of the same ring stage (ldmatrix.trans), 2 k-steps
//     epilogue : one split → out = o / l; else (o, m, l) partials and mla_combine_kernel.
//   Roofline (H100, 128 heads): 128·1088·2 = 279 kflop per 1152-byte row = 242 flop/B, so full HBM
//   speed would need ~730 TFLOP/s — above what mma.sync sustains; 128 heads on one GPU is compute-
//   bound and the measure is TFLOP/s. H = 16 (TP-8 shards, the small presets): 30 flop/B, memory-bound.
//   Not yet: q̃ fragments held in registers with k split across warps (cuts the ldmatrix traffic of
//   QK ~3×), a 2-CTA cluster multicasting each latent tile to both head groups, wgmma.
#include <algorithm>
#include <cmath>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/mla_decode.h"
#include "kernels/cuda/mma.cuh"

namespace dsv32::gpu {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr int kRow = int(kMlaRowDim);          // 576 bf16 per latent row and per q̃ row
constexpr int kLatent = int(kMlaLatentDim);    // 512: the value columns
constexpr int kPitch = kRow + 8;               // 584: 1168-byte rows, 16-byte aligned, rows 16 B apart mod 128
constexpr int kChunks = kRow / 8;              // 72 16-byte pieces per row
constexpr int kEntries = 32;                   // entries per tile (= one warp's lanes in the softmax)
constexpr int kStages = 3;
constexpr int kPPitch = kEntries + 8;          // P rows: 80 bytes, conflict-free ldmatrix
static_assert(kLatent == kWarps * 64, "PV: each warp owns 64 output columns");
static_assert(kRow % 16 == 0 && kEntries % 16 == 0, "mma k-steps of 16");

template <int MT>
constexpr size_t smem_bytes() {
  constexpr int HG = 16 * MT;
  return size_t(HG) * kPitch * 2 + size_t(kStages) * kEntries * kPitch * 2 + size_t(HG) * kEntries * 4 +
         size_t(HG) * kPPitch * 2 + 3 * size_t(HG) * 4 + size_t(kStages) * kEntries * 4;
}
static_assert(smem_bytes<4>() <= 227 * 1024, "sm_90 allows 227 KB of dynamic shared memory per block");

struct DecodeArgs {
  const uint16_t* q;
  const uint16_t* cache;
  const int32_t* index;
  const int32_t* lengths;
  float* out;       // [S, H, 512] (one split)
  float* o_part;    // [S, splits, H, 512]
  float2* ml_part;  // [S, splits, H] (max, sum)
  int64_t H, n, index_stride, cache_stride, entries_per_split;
  int splits;
  float scale;
};

template <int MT>
__global__ void __launch_bounds__(kThreads, 1) mla_decode_kernel(DecodeArgs a) {
  constexpr int HG = 16 * MT, kRowsPerWarp = HG / kWarps;
  extern __shared__ __align__(16) unsigned char smem[];
  uint16_t* q_s = reinterpret_cast<uint16_t*>(smem);                  // [HG][kPitch]
  uint16_t* kv_s = q_s + HG * kPitch;                                 // [kStages][kEntries][kPitch]
  float* s_s = reinterpret_cast<float*>(kv_s + kStages * kEntries * kPitch);  // [HG][kEntries]
  uint16_t* p_s = reinterpret_cast<uint16_t*>(s_s + HG * kEntries);   // [HG][kPPitch]
  float* alpha_s = reinterpret_cast<float*>(p_s + HG * kPPitch);      // [HG]
  float* m_s = alpha_s + HG;                                          // [HG]
  float* l_s = m_s + HG;                                              // [HG]
  int* pos_s = reinterpret_cast<int*>(l_s + HG);                      // [kStages][kEntries]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, gq = lane >> 2, tq = lane & 3;
  const int64_t h0 = int64_t(blockIdx.x) * HG, split = blockIdx.y, s = blockIdx.z;
  const int64_t n_s = a.lengths ? std::min<int64_t>(std::max<int32_t>(a.lengths[s], 0), a.n) : a.n;
  const int64_t begin = split * a.entries_per_split;
  const int64_t end = std::min(begin + a.entries_per_split, n_s);
  const int n_tiles = end > begin ? int((end - begin + kEntries - 1) / kEntries) : 0;
  const int32_t* idx = a.index ? a.index + s * a.index_stride : nullptr;

  const uint16_t* qg = a.q + (s * a.H + h0) * kRow;
  for (int c = tid; c < HG * kChunks; c += kThreads)
    detail::cp_async16(q_s + (c / kChunks) * kPitch + (c % kChunks) * 8, qg + (c / kChunks) * kRow + (c % kChunks) * 8,
                       16);
  detail::cp_async_commit();

  auto load_tile = [&](int it, int stage) {
    const int64_t j0 = begin + int64_t(it) * kEntries;
    uint16_t* dst = kv_s + stage * kEntries * kPitch;
    for (int c = tid; c < kEntries * kChunks; c += kThreads) {
      const int r = c / kChunks, piece = c % kChunks;
      const int64_t j = j0 + r;
      const int64_t t = j < end ? (idx ? int64_t(idx[j]) : j) : -1;
      const uint16_t* src = t >= 0 ? a.cache + t * a.cache_stride + piece * 8 : a.cache;
      detail::cp_async16(dst + r * kPitch + piece * 8, src, t >= 0 ? 16 : 0);
      if (piece == 0) pos_s[stage * kEntries + r] = t >= 0 ? 1 : -1;
    }
  };
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < n_tiles) load_tile(st, st);
    detail::cp_async_commit();
  }

  float m_run[kRowsPerWarp], l_run[kRowsPerWarp];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) { m_run[i] = -INFINITY; l_run[i] = 0.f; }
  float o[MT][8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][j][e] = 0.f;

  for (int it = 0; it < n_tiles; ++it) {
    detail::cp_async_wait<kStages - 2>();  // q̃ and tile `it` have landed (this thread's copies)
    __syncthreads();                       // … everyone's; and stage (it − 1) % kStages is free
    if (it + kStages - 1 < n_tiles) load_tile(it + kStages - 1, (it + kStages - 1) % kStages);
    detail::cp_async_commit();             // possibly empty: keeps the group count uniform
    const int stage = it % kStages;
    const uint16_t* kv = kv_s + stage * kEntries * kPitch;

    // QK: raw dot products [HG, 32] → s_s.
    if (warp < 2 * MT) {
      const int mt = warp >> 1, half = warp & 1;
      float acc[2][4] = {};
      const uint16_t* a_row = q_s + (mt * 16 + (lane & 15)) * kPitch + (lane >> 4) * 8;
      const uint16_t* b_row = kv + (half * 16 + (lane & 7) + ((lane >> 4) << 3)) * kPitch + ((lane >> 3) & 1) * 8;
#pragma unroll 4
      for (int k0 = 0; k0 < kRow; k0 += 16) {
        uint32_t af[4], bf[4];
        detail::ldmatrix_x4(af, a_row + k0);
        detail::ldmatrix_x4(bf, b_row + k0);
        detail::mma_bf16_16816(acc[0], af, bf[0], bf[1]);
        detail::mma_bf16_16816(acc[1], af, bf[2], bf[3]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        float* r0 = s_s + (mt * 16 + gq) * kEntries + half * 16 + j * 8 + 2 * tq;
        r0[0] = acc[j][0];
        r0[1] = acc[j][1];
        r0[8 * kEntries] = acc[j][2];
        r0[8 * kEntries + 1] = acc[j][3];
      }
    }
    __syncthreads();

    // Online softmax, fp32: lane = entry of the tile.
    const bool valid = pos_s[stage * kEntries + lane] >= 0;
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp + kWarps * i;
      const float sc = valid ? s_s[r * kEntries + lane] * a.scale : -INFINITY;
      const float m_new = fmaxf(m_run[i], detail::warp_max(sc));
      float p = 0.f, alpha = 1.f;
      if (m_new != -INFINITY) {
        p = expf(sc - m_new);
        alpha = expf(m_run[i] - m_new);
      }
      l_run[i] = l_run[i] * alpha + detail::warp_sum(p);
      m_run[i] = m_new;
      p_s[r * kPPitch + lane] = detail::bf16_bits(p);
      if (lane == 0) alpha_s[r] = alpha;
    }
    __syncthreads();

    // PV: o[rows, 64w … 64w+63] = α·o + P · V.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      const float a0 = alpha_s[mt * 16 + gq], a1 = alpha_s[mt * 16 + gq + 8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        o[mt][j][0] *= a0;
        o[mt][j][1] *= a0;
        o[mt][j][2] *= a1;
        o[mt][j][3] *= a1;
      }
    }
#pragma unroll
    for (int k0 = 0; k0 < kEntries; k0 += 16) {
      uint32_t af[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        detail::ldmatrix_x4(af[mt], p_s + (mt * 16 + (lane & 15)) * kPPitch + k0 + (lane >> 4) * 8);
#pragma unroll
      for (int jp = 0; jp < 4; ++jp) {
        uint32_t bf[4];
        detail::ldmatrix_x4_trans(
            bf, kv + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * kPitch + warp * 64 + jp * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          detail::mma_bf16_16816(o[mt][2 * jp], af[mt], bf[0], bf[1]);
          detail::mma_bf16_16816(o[mt][2 * jp + 1], af[mt], bf[2], bf[3]);
        }
      }
    }
  }
  detail::cp_async_wait<0>();  // no copy may outlive the block (n_tiles = 0: the q̃ group)

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i)
    if (lane == 0) {
      m_s[warp + kWarps * i] = m_run[i];
      l_s[warp + kWarps * i] = l_run[i];
    }
  __syncthreads();

  const bool direct = a.splits == 1;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = mt * 16 + gq + 8 * half;
      const int64_t h = h0 + r;
      const float l = l_s[r];
      const float inv = direct ? (l > 0.f ? 1.f / l : 0.f) : 1.f;
      float* dst = direct ? a.out + (s * a.H + h) * kLatent : a.o_part + ((s * a.splits + split) * a.H + h) * kLatent;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        *reinterpret_cast<float2*>(dst + warp * 64 + j * 8 + 2 * tq) =
            make_float2(o[mt][j][2 * half] * inv, o[mt][j][2 * half + 1] * inv);
    }
  if (!direct && tid < HG) a.ml_part[(s * a.splits + split) * a.H + h0 + tid] = make_float2(m_s[tid], l_s[tid]);
}

// out[s, h] = Σ_i e^{m_i − M} o_i / Σ_i e^{m_i − M} l_i over the splits i in order (M = max m_i);
// zero when every split was empty. Grid (H, S), 128 threads × 4 columns.
__global__ void __launch_bounds__(128) mla_combine_kernel(const float* __restrict__ o_part,
                                                         const float2* __restrict__ ml_part, int splits, int64_t H,
                                                         float* __restrict__ out) {
  const int64_t h = blockIdx.x, s = blockIdx.y;
  const float2* ml = ml_part + s * splits * H + h;
  float M = -INFINITY;
  for (int i = 0; i < splits; ++i) M = fmaxf(M, ml[i * H].x);
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  float L = 0.f;
  if (M != -INFINITY)
    for (int i = 0; i < splits; ++i) {
      const float2 v = ml[i * H];
      if (!(v.y > 0.f)) continue;
      const float w = expf(v.x - M);
      const float4 x = reinterpret_cast<const float4*>(o_part + ((s * splits + i) * H + h) * kLatent)[threadIdx.x];
      acc.x += w * x.x;
      acc.y += w * x.y;
      acc.z += w * x.z;
      acc.w += w * x.w;
      L += w * v.y;
    }
  const float inv = L > 0.f ? 1.f / L : 0.f;
  reinterpret_cast<float4*>(out + (s * H + h) * kLatent)[threadIdx.x] =
      make_float4(acc.x * inv, acc.y * inv, acc.z * inv, acc.w * inv);
}

int64_t head_group(int64_t H) {
  for (int64_t hg : {64, 48, 32, 16})
    if (H % hg == 0) return hg;
  fail("gpu::mla_decode: heads = " + std::to_string(H) + " is not a multiple of 16");
}

void check_params(const MlaDecodeParams& p) {
  if (p.heads <= 0 || p.heads % 16) fail("gpu::mla_decode: heads must be a positive multiple of 16");
  if (p.n_queries < 1 || p.n_queries > 65535) fail("gpu::mla_decode: n_queries must be in [1, 65535]");
  if (p.n < 0 || p.n >= (int64_t(1) << 31)) fail("gpu::mla_decode: n must be in [0, 2^31)");
  if (p.cache_stride < kRow || p.cache_stride % 8)
    fail("gpu::mla_decode: cache_stride must be ≥ 576 and a multiple of 8 (16-byte rows)");
  if (p.num_splits < 0) fail("gpu::mla_decode: num_splits must be ≥ 0");
}

template <int MT>
void launch(Context& ctx, const DecodeArgs& a, int64_t S) {
  constexpr size_t smem = smem_bytes<MT>();
  DSV32_CUDA_CHECK(cudaFuncSetAttribute(mla_decode_kernel<MT>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const dim3 grid(unsigned(a.H / (16 * MT)), unsigned(a.splits), unsigned(S));
  mla_decode_kernel<MT><<<grid, kThreads, smem, ctx.stream>>>(a);
  DSV32_CUDA_LAUNCH_CHECK("mla_decode");
}

}  // namespace

int64_t mla_decode_splits(Context& ctx, const MlaDecodeParams& p) {
  check_params(p);
  const int64_t tiles = std::max<int64_t>(1, detail::ceil_div(p.n, kEntries));
  int64_t want = p.num_splits;
  if (want == 0) {
    int sms = 0;
    DSV32_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, ctx.device));
    want = std::max<int64_t>(1, sms / (p.n_queries * (p.heads / head_group(p.heads))));
  }
  const int64_t per_split = detail::ceil_div(tiles, std::min(want, tiles));
  return detail::ceil_div(tiles, per_split);  // no split left empty by the rounding
}

void mla_decode(Context& ctx, const MlaDecodeParams& p, const uint16_t* q_bf16, const uint16_t* cache_bf16,
                const int32_t* index, const int32_t* lengths, float* out) {
  check_params(p);
  if ((reinterpret_cast<uintptr_t>(q_bf16) | reinterpret_cast<uintptr_t>(cache_bf16)) % 16)
    fail("gpu::mla_decode: q and cache must be 16-byte aligned");
  const int64_t splits = mla_decode_splits(ctx, p), S = p.n_queries, H = p.heads;
  const int64_t tiles = std::max<int64_t>(1, detail::ceil_div(p.n, kEntries));
  DecodeArgs a{};
  a.q = q_bf16;
  a.cache = cache_bf16;
  a.index = index;
  a.lengths = lengths;
  a.out = out;
  a.H = H;
  a.n = p.n;
  a.index_stride = p.index_stride ? p.index_stride : p.n;
  a.cache_stride = p.cache_stride;
  a.entries_per_split = detail::ceil_div(tiles, splits) * kEntries;
  a.splits = int(splits);
  a.scale = p.scale;
  if (splits > 1) {
    const size_t o_bytes = size_t(S * splits * H * kLatent) * 4, ml_bytes = size_t(S * splits * H) * 8;
    char* buf = static_cast<char*>(scratch(ctx, o_bytes + ml_bytes));
    a.o_part = reinterpret_cast<float*>(buf);
    a.ml_part = reinterpret_cast<float2*>(buf + o_bytes);
  }
  switch (head_group(H) / 16) {
    case 1: launch<1>(ctx, a, S); break;
    case 2: launch<2>(ctx, a, S); break;
    case 3: launch<3>(ctx, a, S); break;
    default: launch<4>(ctx, a, S); break;
  }
  if (splits > 1) {
    mla_combine_kernel<<<dim3(unsigned(H), unsigned(S)), 128, 0, ctx.stream>>>(a.o_part, a.ml_part, a.splits, H, out);
    DSV32_CUDA_LAUNCH_CHECK("mla_decode combine");
  }
}

}  // namespace dsv32::gpu
