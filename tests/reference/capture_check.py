#!/usr/bin/python3
"""reference/capture on two naming schemes: a small DeepSeek-V3.2-shaped module tree is built twice
in this file, once with the official inference/model.py module names and once with the Hugging Face
names. Each forward also records, inline and without hooks, the tensors the dump should hold; those
go through reference/dump.py directly. The hook capture of the same run must then verify as
identical (`dsv32 verify --profile bitwise`), tensor for tensor, and a capture of a run with other
weights must fail. Two calls (a prefill, then one decode token) exercise row concatenation and the
indexer's absolute positions.

Why not reference/model.py itself: it is a plain Python class (weights in SimpleNamespaces, the
forward pass one function per block), not an nn.Module tree, so there is nothing to hook.

Usage: capture_check.py DSV32_BIN WORK_DIR
"""
import json
import math
import os
import subprocess
import sys
from collections import OrderedDict

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "reference"))
import dump  # noqa: E402
from capture import Capture  # noqa: E402

BIN, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
F64 = torch.float64
CFG = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, first_k_dense_replace=1,
           num_attention_heads=2, qk_nope_head_dim=4, qk_rope_head_dim=2, v_head_dim=4,
           q_lora_rank=8, kv_lora_rank=6, intermediate_size=12, moe_intermediate_size=6,
           n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, index_n_heads=2,
           index_head_dim=4, index_topk=3, architectures=["DeepseekV32ForCausalLM"])
OFFICIAL = dict(style="official", embed="embed", layers="layers", norm="norm", head="head", attn="attn",
                attn_norm="attn_norm", ffn_norm="ffn_norm", ffn="ffn", wq_a="wq_a", q_norm="q_norm",
                wq_b="wq_b", wkv_a="wkv_a", kv_norm="kv_norm", wkv_b="wkv_b", wo="wo", gate="gate",
                experts="experts", shared="shared_experts", w1="w1", w2="w2", w3="w3")
HF = dict(style="hf", embed="embed_tokens", layers="layers", norm="norm", head="lm_head", attn="self_attn",
          attn_norm="input_layernorm", ffn_norm="post_attention_layernorm", ffn="mlp", wq_a="q_a_proj",
          q_norm="q_a_layernorm", wq_b="q_b_proj", wkv_a="kv_a_proj_with_mqa", kv_norm="kv_a_layernorm",
          wkv_b="kv_b_proj", wo="o_proj", gate="gate", experts="experts", shared="shared_experts",
          w1="gate_proj", w2="down_proj", w3="up_proj")


class RMS(nn.Module):
    """Official style: norm(x, residual) adds first and returns (normed, sum)."""
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(1 + 0.1 * torch.randn(n, dtype=F64))

    def forward(self, x, residual=None):
        if residual is not None:
            x = x + residual
        y = self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        return y if residual is None else (y, x)


def lin(i, o):
    m = nn.Linear(i, o, bias=False, dtype=F64)
    nn.init.normal_(m.weight, std=i ** -0.5)
    return m


def set_(obj, names, role, mod):
    setattr(obj, names[role], mod)


def get(obj, names, role):
    return getattr(obj, names[role])


class Indexer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wq_b, self.wk = lin(c["q_lora_rank"], c["index_n_heads"] * c["index_head_dim"]), lin(16, c["index_head_dim"])
        self.k_norm = nn.LayerNorm(c["index_head_dim"], dtype=F64)
        self.weights_proj = lin(16, c["index_n_heads"])
        self.c, self.k_cache = c, None

    def forward(self, x, qr, start, rec):
        c = self.c
        S = x.shape[1]
        q = self.wq_b(qr)[0].view(S, c["index_n_heads"], c["index_head_dim"])
        k = self.k_norm(self.wk(x))[0]
        self.k_cache = k if start == 0 else torch.cat([self.k_cache, k], 0)
        w = self.weights_proj(x)[0] * c["index_n_heads"] ** -0.5 * c["index_head_dim"] ** -0.5
        rec("indexer_weights", w)
        scores = torch.einsum("sj,sju->su", w, torch.relu(torch.einsum("sjd,ud->sju", q, self.k_cache)))
        E = start + S
        pos = torch.arange(start, E)
        scores = scores.masked_fill(torch.arange(E)[None, :] > pos[:, None], float("-inf"))
        # Like the official code: topk(min(k, end_pos)) of masked scores, in score order.
        sel = scores.topk(min(c["index_topk"], E), dim=-1).indices
        want = torch.full((S, c["index_topk"]), -1, dtype=torch.long)
        for s in range(S):
            row = torch.sort(sel[s][sel[s] <= start + s]).values
            want[s, :row.numel()] = row
        rec("indexer_topk", want)
        return sel[None]


