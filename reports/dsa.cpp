// The report's "Sparse attention (DSA) and numerics" section: what eval's DSA steps measured on
// the model (dsv32 ppl --modes files and dsv32 recall files), as the questions a user asks:
// how much does sparse attention cost (dense vs sparse per ctx, with error bars and KLD), how does
// the cost depend on index_topk, how much of the dense attention does the indexer keep (recall per
// layer), what is the distilled indexer worth (against a random one of the same shape), and what
// do REF-1 numerics cost. Comparison lines: the real V3.2's published gap and a unigram model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "reports/report.h"

namespace dsv32::reports {
namespace {

std::string pct(double a, double b) {  // (a / b − 1) in percent, signed
  if (!(b > 0) || !std::isfinite(a)) return "–";
  char s[48];
  std::snprintf(s, sizeof s, "%+.2f %%", 100.0 * (a / b - 1.0));
  return s;
}

struct Group {  // the results of one ppl file
  int64_t ctx = 0;
  std::vector<const PplResult*> r;
  const PplResult* find(const std::string& attn, const std::string& indexer, bool tagged, const std::string& num) const {
    for (auto* p : r)
      if (p->attn == attn && p->indexer == indexer && p->tagged == tagged && p->numerics == num) return p;
    return nullptr;
  }
};

}  // namespace

Section dsa_section(const ReportInput& in) {
  Section s{"dsa", "Sparse attention (DSA) and numerics on this model", false, {}};
  std::vector<Group> groups;  // ppl files written with --modes (they record index_topk per mode)
  for (auto& file : in.files) {
    Group g;
    for (auto& p : file.ppl)
      if (p.index_topk > 0 && !p.attn.empty()) g.r.push_back(&p), g.ctx = p.ctx;
    if (!g.r.empty()) groups.push_back(std::move(g));
  }
  std::vector<const RecallResult*> recalls;
  for (auto& file : in.files)
    for (auto& r : file.recall) recalls.push_back(&r);
  if (groups.empty() && recalls.empty()) return s;
  s.has_data = true;
  std::sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.ctx < b.ctx; });
  // The numerics of the untagged modes (eval's --numerics).
  std::string num = "exact";
  for (auto& g : groups)
    for (auto* p : g.r)
      if (!p->tagged) num = p->numerics;

  s.items.push_back(Paragraph{
      "Measured by dsv32 eval on held-out text with dsv32 ppl --modes (llama-perplexity chunking: the second half of "
      "each chunk is scored; PPL ± its first-order standard error; KLD(dense ‖ variant) per scored token over the full "
      "vocabulary, mean ± standard error) and dsv32 recall. For comparison, the real DeepSeek V3.2 (671 B, "
      "index_topk 2048): wikitext-2 PPL 2.9115 dense vs 2.9126 sparse at 4k-token chunks (+0.04 %)."});
  const PplResult* uni = nullptr;
  for (auto& g : groups)
    for (auto* p : g.r)
      if (!uni && std::isfinite(p->unigram_ppl)) uni = p;
  if (const PplResult* p = uni)
    s.items.push_back(Paragraph{
        "Unigram baseline on the same scored tokens (" + p->text + ", ctx " + std::to_string(p->ctx) + "): PPL " +
        fixed(p->unigram_ppl, 1) + " ± " + fixed(p->unigram_err, 1) + " — token frequencies counted on the " +
        std::to_string(p->unigram_train_tokens) +
        " tokens of the training split, add-one (Laplace) smoothing over the whole vocabulary: p(t) = (count(t) + 1) "
        "/ (N + V)."});

  // 1. Dense vs sparse at each context length.
  {
    Table t{"Dense vs sparse attention by context length (" + num + " numerics)",
            {"ctx", "chunks", "scored tokens", "index_topk", "PPL dense", "± err", "PPL sparse", "± err", "Δ PPL",
             "KLD dense‖sparse", "± err", "same top-1 %"},
            {true, true, true, true, true, true, true, true, true, true, true, true}, {}, false};
    LineChart c;
    c.title = "Perplexity by context length, dense vs sparse (± standard error)";
    c.x_label = "context length [tokens] (log scale)";
    c.y_label = "perplexity [unitless]";
    c.direction = "↓ lower is better";
    c.log_x = true;
    Series d{"dense", {}, {}, {}, {}}, sp{"sparse (checkpoint indexer)", {}, {}, {}, {}};
    for (auto& g : groups) {
      const PplResult* a = g.find("dense", "checkpoint", false, num);
      const PplResult* b = g.find("sparse", "checkpoint", false, num);
      if (!a || !b) continue;
      t.rows.push_back({std::to_string(g.ctx), std::to_string(b->chunks), std::to_string(b->tokens_scored),
                        std::to_string(b->index_topk), fixed(a->ppl, 3), fixed(a->ppl_err, 3), fixed(b->ppl, 3), fixed(b->ppl_err, 3),
                        pct(b->ppl, a->ppl), b->has_kl ? sci(b->kld_mean) : "–", b->has_kl ? sci(b->kld_err) : "–",
                        b->has_kl ? fixed(b->same_top1_pct, 2) : "–"});
      d.x.push_back(double(g.ctx)), d.y.push_back(a->ppl), d.err.push_back(a->ppl_err);
      sp.x.push_back(double(g.ctx)), sp.y.push_back(b->ppl), sp.err.push_back(b->ppl_err);
    }
    if (!t.rows.empty()) {
      c.series = {d, sp};
      s.items.push_back(c);
      s.items.push_back(t);
    }
  }

  // 2. PPL against index_topk: the file with the most distinct k among its sparse checkpoint modes.
  const Group* curve = nullptr;
  size_t best = 2;
  for (auto& g : groups) {
    std::set<int64_t> ks;
    for (auto* p : g.r)
      if (p->attn == "sparse" && p->indexer == "checkpoint" && p->numerics == num) ks.insert(p->index_topk);
    if (ks.size() > best) best = ks.size(), curve = &g;
  }
  if (curve) {
    const PplResult* dense = curve->find("dense", "checkpoint", false, num);
    std::map<int64_t, const PplResult*> by_k;
    for (auto* p : curve->r)
      if (p->attn == "sparse" && p->indexer == "checkpoint" && p->numerics == num && !by_k.count(p->index_topk))
        by_k[p->index_topk] = p;
    LineChart c;
    c.title = "Sparse perplexity against index_topk (ctx " + std::to_string(curve->ctx) + ", ± standard error)";
    c.x_label = "index_topk [keys per query] (log scale)";
    c.y_label = "perplexity [unitless]";
    c.direction = "↓ lower is better";
    c.log_x = true;
    Series sp{"sparse", {}, {}, {}, {}}, dl{"dense", {}, {}, {}, {}};
    Table t{"Sparse perplexity against index_topk (ctx " + std::to_string(curve->ctx) + ")",
            {"index_topk", "PPL", "± err", "Δ PPL vs dense", "KLD dense‖sparse", "± err", "same top-1 %"},
            {true, true, true, true, true, true, true}, {}, false};
    for (auto& [k, p] : by_k) {
      sp.x.push_back(double(k)), sp.y.push_back(p->ppl), sp.err.push_back(p->ppl_err);
      sp.labels.push_back("k = " + std::to_string(k));
      if (dense) dl.x.push_back(double(k)), dl.y.push_back(dense->ppl), dl.err.push_back(dense->ppl_err);
      t.rows.push_back({std::to_string(k), fixed(p->ppl, 3), fixed(p->ppl_err, 3), dense ? pct(p->ppl, dense->ppl) : "–",
                        p->has_kl ? sci(p->kld_mean) : "–", p->has_kl ? sci(p->kld_err) : "–",
                        p->has_kl ? fixed(p->same_top1_pct, 2) : "–"});
    }
    c.series = {sp};
    if (dense) c.series.push_back(dl);
    c.note = "The dense line is one measurement drawn at every k. Keys per query are capped by the position: a query "
             "at position t sees at most t + 1.";
    s.items.push_back(c);
    s.items.push_back(t);
  }

  // 3. The trade-offs at one context: the distilled vs a random indexer, and REF-1 numerics.
  for (auto& g : groups) {
    const PplResult* dense = g.find("dense", "checkpoint", false, num);
    const PplResult* sparse = g.find("sparse", "checkpoint", false, num);
    const PplResult* rnd = nullptr;
    std::vector<const PplResult*> other_num;
    for (auto* p : g.r) {
      if (p->indexer == "random" && p->attn == "sparse" && !rnd) rnd = p;
      if (p->numerics != num && p->indexer == "checkpoint") other_num.push_back(p);
    }
    if (!dense || (!rnd && other_num.empty())) continue;
    Table t{"Trade-offs at ctx " + std::to_string(g.ctx) + " (KLD against " + dense->mode + ", " + num + ")",
            {"variant", "index_topk", "PPL", "± err", "Δ PPL vs dense", "KLD", "± err", "KLD p99", "same top-1 %"},
            {false, true, true, true, true, true, true, true, true}, {}, false};
    auto row = [&](const std::string& what, const PplResult* p) {
      t.rows.push_back({what, p->attn == "sparse" ? std::to_string(p->index_topk) : "–", fixed(p->ppl, 3), fixed(p->ppl_err, 3),
                        pct(p->ppl, dense->ppl), p->has_kl ? sci(p->kld_mean) : "–", p->has_kl ? sci(p->kld_err) : "–",
                        p->has_kl ? sci(p->kld_p99) : "–", p->has_kl ? fixed(p->same_top1_pct, 2) : "–"});
    };
    row("dense (" + dense->mode + ")", dense);
    if (sparse) row("sparse, trained (distilled) indexer", sparse);
    if (rnd) row("sparse, random indexer of the same shape", rnd);
    for (auto* p : other_num) row(p->mode + " (" + p->numerics + " numerics)", p);
    s.items.push_back(t);
    std::string text;
    if (sparse && rnd)
      text += "DSA trade-off at ctx " + std::to_string(g.ctx) + " (" + std::to_string(g.ctx / std::max<int64_t>(1, sparse->index_topk)) +
              " × index_topk): sparse attention with the distilled indexer costs " + pct(sparse->ppl, dense->ppl) +
              " PPL (KLD " + sci(sparse->kld_mean) + " nats/token); with a random indexer of the same shape " +
              pct(rnd->ppl, dense->ppl) + " (KLD " + sci(rnd->kld_mean) + "). ";
    for (auto* p : other_num)
      text += "Cost of " + p->numerics + " numerics (" + p->mode + "): KLD " + num + " → " + p->numerics + " " +
              sci(p->kld_mean) + " ± " + sci(p->kld_err) + " nats/token, PPL " + fixed(dense->ppl, 3) + " → " + fixed(p->ppl, 3) +
              ". ";
    if (!text.empty()) s.items.push_back(Paragraph{text});
  }

  // 4. The indexer's recall per layer.
  for (auto* r : recalls) {
    LineChart c;
    c.title = "Indexer recall against k, per layer (ctx " + std::to_string(r->ctx) + ")";
    c.x_label = "k [keys kept per query] (log scale)";
    c.y_label = "share of dense attention mass in the top-k [0–1]";
    c.direction = "↑ higher is better";
    c.log_x = true;
    Table t{"Indexer recall per layer: share of the dense head-averaged attention in the indexer's top-k (ctx " +
                std::to_string(r->ctx) + ", " + std::to_string(r->queries) + " queries per layer)",
            {"layer"}, {false}, {}, false};
    for (int64_t k : r->topk) {
      t.head.push_back("k = " + std::to_string(k) + (k == r->index_topk ? " (index_topk)" : ""));
      t.numeric.push_back(true);
    }
    for (size_t l = 0; l < r->layers.size(); ++l) {
      Series se{"layer " + std::to_string(l), {}, {}, {}, {}};
      std::vector<std::string> row{std::to_string(l)};
      for (size_t i = 0; i < r->topk.size(); ++i) {
        se.x.push_back(double(r->topk[i]));
        se.y.push_back(r->layers[l][i]);
        row.push_back(fixed(r->layers[l][i], 4));
      }
      c.series.push_back(std::move(se));
      t.rows.push_back(std::move(row));
    }
    c.note = "Recall: for each scored query, the sum over the indexer's top-k keys of the dense attention "
             "probabilities averaged over heads (MODEL §7.11); 1 means the selection loses nothing.";
    s.items.push_back(c);
    s.items.push_back(t);
  }
  return s;
}

}  // namespace dsv32::reports
