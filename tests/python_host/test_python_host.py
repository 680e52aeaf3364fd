#!/usr/bin/env python3
"""The Python host of samples/python-host (ctypes only, genplug_ctypes.py) against the built DyPE library and the
golden set (GENPLUG_GOLDEN_DIR, default tests/golden):

* its ctypes structs against the C compiler's layout of sdk/include/genplug/*.h (tests/python_host/abi_layout.c);
* the entry, the ABI check and the descriptors;
* every case of dype/cases.json, and the tiny FLUX model's DyPE spectra (flux/flux_tiny_info.json), to the
  C++ tests' bound (1e-12 relative: tests/dype/test_dype_golden.cpp, test_dype_plugin.cpp);
* the cos/sin tables built in PyTorch from those spectra with FLUX position ids against dype/tables.safetensors
  (caseK.cos/sin) and flux/flux_tiny_io.safetensors (dype.cos/sin, dype.pe), to 1e-6 absolute as
  tests/dype/test_dype_tables.cpp and tests/flux/test_flux_transformer.cpp;
* plugin errors as Python exceptions with the plugin's status and message; the CLI; lifetimes (deinit, unload,
  no ctypes object left behind);
* what the host refuses before a plugin sees it (values ctypes would wrap or cut at a NUL, layouts of the wrong
  shape, schemas that are not JSON) and the CLI's usage errors: exit 2 and one line, never a traceback.

Every shape, config, case and tensor name comes from the golden files. PyTorch (Debian python3-torch) is a
declared dependency: without it the table tests fail, they are not skipped.

    python3 test_python_host.py --library build/plugins/libgenplug_dype.so \
        [--abi-layout build/tests/python_host_abi_layout]
"""

import argparse
import contextlib
import ctypes
import gc
import inspect
import io
import itertools
import json
import math
import os
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import types
import time
import unittest
import unittest.mock
import warnings
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
SAMPLE = os.path.join(REPO, "samples", "python-host")
sys.path.insert(0, SAMPLE)

import genplug_ctypes as gp  # noqa: E402
import dype_spectrum  # noqa: E402

try:
    import torch
    TORCH_ERROR = None
except ImportError as e:  # a declared dependency: the tests that need it fail below
    torch = None
    TORCH_ERROR = e

SPECTRUM_BOUND = 1e-12  # relative; tests/dype/test_dype_golden.cpp, test_dype_plugin.cpp
TABLE_BOUND = 1e-6  # absolute; tests/dype/test_dype_tables.cpp, tests/flux/test_flux_transformer.cpp

ARGS = argparse.Namespace(library=None, abi_layout=None, default_golden_dir=None, fixture_dir=None)


def report(line):
    print("python_host: " + line, file=sys.stderr, flush=True)


def golden(relative):
    root = os.environ.get("GENPLUG_GOLDEN_DIR") or ARGS.default_golden_dir or os.path.join(REPO, "tests", "golden")
    return os.path.join(root, relative)


def read_json(relative):
    with open(golden(relative), encoding="utf-8") as f:
        return json.load(f)


def relative_error(a, b):
    """|a - b| relative to the larger magnitude (0 when both are 0), as tests/dype/dype_support.hpp."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0.0 else abs(a - b) / scale


# ---- safetensors, in pure Python ----------------------------------------------------------------------------


def read_safetensors(relative):
    """{name: (dtype, shape, raw bytes)} of a safetensors file: u64 LE header length, JSON header, data."""
    with open(golden(relative), "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = memoryview(blob)[8 + n:]
    return {name: (info["dtype"], info["shape"], bytes(data[info["data_offsets"][0]:info["data_offsets"][1]]))
            for name, info in header.items()}


def to_torch(entry):
    dtype, shape, raw = entry
    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32}
    if sys.byteorder != "little":
        raise RuntimeError("this reader assumes a little-endian machine")
    if not raw:
        return torch.zeros(shape, dtype=dtypes[dtype])
    return torch.frombuffer(bytearray(raw), dtype=dtypes[dtype]).reshape(shape).clone()


# ---- the golden layouts --------------------------------------------------------------------------------------


def dype_golden_layout(meta):
    """The layout of dype/cases.json "meta" as a FLUX model states it: index axis 0 (base extent 1, never
    scaled), the other axes spatial with the base extent in tokens (cf. dype_support.hpp golden_layout)."""
    dims = list(meta["axes_dim"])
    base = [1] + [int(meta["base_patches"])] * (len(dims) - 1)
    flags = [0] + [gp.AXIS_SPATIAL] * (len(dims) - 1)
    return gp.RotaryLayout(dims, float(meta["theta"]), base, int(meta["patch_px"]), flags)


def dype_golden_target(case):
    """Tokens per axis of a golden case: index axis 1, rows grid_h, cols grid_w."""
    return [1, int(case["grid_h"]), int(case["grid_w"])]


def in_documented_deviation(case, layout):
    """Whether the official code meets the case where genplug deviates from it on purpose (docs/dype.md, "Deviation
    from the official code: a low index past d/2"): a YaRN blend whose beta pair's fast threshold puts
    find_correction_range's low index above d/2 on an extrapolated axis, or t = 0 for dy-yarn (cf. dype_support.hpp
    in_documented_deviation)."""
    t, beta_0 = float(case["t"]), 1.25  # the official beta_0 (gamma_0's index passes d/2 only after it)
    fast = {"yarn": beta_0, "dy-yarn": beta_0 * t * t, "dy-yarn-legacy": beta_0 ** (2 * t * t)}.get(case["method"])
    if fast is None:
        return False
    for d, extent, tokens in zip(layout.axis_dims[1:], layout.base_extent[1:], dype_golden_target(case)[1:]):
        if tokens <= extent:
            continue
        if not fast > 0:
            return True
        low = math.floor(d * math.log(extent / (2 * math.pi * fast)) / (2 * math.log(layout.theta)))
        if low > d // 2:
            return True
    return False


def flux_golden_layout(info):
    """The tiny FLUX model's layout (flux/flux_tiny_info.json) with DyPE's base grid of that file. The tiny
    model states no pixel size; DyPE reads pixels_per_token only with config.base_resolution, so 0 here."""
    params, dype = info["meta"]["params"], info["dype"]
    dims = list(params["axes_dim"])
    base = [1] + [int(dype["base_patches"])] * (len(dims) - 1)
    flags = [0] + [gp.AXIS_SPATIAL] * (len(dims) - 1)
    return gp.RotaryLayout(dims, float(params["theta"]), base, 0, flags)


def flux_golden_method(info):
    return info["dype"]["method"].split()[0]  # "dy-yarn (HEAD)" -> "dy-yarn"


def spectrum_error(spectrum, expected_freqs, expected_amplitude):
    """Largest relative error over every frequency and amplitude, and where."""
    worst, where = 0.0, ""
    for a, freqs in enumerate(expected_freqs):
        got = spectrum.axis_freqs(a)
        if len(got) != len(freqs):
            return float("inf"), f"axis {a}: {len(got)} frequencies, expected {len(freqs)}"
        for j, (g, e) in enumerate(zip(got, freqs)):
            err = relative_error(g, e)
            if err > worst:
                worst, where = err, f"axis{a}_freqs[{j}]"
        err = relative_error(spectrum.amplitude[a], expected_amplitude[a])
        if err > worst:
            worst, where = err, f"axis{a}_mscale"
    return worst, where


def open_library():
    return gp.Library(ARGS.library)


def fake_library(path):
    """What a Factory and its instances use of their Library, for factories made in Python."""
    return types.SimpleNamespace(closed=False, path=path, _lock=threading.Lock(), _instances=weakref.WeakSet(),
                                 _live={}, _orphans=[], _closing=False, _check_open=lambda: None,
                                 _new_context=gp.CallContext)


def fake_factory(schema: bytes, path="/fake/libbad_schema.so", create=None):
    """A posenc factory made in Python, as a plugin makes its own, with one descriptor whose config_schema is
    `schema` and `create(out_address) -> status` as its create (None: a NULL create); (factory, keep-alive
    objects). No built plugin has a broken schema or a NULL function pointer."""
    fields = dict(gp.genplug_factory_t._fields_)
    desc = gp.genplug_descriptor_t(ctypes.sizeof(gp.genplug_descriptor_t), b"org.test.bad_schema", b"Bad schema",
                                   b"test", b"1.0", b"", None, schema)
    # ctypes callbacks cannot return a pointer type: return the address and cast the function pointer.
    descriptor = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32)(
        lambda factory, i: ctypes.addressof(desc) if i == 0 else None)
    count = fields["count"](lambda factory: 1)
    make = fields["create"](lambda factory, plugin_id, config, ctx, out: create(out)) if create else fields["create"]()
    raw = gp.genplug_factory_t(ctypes.sizeof(gp.genplug_factory_t), count,
                               ctypes.cast(descriptor, fields["descriptor"]), make)
    return gp.Factory(fake_library(path), ctypes.pointer(raw), gp.KIND_POSENC), (desc, descriptor, count, make, raw)


class FakeInstance:
    """A genplug_posenc_t made in Python: `compute(query, out)` writes the spectrum (None: a NULL compute);
    `destroyed` counts destroy calls (destroy=False: a NULL destroy)."""

    def __init__(self, compute=None, destroy=True):
        fields = dict(gp.genplug_posenc_t._fields_)
        self.destroyed = 0
        self._destroy = fields["destroy"](self._on_destroy) if destroy else fields["destroy"]()
        self._compute = fields["compute"](lambda me, q, out, ctx: compute(q.contents, out.contents)) \
            if compute else fields["compute"]()
        self.c = gp.genplug_posenc_t(ctypes.sizeof(gp.genplug_posenc_t), None, self._destroy, self._compute,
                                     fields["get_extension"]())

    def _on_destroy(self, me):
        self.destroyed += 1

    def create(self, out):
        """A fake factory's create: hands this instance out."""
        out[0] = ctypes.addressof(self.c)
        return gp.OK

    def posenc(self, library, plugin_id="org.test.fake"):
        """A Posenc over this instance, as Factory.create makes one."""
        return gp.Posenc(library, ctypes.pointer(self.c), plugin_id)


