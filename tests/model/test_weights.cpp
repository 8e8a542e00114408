// Planted malformed checkpoints: each gives its documented one-line error naming the file and
// the key or tensor. Variants are built next to the tiny checkpoint from symlinked shards plus an
// edited config.json or index, so no test copies the 130 MB of weights.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "model/weights.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class Variant {
 public:
  explicit Variant(const std::string& tag) {
    src_ = tiny_checkpoint();
    dir_ = fs::path(DSV32_BUILD_DIR) / "test-models" / ("bad-" + tag + "-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (auto& e : fs::directory_iterator(src_))
      if (e.path().extension() == ".safetensors") fs::create_symlink(fs::absolute(e.path()), dir_ / e.path().filename());
    config = json::parse(std::ifstream(fs::path(src_) / "config.json"));
    index = json::parse(std::ifstream(fs::path(src_) / "model.safetensors.index.json"));
  }
  ~Variant() { fs::remove_all(dir_); }
  // Writes config/index and returns the load error message ("" if it loaded).
  std::string load_error() {
    std::ofstream(dir_ / "config.json") << config.dump();
    std::ofstream(dir_ / "model.safetensors.index.json") << index.dump();
    try {
      load_weights(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  // Adds a shard holding one tensor and points the index at it for `name`.
  void replace_tensor(const std::string& name, DType t, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<uint8_t> bytes(n * dtype_size(t), 0);
    SafetensorsWriter w;
    w.add(name, t, shape, bytes.data(), bytes.size());
    w.write((dir_ / "patch.safetensors").string());
    index["weight_map"][name] = "patch.safetensors";
  }
  json config, index;
  fs::path dir() const { return dir_; }

 private:
  std::string src_;
  fs::path dir_;
};

TEST(Weights, TinyCheckpointLoads) {
  Variant v("ok");
  EXPECT_EQ(v.load_error(), "");
}

TEST(Weights, ConfigMissingKeyIsNamed) {
  for (const char* key : {"hidden_size", "num_hidden_layers", "q_lora_rank", "kv_lora_rank",
                          "qk_rope_head_dim", "n_routed_experts", "index_topk", "rms_norm_eps",
                          "architectures", "scoring_func"}) {
    Variant v("cfg");
    v.config.erase(key);
    std::string err = v.load_error();
    EXPECT_NE(err.find("config.json"), std::string::npos) << err;
    EXPECT_NE(err.find(std::string("key '") + key + "'"), std::string::npos) << err;
  }
}

TEST(Weights, ConfigInvalidValuesAreNamed) {
  Variant v("cfgval");
  v.config["n_group"] = 5;  // does not divide 16 experts
  EXPECT_NE(v.load_error().find("key 'n_group'"), std::string::npos);
  Variant w("cfgtype");
  w.config["hidden_size"] = "256";
  EXPECT_NE(w.load_error().find("key 'hidden_size': expected an integer"), std::string::npos);
  Variant y("cfgyarn");
  y.config["rope_scaling"]["type"] = "linear";
  EXPECT_NE(y.load_error().find("rope_scaling.type"), std::string::npos);
}

TEST(Weights, MissingTensorIsNamed) {
  Variant v("missing");
  v.index["weight_map"].erase("model.layers.2.self_attn.indexer.wk.weight");
  std::string err = v.load_error();
  EXPECT_NE(err.find("missing tensor 'model.layers.2.self_attn.indexer.wk.weight'"), std::string::npos) << err;
}

TEST(Weights, ScaleOfWrongShapeIsNamed) {
  Variant v("scale");
  v.replace_tensor("model.layers.1.self_attn.q_a_proj.weight_scale_inv", DType::F32, {2, 3});
  std::string err = v.load_error();
  EXPECT_NE(err.find("q_a_proj.weight_scale_inv"), std::string::npos) << err;
  EXPECT_NE(err.find("expected shape [1, 2]"), std::string::npos) << err;
}

TEST(Weights, Fp8WithoutScaleIsNamed) {
  Variant v("noscale");
  v.index["weight_map"].erase("model.layers.0.self_attn.o_proj.weight_scale_inv");
  std::string err = v.load_error();
  EXPECT_NE(err.find("o_proj.weight_scale_inv' is missing"), std::string::npos) << err;
}

TEST(Weights, WrongShapeAndDtypeAreNamed) {
  Variant v("shape");
  v.replace_tensor("model.norm.weight", DType::F32, {255});
  EXPECT_NE(v.load_error().find("tensor 'model.norm.weight': expected shape [256]"), std::string::npos);
  Variant w("dtype");
  w.replace_tensor("model.norm.weight", DType::I32, {256});
  EXPECT_NE(w.load_error().find("model.norm.weight"), std::string::npos);
}

TEST(Weights, MtpLayerIsIgnored) {
  // A checkpoint that carries layer num_hidden_layers (MTP) loads the main stack only.
  Variant v("mtp");
  v.replace_tensor("model.layers.4.enorm.weight", DType::F32, {256});
  EXPECT_EQ(v.load_error(), "");
}

}  // namespace
}  // namespace dsv32::testing
