// gpu::moe_experts against the CPU model's expert computation (model/ffn.cpp: per (token, slot)
// gate/up linear, m = g/(1+e^-g)·u, down linear; y = shared + Σ_k w·out, the sum from 0 in slot
// order) on random experts, for every GEMM variant: grouped fp32 / bf16 (F32 / BF16 weights) and
// per-expert (F8 weights) under kFp32, kBf16 and kFp8, with a balanced and an unbalanced routing
// (most experts empty, one expert taking most pairs), with and without the host copy of ids.
//
// Bound, propagated per element to first order (each term's source in brackets):
//   linear z = W·v, L inputs:  Δz ≤ Σ|w|·Δv                            [error already in v]
//                                   + 3γ_L·Σ|w·v|                         [CPU γ_L + cuBLAS 2γ_L]
//                                   + kBf16: 2^-9·Σ|w·v|                  [v rounded to bf16]
//                                   + kFp8: 6·sqrt(Σ w²·e²/3) + γ_128(2^-13)·Σ|w·v|
//                                     e = max(2^-4|v|, 2^-9·s)            [act_quant, as in
//                                     test_gemm_precision; s from the CPU's v, doubled for a
//                                     ue8m0 boundary the GPU's v may cross; FP8 MMA accumulation]
//   m = silu(g)·u:  Δm ≤ 1.1|u|·Δg + |silu(g)|·Δu + 1.1·Δg·Δu + 0.25|u|·Δg² + 8u|m|
//                   (|silu'| ≤ 1.1, |silu''| ≤ 0.5; exp/div/mul roundings on both sides)
//   y = shared + Σ_k w_k·out_k:  Δy ≤ Δshared + Σ_k |w_k|·Δout_k + 2(K+1)u·(|shared| + Σ_k|w_k·out_k|)
// And in aggregate: rms(got − want)/rms(want) below 1e-4 (kFp32: ~1e-6 expected), 1e-2 (kBf16:
// ~2^-9) or 0.12 (kFp8: two e4m3 roundings; 0.047 when the GPU is replaced by a CPU act_quant
// emulation of these experts, whose worst err/bound is then 0.02): a wrong expert, row or weight
// moves its row by O(1) relative and fails both checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <ostream>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cuda/moe_experts.h"
#include "kernels/error.h"
#include "model/parallel.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/cuda/gemm_test_util.h"

