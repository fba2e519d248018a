"""The CLI's journal and receipts against FakeChain validators (subprocesses talking HTTP):
`--tx-id` retries re-send the journaled bytes and report the first receipt, a different body
under a used id is refused, `tx status` and `receipt verify` check receipts themselves, and
a transaction proven expired is signed anew under the same id (so still at most one commit)."""

from __future__ import annotations

import json
import re
import stat
from functools import partial
from pathlib import Path

import trio

from consensus.replica.block import decode_block
from ledger.tx import Mint, RegisterParticipant
from ledger.txcodec import from_wire
from network.journal import Journal
from tests.network.apifake import ALICE, BOB, COMPLIANCE, ISSUER, FakeChain, FakeNode, serve_node
from tests.network.test_cli_e2e import DEAD_URL, assert_one_line_error, depositnet, write_setup

FINAL = re.compile(r"final at height (\d+) \(index (\d+)\), outcome (\w+), receipt verified")


def transfers_of(chain: FakeChain, signer: bytes) -> list[bytes]:
    """Every committed transaction signed by `signer`, read from the blocks themselves."""
    found = []
    for committed in chain.blocks.values():
        for tx in decode_block(committed.block, 1 << 22).txs:
            if from_wire(tx).signer == signer:
                found.append(tx)
    return found


async def committer(chain: FakeChain) -> None:
    while True:
        await trio.sleep(0.02)
        if len(chain.mempool):
            chain.commit()


def funded(chain: FakeChain) -> None:
    """Alice and Bob onboarded, Alice holding 10,000 USD cents (signed here, not by the CLI)."""
    from tests.network.apifake import signed

    for i, body in enumerate(
        (
            RegisterParticipant(ALICE.public_key, "alice", 10**6),
            RegisterParticipant(BOB.public_key, "bob", 10**6),
        )
    ):
        chain.submit(signed(COMPLIANCE, body, nonce=bytes([i + 1]) * 16))
    chain.commit()
    assert chain.submit(signed(ISSUER, Mint(ALICE.public_key, "USD", 10_000, "d1"))).accepted
    chain.commit()


async def test_a_retried_payment_is_paid_once_and_reports_its_first_receipt(
    nursery, tmp_path: Path
) -> None:
    chain = FakeChain()
    funded(chain)
    url = await serve_node(nursery, FakeNode(chain))
    nursery.start_soon(committer, chain)
    keys = write_setup(tmp_path, chain.genesis, {"alice": ALICE, "bob": BOB})
    journal = tmp_path / "journal"
    env = {
        "DEPOSITNET_GENESIS": keys["genesis"],
        "DEPOSITNET_NODE": f"{DEAD_URL},{url}",
        "DEPOSITNET_JOURNAL": str(journal),
    }
    pay = ("tx", "transfer", keys["bob"], "USD", "2500", "--key", keys["alice"])
    runs = []
    for attempt in range(2):  # the three-run sequence on a real network: test_exactly_once_e2e
        if attempt == 1:
            for _ in range(50):  # the chain moves on by many heights before the retry
                chain.commit()
        status, out, err = await depositnet(*pay, "--tx-id", "INV-2024-001", "--wait", env=env)
        assert status == 0, (out, err)
        runs.append(out)
    finals = [FINAL.search(out) for out in runs]
    assert all(finals) and len({m.groups() for m in finals if m}) == 1, runs
    assert "signed, journaled in" in runs[0] and "re-sent from the journal" in runs[1]
    assert len(transfers_of(chain, ALICE.public_key)) == 1  # paid once
    assert chain.app.account(BOB.public_key).balances == {"USD": 2_500}
    assert chain.app.account(ALICE.public_key).balances == {"USD": 7_500}
    (entry_file,) = journal.glob("*.json")
    assert stat.S_IMODE(entry_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.stat().st_mode) == 0o700
    (entry,) = Journal(journal).entries()
    assert entry.label == "INV-2024-001" and entry.receipt is not None

    # a different body under the used id: one line naming the first transaction
    other = ("tx", "transfer", keys["bob"], "USD", "2600", "--key", keys["alice"])
    status, _out, err = await depositnet(*other, "--tx-id", "INV-2024-001", "--wait", env=env)
    assert_one_line_error(status, err, "--tx-id 'INV-2024-001' was already used for a different")
    assert f"tx {entry.tx_id.hex()} (TRANSFER" in err and "amount=2500" in err

    # the receipt: shown, saved, verified offline; a damaged copy proves nothing
    receipt_file = tmp_path / "payment.receipt"
    status, out, err = await depositnet(
        "tx", "status", "INV-2024-001", "--save", str(receipt_file), env=env
    )
    assert status == 0, err
    assert FINAL.search(out) and FINAL.search(out).groups() == finals[0].groups()  # type: ignore[union-attr]
    status, out, err = await depositnet("receipt", "verify", str(receipt_file), env=env)
    assert status == 0 and "receipt verified against genesis 'fake-chain'" in out, err
    assert f"tx {entry.tx_id.hex()}: TRANSFER" in out and "certified by power 40/40" in out
    offline = {"DEPOSITNET_GENESIS": keys["genesis"], "DEPOSITNET_NODE": DEAD_URL}
    status, out, _ = await depositnet("receipt", "verify", str(receipt_file), "--json", env=offline)
    assert json.loads(out)["outcome"] == "OK"  # no validator was needed
    damaged = bytearray(receipt_file.read_bytes())
    damaged[-70] ^= 1  # inside a precommit signature
    (tmp_path / "damaged").write_bytes(bytes(damaged))
    status, _out, err = await depositnet("receipt", "verify", str(tmp_path / "damaged"), env=env)
    assert_one_line_error(status, err, "the receipt proves nothing")
    (tmp_path / "hex").write_text(receipt_file.read_bytes().hex() + "\n")
    status, out, err = await depositnet("receipt", "verify", str(tmp_path / "hex"), env=env)
    assert status == 0, err


