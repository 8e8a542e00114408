// DumpWriter / DumpReader: round trip, forward order, multi-call concatenation and padding, bf16,
// filters, crash safety and clear errors for files that are not dumps.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kernels/error.h"
#include "tests/verify/synth_dump.h"
#include "tests/verify/verify_test_util.h"
#include "verify/compare.h"
#include "verify/dump.h"

using namespace dsv32;
using dsv32::test::SynthRun;
using dsv32::test::tmp_path;
using dsv32::test::error_of;

TEST(Dump, RoundTripKeepsValuesOrderAndMeta) {
  SynthRun run;
  const std::string path = tmp_path("roundtrip.h5");
  run.write(path);
  DumpReader r(path);
  const auto& m = r.meta();
  EXPECT_EQ(m.schema_version, 1);
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.meta.producer, "test");
  EXPECT_EQ(m.meta.attn, "sparse");
  EXPECT_EQ(m.meta.prefill, 4);
  EXPECT_EQ(m.meta.ids, run.meta().ids);
  EXPECT_EQ(m.meta.config_json, run.config_json());
  EXPECT_EQ(m.n_positions, run.n);
  EXPECT_EQ(m.time.size(), 20u);  // 2024-01-01T00:00:00Z
  EXPECT_EQ(r.tensors(), run.order);
  EXPECT_EQ(r.positions(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  for (auto& name : run.order) {
    SCOPED_TRACE(name);
    DumpTensor t = r.read(name);
    const auto& s = run.t.at(name);
    ASSERT_EQ(t.rows(), run.n);
    std::vector<int64_t> shape{run.n};
    shape.insert(shape.end(), s.row_shape.begin(), s.row_shape.end());
    EXPECT_EQ(t.info.shape, shape);
    if (s.i.empty()) {
      EXPECT_FALSE(t.info.is_index);
      EXPECT_EQ(t.info.logical_dtype, "f32");
      ASSERT_EQ(t.f.size(), s.f.size());
      for (size_t k = 0; k < s.f.size(); ++k)  // bitwise, -inf padding included
        ASSERT_EQ(bits_from_f32(t.f[k]), bits_from_f32(s.f[k])) << k;
    } else {
      EXPECT_TRUE(t.info.is_index);
      EXPECT_EQ(t.i, s.i);
    }
  }
}

TEST(Dump, CanonicalOrderWithoutForwardOrder) {
  EXPECT_LT(canonical_rank("embed"), canonical_rank("layers/00/attn_norm"));
  EXPECT_LT(canonical_rank("layers/00/residual"), canonical_rank("layers/01/attn_norm"));
  EXPECT_LT(canonical_rank("layers/02/q_latent"), canonical_rank("layers/02/q_rope"));
  EXPECT_LT(canonical_rank("layers/09/residual"), canonical_rank("layers/10/attn_norm"));
  EXPECT_LT(canonical_rank("layers/60/residual"), canonical_rank("final_norm"));
  EXPECT_LT(canonical_rank("final_norm"), canonical_rank("logits"));
}

TEST(Dump, Bf16StoredAsBitsWithLogicalDtype) {
  const std::string path = tmp_path("bf16.h5");
  std::vector<uint16_t> bits;
  for (float v : {1.f, -2.5f, 3.140625f, 0.f, -0.f, 1e-3f}) bits.push_back(f32_to_bf16(v));
  {
    DumpWriter w(path, SynthRun().meta(), {}, 6);
    TensorEvent e;
    e.name = "layers/00/attn_norm";
    e.shape = {3, 2};
    e.dtype = DType::BF16;
    e.data = bits.data();
    w.observe(e);
    w.close();
  }
  DumpReader r(path);
  auto t = r.read("layers/00/attn_norm");
  EXPECT_EQ(t.info.logical_dtype, "bf16");
  ASSERT_EQ(t.f.size(), 6u);
  for (size_t k = 0; k < 6; ++k) EXPECT_EQ(bits_from_f32(t.f[k]), uint32_t(bits[k]) << 16);
}

TEST(Dump, ParsePositions) {
  auto p = parse_positions("0-15,100,200-");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], (std::pair<int64_t, int64_t>{0, 16}));
  EXPECT_EQ(p[1], (std::pair<int64_t, int64_t>{100, 101}));
  EXPECT_EQ(p[2].first, 200);
  EXPECT_EQ(p[2].second, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(format_positions(p), "0-15,100,200-");
  for (const char* bad : {"", "a", "3-1", "-4", "1,,2", "1-2-3"})
    EXPECT_NE(error_of([&] { parse_positions(bad); }), "") << bad;
}

TEST(Dump, FilterAndPositionsKeepDumpsSmall) {
  SynthRun run;
  const std::string path = tmp_path("filtered.h5");
  DumpOptions opt;
  opt.filter_regex = "^layers/0[01]/|^logits$";
  opt.positions = parse_positions("0-1,4-");
  run.write(path, opt);
  DumpReader r(path);
  EXPECT_EQ(r.positions(), (std::vector<int64_t>{0, 1, 4, 5}));
  EXPECT_EQ(r.meta().dump_filter, opt.filter_regex);
  EXPECT_EQ(r.meta().dump_positions, "0-1,4-");
  EXPECT_FALSE(r.has("embed"));
  EXPECT_FALSE(r.has("layers/02/q_rope"));
  EXPECT_FALSE(r.has("final_norm"));
  ASSERT_TRUE(r.has("logits"));
  auto t = r.read("layers/01/indexer_scores");
  ASSERT_EQ(t.info.shape, (std::vector<int64_t>{4, run.n}));
  const auto& s = run.t.at("layers/01/indexer_scores").f;
  const int64_t rows[] = {0, 1, 4, 5};
  for (int k = 0; k < 4; ++k)
    for (int64_t u = 0; u < run.n; ++u)
      EXPECT_EQ(bits_from_f32(t.f[size_t(k * run.n + u)]), bits_from_f32(s[size_t(rows[k] * run.n + u)]));
  EXPECT_NE(error_of([&] { DumpWriter w(tmp_path("bad_re.h5"), run.meta(), {"(", {}}, 6); }), "");
}

