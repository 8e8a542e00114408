// The numerics table (numerics.h has the same table as prose). Each profile is one row: a Rule
// per precision point plus the whole-op columns. Columns in Point order:
//   embed, norm_out, residual, proj, aux_proj, latent_norm, rope, swiglu_mid, moe_sum,
//   absorb_q, absorb_out
//
// The ref1 row in detail, point by point, as the layer program applies it ("bf16" = round to
// nearest even, kept as fp32; every GEMM accumulates in fp32):
//
//   where                    | REF-1 (ref1)                                          | MODEL
//   -------------------------|-------------------------------------------------------|------------
//   embed                    | bf16 table row (no-op for a bf16 checkpoint)           | §5.1
//   attn_norm, ffn_norm,     | r = h + a in fp32; x = bf16(RMSNorm(r)) from the       | §4.1, §5
//     final_norm             |   UN-rounded r; residual stored as bf16(r)             |
//   wq_a, wq_b, wkv_a, wo,   | fp8_gemm: act_quant(x) (ue8m0, 1×128), per-128-block   | §3.4–3.6,
//     idx.wq_b, idx.wk,      |   fp32 partials, promoted by s_x·S_w, bf16 output;     | §6.6, §7.1,
//     MLP/expert/shared w1,  |   a non-F8 weight: fp32 GEMM then bf16                  | §8.1
//     w2, w3, wkv_b (naive)  |                                                       |
//   q_a_layernorm, kv_norm   | fp32 inside, bf16 out                                  | §6.6
//   MLA RoPE q_rope, k_rope  | fp32 rotate of bf16 input, bf16 out                    | §4.4
//   c_KV FP8 simulation      | act_quant(c_KV) then q·s (bf16-exact), both MLA modes  | §6.1, §6.6
//   naive MLA (REF prefill)  | K/V = fp8_gemm(wkv_b) bf16; a = bf16(bf16(q·k)·s_att); | §6.3, §6.6
//                            |   softmax fp32 → bf16 probs; O = bf16(Σ p v)           |
//   absorbed (REF decode)    | W_UK, W_UV = bf16(code·scale) (weight_dequant's bf16); | §6.4, §6.6
//                            | q̃ = bf16(W_UKᵀ q_nope) (no act_quant); a = bf16(bf16(bf16(q̃·c)+bf16(q_r·k_r))   |
//                            |   ·s_att); probs bf16; õ = bf16(Σ p c); O = bf16(W_UV õ)|
//   indexer k                | wk fp8_gemm → LayerNorm (bf16) → RoPE (bf16) →         | §7.1–7.3
//                            |   Hadamard (bf16) → act_quant: cache holds e4m3 + k_s  |
//   indexer q                | wq_b fp8_gemm → RoPE (bf16) → Hadamard (bf16) →        | §7.1–7.3
//                            |   act_quant per head (q_s)                             |
//   indexer weights_proj     | fp32 GEMM on the bf16-valued x (as exact); ω = w·q_s   | §7.4
//   index score              | k_s[u]·Σ_j ω_j·ReLU(q_fp8,j·k_fp8(u)) fp32             | §7.5
//   router                   | fp32 GEMM on bf16-valued x (as exact)                  | §8.2
//   SwiGLU middle            | bf16(SiLU(g)·u), fp32 inside                           | §8.1
//   MoE sum                  | fp32 Σ w·expert (expert-id order) + shared, then bf16  | §8.2
//   lm_head                  | fp32 GEMM of the bf16 final norm (as exact)            | §9
//
// Deliberate differences from REF-1 (documented; each is below one bf16 rounding):
//   * RoPE cos/sin come from double angles rounded once (rope.h); REF forms t·f' in fp32, whose
//     error t·2^-24 rad stays under a bf16 ulp for t < ~2^15.
//   * Norm statistics accumulate in double (norm.h); REF in fp32.
//   * act_quant blocks are 128 wide with a narrower last block where a dimension is not a
//     multiple of 128 (the tiny preset's r_kv = 64, d_I = 64); REF requires multiples of 128.
#include "model/numerics.h"

#include "kernels/error.h"

namespace dsv32 {
namespace {

constexpr Rule kF32{};                                              // fp32 GEMM, fp32 storage
constexpr Rule kBf16Store{Gemm::kF32, Gemm::kF32, Store::kBf16};    // fp32 op, bf16 storage
constexpr Rule kRefProj{Gemm::kFp8Ref, Gemm::kF32, Store::kBf16};   // fp8_gemm / fp32 GEMM → bf16
constexpr Rule kBf16Gemm{Gemm::kBf16, Gemm::kBf16, Store::kF32};    // bf16 × bf16 → fp32
constexpr Rule kFp8Gemm{Gemm::kFp8, Gemm::kBf16, Store::kF32};      // e4m3 GEMM for F8 weights

const NumericsProfile kProfiles[] = {
    {"exact", "fp32 activations and accumulation, weights dequantized exactly, fp32 scores/softmax",
     {kF32, kF32, kF32, kF32, kF32, kF32, kF32, kF32, kF32, kF32, kF32},
     AttnCore::kF32, IndexerKeys::kF32, false, AbsorbedWeights::kF32, false, "exact"},
    {"ref1", "the official code's deployed precision points: bf16 activations, act_quant + fp8_gemm, FP8 c_KV and indexer",
     {kBf16Store, kBf16Store, kBf16Store, kRefProj, kF32, kBf16Store, kBf16Store, kBf16Store, kBf16Store,
      kBf16Store, kBf16Store},
     AttnCore::kRef1, IndexerKeys::kFp8, true, AbsorbedWeights::kBf16, false, "ref1"},
    {"bf16", "bf16 x bf16 -> fp32 GEMMs, fp32 elsewhere; decode may read bf16 cache mirrors (GPU)",
     {kF32, kF32, kF32, kBf16Gemm, kBf16Gemm, kF32, kF32, kF32, kF32, kBf16Gemm, kBf16Gemm},
     AttnCore::kF32, IndexerKeys::kF32, false, AbsorbedWeights::kBf16, true, "bf16"},
    {"fp8", "block-scaled e4m3 GEMMs for F8 weights (act_quant), bf16 GEMMs for the rest (GPU)",
     {kF32, kF32, kF32, kFp8Gemm, kFp8Gemm, kF32, kF32, kF32, kF32, kBf16Gemm, kBf16Gemm},
     AttnCore::kF32, IndexerKeys::kF32, false, AbsorbedWeights::kBf16, true, "bf16"},
};

}  // namespace

const NumericsProfile& numerics_profile(const std::string& name) {
  const std::string n = name == "fp32" ? "exact" : name;  // the old --gpu-gemm spelling
  for (const NumericsProfile& p : kProfiles)
    if (n == p.name) return p;
  fail("--numerics: '" + name + "' is not one of " + numerics_names());
}

std::string numerics_names() {
  std::string s;
  for (const NumericsProfile& p : kProfiles) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

const char* to_string(Gemm g) {
  switch (g) {
    case Gemm::kF32: return "f32";
    case Gemm::kBf16: return "bf16";
    case Gemm::kFp8Ref: return "fp8_ref";
    case Gemm::kFp8: return "fp8";
  }
  return "?";
}

const char* to_string(Point p) {
  static const char* const names[] = {"embed",   "norm_out",   "residual", "proj",     "aux_proj", "latent_norm",
                                      "rope",    "swiglu_mid", "moe_sum",  "absorb_q", "absorb_out"};
  static_assert(sizeof(names) / sizeof(names[0]) == int(Point::kCount));
  return names[int(p)];
}

}  // namespace dsv32
