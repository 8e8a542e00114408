#include "verify/logits_store.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "kernels/error.h"
#include "model/checked.h"
#include "verify/dump.h"
#include "verify/h5.h"
#include "verify/h5_guard.h"

namespace dsv32 {

namespace {

const char* kGroup = "/kl_base";

// An extendible dataset of `cols` columns (cols = 0: 1-D), appended in row blocks.
struct Column {
  std::string name;
  hid_t type;
  int64_t cols;
};

h5::Id open_or_create(hid_t group, const Column& c, bool create, const std::string& where) {
  if (!create) return h5::Id(h5::check(H5Dopen2(group, c.name.c_str(), H5P_DEFAULT), where + c.name + ": open"), H5Dclose);
  int rank = c.cols ? 2 : 1;
  hsize_t dims[2] = {0, hsize_t(c.cols)}, maxd[2] = {H5S_UNLIMITED, hsize_t(c.cols)};
  hsize_t chunk[2] = {hsize_t(c.cols ? std::max<int64_t>(1, std::min<int64_t>(256, (1 << 20) / (4 * c.cols))) : 4096),
                      hsize_t(c.cols)};
  h5::Id space(h5::check(H5Screate_simple(rank, dims, maxd), where + "dataspace"), H5Sclose);
  h5::Id dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), where + "plist"), H5Pclose);
  h5::check_status(H5Pset_chunk(dcpl, rank, chunk), where + "chunk");
  h5::check_status(H5Pset_deflate(dcpl, 4), where + "deflate");
  return h5::Id(h5::check(H5Dcreate2(group, c.name.c_str(), c.type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                          where + c.name + ": create"), H5Dclose);
}

int64_t dataset_rows(hid_t ds) {
  h5::Id sp(H5Dget_space(ds), H5Sclose);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(sp, dims, nullptr);
  return int64_t(dims[0]);
}

void append_rows(hid_t ds, hid_t type, int64_t cols, int64_t n, const void* data, const std::string& where) {
  if (n == 0) return;
  int rank = cols ? 2 : 1;
  int64_t old = dataset_rows(ds);
  hsize_t dims[2] = {hsize_t(old + n), hsize_t(cols)};
  h5::check_status(H5Dset_extent(ds, dims), where + "extend");
  h5::Id fs(H5Dget_space(ds), H5Sclose);
  hsize_t start[2] = {hsize_t(old), 0}, count[2] = {hsize_t(n), hsize_t(cols)};
  h5::check_status(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr), where + "select");
  h5::Id ms(H5Screate_simple(rank, count, nullptr), H5Sclose);
  h5::check_status(H5Dwrite(ds, type, ms, fs, H5P_DEFAULT, data), where + "write");
}

// The whole dataset; it must be 1-D (cols = 0) or 2-D with `cols` columns.
template <class T>
std::vector<T> read_all(hid_t ds, hid_t type, int64_t cols, const std::string& where) {
  const h5::Extent e = h5::dataset_extent(ds, where + "shape");
  if (e.dims.size() != (cols ? 2u : 1u) || (cols && int64_t(e.dims[1]) != cols))
    fail(where + "expected " + (cols ? "[rows, " + std::to_string(cols) + "]" : std::string("[rows]")) +
         " (corrupt or foreign file)");
  std::vector<T> v(size_t(e.elements));
  if (!v.empty()) h5::check_status(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), where + "read");
  return v;
}

}  // namespace

struct LogitsStoreWriter::Impl {
  std::string path, tmp;  // rows go to tmp = path + ".partial"; finish() renames it to path
  LogitsStoreInfo info;
  h5::Id file, group;
  h5::Id ids, logp, rest, target, target_logp, argmax;
  bool full = false;
};

