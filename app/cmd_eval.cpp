// dsv32 eval: the main job. On the built-in default -- the trained tiny DeepSeek V3.2 committed in
// datasets/model/tiny-v32 (scripts/train_tiny.py, installed by scripts/install_trained_model.sh)
// and the held-out Jargon text datasets/data/corpus/heldout/jargon.txt; without that checkpoint,
// with a warning, the synthetic tiny preset (random weights, synthesized on first use into
// .cache/models) -- or on --model/--text, it
//   1. runs the four modes with activation dumps and verifies each against the float64 PyTorch
//      reference (reference/run.py) with `dsv32 verify`;
//   2. measures PPL and KL divergence of the four modes on the text (`dsv32 ppl --compare`);
//   2b. (models with an indexer) the DSA questions, on `--ppl-tokens` tokens per context length:
//      dense vs sparse PPL and KLD at each --dsa-ctx; PPL against index_topk at --curve-ctx; the
//      REF-1 cost and a random indexer of the same shape at the first ctx >= 8 x index_topk
//      (`dsv32 ppl --modes`), with the add-one unigram PPL of the training split on the same
//      tokens; the indexer's recall per layer (`dsv32 recall`);
//   3. measures throughput (`dsv32 bench`) and, when bench_ops is built, per-op fraction of peak;
//   4. records everything in the history and writes the report page.
// Every step writes its result file under OUT/results; a rerun skips steps whose result exists
// (interrupting loses nothing finished; the ppl step also resumes mid-way). --fresh redoes all.
// Under mpirun (--parallel ep, --tp, --ep) the forward-pass steps run over the ranks and rank 0
// alone does the rest and writes every file (README "Running over ranks").
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "app/run_setup.h"
#include "kernels/error.h"
#include "model/synth.h"
#include "model/weights.h"
#include "model/tokenizer/tokenizer.h"

