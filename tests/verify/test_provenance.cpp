// Provenance in `dsv32 verify` (verify/provenance.h): a planted systematic rule change whose
// magnitudes stay inside the profile fails as `systematic`; a planted single rounding-boundary flip
// and its cascade are one origin and `propagated` rows, and pass; attention rows are origins or
// propagated according to the positions they attend to; fp32 storage gives `untested`. Also the
// error statistics (verify/error_stats.h) on a planted case with a known answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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
// Moves element c of row r of a float tensor by one bf16 ulp.
void bump(SynthRun& run, const std::string& name, int64_t r, int64_t c = 0) {
  auto& s = run.t.at(name);
  float& v = s.f[size_t(r * s.row() + c)];
  v = SynthRun::bf16_up(v);
}
bool selects(const SynthRun& run, const std::string& topk, int64_t row, int32_t pos) {
  const auto& i = run.t.at(topk).i;
  return std::find(i.begin() + row * run.topk, i.begin() + (row + 1) * run.topk, pos) != i.begin() + (row + 1) * run.topk;
}
}  // namespace

// A weight rounded differently: every row of layer 1's o_proj moves by one bf16 ulp (2^-8
// relative, far inside the ref1 profile's magnitudes) while its input attn_out is bit-identical.
// Six origins where independent flips allow at most a few: systematic, and the comparison fails.
TEST(Provenance, PlantedRuleChangeIsSystematicAndFails) {
  SynthRun run;
  run.round_bf16();
  const std::string a = tmp_path("sys_a.h5"), b = tmp_path("sys_b.h5");
  run.write(b);
  for (int64_t r = 0; r < run.n; ++r)
    for (int64_t c = 0; c < run.D; ++c) bump(run, "layers/01/o_proj", r, c);
  run.write(a);
  VerifyReport rep = verify(a, b, "ref1");
  const TensorReport& t = find(rep, "layers/01/o_proj");
  EXPECT_EQ(t.status, "pass") << "the magnitudes alone pass: min_tol " << t.min_tol << " tol " << t.tol;
  EXPECT_EQ(t.prov.storage, "bf16");
  EXPECT_EQ(t.prov.rows_differ, run.n);
  EXPECT_EQ(t.prov.origins, run.n);
  EXPECT_EQ(t.prov.first_origin, 0);
  EXPECT_LT(t.prov.expected, 0.1);
  EXPECT_LT(t.prov.allowed, run.n);
  EXPECT_EQ(t.prov.verdict, "systematic");
  EXPECT_EQ(rep.first_systematic, "layers/01/o_proj");
  EXPECT_EQ(rep.first_failure, "");
  EXPECT_EQ(rep.verdict, "fail") << rep.summary;
  EXPECT_NE(rep.summary.find("systematic"), std::string::npos) << rep.summary;
  auto j = report_json(rep);
  EXPECT_EQ(j["first_systematic"], "layers/01/o_proj");
  bool seen = false;
  for (auto& e : j["tensors"])
    if (e["name"] == "layers/01/o_proj") {
      EXPECT_EQ(e["provenance"]["verdict"], "systematic");
      EXPECT_EQ(e["provenance"]["origins"], run.n);
      seen = true;
    }
  EXPECT_TRUE(seen);
}

