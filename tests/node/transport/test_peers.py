"""The permissions file and the peer table built from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from node.transport import (
    PeerTable,
    PeerTableError,
    build_peer_table,
    load_permissions_file,
)
from tests.node.transport.support import Consortium, make_consortium


@pytest.fixture
def consortium(tmp_path: Path) -> Consortium:
    return make_consortium(tmp_path, ["town", "bank", "shop"])


def test_loads_members_with_certificate_files(consortium: Consortium) -> None:
    table = consortium.table

    assert sorted(table) == ["bank", "shop", "town"]
    bank = table["bank"]
    assert (bank.host, bank.port) == ("127.0.0.1", consortium.ports["bank"])
    assert bank.fingerprint == consortium.identities["bank"].fingerprint
    assert table.by_fingerprint(bank.fingerprint) is bank
    assert table.by_fingerprint("00" * 32) is None
    assert "town" not in table.without("town")


def test_builds_the_table_from_genesis_style_entries(consortium: Consortium) -> None:
    entry = consortium.entry("town") | {
        "name": "镇政府",
        "role": "town",
        "validator": "0xd0C931158E8fF3022f15eF43214203Fc902Bc59B",
        "nodeId": "0xce5a",
    }

    table = build_peer_table([entry])

    assert table["town"].certificate_pem.encode().strip() == (
        consortium.identities["town"].certificate_pem.strip()
    )


def test_member_without_an_address_is_not_dialled(consortium: Consortium) -> None:
    table = build_peer_table([consortium.entry("shop", with_address=False)])

    assert not table["shop"].dialable
    assert table["shop"].host is None


def test_rejects_a_certificate_that_does_not_match_its_pin(
    consortium: Consortium,
) -> None:
    entry = consortium.entry("town")
    entry["certificate"] = consortium.entry("bank")["certificate"]

    with pytest.raises(PeerTableError, match="pinned") as raised:
        build_peer_table([consortium.entry("shop"), entry])

    assert raised.value.field == "members[1].certificate"


def test_rejects_a_certificate_issued_to_another_member(
    consortium: Consortium,
) -> None:
    entry = consortium.entry("bank") | {"id": "town"}

    with pytest.raises(PeerTableError, match="names member 'bank'"):
        build_peer_table([entry])


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"id": "bad id"}, "members[0].id", "member id"),
        ({"id": 7}, "members[0].id", "expected a string"),
        ({"port": None}, "members[0].port", "1-65535"),
        ({"port": 70000}, "members[0].port", "1-65535"),
        ({"port": True}, "members[0].port", "1-65535"),
        ({"host": ""}, "members[0].host", "host"),
        ({"fingerprint": "abc"}, "members[0].fingerprint", "64 hex digits"),
        ({"certificate": "not pem"}, "members[0].certificate", "PEM"),
        ({"certificateFile": "x.crt"}, "members[0]", "exactly one"),
        ({"certificate": None}, "members[0]", "exactly one"),
    ],
)
def test_rejects_invalid_entries_naming_the_field(
    consortium: Consortium, change: dict[str, Any], field: str, message: str
) -> None:
    # A None in the change removes that key.
    entry = {
        key: value
        for key, value in (consortium.entry("town") | change).items()
        if value is not None
    }

    with pytest.raises(PeerTableError, match=message) as raised:
        build_peer_table([entry])

    assert raised.value.field == field


def test_rejects_a_member_listed_twice(consortium: Consortium) -> None:
    with pytest.raises(PeerTableError, match="listed twice"):
        build_peer_table([consortium.entry("town"), consortium.entry("town")])


def test_rejects_two_members_sharing_one_certificate(consortium: Consortium) -> None:
    town = consortium.table["town"]
    twin = dataclasses.replace(town, member_id="town2")

    with pytest.raises(PeerTableError, match="share one certificate"):
        PeerTable([town, twin])


def test_rejects_a_missing_certificate_file(tmp_path: Path) -> None:
    permissions = tmp_path / "permissions.json"
    member = {"id": "town", "fingerprint": "ab" * 32, "certificateFile": "gone.crt"}
    permissions.write_text(json.dumps({"members": [member]}))

    with pytest.raises(PeerTableError, match="gone.crt") as raised:
        load_permissions_file(permissions)

    assert raised.value.field == "members[0].certificateFile"


@pytest.mark.parametrize("text", ["{", "[]", '{"members": {}}'])
def test_rejects_a_permissions_file_of_the_wrong_shape(
    tmp_path: Path, text: str
) -> None:
    permissions = tmp_path / "permissions.json"
    permissions.write_text(text)

    with pytest.raises(PeerTableError, match="permissions file"):
        load_permissions_file(permissions)


def test_rejects_an_unreadable_permissions_file(tmp_path: Path) -> None:
    with pytest.raises(PeerTableError, match="cannot read"):
        load_permissions_file(tmp_path / "absent.json")
