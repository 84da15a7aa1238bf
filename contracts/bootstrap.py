"""Deploy the consortium's contracts on a new chain and grant the members.

``deploy_consortium`` deploys, from the town admin's account and over plain
JSON-RPC (web3.py), in this order:

1. ``Consortium(bootstrap_accounts)``: the deployer becomes the first town
   admin;
2. ``Points(consortium, period_seconds)``;
3. ``Activities(consortium, points)`` and ``Settlement(consortium, points)``;
4. ``CreditRegistry(consortium)`` and ``FeedbackAnchors(consortium)``;

then wires them (``Points.wire(activities, settlement)``, once and for
good), sets the exchange rate, registers the members' villages (ids from 1
in order of first appearance) and grants each member its role. Every
transaction pays nothing: legacy type, ``gasPrice`` 0, signed for the
chain's id. Transactions are sent with consecutive nonces, a few in flight
at a time, and every receipt is checked; the first failure raises
``DeploymentError`` naming the step.

Members are dictionaries ``{"name", "role", "address", "village"}`` with
``role`` one of ``town``, ``village``, ``bank``, ``shop``, ``regulator``
and ``village`` (a village name) required for ``village`` and ``shop``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rlp
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TimeExhausted, Web3Exception

from contracts.build import load_artifact
from contracts.catalog import MEMBER_ROLES, VILLAGE_MEMBER_ROLES
from contracts.errors import DeploymentError, MemberError

CONTRACT_NAMES = (
    "Consortium",
    "Points",
    "Activities",
    "Settlement",
    "CreditRegistry",
    "FeedbackAnchors",
)
DEFAULT_PERIOD_SECONDS = 30 * 86_400
DEFAULT_FEN_PER_POINT = 100
# Gas is free, so limits are generous rather than estimated: the node need
# not implement eth_estimateGas, and a limit can never be the reason a step
# fails. Both are far below the 100,000,000 block gas limit.
DEPLOY_GAS = 8_000_000
CALL_GAS = 2_000_000
MAX_IN_FLIGHT = 8
# Consortium stores village names as String[64] (UTF-8 bytes).
MAX_VILLAGE_NAME_BYTES = 64
RECEIPT_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class _Member:
    name: str
    role: str
    address: str
    village: str | None


@dataclass(frozen=True)
class _Pending:
    step: str
    tx_hash: HexBytes
    expected_address: str | None


def deploy_consortium(
    w3: Web3,
    town_admin: LocalAccount,
    members: Sequence[Mapping[str, Any]],
    *,
    bootstrap_accounts: Sequence[str] = (),
    period_seconds: int = DEFAULT_PERIOD_SECONDS,
    fen_per_point: int = DEFAULT_FEN_PER_POINT,
) -> dict[str, Any]:
    """Deploy, wire and populate the contract set; return the deployment.

    Takes a connected ``Web3``, the town admin's local account (which pays
    nothing but signs every transaction), the member list, and optionally
    the accounts that may transact without a role (``Consortium``'s
    bootstrap accounts), the budget period length and the exchange rate.

    Returns ``{"chainId", "contracts": {name: address}, "deployer",
    "villages": {name: id}}``.

    Raises ``MemberError`` for a malformed member before sending anything,
    and ``DeploymentError`` when a transaction is refused, reverts or gets
    no receipt in time.
    """
    parsed = [_parse_member(member) for member in members]
    bootstrap = [_checksum(a, "bootstrap account") for a in bootstrap_accounts]
    sender = _Sender(w3, town_admin)

    addresses = _deploy_contracts(sender, bootstrap, period_seconds)
    villages = _populate(sender, addresses, parsed, fen_per_point)
    sender.wait_all()

    return {
        "chainId": sender.chain_id,
        "contracts": addresses,
        "deployer": town_admin.address,
        "villages": villages,
    }


def write_deployment(
    path: str | os.PathLike[str], deployment: Mapping[str, Any]
) -> None:
    """Write ``deployment`` as JSON to ``path``, atomically.

    A reader sees either the old file or the whole new one, never a part.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(deployment, indent=2, sort_keys=True) + "\n"
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_deployment(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a deployment file written by ``write_deployment``."""
    deployment: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return deployment


def _deploy_contracts(
    sender: _Sender, bootstrap: list[str], period_seconds: int
) -> dict[str, str]:
    addresses: dict[str, str] = {}
    consortium = sender.deploy("Consortium", [bootstrap])
    addresses["Consortium"] = consortium
    addresses["Points"] = sender.deploy("Points", [consortium, period_seconds])
    for name in ("Activities", "Settlement"):
        addresses[name] = sender.deploy(name, [consortium, addresses["Points"]])
    for name in ("CreditRegistry", "FeedbackAnchors"):
        addresses[name] = sender.deploy(name, [consortium])
    return addresses


def _populate(
    sender: _Sender,
    addresses: Mapping[str, str],
    members: Sequence[_Member],
    fen_per_point: int,
) -> dict[str, int]:
    sender.call(
        "Points", addresses, "wire", [addresses["Activities"], addresses["Settlement"]]
    )
    sender.call("Settlement", addresses, "setExchangeRate", [fen_per_point])

    villages: dict[str, int] = {}
    for member in members:
        if member.village is not None and member.village not in villages:
            villages[member.village] = len(villages) + 1
            sender.call("Consortium", addresses, "addVillage", [member.village])

    for member in members:
        if member.role == "town" and member.address == sender.address:
            continue  # the deployer is the first town admin already
        village = villages[member.village] if member.village is not None else 0
        sender.call(
            "Consortium",
            addresses,
            "grantMemberRole",
            [MEMBER_ROLES[member.role], member.address, village],
            step=f"grant {member.role} to {member.name}",
        )
    return villages


class _Sender:
    """Signs and sends the town admin's transactions with local nonces."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
        self.address = to_checksum_address(account.address)
        try:
            self.chain_id = int(w3.eth.chain_id)
            self.nonce = int(w3.eth.get_transaction_count(self.address, "pending"))
        except (Web3Exception, OSError, ValueError) as error:
            raise DeploymentError("connect", str(error)) from error
        self.pending: list[_Pending] = []

    def deploy(self, name: str, args: list[Any]) -> str:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(
            abi=artifact["abi"], bytecode=artifact["bytecode"]
        )
        data = factory.constructor(*args).data_in_transaction
        expected = _create_address(self.address, self.nonce)
        self._send(f"deploy {name}", None, data, DEPLOY_GAS, expected)
        return expected

    def call(
        self,
        name: str,
        addresses: Mapping[str, str],
        function: str,
        args: list[Any],
        step: str | None = None,
    ) -> None:
        contract = self.w3.eth.contract(
            address=Web3.to_checksum_address(addresses[name]),
            abi=load_artifact(name)["abi"],
        )
        data = contract.encode_abi(function, args=args)
        self._send(step or f"{name}.{function}", addresses[name], data, CALL_GAS, None)

    def wait_all(self) -> None:
        while self.pending:
            self._wait_oldest()

    def _send(
        self, step: str, to: str | None, data: str, gas: int, expected: str | None
    ) -> None:
        if len(self.pending) >= MAX_IN_FLIGHT:
            self._wait_oldest()
        transaction: dict[str, Any] = {
            "nonce": self.nonce,
            "gasPrice": 0,
            "gas": gas,
            "value": 0,
            "data": data,
            "chainId": self.chain_id,
        }
        if to is not None:
            transaction["to"] = Web3.to_checksum_address(to)
        signed = self.account.sign_transaction(transaction)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except (Web3Exception, OSError, ValueError) as error:
            raise DeploymentError(step, f"transaction refused: {error}") from error
        self.nonce += 1
        self.pending.append(_Pending(step, HexBytes(tx_hash), expected))

    def _wait_oldest(self) -> None:
        pending = self.pending.pop(0)
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                pending.tx_hash, timeout=RECEIPT_TIMEOUT_SECONDS
            )
        except TimeExhausted as error:
            raise DeploymentError(pending.step, "no receipt in time") from error
        if receipt["status"] != 1:
            raise DeploymentError(
                pending.step, f"reverted in transaction {Web3.to_hex(pending.tx_hash)}"
            )
        created = receipt.get("contractAddress")
        if pending.expected_address is not None and (
            created is None or to_checksum_address(created) != pending.expected_address
        ):
            raise DeploymentError(
                pending.step,
                f"contract at {created}, expected {pending.expected_address}",
            )


