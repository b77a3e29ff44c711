"""The SPDY/3.1 framing `kubectl port-forward` speaks, inside a WebSocket.

kubectl (1.31 and later) tunnels SPDY through a WebSocket for port-forward
(subprotocol `SPDY/3.1+portforward.k8s.io`). Only what a server needs for
that is here: frames are read from a byte stream as they complete
(`FrameReader`), and SYN_REPLY, DATA, RST_STREAM, PING and GOAWAY are
written. Header blocks are zlib streams, one per direction for the whole
connection, primed with SPDY/3's dictionary. Flow control is not used by
the client's SPDY library, so WINDOW_UPDATE and SETTINGS are read and ignored.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_FRAME = 1 << 24  # a frame's length field is 24 bits
RST_PROTOCOL_ERROR, RST_CANCEL, RST_INTERNAL_ERROR = 1, 5, 6

# SPDY/3's header compression dictionary (draft 3, section 2.6.10.1): these
# names and values, each with a 32-bit big-endian length, then a tail of
# status lines, dates and media types as plain text.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding "
    "accept-language accept-ranges age allow authorization cache-control connection "
    "content-base content-encoding content-language content-length content-location "
    "content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status 200_OK version HTTP/1.1 url public set-cookie "
    "keep-alive origin"
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
    "charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    out = bytearray()
    for word in _WORDS.split(" "):
        text = word.replace("_", " ").encode()  # "200_OK" stands for "200 OK"
        out += struct.pack(">I", len(text)) + text
    return bytes(out) + _TAIL.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3."""


@dataclass
class Frame:
    """A control frame (`kind` > 0) or a data frame (`kind` 0)."""

    kind: int
    stream: int = 0
    flags: int = 0
    headers: dict[str, list[str]] = field(default_factory=dict)
    data: bytes = b""
    value: int = 0  # PING's id, RST_STREAM's and GOAWAY's status

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class FrameReader:
    """Frames out of a byte stream fed in arbitrary pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            body = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = second >> 24
            if first & 0x80000000:
                if (first >> 16) & 0x7FFF != VERSION:
                    raise ProtocolError(f"SPDY version {(first >> 16) & 0x7FFF} is not 3")
                frame = self._control(first & 0xFFFF, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(Frame(0, first & 0x7FFFFFFF, flags, data=body))
        return frames

    def _control(self, kind: int, flags: int, body: bytes) -> Frame | None:
        if kind == SYN_STREAM:
            if len(body) < 10:
                raise ProtocolError("short SYN_STREAM")
            stream = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
            return Frame(kind, stream, flags, headers=self._headers(body[10:]))
        if kind in (SYN_REPLY, HEADERS):
            stream = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
            return Frame(kind, stream, flags, headers=self._headers(body[4:]))
        if kind in (RST_STREAM, GOAWAY, WINDOW_UPDATE) and len(body) >= 8:
            stream, value = struct.unpack_from(">II", body)
            return Frame(kind, stream & 0x7FFFFFFF, flags, value=value)
        if kind == PING and len(body) >= 4:
            return Frame(kind, flags=flags, value=struct.unpack_from(">I", body)[0])
        return None  # SETTINGS and anything newer: nothing a port-forward needs

    def _headers(self, block: bytes) -> dict[str, list[str]]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as exc:
            raise ProtocolError(f"bad header block: {exc}") from None
        headers: dict[str, list[str]] = {}
        try:
            (count,) = struct.unpack_from(">I", raw)
            at = 4
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, at)
                name = raw[at + 4 : at + 4 + n].decode("latin-1").lower()
                at += 4 + n
                (n,) = struct.unpack_from(">I", raw, at)
                value = raw[at + 4 : at + 4 + n].decode("latin-1")
                at += 4 + n
                headers.setdefault(name, []).extend(value.split("\0"))
        except struct.error:
            raise ProtocolError("truncated header block") from None
        return headers


class FrameWriter:
    """Frames to send; header blocks share one compression stream, as the peer expects."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, value in headers.items():
            for text in (name.lower().encode(), value.encode()):
                raw += struct.pack(">I", len(text)) + text
        return self._deflate.compress(bytes(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control(kind: int, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body

    def syn_reply(self, stream: int, headers: dict[str, str] | None = None) -> bytes:
        body = struct.pack(">I", stream) + self._block(headers or {})
        return self._control(SYN_REPLY, 0, body)

    def data(self, stream: int, data: bytes, *, fin: bool = False) -> bytes:
        return struct.pack(">II", stream, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data

    def rst_stream(self, stream: int, status: int) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream: int, status: int = 0) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_stream, status))
