"""HDF5 dump writer/reader for verify/SCHEMA.md (schema version 1).

Collector gathers the per-call records of Model.forward (OrderedDict path -> [S, ...] tensor),
concatenates them along the token axis and writes:
  float tensors -> float32, index tensors (indexer_topk, expert_ids) -> int32,
  indexer_scores padded to [n, n] with -inf, indexer_topk [n, index_topk] ascending, -1 padded,
  /meta/ids int64 and the /meta attributes; gzip + chunking for large datasets.
"""
import datetime
import os
import subprocess

import h5py
import numpy as np
import torch

SCHEMA_VERSION = 1
VERSION = "0.1.0"
INDEX_NAMES = ("indexer_topk", "expert_ids")


class Collector:
    """Accumulates forward records; `order` is the first call's forward order."""

    def __init__(self):
        self.order, self.parts = None, {}

    def add(self, rec):
        if self.order is None:
            self.order = list(rec.keys())
        for k, v in rec.items():
            self.parts.setdefault(k, []).append(v)

    def tensor(self, path, n):
        """Concatenated rows of `path`; indexer_scores rows are padded to n columns with -inf."""
        parts = self.parts[path]
        if path.endswith("indexer_scores"):
            parts = [torch.nn.functional.pad(p, (0, n - p.shape[1]), value=float("-inf"))
                     for p in parts]
        return torch.cat(parts, 0)


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write(path, coll, ids, *, attn, mla, prefill, config_text, numerics="fp64",
          producer="reference/run.py"):
    """Write the dump for token ids (list of int) from Collector coll. numerics: the /meta
    attribute, "fp64" or "ref1-fp64" (REF-1 rounding points, float64 accumulation); producer:
    the /meta producer attribute (reference/capture writes its own)."""
    n = len(ids)
    with h5py.File(path, "w") as f:
        meta = f.create_group("meta")
        meta.create_dataset("ids", data=np.asarray(ids, dtype=np.int64))
        a = meta.attrs
        a["schema_version"] = np.int64(SCHEMA_VERSION)
        a["producer"] = producer
        a["version"] = VERSION
        a["git_commit"] = git_commit()
        a["time"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        a["attn"], a["mla"], a["numerics"] = attn, mla, numerics
        a["prefill"] = np.int64(prefill)
        a["config_json"] = config_text
        a["n_positions"] = np.int64(n)
        a.create("forward_order", data=list(coll.order),
                 dtype=h5py.string_dtype("utf-8"))                # variable-length str array
        for p in coll.order:
            t = coll.tensor(p, n)
            if t.shape[0] != n:
                raise ValueError(f"{p}: {t.shape[0]} rows for {n} ids")
            name = p.rsplit("/", 1)[-1]
            arr = t.numpy().astype(np.int32 if name in INDEX_NAMES else np.float32)
            big = arr.size >= 4096
            f.create_dataset(p, data=arr, compression="gzip" if big else None,
                             compression_opts=4 if big else None,
                             chunks=_chunks(arr.shape) if big else None)


def _chunks(shape):
    """Row-block chunks of at most ~1 MiB (float32) each."""
    row = int(np.prod(shape[1:], dtype=np.int64)) or 1
    rows = max(1, min(shape[0], (1 << 18) // row))
    inner = list(shape[1:])
    if rows == 1 and row > (1 << 18):                 # very wide rows (logits): split the last dim
        inner[-1] = max(1, (1 << 18) // (row // inner[-1]))
    return tuple([rows] + inner)


def read_pins(path, ids, n_layers, want_topk, want_experts, moe_layers, index_topk, K):
    """Pinned selections from an existing dump: {"topk": {l: LongTensor [n, k]},
    "experts": {l: LongTensor [n, K]}}; raises ValueError naming the file/field on mismatch."""
    n = len(ids)
    pins = {}
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: cannot open ({e})")
    with f:
        if "meta/ids" not in f:
            raise ValueError(f"{path}: missing /meta/ids")
        ref_ids = np.asarray(f["meta/ids"][()]).astype(np.int64).tolist()
        if ref_ids[:n] != list(ids):
            raise ValueError(f"{path}: /meta/ids differ from this run's ids")

        def get(field, width):
            if field not in f:
                raise ValueError(f"{path}: missing {field}")
            d = f[field]
            if d.ndim != 2 or d.shape[0] < n or d.shape[1] != width:
                raise ValueError(f"{path}: {field} has shape {list(d.shape)}, "
                                 f"expected [{n}, {width}]")
            return torch.from_numpy(np.asarray(d[:n]).astype(np.int64))
        if want_topk:
            pins["topk"] = {l: get(f"layers/{l:02d}/indexer_topk", index_topk)
                            for l in range(n_layers)}
        if want_experts:
            pins["experts"] = {l: get(f"layers/{l:02d}/expert_ids", K) for l in moe_layers}
    return pins
