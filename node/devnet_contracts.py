"""Deploying the consortium contracts on a fresh devnet.

The devnet's genesis names the Consortium contract as the permission contract
before it exists, at the address the town admin's first transaction will
create. ``deploy_devnet_contracts`` then runs the bootstrap from that account,
registers the dev villagers in 大石盖村, and writes ``deployment.json`` beside
``devnet.json`` for the API to read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rlp
from eth_account import Account
from eth_hash.auto import keccak
from eth_typing import Address
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from contracts.bootstrap import deploy_consortium, write_deployment
from contracts.build import load_artifact

# Which dev account holds which member role (village members name their village).
DEV_MEMBER_ROLES = (
    ("town-admin", "town", None),
    ("dashigai-admin", "village", "大石盖村"),
    ("foshan-admin", "village", "佛山村"),
    ("bank-operator", "bank", None),
    ("shop-cashier", "shop", "大石盖村"),
    ("regulator-auditor", "regulator", None),
)
DEV_VILLAGERS = ("villager-1", "villager-2")
DEV_VILLAGE = "大石盖村"


def first_contract_address(deployer: Address) -> Address:
    """The address of the contract ``deployer`` creates with its nonce-0 transaction."""
    return Address(keccak(rlp.encode([bytes(deployer), 0]))[12:])


def deploy_devnet_contracts(
    rpc_url: str, accounts: dict[str, dict[str, Any]], path: Path
) -> dict[str, Any]:
    """Deploy and populate the contract set through ``rpc_url``; write ``path``."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    town_admin = Account.from_key(accounts["town-admin"]["privateKey"])
    members = [
        {
            "name": name,
            "role": role,
            "address": accounts[name]["address"],
            **({"village": village} if village else {}),
        }
        for name, role, village in DEV_MEMBER_ROLES
    ]
    deployment = deploy_consortium(w3, town_admin, members)
    _register_villagers(w3, accounts, deployment)
    write_deployment(path, deployment)
    return deployment


def _register_villagers(
    w3: Web3, accounts: dict[str, dict[str, Any]], deployment: dict[str, Any]
) -> None:
    admin = Account.from_key(accounts["dashigai-admin"]["privateKey"])
    consortium = w3.eth.contract(
        address=deployment["contracts"]["Consortium"],
        abi=load_artifact("Consortium")["abi"],
    )
    villagers = [
        Web3.to_checksum_address(accounts[n]["address"]) for n in DEV_VILLAGERS
    ]
    transaction = consortium.functions.registerVillagers(
        villagers, deployment["villages"][DEV_VILLAGE]
    ).build_transaction(
        {
            "from": admin.address,
            "gas": 2_000_000,
            "gasPrice": 0,
            "nonce": w3.eth.get_transaction_count(admin.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    transaction_hash = w3.eth.send_raw_transaction(
        admin.sign_transaction(transaction).raw_transaction
    )
    receipt = w3.eth.wait_for_transaction_receipt(transaction_hash, timeout=60)
    if receipt["status"] != 1:
        raise RuntimeError("registering the dev villagers reverted")
