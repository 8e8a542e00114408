"""Safetensors checkpoint reader for the float64 reference (MODEL §2, §3.1–3.3).

Written from the file-format description, not from any library:
  * a ``.safetensors`` file is an 8-byte little-endian header length N, then N bytes of JSON
    ``{name: {"dtype", "shape", "data_offsets": [begin, end)}}`` (offsets relative to the first
    byte after the header; an optional ``__metadata__`` entry is ignored), then the raw data;
  * a sharded checkpoint has ``model.safetensors.index.json`` whose ``weight_map`` names the shard
    of every tensor; otherwise every ``*.safetensors`` file in the directory is scanned.

Every tensor is returned as a float64 ``torch.Tensor``. FP8 (``F8_E4M3``) weights are decoded with
a 256-entry table built from MODEL §3.1 and, when a sibling ``<name>_scale_inv`` exists, multiplied
by it block-wise (128x128 blocks, ragged last blocks included; MODEL §3.3 — a multiplier despite
its name).
"""
import json
import math
import os

import numpy as np
import torch


class CheckpointError(Exception):
    """A problem with the checkpoint; the message names the file and/or tensor."""


def _fp8_e4m3fn_table():
    """float64[256]: value of every float8_e4m3fn bit pattern s|eeee|mmm, bias 7 (MODEL §3.1)."""
    table = np.empty(256, dtype=np.float64)
    for code in range(256):
        s, e, m = code >> 7, (code >> 3) & 0xF, code & 0x7
        if e == 15 and m == 7:
            v = math.nan                                  # the only NaN encodings: 0x7F, 0xFF
        elif e == 0:
            v = 2.0 ** -6 * (m / 8.0)                     # subnormal
        else:
            v = 2.0 ** (e - 7) * (1.0 + m / 8.0)
        table[code] = -v if s else v
    return table


FP8_E4M3_TABLE = _fp8_e4m3fn_table()
BLOCK = 128


def _decode(raw, dtype, shape, where):
    """Raw little-endian bytes -> float64 numpy array of `shape` for the supported dtypes."""
    if dtype == "F8_E4M3":
        arr = FP8_E4M3_TABLE[np.frombuffer(raw, dtype=np.uint8)]
    elif dtype == "BF16":                                  # bf16 = top 16 bits of an fp32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        arr = bits.view(np.float32).astype(np.float64)
    elif dtype == "F16":
        arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif dtype == "F32":
        arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif dtype == "F64":
        arr = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    else:
        raise CheckpointError(f"{where}: unsupported dtype {dtype}")
    n = int(np.prod(shape)) if len(shape) else 1
    if arr.size != n:
        raise CheckpointError(f"{where}: {arr.size} elements on disk, shape {shape} needs {n}")
    return arr.reshape(shape)


_ITEMSIZE = {"F8_E4M3": 1, "BF16": 2, "F16": 2, "F32": 4, "F64": 8}


