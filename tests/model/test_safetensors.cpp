// Tests for model/safetensors: writer -> reader round trips, sharded checkpoints, and one planted
// defect per validation rule. Each error test checks that the message is one line and names both
// the file and the offending field, because that is what a user sees when a download is corrupt.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "model/safetensors.h"

namespace dsv32 {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("dsv32_st_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes raw bytes: an 8-byte little-endian length (header.size() unless given), the header,
  // then `data`. Without a length field the header is space-padded to a multiple of 8, as real
  // writers do, so the data is aligned (the reader refuses misaligned tensors).
  std::string plant(const std::string& name, std::string header, size_t data_bytes,
                    int64_t length_field = -1) const {
    if (length_field < 0) header.append((8 - header.size() % 8) % 8, ' ');
    std::string bytes(8, '\0');
    uint64_t n = length_field < 0 ? header.size() : uint64_t(length_field);
    for (int i = 0; i < 8; ++i) bytes[i] = char(n >> (8 * i));
    bytes += header;
    bytes.append(data_bytes, '\x5a');
    return write_bytes(name, bytes);
  }
  std::string write_bytes(const std::string& name, const std::string& bytes) const {
    std::string p = path(name);
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return p;
  }

  fs::path dir_;
};

// Runs f, expecting a dsv32::Error whose single-line message contains every one of `parts`.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message lacks \"" << p << "\": " << msg;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-dsv32 exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "no Error thrown; expected one mentioning " << *parts.begin();
}

void open_file(const std::string& p) { SafetensorsFile f(p); }

// One valid entry: a 2x2 F32 tensor at [0, 16).
const char* kOneTensor = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

// ----------------------------------------------------------------------------------------------
// Round trips

TEST_F(SafetensorsTest, WriterReaderRoundTrip) {
  std::vector<float> f32 = {1.f, -2.f, 3.5f, 0.f, 7.f, -0.25f};
  std::vector<uint16_t> bf16 = {0x3f80, 0xc000, 0x7f80, 0x0001};
  std::vector<uint8_t> f8(3 * 5);
  for (size_t i = 0; i < f8.size(); ++i) f8[i] = uint8_t(i * 17);
  std::vector<int64_t> i64 = {-1, 1ll << 40};

  SafetensorsWriter w;
  w.add("model.norm.weight", DType::F32, {2, 3}, f32.data(), f32.size() * 4);
  w.add("emb", DType::BF16, {4}, bf16.data(), bf16.size() * 2);
  w.add("layers.0.q.weight", DType::F8_E4M3, {3, 5}, f8.data(), f8.size());
  w.add("ids", DType::I64, {2}, i64.data(), i64.size() * 8);
  w.add("empty", DType::F16, {0, 4}, nullptr, 0);
  w.add("scalar", DType::F32, {}, f32.data(), 4);
  EXPECT_EQ(w.size(), 6u);
  EXPECT_EQ(w.data_bytes(), int64_t(24 + 8 + 15 + 16 + 0 + 4));
  const std::string p = path("model.safetensors");
  w.write(p, {{"format", "pt"}, {"note", "synthetic"}});
  EXPECT_FALSE(fs::exists(p + ".tmp"));

  // The header is padded with spaces to a multiple of 8 so the data starts 8-byte aligned.
  std::ifstream in(p, std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(raw[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + n + uint64_t(w.data_bytes()));

  SafetensorsFile f(p);
  EXPECT_EQ(f.path(), p);
  EXPECT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "synthetic");
  ASSERT_EQ(f.tensors().size(), 6u);

  auto check = [&](const std::string& name, DType dt, std::vector<int64_t> shape, const void* src,
                   size_t nbytes) {
    SCOPED_TRACE(name);
    const TensorInfo& t = f.tensors().at(name);
    EXPECT_EQ(t.name, name);
    EXPECT_EQ(t.dtype, dt);
    EXPECT_EQ(t.shape, shape);
    EXPECT_EQ(t.nbytes, int64_t(nbytes));
    EXPECT_EQ(t.file, p);
    if (nbytes) {
      EXPECT_EQ(std::memcmp(t.data, src, nbytes), 0);
    }
    // Zero-copy: the pointer lies inside the mapping, at the byte position the header promises.
    // (Data is laid out by decreasing element size, so the lowest pointer is at offset 0.)
    const uint8_t* first = nullptr;
    for (auto& [nm, ti] : f.tensors())
      if (ti.nbytes && (!first || ti.data < first)) first = ti.data;
    const uint8_t* base = first - 8 - n;
    EXPECT_GE(t.data, base + 8 + n);
    EXPECT_LE(t.data + t.nbytes, base + raw.size());
    if (nbytes) {
      EXPECT_EQ(std::memcmp(t.data, raw.data() + (t.data - base), nbytes), 0);
    }
  };
  check("model.norm.weight", DType::F32, {2, 3}, f32.data(), 24);
  check("emb", DType::BF16, {4}, bf16.data(), 8);
  check("layers.0.q.weight", DType::F8_E4M3, {3, 5}, f8.data(), 15);
  check("ids", DType::I64, {2}, i64.data(), 16);
  check("empty", DType::F16, {0, 4}, nullptr, 0);
  check("scalar", DType::F32, {}, f32.data(), 4);
  // Data is laid out by decreasing element size, stable in the order added, so every tensor is
  // naturally aligned without holes: I64, then the F32s, then BF16, then F8.
  const uint8_t* ids = f.tensors().at("ids").data;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ids) % 8, 0u);
  EXPECT_EQ(f.tensors().at("model.norm.weight").data, ids + 16);
  EXPECT_EQ(f.tensors().at("scalar").data, ids + 16 + 24);
  EXPECT_EQ(f.tensors().at("emb").data, ids + 16 + 24 + 4);
  EXPECT_EQ(f.tensors().at("layers.0.q.weight").data, ids + 16 + 24 + 4 + 8);
}

