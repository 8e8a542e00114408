// kernels/cuda/rows: strided copies (incl. the head broadcast of naive MLA's k_rope), row gathers
// and scatters (MoE grouping), and the MoE weighted combine. Copies are exact; the combine is
// checked against a double-precision sum. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/cuda/rows.h"
#include "kernels/error.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::close_within;
using test::gamma_n;
using test::GpuTest;
using test::randn;
template <class T>
using Dev = gpu::DeviceArray<T>;

class Rows : public GpuTest {};

TEST_F(Rows, CopyStridedPlacesEveryElement) {
  // Naive MLA's cache write: [S, H, dn] out of [S, H, dn + dv] rows, and k_rope [S, dr] (row
  // stride lat) broadcast to every head (source head stride 0).
  const int64_t S = 5, H = 7, dn = 33, dv = 20, dr = 9, lat = 50, dqk = dn + dr;
  auto kvb = randn(S * H * (dn + dv), 31), z = randn(S * lat, 32);
  std::vector<float> want(S * H * dqk, -1.f);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < dn; ++i) want[(s * H + h) * dqk + i] = kvb[(s * H + h) * (dn + dv) + i];
      for (int64_t i = 0; i < dr; ++i) want[(s * H + h) * dqk + dn + i] = z[s * lat + 40 + i];
    }
  Dev<float> dkvb(ctx(), kvb), dz(ctx(), z), dk(ctx(), std::vector<float>(S * H * dqk, -1.f));
  gpu::StridedCopy c;
  c.rows = S, c.heads = H, c.width = dn;
  c.dst_row_stride = H * dqk, c.dst_head_stride = dqk, c.src_row_stride = H * (dn + dv), c.src_head_stride = dn + dv;
  gpu::copy_strided(ctx(), c, dkvb.get(), dk.get());
  c.width = dr, c.src_row_stride = lat, c.src_head_stride = 0;
  gpu::copy_strided(ctx(), c, dz.get() + 40, dk.get() + dn);
  EXPECT_EQ(dk.download(ctx()), want);
}

TEST_F(Rows, GatherAndScatterRoundTrip) {
  // Rows routed to one expert: index = s·K + slot, gathered from token s = index / K, scattered to
  // slot row index. 70000 rows exceed one grid's 65535 y-blocks.
  const int64_t K = 4, D = 40, rows = 70000, tokens = rows;  // every token once
  std::vector<int32_t> index(rows);
  for (int64_t r = 0; r < rows; ++r) index[r] = int32_t(((r * 7919) % tokens) * K + r % K);
  auto x = randn(tokens * D, 41);
  Dev<float> dx(ctx(), x), dg(size_t(rows * D)), dslots(ctx(), std::vector<float>(tokens * K * D, 0.f));
  Dev<int32_t> di(ctx(), index);
  gpu::gather_rows(ctx(), dx.get(), D, di.get(), K, rows, D, dg.get());
  gpu::scatter_rows(ctx(), dg.get(), rows, D, di.get(), dslots.get(), D);
  const auto g = dg.download(ctx()), slots = dslots.download(ctx());
  for (int64_t r = 0; r < rows; r += 997)
    for (int64_t d = 0; d < D; ++d) {
      ASSERT_EQ(g[r * D + d], x[(index[r] / K) * D + d]) << "gather row " << r;
      ASSERT_EQ(slots[index[r] * D + d], x[(index[r] / K) * D + d]) << "scatter row " << r;
    }
  EXPECT_THROW(gpu::gather_rows(ctx(), dx.get(), D, di.get(), 0, rows, D, dg.get()), Error);
}

// y[s, d] += Σ_k w[s, k]·slot[s·K + k, d]: K products and K + 1 additions in fp32 against a double
// sum: |Δ| ≤ γ_{K+1}·(Σ_k |w·slot| + |y|) (Higham 3.1; the products' roundings are inside γ).
TEST_F(Rows, MoeCombineMatchesDoubleSum) {
  const int64_t S = 9, K = 8, D = 300;
  auto slots = randn(S * K * D, 51), w = randn(S * K, 52, 0.3f), y = randn(S * D, 53);
  std::vector<float> want(S * D);
  std::vector<double> bound(S * D);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t d = 0; d < D; ++d) {
      double acc = 0, mag = std::fabs(y[s * D + d]);
      for (int64_t k = 0; k < K; ++k) {
        acc += double(w[s * K + k]) * slots[(s * K + k) * D + d];
        mag += std::fabs(double(w[s * K + k]) * slots[(s * K + k) * D + d]);
      }
      want[s * D + d] = float(y[s * D + d] + acc);
      bound[s * D + d] = gamma_n(K + 1) * mag + test::kU * std::fabs(want[s * D + d]);  // + want's own rounding
    }
  Dev<float> dslots(ctx(), slots), dw(ctx(), w), dy(ctx(), y);
  gpu::moe_combine(ctx(), dslots.get(), dw.get(), S, K, D, dy.get());
  const std::vector<float> packed = dy.download(ctx());
  EXPECT_TRUE(close_within(packed, want, bound));

  // The same slots stored in another row order (moe_experts' expert-grouped rows) and addressed
  // through slot_rows: the same operands in the same order, so bit-identical to the packed call.
  std::vector<int32_t> slot_rows(S * K);
  for (int64_t i = 0; i < S * K; ++i) slot_rows[i] = int32_t((i * 7 + 3) % (S * K));  // 7 ⟂ 72: a permutation
  std::vector<float> moved(slots.size());
  for (int64_t i = 0; i < S * K; ++i)
    std::copy(&slots[i * D], &slots[i * D] + D, &moved[int64_t(slot_rows[i]) * D]);
  Dev<float> dmoved(ctx(), moved), dy2(ctx(), y);
  Dev<int32_t> drows(ctx(), slot_rows);
  gpu::moe_combine(ctx(), dmoved.get(), dw.get(), S, K, D, dy2.get(), drows.get());
  EXPECT_EQ(dy2.download(ctx()), packed);
}

}  // namespace
}  // namespace dsv32
