// The observer hook: the forward pass reports every named intermediate tensor, in forward order,
// to an optional Observer. `dsv32 run --dump` attaches the HDF5 dump writer (verify/dump.h) here;
// tests attach their own to inspect or perturb nothing (the data is read-only).
//
// Every tensor is token-major: shape[0] is the number of tokens of this forward call, and row r
// belongs to absolute position pos0 + r. A run made of several calls (prefill, then one call per
// decoded token) therefore reports each name once per call; a dump concatenates the rows.
//
// Names are dump paths: "embed", "layers/NN/<tensor>" (NN = two-digit layer), "final_norm",
// "logits". The per-layer names, in forward order, are listed in verify/SCHEMA.md.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/numeric.h"

namespace dsv32 {

struct TensorEvent {
  std::string name;             // "layers/02/q_rope"
  int layer = -1;               // layer index, -1 for tensors outside the layer stack
  int64_t pos0 = 0;             // absolute position of row 0
  std::vector<int64_t> shape;   // [tokens, ...]
  DType dtype = DType::F32;     // F32 or I32
  const void* data = nullptr;   // contiguous, row-major
  // Ragged tensors (indexer scores [tokens, visible], top-k [tokens, selected]) have a last
  // dimension that grows with the context. pad_to > 0 asks a writer to pad that last dimension to
  // pad_to columns with pad_value (-inf for scores, -1 for indices); 0 means no padding.
  int64_t pad_to = 0;
  double pad_value = 0;
  // Special value kept for "the full context length" widths: the writer substitutes the number of
  // positions of the whole run when pad_to == kPadToContext.
  static constexpr int64_t kPadToContext = -1;

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

using Observer = std::function<void(const TensorEvent&)>;

// Reports one tensor to `obs`: names it "layers/NN/<name>" for layer >= 0, else "<name>", and
// fills the event. Shared by every backend so that dumps name tensors the same way.
void notify(const Observer& obs, const char* name, int layer, int64_t pos0, std::initializer_list<int64_t> shape,
            const void* data, DType dtype = DType::F32, int64_t pad_to = 0, double pad_value = 0);

}  // namespace dsv32
