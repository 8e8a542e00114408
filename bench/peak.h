// Machine peaks measured in the running process, so every benchmark can report the fraction of
// what THIS machine (shared, throttled, noisy) delivered at the same moment, not a datasheet value.
//
//   fma_peak_gflops(T)  : T threads, each running kChains independent FMA chains on 16-lane fp32
//                         vectors (2 flops per lane per FMA). kChains ≥ pipes × latency (Zen 5:
//                         2 × 4) hides the FMA latency, so this is the issue-rate ceiling.
//   read_peak_gbps(T, B): T threads streaming-read disjoint slices of a B-byte buffer (B ≫ L3),
//                         summing 16-lane vectors with 8 accumulators. Read-only bandwidth: the
//                         ops this harness runs are dominated by weight/KV-cache reads.
// Each probe runs a few times and keeps the best (the least disturbed by neighbours).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace dsv32::bench {

typedef float v16 __attribute__((vector_size(64)));

namespace detail {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs fn(thread_index) on T threads released together; returns wall seconds.
template <class F>
double run_threads(int T, F&& fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> th;
  for (int t = 1; t < T; ++t)
    th.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {}
      fn(t);
    });
  while (ready.load() < T - 1) {}
  const double t0 = now_s();
  go.store(true, std::memory_order_release);
  fn(0);
  for (auto& x : th) x.join();
  return now_s() - t0;
}

constexpr int kChains = 12;

// kChains independent a = a·m + c chains; `iters` FMAs per chain. Returns a value that depends on
// every chain so the compiler keeps them all.
__attribute__((noinline)) inline float fma_chains(int64_t iters, float seed) {
  v16 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = v16{} + seed * float(i + 1);
  const v16 m = v16{} + 0.999999f, c = v16{} + 1e-7f;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * m + c;  // contracts to one vfmadd (gnu++20)
  v16 s{};
  for (int i = 0; i < kChains; ++i) s += acc[i];
  float out = 0;
  for (int i = 0; i < 16; ++i) out += s[i];
  return out;
}

__attribute__((noinline)) inline float sum_read(const float* p, int64_t n) {
  v16 a[8] = {};
  int64_t i = 0;
  for (; i + 128 <= n; i += 128)
    for (int j = 0; j < 8; ++j) {
      v16 x;
      std::memcpy(&x, p + i + 16 * j, 64);
      a[j] += x;
    }
  v16 s{};
  for (int j = 0; j < 8; ++j) s += a[j];
  float out = 0;
  for (int j = 0; j < 16; ++j) out += s[j];
  return out;
}

inline volatile float g_sink = 0;

}  // namespace detail

// GFLOP/s of T threads of pure FMA work (best of `tries`, each ~0.1–0.2 s).
inline double fma_peak_gflops(int T, int tries = 5) {
  const int64_t iters = 4'000'000;  // 12 chains × 4M FMAs × 32 flops = 1.5 GFLOP per thread
  double best = 0;
  for (int r = 0; r < tries; ++r) {
    std::vector<float> out(T);
    double s = detail::run_threads(T, [&](int t) { out[t] = detail::fma_chains(iters, 1e-3f * (t + 1)); });
    for (float v : out) detail::g_sink = detail::g_sink + v;
    best = std::max(best, double(T) * detail::kChains * iters * 32.0 / s / 1e9);
  }
  return best;
}

// GB/s of T threads reading `bytes` (best of `tries` passes; the buffer is touched once first so
// page faults are not timed).
inline double read_peak_gbps(int T, int64_t bytes, int tries = 3) {
  const int64_t n = bytes / 4 / (128 * T) * (128 * T);
  std::vector<float> buf(n);
  detail::run_threads(T, [&](int t) {  // first touch from the reading thread (NUMA-friendly)
    const int64_t per = n / T;
    for (int64_t i = t * per; i < (t + 1) * per; ++i) buf[i] = float(i & 1023) * 1e-3f;
  });
  double best = 0;
  for (int r = 0; r < tries; ++r) {
    std::vector<float> out(T);
    double s = detail::run_threads(T, [&](int t) {
      const int64_t per = n / T;
      out[t] = detail::sum_read(buf.data() + t * per, per);
    });
    for (float v : out) detail::g_sink = detail::g_sink + v;
    best = std::max(best, double(n) * 4 / s / 1e9);
  }
  return best;
}

// MemAvailable from /proc/meminfo in bytes (0 if unknown).
inline int64_t mem_available_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// The bandwidth probe's buffer: 1 GiB (≫ any L3) unless less than 4 GiB is free, then an eighth of
// what is free, never below 256 MiB.
inline int64_t default_probe_bytes() {
  const int64_t avail = mem_available_bytes();
  int64_t b = int64_t(1) << 30;
  if (avail > 0 && avail < (int64_t(4) << 30)) b = std::max<int64_t>(avail / 8, int64_t(256) << 20);
  return b;
}

}  // namespace dsv32::bench
