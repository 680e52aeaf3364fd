#!/usr/bin/env python3
"""A genplug host in Python: load the DyPE plugin library through its C ABI (ctypes, genplug_ctypes.py), print
its plugins or the rotary spectrum for an image size and diffusion time t as JSON, and optionally build the
cos/sin tables a FLUX-style attention uses from that spectrum in PyTorch.

    python3 samples/python-host/dype_spectrum.py --list
    python3 samples/python-host/dype_spectrum.py --config '{"method":"dy-yarn"}' --height 4096 --width 4096 --t 0.5
    python3 samples/python-host/dype_spectrum.py --tables --height 2048 --width 2048 --t 0.5 --rows 3

Errors of the plugin (a bad config, an odd axis dim, a NaN or out-of-bounds spectrum) and a library that cannot be
loaded exit 1 with the message; usage errors (a bad option, layout or @FILE, text that is not UTF-8, --tables
without PyTorch) exit 2 with one line; never a traceback. The table functions (rope_tables, flux_position_ids,
bfl_pe) import torch only when called.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import sys
from typing import List, Optional, Sequence

# Installed, this folder is the package's (<prefix>/share/genplug/samples): a run as root must not leave a
# __pycache__ there that no package owns. Two small modules gain nothing from cached bytecode.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genplug_ctypes as gp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# In genplug's tree: build/plugins. Installed (<prefix>/share/genplug/samples/python-host): <prefix>/lib/genplug.
LIBRARY_PLACES = [os.path.join(HERE, "..", "..", "build", "plugins", "libgenplug_dype.so"),
                  os.path.join(HERE, "..", "..", "..", "..", "lib", "genplug", "libgenplug_dype.so")]
DEFAULT_LIBRARY = os.path.normpath(next((p for p in LIBRARY_PLACES if os.path.exists(p)), LIBRARY_PLACES[0]))
DEFAULT_LAYOUT = "@" + os.path.join(HERE, "..", "layouts", "flux.json")
MAX_OPTION_FILE_BYTES = 16 << 20  # an @FILE config or layout is a few KB; genplug's own bound
MAX_TABLE_VALUES = 1 << 26  # per table: 256 MiB of float32, a FLUX image of 724 x 724 tokens (11 584 px a side)


# ---- tables, as a Python engine builds them from a spectrum --------------------------------------------------


def flux_position_ids(text_tokens: int, grid_h: int, grid_w: int):
    """FLUX position ids [text_tokens + grid_h*grid_w, 3] (float32): text tokens (0, 0, 0) first, then the image
    tokens row-major as (index axis 0 = 0, row, col) -- BFL's prepare() and diffusers' _prepare_latent_image_ids."""
    import torch
    if min(text_tokens, grid_h, grid_w) < 0:
        raise ValueError(f"position ids: negative count (text_tokens {text_tokens}, grid {grid_h}x{grid_w})")
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


def read_option_file(path: str) -> bytes:
    """The bytes of the regular file at `path`, at most MAX_OPTION_FILE_BYTES, as genplug reads @FILE. Opened
    with O_NONBLOCK, so a FIFO opens at once and is then refused by fstat instead of blocking; /dev/zero is
    refused too. Raises ValueError saying why, without the path."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ValueError("does not exist") from None
    except OSError as e:
        raise ValueError(f"cannot be opened: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ValueError("is not a regular file (a folder)")
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("is not a regular file (a device, pipe or socket)")
        if st.st_size > MAX_OPTION_FILE_BYTES:
            raise ValueError(f"is larger than {MAX_OPTION_FILE_BYTES} bytes")
        chunks, size = [], 0
        while size <= MAX_OPTION_FILE_BYTES:  # bounded even if it grew since fstat
            chunk = os.read(fd, MAX_OPTION_FILE_BYTES + 1 - size)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise ValueError(f"is larger than {MAX_OPTION_FILE_BYTES} bytes")
    except OSError as e:
        raise ValueError(f"cannot be read: {e.strerror}") from None
    finally:
        os.close(fd)


def json_object_option(value: str, option: str):
    """A JSON object given as text or as @FILE, read as `genplug` reads it: (the object, its text). The text is
    what the user wrote, so the plugin's messages quote it. Raises ValueError naming the option."""
    text, where = utf8_option(value, option), option
    if value.startswith("@"):
        try:
            text = read_option_file(value[1:]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{option} {value}: not valid JSON: not UTF-8 text ({e.reason} at byte {e.start})") \
                from None
        except ValueError as e:
            raise ValueError(f"{option}: cannot read '{value[1:]}': it {e}") from None
        where = f"{option} {value}"
    try:
        obj = gp.parse_json(text)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {gp.brief_json(obj)}")
    return obj, text


def utf8_option(value: str, option: str) -> str:
    """`value` when it is UTF-8 text. Python reads a command line's other bytes as lone surrogates, which no
    plugin could be given: a usage error naming the option (ValueError), not a failure of the plugin."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{option}: not UTF-8 text (byte {gp.printable(value[e.start])} at character {e.start})") \
            from None
    return value


def extent_values(text: str, axes: int) -> List[int]:
    """--extent's comma-separated tokens per axis: whole numbers that fit the ABI's uint32_t."""
    values = []
    for i, item in enumerate(text.split(","), 1):
        if not (item.isascii() and item.isdigit()) or int(item) >= 2 ** 32:
            raise ValueError(f"--extent: item {i} must be a whole number from 0 to 4294967295, got '{item}'")
        values.append(int(item))
    if len(values) != axes:
        raise ValueError(f"--extent: {len(values)} values for a layout of {axes} axes")
    return values


def target_extent(layout: gp.RotaryLayout, height: int, width: int, extent: Optional[str]) -> List[int]:
    """Tokens per axis: --extent as given, else height and width over the layout's two spatial axes (rows,
    then cols) in tokens of pixels_per_token and 1 on every other axis, as `genplug posenc` does."""
    axes = len(layout.axis_dims)
    if extent:
        return extent_values(extent, axes)
    spatial = [a for a in range(axes) if layout.is_spatial(a)]
    if len(spatial) != 2:
        raise ValueError(f"--height/--width need a layout with two spatial axes; this one has {len(spatial)}: "
                         "use --extent")
    ppt = layout.pixels_per_token
    if ppt == 0:  # the layout's fault, not the size's
        raise ValueError("--layout.pixels_per_token: must be >= 1 to turn --height/--width into tokens, got 0: "
                         "give the layout's pixels per token, or --extent")
    out = [1] * axes
    out[spatial[0]], out[spatial[1]] = whole_tokens("--height", height, ppt), whole_tokens("--width", width, ppt)
    return out


def whole_tokens(option: str, px: int, ppt: int) -> int:
    """A size in px as tokens of ppt px: a whole number of them, at least one, as a render's size must be (and
    as `genplug posenc` takes it), not floored to another size's spectrum."""
    if px >= ppt and px % ppt == 0:
        return px // ppt
    if px < ppt:
        raise ValueError(f"{option}: {px} px is less than one of the layout's {ppt} px tokens")
    below = px // ppt * ppt
    sizes = f"{below} or {below + ppt}" if below + ppt < 2 ** 32 else f"{below}"  # --height takes a uint32_t
    raise ValueError(f"{option}: {px} px is not a whole number of the layout's {ppt} px tokens ({sizes} is; "
                     "--extent gives tokens)")


