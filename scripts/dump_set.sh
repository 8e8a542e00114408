#!/usr/bin/env bash
# The dump set that proves a restructuring keeps behaviour: every mode x {exact, ref1} on two tiny
# checkpoints (FP8 seed 1, BF16 seed 2), 80 ids = 48 prefilled + 32 decoded, 2 threads, plus a pinned
# run. Make it with the old binary and the new one, then compare each pair bit for bit:
#   scripts/dump_set.sh OLD/dsv32 /tmp/old && scripts/dump_set.sh build/bin/dsv32 /tmp/new
#   for f in /tmp/old/*.h5; do build/bin/dsv32 verify "$f" "/tmp/new/${f##*/}" --profile bitwise --quiet; done
# Usage: scripts/dump_set.sh DSV32_BIN OUT_DIR   (checkpoints are synthesized into OUT_DIR/models)
set -euo pipefail
BIN=$1 OUT=$2
mkdir -p "$OUT/models"
[ -f "$OUT/models/tiny/config.json" ] || "$BIN" synth --preset tiny --seed 1 --weights fp8 --out "$OUT/models/tiny" >/dev/null
[ -f "$OUT/models/tinybf16/config.json" ] || "$BIN" synth --preset tiny --seed 2 --weights bf16 --out "$OUT/models/tinybf16" >/dev/null
IDS=$(seq -s, 0 1347 128000 | cut -d, -f1-80)
for m in tiny tinybf16; do
  for attn in dense sparse; do
    for mla in naive absorbed; do
      for num in exact ref1; do
        "$BIN" run --model "$OUT/models/$m" --ids "$IDS" --prefill 48 --attn $attn --mla $mla --numerics $num \
          --threads 2 --quiet --dump "$OUT/${m}_${attn}_${mla}_${num}.h5" >/dev/null
      done
    done
  done
done
"$BIN" run --model "$OUT/models/tiny" --ids "$IDS" --prefill 48 --attn sparse --mla naive --threads 1 --quiet \
  --pin-from "$OUT/tiny_sparse_absorbed_exact.h5" --dump "$OUT/pin.h5" >/dev/null
echo "dump_set: $(ls "$OUT"/*.h5 | wc -l) dumps in $OUT"
