"""A small consortium of transport identities on 127.0.0.1, for the transport tests."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from node.ports import free_port
from node.transport import (
    Delivery,
    NetworkConfig,
    PeerNetwork,
    PeerTable,
    TransportIdentity,
    create_member_identities,
    load_permissions_file,
)
from node.transport.frames import HELLO, encode_frame, encode_hello, read_frame
from node.transport.tls import create_client_context

HOST = "127.0.0.1"
GOSSIP = 16
RELIABLE = 17
KINDS = {GOSSIP: Delivery.GOSSIP, RELIABLE: Delivery.RELIABLE}

# Short timings so that reconnects and timeouts happen within a test's budget.
FAST = NetworkConfig(
    max_frame_size=1024 * 1024,
    send_queue_size=64,
    send_timeout=2.0,
    handshake_timeout=2.0,
    keepalive_interval=1.0,
    idle_timeout=5.0,
    reconnect_initial_delay=0.05,
    reconnect_max_delay=0.5,
)

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run ``coroutine`` in a fresh event loop, failing after ``timeout`` seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


@dataclass
class Consortium:
    """Identities on disk, a permissions file listing them, and its peer table."""

    directory: Path
    identities: dict[str, TransportIdentity]
    ports: dict[str, int]
    table: PeerTable

    def entry(self, member_id: str, *, with_address: bool = True) -> dict[str, Any]:
        """Return the permissions-file entry of ``member_id``."""
        identity = self.identities[member_id]
        entry: dict[str, Any] = {
            "id": member_id,
            "fingerprint": identity.fingerprint,
            "certificate": identity.certificate_pem.decode(),
        }
        if with_address:
            entry |= {"host": HOST, "port": self.ports[member_id]}
        return entry

    def network(
        self,
        member_id: str,
        *,
        table: PeerTable | None = None,
        identity: TransportIdentity | None = None,
        config: NetworkConfig = FAST,
    ) -> PeerNetwork:
        """Return (unstarted) the network of ``member_id`` on its port."""
        return PeerNetwork(
            identity or self.identities[member_id],
            table or self.table.without(member_id),
            KINDS,
            host=HOST,
            port=self.ports[member_id],
            config=config,
        )


def make_consortium(directory: Path, member_ids: Iterable[str]) -> Consortium:
    """Create identities and a permissions file (``certificateFile`` form) for them."""
    identities = create_member_identities(directory, member_ids)
    ports = {member_id: free_port() for member_id in identities}
    members = [
        {
            "id": member_id,
            "host": HOST,
            "port": ports[member_id],
            "fingerprint": identity.fingerprint,
            "certificateFile": f"{member_id}/transport.crt",
        }
        for member_id, identity in identities.items()
    ]
    permissions = directory / "permissions.json"
    permissions.write_text(json.dumps({"members": members}, indent=2))
    return Consortium(directory, identities, ports, load_permissions_file(permissions))


async def wait_until(
    condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01
) -> None:
    """Poll ``condition`` until it holds; raise ``TimeoutError`` after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(interval)


async def started(*networks: PeerNetwork) -> None:
    """Start every network concurrently and wait until all are fully connected."""
    await asyncio.gather(*(network.start() for network in networks))
    await asyncio.gather(*(network.wait_for_peers(timeout=5) for network in networks))


async def stopped(*networks: PeerNetwork) -> None:
    await asyncio.gather(*(network.stop() for network in networks))


async def open_member_stream(
    consortium: Consortium, member_id: str, target: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``target`` as ``member_id`` by hand: TLS and hello, nothing more.

    Lets a test speak for a real member and then misbehave on the wire.
    """
    context = create_client_context(
        consortium.identities[member_id], consortium.table.without(member_id)
    )
    reader, writer = await asyncio.open_connection(
        HOST, consortium.ports[target], ssl=context
    )
    writer.write(encode_frame(HELLO, encode_hello(member_id), FAST.max_frame_size))
    await writer.drain()
    kind, _ = await read_frame(reader, FAST.max_frame_size)
    assert kind == HELLO
    return reader, writer


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Read until the other side closes; a reset or TLS alert counts as closed."""
    received = b""
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    return received