def write_spectrum(q, out, freqs=None, amplitude=1.0):
    """A well-behaved compute: every frequency (`freqs` or 0.5) and amplitude written, OK."""
    n = sum(q.layout.contents.axis_dims[a] // 2 for a in range(q.layout.contents.axis_count))
    for i in range(n):
        out.freqs[i] = 0.5 if freqs is None else freqs
    for a in range(q.layout.contents.axis_count):
        out.amplitude[a] = amplitude
    return gp.OK


# write_spectrum's source, for the scripts a test runs in a subprocess (each imports genplug_ctypes as gp).
WRITE_SPECTRUM_SOURCE = inspect.getsource(write_spectrum)


def fixture(relative):
    """A fixture plugin of the host tests (tests/host/CMakeLists.txt) in --fixture-dir (CTest passes the build's
    tests/fixtures and builds them first; GENPLUG_TEST_FIXTURE_DIR overrides). A missing one fails the test that
    loads it: a skipped test would pass a tree that checks nothing."""
    root = os.environ.get("GENPLUG_TEST_FIXTURE_DIR") or ARGS.fixture_dir or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(ARGS.library))), "tests", "fixtures")
    path = os.path.join(root, relative)
    if not os.path.exists(path):
        raise AssertionError(f"fixture {path} is not built (build the host tests' fixtures)")
    return path


HOSTILE = "hostile/libhostile_posenc.so"
HOSTILE_ID = "org.genplug.test.hostile."
SMALL_LAYOUT = gp.RotaryLayout([16, 56, 56], 10000.0, [1, 64, 64], 16, [0, gp.AXIS_SPATIAL, gp.AXIS_SPATIAL])


class TorchCase(unittest.TestCase):
    def require_torch(self):
        if torch is None:
            self.fail(f"PyTorch for Python (Debian python3-torch, scripts/setup.sh) is a declared dependency of this "
                      f"test and {sys.executable} cannot import it: {TORCH_ERROR}")


# ---- tests ---------------------------------------------------------------------------------------------------


class Dependencies(TorchCase):
    def test_pytorch_is_importable(self):
        self.require_torch()


class StructLayout(unittest.TestCase):
    """genplug_ctypes.py mirrors the C headers exactly: same fields, order, offsets, sizes; same constants."""

    def setUp(self):
        if not ARGS.abi_layout:
            self.fail("--abi-layout PROGRAM (tests/python_host/abi_layout.c, built) is required")
        self.c = json.loads(subprocess.run([ARGS.abi_layout], check=True, capture_output=True, text=True).stdout)

    def test_every_struct_has_the_c_layout(self):
        self.assertEqual(set(self.c) - {"abi", "kinds", "entry_symbol", "status", "axis_flags"}, set(gp.STRUCTS))
        for name, cls in gp.STRUCTS.items():
            with self.subTest(struct=name):
                self.assertEqual(cls._fields_[0][0], "struct_size")
                ours = [[f[0], getattr(cls, f[0]).offset, getattr(cls, f[0]).size] for f in cls._fields_]
                self.assertEqual(ours, self.c[name]["fields"])
                self.assertEqual(ctypes.sizeof(cls), self.c[name]["size"])
                self.assertEqual(getattr(cls, "struct_size").size, 4)

    def test_constants_match_the_headers(self):
        self.assertEqual([gp.ABI_MAJOR, gp.ABI_MINOR], self.c["abi"])
        self.assertEqual(gp.KIND_POSENC, self.c["kinds"]["posenc"])
        self.assertEqual(gp.ENTRY_SYMBOL, self.c["entry_symbol"])
        self.assertEqual([gp.OK, gp.E_FAILED, gp.E_INVALID_ARGUMENT, gp.E_CONFIG, gp.E_UNSUPPORTED,
                          gp.E_OUT_OF_MEMORY, gp.E_CANCELLED, gp.E_ABI_MISMATCH, gp.E_INTERNAL, gp.E_IO,
                          gp.E_DEVICE, gp.E_BUFFER_TOO_SMALL], self.c["status"])
        self.assertEqual([gp.AXIS_SPATIAL, gp.AXIS_TEMPORAL], self.c["axis_flags"])


class Entry(unittest.TestCase):
    def test_entry_abi_and_descriptors(self):
        with open_library() as lib:
            self.assertEqual(lib.abi[0], gp.ABI_MAJOR)
            self.assertIsNone(lib.factory(gp.KIND_SCHEDULER))
            self.assertIsNone(lib.factory(gp.KIND_MODEL))
            factory = lib.posenc_factory()
            self.assertIsNotNone(factory)
            count = factory.count()
            self.assertGreaterEqual(count, 1)
            self.assertIsNone(factory.descriptor(count))
            descriptors = factory.descriptors()
            self.assertEqual(len({d.id for d in descriptors}), count)
            for d in descriptors:
                for text in (d.id, d.name, d.vendor, d.version, d.description):
                    self.assertTrue(text)
                self.assertTrue(all(isinstance(f, str) and f for f in d.features))
                self.assertEqual(d.config_schema.get("type"), "object")
            dype = {d.id: d for d in descriptors}["org.genplug.dype"]
            self.assertIn("method", dype.config_schema["properties"])
            self.assertIn("dynamic", dype.features)
            report(f"plugins: {[(d.id, d.name, d.version) for d in descriptors]}, ABI {lib.abi[0]}.{lib.abi[1]}")


class GoldenSpectra(unittest.TestCase):
    def test_every_golden_case_through_ctypes(self):
        doc = read_json("dype/cases.json")
        layout = dype_golden_layout(doc["meta"])
        legacy = gp.RotaryLayout(layout.axis_dims, layout.theta, layout.base_extent, layout.pixels_per_token, None)
        cases = [c for c in doc["cases"] if not in_documented_deviation(c, layout)]  # test_dype_golden counts them
        self.assertGreater(len(cases), 0)
        worst = 0.0
        with open_library() as lib:
            factory = lib.posenc_factory()
            for c in cases:
                with factory.create("org.genplug.dype", {"method": c["method"]}) as posenc:
                    spectrum = posenc.compute(layout, dype_golden_target(c), c["t"])
                    # NULL axis_flags (ABI 1.0's rule, every axis but 0 spatial) is the same layout here.
                    self.assertEqual(posenc.compute(legacy, dype_golden_target(c), c["t"]), spectrum)
                expected = c["expected"]
                n = len(layout.axis_dims)
                err, where = spectrum_error(spectrum, [expected[f"axis{a}_freqs"] for a in range(n)],
                                            [expected[f"axis{a}_mscale"] for a in range(n)])
                self.assertLessEqual(err, SPECTRUM_BOUND,
                                     f"{c['method']} {c['height_px']}x{c['width_px']} t={c['t']}: {where} off by {err}")
                worst = max(worst, err)
        report(f"{len(cases)} of {len(doc['cases'])} golden DyPE cases (dype/cases.json): largest relative error "
               f"{worst:.3g} (bound {SPECTRUM_BOUND:g})")

    def test_tiny_flux_dype_spectra_through_ctypes(self):
        info = read_json("flux/flux_tiny_info.json")
        layout = flux_golden_layout(info)
        target = [1] + [int(v) for v in info["grid_tokens_hw"]]
        steps = [info["dype"]] + list(info["sampling"]["dype_steps"])
        worst = 0.0
        with open_library() as lib, lib.posenc_factory().create(None, {"method": flux_golden_method(info)}) as pe:
            for step in steps:
                err, where = spectrum_error(pe.compute(layout, target, step["t"]), step["freqs"], step["mscale"])
                self.assertLessEqual(err, SPECTRUM_BOUND, f"t={step['t']}: {where} off by {err}")
                worst = max(worst, err)
        report(f"{len(steps)} tiny-FLUX DyPE spectra (flux/flux_tiny_info.json): largest relative error {worst:.3g}")


