#!/usr/bin/python3
"""CTest `train.smoke`: the training pipeline end to end on the micro preset.

    train_smoke.py DSV32_BIN WORK_DIR

Trains scripts/train_tiny.py --preset micro on the first KB of every corpus file through the
three phases, then checks: the dense loss falls and the indexer's KL falls; an interrupted run
(--stop-after) resumed with --resume exports the same bytes as the uninterrupted one; the
export has the real layout (FP8 e4m3 projections with power-of-two 128x128 scales, BF16
embedding/head/norms, zero rows for untrained tokens); `dsv32 info` and `dsv32 run` load it and
`dsv32 verify --profile exact` passes against reference/run.py in dense and sparse attention.
Prints "SKIP: ..." and exits 0 when the corpus or the tokenizer is missing.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "reference"))
from checkpoint import Checkpoint  # noqa: E402

PY = "/usr/bin/python3"
FAILS = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILS.append(what)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        sys.exit(1)
    return r


def train(dsv32, out, *extra):
    return run([PY, os.path.join(ROOT, "scripts", "train_tiny.py"), "--preset", "micro", "--out", out,
                "--dsv32", dsv32, "--max-bytes", "12000", "--threads", "1", "--print-every", "1000",
                *extra])


def digest(d):
    h = hashlib.sha256()
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            h.update(open(os.path.join(d, f), "rb").read())
    return h.hexdigest()


def same_math(model):
    """The trainer's float32 forward (reference/train/tiny_model.py) on the exported weights
    agrees with the float64 reference/model.py on 40 tokens, dense and sparse (so what was
    trained is what the project runs)."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "reference", "train"))
    from model import Model
    from tiny_model import TinyV32
    ck = Checkpoint(model)
    emb = ck.get("model.embed_tokens.weight")
    kept = torch.nonzero(emb.abs().sum(1)).flatten()
    params = {n: ck.get(n).float() for n in ck._where if not n.endswith("_scale_inv")}
    for n in ("model.embed_tokens.weight", "lm_head.weight"):
        params[n] = params[n][kept]
    tiny = TinyV32(ck.config, params, len(kept))
    ids = kept[torch.arange(0, 40 * 7, 7) % len(kept)]
    ids[0] = 0
    compact = torch.searchsorted(kept, ids)
    for attn in ("dense", "sparse"):
        with torch.no_grad():
            ours, _ = tiny.forward(compact[None], attn=attn)
        ref = Model(ck, attn=attn, mla="naive").forward(ids.tolist())["logits"][:, kept]
        err = float((ours[0].double() - ref).abs().max() / ref.abs().max())
        check(err < 1e-4, f"trainer forward == reference/model.py ({attn}, 40 tokens): max rel. error {err:.2e}")