namespace dsv32 {
namespace {

using gpu::GemmPrecision;
using test::close_within;
using test::gamma_n;
using test::gamma_u;
using test::GpuParamTest;
using test::GpuTest;
using test::kU;
template <class T>
using Dev = gpu::DeviceArray<T>;

struct Expert {
  test::HostWeight gate, up, down;
};

// z = W·v in fp32 (the CPU op), and its error bound given the bound dv on v.
void linear_with_bound(const Weight& w, const std::vector<float>& v, const std::vector<double>& dv, GemmPrecision prec,
                       std::vector<float>& z, std::vector<double>& dz) {
  const int64_t N = w.rows, L = w.cols;
  z.assign(size_t(N), 0.f);
  ThreadPool pool(1);
  linear(pool, v.data(), 1, w, z.data());
  std::vector<float> s;  // act_quant scales of v (kFp8)
  if (prec == GemmPrecision::kFp8) {
    std::vector<uint8_t> codes;
    test::act_quant_reference(v, 1, L, L, true, true, codes, s);
  }
  dz.assign(size_t(N), 0.0);
  std::vector<float> row(static_cast<size_t>(L));
  for (int64_t n = 0; n < N; ++n) {
    w.row_to_f32(n, 0, L, row.data());
    double prop = 0, abs = 0, var = 0;
    for (int64_t k = 0; k < L; ++k) {
      const double wk = row[size_t(k)], vk = v[size_t(k)];
      prop += std::fabs(wk) * dv[size_t(k)];
      abs += std::fabs(wk * vk);
      if (prec == GemmPrecision::kFp8) {
        const double e = std::max(std::ldexp(std::fabs(vk), -4), std::ldexp(double(s[size_t(k / 128)]), -9));
        var += wk * wk * e * e / 3;
      }
    }
    double q = 0;
    if (prec == GemmPrecision::kBf16) q = std::ldexp(abs, -9);
    if (prec == GemmPrecision::kFp8) q = 6 * std::sqrt(var) + gamma_u(128, std::ldexp(1.0, -13)) * abs;
    dz[size_t(n)] = prop + 3 * gamma_n(L) * abs + q;
  }
}

// One SwiGLU expert on one row, with the bound of its output.
void expert_with_bound(const Expert& ex, const std::vector<float>& x, GemmPrecision prec, std::vector<float>& out,
                       std::vector<double>& dout) {
  std::vector<float> g, u;
  std::vector<double> dg, du;
  const std::vector<double> dx(x.size(), 0.0);
  linear_with_bound(ex.gate.w, x, dx, prec, g, dg);
  linear_with_bound(ex.up.w, x, dx, prec, u, du);
  std::vector<float> m(g.size());
  std::vector<double> dm(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const float silu = g[i] / (1.f + std::exp(-g[i]));
    m[i] = silu * u[i];
    dm[i] = 1.1 * std::fabs(u[i]) * dg[i] + std::fabs(silu) * du[i] + 1.1 * dg[i] * du[i] +
            0.25 * std::fabs(u[i]) * dg[i] * dg[i] + 8 * kU * std::fabs(m[i]);
  }
  linear_with_bound(ex.down.w, m, dm, prec, out, dout);
}

struct MoeCase {
  DType dtype;
  GemmPrecision prec;
  bool unbalanced, with_shared, host_ids;
};
void PrintTo(const MoeCase& c, std::ostream* os) {
  const char* prec[] = {"fp32", "bf16", "fp8"};
  *os << dtype_name(c.dtype) << "_" << prec[int(c.prec)] << (c.unbalanced ? "_unbalanced" : "_balanced")
      << (c.with_shared ? "_shared" : "") << (c.host_ids ? "_hostids" : "_deviceids");
}
class MoeExpertsTest : public GpuParamTest<MoeCase> {};

TEST_P(MoeExpertsTest, MatchesCpuModel) {
  const auto c = GetParam();
  constexpr int64_t E = 8, K = 2, D = 256, I = 128;
  const int64_t S = c.unbalanced ? 33 : 16;
  std::vector<Expert> experts;
  for (int64_t e = 0; e < E; ++e)
    experts.push_back({test::make_host_weight(c.dtype, I, D, uint32_t(100 + 3 * e)),
                       test::make_host_weight(c.dtype, I, D, uint32_t(101 + 3 * e)),
                       test::make_host_weight(c.dtype, D, I, uint32_t(102 + 3 * e))});
  const Expert shared{test::make_host_weight(c.dtype, I, D, 90), test::make_host_weight(c.dtype, I, D, 91),
                      test::make_host_weight(c.dtype, D, I, 92)};

  // Routing: K distinct experts per token, ascending. Unbalanced: only experts 0, 3 and 7, with 3
  // in every token (experts 1, 2, 4, 5, 6 stay empty).
  std::mt19937 rng(7);
  std::vector<int32_t> ids(size_t(S * K));
  std::vector<float> wts(size_t(S * K));
  std::uniform_real_distribution<float> wd(0.1f, 1.f);
  for (int64_t s = 0; s < S; ++s) {
    std::vector<int32_t> pool = c.unbalanced ? std::vector<int32_t>{0, 7} : std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7};
    std::shuffle(pool.begin(), pool.end(), rng);
    std::vector<int32_t> pick = c.unbalanced ? std::vector<int32_t>{3, pool[0]} : std::vector<int32_t>{pool[0], pool[1]};
    std::sort(pick.begin(), pick.end());
    for (int64_t k = 0; k < K; ++k) {
      ids[size_t(s * K + k)] = pick[size_t(k)];
      wts[size_t(s * K + k)] = wd(rng);
    }
  }
  const auto x = test::blocky_activations(S, D, 8);

  // CPU model + bound.
  std::vector<float> want(size_t(S * D));
  std::vector<double> bound(want.size());
  for (int64_t s = 0; s < S; ++s) {
    const std::vector<float> xs(x.begin() + s * D, x.begin() + (s + 1) * D);
    std::vector<float> sh(size_t(D), 0.f), out;
    std::vector<double> dsh(size_t(D), 0.0), dout;
    if (c.with_shared) expert_with_bound(shared, xs, c.prec, sh, dsh);
    std::vector<float> acc(size_t(D), 0.f);
    std::vector<double> dacc(size_t(D), 0.0), mag(size_t(D), 0.0);
    for (int64_t k = 0; k < K; ++k) {
      expert_with_bound(experts[size_t(ids[size_t(s * K + k)])], xs, c.prec, out, dout);
      const float wk = wts[size_t(s * K + k)];
      for (int64_t d = 0; d < D; ++d) {
        acc[size_t(d)] += wk * out[size_t(d)];
        dacc[size_t(d)] += std::fabs(wk) * dout[size_t(d)];
        mag[size_t(d)] += std::fabs(double(wk) * out[size_t(d)]);
      }
    }
    for (int64_t d = 0; d < D; ++d) {
      want[size_t(s * D + d)] = sh[size_t(d)] + acc[size_t(d)];
      bound[size_t(s * D + d)] = dsh[size_t(d)] + dacc[size_t(d)] +
                                 2 * double(K + 1) * kU * (std::fabs(sh[size_t(d)]) + mag[size_t(d)]);
    }
  }

