// The registry of dumped tensor names (model/tensor_names.h) against everything that spells them:
// what a forward pass emits (all four modes, exact and ref1, MoE and dense layers), the verify
// profiles, the dump schema and the float64 reference. A name added in one place only fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model/model.h"
#include "model/tensor_names.h"
#include "tests/model/forward_util.h"
#include "tests/model/tiny_model.h"

namespace dsv32::testing {
namespace {

std::string read(const std::string& rel) {
  std::ifstream f(std::string(DSV32_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(TensorNames, ForwardEmitsExactlyTheRegistryInOrder) {
  auto w = load_weights(tiny_checkpoint());
  const ModelConfig& c = w->config;
  for (AttnMode attn : {AttnMode::kDense, AttnMode::kSparse})
    for (MlaMode mla : {MlaMode::kNaive, MlaMode::kAbsorbed})
      for (const char* numerics : {"exact", "ref1"}) {
        ModelOptions o{attn, mla, 16, 1};
        o.numerics = numerics;
        Model m(w, o);
        std::vector<std::string> seen;
        const Observer obs = [&](const TensorEvent& e) { seen.push_back(e.name); };
        const auto ids = test_ids(5);
        m.forward(ids.data(), 5, 0, nullptr, &obs);
        std::vector<std::string> want = {"embed"};
        for (int l = 0; l < c.n_layers; ++l) {
          char p[32];
          std::snprintf(p, sizeof p, "layers/%02d/", l);
          for (const std::string& n : layer_tensor_names(attn == AttnMode::kSparse, c.is_moe_layer(l),
                                                         numerics_profile(numerics).ckv_fp8))
            want.push_back(p + n);
        }
        want.push_back("final_norm");
        want.push_back("logits");
        EXPECT_EQ(seen, want) << to_string(attn) << "/" << to_string(mla) << "/" << numerics;
      }
}

TEST(TensorNames, ProfilesSchemaAndReferenceSpellTheSameNames) {
  const nlohmann::json prof = nlohmann::json::parse(read("verify/profiles.json"));
  std::set<std::string> registry;
  for (const TensorName& t : tensor_names()) registry.insert(t.name);
  for (auto& [name, _] : prof["tensors"].items()) {
    if (name == "*") continue;
    EXPECT_TRUE(registry.count(name)) << "verify/profiles.json names unknown tensor " << name;
  }
  const std::string schema = read("verify/SCHEMA.md"), ref = read("reference/model.py"),
                    doc = read("docs/MODEL.md");
  for (const TensorName& t : tensor_names()) {
    const std::string n = t.name;
    EXPECT_TRUE(prof["tensors"].contains(n)) << "verify/profiles.json has no tolerance entry for " << n;
    EXPECT_NE(schema.find("`" + n + "`"), std::string::npos) << "verify/SCHEMA.md does not list " << n;
    EXPECT_NE(doc.find(n), std::string::npos) << "docs/MODEL.md does not describe " << n;
    EXPECT_NE(ref.find("\"" + n + "\""), std::string::npos) << "reference/model.py never records " << n;
  }
}

}  // namespace
}  // namespace dsv32::testing
