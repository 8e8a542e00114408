#!/usr/bin/env bash
# More ranks than routed experts is bad input: exit status 2 and a one-line error naming
# config.json's n_routed_experts (tiny preset: 16 experts, 17 ranks), before any forward pass.
# Every rank finds the error and the first to get there aborts the job (MPI_Abort), so the line
# may come from any rank: 17 ranks on 2 cores do not reach the check in rank order.
# Usage: ep_too_many_ranks.sh DSV32_BIN MODEL_DIR MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 MPIEXEC=$3
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
set +e
out=$(timeout 120 "$MPIEXEC" --allow-run-as-root --oversubscribe -np 17 "$BIN" run --model "$MODEL" --ids 1,2 --threads 1 \
      --parallel ep 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || { echo "FAIL: exit status $rc, expected 2:"; echo "$out"; exit 1; }
grep -Eq "error \(rank [0-9]+ of 17\): .*config.json: n_routed_experts: 16 experts cannot be split over 17 ranks" <<<"$out" ||
  { echo "FAIL: no error naming n_routed_experts:"; echo "$out"; exit 1; }
echo "PASS: 17 ranks for 16 experts rejected with exit 2"
