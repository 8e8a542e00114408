#!/usr/bin/python3
"""`dsv32 ppl` equals perplexity computed directly from the float64 reference's logits.

Same chunking as dsv32 ppl (llama-perplexity's): ids from `dsv32 tokenize` with BOS prepended, chunks
of CTX tokens with BOS over each chunk's first token, NLL of the second half. The reference runs each chunk with reference/run.py and its
dumped logits give the NLLs.

Tolerance: the C++ fp32 logits match the float64 reference to ~1e-6 relative (reference.compare_cpp
checks every tensor); NLL = logsumexp(z) - z_target moves by at most 2·max|Δz| per token, so
|Δ log PPL| ≤ 2·max|Δz| and a relative PPL tolerance of 1e-4 covers |Δz| up to 5e-5 (logits here are
O(1), so that is 50× the observed fp32 error).
Usage: ppl_vs_reference.py DSV32_BIN MODEL_DIR TEXT TOKENIZER WORK_DIR
"""
import json
import math
import os
import subprocess
import sys

import h5py
import numpy as np

BIN, MODEL, TEXT, TOK, WORK = sys.argv[1:6]
if not (os.path.exists(TEXT) and os.path.exists(TOK)):
    print("SKIP: text or tokenizer missing (datasets/prepare.sh, scripts/fetch_tokenizer.sh)")
    sys.exit(0)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.makedirs(WORK, exist_ok=True)
CTX, CHUNKS = 96, 2  # 96 > index_topk = 64: the sparse path selects subsets
ATTN, MLA = "sparse", "absorbed"

out = subprocess.run([BIN, "ppl", "--quiet", "--model", MODEL, "--text", TEXT, "--tokenizer", TOK,
                      "--ctx", str(CTX), "--chunks", str(CHUNKS), "--attn", ATTN, "--mla", MLA,
                      "--json", os.path.join(WORK, "ppl.json")], check=True, capture_output=True, text=True)
cpp = json.load(open(os.path.join(WORK, "ppl.json")))
ids = [int(x) for x in subprocess.run([BIN, "tokenize", "--tokenizer", TOK, "--file", TEXT], check=True,
                                      capture_output=True, text=True).stdout.strip().split(",")]
bos = int(subprocess.run([BIN, "tokenize", "--tokenizer", TOK, "--file", "/dev/null", "--bos"], check=True,
                         capture_output=True, text=True).stdout.strip())
ids = [bos] + ids
nll = []
for c in range(CHUNKS):
    chunk = ids[c * CTX:(c + 1) * CTX]
    chunk[0] = bos
    dump = os.path.join(WORK, f"ref_chunk{c}.h5")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "reference", "run.py"), "--model", MODEL,
                    "--ids", ",".join(map(str, chunk)), "--attn", ATTN, "--mla", MLA, "--dump", dump],
                   check=True, capture_output=True)
    logits = h5py.File(dump)["logits"][()].astype(np.float64)
    for j in range(CTX // 2, CTX - 1):
        z = logits[j]
        m = z.max()
        nll.append(m + math.log(np.exp(z - m).sum()) - z[chunk[j + 1]])
ref_ppl = math.exp(sum(nll) / len(nll))
rel = abs(cpp["ppl"] / ref_ppl - 1)
print(f"dsv32 ppl {cpp['ppl']:.6f}, reference {ref_ppl:.6f}, relative difference {rel:.2e} (tol 1e-4)")
assert cpp["tokens_scored"] == len(nll), (cpp["tokens_scored"], len(nll))
sys.exit(0 if rel <= 1e-4 else 1)
