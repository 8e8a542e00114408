// The comparator: identical dumps pass with zero error; planted bugs are reported as exactly the
// perturbed tensor (first_failure / first_flip); ties are excused; shape and id mismatches are
// errors; profiles load from verify/profiles.json.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/error.h"
#include "tests/verify/synth_dump.h"
#include "tests/verify/verify_test_util.h"
#include "verify/compare.h"

using namespace dsv32;
using dsv32::test::SynthRun;
using dsv32::test::tmp_path;
using dsv32::test::find;
using dsv32::test::profiles;
using dsv32::test::verify;

namespace {
// Swaps the two halves of the last dimension (size d) of every row of a float tensor.
void swap_halves(std::vector<float>& v, int64_t d) {
  for (size_t base = 0; base + size_t(d) <= v.size(); base += size_t(d))
    for (int64_t k = 0; k < d / 2; ++k) std::swap(v[base + size_t(k)], v[base + size_t(k + d / 2)]);
}
}  // namespace

TEST(Profiles, LoadAndDerive) {
  for (const char* name : {"bitwise", "exact", "bf16"}) {
    const Profile& p = profiles().get(name);
    EXPECT_FALSE(p.doc.empty()) << name;
  }
  EXPECT_THROW(profiles().get("nope"), Error);
  EXPECT_EQ(&profiles().get("fp32"), &profiles().get("exact"));  // the old name of the exact profile
  ModelDims dims = ModelDims::from_config(SynthRun().config_json(), 6);
  const Profile& fp32 = profiles().get("exact");
  const Profile& bf16 = profiles().get("bf16");
  double b0 = rel_rms_bound(fp32, "layers/00/q_rope", dims);
  double b2 = rel_rms_bound(fp32, "layers/02/q_rope", dims);
  EXPECT_GT(b0, 0);
  EXPECT_GT(b2, b0);                                                 // depth growth
  EXPECT_GT(rel_rms_bound(bf16, "layers/00/q_rope", dims), 100 * b0);  // bf16 storage dominates
  EXPECT_EQ(rel_rms_bound(profiles().get("bitwise"), "layers/00/q_rope", dims), 0);
  EXPECT_TRUE(dims.missing.empty());
  EXPECT_EQ(tensor_leaf("layers/02/q_rope"), "q_rope");
  EXPECT_EQ(tensor_layer("layers/02/q_rope", 3), 2);
  EXPECT_EQ(tensor_layer("logits", 3), 3);
}

TEST(Metrics, FloatStatsAndUlp) {
  EXPECT_EQ(ulp_distance(1.f, 1.f), 0);
  EXPECT_EQ(ulp_distance(1.f, std::nextafter(1.f, 2.f)), 1);
  EXPECT_EQ(ulp_distance(0.f, -0.f), 0);
  EXPECT_EQ(ulp_distance(-std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::denorm_min()), 2);
  std::vector<float> b{1, -2, 3, 4}, a = b;
  a[2] = 3.5f;
  FloatStats s = float_stats(a.data(), b.data(), 4);
  EXPECT_DOUBLE_EQ(s.max_abs, 0.5);
  EXPECT_NEAR(s.max_rel, 0.5 / 3, 1e-12);
  EXPECT_NEAR(s.nmse, 0.25 / 30, 1e-12);
  EXPECT_EQ(s.worst, 2);
  EXPECT_EQ(s.ulp_worst, ulp_distance(3.5f, 3.f));
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x{-inf, 1, NAN}, y{-inf, 1, NAN};
  s = float_stats(x.data(), y.data(), 3);
  EXPECT_EQ(s.nonfinite_mismatch, 0);
  EXPECT_EQ(s.nmse, 0);
  y[0] = 0;
  s = float_stats(x.data(), y.data(), 3);
  EXPECT_EQ(s.nonfinite_mismatch, 1);
  EXPECT_EQ(s.worst, 0);
}

