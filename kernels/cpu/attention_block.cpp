// attend_rows: the blocked attention core (queries × keys tiles), every row bit-identical to
// attend(); attend_queries: the driver over S tokens × H heads. Contract in attention.h, the order
// it keeps in docs/MODEL.md §3.8.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec.h"
#include "kernels/error.h"

namespace dsv32 {
namespace {

using vec::v16;

// Keys per cache block: a block of latent rows (64 × 2304 B = 144 KiB) or of one head's K/V rows
// stays in L2 while every row group of the call passes over it.
constexpr int64_t kKeyBlock = 64;
constexpr int kMR = 4;   // query rows per register tile
constexpr int kNR = 4;   // keys per score tile (4 × 4 dot accumulators: hsum16)
constexpr int kNC = 6;   // 16-column chunks per value tile (4 × 6 accumulators + 6 loads + a broadcast)

inline v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, 64);
  return v;
}
inline void store(float* p, v16 v) { std::memcpy(p, &v, 64); }

// Where entry t of the visited sequence lives: the cache itself (row index[t] or t), or a packed
// copy of one key block (row t − first of a contiguous [kKeyBlock, width] buffer).
struct RowView {
  const float* base;
  int64_t stride;
  const int32_t* index;
  int64_t first;
  const float* row(int64_t t) const { return base + (index ? int64_t(index[t]) : t - first) * stride; }
};

// Copies entries [t0, t1) of `v` (width floats each) into buf: the naive cache's per-head rows sit
// 96 KiB (K) / 64 KiB (V) apart, which maps a block's rows onto a few cache sets, and gathered rows
// are scattered; packed, a block is one contiguous run that stays in L2 for every row group.
// While a block is copied, the next block's rows [t1, t_next) are prefetched (into L2), so that
// its copy overlaps this block's tiles instead of waiting on memory.
inline RowView pack(const RowView& v, int64_t t0, int64_t t1, int64_t t_next, int64_t width, float* buf) {
  for (int64_t t = t0; t < t1; ++t) {
    std::memcpy(buf + (t - t0) * width, v.row(t), width * sizeof(float));
    const int64_t u = t1 + (t - t0);
    if (u < t_next) {
      const char* r = reinterpret_cast<const char*>(v.row(u));
      for (int64_t b = 0; b < width * int64_t(sizeof(float)); b += 64) __builtin_prefetch(r + b, 0, 2);
    }
  }
  return {buf, width, nullptr, t0};
}

// dst[r][j + c] = scale · dot(q_r, k_c), MR rows × kNR keys, d % 16 == 0 (vec::dot_tile: dot()'s order).
template <int MR>
void score_tile(const float* const* qr, const float* const* kr, int64_t d, float scale, float* const* dst, int64_t j) {
  float s[MR][kNR];
  vec::dot_tile<MR>(qr, kr, d, s);
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < kNR; ++c) dst[r][j + c] = scale * s[r][c];
}

// o_r[c0 : c0 + 16·NC] += Σ_{t in [t0, t1)} p_r[t] · v(t)[c0 : ...], t ascending, one fma per
// element and step — axpy's order — for MR rows.
template <int MR, int NC>
void value_tile(const float* const* pr, const RowView& vals, int64_t t0, int64_t t1, int64_t c0, float* const* orow) {
  v16 acc[MR][NC];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NC; ++c) acc[r][c] = load(orow[r] + c0 + 16 * c);
  for (int64_t t = t0; t < t1; ++t) {
    const float* v = vals.row(t) + c0;
    v16 x[NC];
    for (int c = 0; c < NC; ++c) x[c] = load(v + 16 * c);
    for (int r = 0; r < MR; ++r) {
      const float a = pr[r][t];
      for (int c = 0; c < NC; ++c) acc[r][c] += a * x[c];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NC; ++c) store(orow[r] + c0 + 16 * c, acc[r][c]);
}

template <int MR>
void value_rows(const float* const* pr, const RowView& vals, int64_t t0, int64_t t1, int64_t dv, float* const* orow) {
  if (t0 >= t1) return;
  int64_t c0 = 0;
  for (; c0 + 16 * kNC <= dv; c0 += 16 * kNC) value_tile<MR, kNC>(pr, vals, t0, t1, c0, orow);
  for (; c0 + 32 <= dv; c0 += 32) value_tile<MR, 2>(pr, vals, t0, t1, c0, orow);
  for (; c0 + 16 <= dv; c0 += 16) value_tile<MR, 1>(pr, vals, t0, t1, c0, orow);
  if (c0 == dv) return;
  for (int r = 0; r < MR; ++r)  // d_v % 16 columns: axpy's scalar step
    for (int64_t t = t0; t < t1; ++t) {
      const float a = pr[r][t];
      const float* v = vals.row(t);
      for (int64_t e = c0; e < dv; ++e) orow[r][e] += a * v[e];
    }
}

