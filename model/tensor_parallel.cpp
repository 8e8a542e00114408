// Tensor parallelism in the layer program (README "Running over ranks", docs/MODEL.md §6, §8):
// rank t of a TP group of T computes heads [h0, h0 + H_t) of MLA and columns [i0, i1) of the
// dense MLP / shared expert, then the partial outputs of o_proj and down_proj are summed over the
// group. The program is the same one; only the head count and the weights it reads change:
//   q_b   rows h·d_qk ...        → a row slice (a view of the checkpoint: no copy, no re-shard)
//   kv_b  rows h·(d_n + d_v) ... → a row slice; absorbed W_UK/W_UV are formed for these heads only
//   o     columns h·d_v ...      → a column copy [D, H_t·d_v] (rows of the checkpoint are strided)
//   MLP   gate/up rows i0..i1 (views), down columns i0..i1 (a copy)
// The lightning indexer is replicated: its score Σ_h w_h·ReLU(q_h·k) is summed over heads before
// the top-k, so splitting it would add a reduction of [S, E] scores per layer for weights of a
// few MB; the router and the LM head are replicated too.
//
// Reduction: every rank gathers all T partials (Ops::tp_allgather, rank order) and sums them in
// rank order, y = ((p_0 + p_1) + p_2) + …, so y is identical on every rank and across runs for a
// given T. It differs from one process only in summation order: a length-L dot product (L = H·d_v
// for o_proj, I for down_proj) becomes T dot products of length ≈ L/T plus T − 1 additions, so the
// fp32 error model of the `exact` verify profile (relative error ~ u·sqrt(L/2) for a sum of L
// terms, u = 2^-24; verify/profiles.json) applies with L replaced by L/T + T ≤ L + T: a factor
// sqrt(1 + T/L) ≤ 1.016 on its bound for the tiny preset (L ≥ 256, T ≤ 4), far inside its
// c_acc = 4 margin. tests/mpi/tp_exact.sh checks TP dumps against one process with that profile.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "kernels/error.h"
#include "model/layer_program.h"

