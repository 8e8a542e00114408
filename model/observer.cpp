#include "model/observer.h"

#include <cstdio>

namespace dsv32 {

void notify(const Observer& obs, const char* name, int layer, int64_t pos0, std::initializer_list<int64_t> shape,
            const void* data, DType dtype, int64_t pad_to, double pad_value) {
  TensorEvent e;
  if (layer >= 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "layers/%02d/%s", layer, name);
    e.name = buf;
  } else {
    e.name = name;
  }
  e.layer = layer;
  e.pos0 = pos0;
  e.shape.assign(shape.begin(), shape.end());
  e.dtype = dtype;
  e.data = data;
  e.pad_to = pad_to;
  e.pad_value = pad_value;
  obs(e);
}

}  // namespace dsv32
