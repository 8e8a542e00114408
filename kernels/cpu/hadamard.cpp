#include "kernels/cpu/hadamard.h"

#include <cmath>

namespace dsv32 {

// In-place fast transform: log2(n) butterfly passes, then one scale.
void hadamard_rotate(float* x, int64_t count, int64_t n) {
  const float scale = float(1.0 / std::sqrt(double(n)));
  for (int64_t v = 0; v < count; ++v) {
    float* a = x + v * n;
    for (int64_t h = 1; h < n; h *= 2)
      for (int64_t i = 0; i < n; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          float p = a[j], q = a[j + h];
          a[j] = p + q;
          a[j + h] = p - q;
        }
    for (int64_t i = 0; i < n; ++i) a[i] *= scale;
  }
}

}  // namespace dsv32