TEST(Verify, IdenticalDumpsPassWithZeroError) {
  SynthRun run;
  const std::string a = tmp_path("id_a.h5"), b = tmp_path("id_b.h5");
  run.write(a);
  run.write(b);
  for (const char* prof : {"bitwise", "exact", "bf16"}) {
    VerifyReport r = verify(a, b, prof);
    EXPECT_EQ(r.verdict, "pass") << prof;
    EXPECT_EQ(r.first_failure, "");
    EXPECT_EQ(r.first_flip, "");
    ASSERT_EQ(r.tensors.size(), run.order.size());
    for (size_t k = 0; k < r.tensors.size(); ++k) {
      const auto& t = r.tensors[k];
      EXPECT_EQ(t.name, run.order[k]);  // forward order
      EXPECT_EQ(t.status, "pass") << t.name;
      EXPECT_EQ(t.min_tol, 0) << t.name;
      if (!t.is_index) {
        EXPECT_EQ(t.f.max_abs, 0);
        EXPECT_EQ(t.f.nmse, 0);
        EXPECT_EQ(t.f.ulp_max, 0);
        EXPECT_NEAR(t.f.cos, 1, 1e-12);
      } else {
        EXPECT_EQ(t.ix.jaccard_min, 1);
      }
    }
    ASSERT_TRUE(r.has_logits);
    EXPECT_NEAR(r.logits.kl_mean, 0, 1e-15);
    EXPECT_EQ(r.logits.top1, 1);
    EXPECT_EQ(r.logits.top5, 1);
    auto j = report_json(r);
    EXPECT_EQ(j["verdict"], "pass");
    EXPECT_EQ(j["first_failure"], "");
    EXPECT_EQ(j["tensors"].size(), run.order.size());
  }
}

TEST(Verify, SmallFp32NoisePassesFp32ButNotExact) {
  SynthRun run;
  const std::string a = tmp_path("noise_a.h5"), b = tmp_path("noise_b.h5");
  run.write(b);
  for (auto& [name, t] : run.t)  // one ULP on every float element
    for (auto& v : t.f)
      if (std::isfinite(v)) v = std::nextafter(v, INFINITY);
  run.write(a);
  EXPECT_EQ(verify(a, b, "exact").verdict, "pass");
  VerifyReport ex = verify(a, b, "bitwise");
  EXPECT_EQ(ex.verdict, "fail");
  EXPECT_EQ(ex.first_failure, "embed");
  EXPECT_EQ(find(ex, "embed").f.ulp_max, 1);
}

TEST(Verify, RopeHalvesSwappedInLayer2IsTheFirstFailure) {
  SynthRun run;
  const std::string a = tmp_path("rope_a.h5"), b = tmp_path("rope_b.h5");
  run.write(b);
  swap_halves(run.t["layers/02/q_rope"].f, run.dr);
  run.write(a);
  for (const char* prof : {"bitwise", "exact", "bf16"}) {
    VerifyReport r = verify(a, b, prof);
    EXPECT_EQ(r.verdict, "fail") << prof;
    EXPECT_EQ(r.first_failure, "layers/02/q_rope") << prof;
    EXPECT_EQ(r.first_flip, "") << prof;
    const auto& t = find(r, "layers/02/q_rope");
    EXPECT_EQ(t.status, "fail");
    EXPECT_GT(t.f.nmse, 0.1);
    EXPECT_EQ(t.worst_at.size(), 3u);  // [position, head, dim]
    EXPECT_GT(t.min_tol, t.tol);
    for (auto& o : r.tensors)
      if (o.name != "layers/02/q_rope") {
        EXPECT_EQ(o.status, "pass") << o.name;
      }
  }
  // --tensors narrows the comparison; --fail-fast stops at the failure.
  VerifyOptions only;
  only.tensors_regex = "^layers/0[01]/";
  EXPECT_EQ(verify(a, b, "exact", only).verdict, "pass");
  VerifyOptions ff;
  ff.fail_fast = true;
  VerifyReport r = verify(a, b, "exact", ff);
  EXPECT_EQ(r.tensors.back().name, "layers/02/q_rope");
}

