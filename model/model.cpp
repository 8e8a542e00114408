// Model: the public face of the forward pass (the layer program, model/layer_program.h), the mode
// names, cache sizes and the checks every forward call starts with.
#include "model/model.h"

#include "kernels/error.h"
#include "model/checked.h"
#include "model/layer_program.h"

namespace dsv32 {

const char* to_string(AttnMode m) { return m == AttnMode::kDense ? "dense" : "sparse"; }
const char* to_string(MlaMode m) { return m == MlaMode::kNaive ? "naive" : "absorbed"; }
AttnMode parse_attn_mode(const std::string& s) {
  if (s == "dense") return AttnMode::kDense;
  if (s == "sparse") return AttnMode::kSparse;
  fail("--attn: '" + s + "' is not one of dense, sparse");
}
MlaMode parse_mla_mode(const std::string& s) {
  if (s == "naive") return MlaMode::kNaive;
  if (s == "absorbed") return MlaMode::kAbsorbed;
  fail("--mla: '" + s + "' is not one of naive, absorbed");
}
const char* to_string(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }
Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::kCpu;
  if (s == "cuda") return Device::kCuda;
  fail("--device: '" + s + "' is not one of cpu, cuda");
}

int64_t mla_cache_row_floats(const ModelConfig& c, MlaMode mla) {
  return mla == MlaMode::kAbsorbed ? checked_add(c.kv_lora_rank, c.qk_rope_head_dim, c.source + ": MLA cache row")
                                   : checked_mul(c.n_heads, c.qk_head_dim(), c.source + ": MLA cache row");
}

KvBytes kv_cache_bytes(const ModelConfig& c, MlaMode mla, AttnMode attn) {
  // Checked (model/checked.h): the config parser caps each dimension, not these products.
  const std::string w = c.source + ": KV-cache bytes per token";
  auto mul = [&](std::initializer_list<int64_t> f) { return checked_product(f, w); };
  KvBytes k;
  const int64_t H = c.n_heads;
  if (mla == MlaMode::kAbsorbed) {
    const int64_t row = checked_add(c.kv_lora_rank, c.qk_rope_head_dim, w);
    k.mla_per_layer = mul({row, 4});
    k.deployed_mla_per_layer = mul({row, 2});  // bf16 latent + rope
  } else {
    const int64_t row = checked_sum({c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim}, w);
    k.mla_per_layer = mul({H, row, 4});
    k.deployed_mla_per_layer = mul({H, row, 2});  // bf16 K and V
  }
  if (attn == AttnMode::kSparse) {
    k.indexer_per_layer = mul({c.index_head_dim, 4});
    k.deployed_indexer_per_layer = checked_add(c.index_head_dim, 4, w);  // e4m3 key + fp32 scale
  }
  k.per_token = mul({checked_add(k.mla_per_layer, k.indexer_per_layer, w), c.n_layers});
  k.deployed_per_token = mul({checked_add(k.deployed_mla_per_layer, k.deployed_indexer_per_layer, w), c.n_layers});
  return k;
}

RopeParams rope_params(const ModelConfig& c) {
  RopeParams p;
  p.dim = c.qk_rope_head_dim;
  p.theta = c.rope_theta;
  p.factor = c.rope_factor;
  p.original_seq_len = c.original_seq_len;
  p.beta_fast = c.beta_fast;
  p.beta_slow = c.beta_slow;
  return p;
}

void check_forward_call(const ModelConfig& c, const ModelOptions& opt, int64_t filled, const int32_t* ids,
                        int64_t S, int64_t P) {
  const int64_t V = c.vocab_size;
  if (P < 0 || P > filled)
    fail("forward: start position " + std::to_string(P) + " leaves a gap (cache holds positions 0.." +
         std::to_string(filled) + ")");
  if (P + S > opt.max_ctx)
    fail("forward: positions up to " + std::to_string(P + S) + " exceed the context capacity " +
         std::to_string(opt.max_ctx));
  for (int64_t s = 0; s < S; ++s)
    if (ids[s] < 0 || ids[s] >= V)
      fail("token id " + std::to_string(ids[s]) + " at position " + std::to_string(P + s) +
           " is out of range [0, " + std::to_string(V) + ")");
}

Model::Model(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt)
    : weights_(std::move(weights)), opt_(opt), program_(std::make_unique<LayerProgram>(weights_, opt_)) {}
Model::~Model() = default;
const ModelConfig& Model::config() const { return weights_->config; }
const ModelOptions& Model::options() const { return opt_; }
const ModelWeights& Model::weights() const { return *weights_; }
int64_t Model::filled() const { return program_->filled(); }
void Model::set_pins(const Pins* pins) { program_->set_pins(pins); }
void Model::set_injection(const Injection* inj) { program_->set_injection(inj); }
std::string Model::device_name() const { return program_->device_name(); }
const NumericsProfile& Model::numerics() const { return program_->numerics(); }

void Model::forward(const int32_t* ids, int64_t n, int64_t pos, float* logits, const Observer* obs,
                    int64_t logits_from) {
  program_->forward(ids, n, pos, logits, obs, logits_from);
}

int64_t Model::mla_cache_row_floats() const { return dsv32::mla_cache_row_floats(weights_->config, opt_.mla); }
float* Model::mla_cache_row(int layer, int64_t pos) { return program_->mla_cache_row(layer, pos); }
float* Model::indexer_cache_row(int layer, int64_t pos) { return program_->indexer_cache_row(layer, pos); }

}  // namespace dsv32
