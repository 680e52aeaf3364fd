#!/usr/bin/env python3
"""The golden contract's structure half, in CI: test programs that read the FLUX transformer's structure from the
golden files (block names, depths, step counts) run on sets made here from the shipped one.

Other golden sets differ in values, depths and step counts (tests/golden/README.md, "The contract"). Only the
shipped set is on this machine, so this makes four from it, changing the structure alone:

  no-double-blocks   depth 0: the transformer's double blocks removed (BFL and diffusers files)
  no-single-blocks   depth_single_blocks 0: its single blocks removed
  one-block-each     depth 1 and depth_single_blocks 1: every block past the first removed
  one-step           sampling.num_steps 1 (sigmas [1, 0])

The weights that remain keep their values, so the stored forward and sampling outputs no longer belong to the
model: only the structure is new. The programs given must therefore be ones that compare no stored output of the
transformer (the caller names them), and of test_pipeline only the cases named below run.

  structure_variants.py [--golden DIR] --pipeline TEST_PIPELINE [PROGRAM ...]

The variants are made from GENPLUG_GOLDEN_DIR where it is set (scripts/golden-variants.sh), else from --golden.
A variant the set cannot take is left out: a set whose other stack is empty keeps this one.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

BLOCK_STACKS = {  # stack -> (BFL prefix, diffusers prefix)
    "double": ("double_blocks.", "transformer_blocks."),
    "single": ("single_blocks.", "single_transformer_blocks."),
}
STRUCTURE_CASES = ["per_job_loras_swap_without_reloading_and_restore_exactly"]
ONE_STEP_CASES = ["x0_layers_hold_the_predictions_and_the_last_one_is_the_image",
                  "plates_at_strength_1_are_text_to_image_and_small_strength_stays_near_the_plate"]


def rewrite_safetensors(path, keep):
    """Keeps the tensors whose name `keep` accepts, in the file's order, data packed anew."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    out, chunks, offset = {}, [], 0
    for name, entry in header.items():
        if name == "__metadata__" or not keep(name):
            continue
        begin, end = entry["data_offsets"]
        out[name] = dict(entry, data_offsets=[offset, offset + end - begin])
        chunks.append(data[begin:end])
        offset += end - begin
    if "__metadata__" in header:
        out["__metadata__"] = header["__metadata__"]
    text = json.dumps(out).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def make_variant(golden, out, params=None, sampling=None, drop=None):
    """`out`: the golden set's folders linked, flux/ copied and changed. drop(name, prefixes) -> bool."""
    os.makedirs(out)
    for entry in os.listdir(golden):
        if entry != "flux":
            os.symlink(os.path.join(golden, entry), os.path.join(out, entry))
    flux = os.path.join(out, "flux")
    shutil.copytree(os.path.join(golden, "flux"), flux)
    info_path = os.path.join(flux, "flux_tiny_info.json")
    with open(info_path) as f:
        info = json.load(f)
    info["meta"]["params"].update(params or {})
    info["sampling"].update(sampling or {})
    with open(info_path, "w") as f:
        json.dump(info, f, indent=1)
    if drop:
        for name, index in (("flux_tiny_bfl.safetensors", 0), ("flux_tiny_diffusers.safetensors", 1)):
            rewrite_safetensors(os.path.join(flux, name), lambda t: not drop(t, index))


def block_of(tensor, index):
    """(stack, block number) of a tensor name under BFL (index 0) or diffusers (1) names, or None."""
    for stack, prefixes in BLOCK_STACKS.items():
        m = re.match(re.escape(prefixes[index]) + r"(\d+)\.", tensor)
        if m:
            return stack, int(m.group(1))
    return None


def variants(golden, root):
    with open(os.path.join(golden, "flux", "flux_tiny_info.json")) as f:
        info = json.load(f)
    made = []
    for stack, key in (("double", "depth"), ("single", "depth_single_blocks")):
        other = "depth_single_blocks" if key == "depth" else "depth"
        if info["meta"]["params"][other] == 0:
            continue  # a set needs one stack: this one cannot go
        path = os.path.join(root, f"no-{stack}-blocks")
        make_variant(golden, path, {key: 0}, drop=lambda t, i, s=stack: (block_of(t, i) or ("", 0))[0] == s)
        made.append((path, "structure"))
    path = os.path.join(root, "one-block-each")
    ones = {k: min(1, info["meta"]["params"][k]) for k in ("depth", "depth_single_blocks")}
    make_variant(golden, path, ones, drop=lambda t, i: (block_of(t, i) or ("", 0))[1] >= 1)
    made.append((path, "structure"))
    path = os.path.join(root, "one-step")
    steps = info["sampling"].get("dype_steps", [])[:1]
    make_variant(golden, path, sampling={"num_steps": 1, "sigmas": [1.0, 0.0], "dype_steps": steps})
    made.append((path, "one-step"))
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--golden", help="the set to start from where GENPLUG_GOLDEN_DIR is not set")
    ap.add_argument("--pipeline", help="test_pipeline, of which the cases above run")
    ap.add_argument("programs", nargs="*", help="test programs that compare no stored transformer output")
    args = ap.parse_args()
    golden = os.environ.get("GENPLUG_GOLDEN_DIR") or args.golden
    if not golden:
        ap.error("no golden set: set GENPLUG_GOLDEN_DIR or give --golden")
    failed = []
    with tempfile.TemporaryDirectory(prefix="genplug-golden-variants-") as root:
        for path, kind in variants(os.path.abspath(golden), root):
            runs = [[p] for p in args.programs] if kind == "structure" else []
            cases = STRUCTURE_CASES if kind == "structure" else ONE_STEP_CASES
            if args.pipeline:
                runs += [[args.pipeline, f"--run_test={c}"] for c in cases]
            for run in runs:
                env = dict(os.environ, GENPLUG_GOLDEN_DIR=path)
                r = subprocess.run(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                what = f"{os.path.basename(path)}: {' '.join(os.path.basename(a) for a in run)}"
                print(("ok   " if r.returncode == 0 else "FAIL ") + what, flush=True)
                if r.returncode != 0:
                    failed.append(what)
                    print(r.stdout[-4000:], flush=True)
    if failed:
        sys.exit("structure_variants: failed on " + "; ".join(failed))
    print("structure_variants: every program passed on every variant")


if __name__ == "__main__":
    main()