LogitsStoreWriter::LogitsStoreWriter(const std::string& path, const LogitsStoreInfo& info, bool resume,
                                     int64_t keep_rows)
    : impl_(std::make_unique<Impl>()) {
  h5::quiet();
  Impl& m = *impl_;
  m.path = path;
  m.info = info;
  m.full = info.top_n >= info.vocab;
  const std::string w = path + ": ";
  const int64_t n = std::min(info.top_n, info.vocab);
  if (info.top_n < 1 || info.vocab < 1) fail(w + "top_n and vocab must be positive");
  bool create = !resume;
  m.tmp = partial_path(path);
  if (resume) {
    std::error_code ec;
    // Killed after finish() renamed the store but before the state file was removed: take it back.
    if (!std::filesystem::exists(m.tmp, ec) && std::filesystem::exists(path, ec)) std::rename(path.c_str(), m.tmp.c_str());
    const std::string wt = m.tmp + ": ";
    // Read it whole and validated (contained, verify/h5_guard.h) before reopening it for writing.
    { LogitsStoreReader check(m.tmp); }
    hid_t f = H5Fopen(m.tmp.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) fail(wt + "cannot reopen the saved logits to resume (missing or not HDF5)");
    m.file = h5::Id(f, H5Fclose);
    m.group = h5::Id(h5::check(H5Gopen2(m.file, kGroup, H5P_DEFAULT), wt + "group /kl_base: open"), H5Gclose);
    const std::string wg = m.tmp + ": /kl_base";
    if (h5::read_attr_int(m.group, "top_n", wg) != info.top_n || h5::read_attr_int(m.group, "vocab", wg) != info.vocab ||
        h5::read_attr_string(m.group, "signature", wg, false) != info.signature)
      fail(wt + "attributes top_n/vocab/signature differ from this run; cannot resume into it");
  } else {
    m.file = h5::Id(H5Fcreate(m.tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!m.file.valid()) fail(m.tmp + ": cannot create");
    m.group = h5::Id(h5::check(H5Gcreate2(m.file, kGroup, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), w + "group"), H5Gclose);
    h5::write_attr_int(m.group, "top_n", info.top_n, w);
    h5::write_attr_int(m.group, "vocab", info.vocab, w);
    h5::write_attr_int(m.group, "ctx", info.ctx, w);
    h5::write_attr_string(m.group, "signature", info.signature, w);
    h5::write_attr_string(m.group, "attn", info.attn, w);
    h5::write_attr_string(m.group, "mla", info.mla, w);
    h5::write_attr_string(m.group, "model", info.model, w);
  }
  if (!m.full) m.ids = open_or_create(m.group, {"top_ids", H5T_NATIVE_INT32, n}, create, w);
  m.logp = open_or_create(m.group, {"top_logp", H5T_NATIVE_FLOAT, n}, create, w);
  m.rest = open_or_create(m.group, {"rest_logp", H5T_NATIVE_FLOAT, 0}, create, w);
  m.target = open_or_create(m.group, {"target", H5T_NATIVE_INT32, 0}, create, w);
  m.target_logp = open_or_create(m.group, {"target_logp", H5T_NATIVE_FLOAT, 0}, create, w);
  m.argmax = open_or_create(m.group, {"argmax", H5T_NATIVE_INT32, 0}, create, w);
  if (resume) {
    int64_t have = dataset_rows(m.target);
    if (have < keep_rows)
      fail(w + "holds " + std::to_string(have) + " rows, the resumed run has finished " + std::to_string(keep_rows));
    for (hid_t ds : {m.ids.get(), m.logp.get(), m.rest.get(), m.target.get(), m.target_logp.get(), m.argmax.get()}) {
      if (ds < 0) continue;
      hsize_t dims[2] = {hsize_t(keep_rows), hsize_t(n)};
      h5::check_status(H5Dset_extent(ds, dims), w + "truncate to the last finished chunk");
    }
  }
}

// Unfinished (error or interruption): the handles close, the partial file stays for --resume.
LogitsStoreWriter::~LogitsStoreWriter() = default;

void LogitsStoreWriter::finish() {
  Impl& m = *impl_;
  if (!m.file.valid()) return;
  for (h5::Id* id : {&m.ids, &m.logp, &m.rest, &m.target, &m.target_logp, &m.argmax, &m.group}) id->reset();
  hid_t f = m.file.release();
  if (H5Fclose(f) < 0) fail(m.tmp + ": close failed (disk full?)");
  if (std::rename(m.tmp.c_str(), m.path.c_str()) != 0)
    fail(m.path + ": cannot rename the finished store into place (" + std::strerror(errno) + ")");
}

int64_t LogitsStoreWriter::rows() const { return dataset_rows(impl_->target); }

void LogitsStoreWriter::append(const std::vector<BaseRow>& rows) {
  Impl& m = *impl_;
  const std::string w = m.tmp + ": ";  // the file being written
  const int64_t n = std::min(m.info.top_n, m.info.vocab), R = int64_t(rows.size());
  std::vector<int32_t> ids, tgt, am;
  std::vector<float> lp, rest, tlp;
  for (const BaseRow& r : rows) {
    if (!m.full) ids.insert(ids.end(), r.dist.ids.begin(), r.dist.ids.end());
    if (m.full) {  // full storage: log-probs in id order
      std::vector<float> row(n);
      for (size_t i = 0; i < r.dist.ids.size(); ++i) row[r.dist.ids[i]] = r.dist.logp[i];
      lp.insert(lp.end(), row.begin(), row.end());
    } else {
      lp.insert(lp.end(), r.dist.logp.begin(), r.dist.logp.end());
    }
    rest.push_back(r.dist.rest_logp);
    tgt.push_back(r.target);
    tlp.push_back(r.target_logp);
    am.push_back(r.argmax);
  }
  if (!m.full) append_rows(m.ids, H5T_NATIVE_INT32, n, R, ids.data(), w + "top_ids: ");
  append_rows(m.logp, H5T_NATIVE_FLOAT, n, R, lp.data(), w + "top_logp: ");
  append_rows(m.rest, H5T_NATIVE_FLOAT, 0, R, rest.data(), w + "rest_logp: ");
  append_rows(m.target_logp, H5T_NATIVE_FLOAT, 0, R, tlp.data(), w + "target_logp: ");
  append_rows(m.argmax, H5T_NATIVE_INT32, 0, R, am.data(), w + "argmax: ");
  append_rows(m.target, H5T_NATIVE_INT32, 0, R, tgt.data(), w + "target: ");  // last: marks rows complete
  h5::check_status(H5Fflush(m.file, H5F_SCOPE_GLOBAL), w + "flush");
}

struct LogitsStoreReader::Impl {
  LogitsStoreInfo info;
  int64_t n = 0, rows = 0;
  std::vector<int32_t> ids, target, argmax;
  std::vector<float> logp, rest, target_logp;
};

LogitsStoreReader::LogitsStoreReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  h5::quiet();
  Impl& m = *impl_;
  const std::string w = path + ": ";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(w + "no such file");
  h5::contain(path, "saved logits", [&] { LogitsStoreReader r(path); });
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) fail(w + "cannot open (missing, or not an HDF5 file)");
  h5::Id file(f, H5Fclose);
  hid_t g = H5Gopen2(file, kGroup, H5P_DEFAULT);
  if (g < 0) fail(w + "no /kl_base group: not written by dsv32 ppl --save-logits");
  h5::Id group(g, H5Gclose);
  m.info.top_n = h5::read_attr_int(group, "top_n", w + "/kl_base");
  m.info.vocab = h5::read_attr_int(group, "vocab", w + "/kl_base");
  m.info.ctx = h5::read_attr_int(group, "ctx", w + "/kl_base");
  // Only dsv32 writes these files, with fixed-length strings: refusing variable-length ones keeps
  // libhdf5's global heap (H5HG_read) out of reach of a corrupt store.
  m.info.signature = h5::read_attr_string(group, "signature", w + "/kl_base", false);
  m.info.attn = h5::read_attr_string(group, "attn", w + "/kl_base", false);
  m.info.mla = h5::read_attr_string(group, "mla", w + "/kl_base", false);
  m.info.model = h5::read_attr_string(group, "model", w + "/kl_base", false);
  if (m.info.top_n < 1) fail(w + "/kl_base: attribute 'top_n' is " + std::to_string(m.info.top_n) + ", must be positive");
  if (m.info.vocab < 1 || m.info.vocab > INT32_MAX)
    fail(w + "/kl_base: attribute 'vocab' is " + std::to_string(m.info.vocab) + ", out of range [1, 2^31)");
  if (m.info.ctx < 0) fail(w + "/kl_base: attribute 'ctx' is negative");
  m.n = std::min(m.info.top_n, m.info.vocab);
  auto ds = [&](const char* name) {
    return h5::Id(h5::check(H5Dopen2(group, name, H5P_DEFAULT), w + "dataset /kl_base/" + name + ": open"), H5Dclose);
  };
  const std::string dsw = w + "dataset /kl_base/";
  m.target = read_all<int32_t>(ds("target"), H5T_NATIVE_INT32, 0, dsw + "target: ");
  m.rows = int64_t(m.target.size());
  m.argmax = read_all<int32_t>(ds("argmax"), H5T_NATIVE_INT32, 0, dsw + "argmax: ");
  m.target_logp = read_all<float>(ds("target_logp"), H5T_NATIVE_FLOAT, 0, dsw + "target_logp: ");
  m.rest = read_all<float>(ds("rest_logp"), H5T_NATIVE_FLOAT, 0, dsw + "rest_logp: ");
  m.logp = read_all<float>(ds("top_logp"), H5T_NATIVE_FLOAT, m.n, dsw + "top_logp: ");
  if (m.info.top_n < m.info.vocab) m.ids = read_all<int32_t>(ds("top_ids"), H5T_NATIVE_INT32, m.n, dsw + "top_ids: ");
  // target is appended last, so the other datasets hold at least its rows.
  const int64_t cells = checked_mul(m.rows, m.n, dsw + "top_logp");
  if (int64_t(m.argmax.size()) < m.rows || int64_t(m.target_logp.size()) < m.rows ||
      int64_t(m.rest.size()) < m.rows || int64_t(m.logp.size()) < cells ||
      (m.info.top_n < m.info.vocab && int64_t(m.ids.size()) < cells))
    fail(w + "/kl_base datasets have inconsistent row counts (truncated file?)");
  // Ids index the model's distribution: every one must lie in [0, vocab).
  auto check_ids = [&](const std::vector<int32_t>& v, int64_t count, const char* name) {
    for (int64_t k = 0; k < count; ++k)
      if (v[size_t(k)] < 0 || v[size_t(k)] >= m.info.vocab)
        fail(dsw + name + std::string(": id ") + std::to_string(v[size_t(k)]) + " at element " + std::to_string(k) +
             " is out of range [0, vocab " + std::to_string(m.info.vocab) + ")");
  };
  // Log-probabilities are <= 0; -inf (probability 0) is one, and the KL sums skip it, but NaN or a
  // positive value is not (the writer computes logit - lse in double, which cannot exceed 0).
  auto check_logp = [&](const std::vector<float>& v, int64_t count, const char* name, bool allow_neg_inf) {
    for (int64_t k = 0; k < count; ++k)
      if (const float x = v[size_t(k)]; !(x <= 0.0f) || (!allow_neg_inf && std::isinf(x)))
        fail(dsw + name + std::string(": value ") + std::to_string(x) + " at element " + std::to_string(k) +
             " is not a log-probability (" + (allow_neg_inf ? "NaN or > 0" : "not finite or > 0") + ")");
  };
  check_logp(m.logp, cells, "top_logp", true);
  check_logp(m.target_logp, m.rows, "target_logp", false);
  check_logp(m.rest, m.rows, "rest_logp", true);
  check_ids(m.target, m.rows, "target");
  check_ids(m.argmax, m.rows, "argmax");
  if (!m.ids.empty()) check_ids(m.ids, cells, "top_ids");
}

LogitsStoreReader::~LogitsStoreReader() = default;
const LogitsStoreInfo& LogitsStoreReader::info() const { return impl_->info; }
int64_t LogitsStoreReader::rows() const { return impl_->rows; }

BaseRow LogitsStoreReader::row(int64_t i) const {
  const Impl& m = *impl_;
  BaseRow r;
  r.target = m.target[i];
  r.argmax = m.argmax[i];
  r.target_logp = m.target_logp[i];
  r.dist.rest_logp = m.rest[i];
  r.dist.logp.assign(m.logp.begin() + i * m.n, m.logp.begin() + (i + 1) * m.n);
  if (m.ids.empty()) {
    r.dist.ids.resize(m.n);
    for (int64_t j = 0; j < m.n; ++j) r.dist.ids[j] = int32_t(j);
  } else {
    r.dist.ids.assign(m.ids.begin() + i * m.n, m.ids.begin() + (i + 1) * m.n);
  }
  return r;
}

}  // namespace dsv32