TEST_F(SafetensorsTest, WriterWithoutMetadataAndOverwrite) {
  float v = 3.f;
  SafetensorsWriter w;
  w.add("a", DType::F32, {1}, &v, 4);
  const std::string p = path("x.safetensors");
  w.write(p);
  w.write(p);  // rewriting replaces the file atomically
  SafetensorsFile f(p);
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_EQ(*reinterpret_cast<const float*>(f.tensors().at("a").data), 3.f);
}

TEST_F(SafetensorsTest, WriterRejectsMisuse) {
  float v[4] = {};
  SafetensorsWriter w;
  expect_error([&] { w.add("a", DType::F32, {2, 2}, v, 12); }, {"'a'", "12 bytes"});
  w.add("a", DType::F32, {2, 2}, v, 16);
  expect_error([&] { w.add("a", DType::F32, {2, 2}, v, 16); }, {"'a'", "twice"});
  expect_error([&] { w.add("__metadata__", DType::F32, {1}, v, 4); }, {"__metadata__"});
  expect_error([&] { w.write(path("no/such/dir/x.safetensors")); }, {"no/such/dir/x.safetensors"});
}

TEST_F(SafetensorsTest, SingleFileCheckpoint) {
  uint16_t v[6] = {1, 2, 3, 4, 5, 6};
  SafetensorsWriter w;
  w.add("b", DType::BF16, {2, 3}, v, 12);
  w.add("a", DType::F16, {6}, v, 12);
  w.write(path("model.safetensors"));
  Checkpoint ck(dir_.string());
  EXPECT_EQ(ck.dir(), dir_.string());
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(ck.has("a"));
  EXPECT_FALSE(ck.has("c"));
  const TensorInfo& b = ck.get("b", {2, 3}, {DType::BF16, DType::F32});
  EXPECT_EQ(reinterpret_cast<const uint16_t*>(b.data)[5], 6);
  EXPECT_EQ(&ck.get("a"), &ck.get("a", {6}));  // empty `allowed` accepts any dtype
}

