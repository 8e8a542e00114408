#include "verify/provenance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dsv32 {

namespace {

std::string layer_prefix(int64_t l) {
  char b[32];
  std::snprintf(b, sizeof b, "layers/%02lld/", static_cast<long long>(l));
  return b;
}

int64_t layer_of(const std::string& name) {
  if (name.rfind("layers/", 0) != 0) return -1;
  try {
    return std::stoll(name.substr(7, name.find('/', 7) - 7));
  } catch (...) {
    return -1;
  }
}

}  // namespace

Provenance::Provenance(const Profile& profile, ModelDims& dims, int64_t n_positions, bool sparse, bool same_map)
    : profile_(profile), dims_(dims), n_(n_positions), sparse_(sparse), same_map_(same_map) {}

void Provenance::set_selection(int64_t layer, std::vector<std::vector<int32_t>> sets) {
  selection_[layer] = std::move(sets);
}

// What each tensor reads, by leaf name; "IN" is the layer input (previous residual, or embed).
std::vector<Provenance::Dep> Provenance::direct_deps(const std::string& name) const {
  const int64_t l = layer_of(name);
  const std::string leaf = tensor_leaf(name);
  const int64_t last = std::max<int64_t>(dims_.num_layers, 1) - 1;
  if (l < 0) {
    if (name == "embed") return {};
    if (name == "logits") return {{"final_norm", Read::kRow}};
    return {{layer_prefix(last) + "residual", Read::kRow}};  // final_norm and anything unknown after the stack
  }
  const std::string p = layer_prefix(l), in = l == 0 ? "embed" : layer_prefix(l - 1) + "residual";
  const Read keys = sparse_ ? Read::kSelected : Read::kCausal;
  auto row = [&](std::initializer_list<const char*> leaves) {
    std::vector<Dep> d;
    for (const char* x : leaves) d.push_back({std::string(x) == "IN" ? in : p + x, Read::kRow});
    return d;
  };
  if (leaf == "attn_norm") return row({"IN"});
  if (leaf == "q_latent" || leaf == "kv_latent" || leaf == "k_rope" || leaf == "indexer_k" || leaf == "indexer_weights")
    return row({"attn_norm"});
  if (leaf == "q_nope" || leaf == "q_rope" || leaf == "indexer_q") return row({"q_latent"});
  if (leaf == "kv_latent_fp8") return row({"kv_latent"});
  if (leaf == "indexer_scores") {
    auto d = row({"indexer_q", "indexer_weights"});
    d.push_back({p + "indexer_k", Read::kCausal});
    return d;
  }
  if (leaf == "indexer_topk") return row({"indexer_scores"});
  if (leaf == "attn_out") {
    auto d = row({"q_nope", "q_rope"});
    if (sparse_) d.push_back({p + "indexer_topk", Read::kRow});
    for (const char* k : {"kv_latent_fp8", "kv_latent", "k_rope"}) d.push_back({p + k, keys});
    return d;
  }
  if (leaf == "o_proj") return row({"attn_out"});
  if (leaf == "ffn_norm") return row({"IN", "o_proj"});
  if (leaf == "router_logits") return row({"ffn_norm"});
  if (leaf == "router_scores") return row({"router_logits"});
  if (leaf == "expert_ids") return row({"router_scores"});
  if (leaf == "expert_weights") return row({"router_logits", "expert_ids"});
  if (leaf == "ffn_out") return row({"ffn_norm", "expert_ids", "expert_weights"});
  if (leaf == "residual") return row({"IN", "o_proj", "ffn_out"});
  return row({"IN"});  // an unknown per-layer tensor: assume it reads the layer input row
}

// Dependencies among the compared tensors: a missing one is replaced by what it reads, the widest
// read winning (kCausal reads every earlier position, kSelected a subset, kRow one).
std::vector<Provenance::Dep> Provenance::resolve(const std::string& name) const {
  std::vector<Dep> out, todo = direct_deps(name);
  for (int guard = 0; !todo.empty() && guard < 10000; ++guard) {
    Dep d = todo.back();
    todo.pop_back();
    if (state_.count(d.name)) {
      auto it = std::find_if(out.begin(), out.end(), [&](const Dep& o) { return o.name == d.name; });
      if (it == out.end()) out.push_back(d);
      else it->read = std::max(it->read, d.read);
      continue;
    }
    for (Dep up : direct_deps(d.name)) {
      up.read = std::max(up.read, d.read);
      todo.push_back(up);
    }
  }
  return out;
}

