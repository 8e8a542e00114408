// dsv32 recall: the lightning indexer's recall per layer (model/recall.h, MODEL §7.11) on a text,
// chunked as `dsv32 ppl` chunks it: the share of the dense head-averaged attention that the
// indexer's top-k keys hold, for several k at once, averaged over the scored queries (the second
// half of every chunk, the positions ppl scores).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "kernels/error.h"
#include "model/recall.h"
#include "model/tokenizer/tokenizer.h"
#include "verify/llama_kld.h"

namespace dsv32::app {
namespace {

using nlohmann::json;

int run(const std::vector<std::string>& args) {
  std::string model_dir, text_path, tok_path, topk_text, json_out;
  int64_t ctx = 512, max_chunks = 2;
  int threads = 2;
  bool quiet = false;
  ArgParser p("recall",
              "The lightning indexer's recall per layer: for each query, the share of the dense attention\n"
              "(softmax per head, averaged over heads) that the indexer's top-k keys hold; averaged over\n"
              "the second half of every --ctx chunk of the text (the tokens ppl scores). One dense run\n"
              "gives every k (the selection is re-ranked from the indexer scores with the forward pass's\n"
              "tie rule).");
  p.add("--model", &model_dir, "DIR", "checkpoint directory (with a lightning indexer)", true);
  p.add("--text", &text_path, "FILE", "UTF-8 text", true);
  p.add("--tokenizer", &tok_path, "PATH", "tokenizer.json (default: the cached DeepSeek V3 tokenizer)");
  p.add("--ctx", &ctx, "N", "tokens per chunk");
  p.add("--chunks", &max_chunks, "K", "chunks (0: all that fit)");
  p.add("--topk", &topk_text, "LIST", "k values, comma-separated (default: 8,16,...,256 up to ctx/2, and index_topk)");
  p.add("--threads", &threads, "T", "worker threads");
  p.add("--json", &json_out, "OUT", "write the result (reports/RESULTS.md, kind recall)");
  p.add_flag("--quiet", &quiet, "no progress bar");
  if (!p.parse(args)) return 0;
  if (ctx < 4) fail("--ctx: must be at least 4");
  if (max_chunks < 0) fail("--chunks: must be at least 0");
  if (threads < 1) fail("--threads: must be at least 1");
  if (tok_path.empty()) tok_path = default_tokenizer_path(DSV32_SOURCE_DIR);

  auto probe = load_config(model_dir + "/config.json");
  if (!probe.has_indexer) fail(model_dir + "/config.json: architecture " + probe.architecture + " has no lightning indexer");
  if (ctx > probe.max_position_embeddings)
    fail("--ctx: " + std::to_string(ctx) + " exceeds max_position_embeddings " + std::to_string(probe.max_position_embeddings));
  std::vector<int64_t> ks;
  if (topk_text.empty()) {
    for (int64_t k = 8; k <= ctx / 2; k *= 2) ks.push_back(k);
    if (probe.index_topk < ctx) ks.push_back(probe.index_topk);
  } else {
    ks = parse_int_list(topk_text, "--topk");
  }
  for (int64_t k : ks)
    if (k < 1) fail("--topk: " + std::to_string(k) + " must be at least 1");
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  if (ks.empty()) fail("--topk: no k values");

  Tokenizer tok = Tokenizer::load(tok_path);
  const std::vector<int32_t> toks = tok.encode(read_text_file(text_path), false);
  const ChunkPlan plan = plan_chunks(toks, tok.bos_id(), ctx, max_chunks, false);
  if (plan.n_chunks < 1)
    fail(text_path + ": " + std::to_string(plan.stream.size()) + " tokens, fewer than one chunk of --ctx " + std::to_string(ctx));
  // index_topk = ctx: the selection is every causal key, so attention is exactly dense (MODEL §7.8).
  WeightOverrides ov;
  ov.index_topk = ctx;
  ov.what = "--ctx";
  ModelOptions o{AttnMode::kSparse, MlaMode::kNaive, ctx, threads};
  Model m(load_weights(model_dir, ov), o);
  const ModelConfig& c = m.config();
  for (int64_t i = 0; i < plan.n_chunks * ctx; ++i)
    if (plan.stream[i] >= c.vocab_size) fail(tok_path + ": token id " + std::to_string(plan.stream[i]) + " exceeds the vocabulary");
  const int64_t q0 = plan.first();
  std::vector<std::vector<double>> sum(size_t(c.n_layers), std::vector<double>(ks.size(), 0.0));
  std::unique_ptr<Progress> bar;
  if (!quiet) bar = std::make_unique<Progress>("recall", plan.n_chunks);
  Stopwatch sw;
  for (int64_t ci = 0; ci < plan.n_chunks; ++ci) {
    const std::vector<int32_t> chunk = plan.chunk(ci);
    auto part = chunk_recall(m, chunk.data(), ctx, q0, ks);
    for (size_t l = 0; l < sum.size(); ++l)
      for (size_t i = 0; i < ks.size(); ++i) sum[l][i] += part[l][i];
    if (bar) bar->update(ci + 1);
  }
  if (bar) bar->finish();
  const int64_t queries = plan.n_chunks * (ctx - q0);
  json layers = json::array();
  std::printf("indexer recall (share of dense attention in the top-k), %lld chunks x %lld, %lld queries per layer\n",
              (long long)plan.n_chunks, (long long)ctx, (long long)queries);
  std::printf("%-6s", "layer");
  for (int64_t k : ks) std::printf(" %8s", ("k=" + std::to_string(k)).c_str());
  std::printf("\n");
  for (size_t l = 0; l < sum.size(); ++l) {
    std::vector<double> r;
    std::printf("%-6zu", l);
    for (size_t i = 0; i < ks.size(); ++i) {
      r.push_back(sum[l][i] / double(queries));
      std::printf(" %8.4f", r.back());
    }
    std::printf("\n");
    layers.push_back({{"layer", l}, {"recall", r}});
  }
  if (json_out.empty()) return 0;
  json out = {{"schema_version", 1}, {"kind", "recall"},
              {"context", {{"git_commit", git_commit()}, {"time", utc_now()}, {"producer", "dsv32 recall"},
                           {"version", kVersion}, {"model", model_dir}, {"device", "cpu"}, {"numerics", "exact"}}},
              {"ctx", ctx}, {"chunks", plan.n_chunks}, {"text", text_path}, {"queries_per_layer", queries},
              {"first_query", q0}, {"index_topk", probe.index_topk}, {"topk", ks}, {"layers", layers},
              {"seconds", sw.seconds()}};
  std::ofstream f(json_out + ".tmp");
  f << out.dump(2) << "\n";
  if (!f || (f.close(), std::rename((json_out + ".tmp").c_str(), json_out.c_str()) != 0)) fail(json_out + ": cannot write");
  std::printf("json %s\n", json_out.c_str());
  return 0;
}

const Command kCmd{"recall", "the lightning indexer's recall of the dense attention, per layer and k", &run};

}  // namespace
}  // namespace dsv32::app
