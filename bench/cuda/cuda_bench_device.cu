// The CUDA half of bench/cuda/cuda_bench_util: peak probes, the event timer with its L2 flush, and
// device-side random fills. Reaches into gpu::Context (kernels/cuda/check.cuh) for its stream and
// cuBLAS handle: the benchmarks must time on the stream the ops enqueue on, and context.h has no
// public accessor for it.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "bench/cuda/cuda_bench_device.h"
#include "kernels/cuda/check.cuh"

namespace dsv32::cuda_bench {
namespace {

constexpr int kFillThreads = 256;

// splitmix64 finaliser: a well-mixed 64-bit hash of (seed, index), so fills are reproducible and
// independent of the launch configuration.
__device__ __forceinline__ uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// U[-1, 1) from the top 24 bits of the hash (exact in fp32).
__device__ __forceinline__ float unit_uniform(uint64_t seed, int64_t i) {
  const uint64_t h = mix64(seed ^ mix64(uint64_t(i)));
  return float(int32_t(h >> 40) - (int32_t(1) << 23)) * 0x1.0p-23f;
}

enum class FillKind { kUniformF32, kUniformBf16, kE4m3, kConstF32 };

__global__ void fill_kernel(void* p, int64_t n, FillKind kind, uint64_t seed, float amp) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    switch (kind) {
      case FillKind::kUniformF32: static_cast<float*>(p)[i] = amp * unit_uniform(seed, i); break;
      case FillKind::kUniformBf16:
        static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(amp * unit_uniform(seed, i));
        break;
      case FillKind::kE4m3: {
        uint8_t code = uint8_t(mix64(seed ^ mix64(uint64_t(i))) >> 56);
        if ((code & 0x7f) == 0x7f) code = 0;  // 0x7f / 0xff are NaN in e4m3fn
        static_cast<uint8_t*>(p)[i] = code;
        break;
      }
      case FillKind::kConstF32: static_cast<float*>(p)[i] = amp; break;
    }
  }
}

void fill(void* p, int64_t n, FillKind kind, uint64_t seed, float amp) {
  if (n <= 0) return;
  gpu::Context& ctx = context();
  const int64_t blocks = std::min<int64_t>(gpu::detail::ceil_div(n, kFillThreads), 8192);
  fill_kernel<<<unsigned(blocks), kFillThreads, 0, ctx.stream>>>(p, n, kind, seed, amp);
  DSV32_CUDA_LAUNCH_CHECK("cuda_bench::fill");
}

// A device buffer for the probes only (the ops' buffers are gpu::DeviceArray).
struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t bytes) { DSV32_CUDA_CHECK(cudaMalloc(&p, bytes)); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

// Best (shortest) event time of `reps` calls of `op` after `warmup` untimed ones, in seconds.
template <class Op>
double best_seconds(detail::StreamTimer& timer, int warmup, int reps, Op&& op) {
  for (int i = 0; i < warmup; ++i) op();
  timer.synchronize();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    timer.start();
    op();
    best = std::min(best, timer.stop_seconds());
  }
  return best;
}

// TFLOP/s of one cublasGemmEx n×n×n with the given operand type and compute type (C has the
// operand type). Inputs are random: zeros take a faster path on the tensor cores.
double gemm_tflops(gpu::Context& ctx, detail::StreamTimer& timer, cudaDataType type, cublasComputeType_t compute,
                   int n, int warmup, int reps) {
  const size_t elem = type == CUDA_R_32F ? 4 : 2;
  const int64_t count = int64_t(n) * n;
  DeviceBuffer a(count * elem), b(count * elem), c(count * elem);
  if (type == CUDA_R_32F) {
    fill(a.p, count, FillKind::kUniformF32, 11, 1.f);
    fill(b.p, count, FillKind::kUniformF32, 12, 1.f);
  } else {
    fill(a.p, count, FillKind::kUniformBf16, 11, 1.f);
    fill(b.p, count, FillKind::kUniformBf16, 12, 1.f);
  }
  const float alpha = 1.f, beta = 0.f;
  const double s = best_seconds(timer, warmup, reps, [&] {
    DSV32_CUBLAS_CHECK(cublasGemmEx(ctx.blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.p, type, n, b.p, type, n,
                                    &beta, c.p, type, n, compute, CUBLAS_GEMM_DEFAULT));
  });
  return 2.0 * double(n) * n * n / s / 1e12;
}

int device_attribute(cudaDeviceAttr attr, int device) {
  int v = 0;
  if (cudaDeviceGetAttribute(&v, attr, device) != cudaSuccess) {
    cudaGetLastError();  // not fatal: the attribute is informational
    return 0;
  }
  return v;
}

}  // namespace