async def test_without_wait_a_resend_of_a_final_transaction_shows_its_receipt(
    nursery, tmp_path: Path
) -> None:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    keys = write_setup(tmp_path, chain.genesis, {"compliance": COMPLIANCE})
    env = {
        "DEPOSITNET_GENESIS": keys["genesis"],
        "DEPOSITNET_NODE": url,
        "DEPOSITNET_JOURNAL": str(tmp_path / "journal"),
    }
    register = ("tx", "register", ALICE.public_key.hex(), "alice", "--key", keys["compliance"])
    status, out, err = await depositnet(*register, "--tx-id", "onboard-alice", env=env)
    assert status == 0 and "accepted by " in out and "final" not in out, (out, err)
    status, out, err = await depositnet("tx", "status", "onboard-alice", env=env)
    assert status == 3 and "not final: pending" in out, (out, err)
    chain.commit()
    status, out, err = await depositnet(*register, "--tx-id", "onboard-alice", env=env)
    assert status == 0 and "re-sent from the journal" in out, err
    assert FINAL.search(out) and "final at height 1 (index 0)" in out
    assert len(transfers_of(chain, COMPLIANCE.public_key)) == 1


async def test_a_transaction_proven_expired_is_signed_anew_under_the_same_id(
    nursery, tmp_path: Path
) -> None:
    chain = FakeChain()
    forgetful = await serve_node(nursery, FakeNode(chain, swallow=True))
    honest = await serve_node(nursery, FakeNode(chain))
    keys = write_setup(tmp_path, chain.genesis, {"compliance": COMPLIANCE})
    env = {"DEPOSITNET_GENESIS": keys["genesis"], "DEPOSITNET_JOURNAL": str(tmp_path / "j")}
    register = ("tx", "register", ALICE.public_key.hex(), "alice", "--key", keys["compliance"])
    mine = (*register, "--tx-id", "onboard-alice")
    status, out, err = await depositnet(*mine, "--node", forgetful, env=env)
    assert status == 0 and "accepted by" in out, err  # ... and lost
    window_ms = chain.genesis.limits.max_validity_window_ms
    for _ in range(window_ms // 2 // 1000 + 2):  # chain time passes its validity
        chain.commit()
    status, _out, err = await depositnet(*mine, "--wait", "--node", honest, env=env)
    assert_one_line_error(status, err, "expired without committing")
    assert "run the same command to sign it anew" in err
    nursery.start_soon(partial(committer, chain))
    status, out, err = await depositnet(*mine, "--wait", "--node", honest, env=env)
    assert status == 0 and "signed, journaled" in out and FINAL.search(out), (out, err)
    (entry,) = Journal(tmp_path / "j").entries()
    assert len(entry.superseded) == 1 and entry.expired_at_height is None
    committed = transfers_of(chain, COMPLIANCE.public_key)
    assert committed == [entry.tx]  # the new bytes, once; the expired ones never
    assert from_wire(entry.superseded[0]).tx_id == entry.tx_id  # the same id throughout