def _parse_member(member: Mapping[str, Any]) -> _Member:
    name = member.get("name")
    if not isinstance(name, str) or not name:
        raise MemberError(repr(member), "needs a non-empty name")
    role = member.get("role")
    if role not in MEMBER_ROLES:
        raise MemberError(
            name, f"role must be one of {sorted(MEMBER_ROLES)}, got {role!r}"
        )
    try:
        address = _checksum(member.get("address"), "address")
    except DeploymentError as error:
        raise MemberError(name, error.reason) from None

    village = member.get("village")
    if role in VILLAGE_MEMBER_ROLES:
        if (
            not isinstance(village, str | int)
            or isinstance(village, bool)
            or village == ""
        ):
            raise MemberError(name, f"role {role} needs a village name")
        if len(str(village).encode()) > MAX_VILLAGE_NAME_BYTES:
            raise MemberError(name, f"village name over {MAX_VILLAGE_NAME_BYTES} bytes")
        return _Member(name, role, address, str(village))
    if village not in (None, "", 0):
        raise MemberError(name, f"role {role} takes no village, got {village!r}")
    return _Member(name, role, address, None)


def _checksum(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise DeploymentError("members", f"{what} is not an address: {value!r}")
    return to_checksum_address(value)


def _create_address(sender: str, nonce: int) -> str:
    # CREATE address: keccak256(rlp([sender, nonce]))[12:].
    encoded = rlp.encode([bytes.fromhex(sender[2:]), nonce])
    return to_checksum_address(keccak(encoded)[12:])
