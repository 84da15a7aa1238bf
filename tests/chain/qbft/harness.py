"""A deterministic in-process QBFT network: state machines, a message bus, fake time.

Blocks are toy RLP lists ``[height, round, proposer, parent digest, body]`` whose
digest is their keccak; the host side (building, validating, importing, syncing)
is simulated here so tests drive only the state machines' real code.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import rlp
from eth_typing import Address
from eth_utils.crypto import keccak

from chain.errors import BlockRejected
from chain.qbft.events import (
    BlockBuilt,
    BlockFacts,
    BlockTimerExpired,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Effect,
    Event,
    MessageReceived,
    MessageRejected,
    NewChainHead,
    QbftConfig,
    RoundTimerExpired,
    StartBlockTimer,
    StartRoundTimer,
    ValidateBlock,
)
from chain.qbft.signing import address_of_private_key
from chain.qbft.state_machine import QbftStateMachine

GENESIS_PROPOSER = Address(b"\x00" * 20)
GENESIS_DIGEST = keccak(b"genesis")
GENESIS_TIME = 1_000.0


def validator_key(index: int) -> bytes:
    """Return a fixed private key for simulated validator ``index``."""
    return keccak(f"qbft test validator {index}".encode())


class ToyBlocks:
    """``BlockInterface`` over ``RLP([height, round, proposer, parent, body])``."""

    def describe(self, block: bytes) -> BlockFacts:
        height, round_number, proposer, _, _ = self._fields(block)
        return BlockFacts(height, round_number, proposer, keccak(block))

    def replace_round(
        self, block: bytes, round_number: int, proposer: Address
    ) -> bytes:
        height, _, _, parent, body = self._fields(block)
        return make_block(height, round_number, proposer, parent, body)

    @staticmethod
    def _fields(block: bytes) -> tuple[int, int, Address, bytes, bytes]:
        try:
            height, round_number, proposer, parent, body = rlp.decode(block)
            return (
                int.from_bytes(height, "big"),
                int.from_bytes(round_number, "big"),
                Address(proposer),
                parent,
                body,
            )
        except (rlp.exceptions.RLPException, ValueError, TypeError):
            raise BlockRejected(0, "not a toy block") from None


def make_block(
    height: int, round_number: int, proposer: Address, parent: bytes, body: bytes
) -> bytes:
    """Return the toy block with these fields."""
    return bytes(rlp.encode([height, round_number, bytes(proposer), parent, body]))


@dataclass
class _Sync:
    """Harness event: the node fetches committed blocks it is missing."""


@dataclass
class SimulatedNode:
    """One validator: its machine, its chain and what it decided."""

    index: int
    key: bytes
    machine: QbftStateMachine
    online: bool = True
    incarnation: int = 0
    chain: dict[int, tuple[bytes, Address]] = field(default_factory=dict)
    decisions: dict[int, CommitBlock] = field(default_factory=dict)
    rejections: list[MessageRejected] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    @property
    def address(self) -> Address:
        return self.machine.address

    @property
    def head(self) -> int:
        return max(self.chain)


class Network:
    """Validators joined by a bus with latency, optional drops and duplicates."""

    def __init__(
        self,
        validator_count: int,
        config: QbftConfig | None = None,
        *,
        latency: float = 0.05,
        rng: random.Random | None = None,
        drop_rate: float = 0.0,
        duplicate_rate: float = 0.0,
        maximum_jitter: float = 0.0,
        sync_delay: float = 1.0,
    ) -> None:
        self.config = config or QbftConfig(
            block_period_seconds=1.0,
            request_timeout_seconds=2.0,
            maximum_round_timeout_seconds=16.0,
        )
        self.blocks = ToyBlocks()
        self.latency = latency
        self.rng = rng or random.Random(0)
        self.drop_rate = drop_rate
        self.duplicate_rate = duplicate_rate
        self.maximum_jitter = maximum_jitter
        self.sync_delay = sync_delay
        self.now = GENESIS_TIME
        self.nodes = [self._new_node(index) for index in range(validator_count)]
        self.validators = tuple(node.address for node in self.nodes)
        self.canonical: dict[int, CommitBlock] = {}
        self.conflicts: list[tuple[CommitBlock, CommitBlock]] = []
        self.messages_sent = 0
        self._queue: list[tuple[float, int, int, int, Event | _Sync]] = []
        self._sequence = 0
        # A test hook: it sees every effect first and returns True when it has
        # dealt with the effect itself (a byzantine node rewriting its messages).
        self.on_effect: Callable[[SimulatedNode, Effect], bool] | None = None

    # --- control ------------------------------------------------------------------

    def start(self) -> None:
        """Give every online node the genesis head."""
        for node in self.nodes:
            node.chain = {0: (GENESIS_DIGEST, GENESIS_PROPOSER)}
            if node.online:
                self._deliver(node, self._head_event(0, GENESIS_PROPOSER, GENESIS_TIME))

    def crash(self, index: int) -> None:
        """Stop node ``index``: its state, timers and in-flight messages are lost."""
        node = self.nodes[index]
        node.online = False
        node.incarnation += 1

    def restart(self, index: int) -> None:
        """Start node ``index`` afresh from its chain, then let it sync."""
        node = self.nodes[index]
        node.online = True
        node.incarnation += 1
        node.machine = QbftStateMachine(self.config, node.key, self.blocks)
        digest, proposer = node.chain[node.head]
        self._deliver(node, self._head_event(node.head, proposer, self.now))
        self._schedule(self.now, node, _Sync())

    def run_until(
        self, time_limit: float, stop: Callable[[], bool] = lambda: False
    ) -> None:
        """Process events in time order until ``time_limit`` or ``stop()``."""
        while self._queue and not stop():
            when, _, index, incarnation, event = self._queue[0]
            if when > time_limit:
                break
            heapq.heappop(self._queue)
            self.now = max(self.now, when)
            node = self.nodes[index]
            if node.online and node.incarnation == incarnation:
                self._deliver(node, event)
        if not stop():
            self.now = max(self.now, time_limit)

    def all_reached(self, height: int) -> Callable[[], bool]:
        """Return a stop condition: every online node has block ``height``."""
        return lambda: all(n.head >= height for n in self.nodes if n.online)

    def inject(self, index: int, event: Event, delay: float = 0.0) -> None:
        """Schedule ``event`` for node ``index`` after ``delay``."""
        self._schedule(self.now + delay, self.nodes[index], event)

    # --- the simulated host -------------------------------------------------------

    def _new_node(self, index: int) -> SimulatedNode:
        key = validator_key(index)
        machine = QbftStateMachine(self.config, key, ToyBlocks())
        assert machine.address == address_of_private_key(key)
        return SimulatedNode(index, key, machine)

    def _head_event(self, number: int, proposer: Address, timestamp: float) -> Event:
        return NewChainHead(number, proposer, self.validators, timestamp)

    def _deliver(self, node: SimulatedNode, event: Event | _Sync) -> None:
        if isinstance(event, _Sync):
            self._sync(node)
            return
        for effect in node.machine.handle(event):
            node.effects.append(effect)
            if self.on_effect is not None and self.on_effect(node, effect):
                continue
            self._carry_out(node, effect)

    def _carry_out(self, node: SimulatedNode, effect: Effect) -> None:
        height = node.machine.height
        if isinstance(effect, Broadcast):
            self.broadcast_from(node, effect)
        elif isinstance(effect, StartBlockTimer):
            self._schedule(
                max(self.now, effect.expires_at), node, BlockTimerExpired(effect.height)
            )
        elif isinstance(effect, StartRoundTimer):
            self._schedule(
                self.now + effect.duration_seconds,
                node,
                RoundTimerExpired(effect.height, effect.round),
            )
        elif isinstance(effect, BuildBlock):
            parent, _ = node.chain[effect.height - 1]
            body = f"block by {node.index} at {effect.height}/{effect.round}".encode()
            block = make_block(effect.height, effect.round, node.address, parent, body)
            self._schedule(
                self.now, node, BlockBuilt(effect.height, effect.round, block)
            )
        elif isinstance(effect, ValidateBlock):
            reply = BlockValidated(effect.height, effect.round, effect.digest)
            self._schedule(self.now + 0.01, node, reply)
        elif isinstance(effect, CommitBlock):
            assert height == effect.height
            self._record_decision(node, effect)
        elif isinstance(effect, MessageRejected):
            node.rejections.append(effect)

    def broadcast_from(self, sender: SimulatedNode, effect: Broadcast) -> None:
        """Deliver ``effect`` from ``sender`` to every other online node."""
        for node in self.nodes:
            if node is sender or not node.online:
                continue
            copies = 0 if self.rng.random() < self.drop_rate else 1
            if copies and self.rng.random() < self.duplicate_rate:
                copies = 2
            for _ in range(copies):
                delay = self.latency + self.rng.random() * self.maximum_jitter
                message = MessageReceived(effect.message_code, effect.data)
                self._schedule(self.now + delay, node, message)
                self.messages_sent += 1

    def _record_decision(self, node: SimulatedNode, decision: CommitBlock) -> None:
        node.decisions[decision.height] = decision
        first = self.canonical.setdefault(decision.height, decision)
        if first.digest != decision.digest:
            self.conflicts.append((first, decision))
        self._import(node, decision.height)
        for other in self.nodes:
            if other is not node and other.online:
                self._schedule(self.now + self.sync_delay, other, _Sync())

    def _import(self, node: SimulatedNode, height: int) -> None:
        decision = self.canonical[height]
        proposer = self.blocks.describe(decision.block).proposer
        node.chain[height] = (decision.digest, proposer)
        self._schedule(self.now, node, self._head_event(height, proposer, self.now))

    def _sync(self, node: SimulatedNode) -> None:
        while node.head + 1 in self.canonical:
            self._import(node, node.head + 1)

    def _schedule(self, when: float, node: SimulatedNode, event: Event | _Sync) -> None:
        self._sequence += 1
        entry = (when, self._sequence, node.index, node.incarnation, event)
        heapq.heappush(self._queue, entry)
