// The numerics table (numerics.h has the same table as prose). Each profile is one row: a Rule
// per precision point plus the whole-op columns. Columns in Point order:
//   embed, norm_out, residual, proj, aux_proj, latent_norm, rope, swiglu_mid, moe_sum,
//   absorb_q, absorb_out
//
// The ref1 row point by point, with the official code's operations behind each, is the rounding
// map of docs/MODEL.md §10; the deliberate differences from REF-1 are listed in MODEL §11.2.
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

std::string numerics_lacks(const NumericsProfile& p, const BackendCaps& caps) {
  const std::string b = std::string("the ") + caps.backend + " backend has no ";
  for (int i = 0; i < int(Point::kCount); ++i) {
    const Rule& r = p.rules[i];
    for (Gemm g : {r.f8, r.other})
      if (!caps.gemm[int(g)]) return b + to_string(g) + " GEMM (point " + to_string(Point(i)) + ")";
    if (r.out == Store::kBf16 && !caps.store_bf16) return b + "bf16 storage rounding (point " + to_string(Point(i)) + ")";
  }
  if (p.attn == AttnCore::kRef1 && !caps.ref1_attn) return b + "REF-1 attention core";
  if ((p.indexer == IndexerKeys::kFp8 || p.ckv_fp8) && !caps.fp8_indexer) return b + "FP8 indexer keys or c_KV simulation";
  return "";
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
