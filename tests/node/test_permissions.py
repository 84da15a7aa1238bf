"""A node's peer table: genesis pins merged with its permissions file."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from eth_keys import keys

from chain.genesis import Genesis, Member, build_genesis_document, parse_genesis
from node.permissions import load_member_peers, watch_permissions_file
from node.transport.errors import PeerTableError
from node.transport.identity import TransportIdentity, generate_identity


def genesis_with_pins(identities: dict[str, TransportIdentity]) -> Genesis:
    members = []
    for index, (member_id, identity) in enumerate(identities.items()):
        public_key = keys.PrivateKey((index + 7).to_bytes(32, "big")).public_key
        members.append(
            Member(
                member_id,
                member_id,
                "shop",
                public_key.to_canonical_address(),
                public_key.to_bytes(),
                identity.fingerprint,
                identity.certificate_pem.decode(),
            )
        )
    document = build_genesis_document(
        chain_id=20261,
        members=members,
        validators=[m.validator for m in members if m.validator is not None],
        balances={},
        permissioning="open",
    )
    return parse_genesis(document)


def write_permissions(path: Path, members: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"members": members}))
    return path


def test_genesis_keeps_member_transport_pins() -> None:
    identities = {"town": generate_identity("town")}
    genesis = genesis_with_pins(identities)

    (member,) = genesis.members
    assert member.fingerprint == identities["town"].fingerprint
    assert member.certificate == identities["town"].certificate_pem.decode()


def test_addresses_come_from_the_file_and_pins_from_the_genesis(
    tmp_path: Path,
) -> None:
    identities = {name: generate_identity(name) for name in ("town", "bank")}
    genesis = genesis_with_pins(identities)
    path = write_permissions(
        tmp_path / "peers.json",
        [
            {"id": "town", "host": "127.0.0.1", "port": 30303},
            {"id": "bank", "host": "127.0.0.1", "port": 30304},
        ],
    )

    table = load_member_peers(genesis, path)

    assert sorted(table) == ["bank", "town"]
    assert table["bank"].port == 30304
    assert table["bank"].fingerprint == identities["bank"].fingerprint


def test_rejects_a_file_pinning_another_certificate_than_the_genesis(
    tmp_path: Path,
) -> None:
    genesis = genesis_with_pins({"town": generate_identity("town")})
    impostor = generate_identity("town")
    path = write_permissions(
        tmp_path / "peers.json",
        [
            {
                "id": "town",
                "host": "127.0.0.1",
                "port": 30303,
                "fingerprint": impostor.fingerprint,
                "certificate": impostor.certificate_pem.decode(),
            }
        ],
    )

    with pytest.raises(PeerTableError, match="another certificate"):
        load_member_peers(genesis, path)


def test_rejects_a_member_pinned_nowhere(tmp_path: Path) -> None:
    genesis = genesis_with_pins({"town": generate_identity("town")})
    path = write_permissions(
        tmp_path / "peers.json", [{"id": "stranger", "host": "127.0.0.1", "port": 1}]
    )

    with pytest.raises(PeerTableError):
        load_member_peers(genesis, path)


def test_a_changed_file_is_applied_and_a_broken_one_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    genesis = genesis_with_pins({"town": generate_identity("town")})
    path = write_permissions(
        tmp_path / "peers.json", [{"id": "town", "host": "127.0.0.1", "port": 30303}]
    )
    applied: list[int] = []

    async def edit_while_watching() -> None:
        watcher = asyncio.create_task(
            watch_permissions_file(
                genesis,
                path,
                lambda table: applied.append(table["town"].port),
                poll_seconds=0.05,
            )
        )
        await asyncio.sleep(0.2)
        write_permissions(path, [{"id": "town", "host": "127.0.0.1", "port": 30400}])
        await asyncio.sleep(0.2)
        path.write_text("{not json")
        await asyncio.sleep(0.2)
        watcher.cancel()

    with caplog.at_level(logging.WARNING, logger="node.permissions"):
        asyncio.run(edit_while_watching())

    assert applied == [30400]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "keeping the peers in use" in warnings[0]