void fill_uniform(float* p, int64_t n, uint64_t seed, float amp) { fill(p, n, FillKind::kUniformF32, seed, amp); }
void fill_bf16(void* p, int64_t n, uint64_t seed, float amp) { fill(p, n, FillKind::kUniformBf16, seed, amp); }
void fill_e4m3(void* p, int64_t n, uint64_t seed) { fill(p, n, FillKind::kE4m3, seed, 0.f); }
void fill_const(float* p, int64_t n, float value) { fill(p, n, FillKind::kConstF32, 0, value); }

namespace detail {

struct StreamTimer::Impl {
  gpu::Context* ctx = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  void* flush = nullptr;
  size_t flush_bytes = 0;
  unsigned flush_value = 0;
  ~Impl() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (flush) cudaFree(flush);
  }
};

StreamTimer::StreamTimer(gpu::Context& ctx) {
  auto impl = std::make_unique<Impl>();  // frees what was made if a step below throws
  impl->ctx = &ctx;
  DSV32_CUDA_CHECK(cudaEventCreate(&impl->start));
  DSV32_CUDA_CHECK(cudaEventCreate(&impl->stop));
  int l2 = 0;
  DSV32_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, ctx.device));
  // Twice the L2 (nvbench flushes with one L2's worth): margin for the L2's address hashing and
  // its two partitions, so none of the previous call's lines survive.
  impl->flush_bytes = std::max<size_t>(size_t(2) * size_t(l2), size_t(8) << 20);
  DSV32_CUDA_CHECK(cudaMalloc(&impl->flush, impl->flush_bytes));
  impl_ = impl.release();
}

StreamTimer::~StreamTimer() { delete impl_; }

void StreamTimer::flush_l2() {
  // A different byte each time, so no layer can elide a repeated identical memset.
  impl_->flush_value = (impl_->flush_value + 1) & 0xff;
  DSV32_CUDA_CHECK(cudaMemsetAsync(impl_->flush, int(impl_->flush_value), impl_->flush_bytes, impl_->ctx->stream));
}

void StreamTimer::start() { DSV32_CUDA_CHECK(cudaEventRecord(impl_->start, impl_->ctx->stream)); }

double StreamTimer::stop_seconds() {
  DSV32_CUDA_CHECK(cudaEventRecord(impl_->stop, impl_->ctx->stream));
  DSV32_CUDA_CHECK(cudaEventSynchronize(impl_->stop));
  float ms = 0.f;
  DSV32_CUDA_CHECK(cudaEventElapsedTime(&ms, impl_->start, impl_->stop));
  return double(ms) * 1e-3;
}

void StreamTimer::synchronize() { DSV32_CUDA_CHECK(cudaStreamSynchronize(impl_->ctx->stream)); }

DevicePeaks measure_peaks(gpu::Context& ctx) {
  DevicePeaks pk;
  pk.name = gpu::device_name(ctx);
  const int dev = ctx.device;
  pk.sm_count = device_attribute(cudaDevAttrMultiProcessorCount, dev);
  pk.l2_bytes = device_attribute(cudaDevAttrL2CacheSize, dev);
  pk.sm_clock_mhz = device_attribute(cudaDevAttrClockRate, dev) / 1e3;         // kHz → MHz
  pk.mem_clock_mhz = device_attribute(cudaDevAttrMemoryClockRate, dev) / 1e3;  // kHz → MHz
  const int bus_bits = device_attribute(cudaDevAttrGlobalMemoryBusWidth, dev);
  pk.hbm_spec_gbps = 2.0 * pk.mem_clock_mhz * 1e6 * (bus_bits / 8.0) / 1e9;

  StreamTimer timer(ctx);
  {  // HBM: a 1 GiB device-to-device copy moves 2 GiB (read + write).
    const size_t bytes = size_t(1) << 30;
    DeviceBuffer src(bytes), dst(bytes);
    DSV32_CUDA_CHECK(cudaMemsetAsync(src.p, 0x5a, bytes, ctx.stream));
    const double s = best_seconds(timer, 2, 10, [&] {
      DSV32_CUDA_CHECK(cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice, ctx.stream));
    });
    pk.hbm_gbps = 2.0 * double(bytes) / s / 1e9;
  }
  pk.bf16_tflops = gemm_tflops(ctx, timer, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 8192, 2, 5);
  pk.fp32_tflops = gemm_tflops(ctx, timer, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC, 8192, 1, 3);
  timer.synchronize();
  return pk;
}

}  // namespace detail
}  // namespace dsv32::cuda_bench
