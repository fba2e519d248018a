"""The load generator against a FakeChain's real API: msgpack batches in, raw blocks followed,
transfers matched by their signed bytes (the validator decodes no transaction for either), and
a whole step from the chain's time to its last commit."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest
import trio

from bench import loadgen
from consensus.crypto import Ed25519Signer
from consensus.interfaces import TxAdmission
from consensus.replica.block import decode_block
from ledger.tx import Mint, RegisterParticipant
from ledger.txcodec import decode_tx
from network import api
from network.keys import write_key
from tests.network.apifake import (
    ALICE,
    BOB,
    CHAIN_ID,
    COMPLIANCE,
    ISSUER,
    FakeChain,
    FakeNode,
    serve_node,
    signed,
)

FOLLOW_BOUND_S = 60.0


def registrations(n: int) -> list[bytes]:
    keys = [Ed25519Signer(bytes([i + 1]) * 32).public_key for i in range(n)]
    return [signed(COMPLIANCE, RegisterParticipant(k, f"p{i}", 10_000)) for i, k in enumerate(keys)]


async def test_batches_go_as_msgpack_and_raw_blocks_time_them(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = FakeChain()
    node = FakeNode(chain)
    url = await serve_node(nursery, node)
    decoded: list[int] = []
    real_decode = api.decode_msgpack_batch

    def counting(body: bytes) -> list[bytes]:
        txs = real_decode(body)
        decoded.append(len(txs))
        return txs

    def never(*args: object) -> None:
        raise AssertionError("the followed validator decoded a transaction")

    monkeypatch.setattr(api, "decode_msgpack_batch", counting)
    monkeypatch.setattr("network.api_render.decode_tx", never)

    wires = registrations(5)
    broken = bytearray(wires[4])
    broken[-1] ^= 1
    wires[4] = bytes(broken)
    spec = loadgen.StepSpec(
        api_urls=(url,),
        chain_id=CHAIN_ID,
        key_files=(),
        rate=100.0,
        seconds=1.0,
        validity_window_ms=60_000,
    )
    tally = loadgen.Tally(ids={tx: f"id{i}" for i, tx in enumerate(wires)})
    submitter = loadgen.Submitter(spec, tally, random.Random(1))
    try:
        for tx in wires:
            tally.sent[tx] = 1.0
        await submitter.many(wires)
        await submitter.many(wires[:2])  # again: already in the mempool, not a rejection
    finally:
        await submitter.aclose()
    assert decoded == [5, 2] and tally.batch_used is True
    assert node.submitted == wires + wires[:2]
    assert tally.rejected == {"BAD_SIGNATURE": 1} and wires[4] not in tally.sent
    assert len(chain.mempool) == 4

    chain.commit()
    chain.commit()  # an empty block: nothing of ours
    async with httpx.AsyncClient() as http:
        # until the follower has matched every sent transfer; the bound only turns a hang
        # into a clear failure (a loaded machine takes milliseconds here, not seconds)
        with trio.move_on_after(FOLLOW_BOUND_S) as bound:
            async with trio.open_nursery() as follower:
                follower.start_soon(loadgen.follow, http, url, 0, tally)
                while tally.sent:
                    await trio.sleep(0.01)
                follower.cancel_scope.cancel()
    if bound.cancelled_caught:
        pytest.fail(
            f"the follower matched {tally.committed} of 4 transfers in {FOLLOW_BOUND_S:g} s "
            f"(still unmatched: {len(tally.sent)}; follow errors: {tally.follow_errors})"
        )
    assert tally.sent == {} and tally.committed == 4
    assert len(tally.latencies_s) == 4 and len(tally.block_times) == 1
    assert tally.follow_errors == {}
    summary = loadgen.summarise(spec, tally, {})
    assert summary["committed"] == 4 and summary["uncommitted_sample"] == []


async def test_raw_block_answers_give_the_blocks_signed_transactions(
    nursery: trio.Nursery,
) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    wires = registrations(3)
    for tx in wires:
        chain.submit(tx)
    chain.commit()
    async with httpx.AsyncClient(base_url=url) as http:
        raw = (await http.get("/blocks/1/raw")).content
        as_json = (await http.get("/blocks/1")).json()
    assert loadgen.block_txs(raw) == tuple(wires)
    assert [tx.hex() for tx in loadgen.block_txs(raw)] == [t["raw"] for t in as_json["txs"]]
    with pytest.raises(ValueError):
        loadgen.block_txs(b"\x80")  # an empty map: no block


async def test_a_step_signs_in_chain_time_and_sees_every_transfer_commit(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A whole step against a chain that commits whenever transactions wait: every transfer
    is valid until the chain's time at signing + the window, accepted, committed with OK, and
    timed from its send to the block holding it."""
    chain = FakeChain()
    node = FakeNode(chain)
    for who in (ALICE, BOB):
        chain.submit(signed(COMPLIANCE, RegisterParticipant(who.public_key, "p", 10_000)))
        chain.submit(signed(ISSUER, Mint(who.public_key, "USD", 10**9, who.public_key.hex())))
    chain.commit()
    chain.commit()  # an empty block: the chain's time is now 2,000 ms
    url = await serve_node(nursery, node)
    arrived = trio.Event()
    real_submit = chain.submit

    def submit(tx: bytes) -> TxAdmission:
        admission = real_submit(tx)
        arrived.set()
        return admission

    chain.submit = submit  # type: ignore[method-assign]

    async def commit_whenever_transactions_wait() -> None:
        nonlocal arrived
        while True:
            await arrived.wait()
            arrived = trio.Event()
            chain.commit()

    nursery.start_soon(commit_whenever_transactions_wait)
    keys = []
    for who, name in ((ALICE, "alice"), (BOB, "bob")):
        write_key(tmp_path / f"{name}.key", who)
        keys.append(str(tmp_path / f"{name}.key"))
    spec = loadgen.StepSpec(
        api_urls=(url,),
        chain_id=CHAIN_ID,
        key_files=tuple(keys),
        rate=200.0,
        seconds=0.1,
        validity_window_ms=60_000,
        currencies=("USD",),
        drain_s=30.0,  # a bound, not a wait: the step ends at its last commit
    )
    result = await loadgen.run_step(spec)
    assert (result["submitted"], result["committed"], result["uncommitted"]) == (20, 20, 0)
    assert result["rejected"] == {} and result["batch_submit"] is True
    assert result["validity"]["chain_time_at_signing_ms"] == 2_000
    assert result["validity"]["valid_until_ms"] == 62_000
    assert 0 < result["validity"]["left_at_end_s"] < 60
    assert result["latency_p99_s"] is not None and result["heights"][0] == 2
    committed = [
        decode_tx(tx).tx
        for height in range(3, chain.height + 1)
        for tx in decode_block(chain.blocks[height].block, 1 << 20).txs
    ]
    assert len(committed) == 20
    assert {tx.valid_until_ms for tx in committed} == {62_000}
    assert all(chain.results[tx.tx_id][2] == "OK" for tx in committed)
