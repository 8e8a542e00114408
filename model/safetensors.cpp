// Safetensors reader (mmap, zero-copy, validated at open) and writer (atomic via rename).
//
// Every check below exists because a real checkpoint can be truncated (interrupted download),
// hand-edited, or produced by a buggy converter; a bad offset must become a one-line Error naming
// the file and the tensor, never an out-of-bounds read deep inside a kernel.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "model/checked.h"

namespace dsv32 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The real V3.2 shards have headers of a few hundred KB; anything near this is a corrupt length
// field, and refusing it keeps us from handing the JSON parser gigabytes of tensor bytes.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string errno_str(int err) { return std::strerror(err); }

// Accepts a JSON integer in [0, INT64_MAX]. Floats (even 2.0), negatives and values that do not
// fit int64 are rejected, so that a shape or offset is never silently truncated or wrapped.
bool as_nonneg_int64(const json& j, int64_t* out) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > uint64_t(std::numeric_limits<int64_t>::max())) return false;
    *out = int64_t(v);
    return true;
  }
  if (j.is_number_integer()) {
    int64_t v = j.get<int64_t>();
    if (v < 0) return false;
    *out = v;
    return true;
  }
  return false;
}

// The byte count of a shape (model/checked.h: a huge shape must not wrap around into a small
// byte count that happens to match the offsets). Throws Error "<where>shape [..]: ... overflows".
int64_t shape_nbytes(const std::vector<int64_t>& shape, DType dt, const std::string& where) {
  const std::string w = where + "shape " + shape_str(shape);
  return checked_mul(checked_product(shape, w), dtype_size(dt), w);
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the header and fills tensors/metadata; `base` is the start of the mapping.
void parse_header(const std::string& path, const uint8_t* base, uint64_t file_size,
                  std::map<std::string, TensorInfo>* tensors,
                  std::map<std::string, std::string>* metadata) {
  const std::string& f = path;
  if (file_size < 8)
    fail(f + ": file is " + std::to_string(file_size) +
         " bytes, too short for the 8-byte header length");
  uint64_t n = read_le64(base);
  if (n > file_size - 8)
    fail(f + ": header length " + std::to_string(n) + " exceeds the file size (" +
         std::to_string(file_size) + " bytes)");
  if (n > kMaxHeaderBytes)
    fail(f + ": header length " + std::to_string(n) + " exceeds the " +
         std::to_string(kMaxHeaderBytes >> 20) + " MB limit");
  const char* hdr = reinterpret_cast<const char*>(base + 8);
  json j;
  try {
    j = json::parse(hdr, hdr + n);
  } catch (const json::parse_error& e) {
    fail(f + ": header is not valid JSON (parse error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception& e) {  // e.g. 1e400: a number that overflows a double
    fail(f + ": header is not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) fail(f + ": header is not a JSON object");

  const int64_t data_size = int64_t(file_size - 8 - n);
  const uint8_t* data = base + 8 + n;

  struct Span { int64_t begin, end; const std::string* name; };
  std::vector<Span> spans;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(f + ": __metadata__ is not a JSON object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail(f + ": __metadata__: value of '" + m.key() + "' is not a string");
        (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string t = f + ": tensor '" + name + "': ";
    if (!v.is_object()) fail(t + "entry is not a JSON object");

    auto dt = v.find("dtype");
    if (dt == v.end()) fail(t + "missing dtype");
    if (!dt->is_string()) fail(t + "dtype " + dt->dump() + " is not a string");
    TensorInfo info;
    if (!dtype_from_name(dt->get<std::string>(), &info.dtype))
      fail(t + "unknown dtype '" + dt->get<std::string>() + "'");

    auto sh = v.find("shape");
    if (sh == v.end()) fail(t + "missing shape");
    if (!sh->is_array()) fail(t + "shape " + sh->dump() + " is not an array");
    for (const json& d : *sh) {
      int64_t x;
      if (!as_nonneg_int64(d, &x))
        fail(t + "shape " + sh->dump() + " has a dimension that is not a non-negative integer");
      info.shape.push_back(x);
    }

    auto off = v.find("data_offsets");
    if (off == v.end()) fail(t + "missing data_offsets");
    int64_t begin = 0, end = 0;
    if (!off->is_array() || off->size() != 2 || !as_nonneg_int64((*off)[0], &begin) ||
        !as_nonneg_int64((*off)[1], &end))
      fail(t + "data_offsets " + off->dump() + " is not a pair of non-negative integers");
    std::string offs = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
    if (begin > end) fail(t + offs + ": begin > end");
    if (end > data_size)
      fail(t + offs + " exceed the data section (" + std::to_string(data_size) + " bytes)");
    const int64_t want = shape_nbytes(info.shape, info.dtype, t);
    if (end - begin != want)
      fail(t + offs + " hold " + std::to_string(end - begin) + " bytes, but " +
           dtype_name(info.dtype) + " " + shape_str(info.shape) + " needs " +
           std::to_string(want));

    // The mapping is page-aligned, so the file offset's alignment is the address's: kernels load
    // F32/BF16 elements directly, which needs natural alignment (the safetensors writers align
    // by ordering tensors by element size; so does ours).
    const int64_t file_off = 8 + int64_t(n) + begin;
    if (want > 0 && file_off % dtype_size(info.dtype) != 0)
      fail(t + offs + ": data at file offset " + std::to_string(file_off) + " is not aligned to the " +
           std::to_string(dtype_size(info.dtype)) + "-byte " + dtype_name(info.dtype) + " element size");
    info.name = name;
    info.data = data + begin;
    info.nbytes = end - begin;
    info.file = path;
    auto [slot, inserted] = tensors->emplace(name, std::move(info));
    (void)inserted;  // JSON object keys are unique after parsing
    spans.push_back({begin, end, &slot->first});
  }

  // Empty tensors occupy no bytes, so they cannot overlap anything; skip them.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    if (prev && s.begin < prev->end)
      fail(f + ": tensors '" + *prev->name + "' [" + std::to_string(prev->begin) + ", " +
           std::to_string(prev->end) + "] and '" + *s.name + "' [" + std::to_string(s.begin) +
           ", " + std::to_string(s.end) + "] overlap");
    if (!prev || s.end > prev->end) prev = &s;
  }
}

json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open: " + errno_str(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path + ": read error");
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    fail(path + ": not valid JSON (parse error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception& e) {
    fail(path + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path + ": cannot open: " + errno_str(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(path + ": cannot stat: " + errno_str(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path + ": not a regular file");
  }
  uint64_t size = uint64_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(path + ": file is " + std::to_string(size) +
         " bytes, too short for the 8-byte header length");
  }
  // MAP_PRIVATE + PROT_READ: the mapping is read-only and never written back; the kernel pages
  // tensor data in on first touch, so opening a 5 GB shard costs only its header.
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) fail(path + ": mmap failed: " + errno_str(err));
  map_ = p;
  map_size_ = size;
  // The destructor does not run when the constructor throws, so unmap here.
  try {
    parse_header(path_, static_cast<const uint8_t*>(map_), size, &tensors_, &metadata_);
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail(dir + ": checkpoint directory does not exist");
  if (!fs::is_directory(dir, ec)) fail(dir + ": checkpoint path is not a directory");

  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  const std::string single_path = (fs::path(dir) / "model.safetensors").string();

  if (fs::exists(index_path, ec)) {
    json idx = read_json_file(index_path);
    if (!idx.is_object()) fail(index_path + ": not a JSON object");
    auto wm = idx.find("weight_map");
    if (wm == idx.end()) fail(index_path + ": missing weight_map");
    if (!wm->is_object()) fail(index_path + ": weight_map is not a JSON object");

    // Open every distinct shard once, in name order (deterministic error for the first bad one).
    std::map<std::string, const SafetensorsFile*> shards;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it->is_string())
        fail(index_path + ": weight_map: tensor '" + it.key() + "': shard " + it->dump() +
             " is not a string");
      // A shard is a file in the checkpoint directory: no paths out of it (../x, /etc/x, a/b).
      const std::string sh = it->get<std::string>();
      if (sh.empty() || sh == "." || sh == ".." || sh.find('/') != std::string::npos ||
          sh.find('\\') != std::string::npos || sh.find('\0') != std::string::npos)
        fail(index_path + ": weight_map: tensor '" + it.key() + "': shard " + it->dump() +
             " is not a plain file name in the checkpoint directory");
      shards.emplace(sh, nullptr);
    }
    for (auto& [shard, file] : shards) {
      std::string p = (fs::path(dir) / shard).string();
      if (!fs::is_regular_file(p, ec)) {
        // Name a tensor that points there, so the message says where the bad name came from.
        std::string who;
        for (auto it = wm->begin(); it != wm->end() && who.empty(); ++it)
          if (it->get<std::string>() == shard) who = it.key();
        fail(index_path + ": weight_map: tensor '" + who + "': shard file " + p +
             " does not exist");
      }
      files_.push_back(std::make_unique<SafetensorsFile>(p));
      file = files_.back().get();
    }
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      const SafetensorsFile* file = shards.at(it->get<std::string>());
      auto t = file->tensors().find(it.key());
      if (t == file->tensors().end())
        fail(file->path() + ": tensor '" + it.key() +
             "' is named by model.safetensors.index.json but is not in this shard");
      index_[it.key()] = &t->second;
    }
    check_scales();
    return;
  }
  if (fs::exists(single_path, ec)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (auto& [name, info] : files_.back()->tensors()) index_[name] = &info;
    check_scales();
    return;
  }
  fail(dir + ": no model.safetensors.index.json or model.safetensors");
}

// FP8 block scales multiply every weight of their block: one NaN or infinite scale turns whole
// rows of logits into NaN with no other sign. They are 1/16384 of the weights, so reading them all
// at open costs little.
void Checkpoint::check_scales() const {
  const std::string suffix = "scale_inv";
  for (auto& [name, t] : index_) {
    if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const int64_t n = t->nbytes / dtype_size(t->dtype);
    for (int64_t i = 0; i < n; ++i) {
      float v;
      if (t->dtype == DType::F32) {
        std::memcpy(&v, t->data + 4 * i, 4);
      } else if (t->dtype == DType::BF16) {
        uint16_t h;
        std::memcpy(&h, t->data + 2 * i, 2);
        uint32_t b = uint32_t(h) << 16;
        std::memcpy(&v, &b, 4);
      } else {
        break;  // other dtypes are refused by the weight loader
      }
      if (!std::isfinite(v))
        fail(t->file + ": tensor '" + name + "': element " + std::to_string(i) + " is " + std::to_string(v) +
             " (block scales must be finite)");
    }
  }
}

const TensorInfo& Checkpoint::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(dir_ + ": missing tensor '" + name + "'");
  return *it->second;
}

const TensorInfo& Checkpoint::get(const std::string& name, const std::vector<int64_t>& shape,
                                  const std::vector<DType>& allowed) const {
  const TensorInfo& t = get(name);
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), t.dtype) == allowed.end()) {
    std::string list;
    for (size_t i = 0; i < allowed.size(); ++i)
      list += (i ? ", " : "") + std::string(dtype_name(allowed[i]));
    fail(t.file + ": tensor '" + name + "': dtype " + dtype_name(t.dtype) + " not allowed (" +
         (allowed.size() == 1 ? "expected " : "expected one of ") + list + ")");
  }
  if (t.shape != shape)
    fail(t.file + ": tensor '" + name + "': expected shape " + shape_str(shape) + ", found " +
         shape_str(t.shape));
  return t;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (auto& [name, info] : index_) out.push_back(name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsWriter

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            const void* data, size_t nbytes) {
  // Misuse here would otherwise only surface when reading the file back; fail at the source.
  const std::string t = "SafetensorsWriter: tensor '" + name + "': ";
  if (name == "__metadata__") fail(t + "name is reserved");
  for (const Entry& e : entries_)
    if (e.name == name) fail(t + "added twice");
  for (int64_t d : shape)
    if (d < 0) fail(t + "negative dimension in shape " + shape_str(shape));
  if (uint64_t(shape_nbytes(shape, dtype, t)) != nbytes)
    fail(t + std::to_string(nbytes) + " bytes given for " + dtype_name(dtype) + " " +
         shape_str(shape));
  Entry e{name, dtype, std::move(shape), {}};
  if (nbytes) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    e.bytes.assign(p, p + nbytes);
  }
  entries_.push_back(std::move(e));
  offset_ += int64_t(nbytes);
}

