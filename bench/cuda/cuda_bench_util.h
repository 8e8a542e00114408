// Shared pieces of the CUDA benchmarks (one executable, bench_cuda_ops, of every bench/cuda/*.cpp):
// the device's peaks measured once per process, CUDA-event timing under Google Benchmark's manual
// time with an L2 flush, the counters every result reports, and device-side random fills.
// Plain C++ (no CUDA types): a bench file is a .cpp compiled by the host compiler.
//
//   #include "bench/cuda/cuda_bench_util.h"
//   #include "kernels/cuda/rmsnorm.h"
//   namespace dsv32::cuda_bench {
//   void bm_rmsnorm(benchmark::State& st, int64_t rows, int64_t D) {
//     gpu::DeviceArray<float> x(rows * D), w(D), y(rows * D);
//     fill_uniform(x.get(), rows * D, 1, 1.f);
//     fill_uniform(w.get(), D, 2, 1.f);
//     const double s = time_loop(st, [&] { gpu::rmsnorm(context(), {rows, D, 1e-6}, x.get(), w.get(), y.get()); });
//     set_counters(st, 4.0 * (2 * rows * D + D), 4.0 * rows * D, s, Roof::kFp32);  // bytes, flops, seconds
//   }
//   const bool registered = (reg("BM_rmsnorm/cuda/f32/v32_D7168_M1", [](benchmark::State& st) { bm_rmsnorm(st, 1, 7168); }), true);
//   }  // namespace dsv32::cuda_bench
//
// Rules for a bench file:
//   - register at static-initialisation time with reg() (as above); never touch the device there:
//     `bench_cuda_ops --benchmark_list_tests` and the no-device run must work without one.
//   - names BM_<op>/<impl>/<dtype>/<shape tokens> (impl: cuda, cublas, …; torch_peer.py uses
//     impl "torch" with the same op/dtype/shape tokens, so scripts/gpu_bench.sh can pair them).
//   - bytes = compulsory traffic (each weight / cache / input byte read once, each output written
//     once), flops = the op's arithmetic, both counted per call, in a comment next to the case.
//   - an exception (dsv32::Error) inside the benchmark becomes SkipWithError; the run goes on.
//
// Counters (plain numbers, already divided by the measured seconds; reports/RESULTS.md "ops"):
//   GBps, GFLOPS, TFLOPS                     rates
//   pct_peak_bw,    frac_hbm                 vs the HBM copy bandwidth measured in this process
//   pct_peak_flops, frac_<roof>              vs the FLOP roof the op is compared with (Roof below):
//                                            frac_bf16_peak | frac_fp8_spec | frac_fp32_peak
//   bytes_per_call, flops_per_call           what the rates were computed from
// Context (AddCustomContext): device ("cuda"), device_name, machine, producer, preset, sm_count, sm_clock_mhz, mem_clock_mhz, l2_bytes,
//   hbm_spec_gbps, peak_gbps (= HBM copy), peak_gflops (= bf16 GEMM, the report's FLOP peak),
//   peak_bf16_tflops, peak_fp32_tflops, peak_fp8_spec_tflops, probes, l2_flush, git_commit.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>

#include "kernels/cuda/context.h"

