// Backend selection, and the CPU backend: a thin adapter over Model::Impl (model.cpp, ffn.cpp),
// which stays the CPU driver unchanged.
#include "model/backend.h"

#include "model/error.h"
#include "model/model_impl.h"

namespace dsv32 {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt)
      : impl_(std::move(weights), opt) {}

  void forward(const int32_t* ids, int64_t n, int64_t pos, float* logits, const Observer* obs,
               int64_t logits_from) override {
    impl_.obs = obs;
    impl_.forward(ids, n, pos, logits, logits_from);
    impl_.obs = nullptr;
  }
  int64_t filled() const override { return impl_.filled; }
  void set_pins(const Pins* pins) override { impl_.pins = pins; }
  float* mla_cache_row(int layer, int64_t pos) override {
    return impl_.cache.at(layer).mla.data() + pos * mla_cache_row_floats(impl_.c, impl_.opt.mla);
  }
  float* indexer_cache_row(int layer, int64_t pos) override {
    return impl_.cache.at(layer).indexer.data() + pos * impl_.c.index_head_dim;
  }
  std::string device_name() const override { return "cpu"; }

 private:
  Model::Impl impl_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(std::shared_ptr<const ModelWeights> weights, const ModelOptions& opt) {
  if (opt.device == Device::kCpu) return std::make_unique<CpuBackend>(std::move(weights), opt);
#ifdef DSV32_WITH_CUDA
  return make_cuda_forward(std::move(weights), opt);
#else
  fail("--device cuda: this build has no CUDA support (configure with -DDSV32_CUDA=ON)");
#endif
}

}  // namespace dsv32
