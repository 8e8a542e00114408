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
//                 With --ep E > 1 (the EP twin of EpOps::moe_experts, mpi_ops.cpp): the inner
//                 gpu::moe_experts groups the S·K (token, slot) rows by expert as one process does,
//                 computes only this rank's block of experts [expert_block(X, E, e)) (the only
//                 experts the layer program uploaded), and before its combine calls back here:
//                 one ncclBroadcast per EP rank of that rank's slice of the grouped rows, in place,
//                 inside ncclGroupStart/End (the slices differ in size). Every rank then holds all
//                 S·K rows, each computed by one rank with the same kernels on the same inputs, and
//                 runs the same fixed-order combine: bit-identical to one GPU when cuBLAS picks the
//                 same algorithm for the same per-expert GEMM shapes (moe_experts.h's caveat).
//
// Status: compiled where CUDA, NCCL and MPI are all present (CMake DSV32_WITH_NCCL); never run
// (no multi-GPU machine was lent to the sessions that wrote it). tests/mpi/nccl_tp.sh runs TP
// and EP where `nvidia-smi -L` lists two GPUs, and skips otherwise.
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
    // The TP and EP groups of RankLayout (model/parallel.h), as in EpOps: one MPI communicator
    // each to broadcast the group's ncclUniqueId, then one NCCL communicator each.
    join(w.rank / l_.tp, l_.tp_rank, l_.tp, "TP", &tp_mpi_, &tp_);
    if (l_.ep > 1) join(w.rank / l_.ep, l_.ep_rank, l_.ep, "EP", &ep_mpi_, &ep_);
    cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~NcclOps() override {
    ncclCommDestroy(tp_);
    if (ep_) ncclCommDestroy(ep_);
    cudaStreamDestroy(stream_);
    MPI_Comm_free(&tp_mpi_);
    if (ep_mpi_ != MPI_COMM_NULL) MPI_Comm_free(&ep_mpi_);
    for (Buf* b : {&part_, &gathered_}) release(*b);
  }

  std::string device_name() const override {
    std::string s = inner().device_name() + " (";
    if (l_.ep > 1) s += "expert-parallel rank " + std::to_string(l_.ep_rank) + " of " + std::to_string(l_.ep) + ", ";
    return s + "tensor-parallel rank " + std::to_string(l_.tp_rank) + " of " + std::to_string(l_.tp) + " over NCCL)";
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
    wait_stream(t0, tp_, "tensor-parallel NCCL gather");
    comm_record(comm_tp_kind(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                (off - counts[l_.tp_rank]) * 4);
  }

  void moe_experts(const MoeCall& m, const float* x, const int32_t* ids, const int32_t* ids_host,
                   const float* weights, float* y) override {
    MoeCall routed = m;
    if (l_.ep > 1) {
      if (m.n_experts < l_.ep)
        fail("--ep " + std::to_string(l_.ep) + ": only " + std::to_string(m.n_experts) + " routed experts");
      const auto [lo, hi] = expert_block(m.n_experts, l_.ep, l_.ep_rank);
      routed.expert_lo = lo, routed.expert_hi = hi;
      routed.exchange = [this, &m](float* rows, const std::vector<int32_t>& offsets) {
        ep_exchange(rows, offsets, m.n_experts, m.hidden);
      };
    }
    if (!m.shared || l_.tp == 1) return ForwardingOps::moe_experts(routed, x, ids, ids_host, weights, y);
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
  // A group's MPI communicator (ranks sharing `color`, ordered by `key`) and its NCCL communicator.
  void join(int color, int key, int size, const char* what, MPI_Comm* mpi, ncclComm_t* nccl) {
    const std::string r = "rank " + std::to_string(l_.rank) + ": ";
    if (MPI_Comm_split(MPI_COMM_WORLD, color, key, mpi) != MPI_SUCCESS) fail(r + "MPI_Comm_split (" + what + ")");
    ncclUniqueId id;
    if (key == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (MPI_Bcast(&id, int(sizeof id), MPI_BYTE, 0, *mpi) != MPI_SUCCESS)
      fail(r + "MPI_Bcast of the ncclUniqueId (" + what + ")");
    check(ncclCommInitRank(nccl, size, id, key), "ncclCommInitRank");
  }
  // Polls stream_ with the exchange timeout (a dead peer would otherwise hang it forever).
  void wait_stream(std::chrono::steady_clock::time_point t0, ncclComm_t comm, const char* what) {
    const double limit = ep_timeout_seconds();
    for (;;) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) cuda(e, "cudaStreamQuery");
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waited > limit) {
        ncclCommAbort(comm);
        fail("rank " + std::to_string(l_.rank) + ": the " + what + " waited " + std::to_string(int(waited)) +
             " s for the other ranks (one is dead or stuck; DSV32_EP_TIMEOUT)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  // The EP exchange: every EP rank's slice [offsets[lo_r], offsets[hi_r]) of the grouped rows
  // [S·K, D] (device) broadcast from that rank to the group, in place. Every rank has the same
  // offsets (the same routing), so all skip the same empty slices.
  void ep_exchange(float* rows, const std::vector<int32_t>& offsets, int64_t X, int64_t D) {
    inner().finish();  // this rank's slice is written on the inner backend's stream
    const auto t0 = std::chrono::steady_clock::now();
    int64_t own = 0;
    check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < l_.ep; ++r) {
      const auto [lo, hi] = expert_block(X, l_.ep, r);
      const int64_t r0 = offsets[size_t(lo)], n = offsets[size_t(hi)] - r0;
      if (r == l_.ep_rank) own = n;
      if (n == 0) continue;
      check(ncclBroadcast(rows + r0 * D, rows + r0 * D, size_t(n * D), ncclFloat, r, ep_, stream_), "ncclBroadcast");
    }
    check(ncclGroupEnd(), "ncclGroupEnd");
    wait_stream(t0, ep_, "expert-parallel NCCL exchange");
    comm_record(CommKind::kEpExchange, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                (int64_t(offsets[size_t(X)]) - own) * D * 4);
  }
  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess) fail("rank " + std::to_string(l_.rank) + ": " + what + ": " + ncclGetErrorString(r));
  }
  void cuda(cudaError_t e, const char* what) const {
    if (e != cudaSuccess) fail("rank " + std::to_string(l_.rank) + ": " + what + ": " + cudaGetErrorString(e));
  }

  RankLayout l_;
  MPI_Comm tp_mpi_ = MPI_COMM_NULL, ep_mpi_ = MPI_COMM_NULL;
  ncclComm_t tp_ = nullptr, ep_ = nullptr;
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
