"""Members connect over TLS 1.3, keep one connection per pair, and exchange messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from node.transport import (
    Direction,
    FrameTooLarge,
    IdentityError,
    InboundMessage,
    PeerNetwork,
    PeerNotConnected,
    UnknownPeer,
)
from tests.node.transport.support import (
    FAST,
    GOSSIP,
    KINDS,
    RELIABLE,
    make_consortium,
    run,
    started,
    stopped,
    wait_until,
)

MEMBERS = ["bank", "shop", "town"]


def test_three_members_exchange_broadcasts_and_direct_messages(
    tmp_path: Path,
) -> None:
    consortium = make_consortium(tmp_path, MEMBERS)

    async def scenario() -> None:
        bank, shop, town = (consortium.network(m) for m in MEMBERS)
        await started(bank, shop, town)
        try:
            assert town.connected_peers() == {"bank", "shop"}

            assert sorted(await town.broadcast(GOSSIP, b"transaction")) == [
                "bank",
                "shop",
            ]
            assert await bank.receive() == InboundMessage(
                "town", GOSSIP, b"transaction"
            )
            assert await shop.receive() == InboundMessage(
                "town", GOSSIP, b"transaction"
            )

            await shop.send("bank", RELIABLE, b"proposal")
            await bank.send("shop", RELIABLE, b"")
            assert await bank.receive() == InboundMessage("shop", RELIABLE, b"proposal")
            assert await shop.receive() == InboundMessage("bank", RELIABLE, b"")

            counters = shop.counters()
            assert counters.frames_out >= 1 and counters.frames_in >= 2
            assert counters.bytes_out >= 5 + len(b"proposal")
            assert counters.rejected_connections == 0
        finally:
            await stopped(bank, shop, town)

    run(scenario())


def test_messages_from_one_peer_arrive_in_order(tmp_path: Path) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])

    async def scenario() -> None:
        bank, town = consortium.network("bank"), consortium.network("town")
        await started(bank, town)
        try:
            # 100 frames: each queue (64) holds its half without dropping gossip.
            for number in range(100):
                kind = RELIABLE if number % 2 else GOSSIP
                await town.send("bank", kind, number.to_bytes(2, "big"))

            received = []
            async for message in bank.messages():
                received.append(int.from_bytes(message.payload, "big"))
                if len(received) == 100:
                    break
            # Reliable frames may overtake gossip; within each class order holds.
            assert [n for n in received if n % 2] == list(range(1, 100, 2))
            assert [n for n in received if not n % 2] == list(range(0, 100, 2))
        finally:
            await stopped(bank, town)

    run(scenario())


def test_connections_negotiate_tls_1_3_and_pin_each_member(tmp_path: Path) -> None:
    consortium = make_consortium(tmp_path, MEMBERS)

    async def scenario() -> None:
        networks = [consortium.network(m) for m in MEMBERS]
        await started(*networks)
        try:
            for network in networks:
                for peer_id in network.connected_peers():
                    status = network.peer_status(peer_id)
                    assert status is not None
                    assert status.tls_version == "TLSv1.3"
                    assert status.fingerprint == (
                        consortium.identities[peer_id].fingerprint
                    )
        finally:
            await stopped(*networks)

    run(scenario())


@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_dials_leave_the_lower_members_outbound(
    tmp_path: Path, attempt: int
) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])

    async def scenario() -> None:
        bank, town = consortium.network("bank"), consortium.network("town")
        await started(bank, town)
        try:
            # Both listen before either dials, so both dial; let the duplicate settle.
            def settled() -> bool:
                bank_side, town_side = (
                    bank.peer_status("town"),
                    town.peer_status("bank"),
                )
                return (
                    bank_side is not None
                    and town_side is not None
                    and bank_side.direction is Direction.OUTBOUND
                    and town_side.direction is Direction.INBOUND
                )

            await wait_until(settled, timeout=3)
            await town.send("bank", RELIABLE, b"still works")
            assert (await bank.receive()).payload == b"still works"
        finally:
            await stopped(bank, town)

    run(scenario())


def test_send_rejects_unknown_members_kinds_and_sizes(tmp_path: Path) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])

    async def scenario() -> None:
        town = consortium.network("town")
        await town.start()
        try:
            with pytest.raises(UnknownPeer) as unknown:
                await town.send("stranger", GOSSIP, b"")
            assert unknown.value.peer_id == "stranger"
            with pytest.raises(PeerNotConnected):
                await town.send("bank", RELIABLE, b"")
            with pytest.raises(ValueError, match="not declared"):
                await town.send("bank", 99, b"")
            with pytest.raises(FrameTooLarge):
                await town.broadcast(GOSSIP, bytes(FAST.max_frame_size))
            assert await town.broadcast(GOSSIP, b"nobody listens") == []
        finally:
            await town.stop()

    run(scenario())


def test_refuses_a_table_that_pins_another_certificate_for_us(
    tmp_path: Path,
) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])
    other = make_consortium(tmp_path / "other", ["town"])

    with pytest.raises(IdentityError, match="peers would refuse us"):
        PeerNetwork(other.identities["town"], consortium.table, KINDS)


def test_listens_where_its_own_entry_says(tmp_path: Path) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])

    async def scenario() -> None:
        town = PeerNetwork(consortium.identities["town"], consortium.table, KINDS)
        await town.start()
        try:
            assert town.listen_address == ("127.0.0.1", consortium.ports["town"])
        finally:
            await town.stop()

    run(scenario())


def test_logs_connects_and_disconnects_without_key_material(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    consortium = make_consortium(tmp_path, ["bank", "town"])
    caplog.set_level(logging.DEBUG, logger="node.transport")

    async def scenario() -> None:
        bank, town = consortium.network("bank"), consortium.network("town")
        await started(bank, town)
        await bank.stop()
        await wait_until(lambda: not town.connected_peers())
        await town.stop()

    run(scenario())

    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("connected to member bank" in line for line in info)
    assert any("disconnected from member bank" in line for line in info)
    for identity in consortium.identities.values():
        secret = identity.private_key_pem().decode().splitlines()[1]
        assert secret not in caplog.text
    assert "PRIVATE KEY" not in caplog.text


def test_updated_peer_table_admits_new_members_and_drops_removed_ones(
    tmp_path: Path,
) -> None:
    consortium = make_consortium(tmp_path, MEMBERS)
    founders = consortium.table.without("shop")

    async def scenario() -> None:
        bank = consortium.network("bank", table=founders.without("bank"))
        town = consortium.network("town", table=founders.without("town"))
        shop = consortium.network("shop")
        await started(bank, town)
        await shop.start()
        try:
            # Nobody lists the shop yet: it is refused everywhere.
            await wait_until(lambda: shop.counters().failed_dials >= 2)
            assert shop.connected_peers() == frozenset()

            bank.update_peers(consortium.table)
            town.update_peers(consortium.table)
            await shop.wait_for_peers(timeout=5)
            await town.wait_for_peers(timeout=5)
            assert bank.connected_peers() == {"shop", "town"}

            # The bank leaves the town's table: dropped, and refused from then on.
            town.update_peers(consortium.table.without("bank"))
            assert town.connected_peers() == {"shop"}
            await wait_until(lambda: bank.counters().failed_dials >= 1)
            await bank.send("shop", RELIABLE, b"still a member for the shop")
            assert (await shop.receive()).peer_id == "bank"
            assert "bank" not in town.connected_peers()
        finally:
            await stopped(bank, town, shop)

    run(scenario())
