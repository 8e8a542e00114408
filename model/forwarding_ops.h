// ForwardingOps: an Ops that hands every call to an inner backend. A decorator backend (expert
// parallelism, model/mpi/mpi_ops.cpp) derives from it and overrides only the ops it changes, so
// the inner backend (CpuOps; CudaOps later) keeps all its kernels and numerics.
#pragma once
#include <memory>
#include <utility>

#include "model/ops.h"

namespace dsv32 {

class ForwardingOps : public Ops {
 public:
  explicit ForwardingOps(std::unique_ptr<Ops> inner) : in_(std::move(inner)) {}
  Ops& inner() { return *in_; }
  const Ops& inner() const { return *in_; }

  std::string device_name() const override { return in_->device_name(); }
  bool host_memory() const override { return in_->host_memory(); }
  std::string lacks(const NumericsProfile& p, const ModelConfig& c) const override { return in_->lacks(p, c); }
  bool bf16_mirrors() const override { return in_->bf16_mirrors(); }
  void ensure(Buf& b, size_t bytes) override { in_->ensure(b, bytes); }
  void release(Buf& b) override { in_->release(b); }
  void zero(Buf& b) override { in_->zero(b); }
  void to_host(void* dst, const void* src, size_t bytes) override { in_->to_host(dst, src, bytes); }
  void to_device(void* dst, const void* src, size_t bytes) override { in_->to_device(dst, src, bytes); }
  void copy(const Strided& c, const float* src, float* dst) override { in_->copy(c, src, dst); }
  void to_bf16(const float* src, int64_t rows, int64_t cols, int64_t src_stride, uint16_t* dst) override {
    in_->to_bf16(src, rows, cols, src_stride, dst);
  }
  void finish() override { in_->finish(); }
  void prepare(const Weight& w) override { in_->prepare(w); }
  void prepare(const std::vector<float>& v) override { in_->prepare(v); }
  void prepare_heads(const std::vector<Weight>& heads) override { in_->prepare_heads(heads); }
  void prepare_rope(const RopeTable& t) override { in_->prepare_rope(t); }
  void embed(const Weight& table, const int32_t* ids, int64_t S, float* out) override {
    in_->embed(table, ids, S, out);
  }
  void linear(const Rule& r, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
              int64_t y_stride) override {
    in_->linear(r, x, M, x_stride, w, y, y_stride);
  }
  void linear_heads(const Rule& r, const std::vector<Weight>& heads, const float* x, int64_t S, int64_t x_row,
                    int64_t x_head, float* y, int64_t y_row, int64_t y_head) override {
    in_->linear_heads(r, heads, x, S, x_row, x_head, y, y_row, y_head);
  }
  void round_bf16(float* x, int64_t rows, int64_t width, int64_t stride) override {
    in_->round_bf16(x, rows, width, stride);
  }
  void rmsnorm(const float* x, int64_t rows, int64_t dim, int64_t x_stride, const std::vector<float>& w, double eps,
               float* y, int64_t y_stride) override {
    in_->rmsnorm(x, rows, dim, x_stride, w, eps, y, y_stride);
  }
  void layernorm(const float* x, int64_t rows, int64_t dim, const std::vector<float>& w, const std::vector<float>& b,
                 double eps, float* y) override {
    in_->layernorm(x, rows, dim, w, b, eps, y);
  }
  void rope(const RopeTable& t, RopeLayout layout, float* x, int64_t rows, int64_t x_stride, int64_t heads,
            int64_t head_stride, int64_t pos0) override {
    in_->rope(t, layout, x, rows, x_stride, heads, head_stride, pos0);
  }
  void hadamard(float* x, int64_t count, int64_t n) override { in_->hadamard(x, count, n); }
  void act_quant(const float* x, int64_t rows, int64_t dim, float* q, float* s) override {
    in_->act_quant(x, rows, dim, q, s);
  }
  void act_quant_roundtrip(float* x, int64_t rows, int64_t dim, int64_t x_stride) override {
    in_->act_quant_roundtrip(x, rows, dim, x_stride);
  }
  void add(float* y, const float* x, int64_t n) override { in_->add(y, x, n); }
  void mul(float* y, const float* x, int64_t n) override { in_->mul(y, x, n); }
  void scale(float* x, int64_t n, float s) override { in_->scale(x, n, s); }
  void mlp(const MlpRules& r, const MlpWeights& m, const float* x, int64_t rows, float* y) override {
    in_->mlp(r, m, x, rows, y);
  }
  void indexer_select(const IndexerCall& c, const float* q, const float* w, const float* keys, int64_t S, int64_t P,
                      const int32_t* pinned, const int32_t* pinned_count, int32_t* topk, int32_t* count,
                      float* scores) override {
    in_->indexer_select(c, q, w, keys, S, P, pinned, pinned_count, topk, count, scores);
  }
  void attend(const AttendCall& a, const float* q, const float* keys, const float* values, const int32_t* index,
              const int32_t* count, int64_t index_stride, int64_t S, int64_t P, float* out) override {
    in_->attend(a, q, keys, values, index, count, index_stride, S, P, out);
  }
  void moe_route(const MoeRouteParams& p, int64_t S, const float* logits, const std::vector<float>& bias,
                 int32_t* ids, float* weights, float* select) override {
    in_->moe_route(p, S, logits, bias, ids, weights, select);
  }
  void moe_experts(const MoeCall& m, const float* x, const int32_t* ids, const int32_t* ids_host,
                   const float* weights, float* y) override {
    in_->moe_experts(m, x, ids, ids_host, weights, y);
  }
  void tp_allgather(const float* mine, float* all, const int64_t* counts) override {
    in_->tp_allgather(mine, all, counts);
  }

 private:
  std::unique_ptr<Ops> in_;
};

}  // namespace dsv32
