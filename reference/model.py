"""DeepSeek-V3.2 forward pass in float64 — the executable specification ("clean" profile,
MODEL §13.2(c)): dequantized weights, no activation quantization, no bf16 rounding, exact
indexer scores. Described in docs/MODEL.md.

numerics="ref1" adds REF-1's rounding points (MODEL §6.6, §10; helpers in ref1.py): FP8 projections
through act_quant + fp8_gemm with bf16 outputs, bf16 after every norm/RoPE/Hadamard/einsum of the
rounding map, the FP8 round trip of c_KV (dumped as kv_latent_fp8), FP8 indexer q/k with ue8m0
scales, bf16 residual storage (norms see the un-rounded sum). Accumulation stays float64, so
against the C++ (fp32 accumulation) the two differ only where a sum straddles a rounding boundary.

Notation (shapes): S tokens in this call at absolute positions P..P+S-1, E = P+S visible keys,
D hidden, H heads, d_n/d_r/d_v nope/rope/value head dims, r_q/r_kv lora ranks,
H_I/d_I indexer heads/head dim, N_E routed experts, K experts per token.

    model = Model(Checkpoint(dir), attn="dense"|"sparse", mla="naive"|"absorbed")
    rec = model.forward([ids...])          # appends to the caches; positions continue
    rec["logits"]                          # [S, vocab]; every other dump tensor likewise
"""
import math
import os
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import torch

from checkpoint import CheckpointError
import ref1 as r1

F64 = torch.float64
NEG_INF = float("-inf")


# ----------------------------------------------------------------------------- configuration
class Config:
    """The config.json fields the forward pass uses (missing field -> CheckpointError)."""

    def __init__(self, cfg, path="config.json"):
        self.path = path

        def need(key):
            if key not in cfg or cfg[key] is None:
                raise CheckpointError(f"{path}: missing field {key}")
            return cfg[key]
        self.archs = cfg.get("architectures") or []
        self.has_indexer = "DeepseekV32ForCausalLM" in self.archs
        self.vocab, self.D = need("vocab_size"), need("hidden_size")
        self.n_layers, self.n_dense = need("num_hidden_layers"), cfg.get("first_k_dense_replace", 0)
        self.moe_freq = cfg.get("moe_layer_freq", 1)
        self.inter, self.moe_inter = need("intermediate_size"), cfg.get("moe_intermediate_size")
        self.H = need("num_attention_heads")
        self.r_q, self.r_kv = need("q_lora_rank"), need("kv_lora_rank")
        self.d_n, self.d_r = need("qk_nope_head_dim"), need("qk_rope_head_dim")
        self.d_v = need("v_head_dim")
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.rope_scaling = cfg.get("rope_scaling")
        rs = self.rope_scaling or {}
        if rs and rs.get("type", rs.get("rope_type", "yarn")) != "yarn":
            raise CheckpointError(f"{path}: rope_scaling.type must be yarn")
        self.n_experts = cfg.get("n_routed_experts") or 0
        if self.n_experts:
            self.n_shared = cfg.get("n_shared_experts") or 0
            self.K = need("num_experts_per_tok")
            self.n_group, self.topk_group = cfg.get("n_group", 1), cfg.get("topk_group", 1)
            self.route_scale = cfg.get("routed_scaling_factor", 1.0)
            self.norm_topk = cfg.get("norm_topk_prob", True)
            if cfg.get("scoring_func", "sigmoid") != "sigmoid":
                raise CheckpointError(f"{path}: scoring_func must be sigmoid")
            if self.n_experts % self.n_group:
                raise CheckpointError(f"{path}: n_routed_experts not divisible by n_group")
            need("moe_intermediate_size")
        if self.has_indexer:
            self.H_I, self.d_I = need("index_n_heads"), need("index_head_dim")
            self.index_topk = need("index_topk")
            if self.d_I & (self.d_I - 1):
                raise CheckpointError(f"{path}: index_head_dim must be a power of two (Hadamard)")
            self.idx_interleave = bool(cfg.get("indexer_rope_interleave", False))

    def is_moe(self, layer):
        return self.n_experts > 0 and layer >= self.n_dense and layer % self.moe_freq == 0


