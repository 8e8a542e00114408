// Private to bench/cuda: the CUDA half of cuda_bench_util (cuda_bench_device.cu), kept apart so
// that Google Benchmark's header is compiled by the host compiler only. Bench files include
// cuda_bench_util.h, not this.
#pragma once
#include <cstdint>

#include "bench/cuda/cuda_bench_util.h"

namespace dsv32::cuda_bench::detail {

// Probes the device of `ctx` (see DevicePeaks in cuda_bench_util.h for what and how).
DevicePeaks measure_peaks(gpu::Context& ctx);

// Two CUDA events on the context's stream, and a 2 × L2 buffer for flushing.
class StreamTimer {
 public:
  explicit StreamTimer(gpu::Context& ctx);
  ~StreamTimer();
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;

  void flush_l2();        // enqueues a memset over the flush buffer (before start(): untimed)
  void start();           // records the start event
  double stop_seconds();  // records the stop event, waits for it, returns stop − start in seconds
  void synchronize();     // waits for everything enqueued on the stream

 private:
  struct Impl;
  Impl* impl_ = nullptr;
};

}  // namespace dsv32::cuda_bench::detail
