"""genplug from Python through the C ABI, with the standard library's ctypes alone (no compiled extension).

The structs below mirror sdk/include/genplug/*.h field for field (same order, same C types); every one starts
with ``uint32_t struct_size``. Only what a posenc host needs is wrapped; the rest of the ABI follows the same
pattern. Typical use::

    import json
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
set_error callback. What the plugin breaks of the ABI is refused as the C++ host refuses it: a library with no
genplug_entry symbol is not loaded (NotAPlugin), a NULL function pointer or a spectrum written out of bounds,
left unwritten or not finite is an InternalError naming the library or plugin -- never a crash or a NaN passed on.

Threads: calls on one Posenc run one at a time (a lock per instance, as context.h asks), and close() waits for a
compute in flight on it; Library.close() waits the same way for every instance it destroys, so closing from
another thread never unloads code a compute is running. Control calls (create, destroy, descriptors, init,
deinit) are serialised per library by a library lock, which is never held while waiting for an instance: a
callback of a compute may make control calls (or close another instance) while another thread closes. Once
Library.close() has begun, new control calls and computes on its instances are refused (ValueError). Closing an
instance or its library from a callback of that instance's compute raises RuntimeError (it would wait for
itself); a control call from a callback of a control call (create's log, ...) waits for itself.

Ownership, as docs/abi.md states it: strings from descriptors are copied into Python objects at once (they
are plugin-owned and die at deinit); the arrays a call borrows are Python-owned ctypes arrays kept alive for
the call; the spectrum buffers are host-owned; an instance is destroyed exactly once (close(), the with
block, or -- with a ResourceWarning -- when it is garbage collected); Library.close() destroys what is left,
calls deinit once and unloads the library.
"""

from __future__ import annotations

import collections.abc
import ctypes
import itertools
import json
import math
import numbers
import operator
import os
import re
import stat
import struct
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
        ("reserved", c_uint32),
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


class NotAPlugin(GenplugError):
    """A library that defines no genplug_entry symbol, or a path that is no regular file (a FIFO, device or
    folder): no plugin of any ABI (not an AbiMismatch). Refused before dlopen when its ELF file (or the file's
    type) tells, so that none of its constructors runs and dlopen never waits on a FIFO. Not made by error_for."""

    status_code, status_name = E_ABI_MISMATCH, "not a genplug plugin"


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


