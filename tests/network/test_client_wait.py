"""`submit_and_wait` against FakeChain validators: re-sending the same bytes through dead,
busy, forgetful and lying validators, and the provable ends (expired, id taken, refused).

Every test checks exactly-once itself, without the code it judges: it counts the signed
bytes in the chain's blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs
import pytest
import trio

from consensus import codec
from consensus.crypto import Ed25519Signer
from consensus.interfaces import TxAdmission
from consensus.messages import Commit, Vote, VoteType
from consensus.replica.block import decode_block
from consensus.signing import sign_vote
from ledger.receipt import decode_receipt
from ledger.tx import Redeem, RegisterParticipant
from ledger.txcodec import from_wire
from network.client import (
    ClientError,
    DepositClient,
    FinalityTimeout,
    TxExpired,
    TxIdUsed,
    TxRejected,
)
from network.nodeview import TxStatus
from tests.network.apifake import ALICE, COMPLIANCE, FakeChain, FakeNode, serve_node, signed

DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there
NONCE = b"\x42" * 16


def register(name: str, *, nonce: bytes = NONCE, until: int = 50_000) -> bytes:
    return signed(
        COMPLIANCE, RegisterParticipant(ALICE.public_key, name, 9), nonce=nonce, until=until
    )


def occurrences(chain: FakeChain, tx: bytes) -> int:
    """How many blocks hold these exact bytes (counted here, from the blocks themselves)."""
    return sum(decode_block(b.block, 1 << 22).txs.count(tx) for b in chain.blocks.values())


async def committer(chain: FakeChain, *, empty: bool = False) -> None:
    """Stand in for consensus: commit what is pending (or empty blocks too, so time moves)."""
    while True:
        await trio.sleep(0.02)
        if empty or len(chain.mempool):
            chain.commit()


@attrs.define
class Busy(FakeNode):
    """A validator whose mempool is always full (503)."""

    def submit_tx(self, tx: bytes) -> TxAdmission:
        self.submitted.append(tx)
        return TxAdmission(False, from_wire(tx).tx_id, "MEMPOOL_FULL", "full")


@attrs.define
class Refusing(FakeNode):
    """A validator that refuses everything with a lasting code (a liar, or misconfigured)."""

    def submit_tx(self, tx: bytes) -> TxAdmission:
        self.submitted.append(tx)
        return TxAdmission(False, from_wire(tx).tx_id, "NOT_OWNER", "says who")


async def test_the_same_bytes_go_to_the_next_validator_past_dead_and_busy_ones(nursery) -> None:
    chain = FakeChain()
    busy = Busy(chain)
    urls = [DEAD_URL, await serve_node(nursery, busy), await serve_node(nursery, FakeNode(chain))]
    nursery.start_soon(committer, chain)
    tx = register("a")
    async with DepositClient(urls, chain.genesis, timeout_s=2) as client:
        final = await client.submit_and_wait(tx, timeout_s=20)
    assert final.node_url in urls[1:] and final.code == "OK" and final.receipt.tx == tx
    assert busy.submitted and set(busy.submitted) == {tx}  # the very same bytes, every time
    assert occurrences(chain, tx) == 1


async def test_an_acceptance_lost_before_gossip_is_recovered_by_resending(nursery) -> None:
    chain = FakeChain()
    forgetful = FakeNode(chain, swallow=True)  # accepts, then loses it (died before gossip)
    honest = FakeNode(chain)
    urls = [await serve_node(nursery, forgetful), await serve_node(nursery, honest)]
    nursery.start_soon(committer, chain)
    tx = register("a")
    async with DepositClient(urls, chain.genesis, timeout_s=2) as client:
        final = await client.submit_and_wait(tx, timeout_s=20, resend_after_s=0.2)
    assert forgetful.submitted[0] == tx and honest.submitted == [tx]
    assert final.receipt.tx == tx and occurrences(chain, tx) == 1


async def test_a_committed_transaction_answers_at_once_with_its_first_receipt(nursery) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    tx = register("a")
    chain.submit(tx)
    chain.commit()
    for _ in range(5):
        chain.commit()
    async with DepositClient([url], chain.genesis, timeout_s=2) as client:
        final = await client.submit_and_wait(tx, timeout_s=5)  # nothing commits any more
        again = await client.submit_and_wait(tx, timeout_s=5)
    assert (final.height, final.index) == (again.height, again.index) == (1, 0)
    assert occurrences(chain, tx) == 1


# ------------------------------------------------------------------ lying validators


def _evolve_receipt(status: TxStatus, **changes: object) -> TxStatus:
    assert status.committed is not None
    receipt = attrs.evolve(decode_receipt(status.committed.receipt), **changes)
    return attrs.evolve(status, committed=attrs.evolve(status.committed, receipt=receipt.encode()))


def forged_result(status: TxStatus) -> TxStatus:
    if status.committed is None:
        return status
    receipt = decode_receipt(status.committed.receipt)
    return _evolve_receipt(status, result=receipt.result.replace(b"OK", b"NO"))


def short_certificate(status: TxStatus) -> TxStatus:
    if status.committed is None:
        return status
    commit = codec.decode_commit(decode_receipt(status.committed.receipt).commit)
    short = attrs.evolve(commit, precommits=commit.precommits[:2])
    return _evolve_receipt(status, commit=codec.encode_commit(short))


def self_signed(status: TxStatus) -> TxStatus:
    """A certificate of the right block by keys of the liar's own making."""
    if status.committed is None:
        return status
    commit = codec.decode_commit(decode_receipt(status.committed.receipt).commit)
    fakes = sorted((Ed25519Signer(bytes([i]) * 32) for i in range(4)), key=lambda s: s.public_key)
    vote = Vote(VoteType.PRECOMMIT, commit.height, 0, commit.block_id, b"")
    votes = tuple(sign_vote(s, "fake-chain", vote) for s in fakes)
    forged = Commit(commit.height, 0, commit.block_id, votes)
    return _evolve_receipt(status, commit=codec.encode_commit(forged))


