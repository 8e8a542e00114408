#!/usr/bin/python3
"""Self-checks of the float64 reference.

    /usr/bin/python3 reference/selftest.py --model DIR [--seed S] [--threads T]

Unit checks (no checkpoint needed): FP8 e4m3fn table, ragged block dequantization, Hadamard,
YaRN constants against MODEL §1.2/§4.3, tie rule of the top-k helper.
Model checks (float64, on DIR):
  * naive == absorbed MLA: both are the same real-arithmetic function (MODEL §6.4), evaluated with
    different association orders. Each float64 op has relative error <= u = 2^-53 ~ 1.1e-16; a
    length-L reduction is bounded by ~L·u (worst case) and typically ~sqrt(L)·u. With L <= ~512
    here and a handful of layers of mildly conditioned norm/softmax maps, the expected difference is
    ~1e-14..1e-13 relative; the assertion uses TOL = 1e-10 (>= 100x margin), still ~8 orders of
    magnitude below anything a real bug (wrong layout, wrong scale) produces.
  * sparse == dense while every query has t+1 <= index_topk (top-k then selects every causal key).
  * prefill-all == prefill-k + one-at-a-time decode (caches, absolute positions).
  * --pin-from of a run's own dump reproduces that run.
Exit status 0 when everything passes, 1 otherwise.
"""
import argparse
import math
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint import FP8_E4M3_TABLE, Checkpoint, dequantize  # noqa: E402
from model import Model, hadamard, rank_desc, yarn_frequencies  # noqa: E402
import ref1 as r1  # noqa: E402
import dump  # noqa: E402
from run import run  # noqa: E402

TOL = 1e-10
failures = []


def check(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}")
    if not ok:
        failures.append(name)


def rel_err(a, b):
    """max |a - b| / max |b| over finite entries (identical -inf patterns required)."""
    fa, fb = torch.isfinite(a), torch.isfinite(b)
    if not torch.equal(fa, fb):
        return math.inf
    den = b[fb].abs().max().item() or 1.0
    return (a[fa] - b[fb]).abs().max().item() / den


def unit_checks():
    t = FP8_E4M3_TABLE
    check("fp8 table", t[0x7E] == 448 and t[0xFE] == -448 and t[0x01] == 2.0 ** -9
          and t[0x08] == 2.0 ** -6 and t[0x38] == 1.0 and t[0x39] == 1.125
          and math.isnan(t[0x7F]) and math.isnan(t[0xFF]) and np.isnan(t).sum() == 2
          and t[0x80] == 0 and math.copysign(1, t[0x80]) < 0, "448, 2^-9, 1.125, NaN x2, -0")
    w = np.ones((200, 300))
    s = np.arange(6, dtype=np.float64).reshape(2, 3) + 1
    d = dequantize(w, s)
    check("dequant ragged blocks", d[127, 127] == 1 and d[128, 0] == 4 and d[199, 299] == 6
          and d[0, 256] == 3 and d[150, 130] == 5, "[200,300] with [2,3] scales")
    h = hadamard(128)
    pop = torch.tensor([[(-1) ** bin(a & b).count("1") for b in range(128)] for a in range(128)],
                       dtype=torch.float64) / math.sqrt(128)
    check("hadamard", torch.equal(h, pop) and torch.allclose(h @ h, torch.eye(128, dtype=h.dtype),
                                                             atol=1e-14), "Sylvester, orthogonal")
    rs = dict(type="yarn", factor=40, original_max_position_embeddings=4096, beta_fast=32,
              beta_slow=1, mscale=1.0)
    f, msc = yarn_frequencies(64, 10000.0, rs)
    s_att = 192 ** -0.5 * msc * msc
    ok = (abs(s_att - 0.1352337788608801) < 1e-15 and abs(f[16].item() / 5.5e-3 - 1) < 1e-6
          and abs(f[23].item() / 3.333804e-05 - 1) < 1e-6
          and abs(f[10].item() / 10000.0 ** (-20 / 64) - 1) < 1e-15
          and abs(f[31].item() / 3.333804e-06 - 1) < 1e-6)
    check("yarn constants", ok, f"s_att={s_att!r}, f'16={f[16].item():.7e}, f'23={f[23].item():.7e}")
    sc = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0, float("-inf")]], dtype=torch.float64)
    check("tie rule", rank_desc(sc, 4).tolist() == [[1, 2, 4, 3]], "score desc, lower index wins")
    ref1_unit_checks()


def ref1_unit_checks():
    """REF-1 rounding helpers (ref1.py) against independent statements of the same rules."""
    x = torch.randn(20000, dtype=torch.float32) * 3
    check("ref1 bf16", torch.equal(r1.bf16(x.to(torch.float64)), x.to(torch.bfloat16).to(torch.float64)),
          "exact RNE == torch's fp32 -> bf16 cast")
    t = torch.tensor(FP8_E4M3_TABLE[:0x7F], dtype=torch.float64)        # +0 .. 448, increasing
    v = torch.cat([(t[:-1] + t[1:]) / 2, torch.rand(20000, dtype=torch.float64) * 448])
    i = torch.searchsorted(t, v).clamp(1, 0x7E)
    lo, hi = t[i - 1], t[i]
    near = torch.where(v - lo < hi - v, lo, torch.where(hi - v < v - lo, hi,
                                                        torch.where((i - 1) % 2 == 0, lo, hi)))
    check("ref1 e4m3", torch.equal(r1.e4m3(v), near) and torch.equal(r1.e4m3(-v), -near),
          "nearest code, ties to even mantissa")
    # MODEL §3.4 by hand: block max 448*2^-3 -> s = 2^-3, code 448; max 100 -> s = 2^-2, -400 is a
    # tie -> -384; max 449 -> s = 2 (next power of two); zeros -> s = 2^ceil(log2(1e-4/448)) = 2^-22.
    a = torch.zeros(2, 192, dtype=torch.float64)
    a[0, 0], a[0, 1], a[1, 0], a[1, 128] = 56, 0.3, -100, 449
    q, s = r1.act_quant(a)
    check("ref1 act_quant", s.tolist() == [[2.0 ** -3, 2.0 ** -22], [0.25, 2.0]]
          and q[0, 0] == 448 and q[0, 1] == 2.5 and q[1, 0] == -384 and q[1, 128] == 224,
          "ue8m0 scales, RNE codes, ragged block")


