#include "verify/profile.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "kernels/error.h"

namespace dsv32 {

const TensorRule& Profile::rule(const std::string& name) const {
  auto it = tensors.find(tensor_leaf(name));
  if (it != tensors.end()) return it->second;
  it = tensors.find("*");
  static const TensorRule kNone;
  return it != tensors.end() ? it->second : kNone;
}

static double num(const nlohmann::json& j, const char* key, const std::string& w, bool required = true,
                  double dflt = 0) {
  if (!j.contains(key)) {
    if (required) fail(w + ": '" + key + "' missing");
    return dflt;
  }
  if (!j[key].is_number()) fail(w + ": '" + key + "' is not a number");
  double v = j[key].get<double>();
  if (!(v >= 0) || !std::isfinite(v)) fail(w + ": '" + key + "' must be finite and >= 0");
  return v;
}

ProfileSet ProfileSet::parse(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("profiles") || !j["profiles"].is_object())
    fail(where + ": expected an object with 'profiles'");
  // Tensor rules are shared by all profiles ("tensors" at the top level); a profile may add its own.
  std::map<std::string, TensorRule> shared;
  auto parse_rules = [&](const nlohmann::json& t, const std::string& w, std::map<std::string, TensorRule>& out) {
    if (!t.is_object()) fail(w + ": 'tensors' must be an object");
    for (auto& [leaf, r] : t.items()) {
      const std::string rw = w + ": tensors." + leaf;
      if (!r.is_object()) fail(rw + ": must be an object");
      TensorRule rule;
      if (r.contains("reduction")) {
        if (!r["reduction"].is_array()) fail(rw + ": 'reduction' must be an array");
        for (auto& e : r["reduction"]) {
          if (e.is_string()) rule.reduction.push_back(e.get<std::string>());
          else if (e.is_number_integer()) rule.reduction.push_back(std::to_string(e.get<int64_t>()));
          else fail(rw + ": 'reduction' entries must be strings or integers");
        }
      }
      if (r.contains("scores")) rule.scores = r["scores"].get<std::string>();
      rule.scale = num(r, "scale", rw, false, 1);
      if (r.contains("doc")) rule.doc = r["doc"].get<std::string>();
      out[leaf] = rule;
    }
  };
  if (j.contains("tensors")) parse_rules(j["tensors"], where, shared);
  ProfileSet set;
  for (auto& [name, p] : j["profiles"].items()) {
    const std::string w = where + ": profiles." + name;
    if (!p.is_object()) fail(w + ": must be an object");
    Profile prof;
    prof.name = name;
    try {
      if (p.contains("doc")) prof.doc = p["doc"].get<std::string>();
      prof.u_store = num(p, "u_store", w);
      prof.u_acc = num(p, "u_acc", w);
      prof.c_round = num(p, "c_round", w);
      prof.c_acc = num(p, "c_acc", w);
      prof.depth_growth = num(p, "depth_growth", w);
      prof.max_factor = num(p, "max_factor", w);
      prof.tie_factor = num(p, "tie_factor", w);
      if (!p.contains("logits") || !p["logits"].is_object()) fail(w + ": 'logits' missing");
      prof.logits.kl_max = num(p["logits"], "kl_max", w + ".logits");
      prof.logits.top1_min = num(p["logits"], "top1_min", w + ".logits");
      prof.logits.top5_min = num(p["logits"], "top5_min", w + ".logits");
      prof.tensors = shared;
      if (p.contains("tensors")) parse_rules(p["tensors"], w, prof.tensors);
    } catch (const nlohmann::json::exception& e) {
      fail(w + ": " + e.what());
    }
    set.profiles[name] = std::move(prof);
  }
  return set;
}

ProfileSet ProfileSet::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(path + ": cannot open profiles file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::exception& e) {
    fail(path + ": invalid JSON (" + e.what() + ")");
  }
  return parse(j, path);
}

const Profile& ProfileSet::get(const std::string& name_in) const {
  // "fp32" is the old name of the exact profile (the profile names follow --numerics).
  const std::string name = name_in == "fp32" && !profiles.count("fp32") ? "exact" : name_in;
  auto it = profiles.find(name);
  if (it != profiles.end()) return it->second;
  std::string known;
  for (auto& [n, _] : profiles) known += (known.empty() ? "" : ", ") + n;
  fail("unknown tolerance profile '" + name + "' (known: " + known + ")");
}

ModelDims ModelDims::from_config(const std::string& config_json, int64_t context) {
  ModelDims d;
  d.values["@context"] = double(context);
  if (!config_json.empty()) {
    auto j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
    if (j.is_object())
      for (auto& [k, v] : j.items())
        if (v.is_number()) d.values[k] = v.get<double>();
  }
  auto it = d.values.find("num_hidden_layers");
  // From a dump's config_json, i.e. from a file: a value outside [0, 2^20] (1e300 would be UB to
  // convert) counts as unknown, and the layer count then comes from the dataset names.
  const bool ok = it != d.values.end() && it->second >= 0 && it->second <= double(1 << 20);
  d.num_layers = ok ? int64_t(it->second) : 0;
  return d;
}

double ModelDims::eval(const std::string& expr) {
  double prod = 1;
  std::stringstream ss(expr);
  std::string tok;
  while (std::getline(ss, tok, '*')) {
    if (!tok.empty() && std::isdigit(static_cast<unsigned char>(tok[0]))) {
      prod *= std::stod(tok);
      continue;
    }
    auto it = values.find(tok);
    if (it != values.end()) {
      prod *= it->second;
    } else if (std::find(missing.begin(), missing.end(), tok) == missing.end()) {
      missing.push_back(tok);
    }
  }
  return prod;
}

std::string tensor_leaf(const std::string& name) {
  if (name.rfind("layers/", 0) == 0) {
    size_t slash = name.find('/', 7);
    if (slash != std::string::npos) return name.substr(slash + 1);
  }
  return name;
}

int64_t tensor_layer(const std::string& name, int64_t num_layers) {
  if (name == "embed") return 0;
  if (name.rfind("layers/", 0) == 0) {
    size_t slash = name.find('/', 7);
    try {
      return std::stoll(name.substr(7, slash == std::string::npos ? std::string::npos : slash - 7));
    } catch (...) {
      return num_layers;
    }
  }
  return num_layers;
}

double rel_rms_bound(const Profile& p, const std::string& name, ModelDims& dims) {
  const TensorRule& r = p.rule(name);
  double L = 0;
  for (auto& e : r.reduction) L += dims.eval(e);
  const double R = double(r.reduction.size());
  const double l = double(tensor_layer(name, dims.num_layers));
  return (p.c_round * p.u_store * std::sqrt(1 + R) + p.c_acc * p.u_acc * std::sqrt(L)) *
         (1 + p.depth_growth * l) * r.scale;
}

}  // namespace dsv32
