#!/usr/bin/python3
"""Writes torch_linspace_avx2.json: torch.linspace(1, 0, N + 1) in float32, as BFL's get_schedule makes its times,
from Debian 12's python3-torch (1.13) with the AVX2 kernel the golden schedules came from. The step counts are
ones where rounding start + step*i once (the kernel's fused multiply-add) or twice gives different times.

    ATEN_CPU_CAPABILITY=avx2 /usr/bin/python3 tests/flowmatch/make_torch_linspace.py \
        > tests/flowmatch/torch_linspace_avx2.json
"""
import json
import os
import sys

import torch

STEPS = [9, 13, 72, 74, 150, 1000]

if os.environ.get("ATEN_CPU_CAPABILITY") != "avx2":
    sys.exit("run with ATEN_CPU_CAPABILITY=avx2 (the references' kernel)")
entries = [json.dumps({"num_steps": n, "times": torch.linspace(1, 0, n + 1).tolist()}) for n in STEPS]
source = f"torch {torch.__version__}, ATEN_CPU_CAPABILITY=avx2: torch.linspace(1, 0, N + 1), float32"
print('{"source": %s,\n "linspace": [\n  %s\n]}' % (json.dumps(source), ",\n  ".join(entries)))
