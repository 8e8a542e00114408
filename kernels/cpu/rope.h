// Rotary position embedding with YaRN frequencies (MODEL §4.3, §4.4).
//
// RopeTable holds cos/sin of angle(t, j) = t · f'_j for j < d_r/2, computed in double from the
// YaRN-corrected frequencies and rounded to fp32 once. (REF forms the angle in fp32, whose
// absolute error grows like t·2^-24 rad; the exact profile avoids that.)
//
//   rope_apply(x, pos, layout): x [rows, heads, d_r] (row stride x_stride floats, head stride
//   head_stride), row r at absolute position pos0 + r, rotated in place:
//     kInterleaved (MLA q_rope/k_rope): pairs (x[2j], x[2j+1])
//     kHalf        (indexer, REF-1):    pairs (x[j], x[j + d_r/2])
#pragma once
#include <cstdint>
#include <vector>

namespace dsv32 {

struct RopeParams {
  int64_t dim = 64;            // d_r (even)
  double theta = 10000.0;
  double factor = 1.0;         // YaRN factor (1 = plain RoPE)
  int64_t original_seq_len = 4096;
  double beta_fast = 32, beta_slow = 1;
};

enum class RopeLayout { kInterleaved, kHalf };

class RopeTable {
 public:
  RopeTable() = default;
  RopeTable(const RopeParams& p, int64_t max_pos);
  // The YaRN-corrected frequency f'_j, j < dim/2 (double).
  const std::vector<double>& freqs() const { return freqs_; }
  int64_t max_pos() const { return max_pos_; }
  const float* cos_row(int64_t t) const { return cos_.data() + t * half_; }
  const float* sin_row(int64_t t) const { return sin_.data() + t * half_; }

 private:
  int64_t half_ = 0, max_pos_ = 0;
  std::vector<double> freqs_;
  std::vector<float> cos_, sin_;
};

void rope_apply(const RopeTable& table, RopeLayout layout, float* x, int64_t rows, int64_t x_stride,
                int64_t heads, int64_t head_stride, int64_t pos0);

}  // namespace dsv32
