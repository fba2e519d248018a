"""Receipts: built from a stored, certified block, they verify alone, and only for the
transaction, outcome and chain they really prove."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import codec
from consensus.crypto import Ed25519Signer
from consensus.merkle import merkle_root
from consensus.messages import Commit, Vote, VoteType
from consensus.replica.block import GENESIS_BLOCK_ID, block_id, encode_block, make_block
from consensus.signing import sign_vote
from ledger.app import LedgerApp
from ledger.receipt import (
    Receipt,
    ReceiptError,
    build_receipt,
    decode_receipt,
    verify_receipt,
)
from ledger.tx import Mint, RegisterParticipant, Transfer
from ledger.txcodec import from_wire
from tests.ledger.support import (
    ALICE,
    BOB,
    CHAIN,
    COMP,
    USD_ISSUER,
    VALIDATORS,
    TxFactory,
    block_time,
    commit,
    genesis,
)

A, B = ALICE.public_key, BOB.public_key
GENESIS = genesis()


@attrs.frozen
class Stored:
    """A certified block as a validator stores it, and the transactions it holds."""

    block: bytes
    results: bytes
    commit: bytes
    txs: tuple[bytes, ...]
    codes: tuple[str, ...]


def certified_block(txs: list[bytes], signers: list[Ed25519Signer] = VALIDATORS) -> Stored:
    """Alice and Bob onboarded and funded, then `txs` executed as block 3 and certified."""
    app = LedgerApp(GENESIS)
    make = TxFactory()
    commit(
        app,
        [
            make(COMP, RegisterParticipant(A, "a", 10**6)),
            make(COMP, RegisterParticipant(B, "b", 10**6)),
        ],
    )
    commit(app, [make(USD_ISSUER, Mint(A, "USD", 10_000, "d"))])
    execution = app.execute_block(3, block_time(3), txs)
    block = make_block(
        chain_id=CHAIN,
        height=3,
        time_ms=block_time(3),
        prev_block_id=GENESIS_BLOCK_ID,
        app_hash=execution.app_hash,
        results_root=merkle_root(execution.result_leaves),
        proposer=VALIDATORS[0].public_key,
        txs=txs,
        last_commit=None,
    )
    bid = block_id(block.header)
    votes = tuple(
        sign_vote(s, CHAIN, Vote(VoteType.PRECOMMIT, 3, 0, bid, b""))
        for s in sorted(signers, key=lambda s: s.public_key)
    )
    return Stored(
        encode_block(block),
        codec.packb(list(execution.result_leaves)),
        codec.encode_commit(Commit(3, 0, bid, votes)),
        tuple(txs),
        tuple(r.code for r in execution.results),
    )


def _verify(receipt: Receipt, **kw: object) -> object:
    return verify_receipt(receipt, chain_id=CHAIN, validators=GENESIS.validator_set(), **kw)  # type: ignore[arg-type]


def _transfers(n: int, amount: int = 100) -> list[bytes]:
    make = TxFactory()
    make.counter = 1000
    return [make(ALICE, Transfer(A, B, "USD", amount, "")) for _ in range(n)]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.data())
def test_every_transaction_of_a_block_has_a_receipt_that_proves_it(
    n: int, data: st.DataObject
) -> None:
    txs = _transfers(n, amount=400)  # 10,000 funds 25 of them; the rest fail
    stored = certified_block(txs)
    index = data.draw(st.integers(0, n - 1))
    receipt = build_receipt(
        block=stored.block, results=stored.results, commit=stored.commit, index=index
    )
    assert decode_receipt(receipt.encode()) == receipt
    proved = _verify(receipt, signed=txs[index])
    assert proved.code == stored.codes[index] == ("OK" if index < 25 else "INSUFFICIENT_FUNDS")  # type: ignore[attr-defined]
    assert (proved.height, proved.index) == (3, index)  # type: ignore[attr-defined]
    assert _verify(receipt, tx_id=from_wire(txs[index]).tx_id) == proved
    if n > 1:  # another transaction of the same block is not this one
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index))
        with pytest.raises(ReceiptError, match="not the one you signed"):
            _verify(receipt, signed=txs[other])
        swapped = attrs.evolve(receipt, tx=txs[other])
        with pytest.raises(ReceiptError, match="txs_root"):
            _verify(swapped, signed=txs[other])
        moved = attrs.evolve(receipt, index=other)
        with pytest.raises(ReceiptError, match="root"):
            _verify(moved, signed=txs[index])


def test_a_receipt_stays_small_whatever_the_block() -> None:
    small = certified_block(_transfers(1))
    large = certified_block(_transfers(1000, amount=1))
    sizes = [
        len(build_receipt(block=s.block, results=s.results, commit=s.commit, index=0).encode())
        for s in (small, large)
    ]
    assert len(large.block) > 100 * sizes[1]
    assert sizes[1] - sizes[0] <= 2 * 10 * 32 + 64  # ten more levels per path, and framing
    assert sizes[1] < 2_000


def test_a_lying_result_or_header_is_refused() -> None:
    txs = _transfers(3)
    stored = certified_block(txs)
    receipt = build_receipt(
        block=stored.block, results=stored.results, commit=stored.commit, index=1
    )
    forged_result = attrs.evolve(receipt, result=receipt.result.replace(b"OK", b"NO"))
    with pytest.raises(ReceiptError, match="results_root"):
        _verify(forged_result, signed=txs[1])
    other = certified_block(_transfers(3, amount=7))  # a real, certified, other block
    foreign = attrs.evolve(
        receipt,
        header=build_receipt(
            block=other.block, results=other.results, commit=other.commit, index=1
        ).header,
    )
    with pytest.raises(ReceiptError, match="another block"):
        _verify(foreign, signed=txs[1])
    with pytest.raises(ReceiptError, match="chain"):
        verify_receipt(
            receipt, chain_id="elsewhere", validators=GENESIS.validator_set(), signed=txs[1]
        )


def test_a_certificate_without_two_thirds_or_from_strangers_is_refused() -> None:
    txs = _transfers(2)
    short = certified_block(txs, VALIDATORS[:2])
    receipt = build_receipt(block=short.block, results=short.results, commit=short.commit, index=0)
    with pytest.raises(ReceiptError, match="final"):
        _verify(receipt, signed=txs[0])
    strangers = [Ed25519Signer(bytes([i]) * 32) for i in range(4)]
    forged = certified_block(txs, strangers)
    receipt = build_receipt(
        block=forged.block, results=forged.results, commit=forged.commit, index=0
    )
    with pytest.raises(ReceiptError, match="final"):
        _verify(receipt, signed=txs[0])


def test_the_receipt_of_a_later_use_of_an_id_proves_nothing() -> None:
    """A faulty proposer re-included a committed tx: that copy commits with no effect, and
    its receipt must not pass for the payment's."""
    tx = _transfers(1)[0]
    stored = certified_block([tx, tx])
    assert stored.codes == ("OK", "ALREADY_COMMITTED")
    first = build_receipt(block=stored.block, results=stored.results, commit=stored.commit, index=0)
    later = build_receipt(block=stored.block, results=stored.results, commit=stored.commit, index=1)
    assert _verify(first, signed=tx).code == "OK"  # type: ignore[attr-defined]
    with pytest.raises(ReceiptError, match="later use"):
        _verify(later, signed=tx)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x90", b"\x98\x02", codec.packb([2, b"", b"", 0, [], [], b"", b""]), b"\xc1" * 10],
)
def test_malformed_receipts_are_refused_clearly(raw: bytes) -> None:
    with pytest.raises(ReceiptError):
        decode_receipt(raw)
