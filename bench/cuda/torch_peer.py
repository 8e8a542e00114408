#!/usr/bin/env python3
"""PyTorch peer of bench_cuda_ops: the same ops at the same DeepSeek V3.2 shapes, written the way
PyTorch users would (matmul, _scaled_mm, einsum, softmax, topk, SDPA), timed the same way, with the
same peaks measured in the same process, written as Google-Benchmark-shaped JSON so that
`dsv32 report` and bench/cuda/side_by_side.py read it like bench_cuda_ops's own file.

    python3 bench/cuda/torch_peer.py --json OUT.json          # on the GPU machine (torch 2.x, CUDA)
    python3 bench/cuda/torch_peer.py --dry-run                # list the cases; needs neither
    python3 bench/cuda/torch_peer.py --filter 'linear.*_M1$'  # a subset (regular expression)

Names: BM_<op>/torch/<dtype>/v32_<shape>, the op/dtype/shape tokens of bench_cuda_ops, so that a
pair differs only in the impl token. Extra cases without a twin (bf16 attention) are listed alone.

Timing: per case, `--warmup` untimed calls, then calls until `--min-time` seconds of event time
(at least 3, at most `--max-iters`), each between two torch.cuda.Event on the current stream,
after an L2 flush (zero_() over 2 x L2 bytes, outside the events) unless --no-l2-flush.
real_time is the mean per call in microseconds, as Google Benchmark reports it.

Peaks (same probes as bench_cuda_ops, cuda_bench_util.h): HBM = copy_ of 1 GiB uint8, read +
write bytes, best of 10; bf16 = torch.matmul 8192^3 bf16 (fp32 accumulate), best of 5; fp32 =
torch.matmul 8192^3 fp32 with TF32 off, best of 3; FP8 = 1979 TFLOP/s datasheet, not measured.
Counters: GBps, GFLOPS, TFLOPS, pct_peak_bw, frac_hbm, pct_peak_flops, frac_<roof>,
bytes_per_call, flops_per_call; bytes count what each op must move at the dtypes IT uses (a bf16
matmul moves bf16 activations; bench_cuda_ops's fp32-activation ops move fp32 ones).

FP8 linear: x (bf16) is quantized inside the timed call, as the op needs, then torch._scaled_mm
with the first scaling torch accepts on this GPU: "blockwise" (1x128 activation, 128x128 weight
blocks: the checkpoint's own layout), "rowwise" (per-row x, per-output-column W), "tensorwise".
The mode used is the benchmark's label.
"""
import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys

# MODEL §1 (bench/bench_util.h preset "v32").
V32 = dict(D=7168, H=128, dn=128, dr=64, rq=1536, rkv=512, dv=128, HI=64, dI=128, topk=2048,
           E=256, K=8, n_group=8, topk_group=4, I_moe=2048, vocab=129280, route_scale=2.5)
ATTN_SCALE = 0.1352337788608801  # MODEL §1.2 s_att
FP8_SPEC_TFLOPS = 1979.0         # H100 SXM / H200 dense e4m3 datasheet (not measured)
E4M3_MAX = 448.0

torch = None  # imported in main() unless --dry-run
F = None


class Case:
    """One benchmark: name, per-call bytes and flops, the FLOP roof, and make() -> (op, label)."""

    def __init__(self, name, bytes_, flops, roof, make, warmup=None):
        self.name, self.bytes, self.flops, self.roof, self.make = name, float(bytes_), float(flops), roof, make
        self.warmup = warmup


def dev():
    return torch.device("cuda")


def randn(*shape, dtype=None):
    return torch.randn(*shape, device=dev(), dtype=dtype or torch.float32)


# ------------------------------------------------------------------------------------------ cases
def rmsnorm_case(M, D):
    def make():
        x, w = randn(M, D), randn(D)
        if hasattr(F, "rms_norm"):
            return (lambda: F.rms_norm(x, (D,), w, 1e-6)), "F.rms_norm"
        return (lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w), "manual"
    return Case(f"BM_rmsnorm/torch/f32/v32_hidden_D{D}_M{M}", 4 * (2 * M * D + D), 4 * M * D, "fp32", make)


