// The rank-independent half of model/parallel.h: names, the expert blocks, the launcher's
// environment, and the stand-ins used by a build without MPI (the MPI half: model/mpi/).
#include "model/parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "kernels/error.h"

namespace dsv32 {

const char* to_string(Parallel p) { return p == Parallel::kEp ? "ep" : "none"; }

Parallel parse_parallel(const std::string& s) {
  if (s == "none") return Parallel::kNone;
  if (s == "ep") return Parallel::kEp;
  if (s == "auto") return launcher_world_size() > 1 ? Parallel::kEp : Parallel::kNone;
  fail("--parallel: '" + s + "' is not one of none, ep, auto");
}

int launcher_world_size() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMI launchers (MPICH hydra, Slurm) PMI_SIZE.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* s = std::getenv(v)) return std::max(1, std::atoi(s));
  return 1;
}

double ep_timeout_seconds() {
  if (const char* s = std::getenv("DSV32_EP_TIMEOUT")) {
    char* end = nullptr;
    const double t = std::strtod(s, &end);
    if (!*s || *end || !(t > 0)) fail(std::string("DSV32_EP_TIMEOUT: '") + s + "' is not a positive number of seconds");
    return t;
  }
  return 600;
}

const char* to_string(CommKind k) {
  switch (k) {
    case CommKind::kEpExchange: return "ep_exchange";
    case CommKind::kTpReduce: return "tp_reduce";
    case CommKind::kTpHeads: return "tp_heads";
    default: return "?";
  }
}

namespace {
using CommClock = std::chrono::steady_clock;
bool g_comm_on = false;
CommStats g_comm;
constexpr int kNoBucket = -2;  // between forward passes: the clock is stopped
int g_bucket = kNoBucket;
CommClock::time_point g_bucket_t0;
CommKind g_tp_kind = CommKind::kTpReduce;

LayerComm& bucket(int layer) {
  if (layer < 0) return g_comm.outside;
  if (size_t(layer) >= g_comm.layers.size()) g_comm.layers.resize(size_t(layer) + 1);
  return g_comm.layers[size_t(layer)];
}
}  // namespace

void comm_accounting(bool on) {
  g_comm_on = on;
  g_bucket = kNoBucket;
}
void comm_reset() {
  g_comm = CommStats{};
  g_bucket = kNoBucket;
}
void comm_mark(int layer) {
  if (!g_comm_on) return;
  const CommClock::time_point now = CommClock::now();
  if (g_bucket != kNoBucket) bucket(g_bucket).seconds += std::chrono::duration<double>(now - g_bucket_t0).count();
  g_bucket = layer, g_bucket_t0 = now;
}
void comm_mark_end() {
  comm_mark(-1);
  g_bucket = kNoBucket;
}
void comm_tp_kind(CommKind k) { g_tp_kind = k; }
CommKind comm_tp_kind() { return g_tp_kind; }
void comm_record(CommKind k, double seconds, int64_t bytes_received) {
  if (!g_comm_on) return;
  CommCounter& c = bucket(g_bucket == kNoBucket ? -1 : g_bucket).kind[int(k)];
  ++c.calls;
  c.bytes_received += bytes_received;
  c.seconds += seconds;
}
const CommStats& comm_stats() { return g_comm; }

std::pair<int64_t, int64_t> expert_block(int64_t n_experts, int ranks, int rank) {
  return {n_experts * rank / ranks, n_experts * (rank + 1) / ranks};
}

RankLayout rank_layout(World w, int tp, int ep) {
  RankLayout l;
  l.world = w.size, l.rank = w.rank;
  l.tp = tp, l.ep = ep == 0 ? w.size : ep;
  if (l.tp < 1 || l.tp > w.size || w.size % l.tp)
    fail("--tp " + std::to_string(tp) + ": the tensor-parallel degree must divide the " + std::to_string(w.size) +
         " ranks");
  if (l.ep < 1 || l.ep > w.size || w.size % l.ep)
    fail("--ep " + std::to_string(ep) + ": the expert-parallel degree must divide the " + std::to_string(w.size) +
         " ranks");
  l.tp_rank = w.rank % l.tp, l.ep_rank = w.rank % l.ep;
  return l;
}

std::pair<int64_t, int64_t> split_range(int64_t n, int64_t unit, int parts, int i) {
  // Whole scale blocks, else multiples of 16 (the linear kernel's lanes), else single columns.
  if (unit < 1 || n % unit || n / unit < parts) unit = 16;
  if (n % unit || n / unit < parts) unit = 1;
  const int64_t units = n / unit;
  return {unit * (units * i / parts), unit * (units * (i + 1) / parts)};
}

#ifndef DSV32_WITH_MPI
bool mpi_built() { return false; }
World mpi_world() {
  fail("--parallel ep: this build has no MPI support (configure with -DDSV32_MPI=ON; scripts/setup does when "
       "mpicxx is installed)");
}
World current_world() { return {}; }
void world_sum_max(const std::vector<double>& v, std::vector<double>* sum, std::vector<double>* max) {
  *sum = v, *max = v;
}
int64_t world_broadcast(int64_t v, bool) { return v; }
void abort_ranks(int code) { std::exit(code); }
#endif

}  // namespace dsv32