namespace dsv32 {

void LayerProgram::tp_setup() {
  const int64_t H = c_.n_heads;
  if (opt_.parallel == Parallel::kEp) lay_ = rank_layout(mpi_world(), opt_.tp, opt_.ep);
  if (lay_.tp > 1) {
    if (H < lay_.tp)
      fail(c_.source + ": num_attention_heads: " + std::to_string(H) + " heads cannot be split over --tp " +
           std::to_string(lay_.tp) + " ranks");
    if (c_.intermediate_size < lay_.tp || c_.moe_intermediate_size * c_.n_shared_experts < lay_.tp)
      fail(c_.source + ": intermediate_size: too small to split over --tp " + std::to_string(lay_.tp) + " ranks");
    if (std::string(prof_.name) != "exact")
      fail("--tp: tensor parallelism runs the exact profile only (--numerics " + std::string(prof_.name) +
           " has precision points that a split would change)");
  }
  for (int t = 0; t < lay_.tp; ++t) {
    const auto [lo, hi] = split_range(H, 1, lay_.tp, t);
    tp_heads_.push_back(hi - lo);
    if (t == lay_.tp_rank) h0_ = lo, hl_ = hi - lo;
  }
  for (const LayerWeights& L : w_->layers) tp_.push_back(tp_layer(L));
}

// The whole pages inside [p, p + bytes) of a read-only checkpoint mapping, given back to the
// kernel once their columns are copied: the copy replaces them, so a rank keeps 1/T of o_proj and
// down_proj resident instead of the copy plus every page its strided read touched. (A page read
// again later would simply fault back in from the file.)
static void drop_pages(const void* p, size_t bytes) {
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (uintptr_t(p) + page - 1) / page * page, hi = (uintptr_t(p) + bytes) / page * page;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

// A copy of columns [c0, c0 + n) of w, in w's dtype where the block scales allow (not F8, or F8
// cut at scale-block boundaries: every V3.2 split), else dequantized to fp32 (code·scale exactly,
// which the exact profile's on-the-fly dequantization also multiplies by: the same products).
Weight LayerProgram::cols_copy(const Weight& w, int64_t c0, int64_t n) {
  if (c0 == 0 && n == w.cols) return w;
  const int64_t B = w.block, R = w.rows;
  const bool f8 = w.dtype == DType::F8_E4M3;
  const bool keep = !f8 || (w.row0 == 0 && c0 % B == 0 && (n % B == 0 || c0 + n == w.cols));
  Weight s = w;
  s.cols = n;
  s.row0 = 0;
  if (!keep) {
    std::vector<uint8_t>& d = tp_store_.emplace_back(size_t(R * n) * 4);
    float* f = reinterpret_cast<float*>(d.data());
    for (int64_t r = 0; r < R; ++r) w.row_to_f32(r, c0, n, f + r * n);
    drop_pages(w.data, size_t(R * w.cols * dtype_size(w.dtype)));
    s.dtype = DType::F32, s.data = f, s.scale = nullptr, s.scale_cols = 0;
    return s;
  }
  const int64_t es = dtype_size(w.dtype);
  std::vector<uint8_t>& d = tp_store_.emplace_back(size_t(R * n * es));
  for (int64_t r = 0; r < R; ++r)
    std::memcpy(&d[r * n * es], static_cast<const uint8_t*>(w.data) + (r * w.cols + c0) * es, size_t(n * es));
  s.data = d.data();
  drop_pages(w.data, size_t(R * w.cols * es));
  if (f8) {
    const int64_t sr = (R + B - 1) / B, sc = (n + B - 1) / B;
    std::vector<uint8_t>& g = tp_store_.emplace_back(size_t(sr * sc) * 4);
    float* gs = reinterpret_cast<float*>(g.data());
    for (int64_t i = 0; i < sr; ++i) std::memcpy(gs + i * sc, w.scale + i * w.scale_cols + c0 / B, size_t(sc) * 4);
    s.scale = gs, s.scale_cols = sc;
  }
  return s;
}

TpLayer LayerProgram::tp_layer(const LayerWeights& L) {
  const int64_t dqk = c_.qk_head_dim(), kvw = c_.qk_nope_head_dim + c_.v_head_dim, dv = c_.v_head_dim;
  TpLayer t;
  t.q_b = L.q_b.rows_slice(h0_ * dqk, hl_ * dqk);
  t.kv_b = L.kv_b.rows_slice(h0_ * kvw, hl_ * kvw);
  t.o = cols_copy(L.o, h0_ * dv, hl_ * dv);
  auto mlp = [&](const MlpWeights& m) {
    const auto [i0, i1] = split_range(m.gate.rows, m.gate.block, lay_.tp, lay_.tp_rank);
    MlpWeights s;
    s.gate = m.gate.rows_slice(i0, i1 - i0), s.up = m.up.rows_slice(i0, i1 - i0);
    s.down = cols_copy(m.down, i0, i1 - i0);
    return s;
  };
  if (!L.is_moe) t.mlp = lay_.tp > 1 ? mlp(L.mlp) : L.mlp;
  if (L.has_shared) t.shared = lay_.tp > 1 ? mlp(L.shared) : L.shared;
  return t;
}

void LayerProgram::tp_reduce(float* y, int64_t n) {
  if (lay_.tp == 1) return;
  const int64_t T = lay_.tp;
  ops_->ensure(ws_.tp, size_t(T * n) * 4);
  const std::vector<int64_t> counts(size_t(T), n);
  ops_->tp_allgather(y, ws_.tp.f(), counts.data());
  ops_->copy({1, 1, n, 0, 0, 0, 0}, ws_.tp.f(), y);
  for (int64_t r = 1; r < T; ++r) ops_->add(y, ws_.tp.f() + r * n, n);
}

const float* LayerProgram::tp_gather_heads(const float* src, int64_t rows, int64_t width, int64_t row_stride,
                                           int64_t head_stride) {
  const int64_t H = c_.n_heads, T = lay_.tp;
  // Rank t's block in the gather is its own [rows, H_t, width], contiguous; ws.tp holds the
  // blocks, ws.tp_heads the interleaved result.
  ops_->ensure(ws_.tp_heads, size_t(rows * H * width) * 4);
  ops_->ensure(ws_.tp, size_t(2 * rows * H * width) * 4);
  float* mine = ws_.tp.f() + rows * H * width;
  ops_->copy({rows, hl_, width, hl_ * width, width, row_stride, head_stride}, src, mine);
  std::vector<int64_t> counts;
  for (int64_t h : tp_heads_) counts.push_back(rows * h * width);
  comm_tp_kind(CommKind::kTpHeads);  // a dump's gather, not one of the layer's reductions
  ops_->tp_allgather(mine, ws_.tp.f(), counts.data());
  comm_tp_kind(CommKind::kTpReduce);
  int64_t off = 0, h0 = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t ht = tp_heads_[t];
    ops_->copy({rows, ht, width, H * width, width, ht * width, width}, ws_.tp.f() + off, ws_.tp_heads.f() + h0 * width);
    off += rows * ht * width, h0 += ht;
  }
  return ws_.tp_heads.f();
}

}  // namespace dsv32