  // GPU.
  std::vector<std::unique_ptr<gpu::WeightUpload>> uploads;
  const auto up = [&](const test::HostWeight& h) {
    uploads.push_back(std::make_unique<gpu::WeightUpload>(ctx(), h.w));
    return uploads.back()->view();
  };
  std::vector<gpu::MoeExpertWeights> dev_experts;
  for (const auto& ex : experts) dev_experts.push_back({up(ex.gate), up(ex.up), up(ex.down)});
  const gpu::MoeExpertWeights dev_shared{up(shared.gate), up(shared.up), up(shared.down)};
  Dev<float> dx(ctx(), x), dw(ctx(), wts), dy(ctx(), std::vector<float>(want.size(), NAN));
  Dev<int32_t> dids(ctx(), ids);
  gpu::MoeWorkspace ws;
  gpu::MoeExpertsParams p;
  p.tokens = S, p.hidden = D, p.top_k = K, p.n_experts = E, p.prec = c.prec;
  gpu::moe_experts_stats_reset();
  gpu::moe_experts(ctx(), p, ws, dx.get(), dids.get(), c.host_ids ? ids.data() : nullptr, dw.get(), dev_experts.data(),
                   c.with_shared ? &dev_shared : nullptr, dy.get());
  const auto got = dy.download(ctx());
  const auto st = gpu::moe_experts_stats();
  RecordProperty("grouped_calls", int(st.grouped_calls));
  RecordProperty("per_expert_calls", int(st.per_expert_calls));
  // fp32 × fp32 → fp32 with compute 32F is in every cuBLAS's grouped type table: it must not
  // have fallen back (a refusal there means a bad argument). bf16 × bf16 → fp32 may be refused.
  if (c.dtype == DType::F32) {
    EXPECT_EQ(st.grouped_calls, 2);
    EXPECT_EQ(st.per_expert_calls, 0);
  }
  if (c.dtype == DType::F8_E4M3) {
    EXPECT_EQ(st.grouped_calls, 0);
  }
  EXPECT_TRUE(close_within(got, want, bound));
  double se = 0, sw = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    se += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    sw += double(want[i]) * want[i];
  }
  const double limit = c.prec == GemmPrecision::kFp32 ? 1e-4 : c.prec == GemmPrecision::kBf16 ? 1e-2 : 0.12;
  EXPECT_LT(std::sqrt(se / sw), limit);
  // The same call again reuses the workspace and gives the same bits (deterministic grouping).
  gpu::moe_experts(ctx(), p, ws, dx.get(), dids.get(), c.host_ids ? ids.data() : nullptr, dw.get(), dev_experts.data(),
                   c.with_shared ? &dev_shared : nullptr, dy.get());
  EXPECT_EQ(dy.download(ctx()), got);
  // Expert parallelism in one process (model/mpi/nccl_ops.cpp's scheme): three "ranks" compute
  // their blocks of experts (3 + 3 + 2) and hand their grouped rows out through the exchange hook;
  // a last call by rank 0 takes the others' rows back in before its combine. The result is the
  // full call's, bit for bit: each row is computed by the same GEMMs on the same inputs.
  constexpr int kRanks = 3;
  std::vector<float> rows(size_t(S * K * D));
  std::vector<std::vector<int32_t>> seen;
  for (int r = 0; r < kRanks; ++r) {
    gpu::MoeExpertsParams pr = p;
    std::tie(pr.expert_lo, pr.expert_hi) = expert_block(E, kRanks, r);
    // Only the block's weights may be read: the others are empty.
    std::vector<gpu::MoeExpertWeights> mine(static_cast<size_t>(E));
    for (int64_t e = pr.expert_lo; e < pr.expert_hi; ++e) mine[size_t(e)] = dev_experts[size_t(e)];
    const gpu::MoeExchange give = [&](float* yg, const std::vector<int32_t>& off) {
      seen.push_back(off);
      const int64_t r0 = off[size_t(pr.expert_lo)], n = off[size_t(pr.expert_hi)] - r0;
      if (n) gpu::copy_to_host(ctx(), rows.data() + r0 * D, yg + r0 * D, size_t(n * D) * 4);
    };
    gpu::moe_experts(ctx(), pr, ws, dx.get(), dids.get(), c.host_ids ? ids.data() : nullptr, dw.get(), mine.data(),
                     c.with_shared ? &dev_shared : nullptr, dy.get(), &give);
  }
  gpu::MoeExpertsParams p0 = p;
  std::tie(p0.expert_lo, p0.expert_hi) = expert_block(E, kRanks, 0);
  const gpu::MoeExchange take = [&](float* yg, const std::vector<int32_t>& off) {
    const int64_t r1 = off[size_t(p0.expert_hi)];  // the rows after rank 0's block
    gpu::copy_to_device(ctx(), yg + r1 * D, rows.data() + r1 * D, size_t((S * K - r1) * D) * 4);
  };
  gpu::moe_experts(ctx(), p0, ws, dx.get(), dids.get(), c.host_ids ? ids.data() : nullptr, dw.get(), dev_experts.data(),
                   c.with_shared ? &dev_shared : nullptr, dy.get(), &take);
  ASSERT_EQ(seen.size(), size_t(kRanks));
  for (const auto& off : seen) EXPECT_EQ(off, seen[0]);  // every rank groups alike
  EXPECT_EQ(dy.download(ctx()), got);
  // A block without an exchange is a one-line Error.
  EXPECT_THROW(gpu::moe_experts(ctx(), p0, ws, dx.get(), dids.get(), ids.data(), dw.get(), dev_experts.data(), nullptr,
                                dy.get()),
               Error);
}
INSTANTIATE_TEST_SUITE_P(
    Cuda, MoeExpertsTest,
    ::testing::Values(MoeCase{DType::F32, GemmPrecision::kFp32, false, true, true},     // grouped fp32
                      MoeCase{DType::BF16, GemmPrecision::kBf16, false, true, true},    // grouped bf16
                      MoeCase{DType::F8_E4M3, GemmPrecision::kFp32, false, true, true},  // per expert
                      MoeCase{DType::F8_E4M3, GemmPrecision::kBf16, false, false, false},
                      MoeCase{DType::F8_E4M3, GemmPrecision::kFp8, false, true, true},
                      MoeCase{DType::F8_E4M3, GemmPrecision::kFp8, true, false, false},  // unbalanced
                      MoeCase{DType::BF16, GemmPrecision::kBf16, true, true, true},
                      MoeCase{DType::F32, GemmPrecision::kFp32, true, false, false}));

