// Group-limited routing in verify: `router_scores` rows hold z = σ + bias for the experts of the
// kept groups and −inf for every expert of a dropped group (MODEL §8.2 step 4; E experts in
// n_group contiguous groups of E / n_group). When two runs keep different groups in a row, the
// −inf entries sit at different places: that is a selection flip (like an indexer or expert-id
// flip), not a non-finite error, and it is judged as one.
//
// Tie rule. A group's score is the sum of its two largest z (§8.2). Say each dump's z is the true z
// within δ (relative to the row's rms), so each dump's group score is the true one within 2δ. Group
// a kept only by A and group b kept only by B mean score_A(a) ≥ score_A(b) and score_B(b) ≥
// score_B(a), so the true scores of a and b are within 4δ of each other, and the measured
// score_A(a) (in the dump that kept a) and score_B(b) within 8δ. A differing row is excused when
// every such pair is within `tie_rel` · rms: compare.cpp passes tie_rel = 8 · the tie tolerance it
// uses for expert_ids against router_scores. Any other difference (a group count that differs,
// NaN scores, a gap above that) is a flip that is not a tie.
//
// A row whose groups flipped (excused or not) then has its expert_ids judged by the flip: an
// excused group flip excuses the row's whole expert set (the top-8 is taken over other candidates),
// and the values of router_scores are compared only where both dumps kept the group.
#pragma once
#include <cstdint>
#include <vector>

namespace dsv32 {

struct RouterGroupFlips {
  int64_t rows = 0, rows_differ = 0, rows_excused = 0;
  double tie_rel = 0;                  // the band rows were judged with
  double need_tol = 0;                 // the tie_rel every differing row would need
  int64_t worst_row = -1;              // first differing row not excused (else the first differing)
  std::vector<int32_t> only_a, only_b;  // that row's groups kept in one dump only
  std::vector<char> differ, excused;   // per row
};

// a, b: aligned rows of router_scores, [rows, E]; n_group ≥ 2 dividing E (else nothing is done
// and every row counts as the same selection).
RouterGroupFlips router_group_flips(const float* a, const float* b, int64_t rows, int64_t E, int64_t n_group,
                                    double tie_rel);

// In rows whose kept groups differ, sets the entries of a group kept by only one dump to −inf in
// both copies, so the value comparison sees the groups both kept (and −inf = −inf elsewhere).
void mask_to_common_groups(std::vector<float>& a, std::vector<float>& b, const RouterGroupFlips& g, int64_t E,
                           int64_t n_group);

}  // namespace dsv32