class Attn(nn.Module):
    def __init__(self, c, n):
        super().__init__()
        H, dn, dr, dv = c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
        for role, mod in (("wq_a", lin(16, c["q_lora_rank"])), ("q_norm", RMS(c["q_lora_rank"])),
                          ("wq_b", lin(c["q_lora_rank"], H * (dn + dr))), ("wkv_a", lin(16, c["kv_lora_rank"] + dr)),
                          ("kv_norm", RMS(c["kv_lora_rank"])), ("wkv_b", lin(c["kv_lora_rank"], H * (dn + dv))),
                          ("wo", lin(H * dv, 16))):
            set_(self, n, role, mod)
        self.indexer = Indexer(c)
        self.n, self.c, self.K, self.V = n, c, None, None

    def forward(self, x, start, rec):
        c, n = self.c, self.n
        H, dn, dr, dv = c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
        S = x.shape[1]
        qr = get(self, n, "q_norm")(get(self, n, "wq_a")(x))
        rec("q_latent", qr[0])
        q = get(self, n, "wq_b")(qr)[0].view(S, H, dn + dr)
        rec("q_nope", q[..., :dn])
        kv = get(self, n, "wkv_a")(x)
        ckv = get(self, n, "kv_norm")(kv[..., :c["kv_lora_rank"]])[0]
        kv = kv[0]
        rec("kv_latent", ckv)
        kv_b = get(self, n, "wkv_b")(ckv).view(S, H, dn + dv)
        K = torch.cat([kv_b[..., :dn], kv[:, None, c["kv_lora_rank"]:].expand(S, H, dr)], -1)
        self.K = K if start == 0 else torch.cat([self.K, K], 0)
        self.V = kv_b[..., dn:] if start == 0 else torch.cat([self.V, kv_b[..., dn:]], 0)
        sel = self.indexer(x, qr, start, rec)[0]
        allowed = torch.zeros(S, start + S, dtype=torch.bool)
        for s in range(S):
            allowed[s, sel[s][sel[s] <= start + s]] = True
        A = torch.einsum("shd,uhd->shu", q, self.K) / math.sqrt(dn + dr)
        A = A.masked_fill(~allowed[:, None, :], float("-inf"))
        O = torch.einsum("shu,uhe->she", torch.softmax(A, -1), self.V)
        rec("attn_out", O)
        o = get(self, n, "wo")(O.reshape(1, S, H * dv))
        rec("o_proj", o[0])
        return o


class MLP(nn.Module):
    def __init__(self, d, inter, n):
        super().__init__()
        set_(self, n, "w1", lin(d, inter)), set_(self, n, "w2", lin(inter, d)), set_(self, n, "w3", lin(d, inter))
        self.n = n

    def forward(self, x):
        n = self.n
        return get(self, n, "w2")(torch.nn.functional.silu(get(self, n, "w1")(x)) * get(self, n, "w3")(x))


class Gate(nn.Module):
    def __init__(self, c, style):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c["n_routed_experts"], 16, dtype=F64) * 0.25)
        self.K, self.style = c["num_experts_per_tok"], style

    def forward(self, x):
        s = torch.sigmoid(x @ self.weight.T)
        w, ids = s.topk(self.K, dim=-1)                     # score order, not ascending
        w = w / w.sum(-1, keepdim=True)
        return (w, ids) if self.style == "official" else (ids, w)


class MoE(nn.Module):
    def __init__(self, c, n):
        super().__init__()
        set_(self, n, "gate", Gate(c, n["style"]))
        set_(self, n, "experts", nn.ModuleList([MLP(16, c["moe_intermediate_size"], n)
                                                for _ in range(c["n_routed_experts"])]))
        set_(self, n, "shared", MLP(16, c["moe_intermediate_size"], n))
        self.n, self.rec = n, None

    def forward(self, x):
        n = self.n
        S = x.shape[1]
        flat = x[0]
        w, ids = get(self, n, "gate")(flat)[:: 1 if n["style"] == "official" else -1][:2]
        order = torch.argsort(ids, -1)
        self.rec("expert_ids", torch.gather(ids, -1, order))
        self.rec("expert_weights", torch.gather(w, -1, order))
        y = torch.zeros_like(flat)
        for e, ex in enumerate(get(self, n, "experts")):
            rows, slot = (ids == e).nonzero(as_tuple=True)
            if rows.numel():
                y[rows] += w[rows, slot, None] * ex(flat[rows])
        return (y + get(self, n, "shared")(flat)).view(1, S, 16)


