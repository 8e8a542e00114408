// gpu::linear per GemmPrecision and gpu::moe_experts at the DeepSeek V3.2 shapes, on FP8 (e4m3,
// 128×128 block-scaled) weights as the checkpoint stores them:
//   BM_linear/cublas_bf16/f8/…    kBf16: tiles dequantized to bf16, cuBLAS bf16 → fp32   (roof bf16)
//   BM_linear/cublaslt_fp8/f8/…   kFp8: act_quant + cuBLASLt block-scaled e4m3           (roof fp8 spec)
//   BM_linear/cublas_fp32/f8/…    kFp32: tiles dequantized to fp32, pedantic fp32 (M = 64 only; roof fp32)
//   BM_moe_experts/cuda_bf16|cuda_fp8/f8/v32_E256_K8_I2048_M<S>: S tokens, random routing (K distinct
//     experts per token), the shared expert included, host copy of the ids passed
// (bench_ops_cuda.cpp's BM_linear/cuda/… are the default-precision cases of the same shapes.)
// Bytes (compulsory, per call): linear — W codes + scales, x fp32, y fp32; moe — the codes and
// scales of every expert the routing touches plus the shared expert, x, y, ids and weights.
// FLOPs 2·M·N·K; moe 2·3·D·I per (token, expert) pair plus the shared expert's. Counters add
// fp8_fallbacks (kFp8 calls per call that took the bf16 path: 0 when the FP8 path covers the
// shape), moe_grouped_calls and moe_per_expert_calls per call.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/cuda/cuda_bench_util.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/moe_experts.h"

