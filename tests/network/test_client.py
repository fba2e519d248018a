"""The SDK against FakeChain validators on 127.0.0.1: the money flow with verified receipts,
submissions, batches, raw blocks and headers checked against the genesis (`submit_and_wait`'s
retries and lying validators: test_client_wait.py)."""

from __future__ import annotations

import attrs
import httpx
import msgpack
import pytest
import trio

from consensus import codec
from ledger.tx import Mint, Redeem, RegisterParticipant, SettleRedemption, Transfer
from ledger.txcodec import from_wire
from network.client import (
    ClientError,
    DepositClient,
    FinalityError,
    FinalReceipt,
    NodeUnavailable,
    RequestFailed,
    parse_raw_block,
    percentile,
    sign_body,
    verify_raw_block,
)
from network.nodeview import CommittedBlock
from tests.network.apifake import (
    ALICE,
    BOB,
    COMPLIANCE,
    ISSUER,
    VALIDATORS,
    FakeChain,
    FakeNode,
    make_genesis,
    serve_node,
)

DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there


async def committer(chain: FakeChain, *, every_s: float = 0.02) -> None:
    """Stand in for consensus: commit whatever is pending, repeatedly."""
    while True:
        await trio.sleep(every_s)
        if len(chain.mempool):
            chain.commit()


async def test_onboard_mint_transfer_redeem_settle_with_verified_receipts(nursery) -> None:
    chain = FakeChain()
    urls = [await serve_node(nursery, FakeNode(chain)) for _ in range(2)]
    nursery.start_soon(committer, chain)
    async with DepositClient([DEAD_URL, *urls], chain.genesis, timeout_s=2) as client:

        async def final(signer, body) -> FinalReceipt:
            tx_id, wire = await client.prepare(signer, body)
            receipt = await client.submit_and_wait(wire, timeout_s=10)
            assert receipt.tx_id == tx_id and receipt.node_url in urls
            assert receipt.receipt.tx == wire and receipt.certified_power == 40
            return receipt

        for body in (
            RegisterParticipant(ALICE.public_key, "alice", 10**6),
            RegisterParticipant(BOB.public_key, "bob", 10**6),
        ):
            assert (await final(COMPLIANCE, body)).code == "OK"
        minted = await final(ISSUER, Mint(ALICE.public_key, "USD", 10_000, "deposit-1"))
        assert minted.code == "OK"
        paid = await final(ALICE, Transfer(ALICE.public_key, BOB.public_key, "USD", 2_500))
        assert paid.code == "OK" and paid.time_ms == paid.height * 1000
        redeem = await final(BOB, Redeem("USD", 1_000))
        assert (await final(ISSUER, SettleRedemption(redeem.tx_id, "payout-1"))).code == "OK"
        overdraft = await final(ALICE, Transfer(ALICE.public_key, BOB.public_key, "USD", 10**9))
        assert overdraft.code == "INSUFFICIENT_FUNDS"  # final, with a failure outcome
        assert overdraft.message  # the ledger's wording, beside the proven code
        alice = await client.account(ALICE.public_key)
        bob = await client.account(BOB.public_key)
        assert alice["balances"] == {"USD": 7_500}
        assert bob["balances"] == {"USD": 1_500}
        assert client.suspects == {}


async def test_submit_retries_on_the_next_validator_and_retry_is_safe(nursery) -> None:
    chain = FakeChain()
    node = FakeNode(chain)
    url = await serve_node(nursery, node)
    async with DepositClient([DEAD_URL, url], chain.genesis, timeout_s=2) as client:
        tx_id, wire = await client.prepare(
            COMPLIANCE, RegisterParticipant(ALICE.public_key, "a", 99)
        )
        first = await client.submit(wire)
        assert first.accepted and first.node_url == url and first.tx_id == tx_id
        again = await client.submit(wire)  # e.g. the answer was lost: resend the same bytes
        assert not again.accepted and again.known and again.ok
        chain.commit()
        third = await client.submit(wire)
        assert third.code == "ALREADY_COMMITTED" and third.ok
        assert third.committed is not None and third.committed.height == 1
        assert client.judge(url, third.committed, wire).height == 1  # its receipt verifies
        assert list(chain.tx_index) == [tx_id]  # applied once
    async with DepositClient([DEAD_URL], chain.genesis, timeout_s=1) as client:
        with pytest.raises(NodeUnavailable):
            await client.submit(wire)


async def test_rejections_are_reported_not_retried(nursery) -> None:
    chain = FakeChain()
    node = FakeNode(chain)
    urls = [await serve_node(nursery, node), await serve_node(nursery, node)]
    async with DepositClient(urls, chain.genesis, timeout_s=2) as client:
        _tx_id, wire = sign_body(ALICE, "another-chain", Redeem("USD", 1), valid_until_ms=5_000)
        result = await client.submit(wire)
        assert not result.accepted and result.code == "WRONG_CHAIN"
        assert len(node.submitted) == 1
        with pytest.raises(RequestFailed) as info:
            await client.block(99)
        assert info.value.status == 404 and info.value.code == "NOT_FOUND"


# ------------------------------------------------------------------ lying validators


def forge_signature(cb: CommittedBlock) -> CommittedBlock:
    commit = codec.decode_commit(cb.commit)
    vote = commit.precommits[0]
    bad = attrs.evolve(vote, signature=bytes(64))
    precommits = (bad, *commit.precommits[1:])
    return attrs.evolve(cb, commit=codec.encode_commit(attrs.evolve(commit, precommits=precommits)))


