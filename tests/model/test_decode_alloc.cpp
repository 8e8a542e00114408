// The decode loop allocates nothing: after one warm-up step per mode (which sizes the workspaces),
// further decode steps make zero heap allocations. Counted by replacing the global operator new
// in this test executable.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/model/forward_util.h"

static std::atomic<long> g_allocs{0};
static std::atomic<bool> g_counting{false};

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them): otherwise the library's
// nothrow new pairs with the free() below, which ASan reports as alloc-dealloc-mismatch.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace dsv32::testing {
namespace {

TEST(DecodeLoop, MakesNoHeapAllocations) {
  const std::string dir = tiny_checkpoint();
  const auto ids = test_ids(100);
  for (AttnMode attn : {AttnMode::kDense, AttnMode::kSparse})
    for (MlaMode mla : {MlaMode::kNaive, MlaMode::kAbsorbed}) {
      auto m = make_model(dir, attn, mla);
      const int64_t V = m->config().vocab_size;
      std::vector<float> logits(V);
      m->forward(ids.data(), 60, 0, nullptr);        // prefill
      m->forward(&ids[60], 1, 60, logits.data());    // warm-up decode step
      g_allocs = 0;
      g_counting = true;
      for (int64_t t = 61; t < 100; ++t) m->forward(&ids[t], 1, t, logits.data());  // crosses top-k = 64
      g_counting = false;
      EXPECT_EQ(g_allocs.load(), 0) << to_string(attn) << "/" << to_string(mla);
    }
}

}  // namespace
}  // namespace dsv32::testing
