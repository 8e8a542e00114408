// Provenance of differences in `dsv32 verify`: where does a difference start?
//
// Tensors are visited in forward order. For each, the rows (positions) where A and B differ at all
// (any element not bit-identical; for index tensors, a different set) are classified:
//   origin      every row of every tensor it depends on, at the positions it reads, is identical
//               in A and B — the difference was created here;
//   propagated  some input it reads differs — the difference was inherited;
//   unresolved  it reads a position that one of the dumps does not hold (position-filtered dumps);
//               counted neither way.
// What a row reads (verify/SCHEMA.md's dependency structure, model/model.cpp and model/ffn.cpp):
// per-row ops read their inputs at the same position; attention (attn_out) reads q at its own
// position and the latent/rope keys at the attended positions (dense: every position <= its own;
// sparse: the row's indexer_topk set, in A or B); indexer_scores reads indexer_k at every position
// <= its own; MoE is per-row (router, expert ids/weights and the experts all act on the row). The
// layer input is the previous layer's residual (embed for layer 0). A dependency missing from the
// comparison is replaced by its own dependencies, the widest read kind winning.
//
// Expected origins if the two runs differ only by independent rounding-boundary flips:
//   Both runs round stored values to a format with unit roundoff u_s (bf16 2^-8 when a tensor's
//   values are bf16 — ref1 dumps —, fp32 2^-24 otherwise). Before that rounding their values
//   differ by the accumulation error: a sum of L terms in arithmetic of unit roundoff u_acc (the
//   profile's) carries a relative error of mean size ≈ u_acc·sqrt(L/3) per side for random-sign
//   rounding errors, so the two sides differ by δ ≈ u_acc·sqrt(L + 1) (the + 1: the op's own last
//   operation — even an embedding row is code·scale, rounded in fp32 on one side and in float64
//   on the other). This is the expected size, not the profile's bound (c_acc = 4 would be a
//   magnitude margin; here a margin would only blunt the test). A stored value rounds differently
//   when a rounding boundary falls between the two unrounded results; boundaries are u_s·|x| to
//   2u_s·|x| apart, so per rounding point P(flip) = p ≈ δ/u_s (capped at 1). Measured on the tiny
//   preset (reference.compare_cpp_ref1, C++ vs float64 REF-1): layer-0 attn_out has 1-3 origin
//   rows of 80 where this predicts ~10, so the estimate errs on the permissive side.
//   A row with inputs identical in A and B has n = W·R rounding points (W elements of the row, R = rounding points per element: the number of
//   reductions the profile lists for this tensor beyond its input's, at least 1), so it becomes an
//   origin with probability p_row = 1 − (1 − p)^n, independently of other rows. Over the candidate
//   rows (those whose inputs are identical) the origin count is Poisson-binomial with mean
//   λ = Σ p_row; we allow the 1 − 10^-6 Poisson(λ) quantile, and at least one origin (one flip can
//   always happen when p > 0). More origins than that is `systematic` — a rule difference (a
//   rounding point added or removed, a weight rounded differently) creates origins in many rows at
//   once, whatever their magnitude. p = 0 (the exact profile: u_acc = 0) allows none. When the mean origin probability of a candidate row is >= 1/2 (e.g. fp32
//   storage: every element differs anyway; or two dumps with different rounding maps) provenance
//   cannot tell the two apart and the verdict is `untested`.
// Index tensors get origins and counts but no verdict (their rows are judged as ties/flips).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "verify/profile.h"

namespace dsv32 {

struct ProvenanceStats {
  bool computed = false;
  int64_t rows_differ = 0, origins = 0, propagated = 0, unresolved = 0, candidates = 0;
  int64_t first_origin = -1;          // absolute position of the first origin row
  std::string storage = "fp32";       // the unit roundoff's format: fp32 or bf16
  double p_point = 0;                 // P(flip) per rounding point
  double expected = 0;                // λ, expected origins over the candidate rows
  int64_t allowed = 0;                // most origins compatible with independent flips
  std::string verdict;                // none, flip, systematic, untested; "" for index tensors
};

class Provenance {
 public:
  // n_positions: ids of the run; sparse: attention reads the indexer_topk sets; same_map: both
  // dumps use the same rounding map (else every verdict is untested).
  Provenance(const Profile& profile, ModelDims& dims, int64_t n_positions, bool sparse, bool same_map);

  // One compared tensor, in forward order: the absolute positions of its compared rows, whether
  // each differs, its row width and whether its values are bf16 (storage). Returns its stats.
  ProvenanceStats add(const std::string& name, const std::vector<int64_t>& positions,
                      const std::vector<char>& differs, int64_t row_elems, bool bf16_values, bool is_index);
  // The selected positions of each row of layers/NN/indexer_topk (A ∪ B), by absolute position.
  void set_selection(int64_t layer, std::vector<std::vector<int32_t>> sets);

  // Smallest k with P(Poisson(lambda) > k) <= 1e-6, at least 1 (0 when lambda == 0).
  static int64_t allowed_origins(double lambda);

 private:
  enum class Read { kRow, kCausal, kSelected };
  struct Dep {
    std::string name;
    Read read;
  };
  std::vector<Dep> resolve(const std::string& name) const;
  std::vector<Dep> direct_deps(const std::string& name) const;

  const Profile& profile_;
  ModelDims& dims_;
  int64_t n_ = 0;
  bool sparse_ = false, same_map_ = true;
  // Per compared tensor: state of each absolute position (0 = not held, 1 = identical, 2 = differs).
  std::map<std::string, std::vector<char>> state_;
  std::map<int64_t, std::vector<std::vector<int32_t>>> selection_;
};

}  // namespace dsv32