namespace dsv32::app {
namespace {
namespace fs = std::filesystem;

int call_command(const char* name, const std::vector<std::string>& args) {
  for (auto* c : commands())
    if (std::string(c->name) == name) return c->fn(args);
  fail(std::string("internal: no command ") + name);
}

std::string join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

struct Step {
  std::string name;
  bool ok = true;
  std::string note;
};

int run(const std::vector<std::string>& args) {
  const std::string src = DSV32_SOURCE_DIR;
  std::string model, text, out = "reports/latest", history = "reports/history.sqlite", tok_path;
  int threads = 2, n_verify = 80;
  int64_t ctx = 0, chunks = 8, ppl_tokens = 2048, curve_ctx = 1024, recall_ctx = 1024, index_topk = 0;
  std::string dsa_ctx_text = "512,1024,2048", curve_text = "8,16,32,64,128,256", unigram;
  bool fresh = false, no_reference = false, no_bench = false, no_dsa = false;
  ArgParser p("eval",
              "The main job: verify the four modes against the float64 reference, measure PPL/KLD and\n"
              "throughput, answer the DSA questions (dense vs sparse, index_topk, indexer recall, REF-1 cost,\n"
              "random indexer), record the history and write OUT/index.html. With no options it runs on the\n"
              "built-in default: the trained tiny checkpoint datasets/model/tiny-v32 and held-out text (without\n"
              "that checkpoint, with a warning, the synthetic tiny preset, made on first use).");
  p.add("--model", &model, "DIR",
        "checkpoint (default: datasets/model/tiny-v32; if absent .cache/models/tiny-fp8, synthesized)");
  p.add("--text", &text, "FILE", "evaluation text (default: datasets/data/corpus/heldout/jargon.txt)");
  p.add("--tokenizer", &tok_path, "PATH", "tokenizer.json (default: the cached DeepSeek tokenizer)");
  p.add("--out", &out, "DIR", "report directory (results in DIR/results)");
  p.add("--history", &history, "DB", "SQLite history to record into");
  p.add("--threads", &threads, "T", "worker threads");
  DeviceChoice dev;  // --device, --numerics: passed on to run, ppl and bench
  dev.add_options(p);
  p.add("--ctx", &ctx, "N", "ppl chunk length (default: 2 x index_topk, so sparse attention selects)");
  p.add("--chunks", &chunks, "K", "ppl chunks");
  p.add("--verify-tokens", &n_verify, "N", "tokens of the verify runs (prefill half, decode the rest)");
  p.add("--dsa-ctx", &dsa_ctx_text, "LIST", "DSA steps: context lengths of the dense vs sparse comparison");
  p.add("--ppl-tokens", &ppl_tokens, "N", "DSA steps: tokens per context length (chunks = N / ctx, at least 1)");
  p.add("--curve-ctx", &curve_ctx, "N", "DSA steps: the ctx of the PPL-against-index_topk curve");
  p.add("--curve-topk", &curve_text, "LIST", "DSA steps: the index_topk values of the curve (and of recall)");
  p.add("--recall-ctx", &recall_ctx, "N", "DSA steps: the ctx of the indexer recall measurement");
  p.add("--index-topk", &index_topk, "K", "index_topk of every sparse run (default: config.json's)");
  p.add("--unigram-from", &unigram, "PATH", "training text for the unigram baseline (default: datasets/data/corpus/train)");
  p.add_flag("--no-dsa", &no_dsa, "skip the DSA steps");
  p.add_flag("--no-reference", &no_reference, "skip the PyTorch reference comparison");
  p.add_flag("--no-bench", &no_bench, "skip throughput measurements");
  p.add_flag("--fresh", &fresh, "redo every step (default: keep finished results)");
  if (!p.parse(args)) return 0;
  ModelOptions dev_opt;
  dev.apply(dev_opt);  // bad --device / --numerics / --tp / --ep values fail here, before any step
  // Under mpirun (README "Running over ranks") every rank runs the steps that run a forward pass
  // over the ranks (run, ppl, bench) with the same arguments, and rank 0 alone everything else:
  // the reference and verify, recall (one process), bench_ops, the report and the history, and
  // every file. Which steps run is rank 0's decision (its result files), broadcast, so the ranks
  // enter the same collectives even when they do not share a file system.
  const bool writer = output_rank();
  auto rank0 = [](bool v) { return world_broadcast(v ? 1 : 0, true) != 0; };
  auto with_device = [&](std::vector<std::string> a) {
    for (const std::string& x : dev.args()) a.push_back(x);
    return a;
  };

  if (p.given("--index-topk") && index_topk < 1)
    fail("--index-topk: must be at least 1 (got " + std::to_string(index_topk) + ")");
  if (ppl_tokens < 4) fail("--ppl-tokens: must be at least 4");
  const std::vector<int64_t> dsa_ctx = parse_int_list(dsa_ctx_text, "--dsa-ctx"), curve_k = parse_int_list(curve_text, "--curve-topk");
  for (int64_t k : curve_k)
    if (k < 1) fail("--curve-topk: " + std::to_string(k) + " must be at least 1");
  for (int64_t c : dsa_ctx)
    if (c < 4) fail("--dsa-ctx: " + std::to_string(c) + " must be at least 4");
  if (curve_ctx < 4 || recall_ctx < 4) fail(std::string(curve_ctx < 4 ? "--curve-ctx" : "--recall-ctx") + ": must be at least 4");
  const std::string trained = src + "/" + kTrainedModelDir;
  if (model.empty() && fs::exists(trained + "/config.json")) {
    model = trained;
  } else if (model.empty()) {
    if (writer) std::fprintf(stderr, "eval: warning: no trained model in %s (scripts/install_trained_model.sh installs one); "
                 "falling back to the synthetic tiny preset -- random weights, so PPL/KL/recall show mechanics only\n",
                 trained.c_str());
    model = src + "/.cache/models/tiny-fp8";
    if (writer && !fs::exists(model + "/config.json")) {
      std::fprintf(stderr, "eval: synthesizing the default tiny checkpoint into %s\n", model.c_str());
      SynthOptions o;
      const std::string tmp = model + ".tmp" + std::to_string(getpid());
      synth_checkpoint(o, tmp);
      fs::remove_all(model);
      fs::rename(tmp, model);
    }
    rank0(true);  // the other ranks read the checkpoint once rank 0 has made it
  }
  if (text.empty()) {
    text = src + "/datasets/data/corpus/heldout/jargon.txt";
    if (writer && !fs::exists(text) && std::system((quote(src + "/datasets/prepare.sh") + " >/dev/null").c_str()) != 0)
      fail(text + ": missing and datasets/prepare.sh failed (see its message)");
    rank0(true);
  }
  if (tok_path.empty()) tok_path = default_tokenizer_path(src);
  const ModelConfig cfg = load_config(model + "/config.json");
  if (writer) std::fprintf(stderr, "eval: model %s, text %s\n", model.c_str(), text.c_str());
  if (index_topk > 0 && !cfg.has_indexer) fail("--index-topk: " + cfg.source + " has no lightning indexer");
  const int64_t topk = index_topk > 0 ? index_topk : cfg.index_topk;
  std::vector<std::string> topk_arg;
  if (index_topk > 0) topk_arg = {"--index-topk", std::to_string(index_topk)};
  if (ctx == 0) ctx = cfg.has_indexer ? std::max<int64_t>(2 * topk, 64) : 256;
  const std::string res = out + "/results";
  if (fresh && writer) fs::remove_all(res);
  if (writer) fs::create_directories(res);
  std::vector<Step> steps;
  auto done = [&](const std::string& f) { return rank0(writer && fs::exists(res + "/" + f)); };
  auto step = [&](const std::string& name, auto&& body) {
    if (writer) std::fprintf(stderr, "\n== eval: %s\n", name.c_str());
    Step s{name, true, ""};
    try {
      int rc = body();
      if (rc != 0) { s.ok = false; s.note = "exit " + std::to_string(rc); }
    } catch (const Error& e) {
      s.ok = false;
      s.note = e.what();
      std::fprintf(stderr, "eval: %s failed: %s\n", name.c_str(), e.what());
    }
    steps.push_back(s);
  };

  // 1. Verify each mode against the reference on the first n_verify tokens of the text.
  if (!no_reference) {
    Tokenizer tok = Tokenizer::load(tok_path);
    std::vector<int32_t> ids = tok.encode(read_text_file(text), false);
    if (int64_t(ids.size()) < n_verify) fail(text + ": fewer than " + std::to_string(n_verify) + " tokens");
    ids.resize(n_verify);
    if (tok.bos_id() >= 0) ids.insert(ids.begin(), tok.bos_id()), ids.pop_back();
    const std::string id_list = join(ids), prefill = std::to_string(n_verify / 2);
    for (const char* attn : {"dense", "sparse"}) {
      if (std::string(attn) == "sparse" && !cfg.has_indexer) continue;
      for (const char* mla : {"naive", "absorbed"}) {
        const std::string mode = std::string(attn) + "_" + mla, vj = "verify_" + mode + ".json";
        if (done(vj)) { if (writer) std::fprintf(stderr, "eval: verify %s: kept %s/%s\n", mode.c_str(), res.c_str(), vj.c_str()); continue; }
        step("verify " + mode, [&] {
          const std::string ref = res + "/ref_" + mode + ".h5", cpp = res + "/cpp_" + mode + ".h5";
          call_command("run", with_device({"--model", model, "--ids", id_list, "--prefill", prefill, "--attn", attn,
                                           "--mla", mla, "--threads", std::to_string(threads), "--quiet", "--dump", cpp}));
          if (!writer) return 0;  // rank 0 wrote the dump (gathered over the ranks) and checks it
          std::string cmd = "/usr/bin/python3 " + quote(src + "/reference/run.py") + " --model " + quote(model) +
                            " --ids " + id_list + " --prefill " + prefill + " --attn " + attn + " --mla " + mla +
                            " --numerics " + (dev_opt.numerics == "ref1" ? "ref1" : "exact") + " --threads " + std::to_string(threads) +
                            " --dump " + quote(ref) + " >/dev/null";
          if (std::system(cmd.c_str()) != 0) fail("reference/run.py failed for " + mode + " (run it by hand to see why)");
          // The reference runs REF-1 too (ref1), else float64 (exact); the profile's own row names the
          // verify profile (GPU GEMMs below fp32 are judged by the bf16 one).
          const std::string profile = numerics_profile(dev_opt.numerics).verify_profile;
          int rc = call_command("verify", {ref, cpp, "--quiet", "--profile", profile, "--json", res + "/" + vj + ".tmp"});
          fs::rename(res + "/" + vj + ".tmp", res + "/" + vj);
          fs::remove(ref);
          fs::remove(cpp);
          return rc;
        });
      }
    }
  }
  // 2. PPL / KLD of the four modes (resumable through its own state file).
  if (!done("ppl.json"))
    step("ppl --compare", [&] {
      std::vector<std::string> a{"--model", model, "--text", text, "--tokenizer", tok_path, "--ctx",
                                 std::to_string(ctx), "--chunks", std::to_string(chunks), "--compare",
                                 "--threads", std::to_string(threads), "--json", res + "/ppl.json", "--resume-if-any"};
      a.insert(a.end(), topk_arg.begin(), topk_arg.end());
      return call_command("ppl", with_device(a));
    });
  // 2b. The DSA questions (models with an indexer).
  if (cfg.has_indexer && !no_dsa) {
    if (unigram.empty() && fs::is_directory(src + "/datasets/data/corpus/train")) unigram = src + "/datasets/data/corpus/train";
    const int64_t n_tokens = int64_t(Tokenizer::load(tok_path).encode(read_text_file(text), false).size()) + 1;
    // The first ctx of the list with ctx >= 8 x index_topk gets the trade-off variants (DSA pays only
    // well beyond index_topk); the curve ctx gets the index_topk variants.
    int64_t tradeoff_ctx = 0;
    for (int64_t c : dsa_ctx)
      if (c >= 8 * topk && (tradeoff_ctx == 0 || c < tradeoff_ctx)) tradeoff_ctx = c;
    std::vector<int64_t> all_ctx = dsa_ctx;
    if (std::find(all_ctx.begin(), all_ctx.end(), curve_ctx) == all_ctx.end()) all_ctx.push_back(curve_ctx);
    bool unigram_done = false;
    for (int64_t c : all_ctx) {
      const std::string f = "dsa_ctx" + std::to_string(c) + ".json";
      if (c > cfg.max_position_embeddings || c > n_tokens) {
        if (writer) std::fprintf(stderr, "eval: DSA ctx %lld skipped: %s\n", (long long)c,
                     c > n_tokens ? "the text is shorter than one chunk" : "beyond max_position_embeddings");
        continue;
      }
      std::string modes = "dense/absorbed,sparse/absorbed";
      if (c == tradeoff_ctx) {
        modes += ",sparse/absorbed:random-indexer";
        // REF-1 beside the exact profile; not under --tp (tensor parallelism runs the exact profile only).
        if (dev_opt.device == Device::kCpu && dev_opt.numerics == "exact" && dev_opt.tp == 1) modes += ",dense/absorbed:ref1";
      }
      if (c == curve_ctx)
        for (int64_t k : curve_k)
          if (k != topk) modes += ",sparse/absorbed:k" + std::to_string(k);
      const bool with_unigram = !unigram_done && !unigram.empty();
      unigram_done |= with_unigram;
      if (done(f)) continue;
      step("ppl DSA ctx " + std::to_string(c), [&] {
        std::vector<std::string> a{"--model", model, "--text", text, "--tokenizer", tok_path, "--ctx", std::to_string(c),
                                   "--chunks", std::to_string(std::max<int64_t>(1, ppl_tokens / c)), "--modes", modes,
                                   "--threads", std::to_string(threads), "--json", res + "/" + f, "--resume-if-any",
                                   "--quiet"};
        a.insert(a.end(), topk_arg.begin(), topk_arg.end());
        if (with_unigram) a.insert(a.end(), {"--unigram-from", unigram});
        return call_command("ppl", with_device(a));
      });
    }
    if (!done("recall.json") && recall_ctx <= n_tokens && recall_ctx <= cfg.max_position_embeddings && writer)
      step("recall ctx " + std::to_string(recall_ctx), [&] {
        std::string ks;
        for (int64_t k : curve_k) ks += (ks.empty() ? "" : ",") + std::to_string(k);
        if (std::find(curve_k.begin(), curve_k.end(), topk) == curve_k.end()) ks += "," + std::to_string(topk);
        return call_command("recall", {"--model", model, "--text", text, "--tokenizer", tok_path, "--ctx",
                                       std::to_string(recall_ctx), "--chunks",
                                       std::to_string(std::max<int64_t>(1, ppl_tokens / recall_ctx)), "--topk", ks,
                                       "--threads", std::to_string(threads), "--json", res + "/recall.json", "--quiet"});
      });
  }
  // 3. Throughput, and per-op fraction of peak when bench_ops sits next to this binary.
  if (!no_bench && !done("bench.json"))
    step("bench", [&] {
      return call_command("bench", with_device({"--model", model, "--threads", std::to_string(threads), "--reps", "3",
                                                "--json", res + "/bench.json"}));
    });
  const fs::path ops_bin = fs::read_symlink("/proc/self/exe").parent_path() / "bench_ops";
  if (!no_bench && !done("ops.json") && fs::exists(ops_bin) && writer)
    step("bench_ops (tiny shapes)", [&] {
      std::string cmd = quote(ops_bin.string()) + " --benchmark_filter=tiny --benchmark_repetitions=3" +
                        " --benchmark_out=" + quote(res + "/ops.json.tmp") + " --benchmark_out_format=json >/dev/null";
      int rc = std::system(cmd.c_str());
      if (rc == 0) fs::rename(res + "/ops.json.tmp", res + "/ops.json");
      return rc == 0 ? 0 : 1;
    });
  // 4. History and report (rank 0; the others are done).
  if (!writer) {
    bool ok = true;
    for (auto& s : steps) ok &= s.ok;
    return ok ? 0 : 1;
  }
  std::vector<std::string> rargs;
  for (auto& e : fs::directory_iterator(res))
    if (e.path().extension() == ".json") rargs.push_back(e.path().string());
  std::sort(rargs.begin(), rargs.end());
  for (const char* a : {"--dir", out.c_str(), "--record", "--history", history.c_str(), "--title", "dsv32 eval"})
    rargs.push_back(a);
  step("report", [&] { return call_command("report", rargs); });

  std::printf("\n%-28s %s\n", "step", "result");
  bool all_ok = true;
  for (auto& s : steps) {
    std::printf("%-28s %s%s%s\n", s.name.c_str(), s.ok ? "ok" : "FAILED", s.note.empty() ? "" : ": ", s.note.c_str());
    all_ok &= s.ok;
  }
  std::printf("report: %s\n", fs::absolute(out + "/index.html").c_str());
  return all_ok ? 0 : 1;
}

const Command kCmd{"eval", "the main job: verify, PPL/KLD, throughput, history and report", &run};

}  // namespace
}  // namespace dsv32::app
