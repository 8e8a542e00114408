#!/usr/bin/env bash
# Killing one rank of an expert-parallel `ppl` (SIGKILL to rank 1 after some chunks) ends the whole
# job (mpirun stops the others: no hang), leaves rank 0's state file, and `--resume` over the ranks
# finishes with exactly the numbers of an uninterrupted single-process run.
# Usage: ep_ppl_resume.sh DSV32_BIN MODEL_DIR TEXT TOKENIZER WORK_DIR NRANKS MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 TEXT=$3 TOK=$4 WORK=$5 N=$6 MPIEXEC=$7
[ -f "$TEXT" ] && [ -f "$TOK" ] || { echo "SKIP: text or tokenizer missing (datasets/prepare.sh, scripts/fetch_tokenizer.sh)"; exit 0; }
rm -rf "$WORK"; mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
ARGS=(ppl --quiet --model "$MODEL" --text "$TEXT" --tokenizer "$TOK" --ctx 128 --chunks 8 --attn sparse --mla absorbed --threads 1)
"$BIN" "${ARGS[@]}" --parallel none --json "$WORK/one.json" >/dev/null 2>&1
# Each rank records its pid (exec keeps it), so the test kills exactly rank 1.
cat > "$WORK/rank.sh" <<SH
#!/bin/sh
echo \$\$ > "$WORK/rank\$OMPI_COMM_WORLD_RANK.pid"
exec "\$@"
SH
chmod +x "$WORK/rank.sh"
MPIRUN=("$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N" "$WORK/rank.sh" "$BIN")
timeout 300 "${MPIRUN[@]}" "${ARGS[@]}" --parallel ep --json "$WORK/ep.json" >"$WORK/killed.log" 2>&1 &
job=$!
for _ in $(seq 1 1200); do  # until 3 chunks are recorded (1 header line + 1 per chunk)
  [ -f "$WORK/ep.json.state" ] && [ "$(wc -l < "$WORK/ep.json.state")" -ge 4 ] && break
  sleep 0.05
done
kill -9 "$(cat "$WORK/rank1.pid")" 2>/dev/null || { echo "FAIL: the run finished before rank 1 could be killed"; exit 1; }
set +e; wait $job; rc=$?; set -e
[ $rc -ne 124 ] || { echo "FAIL: the job hung after rank 1 died"; exit 1; }
[ $rc -ne 0 ] || { echo "FAIL: the job reported success although rank 1 died"; exit 1; }
[ ! -f "$WORK/ep.json" ] || { echo "FAIL: the killed run wrote its final JSON"; exit 1; }
done_chunks=$(( $(wc -l < "$WORK/ep.json.state") - 1 ))
timeout 300 "${MPIRUN[@]}" "${ARGS[@]}" --parallel ep --json "$WORK/ep.json" --resume >/dev/null 2>&1
/usr/bin/python3 - "$WORK" "$done_chunks" "$rc" <<'PY'
import json, sys
w, done, rc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
a, b = json.load(open(w + "/one.json")), json.load(open(w + "/ep.json"))
assert a["ppl"] == b["ppl"] and a["nll_per_chunk"] == b["nll_per_chunk"], (a["ppl"], b["ppl"])
print(f"PASS: rank 1 killed after {done} chunks (job exit {rc}), resumed over ranks: PPL {b['ppl']:.6f} = one process")
PY
