"""The QBFT protocol for one validator, as pure code.

``QbftStateMachine.handle(event)`` takes one input (``chain.qbft.events``) and
returns the effects it causes; it keeps no clock, opens no socket and starts no
thread. The protocol is Moniz, "The Istanbul BFT Consensus Algorithm" (2020), as
Besu's ``qbft-core`` runs it:

1. On a new chain head the machine waits for the block period (``StartBlockTimer``),
   then starts round 0; the round's proposer asks the host to ``BuildBlock``.
2. A PROPOSAL from the round's proposer that passes its checks is sent to the
   host to execute (``ValidateBlock``); once valid, the machine PREPAREs it.
3. With a quorum of PREPAREs for the accepted digest the round is prepared: the
   machine COMMITs with a committed seal over the digest.
4. With a quorum of COMMITs it decides (``CommitBlock``) and waits for the host
   to import the block and report the next ``NewChainHead``.
5. When a round times out the machine moves to the next round and sends a
   ROUND-CHANGE carrying its latest prepared certificate. f + 1 ROUND-CHANGEs
   for later rounds pull it forward to the lowest of them (the paper's catch-up
   rule); a quorum for its round lets that round's proposer re-propose the
   highest prepared block, or a new one if none was prepared.

Quorum is ceil(2n/3); messages from non-validators, with bad signatures, for
past heights, or that break a rule come back as ``MessageRejected`` and change
nothing. Messages for future heights wait in a bounded buffer.
"""

from __future__ import annotations

from eth_typing import Address

from chain.errors import ChainError, QbftMessageError
from chain.qbft.events import (
    BlockBuilt,
    BlockInterface,
    BlockInvalid,
    BlockTimerExpired,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Effect,
    Event,
    MessageReceived,
    MessageRejected,
    NewChainHead,
    QbftConfig,
    RoundTimerExpired,
    StartBlockTimer,
    StartRoundTimer,
    ValidateBlock,
)
from chain.qbft.future_messages import FutureMessageBuffer
from chain.qbft.height_state import (
    HeightState,
    PreparedCertificate,
    RoundState,
    digest_of,
)
from chain.qbft.justification import check_proposal, check_round_change
from chain.qbft.messages import (
    Commit,
    CommitPayload,
    P,
    Prepare,
    PreparedRound,
    PreparePayload,
    Proposal,
    ProposalPayload,
    QbftMessage,
    RoundChange,
    RoundChangePayload,
    SignedPayload,
    decode_message,
    signing_hash,
)
from chain.qbft.round_timer import round_timeout_seconds
from chain.qbft.signing import ValidatorKey, recover_signer
from chain.qbft.validators import (
    fault_tolerance,
    select_proposer,
    sort_validators,
)


