"""The validator's receipt cache against the reference builder, on real certified blocks."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import codec
from consensus.replica.block import decode_block
from ledger.receipt import build_receipt, decode_receipt
from ledger.tx import RegisterParticipant
from network.receipts import ReceiptCache, StoredDataError, stored_header
from tests.ledger.test_receipt import Stored, _transfers, _verify, certified_block
from tests.network.apifake import COMPLIANCE, FakeChain, signed


@attrs.define
class StoreOf:
    """One stored block as a store holds it (height 3 of `certified_block`)."""

    stored: Stored
    reads: int = 0

    def load_block(self, height: int) -> bytes | None:
        self.reads += 1
        return self.stored.block if height == 3 else None

    def load_results(self, height: int) -> bytes | None:
        return self.stored.results if height == 3 else None

    def load_commit(self, height: int) -> bytes | None:
        return self.stored.commit if height == 3 else None


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 70), st.data())
def test_cached_receipts_equal_the_reference_builder(n: int, data: st.DataObject) -> None:
    stored = certified_block(_transfers(n, amount=300))
    source = StoreOf(stored)
    cache = ReceiptCache(source)
    for index in data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5)):
        reference = build_receipt(
            block=stored.block, results=stored.results, commit=stored.commit, index=index
        )
        assert cache.receipt(3, index) == reference
        assert _verify(cache.receipt(3, index), signed=stored.txs[index]).index == index  # type: ignore[attr-defined]
    assert cache.builds == 1 and source.reads == 1  # the trees were built once


def test_the_cache_keeps_the_trees_of_a_bounded_number_of_blocks() -> None:
    chain = FakeChain()
    for i in range(4):
        chain.submit(signed(COMPLIANCE, RegisterParticipant(bytes([i + 1]) * 32, f"p{i}", 9)))
        chain.commit()
    cache = ReceiptCache(chain, capacity=2)
    for height in (1, 2, 3, 3, 2):
        assert decode_receipt(cache.receipt(height, 0).encode()).index == 0
    assert (cache.builds, len(cache)) == (3, 2)
    cache.receipt(1, 0)  # dropped when 3 came in: built again
    assert (cache.builds, len(cache)) == (4, 2)
    with pytest.raises(StoredDataError, match="not stored whole"):
        cache.receipt(9, 0)
    with pytest.raises(StoredDataError, match="no transaction 5"):
        cache.receipt(3, 5)


def test_the_header_is_read_without_decoding_the_transactions() -> None:
    stored = certified_block(_transfers(5))
    header, raw = stored_header(stored.block)
    assert header == decode_block(stored.block, 1 << 20).header
    assert (
        raw
        == build_receipt(
            block=stored.block, results=stored.results, commit=stored.commit, index=0
        ).header
    )
    with pytest.raises(codec.DecodeError):
        stored_header(b"\x93\x01\x02\x03")


@pytest.mark.parametrize("damage", ["results", "block", "count"])
def test_stored_data_that_does_not_fit_its_header_is_refused(damage: str) -> None:
    stored = certified_block(_transfers(3))
    leaves = list(codec.unpackb_canonical(stored.results))  # type: ignore[call-overload]
    if damage == "results":
        leaves[1] = leaves[0]
        stored = attrs.evolve(stored, results=codec.packb(leaves))
    elif damage == "count":
        stored = attrs.evolve(stored, results=codec.packb(leaves[:2]))
    else:
        stored = attrs.evolve(stored, block=stored.block[:-40])
    with pytest.raises(StoredDataError):
        ReceiptCache(StoreOf(stored)).receipt(3, 0)
