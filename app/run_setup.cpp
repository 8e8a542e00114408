#include "app/run_setup.h"

#include "app/common.h"
#include "model/error.h"
#include "verify/dump.h"

namespace dsv32::app {

void DeviceChoice::add_options(ArgParser& p) {
  p.add("--device", &device, "DEV", "cpu | cuda (the GPU forward pass: a -DDSV32_CUDA=ON build and a device)");
  p.add("--gpu-gemm", &gpu_gemm, "PREC",
        "GEMMs with --device cuda: fp32 (the exact profile: CUDA dumps verify against CPU dumps with "
        "--profile fp32) | bf16 (verify with --profile bf16) | fp8 (act_quant + e4m3 for F8 weights)");
  p.add("--numerics", &numerics, "PROFILE",
        "exact (fp32, dequantized weights) | ref1 (REF-1 emulation on the CPU: bf16 rounding points, "
        "act_quant + fp8_gemm, FP8 c_KV; for dump matching, verify with --profile ref1)");
}

void DeviceChoice::apply(ModelOptions& o) const {
  o.device = parse_device(device);
  o.gpu_gemm = parse_gpu_gemm(gpu_gemm);
  o.numerics = parse_numerics(numerics);
  if (o.device != Device::kCuda && o.gpu_gemm != GpuGemm::kFp32)
    fail("--gpu-gemm " + gpu_gemm + ": needs --device cuda (the CPU path computes in fp32)");
}

void RunSetup::add_options(ArgParser& p, bool need_ids) {
  need_ids_ = need_ids;
  p.add("--model", &model_dir, "DIR", "checkpoint directory (config.json + safetensors)", true);
  if (need_ids) {
    p.add("--ids", &ids_text, "1,2,3", "token ids, comma separated");
    p.add("--ids-file", &ids_file, "FILE", "token ids from a file (commas or whitespace; - = stdin)");
  }
  p.add("--attn", &attn, "MODE", "dense | sparse (DSA) | auto (sparse when the model has an indexer)");
  p.add("--mla", &mla, "MODE", "naive (per-head K/V cache) | absorbed (latent cache)");
  p.add("--threads", &threads, "T", "worker threads");
  p.add("--ctx", &ctx, "N", "KV-cache capacity in positions (default: what the run needs)");
  p.add("--pin-from", &pin_from, "REF.h5", "take indexer top-k sets and expert choices from a dump");
  device.add_options(p);
}

void RunSetup::resolve(const ArgParser& p) {
  if (!need_ids_) return;
  if (!ids_text.empty() && !ids_file.empty()) fail("give either --ids or --ids-file, not both");
  if (!ids_text.empty()) ids = parse_int_list(ids_text, "--ids");
  else if (!ids_file.empty()) ids = read_ids_file(ids_file);
  else fail("missing token ids: give --ids 1,2,3 or --ids-file FILE");
  if (ids.empty()) fail(ids_file.empty() ? "--ids: no token ids given" : ids_file + ": no token ids");
  if (threads < 1 || threads > 1024) fail("--threads: must be between 1 and 1024");
}

void RunSetup::load(int64_t n_positions) {
  weights = load_weights(model_dir);
  const ModelConfig& c = weights->config;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= c.vocab_size)
      fail(std::string(ids_file.empty() ? "--ids" : ids_file) + ": token id " + std::to_string(ids[i]) +
           " at index " + std::to_string(i) + " is out of range [0, " + std::to_string(c.vocab_size) + ")");
  ModelOptions o;
  o.attn = attn == "auto" ? (c.has_indexer ? AttnMode::kSparse : AttnMode::kDense) : parse_attn_mode(attn);
  o.mla = parse_mla_mode(mla);
  o.threads = threads;
  o.max_ctx = std::max<int64_t>({ctx, n_positions, 1});
  device.apply(o);
  model = std::make_unique<Model>(weights, o);
  if (!pin_from.empty()) {
    DumpReader r(pin_from);
    const int64_t n = int64_t(ids.size());
    pins.indexer_topk.resize(c.n_layers);
    pins.expert_ids.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "layers/%02d/", l);
      auto take = [&](const std::string& name, int64_t* width, std::vector<int32_t>* out) {
        if (!r.has(name)) return;
        DumpTensor t = r.read(name);
        if (t.rows() < n)
          fail(pin_from + ": dataset '" + name + "' has " + std::to_string(t.rows()) +
               " rows, the run needs " + std::to_string(n));
        *width = t.row_elems();
        *out = std::move(t.i);
      };
      if (o.attn == AttnMode::kSparse) take(std::string(buf) + "indexer_topk", &pins.topk_width, &pins.indexer_topk[l]);
      if (c.is_moe_layer(l)) {
        take(std::string(buf) + "expert_ids", &pins.experts_width, &pins.expert_ids[l]);
        if (!pins.expert_ids[l].empty() && pins.experts_width != c.n_experts_per_tok)
          fail(pin_from + ": dataset '" + std::string(buf) + "expert_ids' has " +
               std::to_string(pins.experts_width) + " columns, the model routes to " +
               std::to_string(c.n_experts_per_tok));
      }
    }
    model->set_pins(&pins);
  }
}

}  // namespace dsv32::app
