// dsv32 run: prefill + teacher-forced decode on a checkpoint, top-5 per position, timing, dumps.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "app/run_setup.h"
#include "kernels/error.h"
#include "model/model.h"
#include "verify/dump.h"
#include "verify/ppl.h"

namespace dsv32::app {
namespace {


// Top-n of one logits row: (id, logit) by logit descending, ties to the lower id.
std::vector<std::pair<int32_t, float>> top_n(const float* row, int64_t V, int n) {
  std::vector<int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  n = int(std::min<int64_t>(n, V));
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int32_t a, int32_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  std::vector<std::pair<int32_t, float>> out;
  for (int i = 0; i < n; ++i) out.push_back({idx[i], row[idx[i]]});
  return out;
}

int run(const std::vector<std::string>& args) {
  RunSetup rs;
  int64_t prefill = -1;
  int top = 5;
  bool quiet = false;
  std::string dump, dump_filter, dump_positions;
  ArgParser p("run",
              "Run the forward pass on a checkpoint: prefill the first N ids in one call, then decode\n"
              "the rest one at a time (teacher-forced). Prints the top-5 next tokens per position,\n"
              "timing and the KV-cache footprint; --dump writes every named activation to HDF5.");
  rs.add_options(p);
  p.add("--prefill", &prefill, "N", "ids prefilled in the first call (default: all)");
  p.add("--top", &top, "K", "next-token candidates printed per position");
  p.add("--dump", &dump, "OUT.h5", "write activations (schema: verify/SCHEMA.md)");
  p.add("--dump-filter", &dump_filter, "REGEX", "dump only tensor paths matching REGEX");
  p.add("--dump-positions", &dump_positions, "LIST", "dump only these positions, e.g. 0-15,100,200-");
  p.add_flag("--quiet", &quiet, "print only the summary, not the per-position table");
  p.epilog("example:\n  dsv32 run --model models/tiny --ids 0,100,200,300 --attn sparse --mla absorbed\n"
           "  dsv32 run --model models/tiny --ids-file ids.txt --prefill 48 --dump run.h5");
  if (!p.parse(args)) return 0;
  rs.resolve(p);
  const int64_t n = int64_t(rs.ids.size());
  if (p.given("--prefill") && prefill < 0)
    fail("--prefill " + std::to_string(prefill) + ": must be non-negative (omit it to prefill all ids)");
  // The KV cache must hold every position of the run; a smaller --ctx used to be raised silently.
  if (p.given("--ctx") && (rs.ctx < 1 || rs.ctx < n))
    fail("--ctx " + std::to_string(rs.ctx) + ": the KV cache must hold all " + std::to_string(n) +
         " positions of the run (omit --ctx to size it to the run)");
  if (top < 1) fail("--top " + std::to_string(top) + ": must be at least 1");
  if (prefill > n)
    fail("--prefill " + std::to_string(prefill) + " exceeds the " + std::to_string(n) + " ids given");
  if (prefill < 0) prefill = n;  // default: prefill everything
  if (prefill == 0) prefill = 1;  // decode-only: the first token is a one-token call either way

  Stopwatch load_sw;
  rs.load(n);
  Model& m = *rs.model;
  const ModelConfig& c = m.config();
  const double load_s = load_sw.seconds();

  std::unique_ptr<DumpWriter> writer;
  Observer obs;
  // Rank 0 writes the dump; the other ranks observe too (a no-op observer) so that a tensor
  // gathered over the TP group for the dump (per-head tensors under --tp) is gathered by all.
  Observer quiet_obs = [](const TensorEvent&) {};
  const bool rank_observes = !dump.empty() && !output_rank();
  if (!dump.empty() && output_rank()) {
    DumpMeta meta;
    meta.producer = "dsv32 run";
    meta.version = kVersion;
    meta.git_commit = git_commit();
    meta.attn = to_string(m.options().attn);
    meta.mla = to_string(m.options().mla);
    meta.numerics = m.options().numerics.c_str();
    meta.config_json = c.json_text;
    meta.ids = rs.ids;
    meta.prefill = prefill;
    DumpOptions dopt;
    dopt.filter_regex = dump_filter;
    if (!dump_positions.empty()) dopt.positions = parse_positions(dump_positions);
    writer = std::make_unique<DumpWriter>(dump, meta, dopt, n);
    obs = [&](const TensorEvent& e) { writer->observe(e); };
  }

  const int64_t V = c.vocab_size;
  std::vector<float> logits(n * V);
  std::vector<int32_t> ids32(rs.ids.begin(), rs.ids.end());
  Stopwatch pf_sw;
  const Observer* o = writer ? &obs : rank_observes ? &quiet_obs : nullptr;
  m.forward(ids32.data(), prefill, 0, logits.data(), o);
  const double prefill_s = pf_sw.seconds();
  Stopwatch dec_sw;
  std::unique_ptr<Progress> bar;
  if (!quiet && n - prefill > 16) bar = std::make_unique<Progress>("decode", n - prefill);
  for (int64_t t = prefill; t < n; ++t) {
    m.forward(&ids32[t], 1, t, &logits[t * V], o);
    if (bar) bar->update(t - prefill + 1);
  }
  const double decode_s = dec_sw.seconds();
  if (writer) writer->close();

  if (!quiet) {
    std::printf("%6s %8s  %s\n", "pos", "id", "top next tokens (id:logit)  [nll of the actual next id]");
    for (int64_t t = 0; t < n; ++t) {
      const float* row = &logits[t * V];
      std::printf("%6lld %8d ", (long long)t, ids32[t]);
      for (auto& [id, v] : top_n(row, V, top)) std::printf(" %6d:%-8.3f", id, v);
      if (t + 1 < n) std::printf("  [%.3f]", -row_stats(row, V).logp(row, ids32[t + 1]));
      std::printf("\n");
    }
  }
  KvBytes kv = kv_cache_bytes(c, m.options().mla, m.options().attn);
  std::printf("model   %s: %s, %d layers, hidden %lld, weights %s (%.1f MiB)\n", rs.model_dir.c_str(),
              c.architecture.c_str(), c.n_layers, (long long)c.hidden_size,
              m.weights().dtype_summary.c_str(), double(m.weights().weight_bytes) / (1 << 20));
  std::printf("mode    attn %s, mla %s, numerics %s, threads %d\n", to_string(m.options().attn),
              to_string(m.options().mla), m.options().numerics.c_str(), m.options().threads);
  if (m.options().device == Device::kCuda)
    std::printf("device  %s\n", m.device_name().c_str());
  std::printf("load    %.3f s\n", load_s);
  std::printf("prefill %lld tokens in %.3f s = %.1f tokens/s\n", (long long)prefill, prefill_s,
              prefill / std::max(prefill_s, 1e-9));
  if (n > prefill)
    std::printf("decode  %lld tokens in %.3f s = %.1f tokens/s\n", (long long)(n - prefill), decode_s,
                (n - prefill) / std::max(decode_s, 1e-9));
  std::printf("kv      %lld bytes/token (this harness, fp32: MLA %lld + indexer %lld per layer); "
              "deployed bf16/fp8 layout %lld bytes/token\n",
              (long long)kv.per_token, (long long)kv.mla_per_layer, (long long)kv.indexer_per_layer,
              (long long)kv.deployed_per_token);
  if (m.options().parallel == Parallel::kEp) {
    const RankLayout l = rank_layout(current_world(), m.options().tp, m.options().ep);
    std::printf("ranks   %d (expert-parallel over %d: %d routed experts split in contiguous blocks; "
                "tensor-parallel over %d: %d heads split)\n",
                l.world, l.ep, c.n_routed_experts, l.tp, c.n_heads);
  }
  if (!dump.empty()) std::printf("dump    %s\n", dump.c_str());
  return 0;
}

const Command kCmd{"run", "prefill + decode on a checkpoint; top-5, timing, --dump activations", &run};

}  // namespace
}  // namespace dsv32::app
