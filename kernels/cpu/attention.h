// attend: softmax attention of ONE query over a set of cached positions (the core of both MLA
// paths, dense and sparse).
//
//   q        : fp32 [d_k]
//   key(t)   = keys   + t·key_stride,   d_k floats      (naive: K cache of one head [192];
//   value(t) = values + t·value_stride, d_v floats       absorbed: latent row [c_KV ; k_rope])
//   positions: either the dense causal range [0, n) (index == nullptr) or n explicit positions
//              (sparse: the indexer's top-k, ascending)
//   out      : fp32 [d_v] = Σ_t softmax(scale · q·key(t)) · value(t)
//   probs    : scratch, at least n floats
//   !! positions are visited in the order given, so a sparse call whose index list is 0..n-1 gives
//      bit-identical output to the dense call over [0, n).
//   !! n = 0 (nothing visible, e.g. a pinned selection with no valid entry) writes zeros.
#pragma once
#include <cstdint>

namespace dsv32 {

// The one params struct of the attention core in every numerics profile (attend, attend_mqa and
// attend_ref1 in attention_ref1.h, which alone reads `split`).
struct AttendParams {
  int64_t d_k = 0, d_v = 0;
  int64_t key_stride = 0, value_stride = 0;
  float scale = 1.f;
  int64_t split = 0;  // REF-1: 0 one score product; > 0 two products [0, split) and [split, d_k), summed in bf16
};

void attend(const AttendParams& p, const float* q, const float* keys, const float* values,
            const int32_t* index, int64_t n, float* probs, float* out);

// attend_mqa: `heads` queries sharing one key/value set (absorbed MLA: every head attends to the
// same latent rows). Reads each cache row once for all heads instead of once per head.
//   q     : [heads, d_k] (row stride q_stride);  out: [heads, d_v] (row stride out_stride)
//   probs : scratch, at least heads·(n + 1) floats
//   !! per head, the arithmetic and its order are exactly attend()'s, so the results are
//      bit-identical to calling attend() head by head.
void attend_mqa(const AttendParams& p, int64_t heads, const float* q, int64_t q_stride, const float* keys,
                const float* values, const int32_t* index, int64_t n, float* probs, float* out,
                int64_t out_stride);

// ---------------------------------------------------------------- blocked core (prefill, decode)
// attend_rows: `rows` queries over ONE key/value sequence (dense positions 0, 1, ... or the shared
// list `index`), row r visiting its first n[r] entries — the heads of one token in absorbed MQA,
// or consecutive tokens of one head (causal prefixes) in naive MHA. Scores as 4 rows × 4 keys
// tiles, values as 4 rows × 96 columns tiles over blocks of 64 keys (each block copied into one
// contiguous buffer when rows > 1), so that each K/V row is read from memory once per call
// instead of once per query. 32 rows: measured ~20 % less CPU time than 16 at V3.2 shapes.
//   q     : row r at q + r·q_stride;  out: row r at out + r·out_stride
//   probs : scratch, rows · probs_stride floats, probs_stride >= max n[r]
//   rows <= kAttendMaxRows
//   !! per row, the arithmetic and its order are exactly attend()'s (docs/MODEL.md §3.8), so the
//      results are bit-identical to attend() row by row whatever the grouping.
constexpr int64_t kAttendMaxRows = 32;
void attend_rows(const AttendParams& p, int64_t rows, const float* q, int64_t q_stride, const float* keys,
                 const float* values, const int32_t* index, const int64_t* n, float* probs, int64_t probs_stride,
                 float* out, int64_t out_stride);

// attend_queries: S tokens at positions P, P+1, ... × `heads` query heads, the CPU driver of both
// MLA paths (model/cpu_ops.cpp), threaded over `pool` so that every output row is computed the
// same way whatever the thread count.
//   q   : [S, heads, d_k];  out: [S, heads, d_v]
//   mqa : every head over the same rows (keys = values = latent cache); else head h's key/value
//         rows at keys + h·key_head / values + h·value_head (key_stride / value_stride per position)
//   index/count: sparse, token s visits index[s·index_stride ..][0, count[s]) (count <= index_stride);
//         nullptr: dense causal, token s visits [0, P + s + 1)
//   probs: one scratch pointer per pool thread, each of probs_floats >=
//          kAttendMaxRows · (n_max + 1) floats (n_max = max count[s], or P + S)
//   per_query: attend() / attend_mqa() query by query (the reference order's own code; tests and
//          the benchmarks' baseline) instead of attend_rows.
class ThreadPool;
struct AttendBatch {
  AttendParams p;
  int64_t heads = 1;
  bool mqa = false;
  int64_t key_head = 0, value_head = 0;
  int64_t S = 0, P = 0;
  const int32_t* index = nullptr;
  const int32_t* count = nullptr;
  int64_t index_stride = 0;
  bool per_query = false;
};
void attend_queries(ThreadPool& pool, const AttendBatch& b, const float* q, const float* keys, const float* values,
                    float* const* probs, int64_t probs_floats, float* out);

// Zig-zag order for causal work: item i of [0, n) maps to 0, n-1, 1, n-2, ... so that the static
// contiguous ranges of ThreadPool get equal shares of short and long rows.
inline int64_t attend_zigzag(int64_t i, int64_t n) { return (i & 1) ? n - 1 - i / 2 : i / 2; }

}  // namespace dsv32