// One boundary flip in layer 0's q_latent at position 2 and the cascade it causes: the rows that
// read position 2 differ downstream. Exactly one origin; everything else propagated; passes.
TEST(Provenance, SingleBoundaryFlipIsOneOriginAndPasses) {
  SynthRun run;
  run.round_bf16();
  const std::string a = tmp_path("flip_a.h5"), b = tmp_path("flip_b.h5");
  const int64_t p = 2;
  {  // Make layer 1's last row skip position 2: its score there drops below every other.
    const int64_t r = run.n - 1;
    float* sc = run.t["layers/01/indexer_scores"].f.data() + r * run.n;
    sc[p] = -100;
    std::vector<int32_t> idx(static_cast<size_t>(r + 1));
    for (int32_t u = 0; u <= r; ++u) idx[size_t(u)] = u;
    std::stable_sort(idx.begin(), idx.end(), [&](int32_t x, int32_t y) { return sc[x] > sc[y]; });
    idx.resize(size_t(run.topk));
    std::sort(idx.begin(), idx.end());
    std::copy(idx.begin(), idx.end(), run.t["layers/01/indexer_topk"].i.begin() + r * run.topk);
  }
  run.write(b);
  bump(run, "layers/00/q_latent", p, 3);
  for (const char* n : {"q_nope", "q_rope", "indexer_q", "attn_out", "o_proj", "ffn_norm", "ffn_out", "residual"})
    bump(run, std::string("layers/00/") + n, p);
  for (const char* n : {"attn_norm", "kv_latent", "k_rope", "indexer_k"}) bump(run, std::string("layers/01/") + n, p);
  // Layer-1 attention rows that select position 2 inherit the difference through its keys.
  int64_t reading = 0;
  int64_t not_reading = -1;
  for (int64_t r = p; r < run.n; ++r) {
    if (selects(run, "layers/01/indexer_topk", r, int32_t(p))) {
      bump(run, "layers/01/attn_out", r);
      ++reading;
    } else if (not_reading < 0) {
      not_reading = r;
    }
  }
  run.write(a);
  VerifyReport rep = verify(a, b, "ref1");
  EXPECT_EQ(rep.verdict, "pass") << rep.summary;
  EXPECT_EQ(rep.first_systematic, "");
  EXPECT_EQ(rep.first_origin, "layers/00/q_latent");
  EXPECT_EQ(rep.first_origin_pos, p);
  const auto& q = find(rep, "layers/00/q_latent").prov;
  EXPECT_EQ(q.origins, 1);
  EXPECT_EQ(q.verdict, "flip");
  for (const char* n : {"layers/00/q_nope", "layers/00/attn_out", "layers/00/residual", "layers/01/attn_norm",
                        "layers/01/kv_latent"}) {
    const auto& s = find(rep, n).prov;
    EXPECT_EQ(s.origins, 0) << n;
    EXPECT_EQ(s.propagated, 1) << n;
    EXPECT_EQ(s.verdict, "propagated") << n;
  }
  const auto& att = find(rep, "layers/01/attn_out").prov;
  EXPECT_EQ(att.propagated, reading);
  EXPECT_EQ(att.origins, 0);
  ASSERT_GE(reading, 1);

  // A layer-1 attention row that does not attend to position 2 but differs is an origin of its
  // own (sparse attention reads only the selected positions); one more flip still passes.
  ASSERT_GE(not_reading, 0) << "seed without a row that skips position 2";
  bump(run, "layers/01/attn_out", not_reading);
  run.write(a);
  rep = verify(a, b, "ref1");
  const auto& att2 = find(rep, "layers/01/attn_out").prov;
  EXPECT_EQ(att2.origins, 1);
  EXPECT_EQ(att2.first_origin, not_reading);
  EXPECT_EQ(att2.verdict, "flip");
  EXPECT_EQ(rep.verdict, "pass") << rep.summary;
}

// fp32 storage: rounding makes every row differ whatever the cause, so provenance has no power and
// says so; the bitwise profile allows no origin at all.
TEST(Provenance, Fp32StorageIsUntestedAndBitwiseAllowsNone) {
  SynthRun run;
  const std::string a = tmp_path("u_a.h5"), b = tmp_path("u_b.h5");
  run.write(b);
  for (auto& v : run.t["layers/00/q_latent"].f) v = std::nextafter(v, INFINITY);
  run.write(a);
  VerifyReport rep = verify(a, b, "fp32");
  EXPECT_EQ(find(rep, "layers/00/q_latent").prov.verdict, "untested");
  EXPECT_EQ(find(rep, "layers/00/q_latent").prov.storage, "fp32");
  EXPECT_EQ(rep.verdict, "pass") << rep.summary;
  rep = verify(a, b, "bitwise");
  EXPECT_EQ(find(rep, "layers/00/q_latent").prov.allowed, 0);
  EXPECT_EQ(find(rep, "layers/00/q_latent").prov.verdict, "systematic");
  EXPECT_EQ(rep.verdict, "fail");
}

