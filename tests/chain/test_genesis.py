"""Loading genesis.json: every field validated, the first wrong one named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chain.errors import GenesisError
from chain.genesis import load_genesis, parse_genesis
from tests.chain.factories import CHAIN_ID, GAS_LIMIT, genesis_document, make_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def valid() -> dict[str, Any]:
    return genesis_document([make_key(1), make_key(2)], [make_key(3)])


def test_parses_a_valid_document() -> None:
    genesis = parse_genesis(valid())
    assert genesis.chain_id == CHAIN_ID
    assert genesis.gas_limit == GAS_LIMIT
    assert len(genesis.validators) == 2
    assert genesis.qbft.block_period_seconds == 1


def test_committed_example_genesis_is_valid() -> None:
    genesis = load_genesis(PROJECT_ROOT / "genesis.json")
    roles = {member.role for member in genesis.members}
    assert roles == {"town", "village", "bank", "shop", "regulator"}
    names = {member.name for member in genesis.members}
    assert {"大石盖村", "佛山村"} <= names
    assert genesis.permissioning == "allowlist"


def _broken(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(valid())
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("config.chainId", 0, "config.chainId"),
        ("config.chainId", "twelve", "config.chainId"),
        ("config.pragueTime", _DELETE, "config.pragueTime"),
        ("config.qbft.blockperiodseconds", -1, "config.qbft.blockperiodseconds"),
        ("config.qbft", _DELETE, "config.qbft"),
        ("gasLimit", "0xzz", "gasLimit"),
        ("gasLimit", _DELETE, "gasLimit"),
        ("difficulty", "0x2", "difficulty"),
        ("extraData", "0x1234", "extraData"),
        ("gongfen.accounts", "maybe", "gongfen.accounts"),
        ("gongfen.members.0.role", "mayor", "gongfen.members[0].role"),
        (
            "gongfen.members.0.validator",
            "0x" + "12" * 20,
            "gongfen.members[0].validator",
        ),
        ("gongfen.members.1.nodeId", "0x1234", "gongfen.members[1].nodeId"),
        ("gongfen.members", [], "gongfen.members"),
        ("alloc", {"0x12": {"balance": "0x1"}}, "alloc.0x12"),
    ],
)
def test_names_the_first_wrong_field(path: str, value: Any, named: str) -> None:
    with pytest.raises(GenesisError) as raised:
        parse_genesis(_broken(path, value))
    assert str(raised.value).startswith(named)


def test_rejects_validator_that_is_no_member() -> None:
    document = valid()
    document["gongfen"]["members"] = document["gongfen"]["members"][:1]
    with pytest.raises(GenesisError, match="is not the validator of any member"):
        parse_genesis(document)


def test_reports_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="cannot read genesis file"):
        load_genesis(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(GenesisError, match="is not JSON"):
        load_genesis(tmp_path / "bad.json")
    (tmp_path / "good.json").write_text(json.dumps(valid()))
    assert load_genesis(tmp_path / "good.json").chain_id == CHAIN_ID