// An expert id outside [0, E) is a one-line Error, from the host copy or from the device counts.
TEST_F(GpuTest, MoeExpertsRejectsOutOfRangeIds) {
  constexpr int64_t D = 128, I = 128;
  const auto gate = test::make_host_weight(DType::F32, I, D, 1), down = test::make_host_weight(DType::F32, D, I, 2);
  gpu::WeightUpload dg(ctx(), gate.w), dd(ctx(), down.w);
  const std::vector<gpu::MoeExpertWeights> experts(2, gpu::MoeExpertWeights{dg.view(), dg.view(), dd.view()});
  const std::vector<int32_t> ids{5};
  Dev<float> dx(ctx(), std::vector<float>(D, 1.f)), dw(ctx(), std::vector<float>{1.f}), dy(static_cast<size_t>(D));
  Dev<int32_t> dids(ctx(), ids);
  gpu::MoeWorkspace ws;
  gpu::MoeExpertsParams p;
  p.tokens = 1, p.hidden = D, p.top_k = 1, p.n_experts = 2, p.prec = GemmPrecision::kFp32;
  EXPECT_THROW(gpu::moe_experts(ctx(), p, ws, dx.get(), dids.get(), ids.data(), dw.get(), experts.data(), nullptr,
                                dy.get()),
               Error);
  EXPECT_THROW(gpu::moe_experts(ctx(), p, ws, dx.get(), dids.get(), nullptr, dw.get(), experts.data(), nullptr,
                                dy.get()),
               Error);
}

}  // namespace
}  // namespace dsv32
