// dsv32 verify A.h5 B.h5: compares two activation dumps tensor by tensor (verify/compare.h).
// Exit 0 pass, 1 fail, 2 error (unreadable dump, shape or ids mismatch, bad option).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "app/args.h"
#include "app/command.h"
#include "app/common.h"
#include "kernels/error.h"
#include "model/atomic_file.h"
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

// Per layer: NMSE of the residual stream leaving it, accumulated (A: every layer on its own
// stream) and local (C: the layer fed B's input). A wrong kernel in layer L shows as a local jump
// at L alone; accumulated error then grows from L on.
void print_local(FILE* f, const dsv32::VerifyReport& acc, const dsv32::VerifyReport& loc) {
  using dsv32::TensorReport, dsv32::VerifyReport;
  auto nmse_of = [](const VerifyReport& r, const std::string& name) {
    for (const TensorReport& t : r.tensors)
      if (t.name == name) return t.f.nmse;
    return std::nan("");
  };
  std::fprintf(f, "local vs accumulated error (NMSE of layers/NN/residual against B):\n  layer  accumulated  local\n");
  for (int l = 0;; ++l) {
    char name[64];
    std::snprintf(name, sizeof name, "layers/%02d/residual", l);
    const double a = nmse_of(acc, name), c = nmse_of(loc, name);
    if (std::isnan(a) && std::isnan(c)) break;
    std::fprintf(f, "  %5d  %11.3e  %9.3e\n", l, a, c);
  }
  std::fprintf(f, "local: %s\n", loc.summary.c_str());
}

int run(const std::vector<std::string>& args) {
  using namespace dsv32;
  app::ArgParser p("verify", "Compare two activation dumps (A = candidate, B = reference) tensor by tensor.");
  std::vector<std::string> files;
  p.allow_positional(&files, "A.h5 B.h5");
  std::string profile = "exact", profiles_file = default_profiles(), tensors, json_out, local;
  bool fail_fast = false, quiet = false, stats = false;
  p.add("--profile", &profile, "NAME", "tolerance profile: bitwise (bit-identical), exact (fp32 vs fp32/fp64), ref1, bf16; the old name fp32 means exact (verify/profiles.json)");
  p.add("--profiles", &profiles_file, "FILE", "tolerance profile file ($DSV32_PROFILES overrides the default)");
  p.add("--local", &local, "C.h5",
        "a dump of A's run made with `dsv32 run --inject-from B.h5`: reports each layer's local error "
        "(fed B's input) beside A's accumulated one, so the layer whose kernel is wrong stands out");
  p.add("--tensors", &tensors, "REGEX", "compare only tensors whose path matches (std::regex_search)");
  p.add("--json", &json_out, "OUT", "also write the report as JSON");
  p.add_flag("--fail-fast", &fail_fast, "stop at the first failure or non-tie flip");
  p.add_flag("--quiet", &quiet, "print only warnings and the verdict line");
  p.add_flag("--stats", &stats, "also print per-tensor error quantiles (abs/rel p50..max), the ULP histogram in\n"
             "the storage dtype (bf16 for ref1 dumps' bf16 values) and the worst elements with\n"
             "(layer, position, head, channel); --json always holds them");
  p.epilog(
      "Exit status: 0 pass, 1 fail, 2 error. Shapes must match; ids must match; differing attn/mla\n"
      "modes only warn. The first tensor beyond tolerance (first failure) and the first index tensor\n"
      "whose sets differ (first flip; ties at the cut-off are excused) are reported in forward order.\n"
      "Provenance: a differing row whose inputs are all identical is an origin; a tensor with more\n"
      "origins than independent rounding-boundary flips allow is 'systematic' and fails the run\n"
      "whatever the magnitudes (verify/provenance.h).\n"
      "examples:\n"
      "  dsv32 verify cpp.h5 ref.h5 --profile exact --json report.json\n"
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
    if (stats) print_stats(stdout, rep);
    VerifyReport loc;
    if (!local.empty()) {
      DumpReader c(local);
      loc = verify_dumps(c, b, prof, opt);
      print_local(stdout, rep, loc);
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
      if (!local.empty()) {
        // local_nmse per tensor (the report's accuracy section draws it beside the accumulated one).
        for (auto& t : j["tensors"])
          for (const TensorReport& lt : loc.tensors)
            if (lt.name == t.value("name", "") && !lt.is_index && std::isfinite(lt.f.nmse)) t["local_nmse"] = lt.f.nmse;
        j["local"] = {{"file", local}, {"verdict", loc.verdict}, {"first_failure", loc.first_failure},
                      {"summary", loc.summary}};
      }
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
