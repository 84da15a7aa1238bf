"""The bench consortium: its members, its prepared chain, its measured work.

``prepare_consortium`` takes a chain prepared by the throughput benchmark
(token deployed, senders funded), deploys the consortium with
``deploy_consortium`` through web3.py, and sets it up as
``tests/contracts/world.py`` and ``test_gas.py`` do: villages East (1) and
West (2) with admin, shop and social worker each, two banks, a regulator,
budgets for the current period. The bench's villagers are registered in East,
get their first points from civic classes, and are checked in to the
volunteer-service activities whose approval is measured; a score tree is
published for the presentation check. It returns the ``Scenario``: the
measured approvals and redemptions, signed but not sent.

For the bounds of a batch award it also deploys ``bench/contracts/
AwardBounds.vy`` (the town is its minter), credits the measured villagers
there once, and signs its ``announce`` and ``credit`` calls on the same
batches as the measured approvals.

web3.py talks to the in-process ledger through ``LedgerProvider``, which
answers with the node's own JSON-RPC handlers. Used by
``bench/contracts_throughput.py``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from throughput import Workload, genesis_for
from vyper import compile_code
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers.base import BaseProvider, JSONBaseProvider
from web3.types import Nonce, RPCEndpoint, RPCResponse, TxParams, TxReceipt, Wei

from chain.block_production import produce_block
from chain.ledger import Ledger
from contracts.bootstrap import deploy_consortium
from contracts.build import load_artifact
from contracts.catalog import Category
from contracts.presentation import build_tree, commitment_tip, leaf_hash
from node.rpc.errors import RpcError
from node.rpc.methods import EthApi

# As in tests/contracts/world.py and test_gas.py.
EAST, WEST = 1, 2
BUDGET = 10_000_000
POINTS_PER_AWARD = 10
DAILY_CAP = 50
ACTIVITY_SECONDS = 2 * 3600
RULEBOOK = b"\x52" * 32
PRESENTATION_LEAVES = 200
BOUNDS_SOURCE = Path(__file__).parent / "contracts" / "AwardBounds.vy"
BOUND_FUNCTIONS = ("announce", "credit")
# Batch transactions of the setup: generous, a few fit a block.
SETUP_BATCH_GAS = 30_000_000
SETUP_CALL_GAS = 2_000_000
# Measured transactions get their estimate plus this margin.
GAS_MARGIN = 1.25


# -- accounts ------------------------------------------------------------------


def bench_account(name: str) -> LocalAccount:
    """A fixed key per name, so that runs are repeatable."""
    account: LocalAccount = Account.from_key(keccak(text=f"gongfen bench {name}"))
    return account


@dataclass
class Cast:
    """The members of the bench consortium, as in the contract tests' world."""

    town: LocalAccount
    east_admin: LocalAccount
    west_admin: LocalAccount
    east_shop: LocalAccount
    west_shop: LocalAccount
    east_worker: LocalAccount
    west_worker: LocalAccount
    bank: LocalAccount
    other_bank: LocalAccount
    regulator: LocalAccount
    villagers: list[LocalAccount]

    def members(self) -> list[dict[str, Any]]:
        """The member list ``deploy_consortium`` grants (villages East, West)."""
        return [
            _member("town", "town", self.town),
            _member("east admin", "village", self.east_admin, "East"),
            _member("west admin", "village", self.west_admin, "West"),
            _member("east shop", "shop", self.east_shop, "East"),
            _member("west shop", "shop", self.west_shop, "West"),
            _member("bank", "bank", self.bank),
            _member("other bank", "bank", self.other_bank),
            _member("regulator", "regulator", self.regulator),
        ]


def _member(
    name: str, role: str, account: LocalAccount, village: str | None = None
) -> dict[str, Any]:
    return {"name": name, "role": role, "address": account.address, "village": village}


def make_cast(villagers: int) -> Cast:
    return Cast(
        town=bench_account("town"),
        east_admin=bench_account("east admin"),
        west_admin=bench_account("west admin"),
        east_shop=bench_account("east shop"),
        west_shop=bench_account("west shop"),
        east_worker=bench_account("east worker"),
        west_worker=bench_account("west worker"),
        bank=bench_account("bank"),
        other_bank=bench_account("other bank"),
        regulator=bench_account("regulator"),
        villagers=[bench_account(f"villager {i}") for i in range(villagers)],
    )


# -- web3.py on an in-process ledger -------------------------------------------


