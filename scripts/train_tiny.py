#!/usr/bin/python3
"""Train a small DeepSeek-V3.2 on datasets/data/corpus (datasets/prepare.sh) and export it.

    nice -n 19 /usr/bin/python3 scripts/train_tiny.py --out runs/tiny [--export DIR]
        [--preset default|micro] [--resume] [--threads T] [--seed N] ...

The recipe of the DeepSeek-V3.2 paper at small scale, in three phases:
  dense    the whole model (minus the indexer) trained on next-token loss, dense attention;
  indexer  the main model frozen, the lightning indexers alone trained by KL(p || softmax(I)),
           p = each layer's attention summed over heads and L1-normalised (dense warm-up);
  sparse   top-k attention (index_topk of the ctx keys chosen by the indexer); the main model on
           next-token loss, the indexers (inputs detached) on the KL restricted to their selection.
Real tokenizer (build/bin/dsv32 tokenize) and vocabulary (129280); the embedding/head keep only
the tokens seen in training (reference/train/tiny_model.py). Deterministic given --seed: the batch
of step t depends only on (seed, t), so --resume from OUT/ckpt.pt continues the same run.
OUT/log.jsonl gets one JSON line per logged step and per evaluation. --export writes the HF
checkpoint (reference/train/export.py) with train_config.json and train_log.jsonl beside it.
Errors: one line on stderr, exit 2.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS = os.path.join(ROOT, ".cache", "openblas", "usr", "lib", "x86_64-linux-gnu", "openblas-pthread")


def _reexec_with_openblas():
    """Debian's python3-torch calls the system BLAS, by default the netlib reference one (~5
    GFLOP/s here); OpenBLAS is ~15x faster. Unpack Debian's libopenblas0-pthread under .cache/
    (not installed: the system's BLAS choice is left alone) and restart this process with it
    first on LD_LIBRARY_PATH. --generic-blas skips this."""
    if os.environ.get("DSV32_TRAIN_BLAS") or "--generic-blas" in sys.argv:
        return
    if not os.path.isdir(OPENBLAS):
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run(["apt-get", "download", "libopenblas0-pthread"], cwd=tmp, capture_output=True)
            debs = glob.glob(os.path.join(tmp, "*.deb"))
            if r.returncode == 0 and debs:
                subprocess.run(["dpkg", "-x", debs[0], os.path.join(ROOT, ".cache", "openblas")], check=False)
    if not os.path.exists(os.path.join(OPENBLAS, "libblas.so.3")):
        print("train_tiny.py: warning: no OpenBLAS (apt-get download libopenblas0-pthread failed); "
              "training with the system BLAS is much slower", file=sys.stderr)
        os.environ["DSV32_TRAIN_BLAS"] = "system"
        return
    threads = "1"
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            threads = sys.argv[i + 1]
        elif arg.startswith("--threads="):
            threads = arg.split("=", 1)[1]
    env = dict(os.environ, DSV32_TRAIN_BLAS="openblas", OPENBLAS_NUM_THREADS=threads,
               LD_LIBRARY_PATH=OPENBLAS + os.pathsep + os.environ.get("LD_LIBRARY_PATH", ""))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


if __name__ == "__main__":
    _reexec_with_openblas()

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "reference"))
sys.path.insert(0, os.path.join(ROOT, "reference", "train"))
from tiny_model import TinyV32, init_params, is_indexer, is_router_bias  # noqa: E402
from export import export  # noqa: E402

VOCAB, BOS = 129280, 0
PHASES = ("dense", "indexer", "sparse")

# Shapes (HF config keys) and schedules. `default`: sized from smoke-run step times to about an
# hour on this 2-core machine (README "Training the built-in model"); `micro`: the CTest smoke run.
PRESETS = {
    "default": dict(shape=dict(hidden_size=256, intermediate_size=640, moe_intermediate_size=192,
                               num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4,
                               n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=2,
                               n_group=4, topk_group=2, q_lora_rank=128, kv_lora_rank=64,
                               qk_nope_head_dim=32, qk_rope_head_dim=32, v_head_dim=32,
                               index_n_heads=4, index_head_dim=64, index_topk=64),
                    ctx=512, batch=4, steps=(900, 200, 150), lr=3e-3, lr_indexer=3e-3, lr_sparse=3e-4,
                    eval_every=250, eval_windows=8),
    "micro": dict(shape=dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=64,
                             num_hidden_layers=2, first_k_dense_replace=1, num_attention_heads=2,
                             n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2,
                             n_group=2, topk_group=1, q_lora_rank=32, kv_lora_rank=32,
                             qk_nope_head_dim=16, qk_rope_head_dim=16, v_head_dim=16,
                             index_n_heads=2, index_head_dim=32, index_topk=16),
                  ctx=128, batch=8, steps=(40, 10, 10), lr=1e-2, lr_indexer=3e-3, lr_sparse=1e-3,
                  eval_every=0, eval_windows=2),
}


class UsageError(Exception):
    pass


def die(msg):
    print(f"train_tiny.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def hf_config(shape, seed):
    """A complete config.json as model/config.cpp and reference/model.py read it (the fixed
    keys as `dsv32 synth` writes them)."""
    c = dict(architectures=["DeepseekV32ForCausalLM"], model_type="deepseek_v32", vocab_size=VOCAB)
    c.update(shape)
    c.update(num_key_value_heads=shape["num_attention_heads"], moe_layer_freq=1,
             routed_scaling_factor=2.5, scoring_func="sigmoid", topk_method="noaux_tc",
             norm_topk_prob=True, rope_theta=10000,
             rope_scaling=dict(type="yarn", factor=40, original_max_position_embeddings=4096,
                               beta_fast=32, beta_slow=1, mscale=1.0, mscale_all_dim=1.0),
             max_position_embeddings=163840, rms_norm_eps=1e-6, hidden_act="silu",
             tie_word_embeddings=False, attention_bias=False, bos_token_id=0, eos_token_id=1,
             torch_dtype="bfloat16", num_nextn_predict_layers=0,
             quantization_config=dict(activation_scheme="dynamic", fmt="e4m3", quant_method="fp8",
                                      weight_block_size=[128, 128], scale_fmt="ue8m0"))
    c["dsv32_train"] = {"script": "scripts/train_tiny.py", "seed": seed}
    return c


# ----------------------------------------------------------------------------- data
def tokenize(path, dsv32, cache_dir):
    """Token ids of a text file via `dsv32 tokenize`, cached by the file's sha256."""
    data = open(path, "rb").read()
    key = hashlib.sha256(data).hexdigest()[:16]
    cached = os.path.join(cache_dir, f"{os.path.basename(path)}.{key}.npy")
    if os.path.exists(cached):
        return np.load(cached)
    r = subprocess.run([dsv32, "tokenize", "--file", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise UsageError(f"{dsv32} tokenize {path}: {r.stderr.strip().splitlines()[-1:]}")
    ids = np.array([int(t) for t in r.stdout.replace(",", " ").split()], dtype=np.int64)
    os.makedirs(cache_dir, exist_ok=True)
    np.save(cached + ".tmp.npy", ids)
    os.replace(cached + ".tmp.npy", cached)
    return ids


def load_corpus(data_dir, dsv32, cache_dir, max_bytes):
    """{split: {source: ids}} for corpus/{train,heldout}/*.txt (optionally each truncated)."""
    out = {}
    for split in ("train", "heldout"):
        d = os.path.join(data_dir, split)
        if not os.path.isdir(d):
            raise UsageError(f"{d}: missing (run datasets/prepare.sh)")
        out[split] = {}
        for f in sorted(os.listdir(d)):
            if not f.endswith(".txt"):
                continue
            path = os.path.join(d, f)
            if max_bytes:
                text = open(path, "rb").read()[:max_bytes]
                path = os.path.join(cache_dir, f"{split}-{f}")
                os.makedirs(cache_dir, exist_ok=True)
                with open(path, "wb") as fh:
                    fh.write(text)
            out[split][f[:-4]] = tokenize(path, dsv32, cache_dir)
    if not out["train"]:
        raise UsageError(f"{data_dir}/train: no .txt files")
    return out


# ----------------------------------------------------------------------------- training
class Trainer:
    def __init__(self, args, preset):
        self.a, self.pr = args, preset
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        corpus = load_corpus(args.data, args.dsv32, os.path.join(self.out, "tokens"), args.max_bytes)
        self.train = np.concatenate([np.concatenate([[BOS], ids]) for ids in corpus["train"].values()])
        self.heldout = corpus["heldout"]
        counts = np.bincount(self.train, minlength=VOCAB)
        kept = np.nonzero(counts)[0]
        self.kept = kept
        self.to_compact = np.full(VOCAB, len(kept), dtype=np.int64)
        self.to_compact[kept] = np.arange(len(kept))
        self.counts = counts
        self.cfg = hf_config(preset["shape"], args.seed)
        self.ctx, self.batch = preset["ctx"], preset["batch"]
        self.steps = list(preset["steps"])
        for i, n in enumerate((args.steps_dense, args.steps_indexer, args.steps_sparse)):
            if n is not None:
                self.steps[i] = n
        logp = np.log((counts[kept] + 0.5) / (counts.sum() + 0.5 * len(kept)))
        self.params = {k: v.requires_grad_(False)
                       for k, v in init_params(self.cfg, len(kept), args.seed, logp).items()}
        self.model = TinyV32(self.cfg, self.params, len(kept))
        self.step = 0                                  # global step over all phases
        self.last_eval = None
        self.opt, self.opt_phase = None, None
        self.log_path = os.path.join(self.out, "log.jsonl")
        self.ckpt_path = os.path.join(self.out, "ckpt.pt")
        self.n_params = sum(v.numel() for v in self.params.values())

    def phase_of(self, step):
        """(phase index, step within the phase, phase length) of a global step."""
        for i, n in enumerate(self.steps):
            if step < n:
                return i, step, n
            step -= n
        return len(self.steps), 0, 0

    def batch_for(self, step):
        """[B, ctx + 1] compact ids: BOS then ctx tokens from offsets drawn from (seed, step)."""
        g = np.random.default_rng([self.a.seed, step])
        offs = g.integers(0, len(self.train) - self.ctx, size=self.batch)
        rows = [np.concatenate([[BOS], self.train[o:o + self.ctx]]) for o in offs]
        return torch.from_numpy(self.to_compact[np.stack(rows)])

    def trainable(self, phase):
        names = [n for n in self.params if not is_router_bias(n)]
        if phase == "dense":
            return [n for n in names if not is_indexer(n)]
        if phase == "indexer":
            return [n for n in names if is_indexer(n)]
        return names

    def make_opt(self, phase):
        for n, v in self.params.items():
            v.requires_grad_(False)
        names = self.trainable(phase)
        decays = lambda n: self.params[n].dim() == 2 and n not in ("model.embed_tokens.weight", "lm_head.weight")
        decay = [self.params[n] for n in names if decays(n)]
        other = [self.params[n] for n in names if not decays(n)]
        for n in names:
            self.params[n].requires_grad_(True)
        # Sparse training continues a trained model: a tenth of the dense peak (a fresh AdamW at
        # the dense peak undoes much of the dense phase in its first steps).
        lr = {"dense": self.pr["lr"], "indexer": self.pr["lr_indexer"], "sparse": self.pr["lr_sparse"]}[phase]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                      {"params": other, "weight_decay": 0.0}],
                                     lr=lr, betas=(0.9, 0.95), eps=1e-8)
        self.opt_phase, self.base_lr = phase, lr

    def lr_at(self, k, n):
        warm = max(1, min(100, n // 10))
        if k < warm:
            return self.base_lr * (k + 1) / warm
        t = (k - warm) / max(1, n - warm)
        return self.base_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    def save(self):
        state = {"step": self.step, "params": self.params, "opt": self.opt.state_dict() if self.opt else None,
                 "opt_phase": self.opt_phase, "kept": self.kept, "config": self.cfg,
                 "log_bytes": os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0}
        torch.save(state, self.ckpt_path + ".tmp")
        os.replace(self.ckpt_path + ".tmp", self.ckpt_path)

    def load(self):
        try:
            st = torch.load(self.ckpt_path)
        except Exception as e:  # noqa: BLE001 - any unreadable file is one error line
            raise UsageError(f"{self.ckpt_path}: cannot read checkpoint ({str(e).splitlines()[0][:200]})")
        if not np.array_equal(st["kept"], self.kept) or st["config"] != self.cfg:
            raise UsageError(f"{self.ckpt_path}: made from other data or another config")
        with torch.no_grad():
            for n, v in st["params"].items():
                self.params[n].copy_(v.detach())
        self.step = st["step"]
        if st["opt_phase"] is not None:
            self.make_opt(st["opt_phase"])
            self.opt.load_state_dict(st["opt"])
        if os.path.exists(self.log_path):                 # drop lines logged after the checkpoint
            with open(self.log_path, "r+b") as f:
                f.truncate(st["log_bytes"])

    def log(self, rec):
        with open(self.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def train_step(self, phase):
        ids = self.batch_for(self.step)
        inp, tgt = ids[:, :-1], ids[:, 1:]
        attn = "sparse" if phase == "sparse" else "dense"
        logits, aux = self.model.forward(inp, attn=attn, want_attn=phase != "dense", head=phase != "indexer")
        if phase == "indexer":                               # the frozen main model's loss is not needed
            nll, loss = torch.tensor(float("nan")), aux["kl"]
        else:
            nll = self.model.nll(logits, tgt).mean()
            loss = nll + (aux["kl"] if phase == "sparse" else 0.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], 1.0)
        self.opt.step()
        if phase != "indexer":                               # aux-loss-free balancing (V3)
            for layer, load in aux["load"].items():
                b = self.params[f"model.layers.{layer}.mlp.gate.e_score_correction_bias"]
                b += 1e-3 * torch.sign(load.mean() - load)
        kl = float(aux["kl"]) if phase != "dense" else None
        return float(nll), kl, aux

    @torch.no_grad()
    def evaluate(self, windows, attn):
        """Held-out NLL per source over `windows` windows (0: all) of BOS + ctx-1 tokens, every
        position scored; returns ({source: (mean nll, tokens)}, per-layer indexer recall: the
        share of the dense head-summed attention that the top-k keys hold, dense mode only)."""
        res, recall, n_rec = {}, None, 0
        for src, ids in self.heldout.items():
            n = len(ids) // (self.ctx - 1)
            if windows:
                n = min(n, windows)
            if n == 0:
                continue
            rows = np.stack([np.concatenate([[BOS], ids[i * (self.ctx - 1):(i + 1) * (self.ctx - 1)]]) for i in range(n)])
            total, count = 0.0, 0
            for b in range(0, n, self.batch):
                x = torch.from_numpy(self.to_compact[rows[b:b + self.batch]])
                logits, aux = self.model.forward(x[:, :-1], attn=attn, want_attn=attn == "dense")
                total += float(self.model.nll(logits, x[:, 1:]).sum())
                count += x[:, 1:].numel()
                if aux["recall"]:
                    r = np.array(aux["recall"]) * x.shape[0]
                    recall = r if recall is None else recall + r
                    n_rec += x.shape[0]
            res[src] = (total / count, count)
        return res, (None if recall is None else [round(float(v), 4) for v in recall / n_rec])

    def unigram_ppl(self):
        """Add-one unigram model from the training counts over the full vocabulary, per source."""
        logp = np.log((self.counts + 1.0) / (self.counts.sum() + VOCAB))
        return {s: float(np.exp(-logp[ids].mean())) for s, ids in self.heldout.items() if len(ids)}

    def run_eval(self, windows, tag):
        rec = {"eval": tag, "step": self.step}
        for attn in ("dense", "sparse"):
            r, recall = self.evaluate(windows, attn)
            rec[attn] = {s: round(math.exp(v[0]), 3) for s, v in r.items()}
            if recall is not None:
                rec["recall"] = recall
            rec["tokens"] = {s: v[1] for s, v in r.items()}
        self.log(rec)
        self.last_eval = rec
        print(f"[eval {tag} step {self.step}] PPL dense " +
              " ".join(f"{s}={p:.1f}" for s, p in rec["dense"].items()) + " | sparse " +
              " ".join(f"{s}={p:.1f}" for s, p in rec["sparse"].items()) +
              f" | indexer top-{self.cfg['index_topk']} recall per layer {rec.get('recall')}", file=sys.stderr, flush=True)
        return rec

    def run(self):
        if self.a.resume and os.path.exists(self.ckpt_path):
            self.load()
            print(f"resumed at step {self.step}", file=sys.stderr)
        elif os.path.exists(self.log_path):
            os.remove(self.log_path)
        total = sum(self.steps)
        if self.step == 0:
            self.log({"start": True, "blas": os.environ.get("DSV32_TRAIN_BLAS", "system"),
                      "threads": self.a.threads, "n_params": self.n_params, "n_kept": int(len(self.kept)),
                      "train_tokens": int(len(self.train)), "steps": self.steps, "ctx": self.ctx,
                      "batch": self.batch, "seed": self.a.seed, "unigram_ppl": self.unigram_ppl()})
        if self.step == 0:
            self.run_eval(self.pr["eval_windows"], "init")
        t0, done0 = time.time(), self.step
        while self.step < total:
            pi, k, n = self.phase_of(self.step)
            phase = PHASES[pi]
            if self.opt_phase != phase or self.opt is None:
                self.make_opt(phase)
            for g in self.opt.param_groups:
                g["lr"] = self.lr_at(k, n)
            ts, cs = time.time(), time.process_time()
            nll, kl, aux = self.train_step(phase)
            self.step += 1
            dt = time.time() - ts
            rec = {"step": self.step, "phase": phase, "loss": None if math.isnan(nll) else round(nll, 5),
                   "lr": self.opt.param_groups[0]["lr"], "step_s": round(dt, 3),
                   "cpu_s": round(time.process_time() - cs, 3)}
            if kl is not None:
                rec["kl"] = round(kl, 5)
            if aux["recall"]:
                rec["recall"] = round(sum(aux["recall"]) / len(aux["recall"]), 4)
            self.log(rec)
            if self.step % self.a.print_every == 0 or self.step == total:
                rate = (time.time() - t0) / max(1, self.step - done0)
                print(f"[{phase} {k + 1}/{n}] step {self.step}/{total}" +
                      ("" if math.isnan(nll) else f" loss {nll:.4f}") +
                      (f" kl {kl:.4f}" if kl is not None else "") +
                      f" {dt:.2f}s/step ETA {rate * (total - self.step) / 60:.1f} min",
                      file=sys.stderr, flush=True)
            ev = self.pr["eval_every"]
            if (ev and self.step % ev == 0) or k + 1 == n:
                self.run_eval(self.pr["eval_windows"], f"{phase}-{k + 1}")
            if self.step % self.a.save_every == 0 or k + 1 == n or self.step == self.a.stop_after:
                self.save()
            if self.step == self.a.stop_after:
                print(f"stopped after step {self.step} (--stop-after); --resume continues", file=sys.stderr)
                return None
        if not self.a.full_eval and self.last_eval and self.last_eval["step"] == self.step:
            return self.last_eval                        # the last phase's evaluation is the final one
        return self.run_eval(0 if self.a.full_eval else self.pr["eval_windows"], "final")


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/train_tiny.py", description=__doc__.split("\n\n")[0])
    p.error = lambda m: (_ for _ in ()).throw(UsageError(m))
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "tiny"), help="run directory (checkpoint, log, token cache)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--data", default=os.path.join(ROOT, "datasets", "data", "corpus"))
    p.add_argument("--dsv32", default=os.path.join(ROOT, "build", "bin", "dsv32"), help="the CLI (tokenizer)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps-dense", type=int)
    p.add_argument("--steps-indexer", type=int)
    p.add_argument("--steps-sparse", type=int)
    p.add_argument("--max-bytes", type=int, default=0, help="use only the first N bytes of each corpus file")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt when present")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--stop-after", type=int, default=0, metavar="N",
                   help="save and stop after global step N (an interruption, for testing --resume)")
    p.add_argument("--print-every", type=int, default=10)
    p.add_argument("--full-eval", action="store_true", help="final evaluation on every held-out window")
    p.add_argument("--export", metavar="DIR", help="write the HF checkpoint here at the end")
    p.add_argument("--export-only", action="store_true", help="export OUT/ckpt.pt without training")
    p.add_argument("--generic-blas", action="store_true", help="keep the system BLAS (no OpenBLAS re-exec)")
    a = p.parse_args(argv)
    if a.threads < 1 or a.seed < 0:
        raise UsageError("--threads must be >= 1 and --seed >= 0")
    if not os.access(a.dsv32, os.X_OK):
        raise UsageError(f"{a.dsv32}: not found (build the CLI: cmake --build build --target dsv32)")
    torch.set_num_threads(a.threads)
    t = Trainer(a, PRESETS[a.preset])
    print(f"{t.n_params / 1e6:.2f} M parameters ({len(t.kept)} of {VOCAB} vocabulary rows trained), "
          f"{len(t.train)} training tokens, steps {t.steps}", file=sys.stderr)
    if a.export_only:
        if not os.path.exists(t.ckpt_path):
            raise UsageError(f"{t.ckpt_path}: no checkpoint to export")
        t.load()
    elif t.run() is None:
        return
    if a.export or a.export_only:
        if not a.export:
            raise UsageError("--export-only needs --export DIR")
        log = open(t.log_path).read() if os.path.exists(t.log_path) else ""
        tc = {"preset": a.preset, "seed": a.seed, "steps": t.steps, "ctx": t.ctx, "batch": t.batch,
              "step": t.step, "n_kept": int(len(t.kept)), "data": "datasets/data/corpus (MANIFEST.json)"}
        manifest = os.path.join(a.data, "MANIFEST.json")
        extra = {"train_config.json": json.dumps(tc, indent=2) + "\n", "train_log.jsonl": log}
        if os.path.exists(manifest):
            extra["data_manifest.json"] = open(manifest).read()
        files = export(t.params, t.cfg, t.kept, a.export, extra)
        print(f"exported {len(files)} files to {a.export}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UsageError as e:
        die(str(e))
