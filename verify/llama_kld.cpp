#include "verify/llama_kld.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/error.h"

namespace dsv32 {
namespace {

// Sizes beyond these are not a llama.cpp file (and would overflow the arithmetic below):
// 2^24 tokens of context and 2^24 vocabulary entries are far past any model's.
constexpr int64_t kMaxCtx = int64_t(1) << 24, kMaxVocab = int64_t(1) << 24, kMaxTokens = int64_t(1) << 31;
constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

// The log-prob window kept per row: llama-perplexity stores the 16 nats below the maximum logit.
constexpr float kWindow = 16.0f;

}  // namespace

std::vector<int32_t> ChunkPlan::chunk(int64_t i) const {
  std::vector<int32_t> c(stream.begin() + i * ctx, stream.begin() + (i + 1) * ctx);
  if (bos >= 0) c[0] = bos;
  return c;
}

ChunkPlan plan_chunks(const std::vector<int32_t>& text_tokens, int32_t bos, int64_t ctx, int64_t max_chunks,
                      bool legacy) {
  ChunkPlan p;
  p.ctx = ctx;
  p.bos = bos;
  if (!legacy && bos >= 0) p.stream.push_back(bos);
  p.stream.insert(p.stream.end(), text_tokens.begin(), text_tokens.end());
  const int64_t avail = ctx > 0 ? int64_t(p.stream.size()) / ctx : 0;
  p.n_chunks = max_chunks > 0 ? std::min(max_chunks, avail) : avail;
  return p;
}

int32_t LlamaRow::argmax() const {
  int32_t best = 0;
  for (size_t i = 1; i < codes.size(); ++i)
    if (codes[i] > codes[size_t(best)]) best = int32_t(i);
  return best;
}

void llama_encode_row(const float* logits, int64_t V, uint16_t* out) {
  float mx = logits[0], mn = logits[0];
  for (int64_t i = 1; i < V; ++i) {
    mx = std::max(mx, logits[i]);
    mn = std::min(mn, logits[i]);
  }
  mn = std::max(mn, mx - kWindow);
  // Same accumulation as llama-perplexity (float exponentials summed in double), so a file this
  // writes decodes to what llama.cpp would have stored for these logits up to the last code step.
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(logits[i] - mx);
  const float lse = float(std::log(sum));
  const float min_logp = mn - mx - lse;
  const float scale = (mx - mn) / 65535.0f;
  std::memcpy(out, &scale, 4);
  std::memcpy(out + 2, &min_logp, 4);
  uint16_t* codes = out + 4;
  const int64_t nv = llama_row_u16(V);
  std::fill(codes, out + nv, uint16_t(0));
  if (scale > 0) {
    const float inv = 1.0f / scale;
    for (int64_t i = 0; i < V; ++i)
      if (logits[i] > mn) {
        // Round to nearest, ties to even (llama.cpp's nearest_int); the clamp only guards the
        // float rounding of inv·(mx − mn), which can land a hair above 65535.
        const long q = std::lrint(inv * (logits[i] - mn));
        codes[i] = uint16_t(std::clamp<long>(q, 0, 65535));
      }
  }
}

LlamaRow llama_decode_row(const uint16_t* in, int64_t V) {
  LlamaRow r;
  std::memcpy(&r.scale, in, 4);
  std::memcpy(&r.min_logp, in + 2, 4);
  r.codes.assign(in + 4, in + 4 + V);
  return r;
}

// Not clamped at 0: llama.cpp reports the raw sum, which the code quantization can push a little
// below zero for nearly equal distributions; keeping it raw keeps our numbers comparable to its.
double llama_kl(const LlamaRow& b, const float* nl, const RowStats& nrs, int64_t V) {
  double kl = 0;
  for (int64_t i = 0; i < V; ++i) {
    const float lb = b.logp(i);
    if (lb > -kWindow) kl += std::exp(double(lb)) * (double(lb) - nrs.logp(nl, int32_t(i)));
  }
  return kl;
}

double llama_kl(const LlamaRow& b, const LlamaRow& o) {
  double kl = 0;
  for (size_t i = 0; i < b.codes.size(); ++i) {
    const float lb = b.logp(int64_t(i));
    if (lb > -kWindow) kl += std::exp(double(lb)) * (double(lb) - double(o.logp(int64_t(i))));
  }
  return kl;
}

LlamaLogitsReader::LlamaLogitsReader(const std::string& path) : path_(path) {
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) fail(path + ": cannot open");
  char magic[8];
  int32_t dims[3];
  if (std::fread(magic, 1, 8, f_) != 8 || std::memcmp(magic, kMagic, 8) != 0)
    fail(path + ": magic: not a llama.cpp logits file (expected \"_logits_\")");
  if (std::fread(dims, 4, 3, f_) != 3) fail(path + ": header: truncated before n_ctx, n_vocab, n_chunk");
  h_.n_ctx = dims[0];
  h_.n_vocab = dims[1];
  h_.n_chunk = dims[2];
  if (h_.n_ctx < 3 || h_.n_ctx > kMaxCtx)
    fail(path + ": n_ctx: " + std::to_string(h_.n_ctx) + " outside [3, " + std::to_string(kMaxCtx) + "]");
  if (h_.n_vocab < 1 || h_.n_vocab > kMaxVocab)
    fail(path + ": n_vocab: " + std::to_string(h_.n_vocab) + " outside [1, " + std::to_string(kMaxVocab) + "]");
  if (h_.n_chunk < 1 || int64_t(h_.n_chunk) * h_.n_ctx > kMaxTokens)
    fail(path + ": n_chunk: " + std::to_string(h_.n_chunk) + " is not a positive count of chunks this size");
  struct stat st{};
  if (fstat(fileno(f_), &st) != 0) fail(path + ": cannot stat");
  h_.tokens.resize(size_t(h_.n_chunk) * size_t(h_.n_ctx));
  if (int64_t(st.st_size) != h_.file_bytes())
    fail(path + ": size: " + std::to_string(st.st_size) + " bytes, the header (n_ctx " + std::to_string(h_.n_ctx) +
         ", n_vocab " + std::to_string(h_.n_vocab) + ", n_chunk " + std::to_string(h_.n_chunk) + ") implies " +
         std::to_string(h_.file_bytes()));
  if (std::fread(h_.tokens.data(), 4, h_.tokens.size(), f_) != h_.tokens.size()) fail(path + ": tokens: truncated");
  for (size_t i = 0; i < h_.tokens.size(); ++i)
    if (h_.tokens[i] < 0 || h_.tokens[i] >= h_.n_vocab)
      fail(path + ": tokens[" + std::to_string(i) + "]: " + std::to_string(h_.tokens[i]) + " outside [0, n_vocab " +
           std::to_string(h_.n_vocab) + ")");
  buf_.resize(size_t(llama_row_u16(h_.n_vocab)));
}