def logits_of(recs):
    return torch.cat([r["logits"] for r in recs], 0)


def model_checks(ckpt, seed):
    torch.manual_seed(seed)
    model = Model(ckpt)
    c = model.cfg
    memo = {}

    def go(attn, mla, ids, prefill):
        """Per-call records of one run (memoized: several checks share runs)."""
        key = (attn, mla, len(ids), prefill)
        if key not in memo:
            model.set_mode(attn, mla)
            memo[key] = run(model, ids, prefill)
        return memo[key]
    sparse = c.has_indexer
    k = c.index_topk if sparse else 32
    n_short, n_long = k, k + 16                   # n_long > index_topk: selection is active
    ids_long = torch.randint(0, c.vocab, (n_long,)).tolist()
    ids_short = ids_long[:n_short]
    attns = ["dense", "sparse"] if sparse else ["dense"]
    is_sel = lambda p: p.endswith("indexer_topk") or p.endswith("expert_ids")

    # naive vs absorbed (one prefill of all n_long ids)
    for attn in attns:
        a, b = go(attn, "naive", ids_long, n_long), go(attn, "absorbed", ids_long, n_long)
        e = rel_err(logits_of(a), logits_of(b))
        eo = max(rel_err(a[0][p], b[0][p]) for p in a[0] if p.endswith("attn_out"))
        same_sel = all(torch.equal(a[0][p], b[0][p]) for p in a[0] if is_sel(p))
        check(f"naive == absorbed ({attn}, n={n_long})", e < TOL and eo < TOL and same_sel,
              f"logits rel err {e:.2e}, attn_out rel err {eo:.2e}, same selections {same_sel}")

    if sparse:
        for mla in ("naive", "absorbed"):
            d = go("dense", mla, ids_short, n_short // 2)
            s = go("sparse", mla, ids_short, n_short // 2)
            e = rel_err(logits_of(s), logits_of(d))
            check(f"sparse == dense for t+1 <= index_topk ({mla}, n={n_short}, prefill "
                  f"{n_short // 2} + decode)", e < TOL, f"logits rel err {e:.2e}")
        d = go("dense", "absorbed", ids_long, n_long)
        s = go("sparse", "absorbed", ids_long, n_long)
        counts = [(s[0][f"layers/{l:02d}/indexer_topk"] >= 0).sum(1).tolist()
                  for l in range(c.n_layers)]
        ok = all(cn == [min(k, t + 1) for t in range(n_long)] for cn in counts)
        diff = (logits_of(s)[k:] - logits_of(d)[k:]).abs().max().item()
        check(f"sparse selects min(k, t+1) and changes the result past k (n={n_long})",
              ok and diff > 1e-6, f"max |sparse - dense| logits at t >= k: {diff:.3e}")

    # prefill-all vs prefill-k + decode
    pre = n_long // 3
    for attn in attns:
        for mla in ("naive", "absorbed"):
            full, steps = go(attn, mla, ids_long, n_long), go(attn, mla, ids_long, pre)
            e = rel_err(logits_of(steps), logits_of(full))
            same = all(torch.equal(torch.cat([r[p] for r in steps]), full[0][p])
                       for p in full[0] if is_sel(p))
            check(f"prefill {n_long} == prefill {pre} + decode ({attn}, {mla})",
                  e < TOL and same, f"logits rel err {e:.2e}, same selections {same}")

    # --pin-from own dump reproduces the run
    attn = attns[-1]
    recs = go(attn, "absorbed", ids_long, pre)
    coll = dump.Collector()
    for r in recs:
        coll.add(r)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "self.h5")
        dump.write(path, coll, ids_long, attn=attn, mla="absorbed", prefill=pre,
                   config_text=ckpt.config_text)
        moe = [l for l in range(c.n_layers) if c.is_moe(l)]
        pins = dump.read_pins(path, ids_long, c.n_layers, sparse, bool(moe), moe,
                              getattr(c, "index_topk", 0), getattr(c, "K", 0))
    model.set_mode(attn, "absorbed")
    pinned = run(model, ids_long, pre, pins=pins)
    e = rel_err(logits_of(pinned), logits_of(recs))
    check(f"--pin-from own dump reproduces the run ({attn}, absorbed)", e == 0.0,
          f"logits rel err {e:.2e}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, metavar="DIR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    unit_checks()
    model_checks(Checkpoint(a.model), a.seed)
    print(f"{'ALL PASS' if not failures else 'FAILED: ' + ', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
