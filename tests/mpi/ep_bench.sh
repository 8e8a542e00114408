#!/usr/bin/env bash
# `dsv32 bench` over N expert-parallel ranks reports the exchange: for every test a share of the
# time in [0, 1] and the bytes rank 0 received per token, which must lie strictly between 0 and
# the formula's total K·D·4 per MoE layer (rank 0 computes some rows itself, receives the rest).
# Usage: ep_bench.sh DSV32_BIN MODEL_DIR WORK_DIR NRANKS MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3 N=$4 MPIEXEC=$5
rm -rf "$WORK"; mkdir -p "$WORK"
if [ ! -f "$MODEL/config.json" ]; then
  "$BIN" synth --preset tiny --seed 1 --weights fp8 --out "$MODEL.tmp.$$" >/dev/null
  mv "$MODEL.tmp.$$" "$MODEL" 2>/dev/null || rm -rf "$MODEL.tmp.$$"
fi
"$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N" "$BIN" bench --model "$MODEL" --modes sparse/absorbed \
  --pp 32 --tg 4 --depths 0 --curve 0 --reps 1 --threads 1 --parallel ep --json "$WORK/bench.json" >/dev/null 2>&1
/usr/bin/python3 - "$WORK/bench.json" "$MODEL/config.json" <<'PY'
import json, sys
b, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
moe_layers = c["num_hidden_layers"] - c["first_k_dense_replace"]
total = c["num_experts_per_tok"] * c["hidden_size"] * 4 * moe_layers
assert len(b["results"]) == 2, b["results"]
for r in b["results"]:
    assert 0 <= r["comm_fraction"] <= 1, r
    assert 0 < r["comm_bytes_per_token"] < total, (r, total)
    print(f"PASS {r['test']}: exchange {100 * r['comm_fraction']:.1f} % of the time, "
          f"{r['comm_bytes_per_token']:.0f} of {total} bytes/token received")
PY
