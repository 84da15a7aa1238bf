"""What members' nodes say to each other over the peer network.

Message kinds (node.transport frames, kinds 16-255)::

    QBFT          RELIABLE  one QBFT message: its code byte, then its RLP
    TRANSACTIONS  GOSSIP    RLP list of raw signed transactions
    NEW_BLOCK     GOSSIP    RLP [block number, RLP block]: a committed block
    STATUS        GOSSIP    RLP [head block number, head hash]
    GET_BLOCKS    RELIABLE  RLP [first block number, count]
    BLOCKS        RELIABLE  RLP list of [block number, RLP block]

A transaction admitted through ``eth_sendRawTransaction`` is sent to every
peer; one received from a peer goes into the local pool and is not sent on,
since every member is connected to every other. With each new head a node
sends ``STATUS`` to all peers and the block itself to the peers that do not
validate (the regulator's observer), which follow by import rather than by
consensus. See ``node.sync`` for ``STATUS``, ``GET_BLOCKS`` and ``BLOCKS``.

Logging: WARNING once per (peer, problem) for a bad message or block; repeats
are counted and logged at DEBUG.

QBFT messages and transactions go only to the peers whose node key is in the
validator set of the next block (and to peers of unknown key); the others get
each new block pushed instead. A peer may ask for blocks (``GET_BLOCKS``) at most
``BLOCK_REQUESTS_PER_SECOND`` times a second on average, in bursts of up to
``BLOCK_REQUEST_BURST``: a faulty member cannot keep this node reading and
sending blocks as fast as it asks. Sync asks for one batch at a time, well
below the limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI
from eth_typing import Address

from chain.errors import AlreadyKnown, TransactionRejected
from chain.ledger import Ledger
from node.consensus.host import ChainThread
from node.sync import (
    BlockSync,
    SyncError,
    decode_request,
    decode_status,
    encode_request,
    encode_status,
    read_blocks,
)
from node.transport.errors import TransportError
from node.transport.frames import Delivery
from node.transport.network import InboundMessage, PeerNetwork

logger = logging.getLogger(__name__)

QBFT = 16
TRANSACTIONS = 17
NEW_BLOCK = 18
STATUS = 19
GET_BLOCKS = 20
BLOCKS = 21

MESSAGE_KINDS = {
    QBFT: Delivery.RELIABLE,
    TRANSACTIONS: Delivery.GOSSIP,
    NEW_BLOCK: Delivery.GOSSIP,
    STATUS: Delivery.GOSSIP,
    GET_BLOCKS: Delivery.RELIABLE,
    BLOCKS: Delivery.RELIABLE,
}
# Transactions admitted in one loop iteration travel in one frame, up to this many.
TRANSACTIONS_PER_FRAME = 256
PEER_POLL_SECONDS = 0.5
BLOCK_REQUESTS_PER_SECOND = 4.0
BLOCK_REQUEST_BURST = 8
_WARNED_LIMIT = 4096


class RequestBudget:
    """A token bucket per peer: ``burst`` requests at once, ``rate`` a second after."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}  # peer -> (tokens, when)

    def allow(self, peer_id: str) -> bool:
        """Spend one of ``peer_id``'s requests; False if it has none left."""
        now = self._clock()
        tokens, since = self._tokens.get(peer_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) * self.rate)
        allowed = tokens >= 1.0
        self._tokens[peer_id] = (tokens - 1.0 if allowed else tokens, now)
        return allowed

    def forget(self, peer_id: str) -> None:
        self._tokens.pop(peer_id, None)


