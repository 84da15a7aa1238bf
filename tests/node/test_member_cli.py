"""``gongfen member new``: a member's node key and transport identity."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from node.cli import main
from node.keys import NodeKey, read_node_key, write_node_key
from node.transport.identity import identity_paths, read_identity
from tests.chain.factories import genesis_document, make_key


def test_creates_node_key_and_transport_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bank"

    assert main(["member", "new", "--id", "bank", "--out", str(out)]) == 0

    printed = json.loads(capsys.readouterr().out)
    identity = read_identity(*identity_paths(out))
    assert identity.member_id == "bank"
    assert printed["fingerprint"] == identity.fingerprint
    assert printed["address"] == "0x" + read_node_key(out / "key").address.hex()
    assert "PRIVATE" not in json.dumps(printed)
    for key_file in (out / "key", identity_paths(out)[0]):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_refuses_to_overwrite_a_member(tmp_path: Path) -> None:
    out = tmp_path / "bank"
    assert main(["member", "new", "--id", "bank", "--out", str(out)]) == 0
    assert main(["member", "new", "--id", "bank", "--out", str(out)]) == 2


def test_node_of_a_multi_validator_chain_refuses_to_run_without_peers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [make_key(0), make_key(1)]
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_document(keys, [])))
    key_path = tmp_path / "key"
    write_node_key(key_path, NodeKey(keys[0]))

    code = main(
        [
            "node",
            "run",
            "--data",
            str(tmp_path / "data"),
            "--genesis",
            str(genesis_path),
            "--key",
            str(key_path),
        ]
    )

    assert code == 2
    assert "--peers" in capsys.readouterr().err