class Tables(TorchCase):
    """cos/sin tables built in PyTorch from the ctypes spectrum, as a Python FLUX engine builds them."""

    def test_tables_match_golden_cos_sin(self):
        self.require_torch()
        meta = read_json("dype/cases.json")["meta"]
        cases = read_json("dype/tables.json")
        tensors = read_safetensors("dype/tables.safetensors")
        layout = dype_golden_layout(meta)
        width = sum(layout.axis_dims)
        self.assertGreater(len(cases), 0)
        worst = 0.0
        identical = 0
        with open_library() as lib:
            factory = lib.posenc_factory()
            for c in cases:
                key = c["key"]
                ids, cos_ref, sin_ref = (to_torch(tensors[f"{key}.{n}"]) for n in ("ids", "cos", "sin"))
                self.assertEqual(list(ids.shape), [ids.shape[0], len(layout.axis_dims)])
                self.assertEqual(list(cos_ref.shape), [ids.shape[0], width])
                self.assertEqual(sin_ref.shape, cos_ref.shape)
                with factory.create(None, {"method": c["method"]}) as posenc:
                    spectrum = posenc.compute(layout, dype_golden_target(c), c["t"])
                # The golden rows are FLUX position ids: index axis 0, row < grid_h, col < grid_w; the FLUX ids
                # of the whole grid hold each of them at text + row * grid_w + col.
                grid_h, grid_w = int(c["grid_h"]), int(c["grid_w"])
                flux_ids = dype_spectrum.flux_position_ids(0, grid_h, grid_w)
                rows = ids[:, 1].long() * grid_w + ids[:, 2].long()
                self.assertTrue(bool((ids[:, 0] == 0).all()), key)
                self.assertTrue(bool(((ids[:, 1] >= 0) & (ids[:, 1] < grid_h) &
                                      (ids[:, 2] >= 0) & (ids[:, 2] < grid_w)).all()), key)
                self.assertTrue(torch.equal(flux_ids[rows], ids), key)
                full_cos, full_sin = dype_spectrum.rope_tables(spectrum, flux_ids)
                self.assertEqual(list(full_cos.shape), [grid_h * grid_w, width])
                for cos, sin in (dype_spectrum.rope_tables(spectrum, ids), (full_cos[rows], full_sin[rows])):
                    self.assertEqual(cos.dtype, torch.float32)
                    err_cos = (cos.double() - cos_ref.double()).abs().max().item()
                    err_sin = (sin.double() - sin_ref.double()).abs().max().item()
                    self.assertLessEqual(err_cos, TABLE_BOUND, f"{key} ({c['method']}) cos off by {err_cos}")
                    self.assertLessEqual(err_sin, TABLE_BOUND, f"{key} ({c['method']}) sin off by {err_sin}")
                    worst = max(worst, err_cos, err_sin)
                    identical += int(torch.equal(cos, cos_ref) and torch.equal(sin, sin_ref))
        report(f"{len(cases)} golden table cases (dype/tables.safetensors caseK.cos/sin): largest abs error "
               f"{worst:.3g} (bound {TABLE_BOUND:g}); bit-identical {identical} of {2 * len(cases)} (tables from the "
               f"golden ids and rows of the whole FLUX grid)")

    def test_tiny_flux_tables_match_dype_cos_sin(self):
        self.require_torch()
        info = read_json("flux/flux_tiny_info.json")
        io = read_safetensors("flux/flux_tiny_io.safetensors")
        layout = flux_golden_layout(info)
        grid_h, grid_w = (int(v) for v in info["grid_tokens_hw"])
        n_txt = int(info["n_txt"])
        # FLUX position ids: the text ids then the image ids, as BFL prepare() makes them.
        ids = dype_spectrum.flux_position_ids(n_txt, grid_h, grid_w)
        expected_ids = torch.cat([to_torch(io["txt_ids"])[0], to_torch(io["img_ids"])[0]], dim=0)
        self.assertTrue(torch.equal(ids, expected_ids))
        with open_library() as lib, lib.posenc_factory().create(None, {"method": flux_golden_method(info)}) as pe:
            spectrum = pe.compute(layout, [1, grid_h, grid_w], info["dype"]["t"])
        cos, sin = dype_spectrum.rope_tables(spectrum, ids)
        cos_ref, sin_ref = to_torch(io["dype.cos"]), to_torch(io["dype.sin"])
        self.assertEqual(cos.shape, cos_ref.shape)
        self.assertEqual(sin.shape, sin_ref.shape)
        err_cos = (cos.double() - cos_ref.double()).abs().max().item()
        err_sin = (sin.double() - sin_ref.double()).abs().max().item()
        pe_ref = to_torch(io["dype.pe"])
        pe_ours = dype_spectrum.bfl_pe(cos, sin)
        self.assertEqual(pe_ours.shape, pe_ref.shape)
        err_pe = (pe_ours.double() - pe_ref.double()).abs().max().item()
        for name, err in (("dype.cos", err_cos), ("dype.sin", err_sin), ("dype.pe", err_pe)):
            self.assertLessEqual(err, TABLE_BOUND, f"{name} off by {err}")
        report(f"tiny FLUX dype.cos/dype.sin {list(cos.shape)}, dype.pe {list(pe_ref.shape)}: largest abs error "
               f"cos {err_cos:.3g}, sin {err_sin:.3g}, pe {err_pe:.3g} (bound {TABLE_BOUND:g}); bit-identical "
               f"{torch.equal(cos, cos_ref) and torch.equal(sin, sin_ref)}")


class Errors(unittest.TestCase):
    """Plugin errors arrive as exceptions carrying the plugin's status and message."""

    def test_bad_configs_raise_config_errors_naming_the_field(self):
        with open_library() as lib:
            factory = lib.posenc_factory()
            for config, needle in (({"method": "warp"}, "method"), ({"extra": 1}, "config.extra"),
                                   ('{"lambda_s": -1}', "config.lambda_s"), ("[1, 2]", "")):
                with self.subTest(config=config):
                    with self.assertRaises(gp.GenplugError) as caught:
                        factory.create("org.genplug.dype", config)
                    e = caught.exception
                    self.assertIsInstance(e, gp.ConfigError)
                    self.assertEqual(e.status, gp.E_CONFIG)
                    self.assertTrue(e.message, "the plugin's message is carried")
                    self.assertIn(needle, e.message)
                    self.assertIn(e.message, str(e))
                    self.assertEqual(len(lib._instances), 0)
            with self.assertRaises(gp.InvalidArgument) as caught:
                factory.create("org.genplug.nope", "{}")
            self.assertIn("org.genplug.nope", caught.exception.message)

    def test_bad_queries_raise_with_the_plugins_message(self):
        meta = read_json("dype/cases.json")["meta"]
        good = dype_golden_layout(meta)
        last = len(good.axis_dims) - 1
        target = [1] + [b * 2 for b in good.base_extent[1:]]
        with open_library() as lib, lib.posenc_factory().create(None, "{}") as posenc:
            odd = gp.RotaryLayout(list(good.axis_dims), good.theta, good.base_extent, good.pixels_per_token,
                                  good.axis_flags)
            odd.axis_dims[last] += 1
            with self.assertRaises(gp.InvalidArgument) as caught:
                posenc.compute(odd, target, 0.5)
            self.assertEqual(caught.exception.status, gp.E_INVALID_ARGUMENT)
            self.assertIn(f"layout.axis_dims[{last}]", caught.exception.message)
            with self.assertRaises(gp.InvalidArgument) as caught:
                posenc.compute(good, target, 1.25)
            self.assertIn("query.t", caught.exception.message)
            with self.assertRaises(gp.InvalidArgument) as caught:
                posenc.compute(good, [1, 0] + target[2:], 0.5)
            self.assertIn("query.target_extent[1]", caught.exception.message)
            with self.assertRaises(ValueError):  # caught on the host side: ctypes would wrap it silently
                posenc.compute(good, [1, -1] + target[2:], 0.5)
            # Still usable after errors, and the next call starts without the last error.
            ctx = gp.CallContext()
            posenc.compute(good, target, 0.5, ctx)
            self.assertEqual((ctx.error_code, ctx.error), (gp.OK, ""))

    def test_each_thread_gets_its_own_errors(self):
        meta = read_json("dype/cases.json")["meta"]
        layout = dype_golden_layout(meta)
        target = [1] + [b * 2 for b in layout.base_extent[1:]]
        failures = []

        def work(t, expect_error):
            try:
                with lib.posenc_factory().create(None, "{}") as posenc:  # instances render concurrently
                    for _ in range(300):
                        try:
                            posenc.compute(layout, target, t)
                            if expect_error:
                                failures.append("no error")
                        except gp.InvalidArgument as e:
                            if not expect_error or "query.t" not in e.message:
                                failures.append(str(e))
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))

        with open_library() as lib:
            threads = [threading.Thread(target=work, args=(t, bad)) for t, bad in ((0.5, False), (2.0, True)) * 2]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        self.assertEqual(failures, [])


class HostChecks(unittest.TestCase):
    """What the host refuses before the plugin sees it: values ctypes would wrap or cut short, layouts of the
    wrong shape, schemas that are not JSON."""

    def test_pixels_per_token_is_checked_not_wrapped(self):
        layout = dype_golden_layout(read_json("dype/cases.json")["meta"])
        target = [1] + layout.base_extent[1:]
        with open_library() as lib, lib.posenc_factory().create(None, "{}") as posenc:
            for ppt in (2 ** 32 + 16, -4294967280, 16.0, None):
                with self.subTest(pixels_per_token=ppt):
                    wrong = gp.RotaryLayout(layout.axis_dims, layout.theta, layout.base_extent, ppt,
                                            layout.axis_flags)
                    with self.assertRaises(ValueError) as caught:
                        posenc.compute(wrong, target, 0.5)
                    self.assertIn("layout.pixels_per_token: expected an integer from 0 to 4294967295",
                                  str(caught.exception))

    def test_configs_the_plugin_could_not_read_whole_are_refused(self):
        with open_library() as lib:
            factory = lib.posenc_factory()
            for config, needle in (("{}\0garbage", "NUL"), ({"lambda_s": float("inf")}, "cannot be written as JSON"),
                                   ({"lambda_s": float("nan")}, "cannot be written as JSON")):
                with self.subTest(config=config):
                    with self.assertRaises(ValueError) as caught:
                        factory.create("org.genplug.dype", config)
                    self.assertIn(needle, str(caught.exception))
            with self.assertRaises(ValueError):
                factory.create("org.genplug.dype\0x", "{}")
            self.assertEqual(len(lib._instances), 0)

    def test_an_unterminated_string_is_refused_in_linear_time(self):
        # The nesting scan had rescanned to the end from every quote inside an unterminated string: 160 KB took
        # 2 minutes, so a 16 MiB @FILE hung. 1 MB of them now takes well under a second; a 20 s alarm stops a
        # regression here rather than at CTest's time-out.
        text = '"' + '\\"' * 500000

        def too_slow(signum, frame):
            raise TimeoutError("parse_json took more than 20 s on 1 MB")

        previous = signal.signal(signal.SIGALRM, too_slow)
        signal.alarm(20)
        try:
            with self.assertRaises(ValueError) as caught:
                gp.parse_json(text)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        self.assertIn("Unterminated string", str(caught.exception))

    def test_layouts_of_the_wrong_shape_are_value_errors_naming_the_field(self):
        good = {"axis_dims": [16, 56, 56], "theta": 10000, "base_extent": [1, 64, 64], "pixels_per_token": 16}
        for change, needle in (
                (5, "layout: expected a JSON object, got 5"),
                ({"axis_flags": [[1], 2, 3]}, "layout.axis_flags[0]"),
                ({"axis_flags": ["index"]}, "layout.axis_flags: 1 values for a layout of 3 axes"),
                ({"axis_flags": ["index", "spatial", -1]}, "layout.axis_flags[2]"),
                ({"axis_dims": []}, "layout.axis_dims: 1 to 64 axes"),
                ({"axis_dims": [2] * 65}, "layout.axis_dims: 1 to 64 axes"),
                ({"axis_dims": [16, 56, 65538]}, "layout.axis_dims[2]: must be <= 65536"),
                ({"base_extent": [1, 64]}, "layout.base_extent: 2 values for a layout of 3 axes"),
                ({"theta": float("inf")}, "layout.theta: expected a finite number"),
                ({"theta": 10 ** 400}, "layout.theta: expected a finite number"),
                ({"theta": True}, "layout.theta: expected a number"),
                ({"pixels_per_token": 1e400}, "layout.pixels_per_token"),
                ({"pixels_per_token": 2 ** 32 + 16}, "layout.pixels_per_token")):
            with self.subTest(change=change):
                obj = dict(good, **change) if isinstance(change, dict) else change
                with self.assertRaises(ValueError) as caught:
                    gp.RotaryLayout.from_json(obj)
                self.assertIn(needle, str(caught.exception))
        layout = gp.RotaryLayout.from_json(dict(good, axis_flags=["index", "spatial", 1]))
        self.assertEqual(layout.axis_flags, [0, gp.AXIS_SPATIAL, gp.AXIS_SPATIAL])

    def test_an_invalid_schema_names_the_plugin(self):
        for schema, needle in ((b"{bad", "not valid JSON"), (b"[" * 100000, "nested deeper than 64 levels"),
                               (b'{"maximum": 1e400}', "outside the range of a double")):
            with self.subTest(schema=schema[:10]):
                factory, keep = fake_factory(schema)
                with self.assertRaises(ValueError) as caught:
                    factory.descriptors()
                message = str(caught.exception)
                self.assertIn("/fake/libbad_schema.so: org.test.bad_schema: invalid config schema: ", message)
                self.assertIn(needle, message)
        factory, keep = fake_factory(b'{"type": "object"}')
        self.assertEqual(factory.descriptor(0).config_schema, {"type": "object"})


