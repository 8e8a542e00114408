// gpu::hadamard_rotate — the CUDA twin of kernels/cpu/hadamard.h (MODEL §7.2, the indexer's q and k):
//   x ← n^-½ · H_n x for each of `count` contiguous fp32 vectors of length n, in place, device.
//   n: a power of two, at most kHadamardMaxN.
//   !! bit-identical to the CPU op: every element goes through the same butterfly additions in
//      the same order (log2 n passes, p + q and p − q, each one fp32 rounding), then the same
//      multiply by float(1/sqrt(n)).
#pragma once
#include <cstdint>

#include "kernels/cuda/context.h"

namespace dsv32::gpu {

constexpr int64_t kHadamardMaxN = 8192;  // the vector lives in shared memory (32 KB)

void hadamard_rotate(Context& ctx, float* x, int64_t count, int64_t n);

}  // namespace dsv32::gpu
