"""genplug from Python through the C ABI, with the standard library's ctypes alone (no compiled extension).

The structs below mirror sdk/include/genplug/*.h field for field (same order, same C types); every one starts
with ``uint32_t struct_size``. Only what a posenc host needs is wrapped; the rest of the ABI follows the same
pattern. Typical use::

    from genplug_ctypes import Library, RotaryLayout

    with Library("build/plugins/libgenplug_dype.so") as lib:      # dlopen, genplug_entry, ABI check, init
        for d in lib.posenc_factory().descriptors():                # id, name, version, config JSON Schema
            print(d.id, d.version)
        with lib.posenc_factory().create("org.genplug.dype", {"method": "dy-yarn"}) as posenc:
            layout = RotaryLayout.from_json(json.load(open("samples/layouts/flux.json")))
            spectrum = posenc.compute(layout, [1, 256, 256], t=0.5)  # freqs per axis + amplitude per axis
    # leaving the blocks destroys the instance, calls deinit and unloads the library

A failing call raises a GenplugError subclass (InvalidArgument, ConfigError, ...) carrying the plugin's
status code (``.status``) and message (``.message``), which the plugin reported through the call context's
set_error callback.

Ownership, as docs/abi.md states it: strings from descriptors are copied into Python objects at once (they
are plugin-owned and die at deinit); the arrays a call borrows are Python-owned ctypes arrays kept alive for
the call; the spectrum buffers are host-owned; an instance is destroyed exactly once (close(), the with
block, or -- with a ResourceWarning -- when it is garbage collected); Library.close() destroys what is left,
calls deinit once and unloads the library.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import re
import threading
import warnings
import weakref
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int32, c_uint32, c_uint64, c_void_p)
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

# ---- version.h, status.h, context.h, entry.h, posenc.h constants ---------------------------------------------

ABI_MAJOR = 1
ABI_MINOR = 2  # 1.2 appended to the model's geometry only: the posenc structs mirrored here are 1.1's
ENTRY_SYMBOL = "genplug_entry"

KIND_POSENC = "genplug.posenc/1"
KIND_SCHEDULER = "genplug.scheduler/1"
KIND_MODEL = "genplug.model/1"
KIND_INSPECTOR = "genplug.inspector/1"

OK = 0
E_FAILED = -1
E_INVALID_ARGUMENT = -2
E_CONFIG = -3
E_UNSUPPORTED = -4
E_OUT_OF_MEMORY = -5
E_CANCELLED = -6
E_ABI_MISMATCH = -7
E_INTERNAL = -8
E_IO = -9
E_DEVICE = -10
E_BUFFER_TOO_SMALL = -11

LOG_DEBUG = 0
LOG_INFO = 1
LOG_WARNING = 2
LOG_ERROR = 3

AXIS_SPATIAL = 1
AXIS_TEMPORAL = 2

genplug_status = c_int32

# ---- the C structs -------------------------------------------------------------------------------------------


class genplug_context_t(Structure):
    """context.h: the services a host lends to a plugin for one call."""


genplug_set_error_fn = CFUNCTYPE(None, POINTER(genplug_context_t), genplug_status, c_char_p)
genplug_log_fn = CFUNCTYPE(None, POINTER(genplug_context_t), c_int32, c_char_p)
genplug_progress_fn = CFUNCTYPE(c_int32, POINTER(genplug_context_t), c_uint64, c_uint64, c_char_p)
genplug_is_cancelled_fn = CFUNCTYPE(c_int32, POINTER(genplug_context_t))

genplug_context_t._fields_ = [
    ("struct_size", c_uint32),
    ("host_data", c_void_p),
    ("set_error", genplug_set_error_fn),
    ("log", genplug_log_fn),
    ("progress", genplug_progress_fn),
    ("is_cancelled", genplug_is_cancelled_fn),
]


class genplug_descriptor_t(Structure):
    """entry.h: what a plugin says about itself (plugin-owned until deinit)."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("id", c_char_p),
        ("name", c_char_p),
        ("vendor", c_char_p),
        ("version", c_char_p),
        ("description", c_char_p),
        ("features", POINTER(c_char_p)),  # NULL-terminated
        ("config_schema", c_char_p),
    ]


