"""A trainable float32 DeepSeek-V3.2 forward pass for scripts/train_tiny.py.

The math is reference/model.py's (MODEL §4-§8) batched over B sequences of S tokens at positions
0..S-1, built from that file's helpers (rms_norm, layer_norm, yarn_frequencies, rope, hadamard):
MLA in its naive (MHA) form, the lightning indexer, sigmoid-routed group-limited MoE with a shared
expert, SwiGLU. Parameters are kept under their Hugging Face tensor names, so export is a rename-
free write.

Compact vocabulary: the embedding and head hold only `n_kept` rows (the tokens seen in training).
Every other token has an all-zero embedding row (its input contributes nothing) and an all-zero
head row (its logit is exactly 0). The loss keeps those n_rest tokens in the softmax at logit 0
(nll()), so the trained loss equals the exported full-vocabulary model's loss.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from model import hadamard, layer_norm, rank_desc, rms_norm, rope, yarn_frequencies  # noqa: E402


UNIGRAM_DIM_VALUE = 4.0


def init_params(cfg, n_kept, seed, unigram_logp=None):
    """{hf_name: float32 tensor} drawn as model/synth.cpp draws its presets (projections
    N(0, 1/in), norms 1), except: embedding N(0, 1), head 0, the residual-writing projections
    (o_proj, down_proj) scaled by 1/sqrt(2 * layers), the indexer LayerNorm bias 0.

    unigram_logp [n_kept] (log-probabilities of the kept tokens): start from the unigram model
    instead of the uniform one. Embedding column 0 is set to a constant, so the final hidden
    state has a steady component along it, and head column 0 maps that component to logits
    log p(v) + log(n_rest) + 5: every other-token (logit 0) then holds ~e^-5 of the mass at
    step 0, instead of the 72 % a zero head leaves it."""
    g = torch.Generator().manual_seed(seed)
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    rq, rkv = cfg["q_lora_rank"], cfg["kv_lora_rank"]
    HI, dI = cfg["index_n_heads"], cfg["index_head_dim"]
    L = cfg["num_hidden_layers"]
    out_scale = 1.0 / math.sqrt(2 * L)
    p = {}

    def mat(name, rows, cols, scale=1.0):
        p[name] = torch.randn(rows, cols, generator=g) * (scale / math.sqrt(cols))

    def ones(name, n):
        p[name] = torch.ones(n)

    p["model.embed_tokens.weight"] = torch.randn(n_kept, D, generator=g)
    for i in range(L):
        a = f"model.layers.{i}."
        ones(a + "input_layernorm.weight", D)
        mat(a + "self_attn.q_a_proj.weight", rq, D)
        ones(a + "self_attn.q_a_layernorm.weight", rq)
        mat(a + "self_attn.q_b_proj.weight", H * (dn + dr), rq)
        mat(a + "self_attn.kv_a_proj_with_mqa.weight", rkv + dr, D)
        ones(a + "self_attn.kv_a_layernorm.weight", rkv)
        mat(a + "self_attn.kv_b_proj.weight", H * (dn + dv), rkv)
        mat(a + "self_attn.o_proj.weight", D, H * dv, out_scale)
        q = a + "self_attn.indexer."
        mat(q + "wq_b.weight", HI * dI, rq)
        mat(q + "wk.weight", dI, D)
        ones(q + "k_norm.weight", dI)
        p[q + "k_norm.bias"] = torch.zeros(dI)
        mat(q + "weights_proj.weight", HI, D)
        ones(a + "post_attention_layernorm.weight", D)

        def mlp(m, inter):
            mat(m + "gate_proj.weight", inter, D)
            mat(m + "up_proj.weight", inter, D)
            mat(m + "down_proj.weight", D, inter, out_scale)
        if is_moe(cfg, i):
            mat(a + "mlp.gate.weight", cfg["n_routed_experts"], D)
            p[a + "mlp.gate.e_score_correction_bias"] = torch.zeros(cfg["n_routed_experts"])
            for e in range(cfg["n_routed_experts"]):
                mlp(f"{a}mlp.experts.{e}.", cfg["moe_intermediate_size"])
            mlp(a + "mlp.shared_experts.", cfg["moe_intermediate_size"] * cfg["n_shared_experts"])
        else:
            mlp(a + "mlp.", cfg["intermediate_size"])
    ones("model.norm.weight", D)
    p["lm_head.weight"] = torch.zeros(n_kept, D)
    if unigram_logp is not None:
        n_rest = cfg["vocab_size"] - n_kept
        x0 = UNIGRAM_DIM_VALUE / math.sqrt((UNIGRAM_DIM_VALUE ** 2 + D - 1) / D)   # after rms_norm
        p["model.embed_tokens.weight"][:, 0] = UNIGRAM_DIM_VALUE
        logits = torch.as_tensor(unigram_logp, dtype=torch.float32) + math.log(max(n_rest, 1)) + 5.0
        p["lm_head.weight"][:, 0] = logits / x0
    return p


def is_moe(cfg, layer):
    return cfg.get("n_routed_experts", 0) > 0 and layer >= cfg.get("first_k_dense_replace", 0)


def is_indexer(name):
    return ".self_attn.indexer." in name


def is_router_bias(name):
    return name.endswith("e_score_correction_bias")


class TinyV32:
    """Forward pass over params (a {name: tensor} dict, shared with the optimizer)."""

    def __init__(self, cfg, params, n_kept):
        self.cfg, self.p, self.n_kept = cfg, params, n_kept
        self.n_rest = cfg["vocab_size"] - n_kept
        self.eps = cfg["rms_norm_eps"]
        self.freqs, msc = yarn_frequencies(cfg["qk_rope_head_dim"], cfg["rope_theta"],
                                           cfg.get("rope_scaling"))
        self.s_att = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5 * msc * msc
        self.had = hadamard(cfg["index_head_dim"]).float()
        self.topk = cfg["index_topk"]

    def _rope(self, x, pos, interleaved):
        """rope() of reference/model.py on x [B, S, ..., d] (it wants positions first)."""
        return rope(x.transpose(0, 1), pos, self.freqs, interleaved).transpose(0, 1).to(x.dtype)

    def forward(self, ids, attn="dense", want_attn=False, head=True):
        """ids [B, S] compact ids (n_kept = the zero-embedding 'other' token) -> (logits [B, S,
        n_kept] of the kept tokens, or None when not head, aux). aux["kl"]: the indexers' KL loss
        (a sum over layers of a mean over queries) when want_attn; aux["load"]: tokens per expert
        of each MoE layer; aux["recall"]: per layer (dense + want_attn), the share of the
        head-summed attention that the indexer's top-k captures."""
        p, cfg = self.p, self.cfg
        B, S = ids.shape
        pos = torch.arange(S)
        emb = torch.cat([p["model.embed_tokens.weight"], torch.zeros(1, cfg["hidden_size"])], 0)
        h = F.embedding(ids, emb)
        aux = {"kl": 0.0, "load": {}, "recall": []}
        causal = pos[None, :] <= pos[:, None]                         # [S(query), S(key)]
        for i in range(cfg["num_hidden_layers"]):
            a = f"model.layers.{i}."
            x = rms_norm(h, p[a + "input_layernorm.weight"], self.eps)
            h = h + self._attention(a, x, pos, causal, attn, want_attn, aux)
            x = rms_norm(h, p[a + "post_attention_layernorm.weight"], self.eps)
            h = h + (self._moe(a, x, aux, i) if is_moe(cfg, i) else self._swiglu(a + "mlp.", x))
        if not head:
            return None, aux
        fn = rms_norm(h, p["model.norm.weight"], self.eps)
        return fn @ p["lm_head.weight"].T, aux

    def nll(self, logits, targets):
        """Per-token negative log-likelihood [B, S] under the full vocabulary: the n_rest tokens
        outside the kept set have logit 0 each (zero head rows), so they add n_rest * e^0 to the
        partition function, and a target among them (compact id n_kept) scores logit 0."""
        lse = torch.logsumexp(logits, -1)
        if self.n_rest:
            lse = torch.logaddexp(lse, torch.tensor(math.log(self.n_rest)))
        other = targets == self.n_kept
        tgt = logits.gather(-1, targets.clamp(max=self.n_kept - 1)[..., None])[..., 0]
        return lse - tgt.masked_fill(other, 0.0)

    def _attention(self, a, x, pos, causal, attn, want_attn, aux):
        p, c = self.p, self.cfg
        B, S, _ = x.shape
        H, dn, dr, dv = c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
        rkv = c["kv_lora_rank"]
        s = a + "self_attn."
        qr = rms_norm(x @ p[s + "q_a_proj.weight"].T, p[s + "q_a_layernorm.weight"], self.eps)
        q = (qr @ p[s + "q_b_proj.weight"].T).view(B, S, H, dn + dr)
        q_rope = self._rope(q[..., dn:], pos, True)
        z = x @ p[s + "kv_a_proj_with_mqa.weight"].T
        ckv = rms_norm(z[..., :rkv], p[s + "kv_a_layernorm.weight"], self.eps)
        k_rope = self._rope(z[..., rkv:], pos, True)                   # [B, S, dr], shared
        kv = (ckv @ p[s + "kv_b_proj.weight"].T).view(B, S, H, dn + dv)
        k_nope, v = kv[..., :dn], kv[..., dn:]
        A = (torch.einsum("bshd,buhd->bhsu", q[..., :dn], k_nope)
             + torch.einsum("bshd,bud->bhsu", q_rope, k_rope)) * self.s_att
        allowed = causal[None]                                         # [1 or B, S, S]
        scores = None
        if attn == "sparse" or want_attn:
            scores = self._indexer(s, x.detach(), qr.detach(), pos, causal)
        if attn == "sparse":
            allowed = self._select(scores.detach(), causal)
        A = A.masked_fill(~allowed[:, None], float("-inf"))
        P = torch.softmax(A, -1)
        O = torch.einsum("bhsu,buhe->bshe", P, v).reshape(B, S, H * dv)
        if want_attn:
            # Target: the head-summed attention, L1-normalised (each head's row sums to 1), over
            # the keys the main attention saw; the indexer's softmax over the same keys.
            target = P.detach().sum(1) / H                              # [B, S, S]
            logq = torch.log_softmax(scores.masked_fill(~allowed, float("-inf")), -1)
            logp = torch.log(target.clamp_min(1e-30))
            kl = (target * (logp - logq.masked_fill(~allowed, 0.0))).masked_fill(~allowed, 0.0).sum(-1)
            aux["kl"] = aux["kl"] + kl.mean()
            if attn == "dense":                                         # recall of the top-k
                sel = self._select(scores.detach(), causal)
                aux["recall"].append(float((target * sel).sum(-1).mean()))
        return O @ p[s + "o_proj.weight"].T

    def _indexer(self, s, x, qr, pos, causal):
        """Index scores [B, S, S] (MODEL §7): sum_j w_j relu(q_j . k_u), causal-masked to -inf."""
        p, c = self.p, self.cfg
        B, S, _ = x.shape
        HI, dI, dr = c["index_n_heads"], c["index_head_dim"], c["qk_rope_head_dim"]
        inter = bool(c.get("indexer_rope_interleave", False))
        n = s + "indexer."
        q = (qr @ p[n + "wq_b.weight"].T).view(B, S, HI, dI)
        q = torch.cat([self._rope(q[..., :dr], pos, inter), q[..., dr:]], -1) @ self.had
        k = layer_norm(x @ p[n + "wk.weight"].T, p[n + "k_norm.weight"], p[n + "k_norm.bias"], self.eps)
        k = torch.cat([self._rope(k[..., :dr], pos, inter), k[..., dr:]], -1) @ self.had
        w = (x @ p[n + "weights_proj.weight"].T) * (HI ** -0.5 * dI ** -0.5)   # [B, S, HI]
        dots = torch.relu(torch.einsum("bsjd,bud->bsju", q, k))
        scores = torch.einsum("bsj,bsju->bsu", w, dots)
        return scores.masked_fill(~causal[None], float("-inf"))

    def _select(self, scores, causal):
        """Mask [B, S, S] of each query's index_topk best keys (all keys when fewer are visible).
        Ties (ReLU makes exact zeros common) go to the lower position, as in reference/model.py
        and the C++ forward pass, so training selects what inference will."""
        B, S, _ = scores.shape
        k = min(self.topk, S)
        idx = rank_desc(scores.reshape(B * S, S), k).view(B, S, k)
        sel = torch.zeros(B, S, S, dtype=torch.bool).scatter_(-1, idx, True)
        return sel & causal[None]

    def _swiglu(self, m, x):
        p = self.p
        return (F.silu(x @ p[m + "gate_proj.weight"].T) * (x @ p[m + "up_proj.weight"].T)) @ p[m + "down_proj.weight"].T

    def _moe(self, a, x, aux, layer):
        """Sigmoid routing with the selection-only bias, group-limited top-K (MODEL §8.2)."""
        p, c = self.p, self.cfg
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        N, E = x.shape[0], c["n_routed_experts"]
        m = a + "mlp."
        sig = torch.sigmoid(x @ p[m + "gate.weight"].T)                # [N, E]
        z = (sig + p[m + "gate.e_score_correction_bias"]).detach()
        G = c["n_group"]
        zg = z.view(N, G, E // G)
        gscore = zg.topk(min(2, E // G), dim=-1).values.sum(-1)
        keep = gscore.topk(c["topk_group"], dim=-1).indices
        gmask = torch.zeros(N, G, dtype=torch.bool).scatter_(1, keep, True)
        z = zg.masked_fill(~gmask[:, :, None], float("-inf")).view(N, E)
        ids = z.topk(c["num_experts_per_tok"], dim=-1).indices
        wts = sig.gather(1, ids)
        if c.get("norm_topk_prob", True):
            wts = wts / wts.sum(-1, keepdim=True)
        wts = wts * c["routed_scaling_factor"]
        y = self._swiglu(m + "shared_experts.", x)
        load = torch.zeros(E)
        for e in range(E):
            rows, slot = (ids == e).nonzero(as_tuple=True)
            load[e] = rows.numel()
            if rows.numel():
                y = y.index_add(0, rows, wts[rows, slot, None] * self._swiglu(f"{m}experts.{e}.", x[rows]))
        aux["load"][layer] = load
        return y.view(shape)
