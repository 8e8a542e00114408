#!/usr/bin/env bash
# `dsv32 bench` over N ranks splits each test's time into compute and communication and counts the
# bytes the ranks received (app/bench_comm.h). For every test, in total and per layer:
#   - the measured bytes (counted at the collective calls, summed over the ranks) equal the formula
#     of docs/MODEL.md §13.5, recomputed here from config.json alone:
#       EP exchange, per MoE layer:         tokens · (N/E)·(E − 1) · K·D·4
#       TP reductions, per layer:           tokens · N·(T − 1) · D·4 · (1 + [dense layer or shared expert])
#   - compute + communication ≤ the timed seconds (mean over the ranks), and communication > 0 for
#     each kind whose formula is non-zero.
# Usage: comm_bench.sh DSV32_BIN MODEL_DIR WORK_DIR NRANKS TP EP MPIEXEC
set -euo pipefail
BIN=$1 MODEL=$2 WORK=$3 N=$4 T=$5 E=$6 MPIEXEC=$7
rm -rf "$WORK"; mkdir -p "$WORK"
. "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
"$MPIEXEC" --allow-run-as-root --oversubscribe -np "$N" "$BIN" bench --model "$MODEL" --modes sparse/absorbed \
  --pp 32 --tg 4 --depths 0 --curve 0 --reps 2 --threads 1 --tp "$T" --ep "$E" --json "$WORK/bench.json" \
  >"$WORK/bench.txt" 2>"$WORK/bench.err" || { cat "$WORK/bench.err"; exit 1; }
grep -q "^communication over $N ranks (TP $T x EP $E)" "$WORK/bench.txt" || { cat "$WORK/bench.txt"; exit 1; }
/usr/bin/python3 - "$WORK/bench.json" "$MODEL/config.json" "$N" "$T" "$E" <<'PY'
import json, sys
b, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
N, T, E = map(int, sys.argv[3:6])
D, K, L = c["hidden_size"], c["num_experts_per_tok"], c["num_hidden_layers"]
dense, shared = c["first_k_dense_replace"], c.get("n_shared_experts", 0) > 0
assert len(b["results"]) == 2, b["results"]
def formula(layer, tokens):
    moe = layer >= dense
    ep = tokens * (N // E) * (E - 1) * K * D * 4 if moe else 0
    tp = tokens * N * (T - 1) * D * 4 * (1 + (1 if (not moe or shared) else 0))
    return ep, tp
for r in b["results"]:
    cm = r["comm"]
    assert (cm["ranks"], cm["tp"], cm["ep"]) == (N, T, E), cm
    tokens = (r["n_prompt"] or r["n_gen"]) * r["reps"]
    assert cm["tokens"] == tokens, (cm["tokens"], tokens)
    assert len(cm["layers"]) == L
    total_ep = total_tp = 0
    for lay in cm["layers"]:
        ep, tp = formula(lay["layer"], tokens)
        got = lay["bytes_received"]
        assert got["ep_exchange"]["measured_all_ranks"] == ep == got["ep_exchange"]["formula_all_ranks"], (lay, ep)
        assert got["tp_reduce"]["measured_all_ranks"] == tp == got["tp_reduce"]["formula_all_ranks"], (lay, tp)
        assert got["tp_heads"]["measured_all_ranks"] == 0, lay
        total_ep, total_tp = total_ep + ep, total_tp + tp
    a = cm["all_layers"]
    assert a["bytes_received"]["ep_exchange"]["measured_all_ranks"] == total_ep, (a, total_ep)
    assert a["bytes_received"]["tp_reduce"]["measured_all_ranks"] == total_tp, (a, total_tp)
    comm = {k: v["mean"] for k, v in a["comm_seconds"].items()}
    timed = cm["timed_seconds"]["mean"]
    assert a["compute_seconds"]["mean"] > 0, a
    assert a["compute_seconds"]["mean"] + sum(comm.values()) <= timed * (1 + 1e-9), (a, timed)
    assert a["seconds"]["max"] <= cm["timed_seconds"]["max"] * (1 + 1e-9), (a, cm["timed_seconds"])
    if total_ep: assert comm["ep_exchange"] > 0, comm
    if total_tp: assert comm["tp_reduce"] > 0, comm
    assert total_ep + total_tp > 0
    per_tok = lambda x: x / N / tokens
    print(f"PASS {r['test']} (np {N}, TP {T}, EP {E}): EP {per_tok(total_ep):.0f} B/token, TP {per_tok(total_tp):.0f} "
          f"B/token per rank = formula; compute {a['compute_seconds']['mean']:.4f} s + comm {sum(comm.values()):.4f} s "
          f"<= timed {timed:.4f} s")
PY
