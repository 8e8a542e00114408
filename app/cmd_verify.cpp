// dsv32 verify A.h5 B.h5: compares two activation dumps tensor by tensor (verify/compare.h).
// Exit 0 pass, 1 fail, 2 error (unreadable dump, shape or ids mismatch, bad option).
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "model/atomic_file.h"
#include "model/error.h"
#include "verify/compare.h"

namespace {

std::string default_profiles() {
  if (const char* p = std::getenv("DSV32_PROFILES")) return p;
#ifdef DSV32_SOURCE_DIR
  return DSV32_SOURCE_DIR "/verify/profiles.json";
#else
  return "verify/profiles.json";
#endif
}

void write_json(const std::string& path, const nlohmann::json& j) { dsv32::write_file_atomic(path, j.dump(2) + "\n"); }

int run(const std::vector<std::string>& args) {
  using namespace dsv32;
  app::ArgParser p("verify", "Compare two activation dumps (A = candidate, B = reference) tensor by tensor.");
  std::vector<std::string> files;
  p.allow_positional(&files, "A.h5 B.h5");
  std::string profile = "fp32", profiles_file = default_profiles(), tensors, json_out;
  bool fail_fast = false, quiet = false;
  p.add("--profile", &profile, "NAME", "tolerance profile: exact, fp32, bf16 (see verify/profiles.json)");
  p.add("--profiles", &profiles_file, "FILE", "tolerance profile file ($DSV32_PROFILES overrides the default)");
  p.add("--tensors", &tensors, "REGEX", "compare only tensors whose path matches (std::regex_search)");
  p.add("--json", &json_out, "OUT", "also write the report as JSON");
  p.add_flag("--fail-fast", &fail_fast, "stop at the first failure or non-tie flip");
  p.add_flag("--quiet", &quiet, "print only warnings and the verdict line");
  p.epilog(
      "Exit status: 0 pass, 1 fail, 2 error. Shapes must match; ids must match; differing attn/mla\n"
      "modes only warn. The first tensor beyond tolerance (first failure) and the first index tensor\n"
      "whose sets differ (first flip; ties at the cut-off are excused) are reported in forward order.\n"
      "examples:\n"
      "  dsv32 verify cpp.h5 ref.h5 --profile fp32 --json report.json\n"
      "  dsv32 verify sparse.h5 dense.h5 --tensors '^layers/0[0-3]/' --fail-fast");
  try {
    if (!p.parse(args)) return 0;
    if (files.size() != 2) fail("expected two dumps: dsv32 verify A.h5 B.h5 (got " + std::to_string(files.size()) + ")");
    ProfileSet set = ProfileSet::load(profiles_file);
    const Profile& prof = set.get(profile);
    DumpReader a(files[0]), b(files[1]);
    VerifyOptions opt;
    opt.tensors_regex = tensors;
    opt.fail_fast = fail_fast;
    VerifyReport rep = verify_dumps(a, b, prof, opt);
    if (quiet) {
      for (auto& w : rep.warnings) std::printf("warning: %s\n", w.c_str());
      std::printf("%s\n", rep.summary.c_str());
    } else {
      print_report(stdout, rep);
    }
    if (!json_out.empty()) {
      // The shared result envelope (reports/RESULTS.md) so report/history know commit and mode.
      nlohmann::json j = report_json(rep);
      j["schema_version"] = 1;
      j["kind"] = "verify";
      j["attn"] = b.meta().meta.attn;
      j["mla"] = b.meta().meta.mla;
      j["context"] = {{"git_commit", app::git_commit()}, {"time", app::utc_now()}, {"producer", "dsv32 verify"},
                      {"version", app::kVersion}, {"device", "cpu"},
                      {"a", a.meta().meta.producer + " " + a.meta().meta.numerics},
                      {"b", b.meta().meta.producer + " " + b.meta().meta.numerics}};
      write_json(json_out, j);
    }
    return rep.passed() ? 0 : 1;
  } catch (const Error& e) {
    // Still leave a machine-readable verdict behind for scripts.
    if (!json_out.empty()) {
      try {
        write_json(json_out, {{"verdict", "error"}, {"error", e.what()}, {"first_failure", ""},
                              {"first_flip", ""}, {"tensors", nlohmann::json::array()}});
      } catch (...) {
      }
    }
    throw;  // main prints "dsv32 verify: error: ..." and exits 2
  }
}

const dsv32::app::Command kCmd{"verify", "compare two activation dumps (A.h5 B.h5) tensor by tensor", &run};

}  // namespace
