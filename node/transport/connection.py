"""One authenticated connection to a peer: its send queues, reader and writer.

Send queues, per connection and per delivery class, each holding at most
``send_queue_size`` frames:

- gossip frames: when the queue is full the oldest gossip frame is dropped (and
  counted in ``frames_dropped``); ``send`` never waits for gossip.
- reliable frames: when the queue is full ``send`` waits for room, at most
  ``send_timeout`` seconds; then the peer is declared stuck, its connection is dropped
  and ``send`` raises ``SendTimeout``. A peer that stops reading thus costs its
  senders a bounded wait, not a stalled node.

The writer empties the reliable queue before the gossip queue, because consensus
messages must not wait behind a burst of transaction gossip; order is kept within
each queue. Frames still queued when a connection ends are dropped and counted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from node.transport.errors import (
    FrameError,
    PeerNotConnected,
    SendTimeout,
)
from node.transport.frames import (
    PING,
    Delivery,
    check_received_kind,
    encode_frame,
    read_frame,
)

logger = logging.getLogger(__name__)

# Frames handed to the socket per drain: enough to amortise the drain, small enough
# that a reliable frame queued meanwhile is not held back for long.
_WRITE_BATCH = 64
_CLOSE_TIMEOUT = 1.0


class Direction(enum.Enum):
    """Who opened the connection."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


@dataclass
class TransportCounters:
    """Totals since the network started; read a copy with ``PeerNetwork.counters``."""

    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    frames_dropped: int = 0
    """Gossip frames pushed out of a full queue, or still queued when a peer left."""
    malformed_frames: int = 0
    """Oversized or malformed frames; each dropped its connection."""
    rejected_connections: int = 0
    """Connections refused: bad TLS, unpinned certificate, bad hello, duplicate."""
    failed_dials: int = 0
    connects: int = 0
    reconnects: int = 0
    """Connections to a peer that had been connected before."""


@dataclass(frozen=True)
class PeerStatus:
    """What is known about one live connection; safe to log."""

    peer_id: str
    direction: Direction
    address: str
    tls_version: str
    fingerprint: str


class SendQueues:
    """The two bounded queues of one connection (policy in the module docstring)."""

    def __init__(self, capacity: int, counters: TransportCounters) -> None:
        self._capacity = capacity
        self._counters = counters
        self._reliable: deque[bytes] = deque()
        self._gossip: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._reliable) + len(self._gossip)

    def put_gossip(self, frame: bytes) -> None:
        """Queue ``frame``, dropping the oldest gossip frame if the queue is full.

        On a closed connection the frame is dropped (and counted) at once.
        """
        if self._closed:
            self._counters.frames_dropped += 1
            return
        if len(self._gossip) >= self._capacity:
            self._gossip.popleft()
            self._counters.frames_dropped += 1
        self._gossip.append(frame)
        self._ready.set()

    async def put_reliable(self, frame: bytes, peer_id: str, timeout: float) -> None:
        """Queue ``frame``, waiting up to ``timeout`` s for room.

        Raises ``SendTimeout`` when no room appeared in time and ``PeerNotConnected``
        when the connection closes while waiting or already has.
        """
        try:
            async with asyncio.timeout(timeout):
                while not self._closed and len(self._reliable) >= self._capacity:
                    self._room.clear()
                    await self._room.wait()
        except TimeoutError:
            raise SendTimeout(peer_id, timeout) from None
        if self._closed:
            raise PeerNotConnected(peer_id)

        self._reliable.append(frame)
        self._ready.set()

    async def take_batch(self) -> list[bytes]:
        """Wait for frames and return up to a batch of them, reliable ones first."""
        while not (self._reliable or self._gossip):
            self._ready.clear()
            await self._ready.wait()

        batch: list[bytes] = []
        for source in (self._reliable, self._gossip):
            while source and len(batch) < _WRITE_BATCH:
                batch.append(source.popleft())
        self._room.set()
        return batch

    def adopt(self, other: SendQueues) -> None:
        """Move ``other``'s frames in front of ours: a replaced connection's backlog."""
        self._reliable.extendleft(reversed(other._reliable))
        self._gossip.extendleft(reversed(other._gossip))
        other._reliable.clear()
        other._gossip.clear()
        if self:
            self._ready.set()

    def close(self) -> None:
        """Drop what is queued and release every waiting sender."""
        self._counters.frames_dropped += len(self)
        self._reliable.clear()
        self._gossip.clear()
        self._closed = True
        self._room.set()