class genplug_factory_t(Structure):
    """entry.h: one factory layout for every kind."""


genplug_factory_t._fields_ = [
    ("struct_size", c_uint32),
    ("count", CFUNCTYPE(c_uint32, POINTER(genplug_factory_t))),
    ("descriptor", CFUNCTYPE(POINTER(genplug_descriptor_t), POINTER(genplug_factory_t), c_uint32)),
    ("create", CFUNCTYPE(genplug_status, POINTER(genplug_factory_t), c_char_p, c_char_p,
                         POINTER(genplug_context_t), POINTER(c_void_p))),
]


class genplug_entry_t(Structure):
    """entry.h: the one exported symbol of a plugin library."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("abi_major", c_uint32),
        ("abi_minor", c_uint32),
        ("init", CFUNCTYPE(genplug_status, c_char_p, POINTER(genplug_context_t))),
        ("deinit", CFUNCTYPE(None)),
        ("get_factory", CFUNCTYPE(POINTER(genplug_factory_t), c_char_p)),
    ]


class genplug_rotary_layout_t(Structure):
    """posenc.h: the model's rotary layout. axis_flags is the ABI 1.1 append."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("axis_count", c_uint32),
        ("axis_dims", POINTER(c_uint32)),
        ("theta", c_double),
        ("base_extent", POINTER(c_uint32)),
        ("pixels_per_token", c_uint32),
        ("axis_flags", POINTER(c_uint32)),  # ABI 1.1; NULL: every axis but axis 0 is spatial
    ]


class genplug_posenc_query_t(Structure):
    """posenc.h: what one spectrum is wanted for."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("layout", POINTER(genplug_rotary_layout_t)),
        ("target_extent", POINTER(c_uint32)),
        ("t", c_double),
    ]


class genplug_spectrum_t(Structure):
    """posenc.h: host-owned output buffers."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("freqs", POINTER(c_double)),
        ("freq_capacity", c_uint32),
        ("amplitude", POINTER(c_double)),
        ("amplitude_capacity", c_uint32),
    ]


class genplug_posenc_t(Structure):
    """posenc.h: a posenc instance."""


genplug_posenc_t._fields_ = [
    ("struct_size", c_uint32),
    ("impl", c_void_p),
    ("destroy", CFUNCTYPE(None, POINTER(genplug_posenc_t))),
    ("compute", CFUNCTYPE(genplug_status, POINTER(genplug_posenc_t), POINTER(genplug_posenc_query_t),
                          POINTER(genplug_spectrum_t), POINTER(genplug_context_t))),
    ("get_extension", CFUNCTYPE(c_void_p, POINTER(genplug_posenc_t), c_char_p)),
]

#: Every mirrored struct by its C name (tests compare their layout with the C compiler's).
STRUCTS = {
    "genplug_context_t": genplug_context_t,
    "genplug_descriptor_t": genplug_descriptor_t,
    "genplug_factory_t": genplug_factory_t,
    "genplug_entry_t": genplug_entry_t,
    "genplug_rotary_layout_t": genplug_rotary_layout_t,
    "genplug_posenc_query_t": genplug_posenc_query_t,
    "genplug_spectrum_t": genplug_spectrum_t,
    "genplug_posenc_t": genplug_posenc_t,
}


def has_field(address: int, struct_type, field_name: str) -> bool:
    """GENPLUG_HAS_FIELD for a struct received from the other side: its struct_size covers `field_name`."""
    if not address:
        return False
    size = c_uint32.from_address(address).value
    f = getattr(struct_type, field_name)
    return size >= f.offset + f.size


# ---- errors --------------------------------------------------------------------------------------------------