namespace dsv32::cuda_bench {

// H100 SXM and H200 datasheet dense FP8 (e4m3) tensor-core rate, TFLOP/s. Not measured: there is
// no FP8 GEMM in cuBLAS's classic API to probe with, and the point of the FP8 figures is the
// distance to what the hardware promises. (H100 PCIe: 1513; the fraction then reads low.)
constexpr double kFp8SpecTflops = 1979.0;

// The device and its ceilings. Measured in this process on first use of peaks() (about 1 s):
//   hbm_gbps    : cudaMemcpyAsync device→device of 1 GiB, (bytes read + bytes written) / time,
//                 best of 10 after a warm-up. The driver's copy kernel rather than one of ours, so
//                 the ceiling does not depend on how well we wrote a probe; a copy, not a read,
//                 because that is the figure quoted for H100 (~3.0 TB/s of 3.35 spec).
//   bf16_tflops : cublasGemmEx 8192³, bf16 A/B/C, CUBLAS_COMPUTE_32F (fp32 accumulate), random
//                 inputs (zeros run faster), best of 5 after 2 warm-ups.
//   fp32_tflops : cublasGemmEx 8192³ fp32 with CUBLAS_COMPUTE_32F_PEDANTIC (no TF32): the roof for
//                 the fp32 CUDA-core kernels (attention, indexer, norms) of the exact profile.
struct DevicePeaks {
  std::string name;               // e.g. "NVIDIA H100 80GB HBM3 (sm_90)"
  int sm_count = 0;
  double sm_clock_mhz = 0, mem_clock_mhz = 0;  // peak clocks the driver reports (0 if unreadable)
  int64_t l2_bytes = 0;
  double hbm_spec_gbps = 0;       // 2 · memory clock · bus width (DDR), for reference only
  double hbm_gbps = 0;            // measured (above)
  double bf16_tflops = 0;         // measured (above)
  double fp32_tflops = 0;         // measured (above)
  double fp8_spec_tflops = kFp8SpecTflops;  // NOT measured
};
const DevicePeaks& peaks();

// The process's one gpu::Context (device 0), created on first use.
gpu::Context& context();

// Which FLOP ceiling an op's TFLOP/s is divided by: the unit that does its arithmetic.
enum class Roof {
  kBf16,     // bf16 tensor-core GEMMs (linear with BF16 / F8-dequantized-to-bf16 weights)
  kFp8Spec,  // e4m3 tensor-core GEMMs (cuBLASLt FP8 path): the datasheet number
  kFp32,     // fp32 CUDA-core kernels (the exact profile's attention, indexer, norms, RoPE)
  kNone,     // no meaningful FLOP count (top-k, routing): only the bandwidth fraction
};

struct TimingOptions {
  // Flush L2 before every timed call: cudaMemsetAsync over 2 × L2 on the stream, outside the
  // events. H100's L2 is 50 MB, so decode-sized working sets (a 22 MB q_a weight, a 19 MB latent
  // cache at 8K) would otherwise be served from L2 from the second iteration on, which the model
  // never sees: one forward pass streams ~40 GB of weights through it. Sizing inputs past L2
  // instead would change the shapes we mean to measure. Off with --no_l2_flush.
  bool flush_l2 = true;
  int warmup_calls = 2;  // untimed calls first (module load, cuBLAS heuristics, scratch growth)
};
// The default for flush_l2, set by main from --no_l2_flush.
void set_default_l2_flush(bool on);
TimingOptions default_timing();

// Runs `op` (which enqueues on context()'s stream) warmup_calls times, then once per Google
// Benchmark iteration between two CUDA events on the stream; each iteration's event time is its
// manual time. Returns the sum of the timed seconds. Benchmarks must be registered with
// UseManualTime (reg() does). Events resolve ~0.5 µs; a call's launch latency is inside the
// interval (as in an eager decode step without CUDA graphs).
double time_loop(benchmark::State& st, const std::function<void()>& op, const TimingOptions& opt);
inline double time_loop(benchmark::State& st, const std::function<void()>& op) {
  return time_loop(st, op, default_timing());
}

// Sets the counters of one result from the bytes and flops of ONE call and the summed seconds
// time_loop returned (so rates use the event time, whatever Google Benchmark divides by).
void set_counters(benchmark::State& st, double bytes, double flops, double seconds, Roof roof);

// RegisterBenchmark with UseManualTime, µs units, and exceptions turned into SkipWithError.
benchmark::internal::Benchmark* reg(const std::string& name, std::function<void(benchmark::State&)> fn);

// Device-side pseudo-random fills (a hash of (seed, index); no host copies, ~HBM speed).
void fill_uniform(float* p, int64_t n, uint64_t seed, float amp);    // U(-amp, amp)
void fill_bf16(void* p, int64_t n, uint64_t seed, float amp);        // bf16 bits of U(-amp, amp)
void fill_e4m3(void* p, int64_t n, uint64_t seed);                   // random finite e4m3 codes
void fill_const(float* p, int64_t n, float value);

}  // namespace dsv32::cuda_bench