class LedgerProvider(JSONBaseProvider):
    """web3.py provider answering with the node's JSON-RPC handlers in-process.

    Requests are encoded as they would be sent over HTTP. Asking for a
    receipt first mines everything pooled, so that a client waiting for its
    transactions gets them in as few blocks as possible.
    """

    def __init__(self, ledger: Ledger, validator_key: bytes) -> None:
        super().__init__()
        self.ledger = ledger
        self.validator_key = validator_key
        self.api = EthApi(ledger)

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_getTransactionReceipt":
            self.mine_pool()
        request = json.loads(self.encode_rpc_request(method, params))
        try:
            result = self.api.dispatch(request["method"], request["params"])
        except RpcError as error:
            failure: Any = {"jsonrpc": "2.0", "id": 1, "error": error.to_json()}
            return failure  # type: ignore[no-any-return]
        return {"jsonrpc": "2.0", "id": 1, "result": result}

    def mine_pool(self) -> None:
        while len(self.ledger.pool):
            header = produce_block(self.ledger, self.validator_key, int(time.time()))
            if not self.ledger.transactions_of(header):
                raise RuntimeError("no block takes the pooled transactions: nonce gap?")


def web3_for(provider: BaseProvider) -> Web3:
    w3 = Web3(provider)
    # The chain's headers carry QBFT extraData, longer than web3.py allows.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


# -- the prepared chain --------------------------------------------------------


@dataclass
class PresentationCase:
    """A published score tree and a holder whose score is in it."""

    holder: LocalAccount
    seed: bytes
    score: int
    proof: list[bytes]
    epoch: int
    version: int


@dataclass
class BoundCalls:
    """Signed batch calls of one ``AwardBounds`` function."""

    calls: list[bytes]  # one per measured batch, nonces from the same first one
    gas: int  # the gas limit each call is signed with


@dataclass
class Scenario:
    """The consortium on the prepared chain and the signed measured work."""

    contracts: dict[str, str]
    cast: Cast
    batch_size: int
    approvals: list[bytes]  # each approves one batch of villagers
    approval_gas: int  # the gas limit each approval is signed with
    head_number: int  # the prepared chain's last block
    redemptions: list[bytes]  # one per villager, each to the shop
    first_award_gas: float  # per award when it is a villager's first points
    presentation: PresentationCase
    # By ``AwardBounds`` function: its calls on the measured approvals'
    # batches. Both start from the same nonce: each stage starts from the
    # prepared chain.
    bounds: dict[str, BoundCalls]


Call = tuple[LocalAccount, ContractFunction, int]


