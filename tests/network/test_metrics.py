"""NodeMetrics: per-node registries, the values the node reports, the text exposition."""

from __future__ import annotations

import pytest

from network.metrics import NodeMetrics


def test_two_nodes_in_one_process_keep_separate_values() -> None:
    a, b = NodeMetrics(), NodeMetrics()
    a.block_committed(height=5, rounds=2, txs=7, exec_s=0.01, store_s=0.002)
    b.block_committed(height=1, rounds=1, txs=0, exec_s=0.0, store_s=0.0)
    assert a.value("depositnet_height") == 5.0
    assert b.value("depositnet_height") == 1.0
    assert a.value("depositnet_committed_txs_total") == 7.0
    assert b.value("depositnet_committed_txs_total") == 0.0


def test_every_reported_quantity_is_exported() -> None:
    m = NodeMetrics()
    m.block_committed(3, 1, 4, 0.02, 0.003)
    m.block_committed(4, 3, 6, 0.03, 0.004)
    m.step_entered("PREVOTE", 0.5)
    m.mempool(12, 3400)
    m.peers(3)
    m.catching_up(True)
    m.evidence()
    m.sig_verified(10)
    m.api_response(202)
    m.api_response(429)
    assert m.value("depositnet_committed_txs_total") == 10.0
    assert m.value("depositnet_committed_blocks_total") == 2.0
    assert m.value("depositnet_rounds_per_height_sum") == 4.0
    assert m.value("depositnet_rounds_per_height_bucket", {"le": "1.0"}) == 1.0
    assert m.value("depositnet_step_duration_seconds_count", {"step": "prevote"}) == 1.0
    assert m.value("depositnet_step_duration_seconds_count", {"step": "propose"}) == 0.0
    assert m.value("depositnet_mempool_txs") == 12.0
    assert m.value("depositnet_mempool_bytes") == 3400.0
    assert m.value("depositnet_peers_connected") == 3.0
    assert m.value("depositnet_catching_up") == 1.0
    m.catching_up(False)
    assert m.value("depositnet_catching_up") == 0.0
    assert m.value("depositnet_evidence_seen_total") == 1.0
    assert m.value("depositnet_signature_verifications_total", {"kind": "consensus"}) == 10.0
    m.block_interval(2.0)
    m.tx_latency("api", 1.5)
    m.since_last_commit(4.0)
    m.peer_states({"connected": 2, "backoff": 1})
    m.store_usage(8192, 1 << 30, 10**9)
    assert m.value("depositnet_block_interval_seconds_sum") == 2.0
    assert m.value("depositnet_tx_commit_latency_seconds_count", {"source": "api"}) == 1.0
    assert m.value("depositnet_seconds_since_last_commit") == 4.0
    assert m.value("depositnet_peers", {"state": "backoff"}) == 1.0
    assert m.value("depositnet_peers", {"state": "connecting"}) == 0.0
    assert m.value("depositnet_store_used_bytes") == 8192.0
    assert m.value("depositnet_data_dir_free_bytes") == 1e9
    assert m.value("depositnet_block_execution_seconds_count") == 2.0
    assert m.value("depositnet_store_commit_seconds_sum") == pytest.approx(0.007)
    assert m.value("depositnet_api_responses_total", {"status": "4xx"}) == 1.0
    text = m.render().decode()
    assert "# TYPE depositnet_height gauge" in text
    assert "depositnet_mempool_bytes 3400.0" in text


def test_nonsense_reports_are_refused() -> None:
    m = NodeMetrics()
    with pytest.raises(ValueError):
        m.block_committed(1, 0, 0, 0.0, 0.0)
    with pytest.raises(ValueError):
        m.sig_verified(-1)
    assert m.value("depositnet_committed_blocks_total") == 0.0


def test_scrape_hooks_run_before_each_render() -> None:
    m = NodeMetrics()
    scrapes: list[int] = []

    def refresh() -> None:
        scrapes.append(1)
        m.since_last_commit(float(len(scrapes)))

    m.on_scrape(refresh)
    assert "depositnet_seconds_since_last_commit 1.0" in m.render().decode()
    assert "depositnet_seconds_since_last_commit 2.0" in m.render().decode()
