#!/usr/bin/env python3
"""A genplug host in Python: load the DyPE plugin library through its C ABI (ctypes, genplug_ctypes.py), print
its plugins or the rotary spectrum for an image size and diffusion time t as JSON, and optionally build the
cos/sin tables a FLUX-style attention uses from that spectrum in PyTorch.

    python3 samples/python-host/dype_spectrum.py --list
    python3 samples/python-host/dype_spectrum.py --config '{"method":"dy-yarn"}' --height 4096 --width 4096 --t 0.5
    python3 samples/python-host/dype_spectrum.py --tables --height 2048 --width 2048 --t 0.5 --rows 3

Errors of the plugin (a bad config, an odd axis dim) exit 1 with the plugin's message; usage errors exit 2.
The table functions (rope_tables, flux_position_ids, bfl_pe) import torch only when called.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genplug_ctypes as gp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# In genplug's tree: build/plugins. Installed (<prefix>/share/genplug/samples/python-host): <prefix>/lib/genplug.
LIBRARY_PLACES = [os.path.join(HERE, "..", "..", "build", "plugins", "libgenplug_dype.so"),
                  os.path.join(HERE, "..", "..", "..", "..", "lib", "genplug", "libgenplug_dype.so")]
DEFAULT_LIBRARY = os.path.normpath(next((p for p in LIBRARY_PLACES if os.path.exists(p)), LIBRARY_PLACES[0]))
DEFAULT_LAYOUT = "@" + os.path.join(HERE, "..", "layouts", "flux.json")


# ---- tables, as a Python engine builds them from a spectrum --------------------------------------------------


def flux_position_ids(text_tokens: int, grid_h: int, grid_w: int):
    """FLUX position ids [text_tokens + grid_h*grid_w, 3] (float32): text tokens (0, 0, 0) first, then the image
    tokens row-major as (index axis 0 = 0, row, col) -- BFL's prepare() and diffusers' _prepare_latent_image_ids."""
    import torch
    rows = torch.arange(grid_h, dtype=torch.float32).repeat_interleave(grid_w)
    cols = torch.arange(grid_w, dtype=torch.float32).repeat(grid_h)
    image = torch.stack([torch.zeros_like(rows), rows, cols], dim=1)
    return torch.cat([torch.zeros(text_tokens, 3, dtype=torch.float32), image], dim=0)


def rope_tables(spectrum: gp.Spectrum, ids):
    """cos and sin tables [N, sum(axis_dims)] (float32) for position ids [N, axes], laid out as diffusers'
    FluxPosEmbed returns them (and as DyPE's official code does): for axis a, pair j, position p,
    angle = p * freqs[offset(a) + j] in float64; cos = amplitude[a] * cos(angle), sin = amplitude[a] * sin(angle),
    rounded like the official code (cos/sin to float32, then a float32 multiply by float32(amplitude)); each pair's
    value fills features 2j and 2j+1; the axes are concatenated."""
    import torch
    ids = torch.as_tensor(ids)
    axes = len(spectrum.axis_dims)
    if ids.dim() != 2 or ids.shape[1] != axes:
        raise ValueError(f"position ids must be [N, {axes}], got {list(ids.shape)}")
    pos = ids.to(torch.float64)
    cos_parts, sin_parts = [], []
    for a in range(axes):
        freqs = torch.tensor(spectrum.axis_freqs(a), dtype=torch.float64)
        angle = torch.outer(pos[:, a], freqs)
        amplitude = torch.tensor(spectrum.amplitude[a], dtype=torch.float32)
        cos_parts.append((torch.cos(angle).to(torch.float32) * amplitude).repeat_interleave(2, dim=1))
        sin_parts.append((torch.sin(angle).to(torch.float32) * amplitude).repeat_interleave(2, dim=1))
    return torch.cat(cos_parts, dim=1), torch.cat(sin_parts, dim=1)


def bfl_pe(cos, sin):
    """The same tables in BFL flux's layout: [1, 1, N, D/2, 2, 2] rotation matrices [[c, -s], [s, c]]."""
    import torch
    c, s = cos[:, 0::2], sin[:, 0::2]
    pe = torch.stack([torch.stack([c, -s], dim=-1), torch.stack([s, c], dim=-1)], dim=-2)
    return pe.unsqueeze(0).unsqueeze(0)


# ---- the command line ----------------------------------------------------------------------------------------


def json_option(text: str, what: str):
    """A JSON value given as text or as @FILE."""
    try:
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                return json.load(f)
        return json.loads(text)
    except (OSError, ValueError) as e:
        raise ValueError(f"{what}: {e}") from None


def target_extent(layout: gp.RotaryLayout, height: int, width: int, extent: Optional[str]) -> List[int]:
    """Tokens per axis: --extent as given, else height and width over the layout's two spatial axes (rows,
    then cols) in tokens of pixels_per_token and 1 on every other axis, as `genplug posenc` does."""
    axes = len(layout.axis_dims)
    if extent:
        values = [int(v) for v in extent.split(",")]
        if len(values) != axes:
            raise ValueError(f"--extent: {len(values)} values for a layout of {axes} axes")
        return values
    spatial = [a for a in range(axes) if layout.is_spatial(a)]
    if len(spatial) != 2:
        raise ValueError(f"--height/--width need a layout with two spatial axes; this one has {len(spatial)}: "
                         "use --extent")
    ppt = layout.pixels_per_token
    if ppt == 0 or height < ppt or width < ppt:
        raise ValueError(f"--height/--width: at least one token of {ppt} px is needed, got {height}x{width}")
    out = [1] * axes
    out[spatial[0]], out[spatial[1]] = height // ppt, width // ppt
    return out


def table_summary(spectrum: gp.Spectrum, layout: gp.RotaryLayout, extent: Sequence[int], text_tokens: int,
                  rows: int) -> dict:
    """Builds the full-grid FLUX tables and returns their shape and `rows` sample rows (first to last image
    token). Needs a FLUX-style layout: one index axis 0 and two spatial axes, rows then cols."""
    if len(layout.axis_dims) != 3 or layout.is_spatial(0) or not (layout.is_spatial(1) and layout.is_spatial(2)):
        raise ValueError("--tables builds FLUX position ids: the layout needs axes (index, rows, cols)")
    ids = flux_position_ids(text_tokens, extent[1], extent[2])
    cos, sin = rope_tables(spectrum, ids)
    n_image = extent[1] * extent[2]
    picks = sorted({text_tokens + (n_image - 1) * i // max(rows - 1, 1) for i in range(max(rows, 0))})
    return {"shape": list(cos.shape), "dtype": str(cos.dtype).replace("torch.", ""), "text_tokens": text_tokens,
            "rows": [{"token": i, "position": ids[i].tolist(), "cos": cos[i].tolist(), "sin": sin[i].tolist()}
                     for i in picks]}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("library", nargs="?", default=DEFAULT_LIBRARY, help="plugin library (default: %(default)s)")
    p.add_argument("--list", action="store_true", help="print the library's posenc plugins and config schemas")
    p.add_argument("--plugin", help="posenc plugin id (default: the library's first)")
    p.add_argument("--config", default="{}", help="plugin config, a JSON object or @FILE (default: {})")
    p.add_argument("--layout", default=DEFAULT_LAYOUT,
                   help="rotary layout, JSON {axis_dims, theta, base_extent, pixels_per_token[, axis_flags]} or "
                        "@FILE (default: FLUX.1's, samples/layouts/flux.json)")
    p.add_argument("--height", type=int, default=4096, help="image height in px (default: %(default)s)")
    p.add_argument("--width", type=int, default=4096, help="image width in px (default: %(default)s)")
    p.add_argument("--extent", help="tokens per axis instead of --height/--width, e.g. 1,256,256")
    p.add_argument("--t", type=float, default=0.5, help="diffusion time in [0, 1], 1 = noise (default: %(default)s)")
    p.add_argument("--tables", action="store_true", help="also build the FLUX cos/sin tables in PyTorch")
    p.add_argument("--text-tokens", type=int, default=0, help="text tokens before the image ones (--tables)")
    p.add_argument("--rows", type=int, default=2, help="table rows to print, first to last image token (--tables)")
    args = p.parse_args(argv)

    try:
        config = json_option(args.config, "--config")
        if not isinstance(config, dict):
            raise ValueError("--config: expected a JSON object")
        layout = gp.RotaryLayout.from_json(json_option(args.layout, "--layout"))
        extent = target_extent(layout, args.height, args.width, args.extent)
    except ValueError as e:
        p.error(str(e))

    try:
        with gp.Library(args.library, log=lambda severity, line: print(line, file=sys.stderr)) as lib:
            factory = lib.posenc_factory()
            if factory is None:
                print(f"dype_spectrum: {lib.path} holds no posenc plugin", file=sys.stderr)
                return 1
            if args.list:
                result = {"library": lib.path, "abi": "%d.%d" % lib.abi,
                          "plugins": [d.to_json() for d in factory.descriptors()]}
            else:
                with factory.create(args.plugin, config) as posenc:
                    spectrum = posenc.compute(layout, extent, args.t)
                result = {"plugin": posenc.plugin_id, "config": config, "layout": layout.to_json(),
                          "target_extent": extent, "t": args.t, **spectrum.to_json()}
                if args.tables:
                    result["tables"] = table_summary(spectrum, layout, extent, args.text_tokens, args.rows)
    except gp.GenplugError as e:
        print(f"dype_spectrum: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, ImportError) as e:
        print(f"dype_spectrum: {e}", file=sys.stderr)
        return 1
    try:
        json.dump(result, sys.stdout, indent=2)
        print()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (| head): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
