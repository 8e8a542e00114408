// dsv32 ppl: perplexity and KL divergence on real text (llama.cpp's method, see verify/ppl.h),
// one mode or the four modes side by side (--compare). Resumable: every finished chunk is appended
// to a state file (JSON lines, fsync'd) before the next starts; --resume continues from it.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "app/ppl_variants.h"
#include "app/run_setup.h"
#include "kernels/error.h"
#include "model/model.h"
#include "model/tokenizer/tokenizer.h"
#include "verify/llama_kld.h"
#include "verify/logits_store.h"
#include "verify/ppl.h"

namespace dsv32::app {
namespace {

using nlohmann::json;

struct ModeRun {
  PplVariant v;
  std::unique_ptr<Model> model;
  TokenLog log;
  double seconds = 0;
  int64_t tokens = 0;  // tokens processed (prefilled), for tokens/s
  const std::string& name() const { return v.label; }
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

json chunk_record(int64_t chunk, const std::vector<TokenLog>& logs, const std::vector<double>& secs, int64_t ctx) {
  json runs = json::array();
  for (size_t r = 0; r < logs.size(); ++r)
    runs.push_back({{"nll", logs[r].nll}, {"kld", logs[r].kld}, {"dp", logs[r].dp},
                    {"base_nll", logs[r].base_nll}, {"same_top1", logs[r].same_top1},
                    {"seconds", secs[r]}, {"tokens", ctx}});
  return {{"chunk", chunk}, {"runs", runs}};
}

// What a finished chunk's record must hold; the state file is input like any other file.
struct RecordShape {
  size_t runs = 0;
  int64_t per_chunk = 0, ctx = 0, n_chunks = 0;
  bool with_kl = false;  // kld/dp/base_nll hold per_chunk values (else none)
};

const json& field(const json& obj, const char* key, const std::string& w) {
  if (!obj.is_object()) fail(w + ": not a JSON object");
  auto it = obj.find(key);
  if (it == obj.end()) fail(w + ": key '" + key + "' missing");
  return *it;
}

// JSON has no NaN or infinity: nlohmann writes them as null, so null reads back as NaN.
// nonneg: the values are negative log-probabilities, so each is >= 0 and finite as a float (null is
// a NaN the run itself produced); anything else is not what this program wrote.
std::vector<float> float_array(const json& obj, const char* key, size_t expect, const std::string& w,
                               bool nonneg = false) {
  const json& a = field(obj, key, w);
  if (!a.is_array() || a.size() != expect)
    fail(w + ": '" + key + "' must be an array of " + std::to_string(expect) + " numbers");
  std::vector<float> v;
  v.reserve(expect);
  for (const json& x : a) {
    if (x.is_null()) v.push_back(NAN);
    else if (x.is_number()) v.push_back(x.get<float>());
    else fail(w + ": '" + key + "' holds a non-number");
    if (nonneg && !x.is_null() && !(v.back() >= 0 && std::isfinite(v.back())))
      fail(w + ": '" + key + "' holds " + x.dump() + ", not a negative log-probability (>= 0, finite)");
  }
  return v;
}

int64_t int_field(const json& obj, const char* key, int64_t lo, int64_t hi, const std::string& w) {
  const json& x = field(obj, key, w);
  if (!x.is_number_integer() || x.get<int64_t>() < lo || x.get<int64_t>() > hi)
    fail(w + ": '" + key + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x.get<int64_t>();
}

// The state file: line 1 = header {signature, modes}; then one line per finished chunk.
class StateFile {
 public:
  // writer = false (ranks other than 0 under --parallel ep): the file is only read, to resume
  // from the same chunk as rank 0; rank 0 alone creates, appends to and removes it.
  StateFile(std::string path, const json& header, bool resume, const RecordShape& shape, std::vector<ModeRun>& runs,
            int64_t* done, bool writer)
      : path_(std::move(path)), writer_(writer) {
    *done = 0;
    if (resume) {
      std::ifstream in(path_);
      if (!in) fail(path_ + ": no state to resume from (run without --resume first)");
      std::vector<std::string> lines;
      for (std::string line; std::getline(in, line);) lines.push_back(line);
      if (lines.empty()) fail(path_ + ": empty state file");
      json h;
      try { h = json::parse(lines[0]); } catch (...) { fail(path_ + ": line 1: not a state header"); }
      if (h != header) fail(path_ + ": the saved run used other settings (" + h.dump() + "); cannot resume with these");
      for (size_t i = 1; i < lines.size(); ++i) {
        const std::string w = path_ + ": line " + std::to_string(i + 1);
        json rec;
        try {
          rec = json::parse(lines[i]);
        } catch (...) {
          if (i + 1 == lines.size()) break;  // a torn last line: that chunk reruns
          fail(w + ": not JSON");
        }
        if (int_field(rec, "chunk", 0, INT64_MAX, w) != *done)
          fail(w + ": 'chunk' is " + field(rec, "chunk", w).dump() + ", expected " + std::to_string(*done));
        if (*done >= shape.n_chunks)
          fail(w + ": more finished chunks than this run has (" + std::to_string(shape.n_chunks) + "; other --chunks?)");
        const json& rj = field(rec, "runs", w);
        if (!rj.is_array() || rj.size() != shape.runs)
          fail(w + ": 'runs' must be an array of " + std::to_string(shape.runs) + " modes");
        const size_t pc = size_t(shape.per_chunk), kl = shape.with_kl ? pc : 0;
        std::vector<TokenLog> logs(runs.size());
        std::vector<double> secs(runs.size());
        for (size_t r = 0; r < runs.size(); ++r) {
          const json& j = rj[r];
          const std::string wr = w + ": runs[" + std::to_string(r) + "]";
          TokenLog& t = logs[r];
          t.nll = float_array(j, "nll", pc, wr, true);
          t.kld = float_array(j, "kld", kl, wr);
          t.dp = float_array(j, "dp", kl, wr);
          t.base_nll = float_array(j, "base_nll", kl, wr, true);
          t.same_top1 = int_field(j, "same_top1", 0, shape.with_kl ? shape.per_chunk : 0, wr);
          const json& sj = field(j, "seconds", wr);
          if (!sj.is_number() || !(sj.get<double>() >= 0) || !std::isfinite(sj.get<double>()))
            fail(wr + ": 'seconds' must be a non-negative number");
          secs[r] = sj.get<double>();
          int_field(j, "tokens", shape.ctx, shape.ctx, wr);
        }
        // Only a whole, valid record counts.
        for (size_t r = 0; r < runs.size(); ++r) {
          runs[r].log.append(logs[r]);
          runs[r].seconds += secs[r];
          runs[r].tokens += shape.ctx;
        }
        ++*done;
      }
      in.close();
      // Rewrite without any torn tail so appends continue cleanly.
      rewrite(header, *done);
    } else {
      if (writer_ && access(path_.c_str(), F_OK) == 0)
        fail(path_ + ": state of an earlier run exists: pass --resume to continue it, or --fresh to start over");
      rewrite(header, 0);
    }
  }
  void append(const json& rec) {
    if (!writer_) return;
    std::string line = rec.dump() + "\n";
    FILE* f = std::fopen(path_.c_str(), "a");
    if (!f || std::fwrite(line.data(), 1, line.size(), f) != line.size() || std::fflush(f) != 0)
      fail(path_ + ": cannot append the finished chunk");
    fsync(fileno(f));
    std::fclose(f);
  }
  const std::string& path() const { return path_; }

 private:
  // Rewrites the file as the header plus its first `done` chunk lines, kept verbatim.
  void rewrite(const json& header, int64_t done) {
    if (!writer_) return;
    std::vector<std::string> keep;
    {
      std::ifstream in(path_);
      std::string line;
      std::getline(in, line);
      for (int64_t i = 0; i < done && std::getline(in, line); ++i) keep.push_back(line);
    }
    std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp);
      out << header.dump() << "\n";
      for (auto& l : keep) out << l << "\n";
      if (!out) fail(tmp + ": cannot write state");
    }
    if (std::rename(tmp.c_str(), path_.c_str()) != 0) fail(path_ + ": cannot write state");
  }
  std::string path_;
  bool writer_;
};

// The chunks of a llama.cpp --kl-divergence-base file: its own n_ctx and token stream (llama-perplexity
// --kl-divergence evaluates exactly those, whatever text it is given). A --ctx that disagrees is an
// error; our own tokenization of --text, when given, is only compared and any difference reported.
ChunkPlan llama_plan_from_base(const LlamaLogitsHeader& h, int32_t bos, int64_t max_chunks,
                               const std::vector<int32_t>& text_toks, const std::string& text_path, int64_t ctx,
                               bool ctx_given) {
  if (ctx_given && ctx != h.n_ctx)
    fail("--ctx: " + std::to_string(ctx) + " differs from the --llama-kl-base file's n_ctx " + std::to_string(h.n_ctx));
  if (bos >= 0 && h.tokens[0] != bos)
    fail("--llama-kl-base: tokens[0]: " + std::to_string(h.tokens[0]) + " is not BOS " + std::to_string(bos) +
         " (a run without BOS: pass --no-bos)");
  ChunkPlan plan;
  plan.ctx = h.n_ctx;
  plan.bos = bos;
  plan.stream = h.tokens;
  plan.n_chunks = max_chunks > 0 ? std::min<int64_t>(max_chunks, h.n_chunk) : h.n_chunk;
  if (!text_toks.empty()) {
    const ChunkPlan ours = plan_chunks(text_toks, bos, h.n_ctx, 0, false);
    const size_t n = std::min(ours.stream.size(), plan.stream.size());
    size_t differ = 0, first_diff = n;
    for (size_t i = 0; i < n; ++i)
      if (ours.stream[i] != plan.stream[i]) first_diff = std::min(first_diff, i), ++differ;
    if (differ == 0 && n == plan.stream.size())
      std::fprintf(stderr, "ppl: %s tokenizes to the base file's token stream\n", text_path.c_str());
    else
      std::fprintf(stderr, "ppl: warning: %s tokenizes differently from the base file (%zu of %zu tokens differ, "
                   "first at %zu; ours has %zu); scoring the base file's tokens\n", text_path.c_str(), differ, n,
                   first_diff, ours.stream.size());
  }
  return plan;
}

json kl_json(const KlStats& k, const std::string& base) {
  return {{"base", base}, {"kld_mean", k.mean}, {"kld_err", k.err}, {"kld_median", k.median},
          {"kld_p90", k.p90}, {"kld_p95", k.p95}, {"kld_p99", k.p99}, {"kld_p999", k.p999},
          {"kld_max", k.max}, {"same_top1_pct", k.same_top1_pct}, {"dp_mean", k.dp_mean},
          {"dp_err", k.dp_err}, {"dp_rms", k.dp_rms}, {"ppl_ratio", k.ppl_ratio}};
}

int run(const std::vector<std::string>& args) {
  std::string model_dir, text_path, tok_path, attn = "auto", mla = "absorbed", json_out, save_logits,
      kl_base, state_path, llama_out, llama_base, modes_list, unigram_path;
  int64_t ctx = 512, max_chunks = 0, index_topk = 0, indexer_seed = 1;
  int threads = 2, top_n = 64;
  bool resume = false, resume_if_any = false, fresh = false, compare = false, full_logits = false, no_bos = false, quiet = false,
       legacy_chunks = false;
  ArgParser p("ppl",
              "Perplexity of a model on a text file, llama-perplexity's method: tokenize the whole file with\n"
              "BOS prepended, cut it into non-overlapping chunks of --ctx tokens, put BOS first in each\n"
              "(replacing the chunk's first token), score only the second half of every chunk (llama-perplexity\n"
              "also refuses texts under 2 x ctx tokens; dsv32 scores every chunk that fits). Prints\n"
              "PPL = x +/- y; with --kl-base also the KL divergence against a saved run (llama.cpp\n"
              "--kl-divergence statistics); --compare runs the four modes side by side.");
  p.add("--model", &model_dir, "DIR", "checkpoint directory", true);
  p.add("--text", &text_path, "FILE", "UTF-8 text to score (any file: wiki.test.raw, datasets/...); required unless --llama-kl-base");
  p.add("--tokenizer", &tok_path, "PATH", "tokenizer.json (default: the cached DeepSeek V3 tokenizer)");
  p.add("--ctx", &ctx, "N", "tokens per chunk (scored: the second half)");
  p.add("--chunks", &max_chunks, "K", "score at most K chunks (0: all that fit)");
  p.add("--attn", &attn, "MODE", "dense | sparse | auto");
  p.add("--mla", &mla, "MODE", "naive | absorbed");
  p.add("--threads", &threads, "T", "worker threads");
  DeviceChoice dev;  // --device, --numerics
  dev.add_options(p);
  p.add("--json", &json_out, "OUT", "write results as JSON (reports/RESULTS.md, kind ppl)");
  p.add("--save-logits", &save_logits, "BASE.h5", "save this run's distributions for later --kl-base");
  p.add("--kl-base", &kl_base, "BASE.h5", "compare distributions with a saved run, token by token");
  p.add("--top-n", &top_n, "N", "--save-logits keeps the top-N log-probs + the rest mass per token");
  p.add_flag("--full-logits", &full_logits, "--save-logits keeps the full distribution (exact KL, 4 B x vocab per token)");
  p.add_flag("--compare", &compare, "run dense/naive, dense/absorbed, sparse/naive, sparse/absorbed; KL vs dense/naive");
  p.add("--modes", &modes_list, "LIST",
        "run these variants side by side, KL vs the first: ATTN/MLA[:TAG...] with tags a numerics\n"
        "profile, kN (index_topk N) or random-indexer, e.g. dense/absorbed,sparse/absorbed:k16");
  p.add("--index-topk", &index_topk, "K", "index_topk for sparse attention (default: config.json's)");
  p.add("--indexer-seed", &indexer_seed, "S", "seed of the :random-indexer variants");
  p.add("--unigram-from", &unigram_path, "PATH",
        "also score the same tokens with an add-one unigram model counted on PATH (a file, or the\n"
        "*.txt of a directory: the training split)");
  p.add("--state", &state_path, "FILE", "progress file, removed when the run finishes (default: OUT.state with --json, else ppl.state)");
  p.add_flag("--resume", &resume, "continue an interrupted run from its state file");
  p.add_flag("--resume-if-any", &resume_if_any, "resume when a state file exists, else start (for scripts)");
  p.add_flag("--fresh", &fresh, "discard an existing state file and start over");
  p.add_flag("--no-bos", &no_bos, "no BOS: neither prepended to the text nor put first in each chunk");
  p.add_flag("--legacy-chunks", &legacy_chunks,
             "dsv32's chunking before llama.cpp parity: tokenize without BOS, then replace each chunk's\n"
             "first token by BOS (every chunk after the first is one token later than llama-perplexity's)");
  p.add("--llama-logits", &llama_out, "OUT.kld",
        "also write this run's log-probs as llama.cpp's --kl-divergence-base file (for\n"
        "llama-perplexity --kl-divergence, or dsv32 kld)");
  p.add("--llama-kl-base", &llama_base, "BASE.kld",
        "KL divergence against a llama.cpp --kl-divergence-base file; its tokens and n_ctx define the\n"
        "chunks (--ctx and --text are then only cross-checked)");
  p.add_flag("--quiet", &quiet, "no progress bar");
  p.epilog("examples:\n  dsv32 ppl --model models/tiny --text datasets/data/jargon.txt --ctx 128 --chunks 8\n"
           "  dsv32 ppl --model M --text wiki.test.raw --ctx 4096 --attn dense --save-logits base.h5\n"
           "  dsv32 ppl --model M --text wiki.test.raw --ctx 4096 --attn sparse --kl-base base.h5\n"
           "  dsv32 ppl --model M --text F --ctx 256 --compare --json cmp.json\n"
           "  llama-perplexity -m M.gguf -f wiki.test.raw -c 512 --kl-divergence-base llama.kld\n"
           "  dsv32 ppl --model M --llama-kl-base llama.kld --attn dense   # KL(llama || dsv32)\n"
           "  dsv32 ppl --model M --text wiki.test.raw --ctx 512 --llama-logits dsv32.kld\n"
           "  llama-perplexity -m M.gguf --kl-divergence-base dsv32.kld --kl-divergence   # KL(dsv32 || llama)");
  if (!p.parse(args)) return 0;
  ModelOptions dev_opt;
  dev.apply(dev_opt);  // bad --device / --numerics values fail before the text is read
  if (ctx < 4) fail("--ctx: must be at least 4");
  if (max_chunks < 0) fail("--chunks " + std::to_string(max_chunks) + ": must be non-negative (0: all that fit)");
  if (p.given("--index-topk") && index_topk < 1)
    fail("--index-topk: must be at least 1 (got " + std::to_string(index_topk) + ")");
  if (indexer_seed < 1) fail("--indexer-seed: must be at least 1");
  if (compare && !modes_list.empty()) fail("give --compare or --modes, not both");
  if (compare) modes_list = "dense/naive,dense/absorbed,sparse/naive,sparse/absorbed";
  const bool multi = !modes_list.empty();
  if (multi && (!save_logits.empty() || !kl_base.empty() || !llama_out.empty() || !llama_base.empty()))
    fail("--compare/--modes measure KL against their first mode themselves; drop --save-logits/--kl-base/--llama-logits/--llama-kl-base");
  if (!kl_base.empty() && !llama_base.empty()) fail("give --kl-base or --llama-kl-base, not both");
  if (text_path.empty() && llama_base.empty()) fail("--text: required (or --llama-kl-base, whose tokens are the text)");
  if (resume && fresh) fail("give --resume or --fresh, not both");
  if (threads < 1) fail("--threads: must be at least 1");
  if (!full_logits && top_n < 1) fail("--top-n: must be at least 1 (got " + std::to_string(top_n) + ")");
  if (tok_path.empty()) tok_path = default_tokenizer_path(DSV32_SOURCE_DIR);
  if (state_path.empty()) state_path = json_out.empty() ? "ppl.state" : json_out + ".state";
  if (fresh && output_rank()) std::remove(state_path.c_str());
  if (resume_if_any && !fresh) resume = access(state_path.c_str(), F_OK) == 0;

  Tokenizer tok = Tokenizer::load(tok_path);
  const int32_t bos = no_bos ? -1 : tok.bos_id();
  std::unique_ptr<LlamaLogitsReader> lbase;
  if (!llama_base.empty()) lbase = std::make_unique<LlamaLogitsReader>(llama_base);
  const std::string text = text_path.empty() ? std::string() : read_text_file(text_path);
  Stopwatch tsw;
  const std::vector<int32_t> toks = text_path.empty() ? std::vector<int32_t>() : tok.encode(text, false);
  const double tok_s = tsw.seconds();
  ChunkPlan plan;
  if (lbase) {
    plan = llama_plan_from_base(lbase->header(), bos, max_chunks, toks, text_path, ctx, p.given("--ctx"));
    ctx = plan.ctx;
  } else {
    plan = plan_chunks(toks, bos, ctx, max_chunks, legacy_chunks);
  }
  const int64_t n_chunks = plan.n_chunks;
  if (n_chunks < 1)
    fail(text_path + ": " + std::to_string(plan.stream.size()) + " tokens, fewer than one chunk of --ctx " + std::to_string(ctx));
  const int64_t first = plan.first(), per_chunk = plan.scored_per_chunk();
  if (output_rank())  // under --parallel ep rank 0 speaks for all (errors still come from every rank)
    std::fprintf(stderr, "ppl: %s: %zu bytes -> %zu tokens in %.2fs (%.1f MB/s); stream of %zu (%s); %lld chunks of %lld, %lld scored each\n",
               text_path.c_str(), text.size(), toks.size(), tok_s, text.size() / 1e6 / std::max(tok_s, 1e-9),
               plan.stream.size(), lbase ? "from the base file" : legacy_chunks ? "legacy, no BOS prepended" : "BOS prepended",
               (long long)n_chunks, (long long)ctx, (long long)per_chunk);

  auto weights = load_weights(model_dir);
  const ModelConfig& c = weights->config;
  const int64_t V = c.vocab_size;
  for (int64_t i = 0; i < n_chunks * ctx; ++i)
    if (plan.stream[i] >= V) fail(tok_path + ": token id " + std::to_string(plan.stream[i]) + " exceeds the model's vocabulary " + std::to_string(V));
  if (index_topk > 0 && !c.has_indexer)
    fail("--index-topk: " + c.source + ": architecture " + c.architecture + " has no lightning indexer");
  if (index_topk > c.max_position_embeddings)
    fail("--index-topk: " + std::to_string(index_topk) + " exceeds max_position_embeddings " +
         std::to_string(c.max_position_embeddings) + " of " + c.source);
  std::vector<ModeRun> runs;
  if (multi) {
    for (PplVariant& v : parse_variants(modes_list, dev_opt.numerics, index_topk))
      if (!(compare && v.attn == AttnMode::kSparse && !c.has_indexer)) runs.push_back({v, nullptr, {}});
  } else {
    PplVariant v;
    v.attn = attn == "auto" ? (c.has_indexer ? AttnMode::kSparse : AttnMode::kDense) : parse_attn_mode(attn);
    v.mla = parse_mla_mode(mla);
    v.numerics = dev_opt.numerics;
    v.index_topk = index_topk;
    v.label = std::string(to_string(v.attn)) + "/" + to_string(v.mla);
    runs.push_back({v, nullptr, {}});
  }
  for (auto& r : runs) {
    ModelOptions o{r.v.attn, r.v.mla, ctx, threads};
    o.device = dev_opt.device;
    o.numerics = r.v.numerics;
    o.parallel = dev_opt.parallel, o.tp = dev_opt.tp, o.ep = dev_opt.ep;
    // A variant that changes the checkpoint (index_topk, a random indexer) gets its own load;
    // the mapped files are shared by the page cache, only the small vectors are copied.
    const bool topk_override = r.v.index_topk > 0 && r.v.attn == AttnMode::kSparse;
    if (topk_override || r.v.random_indexer) {
      WeightOverrides ov;
      ov.index_topk = topk_override ? r.v.index_topk : 0;
      ov.random_indexer_seed = r.v.random_indexer ? uint64_t(indexer_seed) : 0;
      ov.what = p.given("--index-topk") && !multi ? "--index-topk" : "--modes: '" + r.v.label + "'";
      r.model = std::make_unique<Model>(load_weights(model_dir, ov), o);
    } else {
      r.model = std::make_unique<Model>(weights, o);
    }
  }
  std::unique_ptr<Unigram> unigram;
  if (!unigram_path.empty()) unigram = std::make_unique<Unigram>(unigram_from(unigram_path, tok_path, V));
  std::vector<float> unigram_nll;

  std::string stream_bytes(reinterpret_cast<const char*>(plan.stream.data()), 4 * plan.stream.size());
  const std::string signature = "text=" + std::to_string(text.size()) + ":" + std::to_string(fnv1a(text)) +
                                " ctx=" + std::to_string(ctx) + " bos=" + std::to_string(bos) +
                                " tokens=" + std::to_string(toks.size()) +
                                (legacy_chunks ? " chunking=legacy" : " chunking=llama") +
                                " stream=" + std::to_string(fnv1a(stream_bytes));
  if (lbase && lbase->header().n_vocab != V)
    fail(llama_base + ": n_vocab: " + std::to_string(lbase->header().n_vocab) + ", the model's vocabulary is " +
         std::to_string(V));
  std::unique_ptr<LogitsStoreReader> base;
  if (!kl_base.empty()) {
    // A store is complete once renamed from NAME.partial (the completion mark): one still under
    // that name is the unfinished output of an interrupted --save-logits run, to be --resume'd.
    const std::string suffix = ".partial";
    if (kl_base.size() > suffix.size() && kl_base.compare(kl_base.size() - suffix.size(), suffix.size(), suffix) == 0)
      fail(kl_base + ": an unfinished --save-logits store (its run was interrupted: --resume that run to complete it)");
    base = std::make_unique<LogitsStoreReader>(kl_base);
    if (base->info().vocab != V)
      fail(kl_base + ": attribute vocab " + std::to_string(base->info().vocab) + " differs from the model's " +
           std::to_string(V));
    if (base->info().signature != signature)
      fail(kl_base + ": attribute signature '" + base->info().signature + "' differs from this run's '" +
           signature + "' (other text, tokenizer or --ctx)");
    // The signature holds ctx too; this names the attribute when only it was changed.
    if (base->info().ctx != ctx)
      fail(kl_base + ": attribute ctx " + std::to_string(base->info().ctx) + " differs from this run's --ctx " +
           std::to_string(ctx));
    if (base->rows() < n_chunks * per_chunk)
      fail(kl_base + ": holds " + std::to_string(base->rows()) + " scored tokens, this run needs " +
           std::to_string(n_chunks * per_chunk));
  }
  json header = {{"signature", signature}, {"model", model_dir}, {"kl_base", kl_base + llama_base},
                 {"save_logits", save_logits}, {"top_n", full_logits ? V : top_n}};
  if (index_topk > 0) header["index_topk"] = index_topk;
  if (std::any_of(runs.begin(), runs.end(), [](const ModeRun& r) { return r.v.random_indexer; }))
    header["indexer_seed"] = indexer_seed;
  for (auto& r : runs) header["modes"].push_back(r.name());
  int64_t done = 0;
  const RecordShape shape{runs.size(), per_chunk, ctx, n_chunks, base != nullptr || multi};
  StateFile state(state_path, header, resume, shape, runs, &done, output_rank());
  std::unique_ptr<LogitsStoreWriter> saver;
  if (!save_logits.empty() && output_rank())
    saver = std::make_unique<LogitsStoreWriter>(
        save_logits, LogitsStoreInfo{full_logits ? V : top_n, V, ctx, signature, to_string(runs[0].v.attn),
                                     to_string(runs[0].v.mla), model_dir},
        resume && done > 0, done * per_chunk);
  std::unique_ptr<LlamaLogitsWriter> lsaver;
  if (!llama_out.empty() && output_rank()) {
    LlamaLogitsHeader lh{int32_t(ctx), int32_t(V), int32_t(n_chunks),
                         std::vector<int32_t>(plan.stream.begin(), plan.stream.begin() + n_chunks * ctx)};
    lsaver = std::make_unique<LlamaLogitsWriter>(llama_out, lh, resume ? done : 0);
  }
  if (done > 0 && output_rank()) std::fprintf(stderr, "ppl: resuming after %lld finished chunks (%s)\n", (long long)done, state_path.c_str());

  // Two logits buffers whatever the number of modes: the first mode's (the KL base, kept for the
  // chunk) and the current one's. [ctx - first, V] each.
  std::vector<float> base_logits((ctx - first) * V), cur_logits(runs.size() > 1 ? (ctx - first) * V : 0);
  std::vector<RowStats> base_rs(ctx - first);
  std::vector<int32_t> chunk(ctx);
  std::unique_ptr<Progress> bar;
  if (!quiet) bar = std::make_unique<Progress>("ppl", n_chunks);
  for (int64_t ci = done; ci < n_chunks; ++ci) {
    chunk = plan.chunk(ci);
    std::vector<TokenLog> logs(runs.size());
    std::vector<double> secs(runs.size());
    std::vector<BaseRow> saved;
    for (size_t r = 0; r < runs.size(); ++r) {
      float* L = r == 0 ? base_logits.data() : cur_logits.data();
      Stopwatch sw;
      runs[r].model->forward(chunk.data(), ctx, 0, L, nullptr, first);
      secs[r] = sw.seconds();
      for (int64_t j = first; j < ctx - 1; ++j) {
        const int32_t target = plan.target(ci, j);
        const float* row = &L[(j - first) * V];
        if (r == 0) base_rs[j - first] = row_stats(row, V);
        const RowStats& ref_rs = base_rs[j - first];
        const float* ref_row = &base_logits[(j - first) * V];
        BaseRow b;
        LlamaRow lb;
        if (lbase) {
          lb = lbase->row(ci, j - first);
          b.target = target;
          b.target_logp = lb.logp(target);
          b.argmax = lb.argmax();
        }
        if (base) {
          const int64_t brow = ci * per_chunk + (j - first);
          b = base->row(brow);
          if (b.target != target)
            fail(kl_base + ": scored token " + std::to_string(brow) + " is " + std::to_string(b.target) +
                 ", this run's is " + std::to_string(target) + " (other text or tokenizer)");
        }
        const RowStats rs = r == 0 ? ref_rs : row_stats(row, V);
        const double lp = rs.logp(row, target);
        logs[r].nll.push_back(float(-lp));
        if (base || lbase) {
          logs[r].kld.push_back(float(lbase ? llama_kl(lb, row, rs, V) : kl_divergence(b.dist, row, rs)));
          logs[r].dp.push_back(float(std::exp(lp) - std::exp(double(b.target_logp))));
          logs[r].base_nll.push_back(-b.target_logp);
          logs[r].same_top1 += rs.argmax == b.argmax;
        } else if (multi) {
          const double lb0 = ref_rs.logp(ref_row, target);
          logs[r].kld.push_back(float(r == 0 ? 0.0 : kl_divergence_full(ref_row, ref_rs, row, rs, V)));
          logs[r].dp.push_back(float(std::exp(lp) - std::exp(lb0)));
          logs[r].base_nll.push_back(float(-lb0));
          logs[r].same_top1 += rs.argmax == ref_rs.argmax;
        }
        if (saver && r == 0) {
          BaseRow sv;
          sv.dist = compact_dist(row, V, rs, full_logits ? int(V) : top_n);
          sv.target = target;
          sv.argmax = rs.argmax;
          sv.target_logp = float(lp);
          saved.push_back(std::move(sv));
        }
      }
    }
    if (saver) saver->append(saved);
    if (lsaver) lsaver->append_chunk(base_logits.data());
    state.append(chunk_record(ci, logs, secs, ctx));
    for (size_t r = 0; r < runs.size(); ++r) {
      runs[r].log.append(logs[r]);
      runs[r].seconds += secs[r];
      runs[r].tokens += ctx;
    }
    if (bar) {
      double ppl, err;
      ppl_from_nll(runs.back().log.nll, &ppl, &err);
      char extra[96];
      std::snprintf(extra, sizeof extra, "PPL %.4f +/- %.4f", ppl, err);
      bar->update(ci + 1, extra);
    }
  }
  if (bar) bar->finish();
  if (saver) saver->finish();  // BASE.h5 appears only now, complete

  json out = {{"schema_version", 1}, {"kind", "ppl"},
              {"context", {{"git_commit", git_commit()}, {"time", utc_now()}, {"producer", "dsv32 ppl"},
                           {"version", kVersion}, {"model", model_dir},
                           {"device", to_string(runs[0].model->options().device)},
                           {"device_name", runs[0].model->device_name()},
                           {"numerics", runs[0].model->options().numerics}}},
              {"ctx", ctx}, {"chunks", n_chunks}, {"text", text_path},
              {"chunking", lbase ? "llama-base-file" : legacy_chunks ? "legacy" : "llama"}, {"stream_tokens", plan.stream.size()}, {"tokens_scored", n_chunks * per_chunk},
              {"tokenize_mb_per_s", text.size() / 1e6 / std::max(tok_s, 1e-9)}};
  if (unigram) {
    // The same scored tokens as the modes (every chunk, also those restored by --resume).
    for (int64_t ci = 0; ci < n_chunks; ++ci)
      for (int64_t j = first; j < ctx - 1; ++j) unigram_nll.push_back(float(-unigram->logp(plan.target(ci, j))));
    double ppl, err;
    ppl_from_nll(unigram_nll, &ppl, &err);
    out["unigram"] = {{"ppl", ppl}, {"ppl_err", err}, {"train_tokens", unigram->total}, {"files", unigram->files},
                      {"smoothing", "add-one over the vocabulary: p(t) = (count(t) + 1) / (N + V)"}};
    std::printf("unigram (add-one, %lld training tokens) PPL = %.4f +/- %.4f\n", (long long)unigram->total, ppl, err);
  }
  json modes = json::array();
  for (auto& r : runs) {
    double ppl, err;
    ppl_from_nll(r.log.nll, &ppl, &err);
    // Per-chunk mean NLL, for reports and resumability checks.
    std::vector<double> per;
    for (int64_t ci = 0; ci < n_chunks; ++ci) {
      double s = 0;
      for (int64_t j = 0; j < per_chunk; ++j) s += r.log.nll[ci * per_chunk + j];
      per.push_back(s / double(per_chunk));
    }
    json m = {{"attn", to_string(r.v.attn)}, {"mla", to_string(r.v.mla)}, {"label", r.v.label},
              {"numerics", r.v.numerics}, {"index_topk", r.model->config().index_topk},
              {"indexer", r.v.random_indexer ? "random" : "checkpoint"}, {"ppl", ppl}, {"ppl_err", err},
              {"nll_per_chunk", per}, {"tokens_per_s", r.tokens / std::max(r.seconds, 1e-9)}};
    if (base || lbase || multi) m["kl"] = kl_json(kl_stats(r.log), base ? kl_base : lbase ? llama_base : runs[0].name());
    modes.push_back(m);
  }
  if (multi) {
    out["modes"] = modes;
    const std::string kl_head = "KLD vs " + runs[0].name();
    std::printf("| %-16s | %-20s | %-22s | %9s | %9s |\n", "mode", "PPL", kl_head.c_str(), "same top1", "tokens/s");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(18, '-').c_str(), std::string(22, '-').c_str(),
                std::string(24, '-').c_str(), std::string(11, '-').c_str(), std::string(11, '-').c_str());
    for (auto& m : modes) {
      char a[64], b[64];
      std::snprintf(a, sizeof a, "%.4f +/- %.4f", m["ppl"].get<double>(), m["ppl_err"].get<double>());
      std::snprintf(b, sizeof b, "%.3g +/- %.2g", m["kl"]["kld_mean"].get<double>(), m["kl"]["kld_err"].get<double>());
      std::printf("| %-16s | %-20s | %-22s | %8.2f%% | %9.1f |\n", m["label"].get<std::string>().c_str(), a, b,
                  m["kl"]["same_top1_pct"].get<double>(), m["tokens_per_s"].get<double>());
    }
    std::printf("(%lld chunks x %lld tokens, %lld scored tokens)\n", (long long)n_chunks, (long long)ctx,
                (long long)(n_chunks * per_chunk));
  } else {
    for (auto& [k, v] : modes[0].items()) out[k] = v;
    std::printf("mode %s/%s (%s), %lld chunks x %lld tokens, %lld scored\n", out["attn"].get<std::string>().c_str(),
                out["mla"].get<std::string>().c_str(), dev_opt.numerics.c_str(), (long long)n_chunks, (long long)ctx,
                (long long)(n_chunks * per_chunk));
    std::printf("PPL = %.4f +/- %.5f\n", out["ppl"].get<double>(), out["ppl_err"].get<double>());
    if (base || lbase) {
      const json& k = out["kl"];
      std::printf("KLD = %.6f +/- %.6f  median %.6f  p90 %.6f  p95 %.6f  p99 %.6f  p99.9 %.6f  max %.6f\n",
                  k["kld_mean"].get<double>(), k["kld_err"].get<double>(), k["kld_median"].get<double>(),
                  k["kld_p90"].get<double>(), k["kld_p95"].get<double>(), k["kld_p99"].get<double>(),
                  k["kld_p999"].get<double>(), k["kld_max"].get<double>());
      std::printf("same top-1 = %.3f %%  dp = %.5f +/- %.5f  rms dp = %.5f  PPL ratio = %.6f\n",
                  k["same_top1_pct"].get<double>(), k["dp_mean"].get<double>(), k["dp_err"].get<double>(),
                  k["dp_rms"].get<double>(), k["ppl_ratio"].get<double>());
    }
  }
  if (!output_rank()) return 0;
  if (!json_out.empty()) {
    std::ofstream f(json_out + ".tmp");
    f << out.dump(2) << "\n";
    if (!f || (f.close(), std::rename((json_out + ".tmp").c_str(), json_out.c_str()) != 0))
      fail(json_out + ": cannot write");
    std::printf("json %s\n", json_out.c_str());
  }
  // Finished: the results are printed (and in the JSON); the state is only for interrupted runs.
  std::remove(state.path().c_str());
  return 0;
}

const Command kCmd{"ppl", "perplexity and KL divergence on text (llama.cpp method); --compare modes", &run};

}  // namespace
}  // namespace dsv32::app
