// Tolerance profiles for `dsv32 verify`: data (verify/profiles.json), not code. A profile turns a
// tensor's name, the model config and its layer into one number, the bound β on its relative RMS
// error (sqrt(NMSE)):
//
//   β = (c_round · u_store · sqrt(1 + R) + c_acc · u_acc · sqrt(L)) · (1 + depth_growth · l) · scale
//
//   R      number of rounding points on the tensor's path from the layer input (terms in `reduction`)
//   L      Σ of the reduction lengths along that path (config keys, e.g. "hidden_size", "a*b", "@context")
//   l      layer index (0 for embed; num_hidden_layers for final_norm and logits)
//   u_*    unit roundoff of stored values / of accumulators (fp32: 2^-24; bf16 storage: 2^-8)
//
// A float tensor passes when NMSE ≤ β² and max_i |a_i−b_i| / (|b_i| + rms(b)) ≤ max_factor · β.
// An index tensor's row mismatch is excused as a tie when every element of the symmetric difference
// has a score within tie_factor · β(scores) · max(|cut-off|, rms(row)) of that row's cut-off.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv32 {

struct TensorRule {
  std::vector<std::string> reduction;  // reduction lengths along the path, as config expressions
  std::string scores;                  // index tensors: the leaf name of their selection scores
  double scale = 1;                    // extra factor (documented in the JSON)
  std::string doc;
};

struct LogitsTolerance {
  double kl_max = 0;    // mean KL(P_b || P_a) per position, nats
  double top1_min = 1;  // fraction of positions with the same argmax (near-ties excused)
  double top5_min = 1;  // mean |top5(a) ∩ top5(b)| / 5
};

struct Profile {
  std::string name, doc;
  double u_store = 0, u_acc = 0, c_round = 0, c_acc = 0, depth_growth = 0;
  double max_factor = 1, tie_factor = 0;
  LogitsTolerance logits;
  std::map<std::string, TensorRule> tensors;  // by leaf name ("q_rope", "logits"); "*" = default

  const TensorRule& rule(const std::string& name) const;  // by dump path; falls back to "*"
};

struct ProfileSet {
  std::map<std::string, Profile> profiles;
  // Parses a profiles JSON file; throws Error naming the file and the key at fault.
  static ProfileSet load(const std::string& path);
  static ProfileSet parse(const nlohmann::json& j, const std::string& where);
  const Profile& get(const std::string& name) const;  // throws Error listing the known names
};

// Model sizes the reduction expressions refer to: every numeric key of config.json plus
// "@context" (positions of the run). Missing keys evaluate to 1 and are reported once.
struct ModelDims {
  std::map<std::string, double> values;
  int64_t num_layers = 0;
  std::vector<std::string> missing;  // keys that were looked up but absent
  static ModelDims from_config(const std::string& config_json, int64_t context);
  double eval(const std::string& expr);
};

// Layer index of a dump path: NN for "layers/NN/...", 0 for embed, num_layers for the rest.
int64_t tensor_layer(const std::string& name, int64_t num_layers);
// Leaf name: "q_rope" for "layers/02/q_rope", the name itself outside the layer stack.
std::string tensor_leaf(const std::string& name);
// β above.
double rel_rms_bound(const Profile& p, const std::string& name, ModelDims& dims);

}  // namespace dsv32
