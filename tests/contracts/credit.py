"""Score commitments published to a test world, and presentations on them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from contracts.presentation import (
    Commitment,
    MerkleTree,
    Presentation,
    RegistryView,
    build_tree,
    commitment_tip,
    leaf_hash,
    reveal_node,
    sign_presentation,
)
from tests.contracts.harness import CHAIN_ID
from tests.contracts.world import DAY, World

RULEBOOK = b"\x52" * 32


@dataclass
class Holder:
    """A villager's wallet side: key, seed and score for one epoch."""

    account: LocalAccount
    seed: bytes
    score: int


@dataclass
class Epoch:
    """One published version: its holders and tree."""

    epoch: int
    version: int
    holders: list[Holder]
    tree: MerkleTree
    valid_until: int


@dataclass
class CreditBook:
    """Everything published so far, mirrored in a ``RegistryView``."""

    world: World
    view: RegistryView
    rng: random.Random
    published: dict[tuple[int, int], Epoch] = field(default_factory=dict)

    def publish(
        self,
        epoch: int,
        holders: list[Holder],
        valid_for: int = 30 * DAY,
        appeal: bytes = bytes(32),
    ) -> Epoch:
        """Build the tree for ``holders`` and publish it as the next version."""
        tips = {h.account.address: commitment_tip(h.seed, h.score) for h in holders}
        tree = build_tree(tips, self.rng)
        valid_until = self.world.h.now + valid_for
        self.world.registry.publishRoot.transact(
            epoch,
            tree.root,
            valid_until,
            len(holders),
            RULEBOOK,
            appeal,
            sender=self.world.town,
        )
        version = self.view.publish(epoch, Commitment(tree.root, valid_until))
        published = Epoch(epoch, version, holders, tree, valid_until)
        self.published[(epoch, version)] = published
        return published

    def present(
        self,
        published: Epoch,
        holder: Holder,
        threshold: int,
        *,
        bank: str | None = None,
        nonce: bytes = b"\x4e" * 32,
        expiry_in: int = 300,
        signer: LocalAccount | None = None,
        proof: list[bytes] | None = None,
    ) -> Presentation:
        """A presentation of ``holder``'s score against ``published``.

        A threshold above the score reuses the node for the score itself,
        which is what a cheating holder could at best do. ``proof``
        replaces the holder's own Merkle path (for holders not in the tree).
        """
        tip = commitment_tip(holder.seed, holder.score)
        node = reveal_node(holder.seed, holder.score, min(threshold, holder.score))
        if proof is None:
            proof = published.tree.proof(leaf_hash(holder.account.address, tip))
        presentation = sign_presentation(
            signer or holder.account,
            bank=bank or self.world.bank.address,
            nonce=nonce,
            threshold=threshold,
            epoch=published.epoch,
            version=published.version,
            expiry=self.world.h.now + expiry_in,
            node=node,
            proof=proof,
            chain_id=CHAIN_ID,
            registry=self.world.registry.address,
        )
        if signer is not None:
            # Claim to be the holder while signing with another key.
            presentation = Presentation(
                **{**presentation.__dict__, "holder": holder.account.address}
            )
        return presentation

    def check(self, presentation: Presentation, bank: str, nonce: bytes) -> int:
        """The contract's verdict."""
        code: int = self.world.registry.checkPresentation.call(
            presentation.as_abi(), bank, nonce
        )
        return code


def make_holders(rng: random.Random, count: int, max_score: int = 120) -> list[Holder]:
    """``count`` holders with random keys, seeds and scores."""
    return [
        Holder(
            Account.from_key(rng.randbytes(32)),
            rng.randbytes(32),
            rng.randint(0, max_score),
        )
        for _ in range(count)
    ]


def new_book(world: World, seed: int = 7) -> CreditBook:
    """An empty book for ``world`` with both banks known to the view."""
    view = RegistryView(
        chain_id=CHAIN_ID,
        address=world.registry.address,
        banks={world.bank.address, world.other_bank.address},
    )
    return CreditBook(world, view, random.Random(seed))
