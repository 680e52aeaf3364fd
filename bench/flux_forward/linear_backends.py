#!/usr/bin/python3
"""The FLUX blocks' linear layers through OpenBLAS (what genplug and eager use) and through oneDNN (libtorch's
mkldnn_linear), alternated in one process: is there a faster fp32 GEMM for issue 18's item 1 in the libtorch
genplug already links? (docs/performance.md, "Eager baseline": it is not.)

  /usr/bin/python3 bench/flux_forward/linear_backends.py [--hidden 1024] [--tokens 1152] [--rounds 3]

Shapes: a double block's per-stream qkv, projection and MLP, and the single block's fused input and output
products, at `--tokens` rows (the bench config's joint sequence). Each backend runs with its best thread
setting on this machine: OpenBLAS with one torch intra-op thread (its own pool takes the cores; more torch
threads slowed it by 10-20 %), oneDNN with one OpenMP thread per core. oneDNN needs its own tensor layout: the
weights are converted once, the activations in and out at every product, as a forward would. The result is the
time-weighted GFLOP/s over all shapes, best of the rounds, and the ratio oneDNN / OpenBLAS in time.
"""
import argparse
import json
import os
import sys
import time

import torch


def linear_shapes(hidden, mlp_ratio=4):
    mlp = hidden * mlp_ratio
    return [(hidden, 3 * hidden), (hidden, hidden), (hidden, mlp), (mlp, hidden),
            (hidden, 3 * hidden + mlp), (hidden + mlp, hidden)]


def median_seconds(call, warmup_s, repeat):
    start = time.perf_counter()
    while True:  # at least one untimed run
        call()
        if time.perf_counter() - start >= warmup_s:
            break
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def time_shapes(backend, tokens, shapes, warmup_s, repeat):
    """Seconds per product for each (in, out) shape, y = x W^T + b."""
    torch.set_num_threads(1 if backend == "openblas" else os.cpu_count())
    seconds = []
    for fan_in, fan_out in shapes:
        x, w, b = torch.randn(tokens, fan_in), torch.randn(fan_out, fan_in), torch.randn(fan_out)
        if backend == "openblas":
            call = lambda: torch.addmm(b, x, w.t())  # noqa: E731
        else:
            wm, bm = w.to_mkldnn(), b.to_mkldnn()
            call = lambda: torch._C._nn.mkldnn_linear(x.to_mkldnn(), wm, bm).to_dense()  # noqa: E731
        seconds.append(median_seconds(call, warmup_s, repeat))
    return seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--tokens", type=int, default=1152)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--warmup-s", type=float, default=1.0)
    a = p.parse_args()
    if not torch._C.has_mkldnn:  # 77: CTest's skip (SKIP_RETURN_CODE)
        print("linear_backends: this libtorch has no oneDNN (mkldnn): nothing to compare", file=sys.stderr)
        sys.exit(77)
    shapes = linear_shapes(a.hidden)
    gflop = [2 * a.tokens * i * o / 1e9 for i, o in shapes]
    best = {}
    for _ in range(a.rounds):
        for backend in ("openblas", "onednn"):
            s = time_shapes(backend, a.tokens, shapes, a.warmup_s, a.repeat)
            if backend not in best or sum(s) < sum(best[backend]):
                best[backend] = s
    rate = {k: sum(gflop) / sum(s) for k, s in best.items()}
    print("linear layers, %d tokens, hidden %d: OpenBLAS %.0f GFLOP/s, oneDNN %.0f GFLOP/s; time oneDNN/OpenBLAS: %.2f"
          % (a.tokens, a.hidden, rate["openblas"], rate["onednn"], sum(best["onednn"]) / sum(best["openblas"])))
    print(json.dumps({"tokens": a.tokens, "hidden": a.hidden, "shapes": shapes, "gflop": gflop,
                      "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "default"),
                      "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "default"),
                      "gflops_per_s": {k: [g / t for g, t in zip(gflop, s)] for k, s in best.items()},
                      "ratio_onednn_to_openblas": sum(best["onednn"]) / sum(best["openblas"])}))


if __name__ == "__main__":
    main()
