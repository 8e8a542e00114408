// Tokenizer::load: builds Tokenizer::Impl from tokenizer.json (+ tokenizer_config.json).
//
// Everything not understood is an error rather than silently ignored, because a tokenizer that
// quietly skips a normalizer or a pre-tokenizer step produces plausible but wrong ids.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "model/tokenizer/tokenizer_impl.h"

namespace dsv32 {
namespace {

using json = nlohmann::json;

// The decoder keeps one entry per id up to the largest, so ids are bounded: 2^24 is over a hundred
// times DeepSeek's 129280, and 2^31 - 1 would be a 64 GiB table.
constexpr int64_t kMaxTokenId = (int64_t(1) << 24) - 1;

// "<file>: <field>: <problem>", the one-line form dsv32::Error promises.
[[noreturn]] void bad(const std::string& file, const std::string& field, const std::string& what) {
  fail(file + ": " + field + ": " + what);
}

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open (run scripts/fetch_tokenizer.sh, or pass --tokenizer PATH)");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(path + ": not valid JSON");
  return j;
}

const json& member(const json& obj, const char* key, const std::string& file,
                   const std::string& field) {
  if (!obj.is_object()) bad(file, field, "expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) bad(file, field + "." + key, "missing");
  return *it;
}

std::string get_string(const json& v, const std::string& file, const std::string& field) {
  if (!v.is_string()) bad(file, field, "expected a string");
  return v.get<std::string>();
}

bool get_bool(const json& obj, const char* key, bool dflt, const std::string& file,
              const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) bad(file, field + "." + key, "expected true or false");
  return it->get<bool>();
}

// A Split pattern {"Regex": ...} or {"String": ...}. HF's regexes are Oniguruma syntax; the ones
// tokenizer.json files use (\p{..}, classes, lookahead, (?i:..)) mean the same in PCRE2, so they
// are passed through. A String pattern is a literal: escape every ASCII punctuation character.
std::string pattern_of(const json& p, const std::string& file, const std::string& field) {
  if (p.is_object() && p.contains("Regex")) return get_string(p["Regex"], file, field + ".Regex");
  if (p.is_object() && p.contains("String")) {
    std::string lit = get_string(p["String"], file, field + ".String"), out;
    for (char c : lit) {
      if (uint8_t(c) < 0x80 && !std::isalnum(uint8_t(c))) out += '\\';
      out += c;
    }
    return out;
  }
  bad(file, field, "expected {\"Regex\": ...} or {\"String\": ...}");
}

tok::SplitBehavior behavior_of(const std::string& b, const std::string& file,
                               const std::string& field) {
  if (b == "Removed") return tok::SplitBehavior::kRemoved;
  if (b == "Isolated") return tok::SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return tok::SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return tok::SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return tok::SplitBehavior::kContiguous;
  bad(file, field, "unknown behavior '" + b + "'");
}

// GPT-2's pattern, used by ByteLevel when use_regex is true (HF's ByteLevel::RE).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void add_pre_tokenizer(Tokenizer::Impl& t, const json& pt, const std::string& field,
                       bool* saw_byte_level) {
  const std::string& file = t.path;
  if (pt.is_null()) return;
  const std::string type = get_string(member(pt, "type", file, field), file, field + ".type");
  if (type == "Sequence") {
    const json& list = member(pt, "pretokenizers", file, field);
    if (!list.is_array()) bad(file, field + ".pretokenizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i)
      add_pre_tokenizer(t, list[i], field + ".pretokenizers[" + std::to_string(i) + "]",
                        saw_byte_level);
  } else if (type == "Split") {
    PreTokStep s{PreTokStep::Kind::kSplit};
    const std::string pat = pattern_of(member(pt, "pattern", file, field), file, field + ".pattern");
    t.regexes.push_back(std::make_unique<tok::Regex>(pat, file + ": " + field + ".pattern"));
    s.regex = t.regexes.back().get();
    s.behavior = behavior_of(get_string(member(pt, "behavior", file, field), file,
                                        field + ".behavior"),
                             file, field + ".behavior");
    s.invert = get_bool(pt, "invert", false, file, field);
    t.steps.push_back(s);
  } else if (type == "ByteLevel") {
    // The byte mapping itself is implicit: BPE runs on raw bytes (see bpe.h).
    *saw_byte_level = true;
    PreTokStep s{PreTokStep::Kind::kByteLevel};
    s.add_prefix_space = get_bool(pt, "add_prefix_space", false, file, field);
    if (get_bool(pt, "use_regex", true, file, field)) {
      t.regexes.push_back(std::make_unique<tok::Regex>(kGpt2Pattern, "ByteLevel regex"));
      s.regex = t.regexes.back().get();
    }
    if (s.add_prefix_space || s.regex) t.steps.push_back(s);
  } else {
    bad(file, field + ".type", "unsupported pre-tokenizer '" + type + "'");
  }
}

void check_normalizer(const json& n, const std::string& file, const std::string& field) {
  if (n.is_null()) return;
  const std::string type = get_string(member(n, "type", file, field), file, field + ".type");
  if (type != "Sequence") bad(file, field + ".type", "unsupported normalizer '" + type + "'");
  const json& list = member(n, "normalizers", file, field);
  if (!list.is_array()) bad(file, field + ".normalizers", "expected an array");
  for (size_t i = 0; i < list.size(); ++i)
    check_normalizer(list[i], file, field + ".normalizers[" + std::to_string(i) + "]");
}

void load_model(Tokenizer::Impl& t, const json& root) {
  const std::string& file = t.path;
  const json& model = member(root, "model", file, "(root)");
  const std::string type = get_string(member(model, "type", file, "model"), file, "model.type");
  if (type != "BPE") bad(file, "model.type", "unsupported model '" + type + "' (only BPE)");
  if (get_bool(model, "byte_fallback", false, file, "model"))
    bad(file, "model.byte_fallback", "byte_fallback BPE is not supported");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(k);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      bad(file, std::string("model.") + k, "not supported");
  }
  t.ignore_merges = get_bool(model, "ignore_merges", false, file, "model");

  const json& vocab = member(model, "vocab", file, "model");
  if (!vocab.is_object()) bad(file, "model.vocab", "expected an object {token: id}");
  int64_t max_id = -1;
  std::string bytes;
  std::vector<std::pair<int32_t, std::string>> entries;
  entries.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > kMaxTokenId)
      bad(file, "model.vocab['" + it.key() + "']",
          "expected an integer id in [0, " + std::to_string(kMaxTokenId) + "], found " + it.value().dump());
    const int32_t id = it.value().get<int32_t>();
    max_id = std::max<int64_t>(max_id, id);
    // Tokens outside the byte alphabet (e.g. special tokens kept in the vocab) decode to their
    // own UTF-8 text, as HF's ByteLevel decoder does; they never take part in merges.
    if (!tok::byte_level_to_bytes(it.key(), &bytes)) {
      t.vocab_literal.emplace(it.key(), id);
    } else {
      t.vocab_bytes.emplace(bytes, id);
      if (bytes.size() == 1) t.bpe.byte_id[uint8_t(bytes[0])] = id;
    }
    entries.emplace_back(id, it.key());
  }
  if (entries.empty()) bad(file, "model.vocab", "empty");
  t.id_bytes.assign(size_t(max_id) + 1, {});
  t.id_defined.assign(size_t(max_id) + 1, false);
  for (auto& [id, tokstr] : entries) {
    if (!tok::byte_level_to_bytes(tokstr, &t.id_bytes[id])) t.id_bytes[id] = tokstr;
    t.id_defined[id] = true;
  }
  auto unk = model.find("unk_token");
  if (unk != model.end() && unk->is_string()) {
    auto f = vocab.find(unk->get<std::string>());
    if (f == vocab.end()) bad(file, "model.unk_token", "not in model.vocab");
    t.bpe.unk_id = f->get<int32_t>();
  }

  // Merges: "left right" strings (older files) or ["left", "right"] pairs (newer ones).
  const json& merges = member(model, "merges", file, "model");
  if (!merges.is_array()) bad(file, "model.merges", "expected an array");
  std::string lb, rb;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size())
        bad(file, field, "expected \"left right\", got '" + s + "'");
      left = s.substr(0, sp);
      right = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      bad(file, field, "expected \"left right\" or [\"left\", \"right\"]");
    }
    auto li = t.vocab_bytes.end(), ri = li, mi = li;
    if (tok::byte_level_to_bytes(left, &lb) && tok::byte_level_to_bytes(right, &rb)) {
      li = t.vocab_bytes.find(lb);
      ri = t.vocab_bytes.find(rb);
      mi = t.vocab_bytes.find(lb + rb);
    }
    if (li == t.vocab_bytes.end() || ri == t.vocab_bytes.end())
      bad(file, field, "'" + left + " " + right + "' uses a token not in model.vocab");
    if (mi == t.vocab_bytes.end())
      bad(file, field, "'" + left + " " + right + "' merges to a token not in model.vocab");
    t.bpe.add_merge(li->second, ri->second, mi->second, int32_t(i));
  }
}