def require_torch() -> None:
    """--tables builds its tables in PyTorch: a missing one is said before any plugin loads, with the package."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise ValueError(f"--tables needs PyTorch (Debian: python3-torch): {e}") from None


def check_tables(layout: gp.RotaryLayout, extent: Sequence[int], text_tokens: int) -> None:
    """Refuses tables --tables cannot build, before any is: a layout not FLUX-shaped (index axis 0, then two
    spatial axes, rows and cols), a negative --text-tokens, or tables of more than MAX_TABLE_VALUES values."""
    if len(layout.axis_dims) != 3 or layout.is_spatial(0) or not (layout.is_spatial(1) and layout.is_spatial(2)):
        raise ValueError("--tables builds FLUX position ids: the layout needs axes (index, rows, cols)")
    if text_tokens < 0:
        raise ValueError(f"--text-tokens: must be >= 0, got {text_tokens}")
    rows, width = text_tokens + extent[1] * extent[2], sum(layout.axis_dims)
    if rows * width > MAX_TABLE_VALUES:
        raise ValueError(f"--tables: {rows} x {width} tables are too large to build: at most {MAX_TABLE_VALUES} "
                         "values (256 MiB of float32) a table; ask for a smaller image or fewer --text-tokens")


def table_summary(spectrum: gp.Spectrum, layout: gp.RotaryLayout, extent: Sequence[int], text_tokens: int,
                  rows: int) -> dict:
    """Builds the full-grid FLUX tables and returns their shape and `rows` sample rows (first to last image
    token; more rows than image tokens give every image token). Needs a FLUX-style layout: one index axis 0 and
    two spatial axes, rows then cols."""
    check_tables(layout, extent, text_tokens)
    ids = flux_position_ids(text_tokens, extent[1], extent[2])
    cos, sin = rope_tables(spectrum, ids)
    n_image = extent[1] * extent[2]
    rows = min(max(rows, 0), n_image)  # past n_image every token is picked already: no set over range(10**9)
    picks = sorted({text_tokens + (n_image - 1) * i // max(rows - 1, 1) for i in range(rows)})
    return {"shape": list(cos.shape), "dtype": str(cos.dtype).replace("torch.", ""), "text_tokens": text_tokens,
            "rows": [{"token": i, "position": ids[i].tolist(), "cos": cos[i].tolist(), "sin": sin[i].tolist()}
                     for i in picks]}


# ---- option values: argparse reports a bad one as a usage error ----------------------------------------------


def whole_number(text: str) -> int:
    """--height, --width, --text-tokens, --rows: decimal digits within the ABI's uint32_t (ctypes would wrap)."""
    if not (text.isascii() and text.isdigit()) or int(text) >= 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 4294967295, got '{text}'")
    return int(text)


