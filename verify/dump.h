// Activation dumps (schema: verify/SCHEMA.md): one HDF5 file per run, one dataset per named tensor,
// rows = absolute positions. DumpWriter is the forward pass's observer; DumpReader is what
// `dsv32 verify` and the tests read back. Both turn every HDF5 failure into a one-line dsv32::Error
// that names the file and the dataset (the HDF5 error stack is never printed).
//
//   DumpWriter w("run.h5", meta, opt, ids.size());
//   forward.set_observer([&](const TensorEvent& e) { w.observe(e); });
//   ... prefill, decode ...
//   w.close();                        // writes /meta forward_order (and /meta/positions), renames
//
// Crash safety: the writer works on OUT.h5.partial and close() renames it to OUT.h5, so OUT.h5
// exists only once complete. A run that fails with an error removes the partial file; one that is
// killed leaves OUT.h5.partial, which may be unreadable (HDF5 metadata is not crash-consistent)
// and, when readable, lacks forward_order: `dsv32 verify` refuses it as incomplete.
//
//   DumpReader r("run.h5");
//   for (auto& name : r.tensors()) { DumpTensor t = r.read(name); ... }   // forward order
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/observer.h"

namespace dsv32 {

inline constexpr int kDumpSchemaVersion = 1;

// What a producer says about its run; written to /meta attributes (+ /meta/ids).
struct DumpMeta {
  std::string producer, version, git_commit, attn, mla, numerics, config_json;
  std::vector<int64_t> ids;
  int64_t prefill = 0;
};

// Keeps dumps of long runs small. Both filters apply to every tensor alike (logits included: a
// filter that does not match "logits" drops them; add `|^logits$` to keep them).
struct DumpOptions {
  std::string filter_regex;                               // keep paths where std::regex_search matches; empty = all
  std::vector<std::pair<int64_t, int64_t>> positions;     // keep rows with position in one [begin, end); empty = all
};

// "0-15,100,200-" -> {[0,16), [100,101), [200, INT64_MAX)}. Ranges are inclusive as written
// ("a-b" keeps a..b), "a-" is open-ended. Throws Error on malformed text, negative or reversed ranges.
std::vector<std::pair<int64_t, int64_t>> parse_positions(const std::string& text);
// The inverse, for the /meta dump_positions attribute.
std::string format_positions(const std::vector<std::pair<int64_t, int64_t>>& ranges);

// Where a writer keeps a file until it is complete: path + ".partial".
std::string partial_path(const std::string& path);

class DumpWriter {
 public:
  // Creates (truncates) partial_path(path) and writes /meta; close() renames it to `path`.
  // n_positions = number of ids of the whole run (the width substituted for kPadToContext).
  DumpWriter(const std::string& path, const DumpMeta& meta, const DumpOptions& opt,
             int64_t n_positions);
  DumpWriter(const DumpWriter&) = delete;
  DumpWriter& operator=(const DumpWriter&) = delete;
  ~DumpWriter();  // without close(): closes the handles and removes the partial file; never throws

  // One tensor of one forward call (rows pos0 .. pos0+shape[0]-1), called in forward order.
  // Appends the kept rows to the dataset `/<e.name>`, creating it on first sight.
  void observe(const TensorEvent& e);
  // Writes forward_order (and /meta/positions when filtered), flushes, closes and renames the file
  // into place. Throws Error (and removes the partial file) on failure, e.g. a full disk.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Shape and element kind of one dumped tensor.
struct DumpTensorInfo {
  std::string name;              // "layers/02/q_rope" (no leading slash)
  std::vector<int64_t> shape;    // rows first
  bool is_index = false;         // int32 indices (top-k, expert ids); else floats
  std::string logical_dtype;     // "f32", "bf16" (stored as uint16 bits), "f64" (stored as float64), "i32"
};

struct DumpTensor {
  DumpTensorInfo info;
  std::vector<float> f;          // float tensors, decoded to fp32 (bf16 exactly, f64 rounded)
  std::vector<int32_t> i;        // index tensors
  int64_t rows() const { return info.shape.empty() ? 0 : info.shape[0]; }
  int64_t row_elems() const;     // product of shape[1:]
};

// Everything in /meta, as read back.
struct DumpFileMeta {
  DumpMeta meta;
  int schema_version = 0;
  std::string time, dump_filter, dump_positions;
  int64_t n_positions = 0;             // 0 when the producer did not write it
  std::vector<std::string> forward_order;
  bool complete = false;               // forward_order present (the writer was closed)
};

class DumpReader {
 public:
  // Throws Error (one line, naming the file) for a missing file, a non-HDF5 or truncated file, a
  // missing /meta group or schema_version, or a schema newer than this reader.
  explicit DumpReader(const std::string& path);
  DumpReader(DumpReader&&) noexcept;
  DumpReader& operator=(DumpReader&&) noexcept;
  ~DumpReader();

  const std::string& path() const;
  const DumpFileMeta& meta() const;
  // Dataset names in forward order: the forward_order attribute first, then any datasets it does
  // not list (or all of them, for an unclosed dump) in the schema's canonical order.
  const std::vector<std::string>& tensors() const;
  bool has(const std::string& name) const;
  const DumpTensorInfo& info(const std::string& name) const;   // throws Error if absent
  DumpTensor read(const std::string& name) const;              // throws Error naming the dataset
  // Absolute position of every row (/meta/positions, or 0..rows-1 when absent). Datasets may hold a
  // prefix of it (a run that stopped early).
  const std::vector<int64_t>& positions() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Per-layer tensor names of schema v1 in forward order ("attn_norm", ..., "residual").
const std::vector<std::string>& schema_layer_tensors();
// Rank of a dataset name in the canonical order (embed, layers by index then schema order,
// final_norm, logits; unknown names after their layer's known ones).
std::pair<int64_t, int64_t> canonical_rank(const std::string& name);

}  // namespace dsv32