LlamaLogitsReader::~LlamaLogitsReader() {
  if (f_) std::fclose(f_);
}

LlamaRow LlamaLogitsReader::row(int64_t chunk, int64_t r) {
  const int64_t rows = h_.rows_per_chunk();
  if (chunk < 0 || chunk >= h_.n_chunk || r < 0 || r >= rows)
    fail(path_ + ": row " + std::to_string(r) + " of chunk " + std::to_string(chunk) + " is outside the file");
  const int64_t off = h_.header_bytes() + (chunk * rows + r) * h_.row_bytes();
  if (fseeko(f_, off_t(off), SEEK_SET) != 0 || std::fread(buf_.data(), 2, buf_.size(), f_) != buf_.size())
    fail(path_ + ": chunk " + std::to_string(chunk) + " row " + std::to_string(r) + ": cannot read");
  LlamaRow row = llama_decode_row(buf_.data(), h_.n_vocab);
  if (!std::isfinite(row.scale) || row.scale < 0 || !std::isfinite(row.min_logp))
    fail(path_ + ": chunk " + std::to_string(chunk) + " row " + std::to_string(r) +
         ": scale/min_log_prob not finite and non-negative");
  return row;
}

LlamaLogitsWriter::LlamaLogitsWriter(const std::string& path, const LlamaLogitsHeader& h, int64_t resume_chunks)
    : path_(path), h_(h) {
  if (int64_t(h.tokens.size()) != int64_t(h.n_chunk) * h.n_ctx) fail(path + ": tokens: not n_chunk x n_ctx");
  buf_.resize(size_t(llama_row_u16(h.n_vocab)) * size_t(h.rows_per_chunk()));
  if (resume_chunks > 0) {
    // An interrupted run's file: the same header, then at least resume_chunks whole chunks.
    f_ = std::fopen(path.c_str(), "r+b");
    if (!f_) fail(path + ": cannot reopen to resume");
    std::vector<char> want(size_t(h.header_bytes())), have(want.size());
    const int32_t dims[3] = {h.n_ctx, h.n_vocab, h.n_chunk};
    std::memcpy(want.data(), kMagic, 8);
    std::memcpy(want.data() + 8, dims, 12);
    std::memcpy(want.data() + 20, h.tokens.data(), 4 * h.tokens.size());
    if (std::fread(have.data(), 1, have.size(), f_) != have.size() || have != want)
      fail(path + ": header: written by another run (other text, ctx or vocabulary); cannot resume into it");
    const int64_t keep = h.header_bytes() + resume_chunks * h.rows_per_chunk() * h.row_bytes();
    struct stat st{};
    if (fstat(fileno(f_), &st) != 0 || int64_t(st.st_size) < keep)
      fail(path + ": size: holds fewer than the " + std::to_string(resume_chunks) + " chunks the state file records");
    if (ftruncate(fileno(f_), off_t(keep)) != 0 || fseeko(f_, off_t(keep), SEEK_SET) != 0)
      fail(path + ": cannot cut the unfinished tail");
    written_ = resume_chunks;
    return;
  }
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) fail(path + ": cannot create");
  const int32_t dims[3] = {h.n_ctx, h.n_vocab, h.n_chunk};
  if (std::fwrite(kMagic, 1, 8, f_) != 8 || std::fwrite(dims, 4, 3, f_) != 3 ||
      std::fwrite(h.tokens.data(), 4, h.tokens.size(), f_) != h.tokens.size())
    fail(path + ": cannot write the header");
}

LlamaLogitsWriter::~LlamaLogitsWriter() {
  if (f_) std::fclose(f_);
}

void LlamaLogitsWriter::append_chunk(const float* logits) {
  if (written_ >= h_.n_chunk) fail(path_ + ": more chunks than the header's n_chunk " + std::to_string(h_.n_chunk));
  const int64_t nv = llama_row_u16(h_.n_vocab);
  for (int64_t r = 0; r < h_.rows_per_chunk(); ++r)
    llama_encode_row(logits + r * h_.n_vocab, h_.n_vocab, buf_.data() + r * nv);
  if (std::fwrite(buf_.data(), 2, buf_.size(), f_) != buf_.size() || std::fflush(f_) != 0)
    fail(path_ + ": cannot append chunk " + std::to_string(written_));
  ++written_;
}

}  // namespace dsv32