class SafetensorsFile:
    """One .safetensors file: parsed header and lazy reads of individual tensors."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) != 8:
                    raise CheckpointError(f"{path}: truncated header length")
                n = int.from_bytes(head, "little")
                size = os.path.getsize(path)
                if n > size - 8:
                    raise CheckpointError(f"{path}: header length {n} exceeds file size {size}")
                header = json.loads(f.read(n).decode("utf-8"))
        except OSError as e:
            raise CheckpointError(f"{path}: {e.strerror}")
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path}: bad JSON header ({e})")
        header.pop("__metadata__", None)
        self.data_start = 8 + n
        self.entries = header
        for name, ent in header.items():
            b, e = ent["data_offsets"]
            need = int(np.prod(ent["shape"], dtype=np.int64)) * _ITEMSIZE.get(ent["dtype"], 0)
            if e - b != need or self.data_start + e > size:
                raise CheckpointError(f"{path}: tensor {name}: data_offsets {b, e} do not fit "
                                      f"dtype {ent['dtype']} shape {ent['shape']} / file size")

    def read(self, name):
        ent = self.entries[name]
        b, e = ent["data_offsets"]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + b)
            raw = f.read(e - b)
        return _decode(raw, ent["dtype"], tuple(ent["shape"]), f"{self.path}: {name}")


class Checkpoint:
    """A checkpoint directory: config.json + one or more safetensors shards.

    ckpt.config      dict parsed from config.json (ckpt.config_text is the verbatim text)
    ckpt.has(name)   whether tensor `name` exists
    ckpt.get(name)   float64 torch tensor; FP8 weights are dequantized with their scale_inv
    """

    def __init__(self, directory):
        self.dir = directory
        cfg_path = os.path.join(directory, "config.json")
        try:
            with open(cfg_path, "r", encoding="utf-8") as f:
                self.config_text = f.read()
            self.config = json.loads(self.config_text)
        except OSError as e:
            raise CheckpointError(f"{cfg_path}: {e.strerror}")
        except ValueError as e:
            raise CheckpointError(f"{cfg_path}: bad JSON ({e})")
        self._files = {}
        self._where = {}                                    # tensor name -> SafetensorsFile
        index = os.path.join(directory, "model.safetensors.index.json")
        if os.path.exists(index):
            try:
                with open(index, "r", encoding="utf-8") as f:
                    weight_map = json.load(f)["weight_map"]
            except (OSError, ValueError, KeyError) as e:
                raise CheckpointError(f"{index}: cannot read weight_map ({e})")
            for name, shard in weight_map.items():
                sf = self._open(os.path.join(directory, shard))
                if name not in sf.entries:
                    raise CheckpointError(f"{sf.path}: tensor {name} listed in {index} is missing")
                self._where[name] = sf
        else:
            shards = sorted(p for p in os.listdir(directory) if p.endswith(".safetensors"))
            if not shards:
                raise CheckpointError(f"{directory}: no model.safetensors.index.json or *.safetensors")
            for shard in shards:
                sf = self._open(os.path.join(directory, shard))
                for name in sf.entries:
                    self._where[name] = sf

    def _open(self, path):
        if path not in self._files:
            self._files[path] = SafetensorsFile(path)
        return self._files[path]

    def has(self, name):
        return name in self._where

    def shape(self, name):
        return tuple(self._where[name].entries[name]["shape"])

    def get(self, name, shape=None):
        """Tensor `name` as float64; checks `shape` (tuple) when given."""
        if name not in self._where:
            raise CheckpointError(f"{self.dir}: tensor {name} not found")
        sf = self._where[name]
        w = sf.read(name)
        if shape is not None and tuple(w.shape) != tuple(shape):
            raise CheckpointError(f"{sf.path}: tensor {name}: shape {list(w.shape)}, "
                                  f"expected {list(shape)}")
        scale_name = name + "_scale_inv"
        if sf.entries[name]["dtype"] == "F8_E4M3":
            if not self.has(scale_name):
                raise CheckpointError(f"{sf.path}: FP8 tensor {name} has no {scale_name}")
            w = dequantize(w, self._where[scale_name].read(scale_name), f"{scale_name}")
        return torch.from_numpy(np.ascontiguousarray(w))

    def get_fp8(self, name):
        """REF-1 emulation (ref1.py): for an F8_E4M3 tensor, (e4m3 values [out, in], block scales
        [ceil(out/128), ceil(in/128)]) as float64 tensors, without applying the scale; None for any
        other dtype. Call get() first (it validates the tensor and its scale)."""
        sf = self._where[name]
        if sf.entries[name]["dtype"] != "F8_E4M3":
            return None
        scale_name = name + "_scale_inv"
        wq = np.ascontiguousarray(sf.read(name))
        s = np.ascontiguousarray(self._where[scale_name].read(scale_name))
        return torch.from_numpy(wq), torch.from_numpy(s).to(torch.float64)


def dequantize(w, s, where="scale_inv"):
    """W[i, j] * S[i // 128, j // 128] for a 2-D weight W [out, in] and S [ceil(out/128),
    ceil(in/128)] (MODEL §3.3; ragged last blocks use the same rule)."""
    if w.ndim != 2:
        raise CheckpointError(f"{where}: FP8 weight must be 2-D, got shape {list(w.shape)}")
    out, inp = w.shape
    want = (-(-out // BLOCK), -(-inp // BLOCK))
    if s.shape != want:
        raise CheckpointError(f"{where}: shape {list(s.shape)}, expected {list(want)} "
                              f"for weight {list(w.shape)}")
    full = np.repeat(np.repeat(s, BLOCK, axis=0), BLOCK, axis=1)[:out, :inp]
    return w * full