class HostServices(unittest.TestCase):
    """The context's callbacks, called through their C function pointers as a plugin calls them."""

    def test_set_error_log_progress_and_cancel(self):
        lines, stages = [], []
        cancel = threading.Event()
        ctx = gp.CallContext(log=lambda severity, line: lines.append((severity, line)),
                             progress=lambda done, total, stage: stages.append((done, total, stage)) or done >= total,
                             cancel=cancel)
        c_ptr = ctx.get()
        c = ctx._c
        self.assertEqual(c.struct_size, ctypes.sizeof(gp.genplug_context_t))
        c.set_error(c_ptr, gp.E_CONFIG, "config.x: bad \u00e9".encode())
        self.assertEqual((ctx.error_code, ctx.error), (gp.E_CONFIG, "config.x: bad \u00e9"))
        with self.assertRaises(gp.ConfigError) as caught:
            ctx.check(gp.E_CONFIG, "p: create")
        self.assertEqual(str(caught.exception), "p: create: config error: config.x: bad \u00e9")
        c.log(c_ptr, gp.LOG_WARNING, b"a line")
        self.assertEqual(lines, [(gp.LOG_WARNING, "a line")])
        self.assertEqual(c.progress(c_ptr, 1, 4, b"load"), 0)
        self.assertEqual(c.progress(c_ptr, 4, 4, b"load"), 1)  # the callback asks to stop
        self.assertEqual(stages, [(1, 4, "load"), (4, 4, "load")])
        self.assertEqual(c.is_cancelled(c_ptr), 0)
        cancel.set()
        self.assertEqual(c.is_cancelled(c_ptr), 1)
        self.assertEqual(c.progress(c_ptr, 1, 4, b"load"), 1)
        ctx.get()  # a new call starts without the last error
        self.assertEqual((ctx.error_code, ctx.error), (gp.OK, ""))
        with self.assertRaises(gp.GenplugError) as caught:  # a code this host does not know, no message
            ctx.check(-99, "p: compute")
        self.assertEqual((type(caught.exception), caught.exception.status), (gp.GenplugError, -99))
        self.assertIn("the plugin gave no message", str(caught.exception))


class Lifetime(unittest.TestCase):
    def test_close_destroys_deinits_unloads_and_leaves_nothing(self):
        gc.collect()
        gc.disable()  # every object below must go by reference counting alone: no cycles
        try:
            lib = open_library()
            path = lib.path
            self.assertTrue(self.mapped(path))
            posenc = lib.posenc_factory().create(None, "{}")
            ctx = gp.CallContext()
            refs = [weakref.ref(o) for o in (lib, posenc, ctx)]
            meta = read_json("dype/cases.json")["meta"]
            layout = dype_golden_layout(meta)
            posenc.compute(layout, [1] + layout.base_extent[1:], 0.5, ctx)
            lib.close()  # destroys the instance still alive, deinit, dlclose
            self.assertTrue(posenc.closed)
            self.assertTrue(lib.closed)
            self.assertFalse(self.mapped(path), "the library is unloaded")
            with self.assertRaises(ValueError):
                posenc.compute(layout, [1] + layout.base_extent[1:], 0.5)
            with self.assertRaises(ValueError):
                lib.posenc_factory()
            lib.close()  # twice is harmless
            del lib, posenc, ctx
            self.assertEqual([r() for r in refs], [None, None, None])
            self.assertEqual(len(gp._contexts), 0)
        finally:
            gc.enable()

    def test_two_hosts_share_one_library(self):
        meta = read_json("dype/cases.json")["meta"]
        layout = dype_golden_layout(meta)
        first, second = open_library(), open_library()  # init twice, one loaded copy
        with second.posenc_factory().create(None, "{}") as posenc:
            first.close()  # one deinit: the other host keeps working
            posenc.compute(layout, [1] + layout.base_extent[1:], 0.5)
        second.close()

    def test_an_unclosed_instance_is_destroyed_with_a_resource_warning(self):
        with open_library() as lib:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lib.posenc_factory().create(None, "{}")  # dropped at once
                gc.collect()
            self.assertTrue(any(issubclass(w.category, ResourceWarning) for w in caught))
            self.assertEqual(len(lib._instances), 0)

    @staticmethod
    def mapped(path):
        real = os.path.realpath(path)
        with open("/proc/self/maps", encoding="utf-8") as f:
            return any(line.rstrip().endswith(real) for line in f)


def run_cli(*args, library=None, timeout=120):
    """samples/python-host/dype_spectrum.py LIBRARY ARGS... (str or bytes), run as a user would."""
    return subprocess.run([sys.executable, os.path.join(SAMPLE, "dype_spectrum.py"), library or ARGS.library, *args],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
                          timeout=timeout)


