"""eth_subscribe over WebSocket: newHeads and logs.

The block producer runs on its own thread; it hands each new head to the hub,
which moves it onto the event loop and fans it out to every subscribed
connection's queue. A connection whose queue is full (a client that stopped
reading) is dropped rather than allowed to grow memory without bound.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

from eth.abc import BlockHeaderAPI

from chain.ledger import Ledger
from node.rpc.formatting import format_header
from node.rpc.logs import LogCriteria, logs_of_block

MAX_QUEUED_NOTIFICATIONS = 10_000


@dataclass(eq=False)  # identity-hashed: connections live in a set
class Connection:
    """One WebSocket client and its subscriptions."""

    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(MAX_QUEUED_NOTIFICATIONS)
    )
    subscriptions: dict[str, tuple[str, LogCriteria | None]] = field(
        default_factory=dict
    )
    overflowed: bool = False


class SubscriptionHub:
    """Fans new blocks out to WebSocket subscribers."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def connect(self) -> Connection:
        connection = Connection()
        self._connections.add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        self._connections.discard(connection)

    @staticmethod
    def subscribe(
        connection: Connection, kind: str, criteria: LogCriteria | None
    ) -> str:
        subscription_id = "0x" + secrets.token_hex(16)
        connection.subscriptions[subscription_id] = (kind, criteria)
        return subscription_id

    def publish_block(self, header: BlockHeaderAPI) -> None:
        """Called from the producer thread after a block is committed."""
        if self._loop is None or not self._connections:
            return
        self._loop.call_soon_threadsafe(self._fan_out, header)

    def _fan_out(self, header: BlockHeaderAPI) -> None:
        head_json: dict[str, Any] | None = None
        for connection in list(self._connections):
            for subscription_id, (kind, criteria) in connection.subscriptions.items():
                if kind == "newHeads":
                    head_json = head_json or format_header(header)
                    self._push(connection, subscription_id, head_json)
                elif criteria is not None:
                    for log in logs_of_block(self._ledger, header, criteria):
                        self._push(connection, subscription_id, log)

    @staticmethod
    def _push(connection: Connection, subscription_id: str, result: Any) -> None:
        notification = {
            "jsonrpc": "2.0",
            "method": "eth_subscription",
            "params": {"subscription": subscription_id, "result": result},
        }
        try:
            connection.queue.put_nowait(notification)
        except asyncio.QueueFull:
            connection.overflowed = True
            connection.subscriptions.clear()
            while not connection.queue.empty():
                connection.queue.get_nowait()
            connection.queue.put_nowait(None)  # tells the writer to close
