// Ops: the backend interface the layer program (model/layer_program.h) runs over. One forward
// pass, written once, calls these coarse ops on opaque buffers; each backend implements them with
// its kernels:
//   CpuOps   model/cpu_ops.cpp        over kernels/cpu (a thread pool, host memory)
//   CudaOps  model/cuda/cuda_ops.cpp  over kernels/cuda (one GPU, device memory; DSV32_WITH_CUDA)
//   EpOps    model/mpi/mpi_ops.cpp     expert parallelism over MPI: a decorator (forwarding_ops.h)
//                                     around either, overriding moe_experts only (DSV32_WITH_MPI)
// Another backend is another subclass plus one line in make_ops (model/ops.cpp); the layer
// program does not change.
//
// Buffers: every float*/int32_t* passed to an op points into backend memory (ensure() gives it
// out); the layer program does pointer arithmetic on them for views but never reads or writes
// through them. Host data crosses with to_host/to_device. Weights are the host views of
// ModelWeights (model/weights.h): a backend that keeps its own copies finds them by address,
// after prepare() has seen them once at construction.
//
// Numerics: ops that have precision points take the Rule / column of the active
// NumericsProfile (model/numerics.h) as an argument; a backend that cannot compute one says so
// in lacks() before any forward call.
//
// Shapes use the layer program's letters: S tokens at absolute positions [P, P+S), E = P + S
// visible positions at the end of the call, D hidden, H heads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/indexer.h"
#include "kernels/cpu/moe_route.h"
#include "kernels/cpu/rope.h"
#include "model/numerics.h"
#include "model/parallel.h"
#include "model/weights.h"

namespace dsv32 {

// A grow-only region of backend memory.
struct Buf {
  void* p = nullptr;
  size_t bytes = 0;
  float* f() const { return static_cast<float*>(p); }
  int32_t* i() const { return static_cast<int32_t*>(p); }
  uint16_t* u16() const { return static_cast<uint16_t*>(p); }
};

// rows × heads × width values copied between two strided layouts (floats).
struct Strided {
  int64_t rows = 1, heads = 1, width = 0;
  int64_t dst_row = 0, dst_head = 0, src_row = 0, src_head = 0;
};

// One attention call over the cache (kernels/cpu/attention.h for the arithmetic). Queries are
// q [S, H, d_k], outputs out [S, H, d_v], both contiguous:
//   kMha (naive MLA): query (s, h) reads head h's keys/values: keys + t·key_stride + h·key_head
//   kMqa (absorbed):  every head reads the same latent row (key_head = value_head = 0)
// Query s sees the causal prefix [0, P + s] (index == nullptr) or the first count[s] entries of
// index + s·index_stride.
struct AttendCall {
  AttendParams p;                         // d_k, d_v, key/value strides between positions, scale,
                                          // split (kRef1: 0 prefill points, r_kv decode points)
  bool mqa = false;
  int64_t heads = 0;
  int64_t key_head = 0, value_head = 0;   // floats between heads (MHA)
  AttnCore core = AttnCore::kF32;
  // bf16 mirror of the latent cache (decode_bf16_cache profiles, MQA only), or nullptr
  const uint16_t* cache_bf16 = nullptr;
};

// The lightning indexer's selection (kernels/cpu/indexer.h): scores of query s against keys
// u ≤ P + s, then the top-k positions. q [S, H_I, d_I], w [S, H_I] (scaled head weights),
// keys [E, d_I]; key_scale [E] (REF-1 fp8 keys) or nullptr; keys_bf16 a bf16 mirror or nullptr.
struct IndexerCall {
  IndexerParams p;  // H_I, d_I, index_topk
  const float* key_scale = nullptr;
  const uint16_t* keys_bf16 = nullptr;
};

// SwiGLU MLP y = down(silu(gate x) ⊙ up x) with its precision points.
struct MlpRules {
  Rule proj;       // gate, up, down
  Store mid;       // silu(g)·u
};

// Routed experts + shared expert + weighted combine (kernels/cpu/moe_experts.h):
//   y[s] = shared(x[s]) + Σ_k w[s,k] · expert_{ids[s,k]}(x[s])   (k ascending), stored per `sum`
struct MoeCall {
  int64_t tokens = 0, hidden = 0, top_k = 0;
  const MlpWeights* experts = nullptr;
  int64_t n_experts = 0;
  const MlpWeights* shared = nullptr;  // nullptr: no shared expert
  MlpRules rules;
  Store sum = Store::kF32;
  // A rank decorator's expert block (model/mpi/nccl_ops.cpp): the backend computes the routed
  // experts [expert_lo, expert_hi) only and calls exchange(grouped rows [S·K, D] in device
  // memory, the E + 1 grouped-row offsets per expert) before the combine, to fill the rows of the
  // other experts; expert_hi = -1: every expert, no exchange. The CUDA backend implements it; on
  // the CPU, EpOps (model/mpi/mpi_ops.cpp) groups and exchanges itself, and CpuOps rejects it.
  int64_t expert_lo = 0, expert_hi = -1;
  std::function<void(float* grouped_rows, const std::vector<int32_t>& offsets)> exchange;
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual std::string device_name() const = 0;
  // True when buffers are host memory (the CPU): then the layer program hands host pointers
  // (logits, cache rows for tests) straight through instead of copying.
  virtual bool host_memory() const = 0;
  // "" when the backend computes every point of `p` (for this config), else one line naming
  // the first it lacks.
  virtual std::string lacks(const NumericsProfile& p, const ModelConfig& c) const = 0;
  // True when decode reads bf16 mirrors of the caches in decode_bf16_cache profiles (the layer
  // program keeps them only then).
  virtual bool bf16_mirrors() const = 0;

