"""A member that drops out is redialled with capped, jittered exponential backoff."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from node.transport import build_peer_table
from node.transport.network import backoff_delay
from tests.node.transport.support import (
    FAST,
    RELIABLE,
    make_consortium,
    run,
    started,
    stopped,
    wait_until,
)


@given(st.integers(0, 100), st.integers(0, 2**32))
def test_backoff_grows_from_the_initial_delay_and_never_passes_the_cap(
    failures: int, seed: int
) -> None:
    delay = backoff_delay(failures, 0.25, 10.0, random.Random(seed))

    ceiling = min(10.0, 0.25 * 2**failures)
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_jittered() -> None:
    rng = random.Random(4)

    delays = {backoff_delay(3, 0.25, 10.0, rng) for _ in range(20)}

    assert len(delays) == 20


def test_restarted_member_is_redialled_within_the_backoff_cap(tmp_path: Path) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])
    # The restarted bank does not dial (town has no address in its table), so the
    # reconnection below is the town's own backoff loop at work.
    listening_only = build_peer_table([consortium.entry("town", with_address=False)])

    async def scenario() -> None:
        bank, town = consortium.network("bank"), consortium.network("town")
        await started(bank, town)
        try:
            await bank.stop()
            await wait_until(lambda: not town.connected_peers())
            # Long enough for several failed dials, so the backoff reaches its cap.
            await asyncio.sleep(4 * FAST.reconnect_max_delay)
            assert town.counters().failed_dials >= 4

            bank = consortium.network("bank", table=listening_only)
            await bank.start()
            restarted = time.monotonic()
            await town.wait_for_peers(["bank"], timeout=5)
            elapsed = time.monotonic() - restarted

            assert elapsed <= FAST.reconnect_max_delay + FAST.handshake_timeout / 4
            assert town.counters().reconnects == 1
            await town.send("bank", RELIABLE, b"welcome back")
            assert (await bank.receive()).payload == b"welcome back"
        finally:
            await stopped(bank, town)

    run(scenario())


def test_restarted_member_dials_back_at_once(tmp_path: Path) -> None:
    consortium = make_consortium(tmp_path, ["bank", "shop", "town"])

    async def scenario() -> None:
        networks = {m: consortium.network(m) for m in ["bank", "shop", "town"]}
        await started(*networks.values())
        try:
            await networks["shop"].stop()
            await wait_until(lambda: "shop" not in networks["bank"].connected_peers())

            networks["shop"] = consortium.network("shop")
            await started(networks["shop"])
            for network in networks.values():
                assert len(network.connected_peers()) == 2
        finally:
            await stopped(*networks.values())

    run(scenario())
