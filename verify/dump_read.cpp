// DumpReader: reads dumps written by DumpWriter or by any producer following verify/SCHEMA.md
// (h5py files included: variable- or fixed-length string attributes, any integer/float width).
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "model/checked.h"
#include "verify/dump.h"
#include "verify/h5.h"
#include "verify/h5_guard.h"

namespace dsv32 {

const std::vector<std::string>& schema_layer_tensors() {
  static const std::vector<std::string> k = {
      "attn_norm", "q_latent",     "q_nope",         "q_rope",        "kv_latent",
      "k_rope",    "indexer_q",    "indexer_k",      "indexer_weights", "indexer_scores",
      "indexer_topk", "attn_out",  "o_proj",         "ffn_norm",      "router_logits",
      "router_scores", "expert_ids", "expert_weights", "ffn_out",     "residual"};
  return k;
}

std::pair<int64_t, int64_t> canonical_rank(const std::string& name) {
  constexpr int64_t kEnd = int64_t(1) << 40;
  if (name == "embed") return {0, 0};
  if (name == "final_norm") return {kEnd, 0};
  if (name == "logits") return {kEnd, 1};
  if (name.rfind("layers/", 0) == 0 && name.size() > 8) {
    size_t slash = name.find('/', 7);
    std::string num = name.substr(7, slash == std::string::npos ? std::string::npos : slash - 7);
    if (!num.empty() && std::all_of(num.begin(), num.end(), ::isdigit) && num.size() < 9) {
      std::string leaf = slash == std::string::npos ? "" : name.substr(slash + 1);
      auto& k = schema_layer_tensors();
      auto it = std::find(k.begin(), k.end(), leaf);
      return {1 + std::stoll(num), it == k.end() ? int64_t(k.size()) : int64_t(it - k.begin())};
    }
  }
  return {kEnd + 1, 0};
}

int64_t DumpTensor::row_elems() const { return checked_product(info.shape, info.name + ": row", 1); }

struct DumpReader::Impl {
  std::string path;
  h5::Id file;
  DumpFileMeta meta;
  std::vector<std::string> order;
  std::map<std::string, DumpTensorInfo> infos;
  std::vector<int64_t> positions;

  std::string where(const std::string& name) const { return path + ": dataset '/" + name + "'"; }
};

namespace {
struct VisitData {
  std::vector<std::string> names;
};

herr_t visit_cb(hid_t g, const char* name, const H5L_info_t* info, void* data) {
  if (info->type != H5L_TYPE_HARD) return 0;
  std::string n = name;
  if (n == "meta" || n.rfind("meta/", 0) == 0) return 0;
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o < 0) return 0;
  if (H5Iget_type(o) == H5I_DATASET) static_cast<VisitData*>(data)->names.push_back(n);
  H5Oclose(o);
  return 0;
}

std::string opt_string(hid_t g, const char* name, const std::string& w) {
  return h5::has_attr(g, name) ? h5::read_attr_string(g, name, w) : std::string();
}

std::vector<int64_t> read_i64_1d(hid_t parent, const char* name, const std::string& w) {
  h5::Id ds(h5::check(H5Dopen2(parent, name, H5P_DEFAULT), w + ": open"), H5Dclose);
  h5::Id space(h5::check(H5Dget_space(ds), w + ": dataspace"), H5Sclose);
  if (H5Sget_simple_extent_ndims(space) != 1) fail(w + ": expected a 1-D dataset");
  const size_t n = size_t(h5::dataset_extent(ds, w).elements);
  std::vector<int64_t> v(n);
  if (n) h5::check_status(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), w + ": read");
  return v;
}
}  // namespace

