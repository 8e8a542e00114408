// dsv32 kld BASE.kld NEW.kld: KL divergence between two llama.cpp --kl-divergence-base logits files
// (written by llama-perplexity or by `dsv32 ppl --llama-logits`), token by token, with the same
// statistics as `dsv32 ppl --kl-base` and llama-perplexity --kl-divergence. Both files must hold
// the same chunks (n_ctx, n_vocab, n_chunk and the token stream): swapping them gives the other
// direction, and a file against itself gives exactly 0.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "kernels/error.h"
#include "verify/llama_kld.h"
#include "verify/ppl.h"

namespace dsv32::app {
namespace {

using nlohmann::json;

void same_chunks(const LlamaLogitsReader& a, const LlamaLogitsReader& b) {
  const LlamaLogitsHeader &ha = a.header(), &hb = b.header();
  auto differ = [&](const char* field, int64_t x, int64_t y) {
    if (x != y)
      fail(b.path() + ": " + field + ": " + std::to_string(y) + ", " + a.path() + " has " + std::to_string(x) +
           " (the two files must score the same chunks)");
  };
  differ("n_ctx", ha.n_ctx, hb.n_ctx);
  differ("n_vocab", ha.n_vocab, hb.n_vocab);
  differ("n_chunk", ha.n_chunk, hb.n_chunk);
  for (size_t i = 0; i < ha.tokens.size(); ++i)
    if (ha.tokens[i] != hb.tokens[i])
      fail(b.path() + ": tokens[" + std::to_string(i) + "]: " + std::to_string(hb.tokens[i]) + ", " + a.path() +
           " has " + std::to_string(ha.tokens[i]) + " (other text or tokenizer)");
}

int run(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  std::string json_out;
  ArgParser p("kld",
              "KL(BASE || NEW) between two llama.cpp --kl-divergence-base logits files on the same chunks:\n"
              "mean +/- error, median, 90/95/99/99.9th percentiles, max, same top-1 %, dp and the PPL\n"
              "ratio, summed over the ids whose base log-prob is above -16 (llama.cpp's definition).");
  p.allow_positional(&files, "BASE.kld NEW.kld");
  p.add("--json", &json_out, "OUT", "write the statistics as JSON");
  p.epilog("examples:\n"
           "  llama-perplexity -m M.gguf -f wiki.test.raw -c 512 --kl-divergence-base llama.kld\n"
           "  dsv32 ppl --model M --text wiki.test.raw --ctx 512 --attn dense --llama-logits dsv32.kld\n"
           "  dsv32 kld llama.kld dsv32.kld     # KL(llama || dsv32); swap for the other direction");
  if (!p.parse(args)) return 0;
  if (files.size() != 2) fail("expected two files: dsv32 kld BASE.kld NEW.kld (got " + std::to_string(files.size()) + ")");
  LlamaLogitsReader base(files[0]), other(files[1]);
  same_chunks(base, other);
  const LlamaLogitsHeader& h = base.header();
  const int64_t first = h.n_ctx / 2, rows = h.rows_per_chunk();
  TokenLog log;
  for (int64_t c = 0; c < h.n_chunk; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      const LlamaRow b = base.row(c, r), o = other.row(c, r);
      const int32_t target = h.tokens[size_t(c * h.n_ctx + first + r + 1)];
      const double lb = b.logp(target), lo = o.logp(target);
      log.nll.push_back(float(-lo));
      log.base_nll.push_back(float(-lb));
      log.kld.push_back(float(llama_kl(b, o)));
      log.dp.push_back(float(std::exp(lo) - std::exp(lb)));
      log.same_top1 += b.argmax() == o.argmax();
    }
  const KlStats k = kl_stats(log);
  double ppl, ppl_err, ppl_base, ppl_base_err;
  ppl_from_nll(log.nll, &ppl, &ppl_err);
  ppl_from_nll(log.base_nll, &ppl_base, &ppl_base_err);
  std::printf("%s vs base %s: %d chunks x %d, %lld scored tokens\n", files[1].c_str(), files[0].c_str(), h.n_chunk,
              h.n_ctx, (long long)log.kld.size());
  std::printf("PPL(new) = %.4f +/- %.5f  PPL(base) = %.4f +/- %.5f  ratio = %.6f\n", ppl, ppl_err, ppl_base,
              ppl_base_err, k.ppl_ratio);
  std::printf("KLD = %.6f +/- %.6f  median %.6f  p90 %.6f  p95 %.6f  p99 %.6f  p99.9 %.6f  max %.6f\n", k.mean, k.err,
              k.median, k.p90, k.p95, k.p99, k.p999, k.max);
  std::printf("same top-1 = %.3f %%  dp = %.5f +/- %.5f  rms dp = %.5f\n", k.same_top1_pct, k.dp_mean, k.dp_err,
              k.dp_rms);
  if (!json_out.empty()) {
    json out = {{"schema_version", 1}, {"kind", "kld"}, {"base", files[0]}, {"new", files[1]},
                {"ctx", h.n_ctx}, {"chunks", h.n_chunk}, {"tokens_scored", k.n},
                {"ppl", ppl}, {"ppl_err", ppl_err}, {"ppl_base", ppl_base}, {"ppl_base_err", ppl_base_err},
                {"kl", {{"kld_mean", k.mean}, {"kld_err", k.err}, {"kld_median", k.median}, {"kld_p90", k.p90},
                        {"kld_p95", k.p95}, {"kld_p99", k.p99}, {"kld_p999", k.p999}, {"kld_max", k.max},
                        {"same_top1_pct", k.same_top1_pct}, {"dp_mean", k.dp_mean}, {"dp_err", k.dp_err},
                        {"dp_rms", k.dp_rms}, {"ppl_ratio", k.ppl_ratio}}}};
    std::ofstream f(json_out);
    f << out.dump(2) << "\n";
    if (!f) fail(json_out + ": cannot write");
  }
  return 0;
}

const Command kCmd{"kld", "KL divergence between two llama.cpp --kl-divergence-base logits files", &run};

}  // namespace
}  // namespace dsv32::app
