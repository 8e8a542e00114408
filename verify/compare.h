// The comparator behind `dsv32 verify A.h5 B.h5`: A is the candidate, B the reference. Tensors are
// compared in A's forward order, rows aligned by absolute position. Float tensors get max abs/rel
// error, NMSE, cosine, ULP distance and the worst element; index tensors (indexer_topk, expert_ids)
// get per-row set agreement with a tie-aware verdict; logits also get KL, top-1 and top-5;
// router_scores rows whose kept expert groups differ are judged as group flips (router_groups.h).
//
// Verdict (see verify/SCHEMA.md, "Verdict"):
//   first_failure  first float tensor beyond its tolerance ("" when none)
//   first_flip     first index tensor whose sets differ in some row (or router_scores whose kept
//                  groups do), excused or not
//   first_bad_flip first such tensor with a row that is not excused as a tie
//   verdict fail   when there is a bad flip, or a failure that no (excused) flip precedes, or the
//                  logits' KL/top-1/top-5 miss the profile, or a tensor's provenance verdict is
//                  `systematic` (verify/provenance.h) whatever the magnitudes; tensors beyond tolerance after an excused
//                  flip are reported as "diverged" (a tie legitimately changes what follows).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "verify/dump.h"
#include "verify/error_stats.h"
#include "verify/profile.h"
#include "verify/provenance.h"
#include "verify/router_groups.h"

namespace dsv32 {

// Arithmetic comparison of two float arrays (a = candidate, b = reference). Elements where both are
// NaN, or both the same infinity, are equal and left out of the sums; any other non-finite
// disagreement is counted in `nonfinite_mismatch`.
struct FloatStats {
  int64_t n = 0, nonfinite_mismatch = 0, first_nonfinite = -1;
  double max_abs = 0, max_rel = 0;   // max |a-b|; max |a-b|/|b| over b != 0
  double nmse = 0;                   // Σ(a-b)² / Σb²  (0 if both all-zero, inf if only b is)
  double cos = 1;                    // Σab / sqrt(Σa²Σb²)
  double rms_ref = 0;                // sqrt(Σb²/n)
  double max_norm = 0;               // max |a-b| / (|b| + rms_ref): the per-element check
  int64_t worst = -1;                // flat index of max_norm
  double worst_a = 0, worst_b = 0;
  int64_t ulp_worst = 0, ulp_max = 0;  // fp32 ULP distance at `worst`, and the largest anywhere
};
FloatStats float_stats(const float* a, const float* b, int64_t n);
// Distance in representable fp32 values (0 for equal, 1 for neighbours; ±0 are equal).
int64_t ulp_distance(float a, float b);
// sqrt(mean of x²) over the finite entries of a row (0 when none): the scale tie tests measure gaps in.
double finite_rms(const float* row, int64_t width);

struct IndexStats {
  int64_t rows = 0, rows_differ = 0, rows_excused = 0;
  double jaccard_mean = 1, jaccard_min = 1;
  int64_t worst_row = -1;             // first row not excused (or the first differing one)
  std::vector<int32_t> only_a, only_b;  // that row's symmetric difference
  double need_tol = 0;                // smallest relative tie tolerance that would excuse every row
  bool scores_available = false;
};

struct LogitsStats {
  int64_t rows = 0;
  double kl_mean = 0, kl_max = 0;
  double top1 = 1;                    // agreement, near-ties counted as agreeing
  int64_t top1_raw_mismatch = 0, top1_excused = 0;
  double top5 = 1;
  bool pass = true;
};

struct TensorReport {
  std::string name;
  std::vector<int64_t> shape;         // compared shape (aligned rows first)
  bool is_index = false;
  std::string status;                 // pass, fail, diverged, tie, flip, nan
  bool after_flip = false;            // comes after the first flip in forward order
  double tol = 0;                     // β (float) or tie tolerance (index), relative
  double min_tol = 0;                 // smallest tolerance that would have passed (same units)
  FloatStats f;
  IndexStats ix;
  std::vector<int64_t> worst_at;      // coordinates of the worst element, row as absolute position
  ProvenanceStats prov;               // origin / propagated rows and the flip-or-systematic verdict
  ErrorStats e;                       // float tensors: error quantiles, ULP histogram, worst elements
  RouterGroupFlips groups;            // router_scores with group-limited routing: rows whose kept
                                      // groups differ (verify/router_groups.h); values compared on the
                                      // groups both kept
};

struct VerifyOptions {
  std::string tensors_regex;          // compare only names where regex_search matches
  bool fail_fast = false;             // stop after the first failure or bad flip
};

struct VerifyReport {
  std::string a, b, profile;
  std::string verdict;                // "pass" or "fail"
  std::string summary;                // the one-line verdict
  std::string first_failure, first_flip, first_bad_flip;
  bool first_flip_excused = false;
  std::string first_origin;           // first tensor (forward order) with an origin row
  int64_t first_origin_pos = -1;      // that row's position
  std::string first_systematic;       // first float tensor whose origins are too many for flips
  std::vector<TensorReport> tensors;  // forward order
  bool has_logits = false;
  LogitsStats logits;
  std::vector<std::string> warnings;
  bool passed() const { return verdict == "pass"; }
};

// Compares two open dumps. Throws Error when they cannot be compared: different ids, or a tensor
// present in both with different non-row dimensions or (both complete, unfiltered) row counts.
VerifyReport verify_dumps(const DumpReader& a, const DumpReader& b, const Profile& profile,
                          const VerifyOptions& opt = {});

// The compact table (forward order), logits line, first failure/flip and the verdict line.
void print_report(std::FILE* out, const VerifyReport& r);
// The long form of the error statistics (`verify --stats`): per float tensor that differs, the
// abs/rel error quantiles, the ULP histogram and the worst elements with coordinates.
void print_stats(std::FILE* out, const VerifyReport& r);
nlohmann::json report_json(const VerifyReport& r);

}  // namespace dsv32