namespace {
// write(2) may write less than asked (signals, large sizes); loop until done.
bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    c += w;
    n -= size_t(w);
  }
  return true;
}
}  // namespace

void SafetensorsWriter::write(const std::string& path,
                              const std::map<std::string, std::string>& metadata) const {
  // ordered_json keeps __metadata__ first and the tensors in the order added, which makes the
  // header easy to read by eye; readers must not depend on key order.
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  // Data in order of decreasing element size (stable): every tensor then starts naturally
  // aligned without holes, which the reader requires (as the reference writer does it).
  std::vector<const Entry*> order;
  for (const Entry& e : entries_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(),
                   [](const Entry* a, const Entry* b) { return dtype_size(a->dtype) > dtype_size(b->dtype); });
  int64_t off = 0;
  for (const Entry* e : order) {
    int64_t end = off + int64_t(e->bytes.size());
    h[e->name] = {{"dtype", dtype_name(e->dtype)}, {"shape", e->shape}, {"data_offsets", {off, end}}};
    off = end;
  }
  std::string header;
  try {
    header = h.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path + ": cannot encode the header (" + e.what() + ")");
  }
  // Pad with spaces so that the data section starts 8-byte aligned in the file (and therefore in
  // the page-aligned mapping), like the reference writer does.
  header.append((8 - header.size() % 8) % 8, ' ');
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));

  // Write to a temporary name and rename: rename within a directory is atomic, so readers (and
  // a crash mid-write) never see a half file under the final name.
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp + ": cannot create: " + errno_str(errno));
  bool ok = write_all(fd, len, 8) && write_all(fd, header.data(), header.size());
  for (size_t i = 0; ok && i < order.size(); ++i) ok = write_all(fd, order[i]->bytes.data(), order[i]->bytes.size());
  int err = errno;
  if (ok && ::fsync(fd) != 0) { ok = false; err = errno; }
  if (::close(fd) != 0 && ok) { ok = false; err = errno; }
  if (!ok) {
    ::unlink(tmp.c_str());
    fail(tmp + ": write failed: " + errno_str(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    fail(path + ": cannot rename " + tmp + " into place: " + errno_str(err));
  }
}

}  // namespace dsv32