TEST(Verify, ChangedExpertIdIsANonTieFlip) {
  SynthRun run;
  const std::string a = tmp_path("flip_a.h5"), b = tmp_path("flip_b.h5");
  run.write(b);
  // Row 2 of layer 1: replace the chosen expert with the lowest score by the best unchosen one.
  auto& ids = run.t["layers/01/expert_ids"].i;
  const auto& sc = run.t["layers/01/router_scores"].f;
  const int64_t r = 2;
  int32_t* row = ids.data() + r * run.K;
  const float* s = sc.data() + r * run.E;
  int32_t best_out = -1;
  for (int32_t e = 0; e < run.E; ++e)
    if (std::find(row, row + run.K, e) == row + run.K && (best_out < 0 || s[e] > s[best_out])) best_out = e;
  int32_t* low = std::min_element(row, row + run.K, [&](int32_t x, int32_t y) { return s[x] < s[y]; });
  ASSERT_GT(s[*low] - s[best_out], 0.1f);  // clearly separated
  *low = best_out;
  std::sort(row, row + run.K);
  run.write(a);
  for (const char* prof : {"bitwise", "exact", "bf16"}) {
    VerifyReport rep = verify(a, b, prof);
    EXPECT_EQ(rep.verdict, "fail") << prof;
    EXPECT_EQ(rep.first_flip, "layers/01/expert_ids") << prof;
    EXPECT_FALSE(rep.first_flip_excused);
    EXPECT_EQ(rep.first_bad_flip, "layers/01/expert_ids");
    EXPECT_EQ(rep.first_failure, "");
    const auto& t = find(rep, "layers/01/expert_ids");
    EXPECT_EQ(t.status, "flip");
    EXPECT_EQ(t.ix.rows_differ, 1);
    EXPECT_EQ(t.ix.rows_excused, 0);
    EXPECT_TRUE(t.ix.scores_available);
    EXPECT_EQ(t.worst_at, (std::vector<int64_t>{r}));
    EXPECT_NEAR(t.ix.jaccard_min, 1.0 / 3, 1e-12);
    EXPECT_EQ(t.ix.only_a, (std::vector<int32_t>{best_out}));
    auto j = report_json(rep);
    EXPECT_EQ(j["first_flip"], "layers/01/expert_ids");
  }
}

TEST(Verify, TieAtTheCutOffIsExcused) {
  SynthRun run;
  const std::string a = tmp_path("tie_a.h5"), b = tmp_path("tie_b.h5");
  // Row 3 of layer 1: give the best unchosen expert the same score as the K-th chosen one; B keeps
  // the lower id (the schema's rule), A the other one.
  auto& ids = run.t["layers/01/expert_ids"].i;
  auto& sc = run.t["layers/01/router_scores"].f;
  const int64_t r = 3;
  int32_t* row = ids.data() + r * run.K;
  float* s = sc.data() + r * run.E;
  int32_t best_out = -1;
  for (int32_t e = 0; e < run.E; ++e)
    if (std::find(row, row + run.K, e) == row + run.K && (best_out < 0 || s[e] > s[best_out])) best_out = e;
  int32_t* low = std::min_element(row, row + run.K, [&](int32_t x, int32_t y) { return s[x] < s[y]; });
  s[best_out] = s[*low];
  run.write(b);
  *low = best_out;
  std::sort(row, row + run.K);
  run.write(a);
  for (const char* prof : {"bitwise", "exact", "bf16"}) {
    VerifyReport rep = verify(a, b, prof);
    EXPECT_EQ(rep.verdict, "pass") << prof << ": " << rep.summary;
    EXPECT_EQ(rep.first_flip, "layers/01/expert_ids");
    EXPECT_TRUE(rep.first_flip_excused);
    EXPECT_EQ(rep.first_bad_flip, "");
    const auto& t = find(rep, "layers/01/expert_ids");
    EXPECT_EQ(t.status, "tie");
    EXPECT_EQ(t.ix.rows_excused, 1);
    EXPECT_EQ(t.min_tol, 0);
  }
  // Downstream tensors legitimately change after a tie: reported as diverged, not failed.
  for (auto& v : run.t["layers/01/expert_weights"].f) v += 1;
  run.write(a);
  VerifyReport rep = verify(a, b, "exact");
  EXPECT_EQ(rep.verdict, "pass") << rep.summary;
  EXPECT_EQ(rep.first_failure, "layers/01/expert_weights");
  EXPECT_EQ(find(rep, "layers/01/expert_weights").status, "diverged");
}