int64_t Provenance::allowed_origins(double lambda) {
  if (!(lambda > 0)) return 0;
  if (lambda > 50) {  // normal approximation: the one-sided 1e-6 point is 4.75 sigma
    return std::max<int64_t>(1, int64_t(std::ceil(lambda + 4.75 * std::sqrt(lambda))));
  }
  double pmf = std::exp(-lambda), cdf = pmf;
  int64_t k = 0;
  while (1.0 - cdf > 1e-6 && k < 100000) {
    ++k;
    pmf *= lambda / double(k);
    cdf += pmf;
  }
  return std::max<int64_t>(1, k);
}

ProvenanceStats Provenance::add(const std::string& name, const std::vector<int64_t>& positions,
                                const std::vector<char>& differs, int64_t row_elems, bool bf16_values,
                                bool is_index) {
  ProvenanceStats s;
  s.computed = true;
  s.storage = bf16_values ? "bf16" : "fp32";
  const std::vector<Dep> deps = resolve(name);

  // Rounding points per row and the flip probability of each (see the header).
  const TensorRule& own = profile_.rule(name);
  size_t base = 0;
  {
    const std::vector<Dep> direct = direct_deps(name);
    if (!direct.empty()) base = profile_.rule(direct.front().name).reduction.size();
  }
  std::vector<std::string> fresh;
  if (own.reduction.size() > base) fresh.assign(own.reduction.begin() + int64_t(base), own.reduction.end());
  else if (!own.reduction.empty()) fresh.push_back(own.reduction.back());
  double L = 0;
  for (auto& e : fresh) L = std::max(L, dims_.eval(e));
  const double R = double(std::max<size_t>(1, fresh.size()));
  const double u_s = bf16_values ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24);
  s.p_point = same_map_ ? std::min(1.0, profile_.u_acc * std::sqrt(L + 1) / u_s) : 1.0;
  const double points = double(std::max<int64_t>(1, row_elems)) * R;
  const double p_row = s.p_point >= 1 ? 1.0 : -std::expm1(points * std::log1p(-s.p_point));

  std::vector<char>& st = state_[name];
  st.assign(size_t(std::max<int64_t>(n_, 0)), 0);
  for (size_t k = 0; k < positions.size(); ++k)
    if (positions[k] >= 0 && positions[k] < n_) st[size_t(positions[k])] = differs[k] ? 2 : 1;

  const int64_t layer = layer_of(name);
  for (size_t k = 0; k < positions.size(); ++k) {
    const int64_t t = positions[k];
    if (differs[k]) ++s.rows_differ;
    bool prop = false, unknown = false;
    for (const Dep& d : deps) {
      const std::vector<char>& ds = state_.at(d.name);
      auto look = [&](int64_t u) {
        const char v = u >= 0 && u < int64_t(ds.size()) ? ds[size_t(u)] : 0;
        if (v == 2) prop = true;
        else if (v == 0) unknown = true;
      };
      if (d.read == Read::kRow) {
        look(t);
      } else {
        auto sel = selection_.find(layer);
        if (d.read == Read::kSelected && sel != selection_.end() && t >= 0 && t < int64_t(sel->second.size())) {
          for (int32_t u : sel->second[size_t(t)]) look(u);
        } else {
          for (int64_t u = 0; u <= t && !prop; ++u) look(u);
        }
      }
      if (prop) break;
    }
    if (prop) {
      if (differs[k]) ++s.propagated;
    } else if (unknown) {
      if (differs[k]) ++s.unresolved;
    } else {
      ++s.candidates;
      s.expected += p_row;
      if (differs[k]) {
        ++s.origins;
        if (s.first_origin < 0 || t < s.first_origin) s.first_origin = t;
      }
    }
  }
  s.allowed = allowed_origins(s.expected);
  if (is_index) s.verdict = "";
  else if (s.rows_differ == 0) s.verdict = "none";
  else if (s.candidates > 0 && s.expected / double(s.candidates) >= 0.5) s.verdict = "untested";
  else if (s.origins == 0) s.verdict = "propagated";
  else s.verdict = s.origins > s.allowed ? "systematic" : "flip";
  return s;
}

}  // namespace dsv32