namespace dsv32::cuda_bench {
namespace {

using benchmark::State;
using gpu::GemmPrecision;

// The real V3.2 shapes, from the synth preset (bench/bench_util.h).
const bench::Shapes& kV32 = bench::preset("v32");
const int64_t kD = kV32.D, kExperts = kV32.E, kTopK = kV32.K, kIMoe = kV32.I_moe, kVocab = kV32.V;

const char* impl_token(GemmPrecision p) {
  return p == GemmPrecision::kFp8 ? "cublaslt_fp8" : p == GemmPrecision::kBf16 ? "cublas_bf16" : "cublas_fp32";
}
Roof roof_of(GemmPrecision p) {
  return p == GemmPrecision::kFp8 ? Roof::kFp8Spec : p == GemmPrecision::kBf16 ? Roof::kBf16 : Roof::kFp32;
}

// An F8 weight [N, K] in device memory: random finite codes, scales 2^-8 (a power of two, as ue8m0).
struct F8Device {
  gpu::DeviceArray<uint8_t> data;
  gpu::DeviceArray<float> scale;
  gpu::WeightDevice w;
  F8Device(int64_t N, int64_t K, uint64_t seed)
      : data(size_t(N * K)), scale(size_t(((N + 127) / 128) * ((K + 127) / 128))) {
    fill_e4m3(data.get(), N * K, seed);
    fill_const(scale.get(), int64_t(scale.size()), 1.f / 256.f);
    w.dtype = DType::F8_E4M3;
    w.rows = N, w.cols = K, w.data = data.get(), w.scale = scale.get(), w.scale_cols = (K + 127) / 128;
  }
  double bytes() const { return double(data.size()) + 4.0 * double(scale.size()); }
};

void bm_linear_prec(State& st, GemmPrecision prec, int64_t N, int64_t K, int64_t M) {
  F8Device w(N, K, 4);
  gpu::DeviceArray<float> x(M * K), y(M * N);
  fill_uniform(x.get(), M * K, 5, 1.f);
  gpu::linear_fp8_stats_reset();
  const double s = time_loop(st, [&] { gpu::linear(context(), x.get(), M, w.w, y.get(), prec); });
  const auto fs = gpu::linear_fp8_stats();
  st.counters["fp8_fallbacks"] = fs.calls > 0 ? double(fs.fallbacks) / double(fs.calls) : 0.0;
  set_counters(st, w.bytes() + 4.0 * M * (K + N), 2.0 * M * N * K, s, roof_of(prec));
}

// 256 experts' gate, up, down (11 GB of e4m3) in three allocations, plus the shared expert.
void bm_moe_experts(State& st, GemmPrecision prec, int64_t S) {
  const int64_t D = kD, I = kIMoe, E = kExperts, K = kTopK;
  const int64_t mat = I * D, sc_gu = (I / 128) * (D / 128), sc_d = (D / 128) * (I / 128);
  gpu::DeviceArray<uint8_t> codes(size_t(3 * E * mat));
  gpu::DeviceArray<float> scales(size_t(E * (2 * sc_gu + sc_d)));
  fill_e4m3(codes.get(), 3 * E * mat, 41);
  fill_const(scales.get(), int64_t(scales.size()), 1.f / 256.f);
  std::vector<gpu::MoeExpertWeights> experts(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    const auto view = [&](int which, int64_t N, int64_t Kd, int64_t scale_offset) {
      gpu::WeightDevice w;
      w.dtype = DType::F8_E4M3;
      w.rows = N, w.cols = Kd, w.data = codes.get() + (3 * e + which) * mat;
      w.scale = scales.get() + e * (2 * sc_gu + sc_d) + scale_offset, w.scale_cols = Kd / 128;
      return w;
    };
    experts[size_t(e)] = {view(0, I, D, 0), view(1, I, D, sc_gu), view(2, D, I, 2 * sc_gu)};
  }
  F8Device sg(I, D, 51), su(I, D, 52), sd(D, I, 53);
  const gpu::MoeExpertWeights shared{sg.w, su.w, sd.w};

  std::mt19937 rng(61);
  std::vector<int32_t> ids(static_cast<size_t>(S * K)), all(static_cast<size_t>(E));
  std::vector<float> wts(static_cast<size_t>(S * K));
  std::iota(all.begin(), all.end(), 0);
  std::vector<char> touched(static_cast<size_t>(E), 0);
  for (int64_t s = 0; s < S; ++s) {
    std::shuffle(all.begin(), all.end(), rng);
    std::sort(all.begin(), all.begin() + K);
    for (int64_t k = 0; k < K; ++k) {
      ids[size_t(s * K + k)] = all[size_t(k)];
      wts[size_t(s * K + k)] = 0.3f;
      touched[size_t(all[size_t(k)])] = 1;
    }
  }
  gpu::DeviceArray<int32_t> dids(context(), ids);
  gpu::DeviceArray<float> dw(context(), wts), x(S * D), y(S * D);
  fill_uniform(x.get(), S * D, 62, 1.f);
  gpu::MoeWorkspace ws;
  gpu::MoeExpertsParams p;
  p.tokens = S, p.hidden = D, p.top_k = K, p.n_experts = E, p.prec = prec;
  gpu::moe_experts_stats_reset();
  gpu::linear_fp8_stats_reset();
  int64_t calls = 0;
  const double s = time_loop(st, [&] {
    gpu::moe_experts(context(), p, ws, x.get(), dids.get(), ids.data(), dw.get(), experts.data(), &shared, y.get());
    ++calls;
  });
  const auto ms = gpu::moe_experts_stats();
  const auto fs = gpu::linear_fp8_stats();
  st.counters["moe_grouped_calls"] = double(ms.grouped_calls) / double(std::max<int64_t>(calls, 1));
  st.counters["moe_per_expert_calls"] = double(ms.per_expert_calls) / double(std::max<int64_t>(calls, 1));
  st.counters["fp8_fallbacks"] = double(fs.fallbacks) / double(std::max<int64_t>(calls, 1));
  const int64_t n_touched = std::count(touched.begin(), touched.end(), 1);
  const double expert_bytes = double(n_touched) * (3.0 * double(mat) + 4.0 * double(2 * sc_gu + sc_d));
  const double bytes = expert_bytes + sg.bytes() + su.bytes() + sd.bytes() + 8.0 * S * D + 8.0 * S * K;
  set_counters(st, bytes, 2.0 * 3.0 * double(D) * double(I) * double(S * K + S), s, roof_of(prec));
}

const bool g_registered = [] {
  struct Mat { const char* name; int64_t N, K; };
  const Mat mats[] = {{"q_a", kV32.rq, kD},           {"q_b", kV32.H * kV32.dqk(), kV32.rq},
                      {"kv_a", kV32.lat(), kD},         {"o", kD, kV32.H * kV32.dv},
                      {"expert_gate", kIMoe, kD},       {"expert_down", kD, kIMoe},
                      {"lm_head", kVocab, kD}};
  for (const Mat& m : mats)
    for (int64_t M : {int64_t(1), int64_t(64), int64_t(4096)})
      for (GemmPrecision prec : {GemmPrecision::kBf16, GemmPrecision::kFp8, GemmPrecision::kFp32}) {
        if (prec == GemmPrecision::kFp32 && M != 64) continue;
        reg(std::string("BM_linear/") + impl_token(prec) + "/f8/v32_" + m.name + "_M" + std::to_string(M),
            [=](State& st) { bm_linear_prec(st, prec, m.N, m.K, M); });
      }
  for (int64_t S : {int64_t(1), int64_t(64), int64_t(4096)})
    for (GemmPrecision prec : {GemmPrecision::kBf16, GemmPrecision::kFp8})
      reg(std::string("BM_moe_experts/") + (prec == GemmPrecision::kFp8 ? "cuda_fp8" : "cuda_bf16") +
              "/f8/v32_E256_K8_I2048_M" + std::to_string(S),
          [=](State& st) { bm_moe_experts(st, prec, S); });
  return true;
}();

}  // namespace
}  // namespace dsv32::cuda_bench
