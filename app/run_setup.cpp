#include "app/run_setup.h"

#include <cstdio>
#include <functional>

#include "app/common.h"
#include "kernels/error.h"
#include "verify/dump.h"

namespace dsv32::app {

void DeviceChoice::add_options(ArgParser& p) {
  p.add("--device", &device, "DEV", "cpu | cuda (the GPU forward pass: a -DDSV32_CUDA=ON build and a device)");
  p.add("--numerics", &numerics, "PROFILE",
        "exact (fp32, dequantized weights; CPU and GPU) | ref1 (the official code's deployed precision "
        "points: bf16, act_quant + fp8_gemm, FP8 c_KV and indexer; CPU) | bf16 (bf16 GEMMs; CPU and GPU) | fp8 "
        "(block-scaled e4m3 GEMMs; GPU). The table: model/numerics.h; dumps are verified with the "
        "verify profile of the same name");
  p.add("--parallel", &parallel, "MODE",
        "none | ep (routed experts split over the MPI ranks: mpirun -np N dsv32 ...; bit-identical to one "
        "process) | auto (ep when started by mpirun with N > 1)");
  p.add("--tp", &tp, "T",
        "under mpirun: tensor parallelism over T ranks (attention heads, dense MLP and shared-expert columns "
        "split; partial sums reduced in rank order; T divides N; exact profile)");
  p.add("--ep", &ep, "E", "under mpirun: routed experts split over E ranks (E divides N; default N)");
  p.add("--gpu-gemm", &gpu_gemm, "PREC", "old spelling of --numerics for the GPU: fp32 = exact, bf16, fp8");
}

void DeviceChoice::apply(ModelOptions& o) const {
  o.device = parse_device(device);
  std::string name = numerics;
  if (!gpu_gemm.empty()) {
    if (gpu_gemm != "fp32" && gpu_gemm != "bf16" && gpu_gemm != "fp8")
      fail("--gpu-gemm: '" + gpu_gemm + "' is not one of fp32, bf16, fp8");
    const std::string alias = gpu_gemm == "fp32" ? "exact" : gpu_gemm;
    if (numerics != "exact" && numerics != alias)
      fail("--gpu-gemm " + gpu_gemm + " contradicts --numerics " + numerics + " (--gpu-gemm is its old spelling)");
    name = alias;
  }
  o.numerics = numerics_profile(name).name;  // unknown names fail here, before any file is read
  o.parallel = parse_parallel(parallel);
  o.tp = tp, o.ep = ep;
  if (o.parallel == Parallel::kNone && (tp != 1 || ep != 0))
    fail("--tp/--ep: need ranks (mpirun -np N dsv32 ... with N > 1, or --parallel ep)");
  if (o.parallel == Parallel::kEp) rank_layout(mpi_world(), tp, ep);  // T and E must divide N
  if (o.parallel == Parallel::kEp && mpi_world().rank != 0 && !std::freopen("/dev/null", "w", stdout))
    fail("--parallel ep: cannot silence the stdout of rank " + std::to_string(current_world().rank));
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
  p.add("--inject-from", &inject_from, "REF.h5",
        "feed every layer the dump's input to it (embed, then layers/NN/residual), so that each layer's "
        "error against REF is its own; compare with `dsv32 verify REF.h5 RUN.h5 --local THIS.h5`");
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

namespace {

// The discrete choices of a reference dump (run --pin-from), validated where they enter: the ids
// index the router's and the attention's arrays, so a hostile file must not reach them unchecked.
// Pinning is all or nothing per kind: a dump that pins some layers and not others would make a
// run that is neither the reference's nor this model's own, so a missing layer is an error.
Pins load_pins(const std::string& path, const ModelConfig& c, bool sparse, int64_t n) {
  DumpReader r(path);
  Pins pins;
  pins.source = path;
  pins.indexer_topk.resize(c.n_layers);
  pins.expert_ids.resize(c.n_layers);
  // Rows are looked up by absolute position (row p pins position p): the dump must start at 0.
  for (int64_t k = 0; k < n && k < int64_t(r.positions().size()); ++k)
    if (r.positions()[size_t(k)] != k)
      fail(path + ": /meta/positions: row " + std::to_string(k) + " holds position " +
           std::to_string(r.positions()[size_t(k)]) + "; pinning needs rows for positions 0.." + std::to_string(n - 1));
  auto name_of = [](int l, const char* what) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "layers/%02d/%s", l, what);
    return std::string(buf);
  };
  // Reads one layer's ids: an integer dataset with at least n rows.
  auto take = [&](const std::string& name, int64_t* width) {
    const DumpTensorInfo& info = r.info(name);
    if (!info.is_index)
      fail(path + ": dataset '" + name + "' holds " + info.logical_dtype + " values; ids must be stored as integers");
    DumpTensor t = r.read(name);
    if (t.rows() < n)
      fail(path + ": dataset '" + name + "' has " + std::to_string(t.rows()) + " rows, the run needs " +
           std::to_string(n));
    *width = t.row_elems();
    return std::move(t.i);
  };
  // All or nothing over the layers that have the kind; returns whether the dump pins it.
  auto all_or_none = [&](const char* what, const std::function<bool(int)>& applies) {
    int first_with = -1, first_without = -1;
    for (int l = 0; l < c.n_layers; ++l) {
      if (!applies(l)) continue;
      int& first = r.has(name_of(l, what)) ? first_with : first_without;
      if (first < 0) first = l;
    }
    if (first_with >= 0 && first_without >= 0)
      fail(path + ": dataset '" + name_of(first_without, what) + "' missing: the dump pins " + what + " of layer " +
           std::to_string(first_with) + ", and pinning is all or nothing");
    return first_with >= 0;
  };

  if (sparse && all_or_none("indexer_topk", [](int) { return true; })) {
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string name = name_of(l, "indexer_topk");
      pins.indexer_topk[l] = take(name, &pins.topk_width);
      // Row p selects among positions 0..p (causal), padded with -1 (MODEL §7.6); the indexer
      // drops what a row cannot see, but an id outside that set means the file is not a dump of
      // this kind of run -- also where the indexer is bypassed (index_topk >= positions).
      const std::vector<int32_t>& v = pins.indexer_topk[l];
      // (Rows past the run's n are not used, and their positions need not equal their index.)
      const int64_t w = std::max<int64_t>(pins.topk_width, 1);
      for (size_t i = 0; i < size_t(std::min<int64_t>(int64_t(v.size()), n * w)); ++i)
        if (const int64_t row = int64_t(i) / w; v[i] < -1 || v[i] > row)
          fail(path + ": dataset '" + name + "' row " + std::to_string(row) + " holds position " + std::to_string(v[i]) +
               ", outside [0, " + std::to_string(row) + "] (or -1 for padding)");
    }
  }
  if (all_or_none("expert_ids", [&](int l) { return c.is_moe_layer(l); })) {
    for (int l = 0; l < c.n_layers; ++l) {
      if (!c.is_moe_layer(l)) continue;
      const std::string name = name_of(l, "expert_ids");
      pins.expert_ids[l] = take(name, &pins.experts_width);
      if (pins.experts_width != c.n_experts_per_tok)
        fail(path + ": dataset '" + name + "' has " + std::to_string(pins.experts_width) +
             " columns, the model routes to " + std::to_string(c.n_experts_per_tok));
      // Untrusted ids: one outside [0, E) would index the router's arrays out of bounds; one twice
      // in a row would give two of the k slots (and two gate weights) to one expert (MODEL §8.2).
      const std::vector<int32_t>& v = pins.expert_ids[l];
      const int64_t w = pins.experts_width;
      for (size_t i = 0; i < v.size(); ++i) {
        const int64_t row = int64_t(i) / w;
        if (const int32_t e = v[i]; e < 0 || e >= c.n_routed_experts)
          fail(path + ": dataset '" + name + "' row " + std::to_string(row) + " holds expert " + std::to_string(e) +
               ", outside [0, " + std::to_string(c.n_routed_experts) + ")");
        for (int64_t j = row * w; j < int64_t(i); ++j)
          if (v[size_t(j)] == v[i])
            fail(path + ": dataset '" + name + "' row " + std::to_string(row) + " holds expert " +
                 std::to_string(v[i]) + " twice (columns " + std::to_string(j - row * w) + " and " +
                 std::to_string(int64_t(i) - row * w) + ")");
      }
    }
  }
  return pins;
}

}  // namespace

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
    pins = load_pins(pin_from, c, o.attn == AttnMode::kSparse, int64_t(ids.size()));
    model->set_pins(&pins);
  }
  if (!inject_from.empty()) {
    // The reference's residual stream entering each layer, as fp32 (a bf16 dump decodes exactly,
    // a float64 one rounds once). Under REF-1 the dumped residual is the bf16-stored one, so the
    // injected layer normalises that instead of the un-rounded sum (a bf16-ulp difference).
    DumpReader r(inject_from);
    const int64_t n = int64_t(ids.size()), D = c.hidden_size;
    injection.source = inject_from;
    injection.input.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
      char name[64];
      if (l == 0) std::snprintf(name, sizeof name, "embed");
      else std::snprintf(name, sizeof name, "layers/%02d/residual", l - 1);
      if (!r.has(name)) fail(inject_from + ": no dataset '" + name + "' (the input of layer " + std::to_string(l) + ")");
      DumpTensor t = r.read(name);
      if (t.info.is_index || t.row_elems() != D || t.rows() < n)
        fail(inject_from + ": dataset '" + name + "' is not [>= " + std::to_string(n) + ", " + std::to_string(D) +
             "] floats");
      injection.input[l] = std::move(t.f);
    }
    model->set_injection(&injection);
  }
}

}  // namespace dsv32::app
