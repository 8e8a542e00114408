#!/usr/bin/env bash
# A ppl run killed (SIGKILL) after some chunks and resumed with --resume ends with exactly the
# numbers of an uninterrupted run, and its saved logits (HDF5 and llama.cpp's file) have every row
# once; until it completes the HDF5 store exists only as res.h5.partial.
# Usage: ppl_resume.sh DSV32_BIN MODEL_DIR TEXT TOKENIZER WORK_DIR
set -euo pipefail
BIN=$1 MODEL=$2 TEXT=$3 TOK=$4 WORK=$5
[ -f "$TEXT" ] && [ -f "$TOK" ] || { echo "SKIP: text or tokenizer missing (datasets/prepare.sh, scripts/fetch_tokenizer.sh)"; exit 0; }
rm -rf "$WORK"; mkdir -p "$WORK"
ARGS=(ppl --quiet --model "$MODEL" --text "$TEXT" --tokenizer "$TOK" --ctx 128 --chunks 10 --attn sparse --mla absorbed --threads 1)
"$BIN" "${ARGS[@]}" --json "$WORK/full.json" --save-logits "$WORK/full.h5" --llama-logits "$WORK/full.kld" >/dev/null
"$BIN" "${ARGS[@]}" --json "$WORK/res.json" --save-logits "$WORK/res.h5" --llama-logits "$WORK/res.kld" >/dev/null &
pid=$!
# Kill once at least 3 chunks are recorded (state: 1 header line + 1 line per chunk).
for _ in $(seq 1 600); do
  [ -f "$WORK/res.json.state" ] && [ "$(wc -l < "$WORK/res.json.state")" -ge 4 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null || { echo "FAIL: the run finished before it could be interrupted"; exit 1; }
wait $pid 2>/dev/null || true
done_chunks=$(( $(wc -l < "$WORK/res.json.state") - 1 ))
[ ! -f "$WORK/res.json" ] || { echo "FAIL: killed run wrote its final JSON"; exit 1; }
# The store stays BASE.h5.partial until the run completes: --kl-base never sees half of it.
[ ! -f "$WORK/res.h5" ] && [ -f "$WORK/res.h5.partial" ] || { echo "FAIL: killed run left res.h5 (or no partial)"; exit 1; }
"$BIN" "${ARGS[@]}" --json "$WORK/res.json" --save-logits "$WORK/res.h5" --llama-logits "$WORK/res.kld" --resume >/dev/null
cmp "$WORK/full.kld" "$WORK/res.kld" || { echo "FAIL: resumed llama.cpp logits file differs"; exit 1; }
/usr/bin/python3 - "$WORK" "$done_chunks" <<'PY'
import json, sys, h5py
w, done = sys.argv[1], int(sys.argv[2])
a, b = json.load(open(w + "/full.json")), json.load(open(w + "/res.json"))
assert a["ppl"] == b["ppl"] and a["ppl_err"] == b["ppl_err"], (a["ppl"], b["ppl"])
assert a["nll_per_chunk"] == b["nll_per_chunk"]
fa, fb = h5py.File(w + "/full.h5"), h5py.File(w + "/res.h5")
for k in fa["kl_base"]:
    assert (fa["kl_base"][k][()] == fb["kl_base"][k][()]).all(), k
print(f"PASS: killed after {done} chunks, resumed: PPL {b['ppl']:.6f} +/- {b['ppl_err']:.6f} identical")
PY