async def test_chain_time_comes_from_a_verified_header(nursery) -> None:
    chain = FakeChain()
    liar = await serve_node(nursery, FakeNode(chain, tamper=forge_signature))
    honest = await serve_node(nursery, FakeNode(chain))
    async with DepositClient([liar, honest], chain.genesis, timeout_s=2) as client:
        assert await client.latest_header() is None  # no block yet
        assert await client.chain_time_ms() == chain.genesis.genesis_time_ms
        chain.commit()
        chain.commit()
        header = await client.latest_header()
        assert header is not None and header.node_url == honest and header.header.height == 2
        assert "signature is invalid" in client.suspects[liar]
        tx_id, wire = await client.prepare(ALICE, Redeem("USD", 5), valid_for_ms=90_000)
        assert from_wire(wire).valid_until_ms == 2_000 + 90_000
        assert from_wire(wire).tx_id == tx_id
        with pytest.raises(ClientError, match="valid_for_ms"):
            await client.prepare(ALICE, Redeem("USD", 5), valid_for_ms=10**12)
    async with DepositClient([liar], chain.genesis, timeout_s=2) as alone:
        with pytest.raises(NodeUnavailable, match="no verified header"):
            await alone.chain_time_ms()


class Recording(httpx.AsyncHTTPTransport):
    """A real transport that remembers each request's method, path and content type."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path, request.headers.get("content-type")))
        return await super().handle_async_request(request)


async def test_submit_batch_sends_msgpack_and_keeps_its_verdicts(nursery) -> None:
    chain = FakeChain()
    node = FakeNode(chain)
    url = await serve_node(nursery, node)
    transport = Recording()
    async with DepositClient([DEAD_URL, url], chain.genesis, transport=transport) as client:
        alice_id, alice = await client.prepare(
            COMPLIANCE, RegisterParticipant(ALICE.public_key, "a", 9)
        )
        bob_id, bob = await client.prepare(COMPLIANCE, RegisterParticipant(BOB.public_key, "b", 9))
        broken = bytearray(bob)
        broken[-1] ^= 1
        results = await client.submit_batch([alice, bytes(broken), alice, bob])
        assert [(r.accepted, r.code, r.known) for r in results] == [
            (True, "OK", False),
            (False, "BAD_SIGNATURE", False),
            (False, "ALREADY_IN_MEMPOOL", True),
            (True, "OK", False),
        ]
        assert {r.node_url for r in results} == {url}
        assert results[0].tx_id == alice_id and results[3].tx_id == bob_id
        assert node.submitted == [alice, bytes(broken), alice, bob]
        with pytest.raises(RequestFailed) as refused:
            await client.submit_batch([])
        assert refused.value.status == 400 and refused.value.code == "BAD_REQUEST"
    batches = [ct for method, path, ct in transport.seen if path == "/txs/batch"]
    assert batches and set(batches) == {"application/msgpack"}


async def test_raw_blocks_are_fetched_and_verified_against_the_genesis(nursery) -> None:
    chain = FakeChain()
    liar = await serve_node(nursery, FakeNode(chain, tamper=forge_signature))
    honest = await serve_node(nursery, FakeNode(chain))
    async with DepositClient([DEAD_URL, honest, liar], chain.genesis, timeout_s=2) as client:
        _tx_id, wire = await client.prepare(
            COMPLIANCE, RegisterParticipant(ALICE.public_key, "a", 9)
        )
        assert (await client.submit(wire)).accepted
        with pytest.raises(RequestFailed) as missing:
            await client.raw_block(1)
        assert missing.value.status == 404 and missing.value.code == "NOT_FOUND"
        chain.commit()
        raw = await client.raw_block(1)
        assert raw.node_url == honest and raw.height == 1
        assert (raw.block, raw.commit, raw.block_id) == (
            chain.blocks[1].block,
            chain.blocks[1].commit,
            chain.blocks[1].block_id,
        )
        block, commit, bid = verify_raw_block(chain.genesis, raw.block, raw.commit, 1)
        assert block.txs == (wire,) and bid == raw.block_id == commit.block_id
        assert (await client.raw_block("latest")).block == raw.block
        # the same checks as wait_final's: the lying validator's certificate is refused
        async with DepositClient([liar], chain.genesis) as lied_to:
            forged = await lied_to.raw_block(1)
        with pytest.raises(FinalityError, match="signature is invalid"):
            verify_raw_block(chain.genesis, forged.block, forged.commit, 1)
        with pytest.raises(FinalityError, match="height 1, not 2"):
            verify_raw_block(chain.genesis, raw.block, raw.commit, 2)
        with pytest.raises(FinalityError, match="chain"):
            verify_raw_block(make_genesis("other-chain"), raw.block, raw.commit, 1)
        with pytest.raises(FinalityError, match="decode"):
            verify_raw_block(chain.genesis, b"\xc1", raw.commit, 1)
        assert (await client.submit_and_wait(wire, timeout_s=5)).block_id == raw.block_id


def test_raw_block_bodies_are_parsed_strictly() -> None:
    good = {"block": b"b", "block_id": b"i", "commit": b"c", "height": 3}
    assert parse_raw_block(codec.packb(good)).height == 3
    for bad in (
        b"\xc1",
        codec.packb(good) + b"\x00",
        msgpack.packb({"height": 3, "block": b"b", "block_id": b"i", "commit": b"c"}),  # unsorted
        codec.packb({**good, "height": "3"}),
        codec.packb({**good, "block": "b"}),
        codec.packb({**good, "extra": 1}),
        codec.packb([b"b", b"i", b"c", 3]),
    ):
        with pytest.raises(codec.DecodeError):
            parse_raw_block(bad)


def test_percentile_by_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    assert VALIDATORS  # the fake chain's validator keys are fixed
