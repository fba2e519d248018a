"""The simulator's receipt server gives exactly what `ledger.receipt.build_receipt` gives, for
every transaction of stored blocks, and nothing for an id the store never committed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.receipt import build_receipt
from ledger.store_memory import MemoryStore
from ledger.tx import Mint, RegisterParticipant, Transfer
from ledger.txcodec import from_wire
from sim.receipts import ReceiptServer
from tests.ledger.support import ALICE, BOB, COMP, USD_ISSUER, TxFactory, block_time, genesis
from tests.sim.chains import ChainBuilder

A, B = ALICE.public_key, BOB.public_key


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=3))
def test_served_receipts_equal_build_receipt(sizes: list[int]) -> None:
    tx = TxFactory(valid_until_ms=block_time(50))
    builder = ChainBuilder(genesis())
    store = MemoryStore()
    setup = [
        tx(COMP, RegisterParticipant(A, "alice", 100)),
        tx(COMP, RegisterParticipant(B, "bob", 100)),
        tx(USD_ISSUER, Mint(A, "USD", 10**6, "dep")),
    ]
    blocks = [setup] + [[tx(ALICE, Transfer(A, B, "USD", 1)) for _ in range(n)] for n in sizes]
    server = ReceiptServer()
    for txs in blocks:
        decided = builder.block(txs)
        store.save_height(decided.record)
        for index, raw in enumerate(txs):
            served = server.receipt(store, from_wire(raw).tx_id)
            record = decided.record
            assert served == build_receipt(
                block=record.block, results=record.results, commit=record.commit, index=index
            )
    assert server.receipt(store, b"\0" * 16) is None
