// dsv32 compare BASE.json NEW.json: per-benchmark verdicts (improved / regressed / unchanged /
// insufficient data) between two result files of the same kind. A regression needs a significant
// Mann-Whitney U test over repetitions (ppl: a difference beyond the combined error) AND a change of
// at least --min-effect. Exit 0 no regression, 1 regression, 2 error — so CI can gate on it.
#include <cstdio>
#include <fstream>

#include "app/args.h"
#include "app/command.h"
#include "kernels/error.h"
#include "reports/compare.h"

namespace dsv32::app {
namespace {

int run(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  reports::CompareOptions opt;
  std::string json_out;
  ArgParser p("compare", "Compare two result files of the same kind (bench, ops or ppl) and flag regressions.");
  p.allow_positional(&files, "BASE.json NEW.json");
  p.add("--alpha", &opt.alpha, "A", "significance level of the two-sided Mann-Whitney U test");
  p.add("--min-effect", &opt.min_effect, "F", "smallest relative change that counts (0.05 = 5 %)");
  p.add("--json", &json_out, "OUT", "also write the comparison as JSON");
  p.epilog(
      "bench: tokens_per_s repetitions (higher is better); ops: Google Benchmark real_time repetitions\n"
      "(--benchmark_repetitions; lower is better); ppl: ppl ± ppl_err and kld_mean ± kld_err (lower is\n"
      "better; flagged when the difference exceeds both the combined error and --min-effect).\n"
      "Exit status: 0 no regression, 1 at least one regression, 2 error.\n"
      "example:\n"
      "  dsv32 compare main/bench.json pr/bench.json --min-effect 0.03 --json cmp.json");
  if (!p.parse(args)) return 0;
  if (files.size() != 2) fail("expected two result files: dsv32 compare BASE.json NEW.json (got " + std::to_string(files.size()) + ")");
  if (!(opt.alpha > 0 && opt.alpha < 1)) fail("--alpha must be in (0, 1)");
  if (!(opt.min_effect >= 0)) fail("--min-effect must be >= 0");
  const reports::ResultFile base = reports::load_result(files[0]), next = reports::load_result(files[1]);
  const reports::Comparison c = reports::compare_results(base, next, opt);
  std::fputs(reports::comparison_text(c).c_str(), stdout);
  if (!json_out.empty()) {
    std::ofstream f(json_out);
    if (!f || !(f << reports::comparison_json(c).dump(2) << "\n")) fail("--json " + json_out + ": cannot write");
  }
  return c.any_regression() ? 1 : 0;
}

const Command kCmd{"compare", "compare two bench/ops/ppl results; exit 1 on a significant regression", &run};

}  // namespace
}  // namespace dsv32::app
