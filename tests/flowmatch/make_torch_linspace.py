#!/usr/bin/python3
"""Writes torch_linspace_<kernel>.json: torch.linspace(1, 0, N + 1) in float32, as BFL's get_schedule makes its
times, from Debian 12's python3-torch (1.13) with the CPU kernel ATEN_CPU_CAPABILITY names (avx2: the one the
golden schedules came from; avx512, which needs such a CPU; default: the scalar dispatch). The step counts are ones
where the kernels, or rounding start + step*i once (a fused multiply-add) and twice, give different times.

    for k in avx2 avx512 default; do ATEN_CPU_CAPABILITY=$k /usr/bin/python3 tests/flowmatch/make_torch_linspace.py; done

It writes tests/flowmatch/torch_linspace_<kernel>.json itself, and only once torch is known to run that kernel (a
shell redirection would have emptied the file first).
"""
import json
import os
import pathlib
import sys

import torch

STEPS = [9, 13, 15, 28, 50, 72, 74, 150, 1000]

kernel = os.environ.get("ATEN_CPU_CAPABILITY")
if kernel not in ("avx2", "avx512", "default"):
    sys.exit("set ATEN_CPU_CAPABILITY to avx2, avx512 or default: the kernel to record")
# torch 1.13 says which kernel it runs only in its build summary ("CPU capability usage: AVX512").
shown = {"avx2": "AVX2", "avx512": "AVX512", "default": "NO AVX"}[kernel]
if f"CPU capability usage: {shown}\n" not in torch.__config__.show() + "\n":
    sys.exit(f"torch does not run the {kernel} kernel here (the CPU may lack it)")
entries = [json.dumps({"num_steps": n, "times": torch.linspace(1, 0, n + 1).tolist()}) for n in STEPS]
source = f"torch {torch.__version__}, ATEN_CPU_CAPABILITY={kernel}: torch.linspace(1, 0, N + 1), float32"
text = '{"source": %s,\n "kernel": %s,\n "linspace": [\n  %s\n]}\n' % (json.dumps(source), json.dumps(kernel),
                                                                      ",\n  ".join(entries))
out = pathlib.Path(__file__).with_name(f"torch_linspace_{kernel}.json")
out.write_text(text)
print(f"wrote {out}")