def garbage(status: TxStatus) -> TxStatus:
    if status.committed is None:
        return status
    return attrs.evolve(status, committed=attrs.evolve(status.committed, receipt=b"\x93\x01"))


@attrs.define
class Substitute:
    """Serves, for every committed tx, the real certified status of another transaction."""

    chain: FakeChain
    other: bytes  # that transaction's id

    def __call__(self, status: TxStatus) -> TxStatus:
        if status.committed is None:
            return status
        real = self.chain.tx_status(self.other).committed
        assert real is not None
        return attrs.evolve(status, committed=attrs.evolve(real, tx_id=status.committed.tx_id))


@pytest.mark.parametrize(
    ("lie", "why"),
    [
        (forged_result, "results_root"),
        (short_certificate, "final"),
        (self_signed, "final"),
        (garbage, "receipt"),
        ("earlier", "is of tx_id"),  # a real receipt of the signer's earlier transaction
        ("later_use", "later use"),  # a real receipt of a later use of the same id
    ],
)
async def test_a_lying_validator_is_refused_and_the_receipt_taken_elsewhere(
    nursery, lie, why
) -> None:
    chain = FakeChain()
    tx = register("payment")
    if lie == "earlier":
        earlier = register("earlier", nonce=b"\x01" * 16)
        chain.commit(txs=[earlier])
        lie = Substitute(chain, from_wire(earlier).tx_id)
    liar = FakeNode(chain, tamper_status=lie if callable(lie) else None)
    urls = [await serve_node(nursery, liar), await serve_node(nursery, FakeNode(chain))]
    if lie == "later_use":  # the payment, then (a Byzantine proposer's block) a later use
        chain.commit(txs=[tx])
        later = register("another body")
        chain.commit(txs=[later])
        liar.tamper_status = _later_use(chain, later)
    else:
        nursery.start_soon(committer, chain)
    async with DepositClient(urls[:1], chain.genesis, timeout_s=2) as alone:
        await suspected(alone, tx)  # alone, the liar makes no receipt at all, only a suspect
        assert why in alone.suspects[urls[0]], alone.suspects
    async with DepositClient(urls, chain.genesis, timeout_s=2) as client:
        final = await client.submit_and_wait(tx, timeout_s=20)
        assert final.node_url == urls[1] and final.receipt.tx == tx and final.code == "OK"
    assert occurrences(chain, tx) == 1


async def suspected(client: DepositClient, tx: bytes, deadline_s: float = 60.0) -> None:
    """Wait on `tx` with `client` until its first URL is a suspect (it never ends alone)."""
    url = client.node_urls[0]
    with trio.fail_after(deadline_s):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(client.submit_and_wait, tx))
            while url not in client.suspects:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()


def _later_use(chain: FakeChain, later: bytes) -> Callable[[TxStatus], TxStatus]:
    """Serves the receipt of `later` (the id's later use, DUPLICATE_TX_ID) for the id."""
    block = max(chain.blocks)
    receipt = chain.receipts.receipt(block, 0).encode()
    assert decode_receipt(receipt).tx == later

    def tamper(status: TxStatus) -> TxStatus:
        if status.committed is None:
            return status
        return attrs.evolve(
            status, committed=attrs.evolve(status.committed, height=block, receipt=receipt)
        )

    return tamper


