#!/usr/bin/env python3
"""Side-by-side Markdown table of two Google-Benchmark-shaped JSON files: bench_cuda_ops (ours)
and bench/cuda/torch_peer.py (PyTorch). Each of our cases is paired with the PyTorch case of the
same name but for the impl token (BM_<op>/<impl>/<dtype>/<shape>; Google Benchmark's
"/manual_time" suffix is dropped), so several of our impls of one case each meet the same PyTorch
row. Standard library only.

    python3 bench/cuda/side_by_side.py ours.json torch.json > side_by_side.md
    python3 bench/cuda/side_by_side.py --self-test

Columns: our time and PyTorch's (mean per call, µs), speed-up = torch time / our time (> 1: ours is
faster), and each side's % of HBM bandwidth and % of its FLOP roof (frac_bf16_peak, frac_fp8_spec
or frac_fp32_peak, as its file says). The peaks each file measured head the table: fractions are
against the peaks of the process that produced them. Cases only one side has are listed with "–".
Repetitions (Google Benchmark --benchmark_repetitions) are averaged; aggregates are skipped.
"""
import json
import sys

ROOFS = (("frac_bf16_peak", "bf16"), ("frac_fp8_spec", "fp8 spec"), ("frac_fp32_peak", "fp32"))
UNIT_TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def clean(name):
    """Google Benchmark appends "/manual_time" to manual-time cases; PyTorch's names have none."""
    return name[:-len("/manual_time")] if name.endswith("/manual_time") else name


def key_of(name):
    """BM_linear/cuda/bf16/v32_q_a_M1 -> BM_linear/bf16/v32_q_a_M1 (the impl token dropped)."""
    parts = clean(name).split("/")
    return "/".join([parts[0]] + parts[2:]) if len(parts) >= 4 else clean(name)


