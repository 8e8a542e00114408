#!/usr/bin/env bash
# Expert parallelism is bit-identical to one process: `mpirun -np N dsv32 run --parallel ep`
# against a plain single-process run, tiny preset (16 routed experts, 4 layers), all four modes,
# 70 ids (> index_topk = 64) of which 56 prefilled and 14 decoded; `dsv32 verify --profile
# bitwise` must find every tensor of the dump identical. Also: `ppl` over N ranks prints the same
# perplexity as one process, and the run reports N ranks (so the test fails if EP silently did
# not engage).
# Usage: ep_bitwise.sh DSV32_BIN MODEL_DIR WORK_DIR NRANKS MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3 N=$4 MPIEXEC=$5
mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
# CI runs as root; ranks share the few cores of the runner (one thread each).
MPIRUN=("$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N")
IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-70)
fail=0
for attn in dense sparse; do
  for mla in naive absorbed; do
    tag=${attn}_${mla}
    common=(--model "$MODEL" --ids "$IDS" --prefill 56 --attn $attn --mla $mla --threads 1 --quiet)
    "$BIN" run "${common[@]}" --parallel none --dump "$WORK/one_$tag.h5" >/dev/null
    out=$("${MPIRUN[@]}" "$BIN" run "${common[@]}" --parallel ep --dump "$WORK/ep${N}_$tag.h5")
    if ! grep -q "^ranks   $N " <<<"$out"; then
      echo "FAIL $tag: the run did not report $N expert-parallel ranks:"; echo "$out"; fail=1; continue
    fi
    if "$BIN" verify "$WORK/ep${N}_$tag.h5" "$WORK/one_$tag.h5" --profile bitwise --quiet \
         --json "$WORK/verify_ep${N}_$tag.json"; then
      echo "PASS $tag ($N ranks bit-identical to one process)"
    else
      echo "FAIL $tag ($N ranks): see $WORK/verify_ep${N}_$tag.json"; fail=1
    fi
  done
done
exit $fail