class GenplugError(Exception):
    """A failed plugin call: `status` is the plugin's genplug_status, `message` its set_error text (may be
    empty), `what` the call that failed. str() reads like the C++ host's PluginError."""

    status_code = E_FAILED
    status_name = "failed"

    def __init__(self, status: int, message: str, what: str = ""):
        self.status = status
        self.message = message
        self.what = what
        text = f"{what}: {self.status_name}" if what else self.status_name
        text += f": {message}" if message else " (the plugin gave no message)"
        super().__init__(text)


class InvalidArgument(GenplugError):
    status_code, status_name = E_INVALID_ARGUMENT, "invalid argument"


class ConfigError(GenplugError):
    status_code, status_name = E_CONFIG, "config error"


class Unsupported(GenplugError):
    status_code, status_name = E_UNSUPPORTED, "unsupported"


class OutOfMemory(GenplugError):
    status_code, status_name = E_OUT_OF_MEMORY, "out of memory"


class Cancelled(GenplugError):
    status_code, status_name = E_CANCELLED, "cancelled"


class AbiMismatch(GenplugError):
    status_code, status_name = E_ABI_MISMATCH, "ABI mismatch"


class InternalError(GenplugError):
    status_code, status_name = E_INTERNAL, "internal error"


class IoError(GenplugError):
    status_code, status_name = E_IO, "I/O error"


class DeviceError(GenplugError):
    status_code, status_name = E_DEVICE, "device error"


class BufferTooSmall(GenplugError):
    status_code, status_name = E_BUFFER_TOO_SMALL, "buffer too small"


_ERRORS = {cls.status_code: cls for cls in (InvalidArgument, ConfigError, Unsupported, OutOfMemory, Cancelled,
                                            AbiMismatch, InternalError, IoError, DeviceError, BufferTooSmall)}


def error_for(status: int, message: str, what: str = "") -> GenplugError:
    """The exception for a failed status; an unknown negative code is a plain GenplugError (E_FAILED's class),
    keeping the code the plugin returned."""
    return _ERRORS.get(status, GenplugError)(status, message, what)


# ---- the call context ----------------------------------------------------------------------------------------
# The four callbacks are made once, at import, and live as long as the module: a ctypes callback object must
# outlive every call that can reach it, and module globals are the simplest owner. Which CallContext a call
# belongs to travels in host_data (a key into a weak map), as a C host passes `this`.

_contexts: "weakref.WeakValueDictionary[int, CallContext]" = weakref.WeakValueDictionary()


def _owner(ctx_ptr) -> Optional["CallContext"]:
    try:
        return _contexts.get(ctx_ptr.contents.host_data or 0)
    except Exception:  # never let anything unwind into the plugin
        return None


def _set_error_thunk(ctx_ptr, code, message):
    owner = _owner(ctx_ptr)
    if owner is not None:
        owner.error_code = int(code)
        owner.error = message.decode("utf-8", "replace") if message else ""


def _log_thunk(ctx_ptr, severity, message):
    owner = _owner(ctx_ptr)
    if owner is not None and owner.log is not None:
        try:
            with owner._log_lock:  # log is [thread: any]
                owner.log(int(severity), message.decode("utf-8", "replace") if message else "")
        except Exception:
            pass


def _progress_thunk(ctx_ptr, done, total, stage):
    owner = _owner(ctx_ptr)
    if owner is None:
        return 0
    try:
        stop = bool(owner.progress(int(done), int(total), stage.decode("utf-8", "replace") if stage else "")) \
            if owner.progress is not None else False
        return 1 if stop or (owner.cancel is not None and owner.cancel.is_set()) else 0
    except Exception:
        return 1  # a failing progress callback asks the plugin to stop, as the C++ host does


def _is_cancelled_thunk(ctx_ptr):
    owner = _owner(ctx_ptr)
    return 1 if owner is not None and owner.cancel is not None and owner.cancel.is_set() else 0