TEST(Provenance, AllowedOriginsFollowThePoissonTail) {
  EXPECT_EQ(Provenance::allowed_origins(0), 0);
  EXPECT_EQ(Provenance::allowed_origins(1e-9), 1);   // one flip is always possible
  // λ = 1: P(X > 8) = 1.1e-6, P(X > 9) = 1.1e-7, so 9.
  EXPECT_EQ(Provenance::allowed_origins(1.0), 9);
  const int64_t k = Provenance::allowed_origins(1000);
  EXPECT_GT(k, 1100);
  EXPECT_LT(k, 1200);
}

// Error statistics: quantiles, the ULP histogram in the storage dtype and the worst elements with
// their coordinates, on a planted case whose answer is known exactly.
TEST(ErrorStatsTest, QuantilesHistogramAndWorstCoordinates) {
  SynthRun run;
  run.round_bf16();
  const std::string a = tmp_path("st_a.h5"), b = tmp_path("st_b.h5");
  // The planted worst element is 2.0 in B: 3 bf16 ulps = 3·2^-6 is then larger in absolute terms
  // and relative to |b| + rms(b) than one ulp of any N(0,1) value (≤ 2^-5 for |b| < 8).
  run.t["layers/01/q_nope"].f[size_t((4 * run.H + 1) * run.dn + 2)] = 2.0f;
  run.write(b);
  // q_nope [n, H=2, dn=4]: 3 elements moved by 1 bf16 ulp, one by 3 ulps at position 4, head 1,
  // channel 2 (the worst), the other 48 - 4 untouched.
  auto& q = run.t["layers/01/q_nope"].f;
  auto at = [&](int64_t pos, int64_t h, int64_t c) -> float& { return q[size_t((pos * run.H + h) * run.dn + c)]; };
  at(0, 0, 0) = SynthRun::bf16_up(at(0, 0, 0));
  at(1, 1, 3) = SynthRun::bf16_up(at(1, 1, 3));
  at(5, 0, 1) = SynthRun::bf16_up(at(5, 0, 1));
  float& big = at(4, 1, 2);
  const float before = big;
  big = SynthRun::bf16_up(SynthRun::bf16_up(SynthRun::bf16_up(big)));
  run.write(a);
  VerifyReport rep = verify(a, b, "ref1");
  const ErrorStats& e = find(rep, "layers/01/q_nope").e;
  ASSERT_TRUE(e.computed);
  EXPECT_EQ(e.ulp_dtype, "bf16");
  EXPECT_EQ(e.n, run.n * run.H * run.dn);
  EXPECT_EQ(e.ulp_hist[0].second, e.n - 4);  // ulp 0
  EXPECT_EQ(e.ulp_hist[1].second, 3);         // ulp 1
  EXPECT_EQ(e.ulp_hist[3].second, 1);         // ulp <= 4 (3)
  EXPECT_EQ(e.abs_q[0], 0);                   // p50: most elements are exact
  EXPECT_EQ(e.abs_q[4], 3 * std::ldexp(1.0, -6));
  EXPECT_EQ(before, 2.0f);
  ASSERT_FALSE(e.worst.empty());
  EXPECT_EQ(e.worst[0].index, (std::vector<int64_t>{4, 1, 2}));
  EXPECT_EQ(e.worst[0].ulp, 3);
  EXPECT_EQ(e.worst.size(), 4u);  // only elements that differ
  auto j = report_json(rep);
  for (auto& t : j["tensors"])
    if (t["name"] == "layers/01/q_nope") {
      const auto& w = t["stats"]["worst"][0]["at"];
      EXPECT_EQ(w["layer"], 1);
      EXPECT_EQ(w["position"], 4);
      EXPECT_EQ(w["head"], 1);
      EXPECT_EQ(w["channel"], 2);
      EXPECT_EQ(t["stats"]["ulp_dtype"], "bf16");
    }
  // fp32 dumps count fp32 ULPs.
  EXPECT_EQ(bf16_ulp_distance(1.0f, SynthRun::bf16_up(1.0f)), 1);
  EXPECT_EQ(bf16_ulp_distance(-0.0f, 0.0f), 0);
  EXPECT_EQ(bf16_ulp_distance(-SynthRun::bf16_up(0.0f), SynthRun::bf16_up(0.0f)), 2);
}