def _text(b: Optional[bytes], what: str) -> str:
    """A plugin's C string as str; ValueError naming `what` (library, descriptor, field) when it is not UTF-8."""
    try:
        return b.decode("utf-8") if b else ""
    except UnicodeDecodeError as e:
        raise ValueError(f"{what}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _c_string(value, what: str) -> bytes:
    """A str argument as the UTF-8 C string a plugin reads. bytes are refused (no encoding to assume), and so is
    a NUL (the C string would end there and the plugin never see the rest)."""
    if not isinstance(value, str):
        hint = " (decode bytes to str first)" if isinstance(value, (bytes, bytearray, memoryview)) else ""
        raise TypeError(f"{what}: expected str, got {type(value).__name__}{hint}")
    if "\0" in value:
        raise ValueError(f"{what}: contains a NUL character (the C string would end there)")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate, as os.fsdecode makes of a non-UTF-8 byte
        raise ValueError(f"{what}: not UTF-8 text ({e.reason} at character {e.start})") from None


def printable(path: str) -> str:
    """A path for a message: bytes that are not UTF-8 (surrogates from os.fsdecode) as \\xNN escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# ---- JSON as genplug's host reads it (docs/reliability.md) ---------------------------------------------------

MAX_JSON_DEPTH = 64  # containers below the top level; deeper is refused before parsing, so nothing recurses
# A string (skipped whole, so its brackets do not count; its closing quote optional, so that an unterminated one is
# matched once, to the end, not rescanned from each quote inside it) or a bracket.
_JSON_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)


BRIEF_DEPTH = 16  # containers brief_json opens; deeper ones are shown as [...] or {...}


def brief_json(value, limit: int = 80) -> str:
    """A value as JSON text for an error message, cut short: written piece by piece and stopped once past
    `limit`, so a user's 10^7-element array is not written whole first, and nested at most BRIEF_DEPTH deep, so
    a deep one cannot exhaust the stack."""
    out = _Brief(limit + 1)
    out.value(value, 0)
    text = "".join(out.parts)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Brief:
    """brief_json's writer: `room` characters left to write; once spent, nothing more is visited."""

    def __init__(self, room: int):
        self.room = room
        self.parts: List[str] = []

    def emit(self, text: str) -> None:
        text = text[:max(self.room, 0)]
        self.parts.append(text)
        self.room -= len(text)

    def value(self, value, depth: int) -> None:
        if self.room <= 0:
            return
        if isinstance(value, (list, tuple, dict)):
            self.container(value, depth)
        else:
            self.emit(_brief_scalar(value, self.room))

    def container(self, value, depth: int) -> None:
        is_dict = isinstance(value, dict)
        ends = "{}" if is_dict else "[]"
        if depth >= BRIEF_DEPTH:
            self.emit(ends[0] + "..." + ends[1])
            return
        self.emit(ends[0])
        for i, item in enumerate(value.items() if is_dict else value):
            if self.room <= 0:
                return
            self.emit(", " if i else "")
            if is_dict:
                self.emit(_brief_scalar(str(item[0]), self.room) + ": ")
                item = item[1]
            self.value(item, depth + 1)
        self.emit(ends[1])


def _brief_scalar(value, room: int) -> str:
    """One value that is no list or dict, as JSON where it is JSON (strings cut to `room` first), else repr."""
    if isinstance(value, str):
        return json.dumps(value[:room])
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1000:
        return f"an integer of {value.bit_length()} bits"  # past str()'s digit limit, and long anyway
    try:
        return json.dumps(value) if value is None or isinstance(value, (bool, int, float)) else repr(value)[:room]
    except Exception:  # noqa: BLE001 -- a message must not fail on a value's own repr
        return type(value).__name__


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


def _is_bool(value) -> bool:
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")  # numpy's bool too


def _as_int(value) -> Optional[int]:
    """`value` as a plain int when it is an integer -- an int, or a numpy or torch integer through __index__ --
    and None otherwise; a bool is no integer here (True would pass for 1)."""
    if _is_bool(value):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _is_int(value) -> bool:
    return _as_int(value) is not None


def _uint32(value, what: str) -> int:
    """`value` as an int when it is an integer in [0, 2^32): ctypes would wrap anything else silently."""
    number = _as_int(value)
    if number is None or not 0 <= number < 2 ** 32:
        raise ValueError(f"{what}: expected an integer from 0 to 4294967295, got {brief_json(value)}")
    return number


def _uint32_list(values, what: str) -> List[int]:
    """A per-axis sequence as plain ints in [0, 2^32). Text and bytes are refused: they iterate as characters
    (and bytes as small integers ctypes would take); so are mappings and sets, which iterate as their keys or
    elements, in an order that need not be the axes'."""
    if isinstance(values, (str, bytes, bytearray, memoryview, collections.abc.Mapping, collections.abc.Set)):
        raise TypeError(f"{what}: expected a sequence of integers, got {type(values).__name__}")
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"{what}: expected a sequence of integers, got {type(values).__name__}") from None
    return [_uint32(v, f"{what}[{i}]") for i, v in enumerate(values)]


def _uint32s(values: Sequence[int], what: str):
    values = _uint32_list(values, what)
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
    """`value` as a finite float: a real number (int, float, numpy's) -- not a bool, text or None -- within a
    double's range. ValueError for anything else, as for every other number the host checks."""
    if _is_bool(value) or not (isinstance(value, numbers.Real) or _is_int(value)):
        raise ValueError(f"{what}: expected a number, got {brief_json(value)}")
    try:
        number = float(value)
    except OverflowError:  # 10**400
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


# ---- the spectrum buffers, guarded as the C++ host's PosencProxy guards them -------------------------------------

SPECTRUM_GUARD = 4  # guard slots on each side of a spectrum buffer
# A quiet NaN of a payload no arithmetic makes ("guard"): a plugin writing before or past its buffer changes one.
GUARD_BITS = 0x7ffa677561726400
# Another ("none"): the slots a plugin must write start so, and one left so is refused.
UNWRITTEN_BITS = 0x7ffa6e6f6e650000
_SLOT = struct.Struct("=Q")