TEST_F(SafetensorsTest, ShardedCheckpointWithIndex) {
  float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[3] = {7, 8, 9};
  const std::string s1 = "model-00001-of-000002.safetensors", s2 = "model-00002-of-000002.safetensors";
  {
    SafetensorsWriter w;
    w.add("model.layers.0.w", DType::F32, {2, 2}, a, 16);
    w.add("model.layers.0.b", DType::F32, {2}, b, 8);
    w.add("unlisted", DType::F32, {1}, a, 4);  // in a shard but not in the map: not exposed
    w.write(path(s1));
  }
  {
    SafetensorsWriter w;
    w.add("model.norm.weight", DType::F32, {3}, c, 12);
    w.write(path(s2));
  }
  write_bytes("model.safetensors.index.json",
              R"({"metadata":{"total_size":36},"weight_map":{"model.layers.0.w":")" + s1 +
                  R"(","model.layers.0.b":")" + s1 + R"(","model.norm.weight":")" + s2 + R"("}})");
  // A stray single-file model must be ignored when an index exists.
  write_bytes("model.safetensors", "garbage");
  Checkpoint ck(dir_.string());
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"model.layers.0.b", "model.layers.0.w",
                                                  "model.norm.weight"}));
  EXPECT_FALSE(ck.has("unlisted"));
  const TensorInfo& n = ck.get("model.norm.weight", {3}, {DType::F32});
  EXPECT_EQ(n.file, path(s2));
  EXPECT_EQ(reinterpret_cast<const float*>(n.data)[2], 9.f);
  EXPECT_EQ(ck.get("model.layers.0.w").file, path(s1));
  EXPECT_EQ(reinterpret_cast<const float*>(ck.get("model.layers.0.b").data)[1], 6.f);
}

// ----------------------------------------------------------------------------------------------
// Malformed single files

TEST_F(SafetensorsTest, MissingFile) {
  const std::string p = path("nope.safetensors");
  expect_error([&] { open_file(p); }, {p, "cannot open"});
}

TEST_F(SafetensorsTest, ShorterThanLengthField) {
  const std::string p = write_bytes("short.safetensors", std::string(5, '\0'));
  expect_error([&] { open_file(p); }, {p, "5 bytes", "header length"});
}

TEST_F(SafetensorsTest, DataSectionTruncated) {
  const std::string p = plant("trunc.safetensors", kOneTensor, 10);  // needs 16
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "data_offsets [0, 16]", "(10 bytes)"});
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFile) {
  const std::string p = plant("hlen.safetensors", kOneTensor, 16, 1000);
  expect_error([&] { open_file(p); }, {p, "header length 1000", "file size"});
  const std::string q = plant("hlen2.safetensors", kOneTensor, 16, int64_t(1) << 62);
  expect_error([&] { open_file(q); }, {q, "header length"});
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  const std::string p = plant("nojson.safetensors", R"({"w": {"dtype": "F32",)", 16);
  expect_error([&] { open_file(p); }, {p, "header", "JSON"});
  const std::string q = plant("array.safetensors", "[1, 2, 3]", 0);
  expect_error([&] { open_file(q); }, {q, "header", "JSON object"});
}

TEST_F(SafetensorsTest, BadMetadata) {
  const std::string p = plant(
      "meta.safetensors", R"({"__metadata__":{"format":"pt","n":3},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})",
      16);
  expect_error([&] { open_file(p); }, {p, "__metadata__", "'n'"});
}

TEST_F(SafetensorsTest, UnknownDtype) {
  const std::string p =
      plant("dtype.safetensors", R"({"w":{"dtype":"F8_E5M2","shape":[2,2],"data_offsets":[0,4]}})", 4);
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "dtype", "F8_E5M2"});
}

TEST_F(SafetensorsTest, MissingFields) {
  const std::string p = plant("nodt.safetensors", R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8);
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "dtype"});
  const std::string q = plant("nosh.safetensors", R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8);
  expect_error([&] { open_file(q); }, {q, "tensor 'w'", "shape"});
  const std::string r = plant("nooff.safetensors", R"({"w":{"dtype":"F32","shape":[2]}})", 8);
  expect_error([&] { open_file(r); }, {r, "tensor 'w'", "data_offsets"});
}

TEST_F(SafetensorsTest, NegativeOrNonIntegerShape) {
  const std::string p =
      plant("neg.safetensors", R"({"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}})", 16);
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "shape [2,-2]"});
  const std::string q =
      plant("flt.safetensors", R"({"w":{"dtype":"F32","shape":[2,2.5],"data_offsets":[0,20]}})", 20);
  expect_error([&] { open_file(q); }, {q, "tensor 'w'", "shape"});
  const std::string r =
      plant("str.safetensors", R"({"w":{"dtype":"F32","shape":"2x2","data_offsets":[0,16]}})", 16);
  expect_error([&] { open_file(r); }, {r, "tensor 'w'", "shape"});
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
  const std::string p =
      plant("oor.safetensors", R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}})", 32);
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "data_offsets [0, 64]", "32 bytes"});
  const std::string q =
      plant("negoff.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 32);
  expect_error([&] { open_file(q); }, {q, "tensor 'w'", "data_offsets"});
  const std::string r =
      plant("three.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 32);
  expect_error([&] { open_file(r); }, {r, "tensor 'w'", "data_offsets"});
}

TEST_F(SafetensorsTest, BeginAfterEnd) {
  const std::string p =
      plant("rev.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[16,8]}})", 32);
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "data_offsets [16, 8]", "begin > end"});
}

