"""The consortium genesis: loading and validating ``genesis.json``.

The document uses the geth/Besu layout (``config`` with ``chainId``, the fork
and a ``qbft`` block; ``extraData`` in QBFT form; ``alloc``; a fixed
``gasLimit``) plus a ``gongfen`` block that names the members::

    "gongfen": {
      "accounts": "allowlist" | "open",
      "allowlist": ["0x…", …],
      "permissionContract": "0x…" (optional: a contract with canTransact(address)),
      "members": [{"id", "name", "role", "validator", "nodeId"}, …]
    }

``parse_genesis`` checks every field and raises ``GenesisError`` naming the first
wrong one, e.g. ``config.qbft.blockperiodseconds: must be a positive integer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_keys import keys
from eth_typing import Address
from eth_utils import is_hex_address, to_canonical_address, to_checksum_address

from chain.blocks import BFT_MIX_HASH
from chain.errors import ExtraDataError, GenesisError
from chain.qbft.extra_data import QbftExtraData, decode_extra_data

MEMBER_ROLES = ("town", "village", "bank", "shop", "regulator")
PERMISSIONING_MODES = ("open", "allowlist")
FORK_KEY = "pragueTime"


@dataclass(frozen=True)
class Member:
    """One consortium member and the node it runs."""

    id: str
    name: str
    role: str
    validator: Address | None
    node_id: bytes  # the 64-byte secp256k1 public key of the member's node
    # The member's transport identity (see node.transport.peers): the SHA-256
    # pin of its TLS certificate and the certificate itself, as PEM. Optional:
    # a permissions file may carry them instead.
    fingerprint: str | None = None
    certificate: str | None = None


@dataclass(frozen=True)
class GenesisAccount:
    """An account that exists at genesis."""

    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class QbftConfig:
    """The consensus timing of the consortium."""

    block_period_seconds: int
    request_timeout_seconds: int
    epoch_length: int


@dataclass(frozen=True)
class Genesis:
    """A validated consortium genesis."""

    chain_id: int
    qbft: QbftConfig
    gas_limit: int
    timestamp: int
    extra_data: bytes
    validators: tuple[Address, ...]
    members: tuple[Member, ...]
    permissioning: str
    allowlist: frozenset[Address]
    alloc: dict[Address, GenesisAccount]
    permission_contract: Address | None = None

    def member_for_validator(self, validator: Address) -> Member | None:
        """Return the member whose node validates as ``validator``, if any."""
        for member in self.members:
            if member.validator == validator:
                return member
        return None


def load_genesis(path: Path) -> Genesis:
    """Read and validate the genesis file at ``path``.

    Rejects a missing or unreadable file, text that is not JSON, and any field
    that ``parse_genesis`` rejects.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GenesisError(
            f"cannot read genesis file {path}: {error.strerror}"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise GenesisError(f"genesis file {path} is not JSON: {error}") from None
    return parse_genesis(document)


def parse_genesis(document: Any) -> Genesis:
    """Validate a genesis document and return it as a :class:`Genesis`."""
    if not isinstance(document, dict):
        raise GenesisError("genesis: must be a JSON object")
    config = _require_object(document, "config", "config")
    chain_id = _require_positive_int(config, "chainId", "config.chainId")
    if config.get(FORK_KEY) != 0:
        raise GenesisError(
            f"config.{FORK_KEY}: must be 0 (the chain runs Prague rules from genesis)"
        )
    qbft = _parse_qbft(_require_object(config, "qbft", "config.qbft"))

    gas_limit = _require_quantity(document, "gasLimit", "gasLimit")
    if gas_limit < 5000:
        raise GenesisError(f"gasLimit: must be at least 5000, got {gas_limit}")
    timestamp = _require_quantity(document, "timestamp", "timestamp")
    _require_constant(document, "difficulty", 1)
    _require_constant(document, "nonce", 0)
    mix_hash = document.get("mixHash", "0x" + BFT_MIX_HASH.hex())
    if mix_hash != "0x" + BFT_MIX_HASH.hex():
        raise GenesisError("mixHash: must be the BFT digest 0x6374…6365")

    extra_data_bytes = _require_hex_bytes(document, "extraData", "extraData")
    extra = _parse_extra_data(extra_data_bytes)
    if not extra.validators:
        raise GenesisError("extraData: must list at least one validator")

    gongfen = _require_object(document, "gongfen", "gongfen")
    members = _parse_members(gongfen)
    _check_validators_are_members(extra, members)
    permissioning, allowlist = _parse_permissioning(gongfen)
    permission_contract = None
    if gongfen.get("permissionContract") is not None:
        permission_contract = _parse_address(
            gongfen["permissionContract"], "gongfen.permissionContract"
        )
        if permissioning != "allowlist":
            raise GenesisError(
                "gongfen.permissionContract: needs accounts 'allowlist', whose "
                "accounts may transact before the contract is deployed"
            )
    alloc = _parse_alloc(document.get("alloc", {}))

    return Genesis(
        chain_id=chain_id,
        qbft=qbft,
        gas_limit=gas_limit,
        timestamp=timestamp,
        extra_data=extra_data_bytes,
        validators=extra.validators,
        members=members,
        permissioning=permissioning,
        allowlist=allowlist,
        alloc=alloc,
        permission_contract=permission_contract,
    )


def _parse_qbft(qbft: dict[str, Any]) -> QbftConfig:
    return QbftConfig(
        block_period_seconds=_require_positive_int(
            qbft, "blockperiodseconds", "config.qbft.blockperiodseconds"
        ),
        request_timeout_seconds=_require_positive_int(
            qbft, "requesttimeoutseconds", "config.qbft.requesttimeoutseconds"
        ),
        epoch_length=_require_positive_int(
            qbft, "epochlength", "config.qbft.epochlength"
        ),
    )


def _parse_extra_data(encoded: bytes) -> QbftExtraData:
    try:
        extra = decode_extra_data(encoded)
    except ExtraDataError as error:
        raise GenesisError(f"extraData: {error}") from None
    if extra.committed_seals or extra.vote is not None or extra.round != 0:
        raise GenesisError("extraData: genesis has no seals, no vote and round 0")
    return extra


def _parse_members(gongfen: dict[str, Any]) -> tuple[Member, ...]:
    entries = gongfen.get("members")
    if not isinstance(entries, list) or not entries:
        raise GenesisError("gongfen.members: must be a non-empty list")
    members = []
    seen_ids: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"gongfen.members[{index}]"
        if not isinstance(entry, dict):
            raise GenesisError(f"{where}: must be an object")
        member = _parse_member(entry, where)
        if member.id in seen_ids:
            raise GenesisError(f"{where}.id: {member.id!r} is listed twice")
        seen_ids.add(member.id)
        members.append(member)
    return tuple(members)


def _parse_member(entry: dict[str, Any], where: str) -> Member:
    member_id = entry.get("id")
    if not isinstance(member_id, str) or not member_id.replace("-", "").isalnum():
        raise GenesisError(f"{where}.id: must be letters, digits and dashes")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise GenesisError(f"{where}.name: must be a non-empty string")
    role = entry.get("role")
    if role not in MEMBER_ROLES:
        raise GenesisError(f"{where}.role: must be one of {', '.join(MEMBER_ROLES)}")
    node_id = _require_hex_bytes(entry, "nodeId", f"{where}.nodeId")
    try:
        public_key = keys.PublicKey(node_id)
    except Exception:
        raise GenesisError(
            f"{where}.nodeId: must be a 64-byte secp256k1 public key"
        ) from None
    validator_text = entry.get("validator")
    validator = None
    if validator_text is not None:
        validator = _parse_address(validator_text, f"{where}.validator")
        if public_key.to_canonical_address() != validator:
            raise GenesisError(
                f"{where}.validator: does not match the address of nodeId"
            )
    if role == "regulator" and validator is not None:
        raise GenesisError(f"{where}.validator: the regulator runs an observer node")
    fingerprint = _optional_string(entry, "fingerprint", where)
    certificate = _optional_string(entry, "certificate", where)
    return Member(member_id, name, role, validator, node_id, fingerprint, certificate)


def _optional_string(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise GenesisError(f"{where}.{key}: must be a non-empty string when given")
    return value


def _check_validators_are_members(
    extra: QbftExtraData, members: tuple[Member, ...]
) -> None:
    member_validators = {m.validator for m in members if m.validator is not None}
    for validator in extra.validators:
        if validator not in member_validators:
            raise GenesisError(
                f"extraData: validator {to_checksum_address(validator)} is not "
                "the validator of any member"
            )


def _parse_permissioning(gongfen: dict[str, Any]) -> tuple[str, frozenset[Address]]:
    mode = gongfen.get("accounts", "open")
    if mode not in PERMISSIONING_MODES:
        raise GenesisError("gongfen.accounts: must be 'open' or 'allowlist'")
    entries = gongfen.get("allowlist", [])
    if not isinstance(entries, list):
        raise GenesisError("gongfen.allowlist: must be a list of addresses")
    allowlist = frozenset(
        _parse_address(entry, f"gongfen.allowlist[{index}]")
        for index, entry in enumerate(entries)
    )
    if mode == "allowlist" and not allowlist:
        raise GenesisError("gongfen.allowlist: an allowlist chain needs an account")
    return mode, allowlist


def _parse_alloc(alloc: Any) -> dict[Address, GenesisAccount]:
    if not isinstance(alloc, dict):
        raise GenesisError("alloc: must be an object of address to account")
    accounts = {}
    for key, entry in alloc.items():
        where = f"alloc.{key}"
        text = key if key.startswith("0x") else "0x" + key
        address = _parse_address(text, where)
        if not isinstance(entry, dict):
            raise GenesisError(f"{where}: must be an object")
        storage_entries = entry.get("storage", {})
        if not isinstance(storage_entries, dict):
            raise GenesisError(f"{where}.storage: must be an object")
        accounts[address] = GenesisAccount(
            balance=_optional_quantity(entry, "balance", f"{where}.balance"),
            nonce=_optional_quantity(entry, "nonce", f"{where}.nonce"),
            code=_require_hex_bytes(entry, "code", f"{where}.code")
            if "code" in entry
            else b"",
            storage={
                _hex_int(slot, f"{where}.storage"): _hex_int(value, f"{where}.storage")
                for slot, value in storage_entries.items()
            },
        )
    return accounts


def _require_object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise GenesisError(f"{where}: must be an object")
    return value


def _require_positive_int(parent: dict[str, Any], key: str, where: str) -> int:
    value = parent.get(key)
    if isinstance(value, str):
        value = _hex_int(value, where) if value.startswith("0x") else None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise GenesisError(f"{where}: must be a positive integer, got {value!r}")
    return value


def _require_quantity(parent: dict[str, Any], key: str, where: str) -> int:
    if key not in parent:
        raise GenesisError(f"{where}: is required")
    return _optional_quantity(parent, key, where)


def _optional_quantity(parent: dict[str, Any], key: str, where: str) -> int:
    value = parent.get(key, 0)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        if value.startswith("0x"):
            return _hex_int(value, where)
        if value.isdigit():
            return int(value)
    raise GenesisError(f"{where}: must be a non-negative quantity, got {value!r}")


def _require_constant(parent: dict[str, Any], key: str, expected: int) -> None:
    if key in parent and _optional_quantity(parent, key, key) != expected:
        raise GenesisError(f"{key}: must be {expected} on a QBFT chain")


def _require_hex_bytes(parent: dict[str, Any], key: str, where: str) -> bytes:
    value = parent.get(key)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise GenesisError(f"{where}: must be 0x-prefixed hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise GenesisError(f"{where}: is not valid hex") from None


def _hex_int(value: Any, where: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise GenesisError(f"{where}: must be 0x-prefixed hex, got {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise GenesisError(f"{where}: is not valid hex, got {value!r}") from None


def _parse_address(value: Any, where: str) -> Address:
    if not isinstance(value, str) or not is_hex_address(value):
        raise GenesisError(f"{where}: must be a 20-byte hex address, got {value!r}")
    return Address(to_canonical_address(value))


DEFAULT_GAS_LIMIT = 100_000_000


def build_genesis_document(
    *,
    chain_id: int,
    members: list[Member],
    validators: list[Address],
    balances: dict[Address, int],
    permissioning: str = "allowlist",
    allowlist: list[Address] | None = None,
    block_period_seconds: int = 1,
    request_timeout_seconds: int = 4,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    timestamp: int = 0,
    permission_contract: Address | None = None,
) -> dict[str, Any]:
    """Return a genesis document (the JSON object) for a new consortium.

    The result passes ``parse_genesis``; the devnet and the tests build their
    chains with it, and a real consortium edits the committed example.
    """
    from chain.qbft.extra_data import encode_extra_data
    from chain.qbft.validators import sort_validators

    # Besu lists validators in address order, as proposer rotation uses them.
    extra = QbftExtraData(validators=sort_validators(validators))
    return {
        "config": {
            "chainId": chain_id,
            FORK_KEY: 0,
            "qbft": {
                "blockperiodseconds": block_period_seconds,
                "requesttimeoutseconds": request_timeout_seconds,
                "epochlength": 30000,
            },
        },
        "gongfen": {
            "accounts": permissioning,
            "allowlist": [to_checksum_address(a) for a in allowlist or []],
            "permissionContract": None
            if permission_contract is None
            else to_checksum_address(permission_contract),
            "members": [
                {
                    "id": m.id,
                    "name": m.name,
                    "role": m.role,
                    "validator": None
                    if m.validator is None
                    else to_checksum_address(m.validator),
                    "nodeId": "0x" + m.node_id.hex(),
                    **_transport_fields(m),
                }
                for m in members
            ],
        },
        "nonce": "0x0",
        "timestamp": hex(timestamp),
        "extraData": "0x" + encode_extra_data(extra).hex(),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": "0x" + BFT_MIX_HASH.hex(),
        "coinbase": "0x" + "00" * 20,
        "alloc": {
            to_checksum_address(address): {"balance": hex(balance)}
            for address, balance in balances.items()
        },
        "number": "0x0",
        "gasUsed": "0x0",
        "parentHash": "0x" + "00" * 32,
    }


def _transport_fields(member: Member) -> dict[str, str]:
    fields = {}
    if member.fingerprint is not None:
        fields["fingerprint"] = member.fingerprint
    if member.certificate is not None:
        fields["certificate"] = member.certificate
    return fields
