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
// Tensor parallelism: tp_allgather below (an MPI_Iallgatherv over the TP group) carries the
// layer program's o_proj / down_proj partials (model/tensor_parallel.cpp); moe_experts reduces a
// TP-split shared expert before the routed combine.
//
// GPUs (--device cuda): NcclOps (nccl_ops.cpp) instead: the same steps, with steps 2–3 and 5 in
// gpu::moe_experts restricted to the block and step 4 an ncclBroadcast per rank of grouped rows.
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

void check_mpi(int rc, int rank, const char* what) {
  if (rc != MPI_SUCCESS) fail("rank " + std::to_string(rank) + ": " + what + ": " + mpi_error_text(rc));
}

// Waits at most `limit` seconds (default ep_timeout_seconds(); 0: no limit) for req, polling so
// that a stuck peer ends the job with an error naming this rank instead of hanging it.
void wait_request(MPI_Request& req, int rank, const char* what, double limit = -1) {
  const auto t0 = std::chrono::steady_clock::now();
  if (limit < 0) limit = ep_timeout_seconds();
  for (int spins = 0;; ++spins) {
    int done = 0;
    check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), rank, "MPI_Test");
    if (done) return;
    // Spin first (a decode step's exchange takes microseconds), then yield the core.
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (limit > 0 && waited > limit)
      fail("rank " + std::to_string(rank) + ": the " + what + " waited " + std::to_string(int(waited)) +
           " s for the other ranks (one is dead or stuck; DSV32_EP_TIMEOUT sets the limit)");
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class EpOps final : public ForwardingOps {
 public:
  // The EP and TP groups of RankLayout (model/parallel.h): ranks sharing ⌊r/E⌋ (⌊r/T⌋), ordered by
  // world rank, so that group rank = r mod E (r mod T).
  EpOps(std::unique_ptr<Ops> inner, World w, int tp, int ep) : ForwardingOps(std::move(inner)) {
    l_ = rank_layout(w, tp, ep);
    check(MPI_Comm_split(MPI_COMM_WORLD, w.rank / l_.ep, l_.ep_rank, &ep_comm_), "MPI_Comm_split (EP)");
    check(MPI_Comm_split(MPI_COMM_WORLD, w.rank / l_.tp, l_.tp_rank, &tp_comm_), "MPI_Comm_split (TP)");
    MPI_Comm_set_errhandler(ep_comm_, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(tp_comm_, MPI_ERRORS_RETURN);
  }
  ~EpOps() override {
    if (row_type_ != MPI_DATATYPE_NULL) MPI_Type_free(&row_type_);
    MPI_Comm_free(&ep_comm_);
    MPI_Comm_free(&tp_comm_);
  }

  std::string device_name() const override {
    std::string s = inner().device_name() + " (expert-parallel rank " + std::to_string(l_.ep_rank) + " of " +
                    std::to_string(l_.ep);
    if (l_.tp > 1) s += ", tensor-parallel rank " + std::to_string(l_.tp_rank) + " of " + std::to_string(l_.tp);
    if (l_.ep != l_.world) s += "; world rank " + std::to_string(l_.rank) + " of " + std::to_string(l_.world);
    return s + ")";
  }

  // The TP group's all-gather in rank order (MPI_Iallgatherv, waited on with the timeout).
  void tp_allgather(const float* mine, float* all, const int64_t* counts) override {
    tp_counts_.resize(size_t(l_.tp));
    tp_displs_.resize(size_t(l_.tp));
    int64_t off = 0;
    for (int t = 0; t < l_.tp; ++t) {
      if (counts[t] > INT32_MAX || off > INT32_MAX) fail("--tp: a gather of more than 2^31 floats per rank");
      tp_counts_[t] = int(counts[t]), tp_displs_[t] = int(off);
      off += counts[t];
    }
    if (l_.tp == 1) return ForwardingOps::tp_allgather(mine, all, counts);
    const auto t0 = std::chrono::steady_clock::now();
    MPI_Request req;
    check(MPI_Iallgatherv(mine, tp_counts_[l_.tp_rank], MPI_FLOAT, all, tp_counts_.data(), tp_displs_.data(),
                          MPI_FLOAT, tp_comm_, &req),
          "MPI_Iallgatherv (TP)");
    wait_request(req, l_.rank, "tensor-parallel reduction");
    comm_record(comm_tp_kind(), seconds_since(t0), (off - counts[l_.tp_rank]) * 4);
  }

  void moe_experts(const MoeCall& m, const float* x, const int32_t*, const int32_t* ids_host, const float* weights,
                   float* y) override {
    const int64_t S = m.tokens, D = m.hidden, E = m.n_experts;
    if (E < l_.ep)
      fail("--parallel ep: " + std::to_string(l_.ep) + " expert-parallel ranks but only " + std::to_string(E) +
           " routed experts (run at most " + std::to_string(E) + " ranks, or give --ep)");
    if (m.shared) {
      mlp(m.rules, *m.shared, x, S, y);
      if (l_.tp > 1) {  // this rank's columns of the shared expert: y = Σ_t y_t in TP rank order
        tp_buf_.resize(size_t(l_.tp * S * D));
        const std::vector<int64_t> counts(size_t(l_.tp), S * D);
        tp_allgather(y, tp_buf_.data(), counts.data());
        std::copy(tp_buf_.begin(), tp_buf_.begin() + S * D, y);
        for (int t = 1; t < l_.tp; ++t) add(y, tp_buf_.data() + t * S * D, S * D);
      }
    } else {
      std::fill(y, y + S * D, 0.f);
    }
    const MoeExpertsParams p{S, D, m.top_k, E};
    moe_group(p, sc_, ids_host);
    const auto [lo, hi] = expert_block(E, l_.ep, l_.ep_rank);
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
    counts_.resize(size_t(l_.ep));
    displs_.resize(size_t(l_.ep));
    for (int r = 0; r < l_.ep; ++r) {
      const auto [lo, hi] = expert_block(E, l_.ep, r);
      displs_[r] = sc_.offset[lo];
      counts_[r] = sc_.offset[hi] - sc_.offset[lo];
    }
    // Bytes received: every grouped row [0, S·K) but this rank's own block, D floats each
    // (docs/MODEL.md §13.5).
    const auto t0 = std::chrono::steady_clock::now();
    MPI_Request req;
    check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, sc_.yg.data(), counts_.data(), displs_.data(),
                          row_type_, ep_comm_, &req),
          "MPI_Iallgatherv");
    wait_request(req, l_.rank, "expert exchange");
    comm_record(CommKind::kEpExchange, seconds_since(t0), int64_t(sc_.offset[E] - counts_[l_.ep_rank]) * D * 4);
  }
  void check(int rc, const char* what) const { check_mpi(rc, l_.rank, what); }

  RankLayout l_;
  MPI_Comm ep_comm_ = MPI_COMM_NULL, tp_comm_ = MPI_COMM_NULL;
  std::vector<int> tp_counts_, tp_displs_;
  std::vector<float> tp_buf_;  // the shared expert's gathered partials [T, S, D]
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
void world_sum_max(const std::vector<double>& v, std::vector<double>* sum, std::vector<double>* max) {
  *sum = v, *max = v;
  if (!g_started || g_world.size < 2 || v.empty()) return;
  MPI_Request req[2];
  check_mpi(MPI_Iallreduce(v.data(), sum->data(), int(v.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req[0]),
            g_world.rank, "MPI_Iallreduce (sum)");
  check_mpi(MPI_Iallreduce(v.data(), max->data(), int(v.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &req[1]),
            g_world.rank, "MPI_Iallreduce (max)");
  wait_request(req[0], g_world.rank, "report reduction");
  wait_request(req[1], g_world.rank, "report reduction");
}

int64_t world_broadcast(int64_t v, bool patient) {
  if (!g_started || g_world.size < 2) return v;
  MPI_Request req;
  check_mpi(MPI_Ibcast(&v, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &req), g_world.rank, "MPI_Ibcast");
  wait_request(req, g_world.rank, "broadcast from rank 0", patient ? 0 : -1);
  return v;
}

void abort_ranks(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (g_started && g_world.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

std::unique_ptr<Ops> make_ep_ops(std::unique_ptr<Ops> inner, int tp, int ep) {
  if (!inner->host_memory())
    fail("--parallel ep --device cuda: this build has no NCCL path (configure with -DDSV32_CUDA=ON -DDSV32_MPI=ON "
         "where the CUDA toolkit has nccl.h; or use --device cpu)");
  return std::make_unique<EpOps>(std::move(inner), mpi_world(), tp, ep);
}

}  // namespace dsv32