class _GuardedBuffer:
    """`capacity` doubles for a plugin to write, host-owned, between SPECTRUM_GUARD guard slots on each side: a
    write past the capacity lands in a guard (and is refused) instead of in the heap."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        guard = _SLOT.pack(GUARD_BITS) * SPECTRUM_GUARD
        self._guard = guard
        self._bytes = bytearray(guard + _SLOT.pack(UNWRITTEN_BITS) * capacity + guard)
        self._array = (c_double * (capacity + 2 * SPECTRUM_GUARD)).from_buffer(self._bytes)

    def pointer(self):
        """The first writable slot, past the front guard (the array stays alive with self)."""
        return ctypes.cast(ctypes.addressof(self._array) + _SLOT.size * SPECTRUM_GUARD, POINTER(c_double))

    def overrun(self) -> Optional[str]:
        """Where the plugin wrote outside the buffer ("before the start", "past the end"), or None."""
        g = len(self._guard)
        if self._bytes[:g] != self._guard:
            return "before the start"
        if self._bytes[-g:] != self._guard:
            return "past the end"
        return None

    def _body(self, code: str):
        g = len(self._guard)
        return memoryview(self._bytes)[g:len(self._bytes) - g].cast(code)

    def unwritten(self) -> int:
        return self._body("Q").tolist().count(UNWRITTEN_BITS)

    def values(self) -> List[float]:
        return self._body("d").tolist()


def _axis_of(index: int, dims: Sequence[int]) -> int:
    """The axis frequency `index` belongs to (frequencies are laid out axis after axis, dims[a]/2 each)."""
    end = 0
    for axis, d in enumerate(dims):
        end += d // 2
        if index < end:
            return axis
    return len(dims) - 1


class _SpectrumCheck:
    """What PosencProxy::compute checks of a spectrum a plugin said it wrote; each failure is an InternalError
    naming the plugin (`what`: "<plugin id>: compute")."""

    def __init__(self, what: str, dims: Sequence[int]):
        self.what = what
        self.dims = dims

    def fail(self, message: str) -> InternalError:
        return InternalError(E_INTERNAL, message, self.what)

    def guards(self, buffer: _GuardedBuffer, name: str) -> None:
        where = buffer.overrun()
        if where:
            raise self.fail(f"wrote {where} of the {name} buffer (capacity {buffer.capacity} for {len(self.dims)} "
                            "axes): a posenc writes at most the capacity it is given and returns "
                            "GENPLUG_E_BUFFER_TOO_SMALL when it needs more")

    def written(self, freqs: _GuardedBuffer, amplitude: _GuardedBuffer) -> None:
        f, a = freqs.unwritten(), amplitude.unwritten()
        if f or a:
            raise self.fail(f"returned success and left {f} of {freqs.capacity} frequencies and {a} of "
                            f"{amplitude.capacity} amplitudes unwritten (or computed from the host's unwritten "
                            "marker): a posenc writes every frequency and amplitude (posenc.h)")

    def finite(self, values: List[float], name: str) -> None:
        for i, v in enumerate(values):
            if not math.isfinite(v):
                axis = _axis_of(i, self.dims) if name == "frequency" else i
                raise self.fail(f"returned a non-finite {name} ({'NaN' if math.isnan(v) else 'inf'} at index {i}, "
                                f"axis {axis}): a spectrum holds finite numbers only")


def _fn(struct_obj, field: str, what: str):
    """A function pointer of a plugin-made struct, refused when NULL: ctypes would call address 0 (a crash)."""
    fn = getattr(struct_obj, field)
    if not fn:
        raise InternalError(E_INTERNAL, f"its {field} function pointer is NULL (the plugin breaks the ABI)", what)
    return fn


class _Query:
    """A layout, target extent and t, checked and laid out as the C structs a compute borrows (kept alive here
    until the call returns)."""

    def __init__(self, layout: "RotaryLayout", target_extent, t):
        if not isinstance(layout, RotaryLayout):
            raise TypeError(f"layout: expected a RotaryLayout (RotaryLayout.from_json reads a dict), got "
                            f"{type(layout).__name__}")
        self.dims = _checked_dims(layout.axis_dims)
        n = len(self.dims)
        base = _uint32_list(layout.base_extent, "layout.base_extent")
        target = _uint32_list(target_extent, "target_extent")
        flags = None if layout.axis_flags is None else _uint32_list(layout.axis_flags, "layout.axis_flags")
        if len(base) != n or len(target) != n or (flags is not None and len(flags) != n):
            raise ValueError(f"base_extent, target_extent and axis_flags need one value per axis ({n} axes)")
        ppt = _uint32(layout.pixels_per_token, "layout.pixels_per_token")
        theta = _finite(layout.theta, "layout.theta")
        self.t = _finite(t, "t")
        self._arrays = [(c_uint32 * n)(*v) for v in (self.dims, base, target)]
        self._flags = None if flags is None else (c_uint32 * n)(*flags)
        self.layout = genplug_rotary_layout_t(ctypes.sizeof(genplug_rotary_layout_t), n, self._arrays[0], theta,
                                              self._arrays[1], ppt, self._flags)
        self.query = genplug_posenc_query_t(ctypes.sizeof(genplug_posenc_query_t), ctypes.pointer(self.layout),
                                            self._arrays[2], self.t)


def _checked_dims(axis_dims) -> List[int]:
    """axis_dims within MAX_AXES and MAX_AXIS_DIM, as from_json bounds them, for a layout built directly: the
    spectrum buffers are sized by them."""
    dims = _uint32_list(axis_dims, "layout.axis_dims")
    if not 1 <= len(dims) <= MAX_AXES:
        raise ValueError(f"layout.axis_dims: 1 to {MAX_AXES} axes, got {len(dims)}")
    for a, d in enumerate(dims):
        if d > MAX_AXIS_DIM:
            raise ValueError(f"layout.axis_dims[{a}]: must be <= {MAX_AXIS_DIM}, got {d}")
    return dims


_instance_keys = itertools.count()  # a key per instance, never reused (an id() may be, once its object is gone)
_computing = threading.local()  # .instances: the Posencs this thread is in a compute of (their callbacks run here)


def _computing_here() -> list:
    instances = getattr(_computing, "instances", None)
    if instances is None:
        instances = _computing.instances = []
    return instances


def _destroy_owned(library, key: int) -> None:
    """Destroys the instance `key` if the library still owns it (library lock held). Whoever pops an instance
    from library._live under that lock destroys it: so exactly once, and never after deinit (which empties it)."""
    owned = library._live.pop(key, None)
    if owned is not None and not library.closed:
        plugin_id, raw = owned
        _fn(raw.contents, "destroy", f"{plugin_id}: destroy")(raw)


def _destroy_orphans(library) -> None:
    """Destroys the instances garbage-collected while the library lock was busy (library lock held)."""
    while library._orphans:
        _destroy_owned(library, library._orphans.pop())


class Posenc:
    """A genplug_posenc_t instance. Destroyed exactly once: close(), the end of a with block, its Library's
    close(), or (with a ResourceWarning) garbage collection. Keeps its Library alive. Calls on it run one at a time
    (its lock): close() from another thread waits for a compute in flight.

    Lock order: the instance's lock, then the library's, never the other way; the library's lock is never held
    while waiting for an instance. The raw pointer is owned by the library (library._live) until destroyed, so
    that Library.close() destroys every instance not yet destroyed -- however and on whatever thread it was let
    go -- before deinit."""

    def __init__(self, library: "Library", raw, plugin_id: str):
        self._library = library
        self._raw = raw  # POINTER(genplug_posenc_t); None once detached (closed)
        self.plugin_id = plugin_id
        self._lock = threading.Lock()  # context.h: render calls on one instance never overlap, nor a destroy
        self._key = next(_instance_keys)
        library._live[self._key] = (plugin_id, raw)  # atomic under the GIL: no lock needed
        library._instances.add(self)

    @property
    def closed(self) -> bool:
        return self._raw is None

    def compute(self, layout: RotaryLayout, target_extent: Sequence[int], t: float,
                ctx: Optional[CallContext] = None) -> Spectrum:
        """The spectrum for `layout` at `target_extent` (tokens per axis) and diffusion time t. Raises
        InternalError when the plugin writes outside the buffers, leaves a value unwritten or a NaN or infinity."""
        q = _Query(layout, target_extent, t)  # every array the call borrows lives in q until it returns
        freqs, amplitude = _GuardedBuffer(sum(d // 2 for d in q.dims)), _GuardedBuffer(len(q.dims))
        out = genplug_spectrum_t(ctypes.sizeof(genplug_spectrum_t), freqs.pointer(), freqs.capacity,
                                 amplitude.pointer(), amplitude.capacity)
        ctx = ctx or self._library._new_context()
        what = f"{self.plugin_id}: compute"
        with self._lock:
            if self._raw is None:
                raise ValueError(f"{self.plugin_id}: compute on a destroyed instance")
            if self._library._closing:
                raise ValueError(f"{self.plugin_id}: compute: the library is closing")
            busy = _computing_here()
            busy.append(self)  # its callbacks run on this thread: a close from one of them is refused
            try:
                status = _fn(self._raw.contents, "compute", what)(self._raw, ctypes.byref(q.query),
                                                                  ctypes.byref(out), ctx.get())
            finally:
                busy.pop()
        ctx.check(status, what)
        return _checked_spectrum(what, q.dims, freqs, amplitude)

    def close(self) -> None:
        """Destroys the instance (once; later calls do nothing), after a compute in flight on it returns. Allowed
        while its library closes (the instance is destroyed once, by whichever gets to it first). From a callback
        of this instance's own compute it raises RuntimeError: it would wait for itself."""
        if self in _computing_here():
            raise RuntimeError(f"{self.plugin_id}: close from inside a callback of its own compute (it would wait "
                               "for itself)")
        if not self._detach():
            return
        library = self._library
        with library._lock:  # after the instance's lock, never before it
            _destroy_owned(library, self._key)

    def _detach(self) -> bool:
        """Takes the instance's lock (a compute in flight returns first) and marks it closed, so that no compute
        starts on it; True when this call detached it. The destroy is left to the library's lock."""
        with self._lock:
            detached, self._raw = self._raw is not None, None
        self._library._instances.discard(self)
        return detached

    def _close_from_gc(self) -> None:
        """close() for the garbage collector, which may run inside a call on any thread: no compute can be in
        flight (it would hold a reference), and it never waits for the library's lock (its holder may be this very
        thread). With the lock busy the instance stays owned by the library (library._live) and is destroyed at its
        next control call or at its close, whichever comes first."""
        library = self._library
        self._raw = None
        library._instances.discard(self)
        if library.closed:
            return  # destroyed by Library.close() before deinit
        library._orphans.append(self._key)
        if library._lock.acquire(blocking=False):
            try:
                _destroy_orphans(library)
            finally:
                library._lock.release()

    def __enter__(self) -> "Posenc":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "_raw", None) is None:
            return
        try:  # an error filter for ResourceWarning raises here: the instance is still destroyed
            warnings.warn(f"unclosed genplug posenc instance {self.plugin_id}", ResourceWarning, source=self)
        finally:
            try:
                self._close_from_gc()
            except Exception:
                pass


def _checked_spectrum(what: str, dims: List[int], freqs: _GuardedBuffer, amplitude: _GuardedBuffer) -> Spectrum:
    """The spectrum a plugin returned OK for, checked as PosencProxy::compute checks it: guards intact, every
    value written, every value finite."""
    check = _SpectrumCheck(what, dims)
    check.guards(freqs, "frequency")
    check.guards(amplitude, "amplitude")
    check.written(freqs, amplitude)
    spectrum = Spectrum(list(dims), freqs.values(), amplitude.values())
    check.finite(spectrum.freqs, "frequency")
    check.finite(spectrum.amplitude, "amplitude")
    return spectrum


def _config_text(config) -> bytes:
    """The config as JSON text for create: a str passes unchanged (the plugin quotes what the caller wrote)."""
    if config is None:
        return b"{}"
    if not isinstance(config, (str, bytes, bytearray, memoryview)):
        try:
            config = json.dumps(config, allow_nan=False)
        except ValueError as e:  # allow_nan=False: NaN or Infinity would be written, which no JSON parser reads
            raise ValueError(f"config: cannot be written as JSON: {e}") from None
        except TypeError as e:  # a set, an object
            raise TypeError(f"config: cannot be written as JSON: {e}") from None
    return _c_string(config, "config")