class Setup:
    """Signs and sends the setup's transactions in rounds over web3.py."""

    def __init__(self, w3: Web3, contracts: dict[str, str]) -> None:
        self.w3 = w3
        self.chain_id = w3.eth.chain_id
        self.contracts: dict[str, Contract] = {
            name: w3.eth.contract(
                address=Web3.to_checksum_address(address),
                abi=load_artifact(name)["abi"],
            )
            for name, address in contracts.items()
        }

    def __getitem__(self, name: str) -> Contract:
        return self.contracts[name]

    def now(self) -> int:
        """The head block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def sign(
        self,
        account: LocalAccount,
        call: ContractFunction | ContractConstructor,
        gas: int,
        nonce: int | None = None,
    ) -> bytes:
        """Sign ``call``; the nonce defaults to the next one, counting the pool."""
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(account.address, "pending")
        fields: TxParams = {
            "from": account.address,
            "nonce": Nonce(nonce),
            "gas": gas,
            "gasPrice": Wei(0),
            "chainId": self.chain_id,
        }
        transaction = call.build_transaction(fields)
        signed = account.sign_transaction(transaction)  # type: ignore[arg-type]
        return bytes(signed.raw_transaction)

    def round(self, calls: Sequence[Call]) -> list[TxReceipt]:
        """Send ``calls`` in order; return their receipts once all succeeded."""
        hashes = [
            self.w3.eth.send_raw_transaction(self.sign(account, call, gas))
            for account, call, gas in calls
        ]
        receipts = [self.w3.eth.wait_for_transaction_receipt(h) for h in hashes]
        for (_, call, _), receipt in zip(calls, receipts, strict=True):
            if receipt["status"] != 1:
                raise RuntimeError(f"setup step {call.fn_name} reverted")
        return receipts


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def prepare_consortium(
    workload: Workload,
    folder: Path,
    cast: Cast,
    batch_size: int,
    batches: int,
    redemptions: int,
) -> Scenario:
    """Deploy and set up the consortium on the prepared chain in ``folder``.

    Then sign, without sending, the ``batches`` approvals and the
    ``redemptions`` whose processing the benchmark measures.
    """
    ledger = Ledger(folder, genesis_for(workload))
    try:
        w3 = web3_for(LedgerProvider(ledger, workload.validator_key))
        deployment = deploy_consortium(w3, cast.town, cast.members())
        setup = Setup(w3, deployment["contracts"])
        villagers: list[str] = [v.address for v in cast.villagers]
        funding = chunks(villagers, batch_size)
        measured = chunks(villagers[: batch_size * batches], batch_size)

        register_members(setup, cast, villagers, batch_size)
        # The villagers' first points come from civic classes, so that the
        # measured volunteer-service awards add to a balance (the usual case).
        activity_ids = publish_activities(
            setup,
            cast,
            [Category.CIVIC_CLASS] * len(funding)
            + [Category.VOLUNTEER_SERVICE] * len(measured),
        )
        funding_ids = activity_ids[: len(funding)]
        measured_ids = activity_ids[len(funding) :]
        presentation = publish_scores(setup, cast)
        check_in(setup, cast, activity_ids, funding + measured)
        first_award_gas = approve(setup, cast, funding_ids, funding)

        bounds = deploy_bounds(setup, cast, measured)

        approvals, approval_gas = sign_approvals(setup, cast, measured_ids, measured)
        return Scenario(
            contracts=deployment["contracts"],
            cast=cast,
            batch_size=batch_size,
            approvals=approvals,
            approval_gas=approval_gas,
            redemptions=sign_redemptions(setup, cast, redemptions),
            first_award_gas=first_award_gas,
            presentation=presentation,
            head_number=ledger.head.block_number,
            bounds=sign_bounds(setup, cast, bounds, measured),
        )
    finally:
        ledger.close()


def register_members(
    setup: Setup, cast: Cast, villagers: list[str], batch_size: int
) -> None:
    """Social workers, villagers and the current period's budgets, as the tests."""
    consortium, points = setup["Consortium"], setup["Points"]
    period = points.functions.currentPeriod().call()
    calls: list[Call] = [
        (
            cast.east_admin,
            consortium.functions.registerSocialWorker(cast.east_worker.address, EAST),
            SETUP_CALL_GAS,
        ),
        (
            cast.west_admin,
            consortium.functions.registerSocialWorker(cast.west_worker.address, WEST),
            SETUP_CALL_GAS,
        ),
    ]
    calls += [
        (
            cast.east_admin,
            consortium.functions.registerVillagers(chunk, EAST),
            SETUP_BATCH_GAS,
        )
        for chunk in chunks(villagers, batch_size)
    ]
    calls += [
        (cast.town, points.functions.setBudget(unit, period, BUDGET), SETUP_CALL_GAS)
        for unit in (0, EAST, WEST)
    ]
    setup.round(calls)


def publish_activities(
    setup: Setup, cast: Cast, categories: list[Category]
) -> list[int]:
    """Publish one village-1 activity per category; return their ids."""
    activities = setup["Activities"]
    start = setup.now()
    calls: list[Call] = [
        (
            cast.east_admin,
            activities.functions.publishActivity(
                EAST,
                category,
                POINTS_PER_AWARD,
                len(cast.villagers),
                start,
                start + ACTIVITY_SECONDS,
                DAILY_CAP,
            ),
            SETUP_CALL_GAS,
        )
        for category in categories
    ]
    published = activities.events.ActivityPublished()
    return [
        published.process_receipt(receipt)[0]["args"]["activityId"]
        for receipt in setup.round(calls)
    ]


def check_in(
    setup: Setup, cast: Cast, activity_ids: list[int], batches: list[list[str]]
) -> None:
    """The social worker checks each batch in to its activity."""
    activities = setup["Activities"]
    setup.round(
        [
            (
                cast.east_worker,
                activities.functions.checkInBatch(activity_id, batch),
                SETUP_BATCH_GAS,
            )
            for activity_id, batch in zip(activity_ids, batches, strict=True)
        ]
    )


def approve(
    setup: Setup, cast: Cast, activity_ids: list[int], batches: list[list[str]]
) -> float:
    """Approve each batch; return the gas per award of the first batch."""
    activities = setup["Activities"]
    receipts = setup.round(
        [
            (
                cast.east_admin,
                activities.functions.approveParticipants(activity_id, 0, batch),
                SETUP_BATCH_GAS,
            )
            for activity_id, batch in zip(activity_ids, batches, strict=True)
        ]
    )
    return int(receipts[0]["gasUsed"]) / len(batches[0])


