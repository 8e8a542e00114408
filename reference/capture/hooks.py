"""Capture: forward hooks on a DeepSeek V3.2 module tree that record the dump tensors.

    cap = Capture(model, "official", config)     # or "hf", or a name-map dict (names.py)
    model(tokens_prefill); model(next_token) ... # any number of calls, batch size 1
    cap.write("torch.h5", ids, attn="sparse", mla="naive", prefill=len(prefill_ids))
    cap.remove()

One forward call of the root module is one "call" of the dump (rows are concatenated across
calls, positions continuing), as with `dsv32 run` prefill + decode. Tensors are stored as float32
(index tensors int32) through reference/dump.py, so `dsv32 verify` reads them like any dump.
"""
import json
import os
import re
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dump  # noqa: E402  (reference/dump.py)

from .names import NAME_MAPS  # noqa: E402


def _shape_constants(cfg):
    """H, d_n, d_r, d_v, H_I, d_I, index_topk from an HF config.json dict or official ModelArgs
    fields (n_heads, ...); missing indexer fields are fine for trees without an indexer."""
    def get(*keys, default=None):
        for k in keys:
            if k in cfg and cfg[k] is not None:
                return cfg[k]
        if default is None:
            raise ValueError(f"capture config: none of {keys} given")
        return default
    return dict(H=get("num_attention_heads", "n_heads"), d_n=get("qk_nope_head_dim"),
                d_r=get("qk_rope_head_dim"), d_v=get("v_head_dim"),
                H_I=get("index_n_heads", default=1), d_I=get("index_head_dim", default=1),
                index_topk=get("index_topk", default=0))


class _HookState:
    def __init__(self, consts):
        self.__dict__.update(consts)
        self.rows_before = 0


class Capture:
    def __init__(self, model, name_map="official", config=None):
        """model: the root nn.Module (its forward is one call); name_map: a key of NAME_MAPS or
        a dict like names.OFFICIAL; config: dict of config.json / ModelArgs fields (or a path)."""
        if isinstance(name_map, str):
            if name_map not in NAME_MAPS:
                raise ValueError(f"capture: unknown name map {name_map!r} (have {sorted(NAME_MAPS)})")
            name_map = NAME_MAPS[name_map]
        if isinstance(config, str):
            with open(config) as f:
                self.config_text = f.read()
            config = json.loads(self.config_text)
        else:
            self.config_text = json.dumps(config or {})
        self.state = _HookState(_shape_constants(config or {}))
        self.coll = dump.Collector()
        self.rec = None
        self.skipped = set()           # dump names an extractor declined (e.g. last-row logits)
        self.dtypes = set()            # floating dtypes of the captured tensors (for numerics)
        self.handles = []
        pats = [(re.compile("^" + re.escape(p).replace(r"\{layer\}", r"(\d+)") + "$"), entries)
                for p, entries in name_map.items()]
        matched = 0
        for name, mod in model.named_modules():
            for rx, entries in pats:
                m = rx.match(name)
                if m:
                    layer = int(m.group(1)) if m.groups() else None
                    self.handles.append(mod.register_forward_hook(self._hook(entries, layer)))
                    matched += 1
        if matched == 0:
            raise ValueError("capture: no module of the tree matches the name map "
                             "(wrong map? see reference/capture/names.py)")
        self.handles.append(model.register_forward_pre_hook(lambda m, a: self._begin()))
        self.handles.append(model.register_forward_hook(lambda m, a, o: self._end()))

    def _hook(self, entries, layer):
        def fn(mod, inputs, out):
            if self.rec is None:
                return
            for names, extract in entries:
                with torch.no_grad():
                    got = extract(self.state, mod, inputs, out)
                if got is None:
                    self.skipped.update(names)
                    continue
                for n, t in zip(names, got):
                    path = n if layer is None else f"layers/{layer:02d}/{n}"
                    if path in self.rec:
                        raise ValueError(f"capture: {path} produced twice in one call "
                                         "(two modules match the same pattern?)")
                    t = t.detach().cpu()
                    if t.is_floating_point():
                        self.dtypes.add(t.dtype)
                    self.rec[path] = t.to(torch.float64) if t.is_floating_point() else t
        return fn

    def _begin(self):
        self.rec = OrderedDict()

    def _end(self):
        rec, self.rec = self.rec, None
        if not rec:
            return
        rows = {t.shape[0] for t in rec.values()}
        if len(rows) != 1:
            raise ValueError(f"capture: tensors of one call have different row counts {sorted(rows)}")
        self.coll.add(rec)
        self.state.rows_before += rows.pop()

    @property
    def names(self):
        """Dump paths captured so far, in forward order."""
        return list(self.coll.order or [])

    def numerics(self):
        """The dump's `numerics` for what was captured: "ref1" when any tensor came out in bf16
        (the REF-1 rounding map: `dsv32 verify` then counts bf16 ULPs and judges provenance on bf16
        storage), "fp64" for a float64 tree, "fp32" otherwise."""
        if torch.bfloat16 in self.dtypes:
            return "ref1"
        return "fp64" if self.dtypes == {torch.float64} else "fp32"

    def write(self, path, ids, *, attn, mla, prefill, numerics=None, producer="reference/capture"):
        """Write the dump for the token ids of every call (list of int); numerics None: numerics()."""
        numerics = numerics or self.numerics()
        if self.coll.order is None:
            raise ValueError("capture: nothing recorded (was the model called after Capture()?)")
        if len(ids) != self.state.rows_before:
            raise ValueError(f"capture: {len(ids)} ids for {self.state.rows_before} captured rows")
        dump.write(path, self.coll, list(ids), attn=attn, mla=mla, prefill=prefill,
                   config_text=self.config_text, numerics=numerics, producer=producer)

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []
