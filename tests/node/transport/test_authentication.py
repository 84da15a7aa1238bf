"""Only configured members get in: pinned certificates, TLS 1.3, both ways."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.transport import (
    PeerNetwork,
    TransportIdentity,
    build_peer_table,
    generate_identity,
)
from node.transport.frames import HELLO, encode_frame, encode_hello
from node.transport.tls import create_client_context
from tests.node.transport.support import (
    FAST,
    HOST,
    KINDS,
    Consortium,
    make_consortium,
    read_until_closed,
    run,
    wait_until,
)


@pytest.fixture
def consortium(tmp_path: Path) -> Consortium:
    return make_consortium(tmp_path, ["bank", "town"])


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_refuses_an_unpinned_certificate_that_dials_in(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    # The impostor calls itself "bank" and trusts the town, but its certificate is
    # fresh. The town is told bank has no address, so only the impostor dials.
    impostor_table = build_peer_table([consortium.entry("town")])
    town_table = build_peer_table([consortium.entry("bank", with_address=False)])

    async def scenario() -> None:
        town = consortium.network("town", table=town_table)
        impostor = consortium.network(
            "bank", table=impostor_table, identity=generate_identity("bank")
        )
        await town.start()
        await impostor.start()
        try:
            await wait_until(
                lambda: (
                    town.counters().rejected_connections >= 2
                    and impostor.counters().failed_dials >= 2
                )
            )
            assert town.connected_peers() == frozenset()
            assert impostor.connected_peers() == frozenset()
        finally:
            await impostor.stop()
            await town.stop()

    run(scenario())

    refusals = [line for line in warnings(caplog) if "refused connection" in line]
    assert len(refusals) == 1, "a retrying impostor is warned about once"
    assert "not pinned" in refusals[0]
    refused = [line for line in warnings(caplog) if "refused us" in line]
    assert len(refused) == 1, "the impostor is told once why it gets nowhere"


def test_refuses_an_unpinned_certificate_when_dialling(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    # The impostor listens on bank's port and never dials (town has no address in
    # its table), so every connection between them is the town's dial.
    impostor_table = build_peer_table([consortium.entry("town", with_address=False)])

    async def scenario() -> None:
        town = consortium.network("town")
        impostor = consortium.network(
            "bank", table=impostor_table, identity=generate_identity("bank")
        )
        await impostor.start()
        await town.start()
        try:
            await wait_until(lambda: town.counters().rejected_connections >= 2)
            assert town.connected_peers() == frozenset()
            assert impostor.connected_peers() == frozenset()
        finally:
            await impostor.stop()
            await town.stop()

    run(scenario())

    refusals = [line for line in warnings(caplog) if "refusing member" in line]
    assert len(refusals) == 1
    assert "member bank" in refusals[0] and "not pinned" in refusals[0]


def test_a_dialled_member_must_present_its_own_pinned_certificate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The shop listens where the bank should be. Its certificate is pinned, but for
    # the shop: dialling the bank and reaching the shop is still a refusal.
    consortium = make_consortium(tmp_path, ["bank", "shop", "town"])
    shop_table = build_peer_table([consortium.entry("town", with_address=False)])

    async def scenario() -> None:
        town = consortium.network("town")
        shop = PeerNetwork(
            consortium.identities["shop"],
            shop_table,
            KINDS,
            host=HOST,
            port=consortium.ports["bank"],
            config=FAST,
        )
        await shop.start()
        await town.start()
        try:
            await wait_until(lambda: town.counters().rejected_connections >= 1)
            assert "bank" not in town.connected_peers()
        finally:
            await shop.stop()
            await town.stop()

    run(scenario())

    assert any("not the one pinned for bank" in line for line in warnings(caplog))


def test_refuses_a_plain_tcp_client(consortium: Consortium) -> None:
    async def scenario() -> None:
        town = consortium.network("town")
        await town.start()
        try:
            reader, writer = await asyncio.open_connection(
                HOST, consortium.ports["town"]
            )
            writer.write(b"GET / HTTP/1.1\r\nHost: town\r\n\r\n")
            await writer.drain()
            assert await read_until_closed(reader) == b""
            writer.close()
            await wait_until(lambda: town.counters().rejected_connections == 1)
            assert town.connected_peers() == frozenset()
        finally:
            await town.stop()

    run(scenario())


def test_refuses_a_tls_client_without_a_certificate(consortium: Consortium) -> None:
    async def scenario() -> None:
        town = consortium.network("town")
        await town.start()
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            reader, writer = await asyncio.open_connection(
                HOST, consortium.ports["town"], ssl=context
            )
            # TLS 1.3 ends the client's handshake before the server judges it; the
            # refusal arrives as an alert on the first read.
            assert await read_until_closed(reader) == b""
            writer.close()
            await wait_until(lambda: town.counters().rejected_connections == 1)
            assert town.connected_peers() == frozenset()
        finally:
            await town.stop()

    run(scenario())


def test_refuses_a_member_offering_only_tls_1_2(consortium: Consortium) -> None:
    async def scenario() -> None:
        town = consortium.network("town")
        await town.start()
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            with pytest.raises((ssl.SSLError, ConnectionError)):
                await asyncio.open_connection(
                    HOST, consortium.ports["town"], ssl=context
                )
            await wait_until(lambda: town.counters().rejected_connections == 1)
        finally:
            await town.stop()

    run(scenario())


def test_refuses_a_silent_client_after_the_handshake_timeout(
    consortium: Consortium,
) -> None:
    async def scenario() -> None:
        town = consortium.network(
            "town", config=dataclasses.replace(FAST, handshake_timeout=0.2)
        )
        await town.start()
        try:
            reader, writer = await asyncio.open_connection(
                HOST, consortium.ports["town"]
            )
            assert await read_until_closed(reader) == b""
            writer.close()
            assert town.counters().rejected_connections == 1
        finally:
            await town.stop()

    run(scenario())


def test_refuses_a_certificate_issued_by_a_members_key(
    consortium: Consortium,
) -> None:
    # The town's key signs a certificate naming "bank". Whatever TLS makes of that
    # chain, the leaf's fingerprint is pinned for nobody, so the pin check refuses it.
    town = consortium.identities["town"]
    forged_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    forged = TransportIdentity(
        forged_key,
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank")]))
        .issuer_name(town.certificate.subject)
        .public_key(forged_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(town.private_key, hashes.SHA256()),
    )
    forger_table = build_peer_table([consortium.entry("town")])

    async def scenario() -> None:
        town_network = consortium.network(
            "town",
            table=build_peer_table([consortium.entry("bank", with_address=False)]),
        )
        forger = consortium.network("bank", table=forger_table, identity=forged)
        await town_network.start()
        await forger.start()
        try:
            await wait_until(lambda: town_network.counters().rejected_connections >= 1)
            assert town_network.connected_peers() == frozenset()
        finally:
            await forger.stop()
            await town_network.stop()

    run(scenario())


def test_refuses_a_member_whose_hello_names_another(consortium: Consortium) -> None:
    async def scenario() -> None:
        town = consortium.network("town")
        await town.start()
        try:
            context = create_client_context(
                consortium.identities["bank"], consortium.table.without("bank")
            )
            reader, writer = await asyncio.open_connection(
                HOST, consortium.ports["town"], ssl=context
            )
            writer.write(encode_frame(HELLO, encode_hello("shop"), FAST.max_frame_size))
            await writer.drain()
            received = await read_until_closed(reader)
            writer.close()
            # The town's own hello may arrive before it reads ours; nothing more.
            assert len(received) <= 4 + 1 + 1 + len("town")
            await wait_until(lambda: town.counters().rejected_connections == 1)
            assert town.connected_peers() == frozenset()
        finally:
            await town.stop()

    run(scenario())