DumpReader::DumpReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  h5::quiet();
  auto& I = *impl_;
  I.path = path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path + ": no such file");
  // libhdf5 first meets the file in a child process (verify/h5_guard.h): the same reads as
  // `dsv32 verify` does, so a crash inside libhdf5 becomes one error line here.
  h5::contain(path, "dump", [&] {
    DumpReader r(path);
    for (auto& n : r.tensors()) r.read(n);
  });
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(path + ": not an HDF5 file");
  I.file = h5::Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!I.file.valid()) fail(path + ": cannot open HDF5 file (truncated or corrupt?)");
  const std::string w = path + ": /meta";
  if (H5Lexists(I.file, "meta", H5P_DEFAULT) <= 0) fail(path + ": no /meta group (not a dsv32 dump)");
  h5::Id g(H5Gopen2(I.file, "meta", H5P_DEFAULT), H5Gclose);
  if (!g.valid()) fail(w + ": cannot open (truncated or corrupt?)");
  auto& M = I.meta;
  if (!h5::has_attr(g, "schema_version")) fail(w + ": attribute 'schema_version' missing (not a dsv32 dump)");
  const int64_t schema = h5::read_attr_int(g, "schema_version", w);
  if (schema < 1 || schema > kDumpSchemaVersion)
    fail(w + ": schema_version " + std::to_string(schema) + " is not supported (this reader: " +
         std::to_string(kDumpSchemaVersion) + ")");
  M.schema_version = int(schema);
  M.meta.producer = opt_string(g, "producer", w);
  M.meta.version = opt_string(g, "version", w);
  M.meta.git_commit = opt_string(g, "git_commit", w);
  M.meta.attn = opt_string(g, "attn", w);
  M.meta.mla = opt_string(g, "mla", w);
  M.meta.numerics = opt_string(g, "numerics", w);
  M.meta.config_json = opt_string(g, "config_json", w);
  M.time = opt_string(g, "time", w);
  M.dump_filter = opt_string(g, "dump_filter", w);
  M.dump_positions = opt_string(g, "dump_positions", w);
  if (h5::has_attr(g, "prefill")) M.meta.prefill = h5::read_attr_int(g, "prefill", w);
  if (h5::has_attr(g, "n_positions")) M.n_positions = h5::read_attr_int(g, "n_positions", w);
  if (M.meta.prefill < 0) fail(w + ": attribute 'prefill' is negative");
  if (M.n_positions < 0) fail(w + ": attribute 'n_positions' is negative");
  if (h5::has_attr(g, "forward_order")) {
    M.forward_order = h5::read_attr_strings(g, "forward_order", w);
    M.complete = true;
  }
  if (H5Lexists(g, "ids", H5P_DEFAULT) <= 0) fail(w + "/ids: missing");
  M.meta.ids = read_i64_1d(g, "ids", w + "/ids");
  if (H5Lexists(g, "positions", H5P_DEFAULT) > 0) I.positions = read_i64_1d(g, "positions", w + "/positions");
  for (size_t k = 0; k < I.positions.size(); ++k)
    if (I.positions[k] < 0 || (k > 0 && I.positions[k] <= I.positions[k - 1]))
      fail(w + "/positions: entry " + std::to_string(k) + " (" + std::to_string(I.positions[k]) +
           ") is negative or not increasing");
  const int64_t n_ids = int64_t(M.meta.ids.size());

  // Every dataset outside /meta, with its shape and kind.
  VisitData vd;
  if (H5Lvisit(I.file, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &vd) < 0)
    fail(path + ": cannot list datasets (truncated or corrupt?)");
  int64_t max_rows = 0;
  for (auto& n : vd.names) {
    const std::string dw = I.where(n);
    h5::Id ds(h5::check(H5Dopen2(I.file, n.c_str(), H5P_DEFAULT), dw + ": open"), H5Dclose);
    h5::Id space(h5::check(H5Dget_space(ds), dw + ": dataspace"), H5Sclose);
    h5::Id type(h5::check(H5Dget_type(ds), dw + ": type"), H5Tclose);
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 1) fail(dw + ": expected at least one (row) dimension");
    const std::vector<hsize_t> dims = h5::dataset_extent(ds, dw).dims;
    // Rows are positions of the run, and /meta/ids holds every id of it.
    if (int64_t(dims[0]) > n_ids)
      fail(dw + ": " + std::to_string(dims[0]) + " rows but /meta/ids holds " + std::to_string(n_ids) + " ids");
    DumpTensorInfo info;
    info.name = n;
    info.shape.assign(dims.begin(), dims.end());
    std::string logical = h5::has_attr(ds, "logical_dtype") ? h5::read_attr_string(ds, "logical_dtype", dw) : "";
    H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_FLOAT) {
      info.logical_dtype = H5Tget_size(type) == 8 ? "f64" : "f32";
    } else if (cls == H5T_INTEGER && logical == "bf16") {
      if (H5Tget_size(type) != 2) fail(dw + ": logical_dtype bf16 needs 16-bit storage");
      info.logical_dtype = "bf16";
    } else if (cls == H5T_INTEGER) {
      info.logical_dtype = "i32";
      info.is_index = true;
    } else {
      fail(dw + ": unsupported element type (expected float or integer)");
    }
    max_rows = std::max<int64_t>(max_rows, info.shape[0]);
    I.infos.emplace(n, std::move(info));
  }
  if (I.positions.empty()) {
    for (int64_t r = 0; r < max_rows; ++r) I.positions.push_back(r);
  } else if (int64_t(I.positions.size()) < max_rows) {
    fail(w + "/positions: " + std::to_string(I.positions.size()) + " entries but a dataset has " +
         std::to_string(max_rows) + " rows");
  }

  // Forward order: the recorded one, then the rest canonically.
  std::set<std::string> seen;
  for (auto& n : M.forward_order)
    if (I.infos.count(n) && seen.insert(n).second) I.order.push_back(n);
  std::vector<std::string> rest;
  for (auto& [n, _] : I.infos)
    if (!seen.count(n)) rest.push_back(n);
  std::stable_sort(rest.begin(), rest.end(), [](const std::string& a, const std::string& b) {
    auto ra = canonical_rank(a), rb = canonical_rank(b);
    return ra != rb ? ra < rb : a < b;
  });
  I.order.insert(I.order.end(), rest.begin(), rest.end());
}

