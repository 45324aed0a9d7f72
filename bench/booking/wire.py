"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for generating load.

On this 2-core machine every millisecond the load generator spends is taken from the
server it measures. Driving the bare endpoint with 32 clients (`bench.booking.client_cost`),
httpx's `AsyncClient` costs about 5 ms of CPU per request with one client and 32 pooled
connections, 1.1–1.3 ms with one client per connection, and this one 0.17 ms. It sends a
request with a `Content-Length` body and reads the answer's status and body
(`Content-Length` or chunked); nothing else of HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

NO_BODY = frozenset({204, 304})
NO_ANSWER = 0  # the status of a request that got no answer (connection failed or closed)
TIMEOUT = 120.0  # seconds: only turns a hung server into a failed request


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


class BadAnswer(Exception):
    """The server's answer is not HTTP/1.1 as this client reads it."""


def _head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise BadAnswer(lines[0])
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return int(parts[1]), {k.strip().lower(): v.strip() for k, v in fields.items()}


class Connection:
    """One keep-alive connection; reopened after the server closes it or a failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @classmethod
    def to(cls, base: str) -> Connection:
        """A connection to `http://host:port`."""
        host, port = base.removeprefix("http://").rstrip("/").rsplit(":", 1)
        return cls(host, int(port))

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Answer:
        """Send one request and read its answer; NO_ANSWER with the error when it failed."""
        exchange = self._exchange(method, target, body, headers or {})
        try:
            return await asyncio.wait_for(exchange, TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, BadAnswer) as failed:
            await self.close()
            return Answer(NO_ANSWER, repr(failed).encode())

    async def _exchange(
        self, method: str, target: str, body: bytes, headers: Mapping[str, str]
    ) -> Answer:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
        writer.write(f"{head}content-length: {len(body)}\r\n{extra}\r\n".encode() + body)
        status, fields = _head(await reader.readuntil(b"\r\n\r\n"))
        answer = Answer(status, await self._body(reader, status, fields))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return answer

    @staticmethod
    async def _body(reader: asyncio.StreamReader, status: int, fields: dict[str, str]) -> bytes:
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return await _chunks(reader)
        if status in NO_BODY or "content-length" not in fields:
            return b""
        return await reader.readexactly(int(fields["content-length"]))

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")  # the empty trailer
    return bytes(body)