TEST(Verify, IndexerTopkTieUsesIndexerScores) {
  SynthRun run;
  const std::string a = tmp_path("itie_a.h5"), b = tmp_path("itie_b.h5");
  // Layer 0, query at position 5 (6 visible keys, k = 4): tie the 4th and 5th best scores.
  auto& sc = run.t["layers/00/indexer_scores"].f;
  auto& tk = run.t["layers/00/indexer_topk"].i;
  const int64_t r = 5;
  float* s = sc.data() + r * run.n;
  std::vector<int32_t> ord(6);
  std::iota(ord.begin(), ord.end(), 0);
  std::sort(ord.begin(), ord.end(), [&](int32_t x, int32_t y) { return s[x] > s[y]; });
  s[ord[4]] = s[ord[3]];
  run.write(b);
  int32_t* row = tk.data() + r * run.topk;
  const std::vector<int32_t> orig(row, row + run.topk);
  std::replace(row, row + run.topk, ord[3], ord[4]);
  std::sort(row, row + run.topk);
  run.write(a);
  VerifyReport rep = verify(a, b, "bitwise");
  EXPECT_EQ(rep.verdict, "pass") << rep.summary;
  EXPECT_EQ(rep.first_flip, "layers/00/indexer_topk");
  EXPECT_EQ(find(rep, "layers/00/indexer_topk").status, "tie");
  // The same set change without the tie is a flip.
  s[ord[4]] = s[ord[3]] - 1.0f;
  run.write(a);
  std::copy(orig.begin(), orig.end(), row);
  run.write(b);
  rep = verify(a, b, "exact");
  EXPECT_EQ(rep.verdict, "fail");
  EXPECT_EQ(rep.first_bad_flip, "layers/00/indexer_topk");
}

TEST(Verify, LogitsMetrics) {
  SynthRun run;
  const std::string a = tmp_path("lg_a.h5"), b = tmp_path("lg_b.h5");
  run.write(b);
  auto& lg = run.t["logits"].f;
  // Position 0: swap the top two logits -> top-1 changes.
  float* row = lg.data();
  int64_t i0 = std::max_element(row, row + run.vocab) - row;
  float v0 = row[i0];
  row[i0] = -1e3f;
  int64_t i1 = std::max_element(row, row + run.vocab) - row;
  row[i0] = row[i1];
  row[i1] = v0;
  run.write(a);
  VerifyReport rep = verify(a, b, "exact");
  EXPECT_EQ(rep.verdict, "fail");
  EXPECT_EQ(rep.first_failure, "logits");
  EXPECT_EQ(rep.logits.top1_raw_mismatch, 1);
  EXPECT_NEAR(rep.logits.top1, 5.0 / 6, 1e-12);
  EXPECT_EQ(rep.logits.top5, 1);
  EXPECT_GT(rep.logits.kl_max, 0);
}

TEST(Verify, MismatchesAreErrors) {
  SynthRun run;
  const std::string b = tmp_path("mm_b.h5");
  run.write(b);
  // Shape mismatch: q_nope with another head dim.
  SynthRun other = run;
  auto& q = other.t["layers/00/q_nope"];
  q.row_shape = {run.H, run.dn + 1};
  q.f.resize(size_t(run.n * q.row()), 0.5f);
  const std::string a = tmp_path("mm_shape.h5");
  other.write(a);
  try {
    verify(a, b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("layers/00/q_nope"), std::string::npos) << m;
    EXPECT_NE(m.find("shape"), std::string::npos) << m;
  }
  // Different ids.
  SynthRun ids = run;
  const std::string c = tmp_path("mm_ids.h5");
  {
    DumpMeta m = ids.meta();
    m.ids[3] = 7;
    DumpWriter w(c, m, {}, ids.n);
    ids.emit_call(w, 0, ids.n);
    w.close();
  }
  EXPECT_THROW(verify(c, b), Error);
}

TEST(Verify, FilteredDumpComparesCommonPositions) {
  SynthRun run;
  const std::string full = tmp_path("fl_full.h5"), part = tmp_path("fl_part.h5");
  run.write(full);
  DumpOptions opt;
  opt.positions = parse_positions("1,3-");
  opt.filter_regex = "layers/01/";
  swap_halves(run.t["layers/01/k_rope"].f, run.dr);
  run.write(part, opt);
  VerifyReport rep = verify(part, full, "exact");
  EXPECT_EQ(rep.verdict, "fail");
  EXPECT_EQ(rep.first_failure, "layers/01/k_rope");
  const auto& t = find(rep, "layers/01/k_rope");
  EXPECT_EQ(t.shape[0], 4);
  EXPECT_TRUE(t.worst_at[0] == 1 || t.worst_at[0] >= 3);
  EXPECT_FALSE(rep.warnings.empty());
}
