// The communication split of `dsv32 bench` under mpirun (docs/MODEL.md §13.5, README "Running
// over ranks"): for each test, the timed seconds of every rank split per decoder layer into
// compute and the time inside each kind of collective (model/parallel.h CommKind), reduced over
// the ranks to their mean and max, and the bytes the ranks received per token, measured at the
// collective calls beside the formula derived from the shapes. On a GPU (NCCL) the layer clock
// reads host time while kernels run asynchronously: each collective first waits for the queued
// kernels (outside its own timing), so a layer's compute is exact only up to work still queued at
// its last collective, which spills into the next bucket; the bytes are exact on both.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/parallel.h"

namespace dsv32::app {

constexpr int kCommKinds = int(CommKind::kCount);

struct MeanMax {
  double mean = 0, max = 0;  // over the ranks
};

// One bucket: a decoder layer, or everything outside the layers (embedding, final norm, LM head).
struct CommBucket {
  MeanMax seconds, compute;  // wall time in the bucket; of it, outside every collective
  MeanMax comm[kCommKinds];  // seconds inside the collectives of each kind
  // Bytes received over all ranks during the test: measured (counted at the calls) and the
  // formula's (§13.5), per kind; they are equal when the accounting and the derivation agree.
  double bytes[kCommKinds] = {}, formula_bytes[kCommKinds] = {};
};

struct CommSplit {
  bool on = false;  // more than one rank
  int ranks = 1, tp = 1, ep = 1;
  int64_t tokens = 0;  // tokens through the timed forward calls
  MeanMax total;       // the test's timed seconds (stopwatch around the forward calls)
  CommBucket all;      // the sum of the buckets below
  std::vector<CommBucket> layers;
  CommBucket outside;
};

// Before a test's first timed repetition, on every rank: zero the counters, accounting on when
// there is more than one rank.
void comm_begin();
// After the timed repetitions, on every rank (it reduces over them): this rank's counters since
// comm_begin(), its stopwatch seconds `timed_s` over `tokens` tokens. Off with one rank.
CommSplit comm_collect(const Model& m, double timed_s, int64_t tokens);

// The text report (markdown tables) of tests labelled "mode | test" ("" with one rank), the JSON
// of one test (null with one rank), and the share of the timed seconds inside collectives (-1 with
// one rank).
std::string comm_markdown(const std::vector<std::string>& labels, const std::vector<const CommSplit*>& splits);
nlohmann::json comm_json(const CommSplit& s);
double comm_share(const CommSplit& s);

}  // namespace dsv32::app