class UsageErrors:
    def assert_usage_error(self, r, needle):
        """Exit 2 and one line naming what was wrong; never a traceback."""
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(needle, r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class CommandLine(TorchCase, UsageErrors):
    """samples/python-host/dype_spectrum.py, run as a user would."""

    def run_cli(self, *args, timeout=120):
        return run_cli(*args, timeout=timeout)

    def test_cli_refuses_bad_layouts_as_usage_errors(self):
        base = '"axis_dims":[16,56,56],"theta":10000,"base_extent":[1,64,64]'
        for layout, needle in (
                ("5", "--layout: expected a JSON object, got 5"),
                ("null", "--layout: expected a JSON object, got null"),
                ('{%s,"pixels_per_token":16,"axis_flags":[[1],2,3]}' % base, "--layout.axis_flags[0]: expected"),
                ('{%s,"pixels_per_token":16,"axis_flags":["index"]}' % base,
                 "--layout.axis_flags: 1 values for a layout of 3 axes"),
                ('{%s,"pixels_per_token":16,"axis_flags":5}' % base, "--layout.axis_flags: expected an array"),
                ('{"axis_dims":16,"theta":10000,"base_extent":[1,64,64],"pixels_per_token":16}',
                 "--layout.axis_dims: expected an array"),
                ('{"axis_dims":[16,56,56],"theta":[1],"base_extent":[1,64,64],"pixels_per_token":16}',
                 "--layout.theta: expected a number"),
                ('{%s,"pixels_per_token":null}' % base, "--layout.pixels_per_token: expected an integer"),
                ('{%s,"pixels_per_token":1e400}' % base, "--layout: a number is outside the range of a double: 1e400"),
                ('{%s,"pixels_per_token":4294967312}' % base,
                 "--layout.pixels_per_token: expected an integer from 0 to 4294967295, got 4294967312"),
                ('{%s,"pixels_per_token":-4294967280}' % base, "--layout.pixels_per_token: expected an integer")):
            with self.subTest(layout=layout):
                self.assert_usage_error(self.run_cli("--layout", layout, "--height", "256", "--width", "256"), needle)

    def test_cli_json_options_are_read_as_genplug_reads_them(self):
        self.assert_usage_error(self.run_cli("--config", "[" * 100000), "--config: nested deeper than 64 levels")
        self.assert_usage_error(self.run_cli("--config", '{"a":' + "[" * 65 + "]" * 65 + "}"),
                                "--config: nested deeper than 64 levels")
        r = self.run_cli("--config", '{"a":' + "[" * 64 + "]" * 64 + "}")  # 64 levels parse: the plugin answers
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("config error", r.stderr)
        # Refused as the user wrote it, not read as inf and quoted back as Infinity.
        r = self.run_cli("--config", '{"lambda_s":1e400}')
        self.assert_usage_error(r, "--config: a number is outside the range of a double: 1e400")
        self.assertNotIn("Infinity", r.stderr)
        self.assert_usage_error(self.run_cli("--config", '{"lambda_s":NaN}'), "--config: NaN is not JSON")
        self.assert_usage_error(self.run_cli("--config", '{"method":"yarn","method":"dy-yarn"}'),
                                'the key "method" appears twice')

    def test_cli_reads_option_files_only_when_regular_and_bounded(self):
        with tempfile.TemporaryDirectory() as d:
            fifo, big, limit = os.path.join(d, "fifo"), os.path.join(d, "big.json"), os.path.join(d, "limit.json")
            os.mkfifo(fifo)  # no writer: an open() without O_NONBLOCK waits for ever
            with open(big, "wb") as f:
                f.truncate(16 * 1024 * 1024 + 1)  # sparse
            with open(limit, "wb") as f:
                f.write(b"{}" + b" " * (16 * 1024 * 1024 - 2))
            for value, needle in ((f"@{fifo}", "is not a regular file (a device, pipe or socket)"),
                                  ("@/dev/zero", "is not a regular file (a device, pipe or socket)"),
                                  (f"@{d}", "is not a regular file (a folder)"),
                                  (f"@{big}", "is larger than 16777216 bytes"),
                                  (f"@{d}/none.json", "it does not exist")):
                with self.subTest(value=value):
                    self.assert_usage_error(self.run_cli("--config", value, timeout=30),
                                            f"--config: cannot read '{value[1:]}': it ")
            r = self.run_cli("--config", f"@{limit}")  # exactly 16 MiB is read
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_cli_bad_option_values_are_usage_errors(self):
        for args, needle in ((["--height", "99999999999999"], "--height: must be a whole number from 0 to 4294967295"),
                             (["--width", "-1"], "--width: must be a whole number"),
                             (["--extent", "1,-1,5"], "--extent: item 2 must be a whole number"),
                             (["--extent", "1,64"], "--extent: 2 values for a layout of 3 axes"),
                             (["--t", "2"], "--t: must be a number in [0, 1]"),
                             (["--t", "nan"], "--t: must be a number in [0, 1]"),
                             (["--tables", "--height", "256", "--width", "256", "--text-tokens", "-5"],
                              "--text-tokens: must be a whole number from 0")):
            with self.subTest(args=args):
                self.assert_usage_error(self.run_cli(*args), needle)

    def test_cli_refuses_tables_too_large_to_build(self):
        for args in (["--text-tokens", "1000000000"], ["--extent", "1,100000,100000"],
                     ["--height", "11600", "--width", "11600"]):  # 725 x 725 tokens: just past the bound
            with self.subTest(args=args):
                self.assert_usage_error(self.run_cli("--tables", *args, timeout=60),
                                        "--tables: 525625 x 128 tables are too large" if "11600" in args else
                                        "tables are too large to build: at most 67108864 values")

    def test_cli_tables_without_pytorch_is_a_usage_error_that_names_the_package(self):
        with tempfile.TemporaryDirectory() as d:  # a torch that cannot be imported, ahead of the real one
            os.mkdir(os.path.join(d, "torch"))
            with open(os.path.join(d, "torch", "__init__.py"), "w") as f:
                f.write("raise ImportError(\"No module named 'torch'\")\n")
            path = os.pathsep.join(p for p in (d, os.environ.get("PYTHONPATH")) if p)
            r = subprocess.run([sys.executable, os.path.join(SAMPLE, "dype_spectrum.py"), ARGS.library, "--tables",
                                "--extent", "1,4,4"], capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path))
        self.assert_usage_error(r, "--tables needs PyTorch (Debian: python3-torch): No module named 'torch'")

    def test_cli_rows_past_the_image_tokens_print_each_token_once(self):
        self.require_torch()
        r = self.run_cli("--tables", "--extent", "1,4,4", "--text-tokens", "3", "--rows", "1000000000", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        tables = json.loads(r.stdout)["tables"]
        self.assertEqual(tables["shape"], [3 + 16, 128])
        self.assertEqual([row["token"] for row in tables["rows"]], list(range(3, 3 + 16)))

    def test_cli_list_names_a_plugin_whose_schema_is_not_json(self):
        factory, keep = fake_factory(b"{bad")

        class FakeLibrary:  # dype_spectrum's Library, holding the Python-made factory
            def __init__(self, path, log=None):
                self.path, self.abi, self.closed = factory._library.path, (gp.ABI_MAJOR, gp.ABI_MINOR), False

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                pass

            def posenc_factory(self):
                return factory

        err = io.StringIO()
        with unittest.mock.patch.object(dype_spectrum.gp, "Library", FakeLibrary), \
                contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = dype_spectrum.main(["/fake/libbad_schema.so", "--list"])
        self.assertEqual(code, 1)
        self.assertIn("dype_spectrum: /fake/libbad_schema.so: org.test.bad_schema: invalid config schema: not valid "
                      "JSON", err.getvalue())

    def test_cli_prints_the_golden_spectrum(self):
        doc = read_json("dype/cases.json")
        layout = dype_golden_layout(doc["meta"])
        for c in (doc["cases"][0], doc["cases"][-1]):
            r = self.run_cli("--config", json.dumps({"method": c["method"]}), "--layout", json.dumps(layout.to_json()),
                             "--extent", ",".join(map(str, dype_golden_target(c))), "--t", repr(c["t"]))
            self.assertEqual(r.returncode, 0, r.stderr)
            out = json.loads(r.stdout)
            spectrum = gp.Spectrum([a["dim"] for a in out["axes"]], [f for a in out["axes"] for f in a["freqs"]],
                                   [a["mscale"] for a in out["axes"]])
            n = len(layout.axis_dims)
            err, where = spectrum_error(spectrum, [c["expected"][f"axis{a}_freqs"] for a in range(n)],
                                        [c["expected"][f"axis{a}_mscale"] for a in range(n)])
            self.assertLessEqual(err, SPECTRUM_BOUND, where)

    def test_cli_lists_plugins_and_reports_errors(self):
        r = self.run_cli("--list")
        self.assertEqual(r.returncode, 0, r.stderr)
        listing = json.loads(r.stdout)
        self.assertIn("org.genplug.dype", [p["id"] for p in listing["plugins"]])
        self.assertIn("properties", listing["plugins"][0]["config_schema"])
        r = self.run_cli("--config", '{"method":"warp"}')
        self.assertEqual(r.returncode, 1)
        self.assertIn("config error", r.stderr)
        self.assertIn("config.method", r.stderr)

    def test_cli_tables(self):
        self.require_torch()
        c = read_json("dype/tables.json")[0]
        layout = dype_golden_layout(read_json("dype/cases.json")["meta"])
        target = dype_golden_target(c)
        r = self.run_cli("--config", json.dumps({"method": c["method"]}), "--layout", json.dumps(layout.to_json()),
                         "--extent", ",".join(map(str, target)), "--t", repr(c["t"]), "--tables", "--text-tokens",
                         "2", "--rows", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        tables = json.loads(r.stdout)["tables"]
        self.assertEqual(tables["shape"], [2 + target[1] * target[2], sum(layout.axis_dims)])
        with open_library() as lib, lib.posenc_factory().create(None, {"method": c["method"]}) as posenc:
            spectrum = posenc.compute(layout, target, c["t"])
        positions = torch.tensor([row["position"] for row in tables["rows"]], dtype=torch.float32)
        self.assertEqual(positions[0].tolist(), [0.0, 0.0, 0.0])
        self.assertEqual(positions[-1].tolist(), [0.0, target[1] - 1.0, target[2] - 1.0])
        cos, sin = dype_spectrum.rope_tables(spectrum, positions)
        self.assertEqual(cos.tolist(), [row["cos"] for row in tables["rows"]])
        self.assertEqual(sin.tolist(), [row["sin"] for row in tables["rows"]])


# ---- what a plugin breaks of the ABI, and what a caller gets wrong (the hostile tester's findings) -------------


class SpectrumGuards(unittest.TestCase):
    """A spectrum is checked as the C++ host's PosencProxy::compute checks it: guard slots on both sides of each
    buffer, every value written, every value finite; anything else is an InternalError naming the plugin."""

    def compute_hostile(self, which, layout=SMALL_LAYOUT, target=(1, 128, 128)):
        with gp.Library(fixture(HOSTILE)) as lib, lib.posenc_factory().create(HOSTILE_ID + which, "{}") as pe:
            return pe.compute(layout, list(target), 0.5)

    def test_hostile_spectra_are_internal_errors_naming_the_plugin(self):
        for which, needle in (("nan-spectrum", "returned a non-finite frequency (NaN at index 8, axis 1)"),
                              ("inf-amplitude", "returned a non-finite amplitude (inf at index 0, axis 0)"),
                              ("partial-spectrum", "left 56 of 64 frequencies and 3 of 3 amplitudes unwritten"),
                              ("overflow-spectrum", "wrote past the end of the frequency buffer (capacity 64")):
            with self.subTest(which=which):
                with self.assertRaises(gp.InternalError) as caught:
                    self.compute_hostile(which)
                self.assertEqual(caught.exception.status, gp.E_INTERNAL)
                self.assertIn(f"{HOSTILE_ID}{which}: compute: internal error: ", str(caught.exception))
                self.assertIn(needle, str(caught.exception))

    def test_an_overflowing_plugin_never_reaches_the_heap(self):
        # Unguarded, two doubles past buffers of 8 to 240 bytes corrupted pymalloc's blocks within a few
        # thousand calls (a segfault); each write now lands in a guard slot and is refused.
        with gp.Library(fixture(HOSTILE)) as lib:
            with lib.posenc_factory().create(HOSTILE_ID + "overflow-spectrum", "{}") as pe:
                keep = []
                for i in range(3000):
                    d = 2 * (1 + i % 30)
                    with self.assertRaises(gp.InternalError):
                        pe.compute(gp.RotaryLayout([d], 10000.0, [1], 16, [1]), [1], 0.5)
                    keep = (keep + [[i] * (i % 7), str(i)])[-500:]

    def test_writes_before_the_start_and_unwritten_markers_are_refused(self):
        def before(q, out):
            write_spectrum(q, out)
            out.amplitude[-1] = 1.0  # the slot before the buffer
            return gp.OK

        cases = ((before, "wrote before the start of the amplitude buffer (capacity 3 for 3 axes)"),
                 (lambda q, out: gp.OK, "returned success and left 64 of 64 frequencies and 3 of 3 amplitudes "
                  "unwritten"),
                 (lambda q, out: write_spectrum(q, out, freqs=float("inf")),
                  "returned a non-finite frequency (inf at index 0, axis 0)"))
        for compute, needle in cases:
            with self.subTest(needle=needle):
                fake = FakeInstance(compute)
                with fake.posenc(fake_library("/fake/libfake.so")) as pe, self.assertRaises(gp.InternalError) as caught:
                    pe.compute(SMALL_LAYOUT, [1, 64, 64], 0.5)
                self.assertIn("org.test.fake: compute: internal error: " + needle, str(caught.exception))
        fake = FakeInstance(write_spectrum)  # a well-behaved one passes, values as written
        with fake.posenc(fake_library("/fake/libfake.so")) as pe:
            spectrum = pe.compute(SMALL_LAYOUT, [1, 64, 64], 0.5)
        self.assertEqual((spectrum.freqs, spectrum.amplitude), ([0.5] * 64, [1.0] * 3))
        self.assertEqual(fake.destroyed, 1)

    def test_the_cli_exits_1_naming_the_plugin_and_prints_no_nan(self):
        r = run_cli("--plugin", HOSTILE_ID + "nan-spectrum", "--extent", "1,128,128",
                                library=fixture(HOSTILE))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn(f"dype_spectrum: {HOSTILE_ID}nan-spectrum: compute: internal error: returned a non-finite",
                      r.stderr)


class Threads(unittest.TestCase):
    """close() from another thread waits for a compute in flight: ctypes releases the GIL during the call, so an
    unguarded close destroyed the instance (or unloaded the library) under it."""

    def blocking_instance(self):
        entered, release = threading.Event(), threading.Event()

        def compute(q, out):
            entered.set()
            release.wait(30)
            return write_spectrum(q, out)

        return FakeInstance(compute), entered, release

    def close_during_compute(self, pe, close, fake, entered, release):
        results = []
        worker = threading.Thread(target=lambda: results.append(pe.compute(SMALL_LAYOUT, [1, 64, 64], 0.5)))
        worker.start()
        self.assertTrue(entered.wait(30))
        closer = threading.Thread(target=close)
        closer.start()
        closer.join(0.3)
        self.assertTrue(closer.is_alive(), "close() waits for the compute in flight")
        self.assertEqual(fake.destroyed, 0)
        release.set()
        worker.join(30)
        closer.join(30)
        self.assertEqual((len(results), fake.destroyed), (1, 1))
        with self.assertRaises(ValueError):
            pe.compute(SMALL_LAYOUT, [1, 64, 64], 0.5)

    def test_posenc_close_waits_for_a_compute_in_flight(self):
        fake, entered, release = self.blocking_instance()
        pe = fake.posenc(fake_library("/fake/libfake.so"))
        self.close_during_compute(pe, pe.close, fake, entered, release)

    def test_library_close_waits_for_a_compute_in_flight(self):
        fake, entered, release = self.blocking_instance()
        lib = open_library()
        pe = fake.posenc(lib)
        lib._instances.add(pe)
        self.close_during_compute(pe, lib.close, fake, entered, release)
        self.assertTrue(lib.closed)

    def test_closing_while_computing_on_another_thread_never_crashes(self):
        script = textwrap.dedent("""
            import sys, threading, time
            sys.path.insert(0, sys.argv[1])
            import genplug_ctypes as gp
            layout = gp.RotaryLayout([16, 56, 56], 10000.0, [1, 64, 64], 16, [0, 1, 1])
            for mode in ("lib", "posenc") * 15:
                lib = gp.Library(sys.argv[2])
                pe = lib.posenc_factory().create(None, {"method": "dy-yarn"})
                def work():
                    while True:
                        try:
                            pe.compute(layout, [1, 256, 256], 0.5)
                        except ValueError:
                            return  # destroyed
                th = threading.Thread(target=work)
                th.start()
                time.sleep(0.002)
                (lib if mode == "lib" else pe).close()
                th.join()
                lib.close()
            print("survived")
            """)
        r = subprocess.run([sys.executable, "-c", script, SAMPLE, ARGS.library], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "survived"), r.stderr)


    def test_callbacks_may_make_control_calls_while_another_thread_closes(self):
        # A compute's log callback makes a control call (factory and descriptors, create, closing another
        # instance) while another thread closes the computing instance or the whole library. The closer used to
        # hold the library lock while waiting for the instance's lock, and the callback to wait for the library
        # lock under the instance's: a deadlock. In a subprocess, so that one fails this test instead of hanging.
        script = textwrap.dedent("""
            import ctypes, json, sys, threading, time
            sys.path.insert(0, sys.argv[1])
            import genplug_ctypes as gp
            fields = dict(gp.genplug_posenc_t._fields_)
            layout = gp.RotaryLayout([16, 56, 56], 10000.0, [1, 64, 64], 16, [0, 1, 1])
            results = []
            for closer in ("posenc", "library"):
                for action in ("descriptors", "create", "close-other"):
                    lib = gp.Library(sys.argv[2])
                    other = lib.posenc_factory().create(None, {})
                    entered, destroyed, seen, spectra = threading.Event(), [], [], []

                    def compute(me, q, out, ctx):
                        entered.set()
                        deadline = time.monotonic() + 10
                        while closer == "library" and not lib._closing and time.monotonic() < deadline:
                            time.sleep(0.01)
                        time.sleep(0.3)  # the closer is waiting for this instance by now
                        gp._LOG(ctx, gp.LOG_INFO, b"halfway")  # the plugin logs: the host's callback runs
                        return write_spectrum(q.contents, out.contents)

                    keep = (fields["compute"](compute), fields["destroy"](lambda me: destroyed.append(1)))
                    raw = gp.genplug_posenc_t(ctypes.sizeof(gp.genplug_posenc_t), None, keep[1], keep[0],
                                              fields["get_extension"]())
                    pe = gp.Posenc(lib, ctypes.pointer(raw), "org.test.fake")

                    def on_log(severity, line):
                        try:
                            if action == "descriptors":
                                lib.posenc_factory().descriptors()
                            elif action == "create":
                                lib.posenc_factory().create(None, {}).close()
                            else:
                                other.close()
                            seen.append("done")
                        except ValueError as e:
                            seen.append("refused" if "the library is closing" in str(e) else repr(e))
                        except BaseException as e:
                            seen.append(repr(e))

                    ctx = gp.CallContext(log=on_log)
                    worker = threading.Thread(target=lambda: spectra.append(pe.compute(layout, [1, 64, 64], 0.5,
                                                                                       ctx)))
                    worker.start()
                    entered.wait(30)
                    closing = threading.Thread(target=pe.close if closer == "posenc" else lib.close)
                    closing.start()
                    worker.join()
                    closing.join()
                    lib.close()
                    results.append([closer, action, seen, len(spectra), len(destroyed), other.closed, lib.closed])
            print(json.dumps(results))
            """)
        try:
            r = subprocess.run([sys.executable, "-c", WRITE_SPECTRUM_SOURCE + script, SAMPLE, ARGS.library],
                               capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("deadlocked: a callback's control call and a close on another thread waited for each other")
        self.assertEqual(r.returncode, 0, r.stderr)
        results = json.loads(r.stdout)
        self.assertEqual(len(results), 6)
        for closer, action, seen, spectra, destroyed, other_closed, lib_closed in results:
            with self.subTest(closer=closer, action=action):
                # Closing the instance leaves the library open: the call is made. Once the library closes,
                # control calls are refused; closing another instance still is allowed.
                done = closer == "posenc" or action == "close-other"
                self.assertEqual(seen, ["done" if done else "refused"])
                self.assertEqual((spectra, destroyed, lib_closed), (1, 1, True))
                self.assertEqual(other_closed, True)

    def test_closing_from_a_callback_of_its_own_compute_is_refused(self):
        # It would wait for the compute it is called from: a RuntimeError, not a hang. In a subprocess, so that a
        # regression fails this test instead of hanging.
        script = textwrap.dedent("""
            import ctypes, json, sys
            sys.path.insert(0, sys.argv[1])
            import genplug_ctypes as gp
            lib = gp.Library(sys.argv[2])
            seen = []

            def compute(me, q, out, ctx):
                gp._LOG(ctx, gp.LOG_INFO, b"closing")
                return write_spectrum(q.contents, out.contents)

            def on_log(severity, line):
                for close in (pe.close, lib.close):
                    try:
                        close()
                        seen.append("closed")
                    except RuntimeError as e:
                        seen.append(str(e))

            fields = dict(gp.genplug_posenc_t._fields_)
            keep = (fields["compute"](compute), fields["destroy"](lambda me: None))
            raw = gp.genplug_posenc_t(ctypes.sizeof(gp.genplug_posenc_t), None, keep[1], keep[0],
                                      fields["get_extension"]())
            pe = gp.Posenc(lib, ctypes.pointer(raw), "org.test.fake")
            layout = gp.RotaryLayout([16, 56, 56], 10000.0, [1, 64, 64], 16, [0, 1, 1])
            pe.compute(layout, [1, 64, 64], 0.5, gp.CallContext(log=on_log))
            still_open = [pe.closed, lib.closed]
            lib.close()
            print(json.dumps([lib.path, seen, still_open, pe.closed]))
            """)
        try:
            r = subprocess.run([sys.executable, "-c", WRITE_SPECTRUM_SOURCE + script, SAMPLE, ARGS.library],
                               capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("a close from a callback of its own compute waited for itself")
        self.assertEqual(r.returncode, 0, r.stderr)
        path, seen, still_open, closed = json.loads(r.stdout)
        self.assertEqual(seen, ["org.test.fake: close from inside a callback of its own compute (it would wait for "
                                "itself)", f"{path}: close from inside a callback of a compute on one of its "
                                "instances (it would wait for itself)"])
        self.assertEqual((still_open, closed), ([False, False], True))

    def test_an_instance_collected_while_close_holds_the_lock_is_destroyed_before_deinit(self):
        # The collector clears an object's weak references (here: the library's set of instances) before it
        # runs its __del__, so an instance being collected can be missing from the instances close() waits for;
        # its __del__ may then run on another thread while close() holds the library lock -- here, while deinit
        # runs. It used to be queued as an orphan after close() had drained them, and never destroyed. Made
        # deterministic: deinit blocks until the instance is collected.
        lib = open_library()
        events = []
        in_deinit, collected = threading.Event(), threading.Event()
        real = lib._entry

        def deinit():
            events.append("deinit")
            in_deinit.set()
            collected.wait(10)
            real.deinit()

        fields = dict(gp.genplug_entry_t._fields_)
        blocking = fields["deinit"](deinit)
        lib._entry = gp.genplug_entry_t(ctypes.sizeof(gp.genplug_entry_t), gp.ABI_MAJOR, gp.ABI_MINOR,
                                        fields["init"](), blocking, fields["get_factory"]())
        fake = FakeInstance(write_spectrum)
        fields = dict(gp.genplug_posenc_t._fields_)
        fake._destroy = fields["destroy"](lambda me: events.append("destroy"))
        fake.c.destroy = fake._destroy
        pe = fake.posenc(lib)
        lib._instances.discard(pe)  # as the collector does first, before __del__
        closing = threading.Thread(target=lib.close)
        closing.start()
        try:
            self.assertTrue(in_deinit.wait(30))
            self.assertTrue(lib._lock.locked(), "close() holds the library lock through deinit")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                del pe  # its __del__ runs here, on this thread, while close() holds the lock
                gc.collect()
        finally:
            collected.set()
            closing.join(30)
        self.assertFalse(closing.is_alive())
        self.assertEqual(events, ["destroy", "deinit"], "destroyed exactly once, before deinit")
        self.assertTrue(lib.closed)
        self.assertEqual((lib._live, lib._orphans), ({}, []))

    def test_an_instance_collected_while_another_is_destroyed_is_destroyed_once(self):
        # The same while close() destroys another instance (its destroy blocks): destroyed once, before deinit.
        lib = open_library()
        events, in_destroy, collected = [], threading.Event(), threading.Event()

        def slow_destroy(me):
            events.append("destroy slow")
            in_destroy.set()
            collected.wait(10)

        fields = dict(gp.genplug_posenc_t._fields_)
        quick, slow = FakeInstance(write_spectrum), FakeInstance(write_spectrum)
        quick._destroy = fields["destroy"](lambda me: events.append("destroy quick"))
        slow._destroy = fields["destroy"](slow_destroy)
        quick.c.destroy, slow.c.destroy = quick._destroy, slow._destroy
        quick_pe = quick.posenc(lib)
        slow_pe = slow.posenc(lib)  # destroyed first (last created first)
        lib._instances.discard(quick_pe)  # as the collector does first, before __del__
        closing = threading.Thread(target=lib.close)
        closing.start()
        try:
            self.assertTrue(in_destroy.wait(30))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                del quick_pe
                gc.collect()
        finally:
            collected.set()
            closing.join(30)
        self.assertEqual(events, ["destroy slow", "destroy quick"])
        self.assertTrue(slow_pe.closed and lib.closed)
        self.assertEqual((lib._live, lib._orphans), ({}, []))


class NullFunctionPointers(unittest.TestCase):
    """A NULL function pointer from a plugin is refused with an error naming the library, as
    host/src/plugin_library.cpp refuses it, before anything calls it (ctypes would call address 0)."""

    def entry(self, **null):
        fields = dict(gp.genplug_entry_t._fields_)
        # get_factory returns a pointer, which a ctypes callback cannot: made as returning void*, then cast.
        get_factory = ctypes.cast(ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)(lambda kind: None),
                                  fields["get_factory"])
        funcs = {"init": fields["init"](lambda path, ctx: gp.OK), "deinit": fields["deinit"](lambda: None),
                 "get_factory": get_factory}
        values = [fields[f]() if f in null else fn for f, fn in funcs.items()]
        return gp.genplug_entry_t(ctypes.sizeof(gp.genplug_entry_t), gp.ABI_MAJOR, gp.ABI_MINOR, *values), values

    def test_an_entry_missing_a_function_is_refused(self):
        for field in ("init", "deinit", "get_factory"):
            with self.subTest(field=field):
                entry, keep = self.entry(**{field: None})
                with self.assertRaises(gp.InternalError) as caught:
                    gp.check_entry(entry, "/fake/libnull.so")
                self.assertIn(f"/fake/libnull.so: genplug_entry: internal error: its {field} function pointer is NULL",
                              str(caught.exception))
        entry, keep = self.entry()
        gp.check_entry(entry, "/fake/libnull.so")
        entry.abi_major = 2  # another major stays an ABI mismatch
        with self.assertRaises(gp.AbiMismatch):
            gp.check_entry(entry, "/fake/libnull.so")

    def test_an_incomplete_factory_is_refused(self):
        factory, keep = fake_factory(b"{}", path="/fake/libnull.so")  # its create is NULL
        with self.assertRaises(gp.InternalError) as caught:
            gp.check_factory(factory._raw, gp.KIND_POSENC, "/fake/libnull.so")
        self.assertIn("/fake/libnull.so: factory 'genplug.posenc/1' is incomplete: internal error: its create",
                      str(caught.exception))
        with self.assertRaises(gp.InternalError) as caught:  # a Factory made without the check refuses the call
            factory.create("org.test.bad_schema", "{}")
        self.assertIn("/fake/libnull.so: factory 'genplug.posenc/1': internal error: its create function pointer "
                      "is NULL", str(caught.exception))

    def test_an_instance_missing_compute_or_destroy_is_refused(self):
        for fake, needle in ((FakeInstance(None), "the instance's compute function pointer is NULL"),
                             (FakeInstance(write_spectrum, destroy=False),
                              "the instance's destroy function pointer is NULL")):
            with self.subTest(needle=needle):
                factory, keep = fake_factory(b"{}", path="/fake/libnull.so", create=fake.create)
                with self.assertRaises(gp.InternalError) as caught:
                    factory.create("org.test.bad_schema", "{}")
                self.assertIn(f"/fake/libnull.so: org.test.bad_schema: create: internal error: {needle}",
                              str(caught.exception))
                self.assertEqual(len(factory._library._instances), 0)
                self.assertEqual(fake.destroyed, 1 if fake.c.destroy else 0)  # destroyed when it can be
        fake = FakeInstance(None)
        with fake.posenc(fake_library("/fake/libnull.so")) as pe, self.assertRaises(gp.InternalError) as caught:
            pe.compute(SMALL_LAYOUT, [1, 64, 64], 0.5)
        self.assertIn("org.test.fake: compute: internal error: its compute function pointer is NULL",
                      str(caught.exception))


class LoadingRefusals(unittest.TestCase):
    """What is no plugin is refused before dlopen (its ELF .dynsym has no genplug_entry), so none of its
    constructors runs; a real other ABI major stays an AbiMismatch; descriptor text must be UTF-8."""

    def test_a_library_without_the_entry_symbol_is_not_loaded(self):
        path = fixture("libno_entry.so")
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, "loaded")
            with unittest.mock.patch.dict(os.environ, GENPLUG_TEST_LOADED_MARKER=marker):
                with self.assertRaises(gp.NotAPlugin) as caught:
                    gp.Library(path)
            self.assertFalse(os.path.exists(marker), "its constructor ran: it was loaded")
        self.assertNotIsInstance(caught.exception, gp.AbiMismatch)
        self.assertEqual(str(caught.exception), f"{path}: not a genplug plugin: it defines no 'genplug_entry' "
                         "symbol (not loaded)")
        self.assertFalse(Lifetime.mapped(path))

    def test_the_elf_symbol_check(self):
        self.assertIs(gp.elf_defines_symbol(ARGS.library, gp.ENTRY_SYMBOL), True)
        self.assertIs(gp.elf_defines_symbol(fixture("libno_entry.so"), gp.ENTRY_SYMBOL), False)
        self.assertIs(gp.elf_defines_symbol(fixture("libno_entry.so"), "not_a_genplug_plugin"), True)
        self.assertIs(gp.elf_defines_symbol(ARGS.library, "genplug_entr"), False)  # whole names only
        with tempfile.TemporaryDirectory() as d:
            cut = os.path.join(d, "cut.so")
            with open(ARGS.library, "rb") as f, open(cut, "wb") as out:
                out.write(f.read(4096))  # the section headers lie past the end
            for path in (cut, __file__, d, os.path.join(d, "none.so")):
                with self.subTest(path=path):
                    self.assertIsNone(gp.elf_defines_symbol(path, gp.ENTRY_SYMBOL))  # the loader decides

    def test_another_abi_major_is_still_an_abi_mismatch(self):
        with self.assertRaises(gp.AbiMismatch) as caught:
            gp.Library(fixture("libwrong_abi.so"))
        self.assertIn("ABI mismatch: plugin ABI 2.", str(caught.exception))

    def test_a_descriptor_that_is_not_utf8_is_a_value_error_naming_the_field(self):
        path = fixture("bad_utf8/libbad_utf8_posenc.so")
        with gp.Library(path) as lib:
            for call in (lib.posenc_factory().descriptors, lib.posenc_factory().create):
                with self.subTest(call=call.__name__):
                    with self.assertRaises(ValueError) as caught:
                        call()
                    self.assertNotIsInstance(caught.exception, UnicodeDecodeError)
                    self.assertEqual(str(caught.exception), f"{path}: descriptor 0: id: not UTF-8 text (invalid start "
                                     "byte at byte 20)")
        r = run_cli("--list", library=path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"dype_spectrum: {path}: descriptor 0: id: not UTF-8 text", r.stderr)

    def test_what_is_no_regular_file_is_refused_before_dlopen(self):
        # dlopen of a FIFO with no writer waits for ever (the ELF check could not tell, and left it to dlopen):
        # each is refused at once, as the C++ host's command line refuses it. In a subprocess, so that a
        # regression fails this test instead of hanging.
        with tempfile.TemporaryDirectory() as d:
            fifo, link = os.path.join(d, "fifo.so"), os.path.join(d, "libx.so")
            os.mkfifo(fifo)
            os.symlink(fifo, link)  # links are followed
            script = textwrap.dedent("""
                import json, sys
                sys.path.insert(0, sys.argv[1])
                import genplug_ctypes as gp
                out = []
                for path in sys.argv[2:]:
                    try:
                        gp.Library(path).close()
                        out.append(["loaded", ""])
                    except Exception as e:
                        out.append([type(e).__name__, str(e)])
                print(json.dumps(out))
                """)
            paths = [fifo, link, d, "/dev/null"]
            try:
                r = subprocess.run([sys.executable, "-c", script, SAMPLE, *paths], capture_output=True, text=True,
                                   timeout=30)
            except subprocess.TimeoutExpired:
                self.fail("Library() waited on a FIFO")
            self.assertEqual(r.returncode, 0, r.stderr)
            kinds = ("a FIFO", "a FIFO", "a folder", "a character device")
            for path, kind, (cls, message) in zip(paths, kinds, json.loads(r.stdout)):
                with self.subTest(path=path):
                    self.assertEqual(cls, "NotAPlugin")
                    self.assertEqual(message, f"{path}: not a genplug plugin: it is not a plugin library (a "
                                     f"regular .so file) but {kind} (not loaded)")
        with self.assertRaises(OSError) as caught:  # a path that does not exist is still the loader's to name
            gp.Library("/nonexistent/libnone.so")
        self.assertIn("cannot load: ", str(caught.exception))

    def test_a_library_path_that_is_not_utf8_names_the_load_failure(self):
        path = os.fsdecode(b"/nonexistent/lib\xff.so")
        with self.assertRaises(OSError) as caught:
            gp.Library(path)
        self.assertEqual(str(caught.exception), "/nonexistent/lib\\xff.so: cannot load: cannot open shared object "
                         "file: No such file or directory")
        r = run_cli("--list", library=os.fsencode(path))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("dype_spectrum: /nonexistent/lib\\xff.so: cannot load: cannot open shared object", r.stderr)


class Arguments(unittest.TestCase):
    """Arguments are checked before ctypes sees them: it would wrap integers, take bools and bytes, cut at a NUL."""

    class Index:  # a numpy or torch integer, as far as __index__ goes
        def __init__(self, value):
            self.value = value

        def __index__(self):
            return self.value

    def test_descriptor_indexes_are_uint32(self):
        with open_library() as lib:
            factory = lib.posenc_factory()
            for index in (2 ** 32, -2 ** 32, 2 ** 64, -1, True, 1.0, "0", None):
                with self.subTest(index=index):
                    with self.assertRaises(ValueError) as caught:
                        factory.descriptor(index)
                    self.assertIn("descriptor index: expected an integer from 0 to 4294967295", str(caught.exception))
            self.assertEqual(factory.descriptor(self.Index(0)), factory.descriptor(0))

    def test_integers_with_index_are_taken_and_bools_are_not(self):
        layout = gp.RotaryLayout([self.Index(16), 56, 56], 10000.0, [1, self.Index(64), 64], self.Index(16),
                                 [0, 1, self.Index(1)])
        with open_library() as lib, lib.posenc_factory().create(None, "{}") as pe:
            expected = pe.compute(SMALL_LAYOUT, [1, 128, 128], 0.5)
            self.assertEqual(pe.compute(layout, [self.Index(1), 128, self.Index(128)], 0.5), expected)
            if torch is not None:
                self.assertEqual(pe.compute(SMALL_LAYOUT, list(torch.tensor([1, 128, 128])), 0.5), expected)
            with self.assertRaises(ValueError) as caught:
                pe.compute(SMALL_LAYOUT, [True, 128, 128], 0.5)
            self.assertIn("target_extent[0]: expected an integer", str(caught.exception))

    def test_t_and_theta_are_finite_real_numbers(self):
        with open_library() as lib, lib.posenc_factory().create(None, "{}") as pe:
            for value in (True, "0.5", None, 10 ** 400, float("nan"), float("inf"), b"1"):
                with self.subTest(value=value):
                    for name, call in (("t", lambda: pe.compute(SMALL_LAYOUT, [1, 64, 64], value)),
                                       ("layout.theta", lambda: pe.compute(gp.RotaryLayout(
                                           [16, 56, 56], value, [1, 64, 64], 16), [1, 64, 64], 0.5))):
                        with self.assertRaises(ValueError) as caught:
                            call()
                        self.assertTrue(str(caught.exception).startswith(f"{name}: expected a "), caught.exception)
            self.assertEqual(pe.compute(SMALL_LAYOUT, [1, 64, 64], 1), pe.compute(SMALL_LAYOUT, [1, 64, 64], 1.0))

    def test_layouts_built_directly_are_bounded_before_any_buffer(self):
        with open_library() as lib, lib.posenc_factory().create(None, "{}") as pe:
            for dims, needle in (([2 ** 32 - 2], "layout.axis_dims[0]: must be <= 65536"),
                                 ([2 ** 31] * 3, "layout.axis_dims[0]: must be <= 65536"),
                                 ([2] * 65, "layout.axis_dims: 1 to 64 axes, got 65"),
                                 ([], "layout.axis_dims: 1 to 64 axes, got 0")):
                with self.subTest(dims=dims[:3]):
                    n = len(dims)
                    with self.assertRaises(ValueError) as caught:
                        pe.compute(gp.RotaryLayout(dims, 10000.0, [1] * n, 16, [1] * n), [1] * n, 0.5)
                    self.assertIn(needle, str(caught.exception))
            with self.assertRaises(TypeError):
                pe.compute({"axis_dims": [16, 56, 56]}, [1, 64, 64], 0.5)

    def test_strings_are_str_without_nul(self):
        with open_library() as lib, lib.posenc_factory().create(None, "{}") as pe:
            factory = lib.posenc_factory()
            for call, error, needle in ((lambda: lib.factory(b"genplug.posenc/1"), TypeError, "kind: expected str"),
                                        (lambda: lib.factory("genplug.posenc/1\0x"), ValueError,
                                         "kind: contains a NUL"),
                                        (lambda: factory.create(b"org.genplug.dype"), TypeError, "expected str, got "
                                         "bytes (decode bytes to str first)"),
                                        (lambda: factory.create(None, b"{}"), TypeError, "config: expected str"),
                                        (lambda: factory.create(None, {1, 2}), TypeError, "config: cannot be written"),
                                        (lambda: factory.create("org\0x"), ValueError, "contains a NUL character"),
                                        (lambda: pe.compute(SMALL_LAYOUT, b"\x01\x40\x40", 0.5), TypeError,
                                         "target_extent: expected a sequence of integers, got bytes"),
                                        # A mapping or set iterates as its keys: not an extent per axis.
                                        (lambda: pe.compute(SMALL_LAYOUT, {1: 0, 64: 0, 32: 0}, 0.5), TypeError,
                                         "target_extent: expected a sequence of integers, got dict"),
                                        (lambda: pe.compute(SMALL_LAYOUT, {1, 64, 32}, 0.5), TypeError,
                                         "target_extent: expected a sequence of integers, got set")):
                with self.subTest(needle=needle):
                    with self.assertRaises(error) as caught:
                        call()
                    self.assertIn(needle, str(caught.exception))

    def test_brief_json_is_bounded(self):
        deep, big = [], list(range(10 ** 7))
        for _ in range(100000):
            deep = [deep]
        for value in (deep, big, {"k" * 10 ** 6: big}, "x" * 10 ** 7, 10 ** 5000):
            with self.subTest(kind=type(value).__name__):
                started = time.monotonic()
                text = gp.brief_json(value)
                self.assertLessEqual(len(text), 80)
                self.assertLess(time.monotonic() - started, 1.0)
        for value in (5, None, [1, 2], {"a": [1.5, "b"]}, True, "é"):
            self.assertEqual(gp.brief_json(value), json.dumps(value))
        self.assertEqual(gp.brief_json(list(range(100))), json.dumps(list(range(100)))[:77] + "...")

    def test_an_unclosed_library_is_closed_with_a_resource_warning(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            open_library()  # dropped at once
            gc.collect()
        found = [w for w in caught if issubclass(w.category, ResourceWarning) and "unclosed genplug library" in
                 str(w.message)]
        self.assertEqual(len(found), 1)
        self.assertTrue(found[0].source.closed, "deinit was called and the library unloaded")


class CommandLineRefusals(unittest.TestCase, UsageErrors):
    """The CLI's usage errors for what the hostile tester typed: exit 2, one line naming the option."""

    def test_text_that_is_not_utf8_is_a_usage_error(self):
        for option, value in ((b"--config", b'{"method":"\xff"}'), (b"--plugin", b"org.genplug.\xff")):
            with self.subTest(option=option):
                r = run_cli(option, value)
                self.assert_usage_error(r, f"{option.decode()}: not UTF-8 text (byte \\xff at character")

    def test_zero_pixels_per_token_is_blamed_on_the_layout(self):
        layout = '{"axis_dims":[16,56,56],"theta":10000,"base_extent":[1,64,64],"pixels_per_token":0}'
        r = run_cli("--layout", layout, "--height", "256", "--width", "256")
        self.assert_usage_error(r, "--layout.pixels_per_token: must be >= 1")
        self.assertNotIn(" px is ", r.stderr)

    def test_a_size_of_no_whole_tokens_is_refused_not_floored(self):
        for args, needle in ((("--height", "100", "--width", "256"),
                              "--height: 100 px is not a whole number of the layout's 16 px tokens "
                              "(96 or 112 is; --extent gives tokens)"),
                             (("--height", "256", "--width", "8"), "--width: 8 px is less than one of the layout's"),
                             (("--height", "0", "--width", "0"), "--height: 0 px is less than one")):
            with self.subTest(args=args):
                self.assert_usage_error(run_cli(*args), needle)


class DocumentedExamples(TorchCase):
    """The examples of the module docstring, samples/python-host/README.md and docs/getting-started-python-host.md
    run as written (in genplug's tree; the library path is the one under test)."""

    def examples(self):
        lines = gp.__doc__.split("::\n", 1)[1].splitlines()
        block = itertools.takewhile(lambda line: not line or line.startswith("    "), lines)
        yield "genplug_ctypes docstring", textwrap.dedent("\n".join(block))
        for doc in (os.path.join(SAMPLE, "README.md"), os.path.join(REPO, "docs", "getting-started-python-host.md")):
            with open(doc, encoding="utf-8") as f:
                for i, block in enumerate(f.read().split("```python\n")[1:]):
                    yield f"{os.path.basename(doc)} example {i + 1}", block.split("```", 1)[0]

    def test_examples_run_as_written(self):
        self.require_torch()
        ran = 0
        for name, code in self.examples():
            with self.subTest(example=name):
                code = code.replace('"build/plugins/libgenplug_dype.so"', repr(ARGS.library))
                r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                                   env=dict(os.environ, PYTHONPATH=SAMPLE, PYTHONDONTWRITEBYTECODE="1"))
                self.assertEqual(r.returncode, 0, f"{name}:\n{r.stderr}")
                ran += 1
        self.assertEqual(ran, 3)


def main():
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--library", required=True, help="the built libgenplug_dype.so")
    parser.add_argument("--abi-layout", help="the built tests/python_host/abi_layout.c program")
    parser.add_argument("--default-golden-dir", help="golden set when GENPLUG_GOLDEN_DIR is not set")
    parser.add_argument("--fixture-dir", help="the host tests' fixture plugins (<build>/tests/fixtures)")
    args, rest = parser.parse_known_args()
    ARGS.__dict__.update(vars(args))
    report(f"{sys.executable} {sys.version.split()[0]}, torch "
           f"{torch.__version__ if torch is not None else 'NOT IMPORTABLE'}, golden set {golden('')}")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
