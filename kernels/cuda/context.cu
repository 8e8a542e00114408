// Context lifetime, device memory and error reporting for kernels/cuda.
#include <cstdio>

#include "kernels/cuda/check.cuh"

namespace dsv32::gpu {

void throw_cuda(const char* what, cudaError_t e, const char* file, int line) {
  fail(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " + what +
       " at " + file + ":" + std::to_string(line));
}
void throw_cublas(const char* what, cublasStatus_t s, const char* file, int line) {
  fail(std::string("cuBLAS error ") + cublasGetStatusName(s) + " in " + what + " at " + file + ":" +
       std::to_string(line));
}

bool device_available(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return false;
  }
  if (n == 0) {
    if (why) *why = "the CUDA runtime reports 0 devices";
    return false;
  }
  return true;
}

Context* context_create(int device) {
  auto* c = new Context;
  c->device = device;
  try {
    DSV32_CUDA_CHECK(cudaSetDevice(device));
    DSV32_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    DSV32_CUBLAS_CHECK(cublasCreate(&c->blas));
    DSV32_CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
    // Default math: no TF32 unless asked for; linear.cu names its compute type per call (the F32
    // path uses CUBLAS_COMPUTE_32F_PEDANTIC, the bf16 path CUBLAS_COMPUTE_32F on tensor cores).
    DSV32_CUBLAS_CHECK(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
    // A fixed workspace keeps cuBLAS from allocating behind our back (and makes runs reproducible).
    c->blas_workspace_bytes = size_t(32) << 20;
    DSV32_CUDA_CHECK(cudaMalloc(&c->blas_workspace, c->blas_workspace_bytes));
    DSV32_CUBLAS_CHECK(cublasSetWorkspace(c->blas, c->blas_workspace, c->blas_workspace_bytes));
    DSV32_CUBLAS_CHECK(cublasLtCreate(&c->blas_lt));
  } catch (...) {
    context_destroy(c);
    throw;
  }
  return c;
}

void context_destroy(Context* c) {
  if (!c) return;
  if (c->stream) cudaStreamSynchronize(c->stream);
  if (c->blas_lt) cublasLtDestroy(c->blas_lt);
  if (c->blas) cublasDestroy(c->blas);
  if (c->scratch) cudaFree(c->scratch);
  if (c->blas_workspace) cudaFree(c->blas_workspace);
  if (c->stream) cudaStreamDestroy(c->stream);
  delete c;
}

void synchronize(Context& ctx) { DSV32_CUDA_CHECK(cudaStreamSynchronize(ctx.stream)); }

std::string device_name(const Context& ctx) {
  cudaDeviceProp p{};
  DSV32_CUDA_CHECK(cudaGetDeviceProperties(&p, ctx.device));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
}

void* scratch(Context& ctx, size_t bytes) {
  if (bytes <= ctx.scratch_bytes) return ctx.scratch;
  // Stream-ordered free and allocate: kernels already enqueued keep the old buffer until they ran.
  if (ctx.scratch) DSV32_CUDA_CHECK(cudaFreeAsync(ctx.scratch, ctx.stream));
  size_t want = std::max(bytes, ctx.scratch_bytes * 2);
  want = (want + 255) & ~size_t(255);
  DSV32_CUDA_CHECK(cudaMallocAsync(&ctx.scratch, want, ctx.stream));
  ctx.scratch_bytes = want;
  return ctx.scratch;
}

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  if (bytes) DSV32_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}
void device_free(void* p) {
  if (p) cudaFree(p);
}
void copy_to_device(Context& ctx, void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  DSV32_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx.stream));
  // From pageable memory the runtime only promises the copy "might be synchronous": wait, so that
  // callers may free or refill `src` at once (uploads are weights at load and a few small rows per
  // layer; the cost is one stream sync each).
  DSV32_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
}
void copy_to_host(Context& ctx, void* dst, const void* src, size_t bytes) {
  if (bytes) DSV32_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream));
  DSV32_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
}

}  // namespace dsv32::gpu
