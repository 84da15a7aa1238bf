"""Block sync: notice that peers are ahead and fetch the missing blocks.

Every node tells its peers its head (``STATUS``: on connect and with each new
block). A node is behind when a peer's head is at least two blocks ahead, or
one block ahead while the local head has not moved for ``STALL_SECONDS`` (a
validator is normally one block behind only for the instant between its peers'
commits and its own). It then asks the peer with the highest head for up to
``BATCH_BLOCKS`` blocks after its own head (``GET_BLOCKS``), waits for the
answer (``BLOCKS``) and hands it to the chain thread, which imports each block
with ``import_block``: committed seals checked against the validator set of
the block's own height (votes in earlier blocks change it), transactions
checked for sender permission, the block re-executed. It repeats until no
peer is ahead; a validator's driver moves to the new head with each block and
takes part in consensus again once there.

A peer that does not answer within ``REQUEST_TIMEOUT_SECONDS``, or sends a
block that fails import, is not asked again for ``PENALTY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import rlp

from chain.ledger import Ledger
from node.consensus.host import ChainThread

logger = logging.getLogger(__name__)

BATCH_BLOCKS = 64
# A BLOCKS answer stops adding blocks past this many bytes (frames are 8 MiB).
MAXIMUM_ANSWER_BYTES = 4 * 1024 * 1024
STALL_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 10.0
PENALTY_SECONDS = 10.0
POLL_SECONDS = 0.2


class SyncError(Exception):
    """A peer's sync message is malformed."""


def encode_status(block_number: int, block_hash: bytes) -> bytes:
    return bytes(rlp.encode([block_number, block_hash]))


def decode_status(payload: bytes) -> int:
    """Return the head block number in a ``STATUS`` payload."""
    try:
        block_number, block_hash = rlp.decode(payload)
        if len(block_hash) != 32:
            raise SyncError("status block hash is not 32 bytes")
        number: int = rlp.sedes.big_endian_int.deserialize(block_number)
        return number
    except (rlp.exceptions.RLPException, ValueError, TypeError) as error:
        raise SyncError(f"malformed status: {error}") from None


def encode_request(first_block: int, count: int) -> bytes:
    return bytes(rlp.encode([first_block, count]))


def decode_request(payload: bytes) -> tuple[int, int]:
    """Return (first block number, count) from a ``GET_BLOCKS`` payload."""
    try:
        first, count = rlp.decode(payload)
        integer = rlp.sedes.big_endian_int
        return integer.deserialize(first), min(integer.deserialize(count), BATCH_BLOCKS)
    except (rlp.exceptions.RLPException, ValueError, TypeError) as error:
        raise SyncError(f"malformed block request: {error}") from None


def decode_blocks(payload: bytes) -> list[tuple[int, bytes]]:
    """Return (block number, RLP block) pairs from a ``BLOCKS`` payload."""
    try:
        items = rlp.decode(payload)
        integer = rlp.sedes.big_endian_int
        return [(integer.deserialize(number), bytes(block)) for number, block in items]
    except (rlp.exceptions.RLPException, ValueError, TypeError) as error:
        raise SyncError(f"malformed blocks: {error}") from None


def read_blocks(ledger: Ledger, first_block: int, count: int) -> bytes:
    """Return the ``BLOCKS`` answer to a request, read from the ledger."""
    items: list[list[object]] = []
    size = 0
    for block_number in range(first_block, first_block + count):
        header = ledger.header_by_number(block_number)
        if header is None:
            break
        encoded = ledger.encoded_block_of(header)
        if items and size + len(encoded) > MAXIMUM_ANSWER_BYTES:
            break
        items.append([block_number, encoded])
        size += len(encoded)
    return bytes(rlp.encode(items))


class BlockSync:
    """Tracks peers' heads and fetches blocks while this node is behind."""

    def __init__(
        self,
        ledger: Ledger,
        chain: ChainThread,
        request: Callable[[str, int, int], Awaitable[None]],
        on_bad_peer: Callable[[str, str], None],
    ) -> None:
        self._ledger = ledger
        self._chain = chain
        self._request = request
        self._on_bad_peer = on_bad_peer
        self.peer_heads: dict[str, int] = {}
        self._penalised_until: dict[str, float] = {}
        self._answer: asyncio.Future[list[tuple[int, bytes]]] | None = None
        self._asked: str | None = None
        self._head_number = ledger.head.block_number
        self._head_moved_at = time.monotonic()
        self.syncing = False

    def note_head(self, peer_id: str, block_number: int) -> None:
        """Record that ``peer_id`` has a head at least at ``block_number``."""
        self.peer_heads[peer_id] = max(self.peer_heads.get(peer_id, 0), block_number)

    def set_head(self, peer_id: str, block_number: int) -> None:
        """Record ``peer_id``'s head as it reported it."""
        self.peer_heads[peer_id] = block_number

    def forget(self, peer_id: str) -> None:
        self.peer_heads.pop(peer_id, None)

    def on_blocks(self, peer_id: str, payload: bytes) -> None:
        """Take a ``BLOCKS`` answer; one nobody asked for is ignored."""
        if self._answer is None or self._answer.done() or peer_id != self._asked:
            return
        try:
            self._answer.set_result(decode_blocks(payload))
        except SyncError as error:
            self._answer.set_exception(error)

    @property
    def best_peer_head(self) -> int:
        return max(self.peer_heads.values(), default=0)

    async def run(self) -> None:
        """Fetch blocks whenever a peer is ahead, until cancelled."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            peer_id = self._peer_to_ask()
            if peer_id is None:
                self.syncing = False
                continue
            self.syncing = True
            await self._fetch_from(peer_id)

    def _peer_to_ask(self) -> str | None:
        head = self._ledger.head.block_number
        now = time.monotonic()
        if head != self._head_number:
            self._head_number, self._head_moved_at = head, now
        candidates = [
            (block_number, peer_id)
            for peer_id, block_number in self.peer_heads.items()
            if block_number > head and self._penalised_until.get(peer_id, 0) <= now
        ]
        if not candidates:
            return None
        best, peer_id = max(candidates)
        stalled = now - self._head_moved_at >= STALL_SECONDS
        if best >= head + 2 or stalled:
            return peer_id
        return None

    async def _fetch_from(self, peer_id: str) -> None:
        first = self._ledger.head.block_number + 1
        count = min(BATCH_BLOCKS, self.peer_heads[peer_id] - first + 1)
        loop = asyncio.get_running_loop()
        self._answer, self._asked = loop.create_future(), peer_id
        try:
            await self._request(peer_id, first, count)
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                blocks = await self._answer
        except TimeoutError:
            self._penalise(peer_id, "did not answer a block request in time")
            return
        except Exception as error:
            self._penalise(peer_id, f"block request failed: {error}")
            return
        finally:
            self._answer, self._asked = None, None

        imported = await self._import(peer_id, blocks)
        if imported == 0 and self._ledger.head.block_number < first:
            # The peer claimed a head it could not serve, or served bad blocks.
            self._penalise(peer_id, "sent no block that extends this node's head")
        else:
            logger.debug("synced %d blocks from %s", imported, peer_id)

    async def _import(self, peer_id: str, blocks: Sequence[tuple[int, bytes]]) -> int:
        if not blocks:
            return 0
        done = self._chain.submit_blocks(peer_id, blocks)
        return await asyncio.wrap_future(done)

    def _penalise(self, peer_id: str, reason: str) -> None:
        self._penalised_until[peer_id] = time.monotonic() + PENALTY_SECONDS
        self.peer_heads.pop(peer_id, None)
        self._on_bad_peer(peer_id, reason)
