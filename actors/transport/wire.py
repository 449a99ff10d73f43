"""The wire format of a channel: length-prefixed frames whose payloads decode into declared types and nothing else.

A frame is a 4-byte big-endian length and that many bytes. After the handshake (``handshake``) every frame is a request
or a reply:

- request: request id (8 bytes), the length of the method's name (1 byte), the name, then the arguments as a msgpack
  array, decoded with the argument types the ``Interface`` declares for that method;
- reply: request id (8 bytes), a status byte (``VALUE`` or ``ERROR``), then msgpack: the value, decoded with the
  method's declared result type, or an ``ErrorData`` (an exception as data).

Decoding is msgspec's typed msgpack: it builds only the declared types (frozen dataclasses with their own checks run,
Decimals from their exact strings, enums by value, tuples, lists, dicts, str, int, float, None), so a frame can never
make an arbitrary object, and a frame that does not fit its declared types is refused (``BadFrame``). Exceptions travel
as ``ErrorData`` (a class name from an allow-list, the redacted message and the ids rayarb's errors carry) and are
rebuilt as that class on the caller's side; anything else arrives as ``RemoteError("Name: message")``.
"""
from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from execution.error_handler import AmbiguousOrderError, RayarbError, RetryableError
from execution.log import redact

HEADER = struct.Struct("!I")  # frame length
REQUEST = struct.Struct("!IQB")  # frame length, request id, length of the method name
REPLY = struct.Struct("!IQB")  # frame length, request id, status
VALUE, ERROR = 0, 1
MAX_FRAME_BYTES = 16 * 1024 * 1024

# Why a channel server closed a connection (the ``reason`` label of ``rayarb_channel_refused_total``).
REFUSAL_REASONS = (
    "handshake_failed",  # a hello or a proof that is not the protocol's, or a peer that does not know the run's key
    "handshake_timeout",  # no complete handshake within HANDSHAKE_TIMEOUT_S
    "handshakes_full",  # too many connections were handshaking already: closed at once
    "tls_failed",  # the TLS handshake failed
    "unknown_method",  # a request for a method this server does not serve
    "undecodable",  # a frame that does not decode into its declared types (garbage, a pickle, a wrong type)
    "oversized",  # a frame longer than the connection allows
)


class RemoteError(Exception):
    """A peer's handler raised an exception that is not on the allow-list: its class name and message."""


class BadFrame(Exception):
    """A frame this end refuses; ``reason`` is one of ``REFUSAL_REASONS``. The text never quotes the frame."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Frames:
    """Cuts a byte stream into frames of at most ``limit`` bytes (``BadFrame`` beyond it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if size > self.limit:
                raise BadFrame("oversized", f"frame of {size} bytes exceeds {self.limit}")
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[HEADER.size:end]))
            del self._buffer[:end]
        return frames


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


# ----- methods and their declared types -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Method:
    """A channel method's declared argument types (positional) and result type (``None``: it returns None)."""

    args: tuple[Any, ...]
    result: Any = None


class Interface:
    """Channel methods by name with their declared types, and the typed decoders made from them (once per process)."""

    def __init__(self, methods: Mapping[str, Method]) -> None:
        self.methods = dict(methods)
        self._args: dict[bytes, msgspec.msgpack.Decoder] = {}
        self._results: dict[str, msgspec.msgpack.Decoder] = {}
        for name, method in self.methods.items():
            encoded = name.encode("ascii")
            if not 0 < len(encoded) < 256:
                raise ValueError(f"channel method name {name!r} must be 1-255 ASCII characters")
            self._args[encoded] = msgspec.msgpack.Decoder(tuple[method.args] if method.args else tuple[()])
            self._results[name] = msgspec.msgpack.Decoder(method.result)

    def __contains__(self, name: str) -> bool:
        return name in self.methods

    def args_decoder(self, name: bytes) -> msgspec.msgpack.Decoder | None:
        return self._args.get(name)

    def result_decoder(self, name: str) -> msgspec.msgpack.Decoder | None:
        return self._results.get(name)


_encoder = msgspec.msgpack.Encoder()


def encode_request(request_id: int, name: bytes, args: tuple) -> bytearray:
    """The framed request. Raises ``TypeError`` for an argument msgpack cannot carry (nothing is sent then)."""
    buffer = bytearray(REQUEST.size + len(name))
    buffer[REQUEST.size:] = name
    _encoder.encode_into(args, buffer, len(buffer))
    REQUEST.pack_into(buffer, 0, len(buffer) - HEADER.size, request_id, len(name))
    return buffer


def decode_request(request: bytes, interface_args: Mapping[bytes, Any]) -> tuple[int, bytes, Any, tuple]:
    """(request id, method name, the entry ``interface_args`` holds for it, decoded arguments) of a request frame
    (without its length): the arguments decoded with ``entry[-1]``, that method's decoder. ``BadFrame`` otherwise."""
    if len(request) < REQUEST.size - HEADER.size:
        raise BadFrame("undecodable", "request shorter than its header")
    request_id, size = struct.unpack_from("!QB", request)
    start = REQUEST.size - HEADER.size
    name = request[start:start + size]
    entry = interface_args.get(name)
    if entry is None:
        raise BadFrame("unknown_method", "request for a method this channel does not serve")
    try:
        args = entry[-1].decode(memoryview(request)[start + size:])
    except Exception:  # msgspec's DecodeError/ValidationError, or a message's own check (ValueError)
        raise BadFrame("undecodable", "arguments do not decode into the method's declared types") from None
    return request_id, name, entry, args


