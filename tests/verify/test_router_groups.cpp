// Group-limited routing in verify (verify/router_groups.h): when two runs keep different expert
// groups in a row of router_scores, the moved −inf entries are judged as a selection flip — a tie
// when the swapped groups' scores are within the derived band — not as non-finite errors; the
// expert_ids of an excused row follow the tie; values are compared on the groups both kept.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/verify/synth_dump.h"
#include "tests/verify/verify_test_util.h"
#include "verify/compare.h"
#include "verify/router_groups.h"

using namespace dsv32;
using dsv32::test::find;
using dsv32::test::SynthRun;
using dsv32::test::tmp_path;
using dsv32::test::verify;

namespace {
constexpr float kNinf = -std::numeric_limits<float>::infinity();

// One row, E = 8 in 4 groups of 2. Group scores (sum of the two z): g0 1.3, g1 1.0, g2 1.0 + gap2,
// g3 0.2; the top 2 experts are 0 and the best of the second kept group (2 for g1, 4 for g2).
// `keep` says which groups the row keeps; the others are −inf.
std::vector<float> grouped_row(float gap2, std::initializer_list<int> keep) {
  std::vector<float> z{1.2f, 0.1f, 0.6f, 0.4f, 0.6f + gap2, 0.4f, 0.1f, 0.1f};
  for (int g = 0; g < 4; ++g)
    if (std::find(keep.begin(), keep.end(), g) == keep.end()) z[2 * g] = z[2 * g + 1] = kNinf;
  return z;
}
}  // namespace

TEST(RouterGroups, SameGroupsAreNoFlip) {
  auto a = grouped_row(0, {0, 1}), b = grouped_row(0, {0, 1});
  a[0] = 1.3f;  // a value change inside a kept group is a value matter, not a selection one
  RouterGroupFlips f = router_group_flips(a.data(), b.data(), 1, 8, 4, 1e-3);
  EXPECT_EQ(f.rows_differ, 0);
  EXPECT_EQ(f.worst_row, -1);
}

TEST(RouterGroups, SwapWithinTheBandIsATie) {
  // A keeps {0, 2}, B keeps {0, 1}; g2 scores 1.0 + 1e-4 in A, g1 1.0 in B: a gap of 1e-4 over the
  // row's rms.
  auto a = grouped_row(1e-4f, {0, 2}), b = grouped_row(1e-4f, {0, 1});
  RouterGroupFlips f = router_group_flips(a.data(), b.data(), 1, 8, 4, 1e-3);
  EXPECT_EQ(f.rows_differ, 1);
  EXPECT_EQ(f.rows_excused, 1);
  EXPECT_EQ(f.only_a, (std::vector<int32_t>{2}));
  EXPECT_EQ(f.only_b, (std::vector<int32_t>{1}));
  EXPECT_GT(f.need_tol, 0);
  EXPECT_LT(f.need_tol, 1e-3);
  // A band tighter than the gap makes it a flip.
  RouterGroupFlips g = router_group_flips(a.data(), b.data(), 1, 8, 4, 1e-6);
  EXPECT_EQ(g.rows_excused, 0);
  // The values are then compared on the groups both kept: g1 and g2 become −inf in both.
  mask_to_common_groups(a, b, f, 8, 4);
  for (int i : {2, 3, 4, 5}) EXPECT_TRUE(std::isinf(a[size_t(i)]) && std::isinf(b[size_t(i)])) << i;
  EXPECT_EQ(a[0], b[0]);
}

TEST(RouterGroups, UnequalGroupCountsAndNoGroupsAreHandled) {
  auto a = grouped_row(0, {0, 1, 2}), b = grouped_row(0, {0, 1});
  RouterGroupFlips f = router_group_flips(a.data(), b.data(), 1, 8, 4, 1.0);
  EXPECT_EQ(f.rows_differ, 1);
  EXPECT_EQ(f.rows_excused, 0);  // a different number of kept groups is never a tie
  EXPECT_TRUE(std::isinf(f.need_tol));
  RouterGroupFlips none = router_group_flips(a.data(), b.data(), 1, 8, 1, 1.0);  // n_group 1
  EXPECT_EQ(none.rows_differ, 0);
  RouterGroupFlips odd = router_group_flips(a.data(), b.data(), 1, 8, 3, 1.0);  // 3 does not divide 8
  EXPECT_EQ(odd.rows_differ, 0);
}

