"""The data-only wire between the candidate process and the test process (stdlib only).

Frames are a 4-byte big-endian length and a UTF-8 JSON body. Values are tagged JSON so that the
receiving side rebuilds them with *exact* builtin types: whatever the sender's objects claimed to be
(an ``int`` subclass whose ``__eq__`` always answers True, a patched ``json.dumps``), the receiver
only ever holds ``int``, ``float``, ``str``, ``list``, ... built by its own code, so a comparison in the
tests is Python's own comparison of two genuine values.

Tags: ``n`` None, ``b`` bool, ``i`` int (decimal text), ``f`` float (``float.hex``, so NaN, ±inf and
-0.0 survive), ``c`` complex, ``s`` str, ``y`` bytes (base64), ``l`` list, ``t`` tuple, ``S`` set,
``F`` frozenset, ``d`` dict (a list of pairs), ``h`` a handle to an object that stays in the candidate
process (it can be called, iterated or passed back, never compared), ``name`` a top-level name of the
candidate's namespace.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import re
from collections.abc import Callable
from typing import Any

#: the largest frame accepted (bytes): bounds the memory a peer can make the receiver use
MAX_FRAME = 16 << 20
#: deepest nesting of containers in one value
MAX_DEPTH = 100
_INT = re.compile(r"-?[0-9]{1,4300}")
_DATA_TYPES = (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame or value."""


class PeerClosed(Exception):
    """The peer closed its end of the pipe (it exited or died)."""


# ------------------------------------------------------------------------------------ frames
def send(fd: int, message: Any) -> None:
    """Write one frame (``message`` must already be plain JSON)."""
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"a message of {len(body)} bytes is over the {MAX_FRAME}-byte frame limit")
    data = memoryview(len(body).to_bytes(4, "big") + body)
    while data:
        try:
            n = os.write(fd, data)
        except BrokenPipeError:
            raise PeerClosed("the peer closed the pipe") from None
        data = data[n:]


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n > 0:
        try:
            chunk = os.read(fd, min(n, 1 << 20))
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise PeerClosed(f"reading the pipe failed: {exc}") from None
        if not chunk:
            raise PeerClosed("the peer closed the pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def recv(fd: int) -> Any:
    """Read one frame and parse its JSON; :class:`ProtocolError` for anything malformed."""
    size = int.from_bytes(_read_exact(fd, 4), "big")
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes is over the {MAX_FRAME}-byte limit")
    body = _read_exact(fd, size)
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"a frame is not valid JSON: {type(exc).__name__}") from None


# ------------------------------------------------------------------------------------ values
RefOf = Callable[[Any], Any]
Resolve = Callable[[str, Any], Any]


def _as_data(value: Any) -> Any:
    """The candidate side's best faithful data copy of a data-like value, or the value unchanged.

    NumPy scalars become Python numbers and subclasses of builtin data types become their base type
    (a ``Counter`` a ``dict``, a named tuple a ``tuple``), as ``==`` in the original harness would mostly
    have treated them. This runs on the untrusted side, so it may be subverted: that is harmless, since
    whatever it yields is sent as plain data and rebuilt with exact types by the trusted side.
    """
    cls = type(value)
    if cls.__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if cls in _DATA_TYPES:
        return value
    for base in _DATA_TYPES:
        if isinstance(value, base):
            convert: Callable[[Any], Any] = base
            return convert(value)
    return value


def encode(value: Any, ref_of: RefOf, *, lenient: bool = False, depth: int = 0) -> Any:
    """``value`` as tagged JSON; non-data values go through ``ref_of`` (which raises to refuse them)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"a value nested deeper than {MAX_DEPTH} levels cannot be sent")
    if lenient:
        value = _as_data(value)
    cls = type(value)
    if value is None:
        return ["n"]
    if cls is bool:
        return ["b", value]
    if cls is int:
        return ["i", str(value)]
    if cls is float:
        return ["f", value.hex()]
    if cls is complex:
        return ["c", value.real.hex(), value.imag.hex()]
    if cls is str:
        return ["s", value]
    if cls is bytes:
        return ["y", base64.b64encode(value).decode("ascii")]
    sub = depth + 1
    if cls in (list, tuple, set, frozenset):
        tags: dict[type, str] = {list: "l", tuple: "t", set: "S", frozenset: "F"}
        tag = tags[cls]
        return [tag, [encode(v, ref_of, lenient=lenient, depth=sub) for v in value]]
    if cls is dict:
        return ["d", [[encode(k, ref_of, lenient=lenient, depth=sub), encode(v, ref_of, lenient=lenient, depth=sub)]
                      for k, v in value.items()]]  # fmt: skip
    return ref_of(value)


def _float(text: Any) -> float:
    if not isinstance(text, str) or len(text) > 40:
        raise ProtocolError("a float must be float.hex text")
    try:
        return float.fromhex(text)
    except ValueError:
        raise ProtocolError(f"{text!r} is not float.hex text") from None


def decode(obj: Any, resolve: Resolve, depth: int = 0) -> Any:
    """Rebuild a value from :func:`encode`'s output with exact builtin types; refs go through ``resolve``."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"a value nested deeper than {MAX_DEPTH} levels")
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], str):
        raise ProtocolError("a value must be a tagged list")
    tag, rest = obj[0], obj[1:]
    if tag == "n" and not rest:
        return None
    if len(rest) == 1:
        (payload,) = rest
        if tag == "b" and isinstance(payload, bool):
            return payload
        if tag == "i" and isinstance(payload, str) and _INT.fullmatch(payload):
            return int(payload)
        if tag == "f":
            return _float(payload)
        if tag == "s" and isinstance(payload, str):
            return payload
        if tag == "y" and isinstance(payload, str):
            try:
                return base64.b64decode(payload.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise ProtocolError("bytes must be base64") from None
        if tag in ("l", "t", "S", "F", "d") and isinstance(payload, list):
            return _container(tag, payload, resolve, depth + 1)
        if tag in ("h", "name"):
            return resolve(tag, payload)
    if tag == "c" and len(rest) == 2:
        return complex(_float(rest[0]), _float(rest[1]))
    raise ProtocolError(f"malformed value with tag {tag[:20]!r}")


def _container(tag: str, items: list[Any], resolve: Resolve, depth: int) -> Any:
    try:
        if tag == "d":
            if not all(isinstance(p, list) and len(p) == 2 for p in items):
                raise ProtocolError("a dict must be a list of [key, value] pairs")
            return {decode(k, resolve, depth): decode(v, resolve, depth) for k, v in items}
        values = [decode(v, resolve, depth) for v in items]
        return {"l": list, "t": tuple, "S": set, "F": frozenset}[tag](values)
    except TypeError:  # an unhashable key or set member
        raise ProtocolError("an unhashable dict key or set member") from None
