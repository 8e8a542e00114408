#!/usr/bin/env bash
# Peak RSS of `dsv32 run` stays within what the config predicts (docs/PERFORMANCE.md "Memory"):
# the weights are mmapped and never copied, the KV cache and the activations are sized from the
# config, and nothing else grows with the model. Usage: peak_rss.sh DSV32_BIN MODEL_DIR
#
# The bound, per run (child's getrusage ru_maxrss via os.wait4, so nothing of this script counts):
#   base      peak RSS of `dsv32 info --preset tiny` from the same binary: the process image, its
#             shared libraries and the C++ runtime, with no checkpoint opened (12 MiB in a CPU-only
#             build, ~230 MiB where CUDA's libraries are linked; measured, not assumed)
#   weights   the bytes of the safetensors files, less the token embedding, plus the span of the
#             embedding rows the prompt reads and 4 MiB: MAP_PRIVATE read-only pages count once
#             each at most, and the embedding (vocab × hidden, half the tiny checkpoint) is only
#             read at the prompt's rows. The prompt is ids 1..n, one contiguous span, because a
#             page fault maps more than its page (fault-around, and the page cache's large folios,
#             up to 2 MiB each, at both ends of the span): 64 ids scattered over the embedding
#             mapped ~650 KiB each here
#   kv        `dsv32 info --ranks 1 --ctx N` KV/token × N (naive MLA + indexer key, fp32: the
#             --mla naive --attn sparse run below)
#   act       its act/token × the prefill length (the workspace of LayerProgram::reserve, grown to
#             the largest forward call) + n × vocab × 4 (`dsv32 run` keeps every position's logits)
#   absorbed  + layers × heads × kv_lora_rank × qk_nope_head_dim × 4 (the fp32 W_UKᵀ copy, absorbed only)
#   slack     16 MiB: the malloc arenas and thread stacks of the worker pool, the RoPE table, the
#             parsed index and header JSON (all together under 4 MiB on the tiny model)
# A copy of the LM head (66 MB bf16, 132 MB as fp32) or of the embedding would exceed it.
set -euo pipefail
BIN=$1 MODEL=$2
source "$(dirname "$0")/../common/tiny_model.sh"
synth_model_once "$BIN" "$MODEL"
/usr/bin/python3 - "$BIN" "$MODEL" <<'PY'
import glob, json, os, struct, subprocess, sys
bin_, model = sys.argv[1], sys.argv[2]
MiB = 1 << 20

def peak_rss(args):
    p = subprocess.Popen([bin_] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (args, out)
    return ru.ru_maxrss * 1024, out  # Linux reports KiB

cfg = json.load(open(model + "/config.json"))
V, D = cfg["vocab_size"], cfg["hidden_size"]
files = sorted(glob.glob(model + "/*.safetensors"))
embed = 0
for f in files:
    with open(f, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(n))
    t = header.get("model.embed_tokens.weight")
    if t:
        embed = t["data_offsets"][1] - t["data_offsets"][0]
assert embed > 0, "no model.embed_tokens.weight in " + model
n, prefill = 64, 32
base, _ = peak_rss(["info", "--preset", "tiny"])
_, info = peak_rss(["info", "--model", model, "--ranks", "1", "--ctx", str(n)])
row = [l.split() for l in info.splitlines() if l.strip().startswith("0 ")][0]
kv_per_token, act_per_token = int(row[-3]), int(row[-1])
weights = sum(os.path.getsize(f) for f in files) - embed + (n + 1) * (embed // V) + 4 * MiB
kv = kv_per_token * n
act = act_per_token * prefill + n * V * 4
absorbed = cfg["num_hidden_layers"] * cfg["num_attention_heads"] * cfg["kv_lora_rank"] * cfg["qk_nope_head_dim"] * 4
slack = 16 * MiB
ids = ",".join(str(i) for i in range(1, n + 1))
for mla in ("naive", "absorbed"):
    rss, _ = peak_rss(["run", "--model", model, "--ids", ids, "--prefill", str(prefill), "--mla", mla, "--attn", "sparse",
                       "--threads", "2", "--quiet"])
    bound = base + weights + kv + act + slack + (absorbed if mla == "absorbed" else 0)
    print(f"{mla}: peak RSS {rss / MiB:.1f} MiB <= bound {bound / MiB:.1f} MiB (base {base / MiB:.1f}, weights "
          f"{weights / MiB:.1f}, kv {kv / MiB:.2f}, act {act / MiB:.1f}, slack 16)")
    assert rss <= bound, f"{mla}: peak RSS {rss} exceeds the predicted bound {bound}"
print("PASS")
PY