def main():
    dsv32, work = sys.argv[1], sys.argv[2]
    corpus = os.path.join(ROOT, "datasets", "data", "corpus", "MANIFEST.json")
    tok = os.path.join(ROOT, ".cache", "tokenizer", "tokenizer.json")
    if not os.path.exists(corpus):
        print("SKIP: datasets/data/corpus missing (run datasets/prepare.sh)")
        return
    if not os.path.exists(tok) and not os.environ.get("DSV32_CACHE_DIR"):
        print("SKIP: tokenizer missing (run scripts/fetch_tokenizer.sh)")
        return
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    a, b = os.path.join(work, "a"), os.path.join(work, "b")
    model = os.path.join(work, "model")
    train(dsv32, a, "--export", model)
    log = [json.loads(line) for line in open(os.path.join(a, "log.jsonl"))]
    steps = [r for r in log if "phase" in r]
    dense = [r["loss"] for r in steps if r["phase"] == "dense"]
    kl = [r["kl"] for r in steps if r["phase"] == "indexer"]
    sparse = [r["loss"] for r in steps if r["phase"] == "sparse"]
    check(len(dense) == 40 and len(kl) == 10 and len(sparse) == 10, "log has 40 dense, 10 indexer, 10 sparse steps")
    first, last = np.mean(dense[:10]), np.mean(dense[-10:])
    check(last < first - 0.3, f"dense training loss falls: {first:.3f} -> {last:.3f} (means of 10 steps)")
    check(np.mean(kl[-3:]) < np.mean(kl[:3]), f"indexer KL falls: {np.mean(kl[:3]):.4f} -> {np.mean(kl[-3:]):.4f}")
    check(all(np.isfinite(sparse)) and np.mean(sparse) < first, f"sparse loss finite and below the start ({np.mean(sparse):.3f})")
    final = [r for r in log if "eval" in r][-1]
    init = [r for r in log if r.get("eval") == "init"][0]
    check(set(final["dense"]) == set(final["sparse"]) and len(final["dense"]) >= 1, "final eval has dense and sparse PPL")
    print(f"     held-out PPL dense init {init['dense']} -> final {final['dense']}, sparse {final['sparse']}")

    # Interrupted + resumed == uninterrupted (same exported bytes).
    train(dsv32, b, "--stop-after", "45")
    train(dsv32, b, "--resume", "--export", os.path.join(work, "model_b"))
    check(digest(model) == digest(os.path.join(work, "model_b")), "stop at step 45 + --resume exports the same bytes")

    # Layout.
    ck = Checkpoint(model)
    ent = {n: ck._where[n].entries[n] for n in ck._where}
    dt = lambda n: ent[n]["dtype"]
    check(dt("model.embed_tokens.weight") == "BF16" and dt("lm_head.weight") == "BF16", "embed/head BF16")
    check(dt("model.norm.weight") == "BF16" and dt("model.layers.0.input_layernorm.weight") == "BF16", "norms BF16")
    fp8 = [n for n in ent if dt(n) == "F8_E4M3"]
    check(len(fp8) > 0 and all(n + "_scale_inv" in ent for n in fp8), f"{len(fp8)} FP8 weights, each with scale_inv")
    check("model.layers.0.self_attn.q_a_proj.weight" in fp8 and "model.layers.1.mlp.experts.0.up_proj.weight" in fp8,
          "projections and experts are FP8")
    scales = np.concatenate([ck._where[n + "_scale_inv"].read(n + "_scale_inv").ravel() for n in fp8])
    check(bool(np.all(scales > 0)) and bool(np.all(np.log2(scales) == np.round(np.log2(scales)))),
          "every scale is a power of two (ue8m0)")
    head = ck.get("lm_head.weight").numpy()
    nz = np.count_nonzero(np.abs(head).sum(1))
    tc = json.load(open(os.path.join(model, "train_config.json")))
    check(nz <= tc["n_kept"] < 129280, f"head: {nz} nonzero rows of 129280 ({tc['n_kept']} trained)")
    check(len([f for f in os.listdir(model) if f.endswith(".safetensors")]) >= 2
          and os.path.exists(os.path.join(model, "model.safetensors.index.json")), "sharded with index")

    # The project's loader and the float64 reference.
    info = run([dsv32, "info", "--model", model]).stdout
    check("DeepseekV32ForCausalLM" in info, "dsv32 info reads it")
    ids = "0,19,223,1043,12,5,1979,301,17,64,1012,7"
    for attn in ("dense", "sparse"):
        cpp, ref = os.path.join(work, f"cpp-{attn}.h5"), os.path.join(work, f"ref-{attn}.h5")
        run([dsv32, "run", "--model", model, "--ids", ids, "--attn", attn, "--dump", cpp])
        run([PY, os.path.join(ROOT, "reference", "run.py"), "--model", model, "--ids", ids, "--attn", attn, "--dump", ref])
        v = subprocess.run([dsv32, "verify", cpp, ref, "--profile", "exact"], capture_output=True, text=True)
        check(v.returncode == 0 and "PASS" in v.stdout, f"verify --profile exact ({attn}): " +
              (v.stdout.strip().splitlines() or ["no output"])[-1])
    same_math(model)
    if FAILS:
        print(f"{len(FAILS)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
