// make_ops: the backend for a device. A new backend adds its factory here (and its subclass of
// Ops beside cpu_ops.cpp / cuda/cuda_ops.cpp); nothing in the layer program changes.
#include "model/ops.h"

#include "kernels/error.h"
#include "model/parallel.h"

namespace dsv32 {

void Ops::tp_allgather(const float* mine, float* all, const int64_t* counts) {
  copy({1, 1, counts[0], 0, 0, 0, 0}, mine, all);
}

std::unique_ptr<Ops> make_cpu_ops(int threads, int64_t max_ctx);  // cpu_ops.cpp
#ifdef DSV32_WITH_MPI
std::unique_ptr<Ops> make_ep_ops(std::unique_ptr<Ops> inner, int tp, int ep);  // mpi/mpi_ops.cpp
#endif
#ifdef DSV32_WITH_CUDA
std::unique_ptr<Ops> make_cuda_ops(int64_t max_ctx, int device);  // cuda/cuda_ops.cpp
#endif
#ifdef DSV32_WITH_NCCL
std::unique_ptr<Ops> make_nccl_ops(std::unique_ptr<Ops> inner, int tp, int ep);  // mpi/nccl_ops.cpp
int rank_cuda_device();  // mpi/nccl_ops.cpp: this rank's GPU (local rank mod device count)
#endif

static std::unique_ptr<Ops> make_device_ops(bool cuda, int threads, int64_t max_ctx, int device = 0) {
  if (!cuda) return make_cpu_ops(threads, max_ctx);
#ifdef DSV32_WITH_CUDA
  return make_cuda_ops(max_ctx, device);
#else
  fail("--device cuda: this build has no CUDA support (configure with -DDSV32_CUDA=ON)");
#endif
}

std::unique_ptr<Ops> make_ops(bool cuda, int threads, int64_t max_ctx, Parallel parallel, int tp, int ep) {
  if (parallel == Parallel::kNone) return make_device_ops(cuda, threads, max_ctx);
#ifdef DSV32_WITH_NCCL
  if (cuda) return make_nccl_ops(make_device_ops(true, threads, max_ctx, rank_cuda_device()), tp, ep);
#endif
#ifdef DSV32_WITH_MPI
  return make_ep_ops(make_device_ops(cuda, threads, max_ctx), tp, ep);
#else
  mpi_world();  // throws: no MPI in this build
  return nullptr;
#endif
}

}  // namespace dsv32
