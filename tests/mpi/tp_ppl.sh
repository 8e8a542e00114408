#!/usr/bin/env bash
# `dsv32 ppl` over N ranks with tensor parallelism (--tp T) against one process. Bound: the NLL of
# a token is log-sum-exp(z) − z_target, whose change is at most 2·max|Δz| (each term is 1-Lipschitz
# in the max norm), so |ln PPL_tp − ln PPL_one| ≤ 2·max|Δz| over the scored tokens. The exact
# verify profile allows logit errors of ~5e-4 (its KL bound 1e-6 = Var/2, verify/profiles.json),
# hence the test's bound |ln(PPL_tp / PPL_one)| ≤ 1e-3. Only rank 0 writes the JSON.
# Usage: tp_ppl.sh DSV32_BIN MODEL_DIR TEXT TOKENIZER WORK_DIR NRANKS TP MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 TEXT=$3 TOK=$4 WORK=$5 N=$6 TP=$7 MPIEXEC=$8
[ -f "$TEXT" ] && [ -f "$TOK" ] || { echo "SKIP: text or tokenizer missing (datasets/prepare.sh, scripts/fetch_tokenizer.sh)"; exit 0; }
rm -rf "$WORK"; mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
ARGS=(ppl --quiet --model "$MODEL" --text "$TEXT" --tokenizer "$TOK" --ctx 128 --chunks 3 --attn sparse --mla absorbed --threads 1)
"$BIN" "${ARGS[@]}" --parallel none --json "$WORK/one.json" >/dev/null
"$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N" "$BIN" "${ARGS[@]}" --tp "$TP" --json "$WORK/tp.json" >/dev/null
/usr/bin/python3 - "$WORK" "$TP" <<'PY'
import json, math, sys
w, tp = sys.argv[1], sys.argv[2]
a, b = json.load(open(w + "/one.json")), json.load(open(w + "/tp.json"))
d = abs(math.log(b["ppl"] / a["ppl"]))
assert "tensor-parallel rank 0 of " + tp in b["context"]["device_name"], b["context"]["device_name"]
assert d <= 1e-3, (a["ppl"], b["ppl"], d)
print(f"PASS: ppl over --tp {tp} = {b['ppl']:.6f}, one process {a['ppl']:.6f}, |ln ratio| = {d:.2e} <= 1e-3")
PY