class QbftStateMachine:
    """One validator's QBFT instance; feed it events, carry out its effects.

    ``validator_key`` is the 32-byte secp256k1 key that signs messages and
    committed seals; ``blocks`` is the host's ``BlockInterface``. Until the
    first ``NewChainHead`` every event is ignored, and at a height whose
    validator set does not include this key the machine only follows heads.
    """

    def __init__(
        self, config: QbftConfig, validator_key: bytes, blocks: BlockInterface
    ) -> None:
        self._config = config
        self._key = ValidatorKey(validator_key)
        self._blocks = blocks
        self._state: HeightState | None = None
        self._future_messages = FutureMessageBuffer(config.future_message_limit)
        self._effects: list[Effect] = []

    @property
    def address(self) -> Address:
        """The address this machine signs as."""
        return self._key.address

    @property
    def height(self) -> int | None:
        """The block number being decided, or None before the first head."""
        return None if self._state is None else self._state.height

    @property
    def round(self) -> int | None:
        """The current round, or None before round 0 of the height started."""
        return None if self._state is None else self._state.round

    def handle(self, event: Event) -> list[Effect]:
        """Apply ``event`` and return the effects, in the order to carry them out.

        Never raises for anything a peer sends: bad messages become
        ``MessageRejected``. Raises ``ValueError`` when the host breaks the
        contract (a built block for the wrong height, round or proposer).
        """
        self._effects = []
        if isinstance(event, NewChainHead):
            self._on_new_chain_head(event)
        elif self._participating():
            self._dispatch(event)
        effects, self._effects = self._effects, []
        return effects

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, MessageReceived):
            self._on_message_received(event)
        elif isinstance(event, BlockTimerExpired):
            self._on_block_timer_expired(event)
        elif isinstance(event, RoundTimerExpired):
            self._on_round_timer_expired(event)
        elif isinstance(event, BlockBuilt):
            self._on_block_built(event)
        elif isinstance(event, BlockValidated):
            self._on_block_validated(event)
        elif isinstance(event, BlockInvalid):
            # The proposal stays recorded so a second one for the round is still
            # refused; the round times out and changes.
            pass

    # --- heights and timers -------------------------------------------------------

    def _on_new_chain_head(self, event: NewChainHead) -> None:
        if self._state is not None and event.block_number < self._state.height:
            return
        height = event.block_number + 1
        self._state = HeightState(
            height=height,
            validators=sort_validators(event.validators),
            previous_proposer=event.proposer,
        )
        if not self._participating():
            return

        expires_at = event.timestamp + self._config.block_period_seconds
        self._effects.append(StartBlockTimer(height, expires_at))
        for message in self._future_messages.take(height):
            self._receive(message)

    def _on_block_timer_expired(self, event: BlockTimerExpired) -> None:
        state = self._current()
        if event.height != state.height or state.round is not None or state.decided:
            return
        self._start_round(0)
        if self._proposer(0) == self.address:
            self._round_state(0).proposing = True
            self._effects.append(BuildBlock(state.height, 0))

    def _on_round_timer_expired(self, event: RoundTimerExpired) -> None:
        state = self._current()
        if (event.height, event.round) != (state.height, state.round) or state.decided:
            return
        self._move_to_round(event.round + 1)
        self._apply_round_change_rules()

    def _start_round(self, round_number: int) -> None:
        state = self._current()
        state.round = round_number
        state.rounds = {r: s for r, s in state.rounds.items() if r >= round_number}
        for per_round in state.round_changes.values():
            for old_round in [r for r in per_round if r < round_number]:
                del per_round[old_round]
        duration = round_timeout_seconds(
            round_number,
            self._config.request_timeout_seconds,
            self._config.maximum_round_timeout_seconds,
        )
        self._effects.append(StartRoundTimer(state.height, round_number, duration))

    # --- receiving messages -------------------------------------------------------

    def _on_message_received(self, event: MessageReceived) -> None:
        try:
            message = decode_message(event.message_code, event.data)
            message.author()
        except QbftMessageError as error:
            self._reject(event.message_code, None, error.problem)
            return
        self._receive(message)

    def _receive(self, message: QbftMessage) -> None:
        state = self._current()
        author = message.author()
        if message.height < state.height:
            self._reject(message.code, author, "message for a past height")
            return
        if message.height > state.height:
            self._future_messages.add(message)
            return
        if author not in state.validators:
            self._reject(message.code, author, "sender is not a validator")
            return
        if state.decided:
            return

        try:
            if isinstance(message, Proposal):
                self._on_proposal(message, author)
            elif isinstance(message, Prepare):
                self._on_prepare(message, author)
            elif isinstance(message, Commit):
                self._on_commit(message, author)
            else:
                self._on_round_change(message, author)
        except QbftMessageError as error:
            self._reject(message.code, author, error.problem)
        except ChainError as error:
            self._reject(message.code, author, f"block does not decode: {error}")

    def _on_proposal(self, proposal: Proposal, author: Address) -> None:
        state = self._current()
        round_number = proposal.round
        if round_number < state.current_round:
            return
        if author != self._proposer(round_number):
            raise QbftMessageError("PROPOSAL", "sender is not the round's proposer")
        known = state.rounds.get(round_number)
        if known is not None and known.proposal is not None:
            if known.proposal.signed == proposal.signed:
                return
            raise QbftMessageError("PROPOSAL", "second proposal for the round")

        facts = self._blocks.describe(proposal.block)
        check_proposal(
            proposal,
            facts,
            height=state.height,
            validators=state.validators,
            quorum=state.quorum,
            proposer_for_round=self._proposer,
            blocks=self._blocks,
        )
        if round_number > state.current_round:
            # A later round's proposal carries a quorum of round changes for its
            # round, so joining that round is as safe as collecting them.
            self._start_round(round_number)
        round_state = self._round_state(round_number)
        round_state.proposal, round_state.facts = proposal, facts
        self._effects.append(
            ValidateBlock(state.height, round_number, proposal.block, facts.digest)
        )

    def _on_prepare(self, prepare: Prepare, author: Address) -> None:
        round_state = self._round_state_for_vote(prepare.round)
        if round_state is None:
            return
        known = round_state.prepares.get(author)
        if known is not None:
            if known == prepare.signed:
                return
            raise QbftMessageError("PREPARE", "second prepare from the sender")
        if round_state.accepted and prepare.digest != digest_of(round_state):
            raise QbftMessageError(
                "PREPARE", "digest differs from the accepted proposal"
            )
        round_state.prepares[author] = prepare.signed
        if prepare.round == self._current().round:
            self._check_prepared(prepare.round, round_state)

    def _on_commit(self, commit: Commit, author: Address) -> None:
        round_state = self._round_state_for_vote(commit.round)
        if round_state is None:
            return
        if recover_signer(commit.committed_seal, commit.digest) != author:
            raise QbftMessageError(
                "COMMIT", "committed seal was not made by the sender"
            )
        known = round_state.commits.get(author)
        if known is not None:
            if known == commit.signed:
                return
            raise QbftMessageError("COMMIT", "second commit from the sender")
        if round_state.accepted and commit.digest != digest_of(round_state):
            raise QbftMessageError(
                "COMMIT", "digest differs from the accepted proposal"
            )
        round_state.commits[author] = commit.signed
        if commit.round == self._current().round:
            self._check_committed(commit.round, round_state)

    def _on_round_change(self, round_change: RoundChange, author: Address) -> None:
        state = self._current()
        round_number = round_change.round
        # Nobody changes to round 0; it starts from the block timer.
        if round_number == 0 or round_number < state.current_round:
            return
        known = state.round_changes.get(author, {}).get(round_number)
        if known is not None:
            if known == round_change:
                return
            raise QbftMessageError(
                "ROUND_CHANGE", "second round change from the sender"
            )
        check_round_change(
            round_change,
            height=state.height,
            validators=state.validators,
            quorum=state.quorum,
            blocks=self._blocks,
        )
        self._store_round_change(author, round_change)
        self._apply_round_change_rules()

    # --- host replies -------------------------------------------------------------

    def _on_block_validated(self, event: BlockValidated) -> None:
        state = self._current()
        round_state = state.rounds.get(event.round)
        if (
            (event.height, event.round) != (state.height, state.round)
            or state.decided
            or round_state is None
            or round_state.facts is None
            or round_state.facts.digest != event.digest
            or round_state.accepted
        ):
            return
        self._accept_proposal(event.round, round_state)

    def _on_block_built(self, event: BlockBuilt) -> None:
        state = self._current()
        round_state = state.rounds.get(event.round)
        if (
            (event.height, event.round) != (state.height, state.round)
            or state.decided
            or round_state is None
            or not round_state.proposing
            or round_state.proposal is not None
        ):
            return
        facts = self._blocks.describe(event.block)
        if facts.proposer != self.address:
            raise ValueError(
                f"built block's coinbase 0x{facts.proposer.hex()} is not this "
                f"validator 0x{self.address.hex()}"
            )
        self._send_proposal(event.round, event.block, round_state.justification, ())

    # --- the protocol steps -------------------------------------------------------

    def _accept_proposal(self, round_number: int, round_state: RoundState) -> None:
        round_state.accepted = True
        digest = digest_of(round_state)
        for author, prepare in list(round_state.prepares.items()):
            if prepare.payload.digest != digest:
                del round_state.prepares[author]
                self._reject(
                    Prepare.code, author, "digest differs from the accepted proposal"
                )
        for author, commit in list(round_state.commits.items()):
            if commit.payload.digest != digest:
                del round_state.commits[author]
                self._reject(
                    Commit.code, author, "digest differs from the accepted proposal"
                )

        prepare = self._sign(
            PreparePayload(self._current().height, round_number, digest)
        )
        self._broadcast(Prepare(prepare))
        round_state.prepares[self.address] = prepare
        self._check_prepared(round_number, round_state)
        self._check_committed(round_number, round_state)

    def _check_prepared(self, round_number: int, round_state: RoundState) -> None:
        state = self._current()
        if not round_state.accepted or round_state.commit_sent:
            return
        digest = digest_of(round_state)
        prepares = [
            p for p in round_state.prepares.values() if p.payload.digest == digest
        ]
        if len(prepares) < state.quorum or round_state.proposal is None:
            return

        state.prepared = PreparedCertificate(
            round_number, round_state.proposal.block, digest, tuple(prepares)
        )
        seal = self._key.sign_hash(digest)
        commit = self._sign(CommitPayload(state.height, round_number, digest, seal))
        self._broadcast(Commit(commit))
        round_state.commits[self.address] = commit
        round_state.commit_sent = True
        self._check_committed(round_number, round_state)

    def _check_committed(self, round_number: int, round_state: RoundState) -> None:
        state = self._current()
        if not round_state.accepted or state.decided or round_state.proposal is None:
            return
        digest = digest_of(round_state)
        committers = {
            author: commit.payload.committed_seal
            for author, commit in round_state.commits.items()
            if commit.payload.digest == digest
        }
        if len(committers) < state.quorum:
            return

        state.decided = True
        seals = tuple(committers[v] for v in state.validators if v in committers)
        block = round_state.proposal.block
        self._effects.append(
            CommitBlock(state.height, round_number, block, digest, seals)
        )

    def _move_to_round(self, round_number: int) -> None:
        state = self._current()
        self._start_round(round_number)
        certificate = state.prepared
        prepared = None
        if certificate is not None:
            prepared = PreparedRound(certificate.round, certificate.digest)
        payload = RoundChangePayload(state.height, round_number, prepared)
        round_change = RoundChange(
            self._sign(payload),
            None if certificate is None else certificate.block,
            () if certificate is None else certificate.prepares,
        )
        self._broadcast(round_change)
        self._store_round_change(self.address, round_change)

    def _apply_round_change_rules(self) -> None:
        state = self._current()
        catch_up = fault_tolerance(len(state.validators)) + 1
        while True:
            ahead = [
                max(rounds)
                for rounds in state.round_changes.values()
                if rounds and max(rounds) > state.current_round
            ]
            if len(ahead) < catch_up:
                break
            # f + 1 validators include an honest one, so some honest validator
            # has reached at least the lowest of these rounds.
            self._move_to_round(min(ahead))
        self._propose_after_round_change()

    def _propose_after_round_change(self) -> None:
        state = self._current()
        round_number = state.round
        if not round_number or self._proposer(round_number) != self.address:
            return
        round_state = self._round_state(round_number)
        if round_state.proposing or round_state.proposal is not None:
            return
        round_changes = [
            per_round[round_number]
            for per_round in state.round_changes.values()
            if round_number in per_round
        ]
        if len(round_changes) < state.quorum:
            return

        round_state.proposing = True
        justification = tuple(rc.signed for rc in round_changes)
        # Per the paper's JustifyPrePrepare: if any of the quorum prepared, the
        # proposal must be the block of the highest prepared round among them.
        prepared = [
            (rc.prepared.round, rc.prepared_block, rc.prepares)
            for rc in round_changes
            if rc.prepared is not None and rc.prepared_block is not None
        ]
        if not prepared:
            round_state.justification = justification
            self._effects.append(BuildBlock(state.height, round_number))
            return
        _, prepared_block, prepares = max(prepared, key=lambda claim: claim[0])
        block = self._blocks.replace_round(prepared_block, round_number, self.address)
        self._send_proposal(round_number, block, justification, prepares)

    def _send_proposal(
        self,
        round_number: int,
        block: bytes,
        round_changes: tuple[SignedPayload[RoundChangePayload], ...],
        prepares: tuple[SignedPayload[PreparePayload], ...],
    ) -> None:
        state = self._current()
        facts = self._blocks.describe(block)
        if (facts.height, facts.round) != (state.height, round_number):
            raise ValueError(
                f"block for height {facts.height} round {facts.round} cannot be "
                f"proposed at height {state.height} round {round_number}"
            )
        payload = ProposalPayload(state.height, round_number, block)
        proposal = Proposal(self._sign(payload), round_changes, prepares)
        self._broadcast(proposal)
        round_state = self._round_state(round_number)
        round_state.proposal, round_state.facts = proposal, facts
        self._accept_proposal(round_number, round_state)

    # --- helpers ------------------------------------------------------------------

    def _current(self) -> HeightState:
        if self._state is None:
            raise RuntimeError("QBFT state machine has no chain head yet")
        return self._state

    def _participating(self) -> bool:
        return self._state is not None and self.address in self._state.validators

    def _proposer(self, round_number: int) -> Address:
        state = self._current()
        return select_proposer(state.validators, state.previous_proposer, round_number)

    def _round_state(self, round_number: int) -> RoundState:
        return self._current().rounds.setdefault(round_number, RoundState())

    def _round_state_for_vote(self, round_number: int) -> RoundState | None:
        # Votes for a past round are stale; votes far ahead are not worth memory.
        current = self._current().current_round
        if not current <= round_number <= current + self._config.future_round_window:
            return None
        return self._round_state(round_number)

    def _store_round_change(self, author: Address, round_change: RoundChange) -> None:
        per_round = self._current().round_changes.setdefault(author, {})
        per_round[round_change.round] = round_change
        while len(per_round) > self._config.round_changes_per_validator:
            del per_round[min(per_round)]

    def _sign(self, payload: P) -> SignedPayload[P]:
        return SignedPayload(payload, self._key.sign_hash(signing_hash(payload)))

    def _broadcast(self, message: QbftMessage) -> None:
        self._effects.append(Broadcast(message.code, message.encode()))

    def _reject(self, message_code: int, author: Address | None, rule: str) -> None:
        self._effects.append(MessageRejected(message_code, author, rule))