class Factory:
    """A genplug_factory_t of one kind (here: posenc). Its calls hold the library's lock, so that none runs
    while Library.close() deinits."""

    def __init__(self, library: "Library", raw, kind: str):
        self._library = library
        self._raw = raw  # POINTER(genplug_factory_t), plugin-owned until deinit
        self.kind = kind

    def _factory(self):
        self._library._check_open()  # the factory dies with the library's deinit; none is called once it closes
        return self._raw

    def _call(self, field: str):
        return _fn(self._factory().contents, field, f"{self._library.path}: factory '{self.kind}'")

    def count(self) -> int:
        with self._library._lock:
            return int(self._call("count")(self._raw))

    def descriptor(self, index: int) -> Optional[Descriptor]:
        """Descriptor `index` (a uint32), copied; None when out of range (the plugin returns NULL)."""
        index = _uint32(index, "descriptor index")
        with self._library._lock:
            d = self._call("descriptor")(self._raw, index)
            return self._copy(d, index) if d else None

    def _copy(self, d, index: int) -> Descriptor:
        address = ctypes.addressof(d.contents)
        where = f"{self._library.path}: descriptor {index}"
        if not has_field(address, genplug_descriptor_t, "config_schema"):
            raise AbiMismatch(E_ABI_MISMATCH, f"descriptor {index}: struct_size "
                              f"{c_uint32.from_address(address).value} is too small", self._library.path)
        c = d.contents
        features = []
        if c.features:
            while c.features[len(features)] is not None:
                features.append(_text(c.features[len(features)], f"{where}: features[{len(features)}]"))
        fields = {f: _text(getattr(c, f), f"{where}: {f}")
                  for f in ("id", "name", "vendor", "version", "description", "config_schema")}
        try:
            schema = parse_json(fields["config_schema"] or "{}")
        except ValueError as e:  # the plugin's fault: say whose schema, as genplug's host does
            raise ValueError(f"{self._library.path}: {fields['id']}: invalid config schema: {e}") from None
        return Descriptor(fields["id"], fields["name"], fields["vendor"], fields["version"],
                          fields["description"], features, schema)

    def descriptors(self) -> List[Descriptor]:
        return [self.descriptor(i) for i in range(self.count())]

    def create(self, plugin_id: Optional[str] = None, config=None, ctx: Optional[CallContext] = None) -> Posenc:
        """An instance of `plugin_id` (default: the first plugin) from `config`: a dict or JSON object text,
        passed unchanged (None: every default). A bad config raises ConfigError naming the field; one the
        plugin could not read whole (a NUL character, a NaN or infinite number in a dict) raises ValueError;
        bytes for the id or config raise TypeError."""
        if self.kind != KIND_POSENC:
            raise NotImplementedError(f"this sample wraps {KIND_POSENC} instances only, not {self.kind}")
        if plugin_id is None:
            first = self.descriptor(0)
            if first is None:
                raise LookupError(f"{self._library.path} holds no {self.kind} plugin")
            plugin_id = first.id
        id_text, config_text = _c_string(plugin_id, f"plugin id {plugin_id!r}"), _config_text(config)
        ctx = ctx or self._library._new_context()
        with self._library._lock:
            self._library._check_open()
            _destroy_orphans(self._library)
            out = c_void_p()
            status = self._call("create")(self._raw, id_text, config_text, ctx.get(), ctypes.byref(out))
            ctx.check(status, f"{plugin_id}: create")
            if not out.value:
                raise InternalError(E_INTERNAL, "create returned OK and no instance", f"{plugin_id}: create")
            instance = Posenc(self._library, ctypes.cast(out.value, POINTER(genplug_posenc_t)), plugin_id)
            self._check_instance(instance, out.value)
            return instance

    def _check_instance(self, instance: Posenc, address: int) -> None:
        """Refuses an instance whose struct is short or whose destroy or compute is NULL (destroyed when it can
        be; with no destroy nothing can free it)."""
        what = f"{self._library.path}: {instance.plugin_id}: create"
        raw = instance._raw
        if not has_field(address, genplug_posenc_t, "get_extension"):
            problem, cls, code = "instance struct_size is too small", AbiMismatch, E_ABI_MISMATCH
        elif not (raw.contents.destroy and raw.contents.compute):
            missing = "destroy" if not raw.contents.destroy else "compute"
            problem, cls, code = f"the instance's {missing} function pointer is NULL", InternalError, E_INTERNAL
        else:
            return
        instance._raw = None
        self._library._live.pop(instance._key, None)  # destroyed here, not by the library
        self._library._instances.discard(instance)
        if has_field(address, genplug_posenc_t, "destroy") and raw.contents.destroy:
            raw.contents.destroy(raw)
        raise cls(code, problem, what)