def load(doc):
    """{name: {us, pct_bw, pct_flops, roof, label}} plus the context, from parsed JSON."""
    rows, sums = {}, {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        name = clean(b.get("run_name", b["name"]))
        r = sums.setdefault(name, dict(n=0, us=0.0, pct_bw=0.0, pct_flops=None, roof="", label=""))
        r["n"] += 1
        r["us"] += float(b["real_time"]) * UNIT_TO_US.get(b.get("time_unit", "ns"), 1e-3)
        r["pct_bw"] += float(b.get("pct_peak_bw", 0.0))
        if "pct_peak_flops" in b:
            r["pct_flops"] = (r["pct_flops"] or 0.0) + float(b["pct_peak_flops"])
        r["roof"] = next((label for key, label in ROOFS if key in b), "")
        r["label"] = b.get("label", "")
    for k, r in sums.items():
        n = r.pop("n")
        rows[k] = dict(r, us=r["us"] / n, pct_bw=r["pct_bw"] / n,
                       pct_flops=None if r["pct_flops"] is None else r["pct_flops"] / n)
    return rows, doc.get("context", {})


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def peaks_line(who, ctx):
    return (f"- {who}: {ctx.get('device_name', ctx.get('device', '?'))}; HBM copy {ctx.get('peak_gbps', '?')} GB/s, "
            f"bf16 GEMM {ctx.get('peak_bf16_tflops', '?')} TFLOP/s, fp32 GEMM {ctx.get('peak_fp32_tflops', '?')} "
            f"TFLOP/s, FP8 {ctx.get('peak_fp8_spec_tflops', '?')} (spec); commit {str(ctx.get('git_commit', '?'))[:10]}"
            + (f"; torch {ctx['torch']}" if "torch" in ctx else ""))


def table(ours_doc, torch_doc):
    ours, octx = load(ours_doc)
    peer, tctx = load(torch_doc)
    out = ["Measured peaks (each side's fractions are against its own):", "", peaks_line("ours", octx),
           peaks_line("PyTorch", tctx), "",
           "| case | ours µs | torch µs | speed-up | ours % HBM | ours % roof | torch % HBM | torch % roof | torch op |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    peer_by_key = {key_of(n): n for n in peer}
    paired = {key_of(n) for n in ours}
    rows = [(n, ours[n], peer.get(peer_by_key.get(key_of(n), ""))) for n in ours]
    rows += [(n, None, peer[n]) for n in peer if key_of(n) not in paired]
    for name, o, t in rows:
        speed = t["us"] / o["us"] if o and t and o["us"] > 0 else None

        def roof(r):
            return "–" if not r or r["pct_flops"] is None else f"{r['pct_flops']:.1f} ({r['roof']})"
        out.append(f"| {name} | {fmt(o and o['us'], 2)} | {fmt(t and t['us'], 2)} | "
                   f"{'–' if speed is None else f'{speed:.2f}x'} | {fmt(o and o['pct_bw'])} | {roof(o)} | "
                   f"{fmt(t and t['pct_bw'])} | {roof(t)} | {(t or {}).get('label', '') or '–'} |")
    out.append("")
    out.append("speed-up = torch time / our time (> 1: ours is faster). % roof: of the FLOP ceiling named in "
               "brackets. Times are means per call with L2 flushed before each call.")
    return "\n".join(out) + "\n"


def self_test():
    def gb(impl, entries, ctx):
        return dict(context=ctx, benchmarks=[dict(name=f"BM_{op}/{impl}/{dt}/{shape}", run_type="iteration",
                                                  real_time=t, time_unit=u, pct_peak_bw=bw, **extra)
                                             for op, dt, shape, t, u, bw, extra in entries])
    ours = gb("cuda", [("linear", "bf16", "v32_q_a_M1", 20.0, "us", 50.0, dict(pct_peak_flops=1.0, frac_bf16_peak=0.01)),
                       ("rmsnorm", "f32", "v32_D7168_M1", 4000.0, "ns", 2.0, {})],
              dict(device_name="GPU", peak_gbps="3000", git_commit="abc"))
    ours["benchmarks"].append(dict(name="BM_linear/cuda/bf16/v32_q_a_M1_mean", run_type="aggregate", real_time=1e9))
    ours["benchmarks"].append(dict(name="BM_linear/cublaslt/bf16/v32_q_a_M1/manual_time", run_type="iteration",
                                   real_time=15.0, time_unit="us", pct_peak_bw=60.0))
    peer = gb("torch", [("linear", "bf16", "v32_q_a_M1", 30.0, "us", 40.0, dict(pct_peak_flops=0.8,
                                                                               frac_bf16_peak=0.008, label="matmul")),
                        ("attn_prefill", "bf16", "v32_S4096_causal", 900.0, "us", 1.0, {})],
              dict(device_name="GPU", torch="2.11"))
    md = table(ours, peer)
    expect = ["| BM_linear/cuda/bf16/v32_q_a_M1 | 20.00 | 30.00 | 1.50x | 50.0 | 1.0 (bf16) | 40.0 | 0.8 (bf16) | matmul |",
              "| BM_linear/cublaslt/bf16/v32_q_a_M1 | 15.00 | 30.00 | 2.00x | 60.0 | – | 40.0 | 0.8 (bf16) | matmul |",
              "| BM_rmsnorm/cuda/f32/v32_D7168_M1 | 4.00 | – | – | 2.0 | – | – | – | – |",
              "| BM_attn_prefill/torch/bf16/v32_S4096_causal | – | 900.00 | – | – | – | 1.0 | – | – |"]
    missing = [e for e in expect if e not in md]
    if "| BM_linear/torch/bf16/v32_q_a_M1 |" in md:  # paired, so not listed again on its own
        missing.append("(the paired PyTorch row is listed a second time)")
    if missing:
        print(md)
        print("side_by_side self-test FAILED; missing rows:\n" + "\n".join(missing))
        return 1
    print("side_by_side self-test: ok")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 3 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    docs = []
    for path in argv[1:]:
        try:
            with open(path) as f:
                docs.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"side_by_side: {path}: {e}", file=sys.stderr)
            return 2
    sys.stdout.write(table(*docs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
