"""Four replicas with real signatures and real LMDB stores, on the deterministic test driver."""

from __future__ import annotations

from pathlib import Path

from consensus.interfaces import OK
from tests.consensus.replica.driver import Net, TxMaker


def test_transfers_to_different_validators_all_commit(tmp_path: Path) -> None:
    net = Net(4, tmp_path=tmp_path)
    try:
        net.start()
        txs = TxMaker(net)
        mints = [txs.mint(u, 1_000_00) for u in range(4)]
        for i, tx in enumerate(mints):
            assert net.submit(net.nodes[i % 4], tx).admission.accepted
        net.run_until(lambda: all(len(n.mempool) == 0 for n in net.nodes), 5_000)
        transfers = [txs.transfer(u, (u + 1) % 4, 7_00) for u in range(4) for _ in range(3)]
        for i, tx in enumerate(transfers):
            assert net.submit(net.nodes[i % 4], tx).admission.accepted
        net.run_until(lambda: all(len(n.mempool) == 0 for n in net.nodes), 5_000)
        top = net.min_height()
        net.run_until(lambda: net.min_height() >= top + 1, 5_000)
        net.assert_agreement()
        codes = [r.code for c in net.nodes[0].commits for r in c.results]
        assert codes.count(OK) == len(mints) + len(transfers)
        for node in net.nodes:
            assert node.app.account(txs_user(1)).balances == {"USD": 1_000_00}
        assert not net.misbehaviour
    finally:
        net.close()


def txs_user(i: int) -> bytes:
    from tests.consensus.replica.driver import USERS

    return USERS[i].public_key