_SET_ERROR = genplug_set_error_fn(_set_error_thunk)
_LOG = genplug_log_fn(_log_thunk)
_PROGRESS = genplug_progress_fn(_progress_thunk)
_IS_CANCELLED = genplug_is_cancelled_fn(_is_cancelled_thunk)


class CallContext:
    """The host side of genplug_context_t for one call (or a chain of calls on one thread).

    log(severity, message), progress(done, total, stage) -> bool (True asks the plugin to stop) and `cancel`
    (a threading.Event) are optional."""

    def __init__(self, log: Optional[Callable[[int, str], None]] = None,
                 progress: Optional[Callable[[int, int, str], bool]] = None,
                 cancel: Optional[threading.Event] = None):
        self.log = log
        self.progress = progress
        self.cancel = cancel
        self._log_lock = threading.Lock()
        self.error = ""
        self.error_code = OK
        self._key = id(self)
        _contexts[self._key] = self
        self._c = genplug_context_t(ctypes.sizeof(genplug_context_t), self._key, _SET_ERROR, _LOG, _PROGRESS,
                                    _IS_CANCELLED)

    def get(self):
        """The C struct for the next call; clears the last error."""
        self.error = ""
        self.error_code = OK
        return ctypes.byref(self._c)

    def check(self, status: int, what: str) -> None:
        """Raises the GenplugError for `status` with the message the plugin set, if it failed."""
        if status != OK:
            raise error_for(int(status), self.error, what)


# ---- library, factory, instances -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    """genplug_descriptor_t, copied into Python objects."""

    id: str
    name: str
    vendor: str
    version: str
    description: str
    features: List[str]
    config_schema: dict  # the JSON Schema, parsed

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "vendor": self.vendor, "version": self.version,
                "description": self.description, "features": list(self.features),
                "config_schema": self.config_schema}


def _text(b: Optional[bytes]) -> str:
    return b.decode("utf-8") if b else ""


# ---- JSON as genplug's host reads it (docs/reliability.md) ---------------------------------------------------

MAX_JSON_DEPTH = 64  # containers below the top level; deeper is refused before parsing, so nothing recurses
# A string (skipped whole, so its brackets do not count; its closing quote optional, so that an unterminated one is
# matched once, to the end, not rescanned from each quote inside it) or a bracket.
_JSON_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)


