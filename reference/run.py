#!/usr/bin/python3
"""Float64 PyTorch reference for `dsv32 run` (same options).

    /usr/bin/python3 reference/run.py --model DIR (--ids 1,2,3 | --ids-file F)
        [--attn dense|sparse|auto] [--mla naive|absorbed] [--numerics exact|ref1]
        [--prefill N] [--dump OUT.h5]
        [--pin-from REF.h5] [--threads T] [--top K]

Prefills the first N ids in one call (default: all), decodes the rest one at a time
(teacher-forced), prints the top-5 next tokens per position and optionally writes the
verify/SCHEMA.md dump. --pin-from takes the indexer top-k sets and expert choices from an existing
dump (the expert weights still come from this run's router). Errors: one line on stderr, exit 2.
"""
import argparse
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint import Checkpoint, CheckpointError  # noqa: E402
from model import Model, rank_desc  # noqa: E402
import dump  # noqa: E402


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):                      # one line, exit 2 (argparse's default is usage+msg)
        raise UsageError(message)


def parse_ids(text, where):
    toks = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    if not toks:
        raise UsageError(f"{where}: no token ids")
    try:
        return [int(t) for t in toks]
    except ValueError:
        raise UsageError(f"{where}: malformed token id list")


def build_parser():
    p = Parser(prog="reference/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", metavar="1,2,3", help="comma-separated token ids")
    g.add_argument("--ids-file", metavar="F",
                   help="file of token ids (comma/space separated; - = stdin)")
    p.add_argument("--attn", choices=["dense", "sparse", "auto"], default="auto",
                   help="auto: sparse when the model has an indexer")
    p.add_argument("--mla", choices=["naive", "absorbed"], default="absorbed")
    p.add_argument("--numerics", choices=["exact", "ref1"], default="exact",
                   help="exact: float64 throughout; ref1: REF-1 bf16/FP8 rounding points (ref1.py)")
    p.add_argument("--prefill", type=int, metavar="N", help="ids in the first call (default: all)")
    p.add_argument("--dump", metavar="OUT.h5", help="write the activation dump here")
    p.add_argument("--pin-from", metavar="REF.h5", help="take top-k sets / expert ids from this dump")
    p.add_argument("--threads", type=int, metavar="T", help="torch.set_num_threads(T)")
    p.add_argument("--top", type=int, default=5, metavar="K", help="candidates printed per position")
    return p


def run(model, ids, prefill, pins=None, on_call=None):
    """Prefill ids[:prefill] in one call, then decode the rest one by one. Calls on_call(rec)
    after every call and returns the list of per-call records."""
    model.reset()
    calls = [ids[:prefill]] + [[t] for t in ids[prefill:]]
    recs = []
    for chunk in calls:
        rec = model.forward(chunk, pins)
        recs.append(rec)
        if on_call:
            on_call(rec)
    return recs


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.ids_file is not None:
        try:
            if args.ids_file == "-":
                ids = parse_ids(sys.stdin.read(), "stdin")
            else:
                with open(args.ids_file, "r", encoding="utf-8") as f:
                    ids = parse_ids(f.read(), args.ids_file)
        except OSError as e:
            raise UsageError(f"{args.ids_file}: {e.strerror}")
    else:
        ids = parse_ids(args.ids, "--ids")
    n = len(ids)
    prefill = n if args.prefill is None else args.prefill
    if not 1 <= prefill <= n:
        raise UsageError(f"--prefill: {prefill} not in 1..{n}")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError("--threads: must be >= 1")
        torch.set_num_threads(args.threads)

    if args.top < 1:
        raise UsageError("--top: must be >= 1")
    ckpt = Checkpoint(args.model)
    model = Model(ckpt, numerics=args.numerics)
    c = model.cfg
    attn = ("sparse" if c.has_indexer else "dense") if args.attn == "auto" else args.attn
    model.set_mode(attn, args.mla)
    bad = [t for t in ids if not 0 <= t < c.vocab]
    if bad:
        raise UsageError(f"{args.ids_file or '--ids'}: token id {bad[0]} outside 0..{c.vocab - 1}")
    pins = None
    if args.pin_from:
        moe_layers = [l for l in range(c.n_layers) if c.is_moe(l)]
        pins = dump.read_pins(args.pin_from, ids, c.n_layers, attn == "sparse",
                              bool(moe_layers), moe_layers,
                              getattr(c, "index_topk", 0), getattr(c, "K", 0))

    coll = dump.Collector()
    pos = [0]

    def report(rec):
        coll.add(rec)
        logits = rec["logits"]
        idx = rank_desc(logits, min(args.top, c.vocab))            # ties: lower id first
        vals = logits.gather(1, idx)
        for s in range(logits.shape[0]):
            t = pos[0] + s
            top = " ".join(f"{int(i)}:{float(v):.6f}" for v, i in zip(vals[s], idx[s]))
            print(f"pos {t} id {ids[t]} top{args.top} {top}")
        pos[0] += logits.shape[0]

    run(model, ids, prefill, pins, report)
    if args.dump:
        dump.write(args.dump, coll, ids, attn=attn, mla=args.mla, prefill=prefill,
                   config_text=ckpt.config_text,
                   numerics="fp64" if args.numerics == "exact" else "ref1-fp64")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (UsageError, CheckpointError, ValueError, OSError) as e:
        msg = " ".join(str(e).split())
        print(f"reference/run.py: error: {msg}", file=sys.stderr)
        sys.exit(2)
