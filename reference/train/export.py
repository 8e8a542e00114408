"""Export trained float32 parameters as a DeepSeek-V3.2 Hugging Face checkpoint directory.

Layout as V3.2 ships it and model/synth.cpp writes it (MODEL §2-§3): config.json, one shard per
layer plus one for embedding/norm/head, model.safetensors.index.json. Projection matrices are
F8_E4M3 with a float32 `<name>_scale_inv` per 128x128 block; the scales are powers of two
(ue8m0: s = 2^ceil(log2(amax / 448))). The embedding, head, router weight, indexer weights_proj
and every norm weight/bias are BF16; the router's e_score_correction_bias is F32.

Compact-vocabulary rows are scattered back to their token ids; rows of tokens never kept stay 0.
"""
import json
import math
import os

import numpy as np

from checkpoint import FP8_E4M3_TABLE

BLOCK = 128
FP8_MAX = 448.0
# Non-negative finite e4m3 codes 0x00..0x7E in ascending value order (code == index).
_POS = FP8_E4M3_TABLE[:127]


def is_bf16_tensor(name):
    """Tensors the real checkpoint keeps in BF16 even though it is FP8."""
    return (name in ("model.embed_tokens.weight", "lm_head.weight")
            or name.endswith("norm.weight") or name.endswith("k_norm.bias")
            or name.endswith("mlp.gate.weight") or name.endswith("indexer.weights_proj.weight"))


def bf16_bits(a):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def e4m3_codes(x):
    """float array with |x| <= 448 -> uint8 e4m3fn codes, round to nearest, ties to the even
    code (mantissa LSB 0), saturating at 448."""
    a = np.minimum(np.abs(x), FP8_MAX)
    hi = np.clip(np.searchsorted(_POS, a), 1, 126)
    lo = hi - 1
    d_lo, d_hi = a - _POS[lo], _POS[hi] - a
    code = np.where(d_lo < d_hi, lo, np.where(d_hi < d_lo, hi, np.where(lo % 2 == 0, lo, hi)))
    code = np.where(a >= _POS[126], 126, code)
    return (code | np.where(np.signbit(x) & (code > 0), 0x80, 0)).astype(np.uint8)


def quantize_fp8(w):
    """w [out, in] float -> (e4m3 codes [out, in], float32 power-of-two scales [ceil(out/128),
    ceil(in/128)]) with w ~= code_value * scale block-wise."""
    out, inp = w.shape
    sr, sc = -(-out // BLOCK), -(-inp // BLOCK)
    scale = np.empty((sr, sc), dtype=np.float32)
    q = np.empty((out, inp), dtype=np.uint8)
    for i in range(sr):
        for j in range(sc):
            blk = w[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK].astype(np.float64)
            amax = max(float(np.abs(blk).max()), 1e-12)
            s = 2.0 ** math.ceil(math.log2(amax / FP8_MAX))
            scale[i, j] = s
            q[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK] = e4m3_codes(blk / s)
    return q, scale


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, shape, bytes). Header padded to 8 bytes."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for _, _, _, data in tensors:
            f.write(data)
    os.replace(tmp, path)


def encode(name, arr):
    """One parameter -> [(name, dtype, shape, bytes)] in the checkpoint's storage format."""
    arr = np.asarray(arr, dtype=np.float32)
    if name.endswith("e_score_correction_bias"):
        return [(name, "F32", arr.shape, arr.tobytes())]
    if is_bf16_tensor(name) or arr.ndim == 1:
        return [(name, "BF16", arr.shape, bf16_bits(arr).tobytes())]
    q, s = quantize_fp8(arr)
    return [(name, "F8_E4M3", arr.shape, q.tobytes()),
            (name + "_scale_inv", "F32", s.shape, s.tobytes())]


def export(params, config, kept_ids, out_dir, extra_files=None):
    """params: {hf_name: float32 tensor/array} with compact embed/head rows in kept_ids order;
    config: the HF config dict; writes out_dir (created) and returns the list of files."""
    os.makedirs(out_dir, exist_ok=True)
    V, L = config["vocab_size"], config["num_hidden_layers"]
    kept = np.asarray(kept_ids, dtype=np.int64)
    full = {}
    for name, t in params.items():
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            z = np.zeros((V, a.shape[1]), dtype=np.float32)
            z[kept] = a
            a = z
        full[name] = a
    n_shards = L + 1
    shard = lambda i: f"model-{i + 1:05d}-of-{n_shards:06d}.safetensors"
    groups = [[] for _ in range(n_shards)]
    for name in full:
        if name.startswith("model.layers."):
            groups[int(name.split(".")[2])].append(name)
        else:
            groups[L].append(name)
    weight_map, files = {}, []
    for i, names in enumerate(groups):
        tensors = [t for n in names for t in encode(n, full[n])]
        write_safetensors(os.path.join(out_dir, shard(i)), tensors)
        for n, *_ in tensors:
            weight_map[n] = shard(i)
        files.append(shard(i))
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"generator": "scripts/train_tiny.py"}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    for fname, text in (extra_files or {}).items():
        with open(os.path.join(out_dir, fname), "w") as f:
            f.write(text)
    return files + ["model.safetensors.index.json", "config.json"] + list(extra_files or {})