template <int MR>
void scores_rows(const AttendParams& p, const float* const* qr, const RowView& keys, int64_t j0, int64_t j1,
                 float* const* dst) {
  int64_t j = j0;
  if (p.d_k % 16 == 0)
    for (; j + kNR <= j1; j += kNR) {
      const float* kr[kNR];
      for (int c = 0; c < kNR; ++c) kr[c] = keys.row(j + c);
      score_tile<MR>(qr, kr, p.d_k, p.scale, dst, j);
    }
  for (; j < j1; ++j) {  // key tail (and d_k % 16 != 0): vec::dot itself
    const float* k = keys.row(j);
    for (int r = 0; r < MR; ++r) dst[r][j] = p.scale * vec::dot(qr[r], k, p.d_k);
  }
}

// f(kb0, kb1, view) for each key block [kb0, kb1) of [0, nmax), in order: `view` is the block
// packed into buf (the next block prefetched meanwhile) when buf is given, else `v` itself.
template <class F>
void for_key_blocks(const RowView& v, int64_t nmax, int64_t width, float* buf, F&& f) {
  for (int64_t kb0 = 0; kb0 < nmax; kb0 += kKeyBlock) {
    const int64_t kb1 = std::min(nmax, kb0 + kKeyBlock);
    f(kb0, kb1, buf ? pack(v, kb0, kb1, std::min(nmax, kb1 + kKeyBlock), width, buf) : v);
  }
}

// One group of up to kMR rows, dispatched on its size.
template <class F>
void for_row_groups(int64_t rows, F&& f) {
  for (int64_t r0 = 0; r0 < rows; r0 += kMR) {
    switch (std::min<int64_t>(kMR, rows - r0)) {
      case 4: f(r0, std::integral_constant<int, 4>{}); break;
      case 3: f(r0, std::integral_constant<int, 3>{}); break;
      case 2: f(r0, std::integral_constant<int, 2>{}); break;
      default: f(r0, std::integral_constant<int, 1>{}); break;
    }
  }
}

}  // namespace

void attend_rows(const AttendParams& p, int64_t rows, const float* q, int64_t q_stride, const float* keys,
                 const float* values, const int32_t* index, const int64_t* n, float* probs, int64_t probs_stride,
                 float* out, int64_t out_stride) {
  if (rows > kAttendMaxRows) fail("attend_rows: " + std::to_string(rows) + " rows, at most kAttendMaxRows");
  int64_t nmax = 0;
  for (int64_t r = 0; r < rows; ++r) nmax = std::max(nmax, n[r]);
  const RowView kview{keys, p.key_stride, index, 0}, vview{values, p.value_stride, index, 0};
  // One row reads each entry once: packing would only add a copy.
  const bool packed = rows > 1;
  thread_local std::vector<float> buf;  // one packed block; grows on a thread's first larger call only
  if (packed && int64_t(buf.size()) < kKeyBlock * std::max(p.d_k, p.d_v)) buf.resize(kKeyBlock * std::max(p.d_k, p.d_v));
  // 1. Scores, block of keys by block: each row group's [kb0, min(kb1, its longest n)).
  for_key_blocks(kview, nmax, p.d_k, packed ? buf.data() : nullptr, [&](int64_t kb0, int64_t kb1, const RowView& kb) {
    for_row_groups(rows, [&](int64_t r0, auto mr) {
      constexpr int MR = decltype(mr)::value;
      const float* qr[MR];
      float* dst[MR];
      int64_t hi = 0;
      for (int r = 0; r < MR; ++r) {
        qr[r] = q + (r0 + r) * q_stride;
        dst[r] = probs + (r0 + r) * probs_stride;
        hi = std::max(hi, n[r0 + r]);
      }
      // Scores past a shorter row's n are computed (from valid rows) but never read.
      scores_rows<MR>(p, qr, kb, kb0, std::min(kb1, hi), dst);
    });
  });
  // 2. Softmax per row: attend()'s exp_shifted_sum.
  float sums[kAttendMaxRows];
  for (int64_t r = 0; r < rows; ++r) {
    sums[r] = vec::exp_shifted_sum(probs + r * probs_stride, n[r]);
    std::memset(out + r * out_stride, 0, p.d_v * sizeof(float));
  }
  // 3. Values, block by block; within a row group the keys every row sees are one tile, the rest
  // (causal edges of a token block) row by row — per row still t = 0, 1, ..., n - 1.
  for_key_blocks(vview, nmax, p.d_v, packed ? buf.data() : nullptr, [&](int64_t kb0, int64_t kb1, const RowView& vb) {
    for_row_groups(rows, [&](int64_t r0, auto mr) {
      constexpr int MR = decltype(mr)::value;
      const float* pr[MR];
      float* orow[MR];
      int64_t lo = kb1;
      for (int r = 0; r < MR; ++r) {
        pr[r] = probs + (r0 + r) * probs_stride;
        orow[r] = out + (r0 + r) * out_stride;
        lo = std::min(lo, n[r0 + r]);
      }
      const int64_t common = std::max(kb0, lo);
      value_rows<MR>(pr, vb, kb0, common, p.d_v, orow);
      for (int r = 0; r < MR; ++r)
        value_rows<1>(&pr[r], vb, common, std::min(kb1, n[r0 + r]), p.d_v, &orow[r]);
    });
  });
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = sums[r] > 0 ? 1.f / sums[r] : 0.f;  // n = 0: zeros, as attend()
    float* o = out + r * out_stride;
    for (int64_t e = 0; e < p.d_v; ++e) o[e] *= inv;
  }
}

