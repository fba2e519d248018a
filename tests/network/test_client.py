"""The SDK against FakeChain validators on 127.0.0.1: the money flow, retries, and refusing
every kind of fake finality a lying validator can serve."""

from __future__ import annotations

import attrs
import httpx
import msgpack
import pytest
import trio

from consensus import codec
from consensus.replica.block import decode_block, encode_block, make_block
from ledger.tx import Mint, Redeem, RegisterParticipant, SettleRedemption, Transfer
from network.client import (
    DepositClient,
    FinalityError,
    FinalityTimeout,
    NodeUnavailable,
    RequestFailed,
    parse_raw_block,
    percentile,
    sign_body,
    verify_raw_block,
    verify_tx_proof,
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


async def test_onboard_mint_transfer_redeem_settle_with_verified_finality(nursery) -> None:
    chain = FakeChain()
    urls = [await serve_node(nursery, FakeNode(chain)) for _ in range(2)]
    nursery.start_soon(committer, chain)
    async with DepositClient([DEAD_URL, *urls], chain.genesis, timeout_s=2) as client:

        async def final(signer, body) -> str:
            tx_id, result = await client.send(signer, body)
            assert result.accepted, result
            proof = await client.wait_final(tx_id, timeout_s=10)
            assert proof.tx_id == tx_id and proof.node_url in urls
            assert proof.commit.block_id == proof.block_id
            return proof.code

        assert (
            await final(COMPLIANCE, RegisterParticipant(ALICE.public_key, "alice", 10**6)) == "OK"
        )
        assert await final(COMPLIANCE, RegisterParticipant(BOB.public_key, "bob", 10**6)) == "OK"
        assert await final(ISSUER, Mint(ALICE.public_key, "USD", 10_000, "deposit-1")) == "OK"
        assert await final(ALICE, Transfer(ALICE.public_key, BOB.public_key, "USD", 2_500)) == "OK"
        redeem_id, result = await client.send(BOB, Redeem("USD", 1_000))
        assert result.accepted
        assert (await client.wait_final(redeem_id, timeout_s=10)).code == "OK"
        assert await final(ISSUER, SettleRedemption(redeem_id, "payout-1")) == "OK"
        overdraft = await final(ALICE, Transfer(ALICE.public_key, BOB.public_key, "USD", 10**9))
        assert overdraft == "INSUFFICIENT_FUNDS"  # final, with a failure outcome
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
        assert len(chain.results) == 1  # applied once
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


def short_certificate(cb: CommittedBlock) -> CommittedBlock:
    commit = codec.decode_commit(cb.commit)  # 2 of 4 equal powers: not more than 2/3
    return attrs.evolve(
        cb, commit=codec.encode_commit(attrs.evolve(commit, precommits=commit.precommits[:2]))
    )


def swap_block(cb: CommittedBlock) -> CommittedBlock:
    """A different block (the tx removed) served with the real block's certificate."""
    block = decode_block(cb.block, 1 << 20)
    h = block.header
    other = make_block(
        chain_id=h.chain_id,
        height=h.height,
        time_ms=h.time_ms,
        prev_block_id=h.prev_block_id,
        app_hash=h.app_hash,
        results_root=h.results_root,
        proposer=h.proposer,
        txs=(),
        last_commit=block.last_commit,
    )
    return attrs.evolve(cb, block=encode_block(other))


def self_signed(cb: CommittedBlock) -> CommittedBlock:
    """A validator that certifies a block with keys of its own making."""
    from consensus.crypto import Ed25519Signer
    from consensus.messages import Commit, Vote, VoteType
    from consensus.signing import sign_vote

    commit = codec.decode_commit(cb.commit)
    fakes = [Ed25519Signer(bytes([i]) * 32) for i in range(4)]
    votes = tuple(
        sign_vote(s, "fake-chain", Vote(VoteType.PRECOMMIT, commit.height, 0, commit.block_id, b""))
        for s in sorted(fakes, key=lambda s: s.public_key)
    )
    return attrs.evolve(
        cb, commit=codec.encode_commit(Commit(commit.height, 0, commit.block_id, votes))
    )


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (forge_signature, "signature is invalid"),
        (short_certificate, "not more than 2/3"),
        (swap_block, "another block"),
        (self_signed, "not in the validator set"),
    ],
)
async def test_a_lying_validator_is_caught_and_an_honest_one_used(nursery, tamper, why) -> None:
    chain = FakeChain()
    liar = await serve_node(nursery, FakeNode(chain, tamper=tamper))
    honest = await serve_node(nursery, FakeNode(chain))
    async with DepositClient([liar, honest], chain.genesis, timeout_s=2) as client:
        tx_id, result = await client.send(COMPLIANCE, RegisterParticipant(ALICE.public_key, "a", 9))
        assert result.accepted
        chain.commit()
        proof = await client.wait_final(tx_id, timeout_s=5)
        assert proof.node_url == honest
        assert why in client.suspects[liar]
    async with DepositClient([liar], chain.genesis, timeout_s=2) as alone:
        with pytest.raises(FinalityError, match="no valid proof"):
            await alone.wait_final(tx_id, timeout_s=0.3)


async def test_a_certificate_from_another_genesis_is_refused(nursery) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    other = make_genesis("other-chain")
    async with DepositClient([url], chain.genesis, timeout_s=2) as client:
        tx_id, _ = await client.send(COMPLIANCE, RegisterParticipant(ALICE.public_key, "a", 9))
        chain.commit()
        body = await client.tx(tx_id)
    with pytest.raises(FinalityError, match="chain"):
        verify_tx_proof(other, tx_id, body)
    body_wrong_index = {**body, "index": 1}
    with pytest.raises(FinalityError, match="no index 1"):
        verify_tx_proof(chain.genesis, tx_id, body_wrong_index)
    with pytest.raises(FinalityError, match="not"):
        verify_tx_proof(chain.genesis, bytes(16), body)
    for raw in ("c1", "zz", None):
        garbage = {**body, "proof": {**body["proof"], "raw_block": raw}}
        with pytest.raises(FinalityError, match=r"decode|hex|missing"):
            verify_tx_proof(chain.genesis, tx_id, garbage)
    with pytest.raises(FinalityError, match="needs height"):
        verify_tx_proof(chain.genesis, tx_id, {**body, "proof": None})
    assert verify_tx_proof(chain.genesis, tx_id, body).height == 1


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
        tx_id, wire = await client.prepare(
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
        assert (await client.wait_final(tx_id, timeout_s=5)).block_id == raw.block_id


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


async def test_wait_final_times_out_cleanly_while_pending(nursery) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    async with DepositClient([url], chain.genesis, timeout_s=2) as client:
        tx_id, _ = await client.send(COMPLIANCE, RegisterParticipant(ALICE.public_key, "a", 9))
        with pytest.raises(FinalityTimeout):
            await client.wait_final(tx_id, timeout_s=0.2)


def test_percentile_by_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    assert VALIDATORS  # the fake chain's validator keys are fixed