# ------------------------------------------------------------------ provable ends


async def test_an_id_taken_by_another_transaction_is_proven_and_final(nursery) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    first, other = register("first"), register("other")  # same signer and nonce
    chain.submit(first)
    chain.commit()
    async with DepositClient([url], chain.genesis, timeout_s=2) as client:
        with pytest.raises(TxIdUsed, match=r"height 1 \(index 0\) with outcome OK") as info:
            await client.submit_and_wait(other, timeout_s=5)
    assert info.value.first.receipt.tx == first
    assert occurrences(chain, other) == 0


@attrs.define
class Refusals(FakeNode):
    """A validator that signals each refusal it answers (an event to order the test by)."""

    refused: trio.Event = attrs.field(factory=trio.Event)
    codes: list[str] = attrs.field(factory=list)

    def submit_tx(self, tx: bytes) -> TxAdmission:
        admission = super().submit_tx(tx)
        if not admission.accepted:
            self.codes.append(admission.code)
            self.refused.set()
        return admission


async def test_a_pending_duplicate_resolves_once_the_first_commits(nursery) -> None:
    chain = FakeChain()
    node = Refusals(chain)
    url = await serve_node(nursery, node)
    first, other = register("first"), register("other")
    chain.submit(first)  # pending: the other is refused DUPLICATE_TX_ID without a receipt

    async def commit_once_refused() -> None:
        await node.refused.wait()
        chain.commit()

    nursery.start_soon(commit_once_refused)
    async with DepositClient([url], chain.genesis, timeout_s=2) as client:
        with pytest.raises(TxIdUsed):
            await client.submit_and_wait(other, timeout_s=60)
    assert node.codes[0] == "DUPLICATE_TX_ID"  # refused while the first was pending
    assert occurrences(chain, first) == 1 and occurrences(chain, other) == 0


async def test_a_transaction_that_can_no_longer_commit_is_proven_expired(nursery) -> None:
    chain = FakeChain()
    nodes = [FakeNode(chain, swallow=True), FakeNode(chain, swallow=True)]
    urls = [await serve_node(nursery, n) for n in nodes]
    nursery.start_soon(partial(committer, chain, empty=True))  # chain time: 1 s a block
    tx = register("late", until=3_000)
    async with DepositClient(urls, chain.genesis, timeout_s=2) as client:
        with pytest.raises(TxExpired, match="can never commit") as info:
            await client.submit_and_wait(tx, timeout_s=30, resend_after_s=0.1)
    assert info.value.time_ms > 3_000 and info.value.height >= 4
    assert occurrences(chain, tx) == 0
    # sent after expiry: the validators refuse it (EXPIRED), the client proves it just the same
    async with DepositClient(urls[1:], chain.genesis, timeout_s=2) as client:
        with pytest.raises(TxExpired):
            await client.submit_and_wait(register("later", until=3_000), timeout_s=30)


async def test_refused_everywhere_for_good_is_a_rejection(nursery) -> None:
    chain = FakeChain()
    urls = [await serve_node(nursery, Refusing(chain)) for _ in range(2)]
    async with DepositClient(urls, chain.genesis, timeout_s=2) as client:
        with pytest.raises(TxRejected, match="NOT_OWNER: says who"):
            await client.submit_and_wait(register("a"), timeout_s=10)


async def test_bytes_no_validator_could_accept_are_refused_before_sending(nursery) -> None:
    chain = FakeChain()
    node = FakeNode(chain)
    url = await serve_node(nursery, node)
    broken = bytearray(register("a"))
    broken[-1] ^= 1
    foreign = signed(ALICE, Redeem("USD", 1), nonce=NONCE)
    foreign = foreign.replace(b"fake-chain", b"fake-chaim")
    async with DepositClient([url], chain.genesis, timeout_s=2) as client:
        for tx, why in ((bytes(broken), "BAD_SIGNATURE"), (foreign, "WRONG_CHAIN"), (b"\x01", "")):
            with pytest.raises(ClientError, match=f"cannot commit: {why}"):
                await client.submit_and_wait(tx, timeout_s=5)
    assert node.submitted == []


async def test_waiting_gives_up_cleanly_after_the_timeout(nursery) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    async with DepositClient([url], chain.genesis, timeout_s=2) as client:
        with pytest.raises(FinalityTimeout, match="may still commit"):
            await client.submit_and_wait(register("a"), timeout_s=0.3)
    assert len(chain.mempool) == 1  # it is still pending: waiting again is safe
