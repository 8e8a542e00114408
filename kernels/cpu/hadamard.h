// Walsh–Hadamard rotation used by the lightning indexer (MODEL §7.2):
//   x ← n^-½ · H_n x for each of `count` contiguous vectors of length n (n a power of two),
//   H_n the Sylvester (natural-order) matrix, H[a, b] = (−1)^popcount(a & b).
// n^-½·H is orthogonal, so (Hq)·(Hk) = q·k; it only spreads outliers before FP8 quantization.
#pragma once
#include <cstdint>

namespace dsv32 {

void hadamard_rotate(float* x, int64_t count, int64_t n);

}  // namespace dsv32
