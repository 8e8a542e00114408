// The Google Benchmark half of bench/cuda/cuda_bench_util.h: the process-wide context, peaks and
// timer, the timing loop, the counters and registration. The CUDA half is cuda_bench_device.cu.
#include "bench/cuda/cuda_bench_util.h"

#include <exception>
#include <memory>

#include "bench/cuda/cuda_bench_device.h"

namespace dsv32::cuda_bench {
namespace {

bool g_flush_default = true;

detail::StreamTimer& timer() {
  static detail::StreamTimer t(context());
  return t;
}

}  // namespace

gpu::Context& context() {
  // Never destroyed: tearing down cuBLAS and the stream from a static destructor races the CUDA
  // runtime's own shutdown at exit.
  static gpu::Context* ctx = gpu::context_create(0);
  return *ctx;
}

const DevicePeaks& peaks() {
  static const DevicePeaks p = detail::measure_peaks(context());
  return p;
}

void set_default_l2_flush(bool on) { g_flush_default = on; }

TimingOptions default_timing() {
  TimingOptions o;
  o.flush_l2 = g_flush_default;
  return o;
}

double time_loop(benchmark::State& st, const std::function<void()>& op, const TimingOptions& opt) {
  detail::StreamTimer& t = timer();
  for (int i = 0; i < opt.warmup_calls; ++i) op();
  t.synchronize();
  double total = 0;
  for (auto _ : st) {
    if (opt.flush_l2) t.flush_l2();
    t.start();
    op();
    const double s = t.stop_seconds();
    st.SetIterationTime(s);
    total += s;
  }
  return total;
}

void set_counters(benchmark::State& st, double bytes, double flops, double seconds, Roof roof) {
  const double calls = double(st.iterations());
  if (calls <= 0 || seconds <= 0) return;
  const DevicePeaks& pk = peaks();
  const double gbps = bytes * calls / seconds / 1e9;
  const double tflops = flops * calls / seconds / 1e12;
  st.counters["GBps"] = gbps;
  st.counters["GFLOPS"] = tflops * 1e3;
  st.counters["TFLOPS"] = tflops;
  st.counters["pct_peak_bw"] = 100.0 * gbps / pk.hbm_gbps;
  st.counters["frac_hbm"] = gbps / pk.hbm_gbps;
  st.counters["bytes_per_call"] = bytes;
  st.counters["flops_per_call"] = flops;
  if (flops <= 0 || roof == Roof::kNone) return;
  const double peak = roof == Roof::kBf16 ? pk.bf16_tflops : roof == Roof::kFp8Spec ? pk.fp8_spec_tflops : pk.fp32_tflops;
  const char* key = roof == Roof::kBf16 ? "frac_bf16_peak" : roof == Roof::kFp8Spec ? "frac_fp8_spec" : "frac_fp32_peak";
  st.counters["pct_peak_flops"] = 100.0 * tflops / peak;
  st.counters[key] = tflops / peak;
}

benchmark::internal::Benchmark* reg(const std::string& name, std::function<void(benchmark::State&)> fn) {
  auto run = [fn = std::move(fn)](benchmark::State& st) {
    try {
      fn(st);
    } catch (const std::exception& e) {
      // SkipWithError stops the timer; leaving the iteration loop early is allowed after it.
      st.SkipWithError(e.what());
    }
  };
  return benchmark::RegisterBenchmark(name.c_str(), run)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace dsv32::cuda_bench
