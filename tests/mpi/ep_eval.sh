#!/usr/bin/env bash
# `dsv32 eval` under mpirun over N expert-parallel ranks: its verify steps (the dump gathered over
# the ranks against the float64 reference, on rank 0), ppl and report succeed; the PPL/KLD of the
# four modes in rank 0's results equal one process's exactly (EP is bit-identical: README "Running
# over ranks"), rank 0 alone writes the results, report and history, and the other ranks write
# nothing. Each rank runs in a directory of its own (relative --out and
# --history), as on hosts that share no file system, so a file written by rank r > 0 would show.
# Usage: ep_eval.sh DSV32_BIN MODEL_DIR TEXT TOKENIZER WORK_DIR NRANKS MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 TEXT=$3 TOK=$4 WORK=$5 N=$6 MPIEXEC=$7
[ -f "$TEXT" ] && [ -f "$TOK" ] || { echo "SKIP: text or tokenizer missing (datasets/prepare.sh, scripts/fetch_tokenizer.sh)"; exit 0; }
rm -rf "$WORK"; mkdir -p "$WORK/one"
BIN=$(realpath "$BIN") MODEL=$(realpath -m "$MODEL") TEXT=$(realpath "$TEXT") TOK=$(realpath "$TOK") WORK=$(realpath "$WORK")
for ((r = 0; r < N; ++r)); do mkdir -p "$WORK/rank$r"; done
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
ARGS=(eval --model "$MODEL" --text "$TEXT" --tokenizer "$TOK" --ctx 128 --chunks 2 --threads 1 --verify-tokens 16
      --no-dsa --no-bench --out out --history history.sqlite)
# The one-process run needs only the PPL: it skips the reference (the ranks' verify steps run it).
(cd "$WORK/one" && "$BIN" "${ARGS[@]}" --parallel none --no-reference >one.log 2>&1) || { cat "$WORK/one/one.log"; exit 1; }
# Open MPI names each process's rank in OMPI_COMM_WORLD_RANK (PMI launchers: PMI_RANK).
"$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N" bash -c \
  'cd "$0/rank${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}" && exec "$@"' "$WORK" "$BIN" "${ARGS[@]}" --ep "$N" \
  >"$WORK/ep.log" 2>&1 || { cat "$WORK/ep.log"; exit 1; }
for ((r = 1; r < N; ++r)); do
  left=$(ls -A "$WORK/rank$r")
  [ -z "$left" ] || { echo "FAIL: rank $r wrote: $left"; exit 1; }
done
for f in out/results/ppl.json out/results/verify_{dense,sparse}_{naive,absorbed}.json out/index.html history.sqlite; do
  [ -s "$WORK/rank0/$f" ] || { echo "FAIL: rank 0 did not write $f"; cat "$WORK/ep.log"; exit 1; }
done
for s in "verify dense_naive" "verify dense_absorbed" "verify sparse_naive" "verify sparse_absorbed" "ppl --compare" report; do
  grep -q "^$s *ok$" "$WORK/ep.log" || { echo "FAIL: step $s did not succeed"; cat "$WORK/ep.log"; exit 1; }
done
/usr/bin/python3 - "$WORK/one/out/results/ppl.json" "$WORK/rank0/out/results/ppl.json" "$N" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n = sys.argv[3]
assert "expert-parallel rank 0 of " + n in b["context"]["device_name"], b["context"]["device_name"]
ma, mb = a["modes"], b["modes"]
assert [m["label"] for m in ma] == [m["label"] for m in mb] and len(ma) == 4, (ma, mb)
for x, y in zip(ma, mb):
    assert x["ppl"] == y["ppl"] and x["nll_per_chunk"] == y["nll_per_chunk"] and x["kl"] == y["kl"], (x["label"], x["ppl"], y["ppl"])
    print(f"PASS {x['label']}: eval over {n} ranks PPL {y['ppl']:.6f} = one process")
PY