TEST_F(SafetensorsTest, WrongByteSizeForShape) {
  const std::string p =
      plant("size.safetensors", R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,16]}})", 16);
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "BF16 [2, 3]", "needs 12"});
  // A shape whose byte count overflows int64 must not wrap around to something plausible.
  const std::string q = plant(
      "ovf.safetensors",
      R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", 0);
  expect_error([&] { open_file(q); }, {q, "tensor 'w'", "overflow"});
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  const std::string p = plant(
      "overlap.safetensors",
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"U8","shape":[2],"data_offsets":[20,22]},)"
      R"("c":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
      24);
  expect_error([&] { open_file(p); }, {p, "'b'", "'c'", "overlap"});
  // Touching ranges, empty tensors and gaps are fine.
  const std::string q = plant(
      "touch.safetensors",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("c":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}})",
      24);
  SafetensorsFile f(q);
  EXPECT_EQ(f.tensors().size(), 4u);
}

// ----------------------------------------------------------------------------------------------
// Malformed checkpoints

TEST_F(SafetensorsTest, CheckpointDirMissingOrEmpty) {
  const std::string missing = path("no_such_checkpoint");
  expect_error([&] { Checkpoint ck(missing); }, {missing, "does not exist"});
  fs::create_directories(path("empty"));
  expect_error([&] { Checkpoint ck(path("empty")); },
               {path("empty"), "no model.safetensors.index.json or model.safetensors"});
  const std::string file = write_bytes("a_file", "x");
  expect_error([&] { Checkpoint ck(file); }, {file, "not a directory"});
}

TEST_F(SafetensorsTest, IndexWithoutWeightMap) {
  const std::string p = write_bytes("model.safetensors.index.json", R"({"metadata":{}})");
  expect_error([&] { Checkpoint ck(dir_.string()); }, {p, "weight_map"});
  write_bytes("model.safetensors.index.json", R"({"weight_map":["a"]})");
  expect_error([&] { Checkpoint ck(dir_.string()); }, {p, "weight_map"});
  write_bytes("model.safetensors.index.json", R"({"weight_map":{"a":3}})");
  expect_error([&] { Checkpoint ck(dir_.string()); }, {p, "weight_map", "'a'"});
  write_bytes("model.safetensors.index.json", R"({"weight_map":)");
  expect_error([&] { Checkpoint ck(dir_.string()); }, {p, "JSON"});
}

TEST_F(SafetensorsTest, IndexNamesMissingShard) {
  plant("model-00001-of-000002.safetensors", kOneTensor, 16);
  const std::string p = write_bytes(
      "model.safetensors.index.json",
      R"({"weight_map":{"w":"model-00001-of-000002.safetensors","x":"model-00002-of-000002.safetensors"}})");
  expect_error([&] { Checkpoint ck(dir_.string()); },
               {p, "tensor 'x'", "model-00002-of-000002.safetensors", "does not exist"});
}

TEST_F(SafetensorsTest, IndexNamesTensorAbsentFromShard) {
  const std::string s = plant("model-00001-of-000001.safetensors", kOneTensor, 16);
  write_bytes("model.safetensors.index.json",
              R"({"weight_map":{"w":"model-00001-of-000001.safetensors","ghost":"model-00001-of-000001.safetensors"}})");
  expect_error([&] { Checkpoint ck(dir_.string()); }, {s, "tensor 'ghost'", "not in this shard"});
}

TEST_F(SafetensorsTest, CorruptShardIsReportedByName) {
  const std::string s = plant("model-00001-of-000001.safetensors", kOneTensor, 8);
  write_bytes("model.safetensors.index.json",
              R"({"weight_map":{"w":"model-00001-of-000001.safetensors"}})");
  expect_error([&] { Checkpoint ck(dir_.string()); }, {s, "tensor 'w'", "data_offsets"});
}