def brief_json(value, limit: int = 80) -> str:
    """A value as JSON text for an error message, cut short (a user's 10 MB array is not echoed back)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        try:
            text = repr(value)
        except ValueError:  # an int past str()'s digit limit
            text = f"an integer of {value.bit_length()} bits" if isinstance(value, int) else type(value).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_nesting(text: str) -> None:
    depth = 0
    for match in _JSON_NESTING.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH + 1:  # the top level is depth 0, as genplug's parse_bounded_json
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        elif bracket in "]}":
            depth -= 1


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: Python reads inf and would write it back as Infinity, text nobody wrote
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"a number is outside the range of a double: {shown}")
    return value


def _finite_int(text: str) -> int:
    if len(text.lstrip("-")) <= 309:  # JSON has no leading zeros: 310 digits are past 1.8e308 (and int() slow)
        value = int(text)
        try:
            float(value)
            return value
        except OverflowError:
            pass
    shown = text if len(text) <= 40 else text[:37] + "..."
    raise ValueError(f"a number is outside the range of a double: {shown}")


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity, JSON has neither


def _unique_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:  # JSON keeps the last value only, and the first was meant too
            raise ValueError(f"the key {json.dumps(key)} appears twice in one object (JSON keeps the last value "
                             "only): remove one")
        seen[key] = value
    return seen


def parse_json(text: str):
    """JSON text as genplug's host reads it: nesting bounded (MAX_JSON_DEPTH), numbers within a double's range,
    no NaN or Infinity, no key twice in one object. Raises ValueError with a one-line reason."""
    _check_nesting(text)
    try:
        return json.loads(text, parse_float=_finite_float, parse_int=_finite_int, parse_constant=_no_constant,
                          object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON: {e}") from None


# ---- the rotary layout ---------------------------------------------------------------------------------------

MAX_AXES = 64  # more is a mistyped layout, as `genplug posenc` and DyPE say
MAX_AXIS_DIM = 65536  # a rotary head dim beyond this is a mistyped layout (the spectrum buffers are sized by it)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uint32(value, what: str) -> int:
    """`value` when it is an integer in [0, 2^32): ctypes would wrap anything else silently."""
    if not _is_int(value) or not 0 <= value < 2 ** 32:
        raise ValueError(f"{what}: expected an integer from 0 to 4294967295, got {brief_json(value)}")
    return value


def _uint32s(values: Sequence[int], what: str):
    values = list(values)
    for i, v in enumerate(values):
        _uint32(v, f"{what}[{i}]")
    return (c_uint32 * len(values))(*values)


def _axes(value, what: str, count: Optional[int] = None) -> list:
    """A per-axis JSON array: 1 to MAX_AXES values, `count` of them when given."""
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected an array with one value per axis, got {brief_json(value)}")
    if count is None and not 1 <= len(value) <= MAX_AXES:
        raise ValueError(f"{what}: 1 to {MAX_AXES} axes, got {len(value)}")
    if count is not None and len(value) != count:
        raise ValueError(f"{what}: {len(value)} values for a layout of {count} axes (one per axis)")
    return value


def _finite(value, what: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{what}: expected a number, got {brief_json(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{what}: expected a finite number, got {brief_json(value)}")
    return number


def axis_flag(value, what: str = "axis_flags") -> int:
    """A layout's axis flag from its JSON form: "index" (0), "spatial", "temporal", or the number."""
    if _is_int(value):
        return _uint32(value, what)
    names = {"index": 0, "spatial": AXIS_SPATIAL, "temporal": AXIS_TEMPORAL}
    if not isinstance(value, str) or value not in names:
        raise ValueError(f'{what}: expected "index", "spatial", "temporal" or a number, got {brief_json(value)}')
    return names[value]


