"""REF-1 rounding emulation for the float64 reference (`--numerics ref1`), written from MODEL §3.4,
§3.5, §6.6 and §10 independently of the C++ (kernels/cpu/act_quant, fp8_gemm, attention_ref1).

Everything stays float64; a rounding point maps a tensor to the nearest representable value of the
narrow format, computed exactly with frexp/ldexp (no float32 intermediate, so no double rounding):

    bf16(x)          nearest bfloat16 (8 significant bits), ties to even
    e4m3(x)          nearest float8 e4m3fn for |x| <= 448 (4 significant bits; subnormals are
                     multiples of 2^-9), ties to even
    act_quant(x)     (q, s): per row and per 128-wide block of the last dim (ragged last block),
                     s = 2^ceil(log2(fp32(amax * fp32(1/448)))), amax floored at 1e-4; q = e4m3(x/s)
    fp8_gemm(x, Wq, Sw)  bf16( sum_kb (x_q[:, kb] . Wq[:, kb]) * (s_x[:, kb] * Sw[n//128, kb]) )
"""
import numpy as np
import torch

F64 = torch.float64
BLOCK = 128
E4M3_MAX = 448.0
AMAX_FLOOR = float(np.float32(1e-4))          # the kernels' fp32 constant
INV_448_F32 = float(np.float32(1.0 / 448.0))  # REF multiplies amax by fp32(1/448)


def pow2(e):
    """2^e for an integer tensor, exactly, in float64."""
    return torch.pow(2.0, e.to(F64))


def round_sig(x, bits):
    """x rounded to `bits` significant bits, ties to even (torch.round is half-to-even)."""
    m, e = torch.frexp(x)                       # x = m * 2^e, |m| in [0.5, 1)
    return torch.round(m * 2.0 ** bits) * pow2(e - bits)


def bf16(x):
    """Round to bfloat16 values (kept as float64). Finite, normal-range inputs (as here)."""
    return round_sig(x, 8)


def e4m3(x):
    """Nearest e4m3fn value of x (|x| <= 448 after the caller's clamp)."""
    sub = torch.round(x * 2.0 ** 9) * 2.0 ** -9  # subnormal grid (|x| < 2^-6)
    return torch.where(x.abs() >= 2.0 ** -6, round_sig(x, 4), sub)


def ue8m0_scale(amax):
    """2^ceil(log2(t)) for t = fp32(amax * fp32(1/448)), amax >= 1e-4 (float64 tensor)."""
    t = (amax.to(torch.float32) * torch.tensor(INV_448_F32, dtype=torch.float32)).to(F64)
    m, e = torch.frexp(t)                       # t = m * 2^e, m in [0.5, 1): ceil(log2 t) = e
    e = torch.where(m == 0.5, e - 1, e)         # unless t is a power of two (m = 0.5)
    return pow2(e)


def act_quant(x, block=BLOCK):
    """x [..., n] -> (q [..., n] e4m3 values, s [..., ceil(n/block)])."""
    n = x.shape[-1]
    qs, ss = [], []
    for k0 in range(0, n, block):
        xb = x[..., k0:k0 + block]
        amax = xb.abs().amax(-1, keepdim=True).clamp_min(AMAX_FLOOR)
        s = ue8m0_scale(amax)
        qs.append(e4m3((xb / s).clamp(-E4M3_MAX, E4M3_MAX)))
        ss.append(s)
    return torch.cat(qs, -1), torch.cat(ss, -1)


def fp8_roundtrip(x, block=BLOCK):
    """REF-1's FP8 simulation of c_KV: q * s per block."""
    q, s = act_quant(x, block)
    return q * torch.repeat_interleave(s, block, dim=-1)[..., :x.shape[-1]]


def fp8_gemm(x, wq, sw, block=BLOCK):
    """x [M, K] (bf16 values) times an FP8 weight (wq [N, K] e4m3 values, sw [ceil(N/B),
    ceil(K/B)] block scales) -> bf16 [M, N], MODEL §3.5."""
    xq, sx = act_quant(x, block)
    n = wq.shape[0]
    sw_rows = torch.repeat_interleave(sw, block, dim=0)[:n]      # [N, nb]
    acc = torch.zeros(x.shape[0], n, dtype=F64)
    for b, k0 in enumerate(range(0, x.shape[1], block)):
        part = xq[:, k0:k0 + block] @ wq[:, k0:k0 + block].T
        acc += part * (sx[:, b:b + 1] * sw_rows[None, :, b])
    return bf16(acc)