DumpReader::DumpReader(DumpReader&&) noexcept = default;
DumpReader& DumpReader::operator=(DumpReader&&) noexcept = default;
DumpReader::~DumpReader() = default;

const std::string& DumpReader::path() const { return impl_->path; }
const DumpFileMeta& DumpReader::meta() const { return impl_->meta; }
const std::vector<std::string>& DumpReader::tensors() const { return impl_->order; }
const std::vector<int64_t>& DumpReader::positions() const { return impl_->positions; }
bool DumpReader::has(const std::string& name) const { return impl_->infos.count(name) > 0; }

const DumpTensorInfo& DumpReader::info(const std::string& name) const {
  auto it = impl_->infos.find(name);
  if (it == impl_->infos.end()) fail(impl_->where(name) + ": not in the dump");
  return it->second;
}

DumpTensor DumpReader::read(const std::string& name) const {
  auto& I = *impl_;
  DumpTensor t;
  t.info = info(name);
  const std::string w = I.where(name);
  const size_t n = size_t(checked_product(t.info.shape, w + ": shape"));
  h5::Id ds(h5::check(H5Dopen2(I.file, name.c_str(), H5P_DEFAULT), w + ": open"), H5Dclose);
  auto rd = [&](hid_t mtype, void* buf) {
    if (n && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
      fail(w + ": read failed (truncated or corrupt file?)");
  };
  if (t.info.is_index) {
    t.i.resize(n);
    rd(H5T_NATIVE_INT32, t.i.data());
  } else if (t.info.logical_dtype == "bf16") {
    std::vector<uint16_t> bits(n);
    rd(H5T_NATIVE_UINT16, bits.data());
    t.f.resize(n);
    for (size_t k = 0; k < n; ++k) t.f[k] = bf16_to_f32(bits[k]);
  } else {
    t.f.resize(n);
    rd(H5T_NATIVE_FLOAT, t.f.data());
  }
  return t;
}

}  // namespace dsv32