# ----------------------------------------------------------------------------- small math helpers
def rms_norm(x, w, eps):
    """x [..., n] -> w * x / sqrt(mean(x^2) + eps)   (MODEL §4.1)."""
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def layer_norm(x, w, b, eps):
    """Population-variance LayerNorm over the last dim, with weight and bias (MODEL §4.2)."""
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def yarn_frequencies(dim, theta, rs):
    """f'_j, j < dim/2, float64 (MODEL §4.3), YaRN-corrected whenever rope_scaling is given.
    Returns (freqs [dim/2], softmax mscale factor mscale_yarn)."""
    f = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=F64) / dim)
    if not rs:
        return f, 1.0
    kind = rs.get("type", rs.get("rope_type", "yarn"))
    if kind != "yarn":
        raise CheckpointError(f"config.json: rope_scaling.type {kind!r} unsupported (need yarn)")
    factor = float(rs.get("factor", 40))
    orig = float(rs.get("original_max_position_embeddings", 4096))
    beta_fast, beta_slow = float(rs.get("beta_fast", 32)), float(rs.get("beta_slow", 1))

    def corr(n_rot):
        return dim * math.log(orig / (n_rot * 2 * math.pi)) / (2 * math.log(theta))
    low = max(math.floor(corr(beta_fast)), 0)
    high = min(math.ceil(corr(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=F64) - low) / (high - low)).clamp(0, 1)
    smooth = 1 - ramp
    f = f / factor * (1 - smooth) + f * smooth
    mscale = 0.1 * float(rs.get("mscale", 1.0)) * math.log(factor) + 1.0 if factor > 1 else 1.0
    return f, mscale


def rope(x, pos, freqs, interleaved):
    """Rotate x [S, ..., d_r] at absolute positions pos [S] (MODEL §4.4).
    interleaved: pairs (x_2j, x_2j+1) (MLA); else pairs (x_j, x_j+d_r/2) (indexer, rotate-half)."""
    ang = pos.to(F64)[:, None] * freqs[None, :]                   # [S, d_r/2]
    shape = [x.shape[0]] + [1] * (x.dim() - 2) + [freqs.numel()]
    c, s = torch.cos(ang).view(shape), torch.sin(ang).view(shape)
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)
    half = freqs.numel()
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * c - b * s, a * s + b * c], dim=-1)


def hadamard(n):
    """Sylvester Walsh-Hadamard H[a, b] = (-1)^popcount(a & b), scaled by n^-0.5 (orthogonal,
    symmetric, its own inverse; MODEL §7.2)."""
    h = torch.ones(1, 1, dtype=F64)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h / math.sqrt(n)


def rank_desc(scores, k):
    """Indices of the k best entries per row of scores [S, N]: score descending, equal scores
    -> lower index first (stable sort on the original index order)."""
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices[:, :k]


def identity(x):
    return x


# ----------------------------------------------------------------------------- the model
class Fp8Weight(SimpleNamespace):
    """REF-1: an FP8 projection as fp8_gemm needs it (wq e4m3 values, block scales)."""

    def __init__(self, deq, wq, scale):
        super().__init__(deq=deq, wq=wq, scale=scale)


