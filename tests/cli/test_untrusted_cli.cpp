// Issue 11's malformed-input corpus, end to end through the dsv32 binary: each case builds a bad
// input from the tiny checkpoint or a small file, and expects exit status 2 with one line that
// names the file and the field at fault -- never a signal, an internal error (exit 3) or a
// wrong number with exit 0.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <chrono>
#include <cstring>
#include <functional>
#include <iterator>
#include <sstream>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"
#include "verify/dump.h"
#include "verify/logits_store.h"

namespace dsv32::testing {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class Untrusted : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = tiny_checkpoint();
    dir_ = fs::path(DSV32_BUILD_DIR) / ("untrusted-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& f) const { return (dir_ / f).string(); }

  // A checkpoint directory sharing the tiny model's shards (symlinks) with an edited config.json
  // and/or index.
  std::string variant(const std::string& name, const std::function<void(json&)>& edit_config,
                      const std::function<void(json&)>& edit_index = nullptr) const {
    const fs::path d = dir_ / name;
    fs::create_directories(d);
    for (auto& e : fs::directory_iterator(model_)) {
      const std::string f = e.path().filename().string();
      if (f == "config.json" || f == "model.safetensors.index.json") continue;
      fs::create_symlink(e.path(), d / f);
    }
    json c = read_json(model_ + "/config.json"), idx = read_json(model_ + "/model.safetensors.index.json");
    if (edit_config) edit_config(c);
    if (edit_index) edit_index(idx);
    std::ofstream(d / "config.json") << c.dump(2);
    std::ofstream(d / "model.safetensors.index.json") << idx.dump(2);
    return d.string();
  }

  // Exit 2, one "error:" line holding every needle.
  static void expect_error(const std::string& args, std::initializer_list<std::string> needles) {
    CliResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
    std::string last = r.out;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
    EXPECT_NE(last.find("error: "), std::string::npos) << args << "\n" << r.out;
    for (const std::string& n : needles) EXPECT_NE(last.find(n), std::string::npos) << "lacks '" << n << "': " << r.out;
  }

  std::string model_;
  fs::path dir_;
};

TEST_F(Untrusted, ConfigValuesThatPrintedWrongNumbersOrCrashed) {
  struct Case {
    const char* name;
    std::function<void(json&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"theta1", [](json& c) { c["rope_theta"] = 1.0; }, "key 'rope_theta': value 1.0 must be greater than 1"},
      {"ropetype", [](json& c) { c["rope_scaling"]["type"] = 5; }, "key 'rope_scaling.type': expected a string"},
      {"topk62", [](json& c) { c["index_topk"] = int64_t(1) << 62; }, "key 'index_topk'"},
      {"hidden40", [](json& c) { c["hidden_size"] = int64_t(1) << 40; }, "key 'hidden_size'"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const std::string m = variant(k.name, k.edit);
    expect_error("info --model " + m, {m + "/config.json", k.field});
    expect_error("run --model " + m + " --ids 1,2", {m + "/config.json", k.field});
  }
  // Each dimension within its cap, their product over experts and layers not within int64.
  const std::string big = variant("bigproduct", [](json& c) {
    c["hidden_size"] = c["moe_intermediate_size"] = c["n_routed_experts"] = 1 << 20;
    c["n_group"] = 1;
    c["topk_group"] = 1;
  });
  expect_error("info --model " + big, {big + "/config.json: parameter count", "overflows"});
}

TEST_F(Untrusted, CheckpointFilesOutsideTheDirectoryOrUnparseable) {
  for (const char* shard : {"../escape.safetensors", "/etc/passwd"}) {
    SCOPED_TRACE(shard);
    const std::string m = variant(std::string("shard") + std::to_string(shard[0] == '/'), nullptr,
                                  [&](json& idx) { idx["weight_map"]["model.embed_tokens.weight"] = shard; });
    expect_error("run --model " + m + " --ids 1,2",
                 {m + "/model.safetensors.index.json", "tensor 'model.embed_tokens.weight'", "not a plain file name"});
  }
  // A header number overflowing a double (1e400) was an internal error.
  const fs::path d = dir_ / "overflow";
  fs::create_directories(d);
  fs::copy_file(model_ + "/config.json", d / "config.json");
  std::string hdr = R"({"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}})";
  hdr.append((8 - hdr.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = char(uint64_t(hdr.size()) >> (8 * i));
  bytes += hdr + std::string(4, '\0');
  std::ofstream(d / "model.safetensors", std::ios::binary) << bytes;
  expect_error("run --model " + d.string() + " --ids 1,2", {(d / "model.safetensors").string(), "header is not valid JSON"});
}

TEST_F(Untrusted, RunOptionsThatWereSilentlyReinterpreted) {
  expect_error("run --model " + model_ + " --ids 1,2,3 --prefill -1", {"--prefill -1: must be non-negative"});
  expect_error("run --model " + model_ + " --ids 1,2,3,4 --ctx 2", {"--ctx 2", "all 4 positions"});
  EXPECT_EQ(run_cli("run --quiet --model " + model_ + " --ids 1,2,3,4 --ctx 4").status, 0);
}

// A dump's one extra dataset with the given dims (chunked, never written).
void add_dataset(const std::string& file, std::vector<hsize_t> dims) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  std::vector<hsize_t> maxd(dims.size(), H5S_UNLIMITED), chunk(dims.size(), 1);
  hid_t sp = H5Screate_simple(int(dims.size()), dims.data(), maxd.data());
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
  H5Dclose(H5Dcreate2(f, "layers/00/extra", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Fclose(f);
}

TEST_F(Untrusted, VerifyRefusesIncompleteHugeAndWrappingDumps) {
  const std::string a = path("a.h5"), ids = "--ids 5,6,7,8";
  ASSERT_EQ(run_cli("run --quiet --model " + model_ + " " + ids + " --dump " + a).status, 0);
  EXPECT_FALSE(fs::exists(partial_path(a)));
  EXPECT_EQ(run_cli("verify --quiet " + a + " " + a).status, 0);
  // What a killed run leaves: no forward_order. (It used to verify as PASS against the whole dump.)
  const std::string cut = path("cut.h5.partial");
  fs::copy_file(a, cut);
  {
    hid_t f = H5Fopen(cut.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "meta", H5P_DEFAULT);
    H5Adelete(g, "forward_order");
    H5Gclose(g);
    H5Fclose(f);
  }
  expect_error("verify " + cut + " " + a, {cut + ": /meta: attribute 'forward_order' missing", "incomplete dump"});
  // 2^40 rows stored in nothing; [1, 2^61+1, 8] (wrapped to 8 elements and passed).
  const std::string huge = path("huge.h5"), wrap = path("wrap.h5");
  fs::copy_file(a, huge);
  fs::copy_file(a, wrap);
  add_dataset(huge, {hsize_t(1) << 40, 8});
  add_dataset(wrap, {1, (hsize_t(1) << 61) + 1, 8});
  expect_error("verify " + huge + " " + a, {huge + ": dataset '/layers/00/extra': shape claims"});
  expect_error("verify " + wrap + " " + a, {wrap + ": dataset '/layers/00/extra': shape", "overflows"});
}

// Full disk: `ulimit -f` with SIGXFSZ ignored makes writes fail with EFBIG.
TEST_F(Untrusted, FullDiskDuringDumpIsOneErrorAndNoFile) {
  const std::string out = path("full.h5");
  const CliResult r =
      run_cli_full_disk(200, "run --quiet --model " + model_ + " --ids 1,2,3,4,5,6,7,8,9,10,11,12 --dump " + out);
  EXPECT_EQ(r.status, 2) << r.out;  // was 139: SIGSEGV in libhdf5's exit handler
  EXPECT_NE(r.out.find(out), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failed"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(partial_path(out)));
}

// ppl cases need the real tokenizer and the default text (scripts/test prepares both).
class UntrustedPpl : public Untrusted {
 protected:
  void SetUp() override {
    text_ = std::string(DSV32_SOURCE_DIR) + "/datasets/data/default.txt";
    tok_ = std::string(DSV32_SOURCE_DIR) + "/.cache/tokenizer/tokenizer.json";
    if (!fs::exists(text_)) GTEST_SKIP() << "no " << text_ << ": run datasets/prepare.sh";
    if (!fs::exists(tok_)) GTEST_SKIP() << "no " << tok_ << ": run scripts/fetch_tokenizer.sh";
    Untrusted::SetUp();
  }
  std::string args() const {
    return "ppl --quiet --model " + model_ + " --text " + text_ + " --tokenizer " + tok_ + " --ctx 32 --chunks 2";
  }
  std::string text_, tok_;
};

TEST_F(UntrustedPpl, KlBaseStoreIsValidatedAgainstTheModel) {
  expect_error(args() + " --top-n -1", {"--top-n: must be at least 1"});
  // vocab differs from the model's.
  const std::string small = path("small.h5");
  {
    LogitsStoreWriter w(small, LogitsStoreInfo{4, 50, 32, "sig", "sparse", "absorbed", "m"}, false, 0);
    w.finish();
  }
  expect_error(args() + " --kl-base " + small, {small + ": attribute vocab 50 differs from the model's 129280"});
  // A real store with one top id set to 1e9 (was a SIGSEGV in the KL loop).
  const std::string base = path("base.h5");
  ASSERT_EQ(run_cli(args() + " --state " + path("s0") + " --save-logits " + base).status, 0);
  EXPECT_FALSE(fs::exists(partial_path(base)));
  EXPECT_EQ(run_cli(args() + " --state " + path("s1") + " --kl-base " + base).status, 0);
  {
    hid_t f = H5Fopen(base.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/kl_base/top_ids", H5P_DEFAULT);
    hid_t fsp = H5Dget_space(ds);
    hsize_t start[2] = {3, 0}, count[2] = {1, 1};
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, nullptr, count, nullptr);
    hid_t ms = H5Screate_simple(2, count, nullptr);
    int32_t v = 1000000000;
    H5Dwrite(ds, H5T_NATIVE_INT32, ms, fsp, H5P_DEFAULT, &v);
    H5Sclose(ms);
    H5Sclose(fsp);
    H5Dclose(ds);
    H5Fclose(f);
  }
  expect_error(args() + " --state " + path("s2") + " --kl-base " + base,
               {base + ": dataset /kl_base/top_ids: id 1000000000 at element 192"});
}

TEST_F(UntrustedPpl, ResumeValidatesEveryStateRecord) {
  // A finished run whose --json cannot be written leaves its state behind: header + 2 chunks.
  const std::string state = path("state"), full = path("full.json");
  ASSERT_EQ(run_cli(args() + " --state " + state + " --json " + path("nodir/x.json")).status, 2);
  ASSERT_TRUE(fs::exists(state));
  ASSERT_EQ(run_cli(args() + " --state " + path("s_full") + " --json " + full).status, 0);
  std::vector<std::string> lines;
  {
    std::ifstream in(state);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  ASSERT_EQ(lines.size(), 3u);
  auto with = [&](const std::string& name, const std::function<void(std::vector<std::string>&)>& edit) {
    std::vector<std::string> l = lines;
    edit(l);
    const std::string p = path(name);
    std::ofstream out(p);
    for (auto& s : l) out << s << "\n";
    return p;
  };
  auto edit_rec = [&](int line, const std::function<void(json&)>& f) {
    return [=](std::vector<std::string>& l) {
      json j = json::parse(l[line]);
      f(j);
      l[line] = j.dump();
    };
  };
  struct Case {
    const char* name;
    std::function<void(std::vector<std::string>&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"short", edit_rec(1, [](json& j) { j["runs"][0]["nll"].erase(0); }), "line 2: runs[0]: 'nll' must be an array of 15 numbers"},
      {"long", edit_rec(2, [](json& j) { j["runs"][0]["nll"].push_back(1.0); }), "line 3: runs[0]: 'nll' must be an array of 15"},
      {"nokey", edit_rec(1, [](json& j) { j["runs"][0].erase("seconds"); }), "line 2: runs[0]: key 'seconds' missing"},
      {"noruns", edit_rec(1, [](json& j) { j.erase("runs"); }), "line 2: key 'runs' missing"},
      {"string", edit_rec(1, [](json& j) { j["runs"][0]["nll"][0] = "x"; }), "line 2: runs[0]: 'nll' holds a non-number"},
      {"chunk", edit_rec(1, [](json& j) { j["chunk"] = 5; }), "line 2: 'chunk' is 5, expected 0"},
      {"tokens", edit_rec(2, [](json& j) { j["runs"][0]["tokens"] = 7; }), "line 3: runs[0]: 'tokens' must be an integer in [32, 32]"},
      {"garbage", [](std::vector<std::string>& l) { l[1] = "{torn"; }, "line 2: not JSON"},
      {"array", [](std::vector<std::string>& l) { l[1] = "[1,2]"; }, "line 2: not a JSON object"},
      {"extra", [](std::vector<std::string>& l) { l.push_back(l[2]); }, "line 4: 'chunk' is 1, expected 2"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const std::string p = with(k.name, k.edit);
    expect_error(args() + " --resume --state " + p, {p + ": " + k.field});
  }
  // A torn last line reruns that chunk; the untouched state resumes to the full run's numbers.
  for (const char* name : {"torn", "whole"}) {
    const std::string p = with(name, [&](std::vector<std::string>& l) {
      if (std::string(name) == "torn") l[2] = l[2].substr(0, l[2].size() / 2);
    });
    const std::string out = path(std::string(name) + ".json");
    CliResult r = run_cli(args() + " --resume --state " + p + " --json " + out);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(read_json(out)["ppl"], read_json(full)["ppl"]) << name;
  }
}

TEST_F(UntrustedPpl, FullDiskDuringSaveLogitsIsOneErrorAndNoStore) {
  const std::string out = path("full_base.h5");
  const CliResult r = run_cli_full_disk(64, args() + " --full-logits --state " + path("sf") + " --save-logits " + out);
  ASSERT_LT(r.status, 128) << r.out;  // was SIGSEGV at exit
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(partial_path(out)), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));  // never renamed into place: it would pass as whole
}

}  // namespace
}  // namespace dsv32::testing

namespace dsv32::testing {
namespace {

// Starts `dsv32 ARGS` (output to /dev/null) and SIGKILLs it as soon as `when()` holds (polled every
// 2 ms), so that a kill lands at a point of progress rather than of wall time on a loaded machine.
// Returns whether it had already finished (exit 0) instead.
bool kill_when(const std::vector<std::string>& args, const std::function<bool()>& when) {
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    std::vector<char*> argv{const_cast<char*>(DSV32_BIN)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(DSV32_BIN, argv.data());
    _exit(127);
  }
  int st = 0;
  for (;;) {
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (when()) break;
    usleep(2000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// kill_when after `ms` of wall time.
bool kill_after(const std::vector<std::string>& args, int ms) {
  const auto start = std::chrono::steady_clock::now();
  return kill_when(args, [&] { return std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(ms); });
}

// kill -9 at any point of `run --dump` leaves either the complete dump (which verifies against an
// uninterrupted one) or no OUT.h5 -- and a leftover OUT.h5.partial that verify refuses. (Before:
// 5 of 8 killed dumps were unreadable and the readable ones passed verify as whole.)
TEST_F(Untrusted, KilledDumpNeverPassesAsWhole) {
  std::string ids;
  for (int i = 1; i <= 48; ++i) ids += (i > 1 ? "," : "") + std::to_string(i);
  const std::string whole = path("whole.h5");
  ASSERT_EQ(run_cli("run --quiet --model " + model_ + " --ids " + ids + " --prefill 8 --dump " + whole).status, 0);
  int partial_seen = 0;
  for (int ms : {150, 300, 450, 600, 800, 1000, 1300, 1700}) {
    SCOPED_TRACE(ms);
    const std::string out = path("killed_" + std::to_string(ms) + ".h5");
    const bool finished =
        kill_after({"run", "--quiet", "--model", model_, "--ids", ids, "--prefill", "8", "--dump", out}, ms);
    if (fs::exists(out)) {
      EXPECT_EQ(run_cli("verify --quiet " + out + " " + whole).status, 0) << "a renamed dump is complete";
    } else {
      EXPECT_FALSE(finished);
    }
    if (fs::exists(partial_path(out))) {
      ++partial_seen;
      CliResult r = run_cli("verify --quiet " + partial_path(out) + " " + whole);
      EXPECT_EQ(r.status, 2) << r.out;  // unreadable, or readable and incomplete: never a PASS
    }
  }
  EXPECT_GT(partial_seen, 0) << "no kill landed mid-run: the timings need adjusting";
}

// kill -9 during synth: the directory is a checkpoint only once its index is written last.
TEST_F(Untrusted, KilledSynthLeavesNoCheckpoint) {
  const std::string out = path("synth");
  for (int ms : {200, 700}) {
    fs::remove_all(out);
    const bool finished = kill_after({"synth", "--preset", "tiny", "--out", out}, ms);
    if (finished) continue;
    EXPECT_FALSE(fs::exists(out + "/model.safetensors.index.json"));
    expect_error("run --model " + out + " --ids 1,2", {out});
  }
}


// The ppl arguments split for kill_after (the paths hold no spaces).
std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> w;
  std::istringstream in(s);
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

// Every row of two logit stores, field by field (bit-identical floats).
void expect_same_store(const std::string& a, const std::string& b) {
  const LogitsStoreReader ra(a), rb(b);
  ASSERT_EQ(ra.rows(), rb.rows()) << a << " vs " << b;
  EXPECT_EQ(ra.info().top_n, rb.info().top_n);
  for (int64_t i = 0; i < ra.rows(); ++i) {
    const BaseRow x = ra.row(i), y = rb.row(i);
    ASSERT_TRUE(x.target == y.target && x.argmax == y.argmax && x.dist.ids == y.dist.ids &&
                std::memcmp(&x.target_logp, &y.target_logp, 4) == 0 &&
                std::memcmp(&x.dist.rest_logp, &y.dist.rest_logp, 4) == 0 &&
                std::memcmp(x.dist.logp.data(), y.dist.logp.data(), 4 * x.dist.logp.size()) == 0)
        << a << " vs " << b << ": row " << i;
  }
}

int64_t lines_of(const std::string& f) {
  std::ifstream in(f);
  int64_t n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  return n;
}

// kill -9 at any point of `ppl --save-logits`, then --resume: the result and the store are
// bit-identical to an uninterrupted run's, and until the run completes the store exists only as
// OUT.partial, which --kl-base refuses (it never passes as complete). Kill points: the store just
// created, after 2, 5 and 9 of 12 chunks were recorded (state: header + one line per chunk), and
// after the last chunk, before the store is renamed.
TEST_F(UntrustedPpl, KilledSaveLogitsResumesBitIdentical) {
  const std::string ppl = "ppl --quiet --model " + model_ + " --text " + text_ + " --tokenizer " + tok_ +
                          " --ctx 32 --chunks 12 --threads 1";
  const std::string whole = path("whole.h5");
  ASSERT_EQ(run_cli(ppl + " --state " + path("sw") + " --save-logits " + whole + " --json " + path("whole.json")).status, 0);
  const json truth = read_json(path("whole.json"));
  ASSERT_TRUE(truth.contains("ppl") && truth.contains("nll_per_chunk"));
  int interrupted = 0;
  for (int64_t chunks : {-1, 2, 5, 9, 12}) {
    SCOPED_TRACE(chunks);
    const std::string k = path("k" + std::to_string(chunks + 1)), out = k + ".h5", state = k + ".state";
    const std::string own = " --state " + state + " --save-logits " + out + " --json " + k + ".json";
    const bool finished = kill_when(words(ppl + own), [&] {
      return chunks < 0 ? fs::exists(partial_path(out)) : lines_of(state) >= chunks + 1;
    });
    if (fs::exists(out)) expect_same_store(out, whole);  // renamed: only once complete
    if (fs::exists(partial_path(out))) {
      ++interrupted;
      const CliResult r = run_cli(ppl + " --state " + k + ".kl --kl-base " + partial_path(out));
      EXPECT_EQ(r.status, 2) << r.out;
      EXPECT_NE(r.out.find(partial_path(out) + ": an unfinished --save-logits store"), std::string::npos) << r.out;
    }
    if (finished) continue;
    const CliResult r = run_cli(ppl + own + " --resume-if-any");
    ASSERT_EQ(r.status, 0) << r.out;
    const json got = read_json(k + ".json");
    EXPECT_EQ(got["ppl"], truth["ppl"]);
    EXPECT_EQ(got["nll_per_chunk"], truth["nll_per_chunk"]);
    EXPECT_FALSE(fs::exists(partial_path(out)));
    expect_same_store(out, whole);
  }
  EXPECT_GE(interrupted, 3) << "kills did not land mid-run";
}

// `report` writes index.html and report.md to PATH.tmp and renames (model/atomic_file.h): a full
// disk is one error and leaves the previous pages whole; a kill at any point leaves whole pages.
TEST_F(Untrusted, ReportIsNeverLeftTruncated) {
  const std::string fix = std::string(DSV32_SOURCE_DIR) + "/tests/cli/fixtures/report/";
  const std::string d = path("report"), inputs = fix + "verify_dense_naive.json " + fix + "verify_sparse_raw.json " +
                                                fix + "ppl.json " + fix + "bench_base.json " + fix + "ops_base.json";
  auto slurp = [](const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto whole_html = [](const std::string& h) {
    return h.size() > 7 && h.compare(h.size() - 8, 8, "</html>\n") == 0;
  };
  ASSERT_EQ(run_cli("report " + fix + "bench_base.json --dir " + d).status, 0);
  const std::string old_html = slurp(d + "/index.html"), old_md = slurp(d + "/report.md");
  ASSERT_TRUE(whole_html(old_html));
  // The full report is far over 2 blocks: its first write fails.
  const CliResult r = run_cli_full_disk(2, "report " + inputs + " --dir " + d);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(d + "/index.html: cannot write"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(d + "/index.html"), old_html);
  EXPECT_EQ(slurp(d + "/report.md"), old_md);
  EXPECT_FALSE(fs::exists(d + "/index.html.tmp"));
  // A reference run for the new pages' size (only the generation time differs, fixed width).
  const std::string ref = path("report_ref");
  ASSERT_EQ(run_cli("report " + inputs + " --dir " + ref).status, 0);
  const std::string ref_md = slurp(ref + "/report.md");
  for (int ms : {1, 5, 10, 20, 40, 80}) {
    SCOPED_TRACE(ms);
    kill_after(words("report " + inputs + " --dir " + d), ms);
    const std::string html = slurp(d + "/index.html"), md = slurp(d + "/report.md");
    EXPECT_TRUE(html == old_html || (whole_html(html) && html.size() == slurp(ref + "/index.html").size()));
    EXPECT_TRUE(md == old_md || md.size() == ref_md.size()) << md.size();
  }
}

// A full disk during synth: one error naming the shard, no temporary left, and the directory is
// no checkpoint (the index is written last); a later synth into it succeeds.
TEST_F(Untrusted, FullDiskDuringSynthLeavesNoCheckpoint) {
  const std::string out = path("synth_full");
  const CliResult r = run_cli_full_disk(40, "synth --preset tiny --out " + out);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(out + "/model-"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("write failed"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out + "/model.safetensors.index.json"));
  for (auto& e : fs::directory_iterator(out)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  expect_error("run --model " + out + " --ids 1,2", {out});
  ASSERT_EQ(run_cli("synth --preset tiny --out " + out).status, 0);
  EXPECT_EQ(run_cli("run --quiet --model " + out + " --ids 1,2").status, 0);
}

}  // namespace
}  // namespace dsv32::testing
