"""A TCP proxy between consortium nodes that a test can cut and heal.

Every directed link "A dials B" goes through its own listening port here, which
forwards to B's real peer port. TLS passes through untouched (the proxy sees
only bytes), so certificate pinning still holds end to end. ``cut(a, b)`` drops
the current connections of both directions between two members and refuses new
ones until ``heal``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable


class PartitionProxy:
    """Forwards each member-to-member link; links can be cut and healed."""

    def __init__(self, real_ports: dict[str, int]) -> None:
        self.real_ports = real_ports
        self.link_ports: dict[tuple[str, str], int] = {}
        self._cut: set[frozenset[str]] = set()
        self._writers: dict[frozenset[str], list[asyncio.StreamWriter]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.base_events.Server] = []

    def start(self) -> None:
        """Open one listening port per ordered pair of members."""
        self._thread.start()
        for dialler in self.real_ports:
            for target in self.real_ports:
                if dialler != target:
                    future = asyncio.run_coroutine_threadsafe(
                        self._listen(dialler, target), self._loop
                    )
                    self.link_ports[(dialler, target)] = future.result(timeout=10)

    async def _listen(self, dialler: str, target: str) -> int:
        async def forward(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            pair = frozenset((dialler, target))
            if pair in self._cut:
                writer.close()
                return
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    "127.0.0.1", self.real_ports[target]
                )
            except OSError:
                writer.close()
                return
            self._writers.setdefault(pair, []).extend([writer, upstream_writer])
            await asyncio.gather(
                _pump(reader, upstream_writer), _pump(upstream_reader, writer)
            )

        server = await asyncio.start_server(forward, "127.0.0.1", 0)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def cut(self, group: Iterable[str], other: Iterable[str]) -> None:
        """Sever every link between a member of ``group`` and one of ``other``."""
        pairs = {frozenset((a, b)) for a in group for b in other}
        asyncio.run_coroutine_threadsafe(self._apply_cut(pairs), self._loop).result(10)

    async def _apply_cut(self, pairs: set[frozenset[str]]) -> None:
        self._cut |= pairs
        for pair in pairs:
            for writer in self._writers.pop(pair, []):
                writer.close()

    def heal(self) -> None:
        """Let every link through again."""
        self._loop.call_soon_threadsafe(self._cut.clear)

    def stop(self) -> None:
        for server in self._servers:
            self._loop.call_soon_threadsafe(server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