  // Memory: ensure() grows b to at least `bytes` (contents undefined after a growth), release()
  // frees it. Neither allocates when the size suffices (the decode loop allocates nothing).
  virtual void ensure(Buf& b, size_t bytes) = 0;
  virtual void release(Buf& b) = 0;
  virtual void zero(Buf& b) = 0;
  virtual void to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy(const Strided& c, const float* src, float* dst) = 0;
  // dst[r, c] = bf16 bits of src[r·src_stride + c], for cache mirrors.
  virtual void to_bf16(const float* src, int64_t rows, int64_t cols, int64_t src_stride, uint16_t* dst) = 0;
  virtual void finish() = 0;  // returns once every op issued so far is done

  // Weights seen once at construction (a device backend uploads them).
  virtual void prepare(const Weight& w) = 0;
  virtual void prepare(const std::vector<float>& v) = 0;
  // Per-head matrices for absorbed MLA: heads[h] is [n, k]; linear_heads multiplies them.
  virtual void prepare_heads(const std::vector<Weight>& heads) = 0;
  virtual void prepare_rope(const RopeTable& t) = 0;

  // out[s] = table[ids[s]] as fp32 (ids host memory), [S, D].
  virtual void embed(const Weight& table, const int32_t* ids, int64_t S, float* out) = 0;
  // y[M, N] = x[M, K] · Wᵀ with the rule's GEMM for w's dtype, then its output storage.
  virtual void linear(const Rule& r, const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                      int64_t y_stride) = 0;
  // y[s, h, :n] = heads[h] · x[s, h, :k] (heads from prepare_heads), then the rule's storage.
  virtual void linear_heads(const Rule& r, const std::vector<Weight>& heads, const float* x, int64_t S,
                            int64_t x_row, int64_t x_head, float* y, int64_t y_row, int64_t y_head) = 0;
  // bf16 rounding in place of rows × width values at `stride` (the Store::kBf16 points).
  virtual void round_bf16(float* x, int64_t rows, int64_t width, int64_t stride) = 0;
  // RMSNorm per row of x (rows × dim at x_stride) into y (y_stride), docs/MODEL.md §4.1.
  virtual void rmsnorm(const float* x, int64_t rows, int64_t dim, int64_t x_stride, const std::vector<float>& w,
                       double eps, float* y, int64_t y_stride) = 0;
  virtual void layernorm(const float* x, int64_t rows, int64_t dim, const std::vector<float>& w,
                         const std::vector<float>& b, double eps, float* y) = 0;
  virtual void rope(const RopeTable& t, RopeLayout layout, float* x, int64_t rows, int64_t x_stride, int64_t heads,
                    int64_t head_stride, int64_t pos0) = 0;
  virtual void hadamard(float* x, int64_t count, int64_t n) = 0;
  // REF-1 FP8 activation quantization with ue8m0 scales (kernels/cpu/act_quant.h): q are the
  // e4m3 values; s [rows, ceil(dim/128)]. roundtrip: x ← q·s in place (rows at x_stride).
  virtual void act_quant(const float* x, int64_t rows, int64_t dim, float* q, float* s) = 0;
  virtual void act_quant_roundtrip(float* x, int64_t rows, int64_t dim, int64_t x_stride) = 0;
  virtual void add(float* y, const float* x, int64_t n) = 0;         // y += x
  virtual void mul(float* y, const float* x, int64_t n) = 0;         // y *= x
  virtual void scale(float* x, int64_t n, float s) = 0;              // x *= s
  virtual void mlp(const MlpRules& r, const MlpWeights& m, const float* x, int64_t rows, float* y) = 0;

