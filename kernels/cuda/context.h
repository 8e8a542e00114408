// The CUDA side of dsv32: a per-device context and device-memory helpers, usable from plain C++
// (no CUDA types here; device pointers travel as void*/float*, the stream lives in the context).
//
//   Context      : one CUDA stream, a cuBLAS and a cuBLASLt handle bound to it, and a stream-ordered
//                  scratch buffer that ops borrow for intermediates (grows on demand, never shrinks).
//   every op     : gpu::<op>(Context&, outputs…, inputs…, const <Name>Params&) enqueues work on the
//                  context's stream and returns; call synchronize() before reading results on the
//                  host. Errors (bad launch, cuBLAS status) throw dsv32::Error naming the op.
//   !! Ops read and write DEVICE memory only. Host pointers passed to an op are undefined behaviour.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dsv32::gpu {

struct Context;  // opaque (context.cu)

// True when the CUDA runtime sees at least one device; otherwise *why says what went wrong.
bool device_available(std::string* why = nullptr);

Context* context_create(int device = 0);
void context_destroy(Context* ctx);
void synchronize(Context& ctx);
// Name and compute capability of the context's device, e.g. "NVIDIA H100 80GB HBM3 (sm_90)".
std::string device_name(const Context& ctx);

void* device_alloc(size_t bytes);
void device_free(void* p);
void copy_to_device(Context& ctx, void* dst, const void* src, size_t bytes);  // on the stream; returns once src has been read
void copy_to_host(Context& ctx, void* dst, const void* src, size_t bytes);    // synchronous

// Owning device array of T (T trivially copyable). Upload/download go through the context's stream.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t n) : n_(n), p_(static_cast<T*>(device_alloc(n * sizeof(T)))) {}
  DeviceArray(Context& ctx, const std::vector<T>& host) : DeviceArray(host.size()) { upload(ctx, host); }
  ~DeviceArray() { device_free(p_); }
  DeviceArray(DeviceArray&& o) noexcept : n_(o.n_), p_(o.p_) { o.n_ = 0; o.p_ = nullptr; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() { return p_; }
  const T* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(Context& ctx, const std::vector<T>& host) {
    copy_to_device(ctx, p_, host.data(), std::min(n_, host.size()) * sizeof(T));
  }
  std::vector<T> download(Context& ctx) const {
    std::vector<T> h(n_);
    copy_to_host(ctx, h.data(), p_, n_ * sizeof(T));
    return h;
  }

 private:
  size_t n_ = 0;
  T* p_ = nullptr;
};

}  // namespace dsv32::gpu
