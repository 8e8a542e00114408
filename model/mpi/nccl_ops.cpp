// NcclOps: tensor parallelism over GPUs (--device cuda under mpirun), the NCCL twin of EpOps
// (mpi_ops.cpp). A decorator around CudaOps: buffers are device memory and the TP gather runs on
// device buffers through NCCL, bootstrapped over MPI (the TP group's rank 0 makes an ncclUniqueId
// and broadcasts it over the group's MPI communicator; ncclCommInitRank joins). Each rank drives
// GPU (local rank mod device count), chosen before CudaOps creates its context.
//
//   tp_allgather  one ncclBroadcast per TP rank inside ncclGroupStart/End (counts may differ when
//                 H mod T ≠ 0; ncclAllGather needs equal counts), on this decorator's stream after
//                 the inner backend finished; the same rank-order sum as on the CPU follows.
//   moe_experts   with a TP-split shared expert: the routed combine on the inner backend without the
//                 shared expert, the shared slice through Ops::mlp, reduced, then added.
// Expert parallelism on GPUs (--ep > 1) needs gpu::moe_experts restricted to a block of experts
// and the all-gather of grouped rows: not built; NcclOps rejects it in one line.
//
// Status: compiled where CUDA, NCCL and MPI are all present (CMake DSV32_WITH_NCCL); never run
// (no multi-GPU machine was lent to the session that wrote it). tests/mpi/nccl_tp.sh runs it
// where `nvidia-smi -L` lists two GPUs, and skips otherwise.
#ifdef DSV32_WITH_NCCL
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "kernels/error.h"
#include "model/forwarding_ops.h"
#include "model/parallel.h"

namespace dsv32 {

namespace {

class NcclOps final : public ForwardingOps {
 public:
  NcclOps(std::unique_ptr<Ops> inner, World w, int tp, int ep) : ForwardingOps(std::move(inner)) {
    l_ = rank_layout(w, tp, ep);
    if (l_.ep > 1)
      fail("--device cuda --ep " + std::to_string(l_.ep) +
           ": the GPU expert exchange is not built (it needs gpu::moe_experts restricted to a block of experts); "
           "run --ep 1 (tensor parallelism only) on GPUs");
    if (MPI_Comm_split(MPI_COMM_WORLD, w.rank / l_.tp, l_.tp_rank, &tp_mpi_) != MPI_SUCCESS)
      fail("rank " + std::to_string(w.rank) + ": MPI_Comm_split (TP)");
    ncclUniqueId id;
    if (l_.tp_rank == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (MPI_Bcast(&id, int(sizeof id), MPI_BYTE, 0, tp_mpi_) != MPI_SUCCESS)
      fail("rank " + std::to_string(w.rank) + ": MPI_Bcast of the ncclUniqueId");
    check(ncclCommInitRank(&tp_, l_.tp, id, l_.tp_rank), "ncclCommInitRank");
    cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~NcclOps() override {
    ncclCommDestroy(tp_);
    cudaStreamDestroy(stream_);
    MPI_Comm_free(&tp_mpi_);
    for (Buf* b : {&part_, &gathered_}) release(*b);
  }

  std::string device_name() const override {
    return inner().device_name() + " (tensor-parallel rank " + std::to_string(l_.tp_rank) + " of " +
           std::to_string(l_.tp) + " over NCCL)";
  }

  void tp_allgather(const float* mine, float* all, const int64_t* counts) override {
    if (l_.tp == 1) return ForwardingOps::tp_allgather(mine, all, counts);
    inner().finish();  // `mine` is written on the inner backend's stream
    const auto t0 = std::chrono::steady_clock::now();
    check(ncclGroupStart(), "ncclGroupStart");
    int64_t off = 0;
    for (int t = 0; t < l_.tp; ++t) {
      const float* src = t == l_.tp_rank ? mine : all + off;
      check(ncclBroadcast(src, all + off, size_t(counts[t]), ncclFloat, t, tp_, stream_), "ncclBroadcast");
      off += counts[t];
    }
    check(ncclGroupEnd(), "ncclGroupEnd");
    // Poll with the exchange timeout (a dead peer would otherwise hang the stream forever).
    const double limit = ep_timeout_seconds();
    for (;;) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) break;
      if (e != cudaErrorNotReady) cuda(e, "cudaStreamQuery");
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waited > limit) {
        ncclCommAbort(tp_);
        fail("rank " + std::to_string(l_.rank) + ": the tensor-parallel NCCL gather waited " +
             std::to_string(int(waited)) + " s for the other ranks (one is dead or stuck; DSV32_EP_TIMEOUT)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    comm_record(comm_tp_kind(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                (off - counts[l_.tp_rank]) * 4);
  }

  void moe_experts(const MoeCall& m, const float* x, const int32_t* ids, const int32_t* ids_host,
                   const float* weights, float* y) override {
    if (!m.shared || l_.tp == 1) return ForwardingOps::moe_experts(m, x, ids, ids_host, weights, y);
    MoeCall routed = m;
    routed.shared = nullptr;
    ForwardingOps::moe_experts(routed, x, ids, ids_host, weights, y);
    const int64_t n = m.tokens * m.hidden, T = l_.tp;
    ensure(part_, size_t(n) * 4);
    ensure(gathered_, size_t(T * n) * 4);
    mlp(m.rules, *m.shared, x, m.tokens, part_.f());
    const std::vector<int64_t> counts(size_t(T), n);
    tp_allgather(part_.f(), gathered_.f(), counts.data());
    for (int64_t t = 0; t < T; ++t) add(y, gathered_.f() + t * n, n);  // y + s_0 + s_1 + … (rank order)
  }

 private:
  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess) fail("rank " + std::to_string(l_.rank) + ": " + what + ": " + ncclGetErrorString(r));
  }
  void cuda(cudaError_t e, const char* what) const {
    if (e != cudaSuccess) fail("rank " + std::to_string(l_.rank) + ": " + what + ": " + cudaGetErrorString(e));
  }

  RankLayout l_;
  MPI_Comm tp_mpi_ = MPI_COMM_NULL;
  ncclComm_t tp_ = nullptr;
  cudaStream_t stream_ = nullptr;
  Buf part_, gathered_;  // the shared expert's partial [S, D] and the gathered [T, S, D]
};

}  // namespace

int rank_cuda_device() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1) fail("--device cuda: no CUDA device");
  // Open MPI / PMI launchers name the rank's place on its host; fall back to the world rank.
  int local = current_world().rank;
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* s = std::getenv(v)) {
      local = std::atoi(s);
      break;
    }
  const int dev = local % n;
  if (cudaSetDevice(dev) != cudaSuccess) fail("--device cuda: cudaSetDevice(" + std::to_string(dev) + ") failed");
  return dev;
}

std::unique_ptr<Ops> make_nccl_ops(std::unique_ptr<Ops> inner, int tp, int ep) {
  return std::make_unique<NcclOps>(std::move(inner), mpi_world(), tp, ep);
}

}  // namespace dsv32
#endif  // DSV32_WITH_NCCL
