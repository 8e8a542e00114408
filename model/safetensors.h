// Safetensors: memory-mapped, zero-copy reading of single files and sharded checkpoints, and a
// writer for the synthetic checkpoints.
//
// File format: 8-byte little-endian header length N, then N bytes of JSON
//   {"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {string: string}}
// then the data; offsets are relative to the first byte after the header.
//
// Validation at open (each failure is one dsv32::Error line naming the file and the tensor):
//   header length within the file; header is a JSON object; every entry has a known dtype,
//   a shape of non-negative integers and data_offsets [begin, end] with begin <= end <= data size;
//   end - begin == numel * dtype size; entries do not overlap.
// A sharded checkpoint is a directory with model.safetensors.index.json
//   {"metadata": {...}, "weight_map": {tensor: shard file}}; every shard named there is opened and
//   every tensor of the map must be found in its shard. A directory with a single
//   model.safetensors (and no index) also works.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/numeric.h"

namespace dsv32 {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the memory map
  int64_t nbytes = 0;
  std::string file;               // the file holding it (for error messages)
  int64_t numel() const { int64_t n = 1; for (auto d : shape) n *= d; return n; }
};

// One mapped .safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws Error
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint directory (sharded or single file).
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);  // throws Error
  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // Throws Error "<dir>: missing tensor '<name>'" when absent.
  const TensorInfo& get(const std::string& name) const;
  // Like get(), and also checks dtype ∈ allowed (if non-empty) and the shape; the error names the
  // file, the tensor, and expected vs found.
  const TensorInfo& get(const std::string& name, const std::vector<int64_t>& shape,
                        const std::vector<DType>& allowed = {}) const;
  std::vector<std::string> names() const;

 private:
  void check_scales() const;  // every *scale_inv element finite, else Error naming tensor and file
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> index_;
};

// Writes one .safetensors file. The header lists tensors in the order added; their data is laid
// out by decreasing element size (so each is naturally aligned); data is copied.
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
           size_t nbytes);
  int64_t data_bytes() const { return offset_; }
  size_t size() const { return entries_.size(); }
  // Throws Error when the file cannot be written.
  void write(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;

 private:
  struct Entry { std::string name; DType dtype; std::vector<int64_t> shape; std::vector<uint8_t> bytes; };
  std::vector<Entry> entries_;
  int64_t offset_ = 0;
};

}  // namespace dsv32
