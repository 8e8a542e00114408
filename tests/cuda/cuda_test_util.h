// Shared pieces of the CUDA op tests: the skip-without-a-device fixture, random inputs and the
// per-element comparison with a derived bound.
//
// Tolerances (see each test for its derivation) are built from u = 2^-24, the unit roundoff of
// fp32, and γ_n = n·u/(1 − n·u): an n-term fp32 sum whose terms have magnitudes a_i is within
// γ_n·Σa_i of the exact sum whatever the order (Higham, Thm 3.1; for Hopper's tensor-core adders,
// which truncate, use 2γ_n). CPU and GPU each satisfy such a bound, so their difference is within
// the sum of both: never a bare constant.
#pragma once
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/context.h"

namespace dsv32::test {

inline const double kU = std::ldexp(1.0, -24);
inline double gamma_n(int64_t n) { return double(n) * kU / (1 - double(n) * kU); }

// Every test runs in this fixture: without a CUDA device it skips, with the reason.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
      GTEST_SKIP() << "no CUDA device: " << (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices")
                   << " (these op tests run on a GPU machine; see kernels/cuda/README.md)";
    ctx_ = gpu::context_create(0);
  }
  void TearDown() override { gpu::context_destroy(ctx_); }
  gpu::Context& ctx() { return *ctx_; }

 private:
  gpu::Context* ctx_ = nullptr;
};

template <class P>
class GpuParamTest : public GpuTest, public ::testing::WithParamInterface<P> {};

inline std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

// got vs want per element: |got − want| ≤ bound[i]; NaN must match NaN, ±inf must match exactly.
// Reports the count of violations and the worst one (largest error / bound).
inline ::testing::AssertionResult close_within(const std::vector<float>& got, const std::vector<float>& want,
                                               const std::vector<double>& bound) {
  if (got.size() != want.size() || bound.size() != want.size())
    return ::testing::AssertionFailure() << "size mismatch";
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const float g = got[i], w = want[i];
    double ratio;
    if (std::isnan(w) || std::isnan(g) || std::isinf(w) || std::isinf(g)) {
      const bool same = (std::isnan(w) && std::isnan(g)) || g == w;
      ratio = same ? 0 : INFINITY;
    } else {
      const double err = std::fabs(double(g) - double(w));
      max_err = std::max(max_err, err);
      ratio = err == 0 ? 0 : (bound[i] > 0 ? err / bound[i] : INFINITY);
    }
    if (ratio > 1) ++bad;
    if (ratio > worst_ratio) { worst_ratio = ratio; worst = int64_t(i); }
  }
  if (bad == 0) return ::testing::AssertionSuccess() << "max |err| " << max_err << ", worst err/bound " << worst_ratio;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%lld of %zu elements over the bound; worst [%lld]: got %.9g want %.9g "
                "(|err| %.3g, bound %.3g, err/bound %.3g)", (long long)bad, want.size(), (long long)worst,
                got[size_t(worst)], want[size_t(worst)], std::fabs(double(got[size_t(worst)]) - want[size_t(worst)]),
                bound[size_t(worst)], worst_ratio);
  return ::testing::AssertionFailure() << buf;
}

// |A ∩ B| / |A ∪ B| of two index sets (for reporting top-k disagreements).
inline double jaccard(std::vector<int32_t> a, std::vector<int32_t> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<int32_t> i, u;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(i));
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(u));
  return u.empty() ? 1.0 : double(i.size()) / double(u.size());
}

}  // namespace dsv32::test
