// The options every model-running subcommand shares (run, ppl, bench, eval): model directory,
// ids, modes, threads, context capacity, pinned selections; and the loading that follows.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "app/args.h"
#include "model/model.h"

namespace dsv32::app {

// --device and --numerics: where the forward pass runs and with which numerics profile
// (model/numerics.h). The single registration of these options for run, ppl, bench and eval.
// --gpu-gemm fp32|bf16|fp8 stays as the old spelling of --numerics exact|bf16|fp8.
struct DeviceChoice {
  std::string device = "cpu", numerics = "exact", gpu_gemm, parallel = "auto";
  int tp = 1, ep = 0;  // --tp T, --ep E (model/parallel.h RankLayout; ep 0 = every rank)
  void add_options(ArgParser& p);
  // Sets o.device, o.numerics and o.parallel; throws Error for unknown values. --parallel ep
  // starts MPI here, before any file is read, and sends the stdout of every rank but 0 to
  // /dev/null (rank 0 alone prints; commands write files only where output_rank()). A profile the backend cannot
  // compute (ref1 on the GPU, bf16 on the CPU) is rejected when the model is built, in one line.
  void apply(ModelOptions& o) const;
  // The same choice as command-line arguments (eval passes them on to run, ppl and bench).
  std::vector<std::string> args() const {
    ModelOptions o;
    apply(o);
    return {"--device", device, "--numerics", o.numerics, "--parallel", to_string(o.parallel),
            "--tp", std::to_string(tp), "--ep", std::to_string(ep)};
  }
};

struct RunSetup {
  std::string model_dir, ids_text, ids_file, attn = "auto", mla = "absorbed", pin_from, inject_from;
  int threads = 2;
  int64_t ctx = 0;
  std::vector<int64_t> ids;
  std::shared_ptr<const ModelWeights> weights;
  std::unique_ptr<Model> model;
  Pins pins;
  Injection injection;
  DeviceChoice device;  // --device, --gpu-gemm, --numerics

  // Registers --model --ids --ids-file --attn --mla --threads --ctx --pin-from --inject-from
  // --numerics --device --gpu-gemm.
  void add_options(ArgParser& p, bool need_ids = true);
  // Reads ids (from --ids or --ids-file); throws Error for malformed or empty lists.
  void resolve(const ArgParser& p);
  // Loads weights, validates ids against the vocabulary, builds the model with capacity
  // max(ctx, n_positions), and loads pins (--pin-from) and layer inputs (--inject-from).
  void load(int64_t n_positions);

 private:
  bool need_ids_ = true;
};

}  // namespace dsv32::app
