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

// Expert-exchange totals of this process since the last reset (all zero without --parallel ep),
// for the benchmarks' compute/communication split. `seconds` is the time from posting the
// all-gather to its completion: transfer plus waiting for slower ranks (load imbalance).
struct EpStats {
  int64_t exchanges = 0;       // MoE layer calls
  int64_t bytes_received = 0;  // expert rows computed by other ranks, D·4 bytes each
  double seconds = 0;
  // Tensor-parallel gathers (o_proj / MLP partial sums, per-head dump tensors): calls, bytes
  // received from the other ranks of the TP group, seconds from posting to completion.
  int64_t tp_gathers = 0, tp_bytes_received = 0;
  double tp_seconds = 0;
};
EpStats ep_stats();
void ep_stats_reset();

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
