"""Random sequences of every transaction kind, valid and invalid, applied to the ledger and to
the simulator's independent reference model (`sim.reference`), block by block, as bytes.

Each rule builds one signed transaction from drawn parameters. A statically bad one (bad
amount, self-transfer, someone else's transfer, wrong chain, bad signature, replay, ...) must
be refused by `check_tx` with the expected code, and by the model with the same code, and
make any block holding it invalid for both; the rest queue for the next block.
`commit_block` executes the queue in the app and in the model and compares every result code
and result leaf, then the whole state (every table, read from the app's key/value state into
the model's terms by `sim.observed`); the ledger invariants, the model's own and the
incremental app hash are checked after every block.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from consensus.crypto import ED25519
from ledger.amounts import MAX_AMOUNT
from ledger.app import LedgerApp
from ledger.apphash import Accumulator
from ledger.codes import REUSE_CODES
from ledger.invariants import check_ledger_invariants
from ledger.signing import make_tx
from ledger.tx import (
    AddCurrency,
    Body,
    Freeze,
    GrantRole,
    Mint,
    Pause,
    Redeem,
    RegisterParticipant,
    RejectRedemption,
    RevokeRole,
    SetMintAllowance,
    SettleRedemption,
    Transfer,
    Unfreeze,
    Unpause,
)
from ledger.txcodec import from_wire, to_wire
from sim.observed import ObservedState
from sim.reference import ReferenceLedger
from tests.ledger.support import (
    ALICE,
    BLOCK_MS,
    BOB,
    CAROL,
    CHAIN,
    COMP,
    EUR_ISSUER,
    GOV,
    USD_ISSUER,
    block_time,
    genesis,
)

SIGNER_OF = {s.public_key: s for s in (ALICE, BOB, CAROL, COMP, GOV, USD_ISSUER, EUR_ISSUER)}
WINDOW = 4
"""The validity window in blocks (block h has time h * BLOCK_MS: `support.block_time`)."""
SIGNERS = [GOV, COMP, USD_ISSUER, EUR_ISSUER, ALICE, BOB, CAROL]
KEYS = [s.public_key for s in SIGNERS]
HOLDERS = [ALICE, BOB, CAROL]

signers = st.sampled_from(SIGNERS)
holders = st.sampled_from(HOLDERS)
keys = st.sampled_from(KEYS)
currencies = st.sampled_from(["USD", "EUR", "GBP"])
roles = st.sampled_from(["GOVERNOR", "COMPLIANCE"])
refs = st.sampled_from(["r1", "r2", "r3"])
small = st.integers(1, 400)
good_amounts = st.one_of(small, small, small, st.just(MAX_AMOUNT))
bad_amounts = st.sampled_from([0, -3, MAX_AMOUNT + 1, True, 2.5, "7"])
any_amounts = st.one_of(good_amounts, good_amounts, good_amounts, bad_amounts)
rarely = st.sampled_from([False, False, False, False, True])


def usually(signer: Any) -> st.SearchStrategy[Any]:
    """The signer the rule needs most of the time, anyone now and then."""
    return st.one_of(st.just(signer), st.just(signer), signers)


def amount_code(amount: object) -> str | None:
    if type(amount) is not int:
        return "AMOUNT_NOT_INTEGER"
    if not 1 <= amount <= MAX_AMOUNT:
        return "AMOUNT_OUT_OF_RANGE"
    return None


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.genesis = genesis(
            max_validity_window_ms=max(60_000, WINDOW * BLOCK_MS), max_memo_bytes=8
        )
        self.app = LedgerApp(self.genesis)
        self.model = ReferenceLedger(self.genesis, ED25519)
        self.counter = 0
        self.block: list[bytes] = []
        self.committed: list[tuple[bytes, str]] = []  # (tx, the code it committed with)
        self.block_limit = 3

    @initialize(block_limit=st.integers(1, 5), kyc=st.integers(5, 40))
    def onboard(self, block_limit: int, kyc: int) -> None:
        """Register the three holders, fund them, let the EUR issuer mint; then commit."""
        self.block_limit = 100
        for holder in HOLDERS:
            self.register(COMP, holder.public_key, kyc)
        self.set_allowance(GOV, EUR_ISSUER.public_key, "EUR", 10_000)
        for i, holder in enumerate(HOLDERS):
            self.mint(USD_ISSUER, holder.public_key, "USD", 1000, f"init-usd-{i}")
            self.mint(EUR_ISSUER, holder.public_key, "EUR", 500, f"init-eur-{i}")
        self.commit_block()
        self.block_limit = block_limit

    @property
    def next_height(self) -> int:
        return self.app.height + 1

    def _tx(
        self, who: Any, body: Body, *, nonce: bytes | None = None, until: int | None = None
    ) -> bytes:
        if nonce is None:
            self.counter += 1
            nonce = self.counter.to_bytes(16, "big")
        if until is None:
            until = self.now + WINDOW * BLOCK_MS
        return make_tx(who, CHAIN, body, nonce=nonce, valid_until_ms=until)

    @property
    def now(self) -> int:
        """The time of the next block."""
        return block_time(self.next_height)

    def _refused(self, tx: bytes, code: str, message: str | None = None) -> None:
        admission = self.app.check_tx(tx, self.now)
        assert (admission.accepted, admission.code) == (False, code), admission
        assert self.model.admission(tx, self.now) == code
        if message is not None:
            assert message in admission.message
        if code not in REUSE_CODES:
            txs = [*self.block, tx]
            reason = self.app.validate_block_txs(self.next_height, self.now, txs)
            assert reason is not None
            assert self.model.block_problem(self.next_height, self.now, txs) is not None

    def _submit(self, who: Any, body: Body, bad: str | None = None) -> bytes:
        tx = self._tx(who, body)
        if bad is not None:
            self._refused(tx, bad)
            return tx
        admission = self.app.check_tx(tx, self.now)
        assert admission.accepted, admission
        assert self.model.admission(tx, self.now) == "OK"
        self.block.append(tx)
        if len(self.block) >= self.block_limit:
            self.commit_block()
        return tx

    # ------------------------------------------------------------ participant

    @rule(
        who=holders,
        to=keys,
        code=currencies,
        amount=any_amounts,
        by_other=rarely,
        memo=st.sampled_from(["", "", "rent", "x" * 9]),
    )
    def transfer(self, who: Any, to: bytes, code: str, amount: Any, by_other: bool, memo: str):
        signer = BOB if by_other and who is not BOB else who
        bad = amount_code(amount)
        if bad is None and signer is not who:
            bad = "NOT_OWNER"
        if bad is None and to == who.public_key:
            bad = "SELF_TRANSFER"
        if bad is None and len(memo) > 8:
            bad = "MEMO_TOO_LARGE"
        self._submit(signer, Transfer(who.public_key, to, code, amount, memo), bad)

    @rule(
        who=holders,
        to=st.sampled_from([h.public_key for h in HOLDERS]),
        code=st.sampled_from(["USD", "USD", "EUR"]),
        amount=small,
    )
    def pay(self, who: Any, to: bytes, code: str, amount: int) -> None:
        """A transfer between holders that is statically valid (state may still refuse it)."""
        if to != who.public_key:
            self.transfer(who, to, code, amount, False, "")

    @rule(who=holders, code=currencies, amount=st.one_of(small, small, any_amounts))
    def redeem(self, who: Any, code: str, amount: Any) -> None:
        self._submit(who, Redeem(code, amount), amount_code(amount))

    # ------------------------------------------------------------ issuer

    @rule(who=usually(USD_ISSUER), to=keys, code=currencies, amount=good_amounts, ref=refs)
    def mint(self, who: Any, to: bytes, code: str, amount: int, ref: str) -> None:
        self._submit(who, Mint(to, code, amount, ref))

    @rule(who=usually(USD_ISSUER), rid=st.binary(min_size=16, max_size=16), ref=refs)
    def resolve_unknown(self, who: Any, rid: bytes, ref: str) -> None:
        self._submit(who, SettleRedemption(rid, ref))

    @rule(
        who=holders,
        code=st.sampled_from(["USD", "EUR"]),
        amount=small,
        ref=refs,
        settle=st.booleans(),
    )
    def redeem_then_resolve(self, who: Any, code: str, amount: int, ref: str, settle: bool):
        """A redemption and, once it is pending, its settlement or rejection by the issuer."""
        rid = from_wire(self._submit(who, Redeem(code, amount))).tx_id
        if self.block:
            self.commit_block()
        pending = self.model.state.redemptions.get(rid)
        if pending is None:
            return
        issuer = SIGNER_OF.get(self.model.state.currencies[code].issuer)
        if issuer is None:
            return
        body = SettleRedemption(rid, ref) if settle else RejectRedemption(rid, "no")
        self._submit(issuer, body)

    @precondition(lambda self: self.model.state.redemptions)
    @rule(data=st.data(), ref=refs, settle=st.booleans(), by_issuer=st.booleans())
    def resolve(self, data: st.DataObject, ref: str, settle: bool, by_issuer: bool) -> None:
        rid = data.draw(st.sampled_from(sorted(self.model.state.redemptions)))
        code = self.model.state.redemptions[rid].currency
        issuer = self.model.state.currencies[code].issuer
        who = SIGNER_OF.get(issuer, GOV) if by_issuer else data.draw(signers)
        self._submit(who, SettleRedemption(rid, ref) if settle else RejectRedemption(rid, "no"))

    # ------------------------------------------------------------ governor and compliance

    @rule(who=usually(GOV), code=currencies, issuer=keys)
    def add_currency(self, who: Any, code: str, issuer: bytes) -> None:
        self._submit(who, AddCurrency(code, 2, issuer))

    @rule(
        who=usually(GOV),
        issuer=st.sampled_from([USD_ISSUER.public_key, *KEYS]),
        code=currencies,
        amount=st.sampled_from([0, 500, MAX_AMOUNT]),
    )
    def set_allowance(self, who: Any, issuer: bytes, code: str, amount: int) -> None:
        self._submit(who, SetMintAllowance(issuer, code, amount))

    @rule(who=usually(GOV), role=roles, key=keys, grant=st.booleans())
    def role(self, who: Any, role: str, key: bytes, grant: bool) -> None:
        self._submit(who, GrantRole(role, key) if grant else RevokeRole(role, key))

    @rule(who=usually(COMP), key=keys, kyc=st.integers(0, 30))
    def register(self, who: Any, key: bytes, kyc: int) -> None:
        self._submit(who, RegisterParticipant(key, "p", kyc))

    @rule(who=usually(COMP), key=keys, frozen=st.booleans())
    def freeze(self, who: Any, key: bytes, frozen: bool) -> None:
        self._submit(who, Freeze(key) if frozen else Unfreeze(key))

    @rule(who=usually(COMP), code=currencies, paused=rarely)
    def pause(self, who: Any, code: str, paused: bool) -> None:
        self._submit(who, Pause(code) if paused else Unpause(code))

    # ------------------------------------------------------------ bad envelopes and replays

    @rule(
        what=st.sampled_from(
            ["chain", "signature", "truncated", "trailing", "late", "early", "flipped"]
        ),
        position=st.integers(0, 10_000),
        bit=st.integers(0, 7),
    )
    def bad_envelope(self, what: str, position: int, bit: int) -> None:
        body = Redeem("USD", 1)
        tx = self._tx(ALICE, body)
        if what == "chain":
            tx = make_tx(ALICE, "elsewhere", body, nonce=b"\1" * 16, valid_until_ms=self.now)
            self._refused(tx, "WRONG_CHAIN")
        elif what == "signature":
            signed = from_wire(tx)
            forged = attrs.evolve(signed, signature=bytes(64))
            self._refused(to_wire(forged), "BAD_SIGNATURE")
        elif what == "truncated":
            self._refused(tx[:-3], "MALFORMED")
        elif what == "trailing":
            self._refused(tx + b"\xc0", "TRAILING_BYTES")
        elif what == "late":
            self._refused(self._tx(ALICE, body, until=self.now - 1), "EXPIRED")
        elif what == "early":
            far = self.now + self.genesis.limits.max_validity_window_ms + 1
            self._refused(self._tx(ALICE, body, until=far), "TOO_FAR_AHEAD")
        else:  # one bit flipped anywhere: whatever the ledger says, the model says too
            i = position % len(tx)
            flipped = tx[:i] + bytes([tx[i] ^ (1 << bit)]) + tx[i + 1 :]
            admission = self.app.check_tx(flipped, self.now)
            code = "OK" if admission.accepted else admission.code
            assert self.model.admission(flipped, self.now) == code, (i, bit, admission)

    @rule(data=st.data(), same=st.booleans(), into_block=st.booleans())
    def replay(self, data: st.DataObject, same: bool, into_block: bool) -> None:
        """A committed id again, however late: the very same tx or another body. Refused at
        admission; if it reaches a block anyway, it commits with no effect."""
        if not self.committed:
            return
        tx, code = data.draw(st.sampled_from(self.committed))
        if not same:  # the same signer and nonce (hence id), another body
            first = from_wire(tx)
            signer = SIGNER_OF[first.signer]
            tx = self._tx(signer, Redeem("EUR", 999_999_937), nonce=first.nonce)
        reuse = "ALREADY_COMMITTED" if same else "DUPLICATE_TX_ID"
        self._refused(tx, reuse, f"with {code}")
        if into_block and from_wire(tx).valid_until_ms >= self.now:
            self.block.append(tx)

    # ------------------------------------------------------------ blocks

    @rule()
    def commit_block(self) -> None:
        height, now, txs = self.next_height, self.now, self.block
        assert self.app.validate_block_txs(height, now, txs) is None
        assert self.model.block_problem(height, now, txs) is None
        execution = self.app.execute_block(height, now, txs)
        outcomes = self.model.execute(height, now, txs)
        assert [r.code for r in execution.results] == [o.code for o in outcomes]
        assert list(execution.result_leaves) == [o.leaf() for o in outcomes]
        self.app.apply(execution)
        for tx, outcome in zip(txs, outcomes, strict=True):
            if not outcome.applied:
                continue
            self.committed.append((tx, outcome.code))
            result = self.app.tx_result(outcome.tx.tx_id)
            assert result is not None and (result.height, result.code) == (height, outcome.code)
        self.block = []
        self._compare()

    def _compare(self) -> None:
        state = self.app.state
        check_ledger_invariants(state)
        assert self.app.app_hash == Accumulator.of_state(state).app_hash(self.app.height)
        assert list(self.model.state.invariant_errors()) == []
        observed = ObservedState.of(state).model
        assert observed == self.model.state, observed.differences(self.model.state)

    @invariant()
    def every_committed_id_keeps_its_first_outcome(self) -> None:
        for tx, code in self.committed[-5:]:
            outcome = self.app.tx_result(from_wire(tx).tx_id)
            assert outcome is not None and outcome.code == code
        for tx, _ in self.committed[-3:]:
            assert self.model.admission(tx, self.now) == "ALREADY_COMMITTED"


SOAK = os.environ.get("DEPOSITNET_SOAK") == "1"
LedgerMachine.TestCase.settings = settings(
    max_examples=400 if SOAK else 40, stateful_step_count=60 if SOAK else 30, deadline=None
)
TestLedgerMachine = LedgerMachine.TestCase
