// The options every model-running subcommand shares (run, ppl, bench, eval): model directory,
// ids, modes, threads, context capacity, pinned selections; and the loading that follows.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "app/args.h"
#include "model/model.h"

namespace dsv32::app {

// --device, --gpu-gemm and --numerics: where the forward pass runs and with which numerics. The
// single registration of these options for run, ppl, bench and eval.
struct DeviceChoice {
  std::string device = "cpu", gpu_gemm = "fp32", numerics = "exact";
  void add_options(ArgParser& p);
  // Sets o.device, o.gpu_gemm and o.numerics; throws Error for unknown values, and for a
  // --gpu-gemm other than fp32 without --device cuda (the CPU has one GEMM precision). ref1 with
  // --device cuda is rejected when the model is built (CudaForward), with one line.
  void apply(ModelOptions& o) const;
  // The same choice as command-line arguments (eval passes them on to run, ppl and bench).
  std::vector<std::string> args() const {
    return {"--device", device, "--gpu-gemm", gpu_gemm, "--numerics", numerics};
  }
};

struct RunSetup {
  std::string model_dir, ids_text, ids_file, attn = "auto", mla = "absorbed", pin_from;
  int threads = 2;
  int64_t ctx = 0;
  std::vector<int64_t> ids;
  std::shared_ptr<const ModelWeights> weights;
  std::unique_ptr<Model> model;
  Pins pins;
  DeviceChoice device;  // --device, --gpu-gemm, --numerics

  // Registers --model --ids --ids-file --attn --mla --threads --ctx --pin-from --numerics --device
  // --gpu-gemm.
  void add_options(ArgParser& p, bool need_ids = true);
  // Reads ids (from --ids or --ids-file); throws Error for malformed or empty lists.
  void resolve(const ArgParser& p);
  // Loads weights, validates ids against the vocabulary, builds the model with capacity
  // max(ctx, n_positions), and loads pins if --pin-from was given.
  void load(int64_t n_positions);

 private:
  bool need_ids_ = true;
};

}  // namespace dsv32::app