class Block(nn.Module):
    def __init__(self, c, i, n):
        super().__init__()
        set_(self, n, "attn", Attn(c, n))
        set_(self, n, "attn_norm", RMS(16)), set_(self, n, "ffn_norm", RMS(16))
        set_(self, n, "ffn", MLP(16, c["intermediate_size"], n) if i < c["first_k_dense_replace"] else MoE(c, n))
        self.n, self.i = n, i

    def forward(self, x, residual, start, rec):
        n = self.n
        r = lambda name, t: rec(f"layers/{self.i:02d}/{name}", t)
        ffn = get(self, n, "ffn")
        if isinstance(ffn, MoE):
            ffn.rec = r
        if n["style"] == "official":      # (x, residual) threading of inference/model.py
            if residual is None:
                h, residual = get(self, n, "attn_norm")(x), x
            else:
                h, residual = get(self, n, "attn_norm")(x, residual)
        else:                             # HF: the layer takes and returns the residual stream
            residual, h = x, get(self, n, "attn_norm")(x)
        r("attn_norm", h[0])
        a = get(self, n, "attn")(h, start, r)
        if n["style"] == "official":
            h, residual = get(self, n, "ffn_norm")(a, residual)
        else:
            residual = residual + a
            h = get(self, n, "ffn_norm")(residual)
        r("ffn_norm", h[0])
        f = ffn(h)
        r("ffn_out", f[0])
        r("residual", (residual + f)[0])
        return (f, residual) if n["style"] == "official" else residual + f


class Tree(nn.Module):
    def __init__(self, c, n, seed):
        super().__init__()
        torch.manual_seed(seed)
        body = nn.Module() if n["style"] == "hf" else self
        set_(body, n, "embed", nn.Embedding(c["vocab_size"], 16, dtype=F64))
        set_(body, n, "layers", nn.ModuleList([Block(c, i, n) for i in range(c["num_hidden_layers"])]))
        set_(body, n, "norm", RMS(16))
        if n["style"] == "hf":
            self.model = body
        set_(self, n, "head", lin(16, c["vocab_size"]))
        self.n, self.body, self.start, self.direct = n, body, 0, dump.Collector()

    def forward(self, tokens):
        n, rec = self.n, OrderedDict()
        put = rec.__setitem__
        x = get(self.body, n, "embed")(tokens)
        put("embed", x[0])
        residual = None
        for blk in get(self.body, n, "layers"):
            out = blk(x, residual, self.start, put)
            x, residual = out if n["style"] == "official" else (out, None)
        fn = get(self.body, n, "norm")(x, residual)[0] if n["style"] == "official" else get(self.body, n, "norm")(x)
        put("final_norm", fn[0])
        logits = get(self, n, "head")(fn)
        put("logits", logits[0])
        self.start += tokens.shape[1]
        self.direct.add(OrderedDict((k, v.detach()) for k, v in rec.items()))
        return logits


def run(names, seed, ids, prefix):
    tree = Tree(CFG, names, seed)
    cap = Capture(tree, names["style"], CFG)
    with torch.no_grad():
        tree(torch.tensor([ids[:5]]))
        tree(torch.tensor([ids[5:]]))
    cap.remove()
    got, want = os.path.join(WORK, prefix + "_capture.h5"), os.path.join(WORK, prefix + "_direct.h5")
    cap.write(got, ids, attn="sparse", mla="naive", prefill=5)
    dump.write(want, tree.direct, ids, attn="sparse", mla="naive", prefill=5,
               config_text=json.dumps(CFG), producer="capture_check direct")
    return got, want, cap


def verify(a, b, js):
    r = subprocess.run([BIN, "verify", a, b, "--profile", "bitwise", "--json", js], capture_output=True, text=True)
    return r.returncode, json.load(open(js)) if os.path.exists(js) else None, r.stdout + r.stderr


ids = [3, 17, 5, 29, 11, 8]
failures = 0
for names in (OFFICIAL, HF):
    style = names["style"]
    got, want, cap = run(names, 1, ids, style)
    # Everything the tree exposes through modules, per layer; logits only where the head sees all rows.
    per_layer = ["attn_norm", "q_latent", "q_nope", "kv_latent", "indexer_weights", "indexer_topk",
                 "attn_out", "o_proj", "ffn_norm", "ffn_out", "residual"]
    expect = ["embed"] + [f"layers/{i:02d}/{t}" for i in range(2) for t in per_layer] + \
             ["layers/01/expert_ids", "layers/01/expert_weights", "final_norm", "logits"]
    missing = sorted(set(expect) - set(cap.names))
    if missing:
        print(f"FAIL {style}: not captured: {missing}")
        failures += 1
    rc, rep, out = verify(got, want, os.path.join(WORK, style + ".json"))
    compared = {t["name"] for t in rep["tensors"]} if rep else set()
    if rc != 0 or not set(expect) <= compared:
        print(f"FAIL {style}: verify exit {rc}; compared {sorted(compared)}\n{out}")
        failures += 1
    else:
        print(f"PASS {style}: {len(compared)} tensors identical under --profile bitwise")
    # Control: a capture of other weights must not verify.
    other, _, _ = run(names, 2, ids, style + "_other")
    rc, _, out = verify(other, want, os.path.join(WORK, style + "_other.json"))
    if rc != 1:
        print(f"FAIL {style}: a capture of other weights verified with exit {rc}\n{out}")
        failures += 1
sys.exit(1 if failures else 0)
