// bench_cuda_ops: main() of the CUDA benchmarks (every bench/cuda/*.cpp registers its cases).
//
//   build/bin/bench_cuda_ops                                        # everything, ~3 min on an H100
//   build/bin/bench_cuda_ops --benchmark_filter='BM_linear/.*_M1$'  # a subset
//   build/bin/bench_cuda_ops --benchmark_out=ops.json --benchmark_out_format=json
//   build/bin/bench_cuda_ops --benchmark_list_tests                 # names only; needs no device
//   extra flag (ours, stripped before Google Benchmark sees argv):
//     --no_l2_flush   keep L2 warm between timed calls (see TimingOptions in cuda_bench_util.h)
//
// Before any case runs, the device's peaks are measured (cuda_bench_util.h: DevicePeaks, ~1 s) and
// written to the JSON context, so every fraction in the file is against the same process's ceilings.
// Without a CUDA device: one line on stdout saying why nothing ran, exit status 0, and with
// --benchmark_out a JSON file of Google Benchmark's shape with an empty "benchmarks" array
// (context.device_name = "none", context.no_device = the reason), which `dsv32 report` accepts.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/provenance.h"
#include "bench/cuda/cuda_bench_util.h"

namespace {

std::string fixed2(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

void add_context(const dsv32::cuda_bench::DevicePeaks& pk, bool flush) {
  using benchmark::AddCustomContext;
  // device / machine / producer / preset: the envelope fields of reports/RESULTS.md.
  AddCustomContext("device", "cuda");
  AddCustomContext("device_name", pk.name);
  AddCustomContext("machine", pk.name);
  AddCustomContext("producer", "bench_cuda_ops");
  AddCustomContext("preset", "v32");
  AddCustomContext("sm_count", std::to_string(pk.sm_count));
  AddCustomContext("sm_clock_mhz", fixed2(pk.sm_clock_mhz));
  AddCustomContext("mem_clock_mhz", fixed2(pk.mem_clock_mhz));
  AddCustomContext("l2_bytes", std::to_string(pk.l2_bytes));
  AddCustomContext("hbm_spec_gbps", fixed2(pk.hbm_spec_gbps));
  // peak_gbps / peak_gflops are the two peaks `dsv32 report` prints for an ops file.
  AddCustomContext("peak_gbps", fixed2(pk.hbm_gbps));
  AddCustomContext("peak_gflops", fixed2(pk.bf16_tflops * 1e3));
  AddCustomContext("peak_bf16_tflops", fixed2(pk.bf16_tflops));
  AddCustomContext("peak_fp32_tflops", fixed2(pk.fp32_tflops));
  AddCustomContext("peak_fp8_spec_tflops", fixed2(pk.fp8_spec_tflops));
  AddCustomContext("probes",
                   "hbm: cudaMemcpyAsync D2D 1 GiB, read+write bytes, best of 10; bf16: cublasGemmEx 8192^3 "
                   "bf16 in/out fp32 accumulate, best of 5; fp32: cublasGemmEx 8192^3 COMPUTE_32F_PEDANTIC "
                   "(no TF32), best of 3; fp8: datasheet dense (not measured)");
  AddCustomContext("l2_flush", flush ? "memset 2x L2 before every timed call" : "off");
  AddCustomContext("git_commit", dsv32::reports::git_commit());
}

// The no-device result: Google Benchmark's JSON shape with no benchmarks (or a CSV header).
void write_empty_result(const std::string& path, const std::string& format, const std::string& why) {
  std::ofstream f(path);
  if (!f) {
    std::fprintf(stderr, "bench_cuda_ops: cannot write %s\n", path.c_str());
    return;
  }
  if (format == "csv") {
    f << "name,iterations,real_time,cpu_time,time_unit,bytes_per_second,items_per_second,label,"
         "error_occurred,error_message\n";
    return;
  }
  if (format != "json") {
    f << "bench_cuda_ops: no CUDA device (" << why << "); nothing ran\n";
    return;
  }
  nlohmann::json j;
  j["context"] = {{"date", dsv32::reports::utc_now()},
                  {"executable", "bench_cuda_ops"},
                  {"device", "cuda"},
                  {"device_name", "none"},
                  {"producer", "bench_cuda_ops"},
                  {"no_device", why},
                  {"git_commit", dsv32::reports::git_commit()}};
  j["benchmarks"] = nlohmann::json::array();
  f << j.dump(2) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  bool flush = true, help = false, list_only = false;
  std::string out_path, out_format = "json";
  // A short default --benchmark_min_time goes first (a later one on the command line wins).
  std::vector<char*> args = {argv[0], const_cast<char*>("--benchmark_min_time=0.05")};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no_l2_flush") {
      flush = false;
      continue;
    }
    if (a == "--help" || a == "-h") help = true;
    if (a.rfind("--benchmark_out=", 0) == 0) out_path = a.substr(16);
    if (a.rfind("--benchmark_out_format=", 0) == 0) out_format = a.substr(23);
    if (a == "--benchmark_list_tests" || a == "--benchmark_list_tests=true" || a == "--benchmark_list_tests=1")
      list_only = true;
    args.push_back(argv[i]);
  }
  argc = int(args.size());
  args.push_back(nullptr);
  argv = args.data();
  if (help) std::printf("bench_cuda_ops flags: --no_l2_flush (keep L2 warm between timed calls)\n\n");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  dsv32::cuda_bench::set_default_l2_flush(flush);

  std::string why;
  if (!list_only && !dsv32::gpu::device_available(&why)) {
    if (!out_path.empty()) write_empty_result(out_path, out_format, why);
    std::printf("bench_cuda_ops: no CUDA device (%s); nothing ran%s\n", why.c_str(),
                out_path.empty() ? "" : ("; wrote an empty result to " + out_path).c_str());
    return 0;
  }
  if (!list_only) {
    const auto& pk = dsv32::cuda_bench::peaks();
    std::fprintf(stderr,
                 "device: %s, %d SMs, %.0f/%.0f MHz (SM/mem peak), L2 %lld MiB\n"
                 "peaks: HBM copy %.0f GB/s (spec %.0f), bf16 GEMM %.1f TFLOP/s, fp32 GEMM %.1f TFLOP/s, "
                 "FP8 %.0f TFLOP/s (spec); L2 flush %s\n",
                 pk.name.c_str(), pk.sm_count, pk.sm_clock_mhz, pk.mem_clock_mhz, (long long)(pk.l2_bytes >> 20),
                 pk.hbm_gbps, pk.hbm_spec_gbps, pk.bf16_tflops, pk.fp32_tflops, pk.fp8_spec_tflops,
                 flush ? "on" : "off");
    add_context(pk, flush);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