def sign_approvals(
    setup: Setup, cast: Cast, activity_ids: list[int], batches: list[list[str]]
) -> tuple[list[bytes], int]:
    """The measured approvals, signed with their estimate plus a margin."""
    activities = setup["Activities"]
    calls = [
        activities.functions.approveParticipants(activity_id, 0, batch)
        for activity_id, batch in zip(activity_ids, batches, strict=True)
    ]
    gas = int(calls[0].estimate_gas({"from": cast.east_admin.address}) * GAS_MARGIN)
    first_nonce = setup.w3.eth.get_transaction_count(cast.east_admin.address)
    signed = [
        setup.sign(cast.east_admin, call, gas, first_nonce + index)
        for index, call in enumerate(calls)
    ]
    return signed, gas


def sign_redemptions(setup: Setup, cast: Cast, count: int) -> list[bytes]:
    """Each of the first ``count`` villagers pays the shop one point."""
    points = setup["Points"]
    calls = [
        points.functions.redeem(
            cast.east_shop.address, 1, keccak(text=f"bench redemption {index}")
        )
        for index in range(count)
    ]
    first = cast.villagers[0].address
    gas = int(calls[0].estimate_gas({"from": first}) * GAS_MARGIN)
    return [
        setup.sign(villager, call, gas, 0)
        for villager, call in zip(cast.villagers, calls, strict=False)
    ]


def deploy_bounds(setup: Setup, cast: Cast, batches: list[list[str]]) -> Contract:
    """Deploy ``AwardBounds`` from the town; credit each of ``batches`` once.

    The measured credits then add to a balance the villager already holds
    in that contract: the usual case, and cheaper than a first one.
    """
    compiled = compile_code(
        BOUNDS_SOURCE.read_text(), output_formats=["abi", "bytecode"]
    )
    deployment = setup.w3.eth.contract(
        abi=compiled["abi"], bytecode=compiled["bytecode"]
    )
    raw = setup.sign(cast.town, deployment.constructor(), SETUP_CALL_GAS)
    transaction_hash = setup.w3.eth.send_raw_transaction(raw)
    receipt = setup.w3.eth.wait_for_transaction_receipt(transaction_hash)
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise RuntimeError("setup step: deploying AwardBounds reverted")
    bounds = setup.w3.eth.contract(address=address, abi=compiled["abi"])

    setup.round(
        [
            (
                cast.town,
                bounds.functions.credit(batch, POINTS_PER_AWARD),
                SETUP_BATCH_GAS,
            )
            for batch in batches
        ]
    )
    return bounds


def sign_bounds(
    setup: Setup, cast: Cast, bounds: Contract, batches: list[list[str]]
) -> dict[str, BoundCalls]:
    """Each ``AwardBounds`` function on ``batches``, signed by the town.

    Every function's calls take the nonces that follow the town's last one,
    with their estimate plus a margin.
    """
    first_nonce = setup.w3.eth.get_transaction_count(cast.town.address)
    signed = {}
    for name in BOUND_FUNCTIONS:
        function = bounds.functions[name]
        calls = [function(batch, POINTS_PER_AWARD) for batch in batches]
        estimate = calls[0].estimate_gas({"from": cast.town.address})
        gas = int(estimate * GAS_MARGIN)
        signed[name] = BoundCalls(
            calls=[
                setup.sign(cast.town, call, gas, first_nonce + index)
                for index, call in enumerate(calls)
            ],
            gas=gas,
        )
    return signed


def publish_scores(setup: Setup, cast: Cast) -> PresentationCase:
    """Publish a score tree of 200 holders as test_gas does; return one holder."""
    rng = random.Random(3)
    holders = [
        (Account.from_key(rng.randbytes(32)), rng.randbytes(32), rng.randint(0, 900))
        for _ in range(PRESENTATION_LEAVES)
    ]
    holder, seed, score = holders[0][0], holders[0][1], 700
    holders[0] = (holder, seed, score)
    tips = {account.address: commitment_tip(s, t) for account, s, t in holders}
    tree = build_tree(tips, rng)

    registry = setup["CreditRegistry"]
    call = registry.functions.publishRoot(
        1, tree.root, setup.now() + 30 * 86_400, len(holders), RULEBOOK, bytes(32)
    )
    setup.round([(cast.town, call, SETUP_CALL_GAS)])
    proof = tree.proof(leaf_hash(holder.address, tips[holder.address]))
    return PresentationCase(holder, seed, score, proof, epoch=1, version=1)
