// Host-side weights and activations for the GEMM tests (test_gemm_precision, test_moe_experts):
// a Weight of any dtype with its storage, and inputs whose magnitudes vary per 128-block so that a
// block scale applied to the wrong rows or columns shows up as an error of a factor ≥ 2.
#pragma once
#include "kernels/cpu/act_quant.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/numeric.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32::test {

// A [N, K] weight from N(0, sigma²) values. F8: e4m3 codes with power-of-two scales 2^e, e drawn
// per 128×128 block from [scale_exp_lo, scale_exp_hi], codes = e4m3(value / scale).
struct HostWeight {
  std::vector<uint8_t> storage;
  std::vector<float> f32, scale;
  Weight w;
};

inline HostWeight make_host_weight(DType dtype, int64_t N, int64_t K, uint32_t seed, float sigma = 0.05f,
                                   int scale_exp_lo = -10, int scale_exp_hi = -6) {
  HostWeight h;
  auto vals = randn(N * K, seed, sigma);
  h.w = Weight{dtype, N, K};
  switch (dtype) {
    case DType::F32:
      h.f32 = std::move(vals);
      h.w.data = h.f32.data();
      break;
    case DType::BF16:
    case DType::F16: {
      h.storage.resize(size_t(N * K) * 2);
      auto* p = reinterpret_cast<uint16_t*>(h.storage.data());
      for (size_t i = 0; i < vals.size(); ++i) p[i] = dtype == DType::BF16 ? f32_to_bf16(vals[i]) : f32_to_f16(vals[i]);
      h.w.data = p;
      break;
    }
    default: {
      const int64_t sr = (N + 127) / 128, sc = (K + 127) / 128;
      std::mt19937 g(seed ^ 0x5eedu);
      std::uniform_int_distribution<int> e(scale_exp_lo, scale_exp_hi);
      h.scale.resize(size_t(sr * sc));
      for (auto& s : h.scale) s = std::ldexp(1.f, e(g));
      h.storage.resize(size_t(N * K));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k)
          h.storage[size_t(n * K + k)] = f32_to_f8e4m3(vals[size_t(n * K + k)] / h.scale[size_t((n / 128) * sc + k / 128)]);
      h.w.data = h.storage.data();
      h.w.scale = h.scale.data();
      h.w.scale_cols = sc;
    }
  }
  return h;
}

// x [M, K], bf16-representable, each (row, 128-block) multiplied by 2^e, e uniform in [−6, 6].
inline std::vector<float> blocky_activations(int64_t M, int64_t K, uint32_t seed) {
  auto x = randn(M * K, seed);
  std::mt19937 g(seed ^ 0xb10cu);
  std::uniform_int_distribution<int> e(-6, 6);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t kb = 0; kb * 128 < K; ++kb) {
      const float f = std::ldexp(1.f, e(g));
      for (int64_t k = kb * 128; k < std::min(K, kb * 128 + 128); ++k) {
        float& v = x[size_t(m * K + k)];
        v = bf16_to_f32(f32_to_bf16(v * f));
      }
    }
  return x;
}

// The CPU act_quant (kernels/cpu/act_quant.h: the same ActQuantParams contract as gpu::act_quant)
// as codes, the reference of test_act_quant and of the FP8 GEMM emulation. x [M, K] row stride
// x_stride; codes [M, K]; scales row-major [M, K/128].
inline void act_quant_reference(const std::vector<float>& x, int64_t M, int64_t K, int64_t x_stride, bool ue8m0,
                                bool bf16_input, std::vector<uint8_t>& codes, std::vector<float>& scales) {
  ActQuantParams p;
  p.rows = M, p.dim = K, p.x_stride = x_stride, p.pow2_scale = ue8m0, p.bf16_input = bf16_input;
  std::vector<float> q(size_t(M * K));
  scales.assign(size_t(M * act_quant_blocks(p)), 0.f);
  dsv32::act_quant(p, x.data(), q.data(), scales.data());
  codes.resize(q.size());
  for (size_t i = 0; i < q.size(); ++i) codes[i] = f32_to_f8e4m3(q[i]);  // e4m3 values: exact codes
}

// γ_n for a unit roundoff u other than fp32's.
inline double gamma_u(int64_t n, double u) { return double(n) * u / (1 - double(n) * u); }

}  // namespace dsv32::test