@dataclass
class RotaryLayout:
    """A model's rotary layout (genplug_rotary_layout_t), as the model states it. axis_flags=None sends NULL
    (ABI 1.0's rule: every axis but axis 0 is spatial)."""

    axis_dims: List[int]
    theta: float
    base_extent: List[int]
    pixels_per_token: int
    axis_flags: Optional[List[int]] = None

    @classmethod
    def from_json(cls, obj: dict, name: str = "layout") -> "RotaryLayout":
        """From the JSON of samples/layouts/*.json and `genplug posenc --layout` (axis_flags as names), checked as
        `genplug posenc` checks it: raises ValueError naming the field (`name`.axis_dims[1], ...)."""
        if not isinstance(obj, dict):
            raise ValueError(f"{name}: expected a JSON object, got {brief_json(obj)}")
        known = {"axis_dims", "theta", "base_extent", "pixels_per_token", "axis_flags", "description"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ValueError(f"{name}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
        for key in ("axis_dims", "theta", "base_extent", "pixels_per_token"):
            if key not in obj:
                raise ValueError(f"{name}.{key}: missing")
        dims = [_uint32(d, f"{name}.axis_dims[{a}]") for a, d in enumerate(_axes(obj["axis_dims"],
                                                                                   f"{name}.axis_dims"))]
        for a, d in enumerate(dims):  # bounded before any buffer is sized by them
            if d > MAX_AXIS_DIM:
                raise ValueError(f"{name}.axis_dims[{a}]: must be <= {MAX_AXIS_DIM}, got {d}")
        base = [_uint32(b, f"{name}.base_extent[{a}]")
                for a, b in enumerate(_axes(obj["base_extent"], f"{name}.base_extent", len(dims)))]
        flags = obj.get("axis_flags")
        if flags is not None:
            flags = [axis_flag(f, f"{name}.axis_flags[{a}]")
                     for a, f in enumerate(_axes(flags, f"{name}.axis_flags", len(dims)))]
        return cls(dims, _finite(obj["theta"], f"{name}.theta"), base,
                   _uint32(obj["pixels_per_token"], f"{name}.pixels_per_token"), flags)

    def to_json(self) -> dict:
        names = {0: "index", AXIS_SPATIAL: "spatial", AXIS_TEMPORAL: "temporal"}
        j = {"axis_dims": list(self.axis_dims), "theta": self.theta, "base_extent": list(self.base_extent),
             "pixels_per_token": self.pixels_per_token}
        if self.axis_flags is not None:
            j["axis_flags"] = [names.get(f, f) for f in self.axis_flags]
        return j

    def is_spatial(self, axis: int) -> bool:
        return axis > 0 if self.axis_flags is None else bool(self.axis_flags[axis] & AXIS_SPATIAL)


@dataclass
class Spectrum:
    """A posenc result: `freqs` holds sum(axis_dims/2) values, axis after axis; `amplitude` one per axis."""

    axis_dims: List[int]
    freqs: List[float]
    amplitude: List[float]

    def offset(self, axis: int) -> int:
        """offset(a) of posenc.h: sum of dims[b]/2 for b < a."""
        return sum(d // 2 for d in self.axis_dims[:axis])

    def axis_freqs(self, axis: int) -> List[float]:
        o = self.offset(axis)
        return self.freqs[o:o + self.axis_dims[axis] // 2]

    def to_json(self) -> dict:
        """As `genplug posenc` prints it."""
        return {"axes": [{"dim": d, "freqs": self.axis_freqs(a), "mscale": self.amplitude[a]}
                         for a, d in enumerate(self.axis_dims)]}


class Posenc:
    """A genplug_posenc_t instance. Destroyed exactly once: close(), the end of a with block, or (with a
    ResourceWarning) garbage collection. Keeps its Library alive."""

    def __init__(self, library: "Library", raw, plugin_id: str):
        self._library = library
        self._raw = raw  # POINTER(genplug_posenc_t)
        self.plugin_id = plugin_id

    @property
    def closed(self) -> bool:
        return self._raw is None

    def compute(self, layout: RotaryLayout, target_extent: Sequence[int], t: float,
                ctx: Optional[CallContext] = None) -> Spectrum:
        """The spectrum for `layout` at `target_extent` (tokens per axis) and diffusion time t."""
        if self._raw is None:
            raise ValueError(f"{self.plugin_id}: compute on a destroyed instance")
        n = len(layout.axis_dims)
        if len(layout.base_extent) != n or len(target_extent) != n or (
                layout.axis_flags is not None and len(layout.axis_flags) != n):
            raise ValueError(f"base_extent, target_extent and axis_flags need one value per axis ({n} axes)")
        # Every array the call borrows is a local here, alive until compute returns.
        dims = _uint32s(layout.axis_dims, "layout.axis_dims")
        base = _uint32s(layout.base_extent, "layout.base_extent")
        flags = None if layout.axis_flags is None else _uint32s(layout.axis_flags, "layout.axis_flags")
        target = _uint32s(target_extent, "target_extent")
        ppt = _uint32(layout.pixels_per_token, "layout.pixels_per_token")
        c_layout = genplug_rotary_layout_t(ctypes.sizeof(genplug_rotary_layout_t), n, dims, float(layout.theta),
                                           base, ppt, flags)
        query = genplug_posenc_query_t(ctypes.sizeof(genplug_posenc_query_t), ctypes.pointer(c_layout), target,
                                       float(t))
        freq_count = sum(d // 2 for d in layout.axis_dims)
        freqs = (c_double * max(freq_count, 1))()
        amplitude = (c_double * max(n, 1))()
        out = genplug_spectrum_t(ctypes.sizeof(genplug_spectrum_t), freqs, freq_count, amplitude, n)
        ctx = ctx or self._library._new_context()
        status = self._raw.contents.compute(self._raw, ctypes.byref(query), ctypes.byref(out), ctx.get())
        ctx.check(status, f"{self.plugin_id}: compute")
        return Spectrum(list(layout.axis_dims), list(freqs[:freq_count]), list(amplitude[:n]))

    def close(self) -> None:
        """Destroys the instance (once; later calls do nothing)."""
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.contents.destroy(raw)
            self._library._instances.discard(self)

    def __enter__(self) -> "Posenc":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "_raw", None) is not None:
            warnings.warn(f"unclosed genplug posenc instance {self.plugin_id}", ResourceWarning, source=self)
            try:
                self.close()
            except Exception:
                pass


def _config_text(config) -> str:
    """The config as JSON text for create: a str passes unchanged (the plugin quotes what the caller wrote)."""
    if config is None:
        return "{}"
    if not isinstance(config, str):
        try:
            config = json.dumps(config, allow_nan=False)
        except ValueError as e:  # allow_nan=False: NaN or Infinity would be written, which no JSON parser reads
            raise ValueError(f"config: cannot be written as JSON: {e}") from None
    if "\0" in config:  # the plugin reads a C string: it would end at the NUL and the rest go unseen
        raise ValueError("config: contains a NUL character (the C string would end there)")
    return config


class Factory:
    """A genplug_factory_t of one kind (here: posenc)."""

    def __init__(self, library: "Library", raw, kind: str):
        self._library = library
        self._raw = raw  # POINTER(genplug_factory_t), plugin-owned until deinit
        self.kind = kind

    def _factory(self):
        if self._library.closed:  # the factory died with the library's deinit
            raise ValueError(f"{self._library.path}: the library is closed")
        return self._raw

    def count(self) -> int:
        raw = self._factory()
        return int(raw.contents.count(raw))

    def descriptor(self, index: int) -> Optional[Descriptor]:
        """Descriptor `index`, copied; None when out of range (the plugin returns NULL)."""
        raw = self._factory()
        d = raw.contents.descriptor(raw, index)
        if not d:
            return None
        address = ctypes.addressof(d.contents)
        if not has_field(address, genplug_descriptor_t, "config_schema"):
            raise AbiMismatch(E_ABI_MISMATCH, f"descriptor {index}: struct_size "
                              f"{c_uint32.from_address(address).value} is too small", self._library.path)
        c = d.contents
        features = []
        if c.features:
            i = 0
            while c.features[i] is not None:
                features.append(_text(c.features[i]))
                i += 1
        plugin_id = _text(c.id)
        try:
            schema = parse_json(_text(c.config_schema) or "{}")
        except ValueError as e:  # the plugin's fault: say whose schema, as genplug's host does
            raise ValueError(f"{self._library.path}: {plugin_id}: invalid config schema: {e}") from None
        return Descriptor(plugin_id, _text(c.name), _text(c.vendor), _text(c.version), _text(c.description),
                          features, schema)

    def descriptors(self) -> List[Descriptor]:
        return [self.descriptor(i) for i in range(self.count())]

    def create(self, plugin_id: Optional[str] = None, config=None, ctx: Optional[CallContext] = None) -> Posenc:
        """An instance of `plugin_id` (default: the first plugin) from `config`: a dict or JSON object text,
        passed unchanged (None: every default). A bad config raises ConfigError naming the field; one the
        plugin could not read whole (a NUL character, a NaN or infinite number in a dict) raises ValueError."""
        if self.kind != KIND_POSENC:
            raise NotImplementedError(f"this sample wraps {KIND_POSENC} instances only, not {self.kind}")
        if plugin_id is None:
            first = self.descriptor(0)
            if first is None:
                raise LookupError(f"{self._library.path} holds no {self.kind} plugin")
            plugin_id = first.id
        text = _config_text(config)
        if "\0" in plugin_id:
            raise ValueError(f"plugin id {plugin_id!r}: contains a NUL character (the C string would end there)")
        ctx = ctx or self._library._new_context()
        raw = self._factory()
        out = c_void_p()
        status = raw.contents.create(raw, plugin_id.encode(), text.encode(), ctx.get(), ctypes.byref(out))
        ctx.check(status, f"{plugin_id}: create")
        if not out.value:
            raise InternalError(E_INTERNAL, "create returned OK and no instance", f"{plugin_id}: create")
        raw = ctypes.cast(out.value, POINTER(genplug_posenc_t))
        instance = Posenc(self._library, raw, plugin_id)
        if not has_field(out.value, genplug_posenc_t, "get_extension"):
            instance.close()
            raise AbiMismatch(E_ABI_MISMATCH, "instance struct_size is too small", f"{plugin_id}: create")
        self._library._instances.add(instance)
        return instance


_libc = ctypes.CDLL(None)
_libc.dlclose.argtypes = [c_void_p]
_libc.dlclose.restype = ctypes.c_int


class Library:
    """One plugin library: dlopen (RTLD_NOW | RTLD_LOCAL), genplug_entry, ABI major check, init.
    close() (or the end of a with block) destroys live instances, calls deinit once and unloads it.
    `log(severity, message)` receives the plugin's log lines of every call made through this object."""

    def __init__(self, path: str, log: Optional[Callable[[int, str], None]] = None):
        self.path = os.path.abspath(path)
        self.log = log
        self._instances: "weakref.WeakSet[Posenc]" = weakref.WeakSet()
        self._entry = None
        self._dll = ctypes.CDLL(self.path, mode=os.RTLD_NOW | os.RTLD_LOCAL)  # OSError when it cannot load
        try:
            try:
                size = c_uint32.in_dll(self._dll, ENTRY_SYMBOL).value
            except ValueError:
                raise AbiMismatch(E_ABI_MISMATCH, f"no {ENTRY_SYMBOL} symbol", self.path) from None
            entry = genplug_entry_t.in_dll(self._dll, ENTRY_SYMBOL)  # a view on the plugin's const struct
            if not has_field(ctypes.addressof(entry), genplug_entry_t, "get_factory"):
                raise AbiMismatch(E_ABI_MISMATCH, f"{ENTRY_SYMBOL}.struct_size {size} is too small", self.path)
            if entry.abi_major != ABI_MAJOR:
                raise AbiMismatch(E_ABI_MISMATCH, f"plugin ABI {entry.abi_major}.{entry.abi_minor}, "
                                  f"host ABI {ABI_MAJOR}.{ABI_MINOR}", self.path)
            self.abi = (int(entry.abi_major), int(entry.abi_minor))
            ctx = self._new_context()
            ctx.check(entry.init(os.fsencode(self.path), ctx.get()), f"{self.path}: init")
            self._entry = entry  # from here on deinit is owed
        except BaseException:
            self._unload()
            raise

    def _new_context(self) -> CallContext:
        return CallContext(log=self.log)

    @property
    def closed(self) -> bool:
        return self._entry is None

    def factory(self, kind: str) -> Optional[Factory]:
        """The factory of `kind` (KIND_*), or None when the library holds no plugin of that kind."""
        if self._entry is None:
            raise ValueError(f"{self.path}: the library is closed")
        raw = self._entry.get_factory(kind.encode())
        if not raw:
            return None
        if not has_field(ctypes.addressof(raw.contents), genplug_factory_t, "create"):
            raise AbiMismatch(E_ABI_MISMATCH, f"{kind} factory struct_size is too small", self.path)
        return Factory(self, raw, kind)

    def posenc_factory(self) -> Optional[Factory]:
        return self.factory(KIND_POSENC)

    def close(self) -> None:
        """Destroys every instance still alive, calls deinit (once) and unloads the library."""
        if self._entry is None:
            return
        for instance in list(self._instances):
            instance.close()
        entry, self._entry = self._entry, None
        entry.deinit()
        del entry
        self._unload()

    def _unload(self) -> None:
        dll, self._dll = self._dll, None
        if dll is not None:
            handle = dll._handle
            del dll  # nothing may point into the library after this
            _libc.dlclose(handle)

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
