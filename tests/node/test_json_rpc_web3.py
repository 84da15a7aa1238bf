"""End to end: web3.py against a devnet started as real processes.

One devnet serves the whole module; each test uses its own accounts or reads
state it created, so the order of tests does not matter.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from tests.support.compile import compile_vyper
from tests.support.devnet import account, running_devnet, web3_for

pytestmark = pytest.mark.network

PROBE_SOURCE = Path(__file__).parent / "contracts" / "Probe.vy"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_devnet(tmp_path_factory.mktemp("devnet")) as started:
        yield started


@pytest.fixture(scope="module")
def w3(manifest: dict[str, Any]) -> Web3:
    return web3_for(manifest["nodes"][0]["rpcUrl"])


@pytest.fixture(scope="module")
def town_admin(manifest: dict[str, Any]) -> Any:
    return Account.from_key(account(manifest, "town-admin")["privateKey"])


def send(w3: Web3, signer: Any, transaction: dict[str, Any]) -> Any:
    """Sign ``transaction`` with the next pending nonce, send it, await the receipt."""
    transaction = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        **transaction,
    }
    if "gas" not in transaction:
        transaction["gas"] = w3.eth.estimate_gas(
            {**transaction, "from": signer.address}
        )
    raw = signer.sign_transaction(transaction).raw_transaction
    transaction_hash = w3.eth.send_raw_transaction(raw)
    return w3.eth.wait_for_transaction_receipt(transaction_hash, timeout=20)


@pytest.fixture(scope="module")
def probe(w3: Web3, town_admin: Any) -> Contract:
    compiled = compile_vyper(PROBE_SOURCE)
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    receipt = send(w3, town_admin, {"data": factory.bytecode})
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=compiled["abi"])


def rpc(url: str, payload: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    """POST a JSON-RPC payload (or raw bytes) and return status and decoded body."""
    body = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_reports_chain_identity(w3: Web3, manifest: dict[str, Any]) -> None:
    assert w3.eth.chain_id == manifest["chainId"]
    assert w3.net.version == str(manifest["chainId"])
    assert w3.is_connected()
    assert w3.eth.gas_price == 0
    assert w3.client_version.startswith("Gongfen/")


def test_deploys_contract_compiled_from_source_and_reads_it(
    w3: Web3, probe: Contract
) -> None:
    assert len(w3.eth.get_code(probe.address)) > 0
    assert probe.functions.chain_id().call() == w3.eth.chain_id
    assert probe.functions.must_be_positive(21).call() == 42


def test_transacts_and_reads_state_at_past_blocks(
    w3: Web3, probe: Contract, town_admin: Any
) -> None:
    before = w3.eth.block_number
    receipt = send(
        w3,
        town_admin,
        probe.functions.store(7, 99).build_transaction(
            {
                "from": town_admin.address,
                "gas": 200_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
            }
        ),
    )
    assert receipt.status == 1
    assert probe.functions.values(7).call() == 99
    assert probe.functions.values(7).call(block_identifier=before) == 0
    slot_value = w3.eth.get_storage_at(probe.address, 1)
    assert int.from_bytes(slot_value, "big") >= 1


def test_revert_in_call_raises_contract_logic_error_with_reason(
    probe: Contract,
) -> None:
    with pytest.raises(ContractLogicError) as raised:
        probe.functions.must_be_positive(0).call()
    assert "not positive" in str(raised.value)


def test_revert_in_estimate_gas_is_code_3_with_revert_data(
    manifest: dict[str, Any], probe: Contract, town_admin: Any
) -> None:
    data = probe.encode_abi("store", args=[1, 0])
    status, body = rpc(
        manifest["nodes"][0]["rpcUrl"],
        {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "eth_estimateGas",
            "params": [{"from": town_admin.address, "to": probe.address, "data": data}],
        },
    )
    assert status == 200
    assert body["error"]["code"] == 3
    assert body["error"]["message"] == "execution reverted: amount must not be zero"
    assert body["error"]["data"].startswith("0x08c379a0")


def test_reverting_transaction_with_gas_limit_is_mined_with_status_0(
    w3: Web3, probe: Contract, town_admin: Any
) -> None:
    transaction = probe.functions.store(1, 0).build_transaction(
        {
            "from": town_admin.address,
            "gas": 100_000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "nonce": 0,
        }
    )
    del transaction["nonce"]
    receipt = send(w3, town_admin, transaction)
    assert receipt.status == 0
    assert w3.eth.get_transaction_receipt(receipt.transactionHash).status == 0


def test_logs_and_filters_return_events(
    w3: Web3, probe: Contract, town_admin: Any
) -> None:
    log_filter = probe.events.Stored.create_filter(from_block="latest")
    block_filter = w3.eth.filter("latest")
    receipt = send(
        w3,
        town_admin,
        probe.functions.store(42, 5).build_transaction(
            {
                "from": town_admin.address,
                "gas": 200_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
            }
        ),
    )

    events = probe.events.Stored.get_logs(
        from_block=receipt.blockNumber, to_block=receipt.blockNumber
    )
    assert [(e.args.slot, e.args.amount) for e in events] == [(42, 5)]
    by_topic = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": probe.address,
            "topics": [None, None, "0x" + (42).to_bytes(32, "big").hex()],
        }
    )
    assert [log.transactionHash for log in by_topic] == [receipt.transactionHash]
    changes = log_filter.get_new_entries()
    assert [(e.args.slot, e.args.amount) for e in changes] == [(42, 5)]
    assert log_filter.get_new_entries() == []
    assert receipt.blockHash in block_filter.get_new_entries()
    assert len(w3.eth.get_filter_logs(log_filter.filter_id)) == 1
    assert w3.eth.uninstall_filter(log_filter.filter_id)


def test_block_lookups_agree(w3: Web3, probe: Contract, town_admin: Any) -> None:
    receipt = send(
        w3,
        town_admin,
        probe.functions.store(3, 3).build_transaction(
            {
                "from": town_admin.address,
                "gas": 200_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
            }
        ),
    )
    by_number = w3.eth.get_block(receipt.blockNumber, full_transactions=True)
    by_hash = w3.eth.get_block(receipt.blockHash)
    assert by_number.hash == by_hash.hash == receipt.blockHash
    assert by_hash.transactions[receipt.transactionIndex] == receipt.transactionHash
    assert w3.eth.get_block_transaction_count(receipt.blockNumber) == len(
        by_number.transactions
    )
    transaction = w3.eth.get_transaction(receipt.transactionHash)
    assert transaction.blockNumber == receipt.blockNumber
    assert (
        w3.eth.get_transaction_by_block(receipt.blockHash, receipt.transactionIndex)[
            "hash"
        ]
        == receipt.transactionHash
    )
    assert by_number.baseFeePerGas == 0


def test_unknown_transaction_and_receipt_are_null(manifest: dict[str, Any]) -> None:
    url = manifest["nodes"][0]["rpcUrl"]
    unknown = "0x" + "ab" * 32
    for method in ("eth_getTransactionByHash", "eth_getTransactionReceipt"):
        status, body = rpc(
            url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": [unknown]}
        )
        assert (status, body["result"]) == (200, None)


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda t: {**t, "chainId": 1}, "invalid chain id"),
        (lambda t: {**t, "gas": 20_000}, "intrinsic gas too low"),
        (lambda t: {**t, "gas": 200_000_000}, "exceeds block gas limit"),
        (lambda t: {**t, "value": 10**30}, "insufficient funds"),
        (lambda t: {**t, "nonce": 0, "_after_first": True}, "nonce too low"),
    ],
)
def test_rejected_transactions_carry_the_words_clients_expect(
    w3: Web3, manifest: dict[str, Any], mutate: Any, words: str
) -> None:
    signer = Account.from_key(account(manifest, "villager-1")["privateKey"])
    base = {
        "to": signer.address,
        "value": 1,
        "gas": 21_000,
        "gasPrice": 0,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
    }
    transaction = mutate(base)
    if transaction.pop("_after_first", False):
        send(w3, signer, {"to": signer.address, "value": 1, "gas": 21_000})
    raw = signer.sign_transaction(transaction).raw_transaction
    with pytest.raises(Web3RPCError) as raised:
        w3.eth.send_raw_transaction(raw)
    assert words in str(raised.value)


def test_rejects_sender_not_on_allowlist(w3: Web3, manifest: dict[str, Any]) -> None:
    outsider = Account.from_key(account(manifest, "outsider")["privateKey"])
    raw = outsider.sign_transaction(
        {
            "to": outsider.address,
            "value": 1,
            "gas": 21_000,
            "gasPrice": 0,
            "nonce": 0,
            "chainId": w3.eth.chain_id,
        }
    ).raw_transaction
    with pytest.raises(Web3RPCError) as raised:
        w3.eth.send_raw_transaction(raw)
    assert "sender not permitted" in str(raised.value)


def test_rejects_transaction_without_chain_id(
    w3: Web3, manifest: dict[str, Any]
) -> None:
    signer = Account.from_key(account(manifest, "villager-2")["privateKey"])
    raw = signer.sign_transaction(
        {
            "to": signer.address,
            "value": 1,
            "gas": 21_000,
            "gasPrice": 0,
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        }
    ).raw_transaction
    with pytest.raises(Web3RPCError) as raised:
        w3.eth.send_raw_transaction(raw)
    assert "invalid chain id" in str(raised.value)


def test_rejects_high_s_signature(w3: Web3, manifest: dict[str, Any]) -> None:
    import rlp

    signer = Account.from_key(account(manifest, "villager-2")["privateKey"])
    raw = signer.sign_transaction(
        {
            "to": signer.address,
            "value": 1,
            "gas": 21_000,
            "gasPrice": 0,
            "nonce": 0,
            "chainId": w3.eth.chain_id,
        }
    ).raw_transaction
    fields = rlp.decode(bytes(raw))
    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(fields[8], "big")
    v = int.from_bytes(fields[6], "big")
    fields[8] = (order - s).to_bytes(32, "big")
    base = w3.eth.chain_id * 2 + 35
    flipped = base + 1 if v == base else base  # s -> n - s flips the parity
    fields[6] = flipped.to_bytes(2, "big")
    with pytest.raises(Web3RPCError) as raised:
        w3.eth.send_raw_transaction(rlp.encode(fields))
    assert "invalid transaction v, r, s values" in str(raised.value)


@pytest.mark.parametrize(
    "raw",
    ["0x", "0xdeadbeef", "0xf86b80", "0x" + "ff" * 300, "0x04" + "00" * 40],
)
def test_garbage_raw_transactions_get_clear_errors(w3: Web3, raw: str) -> None:
    with pytest.raises(Web3RPCError) as raised:
        w3.eth.send_raw_transaction(raw)
    assert "invalid transaction" in str(raised.value) or "not supported" in str(
        raised.value
    )
    assert w3.eth.block_number >= 0  # the node keeps serving


def test_oversized_transaction_is_rejected(w3: Web3, manifest: dict[str, Any]) -> None:
    signer = Account.from_key(account(manifest, "villager-2")["privateKey"])
    raw = signer.sign_transaction(
        {
            "to": signer.address,
            "value": 0,
            "gas": 5_000_000,
            "gasPrice": 0,
            "nonce": 0,
            "chainId": w3.eth.chain_id,
            "data": b"\x01" * 200_000,
        }
    ).raw_transaction
    with pytest.raises(Web3RPCError) as raised:
        w3.eth.send_raw_transaction(raw)
    assert "oversized data" in str(raised.value)


def test_protocol_errors_follow_geth(manifest: dict[str, Any]) -> None:
    url = manifest["nodes"][0]["rpcUrl"]

    status, body = rpc(url, None, raw=b"{not json")
    assert status == 200 and body["id"] is None and body["error"]["code"] == -32700

    status, body = rpc(url, {"jsonrpc": "2.0", "id": 2, "method": "eth_nope"})
    assert status == 200 and body["error"]["code"] == -32601

    status, body = rpc(
        url,
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "eth_getBalance",
            "params": ["0x1234", "latest"],
        },
    )
    assert body["error"]["code"] == -32602 and "address" in body["error"]["message"]

    status, body = rpc(
        url,
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "eth_getBalance",
            "params": ["0x" + "11" * 20, "newest"],
        },
    )
    assert body["error"]["code"] == -32602 and "block" in body["error"]["message"]

    status, body = rpc(url, None, raw=b"[" + b"1," * 3_000_000 + b"1]")
    assert status == 413

    status, body = rpc(
        url,
        [
            {"jsonrpc": "2.0", "id": 10, "method": "eth_chainId"},
            {"jsonrpc": "2.0", "id": 11, "method": "eth_nope"},
            {"jsonrpc": "2.0", "id": 12, "method": "eth_blockNumber"},
        ],
    )
    assert [item["id"] for item in body] == [10, 11, 12]
    assert "result" in body[0] and body[1]["error"]["code"] == -32601


def test_health_and_metrics_endpoints(manifest: dict[str, Any]) -> None:
    url = manifest["nodes"][0]["rpcUrl"]
    with urllib.request.urlopen(url + "/health", timeout=5) as response:
        health = json.loads(response.read())
    assert health["status"] == "ok" and health["validator"] is True
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "gongfen_block_height" in text


def test_websocket_subscriptions_deliver_heads_and_logs(
    manifest: dict[str, Any], w3: Web3, probe: Contract, town_admin: Any
) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with websockets.connect(manifest["nodes"][0]["wsUrl"]) as socket:
            await socket.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "eth_subscribe",
                        "params": ["newHeads"],
                    }
                )
            )
            heads_id = json.loads(await socket.recv())["result"]
            await socket.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 2,
                        "method": "eth_subscribe",
                        "params": ["logs", {"address": probe.address}],
                    }
                )
            )
            logs_id = json.loads(await socket.recv())["result"]
            await asyncio.to_thread(
                send,
                w3,
                town_admin,
                probe.functions.store(9, 9).build_transaction(
                    {
                        "from": town_admin.address,
                        "gas": 200_000,
                        "maxFeePerGas": 0,
                        "maxPriorityFeePerGas": 0,
                    }
                ),
            )
            head = log = None
            while head is None or log is None:
                message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if message["params"]["subscription"] == heads_id:
                    head = message["params"]["result"]
                elif message["params"]["subscription"] == logs_id:
                    log = message["params"]["result"]
            return head, log

    head, log = asyncio.run(scenario())
    assert head["number"].startswith("0x")
    assert log["address"] == probe.address


def test_validator_votes_are_refused_on_a_chain_with_one_validator(
    manifest: dict[str, Any],
) -> None:
    url = manifest["nodes"][0]["rpcUrl"]
    candidate = manifest["accounts"][0]["address"]

    def call(method: str, params: list[Any]) -> Any:
        status, answer = rpc(
            url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        )
        assert status == 200
        return answer

    refused = call("qbft_proposeValidatorVote", [candidate, True])
    assert refused["error"]["code"] == -32000
    assert "only validator" in refused["error"]["message"]
    malformed = call("qbft_proposeValidatorVote", [candidate, "yes"])
    assert malformed["error"]["code"] == -32602
    assert "add" in malformed["error"]["message"]
    assert call("qbft_getPendingVotes", [])["result"] == {}
    assert call("qbft_discardValidatorVote", [candidate])["result"] is True
    validators = call("qbft_getValidatorsByBlockNumber", ["latest"])["result"]
    assert [v.lower() for v in validators] == [manifest["nodes"][0]["validator"]]
