// dsv32 run --inject-from and dsv32 verify --local: a bug planted in ONE layer (layer 2's o_proj
// weights perturbed in a copy of the checkpoint, standing for a wrong kernel there) shows as local
// error in that layer alone, while the accumulated error is zero before it and grows from it on.
// Same code and build on both sides, so every other layer's local error is exactly zero.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {

namespace fs = std::filesystem;

// Multiplies every byte of a safetensors tensor's data by -1 in e4m3 (flips the sign bit): a
// large, deterministic change of that one matrix.
void flip_tensor_signs(const fs::path& dir, const std::string& tensor) {
  const nlohmann::json index = read_json((dir / "model.safetensors.index.json").string());
  const fs::path shard = dir / index["weight_map"][tensor].get<std::string>();
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  f.read(header.data(), std::streamsize(n));
  const auto offsets = nlohmann::json::parse(header)[tensor]["data_offsets"];
  const uint64_t begin = 8 + n + offsets[0].get<uint64_t>(), end = 8 + n + offsets[1].get<uint64_t>();
  std::string data(end - begin, '\0');
  f.seekg(std::streamoff(begin));
  f.read(data.data(), std::streamsize(data.size()));
  for (char& c : data) c = char(uint8_t(c) ^ 0x80u);
  f.seekp(std::streamoff(begin));
  f.write(data.data(), std::streamsize(data.size()));
}

TEST(Inject, LocalErrorFindsThePlantedLayer) {
  const fs::path work = fs::path(DSV32_BUILD_DIR) / "inject-test";
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string good = tiny_checkpoint(), bad = (work / "bad").string();
  fs::copy(good, bad);
  flip_tensor_signs(bad, "model.layers.2.self_attn.o_proj.weight");
  const std::string ids = " --ids 5,77,901,4000,12,9,3000,64,128,2048 --prefill 6 --attn dense --quiet --dump ";
  const std::string ref = (work / "ref.h5").string(), acc = (work / "acc.h5").string(),
                    loc = (work / "loc.h5").string(), js = (work / "v.json").string();
  ASSERT_EQ(run_cli("run --model " + good + ids + ref).status, 0);
  ASSERT_EQ(run_cli("run --model " + bad + ids + acc).status, 0);
  CliResult r = run_cli("run --model " + bad + ids + loc + " --inject-from " + ref);
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_cli("verify " + acc + " " + ref + " --local " + loc + " --json " + js);
  EXPECT_EQ(r.status, 1) << r.out;  // the accumulated run fails from layer 2 on
  EXPECT_NE(r.out.find("local vs accumulated"), std::string::npos) << r.out;
  const nlohmann::json j = read_json(js);
  std::map<std::string, std::pair<double, double>> nmse;  // name -> (accumulated, local)
  for (const auto& t : j["tensors"])
    if (t.contains("local_nmse")) nmse[t["name"]] = {t["nmse"].get<double>(), t["local_nmse"].get<double>()};
  for (int l = 0; l < 4; ++l) {
    const std::string res = "layers/0" + std::to_string(l) + "/residual";
    ASSERT_TRUE(nmse.count(res)) << res << "\n" << j.dump(1).substr(0, 2000);
    const auto [a, c] = nmse[res];
    if (l < 2) {
      EXPECT_EQ(a, 0) << res;  // before the bug: identical
      EXPECT_EQ(c, 0) << res;
    } else if (l == 2) {
      EXPECT_GT(c, 1e-3) << res;  // the planted layer's own error
      EXPECT_GT(a, 1e-3) << res;
    } else {
      EXPECT_EQ(c, 0) << res;     // a correct layer fed the reference's input: no local error
      EXPECT_GT(a, 1e-3) << res;  // but the accumulated error carries on
    }
  }
  EXPECT_EQ(nmse["layers/02/attn_out"].second, 0);  // o_proj is the first wrong tensor of layer 2
  EXPECT_GT(nmse["layers/02/o_proj"].second, 1e-3);
}

}  // namespace
}  // namespace dsv32::testing
