// `dsv32 compare BASE NEW`: per-benchmark verdicts between two result files of the same kind.
//
//   bench  tokens_per_s repetitions, higher is better      Mann-Whitney U + relative median change
//   ops    Google Benchmark real_time repetitions, lower    Mann-Whitney U + relative median change
//   ppl    ppl ± ppl_err (and kld_mean ± kld_err), lower    |diff| > combined error + relative change
//
// A row is `regressed` / `improved` only when the evidence (p < alpha, or for ppl the difference
// beyond sqrt(err_base² + err_new²)) AND the effect (|change| >= min_effect) agree; `insufficient
// data` when a side has fewer than 2 repetitions, when no outcome could reach p < alpha with these
// sample sizes, or when the row exists on one side only.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reports/results.h"

namespace dsv32::reports {

struct CompareOptions {
  double alpha = 0.05;
  double min_effect = 0.05;  // relative change, 0.05 = 5 %
};

struct CompareRow {
  std::string name;      // "sparse/absorbed pp512", "BM_matmul/f32/256", "dense/naive ppl"
  std::string unit;      // "tokens/s", "ns", "ppl"
  bool higher_is_better = true;
  int n_base = 0, n_new = 0;
  double base = NAN, next = NAN;  // medians (or the point values for ppl)
  double change = NAN;            // (next - base) / base
  double p = NAN;                 // two-sided p-value; NaN when no test applies
  double delta = NAN;             // Cliff's delta of new vs base (samples only)
  std::string verdict;            // improved | regressed | unchanged | insufficient data
  std::string note;
};

struct Comparison {
  std::string kind, base_path, new_path;
  CompareOptions opt;
  std::vector<CompareRow> rows;
  bool any_regression() const;
};

// Throws Error when the kinds differ or the kind cannot be compared (verify).
Comparison compare_results(const ResultFile& base, const ResultFile& next, const CompareOptions& opt);
// Verdict for two samples of one benchmark (exposed for tests).
CompareRow compare_samples(const std::string& name, const std::string& unit, bool higher_is_better,
                           const std::vector<double>& base, const std::vector<double>& next,
                           const CompareOptions& opt);

std::string comparison_text(const Comparison& c);  // aligned table + summary line
nlohmann::json comparison_json(const Comparison& c);

}  // namespace dsv32::reports
