#!/usr/bin/env bash
# `dsv32 ppl` over N expert-parallel ranks equals one process exactly (same PPL, same per-chunk
# NLL), and only rank 0 writes the JSON and the state file (the state is removed at the end).
# Usage: ep_ppl.sh DSV32_BIN MODEL_DIR TEXT TOKENIZER WORK_DIR NRANKS MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 TEXT=$3 TOK=$4 WORK=$5 N=$6 MPIEXEC=$7
[ -f "$TEXT" ] && [ -f "$TOK" ] || { echo "SKIP: text or tokenizer missing (datasets/prepare.sh, scripts/fetch_tokenizer.sh)"; exit 0; }
rm -rf "$WORK"; mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
ARGS=(ppl --quiet --model "$MODEL" --text "$TEXT" --tokenizer "$TOK" --ctx 128 --chunks 3 --attn sparse --mla absorbed --threads 1)
"$BIN" "${ARGS[@]}" --parallel none --json "$WORK/one.json" >/dev/null
"$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N" "$BIN" "${ARGS[@]}" --parallel ep --json "$WORK/ep.json" >/dev/null
[ ! -e "$WORK/ep.json.state" ] || { echo "FAIL: a state file outlived the finished run"; exit 1; }
/usr/bin/python3 - "$WORK" "$N" <<'PY'
import json, sys
w, n = sys.argv[1], sys.argv[2]
a, b = json.load(open(w + "/one.json")), json.load(open(w + "/ep.json"))
assert a["ppl"] == b["ppl"] and a["nll_per_chunk"] == b["nll_per_chunk"], (a["ppl"], b["ppl"])
assert "expert-parallel rank 0 of " + n in b["context"]["device_name"], b["context"]["device_name"]
print(f"PASS: ppl over {n} ranks = one process: {b['ppl']:.6f}")
PY
