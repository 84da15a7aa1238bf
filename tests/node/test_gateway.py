"""The JSON-RPC gateway process in front of a real node.

Most of the JSON-RPC behaviour that clients see through the gateway is tested
in ``test_json_rpc_web3.py`` and ``test_rpc_errors.py``, whose devnets run it;
these tests cover what only the gateway does.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from prometheus_client.parser import text_string_to_metric_families

from tests.support.devnet import account, running_devnet

pytestmark = pytest.mark.network

TOKEN_HEADER = "x-gongfen-intake-token"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_devnet(tmp_path_factory.mktemp("devnet")) as started:
        yield started


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def node_internal_url(node: dict[str, Any]) -> str:
    """The loopback URL the node serves its gateway on, read from the
    gateway's command line (a test may look; nothing else announces it)."""
    cmdline = Path(f"/proc/{_gateway_pid(node)}/cmdline").read_bytes()
    arguments = cmdline.split(b"\0")
    port = arguments[arguments.index(b"--node-port") + 1].decode()
    return f"http://127.0.0.1:{port}"


def signed(manifest: dict[str, Any], nonce: int, chain_id: int | None = None) -> str:
    signer = Account.from_key(account(manifest, "villager-1")["privateKey"])
    transaction = {
        "to": signer.address,
        "value": 1,
        "gas": 21_000,
        "gasPrice": 0,
        "nonce": nonce,
        "chainId": manifest["chainId"] if chain_id is None else chain_id,
    }
    return "0x" + bytes(signer.sign_transaction(transaction).raw_transaction).hex()


def submission(request_id: int | None, raw: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "jsonrpc": "2.0",
        "method": "eth_sendRawTransaction",
        "params": [raw],
    }
    if request_id is not None:
        request["id"] = request_id
    return request


def test_intake_refuses_a_caller_without_the_gateway_token(
    manifest: dict[str, Any],
) -> None:
    node = manifest["nodes"][0]
    internal = node_internal_url(node)
    raw = signed(manifest, 0)
    forged_sender = "0x" + "11" * 20
    # Whoever could reach /intake could vouch for any sender: only the
    # gateway, which holds the token, may.
    for headers in ({}, {TOKEN_HEADER: "0" * 64}):
        status, _ = post(internal + "/intake", [[raw, forged_sender]], headers)
        assert status == 403
    status, _ = post(node["rpcUrl"] + "/intake", [[raw, forged_sender]])
    assert status in (404, 405)  # the public port has no intake

    transaction_hash = "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    _, reply = post(
        node["rpcUrl"],
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getTransactionByHash",
            "params": [transaction_hash],
        },
    )
    assert reply["result"] is None


def test_a_batch_of_submissions_answers_each_in_order_as_the_node_would(
    manifest: dict[str, Any],
) -> None:
    node = manifest["nodes"][0]
    valid = signed(manifest, 0)
    failing = [
        "0xdeadbeef",  # not a transaction
        signed(manifest, 0, chain_id=manifest["chainId"] + 1),  # another chain
        "not hex",  # a malformed parameter
    ]

    _, through_gateway = post(
        node["rpcUrl"],
        [submission(1, valid), submission(2, valid), submission(None, failing[0])]
        + [submission(3 + i, raw) for i, raw in enumerate(failing)],
    )
    # The node's own answers to the same failing submissions, with no gateway.
    _, from_node = post(
        node_internal_url(node),
        [submission(2, valid)]
        + [submission(3 + i, raw) for i, raw in enumerate(failing)],
    )

    assert [r["id"] for r in through_gateway] == [1, 2, 3, 4, 5]  # no notification
    assert through_gateway[0]["result"].startswith("0x")
    assert through_gateway[1:] == from_node
    assert from_node[0]["error"]["message"].startswith("already known")
    assert from_node[1]["error"]["code"] == -32000
    assert "chain id" in from_node[2]["error"]["message"]
    assert from_node[3]["error"]["code"] == -32602


def test_a_batch_mixing_submissions_with_other_calls_goes_to_the_node(
    manifest: dict[str, Any],
) -> None:
    node = manifest["nodes"][0]
    _, replies = post(
        node["rpcUrl"],
        [
            submission(1, "0xdeadbeef"),
            {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
        ],
    )

    assert replies[0]["error"]["code"] == -32000
    assert replies[1]["result"] == hex(manifest["chainId"])


def test_metrics_count_the_submissions_the_gateway_refused(
    manifest: dict[str, Any],
) -> None:
    node = manifest["nodes"][0]
    before = refused_submissions(node)

    _, replies = post(
        node["rpcUrl"],
        [
            submission(1, "0xdeadbeef"),
            submission(2, signed(manifest, 0, chain_id=manifest["chainId"] + 1)),
        ],
    )

    assert [reply["error"]["code"] for reply in replies] == [-32000, -32000]
    assert refused_submissions(node) == before + 2


def refused_submissions(node: dict[str, Any]) -> float:
    """The gateway's refusal count, from the node's /metrics, which must also
    still hold the node's own metrics."""
    with urllib.request.urlopen(node["rpcUrl"] + "/metrics", timeout=30) as response:
        text = response.read().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert "gongfen_block_height" in families
    (sample,) = families["gongfen_gateway_refused_submissions"].samples[:1]
    assert sample.name == "gongfen_gateway_refused_submissions_total"
    return float(sample.value)


def test_the_gateway_ends_with_its_node_even_when_the_node_is_killed(
    tmp_path: Path,
) -> None:
    with running_devnet(tmp_path) as started:
        node = started["nodes"][0]
        gateway_pid = _gateway_pid(node)

        os.kill(node["pid"], signal.SIGKILL)

        deadline = time.monotonic() + 15
        while Path(f"/proc/{gateway_pid}").exists() and _is_running(gateway_pid):
            assert time.monotonic() < deadline, "the gateway outlived its node"
            time.sleep(0.1)
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(node["rpcUrl"] + "/health", timeout=5)


def _gateway_pid(node: dict[str, Any]) -> int:
    pid = node["pid"]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if b"node.rpc.gateway" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    raise AssertionError("the node runs no gateway process")


def _is_running(pid: int) -> bool:
    """False once the process has exited (a zombie awaiting its parent counts
    as exited: its sockets are closed)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"
