// Perplexity and KL-divergence statistics, llama.cpp's method (so numbers compare with published
// llama-perplexity output):
//   * the text is tokenized whole with BOS prepended and cut into non-overlapping chunks of ctx
//     tokens; the first token of each chunk is replaced by BOS (chunking: verify/llama_kld.h); each
//     chunk is a fresh sequence at positions 0..ctx-1;
//   * only the second half is scored: the logits at positions j = ctx/2 .. ctx-2 predict token j+1
//     (ctx - 1 - ctx/2 scored tokens per chunk), so every scored token has ≥ ctx/2 tokens of context;
//   * PPL = exp(mean NLL), reported as PPL ± PPL·σ(NLL)/sqrt(N−1) (first-order error of exp(mean));
//   * KLD(base ‖ new) per token, mean ± σ/sqrt(N−1), median and 90/95/99/99.9 percentiles, max;
//     "same top-1 %" = share of tokens whose argmax agrees; Δp = p_new(correct) − p_base(correct),
//     mean and RMS; PPL ratio = exp(mean NLL_new − mean NLL_base).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace dsv32 {

// log-softmax pieces of one logits row [V], in double.
struct RowStats {
  double lse = 0;        // log Σ exp(logit)
  int32_t argmax = 0;    // lowest id among equal maxima
  double logp(const float* logits, int32_t id) const { return double(logits[id]) - lse; }
};
RowStats row_stats(const float* logits, int64_t V);

// A base distribution as stored for --kl-base: the top-N log-probabilities (ids + values) plus the
// log of the remaining mass ("rest" bucket, −inf when N = V). With N = V it is the full
// distribution and KL is exact; with N < V the rest bucket is compared as one outcome, which gives
// a lower bound on the true KL (merging outcomes never increases KL) that is tight when the base
// puts little mass outside its top N.
struct CompactDist {
  std::vector<int32_t> ids;
  std::vector<float> logp;
  float rest_logp = -INFINITY;
};
CompactDist compact_dist(const float* logits, int64_t V, const RowStats& rs, int top_n);
// KL(base ‖ new) with base compact and new a full logits row with its stats.
double kl_divergence(const CompactDist& base, const float* new_logits, const RowStats& new_rs);
// Exact KL(base ‖ new) between two full logits rows [V].
double kl_divergence_full(const float* base, const RowStats& brs, const float* nl, const RowStats& nrs, int64_t V);

struct KlStats {
  int64_t n = 0;
  double mean = 0, err = 0, median = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;
  double same_top1_pct = 0, dp_mean = 0, dp_err = 0, dp_rms = 0, ppl_ratio = 1;
};

// Accumulates per-token results; the raw per-token values are kept for percentiles and resume.
struct TokenLog {
  std::vector<float> nll;      // −log p_new(correct)
  std::vector<float> kld;      // only with a base
  std::vector<float> dp;       // p_new(correct) − p_base(correct)
  std::vector<float> base_nll; // −log p_base(correct)
  int64_t same_top1 = 0;
  void append(const TokenLog& o);
};

double mean_of(const std::vector<float>& v);
// PPL and its error from per-token NLLs.
void ppl_from_nll(const std::vector<float>& nll, double* ppl, double* err);
KlStats kl_stats(const TokenLog& log);

}  // namespace dsv32
