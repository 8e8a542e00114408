// gpu::rope_apply — the CUDA twin of kernels/cpu/rope.h rope_apply (MODEL §4.3, §4.4).
//
//   RopeTableDevice: the CPU RopeTable's cos/sin rows copied to the device once
//                    (cos, sin fp32 [max_pos, dim/2]); rotation is bit-for-bit the CPU formula.
//   x : fp32 [rows, heads, d_r] device, row stride x_stride floats, head stride head_stride,
//       rotated in place; row r at position positions[r] (device int32 [rows]) or, when
//       positions == nullptr, at pos0 + r.
//     kInterleaved (MLA q_rope/k_rope): pairs (x[2j], x[2j+1])
//     kHalf        (indexer):           pairs (x[j], x[j + d_r/2])
//   !! positions must be < table.max_pos (not checked on the device).
#pragma once
#include <cstdint>

#include "kernels/cpu/rope.h"
#include "kernels/cuda/context.h"

namespace dsv32::gpu {

class RopeTableDevice {
 public:
  RopeTableDevice(Context& ctx, const RopeTable& table);
  int64_t half() const { return half_; }
  int64_t max_pos() const { return max_pos_; }
  const float* cos() const { return cos_.get(); }
  const float* sin() const { return sin_.get(); }

 private:
  int64_t half_ = 0, max_pos_ = 0;
  DeviceArray<float> cos_, sin_;
};

void rope_apply(Context& ctx, const RopeTableDevice& table, RopeLayout layout, float* x, int64_t rows,
                int64_t x_stride, int64_t heads, int64_t head_stride, int64_t pos0,
                const int32_t* positions = nullptr);

}  // namespace dsv32::gpu