void attend_queries(ThreadPool& pool, const AttendBatch& b, const float* q, const float* keys, const float* values,
                    float* const* probs, int64_t probs_floats, float* out) {
  const AttendParams& p = b.p;
  const int64_t H = b.heads, S = b.S, dk = p.d_k, dv = p.d_v;
  int64_t nmax = b.P + S;  // the longest row: dense P + S, sparse the largest count
  if (b.index) {
    nmax = 0;
    for (int64_t s = 0; s < S; ++s) nmax = std::max<int64_t>(nmax, b.count[s]);
  }
  if (probs_floats < kAttendMaxRows * (nmax + 1)) fail("attend_queries: probability scratch too small");
  auto count = [&](int64_t s) { return b.index ? int64_t(b.count[s]) : b.P + s + 1; };
  auto idx = [&](int64_t s) { return b.index ? b.index + s * b.index_stride : nullptr; };
  if (b.per_query) {  // the reference loop: attend() / attend_mqa() query by query
    pool.parallel_for(S, [&](int64_t s0, int64_t s1, int t) {
      for (int64_t i = s0; i < s1; ++i) {
        const int64_t s = attend_zigzag(i, S), n = count(s);
        if (b.mqa) {
          for (int64_t h0 = 0; h0 < H; h0 += kAttendMaxRows)
            attend_mqa(p, std::min(kAttendMaxRows, H - h0), q + (s * H + h0) * dk, dk, keys, values, idx(s), n,
                       probs[t], out + (s * H + h0) * dv, dv);
        } else {
          for (int64_t h = 0; h < H; ++h)
            attend(p, q + (s * H + h) * dk, keys + h * b.key_head, values + h * b.value_head, idx(s), n, probs[t],
                   out + (s * H + h) * dv);
        }
      }
    });
    return;
  }
  if (b.mqa) {
    // Rows = up to kAttendMaxRows heads of one token, over that token's latent rows; fewer (down
    // to 4) when that leaves threads idle (decode: S = 1, 128 heads, many cores). The grouping
    // changes no bit (attend_rows is per row).
    int64_t group = kAttendMaxRows;
    while (group > 4 && S * ((H + group - 1) / group) < pool.size()) group /= 2;
    const int64_t hb = (H + group - 1) / group;
    pool.parallel_for(S * hb, [&](int64_t i0, int64_t i1, int t) {
      int64_t len[kAttendMaxRows];
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t s = attend_zigzag(i / hb, S), h0 = (i % hb) * group;
        const int64_t rows = std::min(group, H - h0);
        std::fill(len, len + rows, count(s));
        attend_rows(p, rows, q + (s * H + h0) * dk, dk, keys, values, idx(s), len, probs[t], nmax, out + (s * H + h0) * dv,
                    dv);
      }
    });
  } else if (!b.index) {
    // Naive dense: rows = up to kAttendMaxRows consecutive tokens of one head (causal prefixes of
    // that head's K/V). Items head-major, so that a thread runs all token blocks of a head in a row
    // while that head's K/V (5 MiB at V3.2 shapes, ctx 4096) may still be in L3; every thread's
    // range holds whole heads' mixes of short and long blocks.
    const int64_t nb = (S + kAttendMaxRows - 1) / kAttendMaxRows;
    pool.parallel_for(nb * H, [&](int64_t i0, int64_t i1, int t) {
      int64_t len[kAttendMaxRows];
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t s0 = (i % nb) * kAttendMaxRows, h = i / nb;
        const int64_t rows = std::min(kAttendMaxRows, S - s0);
        for (int64_t r = 0; r < rows; ++r) len[r] = count(s0 + r);
        attend_rows(p, rows, q + (s0 * H + h) * dk, H * dk, keys + h * b.key_head, values + h * b.value_head, nullptr,
                    len, probs[t], nmax, out + (s0 * H + h) * dv, H * dv);
      }
    });
  } else {
    // Naive sparse: each (token, head) has its own gathered K/V rows: one row per call.
    pool.parallel_for(S * H, [&](int64_t i0, int64_t i1, int t) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t s = attend_zigzag(i / H, S), h = i % H, len = count(s);
        attend_rows(p, 1, q + (s * H + h) * dk, dk, keys + h * b.key_head, values + h * b.value_head, idx(s), &len,
                    probs[t], nmax, out + (s * H + h) * dv, dv);
      }
    });
  }
}

}  // namespace dsv32