def diffusion_time(text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        t = math.nan
    if not 0.0 <= t <= 1.0:  # NaN included
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got '{text}'")
    return t


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line and exit 2, as genplug's own usage errors (argparse would print the usage block first)."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = ArgumentParser(prog="dype_spectrum", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("library", nargs="?", default=DEFAULT_LIBRARY, help="plugin library (default: %(default)s)")
    p.add_argument("--list", action="store_true", help="print the library's posenc plugins and config schemas")
    p.add_argument("--plugin", help="posenc plugin id (default: the library's first)")
    p.add_argument("--config", default="{}", help="plugin config, a JSON object or @FILE (default: {})")
    p.add_argument("--layout", default=DEFAULT_LAYOUT,
                   help="rotary layout, JSON {axis_dims, theta, base_extent, pixels_per_token[, axis_flags]} or "
                        "@FILE (default: FLUX.1's, samples/layouts/flux.json)")
    p.add_argument("--height", type=whole_number, default=4096,
                   help="image height in px, a whole number of the layout's tokens (default: %(default)s)")
    p.add_argument("--width", type=whole_number, default=4096,
                   help="image width in px, a whole number of the layout's tokens (default: %(default)s)")
    p.add_argument("--extent", help="tokens per axis instead of --height/--width, e.g. 1,256,256")
    p.add_argument("--t", type=diffusion_time, default=0.5,
                   help="diffusion time in [0, 1], 1 = noise (default: %(default)s)")
    p.add_argument("--tables", action="store_true", help="also build the FLUX cos/sin tables in PyTorch")
    p.add_argument("--text-tokens", type=whole_number, default=0, help="text tokens before the image ones (--tables)")
    p.add_argument("--rows", type=whole_number, default=2,
                   help="table rows to print, first to last image token (--tables; at most every image token)")
    args = p.parse_args(argv)

    try:
        config, config_text = json_object_option(args.config, "--config")
        if args.plugin is not None:
            utf8_option(args.plugin, "--plugin")
        layout = gp.RotaryLayout.from_json(json_object_option(args.layout, "--layout")[0], "--layout")
        extent = target_extent(layout, args.height, args.width, args.extent)
        if args.tables:
            check_tables(layout, extent, args.text_tokens)
            require_torch()
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
                with factory.create(args.plugin, config_text) as posenc:
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
        text = json.dumps(result, indent=2, allow_nan=False)  # whole, before a byte is written
    except ValueError as e:  # NaN or Infinity: no JSON reader reads it (the host refuses them; belt and braces)
        print(f"dype_spectrum: the result cannot be written as JSON: {e}", file=sys.stderr)
        return 1
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (| head): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