TEST(Dump, WriterRejectsInconsistentEvents) {
  const std::string path = tmp_path("inconsistent.h5");
  DumpWriter w(path, SynthRun().meta(), {}, 6);
  std::vector<float> x(64, 1.f);
  TensorEvent e;
  e.name = "layers/00/attn_norm";
  e.shape = {2, 4};
  e.data = x.data();
  w.observe(e);
  e.pos0 = 2;
  e.shape = {1, 5};  // row shape changed
  std::string msg = error_of([&] { w.observe(e); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("layers/00/attn_norm"), std::string::npos) << msg;
  e.shape = {1, 4};
  e.pos0 = 5;  // skips positions 2..4
  EXPECT_NE(error_of([&] { w.observe(e); }).find("out of order"), std::string::npos);
  e.name = "layers/00/indexer_scores";
  e.pos0 = 0;
  e.shape = {1, 9};
  e.pad_to = TensorEvent::kPadToContext;  // 9 > 6 positions
  EXPECT_NE(error_of([&] { w.observe(e); }).find("exceeds pad_to"), std::string::npos);
  w.close();
  EXPECT_NE(error_of([&] { w.observe(e); }).find("after close"), std::string::npos);
}

// A killed run leaves only OUT.h5.partial (never OUT.h5); when readable it holds the finished
// calls and no forward_order, and verify refuses it as incomplete.
TEST(Dump, CrashMidRunLeavesOnlyAnIncompletePartialFile) {
  SynthRun run;
  const std::string path = tmp_path("crash.h5");
  std::filesystem::remove(path);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // child: prefill + one decode step, then dies without closing
    DumpWriter* w = new DumpWriter(path, run.meta(), {}, run.n);
    run.emit_call(*w, 0, run.prefill);
    run.emit_call(*w, run.prefill, 1);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_FALSE(std::filesystem::exists(path));
  DumpReader r(partial_path(path));
  EXPECT_FALSE(r.meta().complete);
  EXPECT_EQ(r.tensors(), run.order);  // canonical order = forward order of the schema
  auto t = r.read("logits");
  EXPECT_EQ(t.rows(), run.prefill + 1);
  // verify refuses it, against a whole dump too.
  const std::string whole = tmp_path("crash_whole.h5");
  run.write(whole);
  DumpReader b(whole);
  const std::string msg = error_of([&] { verify_dumps(r, b, Profile{}, {}); });
  EXPECT_NE(msg.find("incomplete dump"), std::string::npos) << msg;
  EXPECT_NE(msg.find(partial_path(path)), std::string::npos) << msg;
}

// A writer destroyed without close() (the run failed) removes its partial file; close() renames.
TEST(Dump, FailedRunLeavesNoFileAndCloseRenames) {
  SynthRun run;
  const std::string path = tmp_path("failed.h5");
  std::filesystem::remove(path);
  {
    DumpWriter w(path, run.meta(), {}, run.n);
    run.emit_call(w, 0, run.prefill);
    EXPECT_TRUE(std::filesystem::exists(partial_path(path)));
  }
  EXPECT_FALSE(std::filesystem::exists(partial_path(path)));
  EXPECT_FALSE(std::filesystem::exists(path));
  run.write(path);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(partial_path(path)));
  EXPECT_TRUE(DumpReader(path).meta().complete);
}

TEST(Dump, MalformedFilesGiveOneLineErrors) {
  const std::string missing = tmp_path("does_not_exist.h5");
  std::string msg = error_of([&] { DumpReader r(missing); });
  EXPECT_NE(msg.find(missing), std::string::npos);
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;

  const std::string garbage = tmp_path("garbage.h5");
  std::ofstream(garbage) << "this is not an HDF5 file\n";
  msg = error_of([&] { DumpReader r(garbage); });
  EXPECT_NE(msg.find(garbage), std::string::npos);
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;

  // Truncated: a real dump cut in half.
  const std::string full = tmp_path("full.h5"), cut = tmp_path("truncated.h5");
  SynthRun().write(full);
  std::filesystem::copy_file(full, cut, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, std::filesystem::file_size(full) / 2);
  msg = error_of([&] {
    DumpReader r(cut);
    for (auto& n : r.tensors()) r.read(n);
  });
  EXPECT_NE(msg.find(cut), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

  // An HDF5 file without /meta.
  const std::string nometa = tmp_path("nometa.h5");
  {
    hid_t f = H5Fcreate(nometa.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 4;
    hid_t sp = H5Screate_simple(1, &n, nullptr);
    hid_t ds = H5Dcreate2(f, "logits", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds), H5Sclose(sp), H5Fclose(f);
  }
  msg = error_of([&] { DumpReader r(nometa); });
  EXPECT_NE(msg.find(nometa), std::string::npos);
  EXPECT_NE(msg.find("/meta"), std::string::npos) << msg;

  // Reading a dataset that is not there names it.
  DumpReader r(full);
  msg = error_of([&] { r.read("layers/07/q_rope"); });
  EXPECT_NE(msg.find("layers/07/q_rope"), std::string::npos) << msg;
}
