"""Send queues: gossip drops its oldest frame, reliable sends wait, stuck peers go."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path

import pytest

from node.transport import PeerNotConnected, SendTimeout, TransportCounters
from node.transport.connection import SendQueues
from tests.node.transport.support import (
    FAST,
    GOSSIP,
    RELIABLE,
    make_consortium,
    run,
    started,
    stopped,
    wait_until,
)

# Big frames fill the loopback socket buffers quickly.
CHUNK = bytes(256 * 1024)
# The receiver's application takes one message and then stops reading.
STALLED = dataclasses.replace(
    FAST, receive_queue_size=1, send_queue_size=4, send_timeout=1.0
)


def test_full_gossip_queue_drops_its_oldest_frame() -> None:
    async def scenario() -> None:
        counters = TransportCounters()
        queues = SendQueues(3, counters)

        for number in range(5):
            queues.put_gossip(bytes((number,)))

        assert await queues.take_batch() == [b"\x02", b"\x03", b"\x04"]
        assert counters.frames_dropped == 2

    run(scenario())


def test_full_reliable_queue_makes_send_wait_for_room() -> None:
    async def scenario() -> None:
        queues = SendQueues(2, TransportCounters())
        await queues.put_reliable(b"1", "bank", timeout=1)
        await queues.put_reliable(b"2", "bank", timeout=1)

        waiting = asyncio.create_task(queues.put_reliable(b"3", "bank", timeout=1))
        await asyncio.sleep(0.05)
        assert not waiting.done()

        assert await queues.take_batch() == [b"1", b"2"]
        await waiting
        assert await queues.take_batch() == [b"3"]

    run(scenario())


def test_reliable_frames_leave_before_gossip() -> None:
    async def scenario() -> None:
        queues = SendQueues(4, TransportCounters())
        queues.put_gossip(b"g1")
        await queues.put_reliable(b"r1", "bank", timeout=1)
        queues.put_gossip(b"g2")

        assert await queues.take_batch() == [b"r1", b"g1", b"g2"]

    run(scenario())


def test_waiting_send_times_out_or_fails_when_the_connection_closes() -> None:
    async def scenario() -> None:
        queues = SendQueues(1, TransportCounters())
        await queues.put_reliable(b"1", "bank", timeout=1)

        with pytest.raises(SendTimeout) as raised:
            await queues.put_reliable(b"2", "bank", timeout=0.05)
        assert (raised.value.peer_id, raised.value.timeout) == ("bank", 0.05)

        waiting = asyncio.create_task(queues.put_reliable(b"3", "bank", timeout=1))
        await asyncio.sleep(0.01)
        queues.close()
        with pytest.raises(PeerNotConnected):
            await waiting

    run(scenario())


def test_reliable_sends_wait_for_a_slow_reader_and_lose_nothing(
    tmp_path: Path,
) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])
    config = dataclasses.replace(STALLED, send_timeout=10.0)

    async def scenario() -> None:
        bank = consortium.network("bank", config=config)
        town = consortium.network("town", config=config)
        await started(bank, town)
        try:

            async def send_all() -> None:
                for number in range(60):
                    await town.send("bank", RELIABLE, number.to_bytes(4, "big") + CHUNK)

            sender = asyncio.create_task(send_all())
            await asyncio.sleep(0.3)  # the bank's application is busy elsewhere
            assert not sender.done(), "15 MB cannot all be buffered: send must wait"

            received = []
            async for message in bank.messages():
                received.append(int.from_bytes(message.payload[:4], "big"))
                if len(received) == 60:
                    break
            await sender
            assert received == list(range(60))
            assert town.counters().frames_dropped == 0
        finally:
            await stopped(bank, town)

    run(scenario())


def test_gossip_never_waits_and_a_stuck_peer_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])

    async def scenario() -> None:
        bank = consortium.network("bank", config=STALLED)
        town = consortium.network("town", config=STALLED)
        await started(bank, town)
        try:
            # The bank never reads: once the sockets are full, gossip overflows.
            slowest = 0.0
            for _ in range(100):
                began = time.monotonic()
                await town.send("bank", GOSSIP, CHUNK)
                slowest = max(slowest, time.monotonic() - began)
                await asyncio.sleep(0.001)  # let the writer run
            assert slowest < 0.05
            assert town.counters().frames_dropped > 0

            began = time.monotonic()
            with pytest.raises(SendTimeout):
                for _ in range(100):
                    await town.send("bank", RELIABLE, CHUNK)
            assert time.monotonic() - began >= STALLED.send_timeout
            await wait_until(lambda: "bank" not in town.connected_peers())
        finally:
            await stopped(bank, town)

    run(scenario())

    assert any(
        "dropping member bank: its send queue stayed full" in record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING
    )
