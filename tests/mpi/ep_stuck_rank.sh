#!/usr/bin/env bash
# A stuck rank does not hang the job: rank 1 is stopped (SIGSTOP) mid-run; rank 0 waits in the
# expert exchange for DSV32_EP_TIMEOUT = 3 s, prints a one-line error naming itself and aborts the
# job with exit status 2. The whole run must end well within 90 s.
# Usage: ep_stuck_rank.sh DSV32_BIN MODEL_DIR WORK_DIR MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3 MPIEXEC=$4
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
# 1500 positions (~5-10 s of decode on the tiny preset): rank 1 must still be running when it is
# stopped after 1 s, whatever the machine (with 80 positions a fast build finished first).
IDS=$(seq -s, 0 83 128000 | cut -d, -f1-1500)
RUN="$BIN run --model $MODEL --ids $IDS --prefill 1 --threads 1 --quiet --parallel ep"
# Rank 1 runs in the background of its shell and is stopped after a second (mid-decode).
cat > "$WORK/rank.sh" <<SH
#!/bin/sh
if [ "\$OMPI_COMM_WORLD_RANK" = 1 ]; then $RUN & p=\$!; sleep 1; kill -STOP \$p; wait \$p; else exec $RUN; fi
SH
chmod +x "$WORK/rank.sh"
start=$(date +%s)
set +e
out=$(DSV32_EP_TIMEOUT=3 timeout 90 "$MPIEXEC" --allow-run-as-root --oversubscribe -x DSV32_EP_TIMEOUT -np 2 "$WORK/rank.sh" 2>&1)
rc=$?
set -e
took=$(( $(date +%s) - start ))
if [ $rc -eq 124 ]; then echo "FAIL: the job hung (killed by timeout after 90 s)"; exit 1; fi
if [ $rc -eq 0 ]; then echo "FAIL: the job succeeded although rank 1 was stopped"; echo "$out"; exit 1; fi
if ! grep -q "error (rank 0 of 2): rank 0: the expert exchange waited" <<<"$out"; then
  echo "FAIL: no one-line error naming the waiting rank (exit $rc):"; echo "$out"; exit 1
fi
echo "PASS: stuck rank ended the job in ${took} s with exit $rc"
