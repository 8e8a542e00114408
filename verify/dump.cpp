// DumpWriter: the HDF5 side of `dsv32 run --dump` (schema: verify/SCHEMA.md). The reader is in
// verify/dump_read.cpp.
//
// Datasets are chunked and extendible along rows ([0, ...] at creation, maxdims [unlimited, ...]):
// each observe() extends by the kept rows of that call and writes them, so a run that dies keeps
// every row written so far (the file is flushed after each call's logits). Chunks hold about
// kChunkBytes; chunks of at least kCompressMinBytes are shuffled + deflated (level 1): index
// tensors, -1/-inf padding and logits shrink a lot, and level 1 keeps the writer cheap.
#include "verify/dump.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>
#include <regex>

#include "kernels/error.h"
#include "verify/h5.h"

namespace dsv32 {

namespace {
constexpr int64_t kChunkBytes = 64 << 10;
constexpr int64_t kCompressMinBytes = 16 << 10;
constexpr int64_t kOpenEnd = std::numeric_limits<int64_t>::max();

int64_t parse_nonneg(const std::string& text, const std::string& tok) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
  if (tok.empty() || ec != std::errc() || p != tok.data() + tok.size() || v < 0)
    fail("--dump-positions '" + text + "': '" + tok + "' is not a non-negative integer");
  return v;
}

std::string iso_time_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

std::string partial_path(const std::string& path) { return path + ".partial"; }

std::vector<std::pair<int64_t, int64_t>> parse_positions(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string tok = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t dash = tok.find('-');
    if (dash == std::string::npos) {
      int64_t a = parse_nonneg(text, tok);
      out.push_back({a, a + 1});
    } else {
      int64_t a = parse_nonneg(text, tok.substr(0, dash));
      std::string rest = tok.substr(dash + 1);
      int64_t b = rest.empty() ? kOpenEnd : parse_nonneg(text, rest);
      if (b != kOpenEnd && b < a) fail("--dump-positions '" + text + "': range '" + tok + "' is reversed");
      out.push_back({a, b == kOpenEnd ? kOpenEnd : b + 1});
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string format_positions(const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  std::string s;
  for (auto& [a, b] : ranges) {
    if (!s.empty()) s += ',';
    s += std::to_string(a);
    if (b == kOpenEnd) s += '-';
    else if (b != a + 1) s += '-' + std::to_string(b - 1);
  }
  return s;
}

struct DumpWriter::Impl {
  struct Set {
    h5::Id ds;
    std::vector<hsize_t> dims;   // current extent, rows first
    DType stored = DType::F32;   // F32, BF16 (as uint16) or I32
    int64_t rows = 0;
  };
  std::string path, tmp;  // written as tmp = path + ".partial", renamed to path by close()
  h5::Id file;
  DumpOptions opt;
  std::regex re;
  bool has_re = false;
  int64_t n_positions = 0;
  std::map<std::string, Set> sets;
  std::map<std::string, bool> keep_cache;      // filter verdict per name
  std::vector<std::string> order;              // forward order of created datasets
  std::vector<int64_t> positions;              // absolute position of each dataset row
  bool closed = false;

  std::string where(const std::string& name) const { return path + ": dataset '/" + name + "'"; }

  bool keep_name(const std::string& name) {
    auto it = keep_cache.find(name);
    if (it != keep_cache.end()) return it->second;
    bool k = !has_re || std::regex_search(name, re);
    keep_cache[name] = k;
    return k;
  }
  bool keep_pos(int64_t p) const {
    if (opt.positions.empty()) return true;
    for (auto& [a, b] : opt.positions)
      if (p >= a && p < b) return true;
    return false;
  }
  bool positions_dirty = false;

  Set& get_set(const TensorEvent& e, DType stored, const std::vector<hsize_t>& row_dims);
  void write_positions();
  void flush() {
    write_positions();
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) fail(path + ": flush failed");
  }
};

// /meta/positions (only for position-filtered dumps): rewritten at every flush so that a dump of a
// run that died still maps its rows to positions.
void DumpWriter::Impl::write_positions() {
  if (opt.positions.empty() || !positions_dirty) return;
  const std::string w = path + ": /meta/positions";
  hsize_t n = positions.size();
  h5::Id ds(H5Dopen2(file, "meta/positions", H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) {
    hsize_t zero = 0, unl = H5S_UNLIMITED, chunk = 1024;
    h5::Id space(H5Screate_simple(1, &zero, &unl), H5Sclose);
    h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, 1, &chunk);
    ds = h5::Id(h5::check(H5Dcreate2(file, "meta/positions", H5T_STD_I64LE, space, H5P_DEFAULT, dcpl,
                                     H5P_DEFAULT), w + ": create"), H5Dclose);
  }
  h5::check_status(H5Dset_extent(ds, &n), w + ": extend");
  if (n) h5::check_status(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, positions.data()),
                          w + ": write");
  positions_dirty = false;
}

DumpWriter::DumpWriter(const std::string& path, const DumpMeta& meta, const DumpOptions& opt,
                       int64_t n_positions)
    : impl_(std::make_unique<Impl>()) {
  h5::quiet();
  auto& I = *impl_;
  I.path = path;
  I.opt = opt;
  I.n_positions = n_positions;
  if (!opt.filter_regex.empty()) {
    try {
      I.re = std::regex(opt.filter_regex);
    } catch (const std::regex_error& e) {
      fail("--dump-filter '" + opt.filter_regex + "': invalid regular expression (" + e.what() + ")");
    }
    I.has_re = true;
  }
  for (auto& [a, b] : opt.positions)
    if (a < 0 || b <= a) fail(path + ": dump positions: empty or negative range");
  I.tmp = partial_path(path);
  I.file = h5::Id(H5Fcreate(I.tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!I.file.valid()) fail(I.tmp + ": cannot create HDF5 file");
  const std::string w = path + ": /meta";
  h5::Id g(h5::check(H5Gcreate2(I.file, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), w + ": create"),
           H5Gclose);
  h5::write_attr_int(g, "schema_version", kDumpSchemaVersion, w);
  h5::write_attr_string(g, "producer", meta.producer, w);
  h5::write_attr_string(g, "version", meta.version, w);
  h5::write_attr_string(g, "git_commit", meta.git_commit.empty() ? "unknown" : meta.git_commit, w);
  h5::write_attr_string(g, "time", iso_time_utc(), w);
  h5::write_attr_string(g, "attn", meta.attn, w);
  h5::write_attr_string(g, "mla", meta.mla, w);
  h5::write_attr_string(g, "numerics", meta.numerics, w);
  h5::write_attr_int(g, "prefill", meta.prefill, w);
  h5::write_attr_string(g, "config_json", meta.config_json, w);
  h5::write_attr_int(g, "n_positions", n_positions, w);
  h5::write_attr_string(g, "dump_filter", opt.filter_regex, w);
  h5::write_attr_string(g, "dump_positions", format_positions(opt.positions), w);
  hsize_t n = meta.ids.size();
  h5::Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  h5::Id ds(h5::check(H5Dcreate2(g, "ids", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      w + "/ids: create"),
            H5Dclose);
  if (n) h5::check_status(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, meta.ids.data()),
                          w + "/ids: write");
  H5Fflush(I.file, H5F_SCOPE_GLOBAL);
}

// Not closed: the run failed (an error is on its way to the user). The partial file is not a
// dump of the run, so it is removed rather than finished.
DumpWriter::~DumpWriter() {
  if (!impl_ || impl_->closed) return;
  auto& I = *impl_;
  I.closed = true;
  I.sets.clear();
  I.file.reset();
  std::remove(I.tmp.c_str());
}

DumpWriter::Impl::Set& DumpWriter::Impl::get_set(const TensorEvent& e, DType stored,
                                                 const std::vector<hsize_t>& row_dims) {
  auto it = sets.find(e.name);
  const std::string w = where(e.name);
  if (it != sets.end()) {
    Set& s = it->second;
    if (s.stored != stored) fail(w + ": dtype changed between forward calls");
    if (!std::equal(row_dims.begin(), row_dims.end(), s.dims.begin() + 1, s.dims.end()) ||
        row_dims.size() + 1 != s.dims.size())
      fail(w + ": row shape changed between forward calls (ragged tensors need pad_to)");
    return s;
  }
  const int rank = int(row_dims.size()) + 1;
  std::vector<hsize_t> dims(rank, 0), maxdims(rank), chunk(rank);
  maxdims[0] = H5S_UNLIMITED;
  int64_t row_bytes = dtype_size(stored);
  for (int d = 1; d < rank; ++d) {
    dims[d] = maxdims[d] = chunk[d] = row_dims[d - 1];
    row_bytes *= int64_t(row_dims[d - 1]);
  }
  chunk[0] = hsize_t(std::clamp<int64_t>(kChunkBytes / std::max<int64_t>(row_bytes, 1), 1, 4096));
  for (int d = 1; d < rank; ++d) chunk[d] = std::max<hsize_t>(chunk[d], 1);  // zero-width rows
  h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  h5::check_status(H5Pset_chunk(dcpl, rank, chunk.data()), w + ": chunk layout");
  if (int64_t(chunk[0]) * row_bytes >= kCompressMinBytes && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 1);
  }
  h5::Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t ftype = stored == DType::F32 ? H5T_IEEE_F32LE : stored == DType::BF16 ? H5T_STD_U16LE : H5T_STD_I32LE;
  h5::Id space(H5Screate_simple(rank, dims.data(), maxdims.data()), H5Sclose);
  Set s;
  s.ds = h5::Id(h5::check(H5Dcreate2(file, e.name.c_str(), ftype, space, lcpl, dcpl, H5P_DEFAULT),
                          w + ": create"),
                H5Dclose);
  s.dims = dims;
  s.stored = stored;
  if (stored == DType::BF16) h5::write_attr_string(s.ds, "logical_dtype", "bf16", w);
  order.push_back(e.name);
  return sets.emplace(e.name, std::move(s)).first->second;
}

void DumpWriter::observe(const TensorEvent& e) {
  auto& I = *impl_;
  const std::string w = I.where(e.name);
  if (I.closed) fail(w + ": observe() after close()");
  if (e.name.empty() || e.name[0] == '/' || e.name.rfind("meta", 0) == 0)
    fail(I.path + ": bad tensor name '" + e.name + "'");
  if (!I.keep_name(e.name)) return;
  if (e.shape.empty()) fail(w + ": tensor has no row dimension");
  for (auto d : e.shape)
    if (d < 0) fail(w + ": negative dimension");
  if (e.numel() > 0 && !e.data) fail(w + ": null data");
  DType stored;
  switch (e.dtype) {
    case DType::F32: stored = DType::F32; break;
    case DType::BF16: stored = DType::BF16; break;
    case DType::I32: case DType::I64: stored = DType::I32; break;
    default: fail(w + ": unsupported dtype " + std::to_string(int(e.dtype)) + " (dump F32, BF16, I32 or I64)");
  }
  // Row shape as stored: last dimension padded for ragged tensors.
  std::vector<hsize_t> row_dims(e.shape.begin() + 1, e.shape.end());
  const int64_t in_last = e.shape.size() > 1 ? e.shape.back() : 1;
  int64_t out_last = in_last;
  if (e.pad_to != 0) {
    if (e.shape.size() < 2) fail(w + ": pad_to needs a tensor with at least two dimensions");
    out_last = e.pad_to == TensorEvent::kPadToContext ? I.n_positions : e.pad_to;
    if (out_last < in_last)
      fail(w + ": last dimension " + std::to_string(in_last) + " exceeds pad_to " + std::to_string(out_last));
    row_dims.back() = hsize_t(out_last);
  }
  int64_t in_row = 1, out_row = 1;
  for (size_t d = 1; d < e.shape.size(); ++d) in_row *= e.shape[d];
  for (auto d : row_dims) out_row *= int64_t(d);
  const int64_t outer = in_last ? in_row / in_last : 0;  // row elements / last dim

  Impl::Set& s = I.get_set(e, stored, row_dims);
  // Kept rows, checked against the dump's position list (all datasets share it).
  std::vector<int64_t> kept;
  for (int64_t r = 0; r < e.shape[0]; ++r) {
    int64_t p = e.pos0 + r;
    if (!I.keep_pos(p)) continue;
    size_t idx = size_t(s.rows) + kept.size();
    if (idx < I.positions.size()) {
      if (I.positions[idx] != p)
        fail(w + ": row " + std::to_string(idx) + " is position " + std::to_string(p) +
             " but other tensors have position " + std::to_string(I.positions[idx]) + " there");
    } else {
      int64_t expect = I.positions.empty() ? -1 : I.positions.back();
      if (p <= expect || (I.opt.positions.empty() && p != int64_t(I.positions.size())))
        fail(w + ": position " + std::to_string(p) + " arrives out of order (rows must cover positions 0, 1, 2, ... in order)");
      I.positions.push_back(p);
      I.positions_dirty = true;
    }
    kept.push_back(r);
  }
  if (kept.empty()) return;

  // Gather kept rows into the stored element type, padding the last dimension.
  const size_t esz = size_t(dtype_size(stored));
  std::vector<unsigned char> buf(kept.size() * size_t(out_row) * esz);
  const double pv = e.pad_value;
  const float pad_f = float(pv);
  const uint16_t pad_h = f32_to_bf16(pad_f);
  const int32_t pad_i = std::isfinite(pv) ? int32_t(pv) : -1;
  const bool verbatim = out_last == in_last && e.dtype != DType::I64;  // same bytes as the event's
  for (size_t k = 0; k < kept.size(); ++k) {
    if (verbatim) {
      std::memcpy(buf.data() + k * size_t(out_row) * esz,
                  static_cast<const unsigned char*>(e.data) + size_t(kept[k] * in_row) * esz, size_t(in_row) * esz);
      continue;
    }
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t src0 = kept[k] * in_row + o * in_last;
      unsigned char* dst = buf.data() + ((k * size_t(out_row)) + size_t(o * out_last)) * esz;
      for (int64_t c = 0; c < out_last; ++c) {
        const bool pad = c >= in_last;
        const int64_t si = src0 + c;
        if (stored == DType::F32) {
          float v = pad ? pad_f : static_cast<const float*>(e.data)[si];
          std::memcpy(dst + c * 4, &v, 4);
        } else if (stored == DType::BF16) {
          uint16_t v = pad ? pad_h : static_cast<const uint16_t*>(e.data)[si];
          std::memcpy(dst + c * 2, &v, 2);
        } else {
          int32_t v = pad_i;
          if (!pad && e.dtype == DType::I32) v = static_cast<const int32_t*>(e.data)[si];
          if (!pad && e.dtype == DType::I64) {
            int64_t x = static_cast<const int64_t*>(e.data)[si];
            if (x < INT32_MIN || x > INT32_MAX) fail(w + ": index " + std::to_string(x) + " does not fit int32");
            v = int32_t(x);
          }
          std::memcpy(dst + c * 4, &v, 4);
        }
      }
    }
  }
  // Extend and write the new rows as one hyperslab.
  std::vector<hsize_t> dims = s.dims;
  dims[0] = hsize_t(s.rows) + kept.size();
  h5::check_status(H5Dset_extent(s.ds, dims.data()), w + ": extend");
  h5::Id fspace(h5::check(H5Dget_space(s.ds), w + ": dataspace"), H5Sclose);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = hsize_t(s.rows);
  count[0] = kept.size();
  h5::check_status(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                   w + ": select rows");
  h5::Id mspace(H5Screate_simple(int(count.size()), count.data(), nullptr), H5Sclose);
  hid_t mtype = stored == DType::F32 ? H5T_NATIVE_FLOAT : stored == DType::BF16 ? H5T_NATIVE_UINT16 : H5T_NATIVE_INT32;
  h5::check_status(H5Dwrite(s.ds, mtype, mspace, fspace, H5P_DEFAULT, buf.data()), w + ": write");
  s.dims = dims;
  s.rows = int64_t(dims[0]);
  if (e.name == "logits") I.flush();  // the end of a forward call
}

void DumpWriter::close() {
  if (!impl_ || impl_->closed) return;
  auto& I = *impl_;
  // Any failure below leaves closed = false for the destructor, which removes the partial file.
  const std::string w = I.path + ": /meta";
  {
    h5::Id g(h5::check(H5Gopen2(I.file, "meta", H5P_DEFAULT), w + ": open"), H5Gclose);
    h5::write_attr_strings(g, "forward_order", I.order, w);
  }
  I.positions_dirty = true;
  I.flush();
  I.closed = true;
  I.sets.clear();
  hid_t f = I.file.release();  // closed here, with its status checked
  if (H5Fclose(f) < 0) {
    std::remove(I.tmp.c_str());
    fail(I.tmp + ": close failed (disk full?); removed the unfinished dump");
  }
  if (std::rename(I.tmp.c_str(), I.path.c_str()) != 0) {
    std::remove(I.tmp.c_str());
    fail(I.path + ": cannot rename the finished dump into place (" + std::strerror(errno) + ")");
  }
}

}  // namespace dsv32
