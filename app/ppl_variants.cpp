#include "app/ppl_variants.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "app/common.h"
#include "kernels/error.h"
#include "model/numerics.h"
#include "model/tokenizer/tokenizer.h"

namespace dsv32::app {

namespace {
bool is_profile(const std::string& t) {
  try {
    numerics_profile(t);
    return true;
  } catch (const Error&) {
    return false;
  }
}
}  // namespace

std::vector<PplVariant> parse_variants(const std::string& list, const std::string& numerics, int64_t index_topk) {
  std::vector<PplVariant> out;
  size_t at = 0;
  while (at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string item = list.substr(at, comma - at);
    at = comma + 1;
    const std::string w = "--modes: '" + item + "'";
    PplVariant v;
    v.label = item;
    v.numerics = numerics;
    v.index_topk = index_topk;
    std::vector<std::string> parts;
    for (size_t p = 0; p <= item.size();) {
      const size_t c = std::min(item.find(':', p), item.size());
      parts.push_back(item.substr(p, c - p));
      p = c + 1;
    }
    const size_t slash = parts[0].find('/');
    if (slash == std::string::npos) fail(w + ": expected ATTN/MLA[:TAG...], e.g. sparse/absorbed:k16");
    try {
      v.attn = parse_attn_mode(parts[0].substr(0, slash));
      v.mla = parse_mla_mode(parts[0].substr(slash + 1));
    } catch (const Error& e) {
      fail(w + ": " + e.what());
    }
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::string& t = parts[i];
      if (t == "random-indexer") {
        v.random_indexer = true;
      } else if (t.size() > 1 && t[0] == 'k' && std::all_of(t.begin() + 1, t.end(), ::isdigit)) {
        if (t.size() > 10) fail(w + ": index_topk '" + t.substr(1) + "' is too large");
        v.index_topk = std::stoll(t.substr(1));
        if (v.index_topk < 1) fail(w + ": index_topk must be at least 1");
      } else if (is_profile(t)) {
        v.numerics = t;
      } else {
        fail(w + ": unknown tag '" + t + "' (a numerics profile, kN or random-indexer)");
      }
    }
    if (v.attn == AttnMode::kDense && (v.random_indexer || v.index_topk != index_topk))
      fail(w + ": kN and random-indexer change the sparse selection; dense attention has none");
    out.push_back(v);
  }
  return out;
}

double Unigram::logp(int32_t t) const {
  return std::log(double(counts[size_t(t)]) + 1.0) - std::log(double(total) + double(counts.size()));
}

Unigram unigram_from(const std::string& path, const std::string& tokenizer, int64_t V) {
  namespace fs = std::filesystem;
  Unigram u;
  u.counts.assign(size_t(V), 0);
  if (fs::is_directory(path)) {
    for (auto& e : fs::directory_iterator(path))
      if (e.path().extension() == ".txt") u.files.push_back(e.path().string());
    std::sort(u.files.begin(), u.files.end());
    if (u.files.empty()) fail("--unigram-from: " + path + ": no *.txt files");
  } else {
    u.files.push_back(path);
  }
  Tokenizer tok = Tokenizer::load(tokenizer);
  for (const std::string& f : u.files)
    for (int32_t t : tok.encode(read_text_file(f), false)) {
      if (t < 0 || t >= V) fail(f + ": token id " + std::to_string(t) + " outside the model's vocabulary " + std::to_string(V));
      ++u.counts[size_t(t)];
      ++u.total;
    }
  return u;
}

}  // namespace dsv32::app