  // Indexer selection for S queries: fills topk [S, K] (ascending positions; entries past
  // count[s] are unspecified) and count [S]; with `pinned` / `pinned_count` (HOST memory, already
  // filtered to visible positions) the selection is taken from them instead. scores [S, E] (row
  // stride E, -inf past P + s) when non-null.
  virtual void indexer_select(const IndexerCall& c, const float* q, const float* w, const float* keys, int64_t S,
                              int64_t P, const int32_t* pinned, const int32_t* pinned_count, int32_t* topk,
                              int32_t* count, float* scores) = 0;
  // Attention of S queries (× heads) over the cache; index/count from indexer_select (sparse) or
  // nullptr (dense, causal).
  virtual void attend(const AttendCall& a, const float* q, const float* keys, const float* values,
                      const int32_t* index, const int32_t* count, int64_t index_stride, int64_t S, int64_t P,
                      float* out) = 0;
  // Router: logits [S, E] → ids [S, K] (ascending), weights [S, K], select [S, E].
  virtual void moe_route(const MoeRouteParams& p, int64_t S, const float* logits, const std::vector<float>& bias,
                         int32_t* ids, float* weights, float* select) = 0;
  // ids_host: the same ids in host memory (a device backend sizes its grouped GEMMs from them).
  virtual void moe_experts(const MoeCall& m, const float* x, const int32_t* ids, const int32_t* ids_host,
                           const float* weights, float* y) = 0;

  // Tensor parallelism (model/parallel.h RankLayout): every rank of this rank's TP group
  // contributes counts[tp_rank] floats `mine`; all [Σ counts] receives them concatenated in rank
  // order, identical on every rank. A backend without ranks is a group of one (a copy). The layer
  // program sums partial projections from it in rank order (deterministic for a given T) and
  // gathers per-head tensors for dumps.
  virtual void tp_allgather(const float* mine, float* all, const int64_t* counts);
  // MoeCall::shared under TP is this rank's slice of the shared expert; its partial output is
  // reduced (tp_allgather + rank-order sum) inside moe_experts, before the routed combine.
};

// The backend for `device` ("cpu" builds CpuOps; "cuda" CudaOps where compiled in), wrapped in
// the rank decorator for Parallel::kEp (model/parallel.h; initialises MPI; tp/ep as RankLayout). Throws
// Error for an unavailable device or a build without MPI.
std::unique_ptr<Ops> make_ops(bool cuda, int threads, int64_t max_ctx, Parallel parallel = Parallel::kNone, int tp = 1,
                              int ep = 0);

}  // namespace dsv32
