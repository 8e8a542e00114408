// Provenance every result file carries (reports/RESULTS.md "context"): the source commit the
// binary was built from and the time of the run. Shared by the CLI and the benchmark binaries.
#pragma once
#include <string>

namespace dsv32::reports {

// `git rev-parse HEAD` of the source tree the binary was built from, or "unknown".
std::string git_commit();
// Current UTC time, ISO 8601.
std::string utc_now();

}  // namespace dsv32::reports
