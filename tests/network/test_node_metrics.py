"""NodeInstruments, CountingScheme and the logs' ready line, driven by a hand-moved clock."""

from __future__ import annotations

import json

from consensus.crypto import ED25519, Ed25519Signer, VerifyMemo
from consensus.messages import Step
from network.logs import parse_ready, ready_line
from network.metrics import NodeMetrics
from network.node_metrics import CountingScheme, NodeInstruments


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Pool:
    """What `committed` reads of a mempool: its length and membership."""

    def __init__(self, held: set[bytes]) -> None:
        self.held = held

    def __len__(self) -> int:
        return len(self.held)

    def contains(self, tx_id: bytes) -> bool:
        return tx_id in self.held


def _count(m: NodeMetrics, step: str) -> float | None:
    return m.value("depositnet_step_duration_seconds_count", {"step": step})


def _sum(m: NodeMetrics, step: str) -> float | None:
    return m.value("depositnet_step_duration_seconds_sum", {"step": step})


def test_a_step_is_observed_when_the_replica_leaves_it() -> None:
    m, clock = NodeMetrics(), Clock()
    inst = NodeInstruments(m, clock)
    inst.after_event(1, 0, Step.PROPOSE, [])
    clock.now += 0.5
    inst.after_event(1, 0, Step.PROPOSE, [])  # same position: nothing ends
    assert _count(m, "propose") == 0.0
    clock.now += 0.25
    inst.after_event(1, 0, Step.PREVOTE, [])
    assert _count(m, "propose") == 1.0 and _sum(m, "propose") == 0.75
    clock.now += 1.0
    inst.after_event(1, 1, Step.PROPOSE, [])  # a new round ends prevote
    assert _sum(m, "prevote") == 1.0
    clock.now += 2.0
    inst.after_event(2, 0, Step.PROPOSE, [1])  # height 1 decided here
    assert _sum(m, "propose") == 2.75
    clock.now += 0.125
    inst.committed(1, [], Pool(set()))  # ... and durable 0.125 s later
    assert _count(m, "commit") == 1.0 and _sum(m, "commit") == 0.125


def test_commits_give_intervals_latencies_and_time_since() -> None:
    m, clock = NodeMetrics(), Clock()
    inst = NodeInstruments(m, clock)
    clock.now += 7.0
    inst.scrape(lambda: {"connected": 2, "backoff": 1}, lambda: (4096, 1 << 20), ".")
    assert m.value("depositnet_seconds_since_last_commit") == 7.0  # since start: no commit yet
    assert m.value("depositnet_peers", {"state": "connected"}) == 2.0
    assert m.value("depositnet_peers", {"state": "connecting"}) == 0.0
    assert m.value("depositnet_store_used_bytes") == 4096.0
    assert m.value("depositnet_store_map_size_bytes") == float(1 << 20)
    assert (m.value("depositnet_data_dir_free_bytes") or 0.0) > 0.0
    inst.source = "api"
    inst.admitted(b"a")
    inst.source = "peer"
    inst.admitted(b"p")
    inst.committed(1, [], Pool({b"a", b"p"}))
    assert m.value("depositnet_block_interval_seconds_count") == 0.0  # the first has no interval
    clock.now += 3.0
    inst.committed(2, [b"a", b"x"], Pool({b"p"}))  # b"x": admitted elsewhere, not timed
    assert m.value("depositnet_block_interval_seconds_sum") == 3.0
    assert m.value("depositnet_tx_commit_latency_seconds_sum", {"source": "api"}) == 3.0
    assert m.value("depositnet_tx_commit_latency_seconds_count", {"source": "peer"}) == 0.0
    clock.now += 1.5
    inst.committed(3, [b"p"], Pool(set()))
    assert m.value("depositnet_tx_commit_latency_seconds_sum", {"source": "peer"}) == 4.5
    clock.now += 2.0
    inst.scrape(dict, lambda: (0, 1), ".")
    assert m.value("depositnet_seconds_since_last_commit") == 2.0


def test_admissions_that_left_the_mempool_are_forgotten() -> None:
    m, clock = NodeMetrics(), Clock()
    inst = NodeInstruments(m, clock)
    for i in range(10):
        inst.admitted(bytes([i]))
    inst.committed(1, [], Pool({bytes([9])}), slack=4)  # 9 expired, over the slack of 4
    clock.now += 1.0
    inst.committed(2, [bytes([0]), bytes([9])], Pool(set()))
    assert m.value("depositnet_tx_commit_latency_seconds_count", {"source": "peer"}) == 1.0


def test_counting_scheme_counts_real_verifications_only() -> None:
    m = NodeMetrics()
    signer = Ed25519Signer(bytes(32))
    memo = VerifyMemo(CountingScheme(ED25519, m.sig_verified), max_entries=16)
    signature = signer.sign(b"vote")
    assert memo.verify(signer.public_key, b"vote", signature)
    assert memo.verify(signer.public_key, b"vote", signature)  # memoised: not verified again
    assert not memo.verify(signer.public_key, b"vote!", signature)
    assert m.value("depositnet_signature_verifications_total", {"kind": "consensus"}) == 2.0
    assert m.value("depositnet_signature_verifications_total", {"kind": "tx"}) == 0.0


def test_ready_line_is_json_in_json_mode_and_parses_in_both() -> None:
    fields: dict[str, object] = {"p2p_port": 26656, "api_port": None, "key": "ab" * 32}
    human = ready_line(fields, json=False)
    assert human == f"ready p2p_port=26656 api_port=None key={'ab' * 32}"
    record = json.loads(ready_line(fields, json=True))
    assert record["msg"] == "ready" and record["level"] == "info"
    assert record["p2p_port"] == 26656 and record["api_port"] is None
    assert parse_ready(human) == {"p2p_port": "26656", "api_port": "None", "key": "ab" * 32}
    assert (parse_ready(ready_line(fields, json=True)) or {})["p2p_port"] == "26656"
    assert parse_ready('{"msg": "stopped"}') is None
    assert parse_ready("readying") is None
