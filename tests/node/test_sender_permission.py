"""Sender permission from the Consortium contract, on a devnet of real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import Web3RPCError

from contracts.build import load_artifact
from tests.support.devnet import account, running_devnet, web3_for

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_devnet(tmp_path_factory.mktemp("devnet")) as started:
        yield started


def transfer(w3: Web3, signer: Any) -> bytes:
    raw = signer.sign_transaction(
        {
            "to": signer.address,
            "value": 0,
            "gas": 21_000,
            "gasPrice": 0,
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    ).raw_transaction
    return bytes(w3.eth.send_raw_transaction(raw))


def admin_call(w3: Web3, manifest: dict[str, Any], function: Any) -> None:
    admin = Account.from_key(account(manifest, "dashigai-admin")["privateKey"])
    transaction = function.build_transaction(
        {
            "from": admin.address,
            "gas": 1_000_000,
            "gasPrice": 0,
            "nonce": w3.eth.get_transaction_count(admin.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    transaction_hash = w3.eth.send_raw_transaction(
        admin.sign_transaction(transaction).raw_transaction
    )
    assert (
        w3.eth.wait_for_transaction_receipt(transaction_hash, timeout=20)["status"] == 1
    )


def test_devnet_deploys_the_contracts_and_registers_dev_villagers(
    manifest: dict[str, Any],
) -> None:
    w3 = web3_for(manifest["nodes"][0]["rpcUrl"])
    consortium = w3.eth.contract(
        address=manifest["contracts"]["Consortium"],
        abi=load_artifact("Consortium")["abi"],
    )
    villager = account(manifest, "villager-1")["address"]
    assert consortium.functions.canTransact(Web3.to_checksum_address(villager)).call()
    assert set(manifest["villages"]) == {"大石盖村", "佛山村"}


def test_role_in_the_contract_decides_who_may_transact(
    manifest: dict[str, Any],
) -> None:
    w3 = web3_for(manifest["nodes"][0]["rpcUrl"])
    consortium = w3.eth.contract(
        address=manifest["contracts"]["Consortium"],
        abi=load_artifact("Consortium")["abi"],
    )
    newcomer = Account.create()

    with pytest.raises(Web3RPCError, match="sender not permitted"):
        transfer(w3, newcomer)

    admin_call(
        w3,
        manifest,
        consortium.functions.registerVillagers(
            [newcomer.address], manifest["villages"]["大石盖村"]
        ),
    )
    receipt = w3.eth.wait_for_transaction_receipt(transfer(w3, newcomer), timeout=20)
    assert receipt["status"] == 1

    admin_call(w3, manifest, consortium.functions.removeVillager(newcomer.address))
    with pytest.raises(Web3RPCError, match="sender not permitted"):
        transfer(w3, newcomer)


def test_registered_villager_may_transact_but_outsider_may_not(
    manifest: dict[str, Any],
) -> None:
    w3 = web3_for(manifest["nodes"][0]["rpcUrl"])
    villager = Account.from_key(account(manifest, "villager-2")["privateKey"])
    assert (
        w3.eth.wait_for_transaction_receipt(transfer(w3, villager), timeout=20)[
            "status"
        ]
        == 1
    )
    outsider = Account.from_key(account(manifest, "outsider")["privateKey"])
    with pytest.raises(Web3RPCError, match="sender not permitted"):
        transfer(w3, outsider)


def test_genesis_reads_back_the_predicted_contract(manifest: dict[str, Any]) -> None:
    import json

    genesis = json.loads(Path(manifest["genesis"]).read_text())
    assert (
        genesis["gongfen"]["permissionContract"] == manifest["contracts"]["Consortium"]
    )