def encode_reply(request_id: int, value: Any) -> bytearray:
    """The framed reply carrying ``value``; ``TypeError`` when msgpack cannot carry it."""
    buffer = bytearray(REPLY.size)
    _encoder.encode_into(value, buffer, REPLY.size)
    REPLY.pack_into(buffer, 0, len(buffer) - HEADER.size, request_id, VALUE)
    return buffer


def encode_error(request_id: int, error: BaseException) -> bytearray:
    buffer = bytearray(REPLY.size)
    _encoder.encode_into(error_to_data(error), buffer, REPLY.size)
    REPLY.pack_into(buffer, 0, len(buffer) - HEADER.size, request_id, ERROR)
    return buffer


def decode_reply_header(reply: bytes) -> tuple[int, int]:
    """(request id, status) of a reply frame (without its length)."""
    if len(reply) < REPLY.size - HEADER.size:
        raise BadFrame("undecodable", "reply shorter than its header")
    request_id, status = struct.unpack_from("!QB", reply)
    if status not in (VALUE, ERROR):
        raise BadFrame("undecodable", "reply with an unknown status")
    return request_id, status


def reply_payload(reply: bytes) -> memoryview:
    return memoryview(reply)[REPLY.size - HEADER.size:]


# ----- exceptions as data -------------------------------------------------------------------------------------------

class ErrorData(msgspec.Struct, array_like=True, omit_defaults=True, frozen=True):
    """An exception as it travels: its class (``module.QualName``), its message (redacted) and the ids and hints
    rayarb's errors carry as attributes."""

    name: str
    message: str
    exchange: str | None = None
    client_order_id: str | None = None
    exchange_order_id: str | None = None
    source: str | None = None
    retry_after: float | None = None
    cause_type: str | None = None
    field: str | None = None
    reason: str | None = None


_ATTRIBUTES = ("exchange", "client_order_id", "exchange_order_id", "source", "retry_after", "cause_type", "field",
               "reason")
# Built-in exceptions a handler may raise on purpose, rebuilt as themselves (with their message only).
_BUILTIN_ERRORS: dict[str, type[BaseException]] = {
    f"builtins.{cls.__name__}": cls for cls in (TimeoutError, LookupError, KeyError, ValueError)}
_RAYARB_MODULES = ("execution.", "actors.")
_rayarb_errors: dict[str, type[RayarbError]] = {}

error_decoder = msgspec.msgpack.Decoder(ErrorData)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _rayarb_error(name: str) -> type[RayarbError] | None:
    """The ``RayarbError`` subclass defined by rayarb's own modules under that name, among those this process has
    imported (the allow-list: nothing else is ever instantiated from a name on the wire)."""
    cls = _rayarb_errors.get(name)
    if cls is None:
        _rayarb_errors.clear()
        todo = [RayarbError]
        while todo:
            candidate = todo.pop()
            todo.extend(candidate.__subclasses__())
            if candidate.__module__.startswith(_RAYARB_MODULES):
                _rayarb_errors[_qualified(candidate)] = candidate
        cls = _rayarb_errors.get(name)
    return cls


def _message(error: BaseException) -> str:
    args = error.args
    text = args[0] if len(args) == 1 and isinstance(args[0], str) else str(error)
    return redact(text)


def _attribute(error: BaseException, name: str) -> Any:
    value = getattr(error, name, None)
    if name == "retry_after":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return value if isinstance(value, str) else None


def error_to_data(error: BaseException) -> ErrorData:
    cls = type(error)
    if isinstance(error, RayarbError) and _rayarb_error(_qualified(cls)) is cls:
        ids = {name: _attribute(error, name) for name in _ATTRIBUTES}
        return ErrorData(_qualified(cls), _message(error), **ids)
    return ErrorData(_qualified(cls), _message(error))


def error_from_data(data: ErrorData) -> BaseException:
    """The exception ``data`` describes: an allow-listed class rebuilt without running its constructor (its message
    and its typed attributes set), anything else a ``RemoteError``."""
    rayarb_cls = _rayarb_error(data.name) if data.name.startswith(_RAYARB_MODULES) else None
    if rayarb_cls is not None:
        error = rayarb_cls.__new__(rayarb_cls)
        Exception.__init__(error, data.message)
        for name in ("exchange", "client_order_id", "exchange_order_id", "source"):
            setattr(error, name, getattr(data, name))
        if issubclass(rayarb_cls, (RetryableError, AmbiguousOrderError)):
            error.retry_after = data.retry_after
        if issubclass(rayarb_cls, AmbiguousOrderError):
            error.cause_type = data.cause_type
        for name in ("field", "reason"):
            if getattr(data, name) is not None:
                setattr(error, name, getattr(data, name))
        return error
    builtin = _BUILTIN_ERRORS.get(data.name)
    if builtin is not None:
        return builtin(data.message)
    name = data.name.rsplit(".", 1)[-1][:100]
    return RemoteError(f"{name}: {data.message}")
