"""The peer network: one TLS 1.3 connection to each configured member.

A ``PeerNetwork`` listens on its address and dials every peer that has one. Each
connection is authenticated both ways (the TLS layer requires a certificate from the
trust store of pinned peers, see ``node.transport.tls``), then pinned: a dialled peer
must present the certificate pinned for the member we dialled, an accepting peer is
whichever member its certificate's fingerprint is pinned to. Next both sides exchange
a ``HELLO`` (protocol version and member id); only then is the connection live (see
``node.transport.handshake``). Nothing unconfigured is ever dialled or kept;
``update_peers`` swaps the table when the consortium changes.

One connection per pair of members: when both dial at once, the connection dialled by
the member with the lower id wins on both sides; when a peer opens a second connection
in the same direction (it restarted), the newer one replaces the older.

A dropped peer is redialled after an exponential backoff with jitter: the n-th retry
waits a random time between half and all of ``min(reconnect_max_delay,
reconnect_initial_delay * 2**n)``, so no wait exceeds the cap.

Logging: INFO when a peer connects or disconnects; WARNING for a bad frame, and for a
rejected or failed TLS peer once per peer address and reason (repeats go to DEBUG, the
counters still count them), so an unknown host retrying cannot flood the log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import ssl
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from node.transport.connection import (
    Direction,
    PeerConnection,
    PeerStatus,
    TransportCounters,
)
from node.transport.errors import (
    IdentityError,
    PeerError,
    PeerNotConnected,
    SendTimeout,
    TransportError,
    UnknownPeer,
)
from node.transport.frames import (
    DEFAULT_MAX_FRAME_SIZE,
    Delivery,
    encode_frame,
    validate_kinds,
)
from node.transport.handshake import (
    HANDSHAKE_ERRORS,
    OUR_REFUSALS,
    accept_member,
    describe_failure,
    dial_member,
    format_address,
)
from node.transport.identity import TransportIdentity
from node.transport.peers import Peer, PeerTable
from node.transport.tls import create_client_context, create_server_context

logger = logging.getLogger(__name__)

_WARNED_LIMIT = 1024


@dataclass(frozen=True)
class NetworkConfig:
    """Limits and timings of a ``PeerNetwork``; the defaults suit a consortium LAN."""

    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    """Largest frame (kind byte plus payload) sent or accepted, in bytes."""
    send_queue_size: int = 1024
    """Frames queued per peer and per delivery class."""
    receive_queue_size: int = 4096
    """Received messages waiting for the application before readers pause."""
    send_timeout: float = 10.0
    """How long a reliable send waits for room before the peer is dropped."""
    handshake_timeout: float = 5.0
    """Connect, TLS handshake and hello exchange together, in seconds."""
    keepalive_interval: float = 5.0
    """An idle connection sends a ping this often."""
    idle_timeout: float = 20.0
    """A connection that receives nothing for this long is dropped."""
    reconnect_initial_delay: float = 0.25
    reconnect_max_delay: float = 10.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) <= 0:
                raise ValueError(f"NetworkConfig.{field.name} must be positive")
        if self.idle_timeout <= self.keepalive_interval:
            raise ValueError(
                "NetworkConfig.idle_timeout must exceed keepalive_interval, or idle "
                "but healthy connections would be dropped"
            )
        if self.reconnect_max_delay < self.reconnect_initial_delay:
            raise ValueError(
                "NetworkConfig.reconnect_max_delay must be at least "
                "reconnect_initial_delay"
            )


class InboundMessage(NamedTuple):
    """A message received from a peer."""

    peer_id: str
    kind: int
    payload: bytes


class PeerNetwork:
    """Authenticated, framed, queued connections to the configured members."""

    def __init__(
        self,
        identity: TransportIdentity,
        peers: PeerTable,
        kinds: Mapping[int, Delivery],
        *,
        host: str | None = None,
        port: int | None = None,
        config: NetworkConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Prepare (but do not start) the network of ``identity``'s member.

        ``peers`` may include the member itself: its entry then gives the default
        listening ``host`` and ``port`` and must pin ``identity``'s certificate.
        ``kinds`` declares the application's message kinds (16-255) and how each is
        queued. ``rng`` drives the backoff jitter (tests pass a seeded one).

        Rejects with ``IdentityError`` a table that pins another certificate for this
        member, and with ``ValueError`` an invalid kind or a missing listening
        address.
        """
        validate_kinds(kinds)
        member_id = identity.member_id
        own_entry = _own_entry(identity, peers)
        if own_entry is not None:
            host = own_entry.host if host is None else host
            port = own_entry.port if port is None else port
        if host is None or port is None:
            raise ValueError(
                f"no listening address for {member_id!r}: pass host and port or give "
                "the member a host and port in the peer table"
            )

        self.member_id = member_id
        self._identity = identity
        self._peers = peers.without(member_id)
        self._kinds = dict(kinds)
        self._host, self._port = host, port
        self._config = config or NetworkConfig()
        self._rng = rng or random.Random()
        self._counters = TransportCounters()
        self._connections: dict[str, PeerConnection] = {}
        self._ever_connected: set[str] = set()
        self._warned: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._inbound: asyncio.Queue[InboundMessage] = asyncio.Queue(
            self._config.receive_queue_size
        )
        # Set while a peer has no live connection: its dial loop waits on it.
        self._idle = {peer_id: _set_event() for peer_id in self._peers}
        self._dial_tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._server_context = create_server_context(identity, self._peers)
        self._client_context = create_client_context(identity, self._peers)

    def __repr__(self) -> str:
        return f"PeerNetwork({self.member_id!r}, peers={sorted(self._peers)!r})"

    # Lifecycle

    async def start(self) -> None:
        """Listen, and begin dialling every peer that has an address.

        Returns once listening; connections come up in the background (see
        ``wait_for_peers``). Raises ``OSError`` if the address cannot be bound.
        """
        if self._server is not None:
            raise TransportError("the network is already started")
        self._stopping = False
        self._server = await asyncio.start_server(self._accept, self._host, self._port)
        logger.info(
            "member %s listening on %s:%d for %d peers",
            self.member_id,
            *self.listen_address,
            len(self._peers),
        )
        for peer in self._peers.values():
            self._start_dialling(peer)

    async def stop(self) -> None:
        """Close the listener and every connection; queued frames are dropped."""
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        for connection in list(self._connections.values()):
            connection.close("network stopping")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self._dial_tasks.clear()
        logger.info("member %s stopped listening", self.member_id)

    def update_peers(self, peers: PeerTable) -> None:
        """Replace the peer table, for example after a validator-set change.

        Members that left, or whose address or pin changed, are disconnected and no
        longer dialled under their old entry; new and changed members are dialled
        (when started). Connections to unchanged members stay up. Rejects with
        ``IdentityError`` a table that pins another certificate for this member.
        """
        _own_entry(self._identity, peers)
        table = peers.without(self.member_id)
        # New handshakes trust exactly the new table; live ones were checked already.
        self._server_context = create_server_context(self._identity, table)
        self._client_context = create_client_context(self._identity, table)
        previous, self._peers = self._peers, table

        for peer_id, peer in previous.items():
            if table.get(peer_id) != peer:
                self._forget_peer(peer_id)
        for peer_id, peer in table.items():
            if previous.get(peer_id) != peer:
                self._idle[peer_id] = _set_event()
                if self._server is not None:
                    self._start_dialling(peer)
        self._changed.set()

    async def __aenter__(self) -> PeerNetwork:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # Queries

    @property
    def listen_address(self) -> tuple[str, int]:
        """The bound host and port (the real port when started with port 0)."""
        if self._server is None:
            return self._host, self._port
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def connected_peers(self) -> frozenset[str]:
        """Return the ids of the members with a live connection."""
        return frozenset(self._connections)

    def peer_status(self, peer_id: str) -> PeerStatus | None:
        """Return the live connection's details for ``peer_id``, or None."""
        connection = self._connections.get(peer_id)
        return connection.status if connection else None

    def counters(self) -> TransportCounters:
        """Return a snapshot of the counters."""
        return dataclasses.replace(self._counters)

    async def wait_for_peers(
        self, peer_ids: Collection[str] | None = None, timeout: float = 10.0
    ) -> None:
        """Wait until every member in ``peer_ids`` (default: all peers) is connected.

        Raises ``TimeoutError`` if that does not happen within ``timeout`` seconds.
        """
        wanted = set(self._peers if peer_ids is None else peer_ids)
        async with asyncio.timeout(timeout):
            while not wanted <= self._connections.keys():
                self._changed.clear()
                await self._changed.wait()

    # Sending and receiving

    async def send(self, peer_id: str, kind: int, payload: bytes) -> None:
        """Queue one message for ``peer_id``.

        Gossip kinds never wait; reliable kinds wait for room in the peer's queue (see
        ``node.transport.connection``). Rejects with ``ValueError`` an undeclared
        kind, ``FrameTooLarge`` a payload over the frame limit, ``UnknownPeer`` a
        member not in the table, ``PeerNotConnected`` a member without a live
        connection, and ``SendTimeout`` a peer that took no frame in time (its
        connection is then dropped).
        """
        delivery = self._delivery_of(kind)
        frame = encode_frame(kind, payload, self._config.max_frame_size)
        if peer_id not in self._peers:
            raise UnknownPeer(peer_id)
        connection = self._connections.get(peer_id)
        if connection is None:
            raise PeerNotConnected(peer_id)

        await self._enqueue(connection, delivery, frame)

    async def broadcast(self, kind: int, payload: bytes) -> list[str]:
        """Queue one message for every connected peer; return the ids it was queued for.

        Peers that are not connected are skipped. For a reliable kind the queues are
        filled concurrently, so the call waits at most ``send_timeout`` for the
        slowest peer, and a peer that times out is dropped and left out of the
        result. Rejects an undeclared kind and an oversized payload as ``send`` does.
        """
        delivery = self._delivery_of(kind)
        frame = encode_frame(kind, payload, self._config.max_frame_size)
        connections = list(self._connections.values())

        results = await asyncio.gather(
            *(self._enqueue(c, delivery, frame) for c in connections),
            return_exceptions=True,
        )
        queued = []
        for connection, result in zip(connections, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, PeerError):
                raise result
            if result is None:
                queued.append(connection.peer_id)
        return queued

    async def receive(self) -> InboundMessage:
        """Wait for and return the next message from any peer."""
        return await self._inbound.get()

    async def messages(self) -> AsyncIterator[InboundMessage]:
        """Yield received messages forever: ``async for message in net.messages()``."""
        while True:
            yield await self._inbound.get()

    def _delivery_of(self, kind: int) -> Delivery:
        try:
            return self._kinds[kind]
        except KeyError:
            raise ValueError(
                f"message kind {kind} is not declared; declare it when creating the "
                "PeerNetwork"
            ) from None

    async def _enqueue(
        self, connection: PeerConnection, delivery: Delivery, frame: bytes
    ) -> None:
        if delivery is Delivery.GOSSIP:
            connection.queues.put_gossip(frame)
            return
        try:
            await connection.queues.put_reliable(
                frame, connection.peer_id, self._config.send_timeout
            )
        except SendTimeout:
            logger.warning(
                "dropping member %s: its send queue stayed full for %g s",
                connection.peer_id,
                self._config.send_timeout,
            )
            connection.close("send queue stayed full")
            raise

    # Connecting

    async def _dial_loop(self, peer: Peer) -> None:
        idle = self._idle[peer.member_id]
        failures = 0
        first = True
        while True:
            await idle.wait()
            if not first:
                await asyncio.sleep(self._backoff_delay(failures))
            first = False
            if not idle.is_set():  # the peer connected to us meanwhile
                failures = 0
                continue

            try:
                async with asyncio.timeout(self._config.handshake_timeout):
                    status, streams = await dial_member(
                        peer,
                        self._client_context,
                        self.member_id,
                        self._config.max_frame_size,
                    )
            except HANDSHAKE_ERRORS as error:
                failures += 1
                self._counters.failed_dials += 1
                if isinstance(error, OUR_REFUSALS):
                    self._counters.rejected_connections += 1
                self._log_dial_failure(peer, error)
                continue
            failures = 0
            await self._run_connection(self._new_connection(status, streams))

    def _backoff_delay(self, failures: int) -> float:
        config = self._config
        return backoff_delay(
            failures,
            config.reconnect_initial_delay,
            config.reconnect_max_delay,
            self._rng,
        )

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._accept_connection(reader, writer)
        except asyncio.CancelledError:
            # stop() cancels this task. Python 3.11's stream server then calls
            # task.exception() on it, which raises and logs an error, so end the
            # task normally instead; nothing awaits its result.
            pass
        finally:
            self._tasks.discard(task)

    async def _accept_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        address = format_address(writer.get_extra_info("peername"))
        try:
            # TLS starts here rather than in start_server so that its failures reach
            # us: asyncio would otherwise drop them silently.
            async with asyncio.timeout(self._config.handshake_timeout):
                status = await accept_member(
                    (reader, writer),
                    self._server_context,
                    self._peers,
                    self.member_id,
                    self._config.max_frame_size,
                )
        except HANDSHAKE_ERRORS as error:
            writer.transport.abort()
            self._counters.rejected_connections += 1
            reason = describe_failure(error)
            host = address.rsplit(":", 1)[0]
            self._warn_once(
                host, reason, "refused connection from %s: %s", address, reason
            )
            return
        await self._run_connection(self._new_connection(status, (reader, writer)))

    def _new_connection(
        self,
        status: PeerStatus,
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> PeerConnection:
        return PeerConnection(
            status,
            *streams,
            kinds=self._kinds,
            max_frame_size=self._config.max_frame_size,
            send_queue_size=self._config.send_queue_size,
            keepalive_interval=self._config.keepalive_interval,
            idle_timeout=self._config.idle_timeout,
            counters=self._counters,
        )

    # Connection registry

    async def _run_connection(self, connection: PeerConnection) -> None:
        if self._stopping or not self._is_configured(connection.status):
            connection.close("no longer configured")
        elif not self._register(connection):
            connection.close("duplicate connection")
        # run() on a closed connection just closes its stream.
        await connection.run(self._deliver, self._on_closed)

    def _is_configured(self, status: PeerStatus) -> bool:
        # The table may have changed while this connection was being set up.
        peer = self._peers.get(status.peer_id)
        return peer is not None and peer.fingerprint == status.fingerprint

    def _register(self, connection: PeerConnection) -> bool:
        peer_id = connection.peer_id
        existing = self._connections.get(peer_id)
        if existing is not None:
            return self._resolve_duplicate(existing, connection)

        self._connections[peer_id] = connection
        self._idle[peer_id].clear()
        self._changed.set()
        self._counters.connects += 1
        if peer_id in self._ever_connected:
            self._counters.reconnects += 1
        self._ever_connected.add(peer_id)
        self._forget_warnings(peer_id)
        status = connection.status
        logger.info(
            "connected to member %s (%s, %s, %s)",
            peer_id,
            status.direction.value,
            status.address,
            status.tls_version,
        )
        return True

    def _resolve_duplicate(
        self, existing: PeerConnection, connection: PeerConnection
    ) -> bool:
        # Both sides must keep the same connection without talking about it: prefer
        # the one dialled by the lower member id. Two in the same direction mean the
        # peer restarted and the older one is dead, so the newer wins.
        peer_id = connection.peer_id
        preferred = (
            Direction.OUTBOUND if self.member_id < peer_id else Direction.INBOUND
        )
        if existing.direction is preferred and connection.direction is not preferred:
            logger.debug("keeping the %s connection to %s", preferred.value, peer_id)
            return False

        connection.queues.adopt(existing.queues)
        self._connections[peer_id] = connection
        existing.close("replaced by a newer connection")
        logger.debug(
            "member %s: %s connection replaces %s",
            peer_id,
            connection.direction.value,
            existing.direction.value,
        )
        return True

    def _on_closed(self, connection: PeerConnection, reason: str) -> None:
        peer_id = connection.peer_id
        if self._connections.get(peer_id) is not connection:
            return  # a duplicate or replaced connection; the peer is still connected
        del self._connections[peer_id]
        self._idle[peer_id].set()  # present: _forget_peer unregisters before closing
        self._changed.set()
        if not self._stopping:
            logger.info("disconnected from member %s: %s", peer_id, reason)

    async def _deliver(self, peer_id: str, kind: int, payload: bytes) -> None:
        # Waiting here when the application lags stops this connection's reader, so
        # TCP flow control slows the sending peer instead of memory growing.
        await self._inbound.put(InboundMessage(peer_id, kind, payload))

    # Housekeeping

    def _start_dialling(self, peer: Peer) -> None:
        if not peer.dialable:
            return
        task = asyncio.create_task(self._dial_loop(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._dial_tasks[peer.member_id] = task

    def _forget_peer(self, peer_id: str) -> None:
        dial_task = self._dial_tasks.pop(peer_id, None)
        if dial_task is not None:
            dial_task.cancel()
        connection = self._connections.pop(peer_id, None)
        self._idle.pop(peer_id, None)
        if connection is not None:
            connection.close("removed from the peer table")
            logger.info(
                "disconnected from member %s: removed from the peer table", peer_id
            )

    def _log_dial_failure(self, peer: Peer, error: BaseException) -> None:
        reason = describe_failure(error)
        if isinstance(error, OUR_REFUSALS):
            self._warn_once(
                peer.member_id,
                reason,
                "refusing member %s at %s:%s: %s",
                peer.member_id,
                peer.host,
                peer.port,
                reason,
            )
        elif isinstance(error, ssl.SSLError | asyncio.IncompleteReadError):
            # TLS got far enough to reach the member, which then ended it: most
            # likely it does not pin our certificate.
            self._warn_once(
                peer.member_id,
                reason,
                "member %s at %s:%s refused us (%s); check that it pins our "
                "certificate %s",
                peer.member_id,
                peer.host,
                peer.port,
                reason,
                self._identity.fingerprint,
            )
        else:
            logger.debug(
                "cannot reach member %s at %s:%s: %s; retrying",
                peer.member_id,
                peer.host,
                peer.port,
                reason,
            )

    def _warn_once(self, source: str, reason: str, message: str, *args: object) -> None:
        key = (source, reason)
        if key in self._warned:
            logger.debug(message, *args)
            return
        if len(self._warned) >= _WARNED_LIMIT:
            self._warned.clear()  # bound the memory an address-hopping peer can use
        self._warned.add(key)
        logger.warning(message, *args)

    def _forget_warnings(self, peer_id: str) -> None:
        self._warned = {key for key in self._warned if key[0] != peer_id}


def _own_entry(identity: TransportIdentity, peers: PeerTable) -> Peer | None:
    """Return the table's entry for ``identity``; reject one pinning another cert."""
    own_entry = peers.get(identity.member_id)
    if own_entry is not None and own_entry.fingerprint != identity.fingerprint:
        raise IdentityError(
            f"the peer table pins {own_entry.fingerprint} for "
            f"{identity.member_id!r}, but our certificate is {identity.fingerprint}; "
            "peers would refuse us"
        )
    return own_entry


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def backoff_delay(
    failures: int, initial_delay: float, max_delay: float, rng: random.Random
) -> float:
    """Return the wait before the next dial after ``failures`` failed ones.

    A random time between half and all of ``min(max_delay, initial_delay *
    2**failures)``: never more than ``max_delay``.
    """
    ceiling = min(max_delay, initial_delay * 2 ** min(failures, 32))
    # Jitter keeps members that lost each other at the same moment from redialling
    # in lockstep.
    return rng.uniform(ceiling / 2, ceiling)
