"""Dumps of a PyTorch DeepSeek V3.2 module tree in the dsv32 schema (verify/SCHEMA.md), through
forward hooks: reference/capture/hooks.py (Capture), name maps in reference/capture/names.py for the
official inference/model.py names ("official") and the Hugging Face names ("hf"). torch + h5py only.

    import sys; sys.path.insert(0, "path/to/dsv32/reference")
    from capture import Capture
    cap = Capture(model, "official", "config.json")
    model(torch.tensor([ids]))
    cap.write("torch.h5", ids, attn="sparse", mla="naive", prefill=len(ids))
    # then: dsv32 verify torch.h5 cpp.h5 --profile bf16
"""
from .hooks import Capture
from .names import HUGGINGFACE, NAME_MAPS, OFFICIAL

__all__ = ["Capture", "HUGGINGFACE", "NAME_MAPS", "OFFICIAL"]
