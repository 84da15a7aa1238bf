"""The bootstrap over web3.py JSON-RPC, against the in-process chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.bootstrap import deploy_consortium, load_deployment, write_deployment
from contracts.build import load_artifact
from contracts.catalog import RoleFlag
from contracts.errors import DeploymentError, MemberError
from tests.contracts.harness import CHAIN_ID, Harness
from tests.contracts.rpc import HarnessProvider


@pytest.fixture
def chain() -> tuple[Harness, Web3, LocalAccount]:
    harness = Harness(account_count=10)
    w3 = Web3(HarnessProvider(harness))
    town = Account.from_key(harness.accounts[0].key.to_bytes())
    return harness, w3, town


def members_of(harness: Harness) -> list[dict[str, Any]]:
    a = [account.address for account in harness.accounts]
    return [
        {"name": "Town", "role": "town", "address": a[0]},
        {"name": "East", "role": "village", "address": a[1], "village": "东村"},
        {"name": "West", "role": "village", "address": a[2], "village": "西村"},
        {"name": "Bank", "role": "bank", "address": a[3]},
        {"name": "East shop", "role": "shop", "address": a[4], "village": "东村"},
        {"name": "Regulator", "role": "regulator", "address": a[5].lower()},
        {"name": "Deputy", "role": "town", "address": a[6]},
    ]


def contract(w3: Web3, deployment: dict[str, Any], name: str) -> Any:
    address = deployment["contracts"][name]
    return w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def test_deploys_wires_and_grants_members(
    chain: tuple[Harness, Web3, LocalAccount],
) -> None:
    harness, w3, town = chain
    bootstrap = harness.accounts[7].address

    deployment = deploy_consortium(
        w3, town, members_of(harness), bootstrap_accounts=[bootstrap]
    )

    assert deployment["chainId"] == CHAIN_ID
    assert deployment["deployer"] == town.address
    assert set(deployment["contracts"]) == {
        "Consortium",
        "Points",
        "Activities",
        "Settlement",
        "CreditRegistry",
        "FeedbackAnchors",
    }
    assert deployment["villages"] == {"东村": 1, "西村": 2}
    consortium = contract(w3, deployment, "Consortium")
    a = [account.address for account in harness.accounts]
    assert consortium.functions.memberOf(a[0]).call() == [RoleFlag.TOWN_ADMIN, 0]
    assert consortium.functions.memberOf(a[2]).call() == [RoleFlag.VILLAGE_ADMIN, 2]
    assert consortium.functions.memberOf(a[4]).call() == [RoleFlag.SHOP, 1]
    assert consortium.functions.memberOf(a[5]).call() == [RoleFlag.REGULATOR, 0]
    assert consortium.functions.townAdminCount().call() == 2
    assert consortium.functions.villageName(1).call() == "东村"
    assert consortium.functions.canTransact(bootstrap).call()
    assert not consortium.functions.canTransact(a[8]).call()
    points = contract(w3, deployment, "Points")
    assert points.functions.activities().call() == deployment["contracts"]["Activities"]
    assert points.functions.settlement().call() == deployment["contracts"]["Settlement"]
    settlement = contract(w3, deployment, "Settlement")
    assert settlement.functions.fenPerPoint().call() == 100
    for name in ("Activities", "Settlement", "CreditRegistry", "FeedbackAnchors"):
        address = contract(w3, deployment, name).functions.CONSORTIUM().call()
        assert address == deployment["contracts"]["Consortium"]


def test_sends_only_plain_json_rpc(chain: tuple[Harness, Web3, LocalAccount]) -> None:
    harness, w3, town = chain

    deploy_consortium(w3, town, members_of(harness))

    provider = w3.provider
    assert isinstance(provider, HarnessProvider)
    assert set(provider.requests) <= {
        "eth_chainId",
        "eth_getTransactionCount",
        "eth_sendRawTransaction",
        "eth_getTransactionReceipt",
    }


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ({"role": "town", "address": "0x" + "11" * 20}, "needs a non-empty name"),
        (
            {"name": "x", "role": "mayor", "address": "0x" + "11" * 20},
            "role must be one of",
        ),
        ({"name": "x", "role": "bank", "address": "0x1234"}, "not an address"),
        ({"name": "x", "role": "shop", "address": "0x" + "11" * 20}, "needs a village"),
        (
            {"name": "x", "role": "bank", "address": "0x" + "11" * 20, "village": "A"},
            "takes no village",
        ),
    ],
)
def test_malformed_member_is_refused_before_sending(
    chain: tuple[Harness, Web3, LocalAccount], member: dict[str, Any], message: str
) -> None:
    harness, w3, town = chain

    with pytest.raises(MemberError, match=message):
        deploy_consortium(w3, town, [member])

    provider = w3.provider
    assert isinstance(provider, HarnessProvider)
    assert "eth_sendRawTransaction" not in provider.requests


def test_reverting_step_is_named(chain: tuple[Harness, Web3, LocalAccount]) -> None:
    harness, w3, town = chain
    a = harness.accounts[1].address
    members = [
        {"name": "East", "role": "village", "address": a, "village": "East"},
        {"name": "Shop in West", "role": "shop", "address": a, "village": "West"},
    ]

    with pytest.raises(DeploymentError, match="grant shop to Shop in West"):
        deploy_consortium(w3, town, members)


def test_deployment_file_round_trips(tmp_path: Path) -> None:
    deployment = {
        "chainId": 5,
        "contracts": {"Points": "0x" + "ab" * 20},
        "deployer": "0x1",
    }
    path = tmp_path / "nested" / "deployment.json"

    write_deployment(path, deployment)

    assert load_deployment(path) == deployment
    assert json.loads(path.read_text()) == deployment
    assert [p.name for p in path.parent.iterdir()] == ["deployment.json"]
