// Writes the committed seed corpora under fuzz/corpus/<target>/ and fuzz/tokenizer/tiny.json: a
// few small, valid inputs per reader (and one or two near-misses), produced by the project's own
// writers so that they follow the formats exactly. Run by hand after a format change:
//   build-fuzz/fuzz/fuzz_make_seeds        (scripts/fuzz.sh --seeds)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/synth.h"
#include "model/tokenizer/bpe.h"
#include "verify/dump.h"
#include "verify/logits_store.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace dsv32;

namespace {

const fs::path kRoot = fs::path(DSV32_SOURCE_DIR) / "fuzz";

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path d = kRoot / "corpus" / target;
  fs::create_directories(d);
  std::ofstream(d / name, std::ios::binary) << bytes;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string byte_level(const std::string& raw) {
  std::string s;
  for (unsigned char c : raw) tok::append_utf8(s, tok::byte_to_unicode()[c]);
  return s;
}

// 256 byte tokens, a handful of merges, two added tokens, and DeepSeek V3's pre-tokenizer.
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level(std::string(1, char(b)))] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"t", "h"}, {"th", "e"}, {" ", "the"}, {"i", "n"}, {"in", "g"}, {"e", "r"}, {" ", "a"},
      {"\xc3", "\xa9"}, {"1", "2"}, {"\n", "\n"}};
  json m = json::array();
  int next = 256;
  for (auto& [a, b] : merges) {
    if (!vocab.contains(byte_level(a + b))) vocab[byte_level(a + b)] = next++;
    m.push_back(byte_level(a) + " " + byte_level(b));
  }
  json j;
  j["version"] = "1.0";
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}{1,3}"}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "Split"},
         {"pattern", {{"Regex", "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "Split"},
         {"pattern",
          {{"Regex",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
            "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}};
  j["added_tokens"] = {{{"id", next}, {"content", "<s>"}, {"special", true}},
                       {{"id", next + 1}, {"content", "<tool>"}, {"special", false}}};
  return j;
}

}  // namespace

int main() {
  const fs::path tmp = fs::temp_directory_path() / "dsv32_fuzz_seeds";
  fs::create_directories(tmp);

  // Safetensors: every dtype, an empty tensor, a block scale, metadata; and a header-only file.
  {
    SafetensorsWriter w;
    std::vector<float> f = {1, -2, 3.5f, 0};
    std::vector<uint16_t> h = {0x3f80, 0xc000};
    std::vector<uint8_t> e = {0x38, 0x40, 0x7e};
    std::vector<int64_t> i = {1, -1};
    w.add("a.weight", DType::F32, {2, 2}, f.data(), 16);
    w.add("b", DType::BF16, {2}, h.data(), 4);
    w.add("c.weight", DType::F8_E4M3, {3}, e.data(), 3);
    w.add("c.weight_scale_inv", DType::F32, {1}, f.data(), 4);
    w.add("ids", DType::I64, {2}, i.data(), 16);
    w.add("empty", DType::F16, {0, 3}, nullptr, 0);
    w.write((tmp / "st").string(), {{"format", "pt"}});
    put("fuzz_safetensors", "valid.safetensors", slurp(tmp / "st"));
    SafetensorsWriter none;
    none.write((tmp / "st0").string());
    put("fuzz_safetensors", "empty.safetensors", slurp(tmp / "st0"));
  }

  // Config: the tiny preset as V3.2 and as V3, and the real V3.2 shapes.
  for (auto [name, preset, arch] : {std::tuple{"tiny_v32.json", "tiny", "DeepseekV32ForCausalLM"},
                                    std::tuple{"tiny_v3.json", "tiny", "DeepseekV3ForCausalLM"},
                                    std::tuple{"v32.json", "v32", "DeepseekV32ForCausalLM"}}) {
    SynthOptions o;
    o.preset = preset;
    o.architecture = arch;
    put("fuzz_config", name, synth_config_json(o));
  }

  // Tokenizer: the tiny tokenizer (also the round-trip target's fixed tokenizer).
  const std::string tok = tiny_tokenizer().dump(1);
  fs::create_directories(kRoot / "tokenizer");
  std::ofstream(kRoot / "tokenizer" / "tiny.json", std::ios::binary) << tok;
  put("fuzz_tokenizer_load", "tiny.json", tok);
  put("fuzz_tokenizer_roundtrip", "english.txt", "the thing in the garden, 12 apples\n\n  indented\ttab");
  put("fuzz_tokenizer_roundtrip", "mixed.txt", "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e <s> <tool> \xf0\x9f\x98\x80!");
  put("fuzz_tokenizer_roundtrip", "code.txt", "int main() { return a->b[12345] != 0; }\r\n");

  // Dump: two forward calls (prefill 2 + one decode) of a float, a bf16, an index and a padded
  // ragged tensor, then logits.
  {
    DumpMeta meta;
    meta.producer = "fuzz seeds";
    meta.attn = "sparse";
    meta.mla = "absorbed";
    meta.numerics = "fp32";
    meta.config_json = "{\"num_hidden_layers\":1}";
    meta.ids = {5, 6, 7};
    meta.prefill = 2;
    const std::string p = (tmp / "dump.h5").string();
    DumpWriter w(p, meta, {}, 3);
    auto call = [&](int64_t pos0, int64_t rows) {
      std::vector<float> x(size_t(rows) * 4, 0.5f), logits(size_t(rows) * 8, -1.f);
      std::vector<uint16_t> bf(size_t(rows) * 2, 0x3f80);
      std::vector<int32_t> ids(size_t(rows) * 2, 1);
      std::vector<float> scores(size_t(rows) * size_t(pos0 + rows), 0.25f);
      TensorEvent e;
      e.pos0 = pos0;
      e.name = "embed", e.dtype = DType::F32, e.shape = {rows, 4}, e.data = x.data();
      w.observe(e);
      e.name = "layers/00/q_rope", e.dtype = DType::BF16, e.shape = {rows, 2}, e.data = bf.data();
      w.observe(e);
      e.name = "layers/00/indexer_scores", e.dtype = DType::F32, e.shape = {rows, pos0 + rows}, e.data = scores.data();
      e.pad_to = TensorEvent::kPadToContext;
      e.pad_value = -INFINITY;
      w.observe(e);
      e.pad_to = 0;
      e.name = "layers/00/expert_ids", e.dtype = DType::I32, e.shape = {rows, 2}, e.data = ids.data();
      w.observe(e);
      e.name = "logits", e.dtype = DType::F32, e.shape = {rows, 8}, e.data = logits.data();
      w.observe(e);
    };
    call(0, 2);
    call(2, 1);
    w.close();
    put("fuzz_dump", "small.h5", slurp(p));
  }

  // Logits store: top 3 of a vocab of 10, 4 rows.
  {
    const std::string p = (tmp / "store.h5").string();
    LogitsStoreWriter w(p, LogitsStoreInfo{3, 10, 8, "text=1:2 ctx=8", "sparse", "absorbed", "tiny"}, false, 0);
    std::vector<BaseRow> rows(4);
    for (int r = 0; r < 4; ++r) {
      rows[r].dist.ids = {r, r + 1, r + 2};
      rows[r].dist.logp = {-0.5f, -1.5f, -2.5f};
      rows[r].dist.rest_logp = -3;
      rows[r].target = r + 1;
      rows[r].argmax = r;
      rows[r].target_logp = -1.5f;
    }
    w.append(rows);
    w.finish();
    put("fuzz_logits_store", "small.h5", slurp(p));
  }
  fs::remove_all(tmp);
  std::printf("seeds written under %s\n", (kRoot / "corpus").c_str());
  return 0;
}