MessageHandler = Callable[[str, int, bytes], Awaitable[None]]
CloseHandler = Callable[["PeerConnection", str], None]


class PeerConnection:
    """A live, authenticated connection; ``run`` pumps frames until it ends."""

    def __init__(
        self,
        status: PeerStatus,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        kinds: Mapping[int, Delivery],
        max_frame_size: int,
        send_queue_size: int,
        keepalive_interval: float,
        idle_timeout: float,
        counters: TransportCounters,
    ) -> None:
        self.status = status
        self.peer_id = status.peer_id
        self.direction = status.direction
        self.queues = SendQueues(send_queue_size, counters)
        self._reader = reader
        self._writer = writer
        self._kinds = kinds
        self._max_frame_size = max_frame_size
        self._keepalive_interval = keepalive_interval
        self._idle_timeout = idle_timeout
        self._counters = counters
        self._close_reason: str | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"PeerConnection({self.peer_id!r}, {self.direction.value})"

    def close(self, reason: str) -> None:
        """Stop the connection; ``run`` returns soon after. Idempotent."""
        if self._close_reason is not None:
            return
        self._close_reason = reason
        self.queues.close()
        for task in self._tasks:
            task.cancel()

    async def run(self, on_message: MessageHandler, on_closed: CloseHandler) -> None:
        """Read and write frames until either side fails or ``close`` is called.

        Received application frames go to ``on_message``, which may wait (that is
        how a slow consumer pushes back on the peer). ``on_closed`` is called once
        with the reason when the connection ends.
        """
        self._tasks = [
            asyncio.create_task(self._read_loop(on_message)),
            asyncio.create_task(self._write_loop()),
        ]
        if self._close_reason is not None:  # closed before it ran
            for task in self._tasks:
                task.cancel()
        try:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.close("stopped")
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await close_stream(self._writer)
            on_closed(self, self._close_reason or "closed")

    async def _read_loop(self, on_message: MessageHandler) -> None:
        try:
            while True:
                async with asyncio.timeout(self._idle_timeout):
                    kind, payload = await read_frame(self._reader, self._max_frame_size)
                self._counters.frames_in += 1
                self._counters.bytes_in += 5 + len(payload)
                check_received_kind(kind, self._kinds)
                if kind != PING:
                    await on_message(self.peer_id, kind, payload)
        except FrameError as error:
            self._counters.malformed_frames += 1
            logger.warning("dropping member %s: bad frame (%s)", self.peer_id, error)
            self.close(f"bad frame: {error}")
        except TimeoutError:
            self.close(f"nothing received for {self._idle_timeout:g} s")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close("connection closed by peer")
        except OSError as error:  # ssl.SSLError included
            self.close(f"connection failed: {error}")
        except Exception:
            logger.exception("reading from member %s failed", self.peer_id)
            self.close("internal error while reading")

    async def _write_loop(self) -> None:
        ping = encode_frame(PING, b"", self._max_frame_size)
        try:
            while True:
                try:
                    async with asyncio.timeout(self._keepalive_interval):
                        batch = await self.queues.take_batch()
                except TimeoutError:
                    batch = [ping]  # idle: tell the peer we are alive
                self._writer.writelines(batch)
                await self._writer.drain()
                self._counters.frames_out += len(batch)
                self._counters.bytes_out += sum(len(frame) for frame in batch)
        except OSError as error:  # ConnectionError and ssl.SSLError included
            self.close(f"connection failed: {error}")


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``, aborting it if the peer does not finish the TLS shutdown."""
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