# ---- refusing what is no plugin before loading it ------------------------------------------------------------

_ELF_MAX_TABLE = 64 << 20  # a section table or symbol table past this is not read (the loader then decides)
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr
_SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym
_SHT_DYNSYM = 11


def _pread(fd: int, offset: int, size: int, file_size: int) -> Optional[bytes]:
    """`size` bytes at `offset`, or None when they lie outside the file or the table bound."""
    if size == 0 or size > _ELF_MAX_TABLE or offset > file_size or size > file_size - offset:
        return None
    data = os.pread(fd, size, offset)
    return data if len(data) == size else None


def _dynsym_names(fd: int, file_size: int):
    """(the .dynsym symbol table, its string table) of a 64-bit little-endian ELF file the loader would map, found
    through the section headers as host/src/elf_extent.cpp finds them; None when that cannot be told."""
    header = _pread(fd, 0, _EHDR.size, file_size)
    if header is None:
        return None
    (ident, e_type, _, _, _, _, shoff, _, _, phentsize, phnum, shentsize, shnum, _) = _EHDR.unpack(header)
    if (ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1 or e_type not in (2, 3) or phentsize != 56
            or not 0 < phnum < 0xffff or shentsize != _SHDR.size):
        return None
    table = _pread(fd, shoff, shnum * _SHDR.size, file_size)
    sections = [] if table is None else list(_SHDR.iter_unpack(table))
    for sh in sections:
        if sh[1] != _SHT_DYNSYM:
            continue
        if sh[9] != _SYM.size or sh[6] >= len(sections):
            return None
        names = sections[sh[6]]
        symbols = _pread(fd, sh[4], sh[5] // _SYM.size * _SYM.size, file_size)
        strings = _pread(fd, names[4], names[5], file_size)
        return None if symbols is None or strings is None else (symbols, strings)
    return None


def elf_defines_symbol(path: str, name: str) -> Optional[bool]:
    """Whether the ELF file at `path` defines the dynamic symbol `name` (in .dynsym, not undefined), read without
    loading it; None when that cannot be told (not a regular file, no ELF the loader would map, no .dynsym, a
    table out of bounds or over 64 MiB). None does not make a path safe to dlopen: dlopen waits for ever on a FIFO
    with no writer, so Library refuses what is no regular file before it gets here (check_regular_file)."""
    try:
        # O_NONBLOCK: opening a FIFO here returns at once (without it, it would wait for a writer); it is then
        # not read (None). This protects this function only, not a dlopen that follows.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        tables = _dynsym_names(fd, st.st_size) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)
    if tables is None:
        return None
    symbols, strings = tables
    wanted, at = name.encode() + b"\0", set()
    i = strings.find(wanted)
    while i >= 0:  # a name may also end a longer string ("x_genplug_entry"): every match counts
        at.add(i)
        i = strings.find(wanted, i + 1)
    return any(st_name in at and shndx != 0 for st_name, _, _, shndx, _, _ in _SYM.iter_unpack(symbols))


def check_regular_file(path: str) -> None:
    """Refuses (NotAPlugin) a path that exists and is no regular file once links are followed -- a FIFO, a device,
    a socket or a folder -- as the C++ host's command line refuses one ("is not a plugin library (a regular .so
    file)"): dlopen would wait for ever on a FIFO with no writer, or read a device. A path that cannot be
    stat()ed is left to dlopen, which names why it cannot load it."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    if stat.S_ISREG(mode):
        return
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else
            "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "no regular file")
    raise NotAPlugin(E_ABI_MISMATCH, f"it is not a plugin library (a regular .so file) but {kind} (not loaded)",
                     printable(path))


# ---- the library ---------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None)
_libc.dlclose.argtypes = [c_void_p]
_libc.dlclose.restype = ctypes.c_int
_libc.dlopen.argtypes = [c_char_p, ctypes.c_int]
_libc.dlopen.restype = c_void_p
_libc.dlerror.argtypes = []
_libc.dlerror.restype = c_char_p


def _dlopen(path: str) -> ctypes.CDLL:
    """dlopen (RTLD_NOW | RTLD_LOCAL); OSError "PATH: cannot load: WHY" (ctypes fails to decode the loader's
    message itself when the path is not UTF-8)."""
    try:
        return ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except (OSError, UnicodeDecodeError) as e:
        why = str(e) if isinstance(e, OSError) and e.args else _loader_reason(path)
    shown = printable(path)
    why = why[len(shown) + 2:] if why.startswith(shown + ": ") else why  # dlerror names the path first too
    raise OSError(f"{shown}: cannot load: {why or 'the loader gave no reason'}")


def _loader_reason(path: str) -> str:
    """dlerror's text, decoded leniently, for a library that failed to load: ctypes gives none (or fails itself)
    when that text, which quotes the path, is not UTF-8. Asked by loading once more, which fails again."""
    handle = _libc.dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL)
    if handle:  # it loads now (the file changed): nothing to report, and nothing kept loaded
        _libc.dlclose(handle)
        return ""
    reason = _libc.dlerror()
    return reason.decode("utf-8", "backslashreplace") if reason else ""


def check_entry(entry: genplug_entry_t, path: str) -> None:
    """What the C++ host checks of a genplug_entry before init (host/src/plugin_library.cpp): the struct holds
    the ABI version, the major is this host's, the struct holds every function and none is NULL."""
    address = ctypes.addressof(entry)
    size = c_uint32.from_address(address).value
    if not has_field(address, genplug_entry_t, "abi_minor"):
        raise AbiMismatch(E_ABI_MISMATCH, f"{ENTRY_SYMBOL}.struct_size {size} is too small", path)
    if entry.abi_major != ABI_MAJOR:
        raise AbiMismatch(E_ABI_MISMATCH, f"plugin ABI {entry.abi_major}.{entry.abi_minor}, "
                          f"host ABI {ABI_MAJOR}.{ABI_MINOR}", path)
    if not has_field(address, genplug_entry_t, "get_factory"):
        raise AbiMismatch(E_ABI_MISMATCH, f"{ENTRY_SYMBOL}.struct_size {size} is too small", path)
    for field in ("init", "deinit", "get_factory"):
        _fn(entry, field, f"{path}: {ENTRY_SYMBOL}")


def check_factory(raw, kind: str, path: str) -> None:
    """What the C++ host checks of a factory: it holds count, descriptor and create, and none is NULL."""
    if not has_field(ctypes.addressof(raw.contents), genplug_factory_t, "create"):
        raise AbiMismatch(E_ABI_MISMATCH, f"{kind} factory struct_size is too small", path)
    for field in ("count", "descriptor", "create"):
        _fn(raw.contents, field, f"{path}: factory '{kind}' is incomplete")


class Library:
    """One plugin library: a regular file (NotAPlugin for a FIFO, device or folder), its ELF file checked for
    genplug_entry (NotAPlugin, not loaded, when absent), dlopen (RTLD_NOW | RTLD_LOCAL), the entry and ABI major
    checked, init. close() (or the end of a with block) waits for computes in flight, destroys live instances,
    calls deinit once and unloads it; dropped unclosed it is closed with a ResourceWarning. `log(severity,
    message)` receives the plugin's log lines of every call made through this object."""

    def __init__(self, path, log: Optional[Callable[[int, str], None]] = None):
        self.path = os.path.abspath(os.fsdecode(path))  # str, bytes or a path-like object
        self.log = log
        self._entry = None
        self._dll = None
        self._instances: "weakref.WeakSet[Posenc]" = weakref.WeakSet()  # to wait for, at close
        self._live: dict = {}  # key -> (plugin id, raw) of every instance not yet destroyed (see Posenc)
        self._orphans: list = []  # keys of instances collected while the library lock was busy
        self._lock = threading.Lock()  # control calls one at a time (context.h), and none during deinit
        self._closing = False  # set once, by close(): control calls and computes are refused from then on
        self._closed_event = threading.Event()  # set when close() has unloaded the library
        check_regular_file(self.path)  # before dlopen, which would wait for ever on a FIFO
        if elf_defines_symbol(self.path, ENTRY_SYMBOL) is False:  # not loaded: none of its constructors runs
            raise NotAPlugin(E_ABI_MISMATCH, f"it defines no '{ENTRY_SYMBOL}' symbol (not loaded)",
                             printable(self.path))
        self._dll = _dlopen(self.path)
        try:
            try:
                entry = genplug_entry_t.in_dll(self._dll, ENTRY_SYMBOL)  # a view on the plugin's const struct
            except ValueError:
                raise NotAPlugin(E_ABI_MISMATCH, f"no '{ENTRY_SYMBOL}' symbol", printable(self.path)) from None
            check_entry(entry, self.path)
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

    def _check_open(self) -> None:
        """ValueError once close() has begun: no control call reaches the plugin after that."""
        if self._entry is None or self._closing:
            raise ValueError(f"{self.path}: the library is {'closed' if self._entry is None else 'closing'}")

    def factory(self, kind: str) -> Optional[Factory]:
        """The factory of `kind` (KIND_*), or None when the library holds no plugin of that kind."""
        kind_text = _c_string(kind, "kind")
        with self._lock:
            self._check_open()
            _destroy_orphans(self)
            raw = self._entry.get_factory(kind_text)
            if not raw:
                return None
            check_factory(raw, kind, self.path)
            return Factory(self, raw, kind)

    def posenc_factory(self) -> Optional[Factory]:
        return self.factory(KIND_POSENC)

    def close(self) -> None:
        """Waits for computes in flight on its instances, destroys every instance not yet destroyed, calls deinit
        (once) and unloads the library. From the moment it begins, control calls and new computes are refused
        (ValueError); a second close() on another thread waits for the first to finish. From a callback of a
        compute on one of its instances it raises RuntimeError (it would wait for that compute, and so for itself).

        The library lock is never held while waiting: it is taken to mark the library closing and list the
        instances, released while each instance's lock is waited for (a compute in flight returns first, its
        callbacks free to make control calls, which are refused, or close other instances), and taken again to
        destroy what is left -- instances closed meanwhile and those collected on any thread included -- and to
        deinit and unload."""
        if any(instance._library is self for instance in _computing_here()):
            raise RuntimeError(f"{self.path}: close from inside a callback of a compute on one of its instances "
                               "(it would wait for itself)")
        with self._lock:
            if self._entry is None:
                return
            first = not self._closing
            self._closing = True
            instances = list(self._instances) if first else []
        if not first:
            self._closed_event.wait()
            return
        try:
            for instance in instances:
                instance._detach()  # its lock alone: a compute in flight on it returns first
        finally:
            del instances
            with self._lock:
                self._finish_close()

    def _finish_close(self) -> None:
        """close()'s last step, library lock held: destroys every instance the library still owns (last created
        first), then deinit and dlclose. A destroy that fails does not keep the library loaded; the first error is
        raised once it is unloaded."""
        error = None
        while self._live:
            key, (plugin_id, raw) = self._live.popitem()
            try:
                _fn(raw.contents, "destroy", f"{plugin_id}: destroy")(raw)
            except Exception as e:  # noqa: BLE001 -- a NULL destroy (InternalError): the others are still owed
                error = error or e
        self._orphans.clear()  # their instances were in _live: destroyed above
        entry, self._entry = self._entry, None
        try:
            entry.deinit()
        finally:
            del entry
            self._unload()
            self._closed_event.set()
        if error is not None:
            raise error

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

    def __del__(self):
        if getattr(self, "_entry", None) is None:
            return
        try:  # at interpreter exit the warnings module may be gone already: the library is still closed
            warnings.warn(f"unclosed genplug library {self.path}", ResourceWarning, source=self)
        finally:
            try:
                self.close()
            except Exception:
                pass
