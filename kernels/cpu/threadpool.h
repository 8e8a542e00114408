// A fixed pool of worker threads with a static-partition parallel_for.
//
// parallel_for(n, f) calls f(begin, end) — or f(begin, end, thread) when f takes a third int, the
// index of the running thread in [0, size()) for per-thread scratch — on contiguous, disjoint
// ranges covering [0, n), one range per thread (the caller runs range 0). Ranges depend only on n and the pool size, and the ops
// written on top compute each output element independently of the partition, so results are
// bit-identical for any thread count. No allocation per call: the decode loop calls it thousands
// of times per token.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace dsv32 {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  int size() const { return n_threads_; }

  template <class F>
  void parallel_for(int64_t n, F&& f) {
    if (n <= 0) return;
    if (n_threads_ == 1 || n == 1) { call(f, int64_t(0), n, 0); return; }
    auto tramp = [](void* ctx, int64_t b, int64_t e, int t) { call(*static_cast<F*>(ctx), b, e, t); };
    run(n, tramp, &f);
  }

 private:
  template <class F>
  static void call(F& f, int64_t b, int64_t e, int t) {
    if constexpr (std::is_invocable_v<F&, int64_t, int64_t, int>) f(b, e, t);
    else f(b, e);
  }
  using Fn = void (*)(void*, int64_t, int64_t, int);
  void run(int64_t n, Fn fn, void* ctx);
  void worker(int index);
  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
};

}  // namespace dsv32
