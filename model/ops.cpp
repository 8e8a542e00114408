// make_ops: the backend for a device. A new backend adds its factory here (and its subclass of
// Ops beside cpu_ops.cpp / cuda/cuda_ops.cpp); nothing in the layer program changes.
#include "model/ops.h"

#include "kernels/error.h"

namespace dsv32 {

std::unique_ptr<Ops> make_cpu_ops(int threads, int64_t max_ctx);  // cpu_ops.cpp
#ifdef DSV32_WITH_CUDA
std::unique_ptr<Ops> make_cuda_ops(int64_t max_ctx);  // cuda/cuda_ops.cpp
#endif

std::unique_ptr<Ops> make_ops(bool cuda, int threads, int64_t max_ctx) {
  if (!cuda) return make_cpu_ops(threads, max_ctx);
#ifdef DSV32_WITH_CUDA
  return make_cuda_ops(max_ctx);
#else
  fail("--device cuda: this build has no CUDA support (configure with -DDSV32_CUDA=ON)");
#endif
}

}  // namespace dsv32