void load_added_tokens(Tokenizer::Impl& t, const json& root) {
  const std::string& file = t.path;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) bad(file, "added_tokens", "expected an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& a = (*it)[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    const json& idj = member(a, "id", file, field);
    if (!idj.is_number_integer() || idj.get<int64_t>() < 0 || idj.get<int64_t>() > kMaxTokenId)
      bad(file, field + ".id", "expected an integer id in [0, " + std::to_string(kMaxTokenId) + "], found " + idj.dump());
    AddedToken tokn{get_string(member(a, "content", file, field), file, field + ".content"),
                    idj.get<int32_t>(), get_bool(a, "special", false, file, field),
                    get_bool(a, "lstrip", false, file, field),
                    get_bool(a, "rstrip", false, file, field)};
    if (tokn.content.empty()) bad(file, field + ".content", "empty");
    if (get_bool(a, "single_word", false, file, field))
      bad(file, field + ".single_word", "single_word added tokens are not supported");
    if (size_t(tokn.id) >= t.id_bytes.size()) {
      t.id_bytes.resize(size_t(tokn.id) + 1);
      t.id_defined.resize(size_t(tokn.id) + 1, false);
    }
    t.id_bytes[tokn.id] = tokn.content;
    t.id_defined[tokn.id] = true;
    t.added_first_byte[uint8_t(tokn.content[0])] = true;
    t.added_index.emplace(tokn.content, int32_t(t.added.size()));
    t.added.push_back(std::move(tokn));
  }
  for (const auto& a : t.added) t.added_lengths.push_back(uint32_t(a.content.size()));
  std::sort(t.added_lengths.begin(), t.added_lengths.end(), std::greater<>());
  t.added_lengths.erase(std::unique(t.added_lengths.begin(), t.added_lengths.end()),
                        t.added_lengths.end());
}

