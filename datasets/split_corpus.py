#!/usr/bin/python3
"""Builds the training corpus for scripts/train_tiny.py (called by datasets/prepare.sh).

    split_corpus.py UNPACKED SOURCES VERSIONS DEFAULT_TXT OUT_DIR

UNPACKED/<package>/ holds each unpacked .deb; SOURCES lists "source package path" lines in
order; VERSIONS "package version" lines. Each source's files are concatenated (gzip
decompressed, fortune '%' separators turned into blank lines) and cut into ~4 KB blocks at
paragraph boundaries. Block i goes to heldout/ when i % 20 == 10, and for the Jargon File also
when it overlaps DEFAULT_TXT (the main job's default text, so that evaluating it never measures
training data); every other block goes to train/. Deterministic: same packages -> same bytes.
Writes OUT_DIR/{train,heldout}/<source>.txt and OUT_DIR/MANIFEST.json.
"""
import gzip
import hashlib
import json
import os
import sys

BLOCK_CHARS = 4096
HOLDOUT_EVERY, HOLDOUT_PHASE = 20, 10


def die(msg):
    print(f"datasets/split_corpus.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def read_text(path):
    try:
        raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    except OSError as e:
        die(f"{path}: {e.strerror or e}")
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    if "/games/fortunes/" in path:
        text = "\n".join("" if ln.strip() == "%" else ln for ln in text.split("\n"))
    return text.strip("\n") + "\n"


def blocks(text):
    """Consecutive paragraphs grouped into blocks of at least BLOCK_CHARS characters; each
    block is a [begin, end) character range of text."""
    out, begin, pos = [], 0, 0
    while pos < len(text):
        nxt = text.find("\n\n", pos)
        pos = len(text) if nxt < 0 else nxt + 2
        if pos - begin >= BLOCK_CHARS or pos >= len(text):
            out.append((begin, pos))
            begin = pos
    return out


def main(argv):
    if len(argv) != 6:
        die("usage: split_corpus.py UNPACKED SOURCES VERSIONS DEFAULT_TXT OUT_DIR")
    unpacked, sources_file, versions_file, default_txt, out = argv[1:]
    versions = dict(line.split() for line in open(versions_file) if line.strip())
    order, files = [], {}
    for line in open(sources_file):
        if not line.strip():
            continue
        name, pkg, rel = line.split()
        if name not in files:
            order.append(name)
            files[name] = []
        files[name].append((pkg, rel))
    default = open(default_txt, encoding="utf-8", errors="replace").read() if os.path.exists(default_txt) else ""
    for sub in ("train", "heldout"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    manifest = {"generator": "datasets/prepare.sh + datasets/split_corpus.py",
                "split": f"~{BLOCK_CHARS}-char paragraph blocks; block i held out when "
                         f"i % {HOLDOUT_EVERY} == {HOLDOUT_PHASE}; jargon also holds out "
                         "the blocks overlapping datasets/data/default.txt",
                "sources": {}}
    for name in order:
        text = "".join(read_text(os.path.join(unpacked, pkg, rel)) + "\n" for pkg, rel in files[name])
        guard = None
        if name == "jargon" and default:
            at = text.find(default[:400])
            if at < 0:
                die("default.txt's opening not found in the Jargon File")
            guard = (at, at + len(default))
        train, held = [], []
        for i, (b, e) in enumerate(blocks(text)):
            out_of = (guard is not None and b < guard[1] and e > guard[0]) or i % HOLDOUT_EVERY == HOLDOUT_PHASE
            (held if out_of else train).append(text[b:e])
        entry = {"packages": sorted({f"{p} {versions[p]}" for p, _ in files[name]}),
                 "files": [f"{p}:/{r}" for p, r in files[name]]}
        for sub, parts in (("train", train), ("heldout", held)):
            data = "".join(parts).encode("utf-8")
            with open(os.path.join(out, sub, name + ".txt"), "wb") as f:
                f.write(data)
            entry[sub] = {"bytes": len(data), "blocks": len(parts),
                          "sha256": hashlib.sha256(data).hexdigest()}
        manifest["sources"][name] = entry
    with open(os.path.join(out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv)
