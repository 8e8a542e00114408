// make_ops: the backend for a device. A new backend adds its factory here (and its subclass of
// Ops beside cpu_ops.cpp / cuda/cuda_ops.cpp); nothing in the layer program changes.
#include "model/ops.h"

#include "kernels/error.h"
#include "model/parallel.h"

namespace dsv32 {

std::unique_ptr<Ops> make_cpu_ops(int threads, int64_t max_ctx);  // cpu_ops.cpp
#ifdef DSV32_WITH_MPI
std::unique_ptr<Ops> make_ep_ops(std::unique_ptr<Ops> inner);  // mpi/mpi_ops.cpp
#endif
#ifdef DSV32_WITH_CUDA
std::unique_ptr<Ops> make_cuda_ops(int64_t max_ctx);  // cuda/cuda_ops.cpp
#endif

static std::unique_ptr<Ops> make_device_ops(bool cuda, int threads, int64_t max_ctx) {
  if (!cuda) return make_cpu_ops(threads, max_ctx);
#ifdef DSV32_WITH_CUDA
  return make_cuda_ops(max_ctx);
#else
  fail("--device cuda: this build has no CUDA support (configure with -DDSV32_CUDA=ON)");
#endif
}

std::unique_ptr<Ops> make_ops(bool cuda, int threads, int64_t max_ctx, Parallel parallel) {
  if (parallel == Parallel::kNone) return make_device_ops(cuda, threads, max_ctx);
#ifdef DSV32_WITH_MPI
  return make_ep_ops(make_device_ops(cuda, threads, max_ctx));
#else
  mpi_world();  // throws: no MPI in this build
  return nullptr;
#endif
}

}  // namespace dsv32
