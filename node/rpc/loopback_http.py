"""The gateway's HTTP/1.1 client for requests to its own node over loopback.

Why not a general client such as httpx: its pure-Python HTTP parsing cost the
gateway about a third of its CPU under load, time that the node lacks when
several nodes share a machine (a devnet). The gateway needs little: requests
to one server it knows, which answers with ``content-length`` (uvicorn), over
kept-alive connections. Chunked answers and answers that end with the
connection are read too, so that nothing the node may send is misread.

A connection idle for a while is dropped before the server's keep-alive
timeout (30 s at the node) would close it. Should the server close one just as
it is reused, the request, seeing the connection end or reset before any byte
of an answer, is sent once more on a new connection: the server closes only
idle connections, so it had not taken the request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

MAX_IDLE_CONNECTIONS = 50
MAX_IDLE_SECONDS = 20.0
MAX_HEAD_BYTES = 64 * 1024


class NodeUnreachable(Exception):
    """The node refused the connection, did not answer in time, closed the
    connection mid-answer, or answered with something that is not HTTP."""


@dataclass(frozen=True)
class LoopbackResponse:
    status: int
    content_type: str | None
    body: bytes


class _IdleConnectionClosed(Exception):
    """A reused connection ended before any byte of the answer."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False
    idle_since: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        self.writer.close()


class LoopbackHttpClient:
    """Requests to ``http://host:port`` over a pool of kept-alive connections."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_seconds: float = 120.0,
        max_connections: int = 200,
    ) -> None:
        self._host = host
        self._port = port
        self._timeout_seconds = timeout_seconds
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> LoopbackResponse:
        """Send one request and return the node's answer, or raise
        ``NodeUnreachable`` saying what went wrong."""
        message = self._encode(method, path, body, headers or {})
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout_seconds):
                    try:
                        return await self._exchange(self._take(), message)
                    except _IdleConnectionClosed:
                        return await self._exchange(await self._open(), message)
            except TimeoutError:
                raise NodeUnreachable(
                    f"no answer within {self._timeout_seconds:g} s"
                ) from None
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ) as error:
                raise NodeUnreachable(str(error) or type(error).__name__) from None

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _encode(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> bytes:
        lines = [
            f"{method} {path} HTTP/1.1",
            f"host: {self._host}:{self._port}",
            f"content-length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _take(self) -> _Connection | None:
        """The most recently used idle connection, if one is fresh enough."""
        while self._idle:
            connection = self._idle.pop()
            if time.monotonic() - connection.idle_since < MAX_IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self._host, self._port, limit=MAX_HEAD_BYTES
        )
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection | None, message: bytes
    ) -> LoopbackResponse:
        if connection is None:
            connection = await self._open()
        try:
            try:
                connection.writer.write(message)
                await connection.writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                if connection.reused:
                    raise _IdleConnectionClosed from None
                raise
            response, keep_alive = await _read_response(connection)
        except BaseException:
            connection.close()
            raise
        if keep_alive and len(self._idle) < MAX_IDLE_CONNECTIONS:
            connection.reused = True
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return response


async def _read_response(connection: _Connection) -> tuple[LoopbackResponse, bool]:
    """Read one answer; return it and whether the connection stays open."""
    reader = connection.reader
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as ended:
        if connection.reused and not ended.partial:
            raise _IdleConnectionClosed from None
        raise
    except (ConnectionResetError, BrokenPipeError):
        if connection.reused:
            raise _IdleConnectionClosed from None
        raise
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {status_line[:40]!r}")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close"
    if status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunks(reader)
    else:
        body, keep_alive = await reader.read(), False
    return LoopbackResponse(status, headers.get("content-type"), body), keep_alive


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields, unused
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the CRLF after each chunk