class Model:
    def __init__(self, ckpt, attn="dense", mla="naive", numerics="exact"):
        if numerics not in ("exact", "ref1"):
            raise ValueError(f"bad numerics {numerics}")
        self.ref1 = numerics == "ref1"
        self.numerics = numerics
        # rnd: a bf16 rounding point under REF-1, the identity otherwise
        self.rnd = r1.bf16 if self.ref1 else identity
        self.ckpt = ckpt
        self.cfg = c = Config(ckpt.config, os.path.join(ckpt.dir, "config.json"))
        self.embed = ckpt.get("model.embed_tokens.weight", (c.vocab, c.D))
        self.norm = ckpt.get("model.norm.weight", (c.D,))
        if ckpt.has("lm_head.weight") or not ckpt.config.get("tie_word_embeddings", False):
            self.head = ckpt.get("lm_head.weight", (c.vocab, c.D))
        else:
            self.head = self.embed
        # Only layers 0..num_hidden_layers-1; the MTP layer (index num_hidden_layers) is ignored.
        self.layers = [self._load_layer(ckpt, i) for i in range(c.n_layers)]
        self.freqs, msc = yarn_frequencies(c.d_r, c.theta, c.rope_scaling)
        self.s_att = (c.d_n + c.d_r) ** -0.5 * msc * msc             # MODEL §6.2
        if c.has_indexer:
            self.hadamard = hadamard(c.d_I)
        self.set_mode(attn, mla)

    def set_mode(self, attn, mla):
        """Choose dense|sparse attention and naive|absorbed MLA; clears the caches."""
        if attn not in ("dense", "sparse") or mla not in ("naive", "absorbed"):
            raise ValueError(f"bad mode attn={attn} mla={mla}")
        if attn == "sparse" and not self.cfg.has_indexer:
            raise CheckpointError(f"{self.cfg.path}: architectures {self.cfg.archs} has no indexer; "
                                  "--attn sparse needs DeepseekV32ForCausalLM")
        self.attn, self.mla = attn, mla
        self.reset()

    def _load_layer(self, ck, i):
        c, p = self.cfg, f"model.layers.{i}."
        g = lambda name, shape: self._weight(p + name, shape)
        w = SimpleNamespace(
            attn_norm=g("input_layernorm.weight", (c.D,)),
            ffn_norm=g("post_attention_layernorm.weight", (c.D,)),
            q_a=g("self_attn.q_a_proj.weight", (c.r_q, c.D)),
            q_norm=g("self_attn.q_a_layernorm.weight", (c.r_q,)),
            q_b=g("self_attn.q_b_proj.weight", (c.H * (c.d_n + c.d_r), c.r_q)),
            kv_a=g("self_attn.kv_a_proj_with_mqa.weight", (c.r_kv + c.d_r, c.D)),
            kv_norm=g("self_attn.kv_a_layernorm.weight", (c.r_kv,)),
            o=g("self_attn.o_proj.weight", (c.D, c.H * c.d_v)))
        w.kv_b = g("self_attn.kv_b_proj.weight", (c.H * (c.d_n + c.d_v), c.r_kv))  # naive K/V
        kv_b = ck.get(p + "self_attn.kv_b_proj.weight").view(c.H, c.d_n + c.d_v, c.r_kv)  # §2.3
        w.W_UK, w.W_UV = kv_b[:, :c.d_n].contiguous(), kv_b[:, c.d_n:].contiguous()
        if c.has_indexer:
            w.idx_wq = g("self_attn.indexer.wq_b.weight", (c.H_I * c.d_I, c.r_q))
            w.idx_wk = g("self_attn.indexer.wk.weight", (c.d_I, c.D))
            w.idx_kn_w = g("self_attn.indexer.k_norm.weight", (c.d_I,))
            w.idx_kn_b = g("self_attn.indexer.k_norm.bias", (c.d_I,))
            w.idx_wp = g("self_attn.indexer.weights_proj.weight", (c.H_I, c.D))
        m = p + "mlp."
        W = self._weight
        if c.is_moe(i):
            w.gate = ck.get(m + "gate.weight", (c.n_experts, c.D))
            bias = m + "gate.e_score_correction_bias"
            w.bias = (ck.get(bias, (c.n_experts,)) if ck.has(bias)
                      else torch.zeros(c.n_experts, dtype=F64))
            mlp = lambda q, n: SimpleNamespace(
                gate=W(q + "gate_proj.weight", (n, c.D)),
                up=W(q + "up_proj.weight", (n, c.D)),
                down=W(q + "down_proj.weight", (c.D, n)))
            w.experts = [mlp(f"{m}experts.{e}.", c.moe_inter) for e in range(c.n_experts)]
            w.shared = mlp(m + "shared_experts.", c.moe_inter * c.n_shared) if c.n_shared else None
        else:
            w.mlp = SimpleNamespace(gate=W(m + "gate_proj.weight", (c.inter, c.D)),
                                    up=W(m + "up_proj.weight", (c.inter, c.D)),
                                    down=W(m + "down_proj.weight", (c.D, c.inter)))
        return w

    def _weight(self, name, shape):
        """A projection weight: the dequantized float64 tensor; under REF-1 an FP8 tensor also
        keeps its e4m3 values and block scales for fp8_gemm (a Weight-like namespace)."""
        t = self.ckpt.get(name, shape)
        if self.ref1:
            raw = self.ckpt.get_fp8(name)
            if raw is not None:
                return Fp8Weight(t, *raw)
        return t

    def proj(self, x, w):
        """x [S, in] times a projection weight [out, in] (MODEL §3.5/§3.6): float64 GEMM; under
        REF-1 fp8_gemm (act_quant, block-promoted sums, bf16 out) for FP8 weights and a bf16
        output for others."""
        if isinstance(w, Fp8Weight):
            return r1.fp8_gemm(x, w.wq, w.scale)
        return self.rnd(x @ w.T)

    def swiglu(self, x, w):
        """SwiGLU MLP (MODEL §8.1): down( silu(gate x) * up x ); x [S, D]; REF-1 rounds the
        product to bf16."""
        mid = self.rnd(torch.nn.functional.silu(self.proj(x, w.gate)) * self.proj(x, w.up))
        return self.proj(mid, w.down)

    def reset(self):
        """Forget all cached positions (start a new sequence at position 0)."""
        self.pos = 0
        self.caches = [SimpleNamespace(K=None, V=None, ckv=None, kr=None, kI=None, kS=None)
                       for _ in range(self.cfg.n_layers)]

    # ------------------------------------------------------------------ forward
    def forward(self, ids, pins=None):
        """Run ids (list of int) at positions self.pos.. ; returns an OrderedDict of dump paths
        (without leading '/') -> tensors whose first dim is the S rows of this call, in forward
        order. pins: optional {"topk": {layer: LongTensor [n, k]}, "experts": {layer: [n, K]}}
        indexed by absolute position."""
        c = self.cfg
        ids_t = torch.tensor(ids, dtype=torch.long)
        P, S = self.pos, len(ids)
        pos = torch.arange(P, P + S)
        rec = OrderedDict()
        rnd = self.rnd
        h = rnd(self.embed[ids_t])
        rec["embed"] = h
        for i, w in enumerate(self.layers):
            r = lambda name, t, i=i: rec.__setitem__(f"layers/{i:02d}/{name}", t)
            # REF-1 (MODEL §4.1): normalise the un-rounded sum, store the residual as bf16
            x = rnd(rms_norm(h, w.attn_norm, c.eps))
            h = rnd(h)
            r("attn_norm", x)
            a = self._attention(i, w, x, pos, r, pins)
            o = self.proj(a.reshape(S, -1), w.o)
            r("o_proj", o)
            h = h + o
            x = rnd(rms_norm(h, w.ffn_norm, c.eps))
            h = rnd(h)
            r("ffn_norm", x)
            f = self._moe(i, w, x, pos, r, pins) if c.is_moe(i) else self.swiglu(x, w.mlp)
            r("ffn_out", f)
            h = h + f
            r("residual", rnd(h))
        fn = rnd(rms_norm(h, self.norm, c.eps))
        rec["final_norm"] = fn
        rec["logits"] = fn @ self.head.T
        self.pos += S
        return rec

    def _attention(self, i, w, x, pos, r, pins):
        """MLA (MODEL §6) for x [S, D]; returns the per-head output O [S, H, d_v]."""
        c, cache = self.cfg, self.caches[i]
        S, P = x.shape[0], int(pos[0])
        E = P + S
        rnd, ref1 = self.rnd, self.ref1
        qr = rnd(rms_norm(self.proj(x, w.q_a), w.q_norm, c.eps))      # [S, r_q]
        q = self.proj(qr, w.q_b).view(S, c.H, c.d_n + c.d_r)           # nope then rope (§2.3)
        q_nope = q[..., :c.d_n]
        q_rope = rnd(rope(q[..., c.d_n:], pos, self.freqs, interleaved=True))
        z = self.proj(x, w.kv_a)                                       # [S, r_kv + d_r]
        ckv = rnd(rms_norm(z[:, :c.r_kv], w.kv_norm, c.eps))
        k_rope = rnd(rope(z[:, c.r_kv:], pos, self.freqs, interleaved=True))   # shared by all heads
        for name, t in (("q_latent", qr), ("q_nope", q_nope), ("q_rope", q_rope),
                        ("kv_latent", ckv), ("k_rope", k_rope)):
            r(name, t)
        if ref1:                                                       # FP8-simulated latent (§6.1)
            ckv = r1.fp8_roundtrip(ckv)
            r("kv_latent_fp8", ckv)
        s_att = float(np.float32(self.s_att)) if ref1 else self.s_att  # REF multiplies by fp32
        # allowed[s, u]: may query s attend to key u (causal; DSA: the selected set)
        allowed = torch.arange(E)[None, :] <= pos[:, None]
        if self.attn == "sparse":
            allowed = self._indexer(i, w, x, qr, pos, r, pins)
        cat = lambda old, new: new if old is None else torch.cat([old, new], 0)
        if self.mla == "naive":                                        # MODEL §6.3, MHA mode
            if ref1:                                                   # fp8_gemm(wkv_b), bf16
                kv = self.proj(ckv, w.kv_b).view(S, c.H, c.d_n + c.d_v)
                k_nope, v = kv[..., :c.d_n], kv[..., c.d_n:]
            else:
                k_nope = torch.einsum("sc,hdc->shd", ckv, w.W_UK)
                v = torch.einsum("sc,hec->she", ckv, w.W_UV)
            K = torch.cat([k_nope, k_rope[:, None, :].expand(S, c.H, c.d_r)], -1)
            cache.K, cache.V = cat(cache.K, K), cat(cache.V, v)       # [E, H, d_qk], [E, H, d_v]
            Q = torch.cat([q_nope, q_rope], -1)
            A = rnd(rnd(torch.einsum("shd,uhd->shu", Q, cache.K)) * s_att)
            A = A.masked_fill(~allowed[:, None, :], NEG_INF)
            O = rnd(torch.einsum("shu,uhe->she", rnd(torch.softmax(A, -1)), cache.V))
        else:                                                          # MODEL §6.4, MQA mode
            cache.ckv, cache.kr = cat(cache.ckv, ckv), cat(cache.kr, k_rope)   # [E, r_kv], [E, d_r]
            # REF-1 takes W_UK / W_UV from weight_dequant: bf16(code*scale) (MODEL §6.6); exact: as is
            q_abs = rnd(torch.einsum("shd,hdc->shc", q_nope, rnd(w.W_UK)))  # W_UK^T q_nope
            A = rnd(rnd(rnd(torch.einsum("shc,uc->shu", q_abs, cache.ckv))
                        + rnd(torch.einsum("shr,ur->shu", q_rope, cache.kr))) * s_att)
            A = A.masked_fill(~allowed[:, None, :], NEG_INF)
            o_lat = rnd(torch.einsum("shu,uc->shc", rnd(torch.softmax(A, -1)), cache.ckv))
            O = rnd(torch.einsum("shc,hec->she", o_lat, rnd(w.W_UV)))
        r("attn_out", O)
        return O

    def _indexer(self, i, w, x, qr, pos, r, pins):
        """Lightning indexer (MODEL §7) -> allowed mask [S, E] of the selected positions."""
        c, cache = self.cfg, self.caches[i]
        S, E = x.shape[0], int(pos[-1]) + 1
        rnd = self.rnd
        q = self.proj(qr, w.idx_wq).view(S, c.H_I, c.d_I)              # rope part FIRST (§2.3)
        q = torch.cat([rnd(rope(q[..., :c.d_r], pos, self.freqs, c.idx_interleave)), q[..., c.d_r:]], -1)
        q = rnd(q @ self.hadamard)                                     # H symmetric: (H q_j) per head
        k = rnd(layer_norm(self.proj(x, w.idx_wk), w.idx_kn_w, w.idx_kn_b, c.eps))  # [S, d_I]
        k = torch.cat([rnd(rope(k[:, :c.d_r], pos, self.freqs, c.idx_interleave)), k[:, c.d_r:]], -1)
        k = rnd(k @ self.hadamard)
        wts = (x @ w.idx_wp.T) * c.H_I ** -0.5 * c.d_I ** -0.5           # [S, H_I]
        cat = lambda old, new: new if old is None else torch.cat([old, new], 0)
        if self.ref1:                                                  # FP8 q/k, ue8m0 (§7.3, §7.5)
            k_fp8, k_s = r1.act_quant(k)                               # [S, d_I], [S, 1]
            q_fp8, q_s = r1.act_quant(q)                               # [S, H_I, d_I], [S, H_I, 1]
            cache.kI, cache.kS = cat(cache.kI, k_fp8), cat(cache.kS, k_s[:, 0])
            dots = torch.relu(torch.einsum("sjd,ud->sju", q_fp8, cache.kI))
            scores = torch.einsum("sj,sju->su", wts * q_s[..., 0], dots) * cache.kS[None, :]
        else:
            cache.kI = cat(cache.kI, k)                                # [E, d_I]
            dots = torch.relu(torch.einsum("sjd,ud->sju", q, cache.kI))     # [S, H_I, E]
            scores = torch.einsum("sj,sju->su", wts, dots)
        causal = torch.arange(E)[None, :] <= pos[:, None]
        scores = scores.masked_fill(~causal, NEG_INF)
        topk = torch.full((S, c.index_topk), -1, dtype=torch.long)
        allowed = torch.zeros(S, E, dtype=torch.bool)
        for s in range(S):
            t = int(pos[s])
            k_eff = min(c.index_topk, t + 1)
            if pins is not None and "topk" in pins:
                sel = pins["topk"][i][t]
                sel = sel[sel >= 0]
                if sel.numel() != k_eff or int(sel.max()) > t or sel.unique().numel() != k_eff:
                    raise CheckpointError(f"pin file: layers/{i:02d}/indexer_topk row {t}: "
                                          f"need {k_eff} distinct positions in 0..{t}")
            else:
                sel = rank_desc(scores[s:s + 1, :t + 1], k_eff)[0]    # all finite (u <= t)
            sel = torch.sort(sel).values
            topk[s, :k_eff] = sel
            allowed[s, sel] = True
        for name, t in (("indexer_q", q), ("indexer_k", k), ("indexer_weights", wts),
                        ("indexer_scores", scores), ("indexer_topk", topk)):
            r(name, t)
        return allowed

    def _moe(self, i, w, x, pos, r, pins):
        """Routed + shared experts (MODEL §8.2) for x [S, D] -> [S, D]."""
        c = self.cfg
        S = x.shape[0]
        logits = x @ w.gate.T                                          # [S, N_E]
        sig = torch.sigmoid(logits)
        z = sig + w.bias                                               # selection scores only
        per = c.n_experts // c.n_group
        zg = z.view(S, c.n_group, per)
        gscore = zg.topk(min(2, per), dim=-1).values.sum(-1)           # [S, n_group]
        keep = rank_desc(gscore, c.topk_group)                         # lower group wins ties
        gmask = torch.zeros(S, c.n_group, dtype=torch.bool).scatter_(1, keep, True)
        z = zg.masked_fill(~gmask[:, :, None], NEG_INF).view(S, c.n_experts)
        if pins is not None and "experts" in pins:
            ids = pins["experts"][i][pos]
            bad = (ids < 0) | (ids >= c.n_experts)
            if bool(bad.any()) or any(row.unique().numel() != c.K for row in ids):
                raise CheckpointError(f"pin file: layers/{i:02d}/expert_ids: need {c.K} distinct "
                                      f"ids in 0..{c.n_experts - 1} per row")
        else:
            ids = rank_desc(z, c.K)                                    # lower id wins ties
        ids = torch.sort(ids, dim=-1).values
        wts = sig.gather(1, ids)                                       # unbiased sigmoid
        if c.norm_topk:
            wts = wts / wts.sum(-1, keepdim=True)
        wts = wts * c.route_scale
        for name, t in (("router_logits", logits), ("router_scores", z),
                        ("expert_ids", ids), ("expert_weights", wts)):
            r(name, t)
        y = torch.zeros_like(x)
        for e in range(c.n_experts):                                   # ascending expert id
            rows, slot = (ids == e).nonzero(as_tuple=True)
            if rows.numel():
                y[rows] += wts[rows, slot, None] * self.swiglu(x[rows], w.experts[e])
        if w.shared is not None:
            y = y + self.swiglu(x, w.shared)
        return self.rnd(y)                                             # REF-1: fp32 sum stored bf16