// Issue 11: inputs that reached "internal error", out-of-directory reads, UBSan misaligned loads
// and silent NaN logits.
TEST_F(SafetensorsTest, NumberOverflowingADoubleIsAJsonError) {
  const std::string p = plant("big.safetensors", R"({"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}})", 4);
  expect_error([&] { open_file(p); }, {p, "header is not valid JSON"});
  write_bytes("model.safetensors.index.json", R"({"weight_map":{"w":"a.safetensors"},"x":1e400})");
  expect_error([&] { Checkpoint ck(dir_.string()); }, {path("model.safetensors.index.json"), "not valid JSON"});
}

TEST_F(SafetensorsTest, ShardNamesMustStayInTheCheckpointDirectory) {
  plant("sub/model.safetensors", kOneTensor, 16);
  for (const char* bad : {"../model.safetensors", "/etc/passwd", "sub/model.safetensors", "..", ""}) {
    SCOPED_TRACE(bad);
    const std::string p = write_bytes("model.safetensors.index.json",
                                      std::string(R"({"weight_map":{"w":")") + bad + R"("}})");
    expect_error([&] { Checkpoint ck(dir_.string()); }, {p, "tensor 'w'", "not a plain file name"});
  }
}

TEST_F(SafetensorsTest, MisalignedTensorDataIsRejected) {
  // F32 data at offset 2 of an aligned data section: file offset not a multiple of 4.
  const std::string p = plant("mis.safetensors",
                              R"({"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                              R"("w":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", 6);
  expect_error([&] { open_file(p); }, {p, "tensor 'w'", "not aligned to the 4-byte F32"});
}

TEST_F(SafetensorsTest, NonFiniteBlockScalesAreRejected) {
  for (float bad : {std::nanf(""), INFINITY}) {
    SafetensorsWriter w;
    std::vector<float> s = {1.f, bad};
    w.add("layers.0.q.weight_scale_inv", DType::F32, {2}, s.data(), 8);
    w.write(path("model.safetensors"));
    expect_error([&] { Checkpoint ck(dir_.string()); },
                 {path("model.safetensors"), "tensor 'layers.0.q.weight_scale_inv'", "element 1", "finite"});
  }
  SafetensorsWriter ok;
  std::vector<float> s = {1.f, 0.5f};
  ok.add("layers.0.q.weight_scale_inv", DType::F32, {2}, s.data(), 8);
  ok.write(path("model.safetensors"));
  Checkpoint ck(dir_.string());
  EXPECT_TRUE(ck.has("layers.0.q.weight_scale_inv"));
}

// ----------------------------------------------------------------------------------------------
// Checkpoint::get

class GetTest : public SafetensorsTest {
 protected:
  void SetUp() override {
    SafetensorsTest::SetUp();
    std::vector<uint16_t> v(64 * 512);
    SafetensorsWriter w;
    w.add("model.layers.0.self_attn.kv_a_layernorm.weight", DType::F16, {64, 512}, v.data(),
          v.size() * 2);
    file_ = path("model.safetensors");
    w.write(file_);
  }
  std::string file_;
};

TEST_F(GetTest, MissingTensor) {
  Checkpoint ck(dir_.string());
  expect_error([&] { ck.get("model.norm.weight"); }, {dir_.string(), "missing tensor 'model.norm.weight'"});
  expect_error([&] { ck.get("model.norm.weight", {7168}, {DType::F32}); },
               {dir_.string(), "'model.norm.weight'"});
}

TEST_F(GetTest, WrongShape) {
  Checkpoint ck(dir_.string());
  const std::string name = "model.layers.0.self_attn.kv_a_layernorm.weight";
  expect_error([&] { ck.get(name, {512, 64}); },
               {file_ + ": tensor '" + name + "': expected shape [512, 64], found [64, 512]"});
  expect_error([&] { ck.get(name, {64 * 512}); }, {file_, "expected shape [32768]"});
}

TEST_F(GetTest, DisallowedDtype) {
  Checkpoint ck(dir_.string());
  const std::string name = "model.layers.0.self_attn.kv_a_layernorm.weight";
  expect_error([&] { ck.get(name, {64, 512}, {DType::BF16, DType::F32}); },
               {file_ + ": tensor '" + name + "': dtype F16 not allowed (expected one of BF16, F32)"});
  EXPECT_NO_THROW(ck.get(name, {64, 512}, {DType::F32, DType::F16}));
}

}  // namespace
}  // namespace dsv32
