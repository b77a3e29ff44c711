"""The field tables behind `protobuf.py`: how one protobuf field becomes one JSON field.

Each message is a dict from upstream field number to an `_F` naming the JSON
field and how to decode it. The short constructors (`_s`, `_i`, `_b`, `_m`,
`_map`, `_strings`, `_intstr`, `_inline`) keep those tables readable; they
live here, apart from the decoder, so the tables can be split across modules
(`protobuf_core.py` holds core/v1's Pod) without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

# Field kinds: scalar decoders, "message", or "map" (entries with key 1, value 2).
_SCALARS = ("string", "bytes", "bool", "int", "time", "fieldsV1", "quantity", "intOrString")


@dataclass(frozen=True)
class _F:
    name: str  # the JSON name
    kind: str  # one of _SCALARS, "message" or "map"
    message: str = ""  # for "message": the message name; for "map": the value kind
    repeated: bool = False
    # Pointer fields (`*bool`, `*int64`, ...) and fields without omitempty keep zero values.
    keep_zero: bool = False
    # An embedded struct (`json:",inline"`): its fields join the parent's.
    inline: bool = False


# A message: upstream field number -> the field it holds.
Schema = dict[int, _F]


def _s(name: str, *, keep: bool = False) -> _F:
    return _F(name, "string", keep_zero=keep)


def _i(name: str, *, keep: bool = False) -> _F:
    return _F(name, "int", keep_zero=keep)


def _b(name: str, *, keep: bool = False) -> _F:
    return _F(name, "bool", keep_zero=keep)


def _m(name: str, message: str, *, repeated: bool = False) -> _F:
    return _F(name, "message", message, repeated)


def _inline(message: str) -> _F:
    return _F("", "message", message, inline=True)


def _strings(name: str) -> _F:
    return _F(name, "string", repeated=True)


def _intstr(name: str) -> _F:
    return _F(name, "intOrString", keep_zero=True)  # pointers, or structs JSON never omits


def _map(name: str, value: str = "string") -> _F:
    return _F(name, "map", value)
