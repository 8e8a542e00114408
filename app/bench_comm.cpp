// The communication split of `dsv32 bench` under mpirun (app/bench_comm.h). The counters are the
// ones the rank backends keep (model/parallel.h comm_record, per layer via the layer program's
// marks); here they are reduced over the ranks and set beside the formulas of docs/MODEL.md §13.5.
#include "app/bench_comm.h"

#include <algorithm>
#include <cstdio>

#include "app/common.h"

namespace dsv32::app {
namespace {

using nlohmann::json;

// Fields of one bucket in the vector reduced over the ranks.
constexpr int kSeconds = 0, kCompute = 1, kComm = 2, kBytes = kComm + kCommKinds, kFields = kBytes + kCommKinds;

void pack(const LayerComm& b, std::vector<double>& v) {
  double comm = 0;
  for (const CommCounter& c : b.kind) comm += c.seconds;
  v.push_back(b.seconds);
  v.push_back(b.seconds - comm);
  for (const CommCounter& c : b.kind) v.push_back(c.seconds);
  for (const CommCounter& c : b.kind) v.push_back(double(c.bytes_received));
}

CommBucket unpack(const double* sum, const double* max, int ranks) {
  CommBucket b;
  auto mm = [&](int i) { return MeanMax{sum[i] / ranks, max[i]}; };
  b.seconds = mm(kSeconds), b.compute = mm(kCompute);
  for (int k = 0; k < kCommKinds; ++k) b.comm[k] = mm(kComm + k), b.bytes[k] = sum[kBytes + k];
  return b;
}

// docs/MODEL.md §13.5: bytes all ranks receive while `tokens` tokens pass decoder layer L.
//   EP exchange (MoE layers): each EP group of E ranks all-gathers the S·K grouped expert rows of
//     D floats; rank e receives all but its own block, so the group receives (E − 1)·S·K·D·4 and
//     the N/E groups N·(E − 1)/E·S·K·D·4. The MoE input is replicated in the group: no dispatch.
//   TP reductions: each gathers T partials of S·D floats; every rank receives the T − 1 others',
//     N·(T − 1)·S·D·4 over all ranks, once for o_proj and once for the dense MLP or the shared
//     expert (a MoE layer without one has no second reduction).
void formula(const ModelConfig& c, const LayerWeights& L, int ranks, int tp, int ep, int64_t tokens, CommBucket& b) {
  const double D4 = double(c.hidden_size) * 4, n = double(tokens);
  if (L.is_moe)
    b.formula_bytes[int(CommKind::kEpExchange)] = n * (ranks / ep) * (ep - 1) * double(c.n_experts_per_tok) * D4;
  const int reductions = 1 + (L.is_moe ? (L.has_shared ? 1 : 0) : 1);
  b.formula_bytes[int(CommKind::kTpReduce)] = n * ranks * (tp - 1) * D4 * reductions;
}

LayerComm operator+(LayerComm a, const LayerComm& b) {
  a.seconds += b.seconds;
  for (int k = 0; k < kCommKinds; ++k) {
    a.kind[k].calls += b.kind[k].calls, a.kind[k].bytes_received += b.kind[k].bytes_received;
    a.kind[k].seconds += b.kind[k].seconds;
  }
  return a;
}

std::string mm_text(const MeanMax& x, double scale) {
  char s[64];
  std::snprintf(s, sizeof s, "%.3f / %.3f", x.mean * scale, x.max * scale);
  return s;
}

json mm_json(const MeanMax& x) { return {{"mean", x.mean}, {"max", x.max}}; }

json bucket_json(const CommBucket& b, const CommSplit& s) {
  json comm = json::object(), bytes = json::object();
  for (int k = 0; k < kCommKinds; ++k) {
    const char* name = to_string(CommKind(k));
    comm[name] = mm_json(b.comm[k]);
    bytes[name] = {{"measured_all_ranks", b.bytes[k]},
                   {"formula_all_ranks", b.formula_bytes[k]},
                   {"measured_per_token_per_rank", b.bytes[k] / s.ranks / double(std::max<int64_t>(s.tokens, 1))},
                   {"formula_per_token_per_rank", b.formula_bytes[k] / s.ranks / double(std::max<int64_t>(s.tokens, 1))}};
  }
  return {{"seconds", mm_json(b.seconds)}, {"compute_seconds", mm_json(b.compute)}, {"comm_seconds", comm},
          {"bytes_received", bytes}};
}

}  // namespace

void comm_begin() {
  comm_accounting(current_world().size > 1);
  comm_reset();
}

CommSplit comm_collect(const Model& m, double timed_s, int64_t tokens) {
  CommSplit s;
  if (current_world().size < 2) return s;
  const ModelWeights& w = m.weights();
  const RankLayout lay = rank_layout(current_world(), m.options().tp, m.options().ep);
  s.on = true, s.ranks = lay.world, s.tp = lay.tp, s.ep = lay.ep, s.tokens = tokens;
  const CommStats& st = comm_stats();
  const int n_layers = int(w.layers.size());
  // Per rank: [timed, all buckets summed, outside, layer 0, …], kFields per bucket; the sums over
  // the ranks give the means, and the max of each field its own max (compute and comm of
  // different buckets may peak on different ranks, so bucket maxima do not add up).
  LayerComm all = st.outside;
  for (const LayerComm& b : st.layers) all = all + b;
  std::vector<double> v{timed_s};
  pack(all, v);
  pack(st.outside, v);
  for (int l = 0; l < n_layers; ++l) pack(l < int(st.layers.size()) ? st.layers[l] : LayerComm{}, v);
  std::vector<double> sum, max;
  world_sum_max(v, &sum, &max);
  auto at = [&](int bucket) { return unpack(&sum[1 + size_t(bucket) * kFields], &max[1 + size_t(bucket) * kFields], s.ranks); };
  s.total = {sum[0] / s.ranks, max[0]};
  s.all = at(0);
  s.outside = at(1);
  for (int l = 0; l < n_layers; ++l) {
    CommBucket b = at(2 + l);
    formula(w.config, w.layers[l], s.ranks, s.tp, s.ep, tokens, b);
    for (int k = 0; k < kCommKinds; ++k) s.all.formula_bytes[k] += b.formula_bytes[k];
    s.layers.push_back(b);
  }
  comm_accounting(false);
  return s;
}

double comm_share(const CommSplit& s) {
  if (!s.on) return -1;
  double comm = 0;
  for (int k = 0; k < kCommKinds; ++k) comm += s.all.comm[k].mean;
  return comm / std::max(s.total.mean, 1e-12);
}

std::string comm_markdown(const std::vector<std::string>& labels, const std::vector<const CommSplit*>& splits) {
  std::string out;
  if (splits.empty() || !splits[0]->on) return out;
  const CommSplit& f = *splits[0];
  const int EP = int(CommKind::kEpExchange), TP = int(CommKind::kTpReduce);
  auto per_token = [](const CommSplit& s, double bytes) { return bytes / s.ranks / double(std::max<int64_t>(s.tokens, 1)); };
  out += strprintf("\ncommunication over %d ranks (TP %d x EP %d): seconds of the timed repetitions, mean / max over the "
              "ranks; compute = time in the layers outside the collectives; bytes received per token, mean over the "
              "ranks, measured at the calls (formula of docs/MODEL.md §13.5)\n"
              "| mode | test | timed s | compute s | EP exchange s | TP reduce s | comm share | EP bytes/token (formula) "
              "| TP bytes/token (formula) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
              f.ranks, f.tp, f.ep);
  for (size_t i = 0; i < splits.size(); ++i) {
    const CommSplit& s = *splits[i];
    out += strprintf("| %s | %s | %s | %s | %s | %.1f %% | %.1f (%.1f) | %.1f (%.1f) |\n", labels[i].c_str(),
                mm_text(s.total, 1).c_str(), mm_text(s.all.compute, 1).c_str(), mm_text(s.all.comm[EP], 1).c_str(),
                mm_text(s.all.comm[TP], 1).c_str(), 100 * comm_share(s),
                per_token(s, s.all.bytes[EP]), per_token(s, s.all.formula_bytes[EP]), per_token(s, s.all.bytes[TP]),
                per_token(s, s.all.formula_bytes[TP]));
  }
  out += strprintf("\nper layer (ms over the timed repetitions, mean / max over the ranks; layer - = embedding, final "
              "norm, LM head)\n| mode | test | layer | time ms | compute ms | EP exchange ms | TP reduce ms | EP bytes/token "
              "| TP bytes/token |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < splits.size(); ++i) {
    const CommSplit& s = *splits[i];
    for (int l = -1; l < int(s.layers.size()); ++l) {
      const CommBucket& b = l < 0 ? s.outside : s.layers[size_t(l)];
      out += strprintf("| %s | %s | %s | %s | %s | %s | %.1f | %.1f |\n", labels[i].c_str(),
                  l < 0 ? "-" : std::to_string(l).c_str(), mm_text(b.seconds, 1e3).c_str(),
                  mm_text(b.compute, 1e3).c_str(), mm_text(b.comm[EP], 1e3).c_str(), mm_text(b.comm[TP], 1e3).c_str(),
                  per_token(s, b.bytes[EP]), per_token(s, b.bytes[TP]));
    }
  }
  return out;
}

json comm_json(const CommSplit& s) {
  if (!s.on) return nullptr;
  json layers = json::array();
  for (size_t l = 0; l < s.layers.size(); ++l) {
    json b = bucket_json(s.layers[l], s);
    b["layer"] = l;
    layers.push_back(b);
  }
  return {{"ranks", s.ranks}, {"tp", s.tp}, {"ep", s.ep}, {"tokens", s.tokens}, {"timed_seconds", mm_json(s.total)},
          {"all_layers", bucket_json(s.all, s)}, {"outside_layers", bucket_json(s.outside, s)}, {"layers", layers},
          {"method", "seconds: steady clock, per rank; mean and max over the ranks. comm_seconds: from posting each "
                     "collective to its completion. compute_seconds: the bucket's seconds minus its comm_seconds. "
                     "bytes_received: counted at the collective calls; formula: docs/MODEL.md 13.5"}};
}

}  // namespace dsv32::app
