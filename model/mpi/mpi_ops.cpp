// The MPI half of model/parallel.h: the world (init, finalize, abort) and EpOps, the
// expert-parallel decorator backend.
//
// EpOps::moe_experts, per MoE layer, on every rank (S tokens, K slots, D hidden, E experts):
//   1. y = shared(x) — the shared expert is replicated, so every rank computes it alone.
//   2. group the S·K (token, slot) pairs by expert exactly as one process does (same ids, same
//      counting sort: kernels/cpu/moe_experts.h), so every rank knows every rank's row layout.
//   3. run the experts of this rank's block [lo, hi) → grouped rows [offset[lo], offset[hi]).
//   4. all-gather the grouped rows in place (MPI_Iallgatherv, one row = D floats): every rank
//      then holds all S·K expert outputs, each computed by exactly one rank with the same kernel
//      on the same gathered inputs as in one process.
//   5. the same fixed-order combine, y[s] += Σ_k w[s,k] · out[s,k] (k ascending), and the bf16
//      store of the MoE sum where the profile has one.
// So every rank's y is bit-identical to the single-process y, and the ranks stay in lock-step
// (the router, attention and everything else run redundantly on identical data).
//
// Cost: each rank receives (S·K − its own rows)·D·4 bytes per MoE layer, S·K·D·4 in total over
// the group (README "Running over ranks"). An all-to-all dispatch (send each token only to the
// ranks holding its experts, return the outputs) would move the same rows but skip the
// redundant attention; it needs token-sharded attention to pay off, a later step.
//
// GPUs (--device cuda): the inner backend is then CudaOps and x, y, yg are device memory. The
// exchange of step 4 becomes an ncclGroupStart / ncclBroadcast-per-rank (or ncclAllGather on
// equal padded blocks) / ncclGroupEnd on the backend's stream, with the communicator created
// from an ncclUniqueId that rank 0 broadcasts over MPI_COMM_WORLD; steps 2–3 map onto
// gpu::moe_experts restricted to the block. Not built yet: make_ep_ops rejects a device backend.
// The C API only: without these, Open MPI's and MPICH's mpi.h pull in the deprecated C++ bindings
// (and a link dependency on libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "kernels/cpu/moe_experts.h"
#include "kernels/error.h"
#include "model/forwarding_ops.h"
#include "model/parallel.h"

namespace dsv32 {

namespace {

World g_world;
bool g_started = false;
EpStats g_stats;

void finalize_at_exit() {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(code, text, &n);
  return std::string(text, size_t(n));
}

class EpOps final : public ForwardingOps {
 public:
  EpOps(std::unique_ptr<Ops> inner, World w) : ForwardingOps(std::move(inner)), w_(w) {}
  ~EpOps() override {
    if (row_type_ != MPI_DATATYPE_NULL) MPI_Type_free(&row_type_);
  }

  std::string device_name() const override {
    return inner().device_name() + " (expert-parallel rank " + std::to_string(w_.rank) + " of " +
           std::to_string(w_.size) + ")";
  }

  void moe_experts(const MoeCall& m, const float* x, const int32_t*, const int32_t* ids_host, const float* weights,
                   float* y) override {
    const int64_t S = m.tokens, D = m.hidden, E = m.n_experts;
    if (E < w_.size)
      fail("--parallel ep: " + std::to_string(w_.size) + " ranks but only " + std::to_string(E) +
           " routed experts (run at most " + std::to_string(E) + " ranks)");
    if (m.shared) mlp(m.rules, *m.shared, x, S, y);
    else std::fill(y, y + S * D, 0.f);
    const MoeExpertsParams p{S, D, m.top_k, E};
    moe_group(p, sc_, ids_host);
    const auto [lo, hi] = expert_block(E, w_.size, w_.rank);
    const ExpertFn expert = [&](int64_t e, const float* xg, int64_t n, float* yg) {
      mlp(m.rules, m.experts[e], xg, n, yg);
    };
    moe_run_experts(p, sc_, x, expert, lo, hi);
    exchange(E, D);
    moe_combine(p, sc_, weights, y);
    if (m.sum == Store::kBf16) round_bf16(y, 1, S * D, S * D);
  }

 private:
  // Step 4: every rank's block of grouped rows to every rank, in place in sc_.yg. Waits at most
  // ep_timeout_seconds(), polling so that a stuck peer ends the job instead of hanging it.
  void exchange(int64_t E, int64_t D) {
    if (row_type_ == MPI_DATATYPE_NULL || row_d_ != D) {
      if (row_type_ != MPI_DATATYPE_NULL) MPI_Type_free(&row_type_);
      check(MPI_Type_contiguous(int(D), MPI_FLOAT, &row_type_), "MPI_Type_contiguous");
      check(MPI_Type_commit(&row_type_), "MPI_Type_commit");
      row_d_ = D;
    }
    counts_.resize(size_t(w_.size));
    displs_.resize(size_t(w_.size));
    for (int r = 0; r < w_.size; ++r) {
      const auto [lo, hi] = expert_block(E, w_.size, r);
      displs_[r] = sc_.offset[lo];
      counts_[r] = sc_.offset[hi] - sc_.offset[lo];
    }
    MPI_Request req;
    check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, sc_.yg.data(), counts_.data(), displs_.data(),
                          row_type_, MPI_COMM_WORLD, &req),
          "MPI_Iallgatherv");
    const auto t0 = std::chrono::steady_clock::now();
    const double limit = ep_timeout_seconds();
    for (int spins = 0;; ++spins) {
      int done = 0;
      check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) {
        ++g_stats.exchanges;
        g_stats.bytes_received += int64_t(sc_.offset[E] - counts_[w_.rank]) * D * 4;
        g_stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return;
      }
      // Spin first (a decode step's exchange takes microseconds), then yield the core.
      if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waited > limit)
        fail("rank " + std::to_string(w_.rank) + ": the expert exchange waited " + std::to_string(int(waited)) +
             " s for the other ranks (one is dead or stuck; DSV32_EP_TIMEOUT sets the limit)");
    }
  }
  void check(int rc, const char* what) const {
    if (rc != MPI_SUCCESS) fail("rank " + std::to_string(w_.rank) + ": " + what + ": " + mpi_error_text(rc));
  }

  World w_;
  MoeScratch sc_;
  std::vector<int> counts_, displs_;  // per rank, in rows of D floats
  MPI_Datatype row_type_ = MPI_DATATYPE_NULL;
  int64_t row_d_ = 0;
};

}  // namespace

bool mpi_built() { return true; }

World mpi_world() {
  if (g_started) return g_world;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      fail("--parallel ep: MPI_Init_thread failed");
    std::atexit(finalize_at_exit);
  }
  // Failed calls return an error code (turned into an Error naming the rank) instead of
  // aborting inside the library without a word about where.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  g_started = true;
  return g_world;
}

World current_world() { return g_started ? g_world : World{}; }
EpStats ep_stats() { return g_stats; }
void ep_stats_reset() { g_stats = EpStats{}; }

void abort_ranks(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (g_started && g_world.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

std::unique_ptr<Ops> make_ep_ops(std::unique_ptr<Ops> inner) {
  if (!inner->host_memory())
    fail("--parallel ep --device cuda: the NCCL expert exchange is not built yet (use --device cpu)");
  return std::make_unique<EpOps>(std::move(inner), mpi_world());
}

}  // namespace dsv32
