// Backend: where Model's forward pass runs. Model (model.h) is the one public class; it owns one
// Backend, chosen by ModelOptions::device at construction (make_backend, model/backend.cpp):
//   Device::kCpu  → the CPU driver (Model::Impl, model.cpp / ffn.cpp), wrapped by CpuBackend
//   Device::kCuda → CudaForward (model/cuda/), compiled only when DSV32_WITH_CUDA is defined
//                   (-DDSV32_CUDA=ON); otherwise constructing it is a one-line Error.
// Every backend honours the same contract as Model::forward: same dump names/shapes/order to the
// observer, same pins semantics, same errors for bad positions and ids (check_forward_call).
// Not part of the public interface.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/cpu/rope.h"
#include "model/model.h"

namespace dsv32 {

class Backend {
 public:
  virtual ~Backend() = default;
  // Model::forward's contract (model.h). logits: host memory or nullptr.
  virtual void forward(const int32_t* ids, int64_t n, int64_t pos, float* logits, const Observer* obs,
                       int64_t logits_from) = 0;
  virtual int64_t filled() const = 0;
  virtual void set_pins(const Pins* pins) = 0;  // the Pins object outlives the backend's use of it
  // Host pointers into the caches, for tests that perturb one row; a backend whose caches live
  // elsewhere (CUDA) throws Error.
  virtual float* mla_cache_row(int layer, int64_t pos) = 0;
  virtual float* indexer_cache_row(int layer, int64_t pos) = 0;
  // "cpu", or the GPU's name and compute capability.
  virtual std::string device_name() const = 0;
};

// The backend for opt.device. Throws Error for an unavailable device or an unsupported option.
std::unique_ptr<Backend> make_backend(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt);

// The argument checks every backend's forward starts with: S ≥ 0 tokens at [P, P + S) must
// continue the cache (P ≤ filled) and fit max_ctx; every id within the vocabulary.
void check_forward_call(const ModelConfig& c, const ModelOptions& opt, int64_t filled, const int32_t* ids,
                        int64_t S, int64_t P);

// The MLA RoPE parameters (YaRN) from the config; the indexer shares the table (model.cpp).
RopeParams rope_params(const ModelConfig& c);

#ifdef DSV32_WITH_CUDA
// model/cuda/cuda_forward.cpp
std::unique_ptr<Backend> make_cuda_forward(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt);
#endif

}  // namespace dsv32
