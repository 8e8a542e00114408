// Ranks: running one forward pass over several processes (docs: README "Running over ranks").
//
// Expert parallelism (Parallel::kEp) is another backend of the same layer program: make_ops
// (model/ops.cpp) wraps the device backend in an EP decorator (model/mpi/mpi_ops.cpp) that
// overrides only Ops::moe_experts. Every rank runs the whole layer program — embedding,
// attention, dense layers, router, shared expert, LM head — on the same tokens, and computes the
// routed experts of its own contiguous block [expert_block(E, N, rank)); the expert outputs are
// then all-gathered so that every rank holds every (token, slot) row and performs the same
// fixed-order combine as one process. Results are therefore bit-identical to one process.
//
// MPI is optional (CMake -DDSV32_MPI=ON defines DSV32_WITH_MPI): a build without it runs
// Parallel::kNone only, and a build with it initialises MPI only when a run asks for ranks, so a
// single-process run never needs mpirun.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dsv32 {

enum class Parallel { kNone, kEp };
const char* to_string(Parallel p);
// "none" | "ep" | "auto" (ep when started by mpirun with more than one process, else none).
Parallel parse_parallel(const std::string& s);

// This process's place among the ranks: {0, 1} without MPI.
struct World {
  int rank = 0, size = 1;
};

bool mpi_built();             // compiled with DSV32_WITH_MPI
int launcher_world_size();    // processes mpirun started (its environment), 1 when not under mpirun
// Initialises MPI on the first call (thread level FUNNELED: only the main thread calls MPI) and
// returns the world; throws Error in a build without MPI. MPI_Finalize runs at exit.
World mpi_world();
World current_world();        // {0, 1} until mpi_world() has run
// The rank that prints and writes files (dumps, results, state): rank 0, or the only process.
inline bool output_rank() { return current_world().rank == 0; }
// Ends every rank at once with exit status `code` (MPI_Abort); a plain exit without MPI.
[[noreturn]] void abort_ranks(int code);
// Seconds an expert exchange may wait for the other ranks before the job is aborted with an
// error naming the waiting rank (a dead rank is normally reported by mpirun itself; this catches
// a stuck one). Default 600; env DSV32_EP_TIMEOUT overrides.
double ep_timeout_seconds();

// Communication accounting, for the benchmarks' compute/communication split (app/bench_comm.h,
// docs/MODEL.md §13.5). The rank backends (model/mpi/) record each collective of the forward
// pass: its kind, the steady-clock seconds from posting it to its completion (transfer plus
// waiting for slower ranks: load imbalance shows up here), and the bytes this rank received. The
// layer program marks the layer it is in, so each record lands in that layer's bucket beside the
// layer's own wall time on this rank. Off until comm_accounting(true): then a mark is one clock
// read. Timing only; nothing a rank computes depends on it.
enum class CommKind : int {
  kEpExchange,  // the expert-parallel all-gather of grouped expert rows (one per MoE layer)
  kTpReduce,    // a tensor-parallel reduction: o_proj, down_proj or the shared expert's partials
  kTpHeads,     // a per-head tensor gathered for a dump (run --dump only)
  kCount
};
const char* to_string(CommKind k);  // "ep_exchange" | "tp_reduce" | "tp_heads"
struct CommCounter {
  int64_t calls = 0, bytes_received = 0;
  double seconds = 0;
};
struct LayerComm {
  double seconds = 0;  // wall time inside the bucket (a layer, or everything outside the layers)
  CommCounter kind[int(CommKind::kCount)];
};
struct CommStats {
  std::vector<LayerComm> layers;  // [l] for decoder layer l
  LayerComm outside;              // embedding, final norm, LM head
};
void comm_accounting(bool on);
void comm_reset();           // zero every bucket (accounting stays as it is)
void comm_mark(int layer);   // the forward pass enters decoder layer `layer` (−1: outside the layers)
void comm_mark_end();        // the forward pass returned: the clock stops until the next mark
// The kind the next tp_allgather records (default kTpReduce; tp_gather_heads sets kTpHeads).
void comm_tp_kind(CommKind k);
CommKind comm_tp_kind();
void comm_record(CommKind k, double seconds, int64_t bytes_received);
const CommStats& comm_stats();

// Collectives over every rank for reports (blocking; identity without MPI or with one rank):
// element-wise sum and max of v into *sum and *max on every rank, and rank 0's value of v. Both
// wait at most ep_timeout_seconds() for the other ranks, except a `patient` broadcast, which
// waits while rank 0 works alone for as long as that takes (eval's reference runs, reports).
void world_sum_max(const std::vector<double>& v, std::vector<double>* sum, std::vector<double>* max);
int64_t world_broadcast(int64_t v, bool patient = false);

// The routed experts rank r of N holds: [lo, hi), contiguous and balanced (sizes differ by at
// most one). Contiguous blocks keep each rank's expert outputs one slice of the grouped rows
// (kernels/cpu/moe_experts.h), so the exchange is a single all-gather with no reordering.
std::pair<int64_t, int64_t> expert_block(int64_t n_experts, int ranks, int rank);

// How N ranks share the work (README "Running over ranks"). Tensor parallelism over T ranks
// splits the attention heads, the dense MLP's and the shared expert's intermediate columns;
// expert parallelism over E ranks splits the routed experts. Both T and E divide N:
//   TP group of rank r: ranks [T·⌊r/T⌋, T·⌊r/T⌋ + T), tp_rank = r mod T
//   EP group of rank r: ranks [E·⌊r/E⌋, E·⌊r/E⌋ + E), ep_rank = r mod E
// After each TP reduction every rank of a TP group holds the same activations, and the EP
// exchange needs only identical MoE inputs within an EP group, so any such T, E compose. The
// official layout is T = E = N; N/T TP groups (or N/E EP groups) beyond one compute the same
// thing redundantly (data parallelism over tokens is not done).
struct RankLayout {
  int world = 1, rank = 0;
  int tp = 1, tp_rank = 0;
  int ep = 1, ep_rank = 0;
};
// tp ≥ 1; ep = 0 means every rank (E = N). Throws Error when T or E does not divide N.
RankLayout rank_layout(World w, int tp, int ep);

// [lo, hi) of the i-th of `parts` balanced pieces of n items, cut at multiples of `unit` when n
// has at least `parts` units (FP8 weights keep whole 128-column scale blocks), else at multiples
// of 16, else anywhere.
std::pair<int64_t, int64_t> split_range(int64_t n, int64_t unit, int parts, int i);

}  // namespace dsv32