class PeerService:
    """Connects the chain thread, the pool and block sync to the peer network."""

    def __init__(
        self,
        network: PeerNetwork,
        ledger: Ledger,
        chain: ChainThread,
        member_addresses: Mapping[str, Address],
    ) -> None:
        """``member_addresses`` maps each member id to its node's address."""
        self.network = network
        self.ledger = ledger
        self.chain = chain
        self.member_addresses = dict(member_addresses)
        self.block_requests = RequestBudget(
            BLOCK_REQUESTS_PER_SECOND, BLOCK_REQUEST_BURST
        )
        self.sync = BlockSync(ledger, chain, self._request_blocks, self.warn_peer)
        self.bad_messages: Counter[str] = Counter()
        self._warned: set[tuple[str, str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outgoing_transactions: list[bytes] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_bad_message: Callable[[], None] = lambda: None

    # --- lifecycle (on the loop) ------------------------------------------------

    async def start(self) -> None:
        """Start the network and the tasks that read it and keep peers informed."""
        self._loop = asyncio.get_running_loop()
        await self.network.start()
        for coroutine in (self._read_messages(), self.sync.run(), self._greet_peers()):
            self._spawn(coroutine)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.network.stop()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("peer task failed", exc_info=task.exception())

    # --- called from other threads ------------------------------------------------

    def send_qbft(self, message_code: int, data: bytes) -> None:
        """Send a QBFT message to the validators' peers (the driver's ``send``)."""
        self._threadsafe(self._send_to_validators, bytes((message_code,)) + data)

    def gossip_transaction(self, raw: bytes) -> None:
        """Send a transaction this node admitted to the validators' peers."""
        self._threadsafe(self._queue_transaction, raw)

    def announce_block(self, header: BlockHeaderAPI) -> None:
        """Tell peers about a new head (called by the chain or producer thread)."""
        self._threadsafe(self._announce, header)

    def report_bad_block(self, peer_id: str, problem: str) -> None:
        """Warn about a block from ``peer_id`` that failed import."""
        self._threadsafe(self.warn_peer, peer_id, problem)

    def _threadsafe(self, callback: Any, *arguments: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *arguments)

    # --- sending (on the loop) ----------------------------------------------------

    def _broadcast(self, kind: int, payload: bytes) -> None:
        self._spawn(self.network.broadcast(kind, payload))

    def _send_to_validators(self, payload: bytes) -> None:
        for peer_id in self._validator_peers():
            self._send(peer_id, QBFT, payload)

    def _validator_peers(self) -> frozenset[str]:
        """Connected peers that validate the next block, or may: unknown keys."""
        validators = self.ledger.validators_after(self.ledger.head)
        known = self.member_addresses
        return frozenset(
            peer_id
            for peer_id in self.network.connected_peers()
            if peer_id not in known or known[peer_id] in validators
        )

    def _send(self, peer_id: str, kind: int, payload: bytes) -> None:
        self._spawn(self._send_quietly(peer_id, kind, payload))

    async def _send_quietly(self, peer_id: str, kind: int, payload: bytes) -> None:
        try:
            await self.network.send(peer_id, kind, payload)
        except TransportError as error:
            logger.debug("could not send kind %d to %s: %s", kind, peer_id, error)

    def _queue_transaction(self, raw: bytes) -> None:
        # Batch what arrives in one loop iteration into one frame.
        if not self._outgoing_transactions:
            asyncio.get_running_loop().call_soon(self._flush_transactions)
        self._outgoing_transactions.append(raw)

    def _flush_transactions(self) -> None:
        pending, self._outgoing_transactions = self._outgoing_transactions, []
        # Only a validator can include them; an observer would admit each one
        # (a signature recovery) for nothing.
        validators = self._validator_peers()
        for start in range(0, len(pending), TRANSACTIONS_PER_FRAME):
            payload = bytes(rlp.encode(pending[start : start + TRANSACTIONS_PER_FRAME]))
            for peer_id in validators:
                self._send(peer_id, TRANSACTIONS, payload)

    def _announce(self, header: BlockHeaderAPI) -> None:
        self._broadcast(STATUS, encode_status(header.block_number, header.hash))
        observers = self.network.connected_peers() - self._validator_peers()
        if not observers:
            return
        block = self.ledger.encoded_block_of(header)
        payload = bytes(rlp.encode([header.block_number, block]))
        for peer_id in observers:
            self._send(peer_id, NEW_BLOCK, payload)

    async def _request_blocks(self, peer_id: str, first: int, count: int) -> None:
        await self.network.send(peer_id, GET_BLOCKS, encode_request(first, count))

    async def _greet_peers(self) -> None:
        # The transport has no connect event; poll for newly connected peers and
        # tell each our head, so that a node that is behind learns it at once.
        greeted: frozenset[str] = frozenset()
        while True:
            connected = self.network.connected_peers()
            head = self.ledger.head
            for peer_id in connected - greeted:
                self._send(peer_id, STATUS, encode_status(head.block_number, head.hash))
            for peer_id in greeted - connected:
                self.sync.forget(peer_id)
                self.block_requests.forget(peer_id)
            greeted = connected
            await asyncio.sleep(PEER_POLL_SECONDS)

    # --- receiving (on the loop) ----------------------------------------------------

    async def _read_messages(self) -> None:
        async for message in self.network.messages():
            try:
                self._dispatch(message)
            except (SyncError, rlp.exceptions.RLPException, ValueError) as error:
                self.warn_peer(
                    message.peer_id, f"malformed kind {message.kind}: {error}"
                )

    def _dispatch(self, message: InboundMessage) -> None:
        peer_id, kind, payload = message
        if kind == QBFT:
            if not payload:
                raise ValueError("empty QBFT message")
            self.chain.submit_message(payload[0], payload[1:])
        elif kind == TRANSACTIONS:
            transactions = rlp.decode(payload)
            if not isinstance(transactions, list) or not all(
                isinstance(raw, bytes) for raw in transactions
            ):
                raise ValueError("transactions are not a list of byte strings")
            self._spawn(asyncio.to_thread(self._admit, peer_id, transactions))
        elif kind == NEW_BLOCK:
            self._on_new_block(peer_id, payload)
        elif kind == STATUS:
            self.sync.set_head(peer_id, decode_status(payload))
        elif kind == GET_BLOCKS:
            first, count = decode_request(payload)
            if not self.block_requests.allow(peer_id):
                self.warn_peer(peer_id, "block requests over the limit, ignored")
                return
            self._spawn(self._answer_request(peer_id, first, count))
        elif kind == BLOCKS:
            self.sync.on_blocks(peer_id, payload)

    def _on_new_block(self, peer_id: str, payload: bytes) -> None:
        number_bytes, encoded = rlp.decode(payload)
        block_number = rlp.sedes.big_endian_int.deserialize(number_bytes)
        self.sync.note_head(peer_id, block_number)
        if block_number == self.ledger.head.block_number + 1:
            self.chain.submit_blocks(peer_id, [(block_number, bytes(encoded))])

    def _admit(self, peer_id: str, transactions: list[bytes]) -> None:
        for raw in transactions:
            try:
                self.ledger.submit_transaction(raw)
            except AlreadyKnown:
                pass
            except TransactionRejected as error:
                # Routine: a peer's pool may be a block ahead (nonce too low).
                logger.debug("transaction from %s not pooled: %s", peer_id, error)

    async def _answer_request(self, peer_id: str, first: int, count: int) -> None:
        answer = await asyncio.to_thread(read_blocks, self.ledger, first, count)
        await self._send_quietly(peer_id, BLOCKS, answer)

    # --- faults --------------------------------------------------------------------

    def warn_peer(self, peer_id: str, problem: str) -> None:
        """Log a peer's bad message or block: WARNING the first time, then DEBUG."""
        self.bad_messages[peer_id] += 1
        self.on_bad_message()
        key = (peer_id, problem)
        if key in self._warned or len(self._warned) >= _WARNED_LIMIT:
            logger.debug("again from peer %s: %s", peer_id, problem)
            return
        self._warned.add(key)
        logger.warning("peer %s: %s (further ones are only counted)", peer_id, problem)
