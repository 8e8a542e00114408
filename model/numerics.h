// Numerics as data: one table of precision points, one row per named profile (docs/MODEL.md §10,
// §13.2). The layer program (model/layer_program.h) asks the table what to do at each point and
// passes the answer to the backend's op; nothing else in the forward pass branches on a profile.
//
// A precision point is a place in the forward pass where a value is produced and stored: the
// output of a projection, a norm, RoPE, the SwiGLU middle, the attention core. Each point has a
// Rule (how the GEMM multiplies, and how its output is stored); a few whole-op choices (the
// attention core's rounding points, the indexer's key quantization, the MLA latent FP8
// simulation, how the absorbed per-head weights are formed, whether decode may read a bf16 cache
// mirror) are columns of their own.
//
//   point          | exact   | ref1                          | bf16 (GPU)        | fp8 (GPU)
//   ---------------|---------|-------------------------------|-------------------|----------------
//   embed          | f32     | bf16 row                      | f32               | f32
//   norm_out       | f32     | bf16 (from the un-rounded sum)| f32               | f32
//   residual       | f32     | bf16 at each norm             | f32               | f32
//   q_a,q_b,kv_a,o | f32     | F8: fp8_ref → bf16;           | bf16 GEMM, f32 out| F8: fp8 GEMM;
//   kv_b,idx q/k,  |         | other: f32 GEMM → bf16        |                   | other: bf16 GEMM
//   MLP gate/up/dn |         |                               |                   |
//   q_latent norm, | f32     | bf16                          | f32               | f32
//   kv norm, rope  |         |                               |                   |
//   swiglu_mid     | f32     | bf16                          | f32               | f32
//   moe_sum        | f32     | bf16                          | f32               | f32
//   router,        | f32     | f32 (fp32 GEMM, as exact)     | f32               | f32
//   idx weights,   |         |                               |                   |
//   lm_head        |         |                               |                   |
//   absorbed W_UK, | f32     | bf16(code·scale) weight, then | bf16 weight       | bf16 weight
//   W_UV           | product | q̃/O rounded to bf16            |                   |
//   attention core | f32     | ref1 (naive: prefill points,  | f32; decode may   | as bf16
//                  |         |  absorbed: decode points)     | read bf16 mirrors |
//   indexer keys   | f32     | fp8 (e4m3 + ue8m0 k_s)        | f32 (bf16 mirror  | as bf16
//                  |         |                               |  at decode)       |
//   c_KV           | f32     | fp8 round trip                | f32               | f32
//
// The GEMM kinds (Gemm):
//   kF32    weights dequantized exactly, fp32 activations, fp32 accumulation (the exact profile)
//   kBf16   activations rounded to bf16, bf16 × bf16 → fp32 (GPU: cuBLAS)
//   kFp8Ref REF-1's fp8_gemm: act_quant(x) with ue8m0 scales, per-128-block fp32 partials promoted
//           by s_x·S_w (docs/MODEL.md §3.5); only for F8 weights, others take `other`
//   kFp8    the GPU's block-scaled e4m3 GEMM (cuBLASLt): act_quant(x), fp32 out
// A backend that lacks a rule says so in one line (Ops::lacks); adding a profile is a row here
// (kProfiles in numerics.cpp) plus, where it needs a new kind, that kind in the backends.
#pragma once
#include <cstdint>
#include <string>

namespace dsv32 {

enum class Gemm : uint8_t { kF32, kBf16, kFp8Ref, kFp8 };
enum class Store : uint8_t { kF32, kBf16 };

// One projection point: the GEMM for F8 weights, for any other dtype, and the output storage.
struct Rule {
  Gemm f8 = Gemm::kF32, other = Gemm::kF32;
  Store out = Store::kF32;
  Gemm gemm_for(bool f8_weight) const { return f8_weight ? f8 : other; }
};

// The attention core's rounding points (kernels/cpu/attention_ref1.h for kRef1).
enum class AttnCore : uint8_t { kF32, kRef1 };
// How the indexer's keys and queries are stored before scoring.
enum class IndexerKeys : uint8_t { kF32, kFp8 };
// How absorbed MLA's per-head W_UKᵀ / W_UV are formed from kv_b (docs/MODEL.md §6.4).
enum class AbsorbedWeights : uint8_t {
  kF32,   // code·scale in fp32 (exact for every scale)
  kBf16,  // bf16(code·scale): what the official code's weight_dequant returns (bf16 default dtype)
};

// The named points of the table above.
enum class Point : uint8_t {
  kEmbed, kNormOut, kResidual,
  kProj,        // every FP8-checkpoint projection: q_a, q_b, kv_a, kv_b, o, indexer q/k, MLP/experts
  kAuxProj,     // router, indexer weights_proj, lm_head: fp32 GEMM in every CPU profile
  kLatentNorm,  // q_a_layernorm and kv_a_layernorm outputs
  kRope,        // MLA q_rope / k_rope and the indexer's RoPE and Hadamard outputs
  kSwigluMid, kMoeSum,
  kAbsorbQ,     // q̃ = W_UKᵀ q_nope
  kAbsorbOut,   // O = W_UV õ
  kCount
};

struct NumericsProfile {
  const char* name;       // --numerics NAME, dump meta "numerics", verify profile name
  const char* doc;        // one line for --help
  Rule rules[int(Point::kCount)];
  AttnCore attn;
  IndexerKeys indexer;
  bool ckv_fp8;           // REF-1's FP8 round trip of the MLA latent c_KV (docs/MODEL.md §6.1)
  AbsorbedWeights absorbed;
  bool decode_bf16_cache; // decode (S ≤ 4) may read bf16 mirrors of the latent / indexer caches
                          // (where the backend keeps them: Ops::bf16_mirrors)
  const char* verify_profile;  // the verify/profiles.json profile its dumps are checked with

  const Rule& rule(Point p) const { return rules[int(p)]; }
  bool stores_bf16(Point p) const { return rule(p).out == Store::kBf16; }
};

// What a backend computes, as data: the GEMM kinds (indexed by Gemm), bf16 storage points, the
// REF-1 attention core, FP8 indexer keys with the c_KV simulation. (decode_bf16_cache is a
// permission, not a precision point: a backend without mirrors — Ops::bf16_mirrors() false, the
// CPU — reads the fp32 rows, which the profile's tolerance covers a fortiori.)
struct BackendCaps {
  const char* backend;  // "CPU", "CUDA"
  bool gemm[4];
  bool store_bf16, ref1_attn, fp8_indexer;
};
// "" when `caps` covers every point of `p`, else one line naming the first one it lacks.
std::string numerics_lacks(const NumericsProfile& p, const BackendCaps& caps);

// The profile named `name`: "exact", "ref1", "bf16", "fp8"; the old CUDA spelling "fp32" is an
// alias of "exact". Throws Error naming --numerics and the valid names otherwise.
const NumericsProfile& numerics_profile(const std::string& name);
// "exact, ref1, bf16, fp8".
std::string numerics_names();
const char* to_string(Gemm g);
const char* to_string(Point p);

}  // namespace dsv32