// BOS from tokenizer_config.json: bos_token is "text" or {"content": "text", ...}.
void load_config(Tokenizer::Impl& t, Tokenizer& self) {
  const std::string cfg =
      (std::filesystem::path(t.path).parent_path() / "tokenizer_config.json").string();
  if (!std::filesystem::exists(cfg)) return;
  const json c = read_json(cfg);
  if (!c.is_object()) bad(cfg, "(root)", "expected an object");
  t.add_bos_default = get_bool(c, "add_bos_token", false, cfg, "(root)");
  auto b = c.find("bos_token");
  if (b == c.end() || b->is_null()) return;
  std::string text;
  if (b->is_string()) text = b->get<std::string>();
  else text = get_string(member(*b, "content", cfg, "bos_token"), cfg, "bos_token.content");
  t.bos = self.token_id(text);
  if (t.bos < 0) bad(cfg, "bos_token", "'" + text + "' is not a token of " + t.path);
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& tokenizer_json_path) {
  auto impl = std::make_unique<Impl>();
  impl->path = tokenizer_json_path;
  const json root = read_json(tokenizer_json_path);
  if (!root.is_object()) bad(impl->path, "(root)", "expected an object");
  check_normalizer(root.value("normalizer", json()), impl->path, "normalizer");
  bool byte_level = false;
  add_pre_tokenizer(*impl, root.value("pre_tokenizer", json()), "pre_tokenizer", &byte_level);
  if (auto d = root.find("decoder"); d != root.end() && !d->is_null()) {
    const std::string type = get_string(member(*d, "type", impl->path, "decoder"), impl->path,
                                        "decoder.type");
    if (type != "ByteLevel") bad(impl->path, "decoder.type", "unsupported decoder '" + type + "'");
    byte_level = true;
  }
  if (!byte_level)
    bad(impl->path, "pre_tokenizer", "no ByteLevel step: only byte-level BPE is supported");
  load_model(*impl, root);
  load_added_tokens(*impl, root);
  Tokenizer t(std::move(impl));
  load_config(*t.impl_, t);
  return t;
}

std::string default_tokenizer_path(const std::string& source_dir) {
  const char* cache = std::getenv("DSV32_CACHE_DIR");
  if (cache && *cache) return std::string(cache) + "/tokenizer/tokenizer.json";
  return source_dir + "/.cache/tokenizer/tokenizer.json";
}

}  // namespace dsv32