def rope_freqs(M, dr, pos0=4096):
    """cos, sin [M, dr/2] of YaRN RoPE (factor 40, theta 1e4, original 4096, beta 32/1; MODEL §4.3)."""
    base, factor, orig, beta_fast, beta_slow = 10000.0, 40.0, 4096, 32, 1
    half = dr // 2
    freqs = 1.0 / (base ** (torch.arange(0, dr, 2, dtype=torch.float64) / dr))

    def corr_dim(rot):
        return dr * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))
    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), dr - 1)
    ramp = ((torch.arange(half, dtype=torch.float64) - low) / max(high - low, 1e-3)).clamp(0, 1)
    smooth = 1 - ramp
    freqs = freqs / factor * (1 - smooth) + freqs * smooth
    t = torch.arange(pos0, pos0 + M, dtype=torch.float64)
    ang = torch.outer(t, freqs)
    return ang.cos().float().to(dev()), ang.sin().float().to(dev())


def rope_case(M, layout, heads, head_dim, offset, label):
    dr = V32["dr"]

    def make():
        x = randn(M, heads, head_dim)
        cos, sin = rope_freqs(M, dr)
        cos, sin = cos[:, None, :], sin[:, None, :]
        sl = x[..., offset:offset + dr]
        if layout == "interleaved":  # pairs (2j, 2j+1), as a complex multiply (REF's form)
            fc = torch.complex(cos, sin)

            def op():
                xc = torch.view_as_complex(sl.unflatten(-1, (dr // 2, 2)))
                sl.copy_(torch.view_as_real(xc * fc).flatten(-2))
            return op, "view_as_complex"

        def op():  # rotate-half: pairs (j, j + dr/2)
            a, b = sl[..., :dr // 2], sl[..., dr // 2:]
            sl.copy_(torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1))
        return op, "rotate_half"
    return Case(f"BM_rope/torch/f32/v32_{label}_H{heads}_M{M}", 4 * (2 * M * heads * dr + M * dr),
                3 * M * heads * dr, "fp32", make)


LINEAR_MATS = [("q_a", V32["rq"], V32["D"]), ("q_b", V32["H"] * (V32["dn"] + V32["dr"]), V32["rq"]),
               ("kv_a", V32["rkv"] + V32["dr"], V32["D"]), ("o", V32["D"], V32["H"] * V32["dv"]),
               ("expert_up", V32["I_moe"], V32["D"]), ("lm_head", V32["vocab"], V32["D"])]


def linear_bf16_case(name, N, K, M):
    def make():
        x, w = randn(M, K, dtype=torch.bfloat16), randn(N, K, dtype=torch.bfloat16) * (K ** -0.5)
        y = torch.empty(M, N, device=dev(), dtype=torch.bfloat16)
        return (lambda: torch.matmul(x, w.t(), out=y)), "matmul"
    return Case(f"BM_linear/torch/bf16/v32_{name}_M{M}", 2 * (N * K + M * K + M * N), 2 * M * N * K, "bf16", make)


def e4m3_weight(N, K):
    codes = torch.randint(0, 256, (N, K), dtype=torch.uint8, device=dev())
    codes[(codes & 0x7F) == 0x7F] = 0  # 0x7f / 0xff are NaN in e4m3fn
    return codes.view(torch.float8_e4m3fn)


def fp8_linear_op(mode, x, w, w_block_scale, N, K, M):
    """The timed call for one scaling mode: quantize x (bf16) to e4m3, then _scaled_mm → bf16."""
    e4m3 = torch.float8_e4m3fn
    wt = w.t()  # [K, N] column-major, as _scaled_mm wants its second operand
    if mode == "blockwise":
        kb = K // 128
        sb = w_block_scale.t()  # [K/128, ceil(N/128)]

        def op():
            xb = x.float().view(M, kb, 128)
            s = xb.abs().amax(-1, keepdim=True).clamp_min(1e-4) / E4M3_MAX
            xq = (xb / s).to(e4m3).view(M, K)
            sa = s.view(M, kb).t().contiguous().t()  # outer-dim-major [M, K/128]
            return torch._scaled_mm(xq, wt, sa, sb, out_dtype=torch.bfloat16)
        return op
    if mode == "rowwise":
        sw = torch.full((1, N), 1.0 / 64, device=dev(), dtype=torch.float32)

        def op():
            s = x.abs().amax(-1, keepdim=True).float().clamp_min(1e-4) / E4M3_MAX
            xq = (x.float() / s).to(e4m3)
            return torch._scaled_mm(xq, wt, s, sw, out_dtype=torch.bfloat16)
        return op
    sw = torch.tensor(1.0 / 64, device=dev(), dtype=torch.float32)

    def op():
        s = (x.abs().amax().float().clamp_min(1e-4) / E4M3_MAX)
        xq = (x.float() / s).to(e4m3)
        return torch._scaled_mm(xq, wt, s, sw, out_dtype=torch.bfloat16)
    return op


def linear_f8_case(name, N, K, M):
    sr, sc = (N + 127) // 128, (K + 127) // 128

    def make():
        x, w = randn(M, K, dtype=torch.bfloat16), e4m3_weight(N, K)
        w_block_scale = torch.full((sr, sc), (K ** -0.5) / 8, device=dev(), dtype=torch.float32)
        errors = []
        # If no mode takes M rows as they are (a minimum of 16 rows is possible), pad x to 16.
        for rows in sorted({M, (M + 15) // 16 * 16}):
            xr = x if rows == M else torch.cat((x, x.new_zeros(rows - M, K)))
            for mode in ("blockwise", "rowwise", "tensorwise"):
                try:
                    op = fp8_linear_op(mode, xr, w, w_block_scale, N, K, rows)
                    op()
                    torch.cuda.synchronize()
                    return op, mode + ("" if rows == M else f", x padded to {rows} rows")
                except Exception as e:  # noqa: BLE001 — the next mode is the fallback
                    errors.append(f"{mode}/M{rows}: {(str(e).splitlines() or [type(e).__name__])[0][:120]}")
        raise RuntimeError("torch._scaled_mm rejected every scaling mode: " + "; ".join(errors))
    return Case(f"BM_linear/torch/f8/v32_{name}_M{M}", N * K + 4 * sr * sc + 2 * M * K + 2 * M * N, 2 * M * N * K,
                "fp8", make)


def attn_absorbed_case(ctx, sparse, dtype="f32"):
    H, rkv, dr, k = V32["H"], V32["rkv"], V32["dr"], V32["topk"]
    lat, n = rkv + dr, (min(k, ctx) if sparse else ctx)
    es = 4 if dtype == "f32" else 2

    def make():
        dt = torch.float32 if dtype == "f32" else torch.bfloat16
        q, kv = randn(H, lat, dtype=dt), randn(ctx, lat, dtype=dt)
        idx = torch.randperm(ctx, device=dev())[:n].sort().values if sparse else None

        def op():  # scores [H, n] = q̃·[c;k_r]ᵀ, softmax, out [H, r_kv] = p·c
            rows = kv.index_select(0, idx) if sparse else kv
            s = torch.einsum("hd,nd->hn", q, rows) * ATTN_SCALE
            p = torch.softmax(s.float(), dim=-1).to(dt)
            return torch.einsum("hn,nd->hd", p, rows[:, :rkv])
        return op, "einsum"
    kind = "sparse" if sparse else "dense"
    shape = f"v32_ctx{ctx}" + (f"_k{k}" if sparse else "")
    return Case(f"BM_attn_{kind}/torch/{dtype}/{shape}", es * (n * lat + H * lat + H * rkv) + (8 * n if sparse else 0),
                H * n * (2 * lat + 2 * rkv + 4), "fp32" if dtype == "f32" else "bf16", make)


def attn_prefill_case(S, dtype="f32"):
    H, dk, dv = V32["H"], V32["dn"] + V32["dr"], V32["dv"]
    es = 4 if dtype == "f32" else 2

    def make():
        dt = torch.float32 if dtype == "f32" else torch.bfloat16
        q, k, v = randn(1, H, S, dk, dtype=dt), randn(1, H, S, dk, dtype=dt), randn(1, H, S, dv, dtype=dt)
        return (lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=ATTN_SCALE)), "sdpa"
    pairs = S * (S + 1) / 2 * H
    return Case(f"BM_attn_prefill/torch/{dtype}/v32_S{S}_causal", es * S * H * (2 * dk + 2 * dv),
                pairs * (2 * dk + 2 * dv + 4), "fp32" if dtype == "f32" else "bf16", make, warmup=1)


def indexer_case(S, n, name):
    HI, dI = V32["HI"], V32["dI"]

    def make():
        q, w, keys = randn(S, HI, dI), randn(S, HI), randn(n, dI)

        def op():  # Σ_j w_j·ReLU(q_j·k): [S, HI, n] logits materialised, as PyTorch does
            return torch.einsum("shn,sh->sn", torch.relu(torch.einsum("shd,nd->shn", q, keys)), w)
        return op, "einsum"
    return Case(f"BM_indexer_scores/torch/f32/v32_{name}", 4 * (S * HI * (dI + 1) + n * dI + S * n),
                S * n * HI * (2 * dI + 2), "fp32", make)


def topk_case(rows, n, k, name):
    def make():
        scores = randn(rows, n)
        # Same contract as gpu::topk: the k positions in ascending order.
        return (lambda: torch.topk(scores, k, dim=-1, sorted=False).indices.sort(dim=-1).values), "topk+sort"
    return Case(f"BM_indexer_topk/torch/f32/v32_{name}", 4 * rows * (n + min(n, k)), 0, "none", make)


def moe_route_case(T):
    E, K, G, TG = V32["E"], V32["K"], V32["n_group"], V32["topk_group"]

    def make():
        logits, bias = randn(T, E) * 3, randn(E) * 0.05

        def op():  # MODEL §8.2
            s = logits.sigmoid()
            z = s + bias
            group = z.view(T, G, E // G).topk(2, dim=-1).values.sum(-1)
            keep = torch.zeros(T, G, dtype=torch.bool, device=dev()).scatter_(1, group.topk(TG, dim=-1).indices, True)
            z = z.view(T, G, E // G).masked_fill(~keep[..., None], float("-inf")).view(T, E)
            ids = z.topk(K, dim=-1).indices.sort(dim=-1).values
            wts = s.gather(1, ids)
            return ids, wts / wts.sum(-1, keepdim=True) * V32["route_scale"]
        return op, "sigmoid+grouped topk"
    return Case(f"BM_moe_route/torch/f32/v32_E{E}_M{T}", 4 * (2 * T * E + E + 2 * T * K), 6 * T * E, "none", make)


def case_list():
    s = V32
    cases = []
    for M in (1, 4096):
        cases.append(rmsnorm_case(M, s["D"]))
        cases.append(rope_case(M, "interleaved", s["H"], s["dn"] + s["dr"], s["dn"], "q_interleaved"))
        cases.append(rope_case(M, "half", s["HI"], s["dI"], 0, "indexer_q_half"))
    for name, N, K in LINEAR_MATS:
        for M in (1, 64, 4096):
            cases.append(linear_bf16_case(name, N, K, M))
            cases.append(linear_f8_case(name, N, K, M))
    for ctx in (8192, 32768, 131072):
        cases.append(attn_absorbed_case(ctx, False))
    cases.append(attn_absorbed_case(131072, True))
    cases.append(attn_absorbed_case(131072, False, "bf16"))
    cases.append(attn_absorbed_case(131072, True, "bf16"))
    cases.append(attn_prefill_case(4096))
    cases.append(attn_prefill_case(4096, "bf16"))
    cases.append(indexer_case(1, 131072, "ctx131072"))
    cases.append(indexer_case(4096, 4096, "prefill_S4096"))
    cases.append(topk_case(1, 131072, s["topk"], f"ctx131072_k{s['topk']}"))
    cases.append(topk_case(64, 8192, s["topk"], f"rows64_ctx8192_k{s['topk']}"))
    for T in (1, 4096):
        cases.append(moe_route_case(T))
    return cases


# ------------------------------------------------------------------------------------------ timing
class Timer:
    def __init__(self, flush):
        self.start = torch.cuda.Event(enable_timing=True)
        self.stop = torch.cuda.Event(enable_timing=True)
        l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 << 20)
        self.flush_buf = torch.empty(max(2 * l2, 8 << 20), dtype=torch.uint8, device=dev()) if flush else None

    def once(self, fn):
        if self.flush_buf is not None:
            self.flush_buf.zero_()
        self.start.record()
        fn()
        self.stop.record()
        self.stop.synchronize()
        return self.start.elapsed_time(self.stop) / 1e3

    def best(self, fn, warmup, reps):
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        return min(self.once(fn) for _ in range(reps))


def measure_peaks(timer):
    p = torch.cuda.get_device_properties(0)
    pk = dict(name=p.name, sm_count=p.multi_processor_count, l2_bytes=getattr(p, "L2_cache_size", 0))
    n = 1 << 30
    src = torch.full((n,), 0x5A, dtype=torch.uint8, device=dev())
    dst = torch.empty_like(src)
    pk["hbm_gbps"] = 2 * n / timer.best(lambda: dst.copy_(src), 2, 10) / 1e9
    del src, dst
    for key, dt, reps in (("bf16_tflops", torch.bfloat16, 5), ("fp32_tflops", torch.float32, 3)):
        a, b = randn(8192, 8192, dtype=dt), randn(8192, 8192, dtype=dt)
        c = torch.empty(8192, 8192, device=dev(), dtype=dt)
        pk[key] = 2 * 8192 ** 3 / timer.best(lambda: torch.matmul(a, b, out=c), 2, reps) / 1e12
        del a, b, c
    pk["fp8_spec_tflops"] = FP8_SPEC_TFLOPS
    torch.cuda.empty_cache()
    return pk


def counters(case, seconds_per_call, pk):
    gbps = case.bytes / seconds_per_call / 1e9
    tflops = case.flops / seconds_per_call / 1e12
    c = dict(GBps=gbps, GFLOPS=tflops * 1e3, TFLOPS=tflops, pct_peak_bw=100 * gbps / pk["hbm_gbps"],
             frac_hbm=gbps / pk["hbm_gbps"], bytes_per_call=case.bytes, flops_per_call=case.flops)
    roofs = {"bf16": ("bf16_tflops", "frac_bf16_peak"), "fp8": ("fp8_spec_tflops", "frac_fp8_spec"),
             "fp32": ("fp32_tflops", "frac_fp32_peak")}
    if case.flops > 0 and case.roof in roofs:
        peak_key, frac_key = roofs[case.roof]
        c["pct_peak_flops"] = 100 * tflops / pk[peak_key]
        c[frac_key] = tflops / pk[peak_key]
    return c


def run_case(case, timer, args, pk):
    entry = dict(name=case.name, run_name=case.name, run_type="iteration", repetitions=1, repetition_index=0,
                 threads=1, time_unit="us")
    try:
        op, label = case.make()
        warmup = case.warmup if case.warmup is not None else args.warmup
        for _ in range(warmup):
            op()
        torch.cuda.synchronize()
        times = []
        while len(times) < 3 or (sum(times) < args.min_time and len(times) < args.max_iters):
            times.append(timer.once(op))
        mean = sum(times) / len(times)
        entry.update(iterations=len(times), real_time=mean * 1e6, cpu_time=mean * 1e6, label=label)
        entry.update(counters(case, mean, pk))
    except Exception as e:  # noqa: BLE001 — one failing case must not end the run
        entry.update(iterations=0, real_time=0.0, cpu_time=0.0, error_occurred=True,
                     error_message=(str(e).splitlines() or [type(e).__name__])[0][:300])
    op = None
    try:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 — a sticky CUDA error: later cases will report it
        pass
    return entry


def git_commit():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        s = out.stdout.strip()
        return s if len(s) == 40 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", metavar="OUT", help="write Google-Benchmark-shaped JSON here")
    ap.add_argument("--filter", default="", help="regular expression on case names (re.search)")
    ap.add_argument("--dry-run", action="store_true", help="list the cases (bytes, flops, roof); import nothing")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per case (default 2)")
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds of event time per case (default 0.05)")
    ap.add_argument("--max-iters", type=int, default=200, help="timed calls per case at most (default 200)")
    ap.add_argument("--no-l2-flush", action="store_true", help="keep L2 warm between timed calls")
    args = ap.parse_args(argv)

    cases = [c for c in case_list() if re.search(args.filter, c.name)]
    if args.dry_run:
        for c in cases:
            print(f"{c.name:62s} bytes {c.bytes:12.4g}  flops {c.flops:12.4g}  roof {c.roof}")
        print(f"{len(cases)} cases")
        return 0

    global torch, F
    import torch as torch_module
    import torch.nn.functional as functional
    torch, F = torch_module, functional
    if not torch.cuda.is_available():
        print("torch_peer: no CUDA device visible to torch; nothing ran")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as in bench_cuda_ops
    torch.backends.cudnn.allow_tf32 = False
    timer = Timer(not args.no_l2_flush)
    pk = measure_peaks(timer)
    print(f"device: {pk['name']}, {pk['sm_count']} SMs, L2 {pk['l2_bytes'] >> 20} MiB; peaks: HBM copy "
          f"{pk['hbm_gbps']:.0f} GB/s, bf16 {pk['bf16_tflops']:.1f} TFLOP/s, fp32 {pk['fp32_tflops']:.1f} "
          f"TFLOP/s, FP8 {FP8_SPEC_TFLOPS:.0f} (spec); torch {torch.__version__}", file=sys.stderr, flush=True)
    results = []
    for c in cases:
        e = run_case(c, timer, args, pk)
        results.append(e)
        if e.get("error_occurred"):
            print(f"{c.name:62s} ERROR {e['error_message']}", flush=True)
        else:
            print(f"{c.name:62s} {e['real_time']:12.2f} us  {e['GBps']:9.1f} GB/s  {e['TFLOPS']:8.2f} TFLOP/s  "
                  f"[{e['label']}]", flush=True)
    if args.json:
        ctx = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   executable="bench/cuda/torch_peer.py", producer="bench/cuda/torch_peer.py", device="cuda",
                   device_name=pk["name"], machine=pk["name"], preset="v32", git_commit=git_commit(),
                   torch=torch.__version__, torch_cuda=str(torch.version.cuda), sm_count=str(pk["sm_count"]),
                   l2_bytes=str(pk["l2_bytes"]), peak_gbps=f"{pk['hbm_gbps']:.2f}",
                   peak_gflops=f"{pk['bf16_tflops'] * 1e3:.2f}", peak_bf16_tflops=f"{pk['bf16_tflops']:.2f}",
                   peak_fp32_tflops=f"{pk['fp32_tflops']:.2f}", peak_fp8_spec_tflops=f"{FP8_SPEC_TFLOPS:.2f}",
                   l2_flush="off" if args.no_l2_flush else "zero_ 2x L2 before every timed call")
        with open(args.json, "w") as f:
            json.dump(dict(context=ctx, benchmarks=results), f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
