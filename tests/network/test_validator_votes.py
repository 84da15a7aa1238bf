"""A member is voted in as a validator across processes, and then validates.

Four validators and the regulator's observer run as processes; the fifth
member of the genesis (佛山村, foshan-village) runs no node at first. With one
validator (shop) killed, the town's node refuses a vote that would add an
offline member, since five validators would need four running. The member's
node then joins (``gongfen devnet join``) and syncs as an observer; three of the
four validators vote it in over JSON-RPC; with shop still down, every later
block needs the new member's commit seal. Shop comes back and catches up, and
every node holds the same blocks.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address

from node.keys import read_node_key
from tests.network.test_consortium import (
    assert_same_chain,
    head,
    nodes_by_name,
    restart,
    wait_for,
)
from tests.support.devnet import gongfen, running_devnet

pytestmark = pytest.mark.network

MEMBER = "foshan-village"
VOTERS = ("town", "dashigai-village", "bank")


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("votes")
    with running_devnet(data_dir, "--validators", "4") as manifest:
        manifest["dataDir"] = data_dir
        yield manifest


def rpc_call(url: str, method: str, *params: Any) -> dict[str, Any]:
    """The whole JSON-RPC answer: ``result`` or ``error``."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(
        url, body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def member_address(data_dir: Path) -> str:
    key = read_node_key(data_dir / "nodes" / MEMBER / "key")
    return to_checksum_address(key.address)


def validators_at_head(node: dict[str, Any]) -> list[str]:
    answer = rpc_call(node["rpcUrl"], "qbft_getValidatorsByBlockNumber", "latest")
    validators: list[str] = answer["result"]
    return validators


def test_member_voted_in_validates_while_a_validator_is_down(
    devnet: dict[str, Any],
) -> None:
    data_dir: Path = devnet["dataDir"]
    nodes = nodes_by_name(devnet)
    candidate = member_address(data_dir)
    os.kill(nodes["shop"]["pid"], signal.SIGKILL)
    before = head(nodes["town"])
    wait_for(lambda: head(nodes["town"]) >= before + 2, 60, "commits without shop")

    refused = rpc_call(
        nodes["town"]["rpcUrl"], "qbft_proposeValidatorVote", candidate, True
    )
    assert refused["error"]["code"] == -32000
    assert "3 of its 5 validators would be online" in refused["error"]["message"]
    pending = rpc_call(nodes["town"]["rpcUrl"], "qbft_getPendingVotes")
    assert pending["result"] == {}

    joined = gongfen("devnet", "join", "--data", str(data_dir), "--member", MEMBER)
    assert joined.returncode == 0, joined.stderr
    member = {"name": MEMBER, **_manifest_node(data_dir, MEMBER)}
    wait_for(lambda: head(member) >= head(nodes["town"]) - 1, 60, "the member to sync")
    for name in VOTERS:
        wait_for(
            lambda n=name: MEMBER in _health(nodes[n])["peers"],  # type: ignore[misc]
            30,
            f"{name} to see the member",
        )
        answer = rpc_call(
            nodes[name]["rpcUrl"], "qbft_proposeValidatorVote", candidate, True
        )
        assert answer.get("result") is True, answer
    pending = rpc_call(nodes["town"]["rpcUrl"], "qbft_getPendingVotes")
    assert pending["result"] == {candidate: True}

    wait_for(
        lambda: candidate in validators_at_head(nodes["town"]),
        120,
        "the vote to take effect",
    )
    assert len(validators_at_head(nodes["town"])) == 5
    added_at = head(nodes["town"])
    # Shop is still down: four of five seal each block, the member among them.
    wait_for(lambda: head(nodes["town"]) >= added_at + 6, 120, "commits with member")
    miners = {
        rpc_call(member["rpcUrl"], "eth_getBlockByNumber", hex(n), False)["result"][
            "miner"
        ]
        for n in range(added_at + 1, head(member) + 1)
    }
    assert candidate in miners
    assert _health(member)["consensus"] == "qbft"
    assert _health(nodes["regulator"])["consensus"] == "observer"

    restarted = nodes_by_name(restart(devnet))
    everyone = list(restarted.values())
    town_head = head(restarted["town"])
    wait_for(
        lambda: all(head(node) >= town_head for node in everyone),
        120,
        "shop and the regulator to catch up",
    )
    assert_same_chain(everyone)
    assert validators_at_head(restarted["shop"]) == validators_at_head(
        restarted["town"]
    )


def _manifest_node(data_dir: Path, name: str) -> dict[str, Any]:
    manifest = json.loads((data_dir / "devnet.json").read_text())
    node: dict[str, Any] = nodes_by_name(manifest)[name]
    return node


def _health(node: dict[str, Any]) -> dict[str, Any]:
    with urllib.request.urlopen(node["rpcUrl"] + "/health", timeout=5) as response:
        health: dict[str, Any] = json.loads(response.read())
    return health
