// The precision-point plumbing of the CPU forward pass: Impl::proj and Impl::round, which are plain
// linear() and a no-op in the exact profile and REF-1's fp8_gemm / bf16 rounding under
// --numerics ref1. model.cpp and ffn.cpp call them at every point of the table below, so the two
// profiles share one forward pass and differ only here and in a few per-call branches
// (attend_ref1, the indexer's FP8 quantization, the c_KV simulation).
//
// REF-1 precision points (SPEC §10 rounding map; "bf16" = round to nearest even, kept as fp32;
// every GEMM accumulates in fp32):
//
//   where                    | REF-1 (ref1)                                          | SPEC
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
//   absorbed (REF decode)    | q̃ = bf16(W_UKᵀ q_nope) (dequantized weight, no         | §6.4, §6.6
//                            |   act_quant); a = bf16(bf16(bf16(q̃·c)+bf16(q_r·k_r))   |
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
#include "kernels/cpu/fp8_gemm.h"
#include "kernels/cpu/round_bf16.h"
#include "model/model_impl.h"

namespace dsv32 {

void Model::Impl::proj(const float* x, int64_t M, int64_t x_stride, const Weight& w, float* y,
                       int64_t y_stride) {
  if (!ref1) {
    linear(pool, x, M, x_stride, w, y, y_stride);
  } else if (w.dtype == DType::F8_E4M3) {
    Fp8GemmParams p;
    p.m = M;
    p.x_stride = x_stride;
    p.y_stride = y_stride;
    p.block = w.block;
    fp8_gemm(pool, p, x, w, y);
  } else {
    linear(pool, x, M, x_stride, w, y, y_stride);
    round_bf16_rows(y, M, w.rows, y_stride);
  }
}

void Model::Impl::round(float* x, int64_t n) {
  if (ref1) round_bf16(x, n);
}

void Model::Impl::round(float* x, int64_t rows, int64_t width, int64_t stride) {
  if (ref1) round_bf16_rows(x, rows, width, stride);
}

const float* Model::Impl::stored_residual(int64_t n) {
  if (!ref1 || !obs || !*obs) return ws.h.data();
  ws.emit.assign(ws.h.begin(), ws.h.begin() + n);
  round_bf16(ws.emit.data(), n);
  return ws.emit.data();
}

}  // namespace dsv32
