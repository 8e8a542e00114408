// dsv32 eval: the main job. On the built-in default (the tiny preset, synthesized on first use and
// cached in .cache/models, and datasets/data/default.txt) or on --model/--text, it
//   1. runs the four modes with activation dumps and verifies each against the float64 PyTorch
//      reference (reference/run.py) with `dsv32 verify`;
//   2. measures PPL and KL divergence of the four modes on the text (`dsv32 ppl --compare`);
//   3. measures throughput (`dsv32 bench`) and, when bench_ops is built, per-op fraction of peak;
//   4. records everything in the history and writes the report page.
// Every step writes its result file under OUT/results; a rerun skips steps whose result exists
// (interrupting loses nothing finished; the ppl step also resumes mid-way). --fresh redoes all.
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
  int64_t ctx = 0, chunks = 8;
  bool fresh = false, no_reference = false, no_bench = false;
  ArgParser p("eval",
              "The main job: verify the four modes against the float64 reference, measure PPL/KLD and\n"
              "throughput, record the history and write OUT/index.html. With no options it runs on the\n"
              "built-in default: the tiny synthetic checkpoint (made on first use) and the default text.");
  p.add("--model", &model, "DIR", "checkpoint (default: .cache/models/tiny-fp8, synthesized if missing)");
  p.add("--text", &text, "FILE", "evaluation text (default: datasets/data/default.txt)");
  p.add("--tokenizer", &tok_path, "PATH", "tokenizer.json (default: the cached DeepSeek tokenizer)");
  p.add("--out", &out, "DIR", "report directory (results in DIR/results)");
  p.add("--history", &history, "DB", "SQLite history to record into");
  p.add("--threads", &threads, "T", "worker threads");
  DeviceChoice dev;  // --device, --numerics: passed on to run, ppl and bench
  dev.add_options(p);
  p.add("--ctx", &ctx, "N", "ppl chunk length (default: 2 x index_topk, so sparse attention selects)");
  p.add("--chunks", &chunks, "K", "ppl chunks");
  p.add("--verify-tokens", &n_verify, "N", "tokens of the verify runs (prefill half, decode the rest)");
  p.add_flag("--no-reference", &no_reference, "skip the PyTorch reference comparison");
  p.add_flag("--no-bench", &no_bench, "skip throughput measurements");
  p.add_flag("--fresh", &fresh, "redo every step (default: keep finished results)");
  if (!p.parse(args)) return 0;
  // eval also runs the Python reference and writes its report directory: one process only.
  if (parse_parallel(dev.parallel) != Parallel::kNone)
    fail("--parallel: eval runs in one process (under mpirun, run `dsv32 run`, `ppl` and `bench` instead)");
  ModelOptions dev_opt;
  dev.apply(dev_opt);  // bad --device / --numerics values fail here, before any step
  auto with_device = [&](std::vector<std::string> a) {
    for (const std::string& x : dev.args()) a.push_back(x);
    return a;
  };

  if (model.empty()) {
    model = src + "/.cache/models/tiny-fp8";
    if (!fs::exists(model + "/config.json")) {
      std::fprintf(stderr, "eval: synthesizing the default tiny checkpoint into %s\n", model.c_str());
      SynthOptions o;
      const std::string tmp = model + ".tmp" + std::to_string(getpid());
      synth_checkpoint(o, tmp);
      fs::remove_all(model);
      fs::rename(tmp, model);
    }
  }
  if (text.empty()) {
    text = src + "/datasets/data/default.txt";
    if (!fs::exists(text) && std::system((quote(src + "/datasets/prepare.sh") + " >/dev/null").c_str()) != 0)
      fail(text + ": missing and datasets/prepare.sh failed (see its message)");
  }
  if (tok_path.empty()) tok_path = default_tokenizer_path(src);
  const ModelConfig cfg = load_config(model + "/config.json");
  if (ctx == 0) ctx = cfg.has_indexer ? std::max<int64_t>(2 * cfg.index_topk, 64) : 256;
  const std::string res = out + "/results";
  if (fresh) fs::remove_all(res);
  fs::create_directories(res);
  std::vector<Step> steps;
  auto done = [&](const std::string& f) { return fs::exists(res + "/" + f); };
  auto step = [&](const std::string& name, auto&& body) {
    std::fprintf(stderr, "\n== eval: %s\n", name.c_str());
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
        if (done(vj)) { std::fprintf(stderr, "eval: verify %s: kept %s/%s\n", mode.c_str(), res.c_str(), vj.c_str()); continue; }
        step("verify " + mode, [&] {
          const std::string ref = res + "/ref_" + mode + ".h5", cpp = res + "/cpp_" + mode + ".h5";
          call_command("run", with_device({"--model", model, "--ids", id_list, "--prefill", prefill, "--attn", attn,
                                           "--mla", mla, "--threads", std::to_string(threads), "--quiet", "--dump", cpp}));
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
      return call_command("ppl", with_device({"--model", model, "--text", text, "--tokenizer", tok_path, "--ctx",
                                              std::to_string(ctx), "--chunks", std::to_string(chunks), "--compare",
                                              "--threads", std::to_string(threads), "--json", res + "/ppl.json",
                                              "--resume-if-any"}));
    });
  // 3. Throughput, and per-op fraction of peak when bench_ops sits next to this binary.
  if (!no_bench && !done("bench.json"))
    step("bench", [&] {
      return call_command("bench", with_device({"--model", model, "--threads", std::to_string(threads), "--reps", "3",
                                                "--json", res + "/bench.json"}));
    });
  const fs::path ops_bin = fs::read_symlink("/proc/self/exe").parent_path() / "bench_ops";
  if (!no_bench && !done("ops.json") && fs::exists(ops_bin))
    step("bench_ops (tiny shapes)", [&] {
      std::string cmd = quote(ops_bin.string()) + " --benchmark_filter=tiny --benchmark_repetitions=3" +
                        " --benchmark_out=" + quote(res + "/ops.json.tmp") + " --benchmark_out_format=json >/dev/null";
      int rc = std::system(cmd.c_str());
      if (rc == 0) fs::rename(res + "/ops.json.tmp", res + "/ops.json");
      return rc == 0 ? 0 : 1;
    });
  // 4. History and report.
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
