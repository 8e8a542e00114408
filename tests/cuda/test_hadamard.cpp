// kernels/cuda/hadamard against kernels/cpu/hadamard.h: bit-identical (the same butterfly
// additions in the same order, then the same scale). Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/cpu/hadamard.h"
#include "kernels/cuda/hadamard.h"
#include "kernels/error.h"
#include "tests/cuda/cuda_test_util.h"

namespace dsv32 {
namespace {

using test::GpuTest;
using test::randn;

class Hadamard : public GpuTest {};

TEST_F(Hadamard, BitIdenticalToCpu) {
  for (int64_t n : {1, 2, 64, 128, 1024, 8192}) {
    const int64_t count = n >= 1024 ? 3 : 37;  // e.g. the indexer's S·H_I query heads
    auto x = randn(count * n, uint32_t(n), 3.f);
    std::vector<float> want = x;
    hadamard_rotate(want.data(), count, n);
    gpu::DeviceArray<float> d(ctx(), x);
    gpu::hadamard_rotate(ctx(), d.get(), count, n);
    const auto got = d.download(ctx());
    ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0) << "n = " << n;
  }
}

TEST_F(Hadamard, RejectsLengthsItCannotDo) {
  gpu::DeviceArray<float> d(size_t(3 * 16384));
  EXPECT_THROW(gpu::hadamard_rotate(ctx(), d.get(), 1, 96), Error);     // not a power of two
  EXPECT_THROW(gpu::hadamard_rotate(ctx(), d.get(), 1, 16384), Error);  // beyond shared memory
}

}  // namespace
}  // namespace dsv32