namespace {
// Layer 1, row r of a SynthRun with 4 groups of 2: B keeps groups {0, 1}, A keeps {0, 2}, with
// g2's score in A `gap` above g1's in B; expert_ids follow each dump's kept groups.
void plant_group_flip(SynthRun& run, int64_t r, float gap, bool a_side) {
  auto& sc = run.t["layers/01/router_scores"].f;
  auto& ids = run.t["layers/01/expert_ids"].i;
  auto z = a_side ? grouped_row(gap, {0, 2}) : grouped_row(gap, {0, 1});
  std::copy(z.begin(), z.end(), sc.begin() + r * run.E);
  ids[size_t(r * run.K)] = 0;                   // the best expert, group 0
  ids[size_t(r * run.K + 1)] = a_side ? 4 : 2;  // the best of the second kept group
}
}  // namespace

TEST(RouterGroups, VerifyJudgesAGroupTieAsAFlipNotANan) {
  for (float gap : {0.f, 0.5f}) {  // an exact tie of g1 and g2, then a clear gap
    SynthRun run;
    run.n_group = 4;
    const std::string a = tmp_path("groups_a.h5"), b = tmp_path("groups_b.h5");
    for (int64_t r = 0; r < run.n; ++r) {  // every row group-limited, the same groups kept
      auto& sc = run.t["layers/01/router_scores"].f;
      for (int g : {2, 3}) sc[size_t(r * run.E + 2 * g)] = sc[size_t(r * run.E + 2 * g + 1)] = kNinf;
    }
    // Rebuild row 3 consistently in both and flip its groups in A.
    plant_group_flip(run, 3, gap, false);
    run.write(b);
    plant_group_flip(run, 3, gap, true);
    for (auto& v : run.t["layers/01/expert_weights"].f) v += 1;  // what follows a flip changes
    run.write(a);
    VerifyReport rep = verify(a, b, "exact");
    const auto& rs = find(rep, "layers/01/router_scores");
    EXPECT_EQ(rs.f.nonfinite_mismatch, 0) << gap;
    EXPECT_EQ(rs.groups.rows_differ, 1) << gap;
    EXPECT_EQ(rep.first_flip, "layers/01/router_scores") << gap;
    const auto& ei = find(rep, "layers/01/expert_ids");
    EXPECT_EQ(ei.ix.rows_differ, 1);
    if (gap == 0) {
      EXPECT_EQ(rep.verdict, "pass") << rep.summary;
      EXPECT_EQ(rs.status, "tie");
      EXPECT_TRUE(rep.first_flip_excused);
      EXPECT_EQ(ei.status, "tie");  // the expert set follows the tied group choice
      EXPECT_EQ(find(rep, "layers/01/expert_weights").status, "diverged");
    } else {
      EXPECT_EQ(rep.verdict, "fail") << rep.summary;
      EXPECT_EQ(rs.status, "flip");
      EXPECT_EQ(rep.first_bad_flip, "layers/01/router_scores");
      // (expert_ids may still read as a tie: each dump's top 2 is right for its own masked scores;
      // the bad choice was the groups', and that is where the verdict points.)
    }
    auto j = report_json(rep);
    bool found = false;
    for (auto& t : j["tensors"])
      if (t["name"] == "layers/01/router_scores") found = t.contains("router_groups");
    EXPECT_TRUE(found);
  }
}

TEST(RouterGroups, AnOutOfRangeGroupCountFromTheDumpMeansNoGrouping) {
  // n_group comes from the dump's config_json, i.e. from a file: 1e300 (or 0, or -4) must not be
  // converted to an integer (undefined behaviour) but read as no grouping, so a moved −inf is a
  // plain non-finite mismatch again.
  for (const char* v : {"1e300", "0", "-4"}) {
    SynthRun run;
    run.config_extra = std::string(",\"n_group\":") + v;
    const std::string a = tmp_path("ngroup_a.h5"), b = tmp_path("ngroup_b.h5");
    plant_group_flip(run, 3, 0.f, false);
    run.write(b);
    plant_group_flip(run, 3, 0.f, true);
    run.write(a);
    VerifyReport rep = verify(a, b, "exact");
    const auto& rs = find(rep, "layers/01/router_scores");
    EXPECT_EQ(rs.groups.rows_differ, 0) << v;
    EXPECT_GT(rs.f.nonfinite_mismatch, 0) << v;
    EXPECT_EQ(rs.status, "nan") << v;
  }
}
