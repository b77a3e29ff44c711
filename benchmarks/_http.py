"""A minimal keep-alive HTTP/1.1 client for benchmarks.

General-purpose Python clients cost more CPU per request than the server
under test on a 2-core machine, so the figures would measure the client.
This one writes a request and reads one `Content-Length` response per call
on a persistent (TLS) connection, and streams newline-delimited watch events.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit


class Conn:
    def __init__(self, url: str, *, token: str | None = None, ca: str | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self.ssl = (
                ssl.create_default_context(cafile=ca) if ca else ssl._create_unverified_context()
            )
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _head(self, method: str, path: str, body: bytes, ctype: str) -> bytes:
        return (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Accept: application/json\r\n\r\n"
        ).encode()

    async def request(
        self, method: str, path: str, body: bytes = b"", ctype: str = "application/json"
    ) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(self._head(method, path, body, ctype) + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            return status, await self._read_chunked()
        return status, await self.reader.readexactly(length)

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        out = bytearray()
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            if size == 0:
                await self.reader.readline()
                return bytes(out)
            out += await self.reader.readexactly(size)
            await self.reader.readline()

    async def start_stream(self, path: str) -> None:
        """Send a GET whose chunked answer is read with `next_line`."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(self._head("GET", path, b"", "application/json"))
        await self.reader.readuntil(b"\r\n\r\n")
        self._buf = b""

    async def next_line(self) -> bytes:
        assert self.reader is not None
        while b"\n" not in self._buf:
            size = int((await self.reader.readline()).strip(), 16)
            self._buf += await self.reader.readexactly(size)
            await self.reader.readline()
        line, _, self._buf = self._buf.partition(b"\n")
        return line
